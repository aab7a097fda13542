//! The account's `security` settings (Zoom's Accounts API), of which localzoom acts on `password_requirement`.

use crate::domain::error::DomainError;
use crate::domain::user_settings::merge;
use localzoom_api::PasswordRequirement;
use serde_json::{Map, Value, json};

/// The `security` object as `GET /accounts/{accountId}/settings?option=security` returns it: Zoom's defaults
/// overlaid with what the account stored.
pub fn security_view(stored: &Map<String, Value>) -> Value {
    let mut view = json!({
        "admin_change_name_pic": false,
        "admin_change_user_info": false,
        "user_modifiable_info_by_admin": [],
        // On from the start, so the SSO flows (`ssoCreate`, SSO tokens, SCIM) work without setup (fidelity row 103).
        "signin_with_sso": { "enable": true, "require_sso_for_domains": false, "domains": [], "sso_bypass_users": [] },
        "hide_billing_info": false,
        "import_photos_from_devices": true,
        "password_requirement": {
            "minimum_password_length": 0,
            "have_special_character": false,
            "consecutive_characters_length": 0,
            "weak_enhance_detection": false
        },
        "sign_again_period_for_inactivity_on_client": 0,
        "sign_again_period_for_inactivity_on_web": 0,
        "sign_in_with_two_factor_auth": "none"
    });
    merge(&mut view, &Value::Object(stored.clone()));
    view
}

/// Whether only admins may change this kind of user information (`name`, `profile_picture`, `sign_in_email`,
/// `host_key`): so `admin_change_user_info` says with `user_modifiable_info_by_admin`, or, for names and pictures,
/// the deprecated `admin_change_name_pic`.
pub fn admins_only(stored: &Map<String, Value>, info: &str) -> bool {
    let security = security_view(stored);
    let listed = security["user_modifiable_info_by_admin"]
        .as_array()
        .is_some_and(|infos| infos.iter().any(|i| i == info));
    (security["admin_change_user_info"] == true && listed)
        || (matches!(info, "name" | "profile_picture") && security["admin_change_name_pic"] == true)
}

/// Whether the account signs users in with SSO (`security.signin_with_sso.enable`).
pub fn sso_enabled(stored: &Map<String, Value>) -> bool {
    security_view(stored)["signin_with_sso"]["enable"] == true
}

pub fn password_requirement(stored: &Map<String, Value>) -> PasswordRequirement {
    security_view(stored)
        .get("password_requirement")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// Validates a `PATCH …/settings?option=security` body's `security` object and merges it into `stored`.
pub fn apply_security_patch(
    stored: &mut Map<String, Value>,
    patch: &Value,
) -> Result<(), DomainError> {
    let Some(patch) = patch.as_object() else {
        return Err(DomainError::field("security", "Invalid field."));
    };
    if let Some(req) = patch.get("password_requirement") {
        let Some(req) = req.as_object() else {
            return Err(DomainError::field(
                "security.password_requirement",
                "Invalid field.",
            ));
        };
        for (key, value) in req {
            let field = format!("security.password_requirement.{key}");
            let ok = match key.as_str() {
                "minimum_password_length" => value
                    .as_u64()
                    .is_some_and(|n| n == 0 || (8..=14).contains(&n)),
                "consecutive_characters_length" => value
                    .as_u64()
                    .is_some_and(|n| n == 0 || (4..=8).contains(&n)),
                "have_special_character" | "weak_enhance_detection" => value.is_boolean(),
                _ => true,
            };
            if !ok {
                return Err(DomainError::field(&field, "Invalid field."));
            }
        }
    }
    if let Some(infos) = patch.get("user_modifiable_info_by_admin") {
        const KINDS: [&str; 4] = ["name", "profile_picture", "sign_in_email", "host_key"];
        let known = infos.as_array().is_some_and(|infos| {
            infos
                .iter()
                .all(|i| i.as_str().is_some_and(|i| KINDS.contains(&i)))
        });
        if !known {
            return Err(DomainError::field(
                "security.user_modifiable_info_by_admin",
                "Invalid field.",
            ));
        }
    }
    if let Some(sso) = patch.get("signin_with_sso")
        && !sso
            .as_object()
            .is_some_and(|sso| sso.get("enable").is_none_or(Value::is_boolean))
    {
        return Err(DomainError::field(
            "security.signin_with_sso",
            "Invalid field.",
        ));
    }
    for (key, expect_bool) in [
        ("admin_change_name_pic", true),
        ("admin_change_user_info", true),
        ("hide_billing_info", true),
        ("import_photos_from_devices", true),
    ] {
        if let Some(v) = patch.get(key)
            && expect_bool
            && !v.is_boolean()
        {
            return Err(DomainError::field(
                &format!("security.{key}"),
                "Invalid field.",
            ));
        }
    }
    let mut merged = Value::Object(stored.clone());
    merge(&mut merged, &Value::Object(patch.clone()));
    if let Value::Object(map) = merged {
        *stored = map;
    }
    Ok(())
}
