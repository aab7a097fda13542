//! Tests of the real binary: start-up, restart, crash durability, shutdown, logs, and the seeds' curl commands.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use localzoom_test_macros::backend_test;
use serde_json::Value;

use crate::helpers::database_for;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_localzoom");
pub(crate) const ACCOUNT: &str = "ProcAccount00000000000";
pub(crate) const CLIENT: &str = "proc-client";
pub(crate) const SECRET: &str = "proc-secret";
/// The bootstrap credentials every command of these tests is given.
pub(crate) const CREDENTIALS: [&str; 6] = [
    "--account-id",
    ACCOUNT,
    "--client-id",
    CLIENT,
    "--client-secret",
    SECRET,
];

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    /// The first line printed on start.
    pub(crate) banner: String,
    stderr_path: std::path::PathBuf,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn start(dir: &Path, extra: &[&str]) -> Server {
    let db = database_for(dir);
    start_on(dir, &db, extra)
}

/// A server on the database at `database` (logs in `dir`). It listens on a port the system picks, read back from
/// its banner: no port is chosen here and then raced for.
pub(crate) fn start_on(dir: &Path, database: &str, extra: &[&str]) -> Server {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stderr_path = dir.join(format!("stderr-{}-{n}.log", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(["--database", database])
        .args(CREDENTIALS)
        .args(["--password-hash", "minimal"])
        .arg("--history-key-file")
        .arg(dir.join("history.key"))
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // The banner is printed once the listener is bound: `localzoom listening on http://ADDR · …`.
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let base = first_line
        .strip_prefix("localzoom listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("banner: {first_line:?}"))
        .to_string();
    Server {
        child,
        base,
        banner: first_line,
        stderr_path,
    }
}

impl Server {
    pub(crate) fn signal(&mut self, signal: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.stderr_path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `TEST_LOG=1 cargo test …`: the server's log, after the test's own output.
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!(
                "---- log of the server at {} ----\n{}",
                self.base,
                self.logs()
            );
        }
    }
}

pub(crate) fn curl(args: &[&str]) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_string())
}

/// One authenticated `/v2` call through curl: `(status, body)`.
pub(crate) fn api(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    json: Option<&str>,
) -> (u16, String) {
    let auth = format!("Authorization: Bearer {token}");
    let url = format!("{base}/v2{path}");
    let mut args = vec!["-X", method, "-H", &auth];
    if let Some(json) = json {
        args.extend(["-H", "Content-Type: application/json", "-d", json]);
    }
    args.push(&url);
    curl(&args)
}

pub(crate) fn json_field(body: &str, field: &str) -> Value {
    serde_json::from_str::<Value>(body).unwrap()[field].clone()
}

pub(crate) fn token(base: &str) -> String {
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-u",
        &format!("{CLIENT}:{SECRET}"),
        &format!("{base}/oauth/token?grant_type=account_credentials&account_id={ACCOUNT}"),
    ]);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) fn create_member(base: &str, token: &str, email: &str) -> String {
    let body = format!(
        r#"{{"action":"autoCreate","user_info":{{"email":"{email}","type":2,"password":"Initial1Pass"}}}}"#
    );
    let (status, body) = api(base, token, "POST", "/users", Some(&body));
    assert_eq!(status, 201, "{body}");
    json_field(&body, "id").as_str().unwrap().to_string()
}

/// The seeds' curl commands, verbatim but for host, token and the `:userId` placeholder.
fn seed_commands() -> Vec<Vec<String>> {
    // A copy of ../shared/seeds, so the test runs in any clone.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seeds");
    let mut commands = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("seed fixtures").collect();
    files.sort_by_key(|f| f.as_ref().unwrap().file_name());
    for file in files {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        let start = text.find("Curl Command").unwrap() + "Curl Command".len();
        let end = text[start..].find("Postman Collection").unwrap() + start;
        commands.push(shell_words(&text[start..end]));
    }
    commands
}

/// Splits a curl command the way a shell would (single and double quotes, whitespace and line breaks).
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[backend_test]
fn the_seed_curl_commands_work_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let token = token(&server.base);
    let user = create_member(&server.base, &token, "seed.user@localzoom.test");
    let commands = seed_commands();
    assert_eq!(commands.len(), 4);
    let run = |words: &[String], user: &str| {
        let args: Vec<String> = words[1..]
            .iter()
            .map(|w| {
                w.replace("https://api.zoom.us", &server.base)
                    .replace("<access_token>", &token)
                    .replace(":userId", user)
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    };
    // 000 revoke SSO token, 003 delete assistants: 204.
    assert_eq!(run(&commands[0], &user), (204, String::new()));
    assert_eq!(run(&commands[3], &user), (204, String::new()));
    // 002: the seed's sample password has no digit, and Zoom's basic rules require one.
    let (status, body) = run(&commands[2], &user);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"code":1126,"message":"Have at least 1 number (1, 2, 3…)"}"#
    );
    let with_digit: Vec<String> = commands[2]
        .iter()
        .map(|w| w.replace("dolor Excepteur minim", "dolor Excepteur minim 7"))
        .collect();
    assert_eq!(run(&with_digit, &user), (204, String::new()));
    // 001 deactivates.
    assert_eq!(run(&commands[1], &user), (204, String::new()));
    let (_, body) = api(&server.base, &token, "GET", &format!("/users/{user}"), None);
    assert_eq!(json_field(&body, "status"), "inactive");
    // An unknown user gets Zoom's 404.
    assert_eq!(
        run(&commands[0], "nobody"),
        (
            404,
            r#"{"code":1001,"message":"User does not exist: nobody."}"#.to_string()
        )
    );
}

#[backend_test]
fn state_survives_a_restart_and_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]);
    let token = token(&server.base);
    let user = create_member(&server.base, &token, "persist@localzoom.test");
    let password = Some(r#"{"password":"Changed1Pass"}"#);
    let password_path = format!("/users/{user}/password");
    assert_eq!(
        api(&server.base, &token, "PUT", &password_path, password).0,
        204
    );
    let assistant = create_member(&server.base, &token, "helper@localzoom.test");
    let add = format!(r#"{{"assistants":[{{"id":"{assistant}"}}]}}"#);
    let assistants_path = format!("/users/{user}/assistants");
    assert_eq!(
        api(&server.base, &token, "POST", &assistants_path, Some(&add)).0,
        201
    );
    // A sign-in session, written to the live database as the identity layer will (WAL allows it).
    let session = localzoom_server::store::SessionRecord {
        id: "session-1".into(),
        user_id: user.clone(),
        login_type: 100,
        created_at: 1,
        ended_at: None,
    };
    let db = open_db(dir.path());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.write(move |s| s.insert_session(&session)))
        .unwrap();
    drop(db);
    // SIGTERM: a clean exit.
    assert!(server.signal("-TERM").success());
    drop(server);

    let mut server = start(dir.path(), &[]);
    // The token issued before the restart still works, and every change is there.
    let (status, body) = api(&server.base, &token, "GET", &assistants_path, None);
    assert_eq!(status, 200);
    assert!(body.contains(&assistant));
    assert_eq!(
        api(&server.base, &token, "PUT", &password_path, password),
        (
            400,
            r#"{"code":300,"message":"Your new password can not match the old password."}"#
                .to_string()
        )
    );
    let deactivate = Some(r#"{"action":"deactivate"}"#);
    assert_eq!(
        api(
            &server.base,
            &token,
            "PUT",
            &format!("/users/{user}/status"),
            deactivate
        )
        .0,
        204
    );
    // kill -9 right after the acknowledged write: it must survive.
    server.signal("-KILL");
    drop(server);
    let server = start(dir.path(), &[]);
    let (_, body) = api(&server.base, &token, "GET", &format!("/users/{user}"), None);
    assert_eq!(json_field(&body, "status"), "inactive");
    // The session written before the first restart is there, ended by the deactivation.
    let sessions = open_db(dir.path()).read(|s| s.sessions(&user)).unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].ended_at.is_some());
}

pub(crate) fn open_db(dir: &Path) -> localzoom_server::store::Database {
    localzoom_server::store::Database::open(&database_for(dir)).unwrap()
}

#[backend_test]
fn json_logs_carry_the_tracking_id_and_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--log-format", "json"]);
    let token = token(&server.base);
    let output = Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .arg(format!("{}/v2/users/me", server.base))
        .output()
        .unwrap();
    let headers = String::from_utf8(output.stdout).unwrap();
    let tracking = headers
        .lines()
        .find_map(|l| l.strip_prefix("x-zm-trackingid: "))
        .expect("tracking header")
        .trim()
        .to_string();
    // The user-level flow too: app secret, code, access and refresh tokens, through the real endpoints.
    let db = database_for(dir.path());
    let created = Command::new(BIN)
        .args([
            "apps",
            "create",
            "--account",
            ACCOUNT,
            "--type",
            "user",
            "--redirect-uri",
            "http://localhost/cb",
        ])
        .args(["--database", &db, "--output", "json"])
        .output()
        .unwrap();
    let user_app: Value = serde_json::from_slice(&created.stdout).unwrap();
    let (client, secret) = (
        user_app["client_id"].as_str().unwrap(),
        user_app["client_secret"].as_str().unwrap(),
    );
    create_member(&server.base, &token, "logged@localzoom.test");
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .args([
            "--data-urlencode",
            "response_type=code",
            "--data-urlencode",
            &format!("client_id={client}"),
        ])
        .args([
            "--data-urlencode",
            "redirect_uri=http://localhost/cb",
            "--data-urlencode",
            "email=logged@localzoom.test",
        ])
        .args(["--data-urlencode", "password=Initial1Pass"])
        .arg(format!("{}/oauth/authorize", server.base))
        .output()
        .unwrap();
    let headers = String::from_utf8(output.stdout).unwrap();
    let location = headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .expect("a redirect")
        .trim();
    let code = location.split("code=").nth(1).unwrap().to_string();
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-u",
        &format!("{client}:{secret}"),
        "-d",
        "grant_type=authorization_code",
        "-d",
        &format!("code={code}"),
        "-d",
        "redirect_uri=http://localhost/cb",
        &format!("{}/oauth/token", server.base),
    ]);
    assert_eq!(status, 200, "{body}");
    let user_token = json_field(&body, "access_token")
        .as_str()
        .unwrap()
        .to_string();
    let refresh = json_field(&body, "refresh_token")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        api(&server.base, &user_token, "GET", "/users/me", None).0,
        200
    );

    server.signal("-TERM");
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&tracking))
        .expect("a log line with the tracking id");
    let parsed: Value = serde_json::from_str(line).expect("JSON log line");
    assert_eq!(parsed["status"], 200);
    assert!(logs.contains("/oauth/authorize"), "the flow was logged");
    for secret_value in [
        token.as_str(),
        SECRET,
        secret,
        code.as_str(),
        user_token.as_str(),
        refresh.as_str(),
        "Initial1Pass",
    ] {
        assert!(!logs.contains(secret_value), "a secret reached the logs");
    }
}

#[backend_test]
fn start_up_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(BIN).args(args).output().unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    // A taken port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let db = database_for(dir.path());
    let (code, err) = run(&["serve", "--listen", &addr, "--database", &db]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("localzoom: error: cannot listen on"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // An unreadable database.
    let (code, err) = run(&["serve", "--database", "sqlite:///nonexistent-dir/x/lz.db"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim(),
        "localzoom: error: cannot open the SQLite database /nonexistent-dir/x/lz.db: the directory \
         /nonexistent-dir/x does not exist"
    );
    assert!(!err.contains("panicked"));
    // A bad flag.
    let (code, err) = run(&["serve", "--plan", "platinum"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid value 'platinum'"), "{err}");
    // `token` prints a working token for the same database.
    let output = Command::new(BIN)
        .args(["token", "--database", &db])
        .args(CREDENTIALS)
        .output()
        .unwrap();
    assert!(output.status.success());
    let minted = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let server = start(dir.path(), &[]);
    assert_eq!(api(&server.base, &minted, "GET", "/users/me", None).0, 200);
}

#[backend_test]
fn seed_adds_users_that_list_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_for(dir.path());
    let seed = |n: &str| {
        let output = Command::new(BIN)
            .args(["seed", "--users", n, "--database", &db])
            .args(CREDENTIALS)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stderr).contains("seeding users:"));
    };
    seed("2500");
    // A second run continues the numbering.
    seed("10");
    let server = start(dir.path(), &[]);
    let token = token(&server.base);
    let total = |status: &str| {
        let (_, body) = api(
            &server.base,
            &token,
            "GET",
            &format!("/users?page_size=1&status={status}"),
            None,
        );
        json_field(&body, "total_records")
    };
    assert_eq!(total("active"), 2511);
    assert_eq!(
        api(
            &server.base,
            &token,
            "GET",
            "/users/seed2509@seed.localzoom.test",
            None
        )
        .0,
        200
    );
    // Counts follow deletes and status changes.
    let delete = "/users/seed0@seed.localzoom.test?action=delete";
    assert_eq!(api(&server.base, &token, "DELETE", delete, None).0, 204);
    let deactivate = Some(r#"{"action":"deactivate"}"#);
    let status = "/users/seed1@seed.localzoom.test/status";
    assert_eq!(api(&server.base, &token, "PUT", status, deactivate).0, 204);
    assert_eq!(total("active"), 2509);
    assert_eq!(total("inactive"), 1);
}

#[backend_test]
fn account_limits_are_set_from_the_command_line_and_bite_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_for(dir.path());
    let server = start(dir.path(), &[]);
    let token = token(&server.base);
    let user = create_member(&server.base, &token, "limited@localzoom.test");
    // Changing limits while the server runs: the next request sees them.
    let output = Command::new(BIN)
        .args([
            "accounts",
            "set-limits",
            "--password-changes-per-day",
            "1",
            "--max-basic-users",
            "0",
        ])
        .args(["--database", &db])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("max Basic users 0, password history 5, password changes per day 1")
    );
    let path = format!("/users/{user}/password");
    // autoCreate's initial password is not a change: one change is still allowed today.
    assert_eq!(
        api(
            &server.base,
            &token,
            "PUT",
            &path,
            Some(r#"{"password":"Second2Pass"}"#)
        )
        .0,
        204
    );
    let (status, body) = api(
        &server.base,
        &token,
        "PUT",
        &path,
        Some(r#"{"password":"Third3Pass"}"#),
    );
    assert_eq!((status, json_field(&body, "code")), (400, Value::from(300)));
    let basic = r#"{"action":"create","user_info":{"email":"basic@localzoom.test","type":1}}"#;
    let (status, body) = api(&server.base, &token, "POST", "/users", Some(basic));
    assert_eq!(
        (status, json_field(&body, "code")),
        (400, Value::from(3412))
    );
    let bad = Command::new(BIN)
        .args([
            "accounts",
            "set-limits",
            "--max-basic-users",
            "lots",
            "--database",
            &db,
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[backend_test]
fn accounts_and_apps_from_the_command_line_work_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_for(dir.path());
    let server = start(dir.path(), &[]);
    let cli = |args: &[&str]| -> Value {
        let output = Command::new(BIN)
            .args(args)
            .args(["--database", &db, "--output", "json"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let account = cli(&[
        "accounts",
        "create",
        "--plan",
        "business",
        "--owner-email",
        "boss@second.test",
    ]);
    let account_id = account["account_id"].as_str().unwrap().to_string();
    assert_eq!(account["owner_email"], "boss@second.test");
    let app = cli(&["apps", "create", "--account", &account_id, "--type", "s2s"]);
    assert_eq!(
        app["scopes"],
        "user:read:admin user:write:admin account:read:admin account:write:admin"
    );
    let (client, secret) = (
        app["client_id"].as_str().unwrap(),
        app["client_secret"].as_str().unwrap(),
    );
    let user_app = cli(&[
        "apps",
        "create",
        "--account",
        &account_id,
        "--type",
        "user",
        "--redirect-uri",
        "http://localhost/cb",
    ]);
    assert_eq!(user_app["scopes"], "user:read user:write");
    let listed = cli(&["accounts", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let apps = cli(&["apps", "list", "--account", &account_id]);
    assert_eq!(apps.as_array().unwrap().len(), 2);
    assert!(apps[0].get("client_secret").is_none());

    // The new app's credentials work against the running server at once, for the new account only.
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-u",
        &format!("{client}:{secret}"),
        &format!(
            "{}/oauth/token?grant_type=account_credentials&account_id={account_id}",
            server.base
        ),
    ]);
    assert_eq!(status, 200, "{body}");
    let token = json_field(&body, "access_token")
        .as_str()
        .unwrap()
        .to_string();
    let (_, me) = api(&server.base, &token, "GET", "/users/me", None);
    assert_eq!(json_field(&me, "email"), "boss@second.test");
    // Deactivating the app kills its live tokens at once.
    let deactivated = cli(&["apps", "deactivate", client]);
    assert_eq!(deactivated["active"], false);
    let (status, body) = api(&server.base, &token, "GET", "/users/me", None);
    assert_eq!((status, json_field(&body, "code")), (401, Value::from(124)));
    // And a table by default.
    let table = Command::new(BIN)
        .args(["accounts", "list", "--database", &db])
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.starts_with("account_id") && text.contains("boss@second.test"),
        "{text}"
    );
}

#[backend_test]
fn rate_limits_are_announced_switched_and_changed_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_for(dir.path());
    let cli = |args: &[&str]| -> String {
        let output = Command::new(BIN)
            .args(args)
            .args(["--database", &db])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let mut server = start(dir.path(), &[]);
    assert!(
        server.banner.contains("rate limits enforced per account")
            && server.banner.contains("light 30/s"),
        "{}",
        server.banner
    );
    let first = token(&server.base);
    // One Light call a second: the second call at once is refused (a slow machine only makes it likelier).
    let set = cli(&["accounts", "set-limits", "--rate-limit", "light=1"]);
    assert!(set.contains("rate limits: light 1/s, medium 20/s"), "{set}");
    let me = |base: &str, token: &str| api(base, token, "GET", "/users/me", None);
    assert_eq!(me(&server.base, &first).0, 200);
    let (status, body) = me(&server.base, &first);
    assert_eq!(
        (status, json_field(&body, "code")),
        (429, Value::from(429)),
        "{body}"
    );
    // The plan changes at once: Free's Medium rate is 2 a second, and its daily quotas appear.
    let set = cli(&["accounts", "set-plan", "free"]);
    assert!(
        set.contains("plan free") && set.contains("medium 2/s"),
        "{set}"
    );
    assert!(cli(&["accounts", "list"]).contains("free"));
    let statuses: Vec<u16> = (0..3)
        .map(|_| api(&server.base, &first, "GET", "/users", None).0)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    server.signal("-TERM");

    // Switched off, the same account's limits are not enforced.
    let server = start(dir.path(), &["--rate-limits", "off"]);
    assert!(
        server.banner.contains("rate limits off"),
        "{}",
        server.banner
    );
    let second = token(&server.base);
    for _ in 0..5 {
        assert_eq!(me(&server.base, &second).0, 200);
    }
}

/// Runs `localzoom ARGS` with `stdin`, pointing the Zoom commands at `server` with the bootstrap credentials.
pub(crate) fn zoom_cli(
    server: &Server,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("ZOOM_API_URL", format!("{}/v2", server.base))
        .env("ZOOM_OAUTH_URL", &server.base)
        .env("ZOOM_ACCOUNT_ID", ACCOUNT)
        .env("ZOOM_CLIENT_ID", CLIENT)
        .env("ZOOM_CLIENT_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// `localzoom users create` of a Licensed user without a Zoom password (assistants must be Licensed).
#[track_caller]
fn create_licensed(server: &Server, email: &str) -> Value {
    let args = [
        "users",
        "create",
        "--email",
        email,
        "--type",
        "2",
        "--action",
        "custCreate",
    ];
    zoom_json(server, &args, None)
}

#[track_caller]
pub(crate) fn zoom_json(server: &Server, args: &[&str], stdin: Option<&str>) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = zoom_cli(server, &all, stdin);
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[backend_test]
fn the_users_commands_drive_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let created = zoom_json(
        &server,
        &[
            "users",
            "create",
            "--email",
            "cli@localzoom.test",
            "--type",
            "2",
            "--action",
            "autoCreate",
            "--first-name",
            "Cli",
            "--password-stdin",
        ],
        Some("First1Pass\n"),
    );
    let id = created["id"].as_str().unwrap().to_string();
    create_licensed(&server, "aide@localzoom.test");
    let listed = zoom_json(&server, &["users", "list"], None);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    zoom_json(
        &server,
        &["users", "update", &id, "--job-title", "Tester"],
        None,
    );
    let got = zoom_json(&server, &["users", "get", "cli@localzoom.test"], None);
    assert_eq!(
        (got["id"].as_str(), got["job_title"].as_str()),
        (Some(id.as_str()), Some("Tester"))
    );

    zoom_json(
        &server,
        &["users", "assistants", "add", &id, "aide@localzoom.test"],
        None,
    );
    let assistants = zoom_json(&server, &["users", "assistants", "list", &id], None);
    assert_eq!(assistants[0]["email"], "aide@localzoom.test");
    let aide = assistants[0]["id"].as_str().unwrap().to_string();
    zoom_json(
        &server,
        &["users", "assistants", "remove", &id, &aide],
        None,
    );
    zoom_json(&server, &["users", "assistants", "add", &id, &aide], None);
    zoom_json(&server, &["users", "assistants", "clear", &id], None);
    assert_eq!(
        zoom_json(&server, &["users", "assistants", "list", &id], None),
        Value::from(Vec::<Value>::new())
    );

    zoom_json(
        &server,
        &["users", "password", &id, "--password-stdin"],
        Some("Second2Pass\n"),
    );
    zoom_json(&server, &["users", "revoke-sso", &id], None);
    zoom_json(&server, &["users", "status", &id, "deactivate"], None);
    assert_eq!(
        zoom_json(&server, &["users", "get", &id], None)["status"],
        "inactive"
    );
    zoom_json(
        &server,
        &[
            "users",
            "delete",
            "aide@localzoom.test",
            "--action",
            "delete",
        ],
        None,
    );

    // A refusal is Zoom's message and code on stderr, and exit status 1.
    let missing = zoom_cli(&server, &["users", "get", "aide@localzoom.test"], None);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("User does not exist: aide@localzoom.test. (code 1001, HTTP 404)"),
        "{stderr}"
    );
    // The table output names the columns.
    let table = zoom_cli(&server, &["users", "get", &id], None);
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("id "));

    // `--local`: the server at LOCALZOOM_LISTEN, with a token minted from LOCALZOOM_DATABASE (no secret needed).
    let local = Command::new(BIN)
        .args(["users", "get", "me", "--local", "--output", "json"])
        .env(
            "LOCALZOOM_LISTEN",
            server.base.trim_start_matches("http://"),
        )
        .env("LOCALZOOM_DATABASE", database_for(dir.path()))
        .env_remove("LOCALZOOM_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let me: Value = serde_json::from_slice(&local.stdout).unwrap();
    assert_eq!(me["email"], "owner@localzoom.test");
}

#[backend_test]
fn offboarding_500_users_of_a_pro_account_under_its_rate_limits_fails_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_for(dir.path());
    let seeded = Command::new(BIN)
        .args(["seed", "--users", "500", "--database", &db])
        .args(CREDENTIALS)
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    // Limits on (the default), plan pro (the default): 30 Light calls a second for the whole account.
    let server = start(dir.path(), &[]);
    assert!(server.banner.contains("light 30/s"), "{}", server.banner);
    let mut list = String::from("email,name\n");
    for n in 0..500 {
        list.push_str(&format!("seed{n}@seed.localzoom.test,Seed {n}\n"));
    }
    let file = dir.path().join("leavers.csv");
    std::fs::write(&file, list).unwrap();
    let output = zoom_cli(
        &server,
        &[
            "offboard",
            "--from",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("500 of 500 users offboarded; 0 failed"),
        "{stderr}"
    );
    // Paced, not bouncing: after the first refusals teach the client the quota, calls stay under it. (Without
    // pacing, 4 workers against 30 calls a second are refused hundreds of times.)
    let retries: u64 = stderr
        .split(" rate-limit retries")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the retry count");
    assert!(retries < 60, "{retries} retries: {stderr}");
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|r| r["result"] == "offboarded"
        && r["done"] == "sso-revoked assistants-removed deactivated"));
    let token = token(&server.base);
    let (_, body) = api(
        &server.base,
        &token,
        "GET",
        "/users?status=inactive&page_size=1",
        None,
    );
    assert_eq!(json_field(&body, "total_records"), Value::from(500));

    // Idempotent: a second run over some of them succeeds; an unknown user fails with Zoom's reason, exit 1.
    let again = zoom_cli(
        &server,
        &[
            "offboard",
            "seed1@seed.localzoom.test",
            "seed2@seed.localzoom.test",
            "ghost@seed.localzoom.test",
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("ghost@seed.localzoom.test  failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("User does not exist: ghost@seed.localzoom.test."),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("2 of 3 users offboarded; 1 failed"));

    // --reset-password: a work-email user's password is replaced (before the deactivation) by one nobody saw.
    zoom_json(
        &server,
        &[
            "users",
            "create",
            "--email",
            "leaver@localzoom.test",
            "--type",
            "2",
            "--action",
            "autoCreate",
            "--password-stdin",
        ],
        Some("Leaver1Pass\n"),
    );
    let reset = zoom_json(
        &server,
        &["offboard", "--reset-password", "leaver@localzoom.test"],
        None,
    );
    assert_eq!(
        reset[0]["done"],
        "sso-revoked assistants-removed password-reset deactivated"
    );
    let leaver = open_db(dir.path())
        .read(|s| s.user_by_email(ACCOUNT, "leaver@localzoom.test"))
        .unwrap()
        .unwrap();
    let changes = open_db(dir.path())
        .read(|s| s.password_changes_since(&leaver.id, 0))
        .unwrap();
    assert_eq!(changes, 1);

    // An SSO or API user has no Zoom password to reset: still offboarded.
    create_licensed(&server, "sso@localzoom.test");
    let reset = zoom_json(
        &server,
        &["offboard", "--reset-password", "sso@localzoom.test"],
        None,
    );
    assert_eq!(
        reset[0]["done"],
        "sso-revoked assistants-removed no-password-to-reset deactivated"
    );

    // A dry run changes nothing, and predicts what would fail (an owner cannot be deactivated).
    create_licensed(&server, "stays@localzoom.test");
    create_licensed(&server, "aide@localzoom.test");
    zoom_json(
        &server,
        &[
            "users",
            "assistants",
            "add",
            "stays@localzoom.test",
            "aide@localzoom.test",
        ],
        None,
    );
    let dry = zoom_cli(
        &server,
        &[
            "offboard",
            "--dry-run",
            "stays@localzoom.test",
            "owner@localzoom.test",
        ],
        None,
    );
    assert_eq!(dry.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        stdout.contains("would offboard") && stdout.contains("would fail"),
        "{stdout}"
    );
    let stays = zoom_json(&server, &["users", "get", "stays@localzoom.test"], None);
    assert_eq!(stays["status"], "active");
    let assistants = zoom_json(
        &server,
        &["users", "assistants", "list", "stays@localzoom.test"],
        None,
    );
    assert_eq!(assistants.as_array().unwrap().len(), 1);
}

/// A fresh PostgreSQL schema for a process test, or `None` (the test is then skipped, as `Backend::postgres`
/// says why; under CI=true it fails there instead).
pub(crate) fn postgres_database() -> Option<crate::helpers::TestDatabase> {
    match crate::helpers::Backend::postgres()? {
        crate::helpers::Backend::Postgres(base) => Some(crate::helpers::TestDatabase::postgres(
            base,
            tempfile::tempdir().unwrap(),
        )),
        crate::helpers::Backend::Sqlite => None,
    }
}

#[test]
fn postgres_start_up_errors_are_one_clear_line() {
    let Some(db) = postgres_database() else {
        return;
    };
    let run = |database: &str| {
        let output = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, err) = run("postgres://postgres@127.0.0.1:1/test");
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(
            "localzoom: error: cannot connect to PostgreSQL at postgres://127.0.0.1:1/test"
        ),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A schema written by a newer localzoom is refused, not reinterpreted.
    let (schema_base, schema) = db.postgres_parts().unwrap();
    crate::helpers::pg_execute(
        &schema_base,
        &format!(
            "CREATE TABLE {schema}.localzoom_schema (version BIGINT NOT NULL); INSERT INTO {schema}.localzoom_schema VALUES (99)"
        ),
    );
    let (code, err) = run(&db.url);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("database schema version 99 is newer than this localzoom understands"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn two_nodes_on_one_postgres_behave_as_one_server() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start_on(dir.path(), &db.url, &[]);
    let b = start_on(dir.path(), &db.url, &[]);
    // Nodes starting on an existing schema agree on it; the banner names the shared database.
    assert!(b.banner.contains("database postgres://"), "{}", b.banner);
    assert!(
        b.banner
            .contains("every node on this database enforces the whole quota"),
        "{}",
        b.banner
    );
    let token = token(&a.base);

    // Writes on one node are read on the other at once, and ids and page tokens work on either.
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = format!(
            r#"{{"action":"autoCreate","user_info":{{"email":"node{n}@localzoom.test","type":2,"password":"Start{n}Pass"}}}}"#
        );
        let (status, created) = api(&a.base, &token, "POST", "/users", Some(&body));
        assert_eq!(status, 201, "{created}");
        ids.push(json_field(&created, "id").as_str().unwrap().to_string());
    }
    let (status, user) = api(&b.base, &token, "GET", &format!("/users/{}", ids[0]), None);
    assert_eq!(
        (status, json_field(&user, "email")),
        (200, Value::from("node0@localzoom.test"))
    );
    let (_, page) = api(&a.base, &token, "GET", "/users?page_size=2", None);
    let next = json_field(&page, "next_page_token");
    let (status, page2) = api(
        &b.base,
        &token,
        "GET",
        &format!(
            "/users?page_size=2&next_page_token={}",
            next.as_str().unwrap()
        ),
        None,
    );
    assert_eq!(status, 200, "{page2}");
    assert_eq!(json_field(&page2, "users").as_array().unwrap().len(), 2);

    // A deactivation on A is what B reports next.
    let deactivate = Some(r#"{"action":"deactivate"}"#);
    assert_eq!(
        api(
            &a.base,
            &token,
            "PUT",
            &format!("/users/{}/status", ids[1]),
            deactivate
        )
        .0,
        204
    );
    let (_, user) = api(&b.base, &token, "GET", &format!("/users/{}", ids[1]), None);
    assert_eq!(json_field(&user, "status"), Value::from("inactive"));

    // Concurrent password changes of one user through both nodes: the daily cap (5) holds.
    let path = format!("/users/{}/password", ids[2]);
    let results: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|n| {
                let (base, token, path) =
                    (if n % 2 == 0 { &a.base } else { &b.base }, &token, &path);
                scope.spawn(move || {
                    let body = format!(r#"{{"password":"Race{n}Pass{n}x"}}"#);
                    api(base, token, "PUT", path, Some(&body)).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|s| **s == 204).count(),
        5,
        "{results:?}"
    );
    assert!(
        results.iter().all(|s| *s == 204 || *s == 400),
        "{results:?}"
    );

    // A token revoked through A is refused by B at once.
    let (status, _) = curl(&[
        "-X",
        "POST",
        "-u",
        &format!("{CLIENT}:{SECRET}"),
        "-d",
        &format!("token={token}"),
        &format!("{}/oauth/revoke", a.base),
    ]);
    assert_eq!(status, 200);
    let (status, body) = api(&b.base, &token, "GET", "/users/me", None);
    assert_eq!((status, json_field(&body, "code")), (401, Value::from(124)));
}

fn export_to(database: &str, file: &Path) -> String {
    let output = Command::new(BIN)
        .args([
            "export",
            "--database",
            database,
            "--file",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(file).unwrap()
}

fn import_from(database: &str, file: &Path) -> std::process::Output {
    Command::new(BIN)
        .args([
            "import",
            "--database",
            database,
            "--file",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn export_and_import_move_everything_between_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = database_for(dir.path());
    let mut server = start(dir.path(), &["--admin-key", "export-admin-key"]);
    let token = token(&server.base);
    // A little of everything: users with and without passwords, a changed password, assistants, a session,
    // security settings and a rate-limit override.
    let body = r#"{"action":"autoCreate","user_info":{"email":"moving@localzoom.test","type":2,"password":"First1Pass"}}"#;
    let (_, created) = api(&server.base, &token, "POST", "/users", Some(body));
    let mover = json_field(&created, "id").as_str().unwrap().to_string();
    let body = r#"{"action":"custCreate","user_info":{"email":"aide@localzoom.test","type":2}}"#;
    let (_, created) = api(&server.base, &token, "POST", "/users", Some(body));
    let aide = json_field(&created, "id").as_str().unwrap().to_string();
    let change = Some(r#"{"password":"Second2Pass"}"#);
    assert_eq!(
        api(
            &server.base,
            &token,
            "PUT",
            &format!("/users/{mover}/password"),
            change
        )
        .0,
        204
    );
    let assistants = format!(r#"{{"assistants":[{{"id":"{aide}"}}]}}"#);
    let path = format!("/users/{mover}/assistants");
    let (status, added) = api(&server.base, &token, "POST", &path, Some(&assistants));
    assert_eq!(status, 201, "{added}");
    let (status, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer export-admin-key",
        "-d",
        r#"{"login_type":101}"#,
        "-H",
        "Content-Type: application/json",
        &format!("{}/_localzoom/v1/users/{mover}/sessions", server.base),
    ]);
    assert_eq!(status, 201);
    let settings = r#"{"security":{"password_requirement":{"minimum_password_length":10}}}"#;
    assert_eq!(
        api(
            &server.base,
            &token,
            "PATCH",
            "/accounts/me/settings?option=security",
            Some(settings)
        )
        .0,
        204
    );
    server.signal("-TERM");
    let limits = Command::new(BIN)
        .args([
            "accounts",
            "set-limits",
            "--rate-limit",
            "light=7",
            "--database",
            &sqlite,
        ])
        .output()
        .unwrap();
    assert!(limits.status.success());

    let first = export_to(&sqlite, &dir.path().join("first.ndjson"));
    assert!(
        first.starts_with(r#"{"record":"header","format":"localzoom-export","version":1}"#),
        "{first}"
    );
    for record in [
        "meta",
        "account",
        "user",
        "app",
        "token",
        "session",
        "assistant",
        "password",
    ] {
        assert!(
            first.contains(&format!(r#"{{"record":"{record}""#)),
            "no {record} in {first}"
        );
    }

    // Into a fresh SQLite database, and into PostgreSQL when there is one: exporting again gives the same bytes.
    let mut targets = vec![(
        format!("sqlite://{}", dir.path().join("copy.db").display()),
        None,
    )];
    if let Some(pg) = postgres_database() {
        targets.push((pg.url.clone(), Some(pg)));
    }
    for (n, (target, _keep)) in targets.iter().enumerate() {
        let imported = import_from(target, &dir.path().join("first.ndjson"));
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let again = export_to(target, &dir.path().join(format!("again{n}.ndjson")));
        assert_eq!(again, first, "{target}");
        // Importing twice is refused: the target is no longer empty.
        let twice = import_from(target, &dir.path().join("first.ndjson"));
        assert_eq!(twice.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&twice.stderr).contains("already holds accounts"));

        // And the moved data behaves: the old token works, the history and assistants are there, the rules hold.
        let moved = start_on(dir.path(), target, &[]);
        let (status, me) = api(&moved.base, &token, "GET", "/users/me", None);
        assert_eq!(
            (status, json_field(&me, "email")),
            (200, Value::from("owner@localzoom.test"))
        );
        let reuse = Some(r#"{"password":"First1Pass"}"#);
        let (status, body) = api(
            &moved.base,
            &token,
            "PUT",
            &format!("/users/{mover}/password"),
            reuse,
        );
        assert_eq!(
            (status, json_field(&body, "code")),
            (400, Value::from(1129)),
            "{body}"
        );
        let (_, list) = api(
            &moved.base,
            &token,
            "GET",
            &format!("/users/{mover}/assistants"),
            None,
        );
        assert!(list.contains(&aide), "{list}");
        assert!(moved.banner.contains("light 7/s"), "{}", moved.banner);
    }
}

/// The Redis the shared-limiter tests use (`LOCALZOOM_TEST_REDIS`, default the local server), if it answers;
/// under CI=true a silent Redis fails the test instead.
fn test_redis() -> Option<String> {
    static REACHABLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    REACHABLE
        .get_or_init(|| {
            let url = std::env::var("LOCALZOOM_TEST_REDIS")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let address = url
                .trim_start_matches("redis://")
                .trim_end_matches('/')
                .to_string();
            let answered = std::net::TcpStream::connect_timeout(
                &address
                    .parse()
                    .expect("LOCALZOOM_TEST_REDIS as redis://IP:PORT"),
                Duration::from_secs(1),
            )
            .is_ok();
            match answered {
                true => Some(url),
                false if std::env::var("CI").as_deref() == Ok("true") => {
                    panic!("CI=true and Redis at {url} does not answer")
                }
                false => {
                    // Once per run, straight to stderr: the harness would swallow eprintln! of a passing test.
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "skipping the shared rate-limit (Redis) tests: {url} does not answer; start Redis there \
                         or set LOCALZOOM_TEST_REDIS (.ci/run starts it)"
                    );
                    None
                }
            }
        })
        .clone()
}

#[test]
fn two_nodes_share_one_rate_limit_through_redis() {
    let (Some(db), Some(redis)) = (postgres_database(), test_redis()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start_on(dir.path(), &db.url, &["--redis", &redis]);
    let b = start_on(dir.path(), &db.url, &["--redis", &redis]);
    assert!(
        a.banner
            .contains("shared by every node through Redis (fail open)"),
        "{}",
        a.banner
    );
    let set = Command::new(BIN)
        .args([
            "accounts",
            "set-limits",
            "--rate-limit",
            "light=20",
            "--database",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let token = token(&a.base);

    // Four clients, two per node, as fast as they can for three seconds.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (admitted, refused, elapsed) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let until = started + Duration::from_secs(3);
        let clients: Vec<_> = (0..4)
            .map(|n| {
                let (http, token) = (http.clone(), token.clone());
                let base = if n % 2 == 0 {
                    a.base.clone()
                } else {
                    b.base.clone()
                };
                tokio::spawn(async move {
                    let (mut ok, mut limited) = (0u32, 0u32);
                    while Instant::now() < until {
                        let response = http
                            .get(format!("{base}/v2/users/me"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        match response.status().as_u16() {
                            200 => ok += 1,
                            429 => limited += 1,
                            other => panic!("unexpected {other}"),
                        }
                    }
                    (ok, limited)
                })
            })
            .collect();
        let (mut ok, mut limited) = (0, 0);
        for client in clients {
            let (o, l) = client.await.unwrap();
            ok += o;
            limited += l;
        }
        (ok, limited, started.elapsed().as_secs_f64())
    });
    // GCRA: a burst of 20, then 20 a second — for both nodes together, not each.
    let rate = f64::from(admitted - 20) / elapsed;
    println!(
        "shared limit: {admitted} admitted, {refused} refused in {elapsed:.2} s = {rate:.2}/s"
    );
    assert!(refused > 0, "nothing was refused: {admitted} admitted");
    assert!(
        (19.0..=21.0).contains(&rate),
        "{admitted} admitted in {elapsed:.2} s = {rate:.2}/s"
    );
}

#[backend_test]
fn an_unreachable_redis_fails_open_or_closed_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let closed = start(
        dir.path(),
        &[
            "--redis",
            "redis://127.0.0.1:1",
            "--redis-failure",
            "closed",
        ],
    );
    assert!(
        closed.banner.contains("Redis does not answer now"),
        "{}",
        closed.banner
    );
    let token = token(&closed.base);
    let (status, body) = api(&closed.base, &token, "GET", "/users/me", None);
    assert_eq!(
        (status, json_field(&body, "code")),
        (503, Value::from(503)),
        "{body}"
    );
    drop(closed);
    let open = start(dir.path(), &["--redis", "redis://127.0.0.1:1"]);
    let (status, _) = api(&open.base, &token, "GET", "/users/me", None);
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = std::fs::read_to_string(&open.stderr_path).unwrap();
        if log.contains("unreachable") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        log.contains("the shared rate limiter (Redis) is unreachable"),
        "{log}"
    );
}
