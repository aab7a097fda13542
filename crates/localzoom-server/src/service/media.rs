//! Uploaded files: a user's profile picture (served at its `pic_url`) and virtual backgrounds (listed in the
//! user's settings).

use localzoom_api::VirtualBackgroundFile;

use super::resolve_user;
use crate::crypto;
use crate::domain::error::{DomainError, FileRefusal};
use crate::domain::media::{self, BACKGROUNDS_PER_USER, PICTURE_VERSION, VirtualBackground};
use crate::domain::principal::Principal;
use crate::domain::settings;
use crate::domain::user::Role;
use crate::error::ApiResult;
use crate::store::{Picture, Store};

/// A Member may change a picture unless the account lets only admins change names and pictures.
fn may_change_picture(store: &Store, principal: &Principal) -> ApiResult<()> {
    if principal.role == Role::Member {
        let security = store
            .account(&principal.account_id)?
            .map(|account| settings::security_view(&account.security));
        if security.is_some_and(|s| s["admin_change_name_pic"] == true) {
            return Err(DomainError::PictureAdminOnly.into());
        }
    }
    Ok(())
}

/// `POST /users/{userId}/picture`.
pub fn upload_picture(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    bytes: &[u8],
    now: i64,
) -> ApiResult<()> {
    let mut user = resolve_user(store, principal, user_ref)?;
    may_change_picture(store, principal)?;
    let content_type = media::picture_type(bytes)?;
    store.set_picture(
        &user.id,
        &Picture {
            content_type: content_type.into(),
            version: now,
            bytes: bytes.to_vec(),
        },
    )?;
    user.profile.insert(PICTURE_VERSION.into(), now.into());
    Ok(store.update_user(&user)?)
}

/// `DELETE /users/{userId}/picture`: the user is left without one (deleting none is not an error).
pub fn delete_picture(store: &Store, principal: &Principal, user_ref: &str) -> ApiResult<()> {
    let mut user = resolve_user(store, principal, user_ref)?;
    may_change_picture(store, principal)?;
    store.delete_picture(&user.id)?;
    if user.profile.remove(PICTURE_VERSION).is_some() {
        store.update_user(&user)?;
    }
    Ok(())
}

/// The picture served at `/p/{userId}/{version}`, if that is the user's current one.
pub fn picture(store: &Store, user_id: &str, version: i64) -> ApiResult<Option<Picture>> {
    Ok(store.picture(user_id)?.filter(|p| p.version == version))
}

/// `POST /users/{userId}/settings/virtual_backgrounds`: at most ten per user; the first becomes the default.
pub fn upload_background(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    (name, bytes): (&str, &[u8]),
    now: i64,
) -> ApiResult<VirtualBackgroundFile> {
    let user = resolve_user(store, principal, user_ref)?;
    let kind = media::background_kind(bytes)?;
    let existing = store.virtual_backgrounds(&user.id)?;
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
    store.add_virtual_background(&user.id, &file, bytes, now)?;
    Ok(VirtualBackgroundFile {
        id: file.id,
        name: file.name,
        kind: file.kind.as_str().into(),
        size: file.size,
        is_default: file.is_default,
    })
}

/// `DELETE /users/{userId}/settings/virtual_backgrounds?file_ids=…`: all of them or, if any is not the user's,
/// none (300 `Invalid parameter: file_ids`).
pub fn delete_backgrounds(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    ids: &[String],
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref)?;
    let existing = store.virtual_backgrounds(&user.id)?;
    if ids.is_empty() || !ids.iter().all(|id| existing.iter().any(|f| &f.id == id)) {
        return Err(DomainError::Invalid("Invalid parameter: file_ids".into()).into());
    }
    for id in ids {
        store.delete_virtual_background(&user.id, id)?;
    }
    Ok(())
}
