//! The control API: sign-ins as sessions, and what each seed operation does to them.

use localzoom_test_macros::backend_test;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn control(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Reply {
    app.call_with(key, method, &format!("/_localzoom/v1{path}"), body)
        .await
}

async fn sign_in(app: &TestApp, user: &str, login_type: i64) -> String {
    let reply = control(
        app,
        Method::POST,
        &format!("/users/{user}/sessions"),
        ADMIN_KEY,
        Some(json!({ "login_type": login_type })),
    )
    .await;
    reply.assert_status(201);
    assert_eq!(reply.body["login_type"], login_type);
    assert_eq!(reply.body["created_at"], "2026-01-01T00:00:00Z");
    assert_eq!(reply.body["ended_at"], Value::Null);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn open_sessions(app: &TestApp, user: &str) -> Vec<i64> {
    let reply = control(
        app,
        Method::GET,
        &format!("/users/{user}/sessions"),
        ADMIN_KEY,
        None,
    )
    .await;
    reply.assert_status(200);
    reply.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ended_at"].is_null())
        .map(|s| s["login_type"].as_i64().unwrap())
        .collect()
}

#[backend_test]
async fn sessions_made_through_the_control_api_end_as_zoom_ends_them() {
    let app = TestApp::spawn().await;
    let id = app.member("user@example.com").await;
    for login_type in [101, 100, 1] {
        sign_in(&app, &id, login_type).await;
    }
    assert_eq!(
        open_sessions(&app, "user@example.com").await,
        vec![101, 100, 1]
    );
    // Revoking the SSO token ends SSO sessions only.
    app.call(Method::DELETE, &format!("/users/{id}/token"), None)
        .await
        .assert_status(204);
    assert_eq!(open_sessions(&app, &id).await, vec![100, 1]);
    // A password change ends work-email sessions (docs/fidelity.md).
    app.call(
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "Fresh1Pass" })),
    )
    .await
    .assert_status(204);
    assert_eq!(open_sessions(&app, &id).await, vec![1]);
    // Deactivation ends them all, and a deactivated user cannot sign in.
    app.set_status(&id, "deactivate").await.assert_status(204);
    assert_eq!(open_sessions(&app, &id).await, Vec::<i64>::new());
    control(
        &app,
        Method::POST,
        &format!("/users/{id}/sessions"),
        ADMIN_KEY,
        Some(json!({ "login_type": 100 })),
    )
    .await
    .assert_error(
        400,
        300,
        "User user@example.com is inactive and cannot sign in.",
    );
}

#[backend_test]
async fn the_control_api_needs_the_admin_key_and_valid_input() {
    let app = TestApp::spawn().await;
    let id = app.member("user@example.com").await;
    let path = format!("/users/{id}/sessions");
    control(&app, Method::GET, &path, "wrong", None)
        .await
        .assert_error(401, 124, "Invalid access token.");
    // A Zoom access token is not the admin key.
    control(&app, Method::GET, &path, &app.token, None)
        .await
        .assert_error(401, 124, "Invalid access token.");
    for body in [
        json!({}),
        json!({ "login_type": 5 }),
        json!({ "login_type": "sso" }),
    ] {
        let reply = control(&app, Method::POST, &path, ADMIN_KEY, Some(body)).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec!["login_type"]);
    }
    control(&app, Method::GET, "/users/nobody/sessions", ADMIN_KEY, None)
        .await
        .assert_error(404, 1001, "User does not exist: nobody.");

    // Without an admin key the control API does not exist, and says how to turn it on.
    let closed = TestApp::spawn_configured("pro", None).await;
    control(&closed, Method::GET, "/users/me/sessions", "", None)
        .await
        .assert_error(
            404,
            2300,
            "localzoom's control API is off: start the server with --admin-key KEY (or LOCALZOOM_ADMIN_KEY) \
             and send Authorization: Bearer KEY.",
        );
}

/// The admin key is a bearer token: the `Bearer` scheme is required, and an empty or short key never opens the
/// control API (the server refuses to start with one).
#[backend_test]
async fn the_admin_key_must_be_a_real_bearer_key() {
    let app = TestApp::spawn().await;
    let id = app.member("keyed@example.com").await;
    let url = format!("{}/_localzoom/v1/users/{id}/sessions", app.base);
    for header in [
        ADMIN_KEY.to_string(),
        format!("Basic {ADMIN_KEY}"),
        "Bearer ".to_string(),
        "Bearer".to_string(),
        format!("Bearer {}", &ADMIN_KEY[..ADMIN_KEY.len() - 1]),
    ] {
        app.send(app.http.get(&url).header("authorization", header))
            .await
            .assert_error(401, 124, "Invalid access token.");
    }
    app.send(
        app.http
            .get(&url)
            .header("authorization", format!("bearer {ADMIN_KEY}")),
    )
    .await
    .assert_status(200);

    for key in ["", "   ", "short-key"] {
        let db = TestDatabase::new();
        let mut config = localzoom_server::server::ServerConfig::new("127.0.0.1:0", &db.url);
        config.admin_key = Some(key.to_string());
        let refused = localzoom_server::server::start(config)
            .await
            .err()
            .expect("refused");
        assert_eq!(
            refused.to_string(),
            "--admin-key (LOCALZOOM_ADMIN_KEY) must be at least 12 characters: a shorter one would open the \
             control API to whoever guesses it (leave it unset to keep the control API off)"
        );
    }
}

#[backend_test]
async fn the_clock_moves_forward_for_every_rule() {
    let app = TestApp::spawn().await;
    let clock = |method: Method, body: Option<Value>| {
        app.call_with(ADMIN_KEY, method, "/_localzoom/v1/clock", body)
    };
    let read = clock(Method::GET, None).await;
    read.assert_status(200);
    assert_eq!(read.body, json!({ "now": "2026-01-01T00:00:00Z" }));
    // A token of one hour: valid now, expired an hour and a second later.
    app.get("/users/me").await.assert_status(200);
    let moved = clock(Method::POST, Some(json!({ "advance_seconds": 3601 }))).await;
    moved.assert_status(200);
    assert_eq!(moved.body, json!({ "now": "2026-01-01T01:00:01Z" }));
    assert_eq!(app.clock_now(), START_MS + 3_601_000);
    app.get("/users/me")
        .await
        .assert_error(401, 124, "Access token is expired.");
    let fresh = app.fresh_token().await;
    app.call_with(&fresh, Method::GET, "/v2/users/me", None)
        .await
        .assert_status(200);
    // To a given time, forward only.
    let set = clock(
        Method::POST,
        Some(json!({ "now": "2026-01-02T00:00:00+01:00" })),
    )
    .await;
    assert_eq!(set.body, json!({ "now": "2026-01-01T23:00:00Z" }));
    clock(Method::POST, Some(json!({ "now": "2026-01-01T00:00:00Z" })))
        .await
        .assert_error(
            400,
            300,
            "The clock moves forward only: it is 2026-01-01T23:00:00Z and cannot be set to 2026-01-01T00:00:00Z.",
        );
    for (body, field) in [
        (json!({ "advance_seconds": -5 }), "advance_seconds"),
        (json!({ "now": "tomorrow" }), "now"),
    ] {
        let reply = clock(Method::POST, Some(body)).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
    clock(
        Method::POST,
        Some(json!({ "advance_seconds": 1, "now": "2027-01-01T00:00:00Z" })),
    )
    .await
    .assert_error(
        400,
        300,
        "Give one of \"advance_seconds\" (seconds forward) or \"now\" (an RFC 3339 time).",
    );
    assert_eq!(
        clock(Method::GET, None).await.body["now"],
        "2026-01-01T23:00:00Z"
    );
    // Only with the admin key.
    app.call_with(&app.token, Method::GET, "/_localzoom/v1/clock", None)
        .await
        .assert_error(401, 124, "Invalid access token.");
}

/// The outbox holds what Zoom would have e-mailed: an invitation for `action=create`, a notice of a password
/// change; listed and cleared per user (by id or e-mail) or whole.
#[backend_test]
async fn the_outbox_lists_and_clears_the_mail_zoom_sends() {
    let app = TestApp::spawn().await;
    let invited = app.create_user("create", "invited@example.com", 1).await;
    let pat = app.create_user("autoCreate", "pat@example.com", 1).await;
    app.call(
        Method::PUT,
        &format!("/users/{pat}/password"),
        Some(json!({ "password": "Fresh1Pass" })),
    )
    .await
    .assert_status(204);

    let all = app.control(Method::GET, "/outbox", None).await;
    all.assert_status(200);
    let messages = all.body["messages"].as_array().unwrap();
    let summary: Vec<_> = messages
        .iter()
        .map(|m| (m["to"].as_str().unwrap(), m["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("invited@example.com", "Please activate your Zoom account"),
            ("pat@example.com", "Your Zoom password has been changed"),
        ]
    );
    assert_eq!(messages[0]["user_id"], invited.as_str());
    assert_eq!(messages[1]["sent_at"], "2026-01-01T00:00:00Z");
    assert!(
        messages[1]["body"]
            .as_str()
            .unwrap()
            .contains("pat@example.com was changed")
    );
    // One user's mail, by e-mail or id.
    for filter in ["?user=PAT@example.com".to_string(), format!("?user={pat}")] {
        let theirs = app
            .control(Method::GET, &format!("/outbox{filter}"), None)
            .await;
        assert_eq!(theirs.body["messages"].as_array().unwrap().len(), 1);
        assert_eq!(theirs.body["messages"][0]["to"], "pat@example.com");
    }
    app.control(Method::GET, "/outbox?user=nobody@example.com", None)
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
    // Other ways of creating a user send nothing.
    app.create_user("custCreate", "api@example.com", 1).await;
    assert_eq!(
        app.control(Method::GET, "/outbox", None).await.body["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    app.control(Method::DELETE, &format!("/outbox?user={pat}"), None)
        .await
        .assert_status(204);
    let left = app.control(Method::GET, "/outbox", None).await;
    assert_eq!(left.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(left.body["messages"][0]["to"], "invited@example.com");
    app.control(Method::DELETE, "/outbox", None)
        .await
        .assert_status(204);
    assert_eq!(
        app.control(Method::GET, "/outbox", None).await.body,
        json!({ "messages": [] })
    );
}
