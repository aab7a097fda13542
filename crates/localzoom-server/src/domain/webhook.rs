//! Zoom's webhooks for users (USERS_API.md §11): the events, what their payloads carry, what a subscription may
//! ask for, and when a failed delivery is tried again. No I/O: the service records events, the sender sends them.

use serde_json::{Map, Value, json};

use super::error::DomainError;
use super::user::{LoginType, PresenceStatus, UserRecord};

localzoom_api::wire_names! {
    /// The `user.*` events of Zoom's webhooks spec (`spec/zoom-users-webhooks.json`).
    Event {
        UserCreated = "user.created",
        UserUpdated = "user.updated",
        UserActivated = "user.activated",
        UserDeactivated = "user.deactivated",
        UserDeleted = "user.deleted",
        UserDisassociated = "user.disassociated",
        UserInvitationAccepted = "user.invitation_accepted",
        UserSettingsUpdated = "user.settings_updated",
        UserSignedIn = "user.signed_in",
        UserSignedOut = "user.signed_out",
        UserPresenceStatusUpdated = "user.presence_status_updated",
        UserPersonalNotesUpdated = "user.personal_notes_updated",
    }
}

localzoom_api::wire_names! {
    /// Where a subscription's endpoint stands with Zoom's URL validation (`endpoint.url_validation`).
    Validation {
        /// Not yet asked: events are kept for it until it answers.
        Pending = "pending",
        Validated = "validated",
        /// It did not answer as Zoom requires: it gets nothing until validated again.
        Failed = "failed",
    }
}

localzoom_api::wire_names! {
    /// Where one event's delivery to one subscription stands.
    DeliveryState {
        Pending = "pending",
        Delivered = "delivered",
        /// Every attempt failed (or the endpoint failed validation): Zoom drops it.
        Dropped = "dropped",
    }
}

/// The most subscriptions one app may have (Zoom's developer docs: 20 event subscriptions per app).
pub const MAX_SUBSCRIPTIONS_PER_APP: usize = 20;
/// Zoom validates an endpoint again every 72 hours.
pub const REVALIDATE_AFTER_MS: i64 = 72 * 3600 * 1000;
/// A delivery succeeds with a 200 or 204 answered within 3 seconds.
pub const DELIVERY_TIMEOUT_MS: u64 = 3000;

/// How long after the `attempts`-th failed attempt the next one is made: Zoom retries three times, 5, 20 and 60
/// minutes after the failures, then drops the event.
pub fn retry_after_ms(attempts: u32) -> Option<i64> {
    const MINUTE: i64 = 60_000;
    match attempts {
        1 => Some(5 * MINUTE),
        2 => Some(20 * MINUTE),
        3 => Some(60 * MINUTE),
        _ => None,
    }
}

/// Whether an endpoint's answer is a success: 200 or 204 (the 3 seconds are the sender's timeout).
pub fn is_success(status: u16) -> bool {
    matches!(status, 200 | 204)
}

/// A subscription as asked for: checked before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub url: String,
    pub secret_token: String,
    pub events: Vec<String>,
}

/// The most bytes of an endpoint URL and of a secret token.
const MAX_URL_BYTES: usize = 2048;
const MAX_SECRET_BYTES: usize = 256;

impl NewSubscription {
    /// The events asked for, each a `user.*` event of Zoom's spec, without repeats; the URL an `http(s)` URL.
    pub fn check(&self) -> Result<Vec<Event>, DomainError> {
        let url = self.url.trim();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.len() > MAX_URL_BYTES || url.chars().any(char::is_whitespace) {
            return Err(DomainError::Invalid(format!(
                "The event notification endpoint URL must be an http:// or https:// URL of at most \
                 {MAX_URL_BYTES} bytes: {:?}",
                self.url
            )));
        }
        if self.secret_token.is_empty() || self.secret_token.len() > MAX_SECRET_BYTES {
            return Err(DomainError::Invalid(format!(
                "The secret token must be 1 to {MAX_SECRET_BYTES} bytes."
            )));
        }
        if self.events.is_empty() {
            return Err(DomainError::Invalid(
                "A subscription needs at least one event.".into(),
            ));
        }
        let mut events = Vec::new();
        for name in &self.events {
            let event = Event::parse(name).ok_or_else(|| {
                DomainError::Invalid(format!(
                    "Unknown event {name:?}: localzoom sends the user events of Zoom's webhooks spec ({}).",
                    Event::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// Who made a change: Zoom's `operator` (e-mail) and `operator_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub email: String,
    pub id: String,
}

/// An event about to be recorded: its name and the payload's fields besides `account_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    pub event: Event,
    pub payload: Map<String, Value>,
}

impl Occurrence {
    /// Zoom's envelope: `{"event", "event_ts", "payload": {"account_id", …}}`.
    pub fn envelope(&self, account_id: &str, event_ts: i64) -> Value {
        let mut payload = self.payload.clone();
        payload.insert("account_id".into(), account_id.into());
        json!({ "event": self.event.as_str(), "event_ts": event_ts, "payload": payload })
    }
}

fn with_operator(operator: &Operator, mut payload: Map<String, Value>) -> Map<String, Value> {
    payload.insert("operator".into(), operator.email.clone().into());
    payload.insert("operator_id".into(), operator.id.clone().into());
    payload
}

fn fields(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The user as the lifecycle events show it: id, names, e-mail, type.
fn brief(user: &UserRecord) -> Value {
    json!({
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "type": user.user_type.code(),
    })
}

/// `user.created`, with how the user was created (`create`, `autoCreate`, `custCreate`, `ssoCreate`).
pub fn created(user: &UserRecord, operator: &Operator, creation_type: &str) -> Occurrence {
    let mut object = brief(user);
    object["display_name"] = user.display_name.clone().into();
    Occurrence {
        event: Event::UserCreated,
        payload: with_operator(
            operator,
            fields(vec![
                ("creation_type", creation_type.into()),
                ("object", object),
            ]),
        ),
    }
}

/// `user.activated`, `user.deactivated`, `user.deleted`, `user.disassociated`: the user and who acted.
pub fn lifecycle(event: Event, user: &UserRecord, operator: &Operator) -> Occurrence {
    Occurrence {
        event,
        payload: with_operator(operator, fields(vec![("object", brief(user))])),
    }
}

/// `user.invitation_accepted`: a pending user's first sign-in (nobody else acts).
pub fn invitation_accepted(user: &UserRecord) -> Occurrence {
    Occurrence {
        event: Event::UserInvitationAccepted,
        payload: fields(vec![("object", brief(user))]),
    }
}

/// The fields of `user.updated`'s `object` that a stored user has, as Zoom names them. `pic_url` comes from the
/// caller when it is known (it is served, not stored).
pub fn profile(user: &UserRecord, pic_url: Option<&str>) -> Map<String, Value> {
    let mut shown = fields(vec![
        ("first_name", user.first_name.clone().into()),
        ("last_name", user.last_name.clone().into()),
        ("display_name", user.display_name.clone().into()),
        ("email", user.email.clone().into()),
        ("type", user.user_type.code().into()),
        ("pmi", user.pmi.into()),
        ("use_pmi", user.use_pmi.into()),
        ("timezone", user.timezone.clone().into()),
        ("dept", user.dept.clone().into()),
        ("language", user.language.clone().into()),
        ("role", user.role.name().into()),
        (
            "vanity_name",
            user.vanity_name.clone().unwrap_or_default().into(),
        ),
    ]);
    if let Some(url) = pic_url {
        shown.insert("pic_url".into(), url.into());
    }
    for name in [
        "phone_number",
        "phone_country",
        "company",
        "host_key",
        "custom_attributes",
    ] {
        if let Some(value) = user.profile.get(name) {
            shown.insert(name.into(), value.clone());
        }
    }
    shown
}

/// `user.updated` from the user's fields before and after: only the fields that changed, in `object` (new) and
/// `old_object` (old), each with the user's id; `operation` for the changes Zoom names (`change_password`,
/// `sign_out_from_all_devices`). Nothing when nothing changed and no operation is named.
pub fn updated(
    user_id: &str,
    (before, after): (&Map<String, Value>, &Map<String, Value>),
    operator: &Operator,
    operation: Option<&str>,
    now: i64,
) -> Option<Occurrence> {
    let mut object = Map::new();
    let mut old_object = Map::new();
    object.insert("id".into(), user_id.into());
    old_object.insert("id".into(), user_id.into());
    for (name, value) in after {
        let old = before.get(name).unwrap_or(&Value::Null);
        if old != value {
            object.insert(name.clone(), value.clone());
            if !old.is_null() {
                old_object.insert(name.clone(), old.clone());
            }
        }
    }
    if object.len() == 1 && operation.is_none() {
        return None;
    }
    let mut payload = fields(vec![
        ("time_stamp", now.into()),
        ("object", object.into()),
        ("old_object", old_object.into()),
    ]);
    if let Some(operation) = operation {
        payload.insert("operation".into(), operation.into());
    }
    Some(Occurrence {
        event: Event::UserUpdated,
        payload: with_operator(operator, payload),
    })
}

/// `user.settings_updated`: the settings that changed (group by group, leaf by leaf), new and old. Nothing when
/// no setting changed.
pub fn settings_updated(
    user_id: &str,
    (before, after): (&Value, &Value),
    operator: &Operator,
    now: i64,
) -> Option<Occurrence> {
    let (new, old) = changed(before, after)?;
    Some(Occurrence {
        event: Event::UserSettingsUpdated,
        payload: with_operator(
            operator,
            fields(vec![
                ("time_stamp", now.into()),
                ("object", json!({ "id": user_id, "settings": new })),
                ("old_object", json!({ "id": user_id, "settings": old })),
            ]),
        ),
    })
}

/// The parts of `after` that differ from `before` (objects compared member by member), and the old values of
/// those parts; `None` when they are equal.
fn changed(before: &Value, after: &Value) -> Option<(Value, Value)> {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let mut new_part = Map::new();
            let mut old_part = Map::new();
            for (name, value) in new {
                let previous = old.get(name).unwrap_or(&Value::Null);
                if let Some((n, o)) = changed(previous, value) {
                    new_part.insert(name.clone(), n);
                    if !o.is_null() {
                        old_part.insert(name.clone(), o);
                    }
                }
            }
            (!new_part.is_empty()).then(|| (new_part.into(), old_part.into()))
        }
        _ if before == after => None,
        _ => Some((after.clone(), before.clone())),
    }
}

/// A client's sign-in session, as `user.signed_in` and `user.signed_out` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSession {
    pub client_type: String,
    pub version: String,
    pub login_type: LoginType,
    pub date_time: String,
}

/// The clients Zoom's `user.signed_in` names.
pub const CLIENT_TYPES: &[&str] = &[
    "browser", "mac", "win", "iphone", "android", "ipad", "chromeos", "linux",
];

/// The client version a sign-in event names when the request names none.
pub const DEFAULT_CLIENT_VERSION: &str = "6.0.0";

/// The client type a sign-in or sign-out names (`browser` when none): one of `CLIENT_TYPES`.
pub fn client_type(given: Option<&str>) -> Result<String, DomainError> {
    match given {
        None => Ok("browser".into()),
        Some(name) if CLIENT_TYPES.contains(&name) => Ok(name.into()),
        Some(_) => Err(DomainError::field("client_type", "Invalid field.")),
    }
}

/// A client's version as the request names it (`6.2.0`): at most 32 letters, digits, dots and dashes.
pub fn client_version(given: Option<String>) -> Result<String, DomainError> {
    match given {
        None => Ok(DEFAULT_CLIENT_VERSION.into()),
        Some(v)
            if !v.is_empty()
                && v.len() <= 32
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')) =>
        {
            Ok(v)
        }
        Some(_) => Err(DomainError::field("version", "Invalid field.")),
    }
}

/// `user.signed_in` (`signed_in`) or `user.signed_out`.
pub fn session(user: &UserRecord, session: &ClientSession, signed_in: bool) -> Occurrence {
    Occurrence {
        event: if signed_in {
            Event::UserSignedIn
        } else {
            Event::UserSignedOut
        },
        payload: fields(vec![(
            "object",
            json!({
                "id": user.id,
                "client_type": session.client_type,
                "date_time": session.date_time,
                "email": user.email,
                "version": session.version,
                "login_type": session.login_type.code(),
            }),
        )]),
    }
}

/// A status as `user.presence_status_updated` names it: its enum spells two of the statuses `PUT` sets otherwise
/// and has no Out of Office, which a client shows as away.
fn event_presence(status: PresenceStatus) -> &'static str {
    match status {
        PresenceStatus::InAZoomMeeting => "In_Meeting",
        PresenceStatus::OnACall => "On_Phone_Call",
        PresenceStatus::OutOfOffice => "Away",
        other => other.as_str(),
    }
}

/// `user.presence_status_updated`: the status the user set from the desktop client.
pub fn presence(user: &UserRecord, status: PresenceStatus, date_time: &str) -> Occurrence {
    Occurrence {
        event: Event::UserPresenceStatusUpdated,
        payload: fields(vec![(
            "object",
            json!({
                "id": user.id,
                "email": user.email,
                "date_time": date_time,
                "presence_status": event_presence(status),
                "app": { "type": "desktop", "presence_status": event_presence(status) },
            }),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_zoom_schedule_then_stop() {
        assert_eq!(retry_after_ms(1), Some(300_000));
        assert_eq!(retry_after_ms(2), Some(1_200_000));
        assert_eq!(retry_after_ms(3), Some(3_600_000));
        assert_eq!(retry_after_ms(4), None);
    }

    #[test]
    fn changed_keeps_only_the_leaves_that_differ() {
        let before =
            json!({"in_meeting": {"chat": true, "polling": false}, "recording": {"local": true}});
        let after =
            json!({"in_meeting": {"chat": false, "polling": false}, "recording": {"local": true}});
        let (new, old) = changed(&before, &after).unwrap();
        assert_eq!(new, json!({"in_meeting": {"chat": false}}));
        assert_eq!(old, json!({"in_meeting": {"chat": true}}));
        assert!(changed(&before, &before).is_none());
    }

    #[test]
    fn subscriptions_name_known_user_events_and_http_urls() {
        let mut asked = NewSubscription {
            url: "http://127.0.0.1:9/hook".into(),
            secret_token: "s".into(),
            events: vec!["user.created".into(), "user.created".into()],
        };
        assert_eq!(asked.check().unwrap(), vec![Event::UserCreated]);
        asked.events = vec!["group.created".into()];
        assert!(asked.check().is_err());
        asked.events = vec!["user.created".into()];
        asked.url = "ftp://x".into();
        assert!(asked.check().is_err());
    }
}
