//! The control plane of the real binary: `serve --fixtures` and `--seed`.

use super::*;

const FIXTURE: &str = r#"
accounts:
  - id: SeedAcct0000000000001
    owner_email: boss@seed.test
    plan: business
    apps:
      - client_id: seedClient01
        client_secret: seed-secret-01
    users:
      - email: gen@seed.test      # no id: generated
        type: 2
"#;

/// (the generated user's id, its PMI, the access token granted) as the server at `base` shows them.
fn generated(base: &str) -> (String, String, String) {
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-u",
        "seedClient01:seed-secret-01",
        &format!(
            "{base}/oauth/token?grant_type=account_credentials&account_id=SeedAcct0000000000001"
        ),
    ]);
    assert_eq!(status, 200, "{body}");
    let token = json_field(&body, "access_token");
    let (status, body) = api(
        base,
        token.as_str().unwrap(),
        "GET",
        "/users/gen@seed.test",
        None,
    );
    assert_eq!(status, 200, "{body}");
    (
        json_field(&body, "id").as_str().unwrap().to_string(),
        json_field(&body, "pmi").to_string(),
        token.as_str().unwrap().to_string(),
    )
}

fn users_of(base: &str) -> Value {
    let (_, body) = curl(&[
        "-u",
        "seedClient01:seed-secret-01",
        "-X",
        "POST",
        &format!(
            "{base}/oauth/token?grant_type=account_credentials&account_id=SeedAcct0000000000001"
        ),
    ]);
    let token = json_field(&body, "access_token");
    let (status, body) = api(base, token.as_str().unwrap(), "GET", "/users", None);
    assert_eq!(status, 200, "{body}");
    json_field(&body, "users")
}

#[backend_test]
fn fixtures_load_at_start_idempotently_and_a_seed_repeats_generated_ids() {
    let fixture_dir = tempfile::tempdir().unwrap();
    let fixture = fixture_dir.path().join("fixture.yaml");
    std::fs::write(&fixture, FIXTURE).unwrap();
    let fixture = fixture.to_str().unwrap();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), &["--fixtures", fixture, "--seed", "7"]);
        assert!(server.banner.contains("localzoom listening on"));
        seen.push(generated(&server.base));
    }
    assert_eq!(
        seen[0], seen[1],
        "the same seed, the same ids, PMIs and tokens"
    );
    let dir = tempfile::tempdir().unwrap();
    let unseeded = start(dir.path(), &["--fixtures", fixture]);
    let other = generated(&unseeded.base);
    assert_ne!((&other.0, &other.2), (&seen[0].0, &seen[0].2));
    // A restart on the same database loads the document again and changes nothing.
    let users = users_of(&unseeded.base);
    drop(unseeded);
    let again = start(dir.path(), &["--fixtures", fixture]);
    assert_eq!(users_of(&again.base), users);
}

#[backend_test]
fn a_bad_fixture_file_stops_the_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fixture.yaml");
    std::fs::write(&fixture, FIXTURE.replace("type: 2", "type: 3")).unwrap();
    let output = Command::new(BIN)
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(["--database", &database_for(dir.path())])
        .args(CREDENTIALS)
        .arg("--history-key-file")
        .arg(dir.path().join("history.key"))
        .arg("--fixtures")
        .arg(&fixture)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("fixture.yaml: accounts[0].users[0].type: A user type is 1, 2, 4 or 99."),
        "{stderr}"
    );
}

const KEY: &str = "process-admin-key";

/// `localzoom ctl ARGS --output json` against `server`, its admin key in the environment.
fn ctl(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("ctl")
        .args(args)
        .env("LOCALZOOM_URL", &server.base)
        .env("LOCALZOOM_ADMIN_KEY", KEY)
        .output()
        .unwrap()
}

#[track_caller]
fn ctl_json(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let output = ctl(server, &all);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[backend_test]
fn ctl_drives_every_part_of_the_control_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--admin-key", KEY]);
    assert!(server.banner.contains("localzoom listening on"));
    let token = token(&server.base);
    let ann = create_member(&server.base, &token, "ann@localzoom.test");

    // A fault on the next status change: the call fails, the journal shows it, nothing changed.
    let rule = ctl_json(
        &server,
        &[
            "faults",
            "add",
            "--operation",
            "userStatus",
            "--times",
            "1",
            "--status",
            "503",
        ],
    );
    assert_eq!(rule["id"], "fault-1");
    let status_path = format!("/users/{ann}/status");
    let deactivate = Some(r#"{"action":"deactivate"}"#);
    assert_eq!(
        api(&server.base, &token, "PUT", &status_path, deactivate).0,
        503
    );
    assert_eq!(
        api(&server.base, &token, "PUT", &status_path, deactivate).0,
        204
    );
    let faults = ctl_json(&server, &["faults", "list"]);
    assert_eq!(faults[0]["fired"], 1);
    let count = ctl_json(&server, &["requests", "count", "--operation", "userStatus"]);
    assert_eq!(count, serde_json::json!({ "count": 2 }));
    let listed = ctl_json(
        &server,
        &[
            "requests",
            "list",
            "--operation",
            "userStatus",
            "--status",
            "503",
        ],
    );
    assert_eq!(listed["requests"][0]["fault"], "fault-1");
    assert_eq!(listed["requests"][0]["user"], ann.as_str());
    let table = ctl(&server, &["requests", "list", "--user", &ann]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("time"), "{table}");
    assert!(
        table.contains("userStatus") && table.contains("fault-1"),
        "{table}"
    );
    assert_eq!(
        ctl_json(&server, &["faults", "delete", "--all"])["done"],
        "deleted"
    );
    assert_eq!(
        ctl_json(&server, &["faults", "list"]),
        serde_json::json!([])
    );
    assert_eq!(api(&server.base, &token, "GET", "/users/me", None).0, 200);
    assert_eq!(ctl_json(&server, &["requests", "clear"])["done"], "cleared");
    assert_eq!(ctl_json(&server, &["requests", "count"])["count"], 0);

    // The clock, forward only.
    let clock = ctl_json(&server, &["clock", "get"]);
    let before = clock["now"].as_str().unwrap().to_string();
    assert!(before.ends_with('Z'));
    let moved = ctl_json(&server, &["clock", "advance", "90000"]);
    assert!(moved["now"].as_str().unwrap() > before.as_str(), "{moved}");
    // The token of before lived an hour; the clock is a day on.
    assert_eq!(api(&server.base, &token, "GET", "/users/me", None).0, 401);
    let back = ctl(&server, &["clock", "set", "2020-01-01T00:00:00Z"]);
    assert!(!back.status.success());
    assert!(
        String::from_utf8_lossy(&back.stderr).contains("The clock moves forward only"),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );

    // The outbox, and a fixture loaded from a file.
    let token = super::token(&server.base);
    let password = Some(r#"{"password":"Fresh1Pass1"}"#);
    let changed = api(
        &server.base,
        &token,
        "PUT",
        &format!("/users/{ann}/password"),
        password,
    );
    assert_eq!(changed.0, 204, "{}", changed.1);
    let mail = ctl_json(&server, &["outbox", "list", "--user", "ann@localzoom.test"]);
    assert_eq!(mail[0]["subject"], "Your Zoom password has been changed");
    let fixture = dir.path().join("more.yaml");
    std::fs::write(
        &fixture,
        format!("accounts:\n  - id: {ACCOUNT}\n    users:\n      - email: bo@localzoom.test\n"),
    )
    .unwrap();
    ctl_json(&server, &["fixtures", "load", fixture.to_str().unwrap()]);
    assert_eq!(
        api(
            &server.base,
            &token,
            "GET",
            "/users/bo@localzoom.test",
            None
        )
        .0,
        200
    );

    // A reset: Ann and Bo are gone.
    assert_eq!(ctl_json(&server, &["reset"])["done"], "reset");
    let token = super::token(&server.base);
    assert_eq!(
        api(&server.base, &token, "GET", &format!("/users/{ann}"), None).0,
        404
    );
    assert_eq!(
        ctl_json(&server, &["outbox", "list"]),
        serde_json::json!([])
    );

    // A wrong key, and a server with the control API off, are named.
    let wrong = Command::new(BIN)
        .args([
            "ctl",
            "reset",
            "--admin-key",
            "wrong-key-wrong",
            "--url",
            &server.base,
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Invalid access token."));
    let closed_dir = tempfile::tempdir().unwrap();
    let closed = start(closed_dir.path(), &[]);
    assert!(closed.banner.contains("localzoom listening on"));
    let off = ctl(&closed, &["reset"]);
    assert!(
        String::from_utf8_lossy(&off.stderr).contains("control API is off"),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
}
