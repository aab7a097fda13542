//! The operation table and the store, as a client sees them: every entry of the table is routed and nothing else
//! under `/v2` is, `/openapi.json` describes exactly what is served, and the store's dialect differences and its
//! refusal of unreadable rows hold on both backends.

use localzoom_api::operations::{Api, OPERATIONS, Operation};
use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

fn method(operation: &Operation) -> Method {
    Method::from_bytes(operation.method.as_str().as_bytes()).unwrap()
}

/// The path with every `{param}` filled with `value`.
fn filled(template: &str, value: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { value } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `path` (no placeholders) is one a template of the table matches, for `method`.
fn served(method_name: &str, path: &str) -> bool {
    OPERATIONS.iter().any(|op| {
        let (template, given): (Vec<&str>, Vec<&str>) =
            (op.path.split('/').collect(), path.split('/').collect());
        op.method.as_str().eq_ignore_ascii_case(method_name)
            && template.len() == given.len()
            && template
                .iter()
                .zip(&given)
                .all(|(t, g)| t.starts_with('{') || t == g)
    })
}

/// Routed: the gate answers (no token), not the fallback; in SCIM's shape on SCIM's paths.
fn assert_gate_answered(op: &Operation, reply: &Reply) {
    match op.api {
        Api::V2 => reply.assert_error(401, 124, "Invalid access token."),
        Api::Scim2 => {
            assert_eq!(reply.status, 401, "{}", op.name);
            assert_eq!(reply.headers["content-type"], "application/scim+json");
            assert_eq!(reply.body["detail"], "Invalid access token.", "{}", op.name);
            assert_eq!(
                reply.body["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error"
            );
        }
    }
}

#[tokio::test]
async fn every_entry_of_the_table_is_routed_and_no_other_zoom_operation_is() {
    let app = TestApp::spawn().await;
    for op in OPERATIONS {
        let path = format!("{}{}", op.api.prefix(), filled(op.path, "someone"));
        let reply = app
            .send(app.http.request(method(op), format!("{}{path}", app.base)))
            .await;
        assert_gate_answered(op, &reply);
    }
    // Every operation of Zoom's Users and SCIM specs is served, or answers Zoom's "not recognized".
    let users: Value = serde_json::from_str(include_str!(
        "../../../localzoom-server/spec/zoom-users-api.endpoints.json"
    ))
    .unwrap();
    let scim: Value = serde_json::from_str(include_str!(
        "../../../localzoom-server/spec/zoom-scim2-api.endpoints.json"
    ))
    .unwrap();
    let mut unserved = 0;
    let paths = users["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(template, item)| (Api::V2, template, item))
        .chain(
            scim["paths"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(t, i)| (Api::Scim2, t, i)),
        );
    for (api, template, item) in paths {
        for (method_name, operation) in item.as_object().unwrap() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            if OPERATIONS.iter().any(|op| op.name == id) {
                continue;
            }
            // Every `/users` operation of Zoom's Users spec and every SCIM `/Users` one is served.
            assert!(
                !template.starts_with("/users") && !template.starts_with("/scim2/Users"),
                "{id} ({method_name} {template}) is not served"
            );
            let path = filled(template, "someone");
            // `GET /users/summary` is `GET /users/{userId}` of a user named "summary", to a router as to Zoom's.
            if served(method_name, &path) {
                continue;
            }
            let reply = app
                .send(app.http.request(
                    Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{}{path}", app.base, api.prefix()),
                ))
                .await;
            assert!(
                matches!(reply.status.as_u16(), 404 | 405),
                "{id} ({method_name} {template}) answered {}",
                reply.status
            );
            match api {
                Api::V2 => assert_eq!(reply.body["code"], 2300, "{id}"),
                // Under /scim2, SCIM's own "not found".
                Api::Scim2 => assert_eq!(
                    (&reply.body["status"], &reply.body["detail"]),
                    (
                        &serde_json::json!("404"),
                        &serde_json::json!("This API endpoint is not recognized.")
                    ),
                    "{id}"
                ),
            }
            unserved += 1;
        }
    }
    assert!(unserved > 10, "only {unserved} unserved operations checked");
}

#[tokio::test]
async fn the_served_openapi_document_is_what_is_served() {
    let app = TestApp::spawn().await;
    let reply = app
        .send(app.http.get(format!("{}/openapi.json", app.base)))
        .await;
    reply.assert_status(200);
    assert_eq!(
        reply.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    let document = reply.body;
    assert_eq!(document["openapi"], "3.0.0");
    let mut listed = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method_name, operation) in item.as_object().unwrap() {
            if method_name == "servers" {
                // SCIM's paths say where they start.
                assert_eq!(operation, &serde_json::json!([{ "url": "/" }]), "{path}");
                continue;
            }
            listed += 1;
            let entry = OPERATIONS
                .iter()
                .find(|op| op.name == operation["operationId"])
                .unwrap_or_else(|| panic!("{method_name} {path} is not in the table"));
            assert_eq!(entry.path, path);
            assert_eq!(entry.method.openapi_key(), method_name);
            // What the document lists, the server serves: the gate answers, not the fallback.
            let url = format!(
                "{}{}{}",
                app.base,
                entry.api.prefix(),
                filled(path, "someone")
            );
            let reply = app.send(app.http.request(method(entry), url)).await;
            assert_gate_answered(entry, &reply);
        }
    }
    assert_eq!(listed, OPERATIONS.len());
    // Zoom's documented errors come with the operations.
    let user_status = &document["paths"]["/users/{userId}/status"]["put"];
    assert!(
        user_status["responses"]["404"]["description"]
            .as_str()
            .unwrap()
            .contains("1001")
    );
    assert!(user_status["responses"]["204"].is_object());
}

/// `Dialect::insertion_order`: rows with equal times come back in the order they were written, on both backends
/// (SQLite's `rowid`, PostgreSQL's `seq`).
#[backend_test]
async fn rows_written_at_the_same_moment_read_back_in_insertion_order() {
    let app = TestApp::spawn().await;
    let id = app.member("ordered@example.com").await;
    let written: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(app.add_session(&id, 100).await);
        }
        ids
    };
    let read: Vec<String> = app.sessions(&id).await.into_iter().map(|s| s.id).collect();
    assert_eq!(read, written);
    let user = id.clone();
    app.db()
        .write(move |tx| async move {
            let s = &tx;

            for n in 0..3 {
                s.record_password(&user, &format!("fingerprint-{n}"), START_MS, false)
                    .await?;
            }
            Ok::<_, localzoom_server::store::StoreError>(())
        })
        .await
        .unwrap();
    // Newest first: the last written of equal times leads.
    let history = app
        .db()
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.password_history(&id, 10).await
        })
        .await
        .unwrap();
    assert_eq!(history, ["fingerprint-2", "fingerprint-1", "fingerprint-0"]);
}

/// A stored value this localzoom cannot read is an error (logged with its cause), never a silent default: a role
/// nobody knows must not read as a Member.
#[backend_test]
async fn an_unknown_stored_value_is_an_error_not_a_default() {
    let app = TestApp::spawn().await;
    let id = app.member("corrupt@example.com").await;
    app.get(&format!("/users/{id}")).await.assert_status(200);
    execute_sql(
        &app,
        &format!("UPDATE users SET role = 'superhero' WHERE id = '{id}'"),
    );
    app.get(&format!("/users/{id}"))
        .await
        .assert_error(500, 500, "Internal server error.");
    let unread = app
        .db()
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.user_by_id(ACCOUNT_ID, &id).await
        })
        .await
        .unwrap_err();
    assert!(
        unread.to_string().contains("superhero"),
        "the error names the value: {unread}"
    );
    // Other users are unaffected.
    app.get("/users/me").await.assert_status(200);
    // Integer codes too: a user type Zoom does not define is not read as any other.
    let typed = app.member("typed@example.com").await;
    execute_sql(
        &app,
        &format!("UPDATE users SET type = 7 WHERE id = '{typed}'"),
    );
    app.get(&format!("/users/{typed}"))
        .await
        .assert_error(500, 500, "Internal server error.");
    // An account on a plan this version does not know serves nobody rather than the wrong rate limits.
    execute_sql(&app, "UPDATE accounts SET plan = 'platinum'");
    app.get("/users/me")
        .await
        .assert_error(500, 500, "Internal server error.");
}
