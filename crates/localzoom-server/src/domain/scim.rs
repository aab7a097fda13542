//! SCIM 2.0 (RFC 7643, RFC 7644) as Zoom serves it at `/scim2/Users`: the filters Zoom supports, a resource or a
//! PATCH's operations read as the changes they ask for, and Zoom's names for user types. What a change may do is
//! still decided by the user rules the REST API applies.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::error::DomainError;
use super::schema::check_open;
use super::user::{UserType, is_valid_email, name_too_long, too_long};

const SCIM_SPEC: &str = include_str!("../../spec/zoom-scim2-api.endpoints.json");

/// The attributes `POST /scim2/Users` takes, as Zoom's SCIM2 spec describes them (the stricter of its POST and
/// PUT descriptions: POST's phone number types are an enum).
static ATTRIBUTES: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    let spec: Value = serde_json::from_str(SCIM_SPEC).expect("the vendored SCIM2 spec is JSON");
    spec["paths"]["/scim2/Users"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
});

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Zoom's read-only extension (the user's sign-in types).
pub const ZOOM_USER_SCHEMA: &str = "urn:us:zoom:scim:schemas:extension:1.0:ZoomUser";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// Most PATCH operations in one request, and the longest filter: IdPs send a handful and one clause.
const MAX_PATCH_OPERATIONS: usize = 64;
const MAX_FILTER_LEN: usize = 512;
/// Most bytes of attributes kept as sent (phone numbers, roles, extensions, …) per user.
pub const MAX_KEPT_ATTRIBUTES: usize = 16 * 1024;

/// Why a SCIM request was refused, in the words of Zoom's SCIM2 spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimRefusal {
    SsoNotEnabled,
    /// The filter (or its attribute) Zoom does not support.
    UnsupportedFilter(String),
    NotJson,
    EmptyBody,
    InvalidUserName,
    /// `POST`: the e-mail belongs to a user already.
    EmailInUse(String),
    /// `PUT`/`PATCH`: the new e-mail belongs to another user.
    EmailUsed(String),
    UserInactive,
    AdminEmail,
    /// Activating or deactivating an admin or a Zoom Room.
    StatusProtected,
    DeleteAdmin,
    UserNotFound,
    /// An attribute of the wrong type or out of bounds.
    InvalidValue(String),
    /// A PATCH operation localzoom cannot apply (an unknown `op`, a path it cannot follow).
    InvalidPatch(String),
}

impl From<ScimRefusal> for DomainError {
    fn from(refusal: ScimRefusal) -> Self {
        DomainError::Scim(refusal)
    }
}

/// Zoom's SCIM `userType` names.
pub fn user_type_name(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Licensed => "Licensed",
        UserType::OnPrem => "On-Prem",
        // A seat without meetings: chat, whiteboard, the collaboration tools (fidelity row 104).
        UserType::Unassigned => "Collaboration",
        UserType::Basic | UserType::None => "Basic",
    }
}

fn parse_user_type(name: &str) -> Option<UserType> {
    match name {
        "Basic" => Some(UserType::Basic),
        "Licensed" => Some(UserType::Licensed),
        "Collaboration" => Some(UserType::Unassigned),
        _ => None,
    }
}

/// The filters Zoom documents: `userName eq …` (also `emails eq …`, `emails.value eq …`) and `externalId eq …`
/// (also `id eq …`), the value quoted or bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Email(String),
    Id(String),
}

pub fn parse_filter(text: &str) -> Result<Filter, ScimRefusal> {
    let unsupported =
        || ScimRefusal::UnsupportedFilter(text.chars().take(MAX_FILTER_LEN).collect());
    if text.len() > MAX_FILTER_LEN {
        return Err(unsupported());
    }
    let mut words = text.trim().splitn(3, char::is_whitespace);
    let (Some(attribute), Some(operator), Some(value)) = (words.next(), words.next(), words.next())
    else {
        return Err(unsupported());
    };
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let value = value.trim();
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(quoted) if !quoted.contains('"') || quoted.contains("\\\"") => {
            quoted.replace("\\\"", "\"")
        }
        Some(_) => return Err(unsupported()),
        // A bare value is one word: `userName eq a@b.c and active eq true` is a compound filter.
        None if value.contains(char::is_whitespace) || value.contains('"') => {
            return Err(unsupported());
        }
        None => value.to_string(),
    };
    match attribute.to_ascii_lowercase().as_str() {
        "username" | "emails" | "emails.value" => Ok(Filter::Email(value)),
        "externalid" | "id" => Ok(Filter::Id(value)),
        _ => Err(ScimRefusal::UnsupportedFilter(
            attribute.chars().take(100).collect(),
        )),
    }
}

/// What a `POST`, a `PUT` or a `PATCH` asks to change; `None`: not named.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimChanges {
    pub active: Option<bool>,
    pub user_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub user_type: Option<UserType>,
    pub title: Option<String>,
    pub locale: Option<String>,
    pub department: Option<String>,
    /// Attributes kept as sent and answered back (phone numbers, roles, groups, Zoom's extension, attributes of
    /// other schemas); `Value::Null` removes one.
    pub kept: Map<String, Value>,
}

impl ScimChanges {
    /// Whether anything but `active` is named.
    pub fn changes_more_than_status(&self) -> bool {
        let without_active = ScimChanges {
            active: None,
            ..self.clone()
        };
        without_active != ScimChanges::default()
    }
}

/// Reads a resource's attributes (a `POST` or `PUT` body, or a PATCH value) into `changes`. Attribute names are
/// case-insensitive, as RFC 7643 has them.
pub fn read_attributes(
    body: &Map<String, Value>,
    changes: &mut ScimChanges,
) -> Result<(), ScimRefusal> {
    for (name, value) in body {
        read_attribute(name, value, changes)?;
    }
    Ok(())
}

fn read_attribute(name: &str, value: &Value, changes: &mut ScimChanges) -> Result<(), ScimRefusal> {
    let invalid = || ScimRefusal::InvalidValue(name.to_string());
    let text = |max: usize, field: Option<&str>| -> Result<Option<String>, ScimRefusal> {
        match value {
            Value::Null => Ok(Some(String::new())),
            Value::String(s)
                if !s.chars().any(char::is_control)
                    && !too_long(s, max)
                    && field.is_none_or(|f| !name_too_long(f, s)) =>
            {
                Ok(Some(s.clone()))
            }
            _ => Err(invalid()),
        }
    };
    match name.to_ascii_lowercase().as_str() {
        // Read-only or the server's own: ignored, as RFC 7644 §3.5.1 has servers do.
        "schemas" | "id" | "meta" | "externalid" | ZOOM_USER_SCHEMA_LOWER => {}
        // SSO users have no Zoom password; write-only in SCIM, so nothing would ever show it (fidelity row 104).
        "password" => {}
        "active" => {
            changes.active = Some(match value {
                Value::Bool(b) => *b,
                // Microsoft Entra sends "True"/"False".
                Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(invalid()),
            })
        }
        "username" => match value {
            Value::String(s) if !too_long(s, 128) && is_valid_email(s) => {
                changes.user_name = Some(s.clone())
            }
            _ => return Err(ScimRefusal::InvalidUserName),
        },
        "emails" => {
            // Zoom keeps one address: the primary one, or the first.
            let emails = value.as_array().ok_or_else(invalid)?;
            let chosen = emails
                .iter()
                .find(|e| e["primary"] == true)
                .or_else(|| emails.first());
            if let Some(email) = chosen {
                match email.get("value") {
                    Some(Value::String(s)) if !too_long(s, 128) && is_valid_email(s) => {
                        changes.user_name = Some(s.clone())
                    }
                    _ => return Err(ScimRefusal::InvalidValue("emails".into())),
                }
            }
        }
        "name" => {
            let parts = value.as_object().ok_or_else(invalid)?;
            for (part, value) in parts {
                match part.to_ascii_lowercase().as_str() {
                    "givenname" => {
                        changes.given_name = text_of(value, "first_name", "name.givenName")?
                    }
                    "familyname" => {
                        changes.family_name = text_of(value, "last_name", "name.familyName")?
                    }
                    // Derived from the parts; Zoom keeps no other name parts.
                    "formatted" | "middlename" | "honorificprefix" | "honorificsuffix" => {}
                    _ => return Err(ScimRefusal::InvalidValue(format!("name.{part}"))),
                }
            }
        }
        "displayname" => changes.display_name = text(128, Some("display_name"))?,
        "title" => changes.title = text(128, None)?,
        "locale" | "preferredlanguage" => changes.locale = text(32, None)?,
        "usertype" => {
            let name = value.as_str().ok_or_else(invalid)?;
            changes.user_type = Some(parse_user_type(name).ok_or_else(invalid)?);
        }
        ENTERPRISE_SCHEMA_LOWER => {
            let extension = value.as_object().ok_or_else(invalid)?;
            let mut rest = Map::new();
            let known = ATTRIBUTES
                .get(ENTERPRISE_SCHEMA)
                .and_then(|e| e.get("properties"))
                .and_then(Value::as_object);
            for (key, value) in extension {
                let field = || ScimRefusal::InvalidValue(format!("{ENTERPRISE_SCHEMA}.{key}"));
                if key.eq_ignore_ascii_case("manager") {
                    // RFC 7643's manager is `{"value": id}` (what Microsoft Entra sends); Zoom's is the address.
                    let manager = match value {
                        Value::Object(m) => m.get("value").cloned().unwrap_or(Value::Null),
                        other => other.clone(),
                    };
                    if !(manager.is_null() || manager.as_str().is_some_and(|m| !too_long(m, 128))) {
                        return Err(field());
                    }
                    rest.insert("manager".into(), manager);
                    continue;
                }
                if let Some(schema) = known.and_then(|k| k.get(key))
                    && !value.is_null()
                {
                    check_open(schema, value, key).map_err(|_| field())?;
                }
                if key.eq_ignore_ascii_case("department") {
                    changes.department = match value {
                        Value::Null => Some(String::new()),
                        Value::String(s)
                            if !s.chars().any(char::is_control) && !too_long(s, 128) =>
                        {
                            Some(s.clone())
                        }
                        _ => {
                            return Err(ScimRefusal::InvalidValue(format!(
                                "{ENTERPRISE_SCHEMA}.department"
                            )));
                        }
                    };
                } else {
                    rest.insert(key.clone(), value.clone());
                }
            }
            if !rest.is_empty() {
                changes
                    .kept
                    .insert(ENTERPRISE_SCHEMA.into(), Value::Object(rest));
            }
        }
        _ => {
            // An attribute Zoom describes is checked against its description (types, enums), under Zoom's
            // spelling; another is kept if its name is one an attribute can have.
            let known = ATTRIBUTES
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name));
            match known {
                Some((known, schema)) => {
                    if !value.is_null() {
                        check_open(schema, value, known).map_err(|_| invalid())?;
                    }
                    changes.kept.insert(known.clone(), value.clone());
                }
                None if plausible_attribute(name) => {
                    changes.kept.insert(name.to_string(), value.clone());
                }
                None => return Err(invalid()),
            }
        }
    }
    Ok(())
}

/// A SCIM attribute name (RFC 7643 §2.1: a letter, then letters, digits, `_` or `-`), or a schema URN.
fn plausible_attribute(name: &str) -> bool {
    let simple = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let urn = name.starts_with("urn:")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":._-".contains(c));
    name.len() <= 200 && (simple || urn)
}

const ZOOM_USER_SCHEMA_LOWER: &str = "urn:us:zoom:scim:schemas:extension:1.0:zoomuser";
const ENTERPRISE_SCHEMA_LOWER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user";

fn text_of(value: &Value, limit_of: &str, field: &str) -> Result<Option<String>, ScimRefusal> {
    match value {
        Value::Null => Ok(Some(String::new())),
        Value::String(s) if !s.chars().any(char::is_control) && !name_too_long(limit_of, s) => {
            Ok(Some(s.clone()))
        }
        _ => Err(ScimRefusal::InvalidValue(field.into())),
    }
}

/// Reads a PATCH request (RFC 7644 §3.5.2): each operation `add`/`replace` (with or without a `path`) or
/// `remove`, turned into the attributes it sets, in order.
pub fn read_patch(body: &Map<String, Value>) -> Result<ScimChanges, ScimRefusal> {
    let operations = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .and_then(|(_, v)| v.as_array())
        .filter(|ops| !ops.is_empty() && ops.len() <= MAX_PATCH_OPERATIONS)
        .ok_or_else(|| ScimRefusal::InvalidPatch("Operations".into()))?;
    let mut changes = ScimChanges::default();
    for operation in operations {
        let op = operation["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let path = operation.get("path").and_then(Value::as_str);
        let value = match op.as_str() {
            "add" | "replace" => operation.get("value").cloned().unwrap_or(Value::Null),
            "remove" if path.is_some() => Value::Null,
            _ => return Err(ScimRefusal::InvalidPatch(format!("op {op:?}"))),
        };
        let attributes = match path {
            None => match value {
                Value::Object(map) => map,
                _ => return Err(ScimRefusal::InvalidPatch("value".into())),
            },
            Some(path) => attributes_at(path, value)?,
        };
        read_attributes(&attributes, &mut changes)?;
    }
    Ok(changes)
}

/// `path` and `value` as the attributes they set: `name.givenName` → `{"name":{"givenName":…}}`,
/// `emails[type eq "work"].value` → `{"emails":[{"value":…,"primary":true}]}`, `urn:…:User:department` →
/// `{"urn:…:User":{"department":…}}`.
fn attributes_at(path: &str, value: Value) -> Result<Map<String, Value>, ScimRefusal> {
    let unsupported = || {
        ScimRefusal::InvalidPatch(format!(
            "path {:?}",
            path.chars().take(200).collect::<String>()
        ))
    };
    let mut map = Map::new();
    if let Some(rest) = path
        .strip_prefix(ENTERPRISE_SCHEMA)
        .and_then(|r| r.strip_prefix(':'))
    {
        let mut extension = Map::new();
        extension.insert(rest.to_string(), value);
        map.insert(ENTERPRISE_SCHEMA.into(), Value::Object(extension));
        return Ok(map);
    }
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("emails") {
        // `emails`, `emails.value`, `emails[…].value`: Zoom has one address.
        let address = match value {
            Value::Array(_) if lower == "emails" => {
                return Ok(Map::from_iter([("emails".into(), value)]));
            }
            Value::String(_) => value,
            _ => return Err(ScimRefusal::InvalidValue("emails".into())),
        };
        if !(lower == "emails.value" || (lower.contains('[') && lower.ends_with("].value"))) {
            return Err(unsupported());
        }
        map.insert(
            "emails".into(),
            serde_json::json!([{ "value": address, "primary": true }]),
        );
        return Ok(map);
    }
    match path.split_once('.') {
        None if !path.contains('[') => {
            map.insert(path.to_string(), value);
        }
        Some((parent, child))
            if parent.eq_ignore_ascii_case("name") && !child.contains(['.', '[']) =>
        {
            map.insert(
                "name".into(),
                Value::Object(Map::from_iter([(child.to_string(), value)])),
            );
        }
        _ => return Err(unsupported()),
    }
    Ok(map)
}

/// Lays `changes.kept` over what a user keeps, within `MAX_KEPT_ATTRIBUTES`.
pub fn keep_attributes(
    kept: &mut Map<String, Value>,
    changes: &Map<String, Value>,
) -> Result<(), ScimRefusal> {
    for (name, value) in changes {
        if value.is_null() {
            kept.remove(name);
        } else {
            kept.insert(name.clone(), value.clone());
        }
    }
    if Value::Object(kept.clone()).to_string().len() > MAX_KEPT_ATTRIBUTES {
        return Err(ScimRefusal::InvalidValue("attributes too large".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_zoom_supports() {
        assert_eq!(
            parse_filter(r#"userName eq "a@b.co""#),
            Ok(Filter::Email("a@b.co".into()))
        );
        assert_eq!(
            parse_filter("userName eq a@b.co"),
            Ok(Filter::Email("a@b.co".into()))
        );
        assert_eq!(
            parse_filter(r#"emails.value Eq "a@b.co""#),
            Ok(Filter::Email("a@b.co".into()))
        );
        assert_eq!(
            parse_filter("externalId eq ABC"),
            Ok(Filter::Id("ABC".into()))
        );
        assert_eq!(
            parse_filter(r#"displayName eq "x""#),
            Err(ScimRefusal::UnsupportedFilter("displayName".into()))
        );
        for compound in [
            r#"userName eq "a" and active eq true"#,
            "userName sw a",
            "userName eq a b",
            "userName",
        ] {
            assert!(
                matches!(
                    parse_filter(compound),
                    Err(ScimRefusal::UnsupportedFilter(_))
                ),
                "{compound}"
            );
        }
    }

    #[test]
    fn patch_paths_become_attributes() {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "replace", "path": "name.givenName", "value": "Ada"},
            {"op": "add", "path": "emails[type eq \"work\"].value", "value": "ada@example.com"},
            {"op": "replace", "value": {"userType": "Licensed", "displayName": "Ada L"}},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
            {"op": "remove", "path": "title"},
        ]});
        let changes = read_patch(body.as_object().unwrap()).unwrap();
        assert_eq!(
            changes,
            ScimChanges {
                active: Some(false),
                user_name: Some("ada@example.com".into()),
                given_name: Some("Ada".into()),
                display_name: Some("Ada L".into()),
                user_type: Some(UserType::Licensed),
                title: Some(String::new()),
                department: Some("R&D".into()),
                ..ScimChanges::default()
            }
        );
        for bad in [
            json!({"Operations": []}),
            json!({"Operations": [{"op": "move", "path": "active"}]}),
            json!({"Operations": [{"op": "replace", "path": "name.givenName.x", "value": "A"}]}),
            json!({"Operations": [{"op": "replace", "path": "active", "value": 3}]}),
        ] {
            assert!(read_patch(bad.as_object().unwrap()).is_err(), "{bad}");
        }
    }
}
