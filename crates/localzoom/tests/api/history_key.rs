//! The password-history fingerprints are keyed by a key outside the database: a stolen database alone cannot test
//! password guesses against them at HMAC speed.

use std::os::unix::fs::PermissionsExt;

use localzoom_server::crypto::HistoryKey;
use localzoom_server::service::{accounts, lifecycle};

use crate::helpers::database_for;
use crate::process::{ACCOUNT, BIN, CREDENTIALS, Wait, api, create_member, open_db, start, token};

#[test]
fn the_history_key_lives_in_its_own_file_not_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("history.key");
    let mut server = start(dir.path(), &[]);
    let token = token(&server.base);
    let id = create_member(&server.base, &token, "keyed@localzoom.test");
    let set_password = |base: &str, token: &str| {
        api(
            base,
            token,
            "PUT",
            &format!("/users/{id}/password"),
            Some(r#"{"password":"Guessable1Pass"}"#),
        )
    };
    let (status, body) = set_password(&server.base, &token);
    assert_eq!(status, 204, "{body}");
    server.signal("-TERM");

    // Created on first start, readable by its owner only.
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = HistoryKey::load_or_create(&key_path).unwrap();
    let db = open_db(dir.path());
    let user = db
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.user_by_email(ACCOUNT, "keyed@localzoom.test").await
        })
        .wait()
        .unwrap()
        .unwrap();
    let stored = db
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.password_history(&user.id, 1).await
        })
        .wait()
        .unwrap();
    // The file's key makes the stored fingerprint; nothing in the database does.
    assert_eq!(
        stored[0],
        lifecycle::fingerprint(&key, &user.id, "Guessable1Pass")
    );
    let in_database = db
        .read(|s| async move { accounts::server_key(&s).await })
        .wait()
        .unwrap();
    let mut padded = [0u8; 32];
    for (slot, byte) in padded.iter_mut().zip(in_database.iter()) {
        *slot = *byte;
    }
    assert_ne!(
        stored[0],
        lifecycle::fingerprint(&HistoryKey::from_bytes(padded), &user.id, "Guessable1Pass")
    );
    let file_text = std::fs::read_to_string(&key_path).unwrap();
    let dump = std::fs::read(dir.path().join("lz.db")).unwrap();
    let wal = std::fs::read(dir.path().join("lz.db-wal")).unwrap_or_default();
    let key_hex = file_text.trim().as_bytes();
    assert!(
        !dump.windows(key_hex.len()).any(|w| w == key_hex)
            && !wal.windows(key_hex.len()).any(|w| w == key_hex),
        "the key must not be stored in the database"
    );

    // A restart with the same key file still refuses the reused password.
    let server = start(dir.path(), &[]);
    let token = crate::process::token(&server.base);
    let (status, body) = set_password(&server.base, &token);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        r#"{"code":300,"message":"Your new password can not match the old password."}"#
    );
    drop(server);

    // Another key than the history's: refused, unless the history is to be forgotten.
    let other_key = dir.path().join("other.key");
    let serve_with = |key: &std::path::Path| {
        std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database", &database_for(dir.path())])
            .arg("--history-key-file")
            .arg(key)
            .args(CREDENTIALS)
            .output()
            .unwrap()
    };
    let refused = serve_with(&other_key);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "the password history of this database was recorded with another key than the one given: give its \
             key file (--history-key-file), or, if that key is lost, start once with --forget-password-history"
        ),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Its own key still opens it, with the history whole (the initial password and the change).
    let mut own = crate::process::start(dir.path(), &[]);
    own.signal("-TERM");
    let db = open_db(dir.path());
    assert_eq!(
        db.read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.password_history(&user.id, 5).await
        })
        .wait()
        .unwrap()
        .len(),
        2,
        "nothing forgotten yet"
    );
    drop(db);
    // With the history forgotten, the password it held may be set again (once).
    let logs = tempfile::tempdir().unwrap();
    let forgetting = crate::process::start_on(
        logs.path(),
        &database_for(dir.path()),
        &["--forget-password-history"],
    );
    let token = crate::process::token(&forgetting.base);
    assert_eq!(
        set_password(&forgetting.base, &token).0,
        204,
        "the forgotten history no longer refuses it"
    );
    assert_eq!(
        set_password(&forgetting.base, &token).0,
        400,
        "the new history does"
    );
    drop(forgetting);

    // A damaged key file stops the start with one clear line.
    std::fs::write(&key_path, "not a key\n").unwrap();
    let output = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database", &database_for(dir.path())])
        .arg("--history-key-file")
        .arg(&key_path)
        .args(CREDENTIALS)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        format!(
            "localzoom: error: {} does not hold a password-history key (64 hex digits)",
            key_path.display()
        )
    );
}
