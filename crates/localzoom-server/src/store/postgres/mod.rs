//! PostgreSQL backend, for several localzoom nodes sharing one dataset.
//!
//! Every write transaction first takes the advisory locks its writes' scopes ask for (`WriteScope`): an account's
//! writes take that account's lock, so they apply one after another on every node, as SQLite's single writer
//! applies them, and the rules that read before they write (the 24-hour password cap, the Basic-user cap,
//! assistants) hold under any concurrency; writes of different accounts proceed at once. What is unique across
//! accounts (e-mails, PMIs, vanity names) is kept so by unique indexes. Writes run at READ COMMITTED, so that after
//! the locks they see everything committed before; reads run at REPEATABLE READ (one snapshot per request) and need
//! no lock. There is no cache: what one node commits, the next read on any node sees.
//!
//! Each node has `WRITERS` writer threads; an account's writes always go to the same one, which commits every
//! write waiting for it at that moment in one transaction (group commit: one commit and one wait for the locks per
//! batch, durability per request).
//!
//! The store is synchronous, so its client (`client.rs`, tokio-postgres driven on the caller's thread) must not
//! run on an async worker as it is: writes run on the writer threads, reads in `block_in_place` (PostgreSQL
//! therefore needs the multi-threaded runtime, which `serve` and the CLI use). A read's BEGIN travels with its
//! first query and its COMMIT is not waited for, so a read of N statements costs N round trips. TLS: `tls.rs`.

mod client;
mod tls;

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Condvar, Mutex};

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type};

use client::{ConnectError, PgClient};

use super::sql::{self, Dialect, Param, RawRow, Row, Value};
use super::{Job, Reply, Store, StoreError, StoreResult, TransactionError, WriteScope};

/// This backend's own history; later migrations are `super::MIGRATIONS`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_session_tokens.sql"),
];
/// Advisory locks are per database, so their keys include the schema: deployments (and test runs) in other
/// schemas of the same database do not wait for each other. The second key tells the two locks apart.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_lock(hashtext(current_schema()), 1)";
const MIGRATION_UNLOCK: &str = "SELECT pg_advisory_unlock(hashtext(current_schema()), 1)";
/// Taken shared by every write batch and exclusively by one with a `WriteScope::Everything` write.
const WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext(current_schema()), 2)";
const WRITE_LOCK_SHARED: &str =
    "SELECT pg_advisory_xact_lock_shared(hashtext(current_schema()), 2)";
/// Writer threads (and connections) per node: writes of different accounts run on different ones at once.
pub const WRITERS: usize = 4;
/// Settings of every connection: a node that vanishes mid-transaction (its host crashed, its network is gone)
/// must not hold the write lock for hours, nor a statement block forever.
const SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = 30000; SET statement_timeout = 60000; \
                                SET lock_timeout = 30000";

/// A read's transaction: one snapshot for all its statements, sent with the first of them.
const READ_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if let Some(db) = error.as_db_error()
            && *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
        {
            return StoreError::Duplicate(db.constraint().unwrap_or_default().to_string());
        }
        StoreError::Unavailable(cause(&error))
    }
}

/// The error with its causes (`error connecting to server: Connection refused (os error 111)`): the client's own
/// message ("db error", "error connecting to server") names none. Never the connection string.
fn cause(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Whether a failure means the connection is gone (the server restarted or stopped, the network broke) rather
/// than the statement being refused: a transaction that failed so before anything ran is tried once more on a new
/// connection.
fn connection_lost(error: &tokio_postgres::Error, client: &PgClient) -> bool {
    use tokio_postgres::error::SqlState;
    client.is_closed()
        || error.is_closed()
        || matches!(
            error.code(),
            Some(
                &SqlState::ADMIN_SHUTDOWN
                    | &SqlState::CRASH_SHUTDOWN
                    | &SqlState::CANNOT_CONNECT_NOW
            )
        )
        || std::error::Error::source(error).is_some_and(|s| s.is::<std::io::Error>())
}

impl ConnectError {
    fn cause(&self) -> String {
        match self {
            ConnectError::Refused(error) => cause(error),
            ConnectError::Runtime(error) => {
                format!("cannot start the connection's runtime: {error}")
            }
        }
    }
}

pub struct PostgresDatabase {
    settings: Arc<tls::TlsSettings>,
    description: String,
    /// Read connections.
    pool: Mutex<Pool>,
    returned: Condvar,
    /// A write of an account always goes to the same writer (`writer_of`), so a node serialises an account's
    /// writes without waiting on the database's lock, and batches them.
    writers: Vec<std::sync::mpsc::Sender<(WriteScope, Job)>>,
    pub(crate) health: super::StorageHealth,
    pub(crate) writer_stats: std::sync::Arc<super::WriterStats>,
}

/// A connection and the statements prepared on it: parsing and planning each query once per connection rather
/// than once per call is most of what a read costs otherwise.
struct Conn {
    client: PgClient,
    statements: Statements,
}

type Statements = std::collections::HashMap<String, tokio_postgres::Statement>;

impl Conn {
    fn new(client: PgClient) -> Conn {
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
        let mut settings = tls::TlsSettings::parse(url)?;
        let config = &mut settings.config;
        // Without these, an unreachable host hangs start-up for minutes and a dead peer is noticed after hours.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(30));
        let config = &settings.config;
        let description = describe(config, settings.mode);
        let mut client = connect(&settings).map_err(|e| {
            if let ConnectError::Refused(e) = &e
                && e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
            {
                let name = config.get_dbname().unwrap_or("");
                let user = config.get_user().unwrap_or("postgres");
                let (host, port) = host_and_port(config);
                anyhow::anyhow!(
                    "database {name:?} does not exist on PostgreSQL at {host}:{port}; create it with \
                     `createdb -h {host} -p {port} -U {user} {name}` (or `psql -h {host} -p {port} -U {user} -c \
                     'CREATE DATABASE \"{name}\"'`)"
                )
            } else {
                anyhow::anyhow!("cannot connect to PostgreSQL at {description}: {}", e.cause())
            }
        })?;
        migrate(&mut client).map_err(|e| anyhow::anyhow!("{description}: {e}"))?;
        let settings = Arc::new(settings);
        let writer_stats = std::sync::Arc::new(super::WriterStats::default());
        let mut first = Some(client);
        let mut writers = Vec::with_capacity(WRITERS);
        for n in 0..WRITERS {
            let conn = match first.take() {
                Some(client) => client,
                None => connect(&settings).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot connect to PostgreSQL at {description}: {}",
                        e.cause()
                    )
                })?,
            };
            let (writer, jobs) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("localzoom-postgres-writer-{n}"))
                .spawn({
                    let stats = writer_stats.clone();
                    let settings = settings.clone();
                    move || writer_loop(Conn::new(conn), &settings, jobs, &stats)
                })?;
            writers.push(writer);
        }
        Ok(PostgresDatabase {
            settings,
            description,
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
                max: pool_size.max(1),
            }),
            returned: Condvar::new(),
            writers,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// A connection from the pool, a new one while the pool is below its size, or else the next one returned.
    fn take(&self) -> Result<Conn, StoreError> {
        let mut pool = self.pool.lock().map_err(StoreError::unavailable)?;
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
                return connect(&self.settings).map(Conn::new).map_err(|e| {
                    if let Ok(mut pool) = self.pool.lock() {
                        pool.open -= 1;
                    }
                    StoreError::unavailable(format!("cannot connect to PostgreSQL: {}", e.cause()))
                });
            }
            pool = self.returned.wait(pool).map_err(StoreError::unavailable)?;
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

    /// Connections dropped for good (lost, or failed in a way that leaves them unusable): their slots free up.
    fn discard(&self, conn: Conn) {
        drop(conn);
        if let Ok(mut pool) = self.pool.lock() {
            pool.open -= 1;
        }
        self.returned.notify_one();
    }

    /// The leased connection was found lost (the server restarted, a fail-over): it goes, and so does every idle
    /// one, opened to the same server and as stale; the lease gets a new connection.
    fn renew(&self, lease: &mut Lease<'_>) -> Result<(), StoreError> {
        self.discard(lease.conn.take().expect("leased"));
        self.forget_idle();
        lease.conn = Some(self.take()?);
        Ok(())
    }

    /// Drops every idle connection; new ones are made as reads need them.
    fn forget_idle(&self) {
        let stale = match self.pool.lock() {
            Ok(mut pool) => {
                let stale = std::mem::take(&mut pool.idle);
                pool.open -= stale.len();
                stale
            }
            Err(_) => return,
        };
        drop(stale);
        self.returned.notify_all();
    }

    /// Runs `f` on a pooled connection, in a transaction that `begin` (sent with `f`'s first statement) starts,
    /// or else each statement on its own. A connection the server has dropped (it restarted) fails at `f`'s first
    /// exchange, before `f` saw anything from the database: `f` then runs once more, on a new connection.
    fn on_pooled<R, E: TransactionError>(
        &self,
        begin: Option<&'static str>,
        mut f: impl FnMut(&Store<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut lease = Lease {
            db: self,
            conn: Some(self.take()?),
        };
        match read_on(lease.conn.as_mut().expect("leased"), begin, &mut f) {
            Read::Done(result) => return result,
            Read::LostBeforeAnswer => {}
        }
        self.renew(&mut lease)?;
        match read_on(lease.conn.as_mut().expect("leased"), begin, &mut f) {
            Read::Done(result) => result,
            Read::LostBeforeAnswer => Err(StoreError::unavailable(
                "PostgreSQL closed the connection before the read's first answer",
            )
            .into()),
        }
    }

    /// `f` in a read-only transaction: one snapshot.
    pub fn read<R, E: TransactionError>(
        &self,
        f: impl FnMut(&Store<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        crate::blocking::blocking(|| self.on_pooled(Some(READ_BEGIN), f))
            .map_err(StoreError::unavailable)?
    }

    /// `Database::lookup`: `f` without a transaction.
    pub fn lookup<R, E: TransactionError>(
        &self,
        f: impl Fn(&Store<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        crate::blocking::blocking(|| self.on_pooled(None, f)).map_err(StoreError::unavailable)?
    }

    pub async fn write<R: Send + 'static, E: TransactionError>(
        &self,
        scope: WriteScope,
        f: impl FnOnce(&Store<'_>) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        let writer = &self.writers[writer_of(&scope)];
        super::submit(|job| writer.send((scope, job)).is_ok(), f).await
    }
}

/// How a read on one connection went.
enum Read<T> {
    Done(T),
    /// The connection was found lost before the database had answered anything: what `f` returned means nothing,
    /// and it may run again elsewhere.
    LostBeforeAnswer,
}

/// One read on `conn`. A transaction `begin` started (with `f`'s first statement) is committed without waiting:
/// a read-only transaction has nothing to make durable.
fn read_on<R, E: TransactionError>(
    conn: &mut Conn,
    begin: Option<&'static str>,
    f: &mut impl FnMut(&Store<'_>) -> Result<R, E>,
) -> Read<Result<R, E>> {
    let connection = PostgresConnection::new(conn, begin);
    let result = f(&Store::new(&connection));
    if connection.lost_before_answer.get() {
        return Read::LostBeforeAnswer;
    }
    if begin.is_some() && connection.first.get().is_none() {
        connection.client.borrow_mut().send("COMMIT");
    }
    Read::Done(result)
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
            self.db.discard(conn);
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

fn connect(settings: &tls::TlsSettings) -> Result<PgClient, ConnectError> {
    let mut client = settings.connect()?;
    client
        .batch_execute(SESSION_SETTINGS)
        .map_err(ConnectError::Refused)?;
    Ok(client)
}

/// How many waiting writes one transaction may take.
const MAX_BATCH: usize = 256;

/// One of the node's writers: takes every write waiting for it at that moment, applies them in one transaction
/// (each in a savepoint, so one failing undoes only itself) after the advisory locks their scopes need (so that
/// writes of one account apply one after another on every node), and commits once — one commit, and one wait for
/// the locks, per batch instead of per write.
fn writer_loop(
    mut conn: Conn,
    settings: &tls::TlsSettings,
    jobs: std::sync::mpsc::Receiver<(WriteScope, Job)>,
    stats: &super::WriterStats,
) {
    while let Ok(first) = jobs.recv() {
        let mut scopes = vec![first.0];
        let mut batch = vec![first.1];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok((scope, job)) => {
                    scopes.push(scope);
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        stats.record_batch(batch.len());
        let outcome = run_batch(&mut conn, settings, &locks(&scopes), batch);
        for (reply, error) in outcome {
            reply(error);
        }
    }
}

/// The writer a write goes to: a user's writes all to the same one, and an account's.
fn writer_of(scope: &WriteScope) -> usize {
    match scope {
        WriteScope::User { user: id, .. } | WriteScope::Account(id) => {
            lock_key(id) as u32 as usize % WRITERS
        }
        WriteScope::Rows | WriteScope::Everything => 0,
    }
}

/// The advisory locks a batch takes before its first write, as one round trip: the write lock, exclusively if a
/// write may touch any account; or else the write lock shared, then each account's lock (exclusively for a write
/// of the account as a whole, shared for a write of one of its users), then each user's lock. Every batch on every
/// node takes them in the same order (the write lock, accounts by key, users by key), so batches wait for each
/// other but never deadlock.
fn locks(scopes: &[WriteScope]) -> String {
    use std::collections::BTreeMap;
    if scopes.contains(&WriteScope::Everything) {
        return WRITE_LOCK.to_string();
    }
    // Key → whether it is needed exclusively.
    let mut accounts = BTreeMap::<i32, bool>::new();
    let mut users = BTreeMap::<i32, bool>::new();
    for scope in scopes {
        match scope {
            WriteScope::Account(id) => {
                accounts.insert(lock_key(id), true);
            }
            WriteScope::User { account, user } => {
                accounts.entry(lock_key(account)).or_insert(false);
                users.insert(lock_key(user), true);
            }
            WriteScope::Rows | WriteScope::Everything => {}
        }
    }
    let mut sql = WRITE_LOCK_SHARED.to_string();
    for (class, keys) in [("account", accounts), ("user", users)] {
        for (key, exclusive) in keys {
            let function = if exclusive {
                "pg_advisory_xact_lock"
            } else {
                "pg_advisory_xact_lock_shared"
            };
            // Integers formatted here, not text: nothing of the request reaches the SQL.
            sql.push_str(&format!(
                "; SELECT {function}(hashtext(current_schema() || '/{class}'), {key})"
            ));
        }
    }
    sql
}

/// An account's advisory-lock key: FNV-1a, so every node and every version computes the same one (two accounts
/// that share a key only wait for each other).
fn lock_key(account_id: &str) -> i32 {
    super::spread(account_id) as i32
}

/// The writer's connection replaced by a new one.
fn reconnect(conn: &mut Conn, settings: &tls::TlsSettings) -> Result<(), StoreError> {
    let fresh = connect(settings).map_err(|e| {
        StoreError::unavailable(format!("cannot reconnect to PostgreSQL: {}", e.cause()))
    })?;
    *conn = Conn::new(fresh);
    Ok(())
}

/// Every job of a batch that could not start, told why.
fn fail_all(batch: Vec<Job>, error: StoreError) -> Vec<(Reply, Option<StoreError>)> {
    batch
        .into_iter()
        .map(|job| (job(Err(error.clone())).1, Some(error.clone())))
        .collect()
}

/// Runs a batch; every job's reply with the batch's outcome (`None`: committed). A connection found lost when
/// the transaction begins (the server restarted since the last batch) is replaced and the batch begun once more:
/// no job has run yet.
fn run_batch(
    conn: &mut Conn,
    settings: &tls::TlsSettings,
    locks: &str,
    batch: Vec<Job>,
) -> Vec<(Reply, Option<StoreError>)> {
    if conn.client.is_closed()
        && let Err(error) = reconnect(conn, settings)
    {
        return fail_all(batch, error);
    }
    let mut batch = Some(batch);
    let error = match apply_batch(conn, locks, &mut batch) {
        Ok(replies) => return replies,
        Err(error) => error,
    };
    let batch = batch.expect("not begun");
    if !connection_lost(&error, &conn.client) {
        return fail_all(batch, error.into());
    }
    if let Err(error) = reconnect(conn, settings) {
        return fail_all(batch, error);
    }
    let mut batch = Some(batch);
    apply_batch(conn, locks, &mut batch)
        .unwrap_or_else(|error| fail_all(batch.expect("not begun"), error.into()))
}

/// A batch in one transaction: each job in a savepoint, after the `locks`. `Err` if the transaction could not
/// begin (the batch is then still there, untouched).
fn apply_batch(
    conn: &mut Conn,
    locks: &str,
    batch: &mut Option<Vec<Job>>,
) -> Result<Vec<(Reply, Option<StoreError>)>, tokio_postgres::Error> {
    // Each job runs in a savepoint. Round trips are what a batch costs: one begins the transaction, takes the
    // locks and sets the first savepoint, between two jobs one ends a job's savepoint and sets the next one's, and
    // one ends the last job's savepoint and commits.
    // A write sees what was committed before it took the lock (READ COMMITTED: a REPEATABLE READ snapshot would be
    // taken by the lock statement itself, before the wait, and miss what the previous holder wrote).
    let begin = format!("BEGIN ISOLATION LEVEL READ COMMITTED; {locks}; SAVEPOINT job");
    let mut failure = match conn.client.batch_execute(&begin) {
        Ok(()) => None,
        // No job has run: the caller may begin the batch again on a new connection.
        Err(error) if connection_lost(&error, &conn.client) => return Err(error),
        Err(error) => Some(StoreError::from(error)),
    };
    let batch = batch.take().expect("a batch runs once");
    let connection = PostgresConnection::new(conn, None);
    let jobs = batch.len();
    let mut replies = Vec::with_capacity(jobs);
    let mut committed = false;
    for (n, job) in batch.into_iter().enumerate() {
        if let Some(error) = &failure {
            replies.push((job(Err(error.clone())).1, None));
            continue;
        }
        // A store of its own per write: what one write noted (`Store::counted`) must not outlive its savepoint.
        let store = Store::new(&connection);
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&store))));
        let (failed, reply): (bool, Reply) = match run {
            Ok(done) => done,
            // The job's reply sender was dropped with it: its caller sees an internal error.
            Err(_) => (true, Box::new(|_| {})),
        };
        let last = n + 1 == jobs;
        let (release, undo) = if last {
            (
                // If the release fails, the COMMIT after it is not run, and the transaction is still there for
                // the undo below; if the COMMIT fails, so does the undo, and the batch is lost.
                "RELEASE SAVEPOINT job; COMMIT",
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job",
            )
        } else {
            (
                "RELEASE SAVEPOINT job; SAVEPOINT job",
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; SAVEPOINT job",
            )
        };
        let undone = !failed || connection.control("ROLLBACK TO SAVEPOINT job").is_ok();
        if undone && connection.control(release).is_ok() {
            committed = last;
            replies.push((reply, None));
            continue;
        }
        // The job hid a failed statement (PostgreSQL then refuses everything until the savepoint is rolled
        // back): undo it alone and fail it alone; only if that fails too is the batch lost.
        if connection.control(undo).is_ok() {
            replies.push((
                reply,
                Some(StoreError::unavailable("a statement of the write failed")),
            ));
        } else {
            failure = Some(StoreError::unavailable("the write transaction failed"));
            replies.push((reply, None));
        }
    }
    let outcome = match failure {
        Some(error) => {
            let _ = connection.control("ROLLBACK");
            Some(error)
        }
        None if committed => None,
        None => connection.control("COMMIT").err(),
    };
    Ok(replies
        .into_iter()
        .map(|(reply, own)| (reply, outcome.clone().or(own)))
        .collect())
}

/// `host:port/dbname` without credentials, for banners and errors.
fn host_and_port(config: &tokio_postgres::Config) -> (String, u16) {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    (host, config.get_ports().first().copied().unwrap_or(5432))
}

/// What the banner and errors name: where, and how TLS is used when it is not libpq's default.
fn describe(config: &tokio_postgres::Config, mode: tls::TlsMode) -> String {
    let (host, port) = host_and_port(config);
    let tls = match mode {
        tls::TlsMode::Prefer => String::new(),
        mode => format!("?sslmode={}", mode.as_str()),
    };
    format!(
        "postgres://{host}:{port}/{}{tls}",
        config.get_dbname().unwrap_or("")
    )
}

/// Applies pending migrations under a session advisory lock, so nodes starting together migrate once.
fn migrate(client: &mut PgClient) -> anyhow::Result<()> {
    client.batch_execute(MIGRATION_LOCK)?;
    let result = (|| -> anyhow::Result<()> {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS localzoom_schema (version BIGINT NOT NULL); \
             INSERT INTO localzoom_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM localzoom_schema)",
        )?;
        let select = client.prepare("SELECT version FROM localzoom_schema")?;
        let version: i64 = match client.query(None, &select, &[])?.first() {
            Some(row) => row.try_get(0)?,
            None => anyhow::bail!("localzoom_schema has no version row"),
        };
        let migrations = super::migrations(Dialect::Postgres, MIGRATIONS);
        let known = migrations.len() as i64;
        if version > known {
            anyhow::bail!(
                "database schema version {version} is newer than this localzoom understands ({known}); upgrade localzoom"
            );
        }
        for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
            // A migration and the version it leaves, in one transaction: all of it or none.
            let applied = client.batch_execute(&format!(
                "BEGIN; {sql}; UPDATE localzoom_schema SET version = {}; COMMIT",
                i + 1
            ));
            if let Err(error) = applied {
                let _ = client.batch_execute("ROLLBACK");
                return Err(error.into());
            }
        }
        Ok(())
    })();
    client.batch_execute(MIGRATION_UNLOCK)?;
    result
}

/// One PostgreSQL transaction (or lookup), as the store's queries use it.
struct PostgresConnection<'c> {
    client: RefCell<&'c mut PgClient>,
    statements: RefCell<&'c mut Statements>,
    /// Sent with the next statement, and taken by it (a read's BEGIN); `None` once sent.
    first: Cell<Option<&'static str>>,
    /// Whether the database has answered a statement yet.
    answered: Cell<bool>,
    /// The connection was found lost before any answer: nothing `f` saw came from the database.
    lost_before_answer: Cell<bool>,
}

impl<'c> PostgresConnection<'c> {
    fn new(conn: &'c mut Conn, first: Option<&'static str>) -> PostgresConnection<'c> {
        let Conn { client, statements } = conn;
        PostgresConnection {
            client: RefCell::new(client),
            statements: RefCell::new(statements),
            first: Cell::new(first),
            answered: Cell::new(false),
            lost_before_answer: Cell::new(false),
        }
    }

    /// `call` on the client, with what is to go first; notes whether it was answered, or the connection lost.
    fn run<T>(
        &self,
        call: impl FnOnce(&mut PgClient, Option<&'static str>) -> Result<T, tokio_postgres::Error>,
    ) -> StoreResult<T> {
        let mut client = self.client.borrow_mut();
        let done = call(&mut client, self.first.take()).map_err(|e| self.failed(&client, e))?;
        self.answered.set(true);
        Ok(done)
    }

    /// `error`, noted as the connection lost before any answer if it was.
    fn failed(&self, client: &PgClient, error: tokio_postgres::Error) -> StoreError {
        if !self.answered.get() && connection_lost(&error, client) {
            self.lost_before_answer.set(true);
        }
        error.into()
    }
}

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            // The column decides the width; every integer localzoom stores is a BIGINT, `SELECT 1` an INTEGER.
            Param::Int(n) if *ty == Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
            Param::Int(n) => n.to_sql(ty, out),
            Param::Bool(b) => b.to_sql(ty, out),
            Param::Text(text) => text.to_sql(ty, out),
            Param::Blob(bytes) => bytes.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

struct PostgresRow<'r>(&'r tokio_postgres::Row);

impl RawRow for PostgresRow<'_> {
    fn column_count(&self) -> usize {
        self.0.columns().len()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.0.columns().get(index).map(|c| c.name())
    }

    fn value(&self, index: usize) -> StoreResult<Value<'_>> {
        let row = self.0;
        let ty = row.columns()[index].type_();
        let value = match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|n| Value::Int(n.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map(Value::Bool),
            Type::TEXT | Type::VARCHAR => row.try_get::<_, Option<&str>>(index)?.map(Value::Text),
            Type::BYTEA => row.try_get::<_, Option<&[u8]>>(index)?.map(Value::Blob),
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "column {:?} has the type {ty}, which localzoom does not store",
                    row.columns()[index].name()
                )));
            }
        };
        Ok(value.unwrap_or(Value::Null))
    }
}

impl PostgresConnection<'_> {
    /// The statement for `sql`, prepared on this connection the first time it is needed (the code has a few dozen
    /// distinct queries, so the cache stays small).
    fn statement(&self, sql: &str) -> StoreResult<tokio_postgres::Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let mut client = self.client.borrow_mut();
        let statement = client.prepare(sql).map_err(|e| self.failed(&client, e))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Statements that cannot be prepared (savepoints), sent as they are.
    fn control(&self, sql: &str) -> StoreResult<()> {
        self.run(|client, first| match first {
            Some(first) => client.batch_execute(&format!("{first}; {sql}")),
            None => client.batch_execute(sql),
        })
    }
}

fn bound<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl sql::Connection for PostgresConnection<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<u64> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        let statement = self.statement(sql)?;
        self.run(|client, first| client.execute(first, &statement, &bound(params)))
    }

    fn query(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        let statement = self.statement(sql)?;
        let rows = self.run(|client, first| client.query(first, &statement, &bound(params)))?;
        let next = std::cell::Cell::new(0);
        for row in &rows {
            each(&Row::new(&PostgresRow(row), &next))?;
        }
        Ok(())
    }
}
