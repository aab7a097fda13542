//! A client of localzoom's own control API (`/_localzoom/v1`, behind the admin key), for test suites and the
//! `localzoom ctl` commands: reset, fixtures, the request journal, fault rules, the clock, the outbox.
//!
//! ```no_run
//! # async fn run() -> Result<(), localzoom_client::Error> {
//! use localzoom_client::control::{ControlClient, RequestFilter};
//! let control = ControlClient::new("http://127.0.0.1:9800", "my-admin-key")?;
//! control.reset(None).await?;
//! // … run the code under test …
//! let revoked = RequestFilter { operation: Some("userSSOTokenDelete".into()), ..Default::default() };
//! assert_eq!(control.count(&revoked).await?, 2);
//! # Ok(()) }
//! ```

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use localzoom_api::control::{Email, RecordedCall};

use crate::Error;

/// The journal's filters (all optional; all given must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub operation: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<u16>,
    pub user: Option<String>,
    /// Calls after the one with this tracking id.
    pub since: Option<String>,
    /// RFC 3339 times: calls at or after `from`, before `to`.
    pub from: Option<String>,
    pub to: Option<String>,
}

impl RequestFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("operation", self.operation.clone()),
            ("account_id", self.account_id.clone()),
            ("status", self.status.map(|s| s.to_string())),
            ("user", self.user.clone()),
            ("since", self.since.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: String,
    admin_key: String,
}

impl ControlClient {
    /// `base` is the server's root (`http://127.0.0.1:9800`), `admin_key` its `--admin-key`.
    pub fn new(base: &str, admin_key: &str) -> Result<ControlClient, Error> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(ControlClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            admin_key: admin_key.to_string(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Vec<u8>, Error> {
        let mut request = self
            .http
            .request(method, format!("{}/_localzoom/v1{path}", self.base))
            .bearer_auth(&self.admin_key)
            .query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<T, Error> {
        let bytes = self.call(method, path, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse(e.to_string()))
    }

    /// Everything back to the bootstrap account and app (and the start fixture), or one account.
    pub async fn reset(&self, account_id: Option<&str>) -> Result<(), Error> {
        let body = account_id.map(|id| json!({ "account_id": id }));
        self.call(Method::POST, "/reset", &[], body).await.map(drop)
    }

    /// Loads a fixture document (YAML when `yaml`, else JSON).
    pub async fn load_fixture(&self, document: Vec<u8>, yaml: bool) -> Result<(), Error> {
        let request = self
            .http
            .post(format!("{}/_localzoom/v1/fixtures", self.base))
            .bearer_auth(&self.admin_key)
            .header(
                reqwest::header::CONTENT_TYPE,
                if yaml {
                    "application/yaml"
                } else {
                    "application/json"
                },
            )
            .body(document);
        answer(request).await.map(drop)
    }

    /// The journal's calls the filter wants, oldest first, and how many were dropped for room.
    pub async fn requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<(Vec<RecordedCall>, u64), Error> {
        #[derive(Deserialize)]
        struct Listing {
            requests: Vec<RecordedCall>,
            dropped: u64,
        }
        let listing: Listing = self
            .json(Method::GET, "/requests", &filter.query(), None)
            .await?;
        Ok((listing.requests, listing.dropped))
    }

    pub async fn count(&self, filter: &RequestFilter) -> Result<u64, Error> {
        let counted: Value = self
            .json(Method::GET, "/requests/count", &filter.query(), None)
            .await?;
        counted["count"]
            .as_u64()
            .ok_or_else(|| Error::InvalidResponse(counted.to_string()))
    }

    pub async fn clear_requests(&self) -> Result<(), Error> {
        self.call(Method::DELETE, "/requests", &[], None)
            .await
            .map(drop)
    }

    /// Adds a fault rule (`{"operation", "path", "account_id", "client_id", "probability", "times", "status",
    /// "code", "message", "latency_ms", "reset_connection", "seed"}`); returns it as kept, with its `id`.
    pub async fn add_fault(&self, rule: Value) -> Result<Value, Error> {
        self.json(Method::POST, "/faults", &[], Some(rule)).await
    }

    pub async fn faults(&self) -> Result<Vec<Value>, Error> {
        let listing: Value = self.json(Method::GET, "/faults", &[], None).await?;
        Ok(listing["faults"].as_array().cloned().unwrap_or_default())
    }

    /// Deletes one rule, or all (`None`).
    pub async fn delete_faults(&self, id: Option<&str>) -> Result<(), Error> {
        let path = match id {
            Some(id) => format!("/faults/{id}"),
            None => "/faults".into(),
        };
        self.call(Method::DELETE, &path, &[], None).await.map(drop)
    }

    /// The server's time (RFC 3339).
    pub async fn now(&self) -> Result<String, Error> {
        let clock: Value = self.json(Method::GET, "/clock", &[], None).await?;
        Ok(clock["now"].as_str().unwrap_or_default().to_string())
    }

    /// Moves the server's clock forward; returns the new time.
    pub async fn advance_clock(&self, seconds: u64) -> Result<String, Error> {
        self.set_clock(json!({ "advance_seconds": seconds })).await
    }

    /// Moves the server's clock forward to `now` (RFC 3339); returns the new time.
    pub async fn set_clock_to(&self, now: &str) -> Result<String, Error> {
        self.set_clock(json!({ "now": now })).await
    }

    async fn set_clock(&self, body: Value) -> Result<String, Error> {
        let clock: Value = self.json(Method::POST, "/clock", &[], Some(body)).await?;
        Ok(clock["now"].as_str().unwrap_or_default().to_string())
    }

    /// The e-mails recorded, oldest first; those to `user` (id or e-mail) when given.
    pub async fn outbox(&self, user: Option<&str>) -> Result<Vec<Email>, Error> {
        #[derive(Deserialize)]
        struct Messages {
            messages: Vec<Email>,
        }
        let query: Vec<_> = user.map(|u| ("user", u.to_string())).into_iter().collect();
        let messages: Messages = self.json(Method::GET, "/outbox", &query, None).await?;
        Ok(messages.messages)
    }

    pub async fn clear_outbox(&self, user: Option<&str>) -> Result<(), Error> {
        let query: Vec<_> = user.map(|u| ("user", u.to_string())).into_iter().collect();
        self.call(Method::DELETE, "/outbox", &query, None)
            .await
            .map(drop)
    }

    /// Signs a user in from a client (a sign-in session of `login_type`, e.g. 101 for SSO).
    pub async fn sign_in(&self, user: &str, login_type: i64) -> Result<Value, Error> {
        self.json(
            Method::POST,
            &format!("/users/{user}/sessions"),
            &[],
            Some(json!({ "login_type": login_type })),
        )
        .await
    }
}

/// The answer's body, or the control API's refusal as a `ZoomError`.
async fn answer(request: reqwest::RequestBuilder) -> Result<Vec<u8>, Error> {
    let response = request.send().await.map_err(Error::Transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(Error::Transport)?.to_vec();
    if status.is_success() {
        Ok(body)
    } else {
        Err(Error::Api(Box::new(crate::zoom_error(
            status, &headers, &body,
        ))))
    }
}
