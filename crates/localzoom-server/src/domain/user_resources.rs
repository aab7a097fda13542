//! What Zoom keeps for a user but offers no API to create: collaboration devices (Personal Zoom Rooms), meeting
//! summary templates and meeting templates. A test suite loads them through the control API; each is checked
//! against the shape Zoom's spec gives its reads, so every later read is a valid Zoom answer.

use std::sync::LazyLock;

use serde_json::Value;

use super::error::DomainError;
use super::schema::check;

localzoom_api::wire_names! {
    /// A kind of user resource, by the name of its collection in Zoom's paths.
    ResourceKind {
        CollaborationDevice = "collaboration_devices",
        MeetingSummaryTemplate = "meeting_summary_templates",
        MeetingTemplate = "meeting_templates",
    }
}

/// Most resources of one kind a user may hold: Zoom lists them unpaged.
pub const MAX_PER_USER: usize = 100;

impl ResourceKind {
    /// The field that names a resource of this kind.
    pub fn id_field(self) -> &'static str {
        match self {
            ResourceKind::MeetingSummaryTemplate => "meeting_summary_template_id",
            ResourceKind::CollaborationDevice | ResourceKind::MeetingTemplate => "id",
        }
    }

    /// The shape of one resource as Zoom's spec answers it.
    fn schema(self) -> &'static Value {
        let [device, summary_template, meeting_template] = &*SCHEMAS;
        match self {
            ResourceKind::CollaborationDevice => device,
            ResourceKind::MeetingSummaryTemplate => summary_template,
            ResourceKind::MeetingTemplate => meeting_template,
        }
    }
}

static SCHEMAS: LazyLock<[Value; 3]> = LazyLock::new(|| {
    let spec: Value =
        serde_json::from_str(crate::spec::USERS).expect("the vendored Users spec is JSON");
    let ok = |path: &str| {
        spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    [
        ok("/users/{userId}/collaboration_devices/{collaborationDeviceId}"),
        ok("/users/{userId}/meeting_summary_templates")["items"].clone(),
        ok("/users/{userId}/meeting_templates/{meetingTemplateId}"),
    ]
});

/// A resource to keep: checked against Zoom's shape (unknown fields refused), named `new_id` unless it names
/// itself. Returns its id and the resource as reads will answer it.
pub fn prepare(
    kind: ResourceKind,
    body: Value,
    new_id: String,
) -> Result<(String, Value), DomainError> {
    let Value::Object(mut resource) = body else {
        return Err(DomainError::field("body", "Invalid field."));
    };
    let id_field = kind.id_field();
    let id = match resource.get(id_field) {
        None => new_id,
        Some(Value::String(id)) if valid_id(id) => id.clone(),
        Some(_) => return Err(DomainError::field(id_field, "Invalid field.")),
    };
    resource.insert(id_field.into(), id.clone().into());
    let resource = Value::Object(resource);
    check(kind.schema(), &resource, "")?;
    Ok((id, resource))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_take_zoom_shapes_only() {
        let (id, device) = prepare(
            ResourceKind::CollaborationDevice,
            json!({"device_name": "Desk", "room_name": "My Room", "status": "Online"}),
            "generated".into(),
        )
        .unwrap();
        assert_eq!(
            (id.as_str(), &device["id"]),
            ("generated", &json!("generated"))
        );
        for (kind, body, field) in [
            (
                ResourceKind::CollaborationDevice,
                json!({"status": "Asleep"}),
                "status",
            ),
            (
                ResourceKind::CollaborationDevice,
                json!({"colour": "red"}),
                "colour",
            ),
            (
                ResourceKind::MeetingSummaryTemplate,
                json!({"name": "T"}),
                "description",
            ),
            (
                ResourceKind::MeetingTemplate,
                json!({"id": "a b", "name": "T"}),
                "id",
            ),
            (
                ResourceKind::MeetingTemplate,
                json!({"name": "T", "settings": {"in_meeting": {"entry_exit_chime": "loud"}}}),
                "settings.in_meeting.entry_exit_chime",
            ),
        ] {
            assert_eq!(
                prepare(kind, body.clone(), "x".into()).unwrap_err(),
                DomainError::field(field, "Invalid field."),
                "{body}"
            );
        }
    }
}
