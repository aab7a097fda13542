//! Where a command's data is: the database flag and its default (the user's data folder), the bootstrap flags
//! of `serve`, `token` and `seed`, and opening and bootstrapping the database they name.

use clap::Args;
use localzoom_server::clock::{Clock, SystemClock};
use localzoom_server::domain::account::AccountPlan;
use localzoom_server::error::ApiError;
use localzoom_server::server;
use localzoom_server::service::accounts::{self, BootstrapRequest, PlanNote};
use localzoom_server::store::{DEFAULT_POOL_SIZE, Database};

use crate::output::Output;

/// The database of every command that opens one. Its default does not depend on the folder a command runs in,
/// so `serve`, `token` and `--local` commands started anywhere use the same data.
#[derive(Args, Clone)]
pub(crate) struct DatabaseArg {
    /// Database URL: sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB [default:
    /// sqlite://$XDG_DATA_HOME/localzoom/localzoom.db, or ~/.local/share/localzoom/localzoom.db]
    #[arg(long, env = "LOCALZOOM_DATABASE", value_name = "URL")]
    pub(crate) database: Option<String>,
}

#[derive(Args, Clone, Copy)]
pub(crate) struct OutputArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

/// The bootstrap account and Server-to-Server app: created on an empty database, checked against a used one.
#[derive(Args, Clone)]
pub(crate) struct BootstrapArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    /// Plan of the bootstrap account: set when it is created, and applied to it when given later [default: pro].
    #[arg(long, env = "LOCALZOOM_PLAN", value_parser = one_of(AccountPlan::ALL, AccountPlan::as_str))]
    pub(crate) plan: Option<AccountPlan>,
    /// Bootstrap account id (generated when absent; must match a used database's).
    #[arg(long, env = "LOCALZOOM_ACCOUNT_ID")]
    pub(crate) account_id: Option<String>,
    /// Client id of the Server-to-Server app to use (generated on an empty database; must exist in a used one).
    #[arg(long, env = "LOCALZOOM_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// Its client secret (generated and printed once on an empty database; must match in a used one).
    #[arg(long, env = "LOCALZOOM_CLIENT_SECRET", hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// E-mail of the bootstrap account's owner, when it is created [default: owner@localzoom.test].
    #[arg(long, env = "LOCALZOOM_OWNER_EMAIL")]
    pub(crate) owner_email: Option<String>,
}

impl BootstrapArgs {
    /// `serve` applies `--plan` to a used database's account; `token` and `seed` only create with it.
    pub(crate) fn request(&self, apply_plan: bool) -> BootstrapRequest {
        BootstrapRequest {
            plan: self.plan,
            apply_plan,
            owner_email: self.owner_email.clone(),
            account_id: self.account_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        }
    }
}

impl DatabaseArg {
    /// The URL to open: the one given, or the SQLite file in the user's data folder (made if missing).
    pub(crate) fn url(&self) -> anyhow::Result<String> {
        match &self.database {
            Some(url) => Ok(url.clone()),
            None => default_database(),
        }
    }

    /// Opens the database and says on stderr which one it is (stdout may be a token or JSON for a script).
    pub(crate) async fn open(&self, pool_size: usize) -> anyhow::Result<Database> {
        let db = Database::open_with_pool(&self.url()?, pool_size).await?;
        eprintln!("localzoom: database {}", db.describe());
        Ok(db)
    }
}

/// `$XDG_DATA_HOME/localzoom/localzoom.db`, or `~/.local/share/localzoom/localzoom.db` (atuin's convention).
pub(crate) fn default_database() -> anyhow::Result<String> {
    Ok(format!(
        "sqlite://{}",
        data_dir()?.join("localzoom.db").display()
    ))
}

/// `$XDG_CONFIG_HOME/localzoom`, or `~/.config/localzoom`, made if missing: apart from the data, so that a copy
/// of the data folder does not carry the password-history key.
pub(crate) fn config_dir() -> anyhow::Result<std::path::PathBuf> {
    user_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_DATA_HOME/localzoom`, or `~/.local/share/localzoom`, made if missing.
pub(crate) fn data_dir() -> anyhow::Result<std::path::PathBuf> {
    user_dir("XDG_DATA_HOME", ".local/share")
}

/// `$VARIABLE/localzoom`, or `~/UNDER_HOME/localzoom`, made if missing.
pub(crate) fn user_dir(variable: &str, under_home: &str) -> anyhow::Result<std::path::PathBuf> {
    let env_dir = |name: &str| {
        std::env::var_os(name)
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let base = env_dir(variable)
        .or_else(|| env_dir("HOME").map(|home| home.join(under_home)))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "neither {variable} nor HOME is set: give the path explicitly (--database, --history-key-file)"
            )
        })?;
    let dir = base.join("localzoom");
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Opens the database and makes sure its bootstrap account and app exist, as `serve` does.
pub(crate) async fn open_and_bootstrap(
    args: &BootstrapArgs,
) -> anyhow::Result<(Database, server::Bootstrap)> {
    let db = args.db.open(DEFAULT_POOL_SIZE).await?;
    let outcome = server::bootstrap_open(&db, &args.request(false), SystemClock.now_ms()).await?;
    if let Some(PlanNote::NotApplied(requested)) = &outcome.plan_note {
        eprintln!(
            "localzoom: plan {requested} (--plan / LOCALZOOM_PLAN) not applied: account {} stays on plan {}; \
             `localzoom serve --plan` or `localzoom accounts set-plan` changes it",
            outcome.account_id, outcome.plan
        );
    }
    Ok((db, outcome))
}

/// A fresh access token of the database's bootstrap Server-to-Server app (bootstrapping it if needed).
pub(crate) async fn mint_bootstrap_token(
    args: &BootstrapArgs,
) -> anyhow::Result<(String, server::Bootstrap)> {
    let now = SystemClock.now_ms();
    let (db, outcome) = open_and_bootstrap(args).await?;
    let client_id = outcome.client_id.clone();
    let response = db
        .write(move |tx| async move {
            let store = &tx;

            let app = store.app(&client_id).await?.ok_or_else(|| {
                localzoom_server::error::ApiError::internal("bootstrap app missing")
            })?;
            accounts::mint_token(store, &app, now).await
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot mint a token: {}", e.cause()))?;
    Ok((response.access_token, outcome))
}

/// A failure as an operator needs it: Zoom's message, or the real cause of an internal one.
/// A value parser for one of a closed set: its names as clap's possible values (in help and errors), the typed
/// value out.
pub(crate) fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(all.iter().map(|v| name(*v))).map(move |text| {
        *all.iter()
            .find(|v| name(**v) == text)
            .expect("clap accepts only the listed names")
    })
}

pub(crate) fn failed(e: impl Into<ApiError>) -> anyhow::Error {
    anyhow::anyhow!("{}", e.into().cause())
}
