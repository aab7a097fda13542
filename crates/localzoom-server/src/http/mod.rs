//! The router: Zoom's two hosts on one listener (`/oauth/…` of zoom.us, `/v2/…` of api.zoom.us), every
//! response tagged with an `x-zm-trackingid`, every miss answered in Zoom's shape.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
use localzoom_api::operations::{Api, Method, OPERATIONS, Operation, OperationId};

use crate::domain::user_resources::ResourceKind;
use crate::error::ApiError;
use crate::gate::Bearer;
use crate::gate::metrics::AuthFailure;
use crate::gate::rate_limit;
use crate::gate::state::AppState;

pub mod assistants;
pub mod console;
pub mod control;
pub mod error;
pub mod faults;
pub mod html;
pub mod input;
pub mod journal;
pub mod listener;
pub mod media;
pub mod oauth;
pub mod openapi;
pub mod password;
pub mod presence;
pub mod scim;
pub mod settings;
pub mod status;
pub mod token;
pub mod user_resources;
pub mod user_settings;
pub mod users;
pub mod webhooks;

pub use localzoom_api::headers::TRACKING_ID as TRACKING_HEADER;

/// Each operation of the table's handler. The match is exhaustive: an entry without a handler does not compile.
fn handler(operation: &Operation) -> MethodRouter<AppState> {
    use OperationId::*;
    let method = match operation.method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    };
    match operation.id {
        Users => on(method, users::list),
        UserCreate => on(method, users::create),
        BulkUpdateFeature => on(method, users::update_features),
        UserEmail => on(method, users::check_email),
        UserSummary => on(method, users::summary),
        UserVanityName => on(method, users::vanity_name),
        UserZak => on(method, token::zak),
        User => on(method, users::get),
        UserUpdate => on(method, users::update),
        UserDelete => on(method, users::delete),
        UserStatus => on(method, status::update),
        UserPassword => on(method, password::update),
        UserEmailUpdate => on(method, users::update_email),
        UserPresenceStatus => on(method, presence::get),
        UserPresenceStatusUpdate => on(method, presence::update),
        UserSsoTokenDelete => on(method, token::revoke_sso),
        UserToken => on(method, token::get),
        UserPermission => on(method, users::permissions),
        UserAssistants => on(method, assistants::list),
        UserAssistantCreate => on(method, assistants::add),
        UserAssistantsDelete => on(method, assistants::remove_all),
        UserAssistantDelete => on(method, assistants::remove_one),
        UserSchedulers => on(method, assistants::schedulers),
        UserSchedulersDelete => on(method, assistants::remove_all_schedulers),
        UserSchedulerDelete => on(method, assistants::remove_scheduler),
        UserSettings => on(method, user_settings::get),
        UserSettingsUpdate => on(method, user_settings::update),
        // Uploads read their bodies themselves, up to the file's limit.
        UserPicture => on(method, media::upload_picture).layer(DefaultBodyLimit::max(
            crate::domain::media::PICTURE_MAX_BYTES + input::UPLOAD_OVERHEAD,
        )),
        UserPictureDelete => on(method, media::delete_picture),
        UserVirtualBackgroundUpload => {
            on(method, media::upload_background).layer(DefaultBodyLimit::max(
                crate::domain::media::BACKGROUND_MAX_BYTES + input::UPLOAD_OVERHEAD,
            ))
        }
        UserVirtualBackgroundDelete => on(method, media::delete_backgrounds),
        UserCollaborationDevices => on(method, user_resources::devices),
        UserCollaborationDevice => on(method, user_resources::device),
        UserMeetingSummaryTemplates => on(method, user_resources::summary_templates),
        UserMeetingTemplate => on(method, user_resources::meeting_template),
        AccountSettings => on(method, settings::get),
        AccountSettingsUpdate => on(method, settings::update),
        ScimUsers => on(method, scim::list),
        ScimUserCreate => on(method, scim::create),
        ScimUser => on(method, scim::get),
        ScimUserReplace => on(method, scim::change),
        ScimUserDelete => on(method, scim::delete),
        ScimUserPatch => on(method, scim::change),
    }
}

/// The operation's route, its documented query parameters checked first (`openapi::check_query`). The gate still
/// answers first: a query that breaks Zoom's schema is refused only to a caller with a valid token (one check of
/// the token, on that path only); any other request goes on, for the handler's gate to answer.
fn checked(op: &'static Operation, state: AppState) -> MethodRouter<AppState> {
    handler(op).layer(middleware::from_fn(move |request: Request, next: Next| {
        // Most requests carry no query and most queries are valid: those go on with no more work (a query that
        // cannot be read at all is the handler's `Query` extractor's to refuse).
        let refusal = request
            .uri()
            .query()
            .and_then(|query| input::parse_form(query.as_bytes()))
            .and_then(|pairs| openapi::check_query(op, &pairs).err());
        let state = refusal.is_some().then(|| state.clone());
        async move {
            let (Some(refusal), Some(state)) = (refusal, state) else {
                return next.run(request).await;
            };
            let (mut parts, body) = request.into_parts();
            let known = match Bearer::from_request_parts(&mut parts, &state).await {
                Ok(bearer) => state.is_valid(&bearer).await,
                Err(_) => false,
            };
            if known {
                axum::response::IntoResponse::into_response(ApiError::from(refusal))
            } else {
                next.run(Request::from_parts(parts, body)).await
            }
        }
    }))
}

pub fn router(state: AppState) -> Router {
    // Routes of one path and several methods merge into one.
    let v2 = OPERATIONS
        .iter()
        .filter(|op| op.api == Api::V2)
        .fold(Router::new(), |v2, op| {
            v2.route(op.path, checked(op, state.clone()))
        });
    // SCIM's paths start at the root; its answers are SCIM's (`scim`).
    let scim2 = OPERATIONS
        .iter()
        .filter(|op| op.api == Api::Scim2)
        .fold(Router::new(), |scim2, op| {
            scim2.route(op.path, checked(op, state.clone()))
        })
        // Paths under /scim2 that are not served (Groups, discovery) are SCIM's "not found" too.
        .route("/scim2/{*rest}", axum::routing::any(unknown_endpoint))
        .layer(middleware::from_fn(scim::as_scim));
    let control = Router::new()
        .route(
            "/users/{userId}/sessions",
            get(control::sessions).post(control::sign_in),
        )
        .route(
            "/users/{userId}/sessions/{sessionId}",
            axum::routing::delete(control::sign_out),
        )
        .route("/clock", get(control::clock).post(control::set_clock))
        .route("/reset", post(control::reset))
        .route(
            "/apps/{clientId}/webhooks",
            get(webhooks::of_app).post(webhooks::subscribe),
        )
        .route("/webhooks", get(webhooks::all))
        .route(
            "/webhooks/{id}",
            get(webhooks::one).delete(webhooks::unsubscribe),
        )
        .route("/webhooks/{id}/validate", post(webhooks::validate))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhook_deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route(
            "/fixtures",
            post(control::load_fixtures).layer(DefaultBodyLimit::max(
                crate::domain::fixture::MAX_FIXTURE_BYTES,
            )),
        )
        .route("/requests", get(journal::list).delete(journal::clear))
        .route("/requests/count", get(journal::count))
        .route(
            "/faults",
            get(faults::list)
                .post(faults::create)
                .delete(faults::delete_all),
        )
        .route("/faults/{id}", axum::routing::delete(faults::delete))
        .route(
            "/outbox",
            get(control::outbox).delete(control::clear_outbox),
        )
        .route(
            "/users/{userId}/collaboration_devices",
            user_resources::loader(ResourceKind::CollaborationDevice),
        )
        .route(
            "/users/{userId}/meeting_summary_templates",
            user_resources::loader(ResourceKind::MeetingSummaryTemplate),
        )
        .route(
            "/users/{userId}/meeting_templates",
            user_resources::loader(ResourceKind::MeetingTemplate),
        );
    Router::new()
        .nest("/v2", v2)
        .merge(scim2)
        .nest("/_localzoom/v1", control)
        .route(console::BASE, get(console::home))
        .nest(console::BASE, console::router())
        .route("/oauth/token", post(oauth::token))
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize_submit),
        )
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/openapi.json", get(openapi_document))
        .route("/p/{userId}/{version}", get(media::serve_picture))
        .route("/healthz", get(health))
        .route("/livez", get(live))
        .route("/metrics", get(metrics))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(input::BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// `GET /livez`: the process serves requests. It does not ask storage: a node whose database is down is not
/// helped by a restart, so an orchestrator's liveness probe must not kill it (readiness is `/healthz`).
async fn live() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /healthz` (readiness): 200 while storage works; 503 while it fails (a write failed in storage and none has
/// succeeded since, or a probe fails), so a load balancer stops sending traffic to a node with a full disk or an
/// unreachable database.
async fn health(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.db.unhealthy(state.now()).await {
        None => axum::Json(serde_json::json!({ "status": "ok" })).into_response(),
        Some(detail) => {
            // The detail (paths, hosts) is for the operator's log, not for whoever polls the health check.
            tracing::warn!(%detail, "health check: storage is failing");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                [(
                    axum::http::header::RETRY_AFTER,
                    error::UNAVAILABLE_RETRY_AFTER_SECONDS.to_string(),
                )],
                axum::Json(serde_json::json!({
                    "status": "unavailable",
                    "reason": "storage is failing; see the server's log",
                })),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus' text format (see `metrics`).
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(state.db.writer_stats()),
    )
        .into_response()
}

/// `GET /openapi.json`: what this server implements (see `openapi`).
async fn openapi_document() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}

/// `path` on this server as clients reach it: under `--public-url` when one is set, otherwise under the `Host` the
/// request named (and `https` behind a proxy that says so).
pub fn absolute_url(state: &AppState, path: &str, headers: &axum::http::HeaderMap) -> String {
    if let Some(base) = &state.public_url {
        return format!("{base}{path}");
    }
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return path.to_string();
    };
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}{path}")
}

async fn unknown_endpoint() -> ApiError {
    ApiError::UnknownEndpoint
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Gives each request a tracking id (Zoom's `x-zm-trackingid`, which clients such as Rivet surface) and logs
/// one line per request carrying it. Paths are logged, query strings and headers never (they may hold secrets).
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let tracking_id = crate::crypto::new_tracking_id();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let started = Instant::now();
    let (request, recording) = journal::start(&state, request);
    let served = rate_limit::with_allowance_headers(faults::run(&state, request, next));
    // The journal's paths are boxed: a server without the control API keeps every request's future small.
    let (mut response, caller) = match recording {
        Some(_) => Box::pin(crate::gate::journal::with_caller(served)).await,
        None => (served.await, None),
    };
    let latency = started.elapsed();
    let latency_us = latency.as_micros() as u64;
    let status = response.status().as_u16();
    let category = (status == 429)
        .then(|| {
            response
                .headers()
                .get(localzoom_api::headers::RATE_LIMIT_CATEGORY)
        })
        .flatten()
        .and_then(|v| v.to_str().ok());
    state.metrics.record(
        (method.as_str(), route.as_ref().map(|r| r.as_str())),
        status,
        latency_us,
        category,
    );
    if status == 401 && path.starts_with("/v2/") {
        state.metrics.auth_failure(AuthFailure::AccessToken);
    } else if status == 401 && path.starts_with("/_localzoom/") {
        state.metrics.auth_failure(AuthFailure::AdminKey);
    }
    if let Ok(value) = HeaderValue::from_str(&tracking_id) {
        response.headers_mut().insert(TRACKING_HEADER, value);
    }
    tracing::info!(
        tracking_id = %tracking_id,
        %method,
        %path,
        status,
        latency_us,
        "served"
    );
    match recording {
        Some(recording) => {
            Box::pin(recording.finish(&state, response, (caller, &tracking_id, latency))).await
        }
        None => response,
    }
}
