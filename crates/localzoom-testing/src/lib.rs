//! localzoom in a Rust test, as wiremock's `MockServer::start()` gives a mock: `LocalZoom::start().await` runs a
//! Zoom-compatible server in this process on a port the system picks, with its own SQLite database in a
//! temporary folder (gone when the value is dropped), and hands out the two base URLs, the bootstrap app's
//! credentials, a client of Zoom's API and a client of the control API (reset, fixtures, the request journal,
//! fault rules, the clock, the outbox). See docs/testing.md.
//!
//! ```no_run
//! # async fn run() {
//! use localzoom_client::StatusAction;
//! use localzoom_client::control::RequestFilter;
//! let zoom = localzoom_testing::LocalZoom::start().await;
//! let client = zoom.client();                 // or: any Zoom client, given zoom.api_url and zoom.oauth_url
//! # let user_id = "";
//! client.update_status(user_id, StatusAction::Deactivate).await.ok();
//! let status_calls = RequestFilter { operation: Some("userStatus".into()), ..Default::default() };
//! assert_eq!(zoom.control().count(&status_calls).await.unwrap(), 1);
//! # }
//! ```

use std::path::PathBuf;

use localzoom_client::control::ControlClient;
use localzoom_server::crypto::{HashParams, HistoryKey};
use localzoom_server::domain::account::AccountPlan;
use localzoom_server::server::{self, ServerConfig, Started};

/// A running server and what a test needs to talk to it.
pub struct LocalZoom {
    /// Zoom's API base (`https://api.zoom.us/v2` at Zoom): `http://127.0.0.1:PORT/v2`.
    pub api_url: String,
    /// Zoom's OAuth base (`https://zoom.us` at Zoom): `http://127.0.0.1:PORT`.
    pub oauth_url: String,
    /// The bootstrap account and its Server-to-Server app (`ZOOM_ACCOUNT_ID`, `ZOOM_CLIENT_ID`,
    /// `ZOOM_CLIENT_SECRET`).
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The control API's key.
    pub admin_key: String,
    control: ControlClient,
    server: Option<Started>,
    _dir: tempfile::TempDir,
}

/// How the server starts; `LocalZoom::start()` takes the defaults.
#[derive(Debug, Clone)]
pub struct Builder {
    plan: AccountPlan,
    rate_limits: bool,
    fixtures: Option<PathBuf>,
    database: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            plan: AccountPlan::Pro,
            rate_limits: true,
            fixtures: None,
            database: None,
        }
    }
}

impl Builder {
    /// The bootstrap account's plan (`pro` by default), which sets its rate limits.
    pub fn plan(mut self, plan: AccountPlan) -> Self {
        self.plan = plan;
        self
    }

    /// Enforce Zoom's rate limits (on by default, as at Zoom).
    pub fn rate_limits(mut self, on: bool) -> Self {
        self.rate_limits = on;
        self
    }

    /// A fixture document loaded at start and again after each reset (docs/fixtures.md).
    pub fn fixtures(mut self, path: impl Into<PathBuf>) -> Self {
        self.fixtures = Some(path.into());
        self
    }

    /// Another database than a fresh SQLite file (`postgres://…`: give each test its own database or schema).
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    pub async fn try_start(self) -> anyhow::Result<LocalZoom> {
        let dir = tempfile::tempdir()?;
        let database = match self.database {
            Some(url) => url,
            None => format!("sqlite://{}", dir.path().join("localzoom.db").display()),
        };
        let admin_key = localzoom_server::crypto::new_secret();
        let mut config = ServerConfig::new("127.0.0.1:0", &database);
        config.bootstrap.plan = Some(self.plan);
        config.rate_limits = self.rate_limits;
        config.admin_key = Some(admin_key.clone());
        config.fixtures = self.fixtures;
        // Fast hashes: test passwords need not resist guessing.
        config.hash_params = HashParams::MINIMAL;
        config.history_key = Some(HistoryKey::from_bytes(localzoom_server::crypto::sha256(
            localzoom_server::crypto::new_secret().as_bytes(),
        )));
        let started = server::start(config).await?;
        let oauth_url = format!("http://{}", started.addr);
        let bootstrap = &started.bootstrap;
        let client_secret = bootstrap
            .generated_secret
            .clone()
            .ok_or_else(|| anyhow::anyhow!("a fresh database generates the app's secret"))?;
        Ok(LocalZoom {
            api_url: format!("{oauth_url}/v2"),
            account_id: bootstrap.account_id.clone(),
            client_id: bootstrap.client_id.clone(),
            client_secret,
            control: ControlClient::new(&oauth_url, &admin_key)?,
            admin_key,
            oauth_url,
            server: Some(started),
            _dir: dir,
        })
    }

    /// Starts the server; panics (failing the test) if it cannot.
    pub async fn start(self) -> LocalZoom {
        match self.try_start().await {
            Ok(zoom) => zoom,
            Err(e) => panic!("localzoom did not start: {e:#}"),
        }
    }
}

impl LocalZoom {
    /// A server with the defaults: a Pro account, Zoom's rate limits, a fresh SQLite database.
    pub async fn start() -> LocalZoom {
        Builder::default().start().await
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The control API (`/_localzoom/v1`) with this server's admin key.
    pub fn control(&self) -> &ControlClient {
        &self.control
    }

    /// A client of Zoom's API through the bootstrap Server-to-Server app.
    pub fn client(&self) -> localzoom_client::Client {
        localzoom_client::Client::builder()
            .api_url(&self.api_url)
            .oauth_url(&self.oauth_url)
            .server_to_server(&self.account_id, &self.client_id, &self.client_secret)
            .build()
            .expect("a client of a local server")
    }

    /// Stops the server, letting requests in flight finish (dropping it stops it with the test's runtime).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(server) => server.stop().await,
            None => Ok(()),
        }
    }
}
