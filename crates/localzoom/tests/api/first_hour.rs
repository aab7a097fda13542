//! What a newcomer walks into first: where the data is, flags that cannot surprise, and failures that name their
//! real cause and what to do about it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use localzoom_test_macros::backend_test;
use serde_json::Value;

use crate::helpers::database_for;
use crate::process::{
    ACCOUNT, BIN, CLIENT, CREDENTIALS, SECRET, api, free_port, json_field, postgres_database,
    start, start_on, token, zoom_cli,
};

/// The binary with no database named: `LOCALZOOM_*` cleared, the data folder under `data_home`, run in `cwd`.
fn bare(data_home: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("LOCALZOOM_") || name.starts_with("ZOOM_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("XDG_DATA_HOME", data_home)
        .env("XDG_CONFIG_HOME", data_home.join("config"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The binary on the test's database, with `LOCALZOOM_*` cleared.
fn on_db(dir: &Path, args: &[&str]) -> Output {
    let db = database_for(dir);
    let mut all = args.to_vec();
    all.extend(["--database", &db]);
    bare(&dir.join("data"), dir, &all)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command failed with `code` and said `text` on stderr.
#[track_caller]
fn assert_fails(output: &Output, code: i32, text: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    assert!(stderr(output).contains(text), "{}", stderr(output));
}

#[test]
fn the_default_database_is_one_file_whatever_the_folder() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let (here, there) = (root.path().join("here"), root.path().join("there"));
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    let expected = format!(
        "localzoom: database sqlite://{}",
        data.join("localzoom/localzoom.db").display()
    );

    let first = bare(&data, &here, &["token"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains(&expected), "{}", stderr(&first));
    assert!(stderr(&first).contains("bootstrapped account"));
    // From another folder: the same database (no second bootstrap), and the token works on it.
    let second = bare(&data, &there, &["token"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(stderr(&second).contains(&expected), "{}", stderr(&second));
    assert!(
        !stderr(&second).contains("bootstrapped"),
        "{}",
        stderr(&second)
    );
    let accounts = bare(&data, &there, &["accounts", "list", "--output", "json"]);
    let listed: Value = serde_json::from_slice(&accounts.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert!(!here.join("localzoom.db").exists() && !there.join("localzoom.db").exists());

    // A relative --database is named by its absolute path.
    let relative = bare(&data, &here, &["token", "--database", "sqlite://mine.db"]);
    assert!(relative.status.success(), "{}", stderr(&relative));
    assert!(
        stderr(&relative).contains(&format!(
            "localzoom: database sqlite://{}",
            here.join("mine.db").display()
        )),
        "{}",
        stderr(&relative)
    );
}

#[test]
fn a_second_serve_on_one_sqlite_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lz.db").display());
    let mut first = start_on(dir.path(), &db, &[]);
    let second = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(
        stderr(&second).trim(),
        format!(
            "localzoom: error: another `localzoom serve` is already serving {}: stop it first, or give this one \
             another --database (LOCALZOOM_DATABASE)",
            dir.path().join("lz.db").display()
        )
    );
    // The first server is unharmed; once it stops, the file is free again.
    let (status, _) = api(&first.base, &token(&first.base), "GET", "/users/me", None);
    assert_eq!(status, 200);
    first.signal("-TERM");
    let again = start_on(dir.path(), &db, &[]);
    assert!(again.banner.contains("localzoom listening on"));
}

#[backend_test]
fn bootstrap_and_management_flags_never_surprise() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &[]);
    server.signal("-TERM");
    let apps = |dir: &Path| {
        let output = on_db(dir, &["apps", "list", "--output", "json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let before = apps(dir.path());

    // A mistyped client id is refused, says what to do, and registers nothing.
    let typo = on_db(
        dir.path(),
        &["token", "--client-id", "typo", "--client-secret", "x"],
    );
    assert_fails(
        &typo,
        1,
        &format!(
            "this database has no app with client id typo: leave out --client-id (LOCALZOOM_CLIENT_ID) to use \
             its bootstrap app {CLIENT}, or register another with `localzoom apps create --account {ACCOUNT} \
             --type s2s`"
        ),
    );
    assert_eq!(apps(dir.path()), before);
    // Another account id, owner or secret than the database's: refused with what to do.
    let other = on_db(dir.path(), &["token", "--account-id", "Other"]);
    assert_fails(
        &other,
        1,
        &format!(
            "this database belongs to account {ACCOUNT}, not Other: leave out --account-id (LOCALZOOM_ACCOUNT_ID) \
             to use it, or give --database (LOCALZOOM_DATABASE) a new file for account Other"
        ),
    );
    let owner = on_db(
        dir.path(),
        &["token", "--owner-email", "boss@elsewhere.test"],
    );
    assert_eq!(owner.status.code(), Some(1));
    assert!(stderr(&owner).contains("is owned by owner@localzoom.test, not boss@elsewhere.test"));
    let secret = on_db(
        dir.path(),
        &["token", "--client-id", CLIENT, "--client-secret", "wrong"],
    );
    assert_eq!(secret.status.code(), Some(1));
    assert!(stderr(&secret).contains(&format!(
        "client id {CLIENT} has another secret in this database"
    )));
    // The right ones, or none, work.
    let right = on_db(
        dir.path(),
        &["token", "--client-id", CLIENT, "--client-secret", SECRET],
    );
    assert!(right.status.success(), "{}", stderr(&right));

    // Flags a subcommand would ignore are refused (exit 2), not silently dropped.
    for args in [
        &["accounts", "set-plan", "free", "--plan", "business"][..],
        &[
            "accounts",
            "set-limits",
            "--account-id",
            ACCOUNT,
            "--password-history",
            "3",
        ],
        &[
            "accounts",
            "set-limits",
            "--client-id",
            "typo",
            "--password-history",
            "3",
        ],
        &["accounts", "list", "--plan", "free"],
    ] {
        let refused = on_db(dir.path(), args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("unexpected argument"),
            "{}",
            stderr(&refused)
        );
    }
    // A user-managed app needs its redirect URI.
    let no_redirect = on_db(
        dir.path(),
        &["apps", "create", "--account", ACCOUNT, "--type", "user"],
    );
    assert_fails(&no_redirect, 2, "--redirect-uri");
    assert_eq!(apps(dir.path()), before);

    // `serve --plan` on a used database applies the plan and says so.
    let mut moved = start(dir.path(), &["--plan", "business"]);
    assert!(
        moved
            .banner
            .contains("plan business (moved from pro by --plan / LOCALZOOM_PLAN)"),
        "{}",
        moved.banner
    );
    moved.signal("-TERM");
    let listed = on_db(dir.path(), &["accounts", "list", "--output", "json"]);
    let accounts: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(accounts[0]["plan"], "business");
    // Unchanged plans are not announced.
    let mut same = start(dir.path(), &["--plan", "business"]);
    assert!(same.banner.contains("plan business ·"), "{}", same.banner);
    same.signal("-TERM");
    // `token` (like `seed`) creates with a plan but never moves a used account: it says so instead.
    let token = on_db(dir.path(), &["token", "--plan", "free"]);
    assert!(token.status.success(), "{}", stderr(&token));
    assert!(
        stderr(&token).contains(&format!(
            "localzoom: plan free (--plan / LOCALZOOM_PLAN) not applied: account {ACCOUNT} stays on plan \
             business; `localzoom serve --plan` or `localzoom accounts set-plan` changes it"
        )),
        "{}",
        stderr(&token)
    );
    let listed = on_db(dir.path(), &["accounts", "list", "--output", "json"]);
    let accounts: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(accounts[0]["plan"], "business");

    // Another active Server-to-Server app of the account may be named for one run; it does not become the
    // bootstrap app, and once deactivated it is refused.
    let created = on_db(
        dir.path(),
        &[
            "apps",
            "create",
            "--account",
            ACCOUNT,
            "--type",
            "s2s",
            "--output",
            "json",
        ],
    );
    let other: Value = serde_json::from_slice(&created.stdout).unwrap();
    let (other_id, other_secret) = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    let named = on_db(
        dir.path(),
        &[
            "token",
            "--client-id",
            other_id,
            "--client-secret",
            other_secret,
        ],
    );
    assert!(named.status.success(), "{}", stderr(&named));
    let deactivated = on_db(dir.path(), &["apps", "deactivate", other_id]);
    assert!(deactivated.status.success(), "{}", stderr(&deactivated));
    let plain = on_db(dir.path(), &["token"]);
    assert!(
        plain.status.success(),
        "the bootstrap app is still {CLIENT}: {}",
        stderr(&plain)
    );
    let refused = on_db(dir.path(), &["token", "--client-id", other_id]);
    assert_fails(&refused, 1, &format!("client id {other_id} is deactivated"));
}

/// `--local` uses the local server and its bootstrap app: API URLs and credentials given with it are refused, not
/// silently dropped (the same values exported as `ZOOM_*` variables are fine: they serve other commands).
#[test]
fn local_refuses_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let output = bare(
        &dir.path().join("data"),
        dir.path(),
        &[
            "users",
            "list",
            "--local",
            "--api-url",
            "http://elsewhere.test/v2",
            "--client-id",
            "x",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "localzoom: error: --local talks to the local server with its bootstrap app, so --api-url, --client-id \
         would be ignored: leave them out, or leave out --local to call that API"
    );
}

#[backend_test]
fn cli_failures_name_their_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    // An in-memory SQLite database cannot be shared by localzoom's connections.
    let memory = bare(
        dir.path(),
        dir.path(),
        &["export", "--database", "sqlite://:memory:"],
    );
    assert_fails(&memory, 1, "an in-memory SQLite database cannot work");

    let seeded = on_db(
        dir.path(),
        &[&["seed", "--users", "3000"][..], &CREDENTIALS].concat(),
    );
    assert!(seeded.status.success(), "{}", stderr(&seeded));
    // A full disk.
    let full = on_db(dir.path(), &["export", "--file", "/dev/full"]);
    assert_fails(&full, 1, "No space left on device");
    assert!(!stderr(&full).contains("Internal server error"));
    // A reader that went away (`localzoom export | head -1` of a large export).
    let db = database_for(dir.path());
    let mut child = Command::new(BIN)
        .args(["export", "--database", &db])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let closed = child.wait_with_output().unwrap();
    assert_fails(&closed, 1, "Broken pipe");

    // Nothing listens where `--local` looks.
    let port = free_port();
    let refused = Command::new(BIN)
        .args(["users", "list", "--local"])
        .env("LOCALZOOM_LISTEN", format!("127.0.0.1:{port}"))
        .env("LOCALZOOM_ACCOUNT_ID", ACCOUNT)
        .env("LOCALZOOM_CLIENT_ID", CLIENT)
        .env("LOCALZOOM_CLIENT_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        stderr(&refused).trim(),
        format!(
            "localzoom: error: nothing listens on 127.0.0.1:{port} — is `localzoom serve` running?"
        )
    );

    // An API URL without /v2: Zoom's 2300 names the URL that was tried.
    let server = start(dir.path(), &[]);
    let wrong = Command::new(BIN)
        .args(["users", "get", "me"])
        .env("ZOOM_API_URL", &server.base)
        .env("ZOOM_OAUTH_URL", &server.base)
        .env("ZOOM_ACCOUNT_ID", ACCOUNT)
        .env("ZOOM_CLIENT_ID", CLIENT)
        .env("ZOOM_CLIENT_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stderr(&wrong).contains(&format!(
            "This API endpoint is not recognized. (code 2300, HTTP 404); the call was GET {}/users/me — is the \
             API URL right (--api-url, ZOOM_API_URL)?",
            server.base
        )),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn a_missing_postgres_database_says_how_to_create_it() {
    let Some(_db) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("localzoom_missing_{}", std::process::id());
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let missing = bare(dir.path(), dir.path(), &["token", "--database", &url]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing).trim(),
        format!(
            "localzoom: error: database \"{name}\" does not exist on PostgreSQL at 127.0.0.1:5432; create it with \
             `createdb -h 127.0.0.1 -p 5432 -U postgres {name}` (or `psql -h 127.0.0.1 -p 5432 -U postgres -c \
             'CREATE DATABASE \"{name}\"'`)"
        )
    );
}

#[backend_test]
fn offboarding_leaves_a_user_it_would_fail_on_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let token = token(&server.base);
    crate::process::create_member(&server.base, &token, "aide@localzoom.test");
    let (status, body) = api(
        &server.base,
        &token,
        "POST",
        "/users/owner@localzoom.test/assistants",
        Some(r#"{"assistants":[{"email":"aide@localzoom.test"}]}"#),
    );
    assert_eq!(status, 201, "{body}");

    let output = zoom_cli(
        &server,
        &["offboard", "owner@localzoom.test", "--output", "json"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["result"], "failed");
    assert_eq!(rows[0]["done"], "");
    assert_eq!(
        rows[0]["reason"],
        "Owner users cannot be deactivated (Zoom refuses with code 200); left unchanged"
    );
    // Its assistants are still there: nothing was done before the refusal was known.
    let (_, body) = api(
        &server.base,
        &token,
        "GET",
        "/users/owner@localzoom.test/assistants",
        None,
    );
    assert_eq!(
        json_field(&body, "assistants").as_array().unwrap().len(),
        1,
        "{body}"
    );
}

/// `curl -d '{…}'` without a JSON Content-Type sends a form; the answer says what to change.
#[backend_test]
fn a_json_body_sent_as_a_form_says_to_send_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--admin-key", "first-hour-admin-key"]);
    let token = token(&server.base);
    let auth = format!("Authorization: Bearer {token}");
    let url = format!("{}/v2/users", server.base);
    let body = r#"{"action":"autoCreate","user_info":{"email":"form@localzoom.test","type":1,"password":"Initial1Pass"}}"#;
    let (status, reply) = crate::process::curl(&["-X", "POST", "-H", &auth, "-d", body, &url]);
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&reply).unwrap(),
        serde_json::json!({
            "code": 300,
            "message": "The body looks like JSON but was sent as a form; send Content-Type: application/json."
        })
    );
    let (status, _) = api(
        &server.base,
        &token,
        "GET",
        "/users/form@localzoom.test",
        None,
    );
    assert_eq!(status, 404, "nothing was created");
    // The control API's example, as it was once written in the README.
    let control = format!(
        "{}/_localzoom/v1/users/owner@localzoom.test/sessions",
        server.base
    );
    let (status, reply) = crate::process::curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer first-hour-admin-key",
        "-d",
        r#"{"login_type":101}"#,
        &control,
    ]);
    assert_eq!(status, 400);
    assert!(
        reply.contains("send Content-Type: application/json"),
        "{reply}"
    );
    // Sent as JSON, the same body works.
    let (status, reply) = crate::process::curl(&[
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer first-hour-admin-key",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"login_type":101}"#,
        &control,
    ]);
    assert_eq!(status, 201, "{reply}");
}

/// An empty `LOCALZOOM_ADMIN_KEY=` (a variable exported without a value) is no key: the control API is off and
/// the banner says so; a short key must not open it to whoever guesses it.
#[test]
fn an_empty_admin_key_leaves_the_control_api_off_and_a_short_one_refuses_to_start() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lz.db").display());
    for key in ["", "   "] {
        let mut server = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
            .arg("--history-key-file")
            .arg(dir.path().join("history.key"))
            .env("LOCALZOOM_ADMIN_KEY", key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let banner: Vec<String> = std::io::BufReader::new(server.stdout.take().unwrap())
            .lines()
            .take(3)
            .map(Result::unwrap)
            .collect();
        server.kill().unwrap();
        server.wait().unwrap();
        assert!(
            banner
                .iter()
                .any(|line| line
                    == "control API off (--admin-key or LOCALZOOM_ADMIN_KEY turns it on)"),
            "{banner:?}"
        );
    }
    for key in ["tiny", " short-key "] {
        let output = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
            .env("LOCALZOOM_ADMIN_KEY", key)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(1),
            "{key:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output)
                .contains("--admin-key (LOCALZOOM_ADMIN_KEY) must be at least 12 characters"),
            "{}",
            stderr(&output)
        );
    }
}
