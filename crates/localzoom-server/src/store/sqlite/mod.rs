//! SQLite backend: WAL, one writer thread that commits every write waiting at that moment in one transaction
//! (group commit: one fsync per batch, durability per request), and a pool of reader connections.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::sql::{self, Dialect, Param, RawRow, Row, Value};
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
    readers: Mutex<Vec<(Connection, ColumnNames)>>,
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
            readers: Mutex::new(vec![(reader, ColumnNames::default())]),
            writer: tx,
            health: super::StorageHealth::default(),
            writer_stats,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read<R, E: TransactionError>(
        &self,
        f: impl FnOnce(&Store<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let pooled = self.readers.lock().map_err(StoreError::unavailable)?.pop();
        let (conn, names) = match pooled {
            Some(pooled) => pooled,
            None => (
                open_connection(&self.path, false).map_err(StoreError::unavailable)?,
                ColumnNames::default(),
            ),
        };
        // A deferred transaction gives every statement in `f` the same snapshot.
        conn.prepare_cached("BEGIN DEFERRED")
            .and_then(|mut s| s.execute([]))
            .map_err(StoreError::from)?;
        let result = f(&Store::new(&SqliteConnection {
            conn: &conn,
            names: &names,
        }));
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]));
        // A connection whose transaction did not end cleanly is dropped, not pooled.
        if ended.is_ok()
            && let Ok(mut readers) = self.readers.lock()
        {
            readers.push((conn, names));
        }
        ended.map_err(StoreError::from)?;
        result
    }

    pub async fn write<R: Send + 'static, E: TransactionError>(
        &self,
        f: impl FnOnce(&Store<'_>) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E> {
        super::submit(|job| self.writer.send(job).is_ok(), f).await
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

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<Job>, stats: &super::WriterStats) {
    let names = ColumnNames::default();
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
            .map(StoreError::unavailable);
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            if let Some(error) = &failure {
                replies.push(job(Err(error.clone())).1);
                continue;
            }
            let (reply, intact) = run_in_savepoint(&conn, &names, job);
            replies.push(reply);
            // Some errors (I/O, disk full, out of memory) roll back the whole transaction, not just the job.
            if !intact || conn.is_autocommit() {
                failure = Some(StoreError::unavailable(
                    "the write transaction was rolled back",
                ));
            }
        }
        let outcome = failure.or_else(|| {
            conn.execute_batch("COMMIT")
                .err()
                .map(StoreError::unavailable)
        });
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
fn run_in_savepoint(conn: &Connection, names: &ColumnNames, job: Job) -> (Reply, bool) {
    // Cached statements: these run around every write, and parsing them each time showed in profiles.
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .is_ok()
    };
    if !run("SAVEPOINT job") {
        return (
            job(Err(StoreError::unavailable("cannot open a savepoint"))).1,
            false,
        );
    }
    let connection = SqliteConnection { conn, names };
    let store = Store::new(&connection);
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

/// One SQLite connection inside a transaction, as the store's queries use it.
struct SqliteConnection<'c> {
    conn: &'c Connection,
    names: &'c ColumnNames,
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

impl sql::Connection for SqliteConnection<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<u64> {
        debug_assert!(sql::placeholders_in_order(sql), "{sql}");
        let mut statement = self.conn.prepare_cached(sql)?;
        Ok(statement.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
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
