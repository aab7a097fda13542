use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn set_password(app: &TestApp, user: &str, password: &str) -> Reply {
    app.call(
        Method::PUT,
        &format!("/users/{user}/password"),
        Some(json!({ "password": password })),
    )
    .await
}

#[backend_test]
async fn a_password_change_is_stored_hashed_mails_the_user_and_signs_out_password_sessions() {
    let app = TestApp::spawn().await;
    let id = app.member("pat@example.com").await;
    let email_session = app.add_session(&id, 100).await;
    let sso_session = app.add_session(&id, 101).await;

    // The seed sends multipart/form-data.
    let request = app
        .request(Method::PUT, &format!("/users/{id}/password"))
        .multipart(reqwest::multipart::Form::new().text("password", "Dolor Excepteur 1"));
    app.send(request).await.assert_status(204);

    let user = app.user_record("pat@example.com").await;
    let hash = user.password_hash.expect("hash stored");
    assert!(hash.starts_with("$argon2id$") && !hash.contains("Dolor"));
    let hashing = localzoom_server::crypto::PasswordHashing::new(
        localzoom_server::crypto::HashParams::MINIMAL,
        1,
    );
    assert!(
        hashing
            .verify("Dolor Excepteur 1".into(), hash)
            .await
            .unwrap()
    );

    let outbox = app
        .db()
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.outbox(None).await
        })
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to_address, "pat@example.com");
    assert_eq!(outbox[0].subject, "Your Zoom password has been changed");
    assert_eq!(outbox[0].created_at, START_MS);

    let sessions = app.sessions(&id).await;
    let ended = |sid: &str| {
        sessions
            .iter()
            .find(|s| s.id == sid)
            .unwrap()
            .ended_at
            .is_some()
    };
    assert!(ended(&email_session));
    assert!(!ended(&sso_session));
}

#[backend_test]
async fn basic_rules_each_have_their_code() {
    let app = TestApp::spawn().await;
    let id = app.member("rules@example.com").await;
    let cases = [
        ("Ab1", 400, 1124, "Have at least 8 characters"),
        (
            "aaaaaaaa",
            400,
            1130,
            "Password can't use the same character.",
        ),
        (
            "12345678",
            400,
            1131,
            "Password can't use continuation character.Such as 'abcdef','123456'.",
        ),
        ("13572468", 400, 1125, "Have at least 1 letter (a, b, c…)"),
        (
            "dolor Excepteur minim",
            400,
            1126,
            "Have at least 1 number (1, 2, 3…)",
        ),
        (
            "lowercase1only",
            400,
            1128,
            "Include both Upper case and Lower case characters",
        ),
        (
            "Abcdefgh1jklmnopqrstuvwxyz123456",
            400,
            300,
            "Invalid parameter: password",
        ),
    ];
    for (password, status, code, message) in cases {
        set_password(&app, &id, password)
            .await
            .assert_error(status, code, message);
    }
    for body in [json!({}), json!({ "password": 12345678 })] {
        let reply = app
            .call(Method::PUT, &format!("/users/{id}/password"), Some(body))
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec!["password"]);
    }
    // Nothing was stored by any refusal.
    assert!(
        app.user_record("rules@example.com")
            .await
            .password_hash
            .is_none()
    );
    assert!(
        app.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.outbox(None).await
            })
            .await
            .unwrap()
            .is_empty()
    );
}

#[backend_test]
async fn enhanced_requirements_come_from_the_account_security_settings() {
    let app = TestApp::spawn().await;
    let id = app.member("strict@example.com").await;
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(json!({ "security": { "password_requirement": {
            "minimum_password_length": 12, "have_special_character": true,
            "consecutive_characters_length": 4, "weak_enhance_detection": true } } })),
    )
    .await
    .assert_status(204);
    let settings = app.get("/accounts/me/settings?option=security").await;
    assert_eq!(
        settings.body["security"]["password_requirement"]["minimum_password_length"],
        12
    );

    set_password(&app, &id, "Valid1Pass").await.assert_error(
        400,
        1124,
        "Have at least 12 characters",
    );
    set_password(&app, &id, "Valid1Passwrd").await.assert_error(
        400,
        1127,
        "Have at least 1 special character (!, @, #…)",
    );
    set_password(&app, &id, "Vxabcd1Pass!z").await.assert_error(
        400,
        1131,
        "Password can't use continuation character.Such as 'abcdef','123456'.",
    );
    set_password(&app, &id, "P@ssw0rd!2024").await.assert_error(
        400,
        1136,
        "Your password is too easy to guess. Try another one.",
    );
    set_password(&app, &id, "Vxabc1Pass!zq")
        .await
        .assert_status(204);
}

#[backend_test]
async fn same_reused_and_too_frequent_changes_are_refused() {
    let mut app = TestApp::spawn().await;
    let id = app.member("often@example.com").await;
    set_password(&app, &id, "First1Pass")
        .await
        .assert_status(204);
    set_password(&app, &id, "First1Pass").await.assert_error(
        400,
        300,
        "Your new password can not match the old password.",
    );
    set_password(&app, &id, "Second2Pass")
        .await
        .assert_status(204);
    set_password(&app, &id, "First1Pass").await.assert_error(
        400,
        1129,
        "Users cannot reuse any of the last 5 passwords created.",
    );
    set_password(&app, &id, "Third3Pass")
        .await
        .assert_status(204);
    set_password(&app, &id, "Fourth4Pass")
        .await
        .assert_status(204);
    set_password(&app, &id, "Fifth5Pass")
        .await
        .assert_status(204);
    // Five changes in 24 hours is the default cap.
    set_password(&app, &id, "Sixth6Pass").await.assert_error(
        400,
        300,
        "This password cannot be changed because it has already been changed the maximum number of times over the past 24 hours.",
    );
    app.clock.advance_ms(24 * 3600 * 1000);
    app.token = app.fresh_token().await;
    // A day later the cap has lapsed; once a sixth password is set, the first has left the last five.
    set_password(&app, &id, "Sixth6Pass")
        .await
        .assert_status(204);
    set_password(&app, &id, "First1Pass")
        .await
        .assert_status(204);
    assert_eq!(
        app.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.outbox(None).await
            })
            .await
            .unwrap()
            .len(),
        7
    );

    // The history depth is an account setting.
    app.edit_account(|a| a.password_history_count = 8).await;
    set_password(&app, &id, "Second2Pass").await.assert_error(
        400,
        1129,
        "Users cannot reuse any of the last 8 passwords created.",
    );
}

#[backend_test]
async fn admins_and_non_email_users_cannot_have_their_password_set() {
    let app = TestApp::spawn().await;
    set_password(&app, "me", "Owner1Pass").await.assert_error(
        400,
        1117,
        "Can not update Admin's password",
    );
    app.member("admin@example.com").await;
    app.edit_user("admin@example.com", |u| {
        u.role = localzoom_server::domain::user::Role::Admin
    })
    .await;
    set_password(&app, "admin@example.com", "Admin1Pass")
        .await
        .assert_error(400, 1117, "Can not update Admin's password");
    let sso = app.create_user("ssoCreate", "sso@example.com", 2).await;
    set_password(&app, &sso, "Sso1Passwd").await.assert_error(
        400,
        1123,
        "Can only update password of Zoom work email account",
    );
    let api = app.create_user("custCreate", "api@example.com", 2).await;
    set_password(&app, &api, "Api1Passwd").await.assert_error(
        400,
        1123,
        "Can only update password of Zoom work email account",
    );
    set_password(&app, "ghost@example.com", "Ghost1Pass")
        .await
        .assert_error(404, 1001, "User does not exist: ghost@example.com.");
}

#[backend_test]
async fn concurrent_changes_cannot_exceed_the_daily_cap() {
    let app = TestApp::spawn().await;
    let id = app.member("race@example.com").await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let request = app
            .request(Method::PUT, &format!("/users/{id}/password"))
            .json(&json!({ "password": format!("Race{n}Pass{n}x") }));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            204 => ok += 1,
            400 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(
        app.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.outbox(None).await
            })
            .await
            .unwrap()
            .len(),
        5
    );
}

/// S1's limits differ: a user may be created with a 32-character password (`maxLength: 32`) but a change must be
/// "fewer than 32 characters".
#[backend_test]
async fn a_32_character_password_creates_a_user_but_cannot_be_changed_to() {
    let app = TestApp::spawn().await;
    let longest = "Valid1Pass".repeat(3) + "Zz";
    let created = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "action": "autoCreate",
                "user_info": { "email": "long@example.com", "type": 1, "password": longest },
            })),
        )
        .await;
    created.assert_status(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    app.call(
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "Other2Pass".repeat(3) + "Zz" })),
    )
    .await
    .assert_error(400, 300, "Invalid parameter: password");
    app.call(
        Method::POST,
        "/users",
        Some(json!({
            "action": "autoCreate",
            "user_info": { "email": "longer@example.com", "type": 1, "password": longest.clone() + "x" },
        })),
    )
    .await
    .assert_error(400, 300, "Invalid parameter: password");
}
