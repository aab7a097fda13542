//! Zoom's webhooks: subscriptions per app, URL validation, every `user.*` event an operation causes (shaped as
//! Zoom's webhooks spec shapes it), signed deliveries to a real endpoint that verifies them, retries on Zoom's
//! schedule driven by the clock control, order per subscription, the delivery log and redelivery.

use std::time::Duration;

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::{Receiver, Validation};

const SECRET_TOKEN: &str = "whsec-test-token-1";

/// Every `user.*` event of Zoom's spec.
const ALL_EVENTS: [&str; 12] = [
    "user.created",
    "user.updated",
    "user.activated",
    "user.deactivated",
    "user.deleted",
    "user.disassociated",
    "user.invitation_accepted",
    "user.settings_updated",
    "user.signed_in",
    "user.signed_out",
    "user.presence_status_updated",
    "user.personal_notes_updated",
];

/// The body schema Zoom's webhooks spec gives `event`.
fn spec_schema(event: &str) -> Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../../localzoom-server/spec/zoom-users-webhooks.json"
        ))
        .unwrap()
    });
    spec["webhooks"][event]["post"]["requestBody"]["content"]["application/json"]["schema"].clone()
}

/// Subscribes `receiver` to `events` of the test app; the control API's answer.
async fn subscribe(app: &TestApp, receiver: &Receiver, events: &[&str]) -> Reply {
    app.control(
        Method::POST,
        &format!("/apps/{CLIENT_ID}/webhooks"),
        Some(json!({ "url": receiver.url, "secret_token": SECRET_TOKEN, "events": events })),
    )
    .await
}

/// A validated subscription's id.
async fn subscribed(app: &TestApp, receiver: &Receiver, events: &[&str]) -> String {
    let reply = subscribe(app, receiver, events).await;
    reply.assert_status(201);
    assert_eq!(reply.body["validation"], "validated", "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

async fn log(app: &TestApp, subscription: &str) -> Vec<Value> {
    let reply = app
        .control(
            Method::GET,
            &format!("/webhooks/{subscription}/deliveries"),
            None,
        )
        .await;
    reply.assert_status(200);
    reply.body["deliveries"].as_array().unwrap().clone()
}

/// The newest entry of the log once `settled` holds for it (the sender records an attempt just after the endpoint
/// answered it).
async fn newest_when(app: &TestApp, subscription: &str, settled: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entry = log(app, subscription).await[0].clone();
        if settled(&entry) {
            return entry;
        }
        assert!(std::time::Instant::now() < deadline, "{entry}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn advance(app: &TestApp, seconds: i64) {
    app.control(
        Method::POST,
        "/clock",
        Some(json!({ "advance_seconds": seconds })),
    )
    .await
    .assert_status(200);
}

fn emails(events: &[crate::receiver::Received]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.body["payload"]["object"]["email"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[backend_test]
async fn every_user_event_reaches_a_validated_endpoint_signed_and_shaped_as_zooms_spec() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let reply = subscribe(&app, &receiver, &ALL_EVENTS).await;
    reply.assert_status(201);
    assert_eq!(reply.body["validation"], "validated", "{:?}", reply.body);
    assert_eq!(reply.body["validated_at"], "2026-01-01T00:00:00Z");
    assert_eq!(reply.body["client_id"], CLIENT_ID);
    assert_eq!(reply.body["account_id"], ACCOUNT_ID);
    assert!(reply.body.get("secret_token").is_none(), "{:?}", reply.body);
    assert_eq!(receiver.validations(), 1);
    let subscription = reply.body["id"].as_str().unwrap().to_string();
    let owner = app.user_record(OWNER_EMAIL).await;

    let id = app.create_user("custCreate", "eve@elsewhere.test", 2).await;
    app.edit_user("eve@elsewhere.test", |u| {
        u.login_type = localzoom_server::domain::user::LoginType::WorkEmail
    })
    .await;
    let patch = json!({ "first_name": "Evelyn", "dept": "Ops" });
    app.call(Method::PATCH, &format!("/users/{id}"), Some(patch.clone()))
        .await
        .assert_status(204);
    // The same values again change nothing, and tell nothing.
    app.call(Method::PATCH, &format!("/users/{id}"), Some(patch))
        .await
        .assert_status(204);
    let chat = app.get(&format!("/users/{id}/settings")).await.body["in_meeting"]["chat"]
        .as_bool()
        .unwrap();
    app.call(
        Method::PATCH,
        &format!("/users/{id}/settings"),
        Some(
            json!({ "schedule_meeting": { "host_video": true }, "in_meeting": { "chat": !chat } }),
        ),
    )
    .await
    .assert_status(204);
    let sign_in = |client: &'static str| {
        let path = format!("/users/{id}/sessions");
        let app = &app;
        async move {
            let reply = app
                .control(
                    Method::POST,
                    &path,
                    Some(json!({ "login_type": 101, "client_type": client, "version": "6.2.0" })),
                )
                .await;
            reply.assert_status(201);
            reply.body["id"].as_str().unwrap().to_string()
        }
    };
    let mac = sign_in("mac").await;
    sign_in("iphone").await;
    app.control(
        Method::DELETE,
        &format!("/users/{id}/sessions/{mac}?client_type=mac&version=6.2.0"),
        None,
    )
    .await
    .assert_status(204);
    app.call(
        Method::PUT,
        &format!("/users/{id}/presence_status"),
        Some(json!({ "status": "Away" })),
    )
    .await
    .assert_status(204);
    app.call(
        Method::PUT,
        &format!("/users/{id}/password"),
        Some(json!({ "password": "Webhook1Pass" })),
    )
    .await
    .assert_status(204);
    app.call(Method::DELETE, &format!("/users/{id}/token"), None)
        .await
        .assert_status(204);
    app.set_status(&id, "deactivate").await.assert_status(204);
    app.set_status(&id, "activate").await.assert_status(204);
    let gone = app.create_user("create", "gone@example.com", 1).await;
    app.call(
        Method::DELETE,
        &format!("/users/{gone}?action=delete"),
        None,
    )
    .await
    .assert_status(204);
    app.call(
        Method::DELETE,
        &format!("/users/{id}?action=disassociate"),
        None,
    )
    .await
    .assert_status(204);

    let expected = [
        "user.created",
        "user.updated",
        "user.settings_updated",
        "user.signed_in",
        "user.signed_in",
        "user.signed_out",
        "user.presence_status_updated",
        "user.updated",
        "user.updated",
        "user.deactivated",
        "user.activated",
        "user.created",
        "user.deleted",
        "user.disassociated",
    ];
    let events = receiver.wait_for(expected.len()).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.body["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, expected);
    assert_eq!(receiver.forged(), 0);
    for event in &events {
        let name = event.body["event"].as_str().unwrap();
        if let Err(e) = localzoom_server::domain::schema::check(&spec_schema(name), &event.body, "")
        {
            panic!(
                "{name} does not conform to Zoom's spec ({e:?}): {}",
                event.raw
            );
        }
        assert_eq!(event.timestamp, START_MS / 1000);
        assert_eq!(event.body["event_ts"], START_MS);
        assert_eq!(event.body["payload"]["account_id"], ACCOUNT_ID);
        // Compact, as JSON.stringify writes what it parsed (the receivers of Zoom's samples sign that).
        assert_eq!(event.raw, event.body.to_string());
        if event.body["payload"].get("operator").is_some() {
            assert_eq!(event.body["payload"]["operator"], OWNER_EMAIL);
            assert_eq!(event.body["payload"]["operator_id"], owner.id.as_str());
        }
    }
    let payload = |n: usize| events[n].body["payload"].clone();
    assert_eq!(payload(0)["creation_type"], "custCreate");
    assert_eq!(
        payload(0)["object"],
        json!({ "id": id, "first_name": "Test", "last_name": "User", "display_name": "Test User",
                "email": "eve@elsewhere.test", "type": 2 })
    );
    // Only what changed, and what it was.
    assert_eq!(
        payload(1)["object"],
        json!({ "id": id, "first_name": "Evelyn", "dept": "Ops" })
    );
    assert_eq!(
        payload(1)["old_object"],
        json!({ "id": id, "first_name": "Test", "dept": "" })
    );
    assert!(payload(1).get("operation").is_none());
    assert_eq!(
        payload(2)["object"],
        json!({ "id": id, "settings": { "schedule_meeting": { "host_video": true },
                                         "in_meeting": { "chat": !chat } } })
    );
    assert_eq!(
        payload(2)["old_object"],
        json!({ "id": id, "settings": { "schedule_meeting": { "host_video": false },
                                         "in_meeting": { "chat": chat } } })
    );
    assert_eq!(
        payload(3)["object"],
        json!({ "id": id, "client_type": "mac", "date_time": "2026-01-01T00:00:00Z",
                "email": "eve@elsewhere.test", "version": "6.2.0", "login_type": 101 })
    );
    assert_eq!(payload(5)["object"]["client_type"], "mac");
    assert_eq!(payload(6)["object"]["presence_status"], "Away");
    assert_eq!(payload(7)["operation"], "change_password");
    assert_eq!(payload(7)["object"], json!({ "id": id }));
    assert_eq!(payload(8)["operation"], "sign_out_from_all_devices");
    assert_eq!(payload(9)["object"]["email"], "eve@elsewhere.test");
    assert_eq!(payload(12)["object"]["id"], gone.as_str());
    assert_eq!(payload(13)["object"]["id"], id.as_str());

    // The log shows each delivery: delivered at the first attempt, with the endpoint's answer and latency.
    newest_when(&app, &subscription, |e| e["state"] == "delivered").await;
    let entries = log(&app, &subscription).await;
    assert_eq!(entries.len(), expected.len());
    assert_eq!(entries[0]["event"], "user.disassociated", "newest first");
    for entry in &entries {
        assert_eq!(entry["state"], "delivered", "{entry}");
        assert_eq!(entry["attempts"], 1);
        assert_eq!(entry["last_status"], 200);
        assert!(entry["latency_ms"].as_i64().unwrap() >= 0);
        assert_eq!(entry["next_attempt_at"], Value::Null);
    }
    let view = app
        .control(Method::GET, &format!("/webhooks/{subscription}"), None)
        .await;
    assert_eq!(
        view.body["deliveries"],
        json!({ "pending": 0, "delivered": expected.len(), "dropped": 0 })
    );
}

#[backend_test]
async fn a_subscription_gets_only_the_events_it_asked_for_of_its_own_account() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    subscribed(&app, &receiver, &["user.deactivated"]).await;
    let (_, other_client, other_secret) = app.second_account().await;
    let other = app
        .grant("AccountB", &other_client, &other_secret)
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let b_user = app
        .call_with(
            &other,
            Method::POST,
            "/v2/users",
            Some(json!({ "action": "create", "user_info": { "email": "b1@b.test", "type": 1 } })),
        )
        .await;
    b_user.assert_status(201);
    let b_id = b_user.body["id"].as_str().unwrap();
    app.call_with(
        &other,
        Method::PUT,
        &format!("/v2/users/{b_id}/status"),
        Some(json!({ "action": "deactivate" })),
    )
    .await
    .assert_status(204);
    let id = app.create_user("create", "only@example.com", 1).await;
    app.set_status(&id, "deactivate").await.assert_status(204);
    let events = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events_later = receiver.events();
    assert_eq!(events_later.len(), 1, "{events_later:?}");
    assert_eq!(events[0].body["event"], "user.deactivated");
    assert_eq!(emails(&events), ["only@example.com"]);
}

#[backend_test]
async fn a_failed_delivery_is_retried_after_5_20_and_60_minutes_then_dropped_and_counted() {
    let mut app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created"]).await;
    receiver.answer_events_with(500);
    app.create_user("create", "retry@example.com", 1).await;
    receiver.wait_for(1).await;
    let entry = newest_when(&app, &subscription, |e| e["attempts"] == 1).await;
    assert_eq!(entry["state"], "pending");
    assert_eq!(entry["last_status"], 500);
    assert_eq!(
        entry["last_error"],
        "the endpoint answered 500; Zoom needs 200 or 204"
    );
    assert_eq!(entry["next_attempt_at"], "2026-01-01T00:05:00Z");

    // Each retry goes out when it falls due on the clock, not before: its timestamp says when it was sent.
    let start = START_MS / 1000;
    let mut sent_at = vec![start];
    for (n, minutes) in [(2, 5), (3, 20), (4, 60)] {
        advance(&app, minutes * 60 - 1).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        advance(&app, 1).await;
        let events = receiver.wait_for(n).await;
        sent_at.push(sent_at.last().unwrap() + minutes * 60);
        let stamps: Vec<i64> = events.iter().map(|e| e.timestamp).collect();
        assert_eq!(stamps, sent_at);
    }
    // Four attempts failed: dropped, and counted.
    let entry = newest_when(&app, &subscription, |e| e["state"] != "pending").await;
    assert_eq!(entry["state"], "dropped");
    assert_eq!(entry["attempts"], 4);
    assert_eq!(entry["next_attempt_at"], Value::Null);
    assert_eq!(entry["finished_at"], "2026-01-01T01:25:00Z");
    let view = app
        .control(Method::GET, &format!("/webhooks/{subscription}"), None)
        .await;
    assert_eq!(
        view.body["deliveries"],
        json!({ "pending": 0, "delivered": 0, "dropped": 1 })
    );
    advance(&app, 86_400).await;
    app.token = app.fresh_token().await;
    // The next event is not held behind the dropped one.
    receiver.answer_events_with(204);
    app.create_user("create", "after@example.com", 1).await;
    let events = receiver.wait_for(5).await;
    assert_eq!(emails(&events[4..]), ["after@example.com"]);
    newest_when(&app, &subscription, |e| e["state"] == "delivered").await;
}

#[backend_test]
async fn events_are_delivered_in_order_behind_a_failing_one() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    subscribed(&app, &receiver, &["user.created"]).await;
    receiver.answer_events_with(503);
    for n in 1..=3 {
        app.create_user("create", &format!("order{n}@example.com"), 1)
            .await;
    }
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Only the first was tried: the later ones wait behind it.
    assert_eq!(emails(&receiver.events()), ["order1@example.com"]);
    receiver.answer_events_with(200);
    advance(&app, 300).await;
    let events = receiver.wait_for(4).await;
    assert_eq!(
        emails(&events),
        [
            "order1@example.com",
            "order1@example.com",
            "order2@example.com",
            "order3@example.com"
        ]
    );
}

#[tokio::test]
async fn an_answer_slower_than_3_seconds_is_a_failed_attempt() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created"]).await;
    receiver.delay_events(Duration::from_millis(3500));
    app.create_user("create", "slow@example.com", 1).await;
    receiver.wait_for(1).await;
    let entry = newest_when(&app, &subscription, |e| e["attempts"] == 1).await;
    assert_eq!(entry["state"], "pending");
    assert_eq!(entry["last_error"], "no answer within 3 seconds");
    assert_eq!(entry["last_status"], Value::Null);
    assert!(entry["latency_ms"].as_i64().unwrap() >= 3000, "{entry}");
}

#[backend_test]
async fn an_endpoint_that_fails_url_validation_gets_nothing_until_it_passes() {
    let app = TestApp::spawn().await;
    let good = Receiver::start(SECRET_TOKEN);
    let bad = Receiver::start(SECRET_TOKEN);
    bad.answer_validation(Validation::WrongToken);
    subscribed(&app, &good, &["user.created"]).await;
    let reply = subscribe(&app, &bad, &["user.created"]).await;
    reply.assert_status(201);
    assert_eq!(reply.body["validation"], "failed");
    assert_eq!(reply.body["validated_at"], Value::Null);
    assert_eq!(
        reply.body["validation_detail"],
        "the endpoint's answer did not carry the plainToken and its encryptedToken (the hex HMAC-SHA256 of \
         plainToken keyed by the secret token)"
    );
    let failed = reply.body["id"].as_str().unwrap().to_string();
    // An answer past 16 KiB is not read.
    bad.answer_validation(Validation::Oversized);
    let oversized = app
        .control(Method::POST, &format!("/webhooks/{failed}/validate"), None)
        .await;
    assert_eq!(oversized.body["validation"], "failed");
    assert_eq!(
        oversized.body["validation_detail"],
        "the endpoint's answer to the URL validation is longer than 16 KiB"
    );

    app.create_user("create", "first@example.com", 1).await;
    good.wait_for(1).await;
    assert!(bad.events().is_empty());
    assert!(log(&app, &failed).await.is_empty());

    // Validated again (the control API's validate, as the Marketplace's button), it gets what comes next.
    bad.answer_validation(Validation::Answer);
    let again = app
        .control(Method::POST, &format!("/webhooks/{failed}/validate"), None)
        .await;
    again.assert_status(200);
    assert_eq!(again.body["validation"], "validated");
    assert_eq!(again.body["validation_detail"], Value::Null);
    app.create_user("create", "second@example.com", 1).await;
    assert_eq!(emails(&bad.wait_for(1).await), ["second@example.com"]);
    assert_eq!(emails(&good.wait_for(2).await)[1], "second@example.com");
}

#[backend_test]
async fn endpoints_are_validated_again_every_72_hours() {
    let mut app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created"]).await;
    assert_eq!(receiver.validations(), 1);
    advance(&app, 72 * 3600 - 1).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(receiver.validations(), 1);
    advance(&app, 1).await;
    receiver.wait_for_validations(2).await;
    let view = async || {
        app.control(Method::GET, &format!("/webhooks/{subscription}"), None)
            .await
            .body
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while view().await["validated_at"] != "2026-01-04T00:00:00Z" {
        assert!(std::time::Instant::now() < deadline, "{:?}", view().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An endpoint that stops answering properly fails its next validation and gets nothing more.
    receiver.answer_validation(Validation::WrongToken);
    advance(&app, 72 * 3600).await;
    receiver.wait_for_validations(3).await;
    while view().await["validation"] != "failed" {
        assert!(std::time::Instant::now() < deadline, "{:?}", view().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.token = app.fresh_token().await;
    app.create_user("create", "unheard@example.com", 1).await;
    assert!(log(&app, &subscription).await.is_empty());
}

#[backend_test]
async fn a_recorded_event_can_be_delivered_again() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created"]).await;
    app.create_user("create", "again@example.com", 1).await;
    let first = receiver.wait_for(1).await[0].clone();
    let delivery = log(&app, &subscription).await[0]["id"].as_i64().unwrap();
    advance(&app, 60).await;
    let reply = app
        .control(
            Method::POST,
            &format!("/webhook_deliveries/{delivery}/redeliver"),
            None,
        )
        .await;
    reply.assert_status(201);
    assert_eq!(reply.body["event"], "user.created");
    assert_eq!(reply.body["attempts"], 0);
    assert_ne!(reply.body["id"], delivery);
    let events = receiver.wait_for(2).await;
    // The same event, signed anew when it is sent.
    assert_eq!(events[1].raw, first.raw);
    assert_eq!(events[1].timestamp, first.timestamp + 60);
    let entries = log(&app, &subscription).await;
    assert_eq!(entries.len(), 2);
    app.control(Method::POST, "/webhook_deliveries/999999/redeliver", None)
        .await
        .assert_error(404, 404, "The webhook delivery 999999 does not exist.");
    app.control(Method::POST, "/webhook_deliveries/abc/redeliver", None)
        .await
        .assert_status(400);
}

#[backend_test]
async fn a_refused_or_rolled_back_change_records_no_event() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created", "user.updated"]).await;
    app.create_user("create", "taken@example.com", 1).await;
    // The same e-mail again is refused: nothing happened, so nothing is told.
    app.call(
        Method::POST,
        "/users",
        Some(
            json!({ "action": "create", "user_info": { "email": "taken@example.com", "type": 1 } }),
        ),
    )
    .await
    .assert_error(
        409,
        1005,
        "Email \"taken@example.com\" has already been used.",
    );
    // A write that records its event and then fails takes the event back with it.
    let principal_user = app.user_record("taken@example.com").await;
    let rolled_back = app
        .db()
        .write(move |tx| async move {
            let store = &tx;
            let result: localzoom_server::error::ApiResult<()> = {
                use localzoom_server::domain::webhook;
                use localzoom_server::service::webhooks::Listeners;
                let listeners = Listeners::of(store, ACCOUNT_ID).await?;
                let operator = webhook::Operator {
                    email: OWNER_EMAIL.into(),
                    id: "owner".into(),
                };
                listeners
                    .record(
                        store,
                        &webhook::created(&principal_user, &operator, "create"),
                        START_MS,
                    )
                    .await?;
                Err(localzoom_server::domain::error::DomainError::Invalid("stop".into()).into())
            };
            result
        })
        .await;
    assert!(rolled_back.is_err());
    app.set_status(&app.user_record("taken@example.com").await.id, "deactivate")
        .await
        .assert_status(204);
    app.create_user("create", "later@example.com", 1).await;
    let events = receiver.wait_for(2).await;
    assert_eq!(emails(&events), ["taken@example.com", "later@example.com"]);
    assert_eq!(log(&app, &subscription).await.len(), 2);
}

#[backend_test]
async fn subscriptions_are_checked_listed_and_removed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let refused = async |body: Value| {
        app.control(
            Method::POST,
            &format!("/apps/{CLIENT_ID}/webhooks"),
            Some(body),
        )
        .await
    };
    let unknown =
        refused(json!({ "url": receiver.url, "secret_token": "s", "events": ["meeting.started"] }))
            .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["code"], 300);
    assert!(
        unknown.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Unknown event \"meeting.started\": localzoom sends the user events of Zoom's webhooks spec (user.created, "),
        "{:?}",
        unknown.body
    );
    refused(json!({ "url": "ftp://x", "secret_token": "s", "events": ["user.created"] }))
        .await
        .assert_error(
            400,
            300,
            "The event notification endpoint URL must be an http:// or https:// URL of at most 2048 bytes: \"ftp://x\"",
        );
    refused(json!({ "url": receiver.url, "secret_token": "", "events": ["user.created"] }))
        .await
        .assert_error(400, 300, "The secret token must be 1 to 256 bytes.");
    refused(json!({ "url": receiver.url, "secret_token": "s", "events": [] }))
        .await
        .assert_error(400, 300, "A subscription needs at least one event.");
    let extra = refused(
        json!({ "url": receiver.url, "secret_token": "s", "events": ["user.created"], "x": 1 }),
    )
    .await;
    assert_eq!(
        (extra.status.as_u16(), &extra.body["code"]),
        (400, &json!(300))
    );
    app.control(
        Method::POST,
        "/apps/nope/webhooks",
        Some(json!({ "url": receiver.url, "secret_token": "s", "events": ["user.created"] })),
    )
    .await
    .assert_error(404, 404, "The app nope does not exist.");
    app.control(Method::GET, "/apps/nope/webhooks", None)
        .await
        .assert_error(404, 404, "The app nope does not exist.");

    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(subscribed(&app, &receiver, &["user.created", "user.created"]).await);
    }
    refused(json!({ "url": receiver.url, "secret_token": "s", "events": ["user.created"] }))
        .await
        .assert_error(400, 300, "An app can have at most 20 event subscriptions.");
    let listed = app
        .control(Method::GET, &format!("/apps/{CLIENT_ID}/webhooks"), None)
        .await;
    listed.assert_status(200);
    let listed = listed.body["webhooks"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 20);
    assert_eq!(
        listed[0]["events"],
        json!(["user.created"]),
        "repeats are kept once"
    );
    assert_eq!(
        app.control(Method::GET, "/webhooks", None).await.body["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        20
    );

    // Removed, it is gone, with its log, and gets nothing more.
    app.create_user("create", "before@example.com", 1).await;
    receiver.wait_for(20).await;
    let gone = ids.pop().unwrap();
    app.control(Method::DELETE, &format!("/webhooks/{gone}"), None)
        .await
        .assert_status(204);
    let message = format!("The event subscription {gone} does not exist.");
    app.control(Method::GET, &format!("/webhooks/{gone}"), None)
        .await
        .assert_error(404, 404, &message);
    app.control(Method::GET, &format!("/webhooks/{gone}/deliveries"), None)
        .await
        .assert_error(404, 404, &message);
    app.control(Method::DELETE, &format!("/webhooks/{gone}"), None)
        .await
        .assert_error(404, 404, &message);
    app.create_user("create", "after@example.com", 1).await;
    let events = receiver.wait_for(39).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.events().len(), 39, "{events:?}");
    // The admin key guards it all.
    app.call_with("wrong", Method::GET, "/_localzoom/v1/webhooks", None)
        .await
        .assert_status(401);
    app.control(
        Method::GET,
        &format!("/webhooks/{}/deliveries?limit=0", ids[0]),
        None,
    )
    .await
    .assert_status(400);
    let one = app
        .control(
            Method::GET,
            &format!("/webhooks/{}/deliveries?limit=1", ids[0]),
            None,
        )
        .await;
    assert_eq!(one.body["deliveries"].as_array().unwrap().len(), 1);
}

#[backend_test]
async fn fixtures_add_subscriptions_to_an_existing_app_and_reset_clears_them() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let fixture = json!({ "accounts": [{ "id": ACCOUNT_ID, "apps": [{ "client_id": CLIENT_ID,
        "webhooks": [{ "url": receiver.url, "secret_token": SECRET_TOKEN,
                       "events": ["user.created", "user.deactivated"] }] }] }] });
    for _ in 0..2 {
        app.control(Method::POST, "/fixtures", Some(fixture.clone()))
            .await
            .assert_status(204);
    }
    let listed = app
        .control(Method::GET, &format!("/apps/{CLIENT_ID}/webhooks"), None)
        .await
        .body["webhooks"]
        .clone();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "loaded twice, kept once"
    );
    assert_eq!(
        listed[0]["events"],
        json!(["user.created", "user.deactivated"])
    );
    // The app is unchanged: its secret still grants.
    app.fresh_token().await;
    // Its endpoint is validated before it is used.
    receiver.wait_for_validations(1).await;
    let id = app.create_user("create", "fixed@example.com", 1).await;
    app.set_status(&id, "deactivate").await.assert_status(204);
    let events = receiver.wait_for(2).await;
    assert_eq!(events[1].body["event"], "user.deactivated");

    let bad = json!({ "accounts": [{ "id": ACCOUNT_ID, "apps": [{ "client_id": CLIENT_ID,
        "webhooks": [{ "url": receiver.url, "secret_token": SECRET_TOKEN, "events": ["user.nope"] }] }] }] });
    let reply = app.control(Method::POST, "/fixtures", Some(bad)).await;
    reply.assert_status(400);
    assert_eq!(reply.error_fields(), ["accounts[0].apps[0].webhooks[0]"]);
    let new_app =
        json!({ "accounts": [{ "id": ACCOUNT_ID, "apps": [{ "client_id": "brand-new" }] }] });
    let reply = app.control(Method::POST, "/fixtures", Some(new_app)).await;
    reply.assert_status(400);
    assert_eq!(reply.error_fields(), ["accounts[0].apps[0].client_secret"]);

    app.control(Method::POST, "/reset", None)
        .await
        .assert_status(204);
    let after = app.control(Method::GET, "/webhooks", None).await;
    assert_eq!(after.body["webhooks"], json!([]));
}

#[backend_test]
async fn a_new_or_deleted_picture_is_a_user_updated_with_its_pic_url() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    subscribed(&app, &receiver, &["user.updated"]).await;
    let id = app.member("face@example.com").await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image-but-a-png-header".to_vec();
    let form = reqwest::multipart::Form::new().part(
        "pic_file",
        reqwest::multipart::Part::bytes(png).file_name("me.png"),
    );
    let path = format!("/users/{id}/picture");
    app.send(app.request(Method::POST, &path).multipart(form))
        .await
        .assert_status(201);
    let pic_url = app.get(&format!("/users/{id}")).await.body["pic_url"].clone();
    assert!(
        pic_url.as_str().unwrap().starts_with(&app.base),
        "{pic_url}"
    );
    app.call(Method::DELETE, &path, None)
        .await
        .assert_status(204);
    // Deleting no picture changes nothing, and tells nothing.
    app.call(Method::DELETE, &path, None)
        .await
        .assert_status(204);
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "company": "Acme" })),
    )
    .await
    .assert_status(204);
    let events = receiver.wait_for(3).await;
    let objects: Vec<_> = events
        .iter()
        .map(|e| {
            localzoom_server::domain::schema::check(&spec_schema("user.updated"), &e.body, "")
                .unwrap();
            (
                e.body["payload"]["object"].clone(),
                e.body["payload"]["old_object"].clone(),
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            (
                json!({ "id": id, "pic_url": pic_url }),
                json!({ "id": id, "pic_url": "" })
            ),
            (
                json!({ "id": id, "pic_url": "" }),
                json!({ "id": id, "pic_url": pic_url })
            ),
            (json!({ "id": id, "company": "Acme" }), json!({ "id": id })),
        ]
    );
}

#[backend_test]
async fn presence_events_name_statuses_as_zooms_webhook_spec_does() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    subscribed(&app, &receiver, &["user.presence_status_updated"]).await;
    let id = app.member("present@example.com").await;
    app.add_session(&id, 100).await;
    let set = ["In_A_Zoom_Meeting", "On_A_Call", "Out_of_Office", "Busy"];
    for status in set {
        app.call(
            Method::PUT,
            &format!("/users/{id}/presence_status"),
            Some(json!({ "status": status })),
        )
        .await
        .assert_status(204);
        // Zoom lets a status be set once a minute.
        advance(&app, 60).await;
    }
    let events = receiver.wait_for(set.len()).await;
    let told: Vec<_> = events
        .iter()
        .map(|e| {
            localzoom_server::domain::schema::check(
                &spec_schema("user.presence_status_updated"),
                &e.body,
                "",
            )
            .unwrap();
            e.body["payload"]["object"]["presence_status"].clone()
        })
        .collect();
    assert_eq!(told, ["In_Meeting", "On_Phone_Call", "Away", "Busy"]);
}

#[backend_test]
async fn a_slow_endpoint_holds_up_only_its_own_subscription() {
    let app = TestApp::spawn().await;
    let slow = Receiver::start(SECRET_TOKEN);
    let quick = Receiver::start(SECRET_TOKEN);
    subscribed(&app, &slow, &["user.created"]).await;
    subscribed(&app, &quick, &["user.created"]).await;
    slow.delay_events(Duration::from_millis(2500));
    app.create_user("create", "one@example.com", 1).await;
    slow.wait_for(1).await;
    app.create_user("create", "two@example.com", 1).await;
    // The quick endpoint gets both while the slow one still holds the first.
    let events = quick.wait_for(2).await;
    assert_eq!(emails(&events), ["one@example.com", "two@example.com"]);
    assert_eq!(emails(&slow.events()), ["one@example.com"]);
    assert_eq!(emails(&slow.wait_for(2).await)[1], "two@example.com");
}

#[backend_test]
async fn finished_deliveries_leave_the_log_after_7_days_and_pending_ones_stay() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.created"]).await;
    app.create_user("create", "old@example.com", 1).await;
    receiver.wait_for(1).await;
    newest_when(&app, &subscription, |e| e["state"] == "delivered").await;
    receiver.answer_events_with(500);
    app.create_user("create", "failing@example.com", 1).await;
    receiver.wait_for(2).await;
    newest_when(&app, &subscription, |e| e["attempts"] == 1).await;
    advance(&app, 7 * 86_400 + 60).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let entries = log(&app, &subscription).await;
        let events: Vec<_> = entries
            .iter()
            .map(|e| e["body"]["payload"]["object"]["email"].clone())
            .collect();
        if events == [json!("failing@example.com")] {
            assert_eq!(entries[0]["state"], "pending");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{entries:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let view = app
        .control(Method::GET, &format!("/webhooks/{subscription}"), None)
        .await;
    assert_eq!(view.body["deliveries"]["delivered"], 0);
    assert_eq!(view.body["deliveries"]["pending"], 1);
}

#[backend_test]
async fn a_sign_in_or_out_naming_an_unknown_client_or_session_is_refused_and_tells_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(SECRET_TOKEN);
    let subscription = subscribed(&app, &receiver, &["user.signed_in", "user.signed_out"]).await;
    let id = app.member("client@example.com").await;
    let sessions = format!("/users/{id}/sessions");
    for (body, field) in [
        (
            json!({ "login_type": 101, "client_type": "toaster" }),
            "client_type",
        ),
        (
            json!({ "login_type": 101, "version": "6.2 beta" }),
            "version",
        ),
        (json!({ "login_type": 101, "version": "" }), "version"),
    ] {
        let reply = app.control(Method::POST, &sessions, Some(body)).await;
        reply.assert_status(400);
        assert_eq!(reply.error_fields(), [field], "{:?}", reply.body);
    }
    let reply = app
        .control(Method::DELETE, &format!("{sessions}/nope"), None)
        .await;
    reply.assert_error(400, 300, "client@example.com has no open session nope.");
    // Who and which session are looked up before the client is checked: an unknown user is a 404 whatever else.
    let reply = app
        .control(
            Method::DELETE,
            "/users/nobody@example.com/sessions/nope?client_type=toaster",
            None,
        )
        .await;
    reply.assert_status(404);
    let open = app
        .control(Method::POST, &sessions, Some(json!({ "login_type": 101 })))
        .await;
    open.assert_status(201);
    let session = open.body["id"].as_str().unwrap();
    app.control(
        Method::DELETE,
        &format!("{sessions}/{session}?client_type=toaster"),
        None,
    )
    .await
    .assert_status(400);
    // Refused, the session is still open; signed out properly, it ends.
    assert_eq!(app.sessions(&id).await[0].ended_at, None);
    app.control(Method::DELETE, &format!("{sessions}/{session}"), None)
        .await
        .assert_status(204);
    assert!(app.sessions(&id).await[0].ended_at.is_some());
    let events = receiver.wait_for(2).await;
    let names: Vec<_> = events.iter().map(|e| e.body["event"].clone()).collect();
    assert_eq!(names, ["user.signed_in", "user.signed_out"]);
    assert_eq!(
        events[0].body["payload"]["object"]["client_type"],
        "browser"
    );
    assert_eq!(events[0].body["payload"]["object"]["version"], "6.0.0");
    newest_when(&app, &subscription, |e| e["state"] == "delivered").await;
    assert_eq!(log(&app, &subscription).await.len(), 2);
}
