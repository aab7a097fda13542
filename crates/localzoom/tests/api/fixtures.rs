//! Fixture documents: loaded through the control API or at start, fixed ids honoured, loading twice changing
//! nothing, a bad document refused whole with the field named.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

pub const FIXTURE_ACCOUNT: &str = "FixtureAcct000000001";

/// The issue's example, with an assistant, settings and a session.
pub fn example() -> Value {
    json!({ "accounts": [{
        "id": FIXTURE_ACCOUNT, "plan": "business", "owner_email": "boss@fixture.test",
        "rate_limits": { "light": 50 },
        "apps": [{ "type": "s2s", "client_id": "fixtureClient01", "client_secret": "fixture-secret-1",
                   "scopes": "user:read:admin user:write:admin" }],
        "users": [
            { "id": "FixtureUser0000000001", "email": "ann@fixture.test", "type": 2, "first_name": "Ann",
              "role": "member", "status": "active", "password": "Fixture1Pass",
              "assistants": ["bea@fixture.test"],
              "settings": { "schedule_meeting": { "host_video": true } },
              "sessions": [{ "login_type": 101 }] },
            { "id": "FixtureUser0000000002", "email": "bea@fixture.test", "type": 2, "first_name": "Bea",
              "last_name": "Baker" },
            { "email": "cal@fixture.test", "status": "inactive", "login_type": 101 }
        ]
    }]})
}

/// A token of the fixture's own app.
pub async fn fixture_token(app: &TestApp) -> String {
    let reply = app
        .grant(FIXTURE_ACCOUNT, "fixtureClient01", "fixture-secret-1")
        .await;
    reply.assert_status(200);
    reply.body["access_token"].as_str().unwrap().to_string()
}

/// What the fixture account holds, as its API shows it: (users by e-mail with type, status and first name,
/// Ann's assistants, Ann's open sessions).
async fn state_of(app: &TestApp, token: &str) -> Value {
    let get = async |path: &str| {
        let reply = app
            .call_with(token, Method::GET, &format!("/v2{path}"), None)
            .await;
        reply.assert_status(200);
        reply.body
    };
    let mut users = Vec::new();
    for status in ["active", "inactive", "pending"] {
        for user in get(&format!("/users?status={status}")).await["users"]
            .as_array()
            .unwrap()
        {
            users.push(json!([
                user["email"],
                user["type"],
                user["status"],
                user["first_name"],
                user["id"]
            ]));
        }
    }
    let sessions = app
        .control(Method::GET, "/users/FixtureUser0000000001/sessions", None)
        .await
        .body["sessions"]
        .clone();
    json!({
        "users": users,
        "assistants": get("/users/FixtureUser0000000001/assistants").await["assistants"],
        "sessions": sessions.as_array().unwrap().len(),
        "host_video": get("/users/FixtureUser0000000001/settings").await["schedule_meeting"]["host_video"],
    })
}

#[backend_test]
async fn a_fixture_loads_accounts_apps_and_users_with_their_ids_and_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    app.control(Method::POST, "/fixtures", Some(example()))
        .await
        .assert_status(204);
    let token = fixture_token(&app).await;
    let ann = app
        .call_with(&token, Method::GET, "/v2/users/FixtureUser0000000001", None)
        .await;
    ann.assert_status(200);
    for (field, value) in [
        ("email", json!("ann@fixture.test")),
        ("type", json!(2)),
        ("first_name", json!("Ann")),
        ("role_name", json!("Member")),
        ("status", json!("active")),
        ("account_id", json!(FIXTURE_ACCOUNT)),
        ("login_types", json!([100])),
    ] {
        assert_eq!(ann.body[field], value, "{field}");
    }
    let state = state_of(&app, &token).await;
    assert_eq!(state["assistants"][0]["email"], "bea@fixture.test");
    assert_eq!(state["sessions"], 1);
    assert_eq!(state["host_video"], true);
    let emails: Vec<_> = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u[0].clone())
        .collect();
    assert_eq!(
        emails,
        [
            json!("boss@fixture.test"),
            json!("ann@fixture.test"),
            json!("bea@fixture.test"),
            json!("cal@fixture.test")
        ]
    );
    // The fixture's password is Ann's current one: changing to it is refused as Zoom refuses a reuse.
    let same = app
        .call_with(
            &token,
            Method::PUT,
            "/v2/users/FixtureUser0000000001/password",
            Some(json!({ "password": "Fixture1Pass" })),
        )
        .await;
    assert_eq!(same.status, 400, "{}", same.body);
    // The plan and the limits given.
    let summary = app
        .call_with(&token, Method::GET, "/v2/users/me", None)
        .await;
    assert_eq!(summary.body["email"], "boss@fixture.test");

    // Loading it again changes nothing (JSON or YAML alike).
    app.control(Method::POST, "/fixtures", Some(example()))
        .await
        .assert_status(204);
    assert_eq!(state_of(&app, &token).await, state);
    let yaml = serde_yaml_text(&example());
    load_yaml(&app, yaml).await.assert_status(204);
    assert_eq!(state_of(&app, &token).await, state);

    // A document naming an existing user updates it.
    app.control(
        Method::POST,
        "/fixtures",
        Some(json!({ "accounts": [{ "id": FIXTURE_ACCOUNT,
            "users": [{ "id": "FixtureUser0000000002", "email": "bea@fixture.test", "first_name": "Beatrix" }] }] })),
    )
    .await
    .assert_status(204);
    let bea = app
        .call_with(&token, Method::GET, "/v2/users/FixtureUser0000000002", None)
        .await;
    assert_eq!(bea.body["first_name"], "Beatrix");
    assert_eq!(bea.body["last_name"], "Baker");
}

/// `POST /_localzoom/v1/fixtures` of a YAML document.
async fn load_yaml(app: &TestApp, document: impl Into<String>) -> Reply {
    app.send(
        app.http
            .post(format!("{}/_localzoom/v1/fixtures", app.base))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/yaml")
            .body(document.into()),
    )
    .await
}

/// YAML text of a JSON value (JSON is YAML, but a test of the YAML reader should send block YAML).
fn serde_yaml_text(value: &Value) -> String {
    fn write(value: &Value, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match value {
                        Value::Object(_) | Value::Array(_) => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            write(value, indent + 2, out);
                        }
                        scalar => out.push_str(&format!("{pad}{key}: {scalar}\n")),
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    out.push_str(&format!("{pad}-\n"));
                    write(item, indent + 2, out);
                }
            }
            scalar => out.push_str(&format!("{pad}{scalar}\n")),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out
}

/// A bad document is refused whole: 400 naming the field, and nothing of it stored, even what came before the
/// refused part.
#[backend_test]
async fn a_bad_fixture_is_refused_whole_with_the_field_named() {
    let app = TestApp::spawn().await;
    let mut bad = example();
    bad["accounts"][0]["users"][1]["type"] = json!(7);
    let refused = app.control(Method::POST, "/fixtures", Some(bad)).await;
    refused.assert_error(400, 300, "Validation Failed.");
    assert_eq!(refused.error_fields(), vec!["accounts[0].users[1].type"]);

    // Refused while loading (an assistant that is not there): the account and users before it are not kept.
    let mut dangling = example();
    dangling["accounts"][0]["users"][0]["assistants"] = json!(["nobody@fixture.test"]);
    let refused = app.control(Method::POST, "/fixtures", Some(dangling)).await;
    refused.assert_status(400);
    assert_eq!(
        refused.error_fields(),
        vec!["accounts[0].users[0].assistants[0]"]
    );
    let mut settings = example();
    settings["accounts"][0]["users"][0]["settings"] =
        json!({ "schedule_meeting": { "host_video": "yes" } });
    let refused = app.control(Method::POST, "/fixtures", Some(settings)).await;
    assert_eq!(
        refused.error_fields(),
        vec!["accounts[0].users[0].settings.schedule_meeting.host_video"]
    );
    // An e-mail of another account's user.
    let mut taken = example();
    taken["accounts"][0]["users"][2]["email"] = json!(OWNER_EMAIL);
    let refused = app.control(Method::POST, "/fixtures", Some(taken)).await;
    assert_eq!(refused.error_fields(), vec!["accounts[0].users[2].email"]);
    let yaml = load_yaml(
        &app,
        "accounts:\n  - id: A1\n    users:\n      - email: a@b.test\n        status: gone\n",
    )
    .await;
    yaml.assert_status(400);
    assert_eq!(yaml.error_fields(), vec!["accounts[0].users[0].status"]);
    assert!(
        yaml.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 5"),
        "{}",
        yaml.body
    );

    let refused = app
        .grant(FIXTURE_ACCOUNT, "fixtureClient01", "fixture-secret-1")
        .await;
    assert_eq!(refused.status, 400, "no app was kept: {}", refused.body);
    app.get("/users/ann@fixture.test").await.assert_error(
        404,
        1001,
        "User does not exist: ann@fixture.test.",
    );
}

/// `serve --fixtures` loads the document at start, and a reset goes back to it.
#[backend_test]
async fn the_start_fixture_is_loaded_and_a_reset_returns_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.json");
    std::fs::write(&path, example().to_string()).unwrap();
    let app = TestApp::spawn_tuned(|config| config.fixtures = Some(path.clone())).await;
    let token = fixture_token(&app).await;
    let before = state_of(&app, &token).await;
    app.call_with(
        &token,
        Method::DELETE,
        "/v2/users/FixtureUser0000000002?action=delete",
        None,
    )
    .await
    .assert_status(204);
    app.control(Method::POST, "/reset", None)
        .await
        .assert_status(204);
    let token = fixture_token(&app).await;
    let after = state_of(&app, &token).await;
    // Users the fixture names by id come back with them; Cal, who has none, comes back with a new one.
    let without_generated = |state: &Value| {
        let mut state = state.clone();
        for user in state["users"].as_array_mut().unwrap() {
            if user[0] == "cal@fixture.test" || user[0] == "boss@fixture.test" {
                user[4] = Value::Null;
            }
        }
        state
    };
    assert_eq!(without_generated(&after), without_generated(&before));
    // A reset of the fixture's account alone does the same for it.
    app.call_with(
        &token,
        Method::DELETE,
        "/v2/users/FixtureUser0000000002?action=delete",
        None,
    )
    .await
    .assert_status(204);
    app.control(
        Method::POST,
        "/reset",
        Some(json!({ "account_id": FIXTURE_ACCOUNT })),
    )
    .await
    .assert_status(204);
    let token = fixture_token(&app).await;
    app.call_with(&token, Method::GET, "/v2/users/FixtureUser0000000002", None)
        .await
        .assert_status(200);
}

/// The example of docs/fixtures.md loads, and holds what it says.
#[backend_test]
async fn the_documented_example_loads() {
    let doc = include_str!("../../../../docs/fixtures.md");
    let example = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a yaml block");
    let app = TestApp::spawn().await;
    load_yaml(&app, example.to_string())
        .await
        .assert_status(204);
    let token = fixture_token(&app).await;
    let state = state_of(&app, &token).await;
    assert_eq!(state["assistants"][0]["email"], "bea@fixture.test");
    assert_eq!(state["users"].as_array().unwrap().len(), 4);
}
