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

/// (the generated user's id, its PMI) as the server at `base` shows them.
fn generated(base: &str) -> (String, String) {
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
    assert_eq!(seen[0], seen[1], "the same seed, the same ids and PMIs");
    let dir = tempfile::tempdir().unwrap();
    let unseeded = start(dir.path(), &["--fixtures", fixture]);
    assert_ne!(generated(&unseeded.base), seen[0]);
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
