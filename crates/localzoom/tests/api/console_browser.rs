//! The web console driven in a real browser: headless Chromium through ChromeDriver's WebDriver protocol (plain
//! HTTP and JSON, so no WebDriver crate is needed). Each flow checks its effect through `/v2`, and each page is
//! photographed: into `docs/console/` with `LOCALZOOM_SCREENSHOTS=docs`, else into a temporary directory (still
//! checked to be PNG images).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without them the test is skipped
//! with the reason, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// WebDriver's key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one browser session of it; both end when this is dropped.
struct Browser {
    driver: Child,
    port: u16,
    http: reqwest::Client,
    session: String,
    /// `http://127.0.0.1:PORT/session/ID`.
    endpoint: String,
    screenshots: PathBuf,
    _temporary: Option<tempfile::TempDir>,
}

impl Browser {
    async fn start() -> Option<Browser> {
        for needed in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(needed).exists() {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!(
                        "CI=true and {needed} is missing (apt-get install chromium chromium-driver)"
                    );
                }
                eprintln!(
                    "skipping: {needed} is missing (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        }
        let port = crate::process::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=en-US"],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        let (screenshots, temporary) = match std::env::var("LOCALZOOM_SCREENSHOTS") {
            Ok(docs) => {
                let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
                let dir = root.join(docs).join("console");
                std::fs::create_dir_all(&dir).unwrap();
                (dir, None)
            }
            Err(_) => {
                let temporary = tempfile::tempdir().unwrap();
                (temporary.path().to_path_buf(), Some(temporary))
            }
        };
        Some(Browser {
            driver,
            port,
            http,
            endpoint: format!("{base}/session/{session}"),
            session,
            screenshots,
            _temporary: temporary,
        })
    }

    async fn command(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|answer| panic!("WebDriver {method} {path}: {answer}"))
    }

    /// The command's value, or WebDriver's whole answer if it is an error.
    async fn try_command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.endpoint));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == Method::POST {
            request = request.json(&json!({}));
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        match answer["value"]["error"].is_null() {
            true => Ok(answer["value"].clone()),
            false => Err(answer),
        }
    }

    async fn open(&self, url: &str) {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// A command that answers text (the URL, the page's source, an element's text).
    async fn text_of(&self, path: &str) -> String {
        let value = self.command(Method::GET, path, None).await;
        value
            .as_str()
            .unwrap_or_else(|| panic!("{path}: {value}"))
            .to_string()
    }

    async fn url(&self) -> String {
        self.text_of("/url").await
    }

    async fn source(&self) -> String {
        self.text_of("/source").await
    }

    /// The element `css` selects, waited for (pages load after a click).
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let using = json!({ "using": "css selector", "value": css });
        loop {
            let found = self
                .try_command(Method::POST, "/element", Some(using.clone()))
                .await;
            if let Some(id) = found.as_ref().ok().and_then(|v| v[ELEMENT].as_str()) {
                return id.to_string();
            }
            assert!(Instant::now() < deadline, "no element {css}: {found:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks what `css` selects. An element found on the page being left is stale by the time it is clicked
    /// (the next page loads after a click): it is looked up again.
    async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let id = self.find(css).await;
            match self
                .try_command(Method::POST, &format!("/element/{id}/click"), None)
                .await
            {
                Ok(_) => return,
                Err(answer) if answer["value"]["error"] == "stale element reference" => {
                    assert!(Instant::now() < deadline, "{css} stayed stale: {answer}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(answer) => panic!("WebDriver click {css}: {answer}"),
            }
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(Method::POST, &format!("/element/{id}/clear"), None)
            .await;
        self.command(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.text_of(&format!("/element/{id}/text")).await
    }

    /// Waits until the page's source holds `needle` (a page loading, or the journal's table polling).
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let source = self.source().await;
            if source.contains(needle) {
                return source;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {needle}: {source}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let encoded = self.command(Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG image");
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    /// Ends the session (which closes Chromium) with a plain blocking request, since this may run during a
    /// panic; then the driver.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_s_main_flows_work_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let user = app.member("dana@localzoom.test").await;
    app.add_session(&user, 100).await;
    for n in 0..12 {
        app.member(&format!("member{n:02}@localzoom.test")).await;
    }
    let ui = format!("{}/_localzoom/ui", app.base);

    // Sign in: a form, then the users table.
    browser.open(&ui).await;
    browser.find("#key").await;
    browser.screenshot("sign-in").await;
    browser.type_into("#key", ADMIN_KEY).await;
    browser.click("#sign-in").await;
    browser.wait_for("member11@localzoom.test").await;
    assert!(browser.url().await.ends_with("/_localzoom/ui/users"));
    browser.screenshot("users").await;

    // Find a user, open their page, deactivate them; /v2 sees it.
    browser.type_into("#q", "DANA@localzoom.test").await;
    browser.click("#filter").await;
    // The search's own page, not the full table still showing while it loads.
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.source().await.contains("member00@localzoom.test") {
        assert!(Instant::now() < deadline, "the search never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser
        .click(&format!("a[href='/_localzoom/ui/users/{user}']"))
        .await;
    browser.find("#deactivate").await;
    browser.screenshot("user").await;
    browser.click("#deactivate").await;
    browser.find("#activate").await;
    let status = app.get(&format!("/users/{user}")).await;
    assert_eq!(status.body["status"], "inactive");
    assert!(browser.text("#profile").await.contains("inactive"));

    // Watch a request appear in the journal, live: the page is open before the call is made.
    browser.click("nav a[href='/_localzoom/ui/requests']").await;
    browser.find("#requests").await;
    let marker = "journal-marker@localzoom.test";
    app.get(&format!("/users/{marker}"))
        .await
        .assert_status(404);
    browser.wait_for(&format!("GET /v2/users/{marker}")).await;
    browser.screenshot("requests").await;
    browser.click("a[href*='/_localzoom/ui/requests/']").await;
    browser.find("#response-body").await;
    browser.screenshot("request").await;

    // Add a fault and see the next call fail.
    browser.click("nav a[href='/_localzoom/ui/control']").await;
    browser.click("#fault-operation option[value='user']").await;
    browser.type_into("#fault-status", "503").await;
    browser.click("#add-fault-rule").await;
    browser.wait_for("The fault rule was added.").await;
    browser.screenshot("control").await;
    app.get("/users/me").await.assert_status(503);

    // The webhooks pages, with a delivery the endpoint refused: attempts, its answer, the next retry.
    app.control(Method::DELETE, "/faults", None)
        .await
        .assert_status(204);
    let receiver = crate::receiver::Receiver::start("browser-secret");
    receiver.answer_events_with(500);
    app.control(
        Method::POST,
        &format!("/apps/{CLIENT_ID}/webhooks"),
        Some(json!({
            "url": receiver.url, "secret_token": "browser-secret", "events": ["user.created"]
        })),
    )
    .await
    .assert_status(201);
    app.member("hooked@localzoom.test").await;
    receiver.wait_for(1).await;
    browser.click("nav a[href='/_localzoom/ui/webhooks']").await;
    browser.find("#webhooks a").await;
    browser.screenshot("webhooks").await;
    browser.click("#webhooks a").await;
    browser.find("#deliveries").await;
    // The attempt is recorded just after the endpoint answered it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let last_status = "#deliveries tbody tr:first-child td:nth-child(5)";
    while browser.text(last_status).await != "500" {
        assert!(Instant::now() < deadline, "the failed attempt never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
        browser.command(Method::POST, "/refresh", None).await;
    }
    browser.screenshot("webhook").await;
}
