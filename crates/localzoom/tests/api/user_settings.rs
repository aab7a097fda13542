//! `GET/PATCH /users/{userId}/settings`: Zoom's whole settings shape, each PATCH checked against Zoom's schema,
//! what changed visible to every later read, the option shapes and `custom_query_fields`.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn patch(app: &TestApp, user: &str, query: &str, body: Value) -> Reply {
    app.call(
        Method::PATCH,
        &format!("/users/{user}/settings{query}"),
        Some(body),
    )
    .await
}

async fn settings(app: &TestApp, user: &str, query: &str) -> Value {
    let reply = app.get(&format!("/users/{user}/settings{query}")).await;
    reply.assert_status(200);
    reply.body
}

#[backend_test]
async fn a_patch_is_seen_by_every_later_read_and_nothing_else_changes() {
    let app = TestApp::spawn().await;
    let id = app.member("settings@example.com").await;
    let before = settings(&app, &id, "").await;
    for group in [
        "schedule_meeting",
        "in_meeting",
        "email_notification",
        "recording",
        "telephony",
        "feature",
        "tsp",
        "profile",
        "audio_conferencing",
    ] {
        assert!(before[group].is_object(), "group {group} in {before}");
    }
    assert_eq!(before["schedule_meeting"]["host_video"], json!(false));
    patch(
        &app,
        &id,
        "",
        json!({
            "schedule_meeting": { "host_video": true, "participants_video": true },
            "in_meeting": { "entry_exit_chime": "all", "breakout_room": true },
            "recording": { "auto_recording": "cloud" },
        }),
    )
    .await
    .assert_status(204);
    let after = settings(&app, &id, "").await;
    assert_eq!(after["schedule_meeting"]["host_video"], json!(true));
    assert_eq!(after["schedule_meeting"]["participants_video"], json!(true));
    assert_eq!(after["in_meeting"]["entry_exit_chime"], json!("all"));
    assert_eq!(after["in_meeting"]["breakout_room"], json!(true));
    assert_eq!(after["recording"]["auto_recording"], json!("cloud"));
    // Everything not named is as it was.
    let mut expected = before.clone();
    for (group, name, value) in [
        ("schedule_meeting", "host_video", json!(true)),
        ("schedule_meeting", "participants_video", json!(true)),
        ("in_meeting", "entry_exit_chime", json!("all")),
        ("in_meeting", "breakout_room", json!(true)),
        ("recording", "auto_recording", json!("cloud")),
    ] {
        expected[group][name] = value;
    }
    assert_eq!(after, expected);
    // The same user by e-mail and through `me` of the user's own token.
    assert_eq!(settings(&app, "settings@example.com", "").await, after);
    let own = app.token_with_scopes(&id, &["user:read"]).await;
    let mine = app
        .call_with(&own, Method::GET, "/v2/users/me/settings", None)
        .await;
    mine.assert_status(200);
    assert_eq!(mine.body, after);
    // Another user is untouched.
    let other = app.member("other@example.com").await;
    assert_eq!(settings(&app, &other, "").await, before);
}

#[backend_test]
async fn a_patch_that_breaks_zoom_schema_is_refused_whole() {
    let app = TestApp::spawn().await;
    let id = app.member("strict@example.com").await;
    let before = settings(&app, &id, "").await;
    for (body, field) in [
        (
            json!({"schedule_meeting": {"host_video": "yes"}}),
            "schedule_meeting.host_video",
        ),
        (
            json!({"in_meeting": {"entry_exit_chime": "loud"}}),
            "in_meeting.entry_exit_chime",
        ),
        (
            json!({"schedule_meeting": {"host_video": true, "not_a_setting": 1}}),
            "schedule_meeting.not_a_setting",
        ),
        (json!({"not_a_group": {"x": 1}}), "not_a_group"),
        (
            json!({"recording": {"auto_delete_cmr_days": "30"}}),
            "recording.auto_delete_cmr_days",
        ),
        (
            json!({"in_meeting": {"virtual_background_settings": {"files": []}}}),
            "in_meeting.virtual_background_settings.files",
        ),
    ] {
        let reply = patch(&app, &id, "", body.clone()).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec![field.to_string()], "{body}");
    }
    assert_eq!(settings(&app, &id, "").await, before);
    patch(&app, &id, "?option=unknown", json!({}))
        .await
        .assert_error(400, 300, "Validation Failed.");
    app.get(&format!("/users/{id}/settings?option=nope"))
        .await
        .assert_error(400, 300, "Validation Failed.");
    app.get(&format!("/users/{id}/settings?login_type=5"))
        .await
        .assert_error(400, 300, "Validation Failed.");
    patch(&app, "nobody@example.com", "", json!({}))
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn features_follow_zoom_licence_rules() {
    let app = TestApp::spawn().await;
    let basic = app.create_user("custCreate", "basic@example.com", 1).await;
    for (name, code, message) in [
        (
            "large_meeting",
            1108,
            "Only Licensed or On-prem users can enable the large meeting feature.",
        ),
        (
            "webinar",
            1122,
            "Webinar feature can only be enabled for Licensed or On-prem users.",
        ),
        (
            "zoom_events",
            1206,
            "You can only enable the Zoom Events feature for Licensed or On-prem users.",
        ),
    ] {
        patch(&app, &basic, "", json!({ "feature": { name: true } }))
            .await
            .assert_error(400, code, message);
    }
    let feature = settings(&app, &basic, "").await["feature"].clone();
    for name in ["large_meeting", "webinar", "zoom_events"] {
        assert_eq!(feature[name], json!(false), "{name}");
    }
    let licensed = app.member("licensed@example.com").await;
    patch(
        &app,
        &licensed,
        "",
        json!({ "feature": { "webinar": true, "large_meeting": true } }),
    )
    .await
    .assert_status(204);
    let feature = settings(&app, &licensed, "").await["feature"].clone();
    assert_eq!(
        (feature["webinar"].clone(), feature["large_meeting"].clone()),
        (json!(true), json!(true))
    );
    patch(
        &app,
        &licensed,
        "",
        json!({ "feature": { "zoom_events": true } }),
    )
    .await
    .assert_error(
        400,
        1205,
        "You can't enable the Zoom Events feature because you already have the Webinar feature.",
    );
    patch(
        &app,
        &licensed,
        "",
        json!({ "feature": { "webinar": false, "zoom_events": true } }),
    )
    .await
    .assert_status(204);
    patch(
        &app,
        &licensed,
        "",
        json!({ "feature": { "webinar": true } }),
    )
    .await
    .assert_error(
        400,
        1204,
        "You can't enable the Webinar feature because you already have the Zoom Events feature.",
    );
    let feature = settings(&app, &licensed, "").await["feature"].clone();
    assert_eq!(
        (feature["webinar"].clone(), feature["zoom_events"].clone()),
        (json!(false), json!(true))
    );
}

#[backend_test]
async fn options_read_and_write_their_own_shapes() {
    let app = TestApp::spawn().await;
    let id = app.member("options@example.com").await;
    let security = settings(&app, &id, "?option=meeting_security").await;
    assert!(
        security["meeting_security"]["waiting_room"].is_boolean(),
        "{security}"
    );
    patch(
        &app,
        &id,
        "?option=meeting_security",
        json!({ "meeting_security": { "waiting_room": true, "block_user_domain_list": ["example.org"] } }),
    )
    .await
    .assert_status(204);
    let security = settings(&app, &id, "?option=meeting_security").await;
    assert_eq!(security["meeting_security"]["waiting_room"], json!(true));
    assert_eq!(
        security["meeting_security"]["block_user_domain_list"],
        json!(["example.org"])
    );
    // A domain shorter than Zoom's 5 characters is refused.
    let short = patch(
        &app,
        &id,
        "?option=meeting_security",
        json!({ "meeting_security": { "block_user_domain_list": ["a.b"] } }),
    )
    .await;
    short.assert_error(400, 300, "Validation Failed.");
    assert_eq!(
        short.error_fields(),
        ["meeting_security.block_user_domain_list"]
    );

    let auth = settings(&app, &id, "?option=meeting_authentication").await;
    assert_eq!(auth["meeting_authentication"], json!(false));
    let option_id = auth["authentication_options"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    patch(
        &app,
        &id,
        "?option=meeting_authentication",
        json!({
            "meeting_authentication": true,
            "authentication_option": { "action": "update", "id": option_id, "name": "Staff only",
                                       "type": "enforce_login_with_domains", "domains": "example.com" },
        }),
    )
    .await
    .assert_status(204);
    patch(
        &app,
        &id,
        "?option=meeting_authentication",
        json!({ "authentication_option": { "action": "hide", "id": option_id } }),
    )
    .await
    .assert_status(204);
    let auth = settings(&app, &id, "?option=meeting_authentication").await;
    assert_eq!(auth["meeting_authentication"], json!(true));
    let option = &auth["authentication_options"][0];
    assert_eq!(
        (
            &option["name"],
            &option["domains"],
            &option["type"],
            &option["visible"]
        ),
        (
            &json!("Staff only"),
            &json!("example.com"),
            &json!("enforce_login_with_domains"),
            &json!(false)
        )
    );
    patch(
        &app,
        &id,
        "?option=meeting_authentication",
        json!({ "authentication_option": { "action": "show", "id": "no-such-option" } }),
    )
    .await
    .assert_error(400, 300, "Validation Failed.");
    // The recording option is a separate set.
    let recording = settings(&app, &id, "?option=recording_authentication").await;
    assert_eq!(recording["recording_authentication"], json!(false));
    assert!(recording.get("meeting_authentication").is_none());
}

#[backend_test]
async fn custom_query_fields_answer_only_the_named_settings() {
    let app = TestApp::spawn().await;
    let id = app.member("fields@example.com").await;
    patch(
        &app,
        &id,
        "",
        json!({ "schedule_meeting": { "host_video": true } }),
    )
    .await
    .assert_status(204);
    assert_eq!(
        settings(&app, &id, "?custom_query_fields=host_video").await,
        json!({ "schedule_meeting": { "host_video": true } })
    );
    let two = settings(
        &app,
        &id,
        "?custom_query_fields=host_video,participants_video",
    )
    .await;
    assert_eq!(
        two,
        json!({ "schedule_meeting": { "host_video": true, "participants_video": false } })
    );
    app.get(&format!("/users/{id}/settings?custom_query_fields=a%3Bb"))
        .await
        .assert_error(400, 300, "Validation Failed.");
}
