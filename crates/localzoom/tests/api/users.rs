use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[backend_test]
async fn create_actions_set_status_and_login_type() {
    let app = TestApp::spawn().await;
    for (action, email, status, login_type) in [
        ("create", "pending@example.com", "pending", 100),
        ("autoCreate", "auto@example.com", "active", 100),
        ("custCreate", "api@example.com", "active", 99),
        ("ssoCreate", "sso@example.com", "active", 101),
    ] {
        let reply = app
            .call(
                Method::POST,
                "/users",
                Some(json!({ "action": action, "user_info": {
                    "email": email, "type": 2, "first_name": "Jane", "last_name": "Doe", "password": "Initial1Pass" } })),
            )
            .await;
        reply.assert_status(201);
        let id = reply.body["id"].as_str().unwrap();
        assert_eq!(
            reply.body,
            json!({ "id": id, "first_name": "Jane", "last_name": "Doe", "email": email, "type": 2 })
        );
        let user = app.get(&format!("/users/{id}")).await;
        assert_eq!(user.body["status"], status, "{action}");
        assert_eq!(user.body["login_types"], json!([login_type]), "{action}");
        assert_eq!(user.body["display_name"], "Jane Doe");
        assert_eq!(user.body["role_name"], "Member");
    }
    // autoCreate stored the given password.
    assert!(
        app.user_record("auto@example.com")
            .await
            .password_hash
            .is_some()
    );
    // A pending user has no id in the list, and its created_at is the time of the call.
    app.clock.advance_ms(60_000);
    let pending = app.get("/users?status=pending").await;
    assert_eq!(pending.body["users"][0]["email"], "pending@example.com");
    assert!(pending.body["users"][0].get("id").is_none());
    let pending_user = app.get("/users/pending@example.com").await;
    assert_eq!(pending_user.body["created_at"], "2026-01-01T00:01:00Z");
    assert_eq!(pending_user.body["user_created_at"], "2026-01-01T00:00:00Z");
}

#[backend_test]
async fn create_validation_and_conflicts() {
    let app = TestApp::spawn().await;
    app.create_user("create", "taken@example.com", 1).await;
    app.call(
        Method::POST,
        "/users",
        Some(
            json!({ "action": "create", "user_info": { "email": "TAKEN@example.com", "type": 1 } }),
        ),
    )
    .await
    .assert_error(
        409,
        1005,
        "Email \"TAKEN@example.com\" has already been used.",
    );

    let reply = app
        .call(
            Method::POST,
            "/users",
            Some(
                json!({ "action": "create", "user_info": { "email": "not-an-email", "type": 7 } }),
            ),
        )
        .await;
    reply.assert_error(400, 300, "Validation Failed.");
    assert_eq!(
        reply.error_fields(),
        vec!["user_info.email", "user_info.type"]
    );

    let reply = app
        .call(
            Method::POST,
            "/users",
            Some(json!({ "user_info": { "email": "x@example.com", "type": 1 } })),
        )
        .await;
    assert_eq!(reply.error_fields(), vec!["action"]);
    let reply = app
        .call(Method::POST, "/users", Some(json!({ "action": "create", "user_info": { "email": "x@example.com", "type": 1, "first_name": "x".repeat(65) } })))
        .await;
    assert_eq!(reply.error_fields(), vec!["user_info.first_name"]);
    app.call(Method::POST, "/users", Some(json!({ "action": "autoCreate", "user_info": { "email": "x@example.com", "type": 1, "password": "weak" } })))
        .await
        .assert_error(400, 300, "Invalid parameter: password");
    // Nothing was created by the refusals.
    assert_eq!(
        app.get("/users/email?email=x@example.com").await.body,
        json!({ "existed_email": false })
    );
    // Unknown fields are ignored.
    app.call(Method::POST, "/users", Some(json!({ "action": "create", "extra": 1, "user_info": { "email": "x@example.com", "type": 1, "nickname": "x" } })))
        .await
        .assert_status(201);
}

#[backend_test]
async fn lookup_by_id_email_and_me_within_the_account_only() {
    let app = TestApp::spawn().await;
    let id = app.member("Jane.Doe@Example.com").await;
    let account = app
        .db()
        .read(|tx| async {
            let tx = tx;
            let s = &tx;
            s.account(ACCOUNT_ID).await
        })
        .await
        .unwrap()
        .unwrap();
    for reference in [id.as_str(), "jane.doe@example.com", "JANE.DOE@EXAMPLE.COM"] {
        let user = app.get(&format!("/users/{reference}")).await;
        user.assert_status(200);
        assert_eq!(user.body["id"], id.as_str());
        assert_eq!(user.body["email"], "Jane.Doe@Example.com");
        assert_eq!(user.body["account_id"], ACCOUNT_ID);
        assert_eq!(user.body["account_number"], account.account_number);
    }
    // A user of another account is indistinguishable from a missing one.
    let outsider = localzoom_server::crypto::new_id();
    let outsider_id = outsider.clone();
    app.db()
        .write(move |tx| async move {
            let s = &tx;

            let mut account = s.account(ACCOUNT_ID).await?.unwrap();
            account.id = "OtherAccount".into();
            s.insert_account(&account).await?;
            let mut user = s
                .user_by_email(ACCOUNT_ID, "jane.doe@example.com")
                .await?
                .unwrap();
            user.id = outsider_id;
            user.account_id = "OtherAccount".into();
            user.email = "outsider@example.com".into();
            // PMIs are unique across accounts (a unique index): the copy needs its own.
            user.pmi += 1;
            s.insert_user(&user).await
        })
        .await
        .unwrap();
    app.get(&format!("/users/{outsider}")).await.assert_error(
        404,
        1001,
        &format!("User does not exist: {outsider}."),
    );
    app.get("/users/outsider@example.com").await.assert_error(
        404,
        1001,
        "User does not exist: outsider@example.com.",
    );
    app.set_status(&outsider, "deactivate").await.assert_error(
        404,
        1001,
        &format!("User does not exist: {outsider}."),
    );
    assert_eq!(
        app.get("/users/email?email=outsider@example.com")
            .await
            .body,
        json!({ "existed_email": false })
    );
}

#[backend_test]
async fn list_pages_with_tokens_stable_under_inserts() {
    let app = TestApp::spawn().await;
    for n in 0..6 {
        app.member(&format!("u{n}@example.com")).await;
    }
    let first = app.get("/users?page_size=3").await;
    assert_eq!(first.body["total_records"], 7);
    assert_eq!(first.body["page_count"], 3);
    assert_eq!(first.body["page_size"], 3);
    assert_eq!(first.body["page_number"], 1);
    let emails = |reply: &Reply| -> Vec<String> {
        reply.body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        emails(&first),
        vec![OWNER_EMAIL, "u0@example.com", "u1@example.com"]
    );
    let token = first.body["next_page_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());

    // A user created between pages does not shift what comes next.
    app.member("late@example.com").await;
    let second = app
        .get(&format!("/users?page_size=3&next_page_token={token}"))
        .await;
    assert_eq!(
        emails(&second),
        vec!["u2@example.com", "u3@example.com", "u4@example.com"]
    );
    assert_eq!(second.body["page_number"], 2);
    let token = second.body["next_page_token"].as_str().unwrap().to_string();
    let third = app
        .get(&format!("/users?page_size=3&next_page_token={token}"))
        .await;
    assert_eq!(emails(&third), vec!["u5@example.com", "late@example.com"]);
    assert_eq!(third.body["next_page_token"], "");

    // Legacy page_number paging.
    let page2 = app.get("/users?page_size=3&page_number=2").await;
    assert_eq!(
        emails(&page2),
        vec!["u2@example.com", "u3@example.com", "u4@example.com"]
    );

    // Tokens expire after 15 minutes; forged ones never work.
    app.clock.advance_ms(15 * 60 * 1000 + 1);
    app.get(&format!("/users?page_size=3&next_page_token={token}"))
        .await
        .assert_error(400, 300, "The next page token is invalid or expired.");
    app.get("/users?next_page_token=forged").await.assert_error(
        400,
        300,
        "The next page token is invalid or expired.",
    );
    app.get("/users?status=gone")
        .await
        .assert_error(400, 300, "Validation Failed.");
    app.get("/users?page_size=0")
        .await
        .assert_error(400, 300, "Validation Failed.");
    // Default page size 30, and at most 2000: beyond it, S1's schema refuses the request.
    assert_eq!(app.get("/users").await.body["page_size"], 30);
    assert_eq!(
        app.get("/users?page_size=2000").await.body["page_size"],
        2000
    );
    let over = app.get("/users?page_size=2001").await;
    over.assert_error(400, 300, "Validation Failed.");
    assert_eq!(over.error_fields(), ["page_size"]);
    let owners = app.get("/users?role_id=0").await;
    assert_eq!(emails(&owners), vec![OWNER_EMAIL]);
}

/// A `PATCH` writes only the columns it changes, with a statement per set of columns (up to a bound, then every
/// column): across every subset of seven fields, each write shows in the next read and leaves the others as they were.
#[backend_test]
async fn patches_of_every_subset_of_fields_change_those_fields_and_no_other() {
    let app = TestApp::spawn().await;
    let id = app.member("subsets@example.com").await;
    let fields = [
        "first_name",
        "last_name",
        "display_name",
        "dept",
        "language",
        "company",
        "use_pmi",
    ];
    let value = |field: &str, n: u32| match field {
        "language" => json!(["en-US", "de-DE", "fr-FR"][n as usize % 3]),
        "use_pmi" => json!(n % 2 == 1),
        _ => json!(format!("{field} {n}")),
    };
    let mut expected = app.get(&format!("/users/{id}")).await.body;
    for subset in 1..(1u32 << fields.len()) {
        let mut body = serde_json::Map::new();
        for (bit, field) in fields.iter().enumerate() {
            if subset & (1 << bit) != 0 {
                body.insert(field.to_string(), value(field, subset));
            }
        }
        app.call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(Value::Object(body.clone())),
        )
        .await
        .assert_status(204);
        for (field, value) in body {
            expected[field.as_str()] = value;
        }
        let user = app.get(&format!("/users/{id}")).await.body;
        for field in fields {
            assert_eq!(
                user[field], expected[field],
                "{field} after subset {subset:#b}"
            );
        }
    }
}

#[backend_test]
async fn patch_updates_what_get_shows() {
    let app = TestApp::spawn().await;
    let id = app.member("p@example.com").await;
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "id": id, "first_name": "Pat", "last_name": "Lee", "company": "Acme", "job_title": "CTO",
                     "timezone": "Europe/Berlin", "pmi": 1234567890, "use_pmi": true, "type": 1, "unknown": [1] })),
    )
    .await
    .assert_status(204);
    let user = app.get(&format!("/users/{id}")).await;
    for (field, value) in [
        ("first_name", json!("Pat")),
        ("last_name", json!("Lee")),
        ("company", json!("Acme")),
        ("job_title", json!("CTO")),
        ("timezone", json!("Europe/Berlin")),
        ("pmi", json!(1234567890)),
        ("use_pmi", json!(true)),
        ("type", json!(1)),
    ] {
        assert_eq!(user.body[field], value, "{field}");
    }
    assert!(user.body.get("unknown").is_none());

    for (body, field) in [
        (json!({ "first_name": 5 }), "first_name"),
        (json!({ "pmi": 12 }), "pmi"),
        (json!({ "type": 9 }), "type"),
        (json!({ "use_pmi": "maybe" }), "use_pmi"),
        (json!({ "last_name": "x".repeat(65) }), "last_name"),
    ] {
        let reply = app
            .call(Method::PATCH, &format!("/users/{id}"), Some(body))
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec![field]);
    }
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "linkedin_url": "https://example.com/me" })),
    )
    .await
    .assert_error(
        400,
        300,
        "The `linkedin_url` field is illegal. The URL must contain `linkedin.com`.",
    );
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["first_name"],
        "Pat"
    );
}

#[backend_test]
async fn delete_and_disassociate() {
    let app = TestApp::spawn().await;
    // Managed domain is the owner's: example.com.
    let managed = app.member("m@example.com").await;
    app.call(Method::DELETE, &format!("/users/{managed}"), None)
        .await
        .assert_error(
            400,
            1107,
            "You can not disassociate a user with managed domain.",
        );
    let outside = app.member("x@elsewhere.test").await;
    app.call(Method::DELETE, &format!("/users/{outside}"), None)
        .await
        .assert_status(204);
    app.get(&format!("/users/{outside}")).await.assert_error(
        404,
        1001,
        &format!("User does not exist: {outside}."),
    );
    let pending = app.create_user("create", "invitee@example.com", 1).await;
    app.call(
        Method::DELETE,
        &format!("/users/{pending}?action=disassociate"),
        None,
    )
    .await
    .assert_status(204);

    let a = app.member("a@example.com").await;
    app.call(
        Method::POST,
        &format!("/users/{managed}/assistants"),
        Some(json!({ "assistants": [{ "id": a }] })),
    )
    .await
    .assert_status(201);
    app.call(Method::DELETE, &format!("/users/{a}?action=delete"), None)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{managed}/assistants")).await.body,
        json!({ "assistants": [] })
    );
    // The e-mail can be used again.
    app.create_user("create", "a@example.com", 1).await;

    app.call(Method::DELETE, "/users/me?action=delete", None)
        .await
        .assert_error(400, 200, "Cannot delete a user out of your account.");
    app.call(
        Method::DELETE,
        &format!("/users/{managed}?action=erase"),
        None,
    )
    .await
    .assert_error(400, 300, "Validation Failed.");
    app.edit_user("m@example.com", |u| {
        u.role = localzoom_server::domain::user::Role::Admin
    })
    .await;
    app.edit_user("m@example.com", |u| u.email = "m@partner.test".into())
        .await;
    app.call(Method::DELETE, &format!("/users/{managed}"), None)
        .await
        .assert_error(400, 1117, "You can not disassociate an Admin user.");
}

#[backend_test]
async fn email_check() {
    let app = TestApp::spawn().await;
    app.member("e@example.com").await;
    app.create_user("ssoCreate", "sso@example.com", 2).await;
    for (email, existed) in [
        ("E@example.com", true),
        ("sso@example.com", false),
        ("none@example.com", false),
    ] {
        // SSO sign-ups are not e-mail users.
        let reply = app.get(&format!("/users/email?email={email}")).await;
        assert_eq!(reply.body, json!({ "existed_email": existed }), "{email}");
    }
    app.get("/users/email")
        .await
        .assert_error(400, 300, "Email is required.");
}

#[backend_test]
async fn security_settings_round_trip_and_validation() {
    let app = TestApp::spawn().await;
    let initial = app
        .get(&format!("/accounts/{ACCOUNT_ID}/settings?option=security"))
        .await;
    initial.assert_status(200);
    assert_eq!(
        initial.body["security"]["password_requirement"],
        json!({ "minimum_password_length": 0, "have_special_character": false,
                "consecutive_characters_length": 0, "weak_enhance_detection": false })
    );
    app.call(
        Method::PATCH,
        &format!("/accounts/{ACCOUNT_ID}/settings?option=security"),
        Some(json!({ "security": { "password_requirement": { "have_special_character": true } } })),
    )
    .await
    .assert_status(204);
    let after: Value = app.get("/accounts/me/settings?option=security").await.body;
    assert_eq!(
        after["security"]["password_requirement"]["have_special_character"],
        true
    );
    assert_eq!(
        after["security"]["password_requirement"]["minimum_password_length"],
        0
    );

    for (body, field) in [
        (
            json!({ "security": { "password_requirement": { "minimum_password_length": 3 } } }),
            "security.password_requirement.minimum_password_length",
        ),
        (
            json!({ "security": { "password_requirement": { "consecutive_characters_length": 9 } } }),
            "security.password_requirement.consecutive_characters_length",
        ),
        (
            json!({ "security": { "password_requirement": { "weak_enhance_detection": "yes" } } }),
            "security.password_requirement.weak_enhance_detection",
        ),
    ] {
        let reply = app
            .call(
                Method::PATCH,
                "/accounts/me/settings?option=security",
                Some(body),
            )
            .await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), vec![field]);
    }
    app.get("/accounts/SomeoneElse/settings?option=security")
        .await
        .assert_error(404, 2001, "Account does not exist: SomeoneElse.");
}

#[backend_test]
async fn the_basic_user_cap_also_bounds_creation_and_type_changes() {
    let app = TestApp::spawn().await;
    app.edit_account(|a| a.max_basic_users = Some(1)).await;
    app.create_user("create", "first@example.com", 1).await;
    app.call(Method::POST, "/users", Some(json!({ "action": "create", "user_info": { "email": "second@example.com", "type": 1 } })))
        .await
        .assert_error(
            400,
            3412,
            "Your request to add a basic user couldn't be approved at this time because your account has reached \
             the permitted maximum number of 1 basic users. Please remove existing basic user(s) from your Users \
             list or the Pending Users list before attempting to add another user.",
        );
    assert_eq!(
        app.get("/users/email?email=second@example.com").await.body,
        json!({ "existed_email": false })
    );
    let licensed = app.member("licensed@example.com").await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/users/{licensed}"),
            Some(json!({ "type": 1 })),
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.body["code"].clone()),
        (400, json!(3412))
    );
    assert_eq!(app.get(&format!("/users/{licensed}")).await.body["type"], 2);
}

#[backend_test]
async fn api_users_and_zoom_rooms_cannot_be_removed_that_way() {
    let app = TestApp::spawn().await;
    let api = app.create_user("custCreate", "api@partner.test", 2).await;
    app.call(Method::DELETE, &format!("/users/{api}"), None)
        .await
        .assert_error(400, 300, "Unable to unlink API user(s).");
    app.call(Method::DELETE, &format!("/users/{api}?action=delete"), None)
        .await
        .assert_status(204);
    let room = app.member("room@example.com").await;
    app.edit_user("room@example.com", |u| u.is_zoom_room = true)
        .await;
    app.call(
        Method::DELETE,
        &format!("/users/{room}?action=delete"),
        None,
    )
    .await
    .assert_error(400, 200, "Cannot delete a Zoom Rooms user.");
    app.get(&format!("/users/{room}")).await.assert_status(200);
}

#[backend_test]
async fn absurd_page_numbers_are_refused_not_crashed_on() {
    let app = TestApp::spawn().await;
    let reply = app
        .get("/users?page_size=2000&page_number=18446744073709551615")
        .await;
    reply.assert_error(400, 300, "Validation Failed.");
    assert_eq!(reply.error_fields(), vec!["page_number"]);
    assert_eq!(
        app.get("/users?page_number=99999").await.body["users"],
        json!([])
    );
}

#[backend_test]
async fn get_shows_only_zooms_profile_fields() {
    let app = TestApp::spawn().await;
    let id = app.member("p@example.com").await;
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "company": "Acme", "host_key": "123456", "about_me": "Hello", "linkedin_url": "https://linkedin.com/in/p", "vanity_name": "pat" })),
    )
    .await
    .assert_status(204);
    let user = app.get(&format!("/users/{id}")).await.body;
    assert_eq!(user["company"], "Acme");
    for hidden in ["host_key", "about_me", "linkedin_url", "vanity_name"] {
        assert!(user.get(hidden).is_none(), "{hidden} must not be shown");
    }
}

#[backend_test]
async fn auto_create_passwords_meet_the_accounts_requirements() {
    let app = TestApp::spawn().await;
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(json!({ "security": { "password_requirement": { "have_special_character": true } } })),
    )
    .await
    .assert_status(204);
    let body = |password: &str| json!({ "action": "autoCreate", "user_info": { "email": "a@example.com", "type": 2, "password": password } });
    app.call(Method::POST, "/users", Some(body("Initial1Pass")))
        .await
        .assert_error(400, 300, "Invalid parameter: password");
    app.call(Method::POST, "/users", Some(body("Initial1Pass!")))
        .await
        .assert_status(201);
}

#[backend_test]
async fn nested_fields_can_be_sent_as_forms() {
    let app = TestApp::spawn().await;
    let form = app.request(Method::POST, "/users").form(&[
        ("action", "create"),
        ("user_info[email]", "form@example.com"),
        ("user_info[type]", "2"),
        ("user_info[first_name]", "Form"),
    ]);
    let created = app.send(form).await;
    created.assert_status(201);
    assert_eq!(created.body["first_name"], "Form");
    let multipart = reqwest::multipart::Form::new()
        .text("action", "custCreate")
        .text("user_info.email", "multi@example.com")
        .text("user_info.type", "2");
    let boss = app
        .send(app.request(Method::POST, "/users").multipart(multipart))
        .await;
    boss.assert_status(201);
    let boss = boss.body["id"].as_str().unwrap().to_string();
    let helper = app.member("helper@example.com").await;
    let assistants =
        reqwest::multipart::Form::new().text("assistants", format!(r#"[{{"id":"{helper}"}}]"#));
    app.send(
        app.request(Method::POST, &format!("/users/{boss}/assistants"))
            .multipart(assistants),
    )
    .await
    .assert_status(201);
    assert_eq!(
        app.get(&format!("/users/{boss}/assistants")).await.body["assistants"][0]["id"],
        helper.as_str()
    );
}

/// Nested fields are typed as Zoom's schema types them: a wrong type or an unknown label is a 300, extra fields are
/// dropped, and what a later `GET` returns is valid against the schema.
#[backend_test]
async fn phone_numbers_and_custom_attributes_are_stored_as_zoom_types_them() {
    let app = TestApp::spawn().await;
    let id = app.member("typed@example.com").await;
    let patch = |body: Value| {
        let app = &app;
        let path = format!("/users/{id}");
        async move { app.call(Method::PATCH, &path, Some(body)).await }
    };
    for (body, field) in [
        (
            json!({ "phone_numbers": [{ "label": "Pager" }] }),
            "phone_numbers",
        ),
        (
            json!({ "phone_numbers": [{ "number": 5550100 }] }),
            "phone_numbers",
        ),
        (json!({ "phone_numbers": "+1 555 0100" }), "phone_numbers"),
        (
            json!({ "phone_numbers": [{}, {}, {}, {}] }),
            "phone_numbers",
        ),
        (
            json!({ "custom_attributes": [{ "value": 42 }] }),
            "custom_attributes",
        ),
        (
            json!({ "custom_attributes": [{}, {}, {}, {}, {}, {}] }),
            "custom_attributes",
        ),
    ] {
        let reply = patch(body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
    patch(json!({
        "phone_numbers": [{ "code": "+1", "country": "US", "label": "Mobile", "number": "5550100", "extra": true }],
        "custom_attributes": [{ "key": "k", "name": "Badge", "value": "42" }],
    }))
    .await
    .assert_status(204);
    let user = app.get(&format!("/users/{id}")).await;
    assert_eq!(
        user.body["phone_numbers"],
        json!([{ "code": "+1", "country": "US", "label": "Mobile", "number": "5550100" }])
    );
    assert_eq!(
        user.body["custom_attributes"],
        json!([{ "key": "k", "name": "Badge", "value": "42" }])
    );
}

#[backend_test]
async fn deleting_a_user_checks_where_its_data_would_go() {
    let app = TestApp::spawn().await;
    let leaving = app.member("leaving@example.com").await;
    app.member("heir@example.com").await;
    let delete = |query: &'static str| {
        let app = &app;
        let path = format!("/users/{leaving}?action=delete&{query}");
        async move { app.call(Method::DELETE, &path, None).await }
    };
    delete("transfer_email=LEAVING@example.com").await.assert_error(
        400,
        300,
        "The transfer-to email address cannot be the same as the unlinked or deleted user's email address.",
    );
    delete("transfer_email=stranger@example.com")
        .await
        .assert_error(404, 1001, "User does not exist: stranger@example.com.");
    for (query, field) in [
        ("transfer_email=not-an-address", "transfer_email"),
        (
            "transfer_email=heir@example.com&transfer_meeting=yes",
            "transfer_meeting",
        ),
    ] {
        let reply = delete(query).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field], "{query}");
    }
    // A user with published Zoom Events needs somewhere for them to go.
    app.edit_user("leaving@example.com", |u| u.upcoming_zoom_events = true)
        .await;
    delete("").await.assert_error(
        400,
        300,
        "This user has published events on Zoom Events and you do not specify a target user to transfer data.",
    );
    app.get(&format!("/users/{leaving}"))
        .await
        .assert_status(200);
    delete("transfer_email=heir@example.com&transfer_meeting=true")
        .await
        .assert_status(204);
    app.get(&format!("/users/{leaving}")).await.assert_error(
        404,
        1001,
        &format!("User does not exist: {leaving}."),
    );
}

/// Every field of Zoom's `PATCH` schema is stored (and shown where `GET`'s schema has it) or refused; none is
/// accepted and dropped.
#[backend_test]
async fn licence_fields_change_one_at_a_time_and_unknown_references_are_refused() {
    let app = TestApp::spawn().await;
    let id = app.member("fields@example.com").await;
    let patch = |body: Value| {
        let app = &app;
        let path = format!("/users/{id}");
        async move { app.call(Method::PATCH, &path, Some(body)).await }
    };
    patch(json!({ "type": 2, "zoom_one_type": 16 })).await.assert_error(
        400,
        300,
        "You can't change the \"type\" or \"plan_united_type\" or \"zoom_one_type\" at the same time.",
    );
    patch(json!({ "plan_united_type": "3" })).await.assert_error(
        400,
        300,
        "The value provided for \"plan_united_type\" parameter is invalid. Try again with a valid value.",
    );
    patch(json!({ "license_info_list": [
        { "license_type": "MEETING", "license_option": 2, "subscription_id": "sub-1" }
    ] }))
    .await
    .assert_error(
        400,
        300,
        "The subscription \"sub-1\" you entered does not exist. Please choose a different subscription and try again.",
    );
    for (body, field) in [
        (json!({ "zoom_one_type": 17 }), "zoom_one_type"),
        (
            json!({ "license_info_list": [{ "license_type": "PHONE", "license_option": 2, "subscription_id": "s" }] }),
            "license_info_list",
        ),
        (
            json!({ "license_info_list": [{ "license_type": "MEETING" }] }),
            "license_info_list",
        ),
        (json!({ "group_id": "g-1" }), "group_id"),
        (json!({ "division_ids": ["d-1"] }), "division_ids"),
        (json!({ "feature": { "zoom_phone": "yes" } }), "feature"),
    ] {
        let reply = patch(body).await;
        reply.assert_error(400, 300, "Validation Failed.");
        assert_eq!(reply.error_fields(), [field]);
    }
    for body in [
        json!({ "zoom_one_type": 16 }),
        json!({ "plan_united_type": "none" }),
        json!({ "phone_country": "US", "phone_number": "5550100", "feature": { "zoom_phone": true } }),
    ] {
        patch(body).await.assert_status(204);
    }
    let user = app.get(&format!("/users/{id}")).await.body;
    assert_eq!(
        (
            &user["zoom_one_type"],
            &user["plan_united_type"],
            &user["phone_country"],
            &user["phone_number"]
        ),
        (&json!(16), &json!("none"), &json!("US"), &json!("5550100"))
    );
    // `feature` is not in `GET`'s schema: kept, not shown.
    assert!(user.get("feature").is_none());
    assert_eq!(
        app.user_record("fields@example.com").await.profile["feature"],
        json!({ "zoom_phone": true })
    );
}

/// S1 limits names by characters and, apart, by Chinese characters: 5 in first and last names, 10 in display names.
#[backend_test]
async fn chinese_characters_in_names_have_their_own_limit() {
    let app = TestApp::spawn().await;
    let created = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "action": "custCreate",
                "user_info": { "email": "cn@example.com", "type": 1, "first_name": "张三丰小明华" },
            })),
        )
        .await;
    created.assert_error(400, 300, "Validation Failed.");
    assert_eq!(created.error_fields(), ["user_info.first_name"]);
    let id = app.member("cn@example.com").await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "display_name": "张三丰小明华张三丰小明" })),
        )
        .await;
    reply.assert_error(400, 300, "Validation Failed.");
    assert_eq!(reply.error_fields(), ["display_name"]);
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "first_name": "张三丰小明", "display_name": "张三丰小明华张三丰小" })),
    )
    .await
    .assert_status(204);
    let user = app.get(&format!("/users/{id}")).await.body;
    assert_eq!(
        (user["first_name"].as_str(), user["display_name"].as_str()),
        (Some("张三丰小明"), Some("张三丰小明华张三丰小"))
    );
}

#[backend_test]
async fn sso_create_needs_the_accounts_sso() {
    let app = TestApp::spawn().await;
    let sso = |enable: bool| json!({ "security": { "signin_with_sso": { "enable": enable } } });
    let create = || {
        app.call(
            Method::POST,
            "/users",
            Some(json!({ "action": "ssoCreate", "user_info": { "email": "pre@example.com", "type": 1 } })),
        )
    };
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(sso(false)),
    )
    .await
    .assert_status(204);
    create().await.assert_error(
        400,
        2002,
        "SSO has not been enabled for this account. Contact the Zoom support team to enable this option.",
    );
    app.get("/users/pre@example.com").await.assert_error(
        404,
        1001,
        "User does not exist: pre@example.com.",
    );
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(json!({ "security": { "signin_with_sso": { "enable": "yes" } } })),
    )
    .await
    .assert_error(400, 300, "Validation Failed.");
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(sso(true)),
    )
    .await
    .assert_status(204);
    create().await.assert_status(201);
    assert_eq!(
        app.get("/users/pre@example.com").await.body["status"],
        "active"
    );
}
