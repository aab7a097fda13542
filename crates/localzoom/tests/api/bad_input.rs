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
    assert_eq!(reply.headers["connection"], "close");
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

/// Form bodies whose field names nest thousands deep once overflowed a worker's stack and killed the process; they
/// are refused at the parser, from the unauthenticated OAuth endpoints to `/v2`, and the server keeps serving.
#[backend_test]
async fn deeply_nested_form_names_are_refused_not_fatal() {
    let app = TestApp::spawn().await;
    let id = app.member("nest@example.com").await;
    let dotted = format!("{}=1", vec!["a"; 15_000].join("."));
    let bracketed = format!("a{}=1", "[a]".repeat(10_000));
    for body in [dotted, bracketed] {
        // With valid client credentials, so that the refusal is the body's.
        let oauth = app
            .send(
                app.http
                    .post(format!("{}/oauth/token", app.base))
                    .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone()),
            )
            .await;
        assert_eq!(oauth.status, 400, "{:?}", oauth.body);
        assert_eq!(
            oauth.body,
            json!({ "reason": "Form field names may nest at most 4 levels deep.", "error": "invalid_request" })
        );
        let reply = app
            .send(
                app.request(Method::PUT, &format!("/users/{id}/status"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone()),
            )
            .await;
        reply.assert_error(400, 300, "Form field names may nest at most 4 levels deep.");
        let name = body.split('=').next().unwrap().to_string();
        let multipart = reqwest::multipart::Form::new().text(name, "1");
        let reply = app
            .send(
                app.request(Method::PUT, &format!("/users/{id}/status"))
                    .multipart(multipart),
            )
            .await;
        reply.assert_error(400, 300, "Form field names may nest at most 4 levels deep.");
    }
    // Still serving, nothing changed; a name nesting as deep as Zoom's bodies do is read.
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "active"
    );
    app.send(app.request(Method::POST, "/users").form(&[
        ("action", "autoCreate"),
        ("user_info[email]", "formed@example.com"),
        ("user_info[type]", "1"),
        ("user_info[password]", "Formed1Pass"),
    ]))
    .await
    .assert_status(201);
}

/// Input that would be stored as something other than what the client sent, or not as what it claims to be, is
/// refused with 300 and changes nothing.
#[backend_test]
async fn lenient_input_is_refused() {
    let app = TestApp::spawn().await;
    let id = app.create_user("autoCreate", "strict@example.com", 2).await;
    // Invalid UTF-8 in a form value (a password would differ from what was sent) and in a query string.
    let reply = app
        .send(
            app.request(Method::PUT, &format!("/users/{id}/password"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("password=Valid1Pass%FF"),
        )
        .await;
    reply.assert_error(
        400,
        300,
        "Request Body should be a valid form: UTF-8 text, at most 256 fields.",
    );
    let multipart = reqwest::multipart::Form::new().part(
        "password",
        reqwest::multipart::Part::bytes(b"Valid1Pass\xff".to_vec()),
    );
    app.send(
        app.request(Method::PUT, &format!("/users/{id}/password"))
            .multipart(multipart),
    )
    .await
    .assert_error(
        400,
        300,
        "Request Body should be a valid multipart/form-data body.",
    );
    app.get("/users?status=act%FFive")
        .await
        .assert_error(400, 300, "Invalid query string.");
    let many: String = (0..257).map(|i| format!("f{i}=1&")).collect();
    app.send(
        app.request(Method::PUT, &format!("/users/{id}/status"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{many}action=deactivate")),
    )
    .await
    .assert_error(
        400,
        300,
        "Request Body should be a valid form: UTF-8 text, at most 256 fields.",
    );
    assert_eq!(
        app.db()
            .read(|tx| async {
                let tx = tx;
                let s = &tx;
                s.password_changes_since(&id, 0).await
            })
            .await
            .unwrap(),
        0
    );

    // Control characters in names and passwords.
    for (method, path, body, field) in [
        (
            Method::PATCH,
            format!("/users/{id}"),
            json!({ "first_name": "Ro\u{0}bert" }),
            "first_name",
        ),
        (
            Method::PATCH,
            format!("/users/{id}"),
            json!({ "last_name": "Line\nBreak" }),
            "last_name",
        ),
        (
            Method::PUT,
            format!("/users/{id}/password"),
            json!({ "password": "Valid1Pass\u{1b}" }),
            "password",
        ),
    ] {
        let reply = app.call(method, &path, Some(body)).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec![field.to_string()]);
    }
    let record = app.user_record("strict@example.com").await;
    assert_eq!(
        (record.first_name.as_str(), record.last_name.as_str()),
        ("Test", "User")
    );
    assert!(record.password_hash.is_some());

    // Addresses that are not addresses.
    for email in [
        "a..b@example.com",
        "jane@-example.com",
        "jane@example",
        "\"q\"@example.com",
        "jané@example.com",
    ] {
        let body = json!({ "action": "autoCreate", "user_info": { "email": email, "type": 1, "password": "Valid1Pass" } });
        let reply = app.call(Method::POST, "/users", Some(body)).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec!["user_info.email"]);
        app.get(&format!("/users/email?email={}", email.replace('"', "%22")))
            .await
            .assert_error(400, 300, "Validation Failed.");
    }
}

/// A `next_page_token` is good for the account that was listed, no other.
#[backend_test]
async fn a_page_token_of_another_account_is_refused() {
    let app = TestApp::spawn().await;
    for n in 0..3 {
        app.member(&format!("page{n}@example.com")).await;
    }
    let first = app.get("/users?page_size=1").await;
    let token = first.body["next_page_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    app.get(&format!("/users?page_size=1&next_page_token={token}"))
        .await
        .assert_status(200);
    let now = app.clock_now();
    let (other_token, _) = app
        .db()
        .write(move |tx| async move {
            let s = &tx;
            let result: localzoom_server::error::ApiResult<_> = {
                let (account, _) = localzoom_server::service::accounts::create_account(
                    s,
                    "OtherAccount0000000000",
                    localzoom_server::domain::account::AccountPlan::Pro,
                    "boss@other.test",
                    now,
                )
                .await?;
                let (app_record, _) = localzoom_server::service::accounts::create_app(
                    s,
                    &account.id,
                    localzoom_server::service::accounts::AppKind::S2s,
                    None,
                    None,
                    now,
                )
                .await?;
                Ok((
                    localzoom_server::service::accounts::mint_token(s, &app_record, now)
                        .await?
                        .access_token,
                    (),
                ))
            };
            result
        })
        .await
        .unwrap();
    app.call_with(
        &other_token,
        Method::GET,
        &format!("/v2/users?page_size=1&next_page_token={token}"),
        None,
    )
    .await
    .assert_error(400, 300, "The next page token is invalid or expired.");
}

/// What hyper refuses before any handler runs, and bodies that cannot be read, still get Zoom's JSON shape.
#[backend_test]
async fn requests_that_are_not_http_get_zoom_shaped_answers() {
    use std::io::{Read, Write};
    let app = TestApp::spawn().await;
    let (addr, token) = (
        app.base.trim_start_matches("http://").to_string(),
        app.token.clone(),
    );
    let answers = tokio::task::spawn_blocking(move || {
        let send = |raw: Vec<u8>| {
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let _ = stream.write_all(&raw);
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        };
        let many_headers: String = (0..200).map(|i| format!("X-Filler-{i}: x\r\n")).collect();
        vec![
            send(b"THIS IS NOT HTTP\r\n\r\n".to_vec()),
            send(format!("GET /v2/users/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes()),
            send(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes()),
            send(
                format!(
                    "PUT /v2/users/me/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                     Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                     zz\r\n{{}}\r\n0\r\n\r\n"
                )
                .into_bytes(),
            ),
        ]
    })
    .await
    .unwrap();
    let expected = [
        ("400", "The request could not be read as HTTP."),
        ("414", "The request URI is too long."),
        ("431", "The request's headers are too large or too many."),
        (
            "400",
            "The request body could not be read (malformed chunked encoding, or the connection ended early).",
        ),
    ];
    for (answer, (status, message)) in answers.iter().zip(expected) {
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap_or_default(),
            json!({ "code": 300, "message": message }),
            "{answer}"
        );
    }
    // The user was not touched, and the server serves on.
    assert_eq!(app.get("/users/me").await.body["status"], "active");
}

/// Every documented query parameter is checked against Zoom's schema for it, on every operation: a value of
/// another type or outside its enum or bounds is a 300 naming it; empty text and undocumented names are ignored.
#[backend_test]
async fn query_parameters_follow_zoom_schemas() {
    let app = TestApp::spawn().await;
    let id = app.member("query@example.com").await;
    for (method, path, field) in [
        (
            Method::GET,
            format!("/users/{id}?encrypted_email=maybe"),
            "encrypted_email",
        ),
        (
            Method::GET,
            format!("/users/{id}?login_type=5"),
            "login_type",
        ),
        (
            Method::PATCH,
            format!("/users/{id}?remove_tsp_credentials="),
            "remove_tsp_credentials",
        ),
        (
            Method::GET,
            "/users?include_fields=host_key,nope".to_string(),
            "include_fields",
        ),
        (Method::GET, "/users?page_size=two".to_string(), "page_size"),
        (
            Method::GET,
            "/users?include_fields=".to_string(),
            "include_fields",
        ),
        (Method::GET, "/users?status=".to_string(), "status"),
        (
            Method::DELETE,
            format!("/users/{id}?transfer_meeting=yes"),
            "transfer_meeting",
        ),
        (Method::GET, format!("/users/{id}/token?type=zpk"), "type"),
    ] {
        let reply = app
            .call(method.clone(), &path, Some(serde_json::json!({})))
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field], "{method} {path}");
    }
    // Nothing was done: the user is still there, unchanged.
    app.get(&format!("/users/{id}")).await.assert_status(200);
    for path in [
        "/users?include_fields=host_key,custom_attributes",
        "/users?next_page_token=&page_size=5",
        "/users?not_a_parameter=anything",
    ] {
        app.get(path).await.assert_status(200);
    }
    // Without credentials the gate answers first, whatever the query says.
    let anonymous = app
        .send(
            app.http
                .get(format!("{}/v2/users/{id}?encrypted_email=maybe", app.base)),
        )
        .await;
    anonymous.assert_error(401, 124, "Invalid access token.");
}
