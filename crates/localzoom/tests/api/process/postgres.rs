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
fn reads_on_postgres_are_committed_though_their_commit_is_not_waited_for() {
    let Some(db) = postgres_database() else {
        return;
    };
    // The node's connections carry a name of this test's own: only they are looked at.
    let (base, schema) = db.postgres_parts().unwrap();
    let url = format!("{}&application_name={schema}", db.url);
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(dir.path(), &url, &["--rate-limits", "off"]);
    let token = token(&server.base);
    let id = create_member(&server.base, &token, "reader@localzoom.test");
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                for _ in 0..20 {
                    let (status, body) =
                        api(&server.base, &token, "GET", &format!("/users/{id}"), None);
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    // A read sends its COMMIT without waiting for the answer. It must still reach the server at once: a pooled
    // connection left in its transaction would hold its snapshot (and keep vacuum from cleaning up) until reused.
    let mut client = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap();
    let count = |client: &mut ::postgres::Client, state: &str| -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE $2",
                &[&schema, &state],
            )
            .unwrap()
            .get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let in_transaction = count(&mut client, "idle in transaction%");
        if in_transaction == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{in_transaction} connections of the node stayed in a transaction after its reads were answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The reads ran on several pooled connections, each now idle and ready.
    assert!(count(&mut client, "idle") >= 2);
    // And the node still reads what it wrote.
    let (_, user) = api(&server.base, &token, "GET", &format!("/users/{id}"), None);
    assert_eq!(
        json_field(&user, "email"),
        Value::from("reader@localzoom.test")
    );
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

/// A token of an app the test's fixture made.
fn token_for(base: &str, client: &str, secret: &str, account: &str) -> String {
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-u",
        &format!("{client}:{secret}"),
        &format!("{base}/oauth/token?grant_type=account_credentials&account_id={account}"),
    ]);
    assert_eq!(status, 200, "{body}");
    json_field(&body, "access_token")
        .as_str()
        .unwrap()
        .to_string()
}

/// A transaction of the test's own that holds row locks in the test's schema until it ends: a write that needs
/// those rows stops there, mid-transaction, after the checks it made before.
struct HeldRows(::postgres::Client);

impl HeldRows {
    fn lock(db: &crate::helpers::TestDatabase, select_for_update: &str) -> HeldRows {
        let (base, schema) = db.postgres_parts().unwrap();
        let sql = format!("SET search_path TO {schema}; BEGIN; {select_for_update}");
        std::thread::spawn(move || {
            let mut client = ::postgres::Client::connect(&base, ::postgres::NoTls).unwrap();
            client.batch_execute(&sql).unwrap();
            HeldRows(client)
        })
        .join()
        .unwrap()
    }

    fn release(self) {
        let mut client = self.0;
        std::thread::spawn(move || client.batch_execute("COMMIT").unwrap())
            .join()
            .unwrap();
    }
}

/// Whether the second write of a race finishes while the first is held (writes of another account) or waits for
/// it (writes of the same account, or of the same unique value).
#[derive(PartialEq)]
enum Second {
    Finishes,
    Waits,
}

/// Starts `first`, which stops on the `held` rows after its checks; then `second`, which must finish meanwhile or
/// must wait, as `expect` says; then releases the rows. Both answers.
fn race_held(
    held: HeldRows,
    first: impl FnOnce() -> (u16, String) + Send,
    second: impl FnOnce() -> (u16, String) + Send,
    expect: Second,
) -> ((u16, String), (u16, String)) {
    std::thread::scope(|scope| {
        let first = scope.spawn(first);
        std::thread::sleep(Duration::from_millis(300));
        let second = scope.spawn(second);
        let deadline = Instant::now() + Duration::from_secs(5);
        let wait = if expect == Second::Finishes {
            deadline
        } else {
            Instant::now() + Duration::from_millis(500)
        };
        while !second.is_finished() && Instant::now() < wait {
            std::thread::sleep(Duration::from_millis(10));
        }
        let finished = second.is_finished();
        let first_waited = !first.is_finished();
        held.release();
        let answers = (first.join().unwrap(), second.join().unwrap());
        assert!(
            first_waited,
            "the first write did not stop on the held rows: {answers:?}"
        );
        match expect {
            Second::Finishes => assert!(
                finished,
                "the second write waited for the first: {answers:?}"
            ),
            Second::Waits => assert!(
                !finished,
                "the second write did not wait for the first: {answers:?}"
            ),
        }
        answers
    })
}

/// Writes of different accounts do not wait for each other on PostgreSQL (there is no lock every write takes),
/// and every rule still holds when two nodes race: e-mails, PMIs and vanity names stay unique across accounts
/// (unique indexes; the losing write is refused as the lookup refuses it), and within an account the Basic-user
/// cap and the assistants' limit hold (an account's writes apply one after another on every node; the daily
/// password cap is raced in the test above). Each race is made certain, not left to timing: the test holds a row
/// the first write needs, so it stops mid-transaction after its checks, and the second write runs meanwhile.
#[test]
fn rules_hold_when_two_nodes_race_writes_of_two_accounts() {
    let Some(db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let assistants: String = (0..31)
        .map(|n| format!("      - {{ id: RaceAsst{n:02}, email: asst{n}@race-a.test, type: 2 }}\n"))
        .collect();
    let fixture = dir.path().join("race.yaml");
    let first_29: Vec<String> = (0..29).map(|n| format!("RaceAsst{n:02}")).collect();
    std::fs::write(
        &fixture,
        format!(
            "accounts:
  - id: RaceAccountA
    owner_email: owner@race-a.test
    max_basic_users: 2
    apps: [{{ client_id: raceA, client_secret: race-secret-a }}]
    users:
      - {{ id: RaceBossA, email: boss@race-a.test, type: 2, role: admin, assistants: [{}] }}
      - {{ id: RaceBasicA, email: basic@race-a.test, type: 1 }}
      - {{ id: RaceUserA, email: user@race-a.test, type: 2 }}
      - {{ id: RacePwA, email: pw-a@race-a.test, type: 2, password: Initial1Pass }}
      - {{ id: RacePwB, email: pw-b@race-a.test, type: 2, password: Initial1Pass }}
{assistants}  - id: RaceAccountB
    owner_email: owner-b@race-a.test
    apps: [{{ client_id: raceB, client_secret: race-secret-b }}]
    users:
      - {{ id: RaceUserB, email: user@race-b.test, type: 2 }}
",
            first_29.join(", ")
        ),
    )
    .unwrap();
    let fixture = fixture.to_str().unwrap();
    let a = start_on(
        dir.path(),
        &db.url,
        &["--fixtures", fixture, "--rate-limits", "off"],
    );
    let b = start_on(dir.path(), &db.url, &["--rate-limits", "off"]);
    let token_a = token_for(&a.base, "raceA", "race-secret-a", "RaceAccountA");
    let token_b = token_for(&b.base, "raceB", "race-secret-b", "RaceAccountB");
    let basic_count = || {
        let (_, page) = api(&a.base, &token_a, "GET", "/users?page_size=300", None);
        json_field(&page, "users")
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["type"] == 1)
            .count()
    };
    // The fixture's owner may be Basic too: whatever the count, one slot is left under the cap of 2.
    assert!(basic_count() <= 2);

    // A PMI and a vanity name: account A's write passes its lookup, then waits on a held row before writing; B's
    // write of the same value through the other node finishes meanwhile (no lock shared by all writes), so A's
    // is refused by the unique index, with the lookup's error.
    for (field, value, code, message) in [
        (
            "pmi",
            "5550001234",
            300,
            "The Personal Meeting ID 5550001234 is already in use. Choose another one.",
        ),
        (
            "vanity_name",
            "\"race-room\"",
            4100,
            "User is already taken by another user from your account. Choose another \"Personal Link Name\".",
        ),
    ] {
        let body = format!(r#"{{"{field}":{value}}}"#);
        let held = HeldRows::lock(&db, "SELECT 1 FROM users WHERE id = 'RaceBossA' FOR UPDATE");
        let ((status_a, body_a), (status_b, body_b)) = race_held(
            held,
            || api(&a.base, &token_a, "PATCH", "/users/RaceBossA", Some(&body)),
            || api(&b.base, &token_b, "PATCH", "/users/RaceUserB", Some(&body)),
            Second::Finishes,
        );
        assert_eq!(status_b, 204, "{field}: {body_b}");
        assert_eq!(status_a, 400, "{field}: {body_a}");
        assert_eq!(json_field(&body_a, "code"), Value::from(code), "{body_a}");
        assert_eq!(json_field(&body_a, "message"), Value::from(message));
        let (_, boss) = api(&a.base, &token_a, "GET", "/users/RaceBossA", None);
        assert_ne!(json_field(&boss, field).to_string(), value, "{boss}");
    }

    // One e-mail created in both accounts: A's create inserts its user, then waits on its account's counts; B's,
    // through the other node, waits on the unique index until A commits, and is refused as the lookup refuses.
    let create = |email: &str, user_type: u8| {
        format!(
            r#"{{"action":"autoCreate","user_info":{{"email":"{email}","type":{user_type},"password":"Race1Pass"}}}}"#
        )
    };
    let held = HeldRows::lock(
        &db,
        "SELECT 1 FROM user_counts WHERE account_id = 'RaceAccountA' FOR UPDATE",
    );
    let body = create("same@race.test", 2);
    let ((status_a, body_a), (status_b, body_b)) = race_held(
        held,
        || api(&a.base, &token_a, "POST", "/users", Some(&body)),
        || api(&b.base, &token_b, "POST", "/users", Some(&body)),
        Second::Waits,
    );
    assert_eq!(status_a, 201, "{body_a}");
    assert_eq!(status_b, 409, "{body_b}");
    assert_eq!(json_field(&body_b, "code"), Value::from(1005));
    assert_eq!(
        json_field(&body_b, "message"),
        Value::from("Email \"same@race.test\" has already been used.")
    );

    // One new e-mail taken by a user of each account at once (both accounts manage race-a.test): A's change
    // updates its user, then waits to record the change; B's waits on the unique index until A commits, and is
    // refused as the lookup refuses an e-mail change.
    let held = HeldRows::lock(&db, "LOCK TABLE email_changes IN SHARE MODE");
    let body = r#"{"email":"moved@race-a.test"}"#;
    let ((status_a, body_a), (status_b, body_b)) = race_held(
        held,
        || {
            api(
                &a.base,
                &token_a,
                "PUT",
                "/users/RaceUserA/email",
                Some(body),
            )
        },
        || {
            api(
                &b.base,
                &token_b,
                "PUT",
                "/users/RaceUserB/email",
                Some(body),
            )
        },
        Second::Waits,
    );
    assert_eq!(status_a, 204, "{body_a}");
    assert_eq!(
        (
            status_b,
            json_field(&body_b, "code"),
            json_field(&body_b, "message")
        ),
        (
            400,
            Value::from(1005),
            Value::from("Email \"moved@race-a.test\" has already been used.")
        ),
        "{body_b}"
    );

    // Account A's Basic-user cap with one slot left, two creates through both nodes: the first counts, inserts,
    // then waits on the account's counts; the second waits for it (same account) and then finds the cap reached.
    let held = HeldRows::lock(
        &db,
        "SELECT 1 FROM user_counts WHERE account_id = 'RaceAccountA' FOR UPDATE",
    );
    let before = basic_count();
    assert_eq!(before, 1, "the fixture's one Basic user");
    let (first, second) = race_held(
        held,
        || {
            api(
                &a.base,
                &token_a,
                "POST",
                "/users",
                Some(&create("basic-one@race-a.test", 1)),
            )
        },
        || {
            api(
                &b.base,
                &token_a,
                "POST",
                "/users",
                Some(&create("basic-two@race-a.test", 1)),
            )
        },
        Second::Waits,
    );
    assert_eq!(first.0, 201, "{first:?}");
    assert_eq!(
        (second.0, json_field(&second.1, "code")),
        (400, Value::from(3412)),
        "{second:?}"
    );
    assert_eq!(basic_count(), 2);

    // The boss has 29 assistants, one short of Zoom's 30: two more asked for through both nodes. The first checks
    // the count, then waits to insert; the second waits for it and then finds the limit reached.
    let held = HeldRows::lock(&db, "LOCK TABLE assistants IN SHARE MODE");
    let add = |n: u32| format!(r#"{{"assistants":[{{"id":"RaceAsst{n:02}"}}]}}"#);
    let path = "/users/RaceBossA/assistants";
    let (first, second) = race_held(
        held,
        || api(&a.base, &token_a, "POST", path, Some(&add(29))),
        || api(&b.base, &token_a, "POST", path, Some(&add(30))),
        Second::Waits,
    );
    assert_eq!(first.0, 201, "{first:?}");
    assert_eq!(
        (second.0, json_field(&second.1, "message")),
        (400, Value::from("A user can have at most 30 assistants.")),
        "{second:?}"
    );
    let (_, listed) = api(&b.base, &token_a, "GET", path, None);
    assert_eq!(
        json_field(&listed, "assistants").as_array().unwrap().len(),
        30,
        "{listed}"
    );

    // Writes of one user wait for each other, not for other users of the account: the boss's assistants are
    // removed (held on their rows) while another user's are, through the other node.
    let held = HeldRows::lock(
        &db,
        "SELECT 1 FROM assistants WHERE user_id = 'RaceBossA' FOR UPDATE",
    );
    let (first, second) = race_held(
        held,
        || api(&a.base, &token_a, "DELETE", path, None),
        || {
            api(
                &b.base,
                &token_a,
                "DELETE",
                "/users/RaceUserA/assistants",
                None,
            )
        },
        Second::Finishes,
    );
    assert_eq!((first.0, second.0), (204, 204), "{first:?} {second:?}");

    // The daily password cap (5), raced through both nodes: the first change checks the count (4) and waits to
    // record itself; the second waits for it, then is refused. Once with the user named by id both times (the
    // user's own lock), once by id and by e-mail (an e-mail takes the whole account: it is resolved only inside).
    for (user, second_ref) in [("RacePwA", "RacePwA"), ("RacePwB", "pw-b@race-a.test")] {
        let path = format!("/users/{user}/password");
        for n in 2..=5 {
            let body = format!(r#"{{"password":"Changed{n}Pass"}}"#);
            let (status, body) = api(&a.base, &token_a, "PUT", &path, Some(&body));
            assert_eq!(status, 204, "{body}");
        }
        let held = HeldRows::lock(&db, "LOCK TABLE password_history IN SHARE MODE");
        let (first, second) = race_held(
            held,
            || {
                api(
                    &a.base,
                    &token_a,
                    "PUT",
                    &path,
                    Some(r#"{"password":"Changed8Pass"}"#),
                )
            },
            || {
                let path = format!("/users/{second_ref}/password");
                api(
                    &b.base,
                    &token_a,
                    "PUT",
                    &path,
                    Some(r#"{"password":"Changed9Pass"}"#),
                )
            },
            Second::Waits,
        );
        assert_eq!(first.0, 204, "{first:?}");
        assert_eq!(
            (second.0, json_field(&second.1, "message")),
            (
                400,
                Value::from(
                    "This password cannot be changed because it has already been changed the maximum number of \
                     times over the past 24 hours."
                )
            ),
            "{second:?}"
        );
    }
}
