//! Collaboration devices, meeting summary templates and meeting templates: Zoom's reads of them, over what the
//! control API loaded (Zoom has no API that creates them).

use serde_json::Value;

use super::resolve_user;
use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user_resources::{self, MAX_PER_USER, ResourceKind};
use crate::error::ApiResult;
use crate::store::Store;

/// Every resource of `kind` the user has, in the order they were loaded.
pub async fn list(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    kind: ResourceKind,
) -> ApiResult<Vec<Value>> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(store
        .user_resources(&user.id, kind)
        .await?
        .into_iter()
        .map(Value::Object)
        .collect())
}

/// One resource of `kind`; `missing` is Zoom's refusal for an id the user does not have.
pub async fn get(
    store: &Store,
    principal: &Principal,
    (user_ref, id): (&str, &str),
    kind: ResourceKind,
    missing: DomainError,
) -> ApiResult<Value> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(Value::Object(
        store
            .user_resource(&user.id, kind, id)
            .await?
            .ok_or(missing)?,
    ))
}

/// Loads one resource for a user of any account (`POST /_localzoom/v1/users/{userId}/{kind}`), replacing one of
/// the same id. Returns it as reads will answer it.
pub async fn load(
    store: &Store,
    user_ref: &str,
    kind: ResourceKind,
    body: Value,
) -> ApiResult<Value> {
    let user = store
        .find_user(user_ref)
        .await?
        .ok_or_else(|| DomainError::UserNotFound(user_ref.to_string()))?;
    let (id, resource) = user_resources::prepare(kind, body, crypto::new_id())?;
    let replaces = store.user_resource(&user.id, kind, &id).await?.is_some();
    if !replaces && store.user_resource_count(&user.id, kind).await? >= MAX_PER_USER as u64 {
        return Err(DomainError::Invalid(format!(
            "A user holds at most {MAX_PER_USER} {} here.",
            kind.as_str()
        ))
        .into());
    }
    store
        .put_user_resource(&user.id, (kind, &id), &resource)
        .await?;
    Ok(resource)
}
