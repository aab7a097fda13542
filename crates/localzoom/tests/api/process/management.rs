//! The management commands on a database, also while a server runs on it.

use super::*;

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
        "user:read:admin user:write:admin account:read:admin account:write:admin scim2"
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
