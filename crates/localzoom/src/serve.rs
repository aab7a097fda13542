//! `localzoom serve`: its flags, logging, the banner, and a clean stop on SIGTERM or Ctrl-C.

use std::io::Write;

use crate::accounts::limits_of;
use crate::database::{BootstrapArgs, config_dir, failed};
use anyhow::Context;
use clap::{Args, ValueEnum};
use localzoom_server::crypto::HashParams;
use localzoom_server::gate::limiter::Limiter;
use localzoom_server::gate::shared_limit::Failure;
use localzoom_server::server::{self, ServerConfig};
use localzoom_server::service::accounts::PlanNote;
use localzoom_server::store::{DEFAULT_POOL_SIZE, Database};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LOCALZOOM_LISTEN", default_value = "127.0.0.1:9800")]
    pub(crate) listen: String,
    /// Enforce Zoom's rate limits per account, by plan (`off` for load tests).
    #[arg(long, env = "LOCALZOOM_RATE_LIMITS", default_value = "on", value_parser = ["on", "off"])]
    pub(crate) rate_limits: String,
    /// Log format.
    #[arg(long, env = "LOCALZOOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Share rate-limit state between nodes through this Redis (redis://HOST:PORT, or rediss://HOST:PORT for TLS).
    #[arg(long, env = "LOCALZOOM_REDIS")]
    pub(crate) redis: Option<String>,
    /// With a rediss:// URL: the CA certificates (PEM) Redis's certificate must chain to [default: the system's].
    #[arg(long, env = "LOCALZOOM_REDIS_CA_FILE")]
    pub(crate) redis_ca_file: Option<std::path::PathBuf>,
    /// While Redis is unreachable: `open` admits calls without limits, `closed` refuses them (503). Logged.
    #[arg(long, env = "LOCALZOOM_REDIS_FAILURE", value_enum, default_value_t = RedisFailure::Open)]
    pub(crate) redis_failure: RedisFailure,
    /// The most connections this process opens to PostgreSQL (size it so that nodes × pool stays under
    /// PostgreSQL's `max_connections`; see docs/operations.md).
    #[arg(long, env = "LOCALZOOM_DATABASE_POOL", default_value_t = DEFAULT_POOL_SIZE)]
    pub(crate) database_pool: usize,
    /// Enables the control API (`/_localzoom/v1/…`) for requests bearing this key.
    #[arg(long, env = "LOCALZOOM_ADMIN_KEY", hide_env_values = true)]
    pub(crate) admin_key: Option<String>,
    /// A fixture document (YAML, or JSON for a .json file; see docs/fixtures.md) loaded at start (loading it
    /// again changes nothing) and again after each reset.
    #[arg(long, env = "LOCALZOOM_FIXTURES", value_name = "FILE")]
    pub(crate) fixtures: Option<std::path::PathBuf>,
    /// Draw generated ids, PMIs, account numbers, secrets and tokens from this seed, so a run repeats exactly
    /// (they become guessable: for tests only).
    #[arg(long, env = "LOCALZOOM_SEED", value_name = "N")]
    pub(crate) seed: Option<u64>,
    /// How many calls to Zoom's API the control API's request journal keeps (oldest dropped first); 0: none.
    #[arg(long, env = "LOCALZOOM_JOURNAL_SIZE", default_value_t = localzoom_server::gate::journal::DEFAULT_CAPACITY)]
    pub(crate) journal_size: usize,
    /// The URL clients reach this server by (behind a proxy: `https://zoom.example.test`), used in the URLs it
    /// hands out (`pic_url`, SCIM `meta.location`) [default: each request's scheme and Host].
    #[arg(long, env = "LOCALZOOM_PUBLIC_URL", value_name = "URL")]
    pub(crate) public_url: Option<String>,
    /// The most client connections served at once; more wait in the listen backlog.
    #[arg(long, env = "LOCALZOOM_MAX_CONNECTIONS", default_value_t = localzoom_server::http::listener::DEFAULT_MAX_CONNECTIONS)]
    pub(crate) max_connections: usize,
    /// Seconds a client may take to send a request's headers or body, or leave a kept-alive connection idle.
    #[arg(long, env = "LOCALZOOM_READ_TIMEOUT", default_value_t = 10)]
    pub(crate) read_timeout: u64,
    /// The file holding the key of the password-history fingerprints, kept out of the database and its folder,
    /// created on first start; every node of one database needs the same [default:
    /// $XDG_CONFIG_HOME/localzoom/history.key, or ~/.config/localzoom/history.key].
    #[arg(long, env = "LOCALZOOM_HISTORY_KEY_FILE", value_name = "PATH")]
    pub(crate) history_key_file: Option<std::path::PathBuf>,
    /// Drop the password history if it was recorded with another key than the one given (its key is lost),
    /// rather than refuse to start.
    #[arg(long)]
    pub(crate) forget_password_history: bool,
    /// argon2id cost: `owasp` (production) or `minimal` (tests only: fast and weak).
    #[arg(long, env = "LOCALZOOM_PASSWORD_HASH", value_enum, default_value_t = HashCost::Owasp)]
    pub(crate) password_hash: HashCost,
    #[command(flatten)]
    pub(crate) bootstrap: BootstrapArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
pub(crate) enum RedisFailure {
    Open,
    Closed,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum HashCost {
    Owasp,
    Minimal,
}

/// Logs go to stderr through a background writer, so a request never waits for the terminal or the disk;
/// the returned guard writes what is queued when `serve` returns.
pub(crate) fn init_logging(format: LogFormat) -> std::io::Result<crate::log_writer::FlushGuard> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = crate::log_writer::start(std::io::stderr())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone());
    match format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(guard)
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _log_guard = init_logging(args.log_format).context("starting the log writer")?;
    let mut config = ServerConfig::new(&args.listen, &args.bootstrap.db.url()?);
    config.bootstrap = args.bootstrap.request(true);
    config.rate_limits = args.rate_limits == "on";
    config.database_pool = args.database_pool;
    config.redis = args.redis.clone();
    config.redis_ca_file = args.redis_ca_file.clone();
    config.redis_failure = match args.redis_failure {
        RedisFailure::Open => Failure::Open,
        RedisFailure::Closed => Failure::Closed,
    };
    config.admin_key = args.admin_key;
    config.journal_capacity = args.journal_size;
    config.fixtures = args.fixtures.clone();
    if let Some(seed) = args.seed {
        localzoom_server::crypto::seed_randomness(seed);
    }
    config.public_url = args.public_url;
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
            .read(|tx| async {
                let tx = tx;
                let store = &tx;
                localzoom_server::service::users::account(store, &b.account_id).await
            })
            .await
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
        _ => b.plan.to_string(),
    };
    let mut banner = format!(
        "localzoom listening on http://{} · database {} · plan {plan} · {rate_limits}\n\
         account {} · S2S app client id {}\n",
        started.addr,
        started.state.db.describe(),
        b.account_id,
        b.client_id
    );
    banner.push_str(&match &started.state.control.journal {
        _ if started.state.admin_key.is_none() => {
            "control API off (--admin-key or LOCALZOOM_ADMIN_KEY turns it on)\n".to_string()
        }
        Some(_) => format!(
            "control API on at /_localzoom/v1 (request journal: the last {} calls)\n",
            args.journal_size
        ),
        None => "control API on at /_localzoom/v1 (request journal off)\n".to_string(),
    });
    if let Some(seed) = args.seed {
        banner.push_str(&format!(
            "generated ids, secrets and tokens follow --seed {seed}: repeatable and guessable, for tests only\n"
        ));
    }
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

pub(crate) async fn shutdown_signal() {
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
