//! PostgreSQL backend, for several localzoom nodes sharing one dataset.
//!
//! Every write transaction first takes one transaction-scoped advisory lock, so writes from all nodes are applied
//! one after another, exactly as SQLite's single writer applies them: the rules that read before they write (the
//! 24-hour password cap, the Basic-user cap, unique e-mails) hold under any concurrency. Writes run at READ
//! COMMITTED, so that after the lock they see everything committed before; reads run at REPEATABLE READ (one
//! snapshot per request) and need no lock. There is no cache: what one node commits, the next read on any
//! node sees.
//!
//! Like SQLite's, each node has one writer thread that commits every write waiting at that moment in one
//! transaction (group commit: one commit and one wait for the lock per batch, durability per request).
//!
//! The `postgres` crate's client is synchronous (it drives its own small runtime), so it must not run on an async
//! worker as it is: writes run on the writer thread, reads in `block_in_place` (PostgreSQL therefore needs the
//! multi-threaded runtime, which `serve` and the CLI use).

use std::cell::RefCell;
use std::sync::{Condvar, Mutex};

use postgres::{Client, IsolationLevel, NoTls, Row, Transaction};
use serde_json::Value;

use super::{
    AccountRecord, AppRecord, AssistantLink, AuthCode, Job, OutboxEmail, PasswordEntry, Reply,
    SessionRecord, Store, StoreResult, TokenKind, TokenRecord, UserQuery, json_map,
    parse_overrides, split_scopes,
};
use crate::domain::rate_limits::{AccountLimits, Plan};
use crate::domain::user::{Role, Status, UserRecord};
use crate::error::ApiError;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_session_tokens.sql"),
];
/// Advisory locks are per database, so their keys include the schema: deployments (and test runs) in other
/// schemas of the same database do not wait for each other. The second key tells the two locks apart.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_lock(hashtext(current_schema()), 1)";
const MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext(current_schema()), 1)";
const WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 2)";
/// Settings of every connection: a node that vanishes mid-transaction (its host crashed, its network is gone)
/// must not hold the write lock for hours, nor a statement block forever.
const SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = 30000; SET statement_timeout = 60000; \
                                SET lock_timeout = 30000";

impl From<postgres::Error> for ApiError {
    fn from(error: postgres::Error) -> Self {
        ApiError::storage(error)
    }
}

pub struct PostgresDatabase {
    config: postgres::Config,
    description: String,
    /// Read connections.
    pool: Mutex<Pool>,
    returned: Condvar,
    writer: std::sync::mpsc::Sender<Job>,
    pub(crate) health: super::StorageHealth,
    pub(crate) writer_stats: std::sync::Arc<super::WriterStats>,
}

/// A connection and the statements prepared on it: parsing and planning each query once per connection rather
/// than once per call is most of what a read costs otherwise.
struct Conn {
    client: Client,
    statements: Statements,
}

type Statements = std::collections::HashMap<String, postgres::Statement>;

impl Conn {
    fn new(client: Client) -> Conn {
        Conn {
            client,
            statements: Statements::new(),
        }
    }
}

struct Pool {
    idle: Vec<Conn>,
    /// Connections open now, idle or in use.
    open: usize,
    max: usize,
}

impl PostgresDatabase {
    pub fn open(url: &str, pool_size: usize) -> anyhow::Result<PostgresDatabase> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("bad PostgreSQL URL: {e}"))?;
        // Without these, an unreachable host hangs start-up for minutes and a dead peer is noticed after hours.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(30));
        let description = describe(&config);
        let mut client = connect(&config).map_err(|e| {
            if e.code() == Some(&postgres::error::SqlState::INVALID_CATALOG_NAME) {
                let name = config.get_dbname().unwrap_or("");
                let user = config.get_user().unwrap_or("postgres");
                let (host, port) = host_and_port(&config);
                anyhow::anyhow!(
                    "database {name:?} does not exist on PostgreSQL at {host}:{port}; create it with \
                     `createdb -h {host} -p {port} -U {user} {name}` (or `psql -h {host} -p {port} -U {user} -c \
                     'CREATE DATABASE \"{name}\"'`)"
                )
            } else {
                anyhow::anyhow!("cannot connect to PostgreSQL at {description}: {e}")
            }
        })?;
        migrate(&mut client).map_err(|e| anyhow::anyhow!("{description}: {e}"))?;
        let (writer, jobs) = std::sync::mpsc::channel::<Job>();
        let writer_config = config.clone();
        let writer_stats = std::sync::Arc::new(super::WriterStats::default());
        std::thread::Builder::new()
            .name("localzoom-postgres-writer".into())
            .spawn({
                let stats = writer_stats.clone();
                move || writer_loop(Conn::new(client), writer_config, jobs, &stats)
            })?;
        Ok(PostgresDatabase {
            config,
            description,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                max: pool_size.max(1),
            }),
            returned: Condvar::new(),
            writer,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// A connection from the pool, a new one while the pool is below its size, or else the next one returned.
    fn take(&self) -> Result<Conn, ApiError> {
        let mut pool = self.pool.lock().map_err(ApiError::storage)?;
        loop {
            if let Some(conn) = pool.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                pool.open -= 1;
                continue;
            }
            if pool.open < pool.max {
                pool.open += 1;
                drop(pool);
                return connect(&self.config).map(Conn::new).map_err(|e| {
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.open -= 1;
                    }
                    ApiError::storage(format!("cannot connect to PostgreSQL: {e}"))
                });
            }
            pool = self.returned.wait(pool).map_err(ApiError::storage)?;
        }
    }

    fn give_back(&self, conn: Conn) {
        if let Ok(mut pool) = self.pool.lock() {
            if conn.client.is_closed() {
                pool.open -= 1;
            } else {
                pool.idle.push(conn);
            }
        }
        self.returned.notify_one();
    }

    /// Runs `f` in a read-only transaction (one snapshot) on a pooled connection.
    fn read_transaction<R>(&self, f: impl FnOnce(&dyn Store) -> StoreResult<R>) -> StoreResult<R> {
        let mut lease = Lease {
            db: self,
            conn: Some(self.take()?),
        };
        let Conn { client, statements } = lease.conn.as_mut().expect("leased");
        let txn = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let store = PostgresStore {
            txn: RefCell::new(txn),
            statements: RefCell::new(statements),
        };
        let result = f(&store);
        store.txn.into_inner().commit()?;
        result
    }

    pub fn read<R>(&self, f: impl FnOnce(&dyn Store) -> StoreResult<R>) -> StoreResult<R> {
        crate::blocking::blocking(|| self.read_transaction(f)).map_err(ApiError::storage)?
    }

    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        super::submit(&self.writer, f).await
    }
}

/// A pooled connection in use: back to the pool when done, closed (and its slot freed) if the read panicked,
/// so a panic can neither leak a slot nor leave a half-done transaction for the next read.
struct Lease<'a> {
    db: &'a PostgresDatabase,
    conn: Option<Conn>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if std::thread::panicking() {
            drop(conn);
            if let Ok(mut pool) = self.db.pool.lock() {
                pool.open -= 1;
            }
            self.db.returned.notify_one();
        } else {
            self.db.give_back(conn);
        }
    }
}

impl Drop for PostgresDatabase {
    /// Closing a synchronous client blocks on its runtime, which must not happen on an async worker (the
    /// database is usually dropped there, at shutdown): the connections are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = match self.pool.get_mut() {
            Ok(pool) => std::mem::take(&mut pool.idle),
            Err(_) => return,
        };
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

fn connect(config: &postgres::Config) -> Result<Client, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(SESSION_SETTINGS)?;
    Ok(client)
}

/// How many waiting writes one transaction may take.
const MAX_BATCH: usize = 256;

/// The node's one writer: takes every write waiting at that moment, applies them in one transaction (each in a
/// savepoint, so one failing undoes only itself) after the advisory lock that orders writers across nodes, and
/// commits once — one commit, and one wait for the lock, per batch instead of per write.
fn writer_loop(
    mut conn: Conn,
    config: postgres::Config,
    jobs: std::sync::mpsc::Receiver<Job>,
    stats: &super::WriterStats,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        stats.record_batch(batch.len());
        if conn.client.is_closed() {
            match connect(&config) {
                Ok(fresh) => conn = Conn::new(fresh),
                Err(e) => {
                    let error = ApiError::storage(format!("cannot reconnect to PostgreSQL: {e}"));
                    for job in batch {
                        job(Err(error.clone())).1(Some(error.clone()));
                    }
                    continue;
                }
            }
        }
        let outcome = run_batch(&mut conn, batch);
        for (reply, error) in outcome {
            reply(error);
        }
    }
}

/// Runs a batch; every job's reply with the batch's outcome (`None`: committed).
fn run_batch(conn: &mut Conn, batch: Vec<Job>) -> Vec<(Reply, Option<ApiError>)> {
    let Conn { client, statements } = conn;
    // A write sees what was committed before it took the lock (READ COMMITTED: a REPEATABLE READ snapshot would
    // be taken by the lock statement itself, before the wait, and miss what the previous holder wrote).
    let started = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start();
    let txn = match started {
        Ok(txn) => txn,
        Err(e) => {
            let error = ApiError::from(e);
            return batch
                .into_iter()
                .map(|job| (job(Err(error.clone())).1, Some(error.clone())))
                .collect();
        }
    };
    let store = PostgresStore {
        txn: RefCell::new(txn),
        statements: RefCell::new(statements),
    };
    let mut failure = store.control(WRITE_LOCK).err();
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        if let Some(error) = &failure {
            replies.push((job(Err(error.clone())).1, None));
            continue;
        }
        if let Err(e) = store.control("SAVEPOINT job") {
            replies.push((job(Err(e.clone())).1, None));
            failure = Some(e);
            continue;
        }
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&store))));
        let (failed, reply): (bool, Reply) = match run {
            Ok(done) => done,
            // The job's reply sender was dropped with it: its caller sees an internal error.
            Err(_) => (true, Box::new(|_| {})),
        };
        let undone = !failed || store.control("ROLLBACK TO SAVEPOINT job").is_ok();
        if undone && store.control("RELEASE SAVEPOINT job").is_ok() {
            replies.push((reply, None));
            continue;
        }
        // The job hid a failed statement (PostgreSQL then refuses everything until the savepoint is rolled
        // back): undo it alone and fail it alone; only if that fails too is the batch lost.
        if store
            .control("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
            .is_ok()
        {
            replies.push((
                reply,
                Some(ApiError::storage("a statement of the write failed")),
            ));
        } else {
            failure = Some(ApiError::storage("the write transaction failed"));
            replies.push((reply, None));
        }
    }
    let txn = store.txn.into_inner();
    let outcome = match failure {
        Some(error) => {
            let _ = txn.rollback();
            Some(error)
        }
        None => txn.commit().err().map(ApiError::from),
    };
    replies
        .into_iter()
        .map(|(reply, own)| (reply, outcome.clone().or(own)))
        .collect()
}

/// `host:port/dbname` without credentials, for banners and errors.
fn host_and_port(config: &postgres::Config) -> (String, u16) {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

fn describe(config: &postgres::Config) -> String {
    let (host, port) = host_and_port(config);
    format!(
        "postgres://{host}:{port}/{}",
        config.get_dbname().unwrap_or("")
    )
}

/// Applies pending migrations under a session advisory lock, so nodes starting together migrate once.
fn migrate(client: &mut Client) -> anyhow::Result<()> {
    client.batch_execute(MIGRATION_LOCK)?;
    let result = (|| -> anyhow::Result<()> {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS localzoom_schema (version BIGINT NOT NULL); \
             INSERT INTO localzoom_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM localzoom_schema)",
        )?;
        let version: i64 = client
            .query_one("SELECT version FROM localzoom_schema", &[])?
            .try_get(0)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            anyhow::bail!(
                "database schema version {version} is newer than this localzoom understands ({known}); upgrade localzoom"
            );
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut txn = client.transaction()?;
            txn.batch_execute(sql)?;
            txn.execute(
                "UPDATE localzoom_schema SET version = $1",
                &[&(i as i64 + 1)],
            )?;
            txn.commit()?;
        }
        Ok(())
    })();
    client.batch_execute(MIGRATION_UNLOCK)?;
    result
}

/// `Store` over one PostgreSQL transaction.
pub struct PostgresStore<'c> {
    txn: RefCell<Transaction<'c>>,
    statements: RefCell<&'c mut Statements>,
}

const USER_COLUMNS: &str = "id, account_id, email, first_name, last_name, display_name, type, role, status, \
    login_type, pmi, use_pmi, timezone, dept, language, verified, is_zoom_room, upcoming_zoom_events, \
    password_hash, profile, created_at, last_login_time, seq";

const USER_WRITE_COLUMNS: &str = "id, account_id, email, email_lower, first_name, last_name, display_name, type, \
    role, status, login_type, pmi, use_pmi, timezone, dept, language, verified, is_zoom_room, upcoming_zoom_events, \
    password_hash, profile, created_at, last_login_time";

const ACCOUNT_COLUMNS: &str = "id, account_number, plan, owner_email, managed_domain, max_basic_users, \
    password_history_count, password_changes_per_day, security, created_at, rate_limits";

const APP_COLUMNS: &str = "client_id, client_secret_sha256, account_id, owner_user_id, kind, scopes, active, \
    created_at, redirect_uri";

fn user_columns_of(alias: &str) -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn user_from_row(row: &Row) -> StoreResult<(i64, UserRecord)> {
    let role: String = row.try_get(7)?;
    let status: String = row.try_get(8)?;
    let profile: String = row.try_get(19)?;
    Ok((
        row.try_get(22)?,
        UserRecord {
            id: row.try_get(0)?,
            account_id: row.try_get(1)?,
            email: row.try_get(2)?,
            first_name: row.try_get(3)?,
            last_name: row.try_get(4)?,
            display_name: row.try_get(5)?,
            user_type: row.try_get(6)?,
            role: Role::parse(&role).unwrap_or(Role::Member),
            status: Status::parse(&status).unwrap_or(Status::Active),
            login_type: row.try_get(9)?,
            pmi: row.try_get(10)?,
            use_pmi: row.try_get(11)?,
            timezone: row.try_get(12)?,
            dept: row.try_get(13)?,
            language: row.try_get(14)?,
            verified: row.try_get(15)?,
            is_zoom_room: row.try_get(16)?,
            upcoming_zoom_events: row.try_get(17)?,
            password_hash: row.try_get(18)?,
            profile: json_map(&profile),
            created_at: row.try_get(20)?,
            last_login_time: row.try_get(21)?,
        },
    ))
}

fn account_from_row(row: &Row) -> StoreResult<AccountRecord> {
    let security: String = row.try_get(8)?;
    Ok(AccountRecord {
        id: row.try_get(0)?,
        account_number: row.try_get(1)?,
        plan: row.try_get(2)?,
        owner_email: row.try_get(3)?,
        managed_domain: row.try_get(4)?,
        max_basic_users: row.try_get::<_, Option<i64>>(5)?.map(to_u32),
        password_history_count: to_u32(row.try_get(6)?),
        password_changes_per_day: to_u32(row.try_get(7)?),
        security: json_map(&security),
        created_at: row.try_get(9)?,
        rate_limit_overrides: parse_overrides(row.try_get(10)?).map_err(ApiError::storage)?,
    })
}

fn app_from_row(row: &Row) -> StoreResult<AppRecord> {
    let scopes: String = row.try_get(5)?;
    Ok(AppRecord {
        client_id: row.try_get(0)?,
        client_secret_sha256: row.try_get(1)?,
        account_id: row.try_get(2)?,
        owner_user_id: row.try_get(3)?,
        kind: row.try_get(4)?,
        scopes: split_scopes(&scopes),
        active: row.try_get(6)?,
        created_at: row.try_get(7)?,
        redirect_uri: row.try_get(8)?,
    })
}

fn token_from_row(row: &Row) -> StoreResult<TokenRecord> {
    let scopes: String = row.try_get(4)?;
    let kind: String = row.try_get(8)?;
    Ok(TokenRecord {
        token_sha256: row.try_get(0)?,
        client_id: row.try_get(1)?,
        account_id: row.try_get(2)?,
        user_id: row.try_get(3)?,
        scopes: split_scopes(&scopes),
        issued_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        revoked: row.try_get(7)?,
        kind: if kind == "refresh" {
            TokenKind::Refresh
        } else {
            TokenKind::Access
        },
        session_id: row.try_get(9)?,
        role: row
            .try_get::<_, Option<String>>(10)?
            .as_deref()
            .and_then(Role::parse),
        limits: Some(AccountLimits {
            plan: Plan::of(&row.try_get::<_, String>(11)?),
            overrides: parse_overrides(row.try_get(12)?).map_err(ApiError::storage)?,
        }),
    })
}

fn code_from_row(row: &Row) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        code_sha256: row.try_get(0)?,
        client_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        redirect_uri: row.try_get(3)?,
        code_challenge: row.try_get(4)?,
        expires_at: row.try_get(5)?,
        used: row.try_get(6)?,
    })
}

fn session_from_row(row: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        login_type: row.try_get(2)?,
        created_at: row.try_get(3)?,
        ended_at: row.try_get(4)?,
    })
}

type Param<'a> = &'a (dyn postgres::types::ToSql + Sync);

impl PostgresStore<'_> {
    /// The statement for `sql`, prepared on this connection the first time it is needed (the code has a few dozen
    /// distinct queries, so the cache stays small).
    fn statement(&self, sql: &str) -> StoreResult<postgres::Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.txn.borrow_mut().prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Statements that cannot be prepared (savepoints), sent as they are.
    fn control(&self, sql: &str) -> StoreResult<()> {
        Ok(self.txn.borrow_mut().batch_execute(sql)?)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.txn.borrow_mut().query(&statement, params)?)
    }

    fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.txn.borrow_mut().query_opt(&statement, params)?)
    }

    fn execute(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let statement = self.statement(sql)?;
        Ok(self.txn.borrow_mut().execute(&statement, params)?)
    }

    fn count(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let statement = self.statement(sql)?;
        let row = self.txn.borrow_mut().query_one(&statement, params)?;
        Ok(row.try_get::<_, i64>(0)?.max(0) as u64)
    }

    fn one_user(&self, sql_where: &str, a: &str, b: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {sql_where}");
        self.query_opt(&sql, &[&a, &b])?
            .map(|row| user_from_row(&row).map(|(_, u)| u))
            .transpose()
    }

    fn users(&self, sql: &str, key: &str) -> StoreResult<Vec<UserRecord>> {
        self.query(sql, &[&key])?
            .iter()
            .map(|row| user_from_row(row).map(|(_, u)| u))
            .collect()
    }

    fn count_user(
        &self,
        account_id: &str,
        status: &str,
        role: &str,
        delta: i64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO user_counts (account_id, status, role, n) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, status, role) DO UPDATE SET n = user_counts.n + excluded.n",
            &[&account_id, &status, &role, &delta],
        )?;
        Ok(())
    }

    fn counted_as(&self, id: &str) -> StoreResult<Option<(String, String, String)>> {
        self.query_opt(
            "SELECT account_id, status, role FROM users WHERE id = $1",
            &[&id],
        )?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .transpose()
    }

    /// Inserts (`update` false) or updates a user row with every column of `USER_WRITE_COLUMNS`.
    fn write_user(&self, u: &UserRecord, update: bool) -> StoreResult<()> {
        let email_lower = u.email.to_lowercase();
        let (role, status) = (u.role.as_str(), u.status.as_str());
        let profile = Value::Object(u.profile.clone()).to_string();
        let params: [Param<'_>; 23] = [
            &u.id,
            &u.account_id,
            &u.email,
            &email_lower,
            &u.first_name,
            &u.last_name,
            &u.display_name,
            &u.user_type,
            &role,
            &status,
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
            &profile,
            &u.created_at,
            &u.last_login_time,
        ];
        let columns: Vec<&str> = USER_WRITE_COLUMNS.split(", ").collect();
        let sql = if update {
            // The same parameter numbering as the insert; `id` (the key) and `created_at` never change, but every
            // parameter must appear in the statement for PostgreSQL to type it, hence the no-op test of $22.
            let assignments = columns
                .iter()
                .enumerate()
                .filter(|(_, c)| !matches!(**c, "id" | "created_at"))
                .map(|(i, c)| format!("{c} = ${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            format!("UPDATE users SET {assignments} WHERE id = $1 AND $22::BIGINT IS NOT NULL")
        } else {
            let placeholders = (1..=columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("INSERT INTO users ({USER_WRITE_COLUMNS}) VALUES ({placeholders})")
        };
        self.execute(&sql, &params)?;
        Ok(())
    }
}

impl Store for PostgresStore<'_> {
    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| Ok(r.try_get(0)?))
            .transpose()
    }

    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &a.id,
                &a.account_number,
                &a.plan,
                &a.owner_email,
                &a.managed_domain,
                &a.max_basic_users.map(i64::from),
                &i64::from(a.password_history_count),
                &i64::from(a.password_changes_per_day),
                &Value::Object(a.security.clone()).to_string(),
                &a.created_at,
                &a.rate_limit_overrides.to_json(),
            ],
        )?;
        Ok(())
    }

    fn account(&self, id: &str) -> StoreResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        self.query_opt(&sql, &[&id])?
            .map(|r| account_from_row(&r))
            .transpose()
    }

    fn accounts(&self) -> StoreResult<Vec<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id");
        self.query(&sql, &[])?
            .iter()
            .map(account_from_row)
            .collect()
    }

    fn update_account(&self, a: &AccountRecord) -> StoreResult<()> {
        self.execute(
            "UPDATE accounts SET plan = $2, owner_email = $3, managed_domain = $4, max_basic_users = $5, \
             password_history_count = $6, password_changes_per_day = $7, security = $8, rate_limits = $9 \
             WHERE id = $1",
            &[
                &a.id,
                &a.plan,
                &a.owner_email,
                &a.managed_domain,
                &a.max_basic_users.map(i64::from),
                &i64::from(a.password_history_count),
                &i64::from(a.password_changes_per_day),
                &Value::Object(a.security.clone()).to_string(),
                &a.rate_limit_overrides.to_json(),
            ],
        )?;
        Ok(())
    }

    fn insert_app(&self, app: &AppRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO apps ({APP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &app.client_id,
                &app.client_secret_sha256,
                &app.account_id,
                &app.owner_user_id,
                &app.kind,
                &app.scopes.join(" "),
                &app.active,
                &app.created_at,
                &app.redirect_uri,
            ],
        )?;
        Ok(())
    }

    fn app(&self, client_id: &str) -> StoreResult<Option<AppRecord>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE client_id = $1");
        self.query_opt(&sql, &[&client_id])?
            .map(|r| app_from_row(&r))
            .transpose()
    }

    fn apps(&self, account_id: &str) -> StoreResult<Vec<AppRecord>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE account_id = $1 ORDER BY created_at, client_id"
        );
        self.query(&sql, &[&account_id])?
            .iter()
            .map(app_from_row)
            .collect()
    }

    fn all_apps(&self) -> StoreResult<Vec<AppRecord>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, client_id");
        self.query(&sql, &[])?.iter().map(app_from_row).collect()
    }

    fn update_app(&self, app: &AppRecord) -> StoreResult<()> {
        self.execute(
            "UPDATE apps SET client_secret_sha256 = $2, owner_user_id = $3, scopes = $4, active = $5, \
             redirect_uri = $6 WHERE client_id = $1",
            &[
                &app.client_id,
                &app.client_secret_sha256,
                &app.owner_user_id,
                &app.scopes.join(" "),
                &app.active,
                &app.redirect_uri,
            ],
        )?;
        Ok(())
    }

    fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO access_tokens (token_sha256, client_id, account_id, user_id, scopes, issued_at, \
             expires_at, revoked, kind, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &t.token_sha256,
                &t.client_id,
                &t.account_id,
                &t.user_id,
                &t.scopes.join(" "),
                &t.issued_at,
                &t.expires_at,
                &t.revoked,
                &t.kind.as_str(),
                &t.session_id,
            ],
        )?;
        Ok(())
    }

    fn token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        self.query_opt(
            "SELECT t.token_sha256, t.client_id, t.account_id, t.user_id, t.scopes, t.issued_at, t.expires_at, \
             t.revoked OR NOT a.active, t.kind, t.session_id, u.role, ac.plan, ac.rate_limits \
             FROM access_tokens t JOIN apps a ON a.client_id = t.client_id \
             JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
             WHERE t.token_sha256 = $1",
            &[&token_sha256],
        )?
        .map(|r| token_from_row(&r))
        .transpose()
    }

    fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE user_id = $1 AND NOT revoked",
            &[&user_id],
        )
    }

    fn revoke_token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let found = self.token(token_sha256)?;
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE token_sha256 = $1",
            &[&token_sha256],
        )?;
        Ok(found)
    }

    fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        self.execute(
            "INSERT INTO oauth_codes (code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, \
             used) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &c.code_sha256,
                &c.client_id,
                &c.user_id,
                &c.redirect_uri,
                &c.code_challenge,
                &c.expires_at,
                &c.used,
            ],
        )?;
        Ok(())
    }

    fn use_code(&self, code_sha256: &[u8]) -> StoreResult<Option<AuthCode>> {
        // Row-locked, so two nodes exchanging the same code at once cannot both see it unused.
        let found = self
            .query_opt(
                "SELECT code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, used \
                 FROM oauth_codes WHERE code_sha256 = $1 FOR UPDATE",
                &[&code_sha256],
            )?
            .map(|row| code_from_row(&row))
            .transpose()?;
        self.execute(
            "UPDATE oauth_codes SET used = TRUE WHERE code_sha256 = $1",
            &[&code_sha256],
        )?;
        Ok(found)
    }

    fn insert_user(&self, u: &UserRecord) -> StoreResult<()> {
        self.write_user(u, false)?;
        self.count_user(&u.account_id, u.status.as_str(), u.role.as_str(), 1)
    }

    fn user_by_id(&self, account_id: &str, id: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user("id = $2 AND account_id = $1", account_id, id)
    }

    fn user_by_email(&self, account_id: &str, email: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user(
            "email_lower = $2 AND account_id = $1",
            account_id,
            &email.to_lowercase(),
        )
    }

    fn find_user(&self, id_or_email: &str) -> StoreResult<Option<UserRecord>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 OR email_lower = lower($1)");
        self.query_opt(&sql, &[&id_or_email])?
            .map(|row| user_from_row(&row).map(|(_, u)| u))
            .transpose()
    }

    fn email_exists(&self, email: &str) -> StoreResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM users WHERE email_lower = $1",
                &[&email.to_lowercase()],
            )?
            .is_some())
    }

    fn update_user(&self, u: &UserRecord) -> StoreResult<()> {
        let before = self.counted_as(&u.id)?;
        self.write_user(u, true)?;
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
            "DELETE FROM assistants WHERE user_id = $1 OR assistant_id = $1",
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM password_history WHERE user_id = $1",
            "UPDATE access_tokens SET revoked = TRUE WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            self.execute(sql, &[&id])?;
        }
        Ok(())
    }

    fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<(i64, UserRecord)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND status = $2 AND seq > $3 \
             AND ($5::TEXT IS NULL OR role = $5) ORDER BY seq LIMIT $4 OFFSET $6"
        );
        let (limit, offset) = (q.limit as i64, q.offset.min(i64::MAX as u64) as i64);
        let role = q.role.map(Role::as_str);
        self.query(
            &sql,
            &[
                &q.account_id,
                &q.status.as_str(),
                &q.after_seq,
                &limit,
                &role,
                &offset,
            ],
        )?
        .iter()
        .map(user_from_row)
        .collect()
    }

    fn count_users(
        &self,
        account_id: &str,
        status: Status,
        role: Option<Role>,
    ) -> StoreResult<u64> {
        self.count(
            "SELECT COALESCE(SUM(n), 0)::BIGINT FROM user_counts WHERE account_id = $1 AND status = $2 \
             AND ($3::TEXT IS NULL OR role = $3)",
            &[&account_id, &status.as_str(), &role.map(Role::as_str)],
        )
    }

    fn count_basic_users(&self, account_id: &str) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) FROM users WHERE account_id = $1 AND type = 1 AND status IN ('active', 'pending')",
            &[&account_id],
        )
    }

    fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO sessions (id, user_id, login_type, created_at, ended_at) VALUES ($1, $2, $3, $4, $5)",
            &[&s.id, &s.user_id, &s.login_type, &s.created_at, &s.ended_at],
        )?;
        Ok(())
    }

    fn sessions(&self, user_id: &str) -> StoreResult<Vec<SessionRecord>> {
        self.query(
            "SELECT id, user_id, login_type, created_at, ended_at FROM sessions WHERE user_id = $1 \
             ORDER BY created_at, seq",
            &[&user_id],
        )?
        .iter()
        .map(session_from_row)
        .collect()
    }

    fn end_sessions(&self, user_id: &str, login_type: Option<i64>, now: i64) -> StoreResult<u64> {
        // The tokens first, while their sessions are still the open ones.
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE NOT revoked AND session_id IN \
             (SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL \
             AND ($2::BIGINT IS NULL OR login_type = $2))",
            &[&user_id, &login_type],
        )?;
        self.execute(
            "UPDATE sessions SET ended_at = $3 WHERE user_id = $1 AND ended_at IS NULL \
             AND ($2::BIGINT IS NULL OR login_type = $2)",
            &[&user_id, &login_type, &now],
        )
    }

    fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE session_id = $1 AND NOT revoked",
            &[&id],
        )?;
        self.execute(
            "UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
            &[&id, &now],
        )?;
        Ok(())
    }

    fn assistants(&self, user_id: &str) -> StoreResult<Vec<(UserRecord, bool)>> {
        let columns = user_columns_of("u");
        let sql = format!(
            "SELECT {columns}, a.can_manage_host_private_event FROM assistants a JOIN users u \
             ON u.id = a.assistant_id WHERE a.user_id = $1 ORDER BY a.added_at, u.seq"
        );
        self.query(&sql, &[&user_id])?
            .iter()
            .map(|row| Ok((user_from_row(row)?.1, row.try_get(23)?)))
            .collect()
    }

    fn schedulers(&self, assistant_id: &str) -> StoreResult<Vec<UserRecord>> {
        let columns = user_columns_of("u");
        self.users(
            &format!(
                "SELECT {columns} FROM assistants a JOIN users u ON u.id = a.user_id WHERE a.assistant_id = $1 \
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
        self.execute(
            "INSERT INTO assistants (user_id, assistant_id, can_manage_host_private_event, added_at) \
             VALUES ($1, $2, $3, $4)",
            &[&user_id, &assistant_id, &can_manage, &now],
        )?;
        Ok(())
    }

    fn remove_assistant(&self, user_id: &str, assistant_id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM assistants WHERE user_id = $1 AND assistant_id = $2",
            &[&user_id, &assistant_id],
        )
    }

    fn remove_assistants(&self, user_id: &str) -> StoreResult<u64> {
        self.execute("DELETE FROM assistants WHERE user_id = $1", &[&user_id])
    }

    fn remove_schedulers(&self, assistant_id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM assistants WHERE assistant_id = $1",
            &[&assistant_id],
        )
    }

    fn password_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<String>> {
        self.query(
            "SELECT fingerprint FROM password_history WHERE user_id = $1 ORDER BY changed_at DESC, seq DESC \
             LIMIT $2",
            &[&user_id, &i64::from(limit)],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    fn password_changes_since(&self, user_id: &str, since: i64) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) FROM password_history WHERE user_id = $1 AND changed_at > $2 AND NOT initial",
            &[&user_id, &since],
        )
    }

    fn clear_password_history(&self) -> StoreResult<u64> {
        self.execute("DELETE FROM password_history", &[])
    }

    fn record_password(
        &self,
        user_id: &str,
        fingerprint: &str,
        at: i64,
        initial: bool,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO password_history (user_id, fingerprint, changed_at, initial) VALUES ($1, $2, $3, $4)",
            &[&user_id, &fingerprint, &at, &initial],
        )?;
        Ok(())
    }

    fn purge_expired_tokens(&self, before: i64) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM access_tokens WHERE token_sha256 IN \
             (SELECT token_sha256 FROM access_tokens WHERE expires_at < $1 LIMIT 100)",
            &[&before],
        )
    }

    fn enqueue_email(&self, e: &OutboxEmail) -> StoreResult<()> {
        self.execute(
            "INSERT INTO outbox (to_address, subject, body, created_at) VALUES ($1, $2, $3, $4)",
            &[&e.to_address, &e.subject, &e.body, &e.created_at],
        )?;
        Ok(())
    }

    fn outbox(&self) -> StoreResult<Vec<OutboxEmail>> {
        self.query(
            "SELECT to_address, subject, body, created_at FROM outbox ORDER BY id",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(OutboxEmail {
                to_address: row.try_get(0)?,
                subject: row.try_get(1)?,
                body: row.try_get(2)?,
                created_at: row.try_get(3)?,
            })
        })
        .collect()
    }

    fn all_meta(&self) -> StoreResult<Vec<(String, String)>> {
        self.query("SELECT key, value FROM meta ORDER BY key", &[])?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn all_users(&self, after_seq: i64, limit: u64) -> StoreResult<Vec<(i64, UserRecord)>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE seq > $1 ORDER BY seq LIMIT $2");
        self.query(&sql, &[&after_seq, &(limit as i64)])?
            .iter()
            .map(user_from_row)
            .collect()
    }

    fn all_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        // The lookup's columns, with the revocation as stored (not folded with the app's state).
        self.query(
            "SELECT t.token_sha256, t.client_id, t.account_id, t.user_id, t.scopes, t.issued_at, t.expires_at, \
             t.revoked, t.kind, t.session_id, u.role, ac.plan, ac.rate_limits \
             FROM access_tokens t JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
             ORDER BY t.issued_at, t.token_sha256",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(TokenRecord {
                role: None,
                limits: None,
                ..token_from_row(row)?
            })
        })
        .collect()
    }

    fn all_codes(&self) -> StoreResult<Vec<AuthCode>> {
        self.query(
            "SELECT code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, used \
             FROM oauth_codes ORDER BY expires_at, code_sha256",
            &[],
        )?
        .iter()
        .map(code_from_row)
        .collect()
    }

    fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        self.query(
            "SELECT id, user_id, login_type, created_at, ended_at FROM sessions ORDER BY created_at, seq",
            &[],
        )?
        .iter()
        .map(session_from_row)
        .collect()
    }

    fn all_assistant_links(&self) -> StoreResult<Vec<AssistantLink>> {
        self.query(
            "SELECT user_id, assistant_id, can_manage_host_private_event, added_at FROM assistants \
             ORDER BY added_at, user_id, assistant_id",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(AssistantLink {
                user_id: row.try_get(0)?,
                assistant_id: row.try_get(1)?,
                can_manage_host_private_event: row.try_get(2)?,
                added_at: row.try_get(3)?,
            })
        })
        .collect()
    }

    fn all_password_history(&self) -> StoreResult<Vec<PasswordEntry>> {
        self.query(
            "SELECT user_id, fingerprint, changed_at, initial FROM password_history ORDER BY changed_at, seq",
            &[],
        )?
        .iter()
        .map(|row| {
            Ok(PasswordEntry {
                user_id: row.try_get(0)?,
                fingerprint: row.try_get(1)?,
                changed_at: row.try_get(2)?,
                initial: row.try_get(3)?,
            })
        })
        .collect()
    }
}
