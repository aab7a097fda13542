//! The user lifecycle around the seed operations: create, read, list, update, delete, e-mail check, and the
//! account's security settings.

use localzoom_api::{
    CreatedUser, FeatureFailure, FeatureUpdateRequest, FeatureUpdateResult, IncludeField,
    ListedUser, PresenceStatusReply, User, UserLicense, UserList, UserPermissions, UserSummary,
    UserToken, UserTokenType, VanityNameCheck,
};
use serde_json::{Map, Value};

use crate::clock::rfc3339;
use crate::crypto;
use crate::domain::account::AccountPlan;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::rate_limits::DAY_MS;
use crate::domain::settings;
use crate::domain::user::{
    AdminOnly, CreateAction, DeleteAction, LoginType, PresenceStatus, Role, Status, UserRecord,
    UserType, current_presence, decide_delete, email_domain, initial_state,
    permissions as domain_permissions, require_admin, summarize,
};
use crate::domain::webhook::{self, Event};
use crate::error::{ApiError, ApiResult};
use crate::service::webhooks::{Listeners, ProfileChange};
use crate::service::{resolve_user, user_key, user_not_found};
use crate::store::{AccountRecord, PresenceRecord, Store, StoreError, Taken, UserQuery};

/// A validated `POST /users`.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub action: CreateAction,
    pub email: String,
    pub user_type: UserType,
    pub first_name: String,
    pub last_name: String,
    pub display_name: Option<String>,
    /// The argon2id hash of the password, for `autoCreate`.
    pub password_hash: Option<String>,
}

pub async fn create(
    store: &Store,
    principal: &Principal,
    new: NewUser,
    now: i64,
) -> ApiResult<CreatedUser> {
    let account = account(store, &principal.account_id).await?;
    if new.action == CreateAction::SsoCreate && !settings::sso_enabled(&account.security) {
        return Err(DomainError::SsoNotEnabled.into());
    }
    if store.email_exists(&new.email).await? {
        return Err(DomainError::EmailTaken(new.email).into());
    }
    if new.user_type == UserType::Basic
        && let Some(max) = account.max_basic_users
        && store.count_basic_users(&account.id).await? >= u64::from(max)
    {
        return Err(DomainError::BasicUserCapOnCreate(max).into());
    }
    let (status, login_type) = initial_state(new.action);
    let display_name = new.display_name.unwrap_or_else(|| {
        format!("{} {}", new.first_name, new.last_name)
            .trim()
            .to_string()
    });
    let user = UserRecord {
        first_name: new.first_name,
        last_name: new.last_name,
        display_name,
        user_type: new.user_type,
        status,
        login_type,
        pmi: super::fresh_pmi(store).await?,
        verified: status == Status::Active,
        password_hash: new.password_hash,
        ..UserRecord::new(crypto::new_id(), &account.id, &new.email, now)
    };
    store.insert_user(&user).await?;
    if new.action == CreateAction::Create {
        super::mail::send(store, &user, super::mail::Mail::Invitation, now).await?;
    }
    Listeners::of_principal(store, principal)
        .await?
        .emit(store, principal, now, Event::UserCreated, |operator| {
            Some(webhook::created(&user, operator, new.action.as_str()))
        })
        .await?;
    Ok(CreatedUser {
        id: user.id,
        first_name: user.first_name,
        last_name: user.last_name,
        email: user.email,
        user_type: user.user_type.code(),
    })
}

pub async fn account(store: &Store, id: &str) -> ApiResult<AccountRecord> {
    store
        .account(id)
        .await?
        .ok_or_else(|| DomainError::AccountNotFound(id.to_string()).into())
}

/// `GET /users/{userId}`.
pub fn view(user: &UserRecord, account_number: i64, now: i64) -> User {
    // Zoom reports a pending user's `created_at` as the time of the call.
    let created_at = if user.status == Status::Pending {
        now
    } else {
        user.created_at
    };
    User {
        id: Some(user.id.clone()),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        user_type: user.user_type.code(),
        role_name: user.role.name().into(),
        role_id: user.role.id().into(),
        pmi: user.pmi,
        use_pmi: user.use_pmi,
        personal_meeting_url: format!("https://localzoom.test/j/{}", user.pmi),
        timezone: user.timezone.clone(),
        verified: i64::from(user.verified),
        dept: user.dept.clone(),
        created_at: rfc3339(created_at),
        user_created_at: rfc3339(user.created_at),
        last_login_time: user.last_login_time.map(rfc3339),
        // Only `GET /users/{userId}` reads the picture's version (`get`).
        pic_url: String::new(),
        language: user.language.clone(),
        status: user.status.as_str().into(),
        account_id: user.account_id.clone(),
        account_number,
        login_types: vec![user.login_type.code()],
        group_ids: Vec::new(),
        im_group_ids: Vec::new(),
        jid: format!("{}@xmpp.localzoom.test", user.id.to_lowercase()),
        cluster: "us01".into(),
        profile: user
            .profile
            .iter()
            .filter(|(key, _)| GET_PROFILE_FIELDS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}

/// Profile fields kept from `PATCH` that `GET /users/{userId}` returns (S1's schema): `host_key`, `about_me`,
/// and `linkedin_url` are stored but not shown there.
const GET_PROFILE_FIELDS: &[&str] = &[
    "company",
    "job_title",
    "location",
    "cost_center",
    "manager",
    "pronouns",
    "pronouns_option",
    "cms_user_id",
    "phone_numbers",
    "custom_attributes",
    "phone_country",
    "phone_number",
    "zoom_one_type",
    "plan_united_type",
];

/// A user as `GET /users` lists them, with the `include_fields` asked for.
pub fn listed_with(user: &UserRecord, include: &[IncludeField]) -> ListedUser {
    let wants = |field| include.contains(&field);
    ListedUser {
        custom_attributes: wants(IncludeField::CustomAttributes).then(|| {
            user.profile
                .get("custom_attributes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }),
        host_key: wants(IncludeField::HostKey)
            .then(|| user.profile.get("host_key").and_then(Value::as_str))
            .flatten()
            .map(str::to_string),
        ..listed(user)
    }
}

/// One element of `GET /users`: pending users have no `id` there.
pub fn listed(user: &UserRecord) -> ListedUser {
    ListedUser {
        custom_attributes: None,
        host_key: None,
        id: (user.status != Status::Pending).then(|| user.id.clone()),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        user_type: user.user_type.code(),
        pmi: user.pmi,
        timezone: user.timezone.clone(),
        verified: i64::from(user.verified),
        dept: user.dept.clone(),
        created_at: rfc3339(user.created_at),
        user_created_at: rfc3339(user.created_at),
        last_login_time: user.last_login_time.map(rfc3339),
        language: user.language.clone(),
        status: user.status.as_str().into(),
        role_id: user.role.id().into(),
        group_ids: Vec::new(),
        im_group_ids: Vec::new(),
    }
}

pub async fn get(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    now: i64,
) -> ApiResult<User> {
    let (user, picture) = store
        .user_with_picture(&principal.account_id, user_key(principal, user_ref))
        .await?
        .ok_or_else(|| user_not_found(user_ref))?;
    Ok(User {
        pic_url: picture
            .map(|version| crate::domain::media::picture_path(&user.id, version))
            .unwrap_or_default(),
        ..view(&user, principal.account_number, now)
    })
}

/// `GET /users` parameters after validation.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub status: Status,
    pub role: Option<Role>,
    pub page_size: u64,
    pub next_page_token: Option<String>,
    pub page_number: Option<u64>,
    /// Fields the listed users carry beyond the default ones.
    pub include: Vec<IncludeField>,
    /// Only users holding this add-on licence.
    pub license: Option<UserLicense>,
}

/// Default and largest `page_size` (S1: default 30, maximum 2000).
pub const DEFAULT_PAGE_SIZE: u64 = 30;
pub const MAX_PAGE_SIZE: u64 = 2000;
/// `next_page_token` lives 15 minutes.
pub const PAGE_TOKEN_TTL_MS: i64 = 15 * 60 * 1000;

/// What a `next_page_token` carries: the filter it was issued for and where the next page starts.
#[derive(Debug, Clone, PartialEq)]
struct PageCursor {
    status: Status,
    role: Option<Role>,
    after_seq: i64,
    page_number: u64,
    issued_at: i64,
}

impl PageCursor {
    /// The MAC covers the account too: a token is good only for the account that was listed.
    fn encode(&self, key: &[u8], account_id: &str) -> String {
        let body = format!(
            "{}.{}.{}.{}.{}",
            self.status.as_str(),
            self.role.map(Role::as_str).unwrap_or("-"),
            self.after_seq,
            self.page_number,
            self.issued_at
        );
        let mac = crypto::hmac_hex(key, &[b"page", account_id.as_bytes(), body.as_bytes()]);
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{body}.{}", &mac[..32]))
    }

    fn decode(token: &str, key: &[u8], account_id: &str, now: i64) -> Result<PageCursor, ApiError> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(DomainError::BadPageToken)?;
        let (body, mac) = raw.rsplit_once('.').ok_or(DomainError::BadPageToken)?;
        let expected = crypto::hmac_hex(key, &[b"page", account_id.as_bytes(), body.as_bytes()]);
        if !crypto::constant_time_eq(&expected.as_bytes()[..32], mac.as_bytes()) {
            return Err(DomainError::BadPageToken.into());
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [status, role, after_seq, page_number, issued_at] = parts[..] else {
            return Err(DomainError::BadPageToken.into());
        };
        let cursor = PageCursor {
            status: Status::parse(status).ok_or(DomainError::BadPageToken)?,
            role: if role == "-" {
                None
            } else {
                Some(Role::parse(role).ok_or(DomainError::BadPageToken)?)
            },
            after_seq: after_seq.parse().map_err(|_| DomainError::BadPageToken)?,
            page_number: page_number.parse().map_err(|_| DomainError::BadPageToken)?,
            issued_at: issued_at.parse().map_err(|_| DomainError::BadPageToken)?,
        };
        if now - cursor.issued_at > PAGE_TOKEN_TTL_MS || cursor.issued_at > now + 60_000 {
            return Err(DomainError::BadPageToken.into());
        }
        Ok(cursor)
    }
}

/// `GET /users`: keyset pages by `next_page_token`, or legacy `page_number` pages.
pub async fn list(
    store: &Store,
    principal: &Principal,
    req: ListRequest,
    now: i64,
) -> ApiResult<UserList> {
    // No API gives a user Workforce or Compliance Management, so nobody here holds one (docs/fidelity.md row 91).
    if req.license.is_some() {
        return Ok(UserList {
            page_count: 0,
            page_number: 1,
            page_size: req.page_size,
            total_records: 0,
            next_page_token: String::new(),
            users: Vec::new(),
        });
    }
    let key = crate::service::accounts::server_key(store).await?;
    let (status, role, after_seq, page_number, offset) = match &req.next_page_token {
        Some(token) => {
            let c = PageCursor::decode(token, &key, &principal.account_id, now)?;
            (c.status, c.role, c.after_seq, c.page_number, 0)
        }
        None => {
            let page = req.page_number.unwrap_or(1).max(1);
            let offset = (page - 1)
                .checked_mul(req.page_size)
                .filter(|offset| *offset <= i64::MAX as u64)
                .ok_or_else(|| DomainError::field("page_number", "Invalid field."))?;
            (req.status, req.role, 0, page, offset)
        }
    };
    let total = store
        .count_users(&principal.account_id, status, role)
        .await?;
    // One row more than the page tells whether another page follows.
    let mut rows = store
        .list_users(&UserQuery {
            account_id: principal.account_id.clone(),
            status,
            role,
            after_seq,
            offset,
            limit: req.page_size + 1,
        })
        .await?;
    let more = rows.len() as u64 > req.page_size;
    rows.truncate(req.page_size as usize);
    let next_page_token = match rows.last() {
        Some((seq, _)) if more => PageCursor {
            status,
            role,
            after_seq: *seq,
            page_number: page_number + 1,
            issued_at: now,
        }
        .encode(&key, &principal.account_id),
        _ => String::new(),
    };
    Ok(UserList {
        page_count: total.div_ceil(req.page_size),
        page_number,
        page_size: req.page_size,
        total_records: total,
        next_page_token,
        users: rows
            .iter()
            .map(|(_, u)| listed_with(u, &req.include))
            .collect(),
    })
}

/// A validated `PATCH /users/{userId}`: core columns plus other profile fields kept as Zoom names them.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
    pub pmi: Option<i64>,
    pub use_pmi: Option<bool>,
    pub timezone: Option<String>,
    pub dept: Option<String>,
    pub language: Option<String>,
    /// The personal meeting room's name; empty clears it.
    pub vanity_name: Option<String>,
    pub profile: Map<String, Value>,
}

pub async fn update(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    patch: UserPatch,
    now: i64,
) -> ApiResult<()> {
    let mut user = resolve_user(store, principal, user_ref).await?;
    let change = ProfileChange::start(store, principal, &user).await?;
    if let Some(t) = patch.user_type
        && t != user.user_type
    {
        require_admin(principal.role, AdminOnly::LicenseType)?;
        if user.is_zoom_room && t == UserType::Basic {
            return Err(DomainError::NotAllowed(format!(
                "A Zoom Room user cannot be changed to a free user type: {user_ref}"
            ))
            .into());
        }
        if t == UserType::Basic
            && user.status != Status::Inactive
            && let Some(max) = account(store, &user.account_id).await?.max_basic_users
            && store.count_basic_users(&user.account_id).await? >= u64::from(max)
        {
            return Err(DomainError::BasicUserCapOnConvert(max).into());
        }
        user.user_type = t;
    }
    let names_changed = patch.first_name.is_some() || patch.last_name.is_some();
    if let Some(v) = patch.first_name {
        user.first_name = v;
    }
    if let Some(v) = patch.last_name {
        user.last_name = v;
    }
    match patch.display_name {
        Some(v) if !v.trim().is_empty() => user.display_name = v,
        // Zoom derives an empty display name from the first and last names.
        Some(_) => {
            user.display_name = format!("{} {}", user.first_name, user.last_name)
                .trim()
                .to_string()
        }
        None if names_changed && user.display_name.is_empty() => {
            user.display_name = format!("{} {}", user.first_name, user.last_name)
                .trim()
                .to_string();
        }
        None => {}
    }
    if let Some(pmi) = patch.pmi {
        require_admin(principal.role, AdminOnly::Pmi)?;
        if pmi != user.pmi && store.pmi_taken(pmi, &user.id).await? {
            return Err(DomainError::PmiTaken(pmi).into());
        }
        user.pmi = pmi;
    }
    if patch.profile.contains_key("host_key") {
        require_admin(principal.role, AdminOnly::HostKey)?;
    }
    if let Some(v) = patch.use_pmi {
        user.use_pmi = v;
    }
    if let Some(v) = patch.timezone {
        user.timezone = v;
    }
    if let Some(v) = patch.dept {
        user.dept = v;
    }
    if let Some(v) = patch.language {
        user.language = v;
    }
    if let Some(name) = patch.vanity_name {
        require_admin(principal.role, AdminOnly::VanityName)?;
        if !name.is_empty() && store.vanity_name_taken(&name, &user.id).await? {
            return Err(DomainError::VanityNameTaken.into());
        }
        user.vanity_name = (!name.is_empty()).then_some(name);
    }
    user.profile.extend(patch.profile);
    store.update_user(&user).await?;
    change.finish(store, principal, &user, None, now).await
}

/// Zoom's limits of `POST /users/features`: 30 users a request, one request every 10 seconds per account.
pub const MAX_FEATURE_USERS: usize = 30;
pub const FEATURE_UPDATE_INTERVAL_MS: i64 = 10_000;

/// Where the time of the account's last `POST /users/features` is kept.
pub fn feature_update_key(account_id: &str) -> String {
    format!("feature_update_at:{account_id}")
}

/// `POST /users/features`. Of the feature types, localzoom keeps a user's licence type (`user_type`: 1, 2 or 4)
/// and the Zoom One and United plans (`zoom_one_type`, `plan_united_type`: checked as `PATCH` checks them); no
/// account here has the add-ons the other types sell (fidelity row 95). Users are updated one by one: those
/// not found, or refused by the rules `PATCH` applies, are listed with Zoom's reasons, the others changed.
pub async fn update_features(
    store: &Store,
    principal: &Principal,
    request: &FeatureUpdateRequest,
    feature_value: Option<FeatureValue>,
    now: i64,
) -> ApiResult<FeatureUpdateResult> {
    let account = account(store, &principal.account_id).await?;
    if account.plan == AccountPlan::Free {
        return Err(
            DomainError::NotAllowed("Current account must be a paid account.".into()).into(),
        );
    }
    if let Some(subscription) = &request.subscription_id {
        return Err(DomainError::Invalid(format!(
            "The subscription \"{subscription}\" you entered does not exist. Please choose a different subscription \
             and try again."
        ))
        .into());
    }
    let Some(feature_value) = feature_value else {
        return Err(DomainError::NotAllowed(
            "Current account does not enable this feature.".into(),
        )
        .into());
    };
    let last_key = feature_update_key(&account.id);
    if let Some(last) = store
        .meta_get(&last_key)
        .await?
        .and_then(|t| t.parse::<i64>().ok())
        && now - last < FEATURE_UPDATE_INTERVAL_MS
    {
        return Err(DomainError::FeatureUpdateTooFrequent.into());
    }
    store.meta_set(&last_key, &now.to_string()).await?;
    let mut result = FeatureUpdateResult::default();
    let mut failed: Vec<(String, &'static str)> = Vec::new();
    let mut basic_seats = store.count_basic_users(&account.id).await?;
    for wanted in &request.users {
        let reference = wanted
            .id
            .as_deref()
            .or(wanted.email.as_deref())
            .unwrap_or_default();
        let mut user = match resolve_user(store, principal, reference).await {
            Ok(user) => user,
            Err(ApiError::Domain(DomainError::UserNotFound(_))) => {
                failed.push((reference.to_string(), "Users not found"));
                continue;
            }
            // A storage failure fails the request; it is not a user missing.
            Err(other) => return Err(other),
        };
        match &feature_value {
            &FeatureValue::UserType(to) if to != user.user_type => {
                if to == UserType::Basic && user.upcoming_zoom_events {
                    failed.push((user.id, "Have upcoming events"));
                    continue;
                }
                if to == UserType::Basic
                    && account
                        .max_basic_users
                        .is_some_and(|max| basic_seats >= u64::from(max))
                {
                    failed.push((user.id, "Not enough seats"));
                    continue;
                }
                if to == UserType::Basic && user.status != Status::Inactive {
                    basic_seats += 1;
                }
                user.user_type = to;
            }
            FeatureValue::UserType(_) => {}
            FeatureValue::Profile(name, value) => {
                user.profile.insert(name.to_string(), value.clone());
            }
        }
        store.update_user(&user).await?;
        result.success_user_ids.push(user.id);
    }
    for reason in [
        "Users not found",
        "Have upcoming events",
        "Not enough seats",
    ] {
        let user_ids: Vec<String> = failed
            .iter()
            .filter(|(_, why)| *why == reason)
            .map(|(id, _)| id.clone())
            .collect();
        if !user_ids.is_empty() {
            result.fail_details.push(FeatureFailure {
                user_ids,
                reason: reason.to_string(),
            });
        }
    }
    Ok(result)
}

/// A checked `feature_value` of a feature type localzoom keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    UserType(UserType),
    /// A profile field (`zoom_one_type`, `plan_united_type`) and its value.
    Profile(&'static str, Value),
}

/// Zoom's minimum time between two presence updates of one user.
pub const PRESENCE_UPDATE_INTERVAL_MS: i64 = 60_000;

/// `GET /users/{userId}/presence_status`: the end of a Do-Not-Disturb only for the user asking about themselves.
pub async fn presence(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    now: i64,
) -> ApiResult<PresenceStatusReply> {
    let user = resolve_user(store, principal, user_ref).await?;
    let last_set = store
        .presence(&user.id)
        .await?
        .map(|p| (p.status, p.until_ms));
    let (status, until) = current_presence(last_set, store.signed_in(&user.id).await?, now);
    let own = user.id == principal.user_id;
    Ok(PresenceStatusReply {
        status: status.as_str().to_string(),
        end_time: until.filter(|_| own).map(rfc3339),
        remaining_time: until.filter(|_| own).map(|until| (until - now) / 1000),
    })
}

/// `PUT /users/{userId}/presence_status`: only for a user signed in to a client, once a minute.
pub async fn set_presence(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    status: PresenceStatus,
    dnd_minutes: i64,
    now: i64,
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    if !store.signed_in(&user.id).await? {
        return Err(DomainError::PresenceUpdateFailed.into());
    }
    if let Some(last) = store.presence(&user.id).await?
        && now - last.updated_at < PRESENCE_UPDATE_INTERVAL_MS
    {
        return Err(DomainError::PresenceTooFrequent.into());
    }
    let until_ms = (status == PresenceStatus::DoNotDisturb).then_some(now + dnd_minutes * 60_000);
    store
        .set_presence(
            &user.id,
            &PresenceRecord {
                status,
                until_ms,
                updated_at: now,
            },
        )
        .await?;
    let presence = webhook::presence(&user, status, &rfc3339(now));
    Ok(Listeners::of_principal(store, principal)
        .await?
        .record(store, &presence, now)
        .await?)
}

/// Zoom's cap on e-mail changes of one user in any 24 hours.
pub const EMAIL_CHANGES_PER_DAY: u64 = 3;

/// `PUT /users/{userId}/email`: only admins change e-mails, an admin not another admin's; the new address must be
/// on the account's managed domain and unused across Zoom; at most 3 changes in any 24 hours.
pub async fn change_email(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    email: &str,
    now: i64,
) -> ApiResult<()> {
    require_admin(principal.role, AdminOnly::Email)?;
    let mut user = resolve_user(store, principal, user_ref).await?;
    if principal.role == Role::Admin && user.role.is_admin() && user.id != principal.user_id {
        return Err(DomainError::OtherAdminsEmail.into());
    }
    let account = account(store, &user.account_id).await?;
    let on_managed_domain = account
        .managed_domain
        .as_deref()
        .is_some_and(|domain| email_domain(email).eq_ignore_ascii_case(domain));
    if !on_managed_domain {
        return Err(DomainError::EmailOutsideManagedDomain.into());
    }
    let same_address = email.eq_ignore_ascii_case(&user.email);
    if !same_address && store.email_exists(email).await? {
        return Err(DomainError::NewEmailTaken(email.to_string()).into());
    }
    if store.email_changes_since(&user.id, now - DAY_MS).await? >= EMAIL_CHANGES_PER_DAY {
        return Err(DomainError::TooManyEmailChanges.into());
    }
    let change = ProfileChange::start(store, principal, &user).await?;
    user.email = email.to_string();
    store
        .update_user(&user)
        .await
        .map_err(|error| match error {
            StoreError::Taken(Taken::Email(email)) => DomainError::NewEmailTaken(email).into(),
            other => ApiError::from(other),
        })?;
    store.record_email_change(&user.id, now).await?;
    change.finish(store, principal, &user, None, now).await
}

/// `DELETE /users/{userId}`. `transfer_email` names the user of the account who receives the user's data (none
/// is kept here, so nothing moves); a user with published Zoom Events needs one.
pub async fn delete(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    action: DeleteAction,
    transfer_email: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    let account = account(store, &principal.account_id).await?;
    decide_delete(&user, action, account.managed_domain.as_deref())?;
    match transfer_email {
        Some(target) if target.eq_ignore_ascii_case(&user.email) => {
            return Err(DomainError::Invalid(
                "The transfer-to email address cannot be the same as the unlinked or deleted user's email \
                 address."
                    .into(),
            )
            .into());
        }
        Some(target) => {
            store
                .user_by_email(&account.id, target)
                .await?
                .ok_or_else(|| DomainError::UserNotFound(target.to_string()))?;
        }
        None if user.upcoming_zoom_events => {
            return Err(DomainError::Invalid(
                "This user has published events on Zoom Events and you do not specify a target user to \
                 transfer data."
                    .into(),
            )
            .into());
        }
        None => {}
    }
    // Disassociating leaves the user's Zoom identity elsewhere; from this account's side both actions remove
    // the user and every relation, session and token it had here.
    store.delete_user(&user.id).await?;
    let event = match action {
        DeleteAction::Delete => Event::UserDeleted,
        DeleteAction::Disassociate => Event::UserDisassociated,
    };
    Listeners::of_principal(store, principal)
        .await?
        .emit(store, principal, now, event, |operator| {
            Some(webhook::lifecycle(event, &user, operator))
        })
        .await
}

/// `GET /users/email`: true only for e-mail sign-up users of the caller's account.
pub async fn email_exists(store: &Store, principal: &Principal, email: &str) -> ApiResult<bool> {
    Ok(store
        .user_by_email(&principal.account_id, email)
        .await?
        .is_some_and(|u| u.login_type == LoginType::WorkEmail))
}

/// `GET /users/summary`.
pub async fn summary(store: &Store, principal: &Principal) -> ApiResult<UserSummary> {
    Ok(summarize(&store.user_census(&principal.account_id).await?))
}

/// `GET /users/vanity_name`: whether any user of Zoom (here: of this server) has a personal meeting room of that
/// name, in any case.
pub async fn vanity_name_exists(store: &Store, name: &str) -> ApiResult<VanityNameCheck> {
    Ok(VanityNameCheck {
        existed: store.vanity_name_taken(name, "").await?,
    })
}

/// `GET /users/{userId}/permissions`.
pub async fn permissions(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
) -> ApiResult<UserPermissions> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(UserPermissions {
        permissions: domain_permissions(user.role),
    })
}

/// `GET /users/{userId}/token` and `GET /users/me/zak`: a fresh token of the kind asked for. localzoom starts no
/// meetings, so a ZAK or on-behalf token is opaque and kept nowhere; Zoom's legacy user token is refused as Zoom
/// refuses it to accounts not on its allowlist (docs/fidelity.md row 86).
pub async fn token(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    kind: UserTokenType,
) -> ApiResult<UserToken> {
    resolve_user(store, principal, user_ref).await?;
    match kind {
        UserTokenType::Token => Err(DomainError::Invalid(
            "Token is no longer supported. Please use ZAK token instead.".into(),
        )
        .into()),
        UserTokenType::Zak | UserTokenType::OnBehalf => Ok(UserToken {
            token: crypto::new_secret(),
        }),
    }
}

/// `accountId` in `/accounts/{accountId}/settings`: `me` or the caller's own account; any other id is unknown.
async fn own_account(
    store: &Store,
    principal: &Principal,
    account_ref: &str,
) -> ApiResult<AccountRecord> {
    if account_ref != "me" && account_ref != principal.account_id {
        return Err(DomainError::AccountNotFound(account_ref.to_string()).into());
    }
    account(store, &principal.account_id).await
}

pub async fn security_settings(
    store: &Store,
    principal: &Principal,
    account_ref: &str,
) -> ApiResult<Value> {
    let account = own_account(store, principal, account_ref).await?;
    Ok(serde_json::json!({ "security": settings::security_view(&account.security) }))
}

pub async fn update_security_settings(
    store: &Store,
    principal: &Principal,
    account_ref: &str,
    security: &Value,
) -> ApiResult<()> {
    let mut account = own_account(store, principal, account_ref).await?;
    settings::apply_security_patch(&mut account.security, security)?;
    Ok(store.update_account(&account).await?)
}

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::fuzz::fuzz;

    /// Any `next_page_token` is a cursor of this account that encodes back to itself, or a 300; never a panic.
    #[test]
    fn fuzz_page_tokens() {
        let key = b"fuzz-key";
        fuzz(
            "page_tokens",
            &[b"active", b"inactive", b"-", b".", b"0", b"9", b"=", b"_"],
            |input| {
                // Raw text as a token: a cursor or a refusal.
                let token = String::from_utf8_lossy(input);
                let _ = PageCursor::decode(&token, key, "account", 1_000_000);
                // A cursor built from the bytes: what it encodes decodes to itself, for its account only, and any
                // change to the token is refused.
                let number = |at: usize| {
                    input
                        .get(at..at + 8)
                        .map_or(0, |b| i64::from_le_bytes(b.try_into().unwrap()))
                };
                let cursor = PageCursor {
                    status: [Status::Active, Status::Inactive, Status::Pending][input.len() % 3],
                    role: None,
                    after_seq: number(0),
                    page_number: number(8).unsigned_abs(),
                    issued_at: 1_000_000 - number(16).rem_euclid(PAGE_TOKEN_TTL_MS),
                };
                let token = cursor.encode(key, "account");
                assert_eq!(
                    PageCursor::decode(&token, key, "account", 1_000_000),
                    Ok(cursor)
                );
                assert!(PageCursor::decode(&token, key, "other", 1_000_000).is_err());
                if let Some(&byte) = input.first() {
                    let mut tampered = token.clone().into_bytes();
                    let at = byte as usize % tampered.len();
                    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
                    let tampered = String::from_utf8(tampered).unwrap();
                    assert!(PageCursor::decode(&tampered, key, "account", 1_000_000).is_err());
                }
            },
        );
    }
}
