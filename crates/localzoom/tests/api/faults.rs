//! Fault rules of the control API: chosen calls fail, slow down or lose their connection, nothing behind a
//! faulted call changes, and the journal marks each one.

use std::time::{Duration, Instant};

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn add_fault(app: &TestApp, rule: Value) -> String {
    let created = app.control(Method::POST, "/faults", Some(rule)).await;
    created.assert_status(201);
    created.body["id"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, user: &str) -> String {
    let reply = app.get(&format!("/users/{user}")).await;
    reply.assert_status(200);
    reply.body["status"].as_str().unwrap().to_string()
}

#[backend_test]
async fn a_fault_answers_instead_of_localzoom_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let id = app.member("ann@example.com").await;
    let rule = add_fault(
        &app,
        json!({ "operation": "userStatus", "times": 1, "status": 500,
                "code": 500, "message": "Zoom is having a bad day." }),
    )
    .await;
    assert_eq!(rule, "fault-1");
    app.set_status(&id, "deactivate")
        .await
        .assert_error(500, 500, "Zoom is having a bad day.");
    // The handler never ran: the user is as they were.
    assert_eq!(status_of(&app, &id).await, "active");
    // The rule fired once; the next call is localzoom's.
    app.set_status(&id, "deactivate").await.assert_status(204);
    assert_eq!(status_of(&app, &id).await, "inactive");

    let listed = app.control(Method::GET, "/faults", None).await;
    listed.assert_status(200);
    let fault = &listed.body["faults"][0];
    assert_eq!(fault["id"], "fault-1");
    assert_eq!(fault["operation"], "userStatus");
    assert_eq!(fault["times"], 1);
    assert_eq!(fault["remaining"], 0);
    assert_eq!(fault["fired"], 1);
    assert!(fault["seed"].is_u64());

    let journal = app
        .control(Method::GET, "/requests?operation=userStatus", None)
        .await;
    let marks: Vec<_> = journal.body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].clone(), r["fault"].clone()))
        .collect();
    assert_eq!(
        marks,
        vec![(json!(500), json!("fault-1")), (json!(204), Value::Null)]
    );
    assert_eq!(journal.body["requests"][0]["code"], 500);
}

/// A 429 rule answers as Zoom's limiter does: its message and headers, with the caller's limit.
#[backend_test]
async fn a_429_fault_carries_zooms_rate_limit_headers() {
    let app = TestApp::spawn().await;
    add_fault(&app, json!({ "operation": "user", "status": 429 })).await;
    let limited = app.get("/users/me").await;
    limited.assert_error(
        429,
        429,
        "You have reached the maximum per-second rate limit for this API. Try again later.",
    );
    for (name, value) in [
        ("x-ratelimit-category", "Light"),
        ("x-ratelimit-type", "QPS"),
        ("x-ratelimit-limit", "30"),
        ("x-ratelimit-remaining", "0"),
    ] {
        assert_eq!(limited.headers[name], value, "{name}");
    }
    // Other operations go on.
    app.get("/users").await.assert_status(200);
    app.control(Method::DELETE, "/faults", None)
        .await
        .assert_status(204);
    app.get("/users/me").await.assert_status(200);
    assert_eq!(
        app.control(Method::GET, "/faults", None).await.body,
        json!({ "faults": [] })
    );
}

/// The same seed fires on the same calls: a run that failed can be replayed.
#[backend_test]
async fn a_seeded_probability_replays_the_same_faults() {
    let app = TestApp::spawn().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let rule = add_fault(
            &app,
            json!({ "path": "/v2/users/*", "probability": 0.5, "seed": 1234, "status": 503 }),
        )
        .await;
        let mut pattern = Vec::new();
        for _ in 0..24 {
            pattern.push(app.get("/users/me").await.status.as_u16());
        }
        app.control(Method::DELETE, &format!("/faults/{rule}"), None)
            .await
            .assert_status(204);
        runs.push(pattern);
    }
    assert_eq!(runs[0], runs[1]);
    let failed = runs[0].iter().filter(|s| **s == 503).count();
    assert!((4..=20).contains(&failed), "{failed} of 24 failed");
    assert!(runs[0].iter().all(|s| [200, 503].contains(s)));
    app.control(Method::DELETE, "/faults/fault-1", None)
        .await
        .assert_error(404, 404, "The fault rule fault-1 does not exist.");
}

#[backend_test]
async fn a_fault_adds_latency_and_the_call_goes_on() {
    let app = TestApp::spawn().await;
    add_fault(
        &app,
        json!({ "operation": "user", "latency_ms": { "min": 150, "max": 200 } }),
    )
    .await;
    let started = Instant::now();
    app.get("/users/me").await.assert_status(200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let journal = app
        .control(Method::GET, "/requests?operation=user", None)
        .await;
    assert!(journal.body["requests"][0]["latency_ms"].as_f64().unwrap() >= 150.0);
    assert_eq!(journal.body["requests"][0]["fault"], "fault-1");
}

/// A reset connection reaches the client as a transport error, with no answer and no change.
#[backend_test]
async fn a_fault_resets_the_connection() {
    let app = TestApp::spawn().await;
    let id = app.member("ann@example.com").await;
    add_fault(
        &app,
        json!({ "operation": "userUpdate", "times": 1, "reset_connection": true }),
    )
    .await;
    let error = app
        .request(Method::PATCH, &format!("/users/{id}"))
        .json(&json!({ "first_name": "Changed" }))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    let user = app.get(&format!("/users/{id}")).await;
    assert_ne!(user.body["first_name"], "Changed");
    let journal = app
        .control(Method::GET, "/requests?operation=userUpdate", None)
        .await;
    assert_eq!(journal.body["requests"][0]["status"], 0);
    assert_eq!(journal.body["requests"][0]["fault"], "fault-1");
    // The server serves on.
    app.request(Method::PATCH, &format!("/users/{id}"))
        .json(&json!({ "first_name": "Changed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["first_name"],
        "Changed"
    );
}

/// Rules match on the caller's account and app too; other callers are not touched.
#[backend_test]
async fn a_fault_matches_by_account_and_app() {
    let app = TestApp::spawn().await;
    let id = app.member("ann@example.com").await;
    let other_app = app.token_with_scopes(&id, &["user:read:admin"]).await;
    add_fault(
        &app,
        json!({ "account_id": ACCOUNT_ID, "client_id": CLIENT_ID, "status": 503 }),
    )
    .await;
    app.get("/users/me")
        .await
        .assert_error(503, 503, "Service Unavailable");
    app.call_with(&other_app, Method::GET, "/v2/users/me", None)
        .await
        .assert_status(200);
    add_fault(
        &app,
        json!({ "account_id": "SomeOtherAccount", "status": 500 }),
    )
    .await;
    app.control(Method::DELETE, "/faults/fault-1", None)
        .await
        .assert_status(204);
    app.get("/users/me").await.assert_status(200);
}

#[backend_test]
async fn fault_rules_are_checked_whole() {
    let app = TestApp::spawn().await;
    app.control(Method::POST, "/faults", Some(json!({ "operation": "userStatus" })))
        .await
        .assert_error(
            400,
            300,
            "Give a fault at least one effect: \"status\" (with \"code\" and \"message\"), \"latency_ms\" or \
             \"reset_connection\".",
        );
    for (rule, field) in [
        (json!({ "status": 200 }), "status"),
        (json!({ "status": "teapot" }), "status"),
        (
            json!({ "operation": "noSuchOperation", "status": 500 }),
            "operation",
        ),
        (json!({ "path": "users", "status": 500 }), "path"),
        (json!({ "probability": 1.5, "status": 500 }), "probability"),
        (json!({ "times": 0, "status": 500 }), "times"),
        (json!({ "latency_ms": -1 }), "latency_ms"),
        (json!({ "latency_ms": 600000 }), "latency_ms"),
        (
            json!({ "latency_ms": { "min": 9, "max": 3 } }),
            "latency_ms",
        ),
        (json!({ "code": 124, "message": "x" }), "status"),
        (
            json!({ "status": 500, "reset_connection": true }),
            "reset_connection",
        ),
        (json!({ "seed": "abc", "status": 500 }), "seed"),
        (json!({ "status": 500, "code": -1 }), "code"),
    ] {
        let reply = app
            .control(Method::POST, "/faults", Some(rule.clone()))
            .await;
        reply.assert_status(400);
        assert_eq!(reply.error_fields(), vec![field], "{rule}");
    }
    assert_eq!(
        app.control(Method::GET, "/faults", None).await.body,
        json!({ "faults": [] })
    );
}
