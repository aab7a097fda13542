//! Persistence. `Store` (queries.rs) is every row operation the service layer needs inside one transaction,
//! written once over the small interface each backend supplies (sql.rs). `Database` runs a closure against a
//! `&Store` as a read or as one durable write.

use std::future::Future;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::domain::account::{AccountPlan, AppKind};
use crate::domain::rate_limits::{AccountLimits, Overrides};
use crate::domain::user::{LoginType, PresenceStatus, Role, Status};
use crate::domain::webhook::{DeliveryState, Event, Validation};

pub mod postgres;
mod queries;
pub(crate) mod sql;
pub mod sqlite;

pub use queries::webhooks::{AttemptOutcome, DeliveryCounts};
pub use queries::{Store, UserKey};

/// A schema change after the backends' own histories (SQLite's `sqlite/migrations/0001`–`0007`, PostgreSQL's
/// `postgres/migrations/0001`–`0002`, which stay as they are).
enum Migration {
    /// SQL both backends accept (`ALTER TABLE … ADD COLUMN …`, `CREATE INDEX …`).
    Both(&'static str),
    /// A change that needs each backend's own SQL (JSON functions, say).
    PerBackend {
        sqlite: &'static str,
        postgres: &'static str,
    },
}

/// Every schema change since the histories, in order, in `store/migrations/`. Appending here is the only way a
/// migration is added, so both backends always number them alike.
const MIGRATIONS: &[Migration] = &[
    Migration::Both(include_str!("migrations/0001_users_vanity_name.sql")),
    Migration::PerBackend {
        sqlite: include_str!("migrations/0002_users_vanity_name_from_profile.sqlite.sql"),
        postgres: include_str!("migrations/0002_users_vanity_name_from_profile.postgres.sql"),
    },
    Migration::Both(include_str!("migrations/0003_users_pmi_index.sql")),
    Migration::Both(include_str!("migrations/0004_email_changes.sql")),
    Migration::Both(include_str!("migrations/0005_presence.sql")),
    Migration::Both(include_str!("migrations/0006_user_settings.sql")),
    Migration::PerBackend {
        sqlite: include_str!("migrations/0007_user_pictures.sqlite.sql"),
        postgres: include_str!("migrations/0007_user_pictures.postgres.sql"),
    },
    Migration::PerBackend {
        sqlite: include_str!("migrations/0008_virtual_backgrounds.sqlite.sql"),
        postgres: include_str!("migrations/0008_virtual_backgrounds.postgres.sql"),
    },
    Migration::PerBackend {
        sqlite: include_str!("migrations/0009_user_resources.sqlite.sql"),
        postgres: include_str!("migrations/0009_user_resources.postgres.sql"),
    },
    Migration::Both(include_str!("migrations/0010_users_account_seq.sql")),
    Migration::Both(include_str!("migrations/0011_outbox_recipients.sql")),
    Migration::PerBackend {
        sqlite: include_str!("migrations/0012_webhooks.sqlite.sql"),
        postgres: include_str!("migrations/0012_webhooks.postgres.sql"),
    },
    Migration::Both(include_str!(
        "migrations/0013_users_unique_pmi_vanity_name.sql"
    )),
    Migration::PerBackend {
        sqlite: include_str!("migrations/0014_user_counts_shards.sqlite.sql"),
        postgres: include_str!("migrations/0014_user_counts_shards.postgres.sql"),
    },
];

/// FNV-1a of `key`: the same on every node and in every version, for what must agree across them (PostgreSQL's
/// advisory-lock keys, the writer a write goes to, the shard of a user's count).
pub(crate) fn spread(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// A backend's migrations: its own history, then the later ones in its dialect. A database's schema version is
/// how many of these it has applied.
fn migrations(dialect: sql::Dialect, history: &'static [&'static str]) -> Vec<&'static str> {
    let later = MIGRATIONS
        .iter()
        .map(|migration| match (migration, dialect) {
            (Migration::Both(sql), _) => *sql,
            (Migration::PerBackend { sqlite, .. }, sql::Dialect::Sqlite) => *sqlite,
            (Migration::PerBackend { postgres, .. }, sql::Dialect::Postgres) => *postgres,
        });
    history.iter().copied().chain(later).collect()
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How storage failed. The layers above turn it into their own errors (`From<StoreError>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk full, connection lost, I/O error, a statement refused): nothing was carried out,
    /// and trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// A stored value this localzoom cannot read (written by a newer version, or edited by hand).
    #[error("unreadable stored data: {0}")]
    Corrupt(String),
    /// A unique index refused the write (the backend names the index): a value another write took first. Writes
    /// of different accounts run at once on PostgreSQL, so a lookup that found the value free does not keep it so.
    #[error("duplicate key ({0})")]
    Duplicate(String),
    /// `Duplicate`, as the store understood it: which of a user's unique values was taken.
    #[error("{0:?} is taken")]
    Taken(Taken),
}

/// A user's value that is unique across the whole dataset, as Zoom's are across Zoom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Email(String),
    Pmi(i64),
    VanityName,
}

impl StoreError {
    pub fn unavailable(error: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(error.to_string())
    }
}

/// What a read or write closure may fail with: a store failure converts into it, and it tells whether it is one
/// (so that `/healthz` learns of storage failures whatever layer carried them up).
pub trait TransactionError: From<StoreError> + Send + 'static {
    /// The storage failure this error reports, if it is one.
    fn storage_failure(&self) -> Option<String>;
}

impl TransactionError for StoreError {
    fn storage_failure(&self) -> Option<String> {
        match self {
            StoreError::Unavailable(detail) | StoreError::Duplicate(detail) => Some(detail.clone()),
            StoreError::Corrupt(_) | StoreError::Taken(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub account_number: i64,
    pub plan: AccountPlan,
    pub owner_email: String,
    pub managed_domain: Option<String>,
    pub max_basic_users: Option<u32>,
    pub password_history_count: u32,
    pub password_changes_per_day: u32,
    pub security: Map<String, Value>,
    pub created_at: i64,
    /// Replacements of the plan's rate limits (tests use them to make limits small or to lift them).
    pub rate_limit_overrides: Overrides,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppRecord {
    pub client_id: String,
    pub client_secret_sha256: Vec<u8>,
    pub account_id: String,
    pub owner_user_id: String,
    pub kind: AppKind,
    pub scopes: Vec<String>,
    pub active: bool,
    pub created_at: i64,
    /// Where a user-level app's authorization redirects the browser.
    pub redirect_uri: Option<String>,
}

/// Access tokens authenticate `/v2` calls; refresh tokens only buy new tokens at `/oauth/token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(text: &str) -> Option<TokenKind> {
        match text {
            "access" => Some(TokenKind::Access),
            "refresh" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// An authorization code of the user-level OAuth flow, stored by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthCode {
    pub code_sha256: Vec<u8>,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    /// PKCE S256 challenge, when the authorization request carried one.
    pub code_challenge: Option<String>,
    pub expires_at: i64,
    pub used: bool,
}

/// What of a token can change once it is issued: read again inside a write, which the gate let in on an earlier
/// lookup (`Store::token_standing`).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenStanding {
    /// Revoked, or its app deactivated.
    pub revoked: bool,
    pub expires_at: i64,
    /// The acting user's current role, `None` once the user is gone.
    pub role: Option<Role>,
    /// Whether the account has any webhook subscription now.
    pub account_listened: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    pub token_sha256: Vec<u8>,
    pub client_id: String,
    pub account_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Revoked, or its app deactivated.
    pub revoked: bool,
    pub kind: TokenKind,
    /// The sign-in session a user-level token opened.
    pub session_id: Option<String>,
    /// Read only (ignored on insert): the acting user's current role, `None` once the user is gone.
    #[serde(skip)]
    pub role: Option<Role>,
    /// Read only (ignored on insert): the account's plan and rate-limit overrides now.
    #[serde(skip)]
    pub limits: Option<AccountLimits>,
    /// Read only (ignored on insert): whether the account has any webhook subscription now.
    #[serde(skip)]
    pub account_listened: bool,
    /// Read only (ignored on insert): the account's number.
    #[serde(skip)]
    pub account_number: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub login_type: LoginType,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxEmail {
    /// The user it was sent to and their account (`None` in exports made before localzoom recorded them).
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}

/// An app's event subscription (`webhook_subscriptions`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionRecord {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub url: String,
    pub secret_token: String,
    pub events: Vec<Event>,
    pub validation: Validation,
    /// The last time the endpoint answered the URL validation.
    pub validated_at: Option<i64>,
    /// Why the last validation failed.
    pub validation_detail: Option<String>,
    pub created_at: i64,
}

/// One event for one subscription, and where its delivery stands (`webhook_deliveries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Increases with every event recorded: the order deliveries go out in, per subscription.
    pub id: i64,
    pub subscription_id: String,
    pub account_id: String,
    pub event: Event,
    pub event_ts: i64,
    /// The request body, exactly as signed and sent.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// The last attempt's HTTP status (none when it got no answer), or why it failed.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    /// When it was delivered or dropped.
    pub finished_at: Option<i64>,
}

/// A user's profile picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub content_type: String,
    /// When it was uploaded (epoch ms); part of its URL, so each upload has its own.
    pub version: i64,
    pub bytes: Vec<u8>,
}

/// A virtual background file as stored, for `export` and `import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBackground {
    pub user_id: String,
    pub file: crate::domain::media::VirtualBackground,
    pub created_at: i64,
    pub bytes: Vec<u8>,
}

/// A user's presence status as last set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceRecord {
    pub status: PresenceStatus,
    /// When a Do-Not-Disturb ends (epoch ms).
    pub until_ms: Option<i64>,
    pub updated_at: i64,
}

/// One user's assistant, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AssistantLink {
    pub user_id: String,
    pub assistant_id: String,
    pub can_manage_host_private_event: bool,
    pub added_at: i64,
}

/// One entry of a user's password history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PasswordEntry {
    pub user_id: String,
    pub fingerprint: String,
    pub changed_at: i64,
    pub initial: bool,
}

/// Which users `GET /users` asks for, and where the page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    pub account_id: String,
    pub status: Status,
    pub role: Option<Role>,
    /// Keyset: users with a larger `seq` than this.
    pub after_seq: i64,
    /// Legacy `page_number` paging.
    pub offset: u64,
    pub limit: u64,
}

/// How a writer thread answers a write once its batch's commit outcome is known.
pub(crate) type Reply = Box<dyn FnOnce(Option<StoreError>) + Send>;
/// A write: runs against its transaction's store (or is told the transaction could not start) and says whether
/// it failed, plus how to answer its caller once the batch's commit outcome is known.
pub(crate) type Job = Box<dyn FnOnce(Result<Store, StoreError>) -> JobRun + Send>;
/// A write running: what `Job` returns.
pub(crate) type JobRun = std::pin::Pin<Box<dyn Future<Output = (bool, Reply)> + Send>>;

/// Runs `job` on `store`. A panic in it fails it alone: its reply sender is dropped with it, so its caller sees
/// an internal error, and the writer goes on with the next.
pub(crate) async fn run_job(job: Job, store: Result<Store, StoreError>) -> (bool, Reply) {
    use futures_util::FutureExt;
    let run = std::panic::AssertUnwindSafe(async move { job(store).await });
    match run.catch_unwind().await {
        Ok(done) => done,
        Err(_) => (true, Box::new(|_| {})),
    }
}

/// What a write must be serialised with, on every node. Zoom's rules are per account (the password window, the
/// Basic-user cap, assistants) or global by nature (unique e-mails, PMIs, vanity names: unique indexes), so writes
/// of different accounts need not wait for each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteScope {
    /// Reads and writes one user's own state (its tokens, sessions, assistants, password history) and reads
    /// nothing of the account's that a user-scoped write changes: after every other write of that user, and of
    /// the account as a whole, that committed first; beside other users' writes.
    User { account: String, user: String },
    /// Reads the account's state before writing it: after every other write of the account that committed first.
    Account(String),
    /// Safe beside any other write by its own conditions (a claim that updates only the rows still unclaimed).
    Rows,
    /// May touch any account (reset, fixtures, account management): alone.
    Everything,
}

/// A write as `Database::write` takes it: given its transaction's store, the future that carries it out. It runs
/// on a writer, so it owns what it uses.
pub trait WriteJob<R, E>: FnOnce(Store) -> Self::Run + Send + 'static {
    type Run: Future<Output = Result<R, E>> + Send + 'static;
}

impl<R, E, F, Run> WriteJob<R, E> for F
where
    F: FnOnce(Store) -> Run + Send + 'static,
    Run: Future<Output = Result<R, E>> + Send + 'static,
{
    type Run = Run;
}

/// Hands `f` to a backend's writer (which commits every write waiting at that moment in one transaction) through
/// `send`, and waits for its answer, given only once the commit is durable.
pub(crate) async fn submit<R: Send + 'static, E: TransactionError>(
    send: impl FnOnce(Job) -> bool,
    f: impl WriteJob<R, E>,
) -> Result<R, E> {
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Result<R, E>>();
    let job: Job = Box::new(move |store| {
        Box::pin(async move {
            let result = match store {
                Ok(store) => f(store).await,
                Err(e) => Err(e.into()),
            };
            let failed = result.is_err();
            let reply: Reply = Box::new(move |commit_error| {
                let _ = reply_tx.send(match commit_error {
                    Some(e) => Err(e.into()),
                    None => result,
                });
            });
            (failed, reply)
        })
    });
    if !send(job) {
        return Err(StoreError::unavailable("the writer has stopped").into());
    }
    reply_rx
        .await
        .map_err(|_| StoreError::unavailable("the write was dropped"))?
}

/// Connections a PostgreSQL-backed process opens at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The configured backend.
pub enum Database {
    Sqlite(sqlite::SqliteDatabase),
    Postgres(std::sync::Arc<postgres::PostgresDatabase>),
}

impl Database {
    pub async fn open(url: &str) -> anyhow::Result<Database> {
        Database::open_with_pool(url, DEFAULT_POOL_SIZE).await
    }

    /// `pool_size`: the most connections this process opens to PostgreSQL (SQLite ignores it).
    pub async fn open_with_pool(url: &str, pool_size: usize) -> anyhow::Result<Database> {
        if let Some(path) = sqlite_url_path(url) {
            return Ok(Database::Sqlite(sqlite::SqliteDatabase::open(
                &sqlite_path(path)?,
            )?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let db = postgres::PostgresDatabase::open(url, pool_size).await?;
            return Ok(Database::Postgres(std::sync::Arc::new(db)));
        }
        // Not the URL itself: it may hold a password.
        let scheme = url.split("://").next().unwrap_or("");
        anyhow::bail!(
            "unsupported database URL scheme {scheme:?}: expected sqlite://PATH or postgres://…"
        )
    }

    /// Runs `f` on a read-only transaction's store: one snapshot for all its statements. The transaction ends
    /// when `f` is done with the store. On PostgreSQL a connection found lost at the first statement, before
    /// anything was answered, is replaced and the statement sent again.
    pub async fn read<R, E, F, Fut>(&self, f: F) -> Result<R, E>
    where
        E: From<StoreError>,
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        f(self.snapshot().await?).await
    }

    /// `read`'s store, for a caller that runs more than one step on it.
    pub async fn snapshot(&self) -> StoreResult<Store> {
        match self {
            Database::Sqlite(db) => db.read(),
            Database::Postgres(db) => db.read(Some(postgres::READ_BEGIN)).await,
        }
    }

    /// Runs `f`, which only reads and needs no single snapshot across its statements (one statement: the token
    /// lookup every request starts with, the webhook sender's polls). On PostgreSQL its statements run without a
    /// transaction, which saves the round trips of BEGIN and COMMIT.
    pub async fn lookup<R, E, F, Fut>(&self, f: F) -> Result<R, E>
    where
        E: From<StoreError>,
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let store = match self {
            Database::Sqlite(db) => db.read()?,
            Database::Postgres(db) => db.read(None).await?,
        };
        f(store).await
    }

    /// Runs `f` as one transaction, alone (`WriteScope::Everything`); the result is returned only once it is durably
    /// committed. If `f` fails, none of its writes happen.
    pub async fn write<R: Send + 'static, E: TransactionError>(
        &self,
        f: impl WriteJob<R, E>,
    ) -> Result<R, E> {
        self.write_in(WriteScope::Everything, f).await
    }

    /// `write`, serialised only with the writes `scope` says (on SQLite, whose one writer applies every write in
    /// turn, the scope changes nothing).
    pub async fn write_in<R: Send + 'static, E: TransactionError>(
        &self,
        scope: WriteScope,
        f: impl WriteJob<R, E>,
    ) -> Result<R, E> {
        let stats = self.writer_stats();
        stats
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = match self {
            Database::Sqlite(db) => db.write(f).await,
            Database::Postgres(db) => db.write(scope, f).await,
        };
        stats
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.health().record(&result);
        result
    }

    pub fn writer_stats(&self) -> &WriterStats {
        match self {
            Database::Sqlite(db) => &db.writer_stats,
            Database::Postgres(db) => &db.writer_stats,
        }
    }

    fn health(&self) -> &StorageHealth {
        match self {
            Database::Sqlite(db) => &db.health,
            Database::Postgres(db) => &db.health,
        }
    }

    /// Why storage is failing now, if it is: the last write failed in storage and none has succeeded since, or a
    /// probe fails. A failed state is probed with a small write, so it clears as soon as storage works again.
    ///
    /// The write probe runs at most once a second, however often `/healthz` is polled.
    pub async fn unhealthy(&self, now: i64) -> Option<String> {
        let health = self.health();
        if let Some(failure) = health.failure() {
            if !health.probe_due() {
                return Some(failure);
            }
            let probe = self
                .write(move |store| async move {
                    store.meta_set("health_probe", &now.to_string()).await
                })
                .await;
            return probe.err().map(|e| e.to_string());
        }
        self.read(|store| async move { store.meta_get("health_probe").await })
            .await
            .err()
            .map(|e| e.to_string())
    }

    /// Claims the database at `url` for one serving process, before it is opened. Two `serve`s on one SQLite file
    /// would each run their own rate limiter and writer; PostgreSQL is made for several nodes and needs no claim.
    /// Commands that change the database while a server runs (`accounts set-limits`, `token`) do not claim it.
    /// The claim is an advisory lock on a file of its own beside the database (`PATH.serve-lock`): a lock on the
    /// database file itself would share SQLite's POSIX locks, which closing any handle of the file drops. It ends
    /// when the returned file is dropped, or with the process.
    pub fn claim_for_serving(url: &str) -> anyhow::Result<Option<std::fs::File>> {
        let Some(path) = sqlite_url_path(url) else {
            return Ok(None);
        };
        let path = sqlite_path(path)?;
        let lock_path = std::path::PathBuf::from(format!("{}.serve-lock", path.display()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another `localzoom serve` is already serving {}: stop it first, or give this one another \
                 --database (LOCALZOOM_DATABASE)",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                anyhow::bail!("cannot lock {}: {e}", lock_path.display())
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(db) => format!("sqlite://{}", db.path().display()),
            Database::Postgres(db) => db.describe().to_string(),
        }
    }
}

/// The path part of an SQLite URL (`sqlite://PATH` or `sqlite:PATH`), or `None` for another scheme.
fn sqlite_url_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
}

/// The absolute path of an SQLite database URL's file, so that every message names the file that was opened and
/// not one relative to wherever the command happened to run.
fn sqlite_path(path: &str) -> anyhow::Result<std::path::PathBuf> {
    // The reader pool and the writer are separate connections: an in-memory database would be one per connection.
    if path.is_empty() {
        anyhow::bail!("the SQLite URL names no file: give sqlite://PATH");
    }
    if path.starts_with(":memory:") || path.contains("mode=memory") {
        anyhow::bail!(
            "an in-memory SQLite database cannot work: localzoom's writer and readers are separate connections, \
             which would each see their own empty database; give a file instead (sqlite:///tmp/localzoom.db)"
        );
    }
    let absolute = std::path::absolute(path)
        .map_err(|e| anyhow::anyhow!("cannot resolve the database path {path:?}: {e}"))?;
    if let Some(dir) = absolute.parent()
        && !dir.is_dir()
    {
        anyhow::bail!(
            "cannot open the SQLite database {}: the directory {} does not exist",
            absolute.display(),
            dir.display()
        );
    }
    Ok(absolute)
}

/// Whether the last write reached storage.
#[derive(Default)]
pub struct StorageHealth {
    /// Whether `failure` holds one: lets every successful write pass without taking the lock.
    failing: std::sync::atomic::AtomicBool,
    failure: Mutex<Option<String>>,
    last_probe: Mutex<Option<std::time::Instant>>,
}

impl StorageHealth {
    fn record<R, E: TransactionError>(&self, result: &Result<R, E>) {
        use std::sync::atomic::Ordering;
        let outcome = match result {
            // The common case: healthy and staying so, no lock taken.
            Ok(_) if !self.failing.load(Ordering::Acquire) => return,
            Ok(_) => None,
            Err(error) => match error.storage_failure() {
                Some(detail) => Some(detail),
                // A refusal by the rules says nothing about storage.
                None => return,
            },
        };
        if let Ok(mut failure) = self.failure.lock() {
            self.failing.store(outcome.is_some(), Ordering::Release);
            *failure = outcome;
        }
    }

    fn failure(&self) -> Option<String> {
        if !self.failing.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Whether a write probe may run now (and, if so, that one runs): at most one a second.
    fn probe_due(&self) -> bool {
        let Ok(mut last) = self.last_probe.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        let due = last.is_none_or(|at| now.duration_since(at) >= std::time::Duration::from_secs(1));
        if due {
            *last = Some(now);
        }
        due
    }
}

/// What the writer does, for `/metrics`: writes waiting or running now, and how many writes each commit carried.
#[derive(Default)]
pub struct WriterStats {
    in_flight: std::sync::atomic::AtomicI64,
    /// Commits by batch size: bucket `i` counts batches of at most `BATCH_BUCKETS[i]` writes.
    batches: [std::sync::atomic::AtomicU64; BATCH_BUCKETS.len()],
    batched_writes: std::sync::atomic::AtomicU64,
}

/// Upper bounds of the batch-size buckets (SQLite's writer takes at most 512 writes a batch, PostgreSQL's 256).
pub const BATCH_BUCKETS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

impl WriterStats {
    pub(crate) fn record_batch(&self, size: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&bound| size as u64 <= bound)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        self.batches[bucket].fetch_add(1, Relaxed);
        self.batched_writes.fetch_add(size as u64, Relaxed);
    }

    /// Writes queued or running now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Batches per bucket (not cumulative), and the writes they carried in all.
    pub fn batches(&self) -> ([u64; BATCH_BUCKETS.len()], u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            std::array::from_fn(|i| self.batches[i].load(Relaxed)),
            self.batched_writes.load(Relaxed),
        )
    }
}
