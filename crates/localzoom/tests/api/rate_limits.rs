//! Zoom's rate limits (USERS_API.md §4) with a manual clock: exact counts admitted per plan and label, Zoom's 429
//! bodies and headers, recovery, the daily reset at 00:00 UTC, per-account quotas, overrides and the off switch.

use localzoom_test_macros::backend_test;

use localzoom_server::domain::rate_limits::{Label, Limit};
use localzoom_server::service::accounts::{self, AppKind};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const QPS_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";
const DAILY_MESSAGE: &str = "You have reached the maximum daily rate limit for this API. Refer to the response \
                             header for details on when you can make another request.";
/// START_MS's next midnight.
const NEXT_MIDNIGHT: &str = "2026-01-02T00:00:00Z";

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).map(|v| v.to_str().unwrap())
}

#[track_caller]
fn assert_qps(reply: &Reply, category: &str, limit: u32) {
    reply.assert_error(429, 429, QPS_MESSAGE);
    assert_eq!(header(reply, "x-ratelimit-category"), Some(category));
    assert_eq!(header(reply, "x-ratelimit-type"), Some("QPS"));
    assert_eq!(
        header(reply, "x-ratelimit-limit"),
        Some(limit.to_string().as_str())
    );
    assert_eq!(header(reply, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(reply, "retry-after"), None);
}

#[track_caller]
fn assert_daily(reply: &Reply, category: &str, limit: u32) {
    reply.assert_error(429, 429, DAILY_MESSAGE);
    assert_eq!(header(reply, "x-ratelimit-category"), Some(category));
    assert_eq!(header(reply, "x-ratelimit-type"), Some("Daily-limit"));
    assert_eq!(
        header(reply, "x-ratelimit-limit"),
        Some(limit.to_string().as_str())
    );
    assert_eq!(header(reply, "x-ratelimit-remaining"), Some("0"));
    assert_eq!(header(reply, "retry-after"), Some(NEXT_MIDNIGHT));
}

#[track_caller]
fn assert_allowance(reply: &Reply, limit: u32, remaining: u32) {
    assert_eq!(
        (
            header(reply, "x-ratelimit-limit"),
            header(reply, "x-ratelimit-remaining")
        ),
        (
            Some(limit.to_string().as_str()),
            Some(remaining.to_string().as_str())
        ),
        "{:?}",
        reply.body
    );
}

/// Repeats a call without moving the clock until it is refused; returns how many succeeded and the refusal.
async fn burst(app: &TestApp, token: &str, method: Method, path: &str) -> (u32, Reply) {
    let mut admitted = 0;
    loop {
        let reply = app.call_with(token, method.clone(), path, None).await;
        if reply.status != 200 {
            return (admitted, reply);
        }
        admitted += 1;
        assert!(admitted <= 1_000, "{method} {path} is not limited");
    }
}

async fn owner_path(app: &TestApp) -> String {
    format!("/v2/users/{}", app.user_record(OWNER_EMAIL).await.id)
}

#[backend_test]
async fn a_burst_admits_exactly_the_plan_rate_of_each_label_then_one_call_per_interval() {
    // (plan, Light rate, Medium rate); Heavy and Resource-intensive have no implemented operation (their quotas
    // are covered by the limiter's unit tests).
    for (plan, light, medium) in [
        ("free", 4, 2),
        ("pro", 30, 20),
        ("business", 80, 60),
        ("enterprise", 80, 60),
    ] {
        let app = TestApp::spawn_rate_limited(plan).await;
        let owner = owner_path(&app).await;
        let assistants = format!("{owner}/assistants");
        for (label, rate, path) in [("Light", light, &owner), ("Medium", medium, &assistants)] {
            let (admitted, refused) = burst(&app, &app.token, Method::GET, path).await;
            assert_eq!(admitted, rate, "{plan} {label}");
            assert_qps(&refused, label, rate);
            // One emission interval later exactly one call fits again; a second later, a whole burst.
            app.clock.advance_ms(i64::from(1_000_u32.div_ceil(rate)));
            assert_eq!(burst(&app, &app.token, Method::GET, path).await.0, 1);
            app.clock.advance_ms(1_000);
            assert_eq!(burst(&app, &app.token, Method::GET, path).await.0, rate);
        }
    }
}

#[backend_test]
async fn successful_calls_report_the_quota_they_spend() {
    // Pro: Light has no daily quota, so the per-second one is reported.
    let pro = TestApp::spawn_rate_limited("pro").await;
    let path = owner_path(&pro).await;
    let first = pro.call_with(&pro.token, Method::GET, &path, None).await;
    first.assert_status(200);
    assert_allowance(&first, 30, 29);
    assert_eq!(header(&first, "x-ratelimit-type"), None);
    let second = pro.call_with(&pro.token, Method::GET, &path, None).await;
    assert_allowance(&second, 30, 28);
    // Free: the daily quota is what a caller paces a day by.
    let free = TestApp::spawn_rate_limited("free").await;
    let path = owner_path(&free).await;
    let first = free.call_with(&free.token, Method::GET, &path, None).await;
    assert_allowance(&first, 6_000, 5_999);
}

#[backend_test]
async fn medium_has_its_own_quota_and_writes_spend_the_light_one() {
    let app = TestApp::spawn_rate_limited("pro").await;
    let member = app.member("member@example.com").await;
    let (admitted, refused) = burst(&app, &app.token, Method::GET, "/v2/users").await;
    assert_eq!(admitted, 20);
    assert_qps(&refused, "Medium", 20);

    // Light is untouched by Medium calls: 29 reads and one write spend it.
    app.clock.advance_ms(1_000);
    let path = owner_path(&app).await;
    for _ in 0..29 {
        app.call_with(&app.token, Method::GET, &path, None)
            .await
            .assert_status(200);
    }
    app.set_status(&member, "deactivate")
        .await
        .assert_status(204);
    let refused = app.set_status(&member, "activate").await;
    assert_qps(&refused, "Light", 30);
    // The refused write changed nothing.
    app.clock.advance_ms(1_000);
    let user = app.get(&format!("/users/{member}")).await;
    assert_eq!(user.body["status"], "inactive");
}

#[backend_test]
async fn a_free_accounts_daily_quota_ends_its_day_until_midnight_utc() {
    let app = TestApp::spawn_rate_limited("free").await;
    let path = owner_path(&app).await;
    // 6,000 Light calls a day at Free's 4 a second: a quarter second apart.
    for i in 0..6_000 {
        let reply = app.call_with(&app.token, Method::GET, &path, None).await;
        reply.assert_status(200);
        if i == 0 || i == 5_999 {
            assert_allowance(&reply, 6_000, 5_999 - i);
        }
        app.clock.advance_ms(250);
    }
    let refused = app.call_with(&app.token, Method::GET, &path, None).await;
    assert_daily(&refused, "Light", 6_000);
    // Medium has a quota of its own.
    app.get("/users").await.assert_status(200);
    // Still refused a millisecond before midnight UTC; allowed at midnight, with a fresh day's quota.
    let to_midnight = START_MS + 86_400_000 - app.clock_now();
    app.clock.advance_ms(to_midnight - 1);
    let token = app.fresh_token().await;
    assert_daily(
        &app.call_with(&token, Method::GET, &path, None).await,
        "Light",
        6_000,
    );
    app.clock.advance_ms(1);
    let next_day = app.call_with(&token, Method::GET, &path, None).await;
    next_day.assert_status(200);
    assert_allowance(&next_day, 6_000, 5_999);
}

#[backend_test]
async fn create_users_is_capped_per_day_and_a_refused_create_creates_nothing() {
    let app = TestApp::spawn_rate_limited("free").await;
    let create = |email: String, action: &'static str| {
        let app = &app;
        async move {
            let body = json!({ "action": action, "user_info": { "email": email, "type": 1 } });
            app.call(Method::POST, "/users", Some(body)).await
        }
    };
    for i in 0..50 {
        let reply = create(format!("new{i}@example.com"), "create").await;
        reply.assert_status(201);
        assert_allowance(&reply, 50, 49 - i);
        app.clock.advance_ms(250);
    }
    let refused = create("one-too-many@example.com".into(), "create").await;
    assert_daily(&refused, "Light", 50);
    let check = app.get("/users/email?email=one-too-many@example.com").await;
    assert_eq!(check.body, json!({ "existed_email": false }));
    // Only `action=create` counts.
    app.clock.advance_ms(250);
    create("direct@example.com".into(), "custCreate")
        .await
        .assert_status(201);
    // The next day the quota is whole again.
    app.clock
        .advance_ms(START_MS + 86_400_000 - app.clock_now());
    let token = app.fresh_token().await;
    let body = json!({ "action": "create", "user_info": { "email": "one-too-many@example.com", "type": 1 } });
    app.call_with(&token, Method::POST, "/v2/users", Some(body))
        .await
        .assert_status(201);
}

#[backend_test]
async fn the_quota_is_the_accounts_shared_by_all_its_apps_and_users_and_no_other_accounts() {
    let app = TestApp::spawn_rate_limited("pro").await;
    let member = app.member("member@example.com").await;
    let member_token = app.token_with_scopes(&member, &["user:read"]).await;
    let admin_token = app
        .token_with_scopes(&app.user_record(OWNER_EMAIL).await.id, &["user:read:admin"])
        .await;
    let path = owner_path(&app).await;
    app.clock.advance_ms(1_000);
    for _ in 0..10 {
        for token in [&app.token, &admin_token] {
            app.call_with(token, Method::GET, &path, None)
                .await
                .assert_status(200);
        }
        app.call_with(&member_token, Method::GET, "/v2/users/me", None)
            .await
            .assert_status(200);
    }
    assert_qps(
        &app.call_with(&member_token, Method::GET, "/v2/users/me", None)
            .await,
        "Light",
        30,
    );
    assert_qps(
        &app.call_with(&app.token, Method::GET, &path, None).await,
        "Light",
        30,
    );

    // Another account, at the same instant, has its whole plan's quota.
    let now = app.clock_now();
    let (b_app, b_secret) = app
        .db()
        .write(move |tx| async move {
            let s = &tx;

            accounts::create_account(
                s,
                "AccountB",
                localzoom_server::domain::account::AccountPlan::Business,
                "owner@b.test",
                now,
            )
            .await?;
            accounts::create_app(s, "AccountB", AppKind::S2s, None, None, now).await
        })
        .await
        .unwrap();
    let b_token = app
        .send(
            app.http
                .post(format!(
                    "{}/oauth/token?grant_type=account_credentials&account_id=AccountB",
                    app.base
                ))
                .basic_auth(&b_app.client_id, Some(&b_secret)),
        )
        .await;
    let b_token = b_token.body["access_token"].as_str().unwrap().to_string();
    let (admitted, refused) = burst(&app, &b_token, Method::GET, "/v2/users/me").await;
    assert_eq!(admitted, 80);
    assert_qps(&refused, "Light", 80);
}

#[backend_test]
async fn the_plan_and_overrides_apply_to_the_next_call() {
    let app = TestApp::spawn_rate_limited("pro").await;
    let path = owner_path(&app).await;
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Rate(Label::Light), Some(Some(2)))
    })
    .await;
    let (admitted, refused) = burst(&app, &app.token, Method::GET, &path).await;
    assert_eq!(admitted, 2);
    assert_qps(&refused, "Light", 2);

    app.clock.advance_ms(1_000);
    app.edit_account(|a| {
        a.rate_limit_overrides.set(Limit::Rate(Label::Light), None);
        a.plan = localzoom_server::domain::account::AccountPlan::Free;
    })
    .await;
    assert_eq!(burst(&app, &app.token, Method::GET, &path).await.0, 4);

    // No limit at all for Light's rate; Free's daily quota still counts (4 + 500 calls so far).
    app.clock.advance_ms(1_000);
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Rate(Label::Light), Some(None))
    })
    .await;
    for _ in 0..500 {
        let reply = app.call_with(&app.token, Method::GET, &path, None).await;
        reply.assert_status(200);
    }
    let last = app.call_with(&app.token, Method::GET, &path, None).await;
    assert_allowance(&last, 6_000, 6_000 - 505);
}

#[backend_test]
async fn an_override_can_give_a_plan_a_daily_quota_it_does_not_have() {
    let app = TestApp::spawn_rate_limited("pro").await;
    let path = owner_path(&app).await;
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Daily(Label::Light), Some(Some(3)))
    })
    .await;
    for remaining in [2, 1, 0] {
        let reply = app.call_with(&app.token, Method::GET, &path, None).await;
        assert_allowance(&reply, 3, remaining);
    }
    assert_daily(
        &app.call_with(&app.token, Method::GET, &path, None).await,
        "Light",
        3,
    );
}

#[backend_test]
async fn a_call_over_the_limit_is_refused_before_anything_else_is_decided() {
    let app = TestApp::spawn_rate_limited("free").await;
    let path = owner_path(&app).await;
    assert_eq!(burst(&app, &app.token, Method::GET, &path).await.0, 4);
    // A missing user, a missing scope and a write all get the 429 while the quota is spent.
    assert_qps(&app.get("/users/nobody@example.com").await, "Light", 4);
    let reader = app
        .token_with_scopes(&app.user_record(OWNER_EMAIL).await.id, &["user:read:admin"])
        .await;
    let write = app
        .call_with(
            &reader,
            Method::PATCH,
            &path,
            Some(json!({ "first_name": "Limited" })),
        )
        .await;
    assert_qps(&write, "Light", 4);
    // An invalid token is not the account's call: it is refused as invalid, and counts nowhere.
    let stranger = app.call_with("not-a-token", Method::GET, &path, None).await;
    stranger.assert_error(401, 124, "Invalid access token.");
    app.clock.advance_ms(1_000);
    let user = app.call_with(&app.token, Method::GET, &path, None).await;
    assert_eq!(user.body["first_name"], Value::from("owner"));
}

#[backend_test]
async fn with_limits_off_nothing_is_refused_or_reported() {
    let app = TestApp::spawn().await;
    let path = owner_path(&app).await;
    for _ in 0..200 {
        let reply = app.call_with(&app.token, Method::GET, &path, None).await;
        reply.assert_status(200);
        assert_eq!(header(&reply, "x-ratelimit-limit"), None);
    }
}
