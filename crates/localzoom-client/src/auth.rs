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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: SystemTime,
}

/// Where user tokens live between calls (a file, a database, a secret manager…).
pub trait TokenStore: Send + Sync {
    fn load(&self) -> Option<UserTokens>;
    fn save(&self, tokens: &UserTokens);
}

/// A `TokenStore` in memory.
#[derive(Debug, Default)]
pub struct MemoryTokenStore(Mutex<Option<UserTokens>>);

impl MemoryTokenStore {
    pub fn new(tokens: UserTokens) -> Self {
        MemoryTokenStore(Mutex::new(Some(tokens)))
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Option<UserTokens> {
        self.0.lock().ok()?.clone()
    }
    fn save(&self, tokens: &UserTokens) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(tokens.clone());
        }
    }
}

pub(crate) struct Auth {
    credentials: Credentials,
    token_url: Url,
    /// A token this close to its expiry is replaced before use.
    refresh_before: Duration,
    /// The Server-to-Server token and when it expires; the lock is held while fetching a new one.
    cached: tokio::sync::Mutex<Option<(String, SystemTime)>>,
    pub(crate) fetched: AtomicU64,
}

impl Auth {
    pub(crate) fn new(credentials: Credentials, token_url: Url, refresh_before: Duration) -> Auth {
        Auth {
            credentials,
            token_url,
            refresh_before,
            cached: tokio::sync::Mutex::new(None),
            fetched: AtomicU64::new(0),
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
                let response = self.request(http, client_id, client_secret, &form).await?;
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
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens.refresh_token.as_str()),
                ];
                let response = self.request(http, client_id, client_secret, &form).await?;
                let renewed = UserTokens {
                    access_token: response.access_token,
                    // Zoom rotates refresh tokens; keep the old one only if none came back.
                    refresh_token: response.refresh_token.unwrap_or(tokens.refresh_token),
                    expires_at: SystemTime::now() + Duration::from_secs(response.expires_in),
                };
                store.save(&renewed);
                Ok(renewed.access_token)
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
                    store.save(&tokens);
                }
            }
        }
    }

    /// Whether a refused token can be replaced by another (a fixed bearer token cannot).
    pub(crate) fn renewable(&self) -> bool {
        !matches!(self.credentials, Credentials::Bearer(_))
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        client_id: &str,
        client_secret: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, Error> {
        // Zoom documents `account_credentials` with its parameters in the query and `refresh_token` in a form body.
        let request = http
            .post(self.token_url.clone())
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
            self.fetched.fetch_add(1, Ordering::Relaxed);
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
}
