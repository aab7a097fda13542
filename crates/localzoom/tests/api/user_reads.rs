//! `GET /users/summary`, `GET /users/{userId}/permissions`, `GET /users/{userId}/token` and `GET /users/me/zak`.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

fn counts(body: &serde_json::Value) -> [u64; 7] {
    [
        "licensed_users_count",
        "basic_users_count",
        "on_prem_users_count",
        "room_users_count",
        "pending_users_count",
        "join_only_users_count",
        "total_users_count",
    ]
    .map(|name| {
        body[name]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} in {body}"))
    })
}

#[backend_test]
async fn the_summary_counts_the_accounts_users_by_licence_and_follows_changes() {
    let app = TestApp::spawn().await;
    // The owner: licensed and active.
    let reply = app.get("/users/summary").await;
    reply.assert_status(200);
    assert_eq!(counts(&reply.body), [1, 0, 0, 0, 0, 0, 1]);

    app.create_user("autoCreate", "licensed@example.com", 2)
        .await;
    let basic = app.create_user("custCreate", "basic@example.com", 1).await;
    app.create_user("create", "pending@example.com", 1).await;
    app.create_user("custCreate", "joiner@example.com", 4).await;
    app.create_user("custCreate", "room@example.com", 2).await;
    app.edit_user("room@example.com", |u| u.is_zoom_room = true)
        .await;
    // licensed, basic, on-prem, room, pending, join-only, total (pending apart).
    assert_eq!(
        counts(&app.get("/users/summary").await.body),
        [2, 1, 0, 1, 1, 1, 5]
    );

    // A deactivated user is still counted (deactivation leaves a Basic user Basic); a deleted one is gone.
    app.set_status(&basic, "deactivate")
        .await
        .assert_status(204);
    assert_eq!(
        counts(&app.get("/users/summary").await.body),
        [2, 1, 0, 1, 1, 1, 5]
    );
    app.call(
        Method::DELETE,
        &format!("/users/{basic}?action=delete"),
        None,
    )
    .await
    .assert_status(204);
    assert_eq!(
        counts(&app.get("/users/summary").await.body),
        [2, 0, 0, 1, 1, 1, 4]
    );

    // The whole account's summary needs the User:Read privilege: a Member acting for themselves has none.
    let member = app.member("member@example.com").await;
    let token = app.token_for_user(&member).await;
    let refused = app
        .send(
            app.http
                .get(format!("{}/v2/users/summary", app.base))
                .bearer_auth(token),
        )
        .await;
    refused.assert_error(
        400,
        200,
        "Invalid access token. Does not contain permissions [User:Read].",
    );
    // No longer read as a user named "summary".
    assert_ne!(refused.body["code"], 1001);
}

#[backend_test]
async fn permissions_are_the_roles_privileges() {
    let app = TestApp::spawn().await;
    let owner = app.get("/users/me/permissions").await;
    owner.assert_status(200);
    let names: Vec<&str> = owner.body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AccountProfile:Edit",
            "AccountSetting:Edit",
            "AccountSetting:Read",
            "MobileDeviceManagement:Read",
            "User:Edit",
            "User:Read"
        ]
    );
    let member = app.member("member@example.com").await;
    let reply = app.get(&format!("/users/{member}/permissions")).await;
    reply.assert_status(200);
    assert_eq!(reply.body, json!({ "permissions": [] }));
    // Made an admin, the same user holds the admin's privileges.
    app.edit_user("member@example.com", |u| {
        u.role = localzoom_server::domain::user::Role::Admin
    })
    .await;
    assert_eq!(
        app.get("/users/member@example.com/permissions").await.body["permissions"],
        owner.body["permissions"]
    );
    app.get("/users/nobody@example.com/permissions")
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn a_users_token_is_a_zak_or_an_on_behalf_token_and_the_legacy_token_is_refused() {
    let app = TestApp::spawn().await;
    let member = app.member("member@example.com").await;
    let first = app.get(&format!("/users/{member}/token?type=zak")).await;
    first.assert_status(200);
    let second = app
        .get(&format!("/users/{member}/token?type=zak&ttl=7200"))
        .await;
    second.assert_status(200);
    let (a, b) = (
        first.body["token"].as_str().unwrap(),
        second.body["token"].as_str().unwrap(),
    );
    assert!(a.len() >= 32 && a != b, "{a} / {b}");
    let on_behalf = app
        .get(&format!(
            "/users/{member}/token?type=onbehalf&meeting_id=123456"
        ))
        .await;
    on_behalf.assert_status(200);
    let token = on_behalf.body["token"].as_str().unwrap();
    assert!(token.len() >= 32 && token != a && token != b, "{token}");
    // The legacy token, asked for or by default.
    for path in [
        format!("/users/{member}/token"),
        format!("/users/{member}/token?type=token"),
    ] {
        app.get(&path).await.assert_error(
            400,
            300,
            "Token is no longer supported. Please use ZAK token instead.",
        );
    }
    for query in [
        "type=jwt",
        "type=zak&ttl=0",
        "type=zak&ttl=31536001",
        "type=zak&ttl=soon",
    ] {
        let reply = app.get(&format!("/users/{member}/token?{query}")).await;
        reply.assert_error(400, 300, "Validation Failed.");
        let field = query.rsplit('&').next().unwrap().split('=').next().unwrap();
        assert_eq!(reply.error_fields(), [field], "{query}");
    }
    app.get("/users/gone@example.com/token?type=zak")
        .await
        .assert_error(404, 1001, "User does not exist: gone@example.com.");
}

#[backend_test]
async fn the_zak_endpoint_needs_its_own_scopes_and_serves_the_tokens_user() {
    let app = TestApp::spawn().await;
    // The bootstrap app's classic admin scopes do not include the ZAK's.
    app.get("/users/me/zak").await.assert_error(
        400,
        4711,
        "Invalid access token, does not contain scopes:[user:read:zak, user:read:zak:admin].",
    );
    let member = app.member("member@example.com").await;
    let token = app.token_with_scopes(&member, &["user:read:zak"]).await;
    let reply = app
        .send(
            app.http
                .get(format!("{}/v2/users/me/zak", app.base))
                .bearer_auth(&token),
        )
        .await;
    reply.assert_status(200);
    assert!(reply.body["token"].as_str().unwrap().len() >= 32);
    // `/users/me/zak` is its own route, not `GET /users/{userId}` of a user named "me" with a suffix.
    let other = app
        .send(
            app.http
                .get(format!("{}/v2/users/{member}/zak", app.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(other.body["code"], 2300, "{}", other.body);
}

#[backend_test]
async fn personal_meeting_room_names_are_unique_and_can_be_looked_up() {
    let app = TestApp::spawn().await;
    let jill = app.member("jill@example.com").await;
    let jack = app.member("jack@example.com").await;
    let exists = |name: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .get(&format!("/users/vanity_name?vanity_name={name}"))
                .await;
            reply.assert_status(200);
            reply.body["existed"].as_bool().unwrap()
        }
    };
    assert!(!exists("Jill%20Room").await);
    let rename = |user: String, name: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::PATCH,
                &format!("/users/{user}"),
                Some(json!({ "vanity_name": name })),
            )
            .await
        }
    };
    rename(jill.clone(), "Jill Room").await.assert_status(204);
    // Any case finds it.
    assert!(exists("jill%20room").await);
    assert!(!exists("Jack%20Room").await);
    // Zoom-wide unique, whatever the case; the owner of the name may set it again.
    rename(jack.clone(), "JILL ROOM").await.assert_error(
        400,
        4100,
        "User is already taken by another user from your account. Choose another \"Personal Link Name\".",
    );
    rename(jill.clone(), "Jill Room").await.assert_status(204);
    // An empty name clears it, and then someone else may take it.
    rename(jill.clone(), "").await.assert_status(204);
    assert!(!exists("Jill%20Room").await);
    rename(jack, "Jill Room").await.assert_status(204);
    assert!(exists("Jill%20Room").await);
    app.get("/users/vanity_name")
        .await
        .assert_error(400, 300, "Vanity name is required.");
    app.get("/users/vanity_name?vanity_name=%20")
        .await
        .assert_error(400, 300, "Vanity name is required.");
}

/// Earlier versions kept `vanity_name` in the profile JSON; the migration that gives it a column moves it there, on
/// both backends (each has its own SQL for it): run here on a row as those versions left it.
#[backend_test]
async fn the_migration_moves_vanity_names_out_of_the_profile() {
    let app = TestApp::spawn().await;
    let id = app.member("old@example.com").await;
    let old_state = format!(
        "UPDATE users SET vanity_name = NULL, profile = '{{\"job_title\":\"Pilot\",\"vanity_name\":\"Old Room\"}}' \
         WHERE id = '{id}';"
    );
    match app._db.postgres_parts() {
        None => {
            let path = app._db.url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(&old_state).unwrap();
            conn.execute_batch(include_str!(
                "../../../localzoom-server/src/store/migrations/0002_users_vanity_name_from_profile.sqlite.sql"
            ))
            .unwrap();
        }
        Some((base, schema)) => pg_execute(
            &base,
            &format!(
                "SET search_path TO {schema}; {old_state} {}",
                include_str!(
                    "../../../localzoom-server/src/store/migrations/0002_users_vanity_name_from_profile.postgres.sql"
                )
            ),
        ),
    }
    let user = app.user_record("old@example.com").await;
    assert_eq!(user.vanity_name.as_deref(), Some("Old Room"));
    assert_eq!(
        user.profile,
        *json!({ "job_title": "Pilot" }).as_object().unwrap()
    );
    assert!(
        app.get("/users/vanity_name?vanity_name=old%20room")
            .await
            .body["existed"]
            .as_bool()
            .unwrap()
    );
}

#[backend_test]
async fn the_user_list_includes_the_fields_asked_for_and_filters_by_licence() {
    let app = TestApp::spawn().await;
    let id = app.member("fields@example.com").await;
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({
            "host_key": "123456",
            "custom_attributes": [{ "key": "cbf", "name": "Badge", "value": "42" }],
        })),
    )
    .await
    .assert_status(204);
    let listed = |query: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            let reply = app.get(&format!("/users?{query}")).await;
            reply.assert_status(200);
            reply.body["users"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["id"] == id.as_str())
                .cloned()
                .unwrap()
        }
    };
    let plain = listed("").await;
    assert!(plain.get("host_key").is_none() && plain.get("custom_attributes").is_none());
    let with_key = listed("include_fields=host_key").await;
    assert_eq!(with_key["host_key"], "123456");
    assert!(with_key.get("custom_attributes").is_none());
    let with_both = listed("include_fields=custom_attributes,host_key").await;
    assert_eq!(
        with_both["custom_attributes"],
        json!([{ "key": "cbf", "name": "Badge", "value": "42" }])
    );
    assert_eq!(with_both["host_key"], "123456");

    let licensed = app.get("/users?license=zoom_workforce_management").await;
    licensed.assert_status(200);
    assert_eq!(licensed.body["total_records"], 0);
    assert_eq!(licensed.body["users"], json!([]));
    for (query, field) in [
        ("include_fields=phone_numbers", "include_fields"),
        ("license=zoom_phone", "license"),
    ] {
        let reply = app.get(&format!("/users?{query}")).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
}

/// Earlier versions kept one row per (account, status, role) count; the migration that spreads counts over shards
/// keeps every count as it was, and later moves add up with the migrated rows, on both backends: run here on a
/// table as those versions left it.
#[backend_test]
async fn the_migration_to_count_shards_keeps_every_count() {
    let app = TestApp::spawn().await;
    let stays = app.member("stays@example.com").await;
    let leaves = app.member("leaves@example.com").await;
    app.set_status(&leaves, "deactivate")
        .await
        .assert_status(204);
    let totals = || {
        let app = &app;
        async move {
            let mut totals = Vec::new();
            for status in ["active", "inactive", "pending"] {
                let reply = app.get(&format!("/users?status={status}")).await;
                reply.assert_status(200);
                totals.push(reply.body["total_records"].as_u64().unwrap());
            }
            totals
        }
    };
    // The owner and `stays` are active, `leaves` is not.
    assert_eq!(totals().await, [2, 1, 0]);
    let old_table = "CREATE TABLE old_counts AS SELECT account_id, status, role, SUM(n) AS n FROM user_counts \
                     GROUP BY account_id, status, role; \
                     DROP TABLE user_counts; \
                     CREATE TABLE user_counts (account_id TEXT NOT NULL, status TEXT NOT NULL, role TEXT NOT NULL, \
                     n BIGINT NOT NULL, PRIMARY KEY (account_id, status, role)); \
                     INSERT INTO user_counts SELECT account_id, status, role, n FROM old_counts; \
                     DROP TABLE old_counts;";
    match app._db.postgres_parts() {
        None => {
            let path = app._db.url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(old_table).unwrap();
            conn.execute_batch(include_str!(
                "../../../localzoom-server/src/store/migrations/0014_user_counts_shards.sqlite.sql"
            ))
            .unwrap();
        }
        Some((base, schema)) => pg_execute(
            &base,
            &format!(
                "SET search_path TO {schema}; {old_table} {}",
                include_str!(
                    "../../../localzoom-server/src/store/migrations/0014_user_counts_shards.postgres.sql"
                )
            ),
        ),
    }
    assert_eq!(totals().await, [2, 1, 0]);
    app.set_status(&stays, "deactivate")
        .await
        .assert_status(204);
    app.set_status(&leaves, "activate").await.assert_status(204);
    app.member("joins@example.com").await;
    app.set_status(&stays, "activate").await.assert_status(204);
    // The owner, `leaves`, `joins` (added active, as `member` adds) and `stays` again.
    assert_eq!(totals().await, [4, 0, 0]);
}
