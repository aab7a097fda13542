//! SCIM 2.0 (RFC 7643, RFC 7644) as Zoom serves it at `/scim2/Users`: the filters Zoom supports, a resource or a
//! PATCH's operations read as the changes they ask for, and Zoom's names for user types. What a change may do is
//! still decided by the user rules the REST API applies.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::schema::check_open;
use super::user::{UserType, is_valid_email, name_too_long, too_long};

/// The attributes `POST /scim2/Users` takes, as Zoom's SCIM2 spec describes them (the stricter of its POST and
/// PUT descriptions: POST's phone number types are an enum).
static ATTRIBUTES: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    let spec: Value =
        serde_json::from_str(crate::spec::SCIM2).expect("the vendored SCIM2 spec is JSON");
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

// The refusals live with the domain's other errors (which must not import this module).
pub use super::error::ScimRefusal;

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
    /// Changes to items of multi-valued attributes kept as sent (`phoneNumbers[type eq "work"].value`).
    pub upserts: Vec<Upsert>,
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
    let invalid = || ScimRefusal::InvalidValue(short(name));
    match name.to_ascii_lowercase().as_str() {
        // Read-only or the server's own: ignored, as RFC 7644 §3.5.1 has servers do.
        "schemas" | "id" | "meta" | ZOOM_USER_SCHEMA_LOWER => {}
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
                        changes.given_name =
                            text(value, Limit::Name("first_name"), "name.givenName")?
                    }
                    "familyname" => {
                        changes.family_name =
                            text(value, Limit::Name("last_name"), "name.familyName")?
                    }
                    // Derived from the parts; Zoom keeps no other name parts.
                    "formatted" | "middlename" | "honorificprefix" | "honorificsuffix" => {}
                    _ => return Err(ScimRefusal::InvalidValue(format!("name.{part}"))),
                }
            }
        }
        // The limits of the REST API's fields these are.
        "displayname" => changes.display_name = text(value, Limit::Name("display_name"), name)?,
        "title" => changes.title = text(value, Limit::Chars(128), name)?,
        "locale" | "preferredlanguage" => changes.locale = text(value, Limit::Chars(16), name)?,
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
                    let field = format!("{ENTERPRISE_SCHEMA}.department");
                    changes.department = text(value, Limit::Chars(256), &field)?;
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
                    // One role or group sent as an object (as Zoom's reads answer them) is a list of one.
                    let value = match value {
                        Value::Object(_) if schema["type"] == "array" => {
                            Value::Array(vec![value.clone()])
                        }
                        other => other.clone(),
                    };
                    if !value.is_null() {
                        check_open(schema, &value, known).map_err(|_| invalid())?;
                        if !names_plausible(&value, 0) {
                            return Err(invalid());
                        }
                    }
                    changes.kept.insert(known.clone(), value);
                }
                None if plausible_attribute(name) && names_plausible(value, 0) => {
                    changes.kept.insert(name.to_string(), value.clone());
                }
                None => return Err(invalid()),
            }
        }
    }
    Ok(())
}

/// Whether every name inside `value` (sub-attributes of complex values, at any depth) is an attribute name; the
/// depth is bounded as the body is.
fn names_plausible(value: &Value, depth: usize) -> bool {
    match value {
        Value::Object(map) => {
            depth < 8
                && map
                    .iter()
                    .all(|(k, v)| plausible_attribute(k) && names_plausible(v, depth + 1))
        }
        Value::Array(items) => depth < 8 && items.iter().all(|v| names_plausible(v, depth + 1)),
        _ => true,
    }
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

/// How long a text attribute may be: a name's limits (per script, `NAME_LIMITS`), or a number of characters.
enum Limit {
    Name(&'static str),
    Chars(usize),
}

/// A text attribute (`null` clears it): no control characters, within its limit.
fn text(value: &Value, limit: Limit, field: &str) -> Result<Option<String>, ScimRefusal> {
    let within = |s: &str| match limit {
        Limit::Name(name) => !name_too_long(name, s),
        Limit::Chars(max) => !too_long(s, max),
    };
    match value {
        Value::Null => Ok(Some(String::new())),
        Value::String(s) if !s.chars().any(char::is_control) && within(s) => Ok(Some(s.clone())),
        _ => Err(ScimRefusal::InvalidValue(short(field))),
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
            _ => return Err(ScimRefusal::InvalidPatch(format!("op {:?}", short(&op)))),
        };
        match path {
            // No path: the value's keys are attributes, or attribute paths (`name.givenName`, `urn:…:department`).
            None => match value {
                Value::Object(map) => {
                    for (key, value) in map {
                        apply_path(&key, value, &mut changes)?;
                    }
                }
                _ => return Err(ScimRefusal::InvalidPatch("value".into())),
            },
            Some(path) => apply_path(path, value, &mut changes)?,
        }
    }
    Ok(changes)
}

/// One attribute path and the value it is given, read into `changes`.
fn apply_path(path: &str, value: Value, changes: &mut ScimChanges) -> Result<(), ScimRefusal> {
    match parse_path(path)? {
        Path::Attribute(attribute) => {
            read_attributes(&Map::from_iter([(attribute, value)]), changes)
        }
        Path::Sub(attribute, sub) => read_attributes(
            &Map::from_iter([(attribute, Value::Object(Map::from_iter([(sub, value)])))]),
            changes,
        ),
        Path::Filtered(attribute, filter, sub) if attribute.eq_ignore_ascii_case("emails") => {
            // Zoom keeps one address, the work (primary) one: only a path naming it changes it.
            let names_work = match &filter {
                (name, Value::String(kind)) => {
                    name.eq_ignore_ascii_case("type") && kind.eq_ignore_ascii_case("work")
                }
                (name, Value::Bool(true)) => name.eq_ignore_ascii_case("primary"),
                _ => false,
            };
            if !names_work
                || !sub
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case("value"))
            {
                return Err(ScimRefusal::InvalidPatch(format!("path {:?}", short(path))));
            }
            let email = serde_json::json!([{ "value": value, "primary": true }]);
            read_attributes(&Map::from_iter([("emails".into(), email)]), changes)
        }
        Path::Filtered(attribute, filter, sub) => {
            changes.upserts.push(Upsert {
                attribute,
                filter,
                sub,
                value,
            });
            Ok(())
        }
    }
}

/// An attribute path of RFC 7644 §3.10, as far as a user's attributes go.
enum Path {
    /// `active`, `urn:…:User` (a whole extension).
    Attribute(String),
    /// `name.givenName`, `urn:…:enterprise:2.0:User:department`.
    Sub(String, String),
    /// `phoneNumbers[type eq "work"].value`, `roles[primary eq true]`: items of a multi-valued attribute.
    Filtered(String, (String, Value), Option<String>),
}

fn parse_path(path: &str) -> Result<Path, ScimRefusal> {
    let unsupported = || ScimRefusal::InvalidPatch(format!("path {:?}", short(path)));
    if path.len() > 300 {
        return Err(unsupported());
    }
    // A schema URN: the attribute after its last `:` (versions such as `2.0` hold dots, not separators).
    if path.to_ascii_lowercase().starts_with("urn:") {
        return Ok(
            match KNOWN_EXTENSIONS
                .iter()
                .find(|urn| path.eq_ignore_ascii_case(urn))
            {
                Some(urn) => Path::Attribute(urn.to_string()),
                None => {
                    let (urn, attribute) = path.rsplit_once(':').ok_or_else(unsupported)?;
                    let sub = attribute.split('.').next().unwrap_or(attribute);
                    if !plausible_attribute(sub) {
                        return Err(unsupported());
                    }
                    Path::Sub(urn.to_string(), sub.to_string())
                }
            },
        );
    }
    if let Some((attribute, rest)) = path.split_once('[') {
        let (filter, after) = rest.split_once(']').ok_or_else(unsupported)?;
        let sub = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix('.')
                    .filter(|s| plausible_attribute(s))
                    .ok_or_else(unsupported)?,
            ),
        };
        let mut words = filter.trim().splitn(3, char::is_whitespace);
        let (Some(name), Some(op), Some(value)) = (words.next(), words.next(), words.next()) else {
            return Err(unsupported());
        };
        if !op.eq_ignore_ascii_case("eq")
            || !plausible_attribute(attribute)
            || !plausible_attribute(name)
        {
            return Err(unsupported());
        }
        let value = match value.trim() {
            v if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("\"true\"") => {
                Value::Bool(true)
            }
            v if v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("\"false\"") => {
                Value::Bool(false)
            }
            v => Value::String(v.trim_matches('"').to_string()),
        };
        return Ok(Path::Filtered(
            attribute.to_string(),
            (name.to_string(), value),
            sub.map(str::to_string),
        ));
    }
    match path.split_once('.') {
        None if plausible_attribute(path) => Ok(Path::Attribute(path.to_string())),
        Some((parent, child)) if plausible_attribute(parent) && plausible_attribute(child) => {
            Ok(Path::Sub(parent.to_string(), child.to_string()))
        }
        _ => Err(unsupported()),
    }
}

const KNOWN_EXTENSIONS: [&str; 3] = [
    ENTERPRISE_SCHEMA,
    ZOOM_USER_SCHEMA,
    "urn:ietf:params:scim:schemas:extension:zoom:1.0:User",
];

/// A name cut short for an error message.
fn short(name: &str) -> String {
    name.chars().take(100).collect()
}

/// A PATCH on the items of a multi-valued attribute that match a filter: `sub` of each set (or, with no `sub`,
/// each replaced), a new item added when none matches; a `null` value removes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Upsert {
    pub attribute: String,
    pub filter: (String, Value),
    pub sub: Option<String>,
    pub value: Value,
}

impl Upsert {
    fn matches(&self, item: &Value) -> bool {
        let (name, wanted) = &self.filter;
        let found = item
            .as_object()
            .and_then(|i| i.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v);
        match (found, wanted) {
            (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (Some(a), b) => a == b,
            (None, _) => false,
        }
    }

    fn apply(&self, items: &mut Vec<Value>) {
        match (&self.sub, &self.value) {
            (None, Value::Null) => items.retain(|item| !self.matches(item)),
            (Some(sub), value) => {
                let mut any = false;
                for item in items.iter_mut().filter(|item| self.matches(item)) {
                    if let Some(item) = item.as_object_mut() {
                        if value.is_null() {
                            item.remove(sub);
                        } else {
                            item.insert(sub.clone(), value.clone());
                        }
                        any = true;
                    }
                }
                if !any && !value.is_null() {
                    let (name, wanted) = &self.filter;
                    items.push(serde_json::json!({ name: wanted, sub: value }));
                }
            }
            (None, value) => {
                let position = items.iter().position(|item| self.matches(item));
                match position {
                    Some(at) => items[at] = value.clone(),
                    None => items.push(value.clone()),
                }
            }
        }
    }
}

/// Lays `changes`' kept attributes and upserts over what a user keeps: extension objects merge key by key (a
/// `null` removes a key), other attributes replace (a `null` removes them). The result is checked against Zoom's
/// descriptions again and kept within `MAX_KEPT_ATTRIBUTES`.
pub fn keep_attributes(
    kept: &mut Map<String, Value>,
    changes: &ScimChanges,
) -> Result<(), ScimRefusal> {
    for (name, value) in &changes.kept {
        match (kept.get_mut(name), value) {
            (_, Value::Null) => {
                kept.remove(name);
            }
            (Some(Value::Object(stored)), Value::Object(patch)) if name.starts_with("urn:") => {
                for (key, value) in patch {
                    if value.is_null() {
                        stored.remove(key);
                    } else {
                        stored.insert(key.clone(), value.clone());
                    }
                }
            }
            _ => {
                kept.insert(name.clone(), value.clone());
            }
        }
    }
    for upsert in &changes.upserts {
        let name = ATTRIBUTES
            .keys()
            .find(|known| known.eq_ignore_ascii_case(&upsert.attribute))
            .cloned()
            .unwrap_or_else(|| upsert.attribute.clone());
        let mut items = match kept.remove(&name) {
            Some(Value::Array(items)) => items,
            Some(single @ Value::Object(_)) => vec![single],
            _ => Vec::new(),
        };
        upsert.apply(&mut items);
        if let Some(schema) = ATTRIBUTES.get(&name) {
            check_open(schema, &Value::Array(items.clone()), &name)
                .map_err(|_| ScimRefusal::InvalidValue(short(&name)))?;
        }
        if !items.is_empty() {
            kept.insert(name, Value::Array(items));
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
