//! Wiring: open the database, bootstrap it, bind the listener, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::{AdjustableClock, Clock};
use crate::crypto::{HashParams, HistoryKey, PasswordHashing};
use crate::gate::failures::FailureWindows;
use crate::gate::limiter::Limiter;
use crate::gate::rate_limit::RateLimiter;
use crate::gate::shared_limit::{Failure, RedisLimiter};
pub use crate::gate::state::AppState;
use crate::service::accounts::{self, BootstrapOutcome, BootstrapRequest};
use crate::store::Database;

pub use crate::service::accounts::BootstrapOutcome as Bootstrap;

pub struct ServerConfig {
    pub listen: String,
    pub database: String,
    /// The most connections to PostgreSQL this process opens (SQLite: unused).
    pub database_pool: usize,
    pub bootstrap: BootstrapRequest,
    /// Enforce Zoom's rate limits.
    pub rate_limits: bool,
    /// Share rate-limit state between nodes through this Redis.
    pub redis: Option<String>,
    /// The CA certificates (PEM) a `rediss://` Redis's certificate must chain to, instead of the system's.
    pub redis_ca_file: Option<std::path::PathBuf>,
    /// What calls get while Redis is unreachable.
    pub redis_failure: Failure,
    pub hash_params: HashParams,
    /// How many argon2 hashes may run at once.
    pub hash_concurrency: usize,
    pub clock: Arc<dyn Clock>,
    /// Enables `/_localzoom/v1/…` for callers presenting this key.
    pub admin_key: Option<String>,
    /// How many calls the request journal keeps (while the control API is on); 0: none.
    pub journal_capacity: usize,
    /// The most connections served at once.
    pub max_connections: usize,
    /// The password-history key itself (tests); without it, `history_key_file` must name the file holding it,
    /// which is created on first start.
    pub history_key: Option<HistoryKey>,
    pub history_key_file: Option<std::path::PathBuf>,
    /// Drop a password history recorded with another key (a lost one) instead of refusing to start.
    pub forget_password_history: bool,
    /// How long a client may take to send a request's headers or body, or keep a connection idle.
    pub read_timeout: std::time::Duration,
    /// A fixture document (YAML, or JSON for a `.json` file) loaded at start, and again after each reset.
    pub fixtures: Option<std::path::PathBuf>,
    /// The URL clients reach this server by (`https://zoom.example.test`), for the URLs it hands out (`pic_url`,
    /// SCIM's `meta.location`); without it, the scheme and `Host` of each request.
    pub public_url: Option<String>,
}

impl ServerConfig {
    pub fn new(listen: &str, database: &str) -> Self {
        ServerConfig {
            listen: listen.to_string(),
            database: database.to_string(),
            database_pool: crate::store::DEFAULT_POOL_SIZE,
            bootstrap: BootstrapRequest::default(),
            rate_limits: true,
            redis: None,
            redis_ca_file: None,
            redis_failure: Failure::Open,
            hash_params: HashParams::OWASP,
            hash_concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            clock: Arc::new(AdjustableClock::default()),
            admin_key: None,
            journal_capacity: crate::gate::journal::DEFAULT_CAPACITY,
            max_connections: crate::http::listener::DEFAULT_MAX_CONNECTIONS,
            history_key: None,
            history_key_file: None,
            forget_password_history: false,
            public_url: None,
            fixtures: None,
            read_timeout: crate::http::listener::DEFAULT_READ_TIMEOUT,
        }
    }
}

/// Makes sure the bootstrap account of an open database exists.
pub async fn bootstrap_open(
    db: &Database,
    bootstrap: &BootstrapRequest,
    now: i64,
) -> anyhow::Result<BootstrapOutcome> {
    let request = bootstrap.clone();
    db.write(move |tx| async move {
        let store = &tx;
        accounts::bootstrap(store, &request, now).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", db.describe(), e.cause()))
}

/// Reads and checks a fixture file, and hashes its passwords.
async fn read_fixture(
    path: &std::path::Path,
    hashing: &PasswordHashing,
) -> anyhow::Result<crate::service::fixtures::LoadableFixture> {
    use crate::domain::fixture::{self, FixtureFormat, MAX_FIXTURE_BYTES};
    let failed = |message: String| anyhow::anyhow!("--fixtures {}: {message}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| failed(e.to_string()))?
        .len();
    if size > MAX_FIXTURE_BYTES as u64 {
        return Err(failed(format!("larger than {MAX_FIXTURE_BYTES} bytes")));
    }
    let bytes = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => FixtureFormat::Json,
        _ => FixtureFormat::Yaml,
    };
    let parsed = fixture::parse(&bytes, format).map_err(|e| failed(refusal(&e.into())))?;
    crate::service::fixtures::prepare(hashing, parsed)
        .await
        .map_err(|e| failed(refusal(&e)))
}

/// A refusal as one line: its message and each field it names.
fn refusal(error: &crate::error::ApiError) -> String {
    let body = error.body();
    let fields: Vec<String> = body
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    if fields.is_empty() {
        error.cause()
    } else {
        fields.join("; ")
    }
}

/// A running server.
pub struct Started {
    pub addr: SocketAddr,
    pub bootstrap: BootstrapOutcome,
    pub state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// The webhook sender (`delivery`).
    sending: JoinHandle<()>,
    /// Held while serving: no second server on the same SQLite file.
    _claim: Option<std::fs::File>,
}

impl Started {
    /// Stops accepting, lets in-flight requests finish, then returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        let served = self.task.await;
        self.sending.abort();
        served??;
        Ok(())
    }
}

/// The shortest admin key accepted: an empty or short key would open the control API to anyone who guesses it.
pub const MIN_ADMIN_KEY_LEN: usize = 12;

pub async fn start(config: ServerConfig) -> anyhow::Result<Started> {
    if let Some(url) = config.public_url.as_deref().map(str::trim) {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or("");
        anyhow::ensure!(
            !rest.is_empty() && !rest.contains(['?', '#']) && !url.chars().any(char::is_whitespace),
            "--public-url (LOCALZOOM_PUBLIC_URL) must be an http:// or https:// URL without query or fragment, \
             such as https://zoom.example.test; got {url:?}"
        );
    }
    // Trimmed once, here: the key compared is the key checked. An empty one (a variable exported without a
    // value) is no key: the control API stays off, and the banner says so.
    let admin_key = config
        .admin_key
        .as_deref()
        .map(str::trim)
        .filter(|key| !key.is_empty());
    if let Some(key) = admin_key
        && key.chars().count() < MIN_ADMIN_KEY_LEN
    {
        anyhow::bail!(
            "--admin-key (LOCALZOOM_ADMIN_KEY) must be at least {MIN_ADMIN_KEY_LEN} characters: a shorter one \
             would open the control API to whoever guesses it (leave it unset to keep the control API off)"
        );
    }
    // Bind first: a start that cannot serve leaves the database untouched.
    let listener = TcpListener::bind(&config.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " — is another `localzoom serve` running there? (--listen, LOCALZOOM_LISTEN, chooses another address)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot listen on {}: {e}{hint}", config.listen)
    })?;
    // Claimed before the database is opened: a refused second server leaves it as it was.
    let claim = Database::claim_for_serving(&config.database)?;
    let db = Arc::new(Database::open_with_pool(&config.database, config.database_pool).await?);
    let bootstrap = bootstrap_open(&db, &config.bootstrap, config.clock.now_ms()).await?;
    let history_key = match (config.history_key, &config.history_key_file) {
        (Some(key), _) => key,
        (None, Some(path)) => HistoryKey::load_or_create(path)?,
        (None, None) => anyhow::bail!("no password-history key: give --history-key-file"),
    };
    let (key, forget) = (history_key.clone(), config.forget_password_history);
    db.write(move |tx| async move {
        let store = &tx;
        crate::service::lifecycle::adopt_history_key(store, &key, forget).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {}", db.describe(), e.cause()))?;
    let hashing = PasswordHashing::new(config.hash_params, config.hash_concurrency);
    let start_fixture = match &config.fixtures {
        None => None,
        Some(path) => {
            let loadable = read_fixture(path, &hashing).await?;
            let (key, now) = (history_key.clone(), config.clock.now_ms());
            let loadable = Arc::new(loadable);
            let load = loadable.clone();
            db.write(move |tx| async move {
                let store = &tx;
                crate::service::fixtures::load(store, &load, None, (&key, now)).await
            })
            .await
            .map_err(|e| anyhow::anyhow!("--fixtures {}: {}", path.display(), refusal(&e)))?;
            Some(loadable)
        }
    };
    let addr = listener.local_addr()?;
    let rate_limiter = match (config.rate_limits, &config.redis) {
        (false, _) => None,
        (true, None) => Some(Arc::new(Limiter::Local(RateLimiter::default()))),
        (true, Some(url)) => {
            // Nodes of one dataset share counters; other datasets on the same Redis must not.
            let key = db
                .read(|store| async move { accounts::server_key(&store).await })
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the server key: {}", e.cause()))?;
            let namespace = crate::crypto::hex(&crate::crypto::sha256(&key)[..8]);
            let shared = RedisLimiter::new(
                url,
                config.redis_ca_file.as_deref(),
                &namespace,
                config.redis_failure,
            )?;
            Some(Arc::new(Limiter::Shared(Box::new(shared))))
        }
    };
    let sender = crate::delivery::Sender::new(db.clone(), config.clock.clone());
    let sending = tokio::spawn(sender.clone().run());
    let state = AppState::new(crate::gate::state::Shared {
        db,
        sender,
        clock: config.clock,
        hashing,
        admin_key: admin_key.map(Arc::from),
        public_url: config
            .public_url
            .as_deref()
            .map(|url| Arc::from(url.trim().trim_end_matches('/'))),
        client_failures: Arc::default(),
        sign_in_failures_per_user: Arc::default(),
        sign_in_failures_per_app: Arc::new(FailureWindows::with_limit(
            crate::gate::failures::MAX_SIGN_IN_FAILURES_PER_APP,
        )),
        rate_limiter,
        history_key,
        metrics: Arc::default(),
        control: Arc::new(crate::gate::state::ControlPlane {
            faults: admin_key.is_some().then(Default::default),
            journal: (admin_key.is_some() && config.journal_capacity > 0)
                .then(|| crate::gate::journal::Journal::new(config.journal_capacity)),
            start_fixture,
            configured: crate::service::reset::Configured {
                account_id: bootstrap.account_id.clone(),
                client_id: bootstrap.client_id.clone(),
                plan: bootstrap.plan,
            },
            console: Default::default(),
        }),
    });
    let app = crate::http::router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = crate::http::listener::ConnectionLimits {
        max_connections: config.max_connections,
        read_timeout: config.read_timeout,
    };
    let task = tokio::spawn(crate::http::listener::serve(listener, app, limits, async {
        let _ = stopped.await;
    }));
    Ok(Started {
        addr,
        bootstrap,
        state,
        stop,
        task,
        sending,
        _claim: claim,
    })
}
