//! The `localzoom` command: `serve` runs the Zoom-compatible server, `token` prints a fresh access token of the
//! bootstrap Server-to-Server app. The flags and their variables are a stable contract (DESIGN.md §2).

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use localzoom_server::clock::{Clock, SystemClock};
use localzoom_server::crypto::HashParams;
use localzoom_server::domain::rate_limits::{AccountLimits, Overrides, Plan};
use localzoom_server::error::ApiError;
use localzoom_server::gate::rate_limit::Limiter;
use localzoom_server::gate::shared_limit::Failure;
use localzoom_server::server::{self, ServerConfig};
use localzoom_server::service::accounts::{self, BootstrapRequest, PlanNote};
use localzoom_server::store::{AccountRecord, AppRecord, DEFAULT_POOL_SIZE, Database};

mod output;
mod zoom;

use output::{Output, Progress, print_records};

/// Many small allocations per request (JSON, rows, headers): mimalloc serves them faster than glibc's malloc.
/// `.cargo/config.toml` builds it without eager arena commits, which would add ~8 MB to an idle server's RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "localzoom",
    version,
    about = "A Zoom-compatible Users API server for tests and self-hosting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Print a fresh access token of the bootstrap Server-to-Server app.
    Token(BootstrapArgs),
    /// Add N users to the bootstrap account quickly (for load tests), with a progress line on stderr.
    Seed(SeedArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage OAuth apps.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Zoom's Users API from the command line, against Zoom or localzoom (`--local`).
    #[command(subcommand)]
    Users(zoom::UsersCommand),
    /// For each user: revoke the SSO token, remove assistants, (optionally reset the password,) deactivate.
    Offboard(zoom::OffboardArgs),
    /// Write the whole dataset as NDJSON (to move between backends, or as a backup).
    Export(PortableArgs),
    /// Read an export into an empty database.
    Import(PortableArgs),
}

#[derive(Args)]
struct PortableArgs {
    #[command(flatten)]
    db: DatabaseArg,
    /// The export file (default: standard output for export, standard input for import).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account and its owner.
    Create(CreateAccountArgs),
    /// List the accounts.
    List(ListArgs),
    /// Set an account's limits (Zoom keeps these per account; localzoom's defaults are in docs/fidelity.md).
    SetLimits(SetLimitsArgs),
    /// Change an account's plan (its rate limits follow it at once).
    SetPlan(SetPlanArgs),
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Register an OAuth app in an account; prints its client id and (once) its client secret.
    Create(CreateAppArgs),
    /// List the apps.
    List(ListAppsArgs),
    /// Deactivate an app: its tokens stop working at once.
    Deactivate(DeactivateAppArgs),
}

#[derive(Args)]
struct CreateAccountArgs {
    /// The account's plan (sets its rate limits).
    #[arg(long, default_value = "pro", value_parser = clap::builder::PossibleValuesParser::new(accounts::PLANS))]
    plan: String,
    /// E-mail of the account's owner (its domain becomes the account's managed domain).
    #[arg(long)]
    owner_email: String,
    /// Id of the new account (generated when absent).
    #[arg(long)]
    account_id: Option<String>,
    #[command(flatten)]
    db: DatabaseArg,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    db: DatabaseArg,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Args)]
struct CreateAppArgs {
    /// The account the app belongs to.
    #[arg(long)]
    account: String,
    /// `s2s`: Server-to-Server (account credentials); `user`: user-managed (authorization code).
    #[arg(long = "type", value_parser = ["s2s", "user"])]
    kind: String,
    /// Space-separated scopes (default: the classic admin set for s2s, the classic user set for user apps).
    #[arg(long)]
    scopes: Option<String>,
    /// Where the authorization-code flow sends the browser back (required for user apps).
    #[arg(long, required_if_eq("kind", "user"))]
    redirect_uri: Option<String>,
    #[command(flatten)]
    db: DatabaseArg,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Args)]
struct ListAppsArgs {
    /// Only this account's apps.
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    db: DatabaseArg,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Args)]
struct DeactivateAppArgs {
    /// The app's client id.
    client_id: String,
    #[command(flatten)]
    db: DatabaseArg,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Args)]
struct SetLimitsArgs {
    /// The account (default: the database's bootstrap account).
    #[arg(long)]
    account: Option<String>,
    /// Most active and pending Basic users (error 3412 beyond), or `unlimited`.
    #[arg(long)]
    max_basic_users: Option<String>,
    /// How many recent passwords a new one may not repeat (error 1129).
    #[arg(long)]
    password_history: Option<u32>,
    /// How many password changes a user may make in 24 hours.
    #[arg(long)]
    password_changes_per_day: Option<u32>,
    /// Replace one of the plan's rate limits: NAME=N, NAME=unlimited or NAME=default (repeatable). Names:
    /// light, medium, heavy, resource-intensive (per second; per minute for resource-intensive), their
    /// `-daily` forms, heavy-resource-intensive-daily, user-create-daily.
    #[arg(long = "rate-limit", value_name = "NAME=VALUE")]
    rate_limits: Vec<String>,
    #[command(flatten)]
    db: DatabaseArg,
}

#[derive(Args)]
struct SetPlanArgs {
    /// The new plan.
    #[arg(id = "new_plan", value_name = "PLAN", value_parser = clap::builder::PossibleValuesParser::new(accounts::PLANS))]
    plan: String,
    /// The account (default: the database's bootstrap account).
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    db: DatabaseArg,
}

#[derive(Args)]
struct SeedArgs {
    /// How many users to add.
    #[arg(long)]
    users: u64,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

/// The database of every command that opens one. Its default does not depend on the folder a command runs in,
/// so `serve`, `token` and `--local` commands started anywhere use the same data.
#[derive(Args, Clone)]
struct DatabaseArg {
    /// Database URL: sqlite://PATH (embedded) or postgres://USER@HOST:PORT/DB [default:
    /// sqlite://$XDG_DATA_HOME/localzoom/localzoom.db, or ~/.local/share/localzoom/localzoom.db]
    #[arg(long, env = "LOCALZOOM_DATABASE", value_name = "URL")]
    database: Option<String>,
}

#[derive(Args, Clone, Copy)]
struct OutputArg {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// The bootstrap account and Server-to-Server app: created on an empty database, checked against a used one.
#[derive(Args, Clone)]
struct BootstrapArgs {
    #[command(flatten)]
    db: DatabaseArg,
    /// Plan of the bootstrap account: set when it is created, and applied to it when given later [default: pro].
    #[arg(long, env = "LOCALZOOM_PLAN", value_parser = clap::builder::PossibleValuesParser::new(accounts::PLANS))]
    plan: Option<String>,
    /// Bootstrap account id (generated when absent; must match a used database's).
    #[arg(long, env = "LOCALZOOM_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Client id of the Server-to-Server app to use (generated on an empty database; must exist in a used one).
    #[arg(long, env = "LOCALZOOM_CLIENT_ID")]
    client_id: Option<String>,
    /// Its client secret (generated and printed once on an empty database; must match in a used one).
    #[arg(long, env = "LOCALZOOM_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// E-mail of the bootstrap account's owner, when it is created [default: owner@localzoom.test].
    #[arg(long, env = "LOCALZOOM_OWNER_EMAIL")]
    owner_email: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOCALZOOM_LISTEN", default_value = "127.0.0.1:9800")]
    listen: String,
    /// Enforce Zoom's rate limits per account, by plan (`off` for load tests).
    #[arg(long, env = "LOCALZOOM_RATE_LIMITS", default_value = "on", value_parser = ["on", "off"])]
    rate_limits: String,
    /// Log format.
    #[arg(long, env = "LOCALZOOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Share rate-limit state between nodes through this Redis (redis://HOST:PORT).
    #[arg(long, env = "LOCALZOOM_REDIS")]
    redis: Option<String>,
    /// While Redis is unreachable: `open` admits calls without limits, `closed` refuses them (503). Logged.
    #[arg(long, env = "LOCALZOOM_REDIS_FAILURE", value_enum, default_value_t = RedisFailure::Open)]
    redis_failure: RedisFailure,
    /// The most connections this process opens to PostgreSQL (size it so that nodes × pool stays under
    /// PostgreSQL's `max_connections`; see docs/operations.md).
    #[arg(long, env = "LOCALZOOM_DATABASE_POOL", default_value_t = DEFAULT_POOL_SIZE)]
    database_pool: usize,
    /// Enables the control API (`/_localzoom/v1/…`) for requests bearing this key.
    #[arg(long, env = "LOCALZOOM_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// The most client connections served at once; more wait in the listen backlog.
    #[arg(long, env = "LOCALZOOM_MAX_CONNECTIONS", default_value_t = localzoom_server::http::listener::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a client may take to send a request's headers or body, or leave a kept-alive connection idle.
    #[arg(long, env = "LOCALZOOM_READ_TIMEOUT", default_value_t = 10)]
    read_timeout: u64,
    /// The file holding the key of the password-history fingerprints, kept out of the database and its folder,
    /// created on first start; every node of one database needs the same [default:
    /// $XDG_CONFIG_HOME/localzoom/history.key, or ~/.config/localzoom/history.key].
    #[arg(long, env = "LOCALZOOM_HISTORY_KEY_FILE", value_name = "PATH")]
    history_key_file: Option<std::path::PathBuf>,
    /// Drop the password history if it was recorded with another key than the one given (its key is lost),
    /// rather than refuse to start.
    #[arg(long)]
    forget_password_history: bool,
    /// argon2id cost: `owasp` (production) or `minimal` (tests only: fast and weak).
    #[arg(long, env = "LOCALZOOM_PASSWORD_HASH", value_enum, default_value_t = HashCost::Owasp)]
    password_hash: HashCost,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
enum RedisFailure {
    Open,
    Closed,
}

#[derive(Clone, Copy, ValueEnum)]
enum HashCost {
    Owasp,
    Minimal,
}

impl BootstrapArgs {
    /// `serve` applies `--plan` to a used database's account; `token` and `seed` only create with it.
    fn request(&self, apply_plan: bool) -> BootstrapRequest {
        BootstrapRequest {
            plan: self.plan.clone(),
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
    fn url(&self) -> anyhow::Result<String> {
        match &self.database {
            Some(url) => Ok(url.clone()),
            None => default_database(),
        }
    }

    /// Opens the database and says on stderr which one it is (stdout may be a token or JSON for a script).
    fn open(&self, pool_size: usize) -> anyhow::Result<Database> {
        let db = Database::open_with_pool(&self.url()?, pool_size)?;
        eprintln!("localzoom: database {}", db.describe());
        Ok(db)
    }
}

/// `$XDG_DATA_HOME/localzoom/localzoom.db`, or `~/.local/share/localzoom/localzoom.db` (atuin's convention).
fn default_database() -> anyhow::Result<String> {
    Ok(format!(
        "sqlite://{}",
        data_dir()?.join("localzoom.db").display()
    ))
}

/// `$XDG_CONFIG_HOME/localzoom`, or `~/.config/localzoom`, made if missing: apart from the data, so that a copy
/// of the data folder does not carry the password-history key.
fn config_dir() -> anyhow::Result<std::path::PathBuf> {
    user_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_DATA_HOME/localzoom`, or `~/.local/share/localzoom`, made if missing.
fn data_dir() -> anyhow::Result<std::path::PathBuf> {
    user_dir("XDG_DATA_HOME", ".local/share")
}

/// `$VARIABLE/localzoom`, or `~/UNDER_HOME/localzoom`, made if missing.
fn user_dir(variable: &str, under_home: &str) -> anyhow::Result<std::path::PathBuf> {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Token(args) => token(args).await,
            Command::Seed(args) => seed(args).await,
            Command::Accounts(AccountsCommand::SetLimits(args)) => set_limits(args).await,
            Command::Accounts(AccountsCommand::SetPlan(args)) => set_plan(args).await,
            Command::Accounts(AccountsCommand::Create(args)) => create_account(args).await,
            Command::Accounts(AccountsCommand::List(args)) => list_accounts(args),
            Command::Apps(AppsCommand::Create(args)) => create_app(args).await,
            Command::Apps(AppsCommand::List(args)) => list_apps(args),
            Command::Apps(AppsCommand::Deactivate(args)) => deactivate_app(args).await,
            Command::Users(command) => zoom::users(command).await.map_err(zoom::explain),
            Command::Offboard(args) => zoom::offboard(args).await.map_err(zoom::explain),
            Command::Export(args) => export(args),
            Command::Import(args) => import(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("localzoom: error: {error}");
    ExitCode::FAILURE
}

/// Logs go to stderr through a background writer, so a request never waits for the terminal or the disk;
/// the returned guard flushes what is queued when `serve` returns.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The background thread flushes whenever it has drained what was queued: one write per burst of lines.
    let (writer, guard) =
        tracing_appender::non_blocking(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _log_guard = init_logging(args.log_format);
    let mut config = ServerConfig::new(&args.listen, &args.bootstrap.db.url()?);
    config.bootstrap = args.bootstrap.request(true);
    config.rate_limits = args.rate_limits == "on";
    config.database_pool = args.database_pool;
    config.redis = args.redis.clone();
    config.redis_failure = match args.redis_failure {
        RedisFailure::Open => Failure::Open,
        RedisFailure::Closed => Failure::Closed,
    };
    config.admin_key = args.admin_key;
    config.max_connections = args.max_connections;
    config.history_key_file = Some(match args.history_key_file {
        Some(path) => path,
        None => config_dir()?.join("history.key"),
    });
    config.forget_password_history = args.forget_password_history;
    config.read_timeout = std::time::Duration::from_secs(args.read_timeout.max(1));
    config.hash_params = match args.password_hash {
        HashCost::Owasp => HashParams::OWASP,
        HashCost::Minimal => HashParams::MINIMAL,
    };
    let started = server::start(config).await?;
    let b = &started.bootstrap;
    let rate_limits = if let Some(limiter) = started.state.rate_limiter.as_deref() {
        let account = started
            .state
            .db
            .read(|store| localzoom_server::service::users::account(store, &b.account_id))
            .map_err(failed)?;
        let scope = match (limiter, started.state.db.as_ref()) {
            (Limiter::Shared(redis), _) => format!(
                "shared by every node through Redis (fail {}){}",
                if args.redis_failure == RedisFailure::Open { "open" } else { "closed" },
                if redis.reachable() { "" } else { " — Redis does not answer now" }
            ),
            // Said plainly: without a shared limiter, N nodes admit N times the quota.
            (Limiter::Local(_), Database::Postgres(_)) => {
                "in this process only — every node on this database enforces the whole quota (use --redis to share)"
                    .to_string()
            }
            (Limiter::Local(_), Database::Sqlite(_)) => "in this process".to_string(),
        };
        format!(
            "rate limits enforced per account, {scope} (this account: {})",
            limits_of(&account)
        )
    } else {
        "rate limits off".to_string()
    };
    let plan = match &b.plan_note {
        Some(PlanNote::MovedFrom(old)) => {
            format!("{} (moved from {old} by --plan / LOCALZOOM_PLAN)", b.plan)
        }
        _ => b.plan.clone(),
    };
    let mut banner = format!(
        "localzoom listening on http://{} · database {} · plan {plan} · {rate_limits}\n\
         account {} · S2S app client id {}\n",
        started.addr,
        started.state.db.describe(),
        b.account_id,
        b.client_id
    );
    if let Some(secret) = &b.generated_secret {
        banner.push_str(&format!(
            "client secret {secret} (generated now and shown once; only its hash is stored)\n"
        ));
    }
    // Whoever started us may have stopped reading stdout; that must not stop the server.
    let _ = std::io::stdout().write_all(banner.as_bytes());
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    started.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn token(args: BootstrapArgs) -> anyhow::Result<()> {
    let (token, outcome) = mint_bootstrap_token(&args).await?;
    if let Some(secret) = &outcome.generated_secret {
        eprintln!(
            "localzoom: bootstrapped account {} · client id {} · client secret {secret} (shown once)",
            outcome.account_id, outcome.client_id
        );
    }
    println!("{token}");
    Ok(())
}

/// Opens the database and makes sure its bootstrap account and app exist, as `serve` does.
async fn open_and_bootstrap(args: &BootstrapArgs) -> anyhow::Result<(Database, server::Bootstrap)> {
    let db = args.db.open(DEFAULT_POOL_SIZE)?;
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
async fn mint_bootstrap_token(args: &BootstrapArgs) -> anyhow::Result<(String, server::Bootstrap)> {
    let now = SystemClock.now_ms();
    let (db, outcome) = open_and_bootstrap(args).await?;
    let client_id = outcome.client_id.clone();
    let response = db
        .write(move |store| {
            let app = store.app(&client_id)?.ok_or_else(|| {
                localzoom_server::error::ApiError::internal("bootstrap app missing")
            })?;
            accounts::mint_token(store, &app, now)
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot mint a token: {}", e.cause()))?;
    Ok((response.access_token, outcome))
}

async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    // Small transactions: every statement inside a savepoint pays for the pages the transaction has dirtied.
    const BATCH: u64 = 2_000;
    let now = SystemClock.now_ms();
    let (db, outcome) = open_and_bootstrap(&args.bootstrap).await?;
    let account = outcome.account_id.clone();
    // Continue numbering after earlier seeds so that running it twice adds more users.
    let first = db
        .read(|store| {
            let mut n = 0;
            while store.email_exists(&format!("seed{}@seed.localzoom.test", n + BATCH))? {
                n += BATCH;
            }
            while store.email_exists(&format!("seed{n}@seed.localzoom.test"))? {
                n += 1;
            }
            Ok(n)
        })
        .map_err(|e| anyhow::anyhow!("cannot read the database: {}", e.cause()))?;
    let started = std::time::Instant::now();
    let mut progress = Progress::new("seeding users", args.users);
    let mut done = 0;
    while done < args.users {
        let count = BATCH.min(args.users - done);
        let (account, from) = (account.clone(), first + done);
        db.write(move |store| accounts::seed_users(store, &account, from, count, now))
            .await
            .map_err(|e| anyhow::anyhow!("cannot seed users: {}", e.cause()))?;
        done += count;
        progress.show(done);
    }
    println!(
        "seeded {} users into account {} in {:.1}s",
        args.users,
        outcome.account_id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn set_limits(args: SetLimitsArgs) -> anyhow::Result<()> {
    let max_basic_users = match args.max_basic_users.as_deref() {
        None => None,
        Some("unlimited") => Some(None),
        Some(n) => Some(Some(n.parse::<u32>().map_err(|_| {
            anyhow::anyhow!("--max-basic-users takes a number or `unlimited`, not {n:?}")
        })?)),
    };
    let rate_limits = args
        .rate_limits
        .iter()
        .map(|text| {
            Overrides::parse_assignment(text).map_err(|e| anyhow::anyhow!("--rate-limit {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (history, per_day) = (args.password_history, args.password_changes_per_day);
    let account = edit_account(&args.db, args.account, move |account| {
        if let Some(max) = max_basic_users {
            account.max_basic_users = max;
        }
        if let Some(n) = history {
            account.password_history_count = n;
        }
        if let Some(n) = per_day {
            account.password_changes_per_day = n;
        }
        for (limit, value) in rate_limits {
            account.rate_limit_overrides.set(limit, value);
        }
        Ok(())
    })
    .await?;
    println!(
        "account {}: max Basic users {}, password history {}, password changes per day {}",
        account.id,
        account
            .max_basic_users
            .map_or("unlimited".to_string(), |n| n.to_string()),
        account.password_history_count,
        account.password_changes_per_day
    );
    println!("rate limits: {}", limits_of(&account));
    Ok(())
}

async fn set_plan(args: SetPlanArgs) -> anyhow::Result<()> {
    let plan = args.plan;
    let account = edit_account(&args.db, args.account, move |account| {
        account.plan = plan;
        Ok(())
    })
    .await?;
    println!("account {}: plan {}", account.id, account.plan);
    println!("rate limits: {}", limits_of(&account));
    Ok(())
}

/// Changes an account (the bootstrap account unless `account` is given) in one transaction; a running server
/// sees the change on its next request.
async fn edit_account(
    db: &DatabaseArg,
    account: Option<String>,
    edit: impl FnOnce(&mut AccountRecord) -> Result<(), ApiError> + Send + 'static,
) -> anyhow::Result<AccountRecord> {
    let db = db.open(DEFAULT_POOL_SIZE)?;
    let account_id = match account {
        Some(id) => id,
        None => db
            .read(accounts::bootstrap_account_id)
            .map_err(failed)?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no bootstrap account (`localzoom serve` makes one on its first start): name the \
                     account with --account ID (`localzoom accounts list` shows them)",
                    db.describe()
                )
            })?,
    };
    db.write(move |store| {
        let mut account = localzoom_server::service::users::account(store, &account_id)?;
        edit(&mut account)?;
        store.update_account(&account)?;
        Ok(account)
    })
    .await
    .map_err(failed)
}

fn limits_of(account: &AccountRecord) -> AccountLimits {
    AccountLimits {
        plan: Plan::of(&account.plan),
        overrides: account.rate_limit_overrides.clone(),
    }
}

fn export(args: PortableArgs) -> anyhow::Result<()> {
    use localzoom_server::service::portable;
    let db = args.db.open(DEFAULT_POOL_SIZE)?;
    let count = match &args.file {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            portable::export(&db, &mut std::io::BufWriter::new(file))
        }
        None => portable::export(&db, &mut std::io::BufWriter::new(std::io::stdout().lock())),
    }
    .map_err(|e| anyhow::anyhow!("cannot export {}: {}", db.describe(), e.cause()))?;
    eprintln!("exported {count} records from {}", db.describe());
    Ok(())
}

async fn import(args: PortableArgs) -> anyhow::Result<()> {
    use localzoom_server::service::portable;
    let db = args.db.open(DEFAULT_POOL_SIZE)?;
    let count = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            portable::import(&db, &mut std::io::BufReader::new(file)).await?
        }
        None => portable::import(&db, &mut std::io::stdin().lock()).await?,
    };
    eprintln!("imported {count} records into {}", db.describe());
    Ok(())
}

/// A failure as an operator needs it: Zoom's message, or the real cause of an internal one.
fn failed(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.cause())
}

fn account_json(a: &AccountRecord) -> serde_json::Value {
    serde_json::json!({
        "account_id": a.id, "plan": a.plan, "owner_email": a.owner_email,
        "max_basic_users": a.max_basic_users, "password_history": a.password_history_count,
        "password_changes_per_day": a.password_changes_per_day,
        "rate_limits": limits_of(a).to_string(),
    })
}

fn app_json(a: &AppRecord, secret: Option<&str>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "client_id": a.client_id, "account_id": a.account_id, "type": a.kind, "scopes": a.scopes.join(" "),
        "redirect_uri": a.redirect_uri, "active": a.active,
    });
    if let Some(secret) = secret {
        value["client_secret"] = serde_json::Value::from(secret);
    }
    value
}

const ACCOUNT_COLUMNS: &[&str] = &["account_id", "plan", "owner_email", "max_basic_users"];
const APP_COLUMNS: &[&str] = &["client_id", "account_id", "type", "active", "scopes"];

async fn create_account(args: CreateAccountArgs) -> anyhow::Result<()> {
    let db = args.db.open(DEFAULT_POOL_SIZE)?;
    let now = SystemClock.now_ms();
    let id = args
        .account_id
        .unwrap_or_else(localzoom_server::crypto::new_id);
    let (plan, email) = (args.plan, args.owner_email);
    let (account, _) = db
        .write(move |store| accounts::create_account(store, &id, &plan, &email, now))
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        ACCOUNT_COLUMNS,
        vec![account_json(&account)],
        true,
    );
    Ok(())
}

fn list_accounts(args: ListArgs) -> anyhow::Result<()> {
    let all = args
        .db
        .open(DEFAULT_POOL_SIZE)?
        .read(|store| store.accounts())
        .map_err(failed)?;
    print_records(
        args.output.output,
        ACCOUNT_COLUMNS,
        all.iter().map(account_json).collect(),
        false,
    );
    Ok(())
}

async fn create_app(args: CreateAppArgs) -> anyhow::Result<()> {
    let db = args.db.open(DEFAULT_POOL_SIZE)?;
    let now = SystemClock.now_ms();
    let kind = accounts::AppKind::parse(&args.kind).expect("clap checked the value");
    let scopes = args
        .scopes
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    let (account, redirect) = (args.account, args.redirect_uri);
    let (app, secret) = db
        .write(move |store| accounts::create_app(store, &account, kind, scopes, redirect, now))
        .await
        .map_err(failed)?;
    let mut columns = APP_COLUMNS.to_vec();
    columns.push("client_secret");
    print_records(
        args.output.output,
        &columns,
        vec![app_json(&app, Some(&secret))],
        true,
    );
    Ok(())
}

fn list_apps(args: ListAppsArgs) -> anyhow::Result<()> {
    let apps = args
        .db
        .open(DEFAULT_POOL_SIZE)?
        .read(|store| match &args.account {
            Some(account) => store.apps(account),
            None => store.all_apps(),
        })
        .map_err(failed)?;
    print_records(
        args.output.output,
        APP_COLUMNS,
        apps.iter().map(|a| app_json(a, None)).collect(),
        false,
    );
    Ok(())
}

async fn deactivate_app(args: DeactivateAppArgs) -> anyhow::Result<()> {
    let client_id = args.client_id;
    let app = args
        .db
        .open(DEFAULT_POOL_SIZE)?
        .write(move |store| accounts::deactivate_app(store, &client_id))
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        APP_COLUMNS,
        vec![app_json(&app, None)],
        true,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `--help` is the first thing a newcomer reads: every subcommand and every flag says what it is about.
    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                for arg in sub.get_arguments() {
                    let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                    if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                        missing.push(format!("{path} <{}>", arg.get_id()));
                    }
                }
                walk(sub, &path, missing);
            }
        }
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cli, "localzoom", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
