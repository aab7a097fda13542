//! SCIM 2.0 at `/scim2/Users` (Zoom's SCIM2 API). Answers are `application/scim+json`; every error, whatever
//! raised it (a bad token, a rate limit, a refusal), is RFC 7644's error object and nothing else, as strict SCIM
//! clients require (`as_scim`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::input::{Fields, PathParams, Query};
use crate::domain::error::DomainError;
use crate::domain::scim::{ERROR_SCHEMA, ScimRefusal};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::http::error::ScimErrorKind;
use crate::service::scim;

const SCIM_JSON: &str = "application/scim+json";

/// Largest error body rewritten: localzoom's own, which are small.
const ERROR_BODY_LIMIT: usize = 16 * 1024;

/// Rewrites every answer of the SCIM routes: the SCIM media type, and errors as RFC 7644 error objects (Zoom's
/// message as `detail`, a field Zoom's validation names said in it). A refused scope or permission is SCIM's 403;
/// `scimType` comes from the refusal itself (`ScimErrorKind`, set by `http/error.rs`).
pub async fn as_scim(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return Response::from_parts(parts, body);
    }
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if parts.status.is_success() {
        return Response::from_parts(parts, body);
    }
    let bytes = axum::body::to_bytes(body, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let zoom: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = match zoom["errors"][0]["field"].as_str() {
        Some(field) => format!("The value of \"{field}\" is invalid."),
        None => zoom["message"]
            .as_str()
            .unwrap_or("The request failed.")
            .to_string(),
    };
    let kind = parts.extensions.get::<ScimErrorKind>().copied();
    if kind.is_some_and(|k| k.forbidden) {
        parts.status = StatusCode::FORBIDDEN;
    }
    let mut error = json!({
        "schemas": [ERROR_SCHEMA],
        "status": parts.status.as_u16().to_string(),
        "detail": message,
    });
    if let Some(scim_type) = kind.and_then(|k| k.scim_type) {
        error["scimType"] = scim_type.into();
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(error.to_string()))
}

/// The absolute URL of a resource the service names relative to the server.
fn locate(state: &AppState, resource: &mut Value, headers: &HeaderMap) {
    if let Some(location) = resource.pointer_mut("/meta/location")
        && let Some(path) = location.as_str()
    {
        *location = super::absolute_url(state, path, headers).into();
    }
}

/// A SCIM body: a JSON object, or Zoom's SCIM refusals for what is not one.
fn scim_body(body: Result<Fields, ApiError>) -> Result<Map<String, Value>, ApiError> {
    let fields = body.map_err(|e| match e {
        ApiError::InvalidJson | ApiError::JsonSentAsForm | ApiError::UnsupportedMediaType => {
            DomainError::from(ScimRefusal::NotJson).into()
        }
        other => other,
    })?;
    match fields.into_value() {
        Value::Object(map) if !map.is_empty() => Ok(map),
        _ => Err(DomainError::from(ScimRefusal::EmptyBody).into()),
    }
}

/// A non-negative integer query parameter, or SCIM's refusal naming it.
fn index(query: &Query, name: &str) -> Result<Option<i64>, ApiError> {
    query
        .int(name)
        .map_err(|_| DomainError::from(ScimRefusal::InvalidValue(name.into())).into())
}

pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    query: Query,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let paging = (|| {
        // RFC 7644 §3.4.2.4: a startIndex below 1 is 1. Both are integers and `count` is within Zoom's 0–100:
        // the route's check of documented query parameters refuses anything else.
        let start = index(&query, "startIndex")?.unwrap_or(1).max(1) as u64;
        let count = index(&query, "count")?.map_or(scim::DEFAULT_COUNT, |c| c as u64);
        Ok::<_, ApiError>((start, count))
    })();
    let filter = query.get("filter").filter(|f| !f.trim().is_empty());
    let mut list = state
        .read_as(
            &bearer,
            (OperationId::ScimUsers.operation(), None),
            |tx, principal, _| async {
                let (tx, principal) = (tx, principal);
                let (store, principal) = (&tx, &principal);
                let (start, count) = paging.clone()?;
                scim::list(store, principal, filter, start, count).await
            },
        )
        .await?;
    if let Some(resources) = list["Resources"].as_array_mut() {
        resources
            .iter_mut()
            .for_each(|r| locate(&state, r, &headers));
    }
    Ok(Json(list))
}

pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let mut user = state
        .read_as(
            &bearer,
            (OperationId::ScimUser.operation(), None),
            |tx, principal, _| async {
                let (tx, principal) = (tx, principal);
                let (store, principal) = (&tx, &principal);
                scim::get(store, principal, &user_id).await
            },
        )
        .await?;
    locate(&state, &mut user, &headers);
    Ok(Json(user))
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Fields, ApiError>,
) -> Result<Response, ApiError> {
    state.admit(&principal, OperationId::ScimUserCreate.operation(), None)?;
    let body = scim_body(body)?;
    let now = state.now();
    let mut user = state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            scim::create(store, principal, &body, now).await
        })
        .await?;
    locate(&state, &mut user, &headers);
    let location = user["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut response = (StatusCode::CREATED, Json(user)).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PUT` (Zoom's partial replace) and `PATCH` (RFC 7644 operations): one handler, as they differ only in how the
/// body names the changes.
pub async fn change(
    State(state): State<AppState>,
    method: axum::http::Method,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    headers: HeaderMap,
    body: Result<Fields, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let operation = if method == axum::http::Method::PATCH {
        OperationId::ScimUserPatch
    } else {
        OperationId::ScimUserReplace
    };
    state.admit(&principal, operation.operation(), None)?;
    let body = scim_body(body)?;
    let now = state.now();
    let mut user = state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            match operation {
                OperationId::ScimUserPatch => {
                    scim::patch(store, principal, &user_id, &body, now).await
                }
                _ => scim::replace(store, principal, &user_id, &body, now).await,
            }
        })
        .await?;
    locate(&state, &mut user, &headers);
    Ok(Json(user))
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state.admit(&principal, OperationId::ScimUserDelete.operation(), None)?;
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            scim::delete(store, principal, &user_id, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
