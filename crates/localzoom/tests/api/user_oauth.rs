//! The user-level OAuth flow, driven as a browser and an app would drive it.

use localzoom_test_macros::backend_test;

use base64::Engine;
use localzoom_server::service::accounts::{self, AppKind};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const REDIRECT: &str = "http://localhost:7777/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

struct UserApp {
    client_id: String,
    secret: String,
}

async fn user_app(app: &TestApp) -> UserApp {
    let now = app.clock_now();
    let (record, secret) = app
        .db()
        .write(move |tx| async move {
            let s = &tx;

            accounts::create_app(
                s,
                ACCOUNT_ID,
                AppKind::User,
                None,
                Some(REDIRECT.into()),
                now,
            )
            .await
        })
        .await
        .unwrap();
    UserApp {
        client_id: record.client_id,
        secret,
    }
}

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(localzoom_server::crypto::sha256(VERIFIER.as_bytes()))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens the authorize page, fills in the form it shows and submits it; returns the redirect's status and
/// location (or the page on a refusal).
async fn authorize(app: &TestApp, ua: &UserApp, email: &str, password: &str) -> (u16, String) {
    let query = [
        ("response_type", "code"),
        ("client_id", ua.client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "xyz 1"),
        ("code_challenge", &challenge()),
        ("code_challenge_method", "S256"),
    ];
    let page = browser()
        .get(format!("{}/oauth/authorize", app.base))
        .query(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form method="post" action="/oauth/authorize">"#));
    // Post back every hidden field the page carries, as a browser would.
    let mut form: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|field| {
            let name = field
                .split("name=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let value = field
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            (name, value.replace("&amp;", "&"))
        })
        .collect();
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    let response = browser()
        .post(format!("{}/oauth/authorize", app.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or(response.text().await.unwrap());
    (status, location)
}

fn code_of(location: &str) -> String {
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.ends_with("&state=xyz+1"), "{location}");
    location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string()
}

async fn token_call(app: &TestApp, ua: &UserApp, secret: &str, form: &[(&str, &str)]) -> Reply {
    app.send(
        app.http
            .post(format!("{}/oauth/token", app.base))
            .basic_auth(&ua.client_id, Some(secret))
            .form(form),
    )
    .await
}

async fn exchange(
    app: &TestApp,
    ua: &UserApp,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> Reply {
    token_call(
        app,
        ua,
        &ua.secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh_with(app: &TestApp, ua: &UserApp, refresh_token: &str) -> Reply {
    token_call(
        app,
        ua,
        &ua.secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn get_me(app: &TestApp, token: &str) -> Reply {
    app.send(
        app.http
            .get(format!("{}/v2/users/me", app.base))
            .bearer_auth(token),
    )
    .await
}

#[backend_test]
async fn the_full_authorization_code_flow() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let id = app.create_user("autoCreate", "person@example.com", 2).await;

    // A user with a password is asked for it.
    let (status, page) = authorize(&app, &ua, "person@example.com", "wrong").await;
    assert_eq!(status, 401);
    assert!(page.contains("The e-mail or password is wrong."));
    let (status, location) = authorize(&app, &ua, "person@example.com", "Initial1Pass").await;
    assert_eq!(status, 302);
    let code = code_of(&location);

    let tokens = exchange(&app, &ua, &code, VERIFIER, REDIRECT).await;
    tokens.assert_status(200);
    assert_eq!(tokens.body["token_type"], "bearer");
    assert_eq!(tokens.body["expires_in"], 3600);
    assert_eq!(tokens.body["scope"], "user:read user:write");
    let access = tokens.body["access_token"].as_str().unwrap().to_string();
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_string();
    let me = get_me(&app, &access).await;
    me.assert_status(200);
    assert_eq!(me.body["id"], id.as_str());
    // The sign-in is a session of the user.
    let sessions = app.sessions(&id).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (sessions[0].login_type, sessions[0].ended_at),
        (localzoom_server::domain::user::LoginType::WorkEmail, None)
    );

    // Refresh rotates: a new pair, the old refresh token retired.
    let refreshed = refresh_with(&app, &ua, &refresh).await;
    refreshed.assert_status(200);
    let new_refresh = refreshed.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_refresh, refresh);
    let new_access = refreshed.body["access_token"].as_str().unwrap().to_string();
    get_me(&app, &new_access).await.assert_status(200);
    // A refresh token is not an access token.
    get_me(&app, &new_refresh)
        .await
        .assert_error(401, 124, "Invalid access token.");

    // Revoking ends the token and the sign-in session.
    let revoked = app
        .send(
            app.http
                .post(format!("{}/oauth/revoke", app.base))
                .basic_auth(&ua.client_id, Some(&ua.secret))
                .form(&[("token", new_access.as_str())]),
        )
        .await;
    revoked.assert_status(200);
    assert_eq!(revoked.body, json!({ "status": "success" }));
    get_me(&app, &new_access)
        .await
        .assert_error(401, 124, "Invalid access token.");
    assert!(app.sessions(&id).await[0].ended_at.is_some());
}

#[backend_test]
async fn codes_are_single_use_short_lived_and_bound_to_redirect_and_verifier() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    app.member("person@example.com").await;
    let new_code = || async { code_of(&authorize(&app, &ua, "person@example.com", "").await.1) };

    let code = new_code().await;
    exchange(&app, &ua, &code, VERIFIER, REDIRECT)
        .await
        .assert_status(200);
    let reused = exchange(&app, &ua, &code, VERIFIER, REDIRECT).await;
    assert_eq!(
        reused.body,
        json!({ "reason": "Invalid authorization code", "error": "invalid_grant" })
    );

    let code = new_code().await;
    let wrong_verifier = exchange(
        &app,
        &ua,
        &code,
        "another-verifier-another-verifier-another-ver",
        REDIRECT,
    )
    .await;
    assert_eq!(
        wrong_verifier.body,
        json!({ "reason": "Invalid code_verifier", "error": "invalid_grant" })
    );
    let code = new_code().await;
    let wrong_redirect = exchange(&app, &ua, &code, VERIFIER, "http://evil.test/cb").await;
    assert_eq!(
        wrong_redirect.body,
        json!({ "reason": "Redirect URI mismatch.", "error": "invalid_grant" })
    );
    let code = new_code().await;
    let wrong_secret = token_call(
        &app,
        &ua,
        "nope",
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    assert_eq!(
        wrong_secret.body,
        json!({ "reason": "Invalid client_id or client_secret", "error": "invalid_client" })
    );

    let code = new_code().await;
    app.clock.advance_ms(5 * 60 * 1000);
    let expired = exchange(&app, &ua, &code, VERIFIER, REDIRECT).await;
    assert_eq!(
        expired.body,
        json!({ "reason": "Authorization code is expired", "error": "invalid_grant" })
    );
    let forged = exchange(&app, &ua, "forged", VERIFIER, REDIRECT).await;
    assert_eq!(forged.body["error"], "invalid_grant");
}

#[backend_test]
async fn refused_authorization_requests() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let page = |query: Vec<(&'static str, String)>| {
        let base = app.base.clone();
        async move {
            let response = browser()
                .get(format!("{base}/oauth/authorize"))
                .query(&query)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, body) = page(vec![
        ("response_type", "code".into()),
        ("client_id", ua.client_id.clone()),
        ("redirect_uri", "http://evil.test/cb".into()),
    ])
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Invalid redirect"));
    let (status, body) = page(vec![
        ("response_type", "code".into()),
        ("client_id", "unknown".into()),
    ])
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("Invalid client_id"));
    // A Server-to-Server app cannot be authorized by users.
    let (status, _) = page(vec![
        ("response_type", "code".into()),
        ("client_id", CLIENT_ID.into()),
    ])
    .await;
    assert_eq!(status, 400);

    // A deactivated user cannot authorize.
    let id = app.member("gone@example.com").await;
    app.set_status(&id, "deactivate").await.assert_status(204);
    let (status, page) = authorize(&app, &ua, "gone@example.com", "").await;
    assert_eq!(status, 401);
    assert!(page.contains("The e-mail or password is wrong."));
    // Nor can a user of another account than the app's.
    let (status, _) = authorize(&app, &ua, "nobody@elsewhere.test", "").await;
    assert_eq!(status, 401);
}

#[backend_test]
async fn user_tokens_die_with_their_user_or_app() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let mut pairs = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let id = app.member(email).await;
        let code = code_of(&authorize(&app, &ua, email, "").await.1);
        let tokens = exchange(&app, &ua, &code, VERIFIER, REDIRECT).await;
        pairs.push((
            id,
            tokens.body["access_token"].as_str().unwrap().to_string(),
            tokens.body["refresh_token"].as_str().unwrap().to_string(),
        ));
    }
    let (a, b, c) = (&pairs[0], &pairs[1], &pairs[2]);
    app.set_status(&a.0, "deactivate").await.assert_status(204);
    get_me(&app, &a.1)
        .await
        .assert_error(401, 124, "Invalid access token.");
    let refreshed = refresh_with(&app, &ua, &a.2).await;
    assert_eq!(refreshed.body["error"], "invalid_grant");
    app.call(
        Method::DELETE,
        &format!("/users/{}?action=delete", b.0),
        None,
    )
    .await
    .assert_status(204);
    get_me(&app, &b.1)
        .await
        .assert_error(401, 124, "Invalid access token.");
    get_me(&app, &c.1).await.assert_status(200);
    let client_id = ua.client_id.clone();
    app.db()
        .write(move |tx| async move {
            let s = &tx;
            accounts::deactivate_app(s, &client_id).await
        })
        .await
        .unwrap();
    get_me(&app, &c.1)
        .await
        .assert_error(401, 124, "Invalid access token.");
    let refreshed = refresh_with(&app, &ua, &c.2).await;
    assert_eq!(refreshed.body["error"], "invalid_client");
}

/// Signs `email` in through the app: (access token, refresh token, the code that was exchanged).
async fn sign_in(
    app: &TestApp,
    ua: &UserApp,
    email: &str,
    password: &str,
) -> (String, String, String) {
    let (status, location) = authorize(app, ua, email, password).await;
    assert_eq!(status, 302, "{location}");
    let code = code_of(&location);
    let tokens = exchange(app, ua, &code, VERIFIER, REDIRECT).await;
    tokens.assert_status(200);
    let field = |name: &str| tokens.body[name].as_str().unwrap().to_string();
    (field("access_token"), field("refresh_token"), code)
}

async fn assert_dead(app: &TestApp, ua: &UserApp, access: &str, refresh: &str) {
    get_me(app, access)
        .await
        .assert_error(401, 124, "Invalid access token.");
    let refused = refresh_with(app, ua, refresh).await;
    refused.assert_status(400);
    assert_eq!(
        refused.body,
        json!({ "reason": "Invalid Token!", "error": "invalid_grant" })
    );
}

/// What ends a sign-in session ends the tokens issued in it: a password change (work-email sessions), revoking
/// the SSO token (SSO sessions), revoking one token of the session.
#[backend_test]
async fn ending_a_sign_in_ends_its_tokens() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let id = app.create_user("autoCreate", "leaver@example.com", 2).await;
    let (access, refresh, _) = sign_in(&app, &ua, "leaver@example.com", "Initial1Pass").await;
    get_me(&app, &access).await.assert_status(200);
    app.call(
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "Changed2Pass" })),
    )
    .await
    .assert_status(204);
    assert_dead(&app, &ua, &access, &refresh).await;
    assert!(app.sessions(&id).await.iter().all(|s| s.ended_at.is_some()));

    // An SSO user's app tokens end with its SSO token.
    let sso = app.member("sso@example.com").await;
    app.edit_user("sso@example.com", |u| {
        u.login_type = localzoom_server::domain::user::LoginType::Sso
    })
    .await;
    let (access, refresh, _) = sign_in(&app, &ua, "sso@example.com", "").await;
    get_me(&app, &access).await.assert_status(200);
    app.call(Method::DELETE, &format!("/users/{sso}/token"), None)
        .await
        .assert_status(204);
    assert_dead(&app, &ua, &access, &refresh).await;

    // Revoking the access token ends its refresh token too (one sign-in, one session).
    let (access, refresh, _) = sign_in(&app, &ua, "leaver@example.com", "Changed2Pass").await;
    app.send(
        app.http
            .post(format!("{}/oauth/revoke", app.base))
            .basic_auth(&ua.client_id, Some(&ua.secret))
            .form(&[("token", access.as_str())]),
    )
    .await
    .assert_status(200);
    assert_dead(&app, &ua, &access, &refresh).await;
}

/// A code or a retired refresh token presented twice means someone else holds it: everything issued from it is
/// revoked (RFC 6749 §4.1.2; the OAuth 2.0 Security BCP's refresh-token reuse detection).
#[backend_test]
async fn a_replayed_code_or_refresh_token_ends_its_whole_sign_in() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let id = app.member("person@example.com").await;

    let (access, refresh, code) = sign_in(&app, &ua, "person@example.com", "").await;
    let replayed = exchange(&app, &ua, &code, VERIFIER, REDIRECT).await;
    replayed.assert_status(400);
    assert_eq!(
        replayed.body,
        json!({ "reason": "Invalid authorization code", "error": "invalid_grant" })
    );
    assert_dead(&app, &ua, &access, &refresh).await;
    assert!(app.sessions(&id).await[0].ended_at.is_some());

    let (_, first_refresh, _) = sign_in(&app, &ua, "person@example.com", "").await;
    let rotated = refresh_with(&app, &ua, &first_refresh).await;
    rotated.assert_status(200);
    let access = rotated.body["access_token"].as_str().unwrap().to_string();
    let refresh = rotated.body["refresh_token"].as_str().unwrap().to_string();
    get_me(&app, &access).await.assert_status(200);
    // The retired refresh token comes back: refused, and the rotated pair dies with the session.
    let reused = refresh_with(&app, &ua, &first_refresh).await;
    reused.assert_status(400);
    assert_eq!(
        reused.body,
        json!({ "reason": "Invalid Token!", "error": "invalid_grant" })
    );
    assert_dead(&app, &ua, &access, &refresh).await;
    assert!(app.sessions(&id).await.iter().all(|s| s.ended_at.is_some()));
}

/// The sign-in page tells no one which e-mails have users, cannot be framed or cached, and stops a guesser after
/// ten wrong passwords a minute for one user.
#[backend_test]
async fn the_sign_in_page_resists_guessing_and_framing() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    app.create_user("autoCreate", "person@example.com", 2).await;
    let (wrong_password, page_one) = authorize(&app, &ua, "person@example.com", "Wrong1Pass").await;
    let (nobody, page_two) = authorize(&app, &ua, "nobody@example.com", "Wrong1Pass").await;
    assert_eq!((wrong_password, nobody), (401, 401));
    assert_eq!(page_one, page_two, "the two refusals must read the same");
    assert!(page_one.contains("The e-mail or password is wrong."));

    let page = browser()
        .get(format!("{}/oauth/authorize", app.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", ua.client_id.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let header = |name: &str| page.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header("cache-control"), "no-store");

    // Nine more wrong passwords make ten: the right one is then refused too, until the minute has passed.
    for _ in 0..9 {
        assert_eq!(
            authorize(&app, &ua, "person@example.com", "Wrong1Pass")
                .await
                .0,
            401
        );
    }
    let (blocked, page) = authorize(&app, &ua, "person@example.com", "Initial1Pass").await;
    assert_eq!(blocked, 429, "{page}");
    assert!(page.contains("Too many failed sign-ins"), "{page}");
    // The same user spelt otherwise is the same user.
    assert_eq!(
        authorize(&app, &ua, " PERSON@example.com ", "Initial1Pass")
            .await
            .0,
        429
    );
    // Another user of the same app is not locked out by it.
    app.member("other@example.com").await;
    assert_eq!(authorize(&app, &ua, "other@example.com", "").await.0, 302);
    app.clock.advance_ms(61_000);
    assert_eq!(
        authorize(&app, &ua, "person@example.com", "Initial1Pass")
            .await
            .0,
        302
    );
}

/// One app's sign-ins fail at most 100 times a minute in all, whichever users they name, and that does not lock
/// out another app.
#[backend_test]
async fn an_apps_failed_sign_ins_are_capped() {
    let app = TestApp::spawn().await;
    let ua = user_app(&app).await;
    let other = user_app(&app).await;
    app.create_user("autoCreate", "person@example.com", 2).await;
    for n in 0..100 {
        let email = format!("guess{n}@example.com");
        assert_eq!(authorize(&app, &ua, &email, "Wrong1Pass").await.0, 401);
    }
    assert_eq!(
        authorize(&app, &ua, "person@example.com", "Initial1Pass")
            .await
            .0,
        429
    );
    assert_eq!(
        authorize(&app, &other, "person@example.com", "Initial1Pass")
            .await
            .0,
        302
    );
}
