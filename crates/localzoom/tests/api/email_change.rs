//! `PUT /users/{userId}/email`: admins change e-mails on the managed domain, unused across Zoom, 3 times a day.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn change(app: &TestApp, user: &str, email: &str) -> Reply {
    app.call(
        Method::PUT,
        &format!("/users/{user}/email"),
        Some(json!({ "email": email })),
    )
    .await
}

#[backend_test]
async fn an_admin_changes_a_users_email_and_every_later_read_follows() {
    let app = TestApp::spawn().await;
    let id = app.member("before@example.com").await;
    change(&app, &id, "after@example.com")
        .await
        .assert_status(204);
    let user = app.get("/users/after@example.com").await;
    user.assert_status(200);
    assert_eq!(
        (user.body["id"].as_str(), user.body["email"].as_str()),
        (Some(id.as_str()), Some("after@example.com"))
    );
    app.get("/users/before@example.com").await.assert_error(
        404,
        1001,
        "User does not exist: before@example.com.",
    );
    // The old address is free again; the new one is taken, Zoom-wide (400: S1 documents no 409 here).
    let other = app.member("other@example.com").await;
    change(&app, &other, "after@example.com")
        .await
        .assert_error(
            400,
            1005,
            "Email \"after@example.com\" has already been used.",
        );
    change(&app, &other, "before@example.com")
        .await
        .assert_status(204);
    // Only on the account's managed domain (the owner's: example.com).
    change(&app, &id, "after@elsewhere.test").await.assert_error(
        400,
        300,
        "Domain name doesn't match. Please contact the Zoom Customer Support to set managed domains for your account.",
    );
    for bad in [
        json!({}),
        json!({ "email": "not an address" }),
        json!({ "email": 7 }),
    ] {
        let reply = app
            .call(Method::PUT, &format!("/users/{id}/email"), Some(bad))
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), ["email"]);
    }
    change(&app, "nobody@example.com", "x@example.com")
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn three_changes_in_any_24_hours() {
    let app = TestApp::spawn().await;
    let id = app.member("n0@example.com").await;
    for n in 1..=3 {
        change(&app, &id, &format!("n{n}@example.com"))
            .await
            .assert_status(204);
    }
    change(&app, &id, "n4@example.com").await.assert_error(
        400,
        300,
        "A user's email address can be changed up to 3 times in any 24 hour period.",
    );
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["email"],
        "n3@example.com"
    );
    // A day after the first change, one more is allowed (with a token of that day).
    app.clock.advance_ms(24 * 3600 * 1000 + 1);
    let token = app.fresh_token().await;
    app.send(
        app.http
            .put(format!("{}/v2/users/{id}/email", app.base))
            .bearer_auth(token)
            .json(&json!({ "email": "n4@example.com" })),
    )
    .await
    .assert_status(204);
}

#[backend_test]
async fn members_change_no_email_and_admins_not_other_admins() {
    let app = TestApp::spawn().await;
    let member = app.member("member@example.com").await;
    let token = app.token_for_user(&member).await;
    let reply = app
        .send(
            app.http
                .put(format!("{}/v2/users/me/email", app.base))
                .bearer_auth(&token)
                .json(&json!({ "email": "mine@example.com" })),
        )
        .await;
    reply.assert_error(400, 200, "Only an account administrator can change email.");
    let admin = app.member("admin@example.com").await;
    let second = app.member("second@example.com").await;
    for email in ["admin@example.com", "second@example.com"] {
        app.edit_user(email, |u| {
            u.role = localzoom_server::domain::user::Role::Admin
        })
        .await;
    }
    let admin_token = app.token_for_user(&admin).await;
    let as_admin = |user: String, email: &'static str| {
        let (app, token) = (&app, admin_token.clone());
        async move {
            app.send(
                app.http
                    .put(format!("{}/v2/users/{user}/email", app.base))
                    .bearer_auth(token)
                    .json(&json!({ "email": email })),
            )
            .await
        }
    };
    as_admin(second.clone(), "renamed@example.com")
        .await
        .assert_error(400, 1000, "Admin can not change other admins email.");
    as_admin("me".into(), "admin2@example.com")
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{admin}")).await.body["email"],
        "admin2@example.com"
    );
    as_admin(member.clone(), "member2@example.com")
        .await
        .assert_status(204);
    // The owner changes an admin's.
    change(&app, &second, "second2@example.com")
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{member}")).await.body["email"],
        "member2@example.com"
    );
}
