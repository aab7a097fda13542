//! What every request shares, and the per-request orchestration of the gate: authenticate, spend the quota,
//! authorize, then run the service's read or write in one transaction. Below `http/` (which extracts and
//! answers) and above `service/` (which it runs), so nothing imports back up.

use std::future::Future;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::clock::Clock;
use crate::crypto::{HistoryKey, PasswordHashing};
use crate::domain::rate_limits::{Label, Limit};
use crate::error::{ApiError, ApiResult};
use crate::gate::failures::FailureWindows;
use crate::gate::limiter::Limiter;
use crate::gate::rate_limit;
use crate::gate::scopes::{self, Operation, OperationId};
use crate::gate::{self, Bearer, Principal, journal};
use crate::service::reset::{self, ResetScope};
use crate::store::{Database, Store, WriteScope};

/// Shared by every request. One `Arc`: axum clones the state for every extractor of every request, and a clone of
/// the fields one by one cost a dozen atomic counts each time (8 % of a `GET`'s CPU, measured with `perf`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What `AppState` holds.
pub struct Shared {
    pub db: Arc<Database>,
    /// Sends the webhooks the writes record.
    pub sender: crate::delivery::Sender,
    pub clock: Arc<dyn Clock>,
    pub hashing: PasswordHashing,
    /// The control API's key; without one the control API does not exist.
    pub admin_key: Option<Arc<str>>,
    /// The URL clients reach this server by, for the URLs it hands out; `None`: each request's own.
    pub public_url: Option<Arc<str>>,
    pub client_failures: Arc<FailureWindows>,
    /// Failed sign-ins on the authorization page, per user e-mail.
    pub sign_in_failures_per_user: Arc<FailureWindows>,
    /// Failed sign-ins on the authorization page, per app: higher, so one user's guesser cannot lock out the rest.
    pub sign_in_failures_per_app: Arc<FailureWindows>,
    /// Zoom's rate limits; `None` when they are switched off.
    pub rate_limiter: Option<Arc<Limiter>>,
    /// Keys the password-history fingerprints; kept out of the database.
    pub history_key: HistoryKey,
    /// What `/metrics` reports.
    pub metrics: Arc<super::metrics::Metrics>,
    /// What the control API keeps.
    pub control: Arc<ControlPlane>,
}

/// The control API's state (`/_localzoom/v1`).
pub struct ControlPlane {
    /// The fault rules; `None` while the control API is off.
    pub faults: Option<super::faults::FaultRules>,
    /// The request journal; `None` while the control API is off (or the journal is sized 0).
    pub journal: Option<super::journal::Journal>,
    /// The document `serve --fixtures` loaded, loaded again after a reset.
    pub start_fixture: Option<Arc<crate::service::fixtures::LoadableFixture>>,
    /// The bootstrap account and app as this server was started with them: what a reset puts back.
    pub configured: crate::service::reset::Configured,
    /// The web console's signed-in browsers.
    pub console: super::console::ConsoleSessions,
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Loads a fixture document (its passwords hashed first, outside the transaction).
    pub async fn load_fixture(&self, fixture: crate::domain::fixture::Fixture) -> ApiResult<()> {
        let loadable = crate::service::fixtures::prepare(&self.hashing, fixture).await?;
        let key = self.history_key.clone();
        let now = self.now();
        self.db
            .write(move |tx| async move {
                let store = &tx;
                crate::service::fixtures::load(store, &loadable, None, (&key, now)).await
            })
            .await
    }

    /// The control API's reset: the data in one transaction, then what this node (and a shared limiter) keeps
    /// in memory for the accounts reset.
    pub async fn reset(&self, scope: ResetScope) -> ApiResult<()> {
        let control = self.control.clone();
        let key = self.history_key.clone();
        let now = self.now();
        let account = match &scope {
            ResetScope::Everything => None,
            ResetScope::Account(id) => Some(id.clone()),
        };
        self.db
            .write(move |tx| async move {
                let store = &tx;

                reset::reset(
                    store,
                    &scope,
                    &control.configured,
                    control.start_fixture.as_deref(),
                    (&key, now),
                )
                .await
            })
            .await?;
        if let Some(limiter) = &self.rate_limiter {
            limiter.forget(account.as_deref())?;
        }
        if let Some(journal) = &self.control.journal {
            journal.clear(account.as_deref());
        }
        for failures in [
            &self.client_failures,
            &self.sign_in_failures_per_user,
            &self.sign_in_failures_per_app,
        ] {
            failures.clear();
        }
        Ok(())
    }

    /// Whether the bearer is a token the gate would let through now (nothing is spent).
    pub async fn is_valid(&self, bearer: &Bearer) -> bool {
        let now = self.now();
        self.db
            .read(|store| async move { gate::authenticate(&store, bearer, now).await })
            .await
            .is_ok()
    }

    /// Authenticates the bearer, spends the call from the account's quota, checks its scopes for the operation
    /// on the named user (if any), and runs the read, all in one read transaction: a call over the limit costs
    /// the token lookup and nothing more.
    pub async fn read_as<R, F, Fut>(
        &self,
        bearer: &Bearer,
        (operation, user_ref): (&Operation, Option<&str>),
        f: F,
    ) -> ApiResult<R>
    where
        F: FnOnce(Store, Principal, i64) -> Fut,
        Fut: Future<Output = ApiResult<R>>,
    {
        let now = self.now();
        let store = self.db.snapshot().await?;
        let principal = gate::authenticate(&store, bearer, now).await?;
        journal::note_caller(&principal);
        self.spend(&principal, operation.label, None, now)?;
        scopes::authorize(operation, &principal, user_ref)?;
        f(store, principal, now).await
    }

    /// The gate for a write: spends the call from the account's quota, then checks the principal's scopes for
    /// the operation on the named user (if any). Every authenticated call counts, as at Zoom's gateway.
    pub fn admit(
        &self,
        principal: &Principal,
        operation: &Operation,
        user_ref: Option<&str>,
    ) -> Result<(), ApiError> {
        self.spend(principal, operation.label, None, self.now())?;
        scopes::authorize(operation, principal, user_ref)
    }

    /// `admit` for `POST /users`, whose `action=create` calls also spend a daily quota of their own (§4.3).
    pub fn admit_user_create(&self, principal: &Principal, create: bool) -> Result<(), ApiError> {
        let extra = create.then_some(Limit::UserCreateDaily);
        let operation = OperationId::UserCreate.operation();
        self.spend(principal, operation.label, extra, self.now())?;
        scopes::authorize(operation, principal, None)
    }

    /// Spends one call of `label`: its per-second quota, the daily quota the plan has for it, and `extra`.
    fn spend(
        &self,
        principal: &Principal,
        label: Label,
        extra: Option<Limit>,
        now: i64,
    ) -> Result<(), ApiError> {
        let Some(limiter) = &self.rate_limiter else {
            return Ok(());
        };
        let daily = Limit::daily_for(label).chain(extra);
        let allowance =
            limiter.spend(&principal.account_id, &principal.limits, label, daily, now)?;
        rate_limit::report(allowance);
        Ok(())
    }

    /// Runs a write as one transaction, authenticating the caller's token again inside it: a token revoked
    /// (or a user deactivated) while the request waited is refused, not honoured.
    pub async fn write_as<R: Send + 'static, Fut>(
        &self,
        principal: Principal,
        f: impl FnOnce(Store, Principal) -> Fut + Send + 'static,
    ) -> ApiResult<R>
    where
        Fut: Future<Output = ApiResult<R>> + Send + 'static,
    {
        // Zoom's rules read and write one account's state: other accounts' writes need not wait.
        let scope = WriteScope::Account(principal.account_id.clone());
        self.write_in(principal, scope, f).await
    }

    /// `write_as` for an operation on the user `user_ref` (a `{userId}`) whose rules read only that user's own
    /// state (tokens, sessions, assistants, password history): it waits for that user's other writes and for the
    /// account's writes as a whole, not for other users'. A user named by e-mail is known only once the write
    /// resolves it, so that write takes the whole account.
    pub async fn write_as_user<R: Send + 'static, Fut>(
        &self,
        principal: Principal,
        user_ref: &str,
        f: impl FnOnce(Store, Principal) -> Fut + Send + 'static,
    ) -> ApiResult<R>
    where
        Fut: Future<Output = ApiResult<R>> + Send + 'static,
    {
        let account = principal.account_id.clone();
        let scope = match user_ref {
            "me" => WriteScope::User {
                account,
                user: principal.user_id.clone(),
            },
            email if email.contains('@') => WriteScope::Account(account),
            id => WriteScope::User {
                account,
                user: id.to_string(),
            },
        };
        self.write_in(principal, scope, f).await
    }

    async fn write_in<R: Send + 'static, Fut>(
        &self,
        principal: Principal,
        scope: WriteScope,
        f: impl FnOnce(Store, Principal) -> Fut + Send + 'static,
    ) -> ApiResult<R>
    where
        Fut: Future<Output = ApiResult<R>> + Send + 'static,
    {
        let now = self.now();
        self.db
            .write_in(scope, move |store| async move {
                let principal = gate::reauthenticate(&store, principal, now).await?;
                f(store, principal).await
            })
            .await
    }
}

/// Writes authenticate before their body is parsed, so a bad token is reported before a bad body, as Zoom does.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = Bearer::from_request_parts(parts, state).await?;
        let now = state.now();
        // One statement: no transaction needed (on PostgreSQL that saves two round trips per request).
        let principal = state
            .db
            .lookup(|tx| async {
                let tx = tx;
                let store = &tx;
                gate::authenticate(store, &bearer, now).await
            })
            .await?;
        journal::note_caller(&principal);
        Ok(principal)
    }
}
