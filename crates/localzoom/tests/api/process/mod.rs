//! Tests of the real binary, by concern (seeds, lifecycle, management commands, the Zoom CLI, PostgreSQL, Redis),
//! and the helpers they share: a server process on a port the system picks, curl, the CLI.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use localzoom_test_macros::backend_test;
use serde_json::Value;

use crate::helpers::database_for;

mod cli;
mod control;
mod lifecycle;
mod managed;
mod management;
mod postgres;
mod private_servers;
mod recipes;
mod redis;
mod seeds;
mod webhooks;

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

    /// The log once it contains `text` (written by a background task, so maybe not yet), or after 5 s as it is.
    fn logs_once_they_contain(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logs = self.logs();
            if logs.contains(text) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(50));
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

/// The database a process test's server ran on, opened in this process (on `Wait`'s runtime, which its
/// PostgreSQL connections live on).
pub(crate) fn open_db(dir: &Path) -> localzoom_server::store::Database {
    localzoom_server::store::Database::open(&database_for(dir))
        .wait()
        .unwrap()
}

/// `.wait()`: a future run to its end from a synchronous test, on one runtime shared by every such test.
pub(crate) trait Wait: std::future::Future + Sized {
    fn wait(self) -> Self::Output {
        static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> =
            std::sync::LazyLock::new(|| tokio::runtime::Runtime::new().unwrap());
        RUNTIME.block_on(self)
    }
}

impl<F: std::future::Future> Wait for F {}

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
