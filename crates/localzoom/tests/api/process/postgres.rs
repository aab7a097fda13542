//! Several nodes on one PostgreSQL database, and moving data between backends.

use super::*;

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
    // The user's settings, picture and a virtual background travel too.
    let user_settings = r#"{"schedule_meeting":{"host_video":true}}"#;
    let path = format!("/users/{mover}/settings");
    assert_eq!(
        api(&server.base, &token, "PATCH", &path, Some(user_settings)).0,
        204
    );
    let device = format!(
        "{}/_localzoom/v1/users/{mover}/collaboration_devices",
        server.base
    );
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer export-admin-key",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"id":"desk-1","device_name":"Desk","status":"Online"}"#,
        &device,
    ]);
    assert_eq!(status, 201, "{body}");
    let image = dir.path().join("face.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\n\x00\xffbinary").unwrap();
    let auth = format!("Authorization: Bearer {token}");
    for (field, path) in [
        ("pic_file", format!("/users/{mover}/picture")),
        (
            "file",
            format!("/users/{mover}/settings/virtual_backgrounds"),
        ),
    ] {
        let form = format!("{field}=@{}", image.display());
        let url = format!("{}/v2{path}", server.base);
        let (status, body) = curl(&["-X", "POST", "-H", &auth, "-F", &form, &url]);
        assert_eq!(status, 201, "{path}: {body}");
    }
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
        "settings",
        "picture",
        "background",
        "resource",
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
