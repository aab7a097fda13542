//! Fault rules at work (`gate::faults`): the layer that lets a rule answer, delay or drop a call to Zoom's API
//! before its handler runs (so nothing behind a faulted call changes), and the control API that manages them.

use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::control::Admin;
use super::input::{Fields, PathParams};
use super::journal::{Faulted, journaled, operation_at};
use super::listener::ResetConnection;
use crate::domain::error::DomainError;
use crate::domain::rate_limits::{Label, Limit};
use crate::error::ApiError;
use crate::gate::Principal;
use crate::gate::faults::{
    Call, Fault, FaultAnswer, FaultEffect, FaultMatch, Latency, MAX_LATENCY_MS, NewFaultRule,
};
use crate::gate::state::AppState;

/// Runs the request (`track` calls it in place of `next.run`, so the journal sees what it did): a call to Zoom's
/// API that a rule fires on gets the rule's latency, then its answer or a dropped connection instead of
/// localzoom's (or, for a latency-only rule, localzoom's answer late).
pub async fn run(state: &AppState, request: Request, next: Next) -> Response {
    match state.control.faults.as_ref() {
        Some(rules) if !rules.is_empty() && journaled(request.uri().path()) => {
            // Boxed: the rare path's state (a timer, a token lookup) must not grow every request's future.
            Box::pin(with_rules(state, rules, request, next)).await
        }
        _ => next.run(request).await,
    }
}

async fn with_rules(
    state: &AppState,
    rules: &crate::gate::faults::FaultRules,
    request: Request,
    next: Next,
) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| operation_at(request.method().as_str(), route.as_str()));
    let (mut parts, body) = request.into_parts();
    let caller = if rules.need_caller() {
        caller_of(state, &mut parts).await
    } else {
        None
    };
    let call = Call {
        operation: operation.map(|op| op.name),
        path: parts.uri.path(),
    };
    let fault = rules.decide(
        &call,
        caller
            .as_ref()
            .map(|c| (c.account_id.as_str(), c.client_id.as_str())),
    );
    let Some(Fault {
        rule_id,
        latency,
        answer,
        reset_connection,
    }) = fault
    else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let mut response = if reset_connection {
        let mut dropped = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        dropped.extensions_mut().insert(ResetConnection);
        dropped
    } else if let Some(answer) = answer {
        let label = operation.map_or(Label::Light, |op| op.label);
        let caller = match caller {
            Some(caller) => Some(caller),
            None if answer.status == 429 => caller_of(state, &mut parts).await,
            None => None,
        };
        answer_with(&answer, label, caller.as_ref())
    } else {
        next.run(Request::from_parts(parts, body)).await
    };
    response.extensions_mut().insert(Faulted(rule_id));
    response
}

/// Who a call comes from, for rules that match on account or app (and a 429's limit): the principal of its
/// bearer token, if the token is valid.
async fn caller_of(state: &AppState, parts: &mut axum::http::request::Parts) -> Option<Principal> {
    Principal::from_request_parts(parts, state).await.ok()
}

/// A rule's answer, through the one error table. A 429 carries the headers Zoom sends with one (category, type,
/// limit, remaining), with the caller's limit when it is known.
fn answer_with(answer: &FaultAnswer, label: Label, caller: Option<&Principal>) -> Response {
    let rate_limit = (answer.status == 429).then(|| {
        let limit = caller.and_then(|c| c.limits.get(Limit::Rate(label)));
        (label, limit.unwrap_or(0))
    });
    ApiError::FaultAnswer {
        status: answer.status,
        code: answer.code,
        message: answer.message.clone(),
        rate_limit,
    }
    .into_response()
}

/// The message Zoom gives with a status, for rules that name only the status.
fn default_message(status: u16) -> String {
    match status {
        // The limiter's own message.
        429 => {
            ApiError::RateLimit {
                category: Label::Light,
                limit: 0,
            }
            .body()
            .message
        }
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .into(),
    }
}

fn optional_text(body: &Fields, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    match body.str(name)? {
        Some(text) if text.is_empty() || text.chars().count() > max => Err(body.invalid(name)),
        other => Ok(other),
    }
}

/// A `POST /_localzoom/v1/faults` body, checked whole: every field named when it is wrong.
fn new_rule(body: &Fields) -> Result<NewFaultRule, ApiError> {
    let operation = optional_text(body, "operation", 128)?;
    if let Some(name) = &operation
        && !localzoom_api::operations::OPERATIONS
            .iter()
            .any(|op| op.name == name)
    {
        return Err(body.invalid("operation"));
    }
    let path = optional_text(body, "path", 1024)?;
    if path.as_deref().is_some_and(|p| !p.starts_with(['/', '*'])) {
        return Err(body.invalid("path"));
    }
    let probability = match body.get("probability") {
        None | Some(Value::Null) => None,
        Some(p) => Some(
            p.as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| body.invalid("probability"))?,
        ),
    };
    let times = match body.int("times")? {
        Some(n) if n >= 1 => Some(n as u64),
        Some(_) => return Err(body.invalid("times")),
        None => None,
    };
    let status = match body.int("status")? {
        Some(s) if (400..=599).contains(&s) => Some(s as u16),
        Some(_) => return Err(body.invalid("status")),
        None => None,
    };
    let code = match body.int("code")? {
        Some(code) => Some(u32::try_from(code).map_err(|_| body.invalid("code"))?),
        None => None,
    };
    let message = optional_text(body, "message", 1024)?;
    let latency = match body.get("latency_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Object(range)) => {
            let bound = |name: &str| range.get(name).and_then(Value::as_u64);
            match (bound("min"), bound("max")) {
                (Some(min), Some(max)) if min <= max && max <= MAX_LATENCY_MS => {
                    Some(Latency::Between { min, max })
                }
                _ => return Err(body.invalid("latency_ms")),
            }
        }
        Some(ms) => Some(Latency::Fixed(
            ms.as_u64()
                .filter(|ms| *ms <= MAX_LATENCY_MS)
                .ok_or_else(|| body.invalid("latency_ms"))?,
        )),
    };
    let reset_connection = body.bool("reset_connection")?.unwrap_or(false);
    let seed = match body.get("seed") {
        None | Some(Value::Null) => None,
        Some(seed) => Some(seed.as_u64().ok_or_else(|| body.invalid("seed"))?),
    };
    if status.is_none() && (code.is_some() || message.is_some()) {
        return Err(
            DomainError::field("status", "A fault's code and message need its status.").into(),
        );
    }
    if status.is_some() && reset_connection {
        return Err(DomainError::field(
            "reset_connection",
            "A fault either answers (status) or resets the connection, not both.",
        )
        .into());
    }
    if status.is_none() && latency.is_none() && !reset_connection {
        return Err(DomainError::Invalid(
            "Give a fault at least one effect: \"status\" (with \"code\" and \"message\"), \"latency_ms\" or \
             \"reset_connection\"."
                .into(),
        )
        .into());
    }
    let answer = status.map(|status| FaultAnswer {
        status,
        code: code.unwrap_or(u32::from(status)),
        message: message.unwrap_or_else(|| default_message(status)),
    });
    Ok(NewFaultRule {
        matching: FaultMatch {
            operation,
            path,
            account_id: optional_text(body, "account_id", 128)?,
            client_id: optional_text(body, "client_id", 128)?,
        },
        probability,
        times,
        effect: FaultEffect {
            answer,
            latency,
            reset_connection,
        },
        seed,
    })
}

/// The rules, which exist whenever the control API does (`server::start`).
pub fn the_rules(state: &AppState) -> Result<&crate::gate::faults::FaultRules, ApiError> {
    state.control.faults.as_ref().ok_or(ApiError::ControlApiOff)
}

/// `POST /_localzoom/v1/faults`: 201 with the rule as kept (its `id`, and the `seed` that replays it).
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    body: Fields,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rule = add_rule(&state, &body)?;
    Ok((StatusCode::CREATED, Json(json!(rule))))
}

/// Adds the rule `body` describes (as `POST /_localzoom/v1/faults` takes it).
pub fn add_rule(
    state: &AppState,
    body: &Fields,
) -> Result<crate::gate::faults::FaultRule, ApiError> {
    let rule = new_rule(body)?;
    the_rules(state)?.add(rule).ok_or_else(|| {
        ApiError::from(DomainError::Invalid(format!(
            "There are {} fault rules already: delete some first.",
            crate::gate::faults::MAX_RULES
        )))
    })
}

/// `GET /_localzoom/v1/faults`: `{"faults": […]}`, in the order they are tried.
pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "faults": the_rules(&state)?.list() })))
}

/// `DELETE /_localzoom/v1/faults`: every rule goes.
pub async fn delete_all(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<StatusCode, ApiError> {
    the_rules(&state)?.delete(None);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /_localzoom/v1/faults/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    if the_rules(&state)?.delete(Some(&id)) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NoSuchFaultRule(id))
    }
}
