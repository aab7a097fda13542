//! A typed async client for Zoom's Users API, for real Zoom and for localzoom alike: only the two base URLs differ
//! (`https://zoom.us` for OAuth, `https://api.zoom.us/v2` for the API).
//!
//! ```no_run
//! # async fn run() -> Result<(), localzoom_client::Error> {
//! use localzoom_client::{Client, StatusAction};
//! // ZOOM_ACCOUNT_ID, ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET; ZOOM_API_URL and ZOOM_OAUTH_URL for localzoom.
//! let zoom = Client::from_env()?;
//! zoom.revoke_sso_token("jane@example.com").await?;
//! zoom.update_status("jane@example.com", StatusAction::Deactivate).await?;
//! # Ok(()) }
//! ```
//!
//! Rate limits: a 429 for a per-second quota is retried with exponential back-off and jitter, up to the
//! `RetryPolicy`'s budget (`RetryPolicy::none()` returns it at once); a 429 for a daily quota is returned at
//! once with its reset time (`Error::daily_limit_reset`). With pacing on, the client also learns each quota from
//! the first 429 and spaces later calls of that category under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

mod auth;
pub mod control;
mod error;
mod pacing;
mod users;

pub use auth::{Credentials, MemoryTokenStore, TokenStore, UserTokens};
pub use error::{Error, RateLimit, RateLimitKind, ZoomError};
pub use localzoom_api as types;
pub use localzoom_api::{DeleteAction, StatusAction, UserUpdate};
pub use users::ListUsers;

pub const DEFAULT_API_URL: &str = "https://api.zoom.us/v2";
pub const DEFAULT_OAUTH_URL: &str = "https://zoom.us";
use localzoom_api::headers::{self, TRACKING_ID as TRACKING_HEADER};
use localzoom_api::operations::{Api, Method as ApiMethod, Operation};

/// How 429s of per-second quotas are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    /// The first retry waits about this long; each further one twice as long, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// No retries: every 429 reaches the caller (tests of back-off code want exactly that).
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `attempt` (0-based): exponential, with "equal jitter" so that many clients
    /// refused at once do not come back at once.
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// Builds a `Client`.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    api_url: String,
    oauth_url: String,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
    timeout: Duration,
    user_agent: String,
    pacing: bool,
    refresh_before: Duration,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_url: DEFAULT_API_URL.into(),
            oauth_url: DEFAULT_OAUTH_URL.into(),
            credentials: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            user_agent: format!("localzoom-client/{}", env!("CARGO_PKG_VERSION")),
            pacing: false,
            refresh_before: Duration::from_secs(60),
        }
    }
}

impl ClientBuilder {
    /// The API's base URL, e.g. `https://api.zoom.us/v2` or `http://127.0.0.1:9800/v2`.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The OAuth host, e.g. `https://zoom.us`; `/oauth/token` is appended.
    pub fn oauth_url(mut self, url: impl Into<String>) -> Self {
        self.oauth_url = url.into();
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn server_to_server(
        self,
        account_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.credentials(Credentials::ServerToServer {
            account_id: account_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        })
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The whole-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Space calls under the quotas learned from 429s (default off).
    pub fn pacing(mut self, on: bool) -> Self {
        self.pacing = on;
        self
    }

    /// Replace a token this long before it expires (default one minute).
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let credentials = self
            .credentials
            .ok_or_else(|| Error::Config("no credentials".into()))?;
        let parse = |what: &str, url: &str| {
            Url::parse(url.trim_end_matches('/'))
                .map_err(|e| Error::Config(format!("{what} {url:?}: {e}")))
        };
        let api_url = parse("API URL", &self.api_url)?;
        let token_url = parse(
            "OAuth URL",
            &format!("{}/oauth/token", self.oauth_url.trim_end_matches('/')),
        )?;
        if api_url.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "API URL {:?} cannot be a base",
                self.api_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_url,
                auth: auth::Auth::new(credentials, token_url, self.refresh_before),
                retry: self.retry,
                pacer: self.pacing.then(pacing::Pacer::default),
                rate_limit_retries: AtomicU64::new(0),
            }),
        })
    }
}

/// A Zoom Users API client; cheap to clone and safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    auth: auth::Auth,
    retry: RetryPolicy,
    pacer: Option<pacing::Pacer>,
    rate_limit_retries: AtomicU64,
}

/// A path template's segments with each `{param}` replaced by the next value (encoded later, one segment each).
fn segments<'a>(template: &'a str, values: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    let mut values = values.iter();
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(move |segment| {
            if segment.starts_with('{') {
                values.next().copied().unwrap_or_default()
            } else {
                segment
            }
        })
}

/// One API call, as the methods in `users` describe it.
struct Call<'a> {
    /// The operation's entry in the table: its id, method, path and rate-limit label.
    operation: &'static Operation,
    /// The values of the path's `{param}`s, in order.
    path_values: Vec<&'a str>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// A file sent as `multipart/form-data` instead of a JSON body: the part's name, the file's name, its bytes.
    file: Option<(&'static str, String, Vec<u8>)>,
}

impl Call<'_> {
    fn method(&self) -> Method {
        match self.operation.method {
            ApiMethod::Get => Method::GET,
            ApiMethod::Post => Method::POST,
            ApiMethod::Put => Method::PUT,
            ApiMethod::Patch => Method::PATCH,
            ApiMethod::Delete => Method::DELETE,
        }
    }

    fn category(&self) -> &'static str {
        self.operation.label.as_str()
    }
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A Server-to-Server client from `ZOOM_ACCOUNT_ID`, `ZOOM_CLIENT_ID`, `ZOOM_CLIENT_SECRET`, with the URLs
    /// from `ZOOM_API_URL` and `ZOOM_OAUTH_URL` (Zoom's own when unset).
    pub fn from_env() -> Result<Client, Error> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set")))
        };
        let mut builder = Client::builder().server_to_server(
            var("ZOOM_ACCOUNT_ID")?,
            var("ZOOM_CLIENT_ID")?,
            var("ZOOM_CLIENT_SECRET")?,
        );
        if let Ok(url) = std::env::var("ZOOM_API_URL") {
            builder = builder.api_url(url);
        }
        if let Ok(url) = std::env::var("ZOOM_OAUTH_URL") {
            builder = builder.oauth_url(url);
        }
        builder.build()
    }

    /// How many 429s of per-second quotas were retried so far (retries are never silent: each is also logged).
    pub fn rate_limit_retries(&self) -> u64 {
        self.inner.rate_limit_retries.load(Ordering::Relaxed)
    }

    /// How many access tokens were fetched or refreshed so far.
    pub fn tokens_fetched(&self) -> u64 {
        self.inner.auth.fetched.load(Ordering::Relaxed)
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, Error> {
        // The URL parser would drop `.` and `..` segments (and an empty one would address another endpoint).
        if let Some(bad) = call
            .path_values
            .iter()
            .find(|s| matches!(**s, "" | "." | ".."))
        {
            return Err(Error::Config(format!(
                "{:?} is not a user or resource id",
                bad
            )));
        }
        let mut url = self.inner.api_url.clone();
        let ends_in_v2 = url.path().trim_end_matches('/').ends_with("/v2");
        let mut path = url
            .path_segments_mut()
            .map_err(|_| Error::Config("API URL cannot be a base".into()))?;
        path.pop_if_empty();
        // SCIM's paths start at the host's root, beside `/v2`.
        if call.operation.api == Api::Scim2 && ends_in_v2 {
            path.pop();
        }
        // Each segment is percent-encoded: an e-mail with `+` or `/` stays one segment.
        path.extend(segments(call.operation.path, &call.path_values));
        drop(path);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    async fn send(&self, call: Call<'_>) -> Result<Vec<u8>, Error> {
        let url = self.url(&call)?;
        let span = tracing::debug_span!("zoom_api", operation = call.operation.name, method = %call.method());
        self.send_with_retries(&call, url).instrument(span).await
    }

    async fn send_with_retries(&self, call: &Call<'_>, url: Url) -> Result<Vec<u8>, Error> {
        let inner = &self.inner;
        let mut retries = 0;
        let mut renewed_token = false;
        loop {
            if let Some(pacer) = &inner.pacer {
                pacer.wait(call.category()).await;
            }
            let token = inner.auth.token(&inner.http).await?;
            let mut request = inner
                .http
                .request(call.method(), url.clone())
                .bearer_auth(&token);
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            if let Some((field, name, bytes)) = &call.file {
                let part = reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone());
                request = request.multipart(reqwest::multipart::Form::new().part(*field, part));
            }
            let response = request.send().await.map_err(Error::from_reqwest)?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(Error::from_reqwest)?;
            if status.is_success() {
                return Ok(body.to_vec());
            }
            let mut error = zoom_error(status, &headers, &body);
            error.request = Some(format!("{} {url}", call.method()));
            // An expired or revoked token: fetch another once, then give up.
            if status == StatusCode::UNAUTHORIZED
                && error.code == 124
                && !renewed_token
                && inner.auth.renewable()
            {
                renewed_token = true;
                inner.auth.invalidate(&token).await;
                continue;
            }
            if let Some(limit) = &error.rate_limit
                && limit.kind == RateLimitKind::Qps
            {
                if let (Some(pacer), Some(max)) = (&inner.pacer, limit.limit) {
                    let category = limit.category.as_deref().unwrap_or(call.category());
                    pacer.learn(category, max);
                }
                if retries < inner.retry.max_retries {
                    let delay = inner.retry.delay(retries);
                    retries += 1;
                    inner.rate_limit_retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        operation = call.operation.name,
                        retry = retries,
                        delay_ms = delay.as_millis() as u64,
                        "per-second rate limit reached; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            return Err(Error::Api(Box::new(error)));
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let operation = call.operation.name;
        let body = self.send(call).await?;
        serde_json::from_slice(&body)
            .map_err(|e| Error::InvalidResponse(format!("{operation}: {e}")))
    }

    async fn empty(&self, call: Call<'_>) -> Result<(), Error> {
        self.send(call).await.map(|_| ())
    }
}

/// An error answer as `ZoomError`, with what its rate-limit headers said.
fn zoom_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ZoomError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parsed: Option<localzoom_api::ZoomError> = serde_json::from_slice(body).ok();
    let (code, message, errors) = match parsed {
        Some(e) => (e.code, e.message, e.errors),
        None => (
            0,
            String::from_utf8_lossy(body).trim().to_string(),
            Vec::new(),
        ),
    };
    let rate_limit = (status == StatusCode::TOO_MANY_REQUESTS).then(|| {
        let daily = header(headers::RATE_LIMIT_TYPE)
            .is_some_and(|t| t.eq_ignore_ascii_case(headers::DAILY_LIMIT));
        RateLimit {
            kind: if daily {
                RateLimitKind::Daily
            } else {
                RateLimitKind::Qps
            },
            category: header(headers::RATE_LIMIT_CATEGORY).map(str::to_string),
            limit: header(headers::RATE_LIMIT_LIMIT).and_then(|v| v.parse().ok()),
            retry_after: header(RETRY_AFTER.as_str()).and_then(parse_retry_after),
        }
    });
    ZoomError {
        http_status: status.as_u16(),
        code,
        message,
        errors,
        tracking_id: header(TRACKING_HEADER).map(str::to_string),
        rate_limit,
        request: None,
    }
}

/// `Retry-After` as Zoom sends it (an ISO-8601 date-time), or as seconds.
fn parse_retry_after(value: &str) -> Option<SystemTime> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(SystemTime::now() + Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.unix_timestamp()).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_errors_carry_the_rate_limit_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-type", "Daily-limit".parse().unwrap());
        headers.insert("x-ratelimit-category", "Light".parse().unwrap());
        headers.insert("x-ratelimit-limit", "6000".parse().unwrap());
        headers.insert("retry-after", "2026-01-02T00:00:00Z".parse().unwrap());
        headers.insert(TRACKING_HEADER, "v=2.0;clid=x".parse().unwrap());
        let body = br#"{"code":429,"message":"You have reached the maximum daily rate limit for this API."}"#;
        let error = zoom_error(StatusCode::TOO_MANY_REQUESTS, &headers, body);
        assert_eq!(error.code, 429);
        assert_eq!(error.tracking_id.as_deref(), Some("v=2.0;clid=x"));
        let limit = error.rate_limit.unwrap();
        assert_eq!(limit.kind, RateLimitKind::Daily);
        assert_eq!(limit.limit, Some(6000));
        assert_eq!(
            limit.retry_after,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_312_000))
        );
    }

    #[test]
    fn back_off_doubles_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..10 {
            let full = (policy.base_delay * (1 << attempt)).min(policy.max_delay);
            let delay = policy.delay(attempt);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
    }
}
