use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[backend_test]
async fn deactivate_in_every_body_shape_then_activate() {
    let app = TestApp::spawn().await;
    for (n, shape) in ["json", "multipart", "urlencoded"].into_iter().enumerate() {
        let email = format!("user{n}@example.com");
        let id = app.member(&email).await;
        let path = format!("/users/{id}/status");
        let request = app.request(Method::PUT, &path);
        let request = match shape {
            "json" => request.json(&json!({ "action": "deactivate" })),
            "multipart" => {
                request.multipart(reqwest::multipart::Form::new().text("action", "deactivate"))
            }
            _ => request.form(&[("action", "deactivate")]),
        };
        app.send(request).await.assert_status(204);
        let user = app.get(&format!("/users/{id}")).await;
        assert_eq!(user.body["status"], "inactive", "{shape}");
        // Licences are removed: the user is Basic now.
        assert_eq!(user.body["type"], 1, "{shape}");
    }
    let inactive = app.get("/users?status=inactive").await;
    assert_eq!(inactive.body["total_records"], 3);

    let id = app.user_record("user0@example.com").await.id;
    app.set_status(&id, "activate").await.assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "active"
    );
    // Activating an active user again changes nothing.
    app.set_status(&id, "activate").await.assert_status(204);
    assert_eq!(
        app.get("/users?status=inactive").await.body["total_records"],
        2
    );
}

#[backend_test]
async fn deactivation_ends_sessions_and_kills_tokens_issued_for_the_user() {
    let app = TestApp::spawn().await;
    let id = app.member("leaver@example.com").await;
    app.add_session(&id, 100).await;
    app.add_session(&id, 101).await;
    let user_token = app.token_for_user(&id).await;
    let me = format!("{}/v2/users/me", app.base);
    app.send(app.http.get(&me).bearer_auth(&user_token))
        .await
        .assert_status(200);

    app.set_status(&id, "deactivate").await.assert_status(204);
    assert!(app.sessions(&id).await.iter().all(|s| s.ended_at.is_some()));
    app.send(app.http.get(&me).bearer_auth(&user_token))
        .await
        .assert_error(401, 124, "Invalid access token.");
    // The admin's own token is untouched.
    app.get("/users/me").await.assert_status(200);
}

#[backend_test]
async fn protected_users_and_bad_actions_are_refused_without_change() {
    let app = TestApp::spawn().await;
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = app.member("admin@example.com").await;
    app.edit_user("admin@example.com", |u| {
        u.role = localzoom_server::domain::user::Role::Admin
    })
    .await;
    let room = app.member("room@example.com").await;
    app.edit_user("room@example.com", |u| u.is_zoom_room = true)
        .await;
    for id in [&owner, &admin, &room] {
        for action in ["deactivate", "activate"] {
            app.set_status(id, action).await.assert_error(
                400,
                200,
                "Zoom Room and Admin users' status cannot be activated or deactivated.",
            );
        }
        assert_eq!(
            app.get(&format!("/users/{id}")).await.body["status"],
            "active"
        );
    }

    let host = app.member("host@example.com").await;
    app.edit_user("host@example.com", |u| u.upcoming_zoom_events = true)
        .await;
    app.set_status(&host, "deactivate").await.assert_error(
        400,
        300,
        "You cannot deactivate this user because the user has an upcoming Zoom Events scheduled.",
    );
    assert_eq!(
        app.get(&format!("/users/{host}")).await.body["status"],
        "active"
    );

    for body in [
        json!({}),
        json!({ "action": "suspend" }),
        json!({ "action": 1 }),
    ] {
        let reply = app
            .call(Method::PUT, &format!("/users/{host}/status"), Some(body))
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec!["action"]);
    }
    app.call(
        Method::PUT,
        "/users/ghost@example.com/status",
        Some(json!({ "action": "deactivate" })),
    )
    .await
    .assert_error(404, 1001, "User does not exist: ghost@example.com.");
}

#[backend_test]
async fn clock_in_and_out_leave_status_alone() {
    let app = TestApp::spawn().await;
    let id = app.member("worker@example.com").await;
    for action in ["clock_in", "clock_out"] {
        app.set_status(&id, action).await.assert_status(204);
        assert_eq!(
            app.get(&format!("/users/{id}")).await.body["status"],
            "active"
        );
    }
}

#[backend_test]
async fn activation_beyond_the_basic_user_cap_is_3412() {
    let app = TestApp::spawn().await;
    let a = app.member("a@example.com").await;
    app.set_status(&a, "deactivate").await.assert_status(204);
    // One active Basic user already holds the only Basic seat.
    app.create_user("custCreate", "basic@example.com", 1).await;
    app.edit_account(|acc| acc.max_basic_users = Some(1)).await;
    app.set_status(&a, "activate")
        .await
        .assert_error(
            400,
            3412,
            "Your request to activate the user was not approved at this time because your account has reached \
             the permitted maximum number of 1 \"Basic\" users. Remove the existing \"Basic\" user(s) from your \
             \"Users\" list or the \"Pending Users\" list before attempting to activate this user.",
        );
    assert_eq!(
        app.get(&format!("/users/{a}")).await.body["status"],
        "inactive"
    );
    app.edit_account(|acc| acc.max_basic_users = Some(2)).await;
    app.set_status(&a, "activate").await.assert_status(204);
}

/// Counts the writes of `users` rows from here on: a trigger the test puts on the table adds a row to
/// `user_row_writes` for each row an UPDATE writes.
fn count_user_row_writes(app: &TestApp) {
    let sql = match app._db.postgres_parts() {
        None => {
            "CREATE TABLE user_row_writes (id TEXT); \
             CREATE TRIGGER user_row_written AFTER UPDATE ON users \
             BEGIN INSERT INTO user_row_writes VALUES (new.id); END;"
        }
        Some(_) => {
            "CREATE TABLE user_row_writes (id TEXT); \
             CREATE FUNCTION note_user_row_write() RETURNS trigger AS \
             $$ BEGIN INSERT INTO user_row_writes VALUES (NEW.id); RETURN NULL; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER user_row_written AFTER UPDATE ON users \
             FOR EACH ROW EXECUTE FUNCTION note_user_row_write();"
        }
    };
    execute_sql(app, sql);
}

/// How many writes of the user's row `count_user_row_writes` has seen.
fn user_row_writes(db: &TestDatabase, id: &str) -> i64 {
    match db.postgres_parts() {
        None => rusqlite::Connection::open(db.url.trim_start_matches("sqlite://"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM user_row_writes WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .unwrap(),
        Some((base, schema)) => {
            let (sql, id) = (
                format!("SELECT count(*) FROM {schema}.user_row_writes WHERE id = $1"),
                id.to_string(),
            );
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
                client.query_one(&sql, &[&id]).unwrap().get(0)
            })
            .join()
            .unwrap()
        }
    }
}

/// A write that changes nothing writes no row: deactivating an inactive user again leaves its row as it is, where
/// each change of status wrote it once.
#[backend_test]
async fn deactivating_an_inactive_user_again_writes_no_row() {
    let app = TestApp::spawn().await;
    let id = app.member("idle@example.com").await;
    count_user_row_writes(&app);

    app.set_status(&id, "deactivate").await.assert_status(204);
    assert_eq!(user_row_writes(&app._db, &id), 1);
    app.set_status(&id, "deactivate").await.assert_status(204);
    assert_eq!(user_row_writes(&app._db, &id), 1);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "inactive"
    );

    app.set_status(&id, "activate").await.assert_status(204);
    assert_eq!(user_row_writes(&app._db, &id), 2);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "active"
    );
}
