//! Every way a request can fail, by layer: what the rules refuse (`DomainError`), what storage cannot do
//! (`StoreError`), what the gate refuses (tokens, scopes, quotas) and what cannot be read from the request.
//! Nothing here knows HTTP: `http/error.rs` is the one table that turns each into Zoom's status, code and
//! message.

use localzoom_api::FieldError;

use crate::domain::error::DomainError;
use crate::domain::rate_limits::Label;
use crate::store::{StoreError, Taken, TransactionError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// What the rules refuse.
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("invalid access token")]
    InvalidToken,
    #[error("access token expired")]
    ExpiredToken,
    #[error("invalid JSON body")]
    InvalidJson,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("body too large")]
    PayloadTooLarge,
    #[error("body too slow")]
    BodyTimeout,
    #[error("body unreadable")]
    UnreadableBody,
    #[error("unknown endpoint")]
    UnknownEndpoint,
    /// A `/_localzoom/v1` call to a server started without an admin key.
    #[error("control API off")]
    ControlApiOff,
    /// A fault rule's answer (`/_localzoom/v1/faults`): the status, Zoom code and message it names; a 429 carries
    /// the headers of a per-second limit of `rate_limit` (category, limit), as the limiter's own 429 does.
    #[error("fault rule answer {status}")]
    FaultAnswer {
        status: u16,
        code: u32,
        message: String,
        rate_limit: Option<(Label, u32)>,
    },
    /// `DELETE /_localzoom/v1/faults/{id}` of a rule that is not there (any more).
    #[error("no fault rule {0}")]
    NoSuchFaultRule(String),
    /// A form body whose text is JSON: `curl -d '{…}'` without `-H 'Content-Type: application/json'`.
    #[error("JSON body sent as a form")]
    JsonSentAsForm,
    /// The token holds none of the operation's scopes; carries the granular scopes Zoom names in the message.
    #[error("missing scopes: {0}")]
    MissingScopes(String),
    /// The acting user's role lacks the operation's permissions (`x-permissions`).
    #[error("missing permissions: {0}")]
    MissingPermissions(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A per-second (per-minute) quota of the account is spent.
    #[error("{} rate limit {limit} reached", category.as_str())]
    RateLimit { category: Label, limit: u32 },
    /// A daily quota of the account is spent until `reset_at_ms` (the next 00:00 UTC).
    #[error("{} daily limit {limit} reached", category.as_str())]
    DailyRateLimit {
        category: Label,
        limit: u32,
        reset_at_ms: i64,
    },
    /// The shared rate limiter cannot be reached and localzoom was told to fail closed.
    #[error("rate limiter unavailable")]
    LimiterUnavailable,
    /// The database failed (disk full, connection lost, I/O error): nothing was carried out, and trying again
    /// later may work.
    #[error("storage failed: {0}")]
    Storage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(error.to_string())
    }

    pub fn storage(error: impl std::fmt::Display) -> ApiError {
        ApiError::Storage(error.to_string())
    }

    /// The fields a validation failure names (Zoom's `errors[]`).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::Domain(DomainError::Validation(errors)) => errors,
            _ => &[],
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => ApiError::Storage(detail),
            // What the lookups before the write would have refused, had the other write committed first.
            StoreError::Taken(Taken::Email(email)) => DomainError::EmailTaken(email).into(),
            StoreError::Taken(Taken::Pmi(pmi)) => DomainError::PmiTaken(pmi).into(),
            StoreError::Taken(Taken::VanityName) => DomainError::VanityNameTaken.into(),
            // A unique index of the server's own records: an id drawn twice, or a bug; the write did not happen.
            StoreError::Duplicate(index) => ApiError::Storage(format!("duplicate key in {index}")),
            corrupt @ StoreError::Corrupt(_) => ApiError::Internal(corrupt.to_string()),
        }
    }
}

impl TransactionError for ApiError {
    fn storage_failure(&self) -> Option<String> {
        match self {
            ApiError::Storage(detail) => Some(detail.clone()),
            _ => None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Failures of `POST /oauth/token`, in the OAuth shape `{"reason":…,"error":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthFailure {
    InvalidClient,
    UnsupportedGrantType,
    MissingGrantType,
    MissingAccountId,
    InvalidAccount,
    InvalidRequest,
    InvalidCode,
    ExpiredCode,
    RedirectMismatch,
    PkceMismatch,
    InvalidGrant,
    /// Too many failed client authentications; retry after this many seconds.
    TooManyFailures(u64),
    /// A query or body that cannot be read (too large, too slow, too deep, not UTF-8): its status and reason are
    /// the ones `/v2` would give.
    Unreadable(ApiError),
    /// The database failed: try again later (RFC 6749's `temporarily_unavailable`).
    Unavailable,
    Internal,
}

impl From<StoreError> for OAuthFailure {
    fn from(error: StoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl TransactionError for OAuthFailure {
    fn storage_failure(&self) -> Option<String> {
        match self {
            OAuthFailure::Unreadable(error) => error.storage_failure(),
            _ => None,
        }
    }
}

/// A store failure behind the token endpoint: logged with its detail, answered in the OAuth shape.
impl From<ApiError> for OAuthFailure {
    fn from(error: ApiError) -> Self {
        tracing::error!(detail = %error, "token endpoint failed");
        match error {
            ApiError::Storage(_) => OAuthFailure::Unavailable,
            _ => OAuthFailure::Internal,
        }
    }
}
