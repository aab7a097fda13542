//! Collaboration devices and meeting (summary) templates: loaded through the control API (Zoom has no API that
//! creates them), read through Zoom's operations in Zoom's shapes.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn load(app: &TestApp, user: &str, collection: &str, body: Value) -> Reply {
    app.call_with(
        ADMIN_KEY,
        Method::POST,
        &format!("/_localzoom/v1/users/{user}/{collection}"),
        Some(body),
    )
    .await
}

#[backend_test]
async fn collaboration_devices_are_read_as_loaded() {
    let app = TestApp::spawn().await;
    let id = app.member("roomy@example.com").await;
    let empty = app.get(&format!("/users/{id}/collaboration_devices")).await;
    empty.assert_status(200);
    assert_eq!(
        empty.body,
        json!({ "total_records": 0, "collaboration_devices": [] })
    );
    let device = json!({ "id": "F1C6E9DF-429E-4FA1", "device_name": "Desk", "room_name": "My Room",
                         "room_user_id": "HgCQF82ZS5GiQ4x", "status": "Online" });
    let loaded = load(
        &app,
        "roomy@example.com",
        "collaboration_devices",
        device.clone(),
    )
    .await;
    loaded.assert_status(201);
    assert_eq!(loaded.body, device);
    let generated = load(
        &app,
        &id,
        "collaboration_devices",
        json!({ "device_name": "Laptop", "status": "Offline" }),
    )
    .await;
    generated.assert_status(201);
    let second = generated.body["id"].as_str().unwrap().to_string();
    let list = app
        .get(&format!("/users/{id}/collaboration_devices"))
        .await
        .body;
    assert_eq!(list["total_records"], 2);
    assert_eq!(list["collaboration_devices"][0], device);
    assert_eq!(list["collaboration_devices"][1]["id"], second.as_str());
    let one = app
        .get(&format!(
            "/users/{id}/collaboration_devices/F1C6E9DF-429E-4FA1"
        ))
        .await;
    one.assert_status(200);
    assert_eq!(one.body, device);
    app.get(&format!("/users/{id}/collaboration_devices/nope"))
        .await
        .assert_error(404, 1238, "Collaboration Device does not exist: nope.");
    // Another user has none.
    let other = app.member("other@example.com").await;
    app.get(&format!(
        "/users/{other}/collaboration_devices/F1C6E9DF-429E-4FA1"
    ))
    .await
    .assert_error(
        404,
        1238,
        "Collaboration Device does not exist: F1C6E9DF-429E-4FA1.",
    );
    app.get("/users/nobody@example.com/collaboration_devices")
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn templates_are_read_as_loaded_and_loads_take_zoom_shapes_only() {
    let app = TestApp::spawn().await;
    let id = app.member("templates@example.com").await;
    assert_eq!(
        app.get(&format!("/users/{id}/meeting_summary_templates"))
            .await
            .body,
        json!([])
    );
    let summary = json!({ "meeting_summary_template_id": "1e1356ad", "name": "General", "description": "Recap" });
    load(&app, &id, "meeting_summary_templates", summary.clone())
        .await
        .assert_status(201);
    assert_eq!(
        app.get(&format!("/users/{id}/meeting_summary_templates"))
            .await
            .body,
        json!([summary])
    );
    let template = json!({ "id": "Q4COb7QVRVmO", "name": "Standup",
                           "settings": { "in_meeting": { "entry_exit_chime": "none" },
                                         "meeting_security": { "waiting_room": true } } });
    load(&app, &id, "meeting_templates", template.clone())
        .await
        .assert_status(201);
    let read = app
        .get(&format!("/users/{id}/meeting_templates/Q4COb7QVRVmO"))
        .await;
    read.assert_status(200);
    assert_eq!(read.body, template);
    app.get(&format!("/users/{id}/meeting_templates/missing"))
        .await
        .assert_error(400, 300, "Meeting template does not exist: missing.");
    // What Zoom's shape does not allow is refused, and nothing is kept.
    for (collection, body, field) in [
        (
            "meeting_summary_templates",
            json!({ "name": "No description" }),
            "description",
        ),
        (
            "collaboration_devices",
            json!({ "status": "Asleep" }),
            "status",
        ),
        (
            "meeting_templates",
            json!({ "name": "T", "color": "red" }),
            "color",
        ),
    ] {
        let reply = load(&app, &id, collection, body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
    assert_eq!(
        app.get(&format!("/users/{id}/meeting_summary_templates"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Only with the admin key, and only for the three collections.
    let refused = app
        .call_with(
            &app.token,
            Method::POST,
            &format!("/_localzoom/v1/users/{id}/meeting_templates"),
            Some(template),
        )
        .await;
    refused.assert_error(401, 124, "Invalid access token.");
    load(&app, &id, "meetings", json!({}))
        .await
        .assert_status(404);
    // At most 100 of a kind a user (one is loaded above); at the limit, the same id still replaces.
    for n in 1..100 {
        let body = json!({ "meeting_summary_template_id": format!("t{n}"), "name": "T", "description": "D" });
        load(&app, &id, "meeting_summary_templates", body)
            .await
            .assert_status(201);
    }
    let again =
        json!({ "meeting_summary_template_id": "t1", "name": "T again", "description": "D" });
    load(&app, &id, "meeting_summary_templates", again)
        .await
        .assert_status(201);
    let over = json!({ "meeting_summary_template_id": "t101", "name": "T", "description": "D" });
    load(&app, &id, "meeting_summary_templates", over)
        .await
        .assert_error(
            400,
            300,
            "A user holds at most 100 meeting_summary_templates here.",
        );
    let templates = app
        .get(&format!("/users/{id}/meeting_summary_templates"))
        .await
        .body;
    assert_eq!(templates.as_array().unwrap().len(), 100);
    assert!(
        templates
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "T again")
    );
}
