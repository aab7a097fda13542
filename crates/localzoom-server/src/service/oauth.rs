//! The user-level OAuth flow: authorization codes (5 minutes, single use, PKCE S256), the code and refresh-token
//! grants (refresh tokens rotate), and revocation. A user-level sign-in is a session of its user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use localzoom_api::TokenResponse;

use crate::crypto;
use crate::domain::user::{Status, UserRecord};
use crate::error::ApiResult;
use crate::error::OAuthFailure;
use crate::service::accounts::{AppKind, authenticate_client, issue_tokens};
use crate::store::{AppRecord, AuthCode, SessionRecord, Store, TokenKind};

/// Authorization codes are exchanged within five minutes, once.
pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// What `GET /oauth/authorize` was asked for.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub response_type: String,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request is refused. These are shown on the page, never sent to the redirect URI: a
/// request that fails these checks has no trustworthy place to redirect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    UnknownClient,
    RedirectMismatch,
    UnsupportedResponseType,
    UnsupportedChallengeMethod,
}

impl AuthorizeError {
    pub fn message(&self) -> &'static str {
        match self {
            AuthorizeError::UnknownClient => {
                "Invalid client_id: no active user-managed app has this client id."
            }
            AuthorizeError::RedirectMismatch => {
                "Invalid redirect: the redirect_uri is not the one the app registered."
            }
            AuthorizeError::UnsupportedResponseType => {
                "Unsupported response_type: only `code` is supported."
            }
            AuthorizeError::UnsupportedChallengeMethod => {
                "Unsupported code_challenge_method: only `S256` is supported."
            }
        }
    }
}

/// Checks an authorization request; returns the app and the redirect URI the code will go to.
pub async fn check_authorize(
    store: &Store,
    req: &AuthorizeRequest,
) -> ApiResult<Result<(AppRecord, String), AuthorizeError>> {
    let Some(app) = store
        .app(&req.client_id)
        .await?
        .filter(|app| app.active && app.kind == AppKind::User)
    else {
        return Ok(Err(AuthorizeError::UnknownClient));
    };
    let redirect = match (&req.redirect_uri, &app.redirect_uri) {
        (Some(given), Some(registered)) if given == registered => given.clone(),
        (None, Some(registered)) => registered.clone(),
        _ => return Ok(Err(AuthorizeError::RedirectMismatch)),
    };
    if req.response_type != "code" {
        return Ok(Err(AuthorizeError::UnsupportedResponseType));
    }
    if req.code_challenge.is_some()
        && !matches!(req.code_challenge_method.as_deref(), None | Some("S256"))
    {
        return Ok(Err(AuthorizeError::UnsupportedChallengeMethod));
    }
    Ok(Ok((app, redirect)))
}

/// The user a person typed on the sign-in page, if they may authorize the app (same account, active).
pub async fn authorizing_user(
    store: &Store,
    app: &AppRecord,
    email: &str,
) -> ApiResult<Option<UserRecord>> {
    Ok(store
        .user_by_email(&app.account_id, email.trim())
        .await?
        .filter(|u| u.status == Status::Active))
}

/// Issues a code for `user` to `redirect_uri`; returns the code in clear.
pub async fn issue_code(
    store: &Store,
    app: &AppRecord,
    user: &UserRecord,
    redirect_uri: &str,
    code_challenge: Option<String>,
    now: i64,
) -> ApiResult<String> {
    let code = crypto::new_secret();
    store
        .insert_code(&AuthCode {
            code_sha256: crypto::sha256(code.as_bytes()).to_vec(),
            client_id: app.client_id.clone(),
            user_id: user.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            code_challenge,
            expires_at: now + CODE_TTL_MS,
            used: false,
        })
        .await?;
    Ok(code)
}

async fn user_app(store: &Store, client_id: &str, secret: &str) -> Result<AppRecord, OAuthFailure> {
    authenticate_client(store, client_id, secret)
        .await?
        .filter(|app| app.kind == AppKind::User)
        .ok_or(OAuthFailure::InvalidClient)
}

/// The `authorization_code` grant. The sign-in it completes becomes a session of the user.
pub async fn exchange_code(
    store: &Store,
    (client_id, secret): (&str, &str),
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthFailure> {
    let app = user_app(store, client_id, secret).await?;
    let digest = crypto::sha256(code.as_bytes());
    let found = store
        .use_code(&digest)
        .await?
        .filter(|c| c.client_id == app.client_id)
        .ok_or(OAuthFailure::InvalidCode)?;
    if found.used {
        // A code presented twice was stolen or leaked: what it was exchanged for is revoked (RFC 6749 §4.1.2).
        store.end_session(&session_of_code(&digest), now).await?;
        return Err(OAuthFailure::InvalidCode);
    }
    if found.expires_at <= now {
        return Err(OAuthFailure::ExpiredCode);
    }
    if redirect_uri != Some(found.redirect_uri.as_str()) {
        return Err(OAuthFailure::RedirectMismatch);
    }
    if let Some(challenge) = &found.code_challenge {
        let verified = code_verifier.is_some_and(|v| {
            let derived = URL_SAFE_NO_PAD.encode(crypto::sha256(v.as_bytes()));
            crypto::constant_time_eq(derived.as_bytes(), challenge.as_bytes())
        });
        if !verified {
            return Err(OAuthFailure::PkceMismatch);
        }
    }
    let user = store
        .user_by_id(&app.account_id, &found.user_id)
        .await?
        .filter(|u| u.status == Status::Active)
        .ok_or(OAuthFailure::InvalidCode)?;
    let session = SessionRecord {
        id: session_of_code(&digest),
        user_id: user.id.clone(),
        login_type: user.login_type,
        created_at: now,
        ended_at: None,
    };
    store.insert_session(&session).await?;
    Ok(issue_tokens(store, &app, &user.id, Some(session.id), true, now).await?)
}

/// The session an authorization code opens has an id derived from the code, so that a replay of the code can find
/// it (and end it) without the code record keeping a pointer.
fn session_of_code(code_sha256: &[u8]) -> String {
    let derived = crypto::sha256(&[b"session-of-code:".as_slice(), code_sha256].concat());
    URL_SAFE_NO_PAD.encode(&derived[..16])
}

/// The `refresh_token` grant: the old refresh token is retired, a new pair issued in the same session. A retired
/// refresh token presented again means two parties hold it: the whole session ends, its newer tokens with it (the
/// OAuth 2.0 Security BCP's reuse detection).
pub async fn refresh(
    store: &Store,
    (client_id, secret): (&str, &str),
    refresh_token: &str,
    now: i64,
) -> Result<TokenResponse, OAuthFailure> {
    let app = user_app(store, client_id, secret).await?;
    let digest = crypto::sha256(refresh_token.as_bytes());
    let old = store
        .token(&digest)
        .await?
        .filter(|t| t.kind == TokenKind::Refresh && t.client_id == app.client_id)
        .ok_or(OAuthFailure::InvalidGrant)?;
    if old.revoked {
        if let Some(session) = &old.session_id {
            store.end_session(session, now).await?;
        }
        return Err(OAuthFailure::InvalidGrant);
    }
    if old.expires_at <= now {
        return Err(OAuthFailure::InvalidGrant);
    }
    store.revoke_token(&digest).await?;
    store
        .user_by_id(&app.account_id, &old.user_id)
        .await?
        .filter(|u| u.status == Status::Active)
        .ok_or(OAuthFailure::InvalidGrant)?;
    Ok(issue_tokens(store, &app, &old.user_id, old.session_id, true, now).await?)
}

/// `POST /oauth/revoke`: revokes an access or refresh token of the calling app and ends its sign-in session.
/// Unknown tokens are not an error (RFC 7009).
pub async fn revoke(
    store: &Store,
    (client_id, secret): (&str, &str),
    token: &str,
    now: i64,
) -> Result<(), OAuthFailure> {
    let app = authenticate_client(store, client_id, secret)
        .await?
        .ok_or(OAuthFailure::InvalidClient)?;
    let digest = crypto::sha256(token.as_bytes());
    if let Some(found) = store
        .token(&digest)
        .await?
        .filter(|t| t.client_id == app.client_id)
    {
        store.revoke_token(&digest).await?;
        if let Some(session) = &found.session_id {
            store.end_session(session, now).await?;
        }
    }
    Ok(())
}
