//! `/users/{userId}/assistants` (seed 003 is the DELETE) and `/users/{userId}/schedulers`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use localzoom_api::{AddedAssistants, AssistantList, AssistantRef, SchedulerList};

use super::input::{Fields, PathParams};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::assistants::{self, MAX_ASSISTANTS};

pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<AssistantList>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserAssistants.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    assistants::list(store, principal, &user_id).await
                },
            )
            .await?,
    ))
}

pub async fn add(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<(StatusCode, Json<AddedAssistants>), ApiError> {
    state.admit(
        &principal,
        OperationId::UserAssistantCreate.operation(),
        Some(&user_id),
    )?;
    let refs: Vec<AssistantRef> = body
        .typed("assistants")?
        .filter(|refs: &Vec<AssistantRef>| !refs.is_empty() && refs.len() <= MAX_ASSISTANTS)
        .ok_or_else(|| body.invalid("assistants"))?;
    let now = state.now();
    let target = user_id.clone();
    let added = state
        .write_as_user(principal, &target, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            assistants::add(store, principal, &user_id, &refs, now).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

pub async fn remove_all(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserAssistantsDelete.operation(),
        Some(&user_id),
    )?;
    let target = user_id.clone();
    state
        .write_as_user(principal, &target, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            assistants::remove_all(store, principal, &user_id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_one(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((user_id, assistant_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserAssistantDelete.operation(),
        Some(&user_id),
    )?;
    let target = user_id.clone();
    state
        .write_as_user(principal, &target, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            assistants::remove_one(store, principal, &user_id, &assistant_id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn schedulers(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<SchedulerList>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserSchedulers.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    assistants::schedulers(store, principal, &user_id).await
                },
            )
            .await?,
    ))
}

pub async fn remove_all_schedulers(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserSchedulersDelete.operation(),
        Some(&user_id),
    )?;
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            assistants::remove_all_schedulers(store, principal, &user_id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_scheduler(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((user_id, scheduler_id)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserSchedulerDelete.operation(),
        Some(&user_id),
    )?;
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            assistants::remove_scheduler(store, principal, &user_id, &scheduler_id).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
