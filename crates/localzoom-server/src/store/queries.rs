//! Every query localzoom runs, written once for both backends over `sql::Connection`. Rows are read by column
//! name. SQL here is what SQLite and PostgreSQL both accept: `$N` placeholders (translated for SQLite when
//! prepared), `CAST(… AS BIGINT|TEXT)` where PostgreSQL must know a parameter's type, `TRUE`/`FALSE`, and no `$`
//! anywhere else. What differs comes from `Dialect`.

use std::sync::LazyLock;

use serde_json::Value;

use super::sql::{Connection, Dialect, Param, Row, by_insertion_order, params};
use super::{
    AccountRecord, AppRecord, AssistantLink, AuthCode, OutboxEmail, PasswordEntry, Picture,
    PresenceRecord, SessionRecord, StoreError, StoreResult, StoredBackground, Taken, TokenKind,
    TokenRecord, TokenStanding, UserQuery,
};
use crate::domain::account::{AccountPlan, AppKind};
use crate::domain::media::{BackgroundKind, VirtualBackground};
use crate::domain::rate_limits::{AccountLimits, Overrides, Plan};
use crate::domain::user::{LoginType, PresenceStatus, Role, Status, UserRecord, UserType};
use crate::domain::user_resources::ResourceKind;

pub mod webhooks;

/// The rows of one transaction: a read's snapshot, or one write of a writer's batch.
pub struct Store {
    /// Shared with the backend, which gets it back when the transaction's last `Store` is done with it.
    conn: std::sync::Arc<dyn Connection>,
    /// Each user this transaction read by id or e-mail, or wrote, as its row is now: the update that follows such
    /// a read writes only the columns it changes (an index whose columns are unchanged is not touched, and a write
    /// that changes nothing writes nothing) and moves the user between counts, without reading the row once more.
    /// Nothing else changes those rows meanwhile: a write holds its user's or its account's lock (on SQLite, the
    /// one writer), and a writer makes a new `Store` for every write of its batch, so a write rolled back leaves
    /// nothing here for the next.
    users: std::sync::Mutex<Vec<UserRecord>>,
}

/// How a user is named: by id, or by e-mail (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey<'a> {
    Id(&'a str),
    Email(&'a str),
}

/// Which count of `user_counts` a user is in, and the shard of it the user's moves update.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted {
    account_id: String,
    status: Status,
    role: Role,
    shard: i64,
}

/// Shards per count. A multiple of PostgreSQL's writers per node: a user's writes all go to one writer (by the
/// same hash), so the writers of a node never update the same count row.
const COUNT_SHARDS: u32 = 16;

impl Counted {
    fn of(user: &UserRecord) -> Counted {
        Counted {
            account_id: user.account_id.clone(),
            status: user.status,
            role: user.role,
            shard: shard_of(&user.id),
        }
    }

    /// The count row's key, as the parameters of `add_to_counts!`'s rows.
    fn key(&self) -> [Param<'_>; 4] {
        [
            Param::from(&self.account_id),
            self.status.as_str().into(),
            self.role.as_str().into(),
            self.shard.into(),
        ]
    }
}

/// The statement that adds each of its VALUES rows' `n` (account, status, role, shard, n) to that count.
macro_rules! add_to_counts {
    ($rows:literal) => {
        concat!(
            "INSERT INTO user_counts (account_id, status, role, shard, n) VALUES ",
            $rows,
            " ON CONFLICT (account_id, status, role, shard) DO UPDATE SET n = user_counts.n + excluded.n"
        )
    };
}

fn shard_of(user_id: &str) -> i64 {
    (super::spread(user_id) % COUNT_SHARDS).into()
}

// Column lists as literals, so that statements are `concat!`ed at compile time: building them per call showed in
// the per-request instruction count.
macro_rules! user_columns {
    () => {
        "id, account_id, email, first_name, last_name, display_name, type, role, status, login_type, pmi, \
         use_pmi, timezone, dept, language, verified, is_zoom_room, upcoming_zoom_events, password_hash, profile, \
         created_at, last_login_time, vanity_name, seq"
    };
}

macro_rules! account_columns {
    () => {
        "id, account_number, plan, owner_email, managed_domain, max_basic_users, password_history_count, \
         password_changes_per_day, security, created_at, rate_limits"
    };
}

macro_rules! app_columns {
    () => {
        "client_id, client_secret_sha256, account_id, owner_user_id, kind, scopes, active, created_at, redirect_uri"
    };
}

macro_rules! token_columns {
    () => {
        "t.token_sha256, t.client_id, t.account_id, t.user_id, t.scopes, t.issued_at, t.expires_at, t.kind, \
         t.session_id, u.role, ac.plan, ac.rate_limits"
    };
}

macro_rules! code_columns {
    () => {
        "code_sha256, client_id, user_id, redirect_uri, code_challenge, expires_at, used"
    };
}

macro_rules! session_columns {
    () => {
        "id, user_id, login_type, created_at, ended_at"
    };
}

const USER_COLUMNS: &str = user_columns!();

/// The columns a user write sets, in the order of `UserColumns::params`.
const USER_WRITE_COLUMNS: [&str; 24] = [
    "id",
    "account_id",
    "email",
    "email_lower",
    "first_name",
    "last_name",
    "display_name",
    "type",
    "role",
    "status",
    "login_type",
    "pmi",
    "use_pmi",
    "timezone",
    "dept",
    "language",
    "verified",
    "is_zoom_room",
    "upcoming_zoom_events",
    "password_hash",
    "profile",
    "created_at",
    "last_login_time",
    "vanity_name",
];

/// The values of a user's columns that are not fields of the record as they are.
struct UserColumns {
    email_lower: String,
    profile: String,
}

impl UserColumns {
    fn of(u: &UserRecord) -> UserColumns {
        UserColumns {
            email_lower: u.email.to_lowercase(),
            profile: Value::Object(u.profile.clone()).to_string(),
        }
    }

    /// The user's values in the order of `USER_WRITE_COLUMNS`.
    fn params<'a>(&'a self, u: &'a UserRecord) -> [Param<'a>; USER_WRITE_COLUMNS.len()] {
        [
            Param::from(&u.id),
            Param::from(&u.account_id),
            Param::from(&u.email),
            Param::from(&self.email_lower),
            Param::from(&u.first_name),
            Param::from(&u.last_name),
            Param::from(&u.display_name),
            Param::from(u.user_type.code()),
            Param::from(u.role.as_str()),
            Param::from(u.status.as_str()),
            Param::from(u.login_type.code()),
            Param::from(u.pmi),
            Param::from(u.use_pmi),
            Param::from(&u.timezone),
            Param::from(&u.dept),
            Param::from(&u.language),
            Param::from(u.verified),
            Param::from(u.is_zoom_room),
            Param::from(u.upcoming_zoom_events),
            Param::from(u.password_hash.as_deref()),
            Param::from(&self.profile),
            Param::from(u.created_at),
            Param::from(u.last_login_time),
            Param::from(u.vanity_name.as_deref()),
        ]
    }
}

/// A set of `USER_WRITE_COLUMNS` (bit `i` for column `i`); never the first, `id`, which an update keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ColumnSet(u32);

impl ColumnSet {
    const ALL: ColumnSet = ColumnSet(((1 << USER_WRITE_COLUMNS.len()) - 1) & !1);

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn iter(self) -> impl Iterator<Item = usize> {
        (1..USER_WRITE_COLUMNS.len()).filter(move |column| self.0 & (1 << column) != 0)
    }
}

fn changed_columns(before: &[Param<'_>], after: &[Param<'_>]) -> ColumnSet {
    let changed = (1..USER_WRITE_COLUMNS.len())
        .filter(|&column| before[column] != after[column])
        .fold(0, |set, column| set | (1 << column));
    ColumnSet(changed)
}

/// `UPDATE users SET` the columns of `set`, numbered from `$1` in column order, `WHERE id =` the last. (SQLite
/// numbers `$n` parameters in the order they first appear: they must appear in order.) Kept for the
/// sets met so far, up to a bound (a `PATCH` names any subset of the fields); beyond it every column is written,
/// and the set returned is that of all columns.
fn update_user_sql(set: ColumnSet) -> (ColumnSet, &'static str) {
    // Well within a connection's cache of prepared statements (128 on SQLite), with the writer's other statements.
    const KEPT: usize = 32;
    static KNOWN: LazyLock<std::sync::Mutex<std::collections::HashMap<ColumnSet, &'static str>>> =
        LazyLock::new(Default::default);
    let mut known = KNOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sql) = known.get(&set) {
        return (set, sql);
    }
    let set = if known.len() >= KEPT {
        ColumnSet::ALL
    } else {
        set
    };
    let sql = known.entry(set).or_insert_with(|| {
        let assignments = set
            .iter()
            .enumerate()
            .map(|(n, column)| format!("{} = ${}", USER_WRITE_COLUMNS[column], n + 1))
            .collect::<Vec<_>>();
        let id = assignments.len() + 1;
        let assignments = assignments.join(", ");
        // Leaked once per set, at most `KEPT` + 1 of them: statements are `&'static str` (prepared-statement caches
        // are keyed by them).
        Box::leak(format!("UPDATE users SET {assignments} WHERE id = ${id}").into_boxed_str())
    });
    (set, sql)
}

/// `USER_COLUMNS` qualified with a table alias, for joins.
fn user_columns_of(alias: &str) -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn user_from_row(row: &Row<'_>) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        email: row.get("email")?,
        first_name: row.get("first_name")?,
        last_name: row.get("last_name")?,
        display_name: row.get("display_name")?,
        user_type: coded(row, "type", UserType::from_code)?,
        role: parsed(row, "role", Role::parse)?,
        status: parsed(row, "status", Status::parse)?,
        login_type: coded(row, "login_type", LoginType::from_code)?,
        pmi: row.get("pmi")?,
        use_pmi: row.get("use_pmi")?,
        timezone: row.get("timezone")?,
        dept: row.get("dept")?,
        language: row.get("language")?,
        verified: row.get("verified")?,
        is_zoom_room: row.get("is_zoom_room")?,
        upcoming_zoom_events: row.get("upcoming_zoom_events")?,
        password_hash: row.get("password_hash")?,
        profile: json_map(row, "profile")?,
        created_at: row.get("created_at")?,
        last_login_time: row.get("last_login_time")?,
        vanity_name: row.get("vanity_name")?,
    })
}

fn sequenced_user_from_row(row: &Row<'_>) -> StoreResult<(i64, UserRecord)> {
    let user = user_from_row(row)?;
    Ok((row.get("seq")?, user))
}

/// A text column holding one of a closed set of names: a name this version does not know is an error, never a
/// silent default.
fn parsed<T>(row: &Row<'_>, column: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    known(column, &row.get::<String>(column)?, parse)
}

/// `parsed` of a value already read.
fn known<T>(column: &str, text: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(text).ok_or_else(|| {
        StoreError::Corrupt(format!("column {column:?} holds an unknown value {text:?}"))
    })
}

/// An integer column holding one of Zoom's codes: a code this version does not know is an error.
fn coded<T>(row: &Row<'_>, column: &str, from_code: impl Fn(i64) -> Option<T>) -> StoreResult<T> {
    let code: i64 = row.get(column)?;
    from_code(code).ok_or_else(|| {
        StoreError::Corrupt(format!("column {column:?} holds an unknown code {code}"))
    })
}

/// A JSON object stored as text; only localzoom writes it, so anything else is corruption.
fn picture_from_row(row: &Row<'_>) -> StoreResult<Picture> {
    Ok(Picture {
        content_type: row.get("content_type")?,
        version: row.get("version")?,
        bytes: row.get("bytes")?,
    })
}

fn json_map(row: &Row<'_>, column: &str) -> StoreResult<serde_json::Map<String, Value>> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("column {column:?} is not a JSON object: {e}")))
}

fn overrides(row: &Row<'_>) -> StoreResult<Overrides> {
    row.get::<Option<String>>("rate_limits")?
        .map_or(Ok(Overrides::default()), |json| Overrides::from_json(&json))
        .map_err(|e| StoreError::Corrupt(format!("column \"rate_limits\": {e}")))
}

fn scopes(row: &Row<'_>) -> StoreResult<Vec<String>> {
    let text: String = row.get("scopes")?;
    Ok(text.split_whitespace().map(str::to_string).collect())
}

fn account_from_row(row: &Row<'_>) -> StoreResult<AccountRecord> {
    Ok(AccountRecord {
        id: row.get("id")?,
        account_number: row.get("account_number")?,
        plan: parsed(row, "plan", AccountPlan::parse)?,
        owner_email: row.get("owner_email")?,
        managed_domain: row.get("managed_domain")?,
        max_basic_users: row.get("max_basic_users")?,
        password_history_count: row.get("password_history_count")?,
        password_changes_per_day: row.get("password_changes_per_day")?,
        security: json_map(row, "security")?,
        created_at: row.get("created_at")?,
        rate_limit_overrides: overrides(row)?,
    })
}

fn app_from_row(row: &Row<'_>) -> StoreResult<AppRecord> {
    Ok(AppRecord {
        client_id: row.get("client_id")?,
        client_secret_sha256: row.get("client_secret_sha256")?,
        account_id: row.get("account_id")?,
        owner_user_id: row.get("owner_user_id")?,
        kind: parsed(row, "kind", AppKind::parse)?,
        scopes: scopes(row)?,
        active: row.get("active")?,
        created_at: row.get("created_at")?,
        redirect_uri: row.get("redirect_uri")?,
    })
}

/// A token with what the gate needs beside it: the acting user's role and the account's limits.
fn token_from_row(row: &Row<'_>) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        token_sha256: row.get("token_sha256")?,
        client_id: row.get("client_id")?,
        account_id: row.get("account_id")?,
        user_id: row.get("user_id")?,
        scopes: scopes(row)?,
        issued_at: row.get("issued_at")?,
        expires_at: row.get("expires_at")?,
        kind: parsed(row, "kind", TokenKind::parse)?,
        session_id: row.get("session_id")?,
        // No role once the token's user is gone.
        role: row
            .get::<Option<String>>("role")?
            .map(|role| known("role", &role, Role::parse))
            .transpose()?,
        limits: Some(AccountLimits {
            plan: Plan::of(parsed(row, "plan", AccountPlan::parse)?),
            overrides: overrides(row)?,
        }),
        revoked: row.get("revoked")?,
        // Only the lookup that authenticates reads these (`token`).
        account_listened: false,
        account_number: 0,
    })
}

fn code_from_row(row: &Row<'_>) -> StoreResult<AuthCode> {
    Ok(AuthCode {
        code_sha256: row.get("code_sha256")?,
        client_id: row.get("client_id")?,
        user_id: row.get("user_id")?,
        redirect_uri: row.get("redirect_uri")?,
        code_challenge: row.get("code_challenge")?,
        expires_at: row.get("expires_at")?,
        used: row.get("used")?,
    })
}

fn session_from_row(row: &Row<'_>) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: row.get("id")?,
        user_id: row.get("user_id")?,
        login_type: coded(row, "login_type", LoginType::from_code)?,
        created_at: row.get("created_at")?,
        ended_at: row.get("ended_at")?,
    })
}

/// The rows that belong to a user, deleted with the user (`delete_user`) or with all of an account's users
/// (`clear_account`): one list, so a new table of per-user rows is added once.
struct UserRows {
    of_user: [&'static str; 9],
    of_account: [&'static str; 9],
}

macro_rules! user_rows {
    ($($table:literal),+ $(,)?) => {
        UserRows {
            of_user: [
                "DELETE FROM assistants WHERE user_id = $1 OR assistant_id = $1",
                $(concat!("DELETE FROM ", $table, " WHERE user_id = $1")),+
            ],
            of_account: [
                "DELETE FROM assistants WHERE user_id IN (SELECT id FROM users WHERE account_id = $1) \
                 OR assistant_id IN (SELECT id FROM users WHERE account_id = $1)",
                $(concat!(
                    "DELETE FROM ", $table, " WHERE user_id IN (SELECT id FROM users WHERE account_id = $1)"
                )),+
            ],
        }
    };
}

const USER_ROWS: UserRows = user_rows!(
    "sessions",
    "password_history",
    "email_changes",
    "presence",
    "user_settings",
    "user_pictures",
    "virtual_backgrounds",
    "user_resources",
);

impl Store {
    pub(crate) fn new(conn: std::sync::Arc<dyn Connection>) -> Store {
        Store {
            conn,
            users: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What `users` holds. Never held across a statement: a transaction's statements run one at a time.
    fn known(&self) -> std::sync::MutexGuard<'_, Vec<UserRecord>> {
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes the user `id` as its row is now; `None` forgets the user (deleted).
    fn note_user(&self, id: &str, now: Option<&UserRecord>) {
        let mut known = self.known();
        known.retain(|user| user.id != id);
        if let Some(user) = now {
            known.push(user.clone());
        }
    }

    /// A user read by id or e-mail, noted (`users`).
    fn noted(&self, user: Option<UserRecord>) -> Option<UserRecord> {
        if let Some(user) = &user {
            self.note_user(&user.id, Some(user));
        }
        user
    }

    fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    async fn execute(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<u64> {
        self.conn.execute(sql, params).await
    }

    async fn all<T: Send>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: impl Fn(&Row<'_>) -> StoreResult<T> + Sync,
    ) -> StoreResult<Vec<T>> {
        let mut rows = Vec::new();
        self.conn
            .query(sql, params, &mut |row| {
                rows.push(map(row)?);
                Ok(())
            })
            .await?;
        Ok(rows)
    }

    async fn one<T: Send>(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        map: impl Fn(&Row<'_>) -> StoreResult<T> + Sync,
    ) -> StoreResult<Option<T>> {
        let mut found = None;
        self.conn
            .query(sql, params, &mut |row| {
                found = Some(map(row)?);
                Ok(())
            })
            .await?;
        Ok(found)
    }

    /// Whether a query returns any row.
    async fn exists(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<bool> {
        Ok(self.one(sql, params, |_| Ok(())).await?.is_some())
    }

    /// A query whose one row has one column `n`.
    async fn count(&self, sql: &'static str, params: &[Param<'_>]) -> StoreResult<u64> {
        self.one(sql, params, |row| row.get::<u64>("n"))
            .await?
            .ok_or_else(|| StoreError::Corrupt("a count returned no row".into()))
    }

    pub async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.one("SELECT value FROM meta WHERE key = $1", params![key], |r| {
            r.get("value")
        })
        .await
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        ).await?;
        Ok(())
    }

    pub async fn meta_delete(&self, key: &str) -> StoreResult<()> {
        self.execute("DELETE FROM meta WHERE key = $1", params![key])
            .await?;
        Ok(())
    }

    pub async fn all_meta(&self) -> StoreResult<Vec<(String, String)>> {
        self.all("SELECT key, value FROM meta ORDER BY key", &[], |r| {
            Ok((r.get("key")?, r.get("value")?))
        })
        .await
    }

    pub async fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        let security = Value::Object(a.security.clone()).to_string();
        self.execute(
            concat!(
                "INSERT INTO accounts (",
                account_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            params![
                &a.id,
                a.account_number,
                a.plan.as_str(),
                &a.owner_email,
                a.managed_domain.as_deref(),
                a.max_basic_users,
                a.password_history_count,
                a.password_changes_per_day,
                &security,
                a.created_at,
                a.rate_limit_overrides.to_json().as_deref(),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn account(&self, id: &str) -> StoreResult<Option<AccountRecord>> {
        self.one(
            concat!(
                "SELECT ",
                account_columns!(),
                " FROM accounts WHERE id = $1"
            ),
            params![id],
            account_from_row,
        )
        .await
    }

    pub async fn accounts(&self) -> StoreResult<Vec<AccountRecord>> {
        self.all(
            concat!(
                "SELECT ",
                account_columns!(),
                " FROM accounts ORDER BY created_at, id"
            ),
            &[],
            account_from_row,
        )
        .await
    }

    pub async fn update_account(&self, a: &AccountRecord) -> StoreResult<()> {
        let security = Value::Object(a.security.clone()).to_string();
        self.execute(
            "UPDATE accounts SET plan = $1, owner_email = $2, managed_domain = $3, max_basic_users = $4, \
             password_history_count = $5, password_changes_per_day = $6, security = $7, rate_limits = $8 \
             WHERE id = $9",
            params![
                a.plan.as_str(),
                &a.owner_email,
                a.managed_domain.as_deref(),
                a.max_basic_users,
                a.password_history_count,
                a.password_changes_per_day,
                &security,
                a.rate_limit_overrides.to_json().as_deref(),
                &a.id,
            ],
        ).await?;
        Ok(())
    }

    pub async fn insert_app(&self, app: &AppRecord) -> StoreResult<()> {
        let scopes = app.scopes.join(" ");
        self.execute(
            concat!(
                "INSERT INTO apps (",
                app_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            params![
                &app.client_id,
                &app.client_secret_sha256,
                &app.account_id,
                &app.owner_user_id,
                app.kind.as_str(),
                &scopes,
                app.active,
                app.created_at,
                app.redirect_uri.as_deref(),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn update_app(&self, app: &AppRecord) -> StoreResult<()> {
        let scopes = app.scopes.join(" ");
        self.execute(
            "UPDATE apps SET client_secret_sha256 = $1, owner_user_id = $2, scopes = $3, active = $4, \
             redirect_uri = $5 WHERE client_id = $6",
            params![
                &app.client_secret_sha256,
                &app.owner_user_id,
                &scopes,
                app.active,
                app.redirect_uri.as_deref(),
                &app.client_id,
            ],
        ).await?;
        Ok(())
    }

    pub async fn app(&self, client_id: &str) -> StoreResult<Option<AppRecord>> {
        self.one(
            concat!("SELECT ", app_columns!(), " FROM apps WHERE client_id = $1"),
            params![client_id],
            app_from_row,
        )
        .await
    }

    pub async fn apps(&self, account_id: &str) -> StoreResult<Vec<AppRecord>> {
        self.all(
            concat!(
                "SELECT ",
                app_columns!(),
                " FROM apps WHERE account_id = $1 ORDER BY created_at, client_id"
            ),
            params![account_id],
            app_from_row,
        )
        .await
    }

    pub async fn all_apps(&self) -> StoreResult<Vec<AppRecord>> {
        self.all(
            concat!(
                "SELECT ",
                app_columns!(),
                " FROM apps ORDER BY created_at, client_id"
            ),
            &[],
            app_from_row,
        )
        .await
    }

    pub async fn insert_token(&self, t: &TokenRecord) -> StoreResult<()> {
        let scopes = t.scopes.join(" ");
        self.execute(
            "INSERT INTO access_tokens (token_sha256, client_id, account_id, user_id, scopes, issued_at, \
             expires_at, revoked, kind, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            params![
                &t.token_sha256,
                &t.client_id,
                &t.account_id,
                &t.user_id,
                &scopes,
                t.issued_at,
                t.expires_at,
                t.revoked,
                t.kind.as_str(),
                t.session_id.as_deref(),
            ],
        ).await?;
        Ok(())
    }

    /// A token as the gate sees it: revoked also when its app is deactivated.
    pub async fn token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        self.one(
            concat!(
                "SELECT ",
                token_columns!(),
                ", t.revoked OR NOT a.active AS revoked, \
                 EXISTS (SELECT 1 FROM webhook_subscriptions ws WHERE ws.account_id = t.account_id) AS listened, \
                 ac.account_number \
                 FROM access_tokens t JOIN apps a ON a.client_id = t.client_id \
                 JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
                 WHERE t.token_sha256 = $1"
            ),
            params![token_sha256],
            |row| {
                Ok(TokenRecord {
                    account_listened: row.get("listened")?,
                    account_number: row.get("account_number")?,
                    ..token_from_row(row)?
                })
            },
        ).await
    }

    /// The token's standing now: `token`'s lookup without what cannot change once a token is issued (its kind,
    /// scopes, client, account and user) or does not bear on a write the gate let in (the account's plan and
    /// limits).
    pub async fn token_standing(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenStanding>> {
        self.one(
            "SELECT t.revoked OR NOT a.active AS revoked, t.expires_at, u.role, \
             EXISTS (SELECT 1 FROM webhook_subscriptions ws WHERE ws.account_id = t.account_id) AS listened \
             FROM access_tokens t JOIN apps a ON a.client_id = t.client_id LEFT JOIN users u ON u.id = t.user_id \
             WHERE t.token_sha256 = $1",
            params![token_sha256],
            |row| {
                Ok(TokenStanding {
                    revoked: row.get("revoked")?,
                    expires_at: row.get("expires_at")?,
                    role: row
                        .get::<Option<String>>("role")?
                        .map(|role| known("role", &role, Role::parse))
                        .transpose()?,
                    account_listened: row.get("listened")?,
                })
            },
        )
        .await
    }

    pub async fn all_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        // The lookup's columns, with the revocation as stored (not folded with the app's state).
        self.all(
            concat!(
                "SELECT ",
                token_columns!(),
                ", t.revoked FROM access_tokens t \
                 JOIN accounts ac ON ac.id = t.account_id LEFT JOIN users u ON u.id = t.user_id \
                 ORDER BY t.issued_at, t.token_sha256"
            ),
            &[],
            |row| {
                Ok(TokenRecord {
                    role: None,
                    limits: None,
                    ..token_from_row(row)?
                })
            },
        )
        .await
    }

    /// Ends every open session of the user and revokes every access and refresh token issued for the user
    /// (those of the sessions among them): two statements, where `end_sessions` and a revocation of the rest
    /// would be three.
    pub async fn sign_out_everywhere(&self, user_id: &str, now: i64) -> StoreResult<()> {
        self.end_open_sessions(user_id, None, now).await?;
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE user_id = $1 AND revoked = FALSE",
            params![user_id],
        )
        .await?;
        Ok(())
    }

    /// Revokes one token (access or refresh); returns it as it was.
    pub async fn revoke_token(&self, token_sha256: &[u8]) -> StoreResult<Option<TokenRecord>> {
        let found = self.token(token_sha256).await?;
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE token_sha256 = $1",
            params![token_sha256],
        )
        .await?;
        Ok(found)
    }

    /// Deletes up to a hundred tokens that expired before `before`; returns how many.
    pub async fn purge_expired_tokens(&self, before: i64) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM access_tokens WHERE token_sha256 IN \
             (SELECT token_sha256 FROM access_tokens WHERE expires_at < $1 LIMIT 100)",
            params![before],
        )
        .await
    }

    pub async fn insert_code(&self, c: &AuthCode) -> StoreResult<()> {
        self.execute(
            concat!(
                "INSERT INTO oauth_codes (",
                code_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            params![
                &c.code_sha256,
                &c.client_id,
                &c.user_id,
                &c.redirect_uri,
                c.code_challenge.as_deref(),
                c.expires_at,
                c.used,
            ],
        )
        .await?;
        Ok(())
    }

    /// Marks a code used and returns it as it was (so a second use can be told from a first). Needs no row lock:
    /// writes run one at a time on either backend (PostgreSQL's writers take one advisory lock first).
    pub async fn use_code(&self, code_sha256: &[u8]) -> StoreResult<Option<AuthCode>> {
        let found = self
            .one(
                concat!(
                    "SELECT ",
                    code_columns!(),
                    " FROM oauth_codes WHERE code_sha256 = $1"
                ),
                params![code_sha256],
                code_from_row,
            )
            .await?;
        self.execute(
            "UPDATE oauth_codes SET used = TRUE WHERE code_sha256 = $1",
            params![code_sha256],
        )
        .await?;
        Ok(found)
    }

    pub async fn all_codes(&self) -> StoreResult<Vec<AuthCode>> {
        self.all(
            concat!(
                "SELECT ",
                code_columns!(),
                " FROM oauth_codes ORDER BY expires_at, code_sha256"
            ),
            &[],
            code_from_row,
        )
        .await
    }

    pub async fn insert_user(&self, u: &UserRecord) -> StoreResult<()> {
        static INSERT: LazyLock<String> = LazyLock::new(|| {
            let placeholders = (1..=USER_WRITE_COLUMNS.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "INSERT INTO users ({}) VALUES ({placeholders})",
                USER_WRITE_COLUMNS.join(", ")
            )
        });
        let columns = UserColumns::of(u);
        self.write_user(INSERT.as_str(), &columns.params(u), u)
            .await?;
        self.count_user(&Counted::of(u), 1).await?;
        self.note_user(&u.id, Some(u));
        Ok(())
    }

    /// Writes the record back (its `id` is the one it was read with): the columns whose values differ from the row's.
    pub async fn update_user(&self, u: &UserRecord) -> StoreResult<()> {
        let before = self.user_as_now(&u.id).await?;
        let columns = UserColumns::of(u);
        let after = columns.params(u);
        let changed = match &before {
            Some(before) => {
                let before_columns = UserColumns::of(before);
                changed_columns(&before_columns.params(before), &after)
            }
            None => ColumnSet::ALL,
        };
        if !changed.is_empty() {
            let (written, sql) = update_user_sql(changed);
            let mut params: Vec<Param<'_>> = written.iter().map(|column| after[column]).collect();
            params.push(after[0]);
            self.write_user(sql, &params, u).await?;
            let after = Counted::of(u);
            if let Some(before) = before.as_ref().map(Counted::of)
                && before != after
            {
                // Both counts in one statement (they differ, so no row is updated twice).
                self.execute(
                    add_to_counts!("($1, $2, $3, $4, -1), ($5, $6, $7, $8, 1)"),
                    &[before.key(), after.key()].concat(),
                )
                .await?;
            }
        }
        self.note_user(&u.id, Some(u));
        Ok(())
    }

    /// Runs `sql` with `params` (a user's columns); a unique value another write took first is `StoreError::Taken`.
    async fn write_user(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
        u: &UserRecord,
    ) -> StoreResult<()> {
        self.execute(sql, params)
            .await
            .map(|_| ())
            .map_err(|error| match error {
                StoreError::Duplicate(index) if index.contains("email") => {
                    StoreError::Taken(Taken::Email(u.email.clone()))
                }
                StoreError::Duplicate(index) if index.contains("pmi") => {
                    StoreError::Taken(Taken::Pmi(u.pmi))
                }
                StoreError::Duplicate(index) if index.contains("vanity") => {
                    StoreError::Taken(Taken::VanityName)
                }
                other => other,
            })
    }

    /// A user of any account by id, as its row is now: as this transaction noted it, which it forgets (the write
    /// that asks notes the user again once written), or else as read.
    async fn user_as_now(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        let noted = {
            let mut known = self.known();
            let at = known.iter().position(|user| user.id == id);
            at.map(|at| known.swap_remove(at))
        };
        match noted {
            Some(user) => Ok(Some(user)),
            None => {
                self.one(
                    concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"),
                    params![id],
                    user_from_row,
                )
                .await
            }
        }
    }

    /// Adds a user to (`delta` 1) or takes one from (-1) the per-(account, status, role) counts `GET /users`
    /// reports as `total_records`.
    async fn count_user(&self, counted: &Counted, delta: i64) -> StoreResult<()> {
        let [account, status, role, shard] = counted.key();
        self.execute(
            add_to_counts!("($1, $2, $3, $4, $5)"),
            &[account, status, role, shard, delta.into()],
        )
        .await?;
        Ok(())
    }

    pub async fn user_by_id(&self, account_id: &str, id: &str) -> StoreResult<Option<UserRecord>> {
        self.one(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE account_id = $1 AND id = $2"
            ),
            params![account_id, id],
            user_from_row,
        )
        .await
        .map(|user| self.noted(user))
    }

    /// A user of the account with its picture's version, in one statement (what `GET /users/{userId}` shows).
    pub async fn user_with_picture(
        &self,
        account_id: &str,
        key: UserKey<'_>,
    ) -> StoreResult<Option<(UserRecord, Option<i64>)>> {
        macro_rules! with_picture {
            ($condition:literal) => {
                concat!(
                    "SELECT ",
                    user_columns!(),
                    ", (SELECT version FROM user_pictures p WHERE p.user_id = users.id) AS picture_version \
                     FROM users WHERE account_id = $1 AND ",
                    $condition
                )
            };
        }
        let read = |row: &Row<'_>| Ok((user_from_row(row)?, row.get("picture_version")?));
        match key {
            UserKey::Id(id) => {
                self.one(with_picture!("id = $2"), params![account_id, id], read)
                    .await
            }
            UserKey::Email(email) => {
                self.one(
                    with_picture!("email_lower = $2"),
                    params![account_id, &email.to_lowercase()],
                    read,
                )
                .await
            }
        }
    }

    pub async fn user_by_email(
        &self,
        account_id: &str,
        email: &str,
    ) -> StoreResult<Option<UserRecord>> {
        self.one(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE account_id = $1 AND email_lower = $2"
            ),
            params![account_id, &email.to_lowercase()],
            user_from_row,
        )
        .await
        .map(|user| self.noted(user))
    }

    /// A user of any account, by id or e-mail (for the server's own control API, which spans accounts).
    pub async fn find_user(&self, id_or_email: &str) -> StoreResult<Option<UserRecord>> {
        self.one(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = $1 OR email_lower = lower($1)"
            ),
            params![id_or_email],
            user_from_row,
        )
        .await
    }

    /// Whether a user other than `except_user_id` has this Personal Meeting ID (any account).
    pub async fn pmi_taken(&self, pmi: i64, except_user_id: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM users WHERE pmi = $1 AND id <> $2",
            params![pmi, except_user_id],
        )
        .await
    }

    /// Whether a user other than `except_user_id` has this personal meeting room name (any account, any case).
    pub async fn vanity_name_taken(&self, name: &str, except_user_id: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM users WHERE lower(vanity_name) = lower($1) AND id <> $2",
            params![name, except_user_id],
        )
        .await
    }

    /// Whether any account has a user with this e-mail (Zoom e-mails are unique across Zoom).
    pub async fn email_exists(&self, email: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM users WHERE email_lower = $1",
            params![&email.to_lowercase()],
        )
        .await
    }

    /// Removes the user and every row that refers to it.
    pub async fn delete_user(&self, id: &str) -> StoreResult<()> {
        if let Some(user) = self.user_as_now(id).await? {
            self.count_user(&Counted::of(&user), -1).await?;
        }
        for sql in USER_ROWS.of_user.iter().chain(&[
            "UPDATE access_tokens SET revoked = TRUE WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ]) {
            self.execute(sql, params![id]).await?;
        }
        Ok(())
    }

    /// Removes every user of the account and all that hangs on them (assistant links both ways, sessions,
    /// histories, settings, pictures, backgrounds, resources, mail), the tokens and codes of its apps and its
    /// user counts. The account and its apps stay.
    pub async fn clear_account(&self, account_id: &str) -> StoreResult<()> {
        for sql in USER_ROWS.of_account.iter().chain(&[
            "DELETE FROM outbox WHERE account_id = $1 \
             OR user_id IN (SELECT id FROM users WHERE account_id = $1)",
            "DELETE FROM access_tokens WHERE account_id = $1",
            "DELETE FROM oauth_codes WHERE client_id IN (SELECT client_id FROM apps WHERE account_id = $1)",
            "DELETE FROM users WHERE account_id = $1",
            "DELETE FROM user_counts WHERE account_id = $1",
        ]) {
            self.execute(sql, params![account_id]).await?;
        }
        self.known().retain(|user| user.account_id != account_id);
        Ok(())
    }

    /// Removes the apps of the account other than `keep_client_id`, and every account other than `keep_account_id`
    /// with its apps (clear them first: `clear_account`).
    pub async fn delete_apps_and_accounts_except(
        &self,
        keep_account_id: &str,
        keep_client_id: &str,
    ) -> StoreResult<()> {
        self.execute(
            "DELETE FROM apps WHERE client_id <> $1",
            params![keep_client_id],
        )
        .await?;
        self.execute(
            "DELETE FROM accounts WHERE id <> $1",
            params![keep_account_id],
        )
        .await?;
        Ok(())
    }

    /// A page of users with their `seq`, in `seq` order.
    pub async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<(i64, UserRecord)>> {
        // Two statements rather than `(… IS NULL OR role = …)`: each gets the plan for its own filter.
        let sql = if q.role.is_some() {
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE account_id = $1 AND status = $2 AND seq > $3 AND role = $4 \
                 ORDER BY seq LIMIT $5 OFFSET $6"
            )
        } else {
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE account_id = $1 AND status = $2 AND seq > $3 \
                 AND CAST($4 AS TEXT) IS NULL ORDER BY seq LIMIT $5 OFFSET $6"
            )
        };
        self.all(
            sql,
            params![
                &q.account_id,
                q.status.as_str(),
                q.after_seq,
                q.role.map(Role::as_str),
                q.limit,
                q.offset,
            ],
            sequenced_user_from_row,
        )
        .await
    }

    /// `list_users` narrowed further by licence type and login type (the console's filters), looking only at the
    /// next `scan` users of the account and status: a filter that few users match costs a bounded walk per page,
    /// not one through a million rows. One statement for every combination of filters: the console's pages are
    /// few, so a plan per filter is not worth a statement each.
    pub async fn filtered_users(
        &self,
        q: &UserQuery,
        (user_type, login_type): (Option<UserType>, Option<LoginType>),
        scan: u64,
    ) -> StoreResult<Vec<(i64, UserRecord)>> {
        self.all(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE seq IN (SELECT seq FROM users WHERE account_id = $1 AND status = $2 \
                 AND seq > $3 ORDER BY seq LIMIT $4) \
                 AND (CAST($5 AS TEXT) IS NULL OR role = $5) \
                 AND (CAST($6 AS BIGINT) IS NULL OR type = $6) \
                 AND (CAST($7 AS BIGINT) IS NULL OR login_type = $7) \
                 ORDER BY seq LIMIT $8"
            ),
            params![
                &q.account_id,
                q.status.as_str(),
                q.after_seq,
                scan,
                q.role.map(Role::as_str),
                user_type.map(UserType::code),
                login_type.map(LoginType::code),
                q.limit,
            ],
            sequenced_user_from_row,
        ).await
    }

    /// Where `filtered_users`' walk of `scan` users ended (the `seq` of the last it looked at), if more users of
    /// the account and status follow it.
    pub async fn scan_end(&self, q: &UserQuery, scan: u64) -> StoreResult<Option<i64>> {
        let ends = self
            .all(
                "SELECT seq FROM users WHERE account_id = $1 AND status = $2 AND seq > $3 \
             ORDER BY seq LIMIT 2 OFFSET $4",
                params![
                    &q.account_id,
                    q.status.as_str(),
                    q.after_seq,
                    scan.saturating_sub(1)
                ],
                |row| row.get::<i64>("seq"),
            )
            .await?;
        Ok(match ends[..] {
            [last, _following] => Some(last),
            _ => None,
        })
    }

    /// A page of the account's users of every status, in `seq` order (SCIM's `startIndex`/`count`).
    pub async fn account_users_page(
        &self,
        account_id: &str,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Vec<UserRecord>> {
        self.all(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE account_id = $1 ORDER BY seq LIMIT $2 OFFSET $3"
            ),
            params![account_id, limit, offset],
            user_from_row,
        )
        .await
    }

    /// How many users the account has, of every status.
    pub async fn account_user_count(&self, account_id: &str) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM users WHERE account_id = $1",
            params![account_id],
        )
        .await
    }

    /// Users of every account with a larger `seq` than `after_seq`, in `seq` order.
    pub async fn all_users(
        &self,
        after_seq: i64,
        limit: u64,
    ) -> StoreResult<Vec<(i64, UserRecord)>> {
        self.all(
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            params![after_seq, limit],
            sequenced_user_from_row,
        )
        .await
    }

    pub async fn count_users(
        &self,
        account_id: &str,
        status: Status,
        role: Option<Role>,
    ) -> StoreResult<u64> {
        self.count(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM user_counts WHERE account_id = $1 \
             AND status = $2 AND (CAST($3 AS TEXT) IS NULL OR role = $3)",
            params![account_id, status.as_str(), role.map(Role::as_str)],
        ).await
    }

    /// The account's users counted by type, status and whether they are Zoom Rooms.
    pub async fn user_census(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<(UserType, Status, bool, u64)>> {
        self.all(
            "SELECT type, status, is_zoom_room, COUNT(*) AS n FROM users WHERE account_id = $1 \
             GROUP BY type, status, is_zoom_room",
            params![account_id],
            |row| {
                Ok((
                    coded(row, "type", UserType::from_code)?,
                    parsed(row, "status", Status::parse)?,
                    row.get("is_zoom_room")?,
                    row.get("n")?,
                ))
            },
        )
        .await
    }

    /// Active and pending Basic users: the seats the Basic-user cap counts.
    pub async fn count_basic_users(&self, account_id: &str) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM users WHERE account_id = $1 AND type = 1 \
             AND status IN ('active', 'pending')",
            params![account_id],
        )
        .await
    }

    pub async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.execute(
            concat!(
                "INSERT INTO sessions (",
                session_columns!(),
                ") VALUES ($1, $2, $3, $4, $5)"
            ),
            params![
                &s.id,
                &s.user_id,
                s.login_type.code(),
                s.created_at,
                s.ended_at
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn sessions(&self, user_id: &str) -> StoreResult<Vec<SessionRecord>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions WHERE user_id = $1 ORDER BY created_at, "
                ),
                ""
            ),
            params![user_id],
            session_from_row,
        )
        .await
    }

    pub async fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                concat!(
                    "SELECT ",
                    session_columns!(),
                    " FROM sessions ORDER BY created_at, "
                ),
                ""
            ),
            &[],
            session_from_row,
        )
        .await
    }

    /// Ends the user's open sessions (only those of `login_type` when given) and revokes every token issued in
    /// them: a sign-in that ended leaves no token behind. Returns how many sessions ended.
    pub async fn end_sessions(
        &self,
        user_id: &str,
        login_type: Option<LoginType>,
        now: i64,
    ) -> StoreResult<u64> {
        // The tokens first, while their sessions are still the open ones. A session's tokens are its user's: found
        // through the user's tokens, each session looked up by its key (`IN (SELECT …)` would build a temporary
        // table on SQLite for every call).
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE user_id = $1 AND revoked = FALSE AND EXISTS \
             (SELECT 1 FROM sessions s WHERE s.id = access_tokens.session_id AND s.ended_at IS NULL \
             AND (CAST($2 AS BIGINT) IS NULL OR s.login_type = $2))",
            params![user_id, login_type.map(LoginType::code)],
        )
        .await?;
        self.end_open_sessions(user_id, login_type, now).await
    }

    /// Ends the user's open sessions (only those of `login_type` when given); how many ended.
    async fn end_open_sessions(
        &self,
        user_id: &str,
        login_type: Option<LoginType>,
        now: i64,
    ) -> StoreResult<u64> {
        self.execute(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL \
             AND (CAST($3 AS BIGINT) IS NULL OR login_type = $3)",
            params![now, user_id, login_type.map(LoginType::code)],
        )
        .await
    }

    /// Ends one session and revokes its tokens.
    pub async fn end_session(&self, id: &str, now: i64) -> StoreResult<()> {
        self.execute(
            "UPDATE access_tokens SET revoked = TRUE WHERE session_id = $1 AND revoked = FALSE",
            params![id],
        )
        .await?;
        self.execute(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
            params![now, id],
        )
        .await?;
        Ok(())
    }

    /// The user's assistants with their `can_manage_host_private_event`.
    pub async fn assistants(&self, user_id: &str) -> StoreResult<Vec<(UserRecord, bool)>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {}, a.can_manage_host_private_event FROM assistants a JOIN users u \
                 ON u.id = a.assistant_id WHERE a.user_id = $1 ORDER BY a.added_at, u.seq",
                user_columns_of("u")
            )
        });
        self.all(SQL.as_str(), params![user_id], |row| {
            let user = user_from_row(row)?;
            Ok((user, row.get("can_manage_host_private_event")?))
        })
        .await
    }

    /// The users the given user is an assistant of.
    pub async fn schedulers(&self, assistant_id: &str) -> StoreResult<Vec<UserRecord>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {} FROM assistants a JOIN users u ON u.id = a.user_id WHERE a.assistant_id = $1 \
                 ORDER BY a.added_at, u.seq",
                user_columns_of("u")
            )
        });
        self.all(SQL.as_str(), params![assistant_id], user_from_row)
            .await
    }

    pub async fn all_assistant_links(&self) -> StoreResult<Vec<AssistantLink>> {
        self.all(
            "SELECT user_id, assistant_id, can_manage_host_private_event, added_at FROM assistants \
             ORDER BY added_at, user_id, assistant_id",
            &[],
            |row| {
                Ok(AssistantLink {
                    user_id: row.get("user_id")?,
                    assistant_id: row.get("assistant_id")?,
                    can_manage_host_private_event: row.get("can_manage_host_private_event")?,
                    added_at: row.get("added_at")?,
                })
            },
        )
        .await
    }

    pub async fn add_assistant(
        &self,
        user_id: &str,
        assistant_id: &str,
        can_manage: bool,
        now: i64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO assistants (user_id, assistant_id, can_manage_host_private_event, added_at) \
             VALUES ($1, $2, $3, $4)",
            params![user_id, assistant_id, can_manage, now],
        ).await?;
        Ok(())
    }

    pub async fn remove_assistant(&self, user_id: &str, assistant_id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM assistants WHERE user_id = $1 AND assistant_id = $2",
            params![user_id, assistant_id],
        )
        .await
    }

    pub async fn remove_assistants(&self, user_id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM assistants WHERE user_id = $1",
            params![user_id],
        )
        .await
    }

    pub async fn remove_schedulers(&self, assistant_id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM assistants WHERE assistant_id = $1",
            params![assistant_id],
        )
        .await
    }

    pub async fn presence(&self, user_id: &str) -> StoreResult<Option<PresenceRecord>> {
        self.one(
            "SELECT status, until_ms, updated_at FROM presence WHERE user_id = $1",
            params![user_id],
            |row| {
                Ok(PresenceRecord {
                    status: parsed(row, "status", PresenceStatus::parse)?,
                    until_ms: row.get("until_ms")?,
                    updated_at: row.get("updated_at")?,
                })
            },
        )
        .await
    }

    pub async fn set_presence(&self, user_id: &str, presence: &PresenceRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO presence (user_id, status, until_ms, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET status = excluded.status, until_ms = excluded.until_ms, \
             updated_at = excluded.updated_at",
            params![
                user_id,
                presence.status.as_str(),
                presence.until_ms,
                presence.updated_at
            ],
        ).await?;
        Ok(())
    }

    /// What the user changed of their settings (an empty map: nothing).
    pub async fn user_settings(
        &self,
        user_id: &str,
    ) -> StoreResult<serde_json::Map<String, Value>> {
        Ok(self
            .one(
                "SELECT settings FROM user_settings WHERE user_id = $1",
                params![user_id],
                |row| json_map(row, "settings"),
            )
            .await?
            .unwrap_or_default())
    }

    pub async fn set_user_settings(
        &self,
        user_id: &str,
        settings: &serde_json::Map<String, Value>,
    ) -> StoreResult<()> {
        let text = Value::Object(settings.clone()).to_string();
        self.execute(
            "INSERT INTO user_settings (user_id, settings) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET settings = excluded.settings",
            params![user_id, &text],
        )
        .await?;
        Ok(())
    }

    /// Every user's changed settings, for `export`.
    pub async fn all_user_settings(
        &self,
    ) -> StoreResult<Vec<(String, serde_json::Map<String, Value>)>> {
        self.all(
            "SELECT user_id, settings FROM user_settings ORDER BY user_id",
            params![],
            |row| Ok((row.get("user_id")?, json_map(row, "settings")?)),
        )
        .await
    }

    /// The user's profile picture: its content type, version and bytes.
    /// The user's picture if `version` is its current one (any other version reads no bytes).
    pub async fn picture(&self, user_id: &str, version: i64) -> StoreResult<Option<Picture>> {
        self.one(
            "SELECT content_type, version, bytes FROM user_pictures WHERE user_id = $1 AND version = $2",
            params![user_id, version],
            picture_from_row,
        ).await
    }

    /// Up to `limit` pictures of users whose id sorts after `after`, with those ids, for `export`.
    pub async fn pictures_after(
        &self,
        after: &str,
        limit: u64,
    ) -> StoreResult<Vec<(String, Picture)>> {
        self.all(
            "SELECT user_id, content_type, version, bytes FROM user_pictures WHERE user_id > $1 \
             ORDER BY user_id LIMIT $2",
            params![after, limit],
            |row| Ok((row.get("user_id")?, picture_from_row(row)?)),
        )
        .await
    }

    /// The version of the user's picture, without its bytes (for `pic_url`).
    pub async fn picture_version(&self, user_id: &str) -> StoreResult<Option<i64>> {
        self.one(
            "SELECT version FROM user_pictures WHERE user_id = $1",
            params![user_id],
            |row| row.get("version"),
        )
        .await
    }

    pub async fn set_picture(
        &self,
        user_id: &str,
        (content_type, version): (&str, i64),
        bytes: &[u8],
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO user_pictures (user_id, content_type, version, bytes) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, \
             version = excluded.version, bytes = excluded.bytes",
            params![user_id, content_type, version, bytes],
        ).await?;
        Ok(())
    }

    /// Removes the user's picture; whether there was one.
    pub async fn delete_picture(&self, user_id: &str) -> StoreResult<bool> {
        Ok(self
            .execute(
                "DELETE FROM user_pictures WHERE user_id = $1",
                params![user_id],
            )
            .await?
            > 0)
    }

    /// The user's virtual background files, without their bytes, in upload order.
    pub async fn virtual_backgrounds(&self, user_id: &str) -> StoreResult<Vec<VirtualBackground>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                "SELECT id, name, kind, size, is_default FROM virtual_backgrounds WHERE user_id = $1 \
                 ORDER BY created_at, ",
                ""
            ),
            params![user_id],
            |row| {
                Ok(VirtualBackground {
                    id: row.get("id")?,
                    name: row.get("name")?,
                    kind: parsed(row, "kind", BackgroundKind::parse)?,
                    size: row.get("size")?,
                    is_default: row.get("is_default")?,
                })
            },
        ).await
    }

    pub async fn add_virtual_background(
        &self,
        user_id: &str,
        file: &VirtualBackground,
        bytes: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO virtual_backgrounds (id, user_id, name, kind, size, is_default, created_at, bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            params![
                &file.id,
                user_id,
                &file.name,
                file.kind.as_str(),
                file.size,
                file.is_default,
                now,
                bytes
            ],
        ).await?;
        Ok(())
    }

    /// Up to `limit` virtual background files (with their owners, upload times and bytes) whose id sorts after
    /// `after`, for `export`.
    pub async fn backgrounds_after(
        &self,
        after: &str,
        limit: u64,
    ) -> StoreResult<Vec<StoredBackground>> {
        self.all(
            "SELECT id, user_id, name, kind, size, is_default, created_at, bytes FROM virtual_backgrounds \
             WHERE id > $1 ORDER BY id LIMIT $2",
            params![after, limit],
            |row| {
                Ok(StoredBackground {
                    user_id: row.get("user_id")?,
                    file: VirtualBackground {
                        id: row.get("id")?,
                        name: row.get("name")?,
                        kind: parsed(row, "kind", BackgroundKind::parse)?,
                        size: row.get("size")?,
                        is_default: row.get("is_default")?,
                    },
                    created_at: row.get("created_at")?,
                    bytes: row.get("bytes")?,
                })
            },
        ).await
    }

    /// The user's resources of `kind`, in the order they were loaded.
    pub async fn user_resources(
        &self,
        user_id: &str,
        kind: ResourceKind,
    ) -> StoreResult<Vec<serde_json::Map<String, Value>>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                "SELECT body FROM user_resources WHERE user_id = $1 AND kind = $2 ORDER BY ",
                ""
            ),
            params![user_id, kind.as_str()],
            |row| json_map(row, "body"),
        )
        .await
    }

    pub async fn user_resource(
        &self,
        user_id: &str,
        kind: ResourceKind,
        id: &str,
    ) -> StoreResult<Option<serde_json::Map<String, Value>>> {
        self.one(
            "SELECT body FROM user_resources WHERE user_id = $1 AND kind = $2 AND id = $3",
            params![user_id, kind.as_str(), id],
            |row| json_map(row, "body"),
        )
        .await
    }

    /// Every user resource with its owner, kind and id, for `export`.
    pub async fn all_user_resources(
        &self,
    ) -> StoreResult<Vec<(String, ResourceKind, String, Value)>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                "SELECT user_id, kind, id, body FROM user_resources ORDER BY ",
                ""
            ),
            params![],
            |row| {
                Ok((
                    row.get("user_id")?,
                    parsed(row, "kind", ResourceKind::parse)?,
                    row.get("id")?,
                    Value::Object(json_map(row, "body")?),
                ))
            },
        )
        .await
    }

    /// How many resources of `kind` the user has.
    pub async fn user_resource_count(&self, user_id: &str, kind: ResourceKind) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM user_resources WHERE user_id = $1 AND kind = $2",
            params![user_id, kind.as_str()],
        )
        .await
    }

    /// Keeps a resource, replacing one of the same id.
    pub async fn put_user_resource(
        &self,
        user_id: &str,
        (kind, id): (ResourceKind, &str),
        body: &Value,
    ) -> StoreResult<()> {
        let text = body.to_string();
        self.execute(
            "INSERT INTO user_resources (user_id, kind, id, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind, id) DO UPDATE SET body = excluded.body",
            params![user_id, kind.as_str(), id, &text],
        )
        .await?;
        Ok(())
    }

    /// Makes the file the user's default virtual background.
    pub async fn set_default_background(&self, user_id: &str, id: &str) -> StoreResult<()> {
        self.execute(
            "UPDATE virtual_backgrounds SET is_default = (id = $1) WHERE user_id = $2",
            params![id, user_id],
        )
        .await?;
        Ok(())
    }

    /// Removes the named files of the user; how many there were.
    pub async fn delete_virtual_background(&self, user_id: &str, id: &str) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM virtual_backgrounds WHERE id = $1 AND user_id = $2",
            params![id, user_id],
        )
        .await
    }

    /// Whether the user has a sign-in session that has not ended.
    pub async fn signed_in(&self, user_id: &str) -> StoreResult<bool> {
        self.exists(
            "SELECT 1 FROM sessions WHERE user_id = $1 AND ended_at IS NULL LIMIT 1",
            params![user_id],
        )
        .await
    }

    /// How many times the user's e-mail was changed after `since`.
    pub async fn email_changes_since(&self, user_id: &str, since: i64) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM email_changes WHERE user_id = $1 AND changed_at > $2",
            params![user_id, since],
        )
        .await
    }

    pub async fn record_email_change(&self, user_id: &str, at: i64) -> StoreResult<()> {
        self.execute(
            "INSERT INTO email_changes (user_id, changed_at) VALUES ($1, $2)",
            params![user_id, at],
        )
        .await?;
        Ok(())
    }

    /// Fingerprints of the user's passwords, newest first.
    pub async fn password_history(&self, user_id: &str, limit: u32) -> StoreResult<Vec<String>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                "SELECT fingerprint FROM password_history WHERE user_id = $1 ORDER BY changed_at DESC, ",
                " DESC LIMIT $2"
            ),
            params![user_id, limit],
            |r| r.get("fingerprint"),
        ).await
    }

    /// Changes since `since`, not counting the password a user was created with.
    pub async fn password_changes_since(&self, user_id: &str, since: i64) -> StoreResult<u64> {
        self.count(
            "SELECT COUNT(*) AS n FROM password_history WHERE user_id = $1 AND changed_at > $2 \
             AND initial = FALSE",
            params![user_id, since],
        )
        .await
    }

    /// Forgets every account's password history (the key it was recorded under is lost); returns the entries.
    pub async fn clear_password_history(&self) -> StoreResult<u64> {
        self.execute("DELETE FROM password_history", &[]).await
    }

    /// `initial`: the password the user was created with (history, but not a change).
    pub async fn record_password(
        &self,
        user_id: &str,
        fingerprint: &str,
        at: i64,
        initial: bool,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO password_history (user_id, fingerprint, changed_at, initial) VALUES ($1, $2, $3, $4)",
            params![user_id, fingerprint, at, initial],
        ).await?;
        Ok(())
    }

    pub async fn all_password_history(&self) -> StoreResult<Vec<PasswordEntry>> {
        self.all(
            by_insertion_order!(
                self.dialect(),
                "SELECT user_id, fingerprint, changed_at, initial FROM password_history ORDER BY changed_at, ",
                ""
            ),
            &[],
            |row| {
                Ok(PasswordEntry {
                    user_id: row.get("user_id")?,
                    fingerprint: row.get("fingerprint")?,
                    changed_at: row.get("changed_at")?,
                    initial: row.get("initial")?,
                })
            },
        ).await
    }

    pub async fn enqueue_email(&self, e: &OutboxEmail) -> StoreResult<()> {
        self.execute(
            "INSERT INTO outbox (user_id, account_id, to_address, subject, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![
                e.user_id.as_deref(),
                e.account_id.as_deref(),
                &e.to_address,
                &e.subject,
                &e.body,
                e.created_at
            ],
        )
        .await?;
        Ok(())
    }

    /// Every e-mail sent, oldest first; only those sent to `user_id` when one is given.
    pub async fn outbox(&self, user_id: Option<&str>) -> StoreResult<Vec<OutboxEmail>> {
        self.all(
            "SELECT user_id, account_id, to_address, subject, body, created_at FROM outbox \
             WHERE CAST($1 AS TEXT) IS NULL OR user_id = $1 ORDER BY id",
            params![user_id],
            |row| {
                Ok(OutboxEmail {
                    user_id: row.get("user_id")?,
                    account_id: row.get("account_id")?,
                    to_address: row.get("to_address")?,
                    subject: row.get("subject")?,
                    body: row.get("body")?,
                    created_at: row.get("created_at")?,
                })
            },
        )
        .await
    }

    /// Forgets the e-mails sent, or those sent to `user_id`.
    pub async fn clear_outbox(&self, user_id: Option<&str>) -> StoreResult<()> {
        self.execute(
            "DELETE FROM outbox WHERE CAST($1 AS TEXT) IS NULL OR user_id = $1",
            params![user_id],
        )
        .await?;
        Ok(())
    }
}
