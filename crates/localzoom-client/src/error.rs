//! What a call can fail with. Zoom's own refusals are `Error::Api(ZoomError)`, carrying the HTTP status, Zoom's
//! `code` and `message`, field errors, the `x-zm-trackingid` to quote to Zoom support, and for 429s what the
//! rate-limit headers said.

use std::time::SystemTime;

use localzoom_api::FieldError;

/// Which kind of quota refused a call (`X-RateLimit-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKind {
    /// A per-second (per-minute) quota: waiting a moment helps.
    Qps,
    /// A daily quota: nothing helps before `retry_after`.
    Daily,
}

/// The rate-limit headers of a 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub kind: RateLimitKind,
    /// `X-RateLimit-Category`: `Light`, `Medium`, `Heavy` or `Resource-intensive`.
    pub category: Option<String>,
    /// `X-RateLimit-Limit`: the quota that was spent.
    pub limit: Option<u32>,
    /// `Retry-After` of a daily limit: when the quota starts again (00:00 UTC).
    pub retry_after: Option<SystemTime>,
}

/// An error answer of Zoom's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoomError {
    pub http_status: u16,
    /// Zoom's error code (`0` if the body had none).
    pub code: u32,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub tracking_id: Option<String>,
    /// Present on 429s.
    pub rate_limit: Option<RateLimit>,
    /// The call that was refused, as `METHOD URL` (what to check when the API calls an endpoint unknown).
    pub request: Option<String>,
}

impl std::fmt::Display for ZoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (code {}, HTTP {})",
            self.message, self.code, self.http_status
        )?;
        for e in &self.errors {
            write!(f, "; {}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Zoom refused the call (boxed: it is large, and the happy path should not carry its size).
    #[error("{0}")]
    Api(Box<ZoomError>),
    /// The OAuth token endpoint refused the credentials or grant.
    #[error("OAuth token request refused (HTTP {http_status}): {reason} ({error})")]
    OAuth {
        http_status: u16,
        error: String,
        reason: String,
    },
    /// The request did not complete within the configured timeout.
    #[error("request timed out")]
    Timeout,
    /// The request could not be sent or its answer not read.
    #[error("HTTP transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not what Zoom's API documents.
    #[error("unexpected response: {0}")]
    InvalidResponse(String),
    /// The client is not configured to make this call.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The Zoom error, if Zoom refused the call.
    pub fn zoom(&self) -> Option<&ZoomError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The rate-limit headers, if a quota refused the call.
    pub fn rate_limit(&self) -> Option<&RateLimit> {
        self.zoom().and_then(|e| e.rate_limit.as_ref())
    }

    /// When a spent daily quota starts again.
    pub fn daily_limit_reset(&self) -> Option<SystemTime> {
        self.rate_limit()
            .filter(|r| r.kind == RateLimitKind::Daily)
            .and_then(|r| r.retry_after)
    }

    pub(crate) fn from_reqwest(e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout
        } else {
            Error::Transport(e)
        }
    }
}
