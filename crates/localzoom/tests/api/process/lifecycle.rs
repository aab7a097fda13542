//! Start-up, restart, a kill -9, shutdown and logs of the real binary.

use super::*;

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
        login_type: localzoom_server::domain::user::LoginType::WorkEmail,
        created_at: 1,
        ended_at: None,
    };
    let db = open_db(dir.path());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.write(move |tx| async move {
            let s = &tx;
            s.insert_session(&session).await
        }))
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
    let sessions = open_db(dir.path())
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.sessions(&user).await
        })
        .wait()
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].ended_at.is_some());
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
