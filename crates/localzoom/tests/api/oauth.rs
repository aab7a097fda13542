use localzoom_test_macros::backend_test;
use serde_json::json;

use crate::helpers::*;

async fn token_request(
    app: &TestApp,
    query: &str,
    form: Option<&[(&str, &str)]>,
    secret: Option<&str>,
) -> Reply {
    let mut request = app.http.post(format!("{}/oauth/token{query}", app.base));
    if let Some(secret) = secret {
        request = request.basic_auth(CLIENT_ID, Some(secret));
    }
    if let Some(form) = form {
        request = request.form(form);
    }
    app.send(request).await
}

#[backend_test]
async fn account_credentials_grant_by_query_and_by_form_body() {
    let app = TestApp::spawn().await;
    let by_query = token_request(
        &app,
        &format!("?grant_type=account_credentials&account_id={ACCOUNT_ID}"),
        None,
        Some(CLIENT_SECRET),
    )
    .await;
    by_query.assert_status(200);
    assert_eq!(by_query.body["token_type"], "bearer");
    assert_eq!(by_query.body["expires_in"], 3600);
    let scopes: Vec<&str> = by_query.body["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .collect();
    assert!(scopes.contains(&"user:write:admin") && scopes.contains(&"user:read:admin"));

    let by_form = token_request(
        &app,
        "",
        Some(&[
            ("grant_type", "account_credentials"),
            ("account_id", ACCOUNT_ID),
        ]),
        Some(CLIENT_SECRET),
    )
    .await;
    by_form.assert_status(200);
    // Several tokens are live at once: both work.
    for token in [
        &by_query.body["access_token"],
        &by_form.body["access_token"],
    ] {
        let reply = app
            .send(
                app.http
                    .get(format!("{}/v2/users/me", app.base))
                    .bearer_auth(token.as_str().unwrap()),
            )
            .await;
        reply.assert_status(200);
        assert_eq!(reply.body["email"], OWNER_EMAIL);
        assert_eq!(reply.body["role_name"], "Owner");
    }
    assert_ne!(by_query.body["access_token"], by_form.body["access_token"]);
}

#[backend_test]
async fn token_endpoint_errors_use_the_oauth_shape() {
    let app = TestApp::spawn().await;
    let query = format!("?grant_type=account_credentials&account_id={ACCOUNT_ID}");
    let cases: Vec<(Reply, u16, &str, &str)> = vec![
        (
            token_request(&app, &query, None, Some("wrong")).await,
            400,
            "invalid_client",
            "Invalid client_id or client_secret",
        ),
        (
            token_request(&app, &query, None, None).await,
            400,
            "invalid_client",
            "Invalid client_id or client_secret",
        ),
        (
            token_request(
                &app,
                &format!("?grant_type=password&account_id={ACCOUNT_ID}"),
                None,
                Some(CLIENT_SECRET),
            )
            .await,
            400,
            "unsupported_grant_type",
            "unsupported grant type",
        ),
        (
            token_request(
                &app,
                &format!("?account_id={ACCOUNT_ID}"),
                None,
                Some(CLIENT_SECRET),
            )
            .await,
            400,
            "invalid_request",
            "Missing grant type",
        ),
        (
            token_request(
                &app,
                "?grant_type=account_credentials",
                None,
                Some(CLIENT_SECRET),
            )
            .await,
            400,
            "invalid_request",
            "Missing account_id",
        ),
        (
            token_request(
                &app,
                "?grant_type=account_credentials&account_id=other",
                None,
                Some(CLIENT_SECRET),
            )
            .await,
            400,
            "invalid_request",
            "Invalid account_id",
        ),
    ];
    for (reply, status, error, reason) in cases {
        reply.assert_status(status);
        assert_eq!(reply.body, json!({ "reason": reason, "error": error }));
    }
}

#[backend_test]
async fn v2_calls_need_a_valid_unexpired_bearer_token() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v2/users/me", app.base);
    let invalid = [
        app.http.get(&url),
        app.http.get(&url).header("Authorization", "Bearer"),
        app.http
            .get(&url)
            .header("Authorization", format!("Basic {}", app.token)),
        app.http.get(&url).bearer_auth("not-a-token"),
        app.http
            .get(&url)
            .bearer_auth(&app.token[..app.token.len() - 1]),
    ];
    for request in invalid {
        let reply = app.send(request).await;
        reply.assert_error(401, 124, "Invalid access token.");
        assert!(reply.headers.contains_key("x-zm-trackingid"));
    }
    // The scheme is case-insensitive.
    app.send(
        app.http
            .get(&url)
            .header("Authorization", format!("bearer {}", app.token)),
    )
    .await
    .assert_status(200);

    app.clock.advance_ms(3600 * 1000 - 1);
    app.get("/users/me").await.assert_status(200);
    app.clock.advance_ms(1);
    app.get("/users/me")
        .await
        .assert_error(401, 124, "Access token is expired.");
    // A new token works again.
    let fresh = app.fresh_token().await;
    app.send(app.http.get(&url).bearer_auth(fresh))
        .await
        .assert_status(200);
}

#[backend_test]
async fn me_is_the_owner_for_server_to_server_tokens() {
    let app = TestApp::spawn().await;
    let me = app.get("/users/me").await;
    let by_email = app.get(&format!("/users/{OWNER_EMAIL}")).await;
    assert_eq!(me.body["id"], by_email.body["id"]);
    let id = me.body["id"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(me.body["account_id"], ACCOUNT_ID);
    assert_eq!(me.body["type"], 2);
    assert_eq!(me.body["login_types"], json!([100]));
    // Dates are RFC 3339 UTC with Z.
    assert_eq!(me.body["created_at"], "2026-01-01T00:00:00Z");
}

#[backend_test]
async fn tokens_a_day_past_expiry_are_purged() {
    let app = TestApp::spawn().await;
    let old = app.token.clone();
    let count = async |app: &TestApp| {
        let mut n = 0;
        app.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                let result: localzoom_server::error::ApiResult<_> = {
                    n = s
                        .token(&localzoom_server::crypto::sha256(old.as_bytes()))
                        .await?
                        .map_or(0, |_| 1);
                    Ok(())
                };
                result
            })
            .await
            .unwrap();
        n
    };
    assert_eq!(count(&app).await, 1);
    app.clock.advance_ms(3600 * 1000);
    app.get("/users/me")
        .await
        .assert_error(401, 124, "Access token is expired.");
    app.clock.advance_ms(24 * 3600 * 1000 + 1);
    // Minting a new token sweeps the long-expired one.
    let fresh = app.fresh_token().await;
    assert_eq!(count(&app).await, 0);
    app.get("/users/me")
        .await
        .assert_error(401, 124, "Invalid access token.");
    app.send(
        app.http
            .get(format!("{}/v2/users/me", app.base))
            .bearer_auth(fresh),
    )
    .await
    .assert_status(200);
}

#[backend_test]
async fn failed_client_authentication_is_limited_per_client() {
    let app = TestApp::spawn().await;
    let query = format!("?grant_type=account_credentials&account_id={ACCOUNT_ID}");
    for _ in 0..10 {
        let reply = token_request(&app, &query, None, Some("guess")).await;
        assert_eq!(reply.body["error"], "invalid_client");
    }
    // Blocked now, even with the right secret.
    let blocked = token_request(&app, &query, None, Some(CLIENT_SECRET)).await;
    blocked.assert_status(429);
    assert_eq!(
        blocked.body,
        json!({ "reason": "Too many failed client authentications. Try again later.", "error": "too_many_requests" })
    );
    assert_eq!(blocked.headers["retry-after"], "60");
    // Other clients are not affected, and the block lifts after the window.
    let other = app
        .send(
            app.http
                .post(format!("{}/oauth/token{query}", app.base))
                .basic_auth("someone-else", Some("x")),
        )
        .await;
    assert_eq!(other.body["error"], "invalid_client");
    app.clock.advance_ms(60_000);
    token_request(&app, &query, None, Some(CLIENT_SECRET))
        .await
        .assert_status(200);
}
