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
//! Each node has `WRITERS` writer tasks; an account's writes always go to the same one, which commits every write
//! waiting for it at that moment in one transaction (group commit: one commit and one wait for the locks per
//! batch, durability per request).
//!
//! Asynchronous all the way: every connection is driven by a task of the server's runtime (`client.rs`), reads run
//! on the request's own task and writers are tasks, so a request waiting for the database holds no thread. A
//! read's BEGIN travels with its first query and its COMMIT is not waited for, so a read of N statements costs N
//! round trips. TLS: `tls.rs`.

mod client;
mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{IsNull, ToSql, Type};

use client::PgClient;

use super::sql::{self, Dialect, EachRow, Param, RawRow, Row, StoreFuture, Value};
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
pub(super) const READ_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

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

pub struct PostgresDatabase {
    settings: Arc<tls::TlsSettings>,
    description: String,
    /// Read connections not in use.
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection a read may hold: waiting for one waits for a read to end.
    slots: Arc<Semaphore>,
    /// A write of an account always goes to the same writer (`writer_of`), so a node serialises an account's
    /// writes without waiting on the database's lock, and batches them.
    writers: Vec<Writer>,
    pub(crate) health: super::StorageHealth,
    pub(crate) writer_stats: std::sync::Arc<super::WriterStats>,
}

/// A connection and the statements prepared on it: parsing and planning each query once per connection rather
/// than once per call is most of what a read costs otherwise.
struct Conn {
    client: PgClient,
    statements: Mutex<Statements>,
}

type Statements = std::collections::HashMap<&'static str, tokio_postgres::Statement>;

impl Conn {
    fn new(client: PgClient) -> Conn {
        Conn {
            client,
            statements: Mutex::new(Statements::new()),
        }
    }

    /// The statement for `sql`, prepared on this connection the first time it is needed (the code has a few dozen
    /// distinct queries, so the cache stays small). `first` (what must precede the statement: a read's BEGIN, a
    /// write's savepoint) goes ahead of a prepare, so that a prepare that fails fails inside it; what is returned
    /// with the statement is what of `first` is still to be sent.
    async fn statement(
        &self,
        first: Option<&'static str>,
        sql: &'static str,
    ) -> Result<(tokio_postgres::Statement, Option<&'static str>), tokio_postgres::Error> {
        if let Some(statement) = lock(&self.statements).get(sql) {
            return Ok((statement.clone(), first));
        }
        let statement = self.client.prepare(first, sql).await?;
        lock(&self.statements).insert(sql, statement.clone());
        Ok((statement, None))
    }
}

/// `mutex`'s value. Nothing here panics while holding one of these locks, and none is held across an await.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PostgresDatabase {
    pub async fn open(url: &str, pool_size: usize) -> anyhow::Result<PostgresDatabase> {
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
        let client = connect(&settings).await.map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) {
                let name = config.get_dbname().unwrap_or("");
                let user = config.get_user().unwrap_or("postgres");
                let (host, port) = host_and_port(config);
                anyhow::anyhow!(
                    "database {name:?} does not exist on PostgreSQL at {host}:{port}; create it with \
                     `createdb -h {host} -p {port} -U {user} {name}` (or `psql -h {host} -p {port} -U {user} -c \
                     'CREATE DATABASE \"{name}\"'`)"
                )
            } else {
                anyhow::anyhow!("cannot connect to PostgreSQL at {description}: {}", cause(&e))
            }
        })?;
        migrate(&client)
            .await
            .map_err(|e| anyhow::anyhow!("{description}: {e}"))?;
        drop(client);
        let settings = Arc::new(settings);
        let writer_stats = std::sync::Arc::new(super::WriterStats::default());
        let writers = start_writers(settings.clone(), writer_stats.clone())
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot start PostgreSQL's writers for {description}: {e}")
            })?;
        Ok(PostgresDatabase {
            settings,
            description,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(pool_size.max(1))),
            writers,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    /// A connection from the pool, or a new one while the pool is below its size; else waits for a read to end.
    async fn take(self: &Arc<Self>) -> StoreResult<(Lease, Conn)> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(StoreError::unavailable)?;
        loop {
            let pooled = lock(&self.idle).pop();
            match pooled {
                // A connection the server ended while it was idle (a restart) is dropped here, not used.
                Some(conn) if conn.client.is_closed() => continue,
                Some(conn) => return Ok((Lease::new(self, slot), conn)),
                None => break,
            }
        }
        let conn = self.open_connection().await?;
        Ok((Lease::new(self, slot), conn))
    }

    async fn open_connection(&self) -> StoreResult<Conn> {
        connect(&self.settings).await.map(Conn::new).map_err(|e| {
            StoreError::unavailable(format!("cannot connect to PostgreSQL: {}", cause(&e)))
        })
    }

    /// Drops every idle connection (they were opened to a server that has gone away, as the one found lost);
    /// new ones are made as reads need them.
    fn forget_idle(&self) {
        drop(std::mem::take(&mut *lock(&self.idle)));
    }

    /// A read on a pooled connection, in a transaction that `begin` starts (sent with its first statement), or
    /// else each statement on its own.
    pub async fn read(self: &Arc<Self>, begin: Option<&'static str>) -> StoreResult<Store> {
        let (lease, conn) = self.take().await?;
        Ok(Store::new(Arc::new(PostgresConnection::read(
            lease, conn, begin,
        ))))
    }

    pub async fn write<R: Send + 'static, E: TransactionError>(
        &self,
        scope: WriteScope,
        f: impl super::WriteJob<R, E>,
    ) -> Result<R, E> {
        let writer = &self.writers[writer_of(&scope)];
        super::submit(|job| writer.send((scope, job)).is_ok(), f).await
    }
}

async fn connect(settings: &tls::TlsSettings) -> Result<PgClient, tokio_postgres::Error> {
    let client = settings.connect().await?;
    client.batch_execute(SESSION_SETTINGS).await?;
    Ok(client)
}

/// How many waiting writes one transaction may take.
const MAX_BATCH: usize = 256;

/// A writer's queue.
type Writer = tokio::sync::mpsc::UnboundedSender<(WriteScope, Job)>;

/// Starts the `WRITERS` writers, each with a connection, on a thread and runtime of its own (ended when its queue is
/// dropped, with the database). A write's batch waits for 5 to 8 round trips, each a wake-up of its writer and of
/// its connection's task: on the server's runtime every one of them queued behind the requests waiting there, and
/// writes of one account (one writer) went slower than on threads of their own; and a writer busy with a long
/// job (a fixture's load) holds up only its own queue.
async fn start_writers(
    settings: Arc<tls::TlsSettings>,
    stats: Arc<super::WriterStats>,
) -> Result<Vec<Writer>, String> {
    let mut writers = Vec::with_capacity(WRITERS);
    for n in 0..WRITERS {
        writers.push(start_writer(n, settings.clone(), stats.clone()).await?);
    }
    Ok(writers)
}

async fn start_writer(
    n: usize,
    settings: Arc<tls::TlsSettings>,
    stats: Arc<super::WriterStats>,
) -> Result<Writer, String> {
    let (started, writer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("localzoom-postgres-writer-{n}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = started.send(Err(error.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let conn = match connect(&settings).await {
                    Ok(client) => Arc::new(Conn::new(client)),
                    Err(error) => {
                        let _ = started.send(Err(cause(&error)));
                        return;
                    }
                };
                let (queue, jobs) = tokio::sync::mpsc::unbounded_channel();
                let _ = started.send(Ok(queue));
                writer_loop(conn, settings, jobs, stats).await;
            })
        })
        .map_err(|e| e.to_string())?;
    writer
        .await
        .map_err(|_| "the writer's thread ended".to_string())?
}

/// One of the node's writers: takes every write waiting for it at that moment, applies them in one transaction
/// (each in a savepoint, so one failing undoes only itself) after the advisory locks their scopes need (so that
/// writes of one account apply one after another on every node), and commits once — one commit, and one wait for
/// the locks, per batch instead of per write.
async fn writer_loop(
    mut conn: Arc<Conn>,
    settings: Arc<tls::TlsSettings>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<(WriteScope, Job)>,
    stats: Arc<super::WriterStats>,
) {
    while let Some(first) = jobs.recv().await {
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
        let outcome = run_batch(&mut conn, &settings, &locks(&scopes), batch).await;
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
async fn reconnect(conn: &mut Arc<Conn>, settings: &tls::TlsSettings) -> Result<(), StoreError> {
    let fresh = connect(settings).await.map_err(|e| {
        StoreError::unavailable(format!("cannot reconnect to PostgreSQL: {}", cause(&e)))
    })?;
    *conn = Arc::new(Conn::new(fresh));
    Ok(())
}

/// Every job of a batch that could not start, told why.
async fn fail_all(batch: Vec<Job>, error: StoreError) -> Vec<(Reply, Option<StoreError>)> {
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        replies.push((
            super::run_job(job, Err(error.clone())).await.1,
            Some(error.clone()),
        ));
    }
    replies
}

/// Runs a batch; every job's reply with the batch's outcome (`None`: committed). A connection found lost when
/// the transaction begins (the server restarted since the last batch) is replaced and the batch begun once more:
/// no job has run yet.
async fn run_batch(
    conn: &mut Arc<Conn>,
    settings: &tls::TlsSettings,
    locks: &str,
    batch: Vec<Job>,
) -> Vec<(Reply, Option<StoreError>)> {
    if conn.client.is_closed()
        && let Err(error) = reconnect(conn, settings).await
    {
        return fail_all(batch, error).await;
    }
    let batch = match apply_batch(conn, locks, batch).await {
        Ok(replies) => return replies,
        Err((batch, error)) if connection_lost(&error, &conn.client) => batch,
        Err((batch, error)) => return fail_all(batch, error.into()).await,
    };
    if let Err(error) = reconnect(conn, settings).await {
        return fail_all(batch, error).await;
    }
    match apply_batch(conn, locks, batch).await {
        Ok(replies) => replies,
        Err((batch, error)) => fail_all(batch, error.into()).await,
    }
}

/// Ends a job's savepoint and sets the next job's: sent with the next job's first statement.
const NEXT_SAVEPOINT: &str = "RELEASE SAVEPOINT job; SAVEPOINT job";
/// Undoes a job's writes and sets the next job's savepoint.
const UNDO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; SAVEPOINT job";

/// A batch in one transaction: each job in a savepoint, after the `locks`. `Err` (with the batch, untouched) if
/// the connection was found lost as the transaction began.
async fn apply_batch(
    conn: &Arc<Conn>,
    locks: &str,
    batch: Vec<Job>,
) -> Result<Vec<(Reply, Option<StoreError>)>, (Vec<Job>, tokio_postgres::Error)> {
    // Each job runs in a savepoint. Round trips are what a batch costs: one begins the transaction, takes the
    // locks and sets the first savepoint; a job's savepoint is ended, and the next one's set, with the next job's
    // first statement; one ends the last savepoint and commits.
    // A write sees what was committed before it took the lock (READ COMMITTED: a REPEATABLE READ snapshot would be
    // taken by the lock statement itself, before the wait, and miss what the previous holder wrote).
    let begin = format!("BEGIN ISOLATION LEVEL READ COMMITTED; {locks}; SAVEPOINT job");
    let control = |sql: &'static str| async move { conn.client.batch_execute(sql).await };
    let mut failure = match conn.client.batch_execute(&begin).await {
        Ok(()) => None,
        // No job has run: the caller may begin the batch again on a new connection.
        Err(error) if connection_lost(&error, &conn.client) => return Err((batch, error)),
        Err(error) => Some(StoreError::from(error)),
    };
    let mut replies = Vec::with_capacity(batch.len());
    // What the next job's first statement takes with it: the end of the last job that wrote, and its own savepoint.
    let mut pending = None;
    for job in batch {
        if let Some(error) = &failure {
            replies.push((super::run_job(job, Err(error.clone())).await.1, None));
            continue;
        }
        // A store of its own per write: what one write noted (`Store::users`) must not outlive its savepoint.
        let own = Arc::new(PostgresConnection::writer(conn.clone(), pending));
        let (failed, reply) = super::run_job(job, Ok(Store::new(own.clone()))).await;
        if pending.is_some() && !own.begun.load(Ordering::Relaxed) {
            // The job sent nothing: it has nothing to undo, and the last savepoint is still to be ended.
            replies.push((reply, None));
            continue;
        }
        pending = None;
        if !failed && !own.errored.load(Ordering::Relaxed) {
            // Ended with the next job's first statement.
            pending = Some(NEXT_SAVEPOINT);
            replies.push((reply, None));
            continue;
        }
        // A job that hid a failed statement (PostgreSQL then refuses everything until the savepoint is rolled back)
        // is ended on its own, so that a refusal is its own, not the next job's. A failed job, or one refused so,
        // is undone alone.
        let undo = failed || control(NEXT_SAVEPOINT).await.is_err();
        if !undo {
            replies.push((reply, None));
        } else if control(UNDO_SAVEPOINT).await.is_ok() {
            // A failed job reports its own error; one refused its release did not know it failed.
            let refusal =
                (!failed).then(|| StoreError::unavailable("a statement of the write failed"));
            replies.push((reply, refusal));
        } else {
            // Only if the undo fails too is the batch lost.
            failure = Some(StoreError::unavailable("the write transaction failed"));
            replies.push((reply, None));
        }
    }
    // If the release fails, the COMMIT after it is not run (a COMMIT of a failed transaction rolls it back without
    // an error); if the COMMIT fails, the batch is lost.
    let outcome = match failure {
        Some(error) => {
            let _ = control("ROLLBACK").await;
            Some(error)
        }
        None => match control("RELEASE SAVEPOINT job; COMMIT").await {
            Ok(()) => None,
            Err(error) => {
                // A refused release leaves the transaction open: ended here, not by the next batch's BEGIN.
                let _ = control("ROLLBACK").await;
                Some(error.into())
            }
        },
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
async fn migrate(client: &PgClient) -> anyhow::Result<()> {
    client.batch_execute(MIGRATION_LOCK).await?;
    let result = migrate_locked(client).await;
    client.batch_execute(MIGRATION_UNLOCK).await?;
    result
}

async fn migrate_locked(client: &PgClient) -> anyhow::Result<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS localzoom_schema (version BIGINT NOT NULL); \
             INSERT INTO localzoom_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM localzoom_schema)",
        )
        .await?;
    let select = client
        .prepare(None, "SELECT version FROM localzoom_schema")
        .await?;
    let version: i64 = match client.query(None, &select, &[]).await?.first() {
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
        let applied = client
            .batch_execute(&format!(
                "BEGIN; {sql}; UPDATE localzoom_schema SET version = {}; COMMIT",
                i + 1
            ))
            .await;
        if let Err(error) = applied {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(error.into());
        }
    }
    Ok(())
}

/// One PostgreSQL transaction (or lookup), as the store's queries use it: a read's, on a pooled connection it
/// gives back when dropped, or one write's of a writer's batch.
struct PostgresConnection {
    /// Where statements go. Shared with the calls in flight; a read's is replaced if found lost before its first
    /// answer.
    conn: Mutex<Option<Arc<Conn>>>,
    /// A read's: the pool it came from and its slot in it. `None` for a write's (the writer keeps its connection).
    lease: Option<Lease>,
    /// What goes with the first statement: a read's BEGIN, or the end of the last write's savepoint and the
    /// start of this write's.
    begin: Option<&'static str>,
    /// Whether `begin` has been sent (a read's transaction is open, to be committed when the read ends; a write's
    /// savepoint is set).
    begun: AtomicBool,
    /// Whether a statement failed (a write that then succeeded hid it).
    errored: AtomicBool,
    /// Whether the database has answered a statement yet.
    answered: AtomicBool,
    /// Whether a statement is on its way: a read dropped meanwhile (its request cancelled) leaves the connection
    /// busy with it, so the connection is not pooled again.
    in_flight: AtomicBool,
}

/// A read's place in the pool.
struct Lease {
    db: Arc<PostgresDatabase>,
    _slot: OwnedSemaphorePermit,
}

impl Lease {
    fn new(db: &Arc<PostgresDatabase>, slot: OwnedSemaphorePermit) -> Lease {
        Lease {
            db: db.clone(),
            _slot: slot,
        }
    }
}

impl PostgresConnection {
    /// A read's, on a pooled connection: `begin` goes with its first statement.
    fn read(lease: Lease, conn: Conn, begin: Option<&'static str>) -> PostgresConnection {
        PostgresConnection::new(Arc::new(conn), Some(lease), begin)
    }

    /// A write's, on its writer's connection: `begin` goes with its first statement.
    fn writer(conn: Arc<Conn>, begin: Option<&'static str>) -> PostgresConnection {
        PostgresConnection::new(conn, None, begin)
    }

    fn new(
        conn: Arc<Conn>,
        lease: Option<Lease>,
        begin: Option<&'static str>,
    ) -> PostgresConnection {
        PostgresConnection {
            conn: Mutex::new(Some(conn)),
            lease,
            begin,
            begun: AtomicBool::new(false),
            errored: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            in_flight: AtomicBool::new(false),
        }
    }

    /// What goes with the statement about to be sent: `begin`, the first time.
    fn first(&self) -> Option<&'static str> {
        match self.begin {
            Some(begin) if !self.begun.swap(true, Ordering::Relaxed) => Some(begin),
            _ => None,
        }
    }

    /// `call` on the connection (which takes `first()` as it sends its statement). A read whose connection is
    /// found lost before any answer (the server restarted, or dropped it unnoticed) has seen nothing from the
    /// database: it gets a new connection, and `call` runs once more there (with the BEGIN). The idle connections
    /// go too, as stale.
    async fn run<T, F, Fut>(&self, mut call: F) -> StoreResult<T>
    where
        F: FnMut(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut renewed = false;
        loop {
            let Some(conn) = lock(&self.conn).clone() else {
                return Err(StoreError::unavailable("the read has ended"));
            };
            self.in_flight.store(true, Ordering::Relaxed);
            let outcome = call(conn.clone()).await;
            self.in_flight.store(false, Ordering::Relaxed);
            let error = match outcome {
                Ok(done) => {
                    self.answered.store(true, Ordering::Relaxed);
                    return Ok(done);
                }
                Err(error) => error,
            };
            self.errored.store(true, Ordering::Relaxed);
            let lost_first =
                !self.answered.load(Ordering::Relaxed) && connection_lost(&error, &conn.client);
            match &self.lease {
                Some(lease) if lost_first && !renewed => {
                    renewed = true;
                    lease.db.forget_idle();
                    let fresh = lease.db.open_connection().await?;
                    *lock(&self.conn) = Some(Arc::new(fresh));
                    // The lost connection's transaction went with it.
                    self.begun.store(false, Ordering::Relaxed);
                }
                _ => return Err(error.into()),
            }
        }
    }
}

impl Drop for PostgresConnection {
    /// A read ends: its COMMIT is sent (not waited for) and its connection goes back to the pool, before its slot
    /// frees up. A connection that ended, whose read panicked, or that is still busy with a statement of a read
    /// cancelled meanwhile, is dropped instead (closing it ends the statement's transaction on the server).
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let conn = self
            .conn
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(conn) = conn.take() else {
            return;
        };
        if std::thread::panicking() || conn.client.is_closed() || *self.in_flight.get_mut() {
            return;
        }
        if *self.begun.get_mut() {
            conn.client.send("COMMIT");
        }
        if let Ok(conn) = Arc::try_unwrap(conn) {
            lock(&lease.db.idle).push(conn);
        }
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

fn bound<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl sql::Connection for PostgresConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute<'a>(&'a self, sql: &'static str, params: &'a [Param<'a>]) -> StoreFuture<'a, u64> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        Box::pin(self.run(move |conn| async move {
            let (statement, first) = conn.statement(self.first(), sql).await?;
            conn.client.execute(first, &statement, &bound(params)).await
        }))
    }

    fn query<'a>(
        &'a self,
        sql: &'static str,
        params: &'a [Param<'a>],
        each: EachRow<'a>,
    ) -> StoreFuture<'a, ()> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        Box::pin(async move {
            let rows = self
                .run(move |conn| async move {
                    let (statement, first) = conn.statement(self.first(), sql).await?;
                    conn.client.query(first, &statement, &bound(params)).await
                })
                .await?;
            let next = std::cell::Cell::new(0);
            for row in &rows {
                each(&Row::new(&PostgresRow(row), &next))?;
            }
            Ok(())
        })
    }
}
