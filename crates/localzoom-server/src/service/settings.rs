//! A user's settings (`GET/PATCH /users/{userId}/settings`): Zoom's defaults with what the user changed laid
//! over them, and the virtual backgrounds the user uploaded.

use serde_json::{Value, json};

use super::resolve_user;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::{AdminOnly, require_admin};
use crate::domain::user_settings::{self, SettingsOption};
use crate::domain::webhook::{self, Event};
use crate::error::ApiResult;
use crate::service::webhooks::Listeners;
use crate::store::Store;

/// `GET /users/{userId}/settings`: one option's shape, or only the named settings (`custom_query_fields`).
pub async fn user_settings(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    option: SettingsOption,
    only: Option<&[&str]>,
) -> ApiResult<Value> {
    let user = resolve_user(store, principal, user_ref).await?;
    let files = if option == SettingsOption::All {
        super::media::backgrounds(store, &user.id)
            .await?
            .into_iter()
            .map(|file| json!(file))
            .collect()
    } else {
        Vec::new()
    };
    let view = user_settings::view(option, &store.user_settings(&user.id).await?, files);
    match only {
        None => Ok(view),
        // Names that match no setting of the answered shape are a mistake to report, not an empty answer.
        Some(names) => match user_settings::only_fields(&view, names) {
            Value::Object(found) if found.is_empty() => {
                Err(DomainError::field("custom_query_fields", "Invalid field.").into())
            }
            found => Ok(found),
        },
    }
}

/// `PATCH /users/{userId}/settings`: checked against Zoom's schema and rules as a whole, then kept.
pub async fn update_user_settings(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    option: SettingsOption,
    body: &Value,
    now: i64,
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    if body.get("feature").is_some_and(|f| !f.is_null()) {
        require_admin(principal.role, AdminOnly::Features)?;
    }
    let mut stored = store.user_settings(&user.id).await?;
    let listeners = Listeners::of_principal(store, principal).await?;
    let before = listeners
        .want(Event::UserSettingsUpdated)
        .then(|| user_settings::view(option, &stored, Vec::new()));
    user_settings::apply_patch(option, &mut stored, body, user.user_type)?;
    store.set_user_settings(&user.id, &stored).await?;
    let Some(before) = before else {
        return Ok(());
    };
    let after = user_settings::view(option, &stored, Vec::new());
    listeners
        .emit(
            store,
            principal,
            now,
            Event::UserSettingsUpdated,
            |operator| webhook::settings_updated(&user.id, (&before, &after), operator, now),
        )
        .await
}
