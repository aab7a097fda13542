//! `localzoom-client` against a real localzoom server: every method, token handling, and 429s.

use localzoom_test_macros::backend_test;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use localzoom_client::types::{AssistantRef, CreateUserInfo, CreateUserRequest};
use localzoom_client::{
    Client, Credentials, DeleteAction, Error, ListUsers, MemoryTokenStore, RateLimitKind,
    RetryPolicy, StatusAction, TokenStore, UserTokens, UserUpdate,
};
use localzoom_server::domain::rate_limits::{Label, Limit};
use localzoom_server::service::accounts::{self, AppKind};
use serde_json::json;

use crate::helpers::*;

fn builder(app: &TestApp) -> localzoom_client::ClientBuilder {
    Client::builder()
        .api_url(format!("{}/v2", app.base))
        .oauth_url(&app.base)
        .server_to_server(ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET)
}

fn client(app: &TestApp) -> Client {
    builder(app).build().unwrap()
}

fn new_user(email: &str, action: &str) -> CreateUserRequest {
    CreateUserRequest {
        action: localzoom_client::types::CreateAction::parse(action).expect("an action"),
        user_info: CreateUserInfo {
            email: email.into(),
            // Licensed: assistants must be.
            user_type: 2,
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..CreateUserInfo::default()
        },
    }
}

#[track_caller]
fn zoom_error(result: Result<impl std::fmt::Debug, Error>) -> localzoom_client::ZoomError {
    match result {
        Err(Error::Api(e)) => *e,
        other => panic!("expected a Zoom error, got {other:?}"),
    }
}

#[backend_test]
async fn every_method_works_against_localzoom() {
    let app = TestApp::spawn().await;
    let zoom = client(&app);

    let created = zoom
        .create_user(&new_user("ada+test@example.com", "custCreate"))
        .await
        .unwrap();
    let assistant = zoom
        .create_user(&new_user("helper@example.com", "custCreate"))
        .await
        .unwrap();
    // An e-mail with `+` is one path segment, by id or by e-mail.
    let by_email = zoom.get_user("ada+test@example.com").await.unwrap();
    assert_eq!(by_email.id.as_deref(), Some(created.id.as_str()));
    assert_eq!(zoom.get_user("me").await.unwrap().email, OWNER_EMAIL);
    // The account's reads: summary, permissions, tokens.
    let summary = zoom.user_summary().await.unwrap();
    assert_eq!(
        (summary.licensed_users_count, summary.total_users_count),
        (3, 3)
    );
    assert!(
        zoom.user_permissions("me")
            .await
            .unwrap()
            .contains(&"User:Edit".to_string())
    );
    let zak = zoom
        .user_token(&created.id, localzoom_client::types::UserTokenType::Zak)
        .await
        .unwrap();
    assert!(zak.len() >= 32);
    let legacy = zoom_error(
        zoom.user_token(&created.id, localzoom_client::types::UserTokenType::Token)
            .await,
    );
    assert_eq!(
        (legacy.code, legacy.message.as_str()),
        (
            300,
            "Token is no longer supported. Please use ZAK token instead."
        )
    );
    // The bootstrap app holds no ZAK scope.
    assert_eq!(zoom_error(zoom.zak().await).code, 4711);
    // Presence: the owner is signed in to no client.
    assert_eq!(zoom.presence_status("me").await.unwrap().status, "Offline");
    let offline = zoom_error(
        zoom.update_presence_status("me", localzoom_client::types::PresenceStatus::Away, None)
            .await,
    );
    assert_eq!(offline.code, 5301);
    // `.`, `..` and empty ids would address other endpoints: refused before sending.
    for bad in ["", ".", ".."] {
        assert!(
            matches!(zoom.get_user(bad).await, Err(Error::Config(_))),
            "{bad:?}"
        );
    }
    let slash = zoom_error(zoom.get_user("a/b@example.com").await);
    assert_eq!((slash.http_status, slash.code), (404, 1001));
    assert!(slash.tracking_id.is_some());

    assert!(zoom.email_exists(OWNER_EMAIL).await.unwrap());
    assert!(!zoom.email_exists("nobody@example.com").await.unwrap());
    let page = zoom
        .list_users(&ListUsers {
            page_size: Some(1),
            ..ListUsers::default()
        })
        .await
        .unwrap();
    assert_eq!((page.users.len(), page.total_records), (1, 3));
    assert!(!page.next_page_token.is_empty());
    let all = zoom.list_all_users(None).await.unwrap();
    assert_eq!(all.len(), 3);

    let update = UserUpdate {
        job_title: Some("Analyst".into()),
        first_name: Some("Augusta".into()),
        ..UserUpdate::default()
    };
    zoom.update_user(&created.id, &update).await.unwrap();
    let updated = zoom.get_user(&created.id).await.unwrap();
    assert_eq!(updated.first_name, "Augusta");
    assert_eq!(updated.profile["job_title"], "Analyst");

    zoom.add_assistants(
        &created.id,
        &[AssistantRef {
            email: Some("helper@example.com".into()),
            ..AssistantRef::default()
        }],
    )
    .await
    .unwrap();
    let assistants = zoom.list_assistants(&created.id).await.unwrap();
    assert_eq!(assistants.len(), 1);
    assert_eq!(assistants[0].id, assistant.id);
    let schedulers = zoom.list_schedulers(&assistant.id).await.unwrap();
    assert_eq!(schedulers[0].id, created.id);
    zoom.delete_assistant(&created.id, &assistant.id)
        .await
        .unwrap();
    assert!(zoom.list_assistants(&created.id).await.unwrap().is_empty());
    zoom.add_assistants(
        &created.id,
        &[AssistantRef {
            id: Some(assistant.id.clone()),
            ..AssistantRef::default()
        }],
    )
    .await
    .unwrap();
    zoom.delete_assistants(&created.id).await.unwrap();
    assert!(zoom.list_assistants(&created.id).await.unwrap().is_empty());
    zoom.add_assistants(
        &created.id,
        &[AssistantRef {
            id: Some(assistant.id.clone()),
            ..AssistantRef::default()
        }],
    )
    .await
    .unwrap();
    zoom.delete_scheduler(&assistant.id, &created.id)
        .await
        .unwrap();
    zoom.delete_schedulers(&assistant.id).await.unwrap();
    assert!(
        zoom.list_schedulers(&assistant.id)
            .await
            .unwrap()
            .is_empty()
    );

    zoom.revoke_sso_token(&created.id).await.unwrap();
    zoom.update_status(&created.id, StatusAction::Deactivate)
        .await
        .unwrap();
    assert_eq!(zoom.get_user(&created.id).await.unwrap().status, "inactive");
    zoom.update_status(&created.id, StatusAction::Activate)
        .await
        .unwrap();
    assert_eq!(zoom.get_user(&created.id).await.unwrap().status, "active");

    // Passwords: only work-email users have one; Zoom's rules come back as typed errors.
    app.edit_user("ada+test@example.com", |u| {
        u.login_type = localzoom_server::domain::user::LoginType::WorkEmail
    })
    .await;
    zoom.update_password(&created.id, "Correct7Horse")
        .await
        .unwrap();
    let weak = zoom_error(zoom.update_password(&created.id, "short").await);
    assert_eq!((weak.http_status, weak.code), (400, 1124));

    let settings = zoom.security_settings("me").await.unwrap();
    assert!(settings["security"]["password_requirement"].is_object());
    zoom.update_security_settings(
        "me",
        &json!({ "security": { "password_requirement": { "minimum_password_length": 12 } } }),
    )
    .await
    .unwrap();
    let settings = zoom.security_settings("me").await.unwrap();
    assert_eq!(
        settings["security"]["password_requirement"]["minimum_password_length"],
        12
    );

    let bad = zoom_error(zoom.create_user(&new_user("not-an-email", "create")).await);
    assert_eq!((bad.http_status, bad.code), (400, 300));
    assert_eq!(bad.errors[0].field, "user_info.email");

    zoom.delete_user(&assistant.id, DeleteAction::Delete)
        .await
        .unwrap();
    let gone = zoom_error(zoom.get_user(&assistant.id).await);
    assert_eq!(gone.code, 1001);
    assert_eq!(zoom.tokens_fetched(), 1);
}

#[backend_test]
async fn one_token_is_shared_by_concurrent_calls_and_replaced_before_it_expires() {
    let app = TestApp::spawn().await;
    let zoom = client(&app);
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let zoom = zoom.clone();
            tokio::spawn(async move { zoom.get_user("me").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(zoom.tokens_fetched(), 1);

    // A token the server calls expired is replaced once, and the call succeeds.
    app.clock.advance_ms(3_601_000);
    zoom.get_user("me").await.unwrap();
    assert_eq!(zoom.tokens_fetched(), 2);

    // Refreshed ahead of expiry: with a margin as long as the lifetime, every call needs a new token.
    let eager = builder(&app)
        .refresh_before(Duration::from_secs(3_600))
        .build()
        .unwrap();
    for n in 1..=3 {
        eager.get_user("me").await.unwrap();
        assert_eq!(eager.tokens_fetched(), n);
    }

    // Wrong credentials are an OAuth error, not a panic or a Zoom error.
    let wrong = Client::builder()
        .api_url(format!("{}/v2", app.base))
        .oauth_url(&app.base)
        .server_to_server(ACCOUNT_ID, CLIENT_ID, "wrong")
        .build()
        .unwrap();
    match wrong.get_user("me").await {
        Err(Error::OAuth { error, .. }) => assert_eq!(error, "invalid_client"),
        other => panic!("{other:?}"),
    }
}

#[backend_test]
async fn user_tokens_are_refreshed_and_the_rotated_pair_is_stored() {
    let app = TestApp::spawn().await;
    let now = app.clock_now();
    let owner = app.user_record(OWNER_EMAIL).await.id;
    let (record, secret, tokens) = app
        .db()
        .write(move |tx| async move {
            let s = &tx;
            let result: localzoom_server::error::ApiResult<_> = {
                let (app, secret) = accounts::create_app(
                    s,
                    ACCOUNT_ID,
                    AppKind::User,
                    None,
                    Some("http://localhost/cb".into()),
                    now,
                )
                .await?;
                let tokens = accounts::issue_tokens(s, &app, &owner, None, true, now).await?;
                Ok((app, secret, tokens))
            };
            result
        })
        .await
        .unwrap();
    // Stored as already expired: the first call must refresh.
    let store = Arc::new(MemoryTokenStore::new(UserTokens {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone().unwrap(),
        expires_at: SystemTime::UNIX_EPOCH,
    }));
    let zoom = Client::builder()
        .api_url(format!("{}/v2", app.base))
        .oauth_url(&app.base)
        .credentials(Credentials::User {
            client_id: record.client_id.clone(),
            client_secret: secret,
            store: store.clone(),
        })
        .build()
        .unwrap();
    assert_eq!(zoom.get_user("me").await.unwrap().email, OWNER_EMAIL);
    let stored = store.load().unwrap();
    assert_ne!(stored.access_token, tokens.access_token);
    assert_ne!(Some(stored.refresh_token.clone()), tokens.refresh_token);
    assert_eq!(zoom.tokens_fetched(), 1);
    // The refreshed access token is used until it nears its expiry.
    zoom.get_user("me").await.unwrap();
    assert_eq!(zoom.tokens_fetched(), 1);
}

/// A rate-limited server whose account may make `light` Light calls a second (no daily quota).
async fn limited(light: u32) -> TestApp {
    let app = TestApp::spawn_rate_limited("pro").await;
    app.edit_account(move |a| {
        a.rate_limit_overrides
            .set(Limit::Rate(Label::Light), Some(Some(light)))
    })
    .await;
    app
}

#[backend_test]
async fn per_second_429s_are_retried_with_back_off_or_returned_when_retries_are_off() {
    let app = limited(2).await;
    let strict = builder(&app).retry(RetryPolicy::none()).build().unwrap();
    strict.get_user("me").await.unwrap();
    strict.get_user("me").await.unwrap();
    let refused = zoom_error(strict.get_user("me").await);
    assert_eq!((refused.http_status, refused.code), (429, 429));
    let limit = refused.rate_limit.unwrap();
    assert_eq!(limit.kind, RateLimitKind::Qps);
    assert_eq!(limit.category.as_deref(), Some("Light"));
    assert_eq!(limit.limit, Some(2));
    assert_eq!(strict.rate_limit_retries(), 0);

    // The server's clock moves on a second every 100 ms of real time while the retrying client backs off.
    let clock = app.clock.clone();
    let ticking = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            clock.advance_ms(1_000);
        }
    });
    let patient = builder(&app)
        .retry(RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        })
        .build()
        .unwrap();
    for _ in 0..6 {
        patient.get_user("me").await.unwrap();
    }
    ticking.abort();
    assert!(patient.rate_limit_retries() > 0);
}

#[backend_test]
async fn a_spent_daily_quota_fails_fast_with_its_reset_time() {
    let app = TestApp::spawn_rate_limited("free").await;
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Daily(Label::Light), Some(Some(1)))
    })
    .await;
    let zoom = client(&app);
    zoom.get_user("me").await.unwrap();
    let started = std::time::Instant::now();
    let error = zoom.get_user("me").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(zoom.rate_limit_retries(), 0);
    assert_eq!(
        error.daily_limit_reset(),
        // 2026-01-02T00:00:00Z
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_312_000))
    );
    assert_eq!(error.rate_limit().unwrap().kind, RateLimitKind::Daily);
}

#[backend_test]
async fn a_server_that_does_not_answer_is_a_timeout() {
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let zoom = Client::builder()
        .api_url(format!("{base}/v2"))
        .oauth_url(&base)
        .credentials(Credentials::Bearer("token".into()))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(matches!(zoom.get_user("me").await, Err(Error::Timeout)));
}

/// A fault rule makes a client's retry logic visible: the journal shows the faulted 429, then the retry that
/// went through.
#[backend_test]
async fn the_journal_shows_the_clients_retry_after_a_faulted_429() {
    let app = TestApp::spawn().await;
    let id = app.member("retried@example.com").await;
    app.control(
        reqwest::Method::POST,
        "/faults",
        Some(json!({ "operation": "userStatus", "times": 1, "status": 429 })),
    )
    .await
    .assert_status(201);
    let zoom = client(&app);
    zoom.update_status(&id, StatusAction::Deactivate)
        .await
        .unwrap();
    assert_eq!(zoom.rate_limit_retries(), 1);
    let journal = app
        .control(reqwest::Method::GET, "/requests?operation=userStatus", None)
        .await;
    let calls: Vec<_> = journal.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].clone(), r["fault"].clone(), r["user"].clone()))
        .collect();
    assert_eq!(
        calls,
        vec![
            (json!(429), json!("fault-1"), json!(id)),
            (json!(204), serde_json::Value::Null, json!(id)),
        ]
    );
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "inactive"
    );
}
