//! Persistence. `Store` is the set of row operations the service layer needs inside one transaction; each
//! backend implements it. `Database` runs a closure against a `&dyn Store` as a read or as one durable write.

use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::domain::rate_limits::{AccountLimits, Overrides};
use crate::domain::user::{Role, Status, UserRecord};
use crate::error::ApiError;

pub mod postgres;
pub mod sqlite;

pub type StoreResult<T> = Result<T, ApiError>;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccountRecord {
    pub id: String,
    pub account_number: i64,
    pub plan: String,
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
    pub kind: String,
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
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: String,
    pub login_type: i64,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxEmail {
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
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

pub trait Store {
    fn meta_get(&self, key: &str) -> StoreResult<Option<String>>;
    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()>;

    fn insert_account(&self, account: &AccountRecord) -> StoreResult<()>;
    fn account(&self, id: &str) -> StoreResult<Option<AccountRecord>>;
    fn accounts(&self) -> StoreResult<Vec<AccountRecord>>;
    fn update_account(&self, account: &AccountRecord) -> StoreResult<()>;

    fn insert_app(&self, app: &AppRecord) -> StoreResult<()>;
    fn app(&self, client_id: &str) -> StoreResult<Option<AppRecord>>;
    fn apps(&self, account_id: &str) -> StoreResult<Vec<AppRecord>>;
    fn all_apps(&self) -> StoreResult<Vec<AppRecord>>;
    fn update_app(&self, app: &AppRecord) -> StoreResult<()>;

    fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    fn token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>>;
    /// Revokes every access and refresh token issued for the user.
    fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64>;
    /// Revokes one token (access or refresh); returns it as it was.
    fn revoke_token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>>;
    fn insert_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Marks a code used and returns it as it was (so a second use can be told from a first).
    fn use_code(&self, code_sha256: &[u8]) -> StoreResult<Option<AuthCode>>;

    fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    fn user_by_id(&self, account_id: &str, id: &str) -> StoreResult<Option<UserRecord>>;
    fn user_by_email(&self, account_id: &str, email: &str) -> StoreResult<Option<UserRecord>>;
    /// A user of any account, by id or e-mail (for the server's own control API, which spans accounts).
    fn find_user(&self, id_or_email: &str) -> StoreResult<Option<UserRecord>>;
    /// Whether any account has a user with this e-mail (Zoom e-mails are unique across Zoom).
    fn email_exists(&self, email: &str) -> StoreResult<bool>;
    fn update_user(&self, user: &UserRecord) -> StoreResult<()>;
    /// Removes the user and every row that refers to it.
    fn delete_user(&self, id: &str) -> StoreResult<()>;
    /// A page of users with their `seq`, in `seq` order.
    fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<(i64, UserRecord)>>;
    fn count_users(&self, account_id: &str, status: Status, role: Option<Role>)
    -> StoreResult<u64>;
    /// Active and pending Basic users: the seats the Basic-user cap counts.
    fn count_basic_users(&self, account_id: &str) -> StoreResult<u64>;

    fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    fn sessions(&self, user_id: &str) -> StoreResult<Vec<SessionRecord>>;
    /// Ends the user's open sessions (only those of `login_type` when given) and revokes every token issued in
    /// them: a sign-in that ended leaves no token behind. Returns how many sessions ended.
    fn end_sessions(&self, user_id: &str, login_type: Option<i64>, now: i64) -> StoreResult<u64>;
    /// Ends one session and revokes its tokens.
    fn end_session(&self, id: &str, now: i64) -> StoreResult<()>;

    /// The user's assistants with their `can_manage_host_private_event`.
    fn assistants(&self, user_id: &str) -> StoreResult<Vec<(UserRecord, bool)>>;
    /// The users the given user is an assistant of.
    fn schedulers(&self, assistant_id: &str) -> StoreResult<Vec<UserRecord>>;
    fn add_assistant(
        &self,
        user_id: &str,
        assistant_id: &str,
        can_manage: bool,
        now: i64,
    ) -> StoreResult<()>;
    fn remove_assistant(&self, user_id: &str, assistant_id: &str) -> StoreResult<u64>;
    fn remove_assistants(&self, user_id: &str) -> StoreResult<u64>;
    fn remove_schedulers(&self, assistant_id: &str) -> StoreResult<u64>;

    /// Fingerprints of the user's passwords, newest first.
    fn password_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<String>>;
    /// Changes since `since`, not counting the password a user was created with.
    fn password_changes_since(&self, user_id: &str, since: i64) -> StoreResult<u64>;
    /// Forgets every account's password history (the key it was recorded under is lost); returns the entries.
    fn clear_password_history(&self) -> StoreResult<u64>;
    /// `initial`: the password the user was created with (history, but not a change).
    fn record_password(
        &self,
        user_id: &str,
        fingerprint: &str,
        at: i64,
        initial: bool,
    ) -> StoreResult<()>;
    /// Deletes up to a hundred tokens that expired before `before`; returns how many.
    fn purge_expired_tokens(&self, before: i64) -> StoreResult<u64>;

    fn enqueue_email(&self, email: &OutboxEmail) -> StoreResult<()>;
    fn outbox(&self) -> StoreResult<Vec<OutboxEmail>>;

    // Every row, for `localzoom export`.
    fn all_meta(&self) -> StoreResult<Vec<(String, String)>>;
    /// Users of every account with a larger `seq` than `after_seq`, in `seq` order.
    fn all_users(&self, after_seq: i64, limit: u64) -> StoreResult<Vec<(i64, UserRecord)>>;
    fn all_tokens(&self) -> StoreResult<Vec<TokenRecord>>;
    fn all_codes(&self) -> StoreResult<Vec<AuthCode>>;
    fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>>;
    fn all_assistant_links(&self) -> StoreResult<Vec<AssistantLink>>;
    fn all_password_history(&self) -> StoreResult<Vec<PasswordEntry>>;
}

/// A JSON object stored as text (an unreadable one reads as empty: it is only ever written by localzoom).
pub(crate) fn json_map(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn split_scopes(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

pub(crate) fn parse_overrides(json: Option<String>) -> Result<Overrides, String> {
    json.map_or(Ok(Overrides::default()), |json| Overrides::from_json(&json))
}

/// How a writer thread answers a write once its batch's commit outcome is known.
pub(crate) type Reply = Box<dyn FnOnce(Option<ApiError>) + Send>;
/// A write: runs against the store (or is told the transaction could not start) and says whether it failed,
/// plus how to answer its caller once the batch's commit outcome is known.
pub(crate) type Job = Box<dyn FnOnce(Result<&dyn Store, ApiError>) -> (bool, Reply) + Send>;

/// Hands `f` to a backend's writer thread (which commits every write waiting at that moment in one transaction)
/// and waits for its answer, given only once the commit is durable.
pub(crate) async fn submit<R: Send + 'static>(
    writer: &std::sync::mpsc::Sender<Job>,
    f: impl FnOnce(&dyn Store) -> StoreResult<R> + Send + 'static,
) -> StoreResult<R> {
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<StoreResult<R>>();
    let job: Job = Box::new(move |store| {
        let result = match store {
            Ok(store) => f(store),
            Err(e) => Err(e),
        };
        let failed = result.is_err();
        let reply: Reply = Box::new(move |commit_error| {
            let _ = reply_tx.send(match commit_error {
                Some(e) => Err(e),
                None => result,
            });
        });
        (failed, reply)
    });
    writer
        .send(job)
        .map_err(|_| ApiError::internal("the writer thread has stopped"))?;
    reply_rx
        .await
        .map_err(|_| ApiError::internal("the write was dropped"))?
}

/// Connections a PostgreSQL-backed process opens at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// The configured backend.
pub enum Database {
    Sqlite(sqlite::SqliteDatabase),
    Postgres(std::sync::Arc<postgres::PostgresDatabase>),
}

impl Database {
    pub fn open(url: &str) -> anyhow::Result<Database> {
        Database::open_with_pool(url, DEFAULT_POOL_SIZE)
    }

    /// `pool_size`: the most connections this process opens to PostgreSQL (SQLite ignores it).
    pub fn open_with_pool(url: &str, pool_size: usize) -> anyhow::Result<Database> {
        if let Some(path) = sqlite_url_path(url) {
            return Ok(Database::Sqlite(sqlite::SqliteDatabase::open(
                &sqlite_path(path)?,
            )?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let db = crate::blocking::blocking(|| postgres::PostgresDatabase::open(url, pool_size))
                .map_err(anyhow::Error::msg)??;
            return Ok(Database::Postgres(std::sync::Arc::new(db)));
        }
        // Not the URL itself: it may hold a password.
        let scheme = url.split("://").next().unwrap_or("");
        anyhow::bail!(
            "unsupported database URL scheme {scheme:?}: expected sqlite://PATH or postgres://…"
        )
    }

    /// Runs `f` on a consistent snapshot. Reads are short indexed lookups, so they run on the calling thread.
    pub fn read<R>(&self, f: impl FnOnce(&dyn Store) -> StoreResult<R>) -> StoreResult<R> {
        match self {
            Database::Sqlite(db) => db.read(f),
            Database::Postgres(db) => db.read(f),
        }
    }

    /// Runs `f` as one transaction; the result is returned only once it is durably committed. If `f` fails,
    /// none of its writes happen.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let stats = self.writer_stats();
        stats
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = match self {
            Database::Sqlite(db) => db.write(f).await,
            Database::Postgres(db) => db.write(f).await,
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
                .write(move |store| store.meta_set("health_probe", &now.to_string()))
                .await;
            return probe.err().map(|e| e.cause());
        }
        self.read(|store| store.meta_get("health_probe"))
            .err()
            .map(|e| e.cause())
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
    fn record<R>(&self, result: &StoreResult<R>) {
        use std::sync::atomic::Ordering;
        let outcome = match result {
            Err(ApiError::Storage(detail)) => Some(detail.clone()),
            // The common case: healthy and staying so, no lock taken.
            Ok(_) if !self.failing.load(Ordering::Acquire) => return,
            Ok(_) => None,
            // A refusal by the rules says nothing about storage.
            Err(_) => return,
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
