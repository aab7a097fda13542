//! Uploaded files: a user's profile picture (served at its `pic_url`) and virtual backgrounds (listed in the
//! user's settings).

use localzoom_api::VirtualBackgroundFile;

use super::resolve_user;
use crate::crypto;
use crate::domain::error::{DomainError, FileRefusal};
use crate::domain::media::{self, BACKGROUNDS_PER_USER, VirtualBackground};
use crate::domain::principal::Principal;
use crate::domain::settings;
use crate::domain::user::Role;
use crate::domain::webhook::{self, Event};
use crate::error::ApiResult;
use crate::service::webhooks::Listeners;
use crate::store::{Picture, Store};

/// A Member may change a picture unless the account lets only admins change profile pictures.
async fn may_change_picture(store: &Store, principal: &Principal) -> ApiResult<()> {
    if principal.role == Role::Member
        && let Some(account) = store.account(&principal.account_id).await?
        && settings::admins_only(&account.security, "profile_picture")
    {
        return Err(DomainError::PictureAdminOnly.into());
    }
    Ok(())
}

/// Where the user's picture is served, relative to the server (`None`: the user has none).
pub async fn picture_path(store: &Store, user_id: &str) -> ApiResult<Option<String>> {
    Ok(store
        .picture_version(user_id)
        .await?
        .map(|version| media::picture_path(user_id, version)))
}

/// `POST /users/{userId}/picture`. Each upload gets a new version, so a new URL, even within one millisecond.
/// `site` is the server's URL, which the `pic_url` of `user.updated` starts with.
pub async fn upload_picture(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    bytes: &[u8],
    (site, now): (&str, i64),
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    may_change_picture(store, principal).await?;
    let content_type = media::picture_type(bytes)?;
    let before = picture_path(store, &user.id).await?;
    let version = store
        .picture_version(&user.id)
        .await?
        .map_or(now, |previous| now.max(previous + 1));
    store
        .set_picture(&user.id, (content_type, version), bytes)
        .await?;
    let after = Some(media::picture_path(&user.id, version));
    picture_changed(store, principal, &user.id, (before, after), (site, now)).await
}

/// `DELETE /users/{userId}/picture`: the user is left without one (deleting none is not an error).
pub async fn delete_picture(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    (site, now): (&str, i64),
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    may_change_picture(store, principal).await?;
    let before = picture_path(store, &user.id).await?;
    store.delete_picture(&user.id).await?;
    picture_changed(store, principal, &user.id, (before, None), (site, now)).await
}

/// `user.updated` with the picture's URL, new and old (empty: none), when it changed.
async fn picture_changed(
    store: &Store,
    principal: &Principal,
    user_id: &str,
    (before, after): (Option<String>, Option<String>),
    (site, now): (&str, i64),
) -> ApiResult<()> {
    let shown = |path: Option<String>| {
        let url = path.map(|p| format!("{site}{p}")).unwrap_or_default();
        serde_json::Map::from_iter([("pic_url".to_string(), url.into())])
    };
    let (before, after) = (shown(before), shown(after));
    Listeners::of_principal(store, principal)
        .await?
        .emit(store, principal, now, Event::UserUpdated, |operator| {
            webhook::updated(user_id, (&before, &after), operator, None, now)
        })
        .await
}

/// The picture served at `/p/{userId}/{version}`, if that is the user's current one.
pub async fn picture(store: &Store, user_id: &str, version: i64) -> ApiResult<Option<Picture>> {
    Ok(store.picture(user_id, version).await?)
}

/// The user's virtual background files, as the settings and the upload answer list them.
pub async fn backgrounds(store: &Store, user_id: &str) -> ApiResult<Vec<VirtualBackgroundFile>> {
    Ok(store
        .virtual_backgrounds(user_id)
        .await?
        .into_iter()
        .map(VirtualBackgroundFile::from)
        .collect())
}

/// `POST /users/{userId}/settings/virtual_backgrounds`: at most ten per user; the first becomes the default.
pub async fn upload_background(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    (name, bytes): (&str, &[u8]),
    now: i64,
) -> ApiResult<VirtualBackgroundFile> {
    let user = resolve_user(store, principal, user_ref).await?;
    let kind = media::background_kind(bytes)?;
    let existing = store.virtual_backgrounds(&user.id).await?;
    if existing.len() >= BACKGROUNDS_PER_USER {
        return Err(DomainError::from(FileRefusal::TooManyBackgrounds).into());
    }
    let file = VirtualBackground {
        id: crypto::new_id(),
        name: name.into(),
        kind,
        size: bytes.len() as i64,
        is_default: existing.is_empty(),
    };
    store
        .add_virtual_background(&user.id, &file, bytes, now)
        .await?;
    Ok(file.into())
}

/// `DELETE /users/{userId}/settings/virtual_backgrounds?file_ids=…`: all of them or, if any is not the user's,
/// none (300 `Invalid parameter: file_ids`). When the default goes, the oldest file left becomes the default.
pub async fn delete_backgrounds(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    ids: &[String],
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    let existing = store.virtual_backgrounds(&user.id).await?;
    let mut named: Vec<&String> = ids.iter().collect();
    named.sort();
    named.dedup();
    let all_theirs = named.iter().all(|id| existing.iter().any(|f| &&f.id == id));
    if named.is_empty() || named.len() > BACKGROUNDS_PER_USER || !all_theirs {
        return Err(DomainError::Invalid("Invalid parameter: file_ids".into()).into());
    }
    for id in &named {
        store.delete_virtual_background(&user.id, id).await?;
    }
    let default_deleted = existing
        .iter()
        .any(|f| f.is_default && named.contains(&&f.id));
    let oldest_left = existing.iter().find(|f| !named.contains(&&f.id));
    if let (true, Some(next)) = (default_deleted, oldest_left) {
        store.set_default_background(&user.id, &next.id).await?;
    }
    Ok(())
}
