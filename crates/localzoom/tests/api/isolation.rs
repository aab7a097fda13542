//! Accounts are fully isolated: a token of one account neither reads nor changes, nor learns of, another's users.

use localzoom_test_macros::backend_test;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[backend_test]
async fn every_operation_of_account_a_on_a_user_of_account_b_is_a_404() {
    let app = TestApp::spawn().await;
    let (b_owner, b_client, b_secret) = app.second_account().await;
    let victim = b_owner.id.clone();
    let paths = [
        (Method::GET, format!("/users/{victim}"), None),
        (Method::GET, "/users/owner@b.test".to_string(), None),
        (
            Method::PATCH,
            format!("/users/{victim}"),
            Some(json!({ "first_name": "Hacked" })),
        ),
        (
            Method::DELETE,
            format!("/users/{victim}?action=delete"),
            None,
        ),
        (
            Method::PUT,
            format!("/users/{victim}/status"),
            Some(json!({ "action": "deactivate" })),
        ),
        (
            Method::PUT,
            format!("/users/{victim}/password"),
            Some(json!({ "password": "Hacked1Pass" })),
        ),
        (Method::DELETE, format!("/users/{victim}/token"), None),
        (Method::GET, format!("/users/{victim}/assistants"), None),
        (
            Method::POST,
            format!("/users/{victim}/assistants"),
            Some(json!({ "assistants": [{ "email": "owner@example.com" }] })),
        ),
        (Method::DELETE, format!("/users/{victim}/assistants"), None),
        (
            Method::DELETE,
            format!("/users/{victim}/assistants/{victim}"),
            None,
        ),
        (Method::GET, format!("/users/{victim}/schedulers"), None),
        (Method::DELETE, format!("/users/{victim}/schedulers"), None),
        (
            Method::DELETE,
            format!("/users/{victim}/schedulers/{victim}"),
            None,
        ),
    ];
    for (method, path, body) in paths {
        let reply = app.call(method.clone(), &path, body).await;
        assert_eq!(
            reply.status.as_u16(),
            404,
            "{method} {path}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["code"], 1001, "{method} {path}");
    }
    // Nor does B show up in A's lists, e-mail checks or settings.
    let list = app.get("/users?page_size=2000").await;
    assert!(!list.body.to_string().contains("owner@b.test"));
    assert_eq!(
        app.get("/users/email?email=owner@b.test").await.body,
        json!({ "existed_email": false })
    );
    app.get("/accounts/AccountB/settings?option=security")
        .await
        .assert_error(404, 2001, "Account does not exist: AccountB.");
    // B's owner is untouched.
    let untouched = app
        .db()
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.user_by_id("AccountB", &b_owner.id).await
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched, b_owner);

    // A's credentials cannot mint tokens for B; B's own can, and B sees its own owner only.
    let minted = app.grant("AccountB", CLIENT_ID, CLIENT_SECRET).await;
    minted.assert_status(400);
    assert_eq!(minted.body["error"], "invalid_request");
    let b_token = app.grant("AccountB", &b_client, &b_secret).await;
    b_token.assert_status(200);
    let b_token = b_token.body["access_token"].as_str().unwrap().to_string();
    let me = app
        .send(
            app.http
                .get(format!("{}/v2/users/me", app.base))
                .bearer_auth(&b_token),
        )
        .await;
    assert_eq!(me.body["email"], "owner@b.test");
    let a_owner = app
        .send(
            app.http
                .get(format!("{}/v2/users/{OWNER_EMAIL}", app.base))
                .bearer_auth(&b_token),
        )
        .await;
    a_owner.assert_error(404, 1001, &format!("User does not exist: {OWNER_EMAIL}."));
}
