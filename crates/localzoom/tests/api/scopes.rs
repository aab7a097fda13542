use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn call_with(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Reply {
    app.call_with(token, method, &format!("/v2{path}"), body)
        .await
}

#[backend_test]
async fn a_token_without_the_operations_scopes_gets_4711_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app.member("target@example.com").await;
    let reader = app.token_with_scopes(&owner, &["user:read:admin"]).await;
    call_with(&app, &reader, Method::PUT, &format!("/users/{id}/status"), Some(json!({ "action": "deactivate" })))
        .await
        .assert_error(
            400,
            4711,
            "Invalid access token, does not contain scopes:[user:update:status, user:update:status:admin].",
        );
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "active"
    );
    // The same token reads.
    call_with(&app, &reader, Method::GET, &format!("/users/{id}"), None)
        .await
        .assert_status(200);
    for (method, path, scopes) in [
        (
            Method::DELETE,
            format!("/users/{id}/token"),
            "user:delete:token, user:delete:token:admin",
        ),
        (
            Method::PUT,
            format!("/users/{id}/password"),
            "user:update:password, user:update:password:admin",
        ),
        (
            Method::DELETE,
            format!("/users/{id}/assistants"),
            "user:delete:assistant, user:delete:assistant:admin",
        ),
        (
            Method::PATCH,
            "/accounts/me/settings?option=security".into(),
            "account:update:settings:admin, account:update:settings:master",
        ),
    ] {
        call_with(
            &app,
            &reader,
            method,
            &path,
            Some(json!({ "password": "Valid1Pass", "security": {} })),
        )
        .await
        .assert_error(
            400,
            4711,
            &format!("Invalid access token, does not contain scopes:[{scopes}]."),
        );
    }
}

#[backend_test]
async fn one_granular_scope_is_enough_for_its_operation_only() {
    let app = TestApp::spawn().await;
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app.member("target@example.com").await;
    let granular = app
        .token_with_scopes(&owner, &["user:read:user:admin"])
        .await;
    call_with(&app, &granular, Method::GET, &format!("/users/{id}"), None)
        .await
        .assert_status(200);
    call_with(&app, &granular, Method::GET, "/users", None)
        .await
        .assert_error(
            400,
            4711,
            "Invalid access token, does not contain scopes:[user:read:list_users:admin].",
        );
}

#[backend_test]
async fn user_level_scopes_reach_only_me() {
    let app = TestApp::spawn().await;
    let id = app.member("self@example.com").await;
    let other = app.member("other@example.com").await;
    let token = app
        .token_with_scopes(&id, &["user:read", "user:write"])
        .await;
    let me = call_with(&app, &token, Method::GET, "/users/me", None).await;
    me.assert_status(200);
    assert_eq!(me.body["id"], id.as_str());
    // Even the caller's own id is refused: user-level apps must say `me`.
    for target in [&id, &other] {
        call_with(&app, &token, Method::GET, &format!("/users/{target}"), None)
            .await
            .assert_error(400, 4711, "Invalid access token, does not contain scopes:[user:read:user, user:read:user:admin].");
    }
    call_with(&app, &token, Method::PUT, &format!("/users/{other}/status"), Some(json!({ "action": "deactivate" })))
        .await
        .assert_error(400, 4711, "Invalid access token, does not contain scopes:[user:update:status, user:update:status:admin].");
    assert_eq!(
        app.get(&format!("/users/{other}")).await.body["status"],
        "active"
    );
}

/// A Member's own token reaches its own profile, never the account: no listing, creating or probing of users, and
/// no change of its own licence, status or password, which Zoom leaves to owners and admins.
#[backend_test]
async fn a_members_token_reaches_its_profile_not_the_account() {
    let app = TestApp::spawn().await;
    let id = app.member("self@example.com").await;
    let token = app
        .token_with_scopes(&id, &["user:read", "user:write"])
        .await;
    let no_permission =
        |p: &str| format!("Invalid access token. Does not contain permissions [{p}].");
    call_with(&app, &token, Method::GET, "/users", None)
        .await
        .assert_error(400, 200, &no_permission("User:Read"));
    call_with(
        &app,
        &token,
        Method::GET,
        "/users/email?email=owner@example.com",
        None,
    )
    .await
    .assert_error(400, 200, &no_permission("User:Read"));
    let body = json!({ "action": "autoCreate", "user_info": { "email": "sneaky@example.com", "type": 1, "password": "Sneaky1Pass" } });
    call_with(&app, &token, Method::POST, "/users", Some(body))
        .await
        .assert_error(400, 200, &no_permission("User:Edit"));
    app.get("/users/sneaky@example.com").await.assert_error(
        404,
        1001,
        "User does not exist: sneaky@example.com.",
    );

    for (method, path, body, what) in [
        (
            Method::PATCH,
            "/users/me",
            json!({ "type": 1 }),
            "a user's license type",
        ),
        (
            Method::PUT,
            "/users/me/status",
            json!({ "action": "deactivate" }),
            "a user's status",
        ),
        (
            Method::PUT,
            "/users/me/password",
            json!({ "password": "Mine1Pass" }),
            "a user's password",
        ),
    ] {
        call_with(&app, &token, method, path, Some(body))
            .await
            .assert_error(
                400,
                200,
                &format!("Only an account administrator can change {what}."),
            );
    }
    let record = app.user_record("self@example.com").await;
    assert_eq!(
        (record.user_type, record.status.as_str()),
        (localzoom_server::domain::user::UserType::Licensed, "active")
    );
    assert!(record.password_hash.is_none());
    // Its own profile is its to change.
    call_with(
        &app,
        &token,
        Method::PATCH,
        "/users/me",
        Some(json!({ "job_title": "Engineer", "type": 2 })),
    )
    .await
    .assert_status(204);
    let me = call_with(&app, &token, Method::GET, "/users/me", None).await;
    assert_eq!(me.body["job_title"], "Engineer");
}

#[backend_test]
async fn account_level_scopes_reach_only_as_far_as_the_users_role() {
    let app = TestApp::spawn().await;
    let member = app.member("member@example.com").await;
    let target = app.member("target@example.com").await;
    let token = app
        .token_with_scopes(&member, &["user:read:admin", "user:write:admin"])
        .await;
    call_with(
        &app,
        &token,
        Method::PUT,
        &format!("/users/{target}/status"),
        Some(json!({ "action": "deactivate" })),
    )
    .await
    .assert_error(
        400,
        200,
        "Invalid access token. Does not contain permissions [User:Edit].",
    );
    call_with(&app, &token, Method::GET, "/users", None)
        .await
        .assert_error(
            400,
            200,
            "Invalid access token. Does not contain permissions [User:Read].",
        );
    assert_eq!(
        app.get(&format!("/users/{target}")).await.body["status"],
        "active"
    );
    // A member may still act on themself.
    call_with(&app, &token, Method::GET, "/users/me", None)
        .await
        .assert_status(200);
    // Made an admin, the same token reaches others at once.
    app.edit_user("member@example.com", |u| {
        u.role = localzoom_server::domain::user::Role::Admin
    })
    .await;
    call_with(
        &app,
        &token,
        Method::PUT,
        &format!("/users/{target}/status"),
        Some(json!({ "action": "deactivate" })),
    )
    .await
    .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{target}")).await.body["status"],
        "inactive"
    );
}
