//! Webhooks from the real binary: the guide's receivers (Python, Node) verify what it sends; the CLI's
//! subscriptions and delivery log; kill -9 during a burst of changes loses no event; two nodes on one PostgreSQL
//! database send each event once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::recipes::{marked_blocks, runtime_present};
use super::*;
use crate::receiver::Receiver;

const ADMIN: &str = "process-admin-key";
const SECRET_TOKEN: &str = "process-secret-token";
const GUIDE: &str = include_str!("../../../../../docs/webhooks.md");

/// A control API call through curl: `(status, body)`.
fn control(base: &str, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    let auth = format!("Authorization: Bearer {ADMIN}");
    let url = format!("{base}/_localzoom/v1{path}");
    let mut args = vec!["-X", method, "-H", &auth];
    if let Some(json) = json {
        args.extend(["-H", "Content-Type: application/json", "-d", json]);
    }
    args.push(&url);
    curl(&args)
}

/// Subscribes `url` to `user.created` through `base`'s control API; the subscription's id.
fn subscribe(base: &str, url: &str) -> String {
    let body =
        format!(r#"{{"url":"{url}","secret_token":"{SECRET_TOKEN}","events":["user.created"]}}"#);
    let (status, reply) = control(
        base,
        "POST",
        &format!("/apps/{CLIENT}/webhooks"),
        Some(&body),
    );
    assert_eq!(status, 201, "{reply}");
    assert_eq!(json_field(&reply, "validation"), "validated", "{reply}");
    json_field(&reply, "id").as_str().unwrap().to_string()
}

/// The ids of the users the `user.created` events name.
fn created_ids(events: &[crate::receiver::Received]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.body["payload"]["object"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn the_rust_receiver_of_the_guide_is_the_one_every_webhook_test_uses() {
    let guide = &marked_blocks(GUIDE, "receiver")["rust"];
    let source = include_str!("../receiver.rs");
    let begin = "// docs/webhooks.md, Rust: begin\n";
    let start = source.find(begin).unwrap() + begin.len();
    let end = source.find("// docs/webhooks.md, Rust: end").unwrap();
    assert_eq!(guide.as_str(), &source[start..end]);
}

#[test]
fn the_guide_shows_its_receiver_files_as_they_are() {
    let guide = marked_blocks(GUIDE, "receiver");
    assert_eq!(
        guide["receiver.py"],
        include_str!("../../../../../docs/webhooks/receiver.py")
    );
    assert_eq!(
        guide["receiver.mjs"],
        include_str!("../../../../../docs/webhooks/receiver.mjs")
    );
}

#[test]
fn the_python_and_node_receivers_of_the_guide_verify_signatures_and_get_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--admin-key", ADMIN]);
    let token = token(&server.base);
    let receivers = marked_blocks(GUIDE, "receiver");
    for (file, program, probe) in [
        ("receiver.py", "python3", "import http.server"),
        ("receiver.mjs", "node", "require('node:crypto')"),
    ] {
        let flag = if program == "node" { "-e" } else { "-c" };
        if !runtime_present(program, &[flag, probe], file) {
            continue;
        }
        std::fs::write(dir.path().join(file), &receivers[file]).unwrap();
        let port = free_port();
        let mut child = Command::new(program)
            .arg(dir.path().join(file))
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .env("ZOOM_WEBHOOK_SECRET_TOKEN", SECRET_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = {
            let (send, lines) = std::sync::mpsc::channel::<String>();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            std::thread::spawn(move || {
                for line in stdout.lines().map_while(Result::ok) {
                    let _ = send.send(line);
                }
            });
            lines
        };
        let url = format!("http://127.0.0.1:{port}/zoom/events");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{file} did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        // A request not signed with the secret token is refused.
        let (status, _) = curl(&[
            "-X",
            "POST",
            "-H",
            "x-zm-request-timestamp: 1767225600",
            "-H",
            "x-zm-signature: v0=0000",
            "-d",
            r#"{"event":"user.created","payload":{}}"#,
            &url,
        ]);
        assert_eq!(status, 401, "{file} took a forged event");
        let subscription = subscribe(&server.base, &url);
        let email = format!("{}@receivers.test", file.replace('.', "-"));
        let id = create_member(&server.base, &token, &email);
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{file} printed no event"));
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"], "user.created", "{line}");
        assert_eq!(event["payload"]["object"]["id"], id.as_str(), "{line}");
        let _ = child.kill();
        let _ = child.wait();
        control(
            &server.base,
            "DELETE",
            &format!("/webhooks/{subscription}"),
            None,
        );
    }
}

#[backend_test]
fn the_cli_adds_lists_and_removes_subscriptions_and_shows_and_replays_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let database = database_for(dir.path());
    let receiver = Receiver::start(SECRET_TOKEN);
    let cli = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(["apps", "webhooks"])
            .args(args)
            .args(["--database", &database])
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, out, err) = cli(&[
        "add",
        CLIENT,
        "--url",
        &receiver.url,
        "--secret-token",
        SECRET_TOKEN,
        "--event",
        "user.created,user.deactivated",
        "--output",
        "json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["validation"], "validated", "{out}");
    assert_eq!(
        added["events"],
        serde_json::json!(["user.created", "user.deactivated"])
    );
    assert!(added.get("secret_token").is_none());
    let id = added["id"].as_str().unwrap();
    let (code, _, err) = cli(&[
        "add",
        CLIENT,
        "--url",
        &receiver.url,
        "--secret-token",
        "s",
        "--event",
        "user.nope",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("Unknown event \"user.nope\""), "{err}");

    // The running server sends what the CLI subscribed.
    let token = token(&server.base);
    let user = create_member(&server.base, &token, "cli-hook@example.com");
    receiver.wait_for_blocking(1, Duration::from_secs(20));
    assert_eq!(created_ids(&receiver.events()), std::slice::from_ref(&user));
    let deliveries = || {
        let (code, out, err) = cli(&["deliveries", id, "--output", "json"]);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliveries()[0]["state"] != "delivered" {
        assert!(Instant::now() < deadline, "{}", deliveries());
        std::thread::sleep(Duration::from_millis(50));
    }
    let entry = deliveries()[0].clone();
    assert_eq!(
        (&entry["event"], &entry["attempts"], &entry["last_status"]),
        (&"user.created".into(), &1.into(), &200.into())
    );
    let (code, table, _) = cli(&["deliveries", id]);
    assert_eq!(code, Some(0));
    assert!(
        table.starts_with("id") && table.contains("user.created") && table.contains("delivered"),
        "{table}"
    );
    let delivery = entry["id"].to_string();
    let (code, _, err) = cli(&["redeliver", &delivery]);
    assert_eq!(code, Some(0), "{err}");
    let events = receiver.wait_for_blocking(2, Duration::from_secs(20));
    assert_eq!(created_ids(&events), [user.clone(), user]);

    let (code, out, _) = cli(&["list", "--client-id", CLIENT, "--output", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()[0]["id"], id);
    let (code, _, err) = cli(&["remove", id]);
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = cli(&["list", "--output", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        serde_json::json!([])
    );
    let (code, _, err) = cli(&["remove", id]);
    assert_eq!(code, Some(1));
    assert!(err.contains("does not exist"), "{err}");
}

/// Sets the flag when dropped: a burst stops also when the test fails while it runs.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Creates users through `bases` (round robin, from `threads` threads) until `stop` is set; the ids Zoom's API
/// acknowledged (201).
fn burst(bases: Vec<String>, token: String, threads: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (bases, token, stop, acknowledged) = (&bases, &token, &stop, &acknowledged);
            scope.spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let base = &bases[(t + n) % bases.len()];
                    let body = format!(
                        r#"{{"action":"create","user_info":{{"email":"burst{t}-{n}@example.com","type":1}}}}"#
                    );
                    let (status, reply) = api(base, token, "POST", "/users", Some(&body));
                    if status == 201 {
                        let id = json_field(&reply, "id").as_str().unwrap().to_string();
                        acknowledged.lock().unwrap().push(id);
                    }
                    n += 1;
                }
            });
        }
    });
    Arc::try_unwrap(acknowledged).unwrap().into_inner().unwrap()
}

#[backend_test]
fn kill_9_during_a_burst_of_changes_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--admin-key", ADMIN]);
    let receiver = Receiver::start(SECRET_TOKEN);
    // A slow endpoint: events wait in the outbox when the server dies.
    receiver.delay_events(Duration::from_millis(15));
    subscribe(&server.base, &receiver.url);
    let token = token(&server.base);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = std::thread::scope(|scope| {
        let _stop_on_failure = StopOnDrop(stop.clone());
        let bursting = {
            let (base, token, stop) = (server.base.clone(), token.clone(), stop.clone());
            scope.spawn(move || burst(vec![base], token, 3, stop))
        };
        // Killed while changes are being made and events are waiting to be sent.
        let deadline = Instant::now() + Duration::from_secs(20);
        while receiver.events().len() < 5 {
            assert!(Instant::now() < deadline, "no event arrived");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        server.signal("-KILL");
        stop.store(true, Ordering::Relaxed);
        bursting.join().unwrap()
    });
    let sent_before = created_ids(&receiver.events()).len();
    assert!(
        sent_before < acknowledged.len(),
        "everything was sent before the kill ({sent_before} of {}): the test proves nothing",
        acknowledged.len()
    );
    // Started again on the same database, it sends what was left. (An attempt in flight at the kill may come
    // twice: it is sent again once its claim lapses.)
    let restarted = start(dir.path(), &["--admin-key", ADMIN]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (received, missing) = loop {
        let received: HashSet<String> = created_ids(&receiver.events()).into_iter().collect();
        let missing: Vec<String> = acknowledged
            .iter()
            .filter(|id| !received.contains(*id))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break (received, missing);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        missing.is_empty(),
        "{} acknowledged changes lost their event: {missing:?}",
        missing.len()
    );
    // And no event tells of a change that did not happen.
    let db = open_db(dir.path());
    for id in &received {
        let user = db
            .read(|tx| async {
                let tx = tx;
                let store = &tx;
                store.user_by_id(ACCOUNT, id).await
            })
            .wait()
            .unwrap();
        assert!(user.is_some(), "an event for {id}, which does not exist");
    }
    drop(restarted);
    assert_eq!(receiver.forged(), 0);
}

#[test]
fn two_nodes_on_one_postgres_send_each_event_once() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start_on(dir.path(), &db.url, &["--admin-key", ADMIN]);
    let b = start_on(dir.path(), &db.url, &["--admin-key", ADMIN]);
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribe(&a.base, &receiver.url);
    let token = token(&a.base);
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = std::thread::scope(|scope| {
        let _stop_on_failure = StopOnDrop(stop.clone());
        let bursting = {
            let (bases, token, stop) = (vec![a.base.clone(), b.base.clone()], token, stop.clone());
            scope.spawn(move || burst(bases, token, 4, stop))
        };
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        bursting.join().unwrap()
    });
    assert!(acknowledged.len() >= 20, "{}", acknowledged.len());
    receiver.wait_for_blocking(acknowledged.len(), Duration::from_secs(60));
    // Time enough for either node to send anything a second time.
    std::thread::sleep(Duration::from_millis(500));
    let events = receiver.events();
    assert_eq!(events.len(), acknowledged.len(), "each event once");
    let received: HashSet<String> = created_ids(&events).into_iter().collect();
    let expected: HashSet<String> = acknowledged.into_iter().collect();
    assert_eq!(received, expected);
    let (_, view) = control(&b.base, "GET", &format!("/webhooks/{subscription}"), None);
    assert_eq!(
        json_field(&view, "deliveries")["delivered"],
        Value::from(expected.len())
    );
}
