//! The console's requests: the journal, newest first and live, and one call with its redacted bodies.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use localzoom_api::control::RecordedCall;

use super::{BASE, Signed, encode, encode_path, escape, fragment, message_page, page};
use crate::gate::journal::JournalFilter;
use crate::gate::state::AppState;
use crate::http::input::{PathParams, Query};

/// Journal rows a page shows: the newest.
const REQUEST_ROWS: usize = 200;

/// `GET /_localzoom/ui/requests?operation=&status=&account=` (`&rows=1`: only the table's rows, which the page's
/// script fetches every second to stay live).
pub(super) async fn requests_page(
    State(state): State<AppState>,
    signed: Signed,
    query: Query,
) -> Response {
    let Some(journal) = &state.control.journal else {
        return page(
            StatusCode::OK,
            "Requests",
            Some(&signed),
            "<h1>Requests</h1><p>The journal is off (<code>serve --journal-size 0</code>).</p>",
        );
    };
    let text = |name| {
        query
            .get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let filter = JournalFilter {
        operation: text("operation"),
        account_id: text("account"),
        status: query.get("status").and_then(|s| s.trim().parse().ok()),
        ..JournalFilter::default()
    };
    let rows: String = journal
        .newest(&filter, REQUEST_ROWS)
        .iter()
        .map(request_row)
        .collect();
    if query.get("rows") == Some("1") {
        return fragment(rows);
    }
    let poll = encode(&[
        ("operation", filter.operation.as_deref().unwrap_or("")),
        (
            "status",
            &filter.status.map(|s| s.to_string()).unwrap_or_default(),
        ),
        ("account", filter.account_id.as_deref().unwrap_or("")),
        ("rows", "1"),
    ]);
    page(
        StatusCode::OK,
        "Requests",
        Some(&signed),
        &format!(
            r#"<h1>Requests</h1>
<form method="get" action="{BASE}/requests" class="filters">
<label>Operation <input name="operation" value="{operation}" placeholder="userStatus"></label>
<label>Status <input name="status" value="{status}" size="4" inputmode="numeric"></label>
<label>Account <input name="account" value="{account}"></label>
<button type="submit">Show</button>
</form>
<p class="hint">The newest {REQUEST_ROWS} calls first; this table follows new calls live.</p>
<table id="requests"><thead><tr><th>Time</th><th>Call</th><th>Operation</th><th>Account</th><th>Status</th>
<th>Code</th><th>ms</th></tr></thead><tbody data-poll="{BASE}/requests?{poll}">{rows}</tbody></table>"#,
            poll = escape(&poll),
            operation = escape(filter.operation.as_deref().unwrap_or("")),
            status = filter.status.map(|s| s.to_string()).unwrap_or_default(),
            account = escape(filter.account_id.as_deref().unwrap_or("")),
        ),
    )
}

fn request_row(call: &RecordedCall) -> String {
    format!(
        r#"<tr><td>{time}</td><td><a href="{BASE}/requests/{tracking}">{method} {path}</a></td><td>{operation}</td>
<td>{account}</td><td class="http-{class}xx">{status}</td><td>{code}</td><td>{latency:.1}</td></tr>"#,
        time = escape(&call.time),
        tracking = escape(&encode_path(&call.tracking_id)),
        method = escape(&call.method),
        path = escape(&call.path),
        operation = escape(call.operation.as_deref().unwrap_or("")),
        account = escape(call.account_id.as_deref().unwrap_or("")),
        class = call.status / 100,
        status = call.status,
        code = call.code.map(|c| c.to_string()).unwrap_or_default(),
        latency = call.latency_ms,
    )
}

/// `GET /_localzoom/ui/requests/{trackingId}`: one call, its bodies as the journal kept them (redacted).
pub(super) async fn request_page(
    State(state): State<AppState>,
    signed: Signed,
    PathParams(tracking_id): PathParams<String>,
) -> Response {
    let found = state
        .control
        .journal
        .as_ref()
        .and_then(|journal| journal.get(&tracking_id));
    let Some(call) = found else {
        return message_page(
            StatusCode::NOT_FOUND,
            "Not in the journal",
            "The journal does not hold this call (it keeps the newest calls only).",
        );
    };
    let pretty = |body: &Option<serde_json::Value>| {
        body.as_ref()
            .map(|b| serde_json::to_string_pretty(b).unwrap_or_default())
            .unwrap_or_else(|| "(none)".into())
    };
    let fields: String = [
        ("Tracking id", call.tracking_id.clone()),
        ("Time", call.time.clone()),
        ("Call", format!("{} {}", call.method, call.path)),
        ("Query", call.query.clone().unwrap_or_default()),
        ("Operation", call.operation.clone().unwrap_or_default()),
        ("Account", call.account_id.clone().unwrap_or_default()),
        ("App", call.client_id.clone().unwrap_or_default()),
        ("User", call.user.clone().unwrap_or_default()),
        ("Status", call.status.to_string()),
        (
            "Zoom code",
            call.code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        ("Latency", format!("{:.1} ms", call.latency_ms)),
        ("Fault rule", call.fault.clone().unwrap_or_default()),
    ]
    .iter()
    .map(|(name, value)| format!("<tr><th>{name}</th><td>{}</td></tr>", escape(value)))
    .collect();
    page(
        StatusCode::OK,
        "Request",
        Some(&signed),
        &format!(
            r#"<h1>{method} {path}</h1><table id="call">{fields}</table>
<h2>Request body</h2><pre id="request-body">{request}</pre><h2>Response body</h2><pre id="response-body">{response}</pre>"#,
            method = escape(&call.method),
            path = escape(&call.path),
            request = escape(&pretty(&call.request_body)),
            response = escape(&pretty(&call.response_body)),
        ),
    )
}
