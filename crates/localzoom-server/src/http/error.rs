//! The one table where a failure becomes Zoom's HTTP status, code and message (and the OAuth endpoints' own
//! shape): every error of every layer is answered from here, and nothing else builds an error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use localzoom_api::{OAuthError, ZoomError};

use crate::domain::error::{DomainError, FileRefusal};
use crate::domain::password::PasswordRule;
use crate::domain::rate_limits::Label;
use crate::domain::scim::ScimRefusal;
use crate::error::{ApiError, OAuthFailure};

impl ApiError {
    /// The table: every variant's HTTP status, Zoom code and message.
    pub fn parts(&self) -> (StatusCode, u32, String) {
        use ApiError::*;
        use StatusCode as S;
        match self {
            InvalidToken => (S::UNAUTHORIZED, 124, "Invalid access token.".into()),
            ExpiredToken => (S::UNAUTHORIZED, 124, "Access token is expired.".into()),
            Domain(DomainError::UserNotFound(id)) => (S::NOT_FOUND, 1001, format!("User does not exist: {id}.")),
            Domain(DomainError::AccountNotFound(id)) => (S::NOT_FOUND, 2001, format!("Account does not exist: {id}.")),
            Domain(DomainError::EmailTaken(email)) => (S::CONFLICT, 1005, format!("Email \"{email}\" has already been used.")),
            Domain(DomainError::NewEmailTaken(email)) => (
                S::BAD_REQUEST,
                1005,
                format!("Email \"{email}\" has already been used."),
            ),
            Domain(DomainError::Validation(_)) => (S::BAD_REQUEST, 300, "Validation Failed.".into()),
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
            FaultAnswer {
                status,
                code,
                message,
                ..
            } => (
                S::from_u16(*status).unwrap_or(S::INTERNAL_SERVER_ERROR),
                *code,
                message.clone(),
            ),
            Domain(DomainError::AppNotFound(id)) => (S::NOT_FOUND, 404, format!("The app {id} does not exist.")),
            Domain(DomainError::SubscriptionNotFound(id)) => (
                S::NOT_FOUND,
                404,
                format!("The event subscription {id} does not exist."),
            ),
            Domain(DomainError::DeliveryNotFound(id)) => (
                S::NOT_FOUND,
                404,
                format!("The webhook delivery {id} does not exist."),
            ),
            Domain(DomainError::TooManySubscriptions(max)) => (
                S::BAD_REQUEST,
                300,
                format!("An app can have at most {max} event subscriptions."),
            ),
            NoSuchFaultRule(id) => (
                S::NOT_FOUND,
                404,
                format!("The fault rule {id} does not exist."),
            ),
            JsonSentAsForm => (
                S::BAD_REQUEST,
                300,
                "The body looks like JSON but was sent as a form; send Content-Type: application/json.".into(),
            ),
            Domain(DomainError::BadPageToken) => (S::BAD_REQUEST, 300, "The next page token is invalid or expired.".into()),
            Domain(DomainError::EmailRequired) => (S::BAD_REQUEST, 300, "Email is required.".into()),
            Domain(DomainError::Invalid(message)) => (S::BAD_REQUEST, 300, message.clone()),
            Domain(DomainError::NotAllowed(message)) => (S::BAD_REQUEST, 200, message.clone()),
            Domain(DomainError::StatusProtected) => (
                S::BAD_REQUEST,
                200,
                "Zoom Room and Admin users' status cannot be activated or deactivated.".into(),
            ),
            Domain(DomainError::UpcomingZoomEvents) => (
                S::BAD_REQUEST,
                300,
                "You cannot deactivate this user because the user has an upcoming Zoom Events scheduled.".into(),
            ),
            Domain(DomainError::BasicUserCap(max)) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to activate the user was not approved at this time because your account has \
                     reached the permitted maximum number of {max} \"Basic\" users. Remove the existing \"Basic\" \
                     user(s) from your \"Users\" list or the \"Pending Users\" list before attempting to activate \
                     this user."
                ),
            ),
            Domain(DomainError::BasicUserCapOnCreate(max)) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to add a basic user couldn't be approved at this time because your account has \
                     reached the permitted maximum number of {max} basic users. Please remove existing basic \
                     user(s) from your Users list or the Pending Users list before attempting to add another user."
                ),
            ),
            Domain(DomainError::BasicUserCapOnConvert(max)) => (
                S::BAD_REQUEST,
                3412,
                format!(
                    "Your request to convert the user type of this user to a \"Basic\" user was not approved at \
                     this time because your account has reached the permitted maximum number of \"{max}\" Basic \
                     users. Remove existing basic user(s) from your \"Users\" list or the \"Pending Users\" list \
                     before attempting to convert a user to a Basic user."
                ),
            ),
            MissingPermissions(permissions) => (
                S::BAD_REQUEST,
                200,
                format!("Invalid access token. Does not contain permissions [{permissions}]."),
            ),
            MissingScopes(scopes) => (
                S::BAD_REQUEST,
                4711,
                format!("Invalid access token, does not contain scopes:[{scopes}]."),
            ),
            MethodNotAllowed => (S::METHOD_NOT_ALLOWED, 2300, "This API endpoint is not recognized.".into()),
            Domain(DomainError::Password(rule)) => {
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
            Domain(DomainError::AdminPassword) => (S::BAD_REQUEST, 1117, "Can not update Admin's password".into()),
            Domain(DomainError::NotWorkEmailUser) => (
                S::BAD_REQUEST,
                1123,
                "Can only update password of Zoom work email account".into(),
            ),
            Domain(DomainError::DisassociateAdmin) => (S::BAD_REQUEST, 1117, "You can not disassociate an Admin user.".into()),
            Domain(DomainError::FeatureUpdateTooFrequent) => (
                S::TOO_MANY_REQUESTS,
                429,
                "Features can be updated once every 10 seconds. Try again later.".into(),
            ),
            Domain(DomainError::PresenceUpdateFailed) => (
                S::BAD_REQUEST,
                5301,
                "Request to update the presence status of this user failed.".into(),
            ),
            Domain(DomainError::PresenceTooFrequent) => (
                S::TOO_MANY_REQUESTS,
                429,
                "A user's presence status can be updated at most once per minute. Try again later.".into(),
            ),
            Domain(DomainError::OtherAdminsEmail) => (
                S::BAD_REQUEST,
                1000,
                "Admin can not change other admins email.".into(),
            ),
            Domain(DomainError::EmailOutsideManagedDomain) => (
                S::BAD_REQUEST,
                300,
                "Domain name doesn't match. Please contact the Zoom Customer Support to set managed domains for \
                 your account."
                    .into(),
            ),
            Domain(DomainError::TooManyEmailChanges) => (
                S::BAD_REQUEST,
                300,
                "A user's email address can be changed up to 3 times in any 24 hour period.".into(),
            ),
            Domain(DomainError::PmiTaken(pmi)) => (
                S::BAD_REQUEST,
                300,
                format!("The Personal Meeting ID {pmi} is already in use. Choose another one."),
            ),
            Domain(DomainError::VanityNameTaken) => (
                S::BAD_REQUEST,
                4100,
                "User is already taken by another user from your account. Choose another \"Personal Link Name\"."
                    .into(),
            ),
            Domain(DomainError::LargeMeetingNeedsLicence) => (
                S::BAD_REQUEST,
                1108,
                "Only Licensed or On-prem users can enable the large meeting feature.".into(),
            ),
            Domain(DomainError::WebinarNeedsLicence) => (
                S::BAD_REQUEST,
                1122,
                "Webinar feature can only be enabled for Licensed or On-prem users.".into(),
            ),
            Domain(DomainError::WebinarWithZoomEvents) => (
                S::BAD_REQUEST,
                1204,
                "You can't enable the Webinar feature because you already have the Zoom Events feature.".into(),
            ),
            Domain(DomainError::ZoomEventsWithWebinar) => (
                S::BAD_REQUEST,
                1205,
                "You can't enable the Zoom Events feature because you already have the Webinar feature.".into(),
            ),
            Domain(DomainError::ZoomEventsNeedsLicence) => (
                S::BAD_REQUEST,
                1206,
                "You can only enable the Zoom Events feature for Licensed or On-prem users.".into(),
            ),
            Domain(DomainError::File(refusal)) => {
                let message = match refusal {
                    FileRefusal::Empty => "File is empty.",
                    FileRefusal::PictureTooLarge => "File size cannot exceed 2M.",
                    FileRefusal::PictureType => "Only jpg/jpeg or png image file can be uploaded.",
                    FileRefusal::NoBackgroundFile => "No file uploaded, verify that a file has been uploaded.",
                    FileRefusal::BackgroundTooLarge => "File size cannot exceed 15M.",
                    FileRefusal::BackgroundType => "Only jpg/jpeg, gif or png image file can be uploaded.",
                    FileRefusal::TooManyBackgrounds => "A maximum of 10 files are allowed for a user.",
                };
                (S::BAD_REQUEST, 120, message.into())
            }
            Domain(DomainError::Scim(refusal)) => {
                let (status, message) = match refusal {
                    ScimRefusal::SsoNotEnabled => (S::BAD_REQUEST, "Account has not enabled Single Sign-On.".into()),
                    ScimRefusal::UnsupportedFilter(filter) => (
                        S::BAD_REQUEST,
                        format!("The current filter is not supported, the filter name: {filter}"),
                    ),
                    ScimRefusal::NotJson => (S::BAD_REQUEST, "The request body must be in JSON format.".into()),
                    ScimRefusal::EmptyBody => (S::BAD_REQUEST, "The request JSON must not be empty.".into()),
                    ScimRefusal::InvalidUserName => {
                        (S::BAD_REQUEST, "The \"userName\" of the request is invalid.".into())
                    }
                    ScimRefusal::EmailInUse(email) => {
                        (S::BAD_REQUEST, format!("The email \"{email}\" is already in use."))
                    }
                    ScimRefusal::EmailUsed(email) => (S::CONFLICT, format!("Email '{email}' has already been used.")),
                    ScimRefusal::UserInactive => (S::BAD_REQUEST, "User is inactive or locked.".into()),
                    ScimRefusal::AdminEmail => (S::BAD_REQUEST, "Cannot change the email of Admin user.".into()),
                    ScimRefusal::StatusProtected => (
                        S::BAD_REQUEST,
                        "Cannot activate or deactivate Zoom Room and Admin users.".into(),
                    ),
                    ScimRefusal::DeleteAdmin => (S::BAD_REQUEST, "Cannot delete Admin user.".into()),
                    ScimRefusal::ZoomRoomToFree => {
                        (S::BAD_REQUEST, "Cannot update Zoom Room user to free".into())
                    }
                    ScimRefusal::UserNotFound => (S::NOT_FOUND, "User does not exist.".into()),
                    ScimRefusal::InvalidValue(attribute) => {
                        (S::BAD_REQUEST, format!("The value of \"{attribute}\" is invalid."))
                    }
                    ScimRefusal::InvalidPatch(what) => {
                        (S::BAD_REQUEST, format!("The PATCH request cannot be applied: {what}."))
                    }
                };
                // Zoom's SCIM error codes are the HTTP status.
                (status, status.as_u16().into(), message)
            }
            Domain(DomainError::CollaborationDeviceNotFound(id)) => (
                S::NOT_FOUND,
                1238,
                format!("Collaboration Device does not exist: {id}."),
            ),
            // S1 documents only a 400 without a code for this operation (fidelity row 108).
            Domain(DomainError::MeetingTemplateNotFound(id)) => (
                S::BAD_REQUEST,
                300,
                format!("Meeting template does not exist: {id}."),
            ),
            Domain(DomainError::SsoNotEnabled) => (
                S::BAD_REQUEST,
                2002,
                "SSO has not been enabled for this account. Contact the Zoom support team to enable this option."
                    .into(),
            ),
            Domain(DomainError::PictureAdminOnly) => (
                S::BAD_REQUEST,
                200,
                "Only an account administrator can change a profile picture.".into(),
            ),
            Domain(DomainError::DisassociateManagedDomain) => (
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
        let errors = self.field_errors().to_vec();
        ZoomError {
            code,
            message,
            errors,
        }
    }

    /// What went wrong, for an operator rather than an API client: Zoom's message, or for an internal failure
    /// its real cause (which API clients never see).
    pub fn cause(&self) -> String {
        match self {
            ApiError::Internal(detail) | ApiError::Storage(detail) => detail.clone(),
            other => other.body().message,
        }
    }
}

/// What a SCIM answer needs of a refusal besides its status and message (RFC 7644 §3.12): whether it is a
/// denial (SCIM's 403) and its `scimType`. `http/scim.rs` reads it from the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScimErrorKind {
    pub forbidden: bool,
    pub scim_type: Option<&'static str>,
}

impl ApiError {
    pub fn scim_kind(&self) -> ScimErrorKind {
        use ApiError::*;
        let scim_type = match self {
            Domain(DomainError::Scim(refusal)) => match refusal {
                ScimRefusal::UnsupportedFilter(_) => Some("invalidFilter"),
                ScimRefusal::EmailInUse(_) | ScimRefusal::EmailUsed(_) => Some("uniqueness"),
                ScimRefusal::InvalidValue(_) | ScimRefusal::InvalidUserName => Some("invalidValue"),
                ScimRefusal::InvalidPatch(_) => Some("invalidPath"),
                ScimRefusal::NotJson | ScimRefusal::EmptyBody => Some("invalidSyntax"),
                ScimRefusal::AdminEmail
                | ScimRefusal::StatusProtected
                | ScimRefusal::DeleteAdmin
                | ScimRefusal::ZoomRoomToFree => Some("mutability"),
                ScimRefusal::SsoNotEnabled
                | ScimRefusal::UserInactive
                | ScimRefusal::UserNotFound => None,
            },
            Domain(DomainError::Validation(_)) => Some("invalidValue"),
            InvalidJson | JsonSentAsForm => Some("invalidSyntax"),
            _ => None,
        };
        ScimErrorKind {
            forbidden: matches!(self, MissingScopes(_) | MissingPermissions(_)),
            scim_type,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        match &self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Storage(detail) => tracing::error!(%detail, "storage failed"),
            _ => {}
        }
        let mut response = (status, axum::Json(self.body())).into_response();
        response.extensions_mut().insert(self.scim_kind());
        let headers = response.headers_mut();
        match self {
            // A body refused for its size is left unread: the connection cannot carry another request, and a
            // client must not send one on it.
            ApiError::PayloadTooLarge
            | ApiError::Domain(DomainError::File(
                FileRefusal::PictureTooLarge | FileRefusal::BackgroundTooLarge,
            )) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::InvalidToken | ApiError::ExpiredToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"localzoom\""),
                );
            }
            // The headers Zoom documents for 429s (§4.4), so clients can tell waiting a moment from waiting a day.
            ApiError::RateLimit { category, limit }
            | ApiError::FaultAnswer {
                rate_limit: Some((category, limit)),
                ..
            } => {
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
            // A database or Redis that went away is usually back within seconds (a restart, a fail-over): tell
            // clients and load balancers when to try again rather than to give up.
            ApiError::Storage(_) | ApiError::LimiterUnavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS),
                );
            }
            _ => {}
        }
        response
    }
}

/// What `Retry-After` says while storage (or the shared rate limiter) is unreachable: `/healthz` probes storage
/// once a second, and a node is back on the first request after the database is.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u32 = 1;

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
        let retry_after = match self {
            OAuthFailure::TooManyFailures(seconds) => Some(seconds),
            OAuthFailure::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECONDS.into()),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
