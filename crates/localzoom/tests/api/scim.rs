//! SCIM 2.0 at `/scim2/Users`, as an HR system's provisioning drives it: the same users as `/v2`, SCIM's media
//! type and error objects, Zoom's filters and messages.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn scim(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let reply = app
        .call_with(&app.token, method, &format!("/scim2/Users{path}"), body)
        .await;
    if reply.status != 204 {
        assert_eq!(
            reply.headers["content-type"], "application/scim+json",
            "{path}"
        );
    }
    reply
}

/// A SCIM error: RFC 7644's object (strict SCIM clients refuse anything more).
fn assert_scim_error(reply: &Reply, status: u16, detail: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        (
            &reply.body["schemas"][0],
            &reply.body["status"],
            &reply.body["detail"]
        ),
        (&json!(ERROR), &json!(status.to_string()), &json!(detail)),
    );
    let names: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    assert!(
        names
            .iter()
            .all(|n| ["schemas", "status", "detail", "scimType"].contains(&n.as_str())),
        "{names:?}"
    );
}

fn new_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "name": { "givenName": "Ada", "familyName": "Lovelace" },
        "displayName": "Ada Lovelace",
        "title": "Engineer",
        "phoneNumbers": [{ "type": "work", "value": "+1 555 0100" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "R&D", "employeeNumber": "42" },
    })
}

async fn create(app: &TestApp, email: &str) -> Value {
    let reply = scim(app, Method::POST, "", Some(new_user(email))).await;
    reply.assert_status(201);
    reply.body
}

#[backend_test]
async fn a_scim_user_is_a_zoom_user() {
    let app = TestApp::spawn().await;
    let reply = scim(&app, Method::POST, "", Some(new_user("ada@example.com"))).await;
    reply.assert_status(201);
    let user = reply.body;
    let id = user["id"].as_str().unwrap().to_string();
    let location = format!("{}/scim2/Users/{id}", app.base);
    assert_eq!(reply.headers["location"], location.as_str());
    assert_eq!(user["meta"]["location"], location.as_str());
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(
        (
            &user["userName"],
            &user["active"],
            &user["userType"],
            &user["displayName"]
        ),
        (
            &json!("ada@example.com"),
            &json!(true),
            &json!("Basic"),
            &json!("Ada Lovelace")
        )
    );
    assert_eq!(
        user["name"],
        json!({ "givenName": "Ada", "familyName": "Lovelace" })
    );
    assert_eq!(
        user["emails"],
        json!([{ "type": "work", "value": "ada@example.com", "primary": true }])
    );
    assert_eq!(user["title"], "Engineer");
    assert_eq!(
        user["phoneNumbers"],
        json!([{ "type": "work", "value": "+1 555 0100" }])
    );
    assert_eq!(
        user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        json!({ "department": "R&D", "employeeNumber": "42" })
    );
    assert_eq!(
        user["urn:us:zoom:scim:schemas:extension:1.0:ZoomUser"]["loginType"],
        json!({ "workEmail": false, "sso": true })
    );
    // The same user through SCIM and the REST API.
    assert_eq!(
        scim(&app, Method::GET, &format!("/{id}"), None).await.body,
        user
    );
    let zoom = app.get(&format!("/users/{id}")).await;
    zoom.assert_status(200);
    assert_eq!(
        (
            &zoom.body["email"],
            &zoom.body["first_name"],
            &zoom.body["status"],
            &zoom.body["dept"]
        ),
        (
            &json!("ada@example.com"),
            &json!("Ada"),
            &json!("active"),
            &json!("R&D")
        )
    );
    assert_eq!(zoom.body["login_types"], json!([101]));
    assert_eq!(zoom.body["job_title"], "Engineer");
    // A REST change shows in SCIM.
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "first_name": "Augusta" })),
    )
    .await
    .assert_status(204);
    assert_eq!(
        scim(&app, Method::GET, &format!("/{id}"), None).await.body["name"]["givenName"],
        "Augusta"
    );
}

#[backend_test]
async fn lists_filter_and_page_as_zoom_documents() {
    let app = TestApp::spawn().await;
    for n in 0..3 {
        create(&app, &format!("u{n}@example.com")).await;
    }
    let list = |query: &'static str| {
        let app = &app;
        async move { scim(app, Method::GET, query, None).await }
    };
    // Zoom's default count is 1; the owner is the first user.
    let first = list("").await;
    first.assert_status(200);
    assert_eq!(
        first.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(
        (
            &first.body["totalResults"],
            &first.body["startIndex"],
            &first.body["itemsPerPage"]
        ),
        (&json!(4), &json!(1), &json!(1))
    );
    let page = list("?startIndex=2&count=2").await.body;
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["u0@example.com", "u1@example.com"]);
    let all = list("?count=100").await.body;
    assert_eq!(all["itemsPerPage"], 4);
    // Outside Zoom's bounds (0 to 100) a count is refused.
    for count in ["?count=101", "?count=-1"] {
        let refused = list(count).await;
        assert_eq!(refused.status, 400, "{count}");
        assert_eq!(refused.body["schemas"][0], ERROR);
    }
    // Filters: userName (any case of the address), emails, externalId (the Zoom user id).
    let by_name = list("?filter=userName%20eq%20%22U1@example.com%22&count=10")
        .await
        .body;
    assert_eq!(
        (
            &by_name["totalResults"],
            &by_name["Resources"][0]["userName"]
        ),
        (&json!(1), &json!("u1@example.com"))
    );
    let id = by_name["Resources"][0]["id"].as_str().unwrap().to_string();
    let by_id = scim(
        &app,
        Method::GET,
        &format!("?filter=externalId%20eq%20{id}"),
        None,
    )
    .await
    .body;
    assert_eq!(by_id["Resources"][0]["id"], id.as_str());
    let by_email = list("?filter=emails%20eq%20%22u2@example.com%22")
        .await
        .body;
    assert_eq!(by_email["Resources"][0]["userName"], "u2@example.com");
    let none = list("?filter=userName%20eq%20%22nobody@example.com%22")
        .await
        .body;
    assert_eq!(
        (&none["totalResults"], &none["Resources"]),
        (&json!(0), &json!([]))
    );
    let unsupported = list("?filter=displayName%20eq%20%22Ada%22").await;
    assert_scim_error(
        &unsupported,
        400,
        "The current filter is not supported, the filter name: displayName",
    );
    assert_eq!(unsupported.body["scimType"], "invalidFilter");
    assert_scim_error(
        &list("?count=many").await,
        400,
        "The value of \"count\" is invalid.",
    );
}

#[backend_test]
async fn a_scim_deactivation_is_a_deactivation_everywhere() {
    let app = TestApp::spawn().await;
    let id = create(&app, "leaver@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.add_session(&id, 101).await;
    // Microsoft Entra's shape: a path, and a string for the boolean.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "Replace", "path": "active", "value": "False" }],
    });
    let reply = scim(&app, Method::PATCH, &format!("/{id}"), Some(patch)).await;
    reply.assert_status(200);
    assert_eq!(reply.body["active"], false);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["status"],
        "inactive"
    );
    assert!(
        app.sessions(&id).await.iter().all(|s| s.ended_at.is_some()),
        "sessions end with the deactivation"
    );
    // An inactive user changes nothing but its status.
    let rename = json!({ "name": { "givenName": "Late" } });
    assert_scim_error(
        &scim(&app, Method::PUT, &format!("/{id}"), Some(rename.clone())).await,
        400,
        "User is inactive or locked.",
    );
    // Okta's shape: a value object.
    let back = json!({ "Operations": [{ "op": "replace", "value": { "active": true, "name": { "givenName": "Back" } } }] });
    let reply = scim(&app, Method::PATCH, &format!("/{id}"), Some(back)).await;
    reply.assert_status(200);
    assert_eq!(
        (&reply.body["active"], &reply.body["name"]["givenName"]),
        (&json!(true), &json!("Back"))
    );
    let zoom = app.get(&format!("/users/{id}")).await.body;
    assert_eq!(
        (&zoom["status"], &zoom["first_name"]),
        (&json!("active"), &json!("Back"))
    );
    // The REST API's deactivation shows in SCIM.
    app.set_status(&id, "deactivate").await.assert_status(204);
    assert_eq!(
        scim(&app, Method::GET, &format!("/{id}"), None).await.body["active"],
        false
    );
    // Admins are not SCIM's to switch off.
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let off = json!({ "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    assert_scim_error(
        &scim(&app, Method::PATCH, &format!("/{owner}"), Some(off)).await,
        400,
        "Cannot activate or deactivate Zoom Room and Admin users.",
    );
    assert_eq!(app.get("/users/me").await.body["status"], "active");
}

#[backend_test]
async fn put_changes_what_it_names_and_emails_stay_unique() {
    let app = TestApp::spawn().await;
    let id = create(&app, "old@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    create(&app, "taken@example.com").await;
    let reply = scim(
        &app,
        Method::PUT,
        &format!("/{id}"),
        Some(json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "emails": [{ "value": "new@example.com", "primary": true }], "userType": "Licensed" })),
    )
    .await;
    reply.assert_status(200);
    assert_eq!(
        (&reply.body["userName"], &reply.body["userType"]),
        (&json!("new@example.com"), &json!("Licensed"))
    );
    // What PUT did not name is as it was.
    assert_eq!(reply.body["name"]["familyName"], "Lovelace");
    let zoom = app.get("/users/new@example.com").await;
    assert_eq!(
        (&zoom.body["id"], &zoom.body["type"]),
        (&json!(id), &json!(2))
    );
    let taken = json!({ "emails": [{ "value": "taken@example.com" }] });
    let reply = scim(&app, Method::PUT, &format!("/{id}"), Some(taken)).await;
    assert_scim_error(
        &reply,
        409,
        "Email 'taken@example.com' has already been used.",
    );
    assert_eq!(reply.body["scimType"], "uniqueness");
    assert_eq!(
        scim(&app, Method::GET, &format!("/{id}"), None).await.body["userName"],
        "new@example.com"
    );
    // Attributes kept as sent are replaced by a later PUT, removed by a PATCH `remove`.
    let phones = json!({ "phoneNumbers": [{ "type": "mobile", "value": "+1 555 0199" }] });
    scim(&app, Method::PUT, &format!("/{id}"), Some(phones))
        .await
        .assert_status(200);
    let remove = json!({ "Operations": [{ "op": "remove", "path": "phoneNumbers" }, { "op": "remove", "path": "title" }] });
    let reply = scim(&app, Method::PATCH, &format!("/{id}"), Some(remove)).await;
    reply.assert_status(200);
    assert!(reply.body.get("phoneNumbers").is_none(), "{}", reply.body);
    assert_eq!(reply.body["title"], "");
}

#[backend_test]
async fn delete_removes_the_user_but_not_an_admin() {
    let app = TestApp::spawn().await;
    let id = create(&app, "gone@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    scim(&app, Method::DELETE, &format!("/{id}"), None)
        .await
        .assert_status(204);
    assert_scim_error(
        &scim(&app, Method::GET, &format!("/{id}"), None).await,
        404,
        "User does not exist.",
    );
    app.get(&format!("/users/{id}")).await.assert_error(
        404,
        1001,
        &format!("User does not exist: {id}."),
    );
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_scim_error(
        &scim(&app, Method::DELETE, &format!("/{owner}"), None).await,
        400,
        "Cannot delete Admin user.",
    );
    // A Zoom Room's user stays paid.
    let room = create(&app, "room@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.edit_user("room@example.com", |u| {
        u.is_zoom_room = true;
        u.user_type = localzoom_server::domain::user::UserType::Licensed;
    })
    .await;
    let free = json!({ "userType": "Basic" });
    let reply = scim(&app, Method::PUT, &format!("/{room}"), Some(free)).await;
    assert_scim_error(&reply, 400, "Cannot update Zoom Room user to free");
    assert_eq!(app.get(&format!("/users/{room}")).await.body["type"], 2);
}

#[backend_test]
async fn requests_zoom_refuses_get_scim_errors() {
    let app = TestApp::spawn().await;
    create(&app, "first@example.com").await;
    for (body, status, detail) in [
        (json!({}), 400, "The request JSON must not be empty."),
        (
            json!({ "userName": "not an email" }),
            400,
            "The \"userName\" of the request is invalid.",
        ),
        (
            json!({ "name": { "givenName": "No address" } }),
            400,
            "The \"userName\" of the request is invalid.",
        ),
        (
            json!({ "userName": "first@example.com" }),
            400,
            "The email \"first@example.com\" is already in use.",
        ),
        (
            json!({ "userName": "typed@example.com", "userType": "Emperor" }),
            400,
            "The value of \"userType\" is invalid.",
        ),
        (
            json!({ "userName": "typed@example.com", "active": 1 }),
            400,
            "The value of \"active\" is invalid.",
        ),
    ] {
        assert_scim_error(
            &scim(&app, Method::POST, "", Some(body)).await,
            status,
            detail,
        );
    }
    app.get("/users/typed@example.com").await.assert_status(404);
    let not_json = app
        .send(
            app.http
                .post(format!("{}/scim2/Users", app.base))
                .bearer_auth(&app.token)
                .header("content-type", "application/scim+json")
                .body("{not json"),
        )
        .await;
    assert_scim_error(&not_json, 400, "The request body must be in JSON format.");
    assert_scim_error(
        &scim(&app, Method::GET, "/nobody", None).await,
        404,
        "User does not exist.",
    );
    let bad_patch = json!({ "Operations": [{ "op": "move", "path": "active" }] });
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_scim_error(
        &scim(&app, Method::PATCH, &format!("/{owner}"), Some(bad_patch)).await,
        400,
        "The PATCH request cannot be applied: op \"move\".",
    );
    // Without the `scim2` scope: SCIM's 403.
    let member = app.member("member@example.com").await;
    let no_scim = app.token_with_scopes(&member, &["user:read:admin"]).await;
    let reply = app
        .call_with(&no_scim, Method::GET, "/scim2/Users", None)
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["schemas"][0], ERROR);
    // SCIM needs the account's SSO.
    app.call(
        Method::PATCH,
        "/accounts/me/settings?option=security",
        Some(json!({ "security": { "signin_with_sso": { "enable": false } } })),
    )
    .await
    .assert_status(204);
    assert_scim_error(
        &scim(&app, Method::GET, "", None).await,
        400,
        "Account has not enabled Single Sign-On.",
    );
}

#[backend_test]
async fn attributes_zoom_describes_take_zoom_shapes() {
    let app = TestApp::spawn().await;
    let mut user = new_user("shaped@example.com");
    user["roles"] =
        json!([{ "value": "member", "display": "Member" }, { "value": "admin", "primary": true }]);
    user["groups"] = json!([{ "value": "g1", "display": "Sales" }]);
    user["nickName"] = json!("Ada");
    user["urn:ietf:params:scim:schemas:extension:zoom:1.0:User"] = json!({ "pronouns": "she/her" });
    let created = scim(&app, Method::POST, "", Some(user)).await;
    created.assert_status(201);
    // Lists, as RFC 7643 and Zoom's create, replace and patch answers have them; a later read the same.
    assert_eq!(
        created.body["roles"],
        json!([{ "value": "member", "display": "Member" }, { "value": "admin", "primary": true }])
    );
    assert_eq!(
        created.body["groups"],
        json!([{ "value": "g1", "display": "Sales" }])
    );
    let read = scim(
        &app,
        Method::GET,
        &format!("/{}", created.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(read.body["roles"], created.body["roles"]);
    assert_eq!(created.body["nickName"], "Ada");
    let id = created.body["id"].as_str().unwrap().to_string();
    for (body, attribute) in [
        (
            json!({ "phoneNumbers": [{ "type": "pager", "value": "1" }] }),
            "phoneNumbers",
        ),
        (json!({ "roles": [{ "value": ["admin"] }] }), "roles"),
        (json!({ "groups": [{ "value": 7 }] }), "groups"),
        (json!({ "\u{9a}bad name": true }), "\u{9a}bad name"),
        (
            json!({ "urn:ietf:params:scim:schemas:extension:zoom:1.0:User": { "": false } }),
            "urn:ietf:params:scim:schemas:extension:zoom:1.0:User",
        ),
    ] {
        let reply = scim(&app, Method::PUT, &format!("/{id}"), Some(body.clone())).await;
        assert_scim_error(
            &reply,
            400,
            &format!("The value of \"{attribute}\" is invalid."),
        );
    }
    // Microsoft Entra's manager is an object; Zoom keeps the value.
    let manager = json!({ "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "manager": { "value": "boss@example.com" } } });
    let reply = scim(&app, Method::PUT, &format!("/{id}"), Some(manager)).await;
    reply.assert_status(200);
    assert_eq!(
        reply.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
        "boss@example.com"
    );
}

#[backend_test]
async fn patches_as_identity_providers_send_them() {
    let app = TestApp::spawn().await;
    let mut user = new_user("idp@example.com");
    user["externalId"] = json!("okta-00u1");
    user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({ "department": "R&D", "costCenter": "CC-7", "manager": "boss@example.com" });
    let created = scim(&app, Method::POST, "", Some(user)).await;
    created.assert_status(201);
    assert_eq!(created.body["externalId"], "okta-00u1");
    let id = created.body["id"].as_str().unwrap().to_string();
    let patch = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        // One enterprise attribute: the others stay.
        { "op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "42" },
        // An item of a multi-valued attribute, by filter: added, then changed.
        { "op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0111" },
        { "op": "Replace", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0222" },
        // Attribute paths as the keys of a value without a path.
        { "op": "Replace", "value": { "name.givenName": "Ida",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops" } },
    ]});
    let reply = scim(&app, Method::PATCH, &format!("/{id}"), Some(patch)).await;
    reply.assert_status(200);
    let enterprise = &reply.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(
        enterprise,
        &json!({ "department": "Ops", "costCenter": "CC-7", "manager": "boss@example.com", "employeeNumber": "42" })
    );
    assert_eq!(
        reply.body["phoneNumbers"],
        json!([{ "type": "work", "value": "+1 555 0222" }, { "type": "mobile", "value": "+1 555 0111" }])
    );
    assert_eq!(reply.body["name"]["givenName"], "Ida");
    let zoom = app.get(&format!("/users/{id}")).await.body;
    assert_eq!(
        (&zoom["first_name"], &zoom["dept"]),
        (&json!("Ida"), &json!("Ops"))
    );
    // Only the work address is Zoom's sign-in address.
    let home = json!({ "Operations": [{ "op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@example.com" }] });
    let refused = scim(&app, Method::PATCH, &format!("/{id}"), Some(home)).await;
    assert_eq!(
        (refused.status.as_u16(), &refused.body["scimType"]),
        (400, &json!("invalidPath"))
    );
    let work = json!({ "Operations": [{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "ida@example.com" }] });
    assert_eq!(
        scim(&app, Method::PATCH, &format!("/{id}"), Some(work))
            .await
            .body["userName"],
        "ida@example.com"
    );
    // What a read answers, a PUT takes back unchanged (roles and groups included).
    let mut read = scim(&app, Method::GET, &format!("/{id}"), None).await.body;
    read["roles"] = json!({ "value": "member", "primary": true });
    let put = scim(&app, Method::PUT, &format!("/{id}"), Some(read.clone())).await;
    put.assert_status(200);
    // One role sent as an object is a list of one.
    assert_eq!(put.body["roles"], json!([read["roles"]]));
    // SCIM's paths Zoom does not serve answer in SCIM's shape.
    let groups = scim(&app, Method::GET, "/../Groups", None).await;
    assert_eq!(groups.status, 404);
    let groups = app
        .call_with(&app.token, Method::GET, "/scim2/Groups", None)
        .await;
    assert_scim_error(&groups, 404, "This API endpoint is not recognized.");
}
