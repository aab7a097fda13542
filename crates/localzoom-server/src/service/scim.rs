//! SCIM 2.0 at `/scim2/Users`, on the same users as `/v2`: each request is carried out by the REST API's own
//! operations (create, update, status, delete), so a SCIM deactivation is a deactivation everywhere. Resources
//! name their `meta.location` relative to the server; the HTTP layer makes it absolute.

use serde_json::{Map, Value, json};

use super::{lifecycle, users};
use crate::clock::rfc3339;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::scim::{
    self, ENTERPRISE_SCHEMA, Filter, LIST_SCHEMA, ScimChanges, ScimRefusal, USER_SCHEMA,
    ZOOM_USER_SCHEMA,
};
use crate::domain::settings;
use crate::domain::user::{
    CreateAction, DeleteAction, LoginType, Status, StatusAction, UserRecord, UserType,
};
use crate::error::{ApiError, ApiResult};
use crate::store::{Store, StoreError, Taken};

/// The profile key holding the SCIM attributes kept as sent.
const KEPT: &str = "scim";

/// Zoom's most resources a page, and its default (S3: `count` default 1, maximum 100).
pub const MAX_COUNT: u64 = 100;
pub const DEFAULT_COUNT: u64 = 1;

/// SCIM needs the account's SSO (S3's prerequisite).
async fn require_sso(store: &Store, principal: &Principal) -> ApiResult<()> {
    let account = users::account(store, &principal.account_id).await?;
    if settings::sso_enabled(&account.security) {
        Ok(())
    } else {
        Err(DomainError::from(ScimRefusal::SsoNotEnabled).into())
    }
}

/// A user of the caller's account by id; SCIM names users by id only.
async fn user(store: &Store, principal: &Principal, id: &str) -> ApiResult<UserRecord> {
    require_sso(store, principal).await?;
    store
        .user_by_id(&principal.account_id, id)
        .await?
        .ok_or_else(|| DomainError::from(ScimRefusal::UserNotFound).into())
}

/// The user as a SCIM resource.
pub fn resource(user: &UserRecord) -> Value {
    let mut resource = Map::new();
    // Attributes kept as sent come first, so nothing the user record holds can be shadowed by them.
    if let Some(Value::Object(kept)) = user.profile.get(KEPT) {
        resource.extend(kept.clone());
    }
    let mut enterprise = resource
        .remove(ENTERPRISE_SCHEMA)
        .and_then(|e| e.as_object().cloned())
        .unwrap_or_default();
    enterprise.insert("department".into(), user.dept.clone().into());
    let text = |key: &str| {
        user.profile
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    resource.extend([
        (
            "schemas".into(),
            json!([USER_SCHEMA, ENTERPRISE_SCHEMA, ZOOM_USER_SCHEMA]),
        ),
        ("id".into(), user.id.clone().into()),
        (
            "meta".into(),
            json!({
                "resourceType": "User",
                "location": format!("/scim2/Users/{}", user.id),
                "created": rfc3339(user.created_at),
                "lastModified": rfc3339(user.created_at),
            }),
        ),
        ("userName".into(), user.email.clone().into()),
        (
            "name".into(),
            json!({ "givenName": user.first_name, "familyName": user.last_name }),
        ),
        ("displayName".into(), user.display_name.clone().into()),
        (
            "emails".into(),
            json!([{ "type": "work", "value": user.email, "primary": true }]),
        ),
        ("active".into(), (user.status == Status::Active).into()),
        (
            "userType".into(),
            scim::user_type_name(user.user_type).into(),
        ),
        ("title".into(), text("job_title").into()),
        ("locale".into(), user.language.clone().into()),
        (ENTERPRISE_SCHEMA.into(), Value::Object(enterprise)),
        (
            ZOOM_USER_SCHEMA.into(),
            json!({ "loginType": {
                "workEmail": user.login_type == LoginType::WorkEmail,
                "sso": user.login_type == LoginType::Sso,
            } }),
        ),
    ]);
    Value::Object(resource)
}

/// `GET /scim2/Users`: `startIndex` is 1-based; `count` at most 100.
pub async fn list(
    store: &Store,
    principal: &Principal,
    filter: Option<&str>,
    start_index: u64,
    count: u64,
) -> ApiResult<Value> {
    require_sso(store, principal).await?;
    let account = &principal.account_id;
    let (total, page) = match filter
        .map(scim::parse_filter)
        .transpose()
        .map_err(DomainError::from)?
    {
        None => (
            store.account_user_count(account).await?,
            store
                .account_users_page(account, start_index - 1, count)
                .await?,
        ),
        Some(filter) => {
            let found = match filter {
                Filter::Email(email) => store.user_by_email(account, &email).await?,
                Filter::Id(id) => store.user_by_id(account, &id).await?,
            };
            let matched = u64::from(found.is_some());
            let shown = found.filter(|_| start_index == 1 && count > 0);
            (matched, shown.into_iter().collect())
        }
    };
    Ok(json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": page.len(),
        "Resources": page.iter().map(resource).collect::<Vec<_>>(),
    }))
}

pub async fn get(store: &Store, principal: &Principal, id: &str) -> ApiResult<Value> {
    Ok(resource(&user(store, principal, id).await?))
}

/// `POST /scim2/Users`: an active SSO user (as `ssoCreate` makes), Basic unless `userType` says otherwise.
pub async fn create(
    store: &Store,
    principal: &Principal,
    body: &Map<String, Value>,
    now: i64,
) -> ApiResult<Value> {
    require_sso(store, principal).await?;
    let mut changes = ScimChanges::default();
    scim::read_attributes(body, &mut changes).map_err(DomainError::from)?;
    let email = changes
        .user_name
        .clone()
        .ok_or(DomainError::Scim(ScimRefusal::InvalidUserName))?;
    let created = users::create(
        store,
        principal,
        users::NewUser {
            action: CreateAction::SsoCreate,
            email: email.clone(),
            user_type: changes.user_type.unwrap_or(UserType::Basic),
            first_name: changes.given_name.take().unwrap_or_default(),
            last_name: changes.family_name.take().unwrap_or_default(),
            display_name: changes.display_name.take(),
            password_hash: None,
        },
        now,
    )
    .await
    .map_err(|e| match e {
        ApiError::Domain(DomainError::EmailTaken(_)) => {
            DomainError::from(ScimRefusal::EmailInUse(email)).into()
        }
        other => other,
    })?;
    changes.user_name = None;
    changes.user_type = None;
    // `active: false` on creation: created, then deactivated, as an IdP provisioning a disabled account expects.
    apply(store, principal, &created.id, changes, now).await
}

/// `PUT /scim2/Users/{userId}`: Zoom's PUT changes what the body names and leaves the rest.
pub async fn replace(
    store: &Store,
    principal: &Principal,
    id: &str,
    body: &Map<String, Value>,
    now: i64,
) -> ApiResult<Value> {
    let mut changes = ScimChanges::default();
    scim::read_attributes(body, &mut changes).map_err(DomainError::from)?;
    apply(store, principal, id, changes, now).await
}

/// `PATCH /scim2/Users/{userId}`: RFC 7644 operations, applied as one change.
pub async fn patch(
    store: &Store,
    principal: &Principal,
    id: &str,
    body: &Map<String, Value>,
    now: i64,
) -> ApiResult<Value> {
    let changes = scim::read_patch(body).map_err(DomainError::from)?;
    apply(store, principal, id, changes, now).await
}

/// `DELETE /scim2/Users/{userId}`: the user is deleted, as `DELETE /users/{userId}?action=delete` deletes.
pub async fn delete(store: &Store, principal: &Principal, id: &str, now: i64) -> ApiResult<()> {
    let user = user(store, principal, id).await?;
    if user.role.is_admin() {
        return Err(DomainError::from(ScimRefusal::DeleteAdmin).into());
    }
    users::delete(store, principal, &user.id, DeleteAction::Delete, None, now).await
}

/// Carries out `changes` through the REST API's operations: activation first (an inactive user can change
/// nothing else), then the e-mail, the profile, and deactivation last.
async fn apply(
    store: &Store,
    principal: &Principal,
    id: &str,
    changes: ScimChanges,
    now: i64,
) -> ApiResult<Value> {
    let mut user = user(store, principal, id).await?;
    let status = async |action| {
        lifecycle::set_status(store, principal, id, action, now)
            .await
            .map_err(|e| match e {
                ApiError::Domain(DomainError::StatusProtected) => {
                    DomainError::from(ScimRefusal::StatusProtected).into()
                }
                other => other,
            })
    };
    if changes.active == Some(true) && user.status != Status::Active {
        status(StatusAction::Activate).await?;
        user = self::user(store, principal, id).await?;
    }
    if user.status != Status::Active && changes.changes_more_than_status() {
        return Err(DomainError::from(ScimRefusal::UserInactive).into());
    }
    if user.is_zoom_room && changes.user_type == Some(UserType::Basic) {
        return Err(DomainError::from(ScimRefusal::ZoomRoomToFree).into());
    }
    if let Some(email) = changes.user_name.as_deref()
        && !email.eq_ignore_ascii_case(&user.email)
    {
        if user.role.is_admin() {
            return Err(DomainError::from(ScimRefusal::AdminEmail).into());
        }
        if store.email_exists(email).await? {
            return Err(DomainError::from(ScimRefusal::EmailUsed(email.to_string())).into());
        }
        user.email = email.to_string();
        store
            .update_user(&user)
            .await
            .map_err(|error| match error {
                StoreError::Taken(Taken::Email(email)) => {
                    DomainError::from(ScimRefusal::EmailUsed(email)).into()
                }
                other => ApiError::from(other),
            })?;
    }
    let mut profile = Map::new();
    if let Some(title) = changes.title.clone() {
        profile.insert("job_title".into(), title.into());
    }
    if !changes.kept.is_empty() || !changes.upserts.is_empty() {
        let mut kept = user
            .profile
            .get(KEPT)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        scim::keep_attributes(&mut kept, &changes).map_err(DomainError::from)?;
        profile.insert(KEPT.into(), Value::Object(kept));
    }
    users::update(
        store,
        principal,
        id,
        users::UserPatch {
            first_name: changes.given_name,
            last_name: changes.family_name,
            display_name: changes.display_name,
            user_type: changes.user_type,
            dept: changes.department,
            language: changes.locale,
            profile,
            ..users::UserPatch::default()
        },
        now,
    )
    .await?;
    if changes.active == Some(false) && user.status == Status::Active {
        status(StatusAction::Deactivate).await?;
    }
    get(store, principal, id).await
}
