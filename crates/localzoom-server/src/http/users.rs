//! `/users` and `/users/{userId}`: create, list, get, update, delete, and the e-mail check.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use localzoom_api::{
    CreatedUser, CustomAttribute, EmailCheck, FeatureType, FeatureUpdateRequest,
    FeatureUpdateResult, FeatureUser, FieldError, IncludeField, PasswordRequirement, PhoneNumber,
    User, UserLicense, UserList, UserPermissions, UserSummary, VanityNameCheck,
};
use serde_json::Value;

use super::input::{Fields, PathParams, Query};
use crate::domain::error::DomainError;
use crate::domain::user::{
    CREATABLE_TYPES, CreateAction, DeleteAction, Role, Status, UserType, is_valid_email,
    name_too_long, too_long,
};
use crate::domain::{password, settings};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::gate::{Bearer, Principal, scopes::OperationId};
use crate::service::lifecycle;
use crate::service::users::{
    self, DEFAULT_PAGE_SIZE, ListRequest, MAX_PAGE_SIZE, NewUser, UserPatch,
};

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Fields,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let creates = body.str("action").ok().flatten().as_deref() == Some("create");
    state.admit_user_create(&principal, creates)?;
    let account = state
        .db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            users::account(store, &principal.account_id).await
        })
        .await?;
    let mut new = parse_new_user(&body, &settings::password_requirement(&account.security))?;
    let password = body
        .object("user_info")?
        .and_then(|info| info.str("password").ok().flatten());
    let now = state.now();
    let created = match (new.action, password) {
        (CreateAction::AutoCreate, Some(password)) => {
            let hash = state.hashing.hash(password.clone()).await?;
            let key = state.history_key.clone();
            state
                .write_as(principal, move |tx, principal| async move {
                    let (store, principal) = (&tx, &principal);
                    new.password_hash = Some(hash);
                    let created = users::create(store, principal, new, now).await?;
                    let print = lifecycle::fingerprint(&key, &created.id, &password);
                    store
                        .record_password(&created.id, &print, now, true)
                        .await?;
                    Ok(created)
                })
                .await?
        }
        _ => {
            state
                .write_as(principal, move |tx, principal| async move {
                    let (store, principal) = (&tx, &principal);
                    users::create(store, principal, new, now).await
                })
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(created)))
}

fn parse_new_user(body: &Fields, requirement: &PasswordRequirement) -> Result<NewUser, ApiError> {
    let mut errors = Vec::new();
    let mut invalid = |field: &str| {
        errors.push(FieldError {
            field: field.to_string(),
            message: "Invalid field.".into(),
        })
    };
    let action = body
        .str("action")
        .ok()
        .flatten()
        .as_deref()
        .and_then(CreateAction::parse);
    if action.is_none() {
        invalid("action");
    }
    let info = body.object("user_info")?.unwrap_or_default();
    let email = info
        .str("email")
        .ok()
        .flatten()
        .map(|e| e.trim().to_string())
        .unwrap_or_default();
    if email.is_empty() || too_long(&email, 128) || !is_valid_email(&email) {
        invalid("user_info.email");
    }
    let user_type = info
        .int("type")
        .ok()
        .flatten()
        .and_then(UserType::from_code)
        .filter(|t| CREATABLE_TYPES.contains(t));
    match user_type {
        Some(UserType::None) if action != Some(CreateAction::SsoCreate) => {
            invalid("user_info.type")
        }
        Some(_) => {}
        None => invalid("user_info.type"),
    }
    let text = |name: &str, max: usize, invalid: &mut dyn FnMut(&str)| match info.str(name) {
        Ok(Some(v)) if too_long(&v, max) => {
            invalid(&format!("user_info.{name}"));
            None
        }
        Ok(v) => v,
        Err(_) => {
            invalid(&format!("user_info.{name}"));
            None
        }
    };
    let first_name = text("first_name", 64, &mut invalid).unwrap_or_default();
    let last_name = text("last_name", 64, &mut invalid).unwrap_or_default();
    let display_name = text("display_name", 128, &mut invalid);
    for (field, value) in [
        ("first_name", first_name.as_str()),
        ("last_name", last_name.as_str()),
        ("display_name", display_name.as_deref().unwrap_or_default()),
    ] {
        if name_too_long(field, value) {
            invalid(&format!("user_info.{field}"));
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Validation(errors).into());
    }
    let action = action.expect("checked above");
    if action == CreateAction::AutoCreate {
        // autoCreate users sign in with the password given here; it must meet Zoom's rules and the account's.
        let ok = info
            .str("password")?
            .is_some_and(|p| password::check_on_create(&p, requirement).is_ok());
        if !ok {
            return Err(DomainError::Invalid("Invalid parameter: password".into()).into());
        }
    }
    Ok(NewUser {
        action,
        email,
        user_type: user_type.expect("checked above"),
        first_name,
        last_name,
        display_name,
        password_hash: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    bearer: Bearer,
    query: Query,
) -> Result<Json<UserList>, ApiError> {
    let request = list_request(&query);
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::Users.operation(), None),
                |tx, principal, now| async move {
                    let (store, principal) = (&tx, &principal);
                    users::list(store, principal, request.clone()?, now).await
                },
            )
            .await?,
    ))
}

fn list_request(query: &Query) -> Result<ListRequest, ApiError> {
    let status = match query.get("status") {
        None | Some("") => Status::Active,
        Some(s) => {
            Status::parse(s).ok_or_else(|| DomainError::field("status", "Invalid field."))?
        }
    };
    let page_size = match query.int("page_size")? {
        None => DEFAULT_PAGE_SIZE,
        // S1's maximum is a bound of the schema: a request beyond it is refused, not clamped (fidelity row 34).
        Some(n) if (1..=MAX_PAGE_SIZE as i64).contains(&n) => n as u64,
        Some(_) => return Err(DomainError::field("page_size", "Invalid field.").into()),
    };
    let role = match query.get("role_id") {
        None | Some("") => None,
        Some(id) => {
            Some(Role::from_id(id).ok_or_else(|| DomainError::field("role_id", "Invalid field."))?)
        }
    };
    let page_number = match query.int("page_number")? {
        None => None,
        Some(n) if n >= 1 => Some(n as u64),
        Some(_) => return Err(DomainError::field("page_number", "Invalid field.").into()),
    };
    let include = match query.get("include_fields") {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|name| IncludeField::parse(name.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| DomainError::field("include_fields", "Invalid field."))?,
    };
    let license = match query.get("license") {
        None | Some("") => None,
        Some(name) => Some(
            UserLicense::parse(name)
                .ok_or_else(|| DomainError::field("license", "Invalid field."))?,
        ),
    };
    Ok(ListRequest {
        include,
        license,
        status,
        role,
        page_size,
        next_page_token: query
            .get("next_page_token")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        page_number,
    })
}

pub async fn get(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
    headers: HeaderMap,
) -> Result<Json<User>, ApiError> {
    // `login_type`, `encrypted_email` and `search_by_unique_id` select nothing here (one login type, nothing
    // encrypted); the route's check of documented query parameters refuses values outside S1's types.
    let user_id = &user_id;
    let mut user = state
        .read_as(
            &bearer,
            (OperationId::User.operation(), Some(user_id)),
            |tx, principal, now| async move {
                let (store, principal) = (&tx, &principal);
                users::get(store, principal, user_id, now).await
            },
        )
        .await?;
    super::media::absolute_pic_url(&state, &mut user.pic_url, &headers);
    Ok(Json(user))
}

pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserUpdate.operation(),
        Some(&user_id),
    )?;
    let patch = parse_patch(&body)?;
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::update(store, principal, &user_id, patch, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Profile fields kept as given, with their length limits (S1).
const PROFILE_TEXT: &[(&str, usize)] = &[
    ("company", 255),
    ("job_title", 128),
    ("location", 256),
    ("cost_center", 256),
    ("manager", 128),
    ("pronouns", 256),
    ("cms_user_id", 256),
];

fn parse_patch(body: &Fields) -> Result<UserPatch, ApiError> {
    let text = |name: &str, max: usize| -> Result<Option<String>, ApiError> {
        match body.str(name)? {
            Some(v) if too_long(&v, max) => Err(body.invalid(name)),
            v => Ok(v),
        }
    };
    let name = |field: &str| -> Result<Option<String>, ApiError> {
        match body.str(field)? {
            Some(v) if name_too_long(field, &v) => Err(body.invalid(field)),
            v => Ok(v),
        }
    };
    let mut patch = UserPatch {
        first_name: name("first_name")?,
        last_name: name("last_name")?,
        display_name: name("display_name")?,
        timezone: text("timezone", 64)?,
        dept: text("dept", 256)?,
        language: text("language", 16)?,
        use_pmi: body.bool("use_pmi")?,
        vanity_name: text("vanity_name", 256)?.map(|name| name.trim().to_string()),
        ..Default::default()
    };
    if let Some(code) = body.int("type")? {
        let user_type = UserType::from_code(code)
            .filter(|t| CREATABLE_TYPES.contains(t) && *t != UserType::None)
            .ok_or_else(|| body.invalid("type"))?;
        patch.user_type = Some(user_type);
    }
    if let Some(pmi) = body.int("pmi")? {
        if !(1_000_000_000..=9_999_999_999).contains(&pmi) {
            return Err(body.invalid("pmi"));
        }
        patch.pmi = Some(pmi);
    }
    for (name, max) in PROFILE_TEXT {
        if let Some(v) = text(name, *max)? {
            patch.profile.insert(name.to_string(), Value::String(v));
        }
    }
    if let Some(host_key) = body.str("host_key")? {
        if !(6..=10).contains(&host_key.len()) || !host_key.chars().all(|c| c.is_ascii_digit()) {
            return Err(body.invalid("host_key"));
        }
        patch
            .profile
            .insert("host_key".into(), Value::String(host_key));
    }
    if let Some(about) = text("about_me", 150)? {
        let lower = about.to_lowercase();
        if lower.contains("http://")
            || lower.contains("https://")
            || lower.contains("www.")
            || about.contains('<')
        {
            return Err(DomainError::Invalid(
                "The `about_me` field is illegal and can't contain hyperlinks or HTML code.".into(),
            )
            .into());
        }
        patch
            .profile
            .insert("about_me".into(), Value::String(about));
    }
    if let Some(url) = body.str("linkedin_url")? {
        if !url.contains("linkedin.com") {
            return Err(DomainError::Invalid(
                "The `linkedin_url` field is illegal. The URL must contain `linkedin.com`.".into(),
            )
            .into());
        }
        patch
            .profile
            .insert("linkedin_url".into(), Value::String(url));
    }
    if let Some(option) = body.int("pronouns_option")? {
        if !(1..=3).contains(&option) {
            return Err(body.invalid("pronouns_option"));
        }
        patch
            .profile
            .insert("pronouns_option".into(), Value::from(option));
    }
    // The licence is changed by one of these at a time.
    let licence_fields = ["type", "plan_united_type", "zoom_one_type"]
        .iter()
        .filter(|name| body.get(name).is_some())
        .count();
    if licence_fields > 1 {
        return Err(DomainError::Invalid(
            "You can't change the \"type\" or \"plan_united_type\" or \"zoom_one_type\" at the same time."
                .into(),
        )
        .into());
    }
    if let Some(option) = body.int("zoom_one_type")? {
        if !ZOOM_ONE_TYPES.contains(&option) {
            return Err(body.invalid("zoom_one_type"));
        }
        patch
            .profile
            .insert("zoom_one_type".into(), Value::from(option));
    }
    if let Some(united) = body.str("plan_united_type")? {
        if !PLAN_UNITED_TYPES.contains(&united.as_str()) {
            return Err(DomainError::Invalid(
                "The value provided for \"plan_united_type\" parameter is invalid. Try again with a valid value."
                    .into(),
            )
            .into());
        }
        patch
            .profile
            .insert("plan_united_type".into(), Value::String(united));
    }
    // Deprecated, still stored and shown as Zoom's schema has them.
    for name in ["phone_country", "phone_number"] {
        if let Some(v) = text(name, 64)? {
            patch.profile.insert(name.into(), Value::String(v));
        }
    }
    if let Some(feature) = body.typed::<UserFeature>("feature")? {
        patch.profile.insert("feature".into(), json_of(&feature));
    }
    // No subscription, group or division exists here to move a user into.
    if let Some(licences) = body.typed::<Vec<LicenseInfo>>("license_info_list")? {
        if licences.len() > 2 {
            return Err(body.invalid("license_info_list"));
        }
        if let Some(licence) = licences.first() {
            return Err(DomainError::Invalid(format!(
                "The subscription \"{}\" you entered does not exist. Please choose a different subscription \
                 and try again.",
                licence.subscription_id
            ))
            .into());
        }
    }
    if body.str("group_id")?.is_some_and(|id| !id.is_empty()) {
        return Err(body.invalid("group_id"));
    }
    if body
        .typed::<Vec<String>>("division_ids")?
        .is_some_and(|ids| !ids.is_empty())
    {
        return Err(body.invalid("division_ids"));
    }
    // Typed as Zoom's schema types them, so that what a later `GET` returns is valid against it.
    if let Some(numbers) = body.typed::<Vec<PhoneNumber>>("phone_numbers")? {
        if numbers.len() > 3 {
            return Err(body.invalid("phone_numbers"));
        }
        patch
            .profile
            .insert("phone_numbers".into(), json_of(&numbers));
    }
    if let Some(attributes) = body.typed::<Vec<CustomAttribute>>("custom_attributes")? {
        if attributes.len() > 5 {
            return Err(body.invalid("custom_attributes"));
        }
        patch
            .profile
            .insert("custom_attributes".into(), json_of(&attributes));
    }
    Ok(patch)
}

/// `PATCH` `zoom_one_type` values (S1's enum).
const ZOOM_ONE_TYPES: [i64; 25] = [
    0,
    16,
    32,
    64,
    128,
    33_554_432,
    134_217_728,
    268_435_456,
    536_870_912,
    1_073_741_824,
    4_398_046_511_104,
    4_294_967_296,
    8_589_934_592,
    17_179_869_184,
    34_359_738_368,
    68_719_476_736,
    137_438_953_472,
    274_877_906_944,
    549_755_813_888,
    1_099_511_627_776,
    2_199_023_255_552,
    18_014_398_509_481_984,
    72_057_594_037_927_940,
    144_115_188_075_855_870,
    576_460_752_303_423_500,
];

/// `PATCH` `plan_united_type` values (S1's enum).
const PLAN_UNITED_TYPES: [&str; 19] = [
    "1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "2048", "4096", "8192",
    "16384", "32768", "65536", "131072", "none",
];

/// `PATCH` `feature`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct UserFeature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zoom_phone: Option<bool>,
}

/// One item of `PATCH` `license_info_list`, every field required.
#[derive(Debug, serde::Deserialize)]
struct LicenseInfo {
    #[allow(dead_code)] // checked by deserializing; no subscription exists to apply it to
    license_type: LicenseType,
    #[allow(dead_code)]
    license_option: i64,
    subscription_id: String,
}

#[derive(Debug, serde::Deserialize)]
enum LicenseType {
    #[serde(rename = "MEETING")]
    Meeting,
    #[serde(rename = "ZOOM_WORKPLACE_BUNDLE")]
    ZoomWorkplaceBundle,
}

/// A value of typed fields as the profile keeps it (these types always serialize).
fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    query: Query,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserDelete.operation(),
        Some(&user_id),
    )?;
    let action = match query.get("action") {
        None | Some("") => DeleteAction::Disassociate,
        Some(action) => DeleteAction::parse(action)
            .ok_or_else(|| DomainError::field("action", "Invalid field."))?,
    };
    let transfer_email = match query.get("transfer_email").map(str::trim) {
        None | Some("") => None,
        Some(email) if is_valid_email(email) && !too_long(email, 128) => Some(email.to_string()),
        Some(_) => return Err(DomainError::field("transfer_email", "Invalid field.").into()),
    };
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::delete(
                store,
                principal,
                &user_id,
                action,
                transfer_email.as_deref(),
                now,
            )
            .await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /users/{userId}/email`.
pub async fn update_email(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(user_id): PathParams<String>,
    body: Fields,
) -> Result<StatusCode, ApiError> {
    state.admit(
        &principal,
        OperationId::UserEmailUpdate.operation(),
        Some(&user_id),
    )?;
    let email = body
        .str("email")?
        .map(|e| e.trim().to_string())
        .filter(|e| !too_long(e, 127) && is_valid_email(e))
        .ok_or_else(|| body.invalid("email"))?;
    let now = state.now();
    state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::change_email(store, principal, &user_id, &email, now).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /users/features`.
pub async fn update_features(
    State(state): State<AppState>,
    principal: Principal,
    body: Fields,
) -> Result<(StatusCode, Json<FeatureUpdateResult>), ApiError> {
    state.admit(&principal, OperationId::BulkUpdateFeature.operation(), None)?;
    let feature_type = body
        .str("feature_type")?
        .as_deref()
        .and_then(FeatureType::parse)
        .ok_or_else(|| body.invalid("feature_type"))?;
    let feature_value = body
        .str("feature_value")?
        .ok_or_else(|| body.invalid("feature_value"))?;
    let users: Vec<FeatureUser> = body
        .typed("users")?
        .filter(|users: &Vec<FeatureUser>| {
            (1..=users::MAX_FEATURE_USERS).contains(&users.len())
                && users.iter().all(|u| {
                    u.id.as_deref()
                        .or(u.email.as_deref())
                        .is_some_and(|r| !r.is_empty())
                })
        })
        .ok_or_else(|| body.invalid("users"))?;
    let value = match feature_type {
        FeatureType::UserType => match feature_value.as_str() {
            "3" => {
                return Err(DomainError::Invalid(
                    "Your account can't set user type as On-prem.".into(),
                )
                .into());
            }
            code => Some(users::FeatureValue::UserType(
                code.parse()
                    .ok()
                    .and_then(UserType::from_code)
                    .filter(|t| *t != UserType::None && CREATABLE_TYPES.contains(t))
                    .ok_or_else(|| body.invalid("feature_value"))?,
            )),
        },
        FeatureType::ZoomOneType => {
            let option = feature_value
                .parse::<i64>()
                .ok()
                .filter(|n| ZOOM_ONE_TYPES.contains(n))
                .ok_or_else(|| body.invalid("feature_value"))?;
            Some(users::FeatureValue::Profile(
                "zoom_one_type",
                Value::from(option),
            ))
        }
        FeatureType::PlanUnitedType => {
            if !PLAN_UNITED_TYPES.contains(&feature_value.as_str()) {
                return Err(body.invalid("feature_value"));
            }
            Some(users::FeatureValue::Profile(
                "plan_united_type",
                Value::String(feature_value.clone()),
            ))
        }
        _ => None,
    };
    let request = FeatureUpdateRequest {
        feature_type,
        feature_value,
        users,
        subscription_id: body.str("subscription_id")?,
    };
    let now = state.now();
    let result = state
        .write_as(principal, move |tx, principal| async move {
            let (store, principal) = (&tx, &principal);
            users::update_features(store, principal, &request, value, now).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(result)))
}

/// `GET /users/summary`.
pub async fn summary(
    State(state): State<AppState>,
    bearer: Bearer,
) -> Result<Json<UserSummary>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserSummary.operation(), None),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    users::summary(store, principal).await
                },
            )
            .await?,
    ))
}

/// `GET /users/vanity_name?vanity_name=…`.
pub async fn vanity_name(
    State(state): State<AppState>,
    bearer: Bearer,
    query: Query,
) -> Result<Json<VanityNameCheck>, ApiError> {
    let name = query
        .get("vanity_name")
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| DomainError::Invalid("Vanity name is required.".into()));
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserVanityName.operation(), None),
                |tx, _, _| async {
                    let tx = tx;
                    let store = &tx;
                    users::vanity_name_exists(store, name.clone()?).await
                },
            )
            .await?,
    ))
}

/// `GET /users/{userId}/permissions`.
pub async fn permissions(
    State(state): State<AppState>,
    bearer: Bearer,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<UserPermissions>, ApiError> {
    Ok(Json(
        state
            .read_as(
                &bearer,
                (OperationId::UserPermission.operation(), Some(&user_id)),
                |tx, principal, _| async {
                    let (tx, principal) = (tx, principal);
                    let (store, principal) = (&tx, &principal);
                    users::permissions(store, principal, &user_id).await
                },
            )
            .await?,
    ))
}

pub async fn check_email(
    State(state): State<AppState>,
    bearer: Bearer,
    query: Query,
) -> Result<Json<EmailCheck>, ApiError> {
    let email = query
        .get("email")
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(DomainError::EmailRequired)
        .and_then(|e| {
            if is_valid_email(e) {
                Ok(e)
            } else {
                Err(DomainError::field("email", "Invalid field."))
            }
        });
    let existed_email = state
        .read_as(
            &bearer,
            (OperationId::UserEmail.operation(), None),
            |tx, principal, _| async {
                let (tx, principal) = (tx, principal);
                let (store, principal) = (&tx, &principal);
                users::email_exists(store, principal, email.clone()?).await
            },
        )
        .await?;
    Ok(Json(EmailCheck { existed_email }))
}
