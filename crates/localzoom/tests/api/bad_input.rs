use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[backend_test]
async fn malformed_bodies_get_zoom_errors() {
    let app = TestApp::spawn().await;
    let id = app.member("b@example.com").await;
    let path = format!("/users/{id}/status");
    for raw in ["{", "[1,2]", "\"deactivate\"", "null", "{\"action\": }"] {
        let reply = app
            .send(
                app.request(Method::PUT, &path)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
        reply.assert_error(400, 300, "Request Body should be a valid JSON object.");
    }
    let reply = app
        .send(
            app.request(Method::PUT, &path)
                .header("content-type", "application/xml")
                .body("<action/>"),
        )
        .await;
    reply.assert_status(415);
    assert_eq!(reply.body["code"], 300);
    let huge = json!({ "action": "deactivate", "padding": "x".repeat(100_000) });
    let reply = app.call(Method::PUT, &path, Some(huge)).await;
    reply.assert_error(413, 300, "Request body is too large.");
    // None of that changed the user.
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "active"
    );
    // A JSON body without a content type is still read.
    app.send(
        app.request(Method::PUT, &path)
            .body(r#"{"action":"deactivate"}"#),
    )
    .await
    .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "inactive"
    );
}

#[backend_test]
async fn unknown_routes_and_wrong_methods() {
    let app = TestApp::spawn().await;
    for path in ["/v2/nothing", "/v2/users/x/y/z", "/v1/users", "/"] {
        let reply = app
            .send(
                app.http
                    .get(format!("{}{path}", app.base))
                    .bearer_auth(&app.token),
            )
            .await;
        reply.assert_error(404, 2300, "This API endpoint is not recognized.");
    }
    let reply = app.call(Method::POST, "/users/me/token", None).await;
    reply.assert_error(405, 2300, "This API endpoint is not recognized.");
}

#[backend_test]
async fn every_response_carries_a_tracking_id_and_health_answers() {
    let app = TestApp::spawn().await;
    let health = app
        .send(app.http.get(format!("{}/healthz", app.base)))
        .await;
    health.assert_status(200);
    assert_eq!(health.body, json!({ "status": "ok" }));
    let mut seen = std::collections::HashSet::new();
    for reply in [
        health,
        app.get("/users/me").await,
        app.get("/nope").await,
        app.get("/users/ghost").await,
    ] {
        let id = reply.headers["x-zm-trackingid"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 22);
        assert!(seen.insert(id));
    }
}
