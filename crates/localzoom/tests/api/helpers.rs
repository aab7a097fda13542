use std::sync::Arc;

use localzoom_server::clock::ManualClock;
use localzoom_server::crypto::HashParams;
use localzoom_server::domain::user::UserRecord;
use localzoom_server::server::{self, ServerConfig, Started};
use localzoom_server::store::SessionRecord;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ACCOUNT_ID: &str = "TestAccount0000000000A";
pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";
pub const OWNER_EMAIL: &str = "owner@example.com";
pub const ADMIN_KEY: &str = "test-admin-key";
/// What every control endpoint answers on a server without an admin key.
pub const CONTROL_API_OFF: &str = "localzoom's control API is off: start the server with --admin-key KEY (or \
                                   LOCALZOOM_ADMIN_KEY) and send Authorization: Bearer KEY.";
/// 2026-01-01T00:00:00Z
pub const START_MS: i64 = 1_767_225_600_000;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub clock: ManualClock,
    pub server: Option<Started>,
    /// Holds the test's database until the test ends.
    pub _db: TestDatabase,
}

/// The storage backend a `#[backend_test]` variant runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The PostgreSQL database (URL) in which each test makes its own schema.
    Postgres(String),
}

tokio::task_local! {
    pub static BACKEND: Backend;
}

thread_local! {
    /// The backend of the synchronous test running on this thread, and the databases it made.
    static SYNC_BACKEND: std::cell::RefCell<Option<Backend>> = const { std::cell::RefCell::new(None) };
    static SYNC_DATABASES: std::cell::RefCell<Vec<(std::path::PathBuf, TestDatabase)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs a synchronous test's body with `backend` (skipped when it is `None`), then drops the databases the body
/// made, also when it fails.
pub fn run_sync(backend: Option<Backend>, body: impl FnOnce()) {
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            SYNC_BACKEND.with(|b| b.borrow_mut().take());
            let made = SYNC_DATABASES.with(|d| std::mem::take(&mut *d.borrow_mut()));
            drop(made);
        }
    }
    let Some(backend) = backend else { return };
    SYNC_BACKEND.with(|b| *b.borrow_mut() = Some(backend));
    let _cleanup = Cleanup;
    body();
}

/// The database URL a synchronous test uses for the server whose files are in `dir`: an SQLite file there, or,
/// in the PostgreSQL variant, a schema made for `dir` on first use (so a restart finds the same data).
pub fn database_for(dir: &std::path::Path) -> String {
    let backend = SYNC_BACKEND
        .with(|b| b.borrow().clone())
        .unwrap_or(Backend::Sqlite);
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("lz.db").display()),
        Backend::Postgres(base) => SYNC_DATABASES.with(|made| {
            let mut made = made.borrow_mut();
            if let Some((_, db)) = made.iter().find(|(d, _)| d == dir) {
                return db.url.clone();
            }
            let db = TestDatabase::postgres(base, tempfile::tempdir().unwrap());
            let url = db.url.clone();
            made.push((dir.to_path_buf(), db));
            url
        }),
    }
}

impl Backend {
    pub fn sqlite() -> Option<Backend> {
        Some(Backend::Sqlite)
    }

    /// PostgreSQL at `LOCALZOOM_TEST_DATABASE` (default: the local server, database `test`), if it answers.
    /// Where it does not, its variants are skipped with a printed reason — except under `CI=true`, where a
    /// missing database is a failure.
    pub fn postgres() -> Option<Backend> {
        static REACHABLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        REACHABLE
            .get_or_init(|| {
                let url = std::env::var("LOCALZOOM_TEST_DATABASE")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
                let probe = url.clone();
                let answered = std::thread::spawn(move || {
                    postgres::Client::connect(&probe, postgres::NoTls).map(|_| ())
                })
                .join()
                .unwrap();
                match answered {
                    Ok(()) => Some(url),
                    Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                        panic!("CI=true and PostgreSQL at {url} does not answer: {e}")
                    }
                    Err(e) => {
                        // Straight to stderr: the test harness would swallow eprintln! of a passing test.
                        use std::io::Write;
                        let _ = writeln!(
                            std::io::stderr(),
                            "skipping the PostgreSQL variants and tests: {url} does not answer ({e}); start \
                             PostgreSQL there or set LOCALZOOM_TEST_DATABASE (.ci/run starts it)"
                        );
                        None
                    }
                }
            })
            .clone()
            .map(Backend::Postgres)
    }
}

/// One test's own database: a temporary SQLite file, or a fresh schema in the test PostgreSQL database, dropped
/// when the test ends.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: TempDir,
}

impl TestDatabase {
    pub fn new() -> TestDatabase {
        let dir = tempfile::tempdir().unwrap();
        match BACKEND.try_with(Backend::clone).unwrap_or(Backend::Sqlite) {
            Backend::Postgres(base) => TestDatabase::postgres(base, dir),
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.path().join("localzoom.db").display()),
                postgres: None,
                _dir: dir,
            },
        }
    }

    /// A fresh schema in the PostgreSQL database at `base`.
    pub fn postgres(base: String, dir: TempDir) -> TestDatabase {
        let id = localzoom_server::crypto::new_id().to_lowercase();
        let schema = format!("lz_test_{}", id.replace('-', "_"));
        pg_execute(&base, &format!("CREATE SCHEMA {schema}"));
        let separator = if base.contains('?') { '&' } else { '?' };
        TestDatabase {
            url: format!("{base}{separator}options=-csearch_path%3D{schema}"),
            postgres: Some((base, schema)),
            _dir: dir,
        }
    }
}

impl TestDatabase {
    /// The PostgreSQL database URL and schema, for tests that reach into the schema directly.
    pub fn postgres_parts(&self) -> Option<(String, String)> {
        self.postgres.clone()
    }
}

impl Drop for TestDatabase {
    /// Drops the schema. A server of the test may still be running beside (a dropped server's webhook sender
    /// polls until the test's runtime ends): its reads and the DROP lock the schema's tables in other orders, and
    /// when PostgreSQL breaks the deadlock by failing the DROP, the DROP is simply tried again.
    fn drop(&mut self) {
        let Some((base, schema)) = self.postgres.take() else {
            return;
        };
        let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        std::thread::spawn(move || {
            let mut client =
                postgres::Client::connect(&base, postgres::NoTls).expect("PostgreSQL for tests");
            for attempt in 1.. {
                match client.batch_execute(&sql) {
                    Ok(()) => return,
                    Err(e)
                        if attempt < 5
                            && e.code()
                                == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => {}
                    Err(e) => panic!("{sql}: {e}"),
                }
            }
        })
        .join()
        .unwrap();
    }
}

/// Runs SQL on the test's database, whichever backend it is, on a connection of its own.
pub fn execute_sql(app: &TestApp, sql: &str) {
    match app._db.postgres_parts() {
        None => {
            let path = app._db.url.trim_start_matches("sqlite://");
            rusqlite::Connection::open(path)
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }
        Some((base, schema)) => pg_execute(&base, &format!("SET search_path TO {schema}; {sql}")),
    }
}

/// Runs one statement on its own connection, on a thread of its own (the synchronous client must not run on an
/// async worker).
pub fn pg_execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&url, postgres::NoTls).expect("PostgreSQL for tests");
        client.batch_execute(&sql).unwrap();
    })
    .join()
    .unwrap();
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts Zoom's error shape exactly: HTTP status, `code` and `message`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64, message: &str) {
        assert_eq!(self.status.as_u16(), status, "status of {:?}", self.body);
        assert_eq!(self.body["code"], json!(code), "code of {:?}", self.body);
        assert_eq!(
            self.body["message"],
            json!(message),
            "message of {:?}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "body {:?}", self.body);
    }

    /// The `field`s of a validation error's `errors[]`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with_plan("pro").await
    }

    pub async fn spawn_with_plan(plan: &str) -> TestApp {
        Self::spawn_configured(plan, Some(ADMIN_KEY)).await
    }

    pub async fn spawn_configured(plan: &str, admin_key: Option<&str>) -> TestApp {
        Self::spawn_inner(plan, admin_key, false).await
    }

    /// A server enforcing Zoom's rate limits (the other constructors switch them off: their tests make many
    /// calls at one instant of the manual clock).
    pub async fn spawn_rate_limited(plan: &str) -> TestApp {
        Self::spawn_inner(plan, Some(ADMIN_KEY), true).await
    }

    /// A server whose configuration `tune` adjusts (limits, timeouts) before it starts.
    pub async fn spawn_tuned(tune: impl FnOnce(&mut ServerConfig)) -> TestApp {
        Self::spawn_full("pro", Some(ADMIN_KEY), false, tune).await
    }

    async fn spawn_inner(plan: &str, admin_key: Option<&str>, rate_limits: bool) -> TestApp {
        Self::spawn_full(plan, admin_key, rate_limits, |_| {}).await
    }

    async fn spawn_full(
        plan: &str,
        admin_key: Option<&str>,
        rate_limits: bool,
        tune: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let db = TestDatabase::new();
        let clock = ManualClock::new(START_MS);
        let mut config = ServerConfig::new("127.0.0.1:0", &db.url);
        config.bootstrap.plan =
            Some(localzoom_server::domain::account::AccountPlan::parse(plan).expect("a plan"));
        config.bootstrap.owner_email = Some(OWNER_EMAIL.into());
        config.bootstrap.account_id = Some(ACCOUNT_ID.into());
        config.bootstrap.client_id = Some(CLIENT_ID.into());
        config.bootstrap.client_secret = Some(CLIENT_SECRET.into());
        config.hash_params = HashParams::MINIMAL;
        config.clock = Arc::new(clock.clone());
        config.admin_key = admin_key.map(str::to_string);
        config.rate_limits = rate_limits;
        config.history_key = Some(localzoom_server::crypto::HistoryKey::from_bytes([7; 32]));
        tune(&mut config);
        // `TEST_LOG=1 cargo test …`: the server's log, shown with the test's output (repeated calls are no-ops).
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_test_writer()
                .try_init();
        }
        let started = server::start(config).await.unwrap();
        let mut app = TestApp {
            base: format!("http://{}", started.addr),
            http: reqwest::Client::new(),
            token: String::new(),
            clock,
            server: Some(started),
            _db: db,
        };
        app.token = app.fresh_token().await;
        app
    }

    pub fn db(&self) -> &localzoom_server::store::Database {
        &self.server.as_ref().unwrap().state.db
    }

    pub async fn fresh_token(&self) -> String {
        let response = self
            .http
            .post(format!(
                "{}/oauth/token?grant_type=account_credentials&account_id={ACCOUNT_ID}",
                self.base
            ))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A call to any path of the server (`/v2/…`, `/_localzoom/v1/…`) with the given bearer token.
    pub async fn call_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// The Server-to-Server grant of an app (`client`, `secret`) for `account`: the token, or the refusal.
    pub async fn grant(&self, account: &str, client: &str, secret: &str) -> Reply {
        self.send(
            self.http
                .post(format!(
                    "{}/oauth/token?grant_type=account_credentials&account_id={account}",
                    self.base
                ))
                .basic_auth(client, Some(secret)),
        )
        .await
    }

    /// A second account, `AccountB` (Business, owned by `owner@b.test`), with a Server-to-Server app: (its
    /// owner, the app's client id, its secret).
    pub async fn second_account(&self) -> (UserRecord, String, String) {
        use localzoom_server::service::accounts::{self, AppKind};
        let now = self.clock_now();
        self.db()
            .write(move |tx| async move {
                let s = &tx;
                let result: localzoom_server::error::ApiResult<_> = {
                    let (_, owner) = accounts::create_account(
                        s,
                        "AccountB",
                        localzoom_server::domain::account::AccountPlan::Business,
                        "owner@b.test",
                        now,
                    )
                    .await?;
                    let (app, secret) =
                        accounts::create_app(s, "AccountB", AppKind::S2s, None, None, now).await?;
                    Ok((owner, app.client_id, secret))
                };
                result
            })
            .await
            .unwrap()
    }

    /// A call to the control API (`/_localzoom/v1{path}`) with the admin key.
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(ADMIN_KEY, method, &format!("/_localzoom/v1{path}"), body)
            .await
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/v2{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// `PUT /users/{id}/status` with `{"action": action}`.
    pub async fn set_status(&self, user: &str, action: &str) -> Reply {
        self.call(
            Method::PUT,
            &format!("/users/{user}/status"),
            Some(json!({ "action": action })),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn create_user(&self, action: &str, email: &str, user_type: i64) -> String {
        let mut info =
            json!({ "email": email, "type": user_type, "first_name": "Test", "last_name": "User" });
        if action == "autoCreate" {
            info["password"] = json!("Initial1Pass");
        }
        let reply = self
            .call(
                Method::POST,
                "/users",
                Some(json!({ "action": action, "user_info": info })),
            )
            .await;
        reply.assert_status(201);
        reply.body["id"].as_str().unwrap().to_string()
    }

    /// An active, Licensed member who signs in with a work e-mail and has no password yet.
    pub async fn member(&self, email: &str) -> String {
        let id = self.create_user("custCreate", email, 2).await;
        self.edit_user(email, |u| {
            u.login_type = localzoom_server::domain::user::LoginType::WorkEmail
        })
        .await;
        id
    }

    pub async fn user_record(&self, email: &str) -> UserRecord {
        let email = email.to_string();
        self.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.user_by_email(ACCOUNT_ID, &email).await
            })
            .await
            .unwrap()
            .expect("user exists")
    }

    /// Changes a user directly in the store (for states the API cannot create: admins, Zoom Rooms, …).
    pub async fn edit_user(
        &self,
        email: &str,
        edit: impl FnOnce(&mut UserRecord) + Send + 'static,
    ) {
        let email = email.to_string();
        self.db()
            .write(move |tx| async move {
                let s = &tx;

                let mut user = s
                    .user_by_email(ACCOUNT_ID, &email)
                    .await?
                    .expect("user exists");
                edit(&mut user);
                s.update_user(&user).await
            })
            .await
            .unwrap();
    }

    pub async fn add_session(&self, user_id: &str, login_type: i64) -> String {
        let session = SessionRecord {
            id: localzoom_server::crypto::new_id(),
            user_id: user_id.to_string(),
            login_type: localzoom_server::domain::user::LoginType::from_code(login_type)
                .expect("a login type"),
            created_at: self.clock_now(),
            ended_at: None,
        };
        let id = session.id.clone();
        self.db()
            .write(move |tx| async move {
                let s = &tx;
                s.insert_session(&session).await
            })
            .await
            .unwrap();
        id
    }

    pub async fn sessions(&self, user_id: &str) -> Vec<SessionRecord> {
        self.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.sessions(user_id).await
            })
            .await
            .unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use localzoom_server::clock::Clock;
        self.clock.now_ms()
    }

    pub async fn edit_account(
        &self,
        edit: impl FnOnce(&mut localzoom_server::store::AccountRecord) + Send + 'static,
    ) {
        self.db()
            .write(move |tx| async move {
                let s = &tx;

                let mut account = s.account(ACCOUNT_ID).await?.unwrap();
                edit(&mut account);
                s.update_account(&account).await
            })
            .await
            .unwrap();
    }

    /// Mints a token of a new app of the account holding exactly `scopes`, acting for `user_id`.
    pub async fn token_with_scopes(&self, user_id: &str, scopes: &[&str]) -> String {
        let user_id = user_id.to_string();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let now = self.clock_now();
        self.db()
            .write(move |tx| async move {
                let s = &tx;

                let app = localzoom_server::store::AppRecord {
                    client_id: localzoom_server::crypto::new_id(),
                    client_secret_sha256: vec![0; 32],
                    account_id: ACCOUNT_ID.into(),
                    owner_user_id: user_id,
                    kind: localzoom_server::domain::account::AppKind::User,
                    scopes,
                    active: true,
                    created_at: now,
                    redirect_uri: None,
                };
                s.insert_app(&app).await?;
                localzoom_server::service::accounts::mint_token(s, &app, now).await
            })
            .await
            .unwrap()
            .access_token
    }

    /// Mints a token that acts for the given user (as a user-level app's token would).
    pub async fn token_for_user(&self, user_id: &str) -> String {
        let user_id = user_id.to_string();
        let now = self.clock_now();
        self.db()
            .write(move |tx| async move {
                let s = &tx;

                let mut app = s.app(CLIENT_ID).await?.unwrap();
                app.owner_user_id = user_id;
                localzoom_server::service::accounts::mint_token(s, &app, now).await
            })
            .await
            .unwrap()
            .access_token
    }
}
