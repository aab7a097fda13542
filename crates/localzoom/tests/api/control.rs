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
        .assert_error(404, 2300, CONTROL_API_OFF);
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

    for key in ["short-key", " tiny-key   "] {
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

fn emails(list: &Reply) -> Vec<&str> {
    list.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect()
}

/// A reset of everything leaves the bootstrap account as `serve` made it: its owner (same id), its app (same
/// credentials, scopes as created), Zoom's default settings, and nothing else: users, tokens, sessions, mail,
/// other accounts and their apps are gone.
#[backend_test]
async fn a_reset_puts_everything_back_as_the_server_was_configured() {
    let app = TestApp::spawn().await;
    let owner_before = app.get("/users/me").await.body["id"].clone();
    let settings_before = app.get("/accounts/me/settings?option=security").await;
    let gone = app.create_user("create", "gone@example.com", 1).await;
    let member = app.member("member@example.com").await;
    app.add_session(&member, 101).await;
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(json!({ "security": { "password_requirement": { "minimum_password_length": 12 } } })),
    )
    .await
    .assert_status(204);
    let (_, b_client, b_secret) = app.second_account().await;
    let narrowed = app.token_with_scopes(&member, &["user:read:admin"]).await;

    app.control(Method::POST, "/reset", None)
        .await
        .assert_status(204);

    // Every token issued before is gone; the bootstrap credentials work as before.
    app.get("/users/me")
        .await
        .assert_error(401, 124, "Invalid access token.");
    app.call_with(&narrowed, Method::GET, "/v2/users/me", None)
        .await
        .assert_error(401, 124, "Invalid access token.");
    let token = app.fresh_token().await;
    let get = async |path: String| app.call_with(&token, Method::GET, &path, None).await;
    let me = get("/v2/users/me".into()).await;
    assert_eq!(me.body["id"], owner_before, "{}", me.body);
    assert_eq!(me.body["role_name"], "Owner");
    for user in [&gone, &member] {
        get(format!("/v2/users/{user}")).await.assert_error(
            404,
            1001,
            &format!("User does not exist: {user}."),
        );
    }
    assert_eq!(
        emails(&get("/v2/users?status=active".into()).await),
        vec![OWNER_EMAIL]
    );
    assert_eq!(
        emails(&get("/v2/users?status=pending".into()).await),
        Vec::<&str>::new()
    );
    let settings = get("/v2/accounts/me/settings?option=security".into()).await;
    assert_eq!(settings.body, settings_before.body);
    assert_eq!(
        app.control(Method::GET, "/outbox", None).await.body,
        json!({ "messages": [] })
    );
    // The other account and its app are gone.
    let refused = app.grant("AccountB", &b_client, &b_secret).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["reason"], "Invalid client_id or client_secret");
    // The same addresses can be used again.
    app.call_with(
        &token,
        Method::POST,
        "/v2/users",
        Some(json!({ "action": "custCreate", "user_info": { "email": "member@example.com", "type": 1 } })),
    )
    .await
    .assert_status(201);
}

/// A reset of one account empties it back to its owner; its apps keep their credentials, and other accounts
/// (the bootstrap one here) keep everything.
#[backend_test]
async fn a_reset_of_one_account_leaves_the_others_alone() {
    let app = TestApp::spawn().await;
    let kept = app.member("kept@example.com").await;
    let (b_owner, b_client, b_secret) = app.second_account().await;
    let b_token = app.grant("AccountB", &b_client, &b_secret).await;
    b_token.assert_status(200);
    let b_token = b_token.body["access_token"].as_str().unwrap().to_string();
    app.call_with(
        &b_token,
        Method::POST,
        "/v2/users",
        Some(json!({ "action": "custCreate", "user_info": { "email": "bee@b.test", "type": 1 } })),
    )
    .await
    .assert_status(201);

    let journaled = async |account: &str| {
        app.control(
            Method::GET,
            &format!("/requests/count?account_id={account}"),
            None,
        )
        .await
        .body["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(journaled("AccountB").await, 2);
    let bootstrap_calls = journaled(ACCOUNT_ID).await;
    assert!(bootstrap_calls > 0);

    app.control(
        Method::POST,
        "/reset",
        Some(json!({ "account_id": "AccountB" })),
    )
    .await
    .assert_status(204);
    // The account's journal entries went with it; the others' stayed.
    assert_eq!(journaled("AccountB").await, 0);
    assert_eq!(journaled(ACCOUNT_ID).await, bootstrap_calls);

    app.call_with(&b_token, Method::GET, "/v2/users/me", None)
        .await
        .assert_error(401, 124, "Invalid access token.");
    let b_token = app.grant("AccountB", &b_client, &b_secret).await;
    b_token.assert_status(200);
    let b_token = b_token.body["access_token"].as_str().unwrap();
    let b_users = app.call_with(b_token, Method::GET, "/v2/users", None).await;
    assert_eq!(emails(&b_users), vec!["owner@b.test"]);
    assert_eq!(b_users.body["users"][0]["id"], b_owner.id.as_str());
    // The bootstrap account, its users and its token are untouched.
    app.get(&format!("/users/{kept}")).await.assert_status(200);

    app.control(
        Method::POST,
        "/reset",
        Some(json!({ "account_id": "NoSuchAccount" })),
    )
    .await
    .assert_error(404, 2001, "Account does not exist: NoSuchAccount.");
    let blank = app
        .control(Method::POST, "/reset", Some(json!({ "account_id": " " })))
        .await;
    blank.assert_error(400, 300, "Validation Failed.");
    assert_eq!(blank.error_fields(), vec!["account_id"]);
}

/// A reset forgets what the account spent of its rate limits, daily quotas included.
#[backend_test]
async fn a_reset_forgets_the_quota_spent() {
    use localzoom_server::domain::rate_limits::{Label, Limit};
    let app = TestApp::spawn_rate_limited("pro").await;
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Daily(Label::Light), Some(Some(2)))
    })
    .await;
    app.get("/users/me").await.assert_status(200);
    app.get("/users/me").await.assert_status(200);
    assert_eq!(app.get("/users/me").await.status, 429);
    app.control(
        Method::POST,
        "/reset",
        Some(json!({ "account_id": ACCOUNT_ID })),
    )
    .await
    .assert_status(204);
    // The override is the operator's and stays: two calls again, then the limit.
    let token = app.fresh_token().await;
    for expected in [200, 200, 429] {
        let reply = app
            .call_with(&token, Method::GET, "/v2/users/me", None)
            .await;
        assert_eq!(reply.status, expected);
    }
}

/// A reset is one transaction: writes racing it land wholly before it (and are undone) or wholly after (and
/// stay), so the per-account counts always match the users listed.
#[backend_test]
async fn a_reset_during_traffic_is_never_seen_half_done() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let mut writers = Vec::new();
    for w in 0..3 {
        let app = app.clone();
        // Taken before the reset: every write after it is refused, inside its own transaction.
        let token = app.fresh_token().await;
        writers.push(tokio::spawn(async move {
            for n in 0..15 {
                let body = json!({ "action": "custCreate",
                        "user_info": { "email": format!("w{w}n{n}@example.com"), "type": 1 } });
                let reply = app
                    .call_with(&token, Method::POST, "/v2/users", Some(body))
                    .await;
                // Before the reset: created; after it, the token is gone.
                assert!(
                    [201, 401].contains(&reply.status.as_u16()),
                    "{:?}",
                    reply.body
                );
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.control(Method::POST, "/reset", None)
        .await
        .assert_status(204);
    for writer in writers {
        writer.await.unwrap();
    }
    let token = app.fresh_token().await;
    let list = app
        .call_with(&token, Method::GET, "/v2/users?page_size=300", None)
        .await;
    assert_eq!(emails(&list), vec![OWNER_EMAIL]);
    assert_eq!(list.body["total_records"], 1);
}

fn journal_of(reply: &Reply) -> Vec<(String, String, u64)> {
    reply.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap_or("-").to_string(),
                r["user"].as_str().unwrap_or("-").to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The journal answers "did my offboarding job revoke SSO, then deactivate, once per user?": each call with its
/// operation, user, account, app, status, Zoom code and tracking id; filters and counts; clearing.
#[backend_test]
async fn the_journal_records_each_call_for_a_test_to_assert_on() {
    let app = TestApp::spawn().await;
    let ann = app.member("ann@example.com").await;
    let bob = app.member("bob@example.com").await;
    app.control(Method::DELETE, "/requests", None)
        .await
        .assert_status(204);
    let mut tracking = Vec::new();
    for user in [&ann, &bob] {
        let revoked = app
            .call(Method::DELETE, &format!("/users/{user}/token"), None)
            .await;
        revoked.assert_status(204);
        tracking.push(
            revoked.headers["x-zm-trackingid"]
                .to_str()
                .unwrap()
                .to_string(),
        );
        app.set_status(user, "deactivate").await.assert_status(204);
    }
    app.get("/users/nobody@example.com").await.assert_error(
        404,
        1001,
        "User does not exist: nobody@example.com.",
    );

    let all = app.control(Method::GET, "/requests", None).await;
    all.assert_status(200);
    assert_eq!(
        journal_of(&all),
        [
            ("userSSOTokenDelete", ann.as_str(), 204),
            ("userStatus", ann.as_str(), 204),
            ("userSSOTokenDelete", bob.as_str(), 204),
            ("userStatus", bob.as_str(), 204),
            ("user", "nobody@example.com", 404),
        ]
        .map(|(op, user, status)| (op.to_string(), user.to_string(), status))
    );
    assert_eq!(all.body["dropped"], 0);
    let first = &all.body["requests"][0];
    assert_eq!(first["tracking_id"], tracking[0].as_str());
    assert_eq!(first["method"], "DELETE");
    assert_eq!(first["path"], format!("/v2/users/{ann}/token"));
    assert_eq!(first["account_id"], ACCOUNT_ID);
    assert_eq!(first["client_id"], CLIENT_ID);
    assert_eq!(first["time"], "2026-01-01T00:00:00Z");
    assert!(first["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        all.body["requests"][1]["request_body"],
        json!({ "action": "deactivate" })
    );
    let missing = &all.body["requests"][4];
    assert_eq!(missing["code"], 1001);
    assert_eq!(
        missing["response_body"]["message"],
        "User does not exist: nobody@example.com."
    );

    // Filters, alone and together, for the list and the count.
    let count = async |query: String| {
        let reply = app
            .control(Method::GET, &format!("/requests/count{query}"), None)
            .await;
        reply.assert_status(200);
        reply.body["count"].as_u64().unwrap()
    };
    assert_eq!(count("?operation=userSSOTokenDelete".into()).await, 2);
    assert_eq!(count(format!("?operation=userStatus&user={bob}")).await, 1);
    assert_eq!(count("?status=404".into()).await, 1);
    assert_eq!(count(format!("?account_id={ACCOUNT_ID}")).await, 5);
    assert_eq!(count("?account_id=other".into()).await, 0);
    assert_eq!(count(format!("?since={}", tracking[1])).await, 2);
    assert_eq!(count("?from=2026-01-01T00:00:00Z".into()).await, 5);
    assert_eq!(count("?to=2026-01-01T00:00:00Z".into()).await, 0);
    let since = app
        .control(
            Method::GET,
            &format!("/requests?since={}", tracking[1]),
            None,
        )
        .await;
    assert_eq!(journal_of(&since)[0].0, "userStatus");
    let bad = app
        .control(Method::GET, "/requests?status=abc&from=yesterday", None)
        .await;
    bad.assert_error(400, 300, "Validation Failed.");
    assert_eq!(bad.error_fields(), vec!["status"]);
    // The control API's own calls are not Zoom's API: they are not recorded.
    assert_eq!(count(String::new()).await, 5);

    app.control(Method::DELETE, "/requests", None)
        .await
        .assert_status(204);
    assert_eq!(
        app.control(Method::GET, "/requests", None).await.body,
        json!({ "requests": [], "dropped": 0 })
    );
}

/// No secret reaches the journal: passwords in bodies, tokens in answers, client secrets and codes in forms,
/// the Authorization header.
#[backend_test]
async fn the_journal_redacts_every_secret() {
    let app = TestApp::spawn().await;
    let id = app.member("pat@example.com").await;
    app.call(
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "Fresh1Pass" })),
    )
    .await
    .assert_status(204);
    app.fresh_token().await;
    app.send(app.http.post(format!("{}/oauth/token", app.base)).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]))
    .await;
    app.get(&format!("/users/{id}/token?type=zak")).await;
    // The seeds' multipart bodies: their text fields are kept, the password redacted.
    let form = reqwest::multipart::Form::new().text("password", "Seed7Multipart");
    app.send(
        app.request(Method::PUT, &format!("/users/{id}/password"))
            .multipart(form),
    )
    .await
    .assert_status(204);
    let form = reqwest::multipart::Form::new().text("action", "deactivate");
    app.send(
        app.request(Method::PUT, &format!("/users/{id}/status"))
            .multipart(form),
    )
    .await
    .assert_status(204);
    let journal = app.control(Method::GET, "/requests", None).await;
    let text = journal.body.to_string();
    for secret in ["Fresh1Pass", "Seed7Multipart", CLIENT_SECRET, &app.token] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let entries = journal.body["requests"].as_array().unwrap();
    let password = entries
        .iter()
        .find(|e| e["operation"] == "userPassword")
        .unwrap();
    assert_eq!(
        password["request_body"],
        json!({ "password": "[redacted]" })
    );
    let status = entries
        .iter()
        .find(|e| e["operation"] == "userStatus")
        .unwrap();
    assert_eq!(status["request_body"], json!({ "action": "deactivate" }));
    let multipart_password = entries
        .iter()
        .filter(|e| e["operation"] == "userPassword")
        .nth(1)
        .unwrap();
    assert_eq!(
        multipart_password["request_body"],
        json!({ "password": "[redacted]" })
    );
    let grant = entries
        .iter()
        .find(|e| e["path"] == "/oauth/token" && e["status"] == 200)
        .unwrap();
    assert_eq!(grant["response_body"]["access_token"], "[redacted]");
    assert_eq!(grant["account_id"], ACCOUNT_ID);
    assert_eq!(grant["client_id"], CLIENT_ID);
    assert_eq!(
        grant["query"],
        format!("grant_type=account_credentials&account_id={ACCOUNT_ID}")
    );
    let form = entries
        .iter()
        .find(|e| e["request_body"]["grant_type"] == "client_credentials")
        .unwrap();
    assert_eq!(form["request_body"]["client_secret"], "[redacted]");
    let zak = entries
        .iter()
        .find(|e| e["operation"] == "userToken")
        .unwrap();
    assert_eq!(zak["response_body"]["token"], "[redacted]");
}

/// The journal keeps the newest calls up to its size and counts those it dropped; a server without the control
/// API keeps none.
#[backend_test]
async fn the_journal_is_bounded_and_counts_what_it_dropped() {
    let app = TestApp::spawn_tuned(|config| config.journal_capacity = 3).await;
    for _ in 0..5 {
        app.get("/users/me").await.assert_status(200);
    }
    let journal = app.control(Method::GET, "/requests", None).await;
    assert_eq!(journal.body["requests"].as_array().unwrap().len(), 3);
    // The token grant of the test's set-up and two of the five reads went.
    assert_eq!(journal.body["dropped"], 3);

    let off = TestApp::spawn_tuned(|config| config.journal_capacity = 0).await;
    off.control(Method::GET, "/requests", None)
        .await
        .assert_error(
            400,
            300,
            "The request journal is off: start the server with --journal-size above 0.",
        );
}

/// Every control endpoint needs the admin key, and none exists without one; none answers under `/v2` or
/// `/oauth`.
#[backend_test]
async fn no_part_of_the_control_api_is_reachable_without_the_key() {
    let endpoints = [
        (Method::POST, "/reset"),
        (Method::POST, "/fixtures"),
        (Method::GET, "/requests"),
        (Method::GET, "/requests/count"),
        (Method::DELETE, "/requests"),
        (Method::POST, "/faults"),
        (Method::GET, "/faults"),
        (Method::DELETE, "/faults"),
        (Method::DELETE, "/faults/fault-1"),
        (Method::GET, "/clock"),
        (Method::POST, "/clock"),
        (Method::GET, "/outbox"),
        (Method::DELETE, "/outbox"),
        (Method::GET, "/users/me/sessions"),
    ];
    let app = TestApp::spawn().await;
    let user = app.member("kept@example.com").await;
    for (method, path) in &endpoints {
        for key in ["wrong-key-wrong-key", app.token.as_str()] {
            app.call_with(
                key,
                method.clone(),
                &format!("/_localzoom/v1{path}"),
                Some(json!({})),
            )
            .await
            .assert_error(401, 124, "Invalid access token.");
        }
        // Not under Zoom's hosts, with the key or a token.
        for prefix in ["/v2", "/oauth"] {
            let reply = app
                .call_with(ADMIN_KEY, method.clone(), &format!("{prefix}{path}"), None)
                .await;
            assert!(
                [404, 405].contains(&reply.status.as_u16()),
                "{prefix}{path}: {}",
                reply.body
            );
        }
    }
    // Nothing was reset by the refused calls.
    app.get(&format!("/users/{user}")).await.assert_status(200);

    let closed = TestApp::spawn_configured("pro", None).await;
    for (method, path) in &endpoints {
        closed
            .call_with(
                ADMIN_KEY,
                method.clone(),
                &format!("/_localzoom/v1{path}"),
                None,
            )
            .await
            .assert_error(404, 2300, CONTROL_API_OFF);
    }
}

/// Moving the clock through the control API is what a test does instead of waiting a day: the 24-hour password
/// cap lapses, and so does a spent daily quota (at midnight UTC).
#[backend_test]
async fn the_clock_opens_the_24_hour_windows_and_the_daily_quotas() {
    use localzoom_server::domain::rate_limits::{Label, Limit};
    let app = TestApp::spawn_rate_limited("pro").await;
    let id = app.create_user("autoCreate", "pat@example.com", 1).await;
    let set_password = async |token: &str, password: &str| {
        app.call_with(
            token,
            Method::PUT,
            &format!("/v2/users/{id}/password"),
            Some(json!({ "password": password })),
        )
        .await
    };
    for n in 1..=5 {
        set_password(&app.token, &format!("Change{n}Pass"))
            .await
            .assert_status(204);
    }
    set_password(&app.token, "Sixth6Pass").await.assert_error(
        400,
        300,
        "This password cannot be changed because it has already been changed the maximum number of times over the past 24 hours.",
    );
    app.control(
        Method::POST,
        "/clock",
        Some(json!({ "advance_seconds": 24 * 3600 })),
    )
    .await
    .assert_status(200);
    let token = app.fresh_token().await;
    set_password(&token, "Sixth6Pass").await.assert_status(204);

    // A daily quota of two Light calls, spent; the next UTC day it is whole again.
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Daily(Label::Light), Some(Some(2)))
    })
    .await;
    for expected in [200, 200, 429] {
        let reply = app
            .call_with(&token, Method::GET, "/v2/users/me", None)
            .await;
        assert_eq!(reply.status, expected, "{}", reply.body);
    }
    app.control(
        Method::POST,
        "/clock",
        Some(json!({ "now": "2026-01-03T00:00:00Z" })),
    )
    .await
    .assert_status(200);
    let token = app.fresh_token().await;
    app.call_with(&token, Method::GET, "/v2/users/me", None)
        .await
        .assert_status(200);
}
