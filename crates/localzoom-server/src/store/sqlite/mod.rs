//! SQLite backend: WAL, one writer thread that commits every write waiting at that moment in one transaction
//! (group commit: one fsync per batch, durability per request), and a pool of reader connections.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::sql::{self, Dialect, EachRow, Param, RawRow, Row, StoreFuture, Value};
use super::{Job, Reply, Store, StoreError, StoreResult, TransactionError};

/// This backend's own history; later migrations are `super::MIGRATIONS`.
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
    readers: Readers,
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
        let conn = Arc::new(SqliteConnection::writer(Pooled::new(conn)));
        let writer_stats = std::sync::Arc::new(super::WriterStats::default());
        let stats = writer_stats.clone();
        std::thread::Builder::new()
            .name("localzoom-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &stats))?;
        Ok(SqliteDatabase {
            path,
            readers: Arc::new(Mutex::new(vec![Pooled::new(reader)])),
            writer: tx,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read-only transaction on a pooled connection (a new one if none is free), ended and pooled again when
    /// the store is dropped. SQLite answers at once, so a read needs no other thread.
    pub fn read(&self) -> StoreResult<Store> {
        let pooled = self.readers.lock().map_err(StoreError::unavailable)?.pop();
        let pooled = match pooled {
            Some(pooled) => pooled,
            None => {
                Pooled::new(open_connection(&self.path, false).map_err(StoreError::unavailable)?)
            }
        };
        // A deferred transaction gives every statement of the read the same snapshot.
        pooled.run("BEGIN DEFERRED")?;
        Ok(Store::new(Arc::new(SqliteConnection {
            pooled: Mutex::new(Some(pooled)),
            readers: Some(self.readers.clone()),
        })))
    }

    pub async fn write<R: Send + 'static, E: TransactionError>(
        &self,
        f: impl super::WriteJob<R, E>,
    ) -> Result<R, E> {
        super::submit(|job| self.writer.send(job).is_ok(), f).await
    }
}

/// The reader connections not in use.
type Readers = Arc<Mutex<Vec<Pooled>>>;

/// A connection and the column names of the statements it ran.
struct Pooled {
    conn: Connection,
    names: ColumnNames,
}

impl Pooled {
    fn new(conn: Connection) -> Pooled {
        Pooled {
            conn,
            names: ColumnNames::default(),
        }
    }

    /// Runs a statement without parameters through the statement cache (those run around every read and write;
    /// parsing them each time showed in profiles).
    fn run(&self, sql: &str) -> StoreResult<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<u64> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        let mut statement = self.conn.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&self, sql: &'static str, params: &[Param<'_>], each: EachRow<'_>) -> StoreResult<()> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        let mut statement = self.conn.prepare_cached(sql)?;
        let names = self.names.of(sql, &statement);
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let next = Cell::new(0);
        while let Some(row) = rows.next()? {
            each(&Row::new(&SqliteRow { row, names: &names }, &next))?;
        }
        Ok(())
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
    conn.set_prepared_statement_cache_capacity(128);
    // Plans that do not depend on bound values. Without this SQLite marks a statement whose plan looked at a
    // parameter (a `LIMIT $n`, as every page of users has) expired at each binding and prepares it again on every
    // run: a quarter of a `GET /v2/users` page's instructions (callgrind).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    let migrations = super::migrations(Dialect::Sqlite, MIGRATIONS);
    if version > migrations.len() {
        anyhow::bail!(
            "database schema version {version} is newer than this localzoom understands ({}); upgrade localzoom",
            migrations.len()
        );
    }
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

// Never inlined, so that a profile can count the writer's work apart (callgrind's `--toggle-collect=*writer_loop*`).
#[inline(never)]
fn writer_loop(conn: Arc<SqliteConnection>, jobs: mpsc::Receiver<Job>, stats: &super::WriterStats) {
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
        let mut failure = conn.with(|pooled| pooled.run("BEGIN IMMEDIATE")).err();
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            if let Some(error) = &failure {
                replies.push(block_on(super::run_job(job, Err(error.clone()))).1);
                continue;
            }
            let (reply, intact) = run_in_savepoint(&conn, job);
            replies.push(reply);
            // Some errors (I/O, disk full, out of memory) roll back the whole transaction, not just the job.
            if !intact || conn.is_autocommit() {
                failure = Some(StoreError::unavailable(
                    "the write transaction was rolled back",
                ));
            }
        }
        let outcome = failure.or_else(|| conn.with(|pooled| pooled.run("COMMIT")).err());
        if outcome.is_some() && !conn.is_autocommit() {
            let _ = conn.with(|pooled| pooled.run("ROLLBACK"));
        }
        for reply in replies {
            reply(outcome.clone());
        }
    }
}

/// Runs one job so that its failure (an error or a panic) undoes only its own writes. Returns its reply and
/// whether the transaction is still sound (its undo worked).
fn run_in_savepoint(conn: &Arc<SqliteConnection>, job: Job) -> (Reply, bool) {
    let run = |sql: &str| conn.with(|pooled| pooled.run(sql)).is_ok();
    if !run("SAVEPOINT job") {
        let refused = Err(StoreError::unavailable("cannot open a savepoint"));
        return (block_on(super::run_job(job, refused)).1, false);
    }
    // A store of its own per write: what one write noted (`Store::users`) must not outlive its savepoint.
    let (failed, reply) = block_on(super::run_job(job, Ok(Store::new(conn.clone()))));
    let undone = !failed || run("ROLLBACK TO job");
    let released = run("RELEASE job");
    (reply, undone && released)
}

/// Runs `future` to its end on this thread. The writer's jobs wait only for SQLite, whose answers are ready when
/// asked for, so this does not park in practice; if a job ever waits for something else, the thread sleeps until
/// it is woken. There is no tokio runtime here: a job must not wait for tokio's timers or I/O, nor for another
/// write (which this very thread would have to run).
fn block_on<T>(future: impl Future<Output = T>) -> T {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::park();
    }
}

/// One SQLite connection as the store's queries use it: a read's, inside its transaction (ended, and the
/// connection pooled again, when the read's last store is dropped), or the writer's.
struct SqliteConnection {
    /// Behind a lock because a store may be shared by the tasks of one request (`Sync`); the statements of one
    /// transaction run one at a time, so it is not contended. `None` once a read ended.
    pooled: Mutex<Option<Pooled>>,
    /// Where a read's connection goes back to; `None` for the writer's.
    readers: Option<Readers>,
}

impl SqliteConnection {
    fn writer(pooled: Pooled) -> SqliteConnection {
        SqliteConnection {
            pooled: Mutex::new(Some(pooled)),
            readers: None,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Pooled) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self
            .pooled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match pooled.as_ref() {
            Some(pooled) => f(pooled),
            None => Err(StoreError::unavailable("the read has ended")),
        }
    }

    fn is_autocommit(&self) -> bool {
        self.with(|pooled| Ok(pooled.conn.is_autocommit()))
            .unwrap_or(true)
    }
}

impl Drop for SqliteConnection {
    /// A read ends: its transaction is committed and its connection pooled again, unless the transaction did not
    /// end cleanly (the connection is then dropped).
    fn drop(&mut self) {
        let Some(readers) = &self.readers else { return };
        let pooled = self
            .pooled
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pooled) = pooled.take()
            && pooled.run("COMMIT").is_ok()
            && let Ok(mut readers) = readers.lock()
        {
            readers.push(pooled);
        }
    }
}

/// The column names of the statements run on one connection, keyed by the statement's address (statements are
/// `'static`). Asking SQLite for a name takes its mutex and a UTF-8 check each time, which showed in the
/// instructions per request; a statement's columns do not change while the server runs.
#[derive(Default)]
struct ColumnNames(RefCell<HashMap<(usize, usize), Names>>);

/// One statement's column names, in order.
type Names = Arc<[Box<str>]>;

impl ColumnNames {
    fn of(&self, sql: &'static str, statement: &rusqlite::Statement<'_>) -> Names {
        self.0
            .borrow_mut()
            .entry((sql.as_ptr() as usize, sql.len()))
            .or_insert_with(|| {
                statement
                    .column_names()
                    .into_iter()
                    .map(Box::from)
                    .collect()
            })
            .clone()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            // "UNIQUE constraint failed: users.email_lower" (one writer: only a bug or a hand edit gets here).
            rusqlite::Error::SqliteFailure(e, Some(message))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                StoreError::Duplicate(message.clone())
            }
            _ => StoreError::unavailable(error),
        }
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(n) => ValueRef::Integer(n),
            Param::Bool(b) => ValueRef::Integer(b.into()),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

struct SqliteRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: &'r [Box<str>],
}

impl RawRow for SqliteRow<'_, '_> {
    fn column_count(&self) -> usize {
        self.names.len()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(|name| &**name)
    }

    fn value(&self, index: usize) -> StoreResult<Value<'_>> {
        Ok(match self.row.get_ref(index)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Int(n),
            ValueRef::Text(bytes) => Value::Text(
                std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            ValueRef::Blob(bytes) => Value::Blob(bytes),
            ValueRef::Real(x) => {
                return Err(StoreError::Corrupt(format!(
                    "a real number {x} where localzoom stores none"
                )));
            }
        })
    }
}

impl sql::Connection for SqliteConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute<'a>(&'a self, sql: &'static str, params: &'a [Param<'a>]) -> StoreFuture<'a, u64> {
        Box::pin(std::future::ready(
            self.with(|pooled| pooled.execute(sql, params)),
        ))
    }

    fn query<'a>(
        &'a self,
        sql: &'static str,
        params: &'a [Param<'a>],
        each: EachRow<'a>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(
            self.with(|pooled| pooled.query(sql, params, each)),
        ))
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;

    /// A sign-in that ended before ending one revoked its tokens leaves none working after the upgrade.
    #[test]
    fn the_upgrade_revokes_the_tokens_of_sessions_already_ended() {
        with_scratch_database("migration", |path| {
            {
                let conn = Connection::open(path).unwrap();
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
            drop(SqliteDatabase::open(path).unwrap());
            let conn = Connection::open(path).unwrap();
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
        });
    }
}

/// `test` on the path of a database file not yet made, in a directory of its own that is removed after it.
#[cfg(test)]
fn with_scratch_database(name: &str, test: impl FnOnce(&Path)) {
    let dir = std::env::temp_dir().join(format!("localzoom-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    test(&dir.join("test.db"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// `check` on a connection as the server opens them, to a migrated database of its own.
    fn with_fresh_connection(name: &str, check: impl FnOnce(&Connection)) {
        with_scratch_database(&format!("plan-{name}"), |path| {
            drop(SqliteDatabase::open(path).unwrap());
            check(&open_connection(path, false).unwrap());
        });
    }

    /// A page of users binds its `LIMIT`: run again with other values, the statement is not prepared again.
    #[test]
    fn a_statement_whose_limit_is_bound_is_not_prepared_again_for_each_run() {
        with_fresh_connection("limit", |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT seq FROM users WHERE account_id = $1 AND status = $2 AND seq > $3 \
                     ORDER BY seq LIMIT $4",
                )
                .unwrap();
            for limit in [30, 31, 300] {
                statement
                    .query_map(rusqlite::params!["a", "active", 0, limit], |_| Ok(()))
                    .unwrap()
                    .for_each(drop);
            }
            assert_eq!(
                statement.get_status(rusqlite::StatementStatus::RePrepare),
                0
            );
        });
    }

    /// Plans that ignore bound values still use the partial index of session tokens for a sign-out.
    #[test]
    fn a_sign_out_still_finds_its_tokens_through_the_partial_index() {
        with_fresh_connection("partial", |conn| {
            let plan: Vec<String> = conn
                .prepare(
                    "EXPLAIN QUERY PLAN \
                     UPDATE access_tokens SET revoked = TRUE WHERE session_id = $1 AND revoked = FALSE",
                )
                .unwrap()
                .query_map(["s"], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.contains("access_tokens_session")),
                "{plan:?}"
            );
        });
    }
}
