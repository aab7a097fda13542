//! `POST /users/features`: a feature for up to 30 users at once, once every 10 seconds.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn update(app: &TestApp, body: Value) -> Reply {
    app.call(Method::POST, "/users/features", Some(body)).await
}

/// Lets the account's next feature update through.
fn wait(app: &TestApp) {
    app.clock.advance_ms(10_001);
}

#[backend_test]
async fn licence_types_change_in_bulk_and_the_failures_say_why() {
    let app = TestApp::spawn().await;
    let a = app.create_user("custCreate", "a@example.com", 1).await;
    let b = app.create_user("custCreate", "b@example.com", 1).await;
    let reply = update(
        &app,
        json!({
            "feature_type": "user_type",
            "feature_value": "2",
            "users": [{ "id": a }, { "email": "b@example.com" }, { "email": "ghost@example.com" }],
        }),
    )
    .await;
    reply.assert_status(201);
    assert_eq!(
        reply.body,
        json!({
            "success_user_ids": [a, b],
            "fail_details": [{ "user_ids": ["ghost@example.com"], "reason": "Users not found" }],
        })
    );
    for id in [&a, &b] {
        assert_eq!(app.get(&format!("/users/{id}")).await.body["type"], 2);
    }
    // Once every 10 seconds per account.
    let again =
        json!({ "feature_type": "user_type", "feature_value": "1", "users": [{ "id": a }] });
    update(&app, again.clone()).await.assert_error(
        429,
        429,
        "Features can be updated once every 10 seconds. Try again later.",
    );
    assert_eq!(app.get(&format!("/users/{a}")).await.body["type"], 2);

    // Back to Basic: refused for a user with Zoom Events, and past the account's Basic seats.
    app.edit_user("b@example.com", |u| u.upcoming_zoom_events = true)
        .await;
    let c = app.create_user("custCreate", "c@example.com", 2).await;
    app.edit_account(|account| account.max_basic_users = Some(1))
        .await;
    wait(&app);
    let reply = update(
        &app,
        json!({
            "feature_type": "user_type",
            "feature_value": "1",
            "users": [{ "id": a }, { "id": b }, { "id": c }],
        }),
    )
    .await;
    reply.assert_status(201);
    assert_eq!(
        reply.body,
        json!({
            "success_user_ids": [a],
            "fail_details": [
                { "user_ids": [b], "reason": "Have upcoming events" },
                { "user_ids": [c], "reason": "Not enough seats" },
            ],
        })
    );
    assert_eq!(app.get(&format!("/users/{a}")).await.body["type"], 1);
    assert_eq!(app.get(&format!("/users/{c}")).await.body["type"], 2);

    // The Zoom One plan is kept as PATCH keeps it.
    wait(&app);
    update(
        &app,
        json!({ "feature_type": "zoom_one_type", "feature_value": "16", "users": [{ "id": c }] }),
    )
    .await
    .assert_status(201);
    assert_eq!(
        app.get(&format!("/users/{c}")).await.body["zoom_one_type"],
        16
    );
}

#[backend_test]
async fn feature_updates_refuse_what_the_account_cannot_take() {
    let app = TestApp::spawn().await;
    let a = app.member("a@example.com").await;
    let user = json!([{ "id": a }]);
    update(
        &app,
        json!({ "feature_type": "user_type", "feature_value": "3", "users": user }),
    )
    .await
    .assert_error(400, 300, "Your account can't set user type as On-prem.");
    update(
        &app,
        json!({ "feature_type": "webinar", "feature_value": "500", "users": user }),
    )
    .await
    .assert_error(400, 200, "Current account does not enable this feature.");
    update(
        &app,
        json!({ "feature_type": "user_type", "feature_value": "2", "users": user, "subscription_id": "sub-9" }),
    )
    .await
    .assert_error(
        400,
        300,
        "The subscription \"sub-9\" you entered does not exist. Please choose a different subscription and try again.",
    );
    let too_many: Vec<Value> = (0..31)
        .map(|n| json!({ "email": format!("u{n}@example.com") }))
        .collect();
    for (body, field) in [
        (
            json!({ "feature_type": "paint", "feature_value": "1", "users": user }),
            "feature_type",
        ),
        (
            json!({ "feature_type": "user_type", "feature_value": "9", "users": user }),
            "feature_value",
        ),
        (
            json!({ "feature_type": "user_type", "users": user }),
            "feature_value",
        ),
        (
            json!({ "feature_type": "user_type", "feature_value": "2", "users": too_many }),
            "users",
        ),
        (
            json!({ "feature_type": "user_type", "feature_value": "2", "users": [{}] }),
            "users",
        ),
        (
            json!({ "feature_type": "user_type", "feature_value": "2" }),
            "users",
        ),
    ] {
        let reply = update(&app, body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
    // Refusals spend no turn of the 10 seconds: a valid update goes through at once.
    update(
        &app,
        json!({ "feature_type": "user_type", "feature_value": "2", "users": user }),
    )
    .await
    .assert_status(201);

    let free = TestApp::spawn_with_plan("free").await;
    let id = free.member("f@example.com").await;
    update(
        &free,
        json!({ "feature_type": "user_type", "feature_value": "2", "users": [{ "id": id }] }),
    )
    .await
    .assert_error(400, 200, "Current account must be a paid account.");
}
