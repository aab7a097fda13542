//! `localzoom users …` and `localzoom offboard`: the Users API from the command line, through `localzoom-client`,
//! against real Zoom or a localzoom server (`--local`, or `ZOOM_API_URL` / `ZOOM_OAUTH_URL`).

use std::io::Read;
use std::sync::Arc;

use clap::{Args, Subcommand};
use localzoom_client::types::{
    AssistantRef, CreateAction, CreateUserInfo, CreateUserRequest, PresenceStatus, UserTokenType,
};
use localzoom_client::{
    Client, Credentials, DeleteAction, Error, RetryPolicy, StatusAction, UserUpdate,
};
use localzoom_server::domain::account::AccountPlan;
use localzoom_server::domain::user::{CREATABLE_TYPES, Status, UserType};
use rand::Rng;
use serde_json::{Value, json};

use crate::database::one_of;
use crate::output::{Output, Progress, print_records};

/// Where the API is and who calls it.
#[derive(Args, Clone)]
pub struct ZoomArgs {
    /// The API's base URL.
    #[arg(long, env = "ZOOM_API_URL", default_value = localzoom_client::DEFAULT_API_URL)]
    api_url: String,
    /// The OAuth host (`/oauth/token` is appended).
    #[arg(long, env = "ZOOM_OAUTH_URL", default_value = localzoom_client::DEFAULT_OAUTH_URL)]
    oauth_url: String,
    /// Account id of the Server-to-Server OAuth app.
    #[arg(long, env = "ZOOM_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Client id of the Server-to-Server OAuth app.
    #[arg(long, env = "ZOOM_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret of the Server-to-Server OAuth app.
    #[arg(long, env = "ZOOM_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Use the local server (`LOCALZOOM_LISTEN`, default 127.0.0.1:9800) with its bootstrap app: the
    /// `LOCALZOOM_ACCOUNT_ID`/`_CLIENT_ID`/`_CLIENT_SECRET` credentials, or else a token minted from the local
    /// database (`LOCALZOOM_DATABASE`), as `localzoom token` does.
    #[arg(long)]
    local: bool,
    /// Return 429s at once instead of retrying them.
    #[arg(long)]
    no_retries: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users (every page).
    List {
        /// Which users.
        #[arg(long, default_value = "active", value_parser = one_of(Status::ALL, Status::as_str))]
        status: Status,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// The account's users counted by licence.
    Summary {
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// The privileges of a user's role.
    Permissions {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// A ZAK (to start meetings) or an on-behalf token of a user.
    Token {
        /// The user: id, e-mail or `me`.
        user: String,
        /// `zak` or `onbehalf`.
        #[arg(long = "type", default_value = "zak", value_parser = one_of(&[UserTokenType::Zak, UserTokenType::OnBehalf], UserTokenType::as_str))]
        kind: UserTokenType,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Show one user (id, e-mail or `me`).
    Get {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Create a user.
    Create {
        /// The new user's e-mail address.
        #[arg(long)]
        email: String,
        /// 1 Basic, 2 Licensed, 4 Unassigned without Meetings Basic, 99 None (ssoCreate only).
        #[arg(long = "type", default_value = "1", value_parser = one_of(&CREATABLE_TYPES, UserType::as_str))]
        user_type: UserType,
        /// How Zoom creates the user: `create` (invitation e-mail), `autoCreate`, `custCreate`, `ssoCreate`.
        #[arg(long, default_value = "create", value_parser = one_of(CreateAction::ALL, CreateAction::as_str))]
        action: CreateAction,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Read the initial password (autoCreate) from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Change a user's profile fields.
    Update {
        /// The user: id, e-mail or `me`.
        user: String,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Display name.
        #[arg(long)]
        display_name: Option<String>,
        /// User type: 1 Basic, 2 Licensed, 4 Unassigned without Meetings Basic.
        #[arg(long = "type", value_parser = one_of(&[UserType::Basic, UserType::Licensed, UserType::Unassigned], UserType::as_str))]
        user_type: Option<UserType>,
        /// Department.
        #[arg(long)]
        dept: Option<String>,
        /// Job title.
        #[arg(long)]
        job_title: Option<String>,
        /// Time zone (IANA name, e.g. Europe/Berlin).
        #[arg(long)]
        timezone: Option<String>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Remove a user from the account (`disassociate`, Zoom's default) or delete it for good (`delete`).
    Delete {
        /// The user: id, e-mail or `me`.
        user: String,
        /// `disassociate` keeps the user as a Zoom user outside this account; `delete` removes it for good.
        #[arg(long, default_value = "disassociate", value_parser = one_of(DeleteAction::ALL, DeleteAction::as_str))]
        action: DeleteAction,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Activate or deactivate a user.
    Status {
        /// The user: id, e-mail or `me`.
        user: String,
        /// `activate` or `deactivate`.
        #[arg(value_parser = one_of(&[StatusAction::Activate, StatusAction::Deactivate], StatusAction::as_str))]
        action: StatusAction,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Show a user's presence status, or set it (`--set`; once a minute, only while signed in to a client).
    Presence {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The status to set.
        #[arg(long, value_parser = one_of(PresenceStatus::ALL, PresenceStatus::as_str))]
        set: Option<PresenceStatus>,
        /// With `--set Do_Not_Disturb`: for how many minutes (1–1440; Zoom's default 20).
        #[arg(long)]
        minutes: Option<u32>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Change a user's e-mail (on the account's managed domain; 3 changes in any 24 hours).
    Email {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The new e-mail address.
        email: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Set a user's password, read from standard input.
    Password {
        /// The user: id, e-mail or `me`.
        user: String,
        /// Read the new password from standard input (required: a password on the command line would be seen).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Revoke a user's SSO token (ends their SSO sessions).
    RevokeSso {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// A user's assistants.
    #[command(subcommand)]
    Assistants(AssistantsCommand),
    /// A user's settings (Zoom's `GET/PATCH /users/{userId}/settings`).
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// A user's profile picture.
    #[command(subcommand)]
    Picture(PictureCommand),
    /// A user's virtual background files.
    #[command(subcommand)]
    Backgrounds(BackgroundsCommand),
}

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Print a user's settings as JSON.
    Get {
        /// The user: id, e-mail or `me`.
        user: String,
        /// `meeting_authentication`, `recording_authentication` or `meeting_security` (default: every group).
        #[arg(long, value_parser = ["meeting_authentication", "recording_authentication", "meeting_security"])]
        option: Option<String>,
        /// Only these settings, by name (Zoom's `custom_query_fields`), e.g. `host_video,waiting_room`.
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Change settings: a JSON object in the shape `get` prints, e.g. '{"schedule_meeting":{"host_video":true}}'.
    Update {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The settings to change, as JSON (`-`: read from standard input).
        settings: String,
        /// `meeting_authentication`, `recording_authentication` or `meeting_security`.
        #[arg(long, value_parser = ["meeting_authentication", "recording_authentication", "meeting_security"])]
        option: Option<String>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
}

#[derive(Subcommand)]
pub enum PictureCommand {
    /// Upload a JPEG or PNG (at most 2 MB) as the user's picture.
    Upload {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The image file.
        file: std::path::PathBuf,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Remove the user's picture.
    Delete {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
}

#[derive(Subcommand)]
pub enum BackgroundsCommand {
    /// Upload an image or video (at most 15 MB; ten per user); prints the file's id.
    Upload {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The image (JPEG, GIF, PNG) or video (MP4, MOV) file.
        file: std::path::PathBuf,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Delete virtual background files by id.
    Delete {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The files' ids.
        #[arg(required = true)]
        file_ids: Vec<String>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
}

#[derive(Subcommand)]
pub enum AssistantsCommand {
    /// List a user's assistants.
    List {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Add assistants (ids or e-mails of users of the same account).
    Add {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The assistants: ids or e-mails.
        #[arg(required = true)]
        assistants: Vec<String>,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Remove one assistant (by id).
    Remove {
        /// The user: id, e-mail or `me`.
        user: String,
        /// The assistant's id.
        assistant_id: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
    /// Remove all of a user's assistants.
    Clear {
        /// The user: id, e-mail or `me`.
        user: String,
        #[command(flatten)]
        zoom: ZoomArgs,
    },
}

#[derive(Args)]
pub struct OffboardArgs {
    /// Users to offboard (ids or e-mails).
    users: Vec<String>,
    /// Read users from a file: one per line, or CSV whose first column is the user (a header line is skipped).
    #[arg(long)]
    from: Option<std::path::PathBuf>,
    /// Also replace each user's password with a random one.
    #[arg(long)]
    reset_password: bool,
    /// Show what would be done, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Users handled at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    zoom: ZoomArgs,
}

impl ZoomArgs {
    async fn client(&self, pacing: bool) -> anyhow::Result<Client> {
        let mut builder = Client::builder().pacing(pacing);
        if self.no_retries {
            builder = builder.retry(RetryPolicy::none());
        }
        if self.local {
            let given: Vec<&str> = [
                (
                    "--api-url",
                    "ZOOM_API_URL",
                    Some(&self.api_url),
                    localzoom_client::DEFAULT_API_URL,
                ),
                (
                    "--oauth-url",
                    "ZOOM_OAUTH_URL",
                    Some(&self.oauth_url),
                    localzoom_client::DEFAULT_OAUTH_URL,
                ),
                (
                    "--account-id",
                    "ZOOM_ACCOUNT_ID",
                    self.account_id.as_ref(),
                    "",
                ),
                ("--client-id", "ZOOM_CLIENT_ID", self.client_id.as_ref(), ""),
                (
                    "--client-secret",
                    "ZOOM_CLIENT_SECRET",
                    self.client_secret.as_ref(),
                    "",
                ),
            ]
            .into_iter()
            .filter(|(_, var, value, default)| {
                // Given on the command line: neither the default nor what the (Zoom) variable holds.
                value.is_some_and(|v| v != default && std::env::var(var).ok().as_ref() != Some(v))
            })
            .map(|(flag, ..)| flag)
            .collect();
            anyhow::ensure!(
                given.is_empty(),
                "--local talks to the local server with its bootstrap app, so {} would be ignored: leave {} out, \
                 or leave out --local to call that API",
                given.join(", "),
                if given.len() == 1 { "it" } else { "them" }
            );
        }
        let builder = if self.local {
            let listen =
                std::env::var("LOCALZOOM_LISTEN").unwrap_or_else(|_| "127.0.0.1:9800".into());
            let env = |name: &str| std::env::var(name).ok();
            let credentials = match (
                env("LOCALZOOM_ACCOUNT_ID"),
                env("LOCALZOOM_CLIENT_ID"),
                env("LOCALZOOM_CLIENT_SECRET"),
            ) {
                (Some(account_id), Some(client_id), Some(client_secret)) => {
                    Credentials::ServerToServer {
                        account_id,
                        client_id,
                        client_secret,
                    }
                }
                _ => Credentials::Bearer(local_token().await?),
            };
            builder
                .api_url(format!("http://{listen}/v2"))
                .oauth_url(format!("http://{listen}"))
                .credentials(credentials)
        } else {
            let (Some(account_id), Some(client_id), Some(client_secret)) = (
                self.account_id.clone(),
                self.client_id.clone(),
                self.client_secret.clone(),
            ) else {
                anyhow::bail!(
                    "set ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID and ZOOM_CLIENT_SECRET (or pass --local)"
                );
            };
            builder
                .api_url(&self.api_url)
                .oauth_url(&self.oauth_url)
                .server_to_server(account_id, client_id, client_secret)
        };
        Ok(builder.build()?)
    }
}

/// A token of the local database's bootstrap app, as `localzoom token` mints it (same `LOCALZOOM_*` variables).
async fn local_token() -> anyhow::Result<String> {
    let env = |name: &str| std::env::var(name).ok();
    let args = crate::database::BootstrapArgs {
        db: crate::database::DatabaseArg {
            database: env("LOCALZOOM_DATABASE"),
        },
        plan: env("LOCALZOOM_PLAN")
            .map(|plan| {
                AccountPlan::parse(&plan).ok_or_else(|| {
                    anyhow::anyhow!(
                        "LOCALZOOM_PLAN={plan:?} is no plan: one of {}",
                        AccountPlan::ALL
                            .iter()
                            .map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .transpose()?,
        owner_email: env("LOCALZOOM_OWNER_EMAIL"),
        account_id: env("LOCALZOOM_ACCOUNT_ID"),
        client_id: env("LOCALZOOM_CLIENT_ID"),
        client_secret: env("LOCALZOOM_CLIENT_SECRET"),
    };
    Ok(crate::database::mint_bootstrap_token(&args).await?.0)
}

/// A client failure as a person at a terminal needs it to fix the cause: where nothing listens, or which URL the
/// API did not know.
pub fn describe(error: &Error) -> String {
    match error {
        Error::Transport(e) => {
            let place = e
                .url()
                .map(|u| {
                    format!(
                        "{}:{}",
                        u.host_str().unwrap_or(""),
                        u.port_or_known_default().unwrap_or(0)
                    )
                })
                .unwrap_or_else(|| "the server".into());
            let refused =
                std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
            if refused {
                format!("nothing listens on {place} — is `localzoom serve` running?")
            } else {
                format!("cannot reach {place}: {}", error_chain(e))
            }
        }
        Error::Api(e) if e.code == 2300 || (e.http_status == 404 && e.code == 0) => format!(
            "{e}; the call was {} — is the API URL right (--api-url, ZOOM_API_URL)? Zoom's is {}, a local \
             server's http://HOST:PORT/v2",
            e.request.as_deref().unwrap_or("unknown"),
            localzoom_client::DEFAULT_API_URL
        ),
        other => other.to_string(),
    }
}

/// An error and its causes on one line (reqwest's own message alone says only "error sending request").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// `describe` for failures that reach `main` as `anyhow` errors.
pub fn explain(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<Error>() {
        Some(e) => anyhow::anyhow!(describe(e)),
        None => error,
    }
}

fn read_stdin_secret() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let secret = text.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!secret.is_empty(), "standard input held no password");
    Ok(secret)
}

const USER_COLUMNS: &[&str] = &["id", "email", "first_name", "last_name", "type", "status"];
const SUMMARY_COLUMNS: &[&str] = &[
    "licensed_users_count",
    "basic_users_count",
    "on_prem_users_count",
    "room_users_count",
    "pending_users_count",
    "join_only_users_count",
    "total_users_count",
];

fn done(output: Output, what: &str, value: Value) {
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{what}");
    }
}

pub async fn users(command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List { status, zoom } => {
            let client = zoom.client(false).await?;
            let users = client.list_all_users(Some(status.as_str())).await?;
            let rows = users.iter().map(|u| json!(u)).collect();
            print_records(zoom.output, USER_COLUMNS, rows, false);
        }
        UsersCommand::Summary { zoom } => {
            let client = zoom.client(false).await?;
            let summary = client.user_summary().await?;
            print_records(zoom.output, SUMMARY_COLUMNS, vec![json!(summary)], true);
        }
        UsersCommand::Permissions { user, zoom } => {
            let client = zoom.client(false).await?;
            let permissions = client.user_permissions(&user).await?;
            let rows = permissions
                .iter()
                .map(|name| json!({ "permission": name }))
                .collect();
            print_records(zoom.output, &["permission"], rows, false);
        }
        UsersCommand::Token { user, kind, zoom } => {
            let client = zoom.client(false).await?;
            let token = client.user_token(&user, kind).await?;
            print_records(
                zoom.output,
                &["type", "token"],
                vec![json!({ "type": kind, "token": token })],
                true,
            );
        }
        UsersCommand::Get { user, zoom } => {
            let client = zoom.client(false).await?;
            let found = client.get_user(&user).await?;
            print_records(zoom.output, USER_COLUMNS, vec![json!(found)], true);
        }
        UsersCommand::Create {
            email,
            user_type,
            action,
            first_name,
            last_name,
            password_stdin,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            let password = if password_stdin {
                Some(read_stdin_secret()?)
            } else {
                None
            };
            let request = CreateUserRequest {
                action,
                user_info: CreateUserInfo {
                    email,
                    user_type: user_type.code(),
                    first_name,
                    last_name,
                    display_name: None,
                    password,
                },
            };
            let created = client.create_user(&request).await?;
            print_records(zoom.output, USER_COLUMNS, vec![json!(created)], true);
        }
        UsersCommand::Update {
            user,
            first_name,
            last_name,
            display_name,
            user_type,
            dept,
            job_title,
            timezone,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            let update = UserUpdate {
                first_name,
                last_name,
                display_name,
                user_type: user_type.map(UserType::code),
                dept,
                job_title,
                timezone,
                ..UserUpdate::default()
            };
            client.update_user(&user, &update).await?;
            done(
                zoom.output,
                &format!("updated {user}"),
                json!({ "updated": user }),
            );
        }
        UsersCommand::Delete { user, action, zoom } => {
            let client = zoom.client(false).await?;
            client.delete_user(&user, action).await?;
            done(
                zoom.output,
                &format!("{action}d {user}"),
                json!({ "action": action, "user": user }),
            );
        }
        UsersCommand::Status { user, action, zoom } => {
            let client = zoom.client(false).await?;
            client.update_status(&user, action).await?;
            done(
                zoom.output,
                &format!("{action}d {user}"),
                json!({ "action": action, "user": user }),
            );
        }
        UsersCommand::Presence {
            user,
            set,
            minutes,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            if let Some(status) = set {
                client
                    .update_presence_status(&user, status, minutes)
                    .await?;
            }
            let now = client.presence_status(&user).await?;
            print_records(
                zoom.output,
                &["status", "end_time", "remaining_time"],
                vec![json!(now)],
                true,
            );
        }
        UsersCommand::Email { user, email, zoom } => {
            let client = zoom.client(false).await?;
            client.update_email(&user, &email).await?;
            done(
                zoom.output,
                &format!("e-mail of {user} changed to {email}"),
                json!({ "user": user, "email": email }),
            );
        }
        UsersCommand::Password { user, zoom, .. } => {
            let password = read_stdin_secret()?;
            let client = zoom.client(false).await?;
            client.update_password(&user, &password).await?;
            done(
                zoom.output,
                &format!("password of {user} updated"),
                json!({ "password_updated": user }),
            );
        }
        UsersCommand::RevokeSso { user, zoom } => {
            let client = zoom.client(false).await?;
            client.revoke_sso_token(&user).await?;
            done(
                zoom.output,
                &format!("SSO token of {user} revoked"),
                json!({ "sso_token_revoked": user }),
            );
        }
        UsersCommand::Assistants(command) => assistants(command).await?,
        UsersCommand::Settings(command) => settings(command).await?,
        UsersCommand::Picture(command) => picture(command).await?,
        UsersCommand::Backgrounds(command) => backgrounds(command).await?,
    }
    Ok(())
}

async fn settings(command: SettingsCommand) -> anyhow::Result<()> {
    match command {
        SettingsCommand::Get {
            user,
            option,
            fields,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let settings = client
                .user_settings(&user, option.as_deref(), &fields)
                .await?;
            println!("{}", serde_json::to_string_pretty(&settings)?);
        }
        SettingsCommand::Update {
            user,
            settings,
            option,
            zoom,
        } => {
            let text = if settings == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                settings
            };
            let settings: Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the settings are not JSON: {e}"))?;
            let client = zoom.client(false).await?;
            client
                .update_user_settings(&user, option.as_deref(), &settings)
                .await?;
            done(
                zoom.output,
                &format!("settings of {user} updated"),
                json!({ "user": user, "settings": settings }),
            );
        }
    }
    Ok(())
}

/// A file to upload: its name (without directories) and bytes.
fn read_upload(path: &std::path::Path) -> anyhow::Result<(String, Vec<u8>)> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    Ok((name, bytes))
}

async fn picture(command: PictureCommand) -> anyhow::Result<()> {
    match command {
        PictureCommand::Upload { user, file, zoom } => {
            let (name, bytes) = read_upload(&file)?;
            let client = zoom.client(false).await?;
            client.upload_picture(&user, &name, bytes).await?;
            let pic_url = client.get_user(&user).await?.pic_url;
            done(
                zoom.output,
                &format!("picture of {user} uploaded: {pic_url}"),
                json!({ "user": user, "pic_url": pic_url }),
            );
        }
        PictureCommand::Delete { user, zoom } => {
            let client = zoom.client(false).await?;
            client.delete_picture(&user).await?;
            done(
                zoom.output,
                &format!("picture of {user} deleted"),
                json!({ "user": user }),
            );
        }
    }
    Ok(())
}

async fn backgrounds(command: BackgroundsCommand) -> anyhow::Result<()> {
    match command {
        BackgroundsCommand::Upload { user, file, zoom } => {
            let (name, bytes) = read_upload(&file)?;
            let client = zoom.client(false).await?;
            let uploaded = client
                .upload_virtual_background(&user, &name, bytes)
                .await?;
            print_records(
                zoom.output,
                &["id", "name", "type", "size", "is_default"],
                vec![json!(uploaded)],
                true,
            );
        }
        BackgroundsCommand::Delete {
            user,
            file_ids,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            let ids: Vec<&str> = file_ids.iter().map(String::as_str).collect();
            client.delete_virtual_backgrounds(&user, &ids).await?;
            done(
                zoom.output,
                &format!("deleted {} file(s) of {user}", ids.len()),
                json!({ "user": user, "file_ids": file_ids }),
            );
        }
    }
    Ok(())
}

async fn assistants(command: AssistantsCommand) -> anyhow::Result<()> {
    const COLUMNS: &[&str] = &["id", "email", "can_manage_host_private_event"];
    match command {
        AssistantsCommand::List { user, zoom } => {
            let client = zoom.client(false).await?;
            let list = client.list_assistants(&user).await?;
            let rows = list.iter().map(|a| json!(a)).collect();
            print_records(zoom.output, COLUMNS, rows, false);
        }
        AssistantsCommand::Add {
            user,
            assistants,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            let refs: Vec<AssistantRef> = assistants
                .iter()
                .map(|a| AssistantRef {
                    id: (!a.contains('@')).then(|| a.clone()),
                    email: a.contains('@').then(|| a.clone()),
                    can_manage_host_private_event: None,
                })
                .collect();
            let added = client.add_assistants(&user, &refs).await?;
            done(
                zoom.output,
                &format!("added {} to {user}", added.ids),
                json!(added),
            );
        }
        AssistantsCommand::Remove {
            user,
            assistant_id,
            zoom,
        } => {
            let client = zoom.client(false).await?;
            client.delete_assistant(&user, &assistant_id).await?;
            done(
                zoom.output,
                &format!("removed {assistant_id} from {user}"),
                json!({ "removed": assistant_id }),
            );
        }
        AssistantsCommand::Clear { user, zoom } => {
            let client = zoom.client(false).await?;
            client.delete_assistants(&user).await?;
            done(
                zoom.output,
                &format!("removed all assistants of {user}"),
                json!({ "cleared": user }),
            );
        }
    }
    Ok(())
}

/// The users named on the command line and in `--from`, each once, in order.
fn offboard_list(args: &OffboardArgs) -> anyhow::Result<Vec<String>> {
    let mut users = args.users.clone();
    if let Some(path) = &args.from {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let first = line
                .split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            // A header names the column ("email", "Email Address", "user_id"…); users have no spaces.
            let lower = first.to_lowercase();
            let header = n == 0
                && !first.contains('@')
                && (lower.contains("email") || lower.contains("user") || lower == "id");
            if !first.is_empty() && !header && !first.starts_with('#') {
                users.push(first.to_string());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| seen.insert(u.to_lowercase()));
    anyhow::ensure!(
        !users.is_empty(),
        "no users to offboard: name them or pass --from FILE"
    );
    Ok(users)
}

/// What happened to one user.
struct Outcome {
    user: String,
    done: Vec<&'static str>,
    error: Option<String>,
}

/// A password Zoom's rules accept (letters of both cases, digits, a special character), never shown.
fn random_password() -> String {
    const SETS: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"!@#$%^*-_=+",
    ];
    let mut rng = rand::thread_rng();
    let mut chars: Vec<u8> = (0..24)
        .map(|i| {
            let set = SETS[i % SETS.len()];
            set[rng.gen_range(0..set.len())]
        })
        .collect();
    // Shuffle so that no run of the pattern reads as consecutive characters.
    for i in (1..chars.len()).rev() {
        chars.swap(i, rng.gen_range(0..=i));
    }
    String::from_utf8(chars).unwrap_or_default()
}

/// Why Zoom would refuse to deactivate this user, if it would: owners and admins (`PUT …/status`, code 200).
fn cannot_deactivate(user: &localzoom_client::types::User) -> Option<String> {
    let role = match (user.role_id.as_str(), user.role_name.as_str()) {
        ("0", _) | (_, "Owner") => "Owner",
        ("1", _) | (_, "Admin") => "Admin",
        _ => return None,
    };
    Some(format!(
        "{role} users cannot be deactivated (Zoom refuses with code 200); left unchanged"
    ))
}

/// Offboards one user. Each step can be repeated (localzoom answers 204 to revoking a revoked token, clearing no
/// assistants and deactivating an inactive user; Zoom documents the first two), so a re-run after a failure
/// finishes the job. With `--reset-password`, a re-run sets yet another password, which counts against Zoom's
/// daily password-change cap.
async fn offboard_user(
    client: &Client,
    user: String,
    reset_password: bool,
    dry_run: bool,
) -> Outcome {
    let mut outcome = Outcome {
        user,
        done: Vec::new(),
        error: None,
    };
    let user = outcome.user.clone();
    let result: Result<(), Error> = async {
        // What Zoom would refuse at the last step is checked before the first: a user it will fail on is left
        // as it was, never half offboarded (SSO revoked and assistants gone, yet still active).
        let found = client.get_user(&user).await?;
        if let Some(reason) = cannot_deactivate(&found) {
            outcome.error = Some(reason);
            return Ok(());
        }
        if dry_run {
            let assistants = client.list_assistants(&user).await?;
            outcome.done.push("found");
            outcome.done.push(if assistants.is_empty() {
                "no assistants"
            } else {
                "has assistants"
            });
            if found.status == "inactive" {
                outcome.done.push("already inactive");
            }
            return Ok(());
        }
        // The order matters: sign-ins and delegated access end first, the account last.
        client.revoke_sso_token(&user).await?;
        outcome.done.push("sso-revoked");
        client.delete_assistants(&user).await?;
        outcome.done.push("assistants-removed");
        let mut reset_failure = None;
        if reset_password {
            // Before deactivation: Zoom may refuse to change an inactive user's password. A user without a Zoom
            // password (SSO or API users: error 1123) has none to reset; any other refusal is reported, but the
            // user is still deactivated.
            match client.update_password(&user, &random_password()).await {
                Ok(()) => outcome.done.push("password-reset"),
                Err(e) if e.zoom().is_some_and(|z| z.code == 1123) => {
                    outcome.done.push("no-password-to-reset")
                }
                Err(e) => reset_failure = Some(e),
            }
        }
        client
            .update_status(&user, StatusAction::Deactivate)
            .await?;
        outcome.done.push("deactivated");
        reset_failure.map_or(Ok(()), Err)
    }
    .await;
    if let Err(e) = result {
        outcome.error = Some(describe(&e));
    }
    outcome
}

pub async fn offboard(args: OffboardArgs) -> anyhow::Result<()> {
    let users = offboard_list(&args)?;
    // Pacing: after the first 429 of a quota, calls are spaced under it instead of bouncing off it.
    let client = args.zoom.client(true).await?;
    let total = users.len();
    let queue = Arc::new(std::sync::Mutex::new(users.clone().into_iter().enumerate()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Outcome)>();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, queue, tx) = (client.clone(), queue.clone(), tx.clone());
        let (reset, dry_run) = (args.reset_password, args.dry_run);
        workers.spawn(async move {
            loop {
                let next = match queue.lock() {
                    Ok(mut q) => q.next(),
                    Err(_) => None,
                };
                let Some((index, user)) = next else { break };
                let outcome = offboard_user(&client, user, reset, dry_run).await;
                if tx.send((index, outcome)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut progress = Progress::new(
        if args.dry_run {
            "checking users"
        } else {
            "offboarding users"
        },
        total as u64,
    );
    let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(total);
    while let Some(result) = rx.recv().await {
        outcomes.push(result);
        progress.show(outcomes.len() as u64);
    }
    while workers.join_next().await.is_some() {}
    // A user no worker reported on (a worker that panicked) is a failure, never a silent success.
    let reported: std::collections::HashSet<usize> = outcomes.iter().map(|(i, _)| *i).collect();
    for (index, user) in users.into_iter().enumerate() {
        if !reported.contains(&index) {
            outcomes.push((
                index,
                Outcome {
                    user,
                    done: Vec::new(),
                    error: Some("not processed (a worker stopped)".into()),
                },
            ));
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    let failures = outcomes.iter().filter(|(_, o)| o.error.is_some()).count();
    let rows = outcomes
        .iter()
        .map(|(_, o)| {
            json!({
                "user": o.user,
                "result": match (&o.error, args.dry_run) {
                    (Some(_), true) => "would fail",
                    (Some(_), false) => "failed",
                    (None, true) => "would offboard",
                    (None, false) => "offboarded",
                },
                "done": o.done.join(" "),
                "reason": o.error,
            })
        })
        .collect();
    print_records(
        args.zoom.output,
        &["user", "result", "done", "reason"],
        rows,
        false,
    );
    eprintln!(
        "{} of {total} users {}; {failures} failed; {} rate-limit retries",
        total - failures,
        if args.dry_run {
            "checked"
        } else {
            "offboarded"
        },
        client.rate_limit_retries()
    );
    anyhow::ensure!(
        failures == 0,
        "{failures} of {total} users failed (reasons above)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_passwords_have_every_kind_of_character() {
        for _ in 0..100 {
            let p = random_password();
            assert_eq!(p.len(), 24);
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        }
    }
}
