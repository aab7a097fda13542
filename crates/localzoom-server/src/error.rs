//! The one place where a failure becomes Zoom's HTTP status, code and message. Handlers and domain code return
//! `ApiError` variants; nothing else builds an error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use localzoom_api::{FieldError, OAuthError, ZoomError};

use crate::domain::password::PasswordRule;
use crate::domain::rate_limits::Label;
use crate::store::{StoreError, TransactionError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("invalid access token")]
    InvalidToken,
    #[error("access token expired")]
    ExpiredToken,
    #[error("user not found: {0}")]
    UserNotFound(String),
    #[error("account not found: {0}")]
    AccountNotFound(String),
    #[error("email taken: {0}")]
    EmailTaken(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
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
    /// A form body whose text is JSON: `curl -d '{…}'` without `-H 'Content-Type: application/json'`.
    #[error("JSON body sent as a form")]
    JsonSentAsForm,
    #[error("bad next_page_token")]
    BadPageToken,
    #[error("email is required")]
    EmailRequired,
    /// Zoom's generic code 300 with a specific message.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Zoom's generic code 200 ("no privilege / not allowed") with a specific message.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("admin or Zoom Room status change")]
    StatusProtected,
    #[error("user has upcoming Zoom Events")]
    UpcomingZoomEvents,
    #[error("basic user cap {0} reached")]
    BasicUserCap(u32),
    #[error("basic user cap {0} reached on create")]
    BasicUserCapOnCreate(u32),
    #[error("basic user cap {0} reached on type change")]
    BasicUserCapOnConvert(u32),
    /// The token holds none of the operation's scopes; carries the granular scopes Zoom names in the message.
    #[error("missing scopes: {0}")]
    MissingScopes(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("password rule: {0:?}")]
    Password(PasswordRule),
    #[error("admin password")]
    AdminPassword,
    #[error("not a work-email user")]
    NotWorkEmailUser,
    #[error("admin cannot be disassociated")]
    DisassociateAdmin,
    #[error("managed-domain user cannot be disassociated")]
    DisassociateManagedDomain,
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
    /// The table: every variant's HTTP status, Zoom code and message.
    pub fn parts(&self) -> (StatusCode, u32, String) {
        use ApiError::*;
        use StatusCode as S;
        match self {
            InvalidToken => (S::UNAUTHORIZED, 124, "Invalid access token.".into()),
            ExpiredToken => (S::UNAUTHORIZED, 124, "Access token is expired.".into()),
            UserNotFound(id) => (S::NOT_FOUND, 1001, format!("User does not exist: {id}.")),
            AccountNotFound(id) => (S::NOT_FOUND, 2001, format!("Account does not exist: {id}.")),
            EmailTaken(email) => (S::CONFLICT, 1005, format!("Email \"{email}\" has already been used.")),
            Validation(_) => (S::BAD_REQUEST, 300, "Validation Failed.".into()),
            InvalidJson => (S::BAD_REQUEST, 300, "Request Body should be a valid JSON object.".into()),
            UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                300,
                "Unsupported Content-Type: send application/json, multipart/form-data or \
                 application/x-www-form-urlencoded."
                    .into(),
            ),
            PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, 300, "Request body is too large.".into()),
            UnreadableBody => (
                S::BAD_REQUEST,
                300,
                "The request body could not be read (malformed chunked encoding, or the connection ended early)."
                    .into(),
            ),
            BodyTimeout => (
                S::REQUEST_TIMEOUT,
                300,
                "The request body did not arrive in time.".into(),
            ),
            UnknownEndpoint => (S::NOT_FOUND, 2300, "This API endpoint is not recognized.".into()),
            ControlApiOff => (
                S::NOT_FOUND,
                2300,
                "localzoom's control API is off: start the server with --admin-key KEY (or LOCALZOOM_ADMIN_KEY) \
                 and send Authorization: Bearer KEY."
                    .into(),
            ),
            JsonSentAsForm => (
                S::BAD_REQUEST,
                300,
                "The body looks like JSON but was sent as a form; send Content-Type: application/json.".into(),
            ),
            BadPageToken => (S::BAD_REQUEST, 300, "The next page token is invalid or expired.".into()),
            EmailRequired => (S::BAD_REQUEST, 300, "Email is required.".into()),
            Invalid(message) => (S::BAD_REQUEST, 300, message.clone()),
            NotAllowed(message) => (S::BAD_REQUEST, 200, message.clone()),
            StatusProtected => (
                S::BAD_REQUEST,
                200,
                "Zoom Room and Admin users' status cannot be activated or deactivated.".into(),
            ),
            UpcomingZoomEvents => (
                S::BAD_REQUEST,
                300,
                "You cannot deactivate this user because the user has an upcoming Zoom Events scheduled.".into(),
            ),
            BasicUserCap(max) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to activate the user was not approved at this time because your account has \
                     reached the permitted maximum number of {max} \"Basic\" users. Remove the existing \"Basic\" \
                     user(s) from your \"Users\" list or the \"Pending Users\" list before attempting to activate \
                     this user."
                ),
            ),
            BasicUserCapOnCreate(max) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to add a basic user couldn't be approved at this time because your account has \
                     reached the permitted maximum number of {max} basic users. Please remove existing basic \
                     user(s) from your Users list or the Pending Users list before attempting to add another user."
                ),
            ),
            BasicUserCapOnConvert(max) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to convert the user type of this user to a \"Basic\" user was not approved at \
                     this time because your account has reached the permitted maximum number of \"{max}\" Basic \
                     users. Remove existing basic user(s) from your \"Users\" list or the \"Pending Users\" list \
                     before attempting to convert a user to a Basic user."
                ),
            ),
            MissingScopes(scopes) => (
                S::BAD_REQUEST,
                4711,
                format!("Invalid access token, does not contain scopes:[{scopes}]."),
            ),
            MethodNotAllowed => (S::METHOD_NOT_ALLOWED, 2300, "This API endpoint is not recognized.".into()),
            Password(rule) => {
                let (code, message) = match rule {
                    PasswordRule::TooShort(n) => (1124, format!("Have at least {n} characters")),
                    PasswordRule::TooLong => (300, "Invalid parameter: password".into()),
                    PasswordRule::NoLetter => (1125, "Have at least 1 letter (a, b, c…)".into()),
                    PasswordRule::NoDigit => (1126, "Have at least 1 number (1, 2, 3…)".into()),
                    PasswordRule::NoSpecialCharacter => (1127, "Have at least 1 special character (!, @, #…)".into()),
                    PasswordRule::NotMixedCase => (1128, "Include both Upper case and Lower case characters".into()),
                    PasswordRule::Reused(n) => (
                        1129,
                        format!("Users cannot reuse any of the last {n} passwords created."),
                    ),
                    PasswordRule::SameCharacter => (1130, "Password can't use the same character.".into()),
                    PasswordRule::ConsecutiveCharacters => (
                        1131,
                        "Password can't use continuation character.Such as 'abcdef','123456'.".into(),
                    ),
                    PasswordRule::TooEasyToGuess => (1136, "Your password is too easy to guess. Try another one.".into()),
                    PasswordRule::SameAsCurrent => (300, "Your new password can not match the old password.".into()),
                    PasswordRule::TooManyChangesToday => (
                        300,
                        "This password cannot be changed because it has already been changed the maximum number \
                         of times over the past 24 hours."
                            .into(),
                    ),
                };
                (S::BAD_REQUEST, code, message)
            }
            AdminPassword => (S::BAD_REQUEST, 1117, "Can not update Admin's password".into()),
            NotWorkEmailUser => (
                S::BAD_REQUEST,
                1123,
                "Can only update password of Zoom work email account".into(),
            ),
            DisassociateAdmin => (S::BAD_REQUEST, 1117, "You can not disassociate an Admin user.".into()),
            DisassociateManagedDomain => (
                S::BAD_REQUEST,
                1107,
                "You can not disassociate a user with managed domain.".into(),
            ),
            RateLimit { .. } => (
                S::TOO_MANY_REQUESTS,
                429,
                "You have reached the maximum per-second rate limit for this API. Try again later.".into(),
            ),
            DailyRateLimit { .. } => (
                S::TOO_MANY_REQUESTS,
                429,
                "You have reached the maximum daily rate limit for this API. Refer to the response header for \
                 details on when you can make another request."
                    .into(),
            ),
            LimiterUnavailable => (
                S::SERVICE_UNAVAILABLE,
                503,
                "Rate limiting is unavailable, so the request was not admitted. Try again later.".into(),
            ),
            Storage(_) => (
                S::SERVICE_UNAVAILABLE,
                503,
                "The service cannot store or read data right now; the request was not carried out. Try again \
                 later."
                    .into(),
            ),
            Internal(_) => (S::INTERNAL_SERVER_ERROR, 500, "Internal server error.".into()),
        }
    }

    pub fn body(&self) -> ZoomError {
        let (_, code, message) = self.parts();
        let errors = match self {
            ApiError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        ZoomError {
            code,
            message,
            errors,
        }
    }

    pub fn field(field: &str, message: &str) -> ApiError {
        ApiError::Validation(vec![FieldError {
            field: field.to_string(),
            message: message.to_string(),
        }])
    }

    /// What went wrong, for an operator rather than an API client: Zoom's message, or for an internal failure
    /// its real cause (which API clients never see).
    pub fn cause(&self) -> String {
        match self {
            ApiError::Internal(detail) | ApiError::Storage(detail) => detail.clone(),
            other => other.body().message,
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(error.to_string())
    }

    pub fn storage(error: impl std::fmt::Display) -> ApiError {
        ApiError::Storage(error.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => ApiError::Storage(detail),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Storage(detail) => tracing::error!(%detail, "storage failed"),
            _ => {}
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::InvalidToken | ApiError::ExpiredToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"localzoom\""),
                );
            }
            // The headers Zoom documents for 429s (§4.4), so clients can tell waiting a moment from waiting a day.
            ApiError::RateLimit { category, limit } => {
                rate_limit_headers(headers, category, localzoom_api::headers::QPS, limit);
            }
            ApiError::DailyRateLimit {
                category,
                limit,
                reset_at_ms,
            } => {
                rate_limit_headers(
                    headers,
                    category,
                    localzoom_api::headers::DAILY_LIMIT,
                    limit,
                );
                if let Ok(reset) = HeaderValue::from_str(&crate::clock::rfc3339(reset_at_ms)) {
                    headers.insert(header::RETRY_AFTER, reset);
                }
            }
            _ => {}
        }
        response
    }
}

fn rate_limit_headers(
    headers: &mut axum::http::HeaderMap,
    category: Label,
    kind: &'static str,
    limit: u32,
) {
    use axum::http::HeaderName;
    use localzoom_api::headers as names;
    for (name, value) in [
        (
            names::RATE_LIMIT_CATEGORY,
            HeaderValue::from_static(category.as_str()),
        ),
        (names::RATE_LIMIT_TYPE, HeaderValue::from_static(kind)),
        (names::RATE_LIMIT_LIMIT, HeaderValue::from(limit)),
        (names::RATE_LIMIT_REMAINING, HeaderValue::from_static("0")),
    ] {
        headers.insert(HeaderName::from_static(name), value);
    }
}

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

impl OAuthFailure {
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use OAuthFailure::*;
        match self {
            InvalidClient => (
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "Invalid client_id or client_secret",
            ),
            UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "unsupported grant type",
            ),
            MissingGrantType => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            ),
            MissingAccountId => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing account_id",
            ),
            InvalidRequest => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
            ),
            InvalidCode => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid authorization code",
            ),
            ExpiredCode => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Authorization code is expired",
            ),
            RedirectMismatch => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Redirect URI mismatch.",
            ),
            PkceMismatch => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "Invalid code_verifier",
            ),
            InvalidGrant => (StatusCode::BAD_REQUEST, "invalid_grant", "Invalid Token!"),
            TooManyFailures(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many failed client authentications. Try again later.",
            ),
            InvalidAccount => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid account_id",
            ),
            // The reason is the body's own error (see `into_response`); this one is only the fallback.
            Unreadable(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The service cannot store or read data right now. Try again later.",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal server error",
            ),
        }
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let (mut status, error, reason) = self.parts();
        let mut reason = reason.to_string();
        if let OAuthFailure::Unreadable(cause) = &self {
            let (cause_status, _, message) = cause.parts();
            (status, reason) = (cause_status, message);
        }
        let body = OAuthError {
            reason,
            error: error.to_string(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let OAuthFailure::TooManyFailures(seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
