//! Uploads: `POST/DELETE /users/{userId}/picture`, `POST/DELETE /users/{userId}/settings/virtual_backgrounds`,
//! and `GET /p/{userId}/{version}`, where a picture is served (its `pic_url`).

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use localzoom_api::VirtualBackgroundFile;
use serde_json::{Value, json};

use super::input::{PathParams, Query, upload};
use crate::domain::error::{DomainError, FileRefusal};
use crate::domain::media::{BACKGROUND_MAX_BYTES, PICTURE_MAX_BYTES};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Principal, scopes::OperationId};
use crate::service::media;
use tokio::sync::Semaphore;

/// Uploads read at once: each holds its file in memory until it is stored, so their number bounds the memory
/// uploads take (a few times 15 MB), whatever the number of connections.
static UPLOADS: Semaphore = Semaphore::const_new(4);

pub async fn upload_picture(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.admit(
        &principal,
        OperationId::UserPicture.operation(),
        Some(&user_id),
    )?;
    let _slot = UPLOADS.acquire().await.map_err(ApiError::internal)?;
    let file = upload(
        request,
        "pic_file",
        PICTURE_MAX_BYTES,
        FileRefusal::PictureTooLarge.into(),
    )
    .await?;
    let bytes = file.map(|f| f.bytes).unwrap_or_default();
    let (site, now) = (super::absolute_url(&state, "", &headers), state.now());
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            media::upload_picture(store, principal, &user_id, &bytes, (&site, now)).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

pub async fn delete_picture(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserPictureDelete.operation(),
        Some(&user_id),
    )?;
    let (site, now) = (super::absolute_url(&state, "", &headers), state.now());
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            media::delete_picture(store, principal, &user_id, (&site, now)).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn upload_background(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    request: Request,
) -> Result<(StatusCode, Json<VirtualBackgroundFile>), ApiError> {
    state.admit(
        &principal,
        OperationId::UserVirtualBackgroundUpload.operation(),
        Some(&user_id),
    )?;
    let _slot = UPLOADS.acquire().await.map_err(ApiError::internal)?;
    let file = upload(
        request,
        "file",
        BACKGROUND_MAX_BYTES,
        FileRefusal::BackgroundTooLarge.into(),
    )
    .await?
    .ok_or(DomainError::File(FileRefusal::NoBackgroundFile))?;
    let now = state.now();
    let created = state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            media::upload_background(store, principal, &user_id, (&file.name, &file.bytes), now)
                .await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn delete_backgrounds(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    query: Query,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserVirtualBackgroundDelete.operation(),
        Some(&user_id),
    )?;
    let ids: Vec<String> = query
        .get("file_ids")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            media::delete_backgrounds(store, principal, &user_id, &ids).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /p/{userId}/{version}`: a user's current picture, to anyone who has its URL (as Zoom's `pic_url`s are).
/// A replaced or deleted picture's URL is a 404.
pub async fn serve_picture(
    State(state): State<AppState>,
    PathParams((user_id, version)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::UnknownEndpoint;
    let version: i64 = version.parse().map_err(|_| not_found())?;
    let picture = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            media::picture(store, &user_id, version).await
        })
        .await?
        .ok_or_else(not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, picture.content_type),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".into(),
            ),
            // The bytes were checked to be a JPEG or PNG; no browser should guess otherwise.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        picture.bytes,
    )
        .into_response())
}

/// Makes a `pic_url` served here absolute.
pub fn absolute_pic_url(state: &AppState, pic_url: &mut String, headers: &HeaderMap) {
    if pic_url.starts_with('/') {
        *pic_url = super::absolute_url(state, pic_url, headers);
    }
}
