//! A user's settings (`GET/PATCH /users/{userId}/settings`), driven by Zoom's own schema: the shapes GET answers
//! and PATCH accepts are read from the vendored Users spec, so every one of Zoom's hundreds of settings is
//! answered with a value of its documented type and every PATCH field is checked against its type, enum and
//! bounds. What a user changed is kept as overrides over the defaults; reads merge the two.

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::error::DomainError;
use super::schema::{check, conforms, known_to};
use super::user::UserType;

/// Most names one `custom_query_fields` may list, and the longest name: Zoom's setting names are short.
pub const MAX_QUERY_FIELDS: usize = 64;
const MAX_QUERY_FIELD_LEN: usize = 100;

/// The `option` query parameter of both operations: which of Zoom's settings shapes is read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsOption {
    /// No `option`: every setting group (`schedule_meeting`, `in_meeting`, …).
    All,
    MeetingAuthentication,
    RecordingAuthentication,
    MeetingSecurity,
}

impl SettingsOption {
    pub fn parse(option: Option<&str>) -> Option<SettingsOption> {
        match option {
            None | Some("") => Some(SettingsOption::All),
            Some("meeting_authentication") => Some(SettingsOption::MeetingAuthentication),
            Some("recording_authentication") => Some(SettingsOption::RecordingAuthentication),
            Some("meeting_security") => Some(SettingsOption::MeetingSecurity),
            Some(_) => None,
        }
    }

    /// The stored group this option reads and writes; `None` for the whole of `All`'s groups.
    fn group(self) -> Option<&'static str> {
        match self {
            SettingsOption::All => None,
            SettingsOption::MeetingAuthentication => Some("meeting_authentication"),
            SettingsOption::RecordingAuthentication => Some("recording_authentication"),
            SettingsOption::MeetingSecurity => Some("meeting_security"),
        }
    }
}

/// Zoom's schemas, taken from the spec once: per option, what GET answers (from which defaults are derived)
/// and what PATCH accepts.
struct Schemas {
    all_get: Value,
    all_patch: Value,
    meeting_auth_get: Value,
    meeting_auth_patch: Value,
    recording_auth_get: Value,
    recording_auth_patch: Value,
    security_get: Value,
    security_patch: Value,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let spec: Value =
        serde_json::from_str(crate::spec::USERS).expect("the vendored Users spec is JSON");
    let operation = &spec["paths"]["/users/{userId}/settings"];
    let get =
        &operation["get"]["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"];
    let patch =
        &operation["patch"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"];
    // GET's variants: [0] all groups, [2] the authentication option (meeting, recording), [3] meeting security.
    // PATCH's: [0] all groups, [1] the authentication update (meeting, recording), [2] meeting security.
    Schemas {
        all_get: get[0].clone(),
        all_patch: patch[0].clone(),
        meeting_auth_get: get[2]["oneOf"][0].clone(),
        meeting_auth_patch: patch[1]["oneOf"][0].clone(),
        recording_auth_get: get[2]["oneOf"][1].clone(),
        recording_auth_patch: patch[1]["oneOf"][1].clone(),
        security_get: get[3]["properties"]["meeting_security"].clone(),
        security_patch: patch[2].clone(),
    }
});

/// A fresh user's settings, per stored group: Zoom's declared defaults; where Zoom declares none, booleans off,
/// enumerations and numbers Zoom's example value, free text and lists empty (fidelity row 97).
static DEFAULTS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    let schemas = &*SCHEMAS;
    let mut groups = match defaults_of(&schemas.all_get) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    groups.insert(
        "meeting_authentication".into(),
        authentication_defaults(&schemas.meeting_auth_get, "meeting_authentication"),
    );
    groups.insert(
        "recording_authentication".into(),
        authentication_defaults(&schemas.recording_auth_get, "recording_authentication"),
    );
    groups.insert(
        "meeting_security".into(),
        defaults_of(&schemas.security_get),
    );
    groups
});

/// The authentication options every account starts with (Zoom's "Sign in to Zoom" profiles); a user can show,
/// hide or edit them, not add new ones (PATCH's `action` has no `add`).
fn authentication_defaults(schema: &Value, switch: &str) -> Value {
    let option = |id: &str, name: &str, kind: &str, default: bool| json!({ "id": id, "name": name, "type": kind, "default_option": default, "visible": true, "domains": "" });
    let second = if switch == "meeting_authentication" {
        option(
            "signin_zoom_domains",
            "Sign in to Zoom with specified domains",
            "enforce_login_with_domains",
            false,
        )
    } else {
        option(
            "internally",
            "Only users in my account",
            "internally",
            false,
        )
    };
    let mut group = defaults_of(schema);
    if let Some(group) = group.as_object_mut() {
        let first = option("signin_zoom", "Sign in to Zoom", "enforce_login", true);
        group.insert("authentication_options".into(), json!([first, second]));
    }
    group
}

fn defaults_of(schema: &Value) -> Value {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let feature = properties.contains_key("large_meeting");
        return Value::Object(
            properties
                .iter()
                .map(|(name, property)| {
                    let mut value = defaults_of(property);
                    // Add-ons (webinar, large meetings, Zoom Events …) are off until an admin turns them on.
                    if feature && value.is_boolean() {
                        value = Value::Bool(false);
                    }
                    (name.clone(), value)
                })
                .collect(),
        );
    }
    if let Some(default) = schema.get("default")
        && conforms(schema, default)
    {
        return default.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("boolean") => Value::Bool(false),
        Some("array") => json!([]),
        Some("object") => json!({}),
        Some("integer" | "number") => schema
            .get("example")
            .filter(|example| conforms(schema, example))
            .cloned()
            .unwrap_or(json!(0)),
        _ => match schema.get("enum").and_then(Value::as_array) {
            Some(values) => schema
                .get("example")
                .filter(|example| values.contains(example))
                .or_else(|| values.first())
                .cloned()
                .unwrap_or(json!("")),
            None => json!(""),
        },
    }
}

/// What GET answers for `option`: the defaults with the user's overrides laid over them, and for `All` the
/// user's uploaded virtual backgrounds (`files`) and the features the user's type carries.
pub fn view(option: SettingsOption, stored: &Map<String, Value>, files: Vec<Value>) -> Value {
    let group = |name: &str| {
        let mut value = DEFAULTS.get(name).cloned().unwrap_or(json!({}));
        // Only an object can be laid over a group (an import could carry anything).
        if let Some(overrides) = stored.get(name).filter(|o| o.is_object()) {
            merge(&mut value, overrides);
        }
        value
    };
    match option.group() {
        Some(name) if option == SettingsOption::MeetingSecurity => json!({ name: group(name) }),
        Some(name) => group(name),
        None => {
            let mut all = Map::new();
            for name in SCHEMAS.all_get["properties"]
                .as_object()
                .into_iter()
                .flat_map(|p| p.keys())
            {
                all.insert(name.clone(), group(name));
            }
            let mut all = Value::Object(all);
            if let Some(settings) = all
                .pointer_mut("/in_meeting/virtual_background_settings")
                .and_then(Value::as_object_mut)
            {
                settings.insert("files".into(), Value::Array(files));
            }
            all
        }
    }
}

/// `custom_query_fields`: only the named settings (at any depth), each inside its group, as Zoom's example shows
/// (`host_video` → `{"schedule_meeting":{"host_video":false}}`).
pub fn only_fields(view: &Value, names: &[&str]) -> Value {
    match view {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter_map(|(key, value)| {
                    if names.contains(&key.as_str()) {
                        return Some((key.clone(), value.clone()));
                    }
                    match only_fields(value, names) {
                        Value::Object(inner) if !inner.is_empty() => {
                            Some((key.clone(), Value::Object(inner)))
                        }
                        _ => None,
                    }
                })
                .collect(),
        ),
        _ => json!({}),
    }
}

/// Splits a `custom_query_fields` value; `None` when it lists too many names or names no setting could have.
pub fn query_field_names(value: &str) -> Option<Vec<&str>> {
    let names: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let plausible = |name: &&str| {
        name.len() <= MAX_QUERY_FIELD_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    (names.len() <= MAX_QUERY_FIELDS && names.iter().all(plausible)).then_some(names)
}

/// Checks a PATCH body against Zoom's schema for `option` and Zoom's rules for `user_type`, then lays it over
/// `stored`. Nothing is changed unless all of it is accepted.
pub fn apply_patch(
    option: SettingsOption,
    stored: &mut Map<String, Value>,
    body: &Value,
    user_type: UserType,
) -> Result<(), DomainError> {
    let schemas = &*SCHEMAS;
    match option {
        SettingsOption::All => {
            check(&schemas.all_patch, body, "")?;
            // A setting GET does not answer would be kept and never read back (`in_meeting.auto_answer`).
            known_to(&schemas.all_get, body, "")?;
            for (pointer, field) in [
                // The files are what `POST …/settings/virtual_backgrounds` uploaded; a PATCH cannot make them up.
                (
                    "/in_meeting/virtual_background_settings/files",
                    "in_meeting.virtual_background_settings.files",
                ),
                // Licences are assigned by plan and subscription, which localzoom does not keep (fidelity row 94).
                ("/feature/license_info_list", "feature.license_info_list"),
            ] {
                if body.pointer(pointer).is_some() {
                    return Err(DomainError::field(field, "Invalid field."));
                }
            }
            let mut next = stored.clone();
            for (group, patch) in body.as_object().into_iter().flatten() {
                merge(next.entry(group.clone()).or_insert(json!({})), patch);
            }
            check_features(stored, &next, user_type)?;
            *stored = next;
        }
        SettingsOption::MeetingSecurity => {
            check(&schemas.security_patch, body, "")?;
            if let Some(patch) = body.get("meeting_security") {
                merge(stored.entry("meeting_security").or_insert(json!({})), patch);
            }
        }
        SettingsOption::MeetingAuthentication | SettingsOption::RecordingAuthentication => {
            let (schema, switch) = if option == SettingsOption::MeetingAuthentication {
                (&schemas.meeting_auth_patch, "meeting_authentication")
            } else {
                (&schemas.recording_auth_patch, "recording_authentication")
            };
            check(schema, body, "")?;
            let mut group = view(option, stored, Vec::new());
            if let (Some(on), Some(group)) = (body.get(switch), group.as_object_mut()) {
                group.insert(switch.into(), on.clone());
            }
            if let Some(change) = body.get("authentication_option") {
                change_authentication_option(&mut group, change)?;
            }
            stored.insert(switch.into(), group);
        }
    }
    Ok(())
}

/// One `authentication_option` change: `update` edits an existing option, `show`/`hide` its visibility.
fn change_authentication_option(group: &mut Value, change: &Value) -> Result<(), DomainError> {
    let invalid = |field: &str| {
        DomainError::field(&format!("authentication_option.{field}"), "Invalid field.")
    };
    let id = change
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("id"))?;
    // Options are objects (`view` lays only objects over the defaults, and any stored option that is not one
    // cannot be named).
    let mut options: Vec<&mut Map<String, Value>> = group
        .get_mut("authentication_options")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
        .collect();
    let index = options
        .iter()
        .position(|o| o.get("id").and_then(Value::as_str) == Some(id))
        .ok_or_else(|| invalid("id"))?;
    let action = change
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("update");
    let option = &mut options[index];
    match action {
        "show" => {
            option.insert("visible".into(), json!(true));
        }
        "hide" => {
            option.insert("visible".into(), json!(false));
        }
        _ => {
            for field in ["name", "type", "domains"] {
                if let Some(value) = change.get(field) {
                    option.insert(field.into(), value.clone());
                }
            }
            if change.get("default_option") == Some(&json!(true)) {
                for (i, option) in options.iter_mut().enumerate() {
                    option.insert("default_option".into(), json!(i == index));
                }
            }
        }
    }
    Ok(())
}

/// Zoom's documented refusals for features a user's type cannot carry or that exclude each other (errors 1108,
/// 1122, 1204–1206), judged on the settings as they would be after the PATCH; turning a feature on is what is
/// refused, a feature already on is left alone.
fn check_features(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    user_type: UserType,
) -> Result<(), DomainError> {
    let on = |settings: &Map<String, Value>, name: &str| {
        settings
            .get("feature")
            .and_then(|f| f.get(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let turned_on = |name: &str| on(after, name) && !on(before, name);
    let licensed = matches!(user_type, UserType::Licensed | UserType::OnPrem);
    if turned_on("large_meeting") && !licensed {
        return Err(DomainError::LargeMeetingNeedsLicence);
    }
    if turned_on("webinar") {
        if !licensed {
            return Err(DomainError::WebinarNeedsLicence);
        }
        if on(after, "zoom_events") {
            return Err(DomainError::WebinarWithZoomEvents);
        }
    }
    if turned_on("zoom_events") {
        if !licensed {
            return Err(DomainError::ZoomEventsNeedsLicence);
        }
        if on(after, "webinar") {
            return Err(DomainError::ZoomEventsWithWebinar);
        }
    }
    Ok(())
}

/// JSON merge: objects merge key by key, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every default conforms to the GET schema it came from, so a fresh user's settings are valid Zoom answers.
    #[test]
    fn defaults_conform_to_zoom_schema() {
        let all = view(SettingsOption::All, &Map::new(), Vec::new());
        check(&SCHEMAS.all_get, &all, "").unwrap();
        assert_eq!(all["schedule_meeting"]["host_video"], json!(false));
        assert_eq!(all["feature"]["webinar"], json!(false));
        let security = view(SettingsOption::MeetingSecurity, &Map::new(), Vec::new());
        check(&SCHEMAS.security_get, &security["meeting_security"], "").unwrap();
        let auth = view(
            SettingsOption::MeetingAuthentication,
            &Map::new(),
            Vec::new(),
        );
        check(&SCHEMAS.meeting_auth_get, &auth, "").unwrap();
        let auth = view(
            SettingsOption::RecordingAuthentication,
            &Map::new(),
            Vec::new(),
        );
        check(&SCHEMAS.recording_auth_get, &auth, "").unwrap();
    }

    #[test]
    fn patch_checks_types_enums_and_unknown_names() {
        let mut stored = Map::new();
        for (body, field) in [
            (
                json!({"schedule_meeting": {"host_video": "yes"}}),
                "schedule_meeting.host_video",
            ),
            (
                json!({"in_meeting": {"entry_exit_chime": "loud"}}),
                "in_meeting.entry_exit_chime",
            ),
            (
                json!({"schedule_meeting": {"no_such_setting": true}}),
                "schedule_meeting.no_such_setting",
            ),
            (json!({"no_such_group": {}}), "no_such_group"),
            // Known to PATCH only: GET would never show it.
            (
                json!({"in_meeting": {"auto_answer": true}}),
                "in_meeting.auto_answer",
            ),
            (
                json!({"feature": {"license_info_list": []}}),
                "feature.license_info_list",
            ),
            (
                json!({"tsp": {"call_out_countries": [{"nested": {"deep": 1}}]}}),
                "tsp.call_out_countries.nested",
            ),
            // A valid group before an invalid one: nothing of the body is kept.
            (
                json!({"schedule_meeting": {"host_video": true}, "in_meeting": {"chat": 1}}),
                "in_meeting.chat",
            ),
        ] {
            let error = apply_patch(SettingsOption::All, &mut stored, &body, UserType::Licensed)
                .unwrap_err();
            assert_eq!(error, DomainError::field(field, "Invalid field."), "{body}");
        }
        assert!(stored.is_empty(), "nothing refused is kept");
    }

    /// What a PATCH accepted still conforms to Zoom's GET schema when read back.
    #[test]
    fn a_patched_view_conforms_to_zoom_schema() {
        let mut stored = Map::new();
        let body = json!({
            "schedule_meeting": {"host_video": true, "audio_type": "both"},
            "in_meeting": {"entry_exit_chime": "all", "custom_service_instructions": "Line one\nLine two"},
            "recording": {"auto_recording": "cloud", "auto_delete_cmr_days": 30},
            "tsp": {"call_out_countries": [{"code": "US", "name": "United States"}]},
            "feature": {"webinar": true},
        });
        apply_patch(SettingsOption::All, &mut stored, &body, UserType::Licensed).unwrap();
        let all = view(SettingsOption::All, &stored, Vec::new());
        check(&SCHEMAS.all_get, &all, "").unwrap();
        assert_eq!(
            all["in_meeting"]["custom_service_instructions"],
            json!("Line one\nLine two")
        );
        assert_eq!(all["feature"]["webinar"], json!(true));
    }

    #[test]
    fn query_fields_pick_leaves_inside_their_groups() {
        let all = view(SettingsOption::All, &Map::new(), Vec::new());
        assert_eq!(
            only_fields(&all, &["host_video"]),
            json!({"schedule_meeting": {"host_video": false}})
        );
        assert_eq!(
            query_field_names("host_video, participants_video"),
            Some(vec!["host_video", "participants_video"])
        );
        assert_eq!(query_field_names("a;b"), None);
    }
}
