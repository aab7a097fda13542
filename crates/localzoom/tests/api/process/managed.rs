//! Managed databases as a multi-node deployment meets them: PostgreSQL and Redis that require TLS (with a CA of
//! their own), and that restart or stop while requests are in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::private_servers::{PrivatePostgres, PrivateRedis, Relay, TestCa};
use super::*;

/// `serve` that must fail to start: its one line of error.
fn refused_start(dir: &Path, extra: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(CREDENTIALS)
        .arg("--history-key-file")
        .arg(dir.join("history.key"))
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[test]
fn postgres_over_tls_is_verified_as_sslmode_says_and_no_password_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "db");
    let other = TestCa::new(dir.path(), "other");
    let Some(pg) = PrivatePostgres::start(Some(&ca)) else {
        return;
    };
    let password = "s3cret-Pg-pw";
    let url = |host: &str, params: String| {
        format!(
            "postgres://postgres:{password}@{host}:{}/postgres?{params}",
            pg.port
        )
    };
    let root = |ca: &TestCa| format!("sslrootcert={}", ca.ca.display());

    // The server refuses plain connections, as managed services do, and says so.
    let err = refused_start(
        dir.path(),
        &["--database", &url("localhost", "sslmode=disable".into())],
    );
    assert!(
        err.contains("cannot connect to PostgreSQL at postgres://localhost:")
            && err.contains("?sslmode=disable")
            && err.contains("no encryption"),
        "{err}"
    );
    // A certificate signed by another CA, and a host the certificate does not name, are refused.
    let err = refused_start(
        dir.path(),
        &[
            "--database",
            &url("localhost", format!("sslmode=verify-full&{}", root(&other))),
        ],
    );
    assert!(
        err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    let err = refused_start(
        dir.path(),
        &[
            "--database",
            &url("127.0.0.1", format!("sslmode=verify-full&{}", root(&ca))),
        ],
    );
    assert!(
        err.contains(
            "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid \
             for DnsName(\"localhost\")"
        ),
        "{err}"
    );
    // verify-* without a CA is refused before connecting, with what to add.
    let err = refused_start(
        dir.path(),
        &[
            "--database",
            &url("localhost", "sslmode=verify-full".into()),
        ],
    );
    assert!(err.contains("add sslrootcert=/path/to/ca.pem"), "{err}");

    // What each mode accepts: require (encrypted, unverified), verify-ca (the chain, any name), verify-full.
    for (n, (host, params, shown)) in [
        (
            "127.0.0.1",
            "sslmode=require".to_string(),
            "?sslmode=require",
        ),
        (
            "127.0.0.1",
            format!("sslmode=verify-ca&{}", root(&ca)),
            "?sslmode=verify-ca",
        ),
        (
            "localhost",
            format!("sslmode=verify-full&{}", root(&ca)),
            "?sslmode=verify-full",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let server = start_on(dir.path(), &url(host, params), &[]);
        assert!(server.banner.contains(shown), "{}", server.banner);
        let token = token(&server.base);
        let id = create_member(&server.base, &token, &format!("tls{n}@localzoom.test"));
        let (status, body) = api(&server.base, &token, "GET", &format!("/users/{id}"), None);
        assert_eq!(status, 200, "{body}");
        // Every connection the node holds is encrypted (the server admits no other, and says so here).
        let plain = pg.psql(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.client_addr IS NOT NULL AND NOT s.ssl",
        );
        let encrypted = pg.psql(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.client_addr IS NOT NULL AND s.ssl",
        );
        assert_eq!(plain.trim(), "0");
        assert!(encrypted.trim().parse::<u32>().unwrap() >= 2, "{encrypted}");
        let logs = server.logs();
        for text in [&server.banner, &logs] {
            assert!(!text.contains(password), "{text}");
        }
    }
}

#[test]
fn redis_over_tls_with_a_ca_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "cache");
    let other = TestCa::new(dir.path(), "other");
    let password = "r3dis-Pw";
    let Some(redis) = PrivateRedis::start(Some(&ca), Some(password)) else {
        return;
    };
    let url = format!("rediss://:{password}@localhost:{}", redis.port);
    let ca_file = ca.ca.display().to_string();
    let server = start(
        dir.path(),
        &[
            "--redis",
            &url,
            "--redis-ca-file",
            &ca_file,
            "--redis-failure",
            "closed",
        ],
    );
    let token = token(&server.base);
    // Closed: a call is admitted only once Redis counted it, over TLS. Not the banner's check at start: its
    // connection (TLS and AUTH within the limiter's 250 ms) missed once on a machine busy with the rest of the
    // suite; a later call connects again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = api(&server.base, &token, "GET", "/users/me", None);
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{status} {body}; {}",
            server.banner
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let keys = String::from_utf8(
        Command::new("redis-cli")
            .args(["--tls", "--cacert", &ca_file, "-h", "localhost"])
            .args([
                "-p",
                &redis.port.to_string(),
                "-a",
                password,
                "--no-auth-warning",
            ])
            .args(["--scan", "--pattern", "lz:*"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(keys.contains(":rate:"), "{keys:?}");
    drop(server);

    // A certificate the given CA did not sign: Redis "does not answer", and closed means 503.
    let other_file = other.ca.display().to_string();
    let wrong = start(
        dir.path(),
        &[
            "--redis",
            &url,
            "--redis-ca-file",
            &other_file,
            "--redis-failure",
            "closed",
        ],
    );
    assert!(
        wrong.banner.contains("Redis does not answer now"),
        "{}",
        wrong.banner
    );
    let (status, body) = api(&wrong.base, &token, "GET", "/users/me", None);
    assert_eq!(
        (status, json_field(&body, "code")),
        (503, Value::from(503)),
        "{body}"
    );
    let logs = wrong.logs_once_they_contain("unreachable");
    assert!(
        logs.contains("the shared rate limiter (Redis) is unreachable"),
        "{logs}"
    );
    for text in [&wrong.banner, &logs] {
        assert!(!text.contains(password), "{text}");
    }
    drop(wrong);

    // A CA file is for TLS only.
    let err = refused_start(
        dir.path(),
        &[
            "--database",
            &database_for(dir.path()),
            "--redis",
            &format!("redis://127.0.0.1:{}", redis.port),
            "--redis-ca-file",
            &ca_file,
        ],
    );
    assert!(
        err.contains("a Redis CA file needs a rediss:// URL"),
        "{err}"
    );
}

#[test]
fn postgres_connections_lost_without_notice_are_replaced_and_the_call_carried_out() {
    let Some(db) = postgres_database() else {
        return;
    };
    // The node reaches PostgreSQL through a relay that can forget its connections, as a fail-over does: the
    // node learns of it only when it next sends on one.
    let relay = Relay::start(5432);
    let url = db.url.replacen(":5432/", &format!(":{}/", relay.port), 1);
    assert_ne!(url, db.url);
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(dir.path(), &url, &[]);
    let token = token(&server.base);
    let id = create_member(&server.base, &token, "stale@localzoom.test");
    for round in 0..3 {
        // Several pooled read connections, all of which go stale at once.
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| api(&server.base, &token, "GET", "/users/me", None));
            }
        });
        relay.forget_connections();
        let (status, body) = api(&server.base, &token, "GET", &format!("/users/{id}"), None);
        assert_eq!(status, 200, "read after losing the connections: {body}");
        relay.forget_connections();
        let title = format!("Round {round}");
        let (status, body) = api(
            &server.base,
            &token,
            "PATCH",
            &format!("/users/{id}"),
            Some(&format!(r#"{{"job_title":"{title}"}}"#)),
        );
        assert_eq!(status, 204, "write after losing the connections: {body}");
        let (_, user) = api(&server.base, &token, "GET", &format!("/users/{id}"), None);
        assert_eq!(json_field(&user, "job_title"), Value::from(title));
    }
}

/// What one call under load got.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// Calls to `/v2` from a few tasks until finished (or dropped, when a test fails): creates (each acknowledged id
/// kept) and reads.
struct Load {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    answers: Arc<Mutex<Vec<Answer>>>,
    created: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Load {
    fn start(runtime: &tokio::runtime::Runtime, base: &str, token: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let created = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::new();
        let tasks = (0..clients)
            .map(|client| {
                let (http, stop, answers, created) =
                    (http.clone(), stop.clone(), answers.clone(), created.clone());
                let (base, token) = (base.to_string(), token.to_string());
                runtime.spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let create = http
                            .post(format!("{base}/v2/users"))
                            .bearer_auth(&token)
                            .json(&serde_json::json!({
                                "action": "autoCreate",
                                "user_info": {"email": format!("load{client}-{n}@localzoom.test"), "type": 1,
                                              "password": "Initial1Pass"}
                            }));
                        let read = http.get(format!("{base}/v2/users/me")).bearer_auth(&token);
                        for request in [create, read] {
                            let answer = match request.send().await {
                                Ok(response) => {
                                    let status = response.status().as_u16();
                                    let retry_after = response
                                        .headers()
                                        .get("retry-after")
                                        .map(|v| v.to_str().unwrap().to_string());
                                    let body = response.text().await.unwrap_or_default();
                                    Answer { status, retry_after, body }
                                }
                                // No answer at all (the server died or dropped the connection) counts as status 0.
                                Err(e) => Answer { status: 0, retry_after: None, body: e.to_string() },
                            };
                            if answer.status == 201 {
                                created
                                    .lock()
                                    .unwrap()
                                    .push(json_field(&answer.body, "id").as_str().unwrap().to_string());
                            }
                            answers.lock().unwrap().push(answer);
                        }
                    }
                })
            })
            .collect();
        Load {
            tasks,
            answers,
            created,
            stop,
        }
    }

    /// How many calls were answered so far.
    fn answered(&self) -> usize {
        self.answers.lock().unwrap().len()
    }

    /// Whether a create was acknowledged after the first `from` answers.
    fn created_since(&self, from: usize) -> bool {
        self.answers.lock().unwrap()[from..]
            .iter()
            .any(|a| a.status == 201)
    }

    /// Stops the calls: every answer, and the ids of the users whose creation was acknowledged.
    fn finish(mut self, runtime: &tokio::runtime::Runtime) -> (Vec<Answer>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            runtime.block_on(task).unwrap();
        }
        (
            std::mem::take(&mut *self.answers.lock().unwrap()),
            std::mem::take(&mut *self.created.lock().unwrap()),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls `path` (a `/v2` read when it starts with `/users`) until it answers `status`; how long that took.
fn until_status(base: &str, token: &str, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = if path.starts_with("/users") {
            api(base, token, "GET", path, None).0
        } else {
            curl(&[&format!("{base}{path}")]).0
        };
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} did not answer {status} within {within:?} (last {got})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every answer under load was a success or a 503 in Zoom's shape with `Retry-After`; nothing else.
fn assert_only_success_or_503(answers: &[Answer]) {
    let unavailable = answers.iter().filter(|a| a.status == 503).count();
    for answer in answers {
        match answer.status {
            200 | 201 => {}
            503 => {
                assert_eq!(
                    json_field(&answer.body, "code"),
                    Value::from(503),
                    "{}",
                    answer.body
                );
                assert_eq!(answer.retry_after.as_deref(), Some("1"), "{}", answer.body);
            }
            other => panic!("{other} under load: {}", answer.body),
        }
    }
    assert!(
        unavailable > 0,
        "the outage was never seen ({} answers)",
        answers.len()
    );
}

#[test]
fn postgres_restarted_and_stopped_under_load_answers_503_never_500_and_loses_nothing() {
    let Some(pg) = PrivatePostgres::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    let server = start_on(dir.path(), &url, &["--rate-limits", "off"]);
    let token = token(&server.base);
    // Quiet first: after a restart, the node's connections are all stale; the first read and the first write
    // on them are carried out (on new connections), not failed.
    for _ in 0..3 {
        api(&server.base, &token, "GET", "/users/me", None);
    }
    pg.restart();
    let (status, body) = api(&server.base, &token, "GET", "/users/me", None);
    assert_eq!(status, 200, "first read after the restart: {body}");
    let (status, body) = api(
        &server.base,
        &token,
        "PATCH",
        "/users/me",
        Some(r#"{"job_title":"Restarted"}"#),
    );
    assert_eq!(status, 204, "first write after the restart: {body}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let load = Load::start(&runtime, &server.base, &token, 4);

    std::thread::sleep(Duration::from_millis(500));
    // A restart ends every session the node holds, mid-statement for some.
    pg.restart();
    std::thread::sleep(Duration::from_millis(500));
    let served_after_restart = load.answered();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        load.created_since(served_after_restart),
        "creates did not resume after the restart"
    );

    // Stopped: readiness fails (so a load balancer moves away), liveness holds, calls get 503 + Retry-After.
    pg.stop();
    until_status(
        &server.base,
        &token,
        "/healthz",
        503,
        Duration::from_secs(3),
    );
    assert_eq!(curl(&[&format!("{}/livez", server.base)]).0, 200);
    let (status, body) = api(&server.base, &token, "GET", "/users/me", None);
    assert_eq!(
        (status, json_field(&body, "code")),
        (503, Value::from(503)),
        "{body}"
    );
    std::thread::sleep(Duration::from_millis(500));

    // Back: the next read and write succeed within a second of the database accepting connections.
    pg.start_again();
    let read_back = until_status(
        &server.base,
        &token,
        "/users/me",
        200,
        Duration::from_secs(1),
    );
    let started = Instant::now();
    loop {
        let (status, body) = api(
            &server.base,
            &token,
            "PATCH",
            "/users/me",
            Some(r#"{"job_title":"Back"}"#),
        );
        if status == 204 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{status} {body}"
        );
    }
    until_status(
        &server.base,
        &token,
        "/healthz",
        200,
        Duration::from_secs(2),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (answers, created) = load.finish(&runtime);
    eprintln!("read back {read_back:?} after PostgreSQL accepted connections again");
    eprintln!(
        "{} answers under load, {} of them 503",
        answers.len(),
        answers.iter().filter(|a| a.status == 503).count()
    );
    assert_only_success_or_503(&answers);
    // Every acknowledged create is there.
    assert!(created.len() > 10, "{}", created.len());
    for id in &created {
        let (status, body) = api(&server.base, &token, "GET", &format!("/users/{id}"), None);
        assert_eq!(status, 200, "acknowledged user {id} is gone: {body}");
    }
    // The log names the cause.
    let logs = server.logs();
    assert!(logs.contains("Connection refused"), "{logs}");
}

#[test]
fn redis_restarted_under_load_answers_503_when_closed_and_recovers_within_a_second() {
    let Some(mut redis) = PrivateRedis::start(None, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let server = start(dir.path(), &["--redis", &url, "--redis-failure", "closed"]);
    let token = token(&server.base);
    // Quiet first: after a restart the limiter's pooled connection is stale; the next call is admitted (on a new
    // connection), not refused.
    assert_eq!(api(&server.base, &token, "GET", "/users/me", None).0, 200);
    redis.stop();
    redis.start_again();
    let (status, body) = api(&server.base, &token, "GET", "/users/me", None);
    assert_eq!(status, 200, "first call after Redis restarted: {body}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let load = Load::start(&runtime, &server.base, &token, 2);
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    std::thread::sleep(Duration::from_millis(500));
    redis.start_again();
    let back = until_status(
        &server.base,
        &token,
        "/users/me",
        200,
        Duration::from_secs(1),
    );
    std::thread::sleep(Duration::from_millis(200));
    let (mut answers, _) = load.finish(&runtime);
    eprintln!("admitted again {back:?} after Redis accepted connections");
    // Calls the quota refused (429) are the limiter working; anything else is a success or the outage's 503.
    answers.retain(|a| a.status != 429);
    assert_only_success_or_503(&answers);
}
