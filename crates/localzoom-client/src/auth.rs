//! Access tokens: Server-to-Server tokens fetched when first needed and again shortly before they expire; user
//! tokens (access + refresh) read from and written back to a pluggable store. One refresh runs at a time: tasks
//! that need a token while it is being refreshed wait for that refresh instead of starting their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use localzoom_api::{OAuthError, TokenResponse};
use reqwest::Url;
use tracing::Instrument;

use crate::error::Error;

/// How the client authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A Server-to-Server OAuth app (`grant_type=account_credentials`).
    ServerToServer {
        account_id: String,
        client_id: String,
        client_secret: String,
    },
    /// A user-managed app's tokens, refreshed with `grant_type=refresh_token` (Zoom rotates the refresh token:
    /// every refresh's new pair is saved back to the store).
    User {
        client_id: String,
        client_secret: String,
        store: Arc<dyn TokenStore>,
    },
    /// An access token obtained elsewhere, used as it is.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ServerToServer {
                account_id,
                client_id,
                ..
            } => write!(
                f,
                "ServerToServer {{ account_id: {account_id:?}, client_id: {client_id:?} }}"
            ),
            Credentials::User { client_id, .. } => write!(f, "User {{ client_id: {client_id:?} }}"),
            Credentials::Bearer(_) => f.write_str("Bearer"),
        }
    }
}

/// A user's access and refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct UserTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: SystemTime,
}

/// Tokens are secrets: `Debug` shows only when they expire.
impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Where user tokens live between calls (a file, a database, a secret manager…).
pub trait TokenStore: Send + Sync + 'static {
    fn load(&self) -> Option<UserTokens>;
    /// Zoom retires a refresh token once it is used: a failed save loses the user's authorization, so it is
    /// reported to the caller.
    fn save(&self, tokens: &UserTokens) -> Result<(), String>;
}

/// A `TokenStore` in memory.
#[derive(Default)]
pub struct MemoryTokenStore(Mutex<Option<UserTokens>>);

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryTokenStore")
    }
}

impl MemoryTokenStore {
    pub fn new(tokens: UserTokens) -> Self {
        MemoryTokenStore(Mutex::new(Some(tokens)))
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Option<UserTokens> {
        self.0.lock().ok()?.clone()
    }
    fn save(&self, tokens: &UserTokens) -> Result<(), String> {
        let mut slot = self.0.lock().map_err(|e| e.to_string())?;
        *slot = Some(tokens.clone());
        Ok(())
    }
}

pub(crate) struct Auth {
    credentials: Credentials,
    token_url: Url,
    /// A token this close to its expiry is replaced before use.
    refresh_before: Duration,
    /// The Server-to-Server token and when it expires; the lock is held while fetching a new one.
    cached: tokio::sync::Mutex<Option<(String, SystemTime)>>,
    pub(crate) fetched: Arc<AtomicU64>,
}

impl Auth {
    pub(crate) fn new(credentials: Credentials, token_url: Url, refresh_before: Duration) -> Auth {
        Auth {
            credentials,
            token_url,
            refresh_before,
            cached: tokio::sync::Mutex::new(None),
            fetched: Arc::default(),
        }
    }

    fn fresh(&self, expires_at: SystemTime) -> bool {
        SystemTime::now() + self.refresh_before < expires_at
    }

    /// A token to send now.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<String, Error> {
        match &self.credentials {
            Credentials::Bearer(token) => Ok(token.clone()),
            Credentials::ServerToServer {
                account_id,
                client_id,
                client_secret,
            } => {
                let mut cached = self.cached.lock().await;
                if let Some((token, expires_at)) = cached.as_ref()
                    && self.fresh(*expires_at)
                {
                    return Ok(token.clone());
                }
                let form = [
                    ("grant_type", "account_credentials"),
                    ("account_id", account_id.as_str()),
                ];
                let response = request(
                    http,
                    &self.token_url,
                    client_id,
                    client_secret,
                    &form,
                    &self.fetched,
                )
                .await?;
                let expires_at = SystemTime::now() + Duration::from_secs(response.expires_in);
                *cached = Some((response.access_token.clone(), expires_at));
                Ok(response.access_token)
            }
            Credentials::User {
                client_id,
                client_secret,
                store,
            } => {
                // The same lock serializes refreshes of user tokens.
                let _refreshing = self.cached.lock().await;
                let tokens = store
                    .load()
                    .ok_or_else(|| Error::Config("the token store holds no user tokens".into()))?;
                if self.fresh(tokens.expires_at) {
                    return Ok(tokens.access_token);
                }
                // Zoom retires the old refresh token as it answers: the exchange and the save run as a task of
                // their own, so a caller that gives up half-way (a timeout, a dropped future) cannot lose the new pair.
                let refresh = {
                    let (http, url) = (http.clone(), self.token_url.clone());
                    let (client_id, client_secret) = (client_id.clone(), client_secret.clone());
                    let (store, fetched) = (store.clone(), self.fetched.clone());
                    async move {
                        let form = [
                            ("grant_type", "refresh_token"),
                            ("refresh_token", tokens.refresh_token.as_str()),
                        ];
                        let response =
                            request(&http, &url, &client_id, &client_secret, &form, &fetched)
                                .await?;
                        let renewed = UserTokens {
                            access_token: response.access_token,
                            // Zoom rotates refresh tokens; keep the old one only if none came back.
                            refresh_token: response
                                .refresh_token
                                .unwrap_or_else(|| tokens.refresh_token.clone()),
                            expires_at: SystemTime::now()
                                + Duration::from_secs(response.expires_in),
                        };
                        store.save(&renewed).map_err(|e| {
                            Error::Config(format!("cannot save the refreshed user tokens: {e}"))
                        })?;
                        Ok(renewed.access_token)
                    }
                };
                tokio::spawn(refresh)
                    .await
                    .map_err(|e| Error::Config(format!("token refresh failed: {e}")))?
            }
        }
    }

    /// Forgets `token` after the API called it invalid or expired, so the next `token()` fetches a new one.
    pub(crate) async fn invalidate(&self, token: &str) {
        match &self.credentials {
            Credentials::Bearer(_) => {}
            Credentials::ServerToServer { .. } => {
                let mut cached = self.cached.lock().await;
                if cached.as_ref().is_some_and(|(t, _)| t == token) {
                    *cached = None;
                }
            }
            Credentials::User { store, .. } => {
                let _refreshing = self.cached.lock().await;
                if let Some(mut tokens) = store.load()
                    && tokens.access_token == token
                {
                    tokens.expires_at = SystemTime::UNIX_EPOCH;
                    if let Err(e) = store.save(&tokens) {
                        tracing::warn!(error = %e, "cannot mark the user's access token stale");
                    }
                }
            }
        }
    }

    /// Whether a refused token can be replaced by another (a fixed bearer token cannot).
    pub(crate) fn renewable(&self) -> bool {
        !matches!(self.credentials, Credentials::Bearer(_))
    }
}

/// One request to the token endpoint.
async fn request(
    http: &reqwest::Client,
    token_url: &Url,
    client_id: &str,
    client_secret: &str,
    form: &[(&str, &str)],
    fetched: &AtomicU64,
) -> Result<TokenResponse, Error> {
    // Zoom documents `account_credentials` with its parameters in the query and `refresh_token` in a form body.
    let request = http
        .post(token_url.clone())
        .basic_auth(client_id, Some(client_secret));
    let request = if form[0].1 == "account_credentials" {
        request.query(form)
    } else {
        request.form(form)
    };
    let span = tracing::debug_span!("zoom_oauth_token", grant = form[0].1);
    let response = request
        .send()
        .instrument(span)
        .await
        .map_err(Error::from_reqwest)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(Error::from_reqwest)?;
    if status == 200 {
        fetched.fetch_add(1, Ordering::Relaxed);
        return serde_json::from_slice(&body)
            .map_err(|e| Error::InvalidResponse(format!("token response: {e}")));
    }
    let refusal: OAuthError = serde_json::from_slice(&body).unwrap_or_else(|_| OAuthError {
        reason: String::from_utf8_lossy(&body).into_owned(),
        error: "unknown".into(),
    });
    Err(Error::OAuth {
        http_status: status,
        error: refusal.error,
        reason: refusal.reason,
    })
}
