//! `localzoom users` and `localzoom offboard` against a real server.

use super::*;

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

    // Closed sets are checked before anything is sent: a value outside one is clap's error (exit 2) with the
    // possible values; a listed one arrives typed.
    let refused: [(&[&str], &str); 6] = [
        (&["users", "list", "--status", "gone"], "gone"),
        (&["users", "status", &id, "clock_in"], "clock_in"),
        (&["users", "delete", &id, "--action", "purge"], "purge"),
        (
            &[
                "users",
                "create",
                "--email",
                "y@localzoom.test",
                "--action",
                "invite",
            ],
            "invite",
        ),
        (
            &[
                "users",
                "create",
                "--email",
                "x@localzoom.test",
                "--type",
                "3",
            ],
            "3",
        ),
        (&["users", "update", &id, "--type", "99"], "99"),
    ];
    for (args, value) in refused {
        let output = zoom_cli(&server, args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}'"))
                && stderr.contains("possible values"),
            "{args:?}: {stderr}"
        );
    }
    // The account's reads.
    let summary = zoom_json(&server, &["users", "summary"], None);
    // The owner is licensed; the deactivated user lost the licence (Zoom's deactivation removes it).
    assert_eq!(
        (
            &summary["licensed_users_count"],
            &summary["basic_users_count"]
        ),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{summary}"
    );
    let permissions = zoom_json(&server, &["users", "permissions", "me"], None);
    assert!(
        permissions
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({ "permission": "User:Read" })),
        "{permissions}"
    );
    let presence = zoom_json(&server, &["users", "presence", "me"], None);
    assert_eq!(presence["status"], "Offline", "{presence}");
    // Settings, a picture and a background, each seen by a later read.
    zoom_json(
        &server,
        &[
            "users",
            "settings",
            "update",
            &id,
            r#"{"schedule_meeting":{"host_video":true}}"#,
        ],
        None,
    );
    let host_video = zoom_json(
        &server,
        &["users", "settings", "get", &id, "--fields", "host_video"],
        None,
    );
    assert_eq!(
        host_video,
        serde_json::json!({ "schedule_meeting": { "host_video": true } })
    );
    let files = tempfile::tempdir().unwrap();
    let png = files.path().join("face.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n-rest-of-it").unwrap();
    let picture = zoom_json(
        &server,
        &["users", "picture", "upload", &id, png.to_str().unwrap()],
        None,
    );
    assert!(
        picture["pic_url"].as_str().unwrap().contains("/p/"),
        "{picture}"
    );
    let background = zoom_json(
        &server,
        &["users", "backgrounds", "upload", &id, png.to_str().unwrap()],
        None,
    );
    assert_eq!(
        (&background["name"], &background["type"]),
        (&serde_json::json!("face.png"), &serde_json::json!("image"))
    );
    let file_id = background["id"].as_str().unwrap();
    zoom_json(
        &server,
        &["users", "backgrounds", "delete", &id, file_id],
        None,
    );
    let listed = zoom_json(&server, &["users", "settings", "get", &id], None);
    assert_eq!(
        listed["in_meeting"]["virtual_background_settings"]["files"],
        serde_json::json!([])
    );
    let token = zoom_json(&server, &["users", "token", &id], None);
    assert_eq!(token["type"], "zak");
    assert!(token["token"].as_str().unwrap().len() >= 32, "{token}");
    let inactive = zoom_json(&server, &["users", "list", "--status", "inactive"], None);
    let ids: Vec<&str> = inactive
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
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
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.user_by_email(ACCOUNT, "leaver@localzoom.test").await
        })
        .wait()
        .unwrap()
        .unwrap();
    let changes = open_db(dir.path())
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.password_changes_since(&leaver.id, 0).await
        })
        .wait()
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
