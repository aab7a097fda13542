use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[backend_test]
async fn add_list_and_delete_all_assistants_both_directions() {
    let app = TestApp::spawn().await;
    let boss = app.member("boss@example.com").await;
    let a1 = app.member("a1@example.com").await;
    let a2 = app.member("a2@example.com").await;
    let other_boss = app.member("other@example.com").await;

    let added = app
        .call(
            Method::POST,
            &format!("/users/{boss}/assistants"),
            Some(json!({ "assistants": [{ "id": a1 }, { "email": "A2@example.com", "can_manage_host_private_event": true }] })),
        )
        .await;
    added.assert_status(201);
    assert_eq!(added.body["ids"], format!("{a1},{a2}"));
    assert_eq!(added.body["add_at"], "2026-01-01T00:00:00Z");
    app.call(
        Method::POST,
        &format!("/users/{other_boss}/assistants"),
        Some(json!({ "assistants": [{ "id": a1 }] })),
    )
    .await
    .assert_status(201);

    let list = app.get(&format!("/users/{boss}/assistants")).await;
    assert_eq!(
        list.body,
        json!({ "assistants": [
            { "id": a1, "email": "a1@example.com", "can_manage_host_private_event": false },
            { "id": a2, "email": "a2@example.com", "can_manage_host_private_event": true }
        ] })
    );
    let schedulers = app.get(&format!("/users/{a1}/schedulers")).await;
    assert_eq!(schedulers.body["schedulers"].as_array().unwrap().len(), 2);

    app.call(Method::DELETE, &format!("/users/{boss}/assistants"), None)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{boss}/assistants")).await.body,
        json!({ "assistants": [] })
    );
    // The former assistants no longer schedule for the boss; the other relation stays.
    let schedulers = app.get(&format!("/users/{a1}/schedulers")).await;
    assert_eq!(schedulers.body["schedulers"].as_array().unwrap().len(), 1);
    assert_eq!(schedulers.body["schedulers"][0]["id"], other_boss.as_str());
    assert_eq!(
        app.get(&format!("/users/{a2}/schedulers")).await.body,
        json!({ "schedulers": [] })
    );
    // Idempotent.
    app.call(Method::DELETE, &format!("/users/{boss}/assistants"), None)
        .await
        .assert_status(204);
    app.call(Method::DELETE, "/users/nobody@example.com/assistants", None)
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn delete_one_assistant_and_schedulers() {
    let app = TestApp::spawn().await;
    let boss = app.member("boss@example.com").await;
    let a1 = app.member("a1@example.com").await;
    let a2 = app.member("a2@example.com").await;
    app.call(
        Method::POST,
        &format!("/users/{boss}/assistants"),
        Some(json!({ "assistants": [{ "id": a1 }, { "id": a2 }] })),
    )
    .await
    .assert_status(201);
    app.call(
        Method::DELETE,
        &format!("/users/{boss}/assistants/{a1}"),
        None,
    )
    .await
    .assert_status(204);
    let list = app.get(&format!("/users/{boss}/assistants")).await;
    assert_eq!(list.body["assistants"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["assistants"][0]["id"], a2.as_str());
    app.call(
        Method::DELETE,
        &format!("/users/{boss}/assistants/nobody"),
        None,
    )
    .await
    .assert_error(404, 1001, "User does not exist: nobody.");

    // From the assistant's side.
    app.call(
        Method::DELETE,
        &format!("/users/{a2}/schedulers/{boss}"),
        None,
    )
    .await
    .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{boss}/assistants")).await.body,
        json!({ "assistants": [] })
    );
    app.call(
        Method::POST,
        &format!("/users/{boss}/assistants"),
        Some(json!({ "assistants": [{ "id": a1 }] })),
    )
    .await
    .assert_status(201);
    app.call(Method::DELETE, &format!("/users/{a1}/schedulers"), None)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{boss}/assistants")).await.body,
        json!({ "assistants": [] })
    );
}

#[backend_test]
async fn adding_assistants_follows_zooms_rules() {
    let app = TestApp::spawn().await;
    let boss = app.member("boss@example.com").await;
    let a1 = app.member("a1@example.com").await;
    app.create_user("custCreate", "basic@example.com", 1).await;
    let path = format!("/users/{boss}/assistants");
    let add = |body: serde_json::Value| app.call(Method::POST, &path, Some(body));

    add(json!({ "assistants": [{ "id": boss }] }))
        .await
        .assert_error(400, 200, "Can't assign scheduling privilege to yourself.");
    add(json!({ "assistants": [{ "email": "missing@example.com" }] }))
        .await
        .assert_error(400, 200, "Can't find user missing@example.com.");
    add(json!({ "assistants": [{ "email": "basic@example.com" }] }))
        .await
        .assert_error(
            400,
            200,
            "The user must either be a Licensed user or an On-prem user : basic@example.com.",
        );
    add(json!({ "assistants": [{ "id": a1 }] }))
        .await
        .assert_status(201);
    add(json!({ "assistants": [{ "id": a1 }] }))
        .await
        .assert_error(
            400,
            200,
            "User a1@example.com has already granted scheduling privilege.",
        );
    let basic_boss = app.user_record("basic@example.com").await.id;
    app.call(
        Method::POST,
        &format!("/users/{basic_boss}/assistants"),
        Some(json!({ "assistants": [{ "id": a1 }] })),
    )
    .await
    .assert_error(
        400,
        200,
        &format!("The user must either be a Licensed user or an On-prem user : {basic_boss}."),
    );
    for body in [
        json!({}),
        json!({ "assistants": [] }),
        json!({ "assistants": "x" }),
    ] {
        let reply = add(body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec!["assistants"]);
    }
    // A failed batch writes nothing: the valid first entry is not kept when the second fails.
    let a3 = app.member("a3@example.com").await;
    add(json!({ "assistants": [{ "id": a3 }, { "email": "missing@example.com" }] }))
        .await
        .assert_error(400, 200, "Can't find user missing@example.com.");
    assert_eq!(
        app.get(&path).await.body["assistants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[backend_test]
async fn a_free_account_cannot_add_assistants() {
    let app = TestApp::spawn_with_plan("free").await;
    let boss = app.member("boss@example.com").await;
    let a1 = app.member("a1@example.com").await;
    app.call(
        Method::POST,
        &format!("/users/{boss}/assistants"),
        Some(json!({ "assistants": [{ "id": a1 }] })),
    )
    .await
    .assert_error(
        400,
        200,
        &format!("Current account must be paid account: {boss}"),
    );
}

#[backend_test]
async fn at_most_thirty_assistants() {
    let app = TestApp::spawn().await;
    let boss = app.member("boss@example.com").await;
    let mut refs = Vec::new();
    for n in 0..31 {
        let email = format!("helper{n}@example.com");
        app.member(&email).await;
        refs.push(json!({ "email": email }));
    }
    let path = format!("/users/{boss}/assistants");
    let reply = app
        .call(Method::POST, &path, Some(json!({ "assistants": refs })))
        .await;
    reply.assert_error(400, 300, "Validation Failed.");
    assert_eq!(reply.error_fields(), vec!["assistants"]);
    app.call(
        Method::POST,
        &path,
        Some(json!({ "assistants": refs[..30] })),
    )
    .await
    .assert_status(201);
    app.call(
        Method::POST,
        &path,
        Some(json!({ "assistants": [refs[30]] })),
    )
    .await
    .assert_error(400, 200, "A user can have at most 30 assistants.");
    assert_eq!(
        app.get(&path).await.body["assistants"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
}
