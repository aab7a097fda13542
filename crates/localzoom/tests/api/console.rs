//! The web console (`/_localzoom/ui`) over HTTP: sign-in, its cookie, CSRF, the pages and the portal actions,
//! whose effects are checked through `/v2`. `process::console` drives the same pages in a real browser.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::*;

const UI: &str = "/_localzoom/ui";

/// A browser's view of the console: a client that follows no redirects, and the session cookie once signed in.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{UI}{path}", self.base));
        match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.request(Method::GET, path).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.request(Method::POST, path)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&mut self, key: &str) -> reqwest::Response {
        let response = self.post("/sign-in", &[("key", key)]).await;
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            self.cookie = Some(pair.to_string());
        }
        response
    }

    /// A change a console page makes: its form, with the session's CSRF token.
    async fn change(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf().await;
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post(path, &fields).await
    }

    /// The CSRF token the pages' forms carry.
    async fn csrf(&self) -> String {
        let (_, html) = self.get("/users").await;
        attribute_after(&html, r#"name="csrf" value=""#).expect("a form with a CSRF token")
    }
}

/// The quoted attribute value that follows `marker` (which ends with its opening quote), unescaped.
fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)? + marker.len();
    Some(html[at..at + html[at..].find('"')?].replace("&amp;", "&"))
}

/// The users table's next page, as a path under the console.
fn next_page(html: &str) -> String {
    let href = attribute_after(html, r#"id="next-page" href=""#).expect("a next page");
    href.trim_start_matches(UI).to_string()
}

async fn signed_in(app: &TestApp) -> Browser {
    let mut browser = Browser::new(app);
    let response = browser.sign_in(ADMIN_KEY).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    browser
}

#[backend_test]
async fn signing_in_with_the_admin_key_sets_a_strict_http_only_cookie_scoped_to_the_console() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    // Signed out, every page leads to the sign-in form.
    let response = browser.request(Method::GET, "/users").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], format!("{UI}/sign-in"));
    let (status, html) = browser.get("/sign-in").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="key""#), "{html}");

    let wrong = browser.sign_in("not-the-key").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(browser.cookie.is_none());

    let right = browser.sign_in(ADMIN_KEY).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()[LOCATION], format!("{UI}/users"));
    let cookie = right.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", &format!("Path={UI}")] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains(ADMIN_KEY),
        "the cookie must not be the key"
    );
    let (status, html) = browser.get("/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(OWNER_EMAIL), "{html}");
    assert!(!html.contains(ADMIN_KEY), "no secret is rendered");

    // Signing out ends the session on the server: the old cookie no longer works.
    let out = browser.change("/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = browser.request(Method::GET, "/users").send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[LOCATION], format!("{UI}/sign-in"));
}

#[backend_test]
async fn wrong_keys_are_throttled() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);
    let mut last = StatusCode::OK;
    for _ in 0..20 {
        last = browser.sign_in("guess").await.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // While throttled, even the right key waits.
    let right = browser.sign_in(ADMIN_KEY).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(browser.cookie.is_none());
}

#[backend_test]
async fn without_an_admin_key_there_is_no_console() {
    let app = TestApp::spawn_configured("pro", None).await;
    let browser = Browser::new(&app);
    let response = browser
        .request(Method::GET, "/sign-in")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["code"].is_number() && body["message"].is_string(),
        "{body}"
    );
}

#[backend_test]
async fn deactivating_in_the_console_is_the_api_s_deactivation() {
    let app = TestApp::spawn().await;
    let user = app.member("ana@localzoom.test").await;
    let browser = signed_in(&app).await;

    // Found by e-mail, shown active.
    let (status, html) = browser.get("/users?q=ANA%40localzoom.test").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("{UI}/users/{user}")), "{html}");
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    assert!(page.contains(r#"id="deactivate""#), "{page}");

    let done = browser
        .change(
            &format!("/users/{user}/status"),
            &[("action", "deactivate")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], format!("{UI}/users/{user}"));

    let reply = app.get(&format!("/users/{user}")).await;
    reply.assert_status(200);
    assert_eq!(reply.body["status"], "inactive");
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    assert!(page.contains(r#"id="activate""#), "{page}");
    // The inactive filter lists the user now.
    let (_, html) = browser.get("/users?status=inactive").await;
    assert!(html.contains("ana@localzoom.test"), "{html}");

    let again = browser
        .change(&format!("/users/{user}/status"), &[("action", "activate")])
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/users/{user}")).await.body["status"],
        "active"
    );
}

#[backend_test]
async fn the_console_refuses_what_zoom_refuses() {
    let app = TestApp::spawn().await;
    let browser = signed_in(&app).await;
    let owner = app.get("/users/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = browser
        .change(
            &format!("/users/{owner}/status"),
            &[("action", "deactivate")],
        )
        .await;
    // Zoom's refusal to deactivate an admin (StatusProtected), as the API answers it.
    let expected = app.set_status(&owner, "deactivate").await;
    assert_eq!(refused.status().as_u16(), expected.status);
    // As HTML shows it.
    let message = expected.body["message"]
        .as_str()
        .unwrap()
        .replace('\'', "&#39;");
    let html = refused.text().await.unwrap();
    assert!(html.contains(&message), "{html} lacks {message}");
    assert_eq!(
        app.get(&format!("/users/{owner}")).await.body["status"],
        "active"
    );
}

#[backend_test]
async fn a_change_without_the_session_s_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let user = app.member("csrf@localzoom.test").await;
    let browser = signed_in(&app).await;
    for form in [
        vec![("action", "deactivate")],
        vec![("csrf", "forged"), ("action", "deactivate")],
    ] {
        let refused = browser.post(&format!("/users/{user}/status"), &form).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    // Another session's token is not this one's.
    let other = signed_in(&app).await;
    let theirs = other.csrf().await;
    let refused = browser
        .post(
            &format!("/users/{user}/status"),
            &[("csrf", &theirs), ("action", "deactivate")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // And no cookie, no change, whatever the form says.
    let stranger = Browser::new(&app);
    let refused = stranger
        .post(
            &format!("/users/{user}/status"),
            &[("csrf", &theirs), ("action", "deactivate")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/users/{user}")).await.body["status"],
        "active"
    );
}

#[backend_test]
async fn revoking_the_sso_token_in_the_console_ends_the_user_s_sso_sessions() {
    let app = TestApp::spawn().await;
    let user = app.member("sso@localzoom.test").await;
    let session = app.add_session(&user, 101).await;
    let browser = signed_in(&app).await;
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    let end = format!("/sessions/{session}/end");
    assert!(page.contains(&end), "an open session is shown: {page}");
    let done = browser
        .change(&format!("/users/{user}/sso_token"), &[])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(
        app.sessions(&user)
            .await
            .iter()
            .all(|s| s.ended_at.is_some())
    );
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    assert!(!page.contains(&end), "{page}");
}

#[backend_test]
async fn what_users_typed_is_shown_as_text_never_as_markup() {
    let app = TestApp::spawn().await;
    let user = app.member("xss@localzoom.test").await;
    let reply = app
        .call(
            Method::PATCH,
            &format!("/users/{user}"),
            Some(serde_json::json!({"first_name": "<script>alert(1)</script>", "dept": "\"><img src=x>"})),
        )
        .await;
    reply.assert_status(204);
    let browser = signed_in(&app).await;
    for path in [format!("/users/{user}"), "/users".to_string()] {
        let (_, html) = browser.get(&path).await;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x>"), "{html}");
    }
    let (_, html) = browser.get(&format!("/users/{user}")).await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

#[backend_test]
async fn the_users_table_pages_by_keyset_and_filters_by_role() {
    let app = TestApp::spawn().await;
    for n in 0..55 {
        app.member(&format!("page{n:02}@localzoom.test")).await;
    }
    let browser = signed_in(&app).await;
    let (_, first) = browser.get("/users").await;
    assert_eq!(first.matches("<tr><td><a href=").count(), 50);
    let (_, second) = browser.get(&next_page(&first)).await;
    // 55 members and the owner: 6 on the second page, none of them on the first.
    assert_eq!(second.matches("<tr><td><a href=").count(), 6, "{second}");
    assert!(second.contains("page54@localzoom.test"));
    assert!(!second.contains("id=\"next-page\""));
    // A filtered page that fills up pages on by its last user, keeping the filter.
    let (_, members) = browser.get("/users?role=member").await;
    assert_eq!(members.matches("<tr><td><a href=").count(), 50);
    assert!(
        !members.contains(&format!(">{OWNER_EMAIL}</a>")),
        "{members}"
    );
    let next = next_page(&members);
    assert!(next.contains("role=member"), "{next}");
    let (_, rest) = browser.get(&next).await;
    assert_eq!(rest.matches("<tr><td><a href=").count(), 5, "{rest}");
    assert!(!rest.contains("next-page"), "{rest}");
    let (_, owners) = browser.get("/users?role=owner").await;
    assert_eq!(owners.matches("<tr><td><a href=").count(), 1);
    assert!(owners.contains(OWNER_EMAIL));
    let (status, _) = browser.get("/users?status=gone").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[backend_test]
async fn the_requests_page_shows_the_journal_with_bodies_redacted() {
    let app = TestApp::spawn().await;
    let user = app.member("journal@localzoom.test").await;
    app.call(
        Method::PUT,
        &format!("/users/{user}/password"),
        Some(serde_json::json!({"password": "Secret-Pass-123"})),
    )
    .await
    .assert_status(204);
    let browser = signed_in(&app).await;
    let (status, html) = browser.get("/requests?operation=userPassword").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("PUT /v2/users/{user}/password")),
        "{html}"
    );
    assert!(
        !html.contains("POST /v2/users"),
        "filtered by operation: {html}"
    );
    // The rows alone, as the page's script polls them.
    let (_, rows) = browser.get("/requests?rows=1").await;
    assert!(
        rows.starts_with("<tr>") && rows.contains("userPassword"),
        "{rows}"
    );
    let journal = app
        .control(Method::GET, "/requests?operation=userPassword", None)
        .await;
    let tracking = journal.body["requests"][0]["tracking_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, detail) = browser.get(&format!("/requests/{tracking}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.contains(&tracking));
    assert!(!detail.contains("Secret-Pass-123"), "{detail}");
    assert!(detail.contains("[redacted]"), "{detail}");
}

#[backend_test]
async fn the_users_table_filters_by_type_and_login_type() {
    let app = TestApp::spawn().await;
    let licensed = app
        .create_user("custCreate", "licensed@localzoom.test", 2)
        .await;
    app.create_user("custCreate", "basic@localzoom.test", 1)
        .await;
    app.edit_user("basic@localzoom.test", |u| {
        u.login_type = localzoom_server::domain::user::LoginType::WorkEmail
    })
    .await;
    let browser = signed_in(&app).await;
    let (_, html) = browser.get("/users?type=2").await;
    assert!(html.contains(&format!("{UI}/users/{licensed}")), "{html}");
    assert!(!html.contains("basic@localzoom.test"), "{html}");
    // Nobody here signs in with SSO.
    let (_, sso) = browser.get("/users?login_type=101").await;
    assert_eq!(sso.matches("<tr><td><a href=").count(), 0, "{sso}");
    let (_, work) = browser.get("/users?login_type=100&type=1").await;
    assert!(work.contains("basic@localzoom.test"), "{work}");
    assert!(!work.contains("licensed@localzoom.test"), "{work}");
    let (status, _) = browser.get("/users?type=77").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[backend_test]
async fn ending_a_session_in_the_console_signs_the_user_out_of_it() {
    let app = TestApp::spawn().await;
    let user = app.member("session@localzoom.test").await;
    let session = app.add_session(&user, 100).await;
    let browser = signed_in(&app).await;
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    let action = format!("{UI}/users/{user}/sessions/{session}/end");
    assert!(page.contains(&action), "{page}");
    let done = browser
        .change(&format!("/users/{user}/sessions/{session}/end"), &[])
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let ended = app.sessions(&user).await;
    assert!(ended.iter().all(|s| s.ended_at.is_some()), "{ended:?}");
    // Ended already: Zoom-shaped refusal, nothing else changes.
    let again = browser
        .change(&format!("/users/{user}/sessions/{session}/end"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[backend_test]
async fn resetting_a_password_in_the_console_follows_the_api_s_rules() {
    let app = TestApp::spawn().await;
    let user = app.member("reset@localzoom.test").await;
    let browser = signed_in(&app).await;
    let weak = browser
        .change(&format!("/users/{user}/password"), &[("password", "short")])
        .await;
    let api = app
        .call(
            Method::PUT,
            &format!("/users/{user}/password"),
            Some(serde_json::json!({"password": "short"})),
        )
        .await;
    assert_eq!(weak.status().as_u16(), api.status);
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    assert!(page.contains("0 of "), "{page}");

    let done = browser
        .change(
            &format!("/users/{user}/password"),
            &[("password", "Console-Pass-42")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let (_, page) = browser.get(&format!("/users/{user}")).await;
    assert!(page.contains(r#"id="password-changes">1 of "#), "{page}");
    // The same password again is the API's reuse refusal.
    let reused = browser
        .change(
            &format!("/users/{user}/password"),
            &[("password", "Console-Pass-42")],
        )
        .await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
}

#[backend_test]
async fn the_webhooks_pages_show_deliveries_and_send_one_again() {
    let app = TestApp::spawn().await;
    let receiver = crate::receiver::Receiver::start("console-secret");
    let subscribed = app
        .control(
            Method::POST,
            &format!("/apps/{CLIENT_ID}/webhooks"),
            Some(serde_json::json!({
                "url": receiver.url, "secret_token": "console-secret", "events": ["user.created"]
            })),
        )
        .await;
    subscribed.assert_status(201);
    let subscription = subscribed.body["id"].as_str().unwrap().to_string();
    app.member("hooked@localzoom.test").await;
    receiver.wait_for(1).await;
    let browser = signed_in(&app).await;
    let (_, list) = browser.get("/webhooks").await;
    assert!(
        list.contains(&format!("{UI}/webhooks/{subscription}")),
        "{list}"
    );
    // The delivery is recorded just after the endpoint answered it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let (_, page) = browser.get(&format!("/webhooks/{subscription}")).await;
        if page.contains(">delivered<") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        page.contains("hooked@localzoom.test"),
        "the body is shown: {page}"
    );
    assert!(
        !page.contains("console-secret"),
        "no secret is rendered: {page}"
    );
    let log = app
        .control(
            Method::GET,
            &format!("/webhooks/{subscription}/deliveries"),
            None,
        )
        .await;
    let delivery = log.body["deliveries"][0]["id"].as_i64().unwrap();
    let again = browser
        .change(
            &format!("/webhooks/{subscription}/deliveries/{delivery}/redeliver"),
            &[],
        )
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let events = receiver.wait_for(2).await;
    assert_eq!(events[1].body["event"], "user.created");
}

#[backend_test]
async fn the_control_page_moves_the_clock_adds_and_removes_faults_and_resets() {
    let app = TestApp::spawn().await;
    let browser = signed_in(&app).await;
    let (_, page) = browser.get("/control").await;
    let before = app.control(Method::GET, "/clock", None).await.body["now"].clone();
    assert!(page.contains(before.as_str().unwrap()), "{page}");

    let moved = browser
        .change("/control/clock", &[("advance_seconds", "60")])
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    let after = app.control(Method::GET, "/clock", None).await.body["now"].clone();
    assert_ne!(before, after);
    let (_, page) = browser.get("/control?done=clock").await;
    assert!(page.contains("The clock moved."), "{page}");
    let refused = browser
        .change("/control/clock", &[("advance_seconds", "-5")])
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let added = browser
        .change(
            "/control/faults",
            &[
                ("operation", "user"),
                ("status", "503"),
                ("times", "1"),
                ("message", ""),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let owner = app.get("/users/me").await;
    owner.assert_status(503);
    app.get("/users/me").await.assert_status(200);
    let rules = app.control(Method::GET, "/faults", None).await;
    let id = rules.body["faults"][0]["id"].as_str().unwrap().to_string();
    let (_, page) = browser.get("/control").await;
    assert!(page.contains(&id), "{page}");
    let unknown = browser
        .change(
            "/control/faults",
            &[("operation", "noSuchOperation"), ("status", "500")],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let removed = browser
        .change(&format!("/control/faults/{id}/delete"), &[])
        .await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.control(Method::GET, "/faults", None).await.body["faults"],
        serde_json::json!([])
    );

    let user = app.member("gone@localzoom.test").await;
    let reset = browser
        .change("/control/reset", &[("account_id", "")])
        .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    // Everything went back to the bootstrap account: its tokens too.
    app.get("/users/me").await.assert_status(401);
    let token = app.fresh_token().await;
    let url = format!("{}/v2/users/{user}", app.base);
    app.send(app.http.get(url).bearer_auth(token))
        .await
        .assert_status(404);
}

#[backend_test]
async fn a_fixture_file_loads_from_the_control_page() {
    let app = TestApp::spawn().await;
    let browser = signed_in(&app).await;
    let csrf = browser.csrf().await;
    let yaml = format!(
        "accounts:\n  - id: {ACCOUNT_ID}\n    owner_email: {OWNER_EMAIL}\n    users:\n      - email: yaml@localzoom.test\n        first_name: Yaml\n"
    );
    let upload = |bytes: Vec<u8>, name: &str, token: &str| {
        reqwest::multipart::Form::new()
            .text("csrf", token.to_string())
            .part(
                "fixture",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            )
    };
    let forged = browser
        .request(Method::POST, "/control/fixtures")
        .multipart(upload(yaml.clone().into_bytes(), "users.yaml", "forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let broken = browser
        .request(Method::POST, "/control/fixtures")
        .multipart(upload(b"{\"accounts\": 3}".to_vec(), "bad.json", &csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let loaded = browser
        .request(Method::POST, "/control/fixtures")
        .multipart(upload(yaml.into_bytes(), "users.yaml", &csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(
        loaded.status(),
        StatusCode::SEE_OTHER,
        "{}",
        loaded.text().await.unwrap()
    );
    let user = app.get("/users/yaml@localzoom.test").await;
    user.assert_status(200);
    assert_eq!(user.body["first_name"], "Yaml");
}

/// SQLite only: seeding 10,000 users is most of its time.
#[tokio::test]
async fn a_filter_few_users_match_walks_a_bounded_stretch_per_page() {
    let app = TestApp::spawn().await;
    let now = app.clock_now();
    app.db()
        .write(move |tx| async move {
            let store = &tx;

            localzoom_server::service::accounts::seed_users(store, ACCOUNT_ID, 0, 10_050, now).await
        })
        .await
        .unwrap();
    let browser = signed_in(&app).await;
    // The owner is the first of 10,051 active users: the first page finds them, and stops after 10,000.
    let (_, first) = browser.get("/users?role=owner").await;
    assert_eq!(first.matches("<tr><td><a href=").count(), 1, "{first}");
    assert!(
        first.contains("Looked through 10000 users; keep looking"),
        "{first}"
    );
    // The rest holds no owner, and nothing after it.
    let (_, rest) = browser.get(&next_page(&first)).await;
    assert_eq!(rest.matches("<tr><td><a href=").count(), 0, "{rest}");
    assert!(rest.contains("No users match."), "{rest}");
    assert!(!rest.contains("next-page"), "{rest}");
    // Without a filter, pages are full and keyed as before.
    let (_, plain) = browser.get("/users").await;
    assert_eq!(plain.matches("<tr><td><a href=").count(), 50);
    assert!(plain.contains("Next page →"));
}

#[backend_test]
async fn the_cookie_is_secure_when_the_server_is_reached_over_https() {
    let app = TestApp::spawn_tuned(|config| {
        config.public_url = Some("https://zoom.example.test".into());
    })
    .await;
    let mut browser = Browser::new(&app);
    let signed = browser.sign_in(ADMIN_KEY).await;
    let cookie = signed.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    // Over plain HTTP it would never be sent back: the plain server's cookie has no Secure.
    let plain = TestApp::spawn().await;
    let mut browser = Browser::new(&plain);
    let signed = browser.sign_in(ADMIN_KEY).await;
    assert!(
        !signed.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}
