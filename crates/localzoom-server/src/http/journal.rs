//! Recording calls to Zoom's API (`/v2`, `/oauth`, `/scim2`) into the journal (`gate::journal`), and the control
//! API that reads it. Only while the control API is on: nobody else could read it, and a server under load
//! without it pays nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use http_body_util::BodyExt;
use localzoom_api::control::RecordedCall;
use localzoom_api::operations::{Api, OPERATIONS, Operation};
use serde_json::{Value, json};

use super::control::Admin;
use super::input::{Query, media_type, parse_form, reads_as_json};
use super::listener::ResetConnection;
use crate::clock::rfc3339;
use crate::domain::error::DomainError;
use crate::error::ApiError;
use crate::gate::journal::{
    self, Caller, JournalEntry, JournalFilter, MAX_BODY_BYTES, redact, redact_pairs,
};
use crate::gate::state::AppState;

/// A fault rule's id on a response it made, for the journal to mark the call.
#[derive(Debug, Clone)]
pub struct Faulted(pub String);

/// The first bytes of a body as it streams past, and its whole length.
#[derive(Default)]
struct Captured {
    head: Vec<u8>,
    length: usize,
}

impl Captured {
    fn take(&mut self, data: &[u8]) {
        self.length += data.len();
        let room = (MAX_BODY_BYTES + 1).saturating_sub(self.head.len());
        self.head.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// A call being recorded.
pub struct Recording {
    time_ms: i64,
    method: String,
    path: String,
    query: Option<String>,
    operation: Option<&'static Operation>,
    route: Option<String>,
    /// The request's `Content-Type` (a multipart body's boundary is in it).
    content_type: Option<axum::http::HeaderValue>,
    /// The client id of an OAuth call's Basic authentication, and the account its query or body names.
    basic_client: Option<String>,
    request_body: Arc<Mutex<Captured>>,
}

pub fn journaled(path: &str) -> bool {
    ["/v2/", "/oauth/", "/scim2/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// The operation of the table served at this route.
pub fn operation_at(method: &str, route: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| {
        op.method.as_str() == method
            && match op.api {
                Api::V2 => route.strip_prefix("/v2") == Some(op.path),
                Api::Scim2 => route == op.path,
            }
    })
}

/// The `{userId}` of `path`, served at the route template `route`, percent-decoded (a `+` stays a `+`: paths are
/// not forms, and e-mails hold them).
fn user_in(route: &str, path: &str) -> Option<String> {
    let at = route.split('/').position(|segment| segment == "{userId}")?;
    let raw = path.split('/').nth(at)?.as_bytes();
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = (raw[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(raw[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// Starts recording `request` if the journal is on and the path is one of Zoom's; the body is copied as the
/// handler reads it, so limits and timeouts stay the handler's.
pub fn start(state: &AppState, request: Request) -> (Request, Option<Box<Recording>>) {
    if state.control.journal.is_none() || !journaled(request.uri().path()) {
        return (request, None);
    }
    let (parts, body) = request.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|r| r.as_str().to_string());
    let method = parts.method.as_str().to_string();
    let basic_client = super::oauth::basic_credentials(&parts.headers).map(|(client, _)| client);
    let recording = Recording {
        time_ms: state.now(),
        operation: route.as_deref().and_then(|r| operation_at(&method, r)),
        method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(redacted_query),
        route,
        content_type: parts.headers.get(CONTENT_TYPE).cloned(),
        basic_client,
        request_body: Arc::default(),
    };
    let sink = recording.request_body.clone();
    let body = body.map_frame(move |frame| {
        if let (Some(data), Ok(mut sink)) = (frame.data_ref(), sink.lock()) {
            sink.take(data);
        }
        frame
    });
    (
        Request::from_parts(parts, Body::new(body)),
        Some(Box::new(recording)),
    )
}

fn redacted_query(query: &str) -> String {
    match parse_form(query.as_bytes()) {
        Some(pairs) => serde_urlencoded::to_string(redact_pairs(pairs)).unwrap_or_default(),
        None => "[unreadable]".into(),
    }
}

/// A body as the journal keeps it: JSON and forms with their secrets redacted; anything else (files, pages,
/// text that is not JSON) by its type and size only, since what it holds cannot be redacted.
fn kept_body(bytes: &[u8], length: usize, content_type: &str) -> Option<Value> {
    if length == 0 {
        return None;
    }
    let described = |what: &str| Some(Value::String(format!("[{what}, {length} bytes]")));
    if length > MAX_BODY_BYTES {
        return described("not kept");
    }
    if reads_as_json(content_type)
        && let Ok(value) = serde_json::from_slice::<Value>(bytes)
    {
        return Some(redact(value));
    }
    if content_type == "application/x-www-form-urlencoded"
        && let Some(pairs) = parse_form(bytes)
    {
        let form = redact_pairs(pairs)
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        return Some(Value::Object(form));
    }
    described(if content_type.is_empty() {
        "unreadable"
    } else {
        content_type
    })
}

/// A multipart body's text fields (as the seeds send `password` and `action`), secrets redacted; `None` when it
/// cannot be read that way (a file part).
async fn multipart_kept(
    content_type: &axum::http::HeaderValue,
    bytes: axum::body::Bytes,
) -> Option<Value> {
    let request = Request::builder()
        .header(CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .ok()?;
    let fields = super::input::multipart_fields(request).await.ok()?;
    Some(redact(Value::Object(fields)))
}

impl Recording {
    /// Records the finished call; the response goes on unchanged.
    pub async fn finish(
        self: Box<Self>,
        state: &AppState,
        response: Response,
        (caller, tracking_id, latency): (Option<Caller>, &str, Duration),
    ) -> Response {
        let Some(journal) = &state.control.journal else {
            return response;
        };
        let (parts, body) = response.into_parts();
        // localzoom's answers are whole in memory already: collecting them costs a copy, not a wait.
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        // A dropped connection answered nothing: 0.
        let status = if parts.extensions.get::<ResetConnection>().is_some() {
            0
        } else {
            parts.status.as_u16()
        };
        let response_body = kept_body(
            &bytes,
            bytes.len(),
            &media_type(parts.headers.get(CONTENT_TYPE)),
        );
        let code = (status >= 400)
            .then(|| response_body.as_ref()?.get("code")?.as_i64())
            .flatten();
        // The handler is done with the body: what was copied of it is the recording's alone now.
        let (request_head, request_length) = self
            .request_body
            .lock()
            .map(|mut c| {
                (
                    axum::body::Bytes::from(std::mem::take(&mut c.head)),
                    c.length,
                )
            })
            .unwrap_or_default();
        let request_type = media_type(self.content_type.as_ref());
        let request_body = match &self.content_type {
            Some(header)
                if request_type == "multipart/form-data" && request_length <= MAX_BODY_BYTES =>
            {
                multipart_kept(header, request_head.clone()).await
            }
            _ => None,
        }
        .or_else(|| kept_body(&request_head, request_length, &request_type));
        let (account_id, client_id) = match caller {
            Some((account, client)) => (Some(account), Some(client)),
            None => (self.named_account(request_body.as_ref()), self.basic_client),
        };
        let call = RecordedCall {
            tracking_id: tracking_id.to_string(),
            time: rfc3339(self.time_ms),
            user: self
                .route
                .as_deref()
                .and_then(|route| user_in(route, &self.path)),
            method: self.method,
            path: self.path,
            query: self.query,
            operation: self.operation.map(|op| op.name.to_string()),
            account_id,
            client_id,
            status,
            code,
            latency_ms: latency.as_secs_f64() * 1000.0,
            request_body,
            response_body,
            fault: parts.extensions.get::<Faulted>().map(|f| f.0.clone()),
        };
        journal.record(JournalEntry {
            time_ms: self.time_ms,
            call,
        });
        Response::from_parts(parts, Body::from(bytes))
    }

    /// The `account_id` an OAuth call names in its query or form body (the token grant's).
    fn named_account(&self, body: Option<&Value>) -> Option<String> {
        let from_query = self
            .query
            .as_deref()
            .and_then(|q| parse_form(q.as_bytes()))
            .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == "account_id"))
            .map(|(_, id)| id);
        from_query.or_else(|| Some(body?.get("account_id")?.as_str()?.to_string()))
    }
}

/// The filters of `GET /_localzoom/v1/requests` and `…/count`.
fn filter(query: &Query) -> Result<JournalFilter, ApiError> {
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        query
            .get(name)
            .map(|t| {
                crate::clock::parse_rfc3339(t)
                    .ok_or_else(|| ApiError::from(DomainError::field(name, "Invalid field.")))
            })
            .transpose()
    };
    let status = query
        .int("status")?
        .map(|s| u16::try_from(s).map_err(|_| DomainError::field("status", "Invalid field.")))
        .transpose()?;
    Ok(JournalFilter {
        operation: query.get("operation").map(str::to_string),
        account_id: query.get("account_id").map(str::to_string),
        status,
        user: query.get("user").map(str::to_string),
        since: query.get("since").map(str::to_string),
        from_ms: time("from")?,
        to_ms: time("to")?,
    })
}

fn the_journal(state: &AppState) -> Result<&journal::Journal, ApiError> {
    state.control.journal.as_ref().ok_or_else(|| {
        DomainError::Invalid(
            "The request journal is off: start the server with --journal-size above 0.".into(),
        )
        .into()
    })
}

/// `GET /_localzoom/v1/requests`: `{"requests": […], "dropped": N}`, oldest first.
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let (entries, dropped) = the_journal(&state)?.list(&filter(&query)?);
    Ok(Json(json!({ "requests": entries, "dropped": dropped })))
}

/// `GET /_localzoom/v1/requests/count`: `{"count": N}`, with the same filters.
pub async fn count(
    State(state): State<AppState>,
    _admin: Admin,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let count = the_journal(&state)?.count(&filter(&query)?);
    Ok(Json(json!({ "count": count })))
}

/// `DELETE /_localzoom/v1/requests`: forgets every entry.
pub async fn clear(State(state): State<AppState>, _admin: Admin) -> Result<StatusCode, ApiError> {
    the_journal(&state)?.clear(None);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::user_in;

    #[test]
    fn the_user_of_a_path_is_percent_decoded_and_keeps_its_plus() {
        let route = "/v2/users/{userId}/status";
        for (path, user) in [
            ("/v2/users/abc/status", Some("abc")),
            (
                "/v2/users/ann%2Btag%40example.com/status",
                Some("ann+tag@example.com"),
            ),
            (
                "/v2/users/ann+tag@example.com/status",
                Some("ann+tag@example.com"),
            ),
            ("/v2/users/%ZZ/status", Some("%ZZ")),
            ("/v2/users/%FF/status", None),
        ] {
            assert_eq!(user_in(route, path).as_deref(), user, "{path}");
        }
        assert_eq!(user_in("/v2/users", "/v2/users"), None);
    }
}
