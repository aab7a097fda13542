//! `/users/{userId}/presence_status`: Offline unless signed in; set once a minute; Do-Not-Disturb for a while.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn set(app: &TestApp, user: &str, body: serde_json::Value) -> Reply {
    app.call(
        Method::PUT,
        &format!("/users/{user}/presence_status"),
        Some(body),
    )
    .await
}

async fn status_of(app: &TestApp, user: &str) -> serde_json::Value {
    let reply = app.get(&format!("/users/{user}/presence_status")).await;
    reply.assert_status(200);
    reply.body
}

#[backend_test]
async fn presence_follows_sign_in_updates_and_do_not_disturb() {
    let app = TestApp::spawn().await;
    let id = app.member("present@example.com").await;
    // Signed in to no client: offline, and it cannot be set.
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Offline" }));
    set(&app, &id, json!({ "status": "Away" }))
        .await
        .assert_error(
            400,
            5301,
            "Request to update the presence status of this user failed.",
        );
    let session = app.add_session(&id, 100).await;
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Available" }));
    set(&app, &id, json!({ "status": "Away" }))
        .await
        .assert_status(204);
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Away" }));
    // Once a minute per user.
    set(&app, &id, json!({ "status": "Busy" }))
        .await
        .assert_error(
            429,
            429,
            "A user's presence status can be updated at most once per minute. Try again later.",
        );
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Away" }));
    app.clock.advance_ms(61_000);
    set(
        &app,
        &id,
        json!({ "status": "Do_No_Disturb", "duration": 30 }),
    )
    .await
    .assert_status(204);
    // Others see the status; the user sees when it ends.
    assert_eq!(
        status_of(&app, &id).await,
        json!({ "status": "Do_Not_Disturb" })
    );
    let token = app.token_for_user(&id).await;
    let own = app
        .send(
            app.http
                .get(format!("{}/v2/users/me/presence_status", app.base))
                .bearer_auth(&token),
        )
        .await;
    own.assert_status(200);
    assert_eq!(own.body["status"], "Do_Not_Disturb");
    assert_eq!(own.body["remaining_time"], 1800);
    assert!(own.body["end_time"].as_str().unwrap().ends_with('Z'));
    // It ends by itself.
    app.clock.advance_ms(31 * 60_000);
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Available" }));
    // Signed out of every client: offline again.
    app.db()
        .write(move |tx| async move {
            let s = &tx;
            s.end_session(&session, 0).await
        })
        .await
        .unwrap();
    assert_eq!(status_of(&app, &id).await, json!({ "status": "Offline" }));
}

#[backend_test]
async fn presence_updates_take_zooms_statuses_and_durations_only() {
    let app = TestApp::spawn().await;
    let id = app.member("picky@example.com").await;
    app.add_session(&id, 100).await;
    for body in [
        json!({}),
        json!({ "status": "Sleeping" }),
        json!({ "status": "Offline" }),
        json!({ "status": 3 }),
    ] {
        let reply = set(&app, &id, body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), ["status"]);
    }
    for duration in [0, 1441] {
        let reply = set(
            &app,
            &id,
            json!({ "status": "Do_No_Disturb", "duration": duration }),
        )
        .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), ["duration"]);
    }
    // The spelling of the rest of the API is taken too; without a duration, 20 minutes.
    set(&app, &id, json!({ "status": "Do_Not_Disturb" }))
        .await
        .assert_status(204);
    let token = app.token_for_user(&id).await;
    let own = app
        .send(
            app.http
                .get(format!("{}/v2/users/me/presence_status", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(own.body["remaining_time"], 1200);
    app.get("/users/nobody@example.com/presence_status")
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}
