//! SQLite backend: WAL, one writer thread that commits every write waiting at that moment in one transaction
//! (group commit: one fsync per batch, durability per request), and a pool of reader connections.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use serde_json::Value;

use super::{
    AccountRecord, AppRecord, AssistantLink, AuthCode, Job, OutboxEmail, PasswordEntry, Reply,
    SessionRecord, Store, StoreResult, TokenKind, TokenRecord, UserQuery, json_map,
    parse_overrides, split_scopes,
};
use crate::domain::rate_limits::{AccountLimits, Overrides, Plan};
use crate::domain::user::{Role, Status, UserRecord};
use crate::error::ApiError;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_user_counts.sql"),
    include_str!("migrations/0003_password_history_initial.sql"),
    include_str!("migrations/0004_app_redirect_uri.sql"),
    include_str!("migrations/0005_user_oauth.sql"),
    include_str!("migrations/0006_rate_limits.sql"),
    include_str!("migrations/0007_session_tokens.sql"),
];
/// How many waiting writes one transaction may take.
const MAX_BATCH: usize = 512;

pub struct SqliteDatabase {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    writer: mpsc::Sender<Job>,
    pub(crate) health: super::StorageHealth,
    pub(crate) writer_stats: std::sync::Arc<super::WriterStats>,
}

impl SqliteDatabase {
    pub fn open(path: &Path) -> anyhow::Result<SqliteDatabase> {
        let path = path.to_path_buf();
        let mut conn = open_connection(&path, true)?;
        // The writer touches random pages of the id and e-mail indexes; a larger cache keeps bulk inserts fast.
        conn.pragma_update(None, "cache_size", -32 * 1024)?;
        migrate(&mut conn)?;
        let reader = open_connection(&path, false)?;
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_stats = std::sync::Arc::new(super::WriterStats::default());
        let stats = writer_stats.clone();
        std::thread::Builder::new()
            .name("localzoom-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &stats))?;
        Ok(SqliteDatabase {
            path,
            readers: Mutex::new(vec![reader]),
            writer: tx,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read<R>(&self, f: impl FnOnce(&dyn Store) -> StoreResult<R>) -> StoreResult<R> {
        let pooled = self.readers.lock().map_err(ApiError::storage)?.pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, false).map_err(ApiError::storage)?,
        };
        // A deferred transaction gives every statement in `f` the same snapshot.
        conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        let result = f(&SqliteStore { conn: &conn });
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]));
        // A connection whose transaction did not end cleanly is dropped, not pooled.
        if ended.is_ok()
            && let Ok(mut readers) = self.readers.lock()
        {
            readers.push(conn);
        }
        ended?;
        result
    }

    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        super::submit(&self.writer, f).await
    }
}

fn open_connection(path: &Path, create: bool) -> anyhow::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| anyhow::anyhow!("cannot open database {}: {e}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Reads through a memory map skip a system call per page: lookups in a million-user table then cost what
    // they cost in a small one. Mapped pages are the OS page cache and count in RSS only while touched.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 1073741824;",
    )
    .map_err(|e| anyhow::anyhow!("cannot use database {}: {e}", path.display()))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "database schema version {version} is newer than this localzoom understands ({}); upgrade localzoom",
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>, stats: &super::WriterStats) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.record_batch(batch.len());
        // Once anything goes wrong with the transaction itself, nothing in this batch is committed: the jobs
        // not yet run are failed without running, and every job is answered with the error.
        let mut failure = conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .err()
            .map(ApiError::storage);
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            if let Some(error) = &failure {
                replies.push(job(Err(error.clone())).1);
                continue;
            }
            let (reply, intact) = run_in_savepoint(&conn, job);
            replies.push(reply);
            // Some errors (I/O, disk full, out of memory) roll back the whole transaction, not just the job.
            if !intact || conn.is_autocommit() {
                failure = Some(ApiError::storage("the write transaction was rolled back"));
            }
        }
        let outcome = failure.or_else(|| conn.execute_batch("COMMIT").err().map(ApiError::storage));
        if outcome.is_some() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// Runs one job so that its failure (an error or a panic) undoes only its own writes. Returns its reply and
/// whether the transaction is still sound (its undo worked).
fn run_in_savepoint(conn: &Connection, job: Job) -> (Reply, bool) {
    // Cached statements: these run around every write, and parsing them each time showed in profiles.
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .is_ok()
    };
    if !run("SAVEPOINT job") {
        return (
            job(Err(ApiError::storage("cannot open a savepoint"))).1,
            false,
        );
    }
    let store = SqliteStore { conn };
    match std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(&store)))) {
        Ok((failed, reply)) => {
            let undone = !failed || run("ROLLBACK TO job");
            let released = run("RELEASE job");
            (reply, undone && released)
        }
        Err(_) => {
            // The job's reply sender was dropped with it: its caller sees an internal error.
            let intact = run("ROLLBACK TO job") && run("RELEASE job");
            (Box::new(|_| {}), intact)
        }
    }
}

/// `Store` over one SQLite connection that is inside a transaction.
pub struct SqliteStore<'c> {
    conn: &'c Connection,
}

const USER_COLUMNS: &str = "id, account_id, email, first_name, last_name, display_name, type, role, status, \
    login_type, pmi, use_pmi, timezone, dept, language, verified, is_zoom_room, upcoming_zoom_events, \
    password_hash, profile, created_at, last_login_time, seq";

/// The columns a user write sets, in the order of `UserParams::as_params`.
const USER_WRITE_COLUMNS: &str = "id, account_id, email, email_lower, first_name, last_name, display_name, type, \
    role, status, login_type, pmi, use_pmi, timezone, dept, language, verified, is_zoom_room, upcoming_zoom_events, \
    password_hash, profile, created_at, last_login_time";

/// A user's column values for inserts and updates, with the two derived ones computed once.
struct UserParams<'u> {
    user: &'u UserRecord,
    email_lower: String,
    role: &'static str,
    status: &'static str,
    profile: String,
}

impl<'u> UserParams<'u> {
    fn of(user: &'u UserRecord) -> Self {
        UserParams {
            user,
            email_lower: user.email.to_lowercase(),
            role: user.role.as_str(),
            status: user.status.as_str(),
            profile: Value::Object(user.profile.clone()).to_string(),
        }
    }

    fn as_params(&self) -> [&dyn rusqlite::ToSql; 23] {
        let u = self.user;
        [
            &u.id,
            &u.account_id,
            &u.email,
            &self.email_lower,
            &u.first_name,
            &u.last_name,
            &u.display_name,
            &u.user_type,
            &self.role,
            &self.status,
            &u.login_type,
            &u.pmi,
            &u.use_pmi,
            &u.timezone,
            &u.dept,
            &u.language,
            &u.verified,
            &u.is_zoom_room,
            &u.upcoming_zoom_events,
            &u.password_hash,
            &self.profile,
            &u.created_at,
            &u.last_login_time,
        ]
    }
}

/// `USER_COLUMNS` qualified with a table alias, for joins.
fn user_columns_of(alias: &str) -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scopes: String = row.get(4)?;
    let kind: String = row.get(8)?;
    Ok(TokenRecord {
        token_sha256: row.get(0)?,
        client_id: row.get(1)?,
        account_id: row.get(2)?,
        user_id: row.get(3)?,
        scopes: split_scopes(&scopes),
        issued_at: row.get(5)?,
        expires_at: row.get(6)?,
        revoked: row.get(7)?,
        kind: if kind == "refresh" {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        },
        session_id: row.get(9)?,
        role: row
            .get::<_, Option<String>>(10)?
            .as_deref()
            .and_then(Role::parse),
        limits: Some(AccountLimits {
            plan: Plan::of(&row.get::<_, String>(11)?),
            overrides: overrides_from(row.get(12)?)?,
        }),
    })
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.get(0)?,
        user_id: row.get(1)?,
        login_type: row.get(2)?,
        created_at: row.get(3)?,
        ended_at: row.get(4)?,
    })
}

fn code_from_row(row: &Row<'_>) -> rusqlite::Result<AuthCode> {
    Ok(AuthCode {
        code_sha256: row.get(0)?,
        client_id: row.get(1)?,
        user_id: row.get(2)?,
        redirect_uri: row.get(3)?,
        code_challenge: row.get(4)?,
        expires_at: row.get(5)?,
        used: row.get(6)?,
    })
}

/// An account's stored rate-limit overrides; written only by localzoom, so a bad value is corruption.
fn overrides_from(json: Option<String>) -> rusqlite::Result<Overrides> {
    parse_overrides(json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, UserRecord)> {
    let role: String = row.get(7)?;
    let status: String = row.get(8)?;
    let profile: String = row.get(19)?;
    Ok((
        row.get(22)?,
        UserRecord {
            id: row.get(0)?,
            account_id: row.get(1)?,
            email: row.get(2)?,
            first_name: row.get(3)?,
            last_name: row.get(4)?,
            display_name: row.get(5)?,
            user_type: row.get(6)?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            status: Status::parse(&status).unwrap_or(Status::Active),
            login_type: row.get(9)?,
            pmi: row.get(10)?,
            use_pmi: row.get(11)?,
            timezone: row.get(12)?,
            dept: row.get(13)?,
            language: row.get(14)?,
            verified: row.get(15)?,
            is_zoom_room: row.get(16)?,
            upcoming_zoom_events: row.get(17)?,
            password_hash: row.get(18)?,
            profile: json_map(&profile),
            created_at: row.get(20)?,
            last_login_time: row.get(21)?,
        },
    ))
}

const ACCOUNT_COLUMNS: &str = "id, account_number, plan, owner_email, managed_domain, max_basic_users, \
    password_history_count, password_changes_per_day, security, created_at, rate_limits";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<AccountRecord> {
    let security: String = row.get(8)?;
    Ok(AccountRecord {
        id: row.get(0)?,
        account_number: row.get(1)?,
        plan: row.get(2)?,
        owner_email: row.get(3)?,
        managed_domain: row.get(4)?,
        max_basic_users: row.get(5)?,
        password_history_count: row.get(6)?,
        password_changes_per_day: row.get(7)?,
        security: json_map(&security),
        created_at: row.get(9)?,
        rate_limit_overrides: overrides_from(row.get(10)?)?,
    })
}

const APP_COLUMNS: &str = "client_id, client_secret_sha256, account_id, owner_user_id, kind, scopes, active, \
    created_at, redirect_uri";

fn app_from_row(row: &Row<'_>) -> rusqlite::Result<AppRecord> {
    let scopes: String = row.get(5)?;
    Ok(AppRecord {
        client_id: row.get(0)?,
        client_secret_sha256: row.get(1)?,
        account_id: row.get(2)?,
        owner_user_id: row.get(3)?,
        kind: row.get(4)?,
        scopes: split_scopes(&scopes),
        active: row.get(6)?,
        created_at: row.get(7)?,
        redirect_uri: row.get(8)?,
    })
}

impl SqliteStore<'_> {
    fn count_user(
        &self,
        account_id: &str,
        status: &str,
        role: &str,
        delta: i64,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO user_counts (account_id, status, role, n) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (account_id, status, role) DO UPDATE SET n = n + excluded.n",
            )?
            .execute(params![account_id, status, role, delta])?;
        Ok(())
    }

    /// The account, status and role a user row has now (what its count is filed under).
    fn counted_as(&self, id: &str) -> StoreResult<Option<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT account_id, status, role FROM users WHERE id = ?1")?;
        Ok(stmt
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
    }

    fn one_user(&self, sql_where: &str, a: &str, b: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {sql_where}");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(params![a, b], user_from_row)
            .optional()?
            .map(|(_, u)| u))
    }

    fn users(&self, sql: &str, key: &str) -> StoreResult<Vec<UserRecord>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![key], user_from_row)?;
        Ok(rows.map(|r| r.map(|(_, u)| u)).collect::<Result<_, _>>()?)
    }
}

impl Store for SqliteStore<'_> {
    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
    }

    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        self.conn.execute(
            &format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                a.id,
                a.account_number,
                a.plan,
                a.owner_email,
                a.managed_domain,
                a.max_basic_users,
                a.password_history_count,
                a.password_changes_per_day,
                Value::Object(a.security.clone()).to_string(),
                a.created_at,
                a.rate_limit_overrides.to_json()
            ],
        )?;
        Ok(())
    }

    fn account(&self, id: &str) -> StoreResult<Option<AccountRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"
        ))?;
        Ok(stmt.query_row(params![id], account_from_row).optional()?)
    }

    fn accounts(&self) -> StoreResult<Vec<AccountRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id"
        ))?;
        Ok(stmt
            .query_map([], account_from_row)?
            .collect::<Result<_, _>>()?)
    }

    fn update_account(&self, a: &AccountRecord) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE accounts SET plan = ?2, owner_email = ?3, managed_domain = ?4, max_basic_users = ?5, \
             password_history_count = ?6, password_changes_per_day = ?7, security = ?8, rate_limits = ?9 \
             WHERE id = ?1",
            params![
                a.id,
                a.plan,
                a.owner_email,
                a.managed_domain,
                a.max_basic_users,
                a.password_history_count,
                a.password_changes_per_day,
                Value::Object(a.security.clone()).to_string(),
                a.rate_limit_overrides.to_json()
            ],
        )?;
        Ok(())
    }

    fn insert_app(&self, app: &AppRecord) -> StoreResult<()> {
        self.conn.execute(
            &format!(
                "INSERT INTO apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                app.client_id,
                app.client_secret_sha256,
                app.account_id,
                app.owner_user_id,
                app.kind,
                app.scopes.join(" "),
                app.active,
                app.created_at,
                app.redirect_uri
            ],
        )?;
        Ok(())
    }

    fn update_app(&self, app: &AppRecord) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE apps SET client_secret_sha256 = ?2, owner_user_id = ?3, scopes = ?4, active = ?5, \
             redirect_uri = ?6 WHERE client_id = ?1",
            params![
                app.client_id,
                app.client_secret_sha256,
                app.owner_user_id,
                app.scopes.join(" "),
                app.active,
                app.redirect_uri
            ],
        )?;
        Ok(())
    }

    fn all_apps(&self) -> StoreResult<Vec<AppRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, client_id"
        ))?;
        Ok(stmt
            .query_map([], app_from_row)?
            .collect::<Result<_, _>>()?)
    }

    fn app(&self, client_id: &str) -> StoreResult<Option<AppRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE client_id = ?1"
        ))?;
        Ok(stmt
            .query_row(params![client_id], app_from_row)
            .optional()?)
    }

    fn apps(&self, account_id: &str) -> StoreResult<Vec<AppRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE account_id = ?1 ORDER BY created_at, client_id"
        ))?;
        Ok(stmt
            .query_map(params![account_id], app_from_row)?
            .collect::<Result<_, _>>()?)
    }

    fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO access_tokens (token_sha256, client_id, account_id, user_id, scopes, issued_at, \
                 expires_at, revoked, kind, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                t.token_sha256,
                t.client_id,
                t.account_id,
                t.user_id,
                t.scopes.join(" "),
                t.issued_at,
                t.expires_at,
                t.revoked,
                t.kind.as_str(),
                t.session_id
            ])?;
        Ok(())
    }

    fn token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT t.token_sha256, t.client_id, t.account_id, t.user_id, t.scopes, t.issued_at, t.expires_at, \
             t.revoked OR NOT a.active, t.kind, t.session_id, u.role, ac.plan, ac.rate_limits \
             FROM access_tokens t JOIN apps a ON a.client_id = t.client_id \
             JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
             WHERE t.token_sha256 = ?1",
        )?;
        Ok(stmt
            .query_row(params![token_sha256], token_from_row)
            .optional()?)
    }

    fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        Ok(self.conn.execute(
            "UPDATE access_tokens SET revoked = 1 WHERE user_id = ?1 AND revoked = 0",
            params![user_id],
        )? as u64)
    }

    fn revoke_token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let found = self.token(token_sha256)?;
        self.conn
            .prepare_cached("UPDATE access_tokens SET revoked = 1 WHERE token_sha256 = ?1")?
            .execute(params![token_sha256])?;
        Ok(found)
    }

    fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO oauth_codes (code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, \
             used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![c.code_sha256, c.client_id, c.user_id, c.redirect_uri, c.code_challenge, c.expires_at, c.used],
        )?;
        Ok(())
    }

    fn use_code(&self, code_sha256: &[u8]) -> StoreResult<Option<AuthCode>> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, used \
                 FROM oauth_codes WHERE code_sha256 = ?1",
            )?
            .query_row(params![code_sha256], code_from_row)
            .optional()?;
        self.conn
            .prepare_cached("UPDATE oauth_codes SET used = 1 WHERE code_sha256 = ?1")?
            .execute(params![code_sha256])?;
        Ok(found)
    }

    fn insert_user(&self, u: &UserRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO users ({USER_WRITE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
                 ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
            ))?
            .execute(UserParams::of(u).as_params().as_slice())?;
        self.count_user(&u.account_id, u.status.as_str(), u.role.as_str(), 1)
    }

    fn user_by_id(&self, account_id: &str, id: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user("id = ?2 AND account_id = ?1", account_id, id)
    }

    fn user_by_email(&self, account_id: &str, email: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user(
            "email_lower = ?2 AND account_id = ?1",
            account_id,
            &email.to_lowercase(),
        )
    }

    fn find_user(&self, id_or_email: &str) -> StoreResult<Option<UserRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = ?1 OR email_lower = lower(?1)"
        ))?;
        Ok(stmt
            .query_row(params![id_or_email], user_from_row)
            .optional()?
            .map(|(_, u)| u))
    }

    fn email_exists(&self, email: &str) -> StoreResult<bool> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM users WHERE email_lower = ?1")?;
        Ok(stmt.exists(params![email.to_lowercase()])?)
    }

    fn update_user(&self, u: &UserRecord) -> StoreResult<()> {
        let before = self.counted_as(&u.id)?;
        // The same parameter numbering as the insert; `created_at` (?22) is never changed.
        let assignments = USER_WRITE_COLUMNS
            .split(", ")
            .enumerate()
            .filter(|(_, column)| !matches!(*column, "id" | "created_at"))
            .map(|(i, column)| format!("{column} = ?{}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        self.conn
            .prepare_cached(&format!("UPDATE users SET {assignments} WHERE id = ?1"))?
            .execute(UserParams::of(u).as_params().as_slice())?;
        if let Some((account, status, role)) = before
            && (status != u.status.as_str() || role != u.role.as_str())
        {
            self.count_user(&account, &status, &role, -1)?;
            self.count_user(&account, u.status.as_str(), u.role.as_str(), 1)?;
        }
        Ok(())
    }

    fn delete_user(&self, id: &str) -> StoreResult<()> {
        if let Some((account, status, role)) = self.counted_as(id)? {
            self.count_user(&account, &status, &role, -1)?;
        }
        for sql in [
            "DELETE FROM assistants WHERE user_id = ?1 OR assistant_id = ?1",
            "DELETE FROM sessions WHERE user_id = ?1",
            "DELETE FROM password_history WHERE user_id = ?1",
            "UPDATE access_tokens SET revoked = 1 WHERE user_id = ?1",
            "DELETE FROM users WHERE id = ?1",
        ] {
            self.conn.prepare_cached(sql)?.execute(params![id])?;
        }
        Ok(())
    }

    fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<(i64, UserRecord)>> {
        let role_filter = if q.role.is_some() {
            "AND role = ?5"
        } else {
            "AND ?5 IS NULL"
        };
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE account_id = ?1 AND status = ?2 AND seq > ?3 {role_filter} \
             ORDER BY seq LIMIT ?4 OFFSET ?6"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                q.account_id,
                q.status.as_str(),
                q.after_seq,
                q.limit as i64,
                q.role.map(Role::as_str),
                q.offset as i64
            ],
            user_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_users(
        &self,
        account_id: &str,
        status: Status,
        role: Option<Role>,
    ) -> StoreResult<u64> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT COALESCE(SUM(n), 0) FROM user_counts WHERE account_id = ?1 AND status = ?2 \
             AND (?3 IS NULL OR role = ?3)",
        )?;
        Ok(stmt.query_row(
            params![account_id, status.as_str(), role.map(Role::as_str)],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    fn count_basic_users(&self, account_id: &str) -> StoreResult<u64> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT COUNT(*) FROM users WHERE account_id = ?1 AND type = 1 AND status IN ('active', 'pending')",
        )?;
        Ok(stmt.query_row(params![account_id], |r| r.get::<_, i64>(0))? as u64)
    }

    fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO sessions (id, user_id, login_type, created_at, ended_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.id, s.user_id, s.login_type, s.created_at, s.ended_at],
        )?;
        Ok(())
    }

    fn sessions(&self, user_id: &str) -> StoreResult<Vec<SessionRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, user_id, login_type, created_at, ended_at FROM sessions WHERE user_id = ?1 \
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map(params![user_id], session_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn end_sessions(&self, user_id: &str, login_type: Option<i64>, now: i64) -> StoreResult<u64> {
        // The tokens first, while their sessions are still the open ones.
        self.conn
            .prepare_cached(
                "UPDATE access_tokens SET revoked = 1 WHERE revoked = 0 AND session_id IN \
                 (SELECT id FROM sessions WHERE user_id = ?1 AND ended_at IS NULL \
                 AND (?2 IS NULL OR login_type = ?2))",
            )?
            .execute(params![user_id, login_type])?;
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE sessions SET ended_at = ?3 WHERE user_id = ?1 AND ended_at IS NULL \
                 AND (?2 IS NULL OR login_type = ?2)",
            )?
            .execute(params![user_id, login_type, now])? as u64)
    }

    fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE access_tokens SET revoked = 1 WHERE session_id = ?1 AND revoked = 0",
            )?
            .execute(params![id])?;
        self.conn
            .prepare_cached("UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL")?
            .execute(params![id, now])?;
        Ok(())
    }

    fn assistants(&self, user_id: &str) -> StoreResult<Vec<(UserRecord, bool)>> {
        let columns = user_columns_of("u");
        let sql = format!(
            "SELECT {columns}, a.can_manage_host_private_event FROM assistants a JOIN users u \
             ON u.id = a.assistant_id WHERE a.user_id = ?1 ORDER BY a.added_at, u.seq"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![user_id], |row| {
            Ok((user_from_row(row)?.1, row.get(23)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn schedulers(&self, assistant_id: &str) -> StoreResult<Vec<UserRecord>> {
        let columns = user_columns_of("u");
        self.users(
            &format!(
                "SELECT {columns} FROM assistants a JOIN users u ON u.id = a.user_id WHERE a.assistant_id = ?1 \
                 ORDER BY a.added_at, u.seq"
            ),
            assistant_id,
        )
    }

    fn add_assistant(
        &self,
        user_id: &str,
        assistant_id: &str,
        can_manage: bool,
        now: i64,
    ) -> StoreResult<()> {
        self.conn.execute(
            "INSERT INTO assistants (user_id, assistant_id, can_manage_host_private_event, added_at) \
             VALUES (?1, ?2, ?3, ?4)",
            params![user_id, assistant_id, can_manage, now],
        )?;
        Ok(())
    }

    fn remove_assistant(&self, user_id: &str, assistant_id: &str) -> StoreResult<u64> {
        Ok(self.conn.execute(
            "DELETE FROM assistants WHERE user_id = ?1 AND assistant_id = ?2",
            params![user_id, assistant_id],
        )? as u64)
    }

    fn remove_assistants(&self, user_id: &str) -> StoreResult<u64> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM assistants WHERE user_id = ?1")?
            .execute(params![user_id])? as u64)
    }

    fn remove_schedulers(&self, assistant_id: &str) -> StoreResult<u64> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM assistants WHERE assistant_id = ?1")?
            .execute(params![assistant_id])? as u64)
    }

    fn password_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT fingerprint FROM password_history WHERE user_id = ?1 ORDER BY changed_at DESC, rowid DESC \
             LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![user_id, limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn password_changes_since(&self, user_id: &str, since: i64) -> StoreResult<u64> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT COUNT(*) FROM password_history WHERE user_id = ?1 AND changed_at > ?2 AND initial = 0",
        )?;
        Ok(stmt.query_row(params![user_id, since], |r| r.get::<_, i64>(0))? as u64)
    }

    fn clear_password_history(&self) -> StoreResult<u64> {
        Ok(self.conn.execute("DELETE FROM password_history", [])? as u64)
    }

    fn record_password(
        &self,
        user_id: &str,
        fingerprint: &str,
        at: i64,
        initial: bool,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO password_history (user_id, fingerprint, changed_at, initial) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![user_id, fingerprint, at, initial])?;
        Ok(())
    }

    fn purge_expired_tokens(&self, before: i64) -> StoreResult<u64> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM access_tokens WHERE token_sha256 IN \
                 (SELECT token_sha256 FROM access_tokens WHERE expires_at < ?1 LIMIT 100)",
            )?
            .execute(params![before])? as u64)
    }

    fn enqueue_email(&self, e: &OutboxEmail) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT INTO outbox (to_address, subject, body, created_at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![e.to_address, e.subject, e.body, e.created_at])?;
        Ok(())
    }

    fn outbox(&self) -> StoreResult<Vec<OutboxEmail>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT to_address, subject, body, created_at FROM outbox ORDER BY id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(OutboxEmail {
                to_address: row.get(0)?,
                subject: row.get(1)?,
                body: row.get(2)?,
                created_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_meta(&self) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM meta ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_users(&self, after_seq: i64, limit: u64) -> StoreResult<Vec<(i64, UserRecord)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![after_seq, limit as i64], user_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        // The lookup's columns, with the revocation as stored (not folded with the app's state).
        let mut stmt = self.conn.prepare(
            "SELECT t.token_sha256, t.client_id, t.account_id, t.user_id, t.scopes, t.issued_at, t.expires_at, \
             t.revoked, t.kind, t.session_id, u.role, ac.plan, ac.rate_limits \
             FROM access_tokens t JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
             ORDER BY t.issued_at, t.token_sha256",
        )?;
        let rows = stmt.query_map([], |row| {
            let token = token_from_row(row)?;
            Ok(TokenRecord {
                role: None,
                limits: None,
                ..token
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_codes(&self) -> StoreResult<Vec<AuthCode>> {
        let mut stmt = self.conn.prepare(
            "SELECT code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, used \
             FROM oauth_codes ORDER BY expires_at, code_sha256",
        )?;
        let rows = stmt.query_map([], code_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, user_id, login_type, created_at, ended_at FROM sessions ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([], session_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_assistant_links(&self) -> StoreResult<Vec<AssistantLink>> {
        let mut stmt = self.conn.prepare(
            "SELECT user_id, assistant_id, can_manage_host_private_event, added_at FROM assistants \
             ORDER BY added_at, user_id, assistant_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(AssistantLink {
                user_id: row.get(0)?,
                assistant_id: row.get(1)?,
                can_manage_host_private_event: row.get(2)?,
                added_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_password_history(&self) -> StoreResult<Vec<PasswordEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT user_id, fingerprint, changed_at, initial FROM password_history ORDER BY changed_at, rowid",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(PasswordEntry {
                user_id: row.get(0)?,
                fingerprint: row.get(1)?,
                changed_at: row.get(2)?,
                initial: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// A sign-in that ended before ending one revoked its tokens leaves none working after the upgrade.
    #[test]
    fn the_upgrade_revokes_the_tokens_of_sessions_already_ended() {
        let dir = std::env::temp_dir().join(format!("localzoom-migration-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute_batch(
                "PRAGMA foreign_keys = OFF;
                 INSERT INTO sessions (id, user_id, login_type, created_at, ended_at) VALUES
                     ('ended', 'u', 100, 1, 2), ('open', 'u', 100, 1, NULL);
                 INSERT INTO access_tokens (token_sha256, client_id, account_id, user_id, scopes, issued_at,
                     expires_at, revoked, session_id) VALUES
                     (x'01', 'c', 'a', 'u', '', 1, 9999999999999, 0, 'ended'),
                     (x'02', 'c', 'a', 'u', '', 1, 9999999999999, 0, 'open'),
                     (x'03', 'c', 'a', 'u', '', 1, 9999999999999, 0, NULL);",
            )
            .unwrap();
        }
        drop(SqliteDatabase::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        let revoked: Vec<(Vec<u8>, bool)> = conn
            .prepare("SELECT token_sha256, revoked FROM access_tokens ORDER BY token_sha256")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            revoked,
            vec![(vec![1], true), (vec![2], false), (vec![3], false)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
