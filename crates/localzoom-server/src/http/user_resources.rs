//! Collaboration devices and meeting (summary) templates: Zoom's reads, and the control API's
//! `POST /_localzoom/v1/users/{userId}/{collection}` that loads them (Zoom has no API that creates them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, post};
use serde_json::{Value, json};

use super::control::Admin;
use super::input::{Fields, PathParams};
use crate::domain::error::DomainError;
use crate::domain::user_resources::ResourceKind;
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, scopes::OperationId};
use crate::service::user_resources;

pub async fn devices(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let devices = state
        .read_as(
            &bearer,
            (
                OperationId::UserCollaborationDevices.operation(),
                Some(&user_id),
            ),
            |tx, principal, _| async {
                let (tx, principal) = (tx, principal);
                let (store, principal) = (&tx, &principal);
                user_resources::list(
                    store,
                    principal,
                    &user_id,
                    ResourceKind::CollaborationDevice,
                )
                .await
            },
        )
        .await?;
    Ok(Json(json!({
        "total_records": devices.len(),
        "collaboration_devices": devices,
    })))
}

pub async fn summary_templates(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (
                    OperationId::UserMeetingSummaryTemplates.operation(),
                    Some(&user_id),
                ),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    user_resources::list(
                        store,
                        principal,
                        &user_id,
                        ResourceKind::MeetingSummaryTemplate,
                    )
                    .await
                },
            )
            .await?,
    ))
}

pub async fn device(
    state: State<AppState>,
    bearer: Bearer,
    ids: PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    one(state, bearer, ids, ResourceKind::CollaborationDevice).await
}

pub async fn meeting_template(
    state: State<AppState>,
    bearer: Bearer,
    ids: PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    one(state, bearer, ids, ResourceKind::MeetingTemplate).await
}

/// One device or meeting template of the user, with Zoom's refusal for an id the user does not have.
async fn one(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams((user_id, id)): PathParams<(String, String)>,
    kind: ResourceKind,
) -> Result<Json<Value>, ApiError> {
    let (operation, missing) = match kind {
        ResourceKind::CollaborationDevice => (
            OperationId::UserCollaborationDevice,
            DomainError::CollaborationDeviceNotFound(id.clone()),
        ),
        _ => (
            OperationId::UserMeetingTemplate,
            DomainError::MeetingTemplateNotFound(id.clone()),
        ),
    };
    Ok(Json(
        state
            .read_as(
                &bearer,
                (operation.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    user_resources::get(store, principal, (&user_id, &id), kind, missing.clone())
                        .await
                },
            )
            .await?,
    ))
}

/// `POST /_localzoom/v1/users/{userId}/{collaboration_devices|meeting_summary_templates|meeting_templates}`: the
/// control API's load of one resource in Zoom's shape (its id optional), for a user (id or e-mail) of any account.
pub fn loader(kind: ResourceKind) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              _admin: Admin,
              PathParams(user_ref): PathParams<String>,
              body: Fields| async move {
            let body = body.into_value();
            let loaded = state
                .db
                .write(move |tx| async move {
                    let store = &tx;
                    user_resources::load(store, &user_ref, kind, body).await
                })
                .await?;
            Ok::<_, ApiError>((StatusCode::CREATED, Json(loaded)))
        },
    )
}
