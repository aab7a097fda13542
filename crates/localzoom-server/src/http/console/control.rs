//! The console's control page: the clock (advance it), fault rules (add, remove), reset, and loading a fixture
//! file. Each does what its control API call does, through the same code.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::{
    BASE, Change, Signed, empty_row, encode_path, error_page, escape, forged, message_page, page,
    plain, see_other,
};
use crate::clock::rfc3339;
use crate::domain::fixture::{FixtureFormat, MAX_FIXTURE_BYTES};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::http::input::{Fields, PathParams, Query};
use crate::http::{control, faults};
use crate::service::reset::ResetScope;

/// What a change just did, shown once on the page it leads back to (a closed set: no text of the request is
/// reflected into the page).
#[derive(Clone, Copy)]
enum Done {
    Clock,
    FaultAdded,
    FaultRemoved,
    Reset,
    Fixture,
}

impl Done {
    const ALL: [Done; 5] = [
        Done::Clock,
        Done::FaultAdded,
        Done::FaultRemoved,
        Done::Reset,
        Done::Fixture,
    ];

    fn key(self) -> &'static str {
        match self {
            Done::Clock => "clock",
            Done::FaultAdded => "fault-added",
            Done::FaultRemoved => "fault-removed",
            Done::Reset => "reset",
            Done::Fixture => "fixture",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Done::Clock => "The clock moved.",
            Done::FaultAdded => "The fault rule was added.",
            Done::FaultRemoved => "The fault rule was removed.",
            Done::Reset => "Reset done.",
            Done::Fixture => "The fixture was loaded.",
        }
    }

    fn redirect(self) -> Response {
        see_other(&format!("{BASE}/control?done={}", self.key()))
    }
}

/// `GET /_localzoom/ui/control`.
pub(super) async fn page_of(
    State(state): State<AppState>,
    signed: Signed,
    query: Query,
) -> Response {
    let rules = match faults::the_rules(&state) {
        Ok(rules) => rules,
        Err(error) => return error_page(&error),
    };
    let csrf = signed.field();
    let notice = query
        .get("done")
        .and_then(|key| Done::ALL.into_iter().find(|d| d.key() == key))
        .map(|done| format!(r#"<p class="notice" role="status">{}</p>"#, done.message()))
        .unwrap_or_default();
    let rules: String = rules
        .list()
        .iter()
        .map(|rule| {
            let view = serde_json::to_value(rule).unwrap_or(Value::Null);
            let describe = |names: &[&str]| {
                names
                    .iter()
                    .filter(|name| !matches!(view[**name], Value::Null | Value::Bool(false)))
                    .map(|name| format!("{name}={}", plain(&view[*name])))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            format!(
                r#"<tr><td>{id}</td><td>{matching}</td><td>{effect}</td><td>{fired}</td><td>{remaining}</td>
<td><form method="post" action="{BASE}/control/faults/{path_id}/delete">{csrf}<button type="submit" class="small">Remove</button></form></td></tr>"#,
                id = escape(&rule.id),
                path_id = escape(&encode_path(&rule.id)),
                matching = escape(&describe(&["operation", "path", "account_id", "client_id"])),
                effect = escape(&describe(&[
                    "status",
                    "code",
                    "message",
                    "latency_ms",
                    "reset_connection",
                    "probability",
                ])),
                fired = rule.fired,
                remaining = rule.remaining.map(|n| n.to_string()).unwrap_or_else(|| "∞".into()),
            )
        })
        .collect();
    let rules = if rules.is_empty() {
        empty_row(6, "No fault rules.")
    } else {
        rules
    };
    let operations: String = std::iter::once(super::option("", "any", true))
        .chain(
            localzoom_api::operations::OPERATIONS
                .iter()
                .map(|op| super::option(op.name, op.name, false)),
        )
        .collect();
    page(
        StatusCode::OK,
        "Control",
        Some(&signed),
        &format!(
            r#"<h1>Control</h1>{notice}
<h2>Clock</h2><p>The server's time is <strong id="now">{now}</strong>.</p>
<form method="post" action="{BASE}/control/clock" class="filters">{csrf}
<label>Advance by (seconds) <input name="advance_seconds" id="advance-seconds" inputmode="numeric" required></label>
<button type="submit" id="advance">Advance</button></form>
<h2>Fault rules</h2><table id="faults"><thead><tr><th>Id</th><th>Matches</th><th>Answers</th><th>Fired</th>
<th>Left</th><th></th></tr></thead><tbody>{rules}</tbody></table>
<form method="post" action="{BASE}/control/faults" class="filters" id="add-fault">{csrf}
<label>Operation <select name="operation" id="fault-operation">{operations}</select></label>
<label>Path <input name="path" placeholder="/v2/users/*"></label>
<label>Status <input name="status" id="fault-status" size="4" inputmode="numeric" placeholder="500"></label>
<label>Code <input name="code" size="6" inputmode="numeric"></label>
<label>Message <input name="message"></label>
<label>Latency (ms) <input name="latency_ms" size="6" inputmode="numeric"></label>
<label>Times <input name="times" size="4" inputmode="numeric"></label>
<label>Probability <input name="probability" size="4" inputmode="decimal" placeholder="1"></label>
<button type="submit" id="add-fault-rule">Add rule</button></form>
<h2>Fixtures</h2>
<form method="post" action="{BASE}/control/fixtures" enctype="multipart/form-data" class="filters">{csrf}
<label>Fixture file (JSON or YAML) <input type="file" name="fixture" id="fixture-file" accept=".json,.yaml,.yml" required></label>
<button type="submit" id="load-fixture">Load</button></form>
<h2>Reset</h2>
<form method="post" action="{BASE}/control/reset" class="filters">{csrf}
<label>Account (empty: everything) <input name="account_id" id="reset-account"></label>
<button type="submit" id="reset" class="danger">Reset</button></form>"#,
            now = rfc3339(state.now()),
        ),
    )
}

/// `POST /_localzoom/ui/control/clock` `advance_seconds=N`.
pub(super) async fn advance_clock(
    State(state): State<AppState>,
    Change { form, .. }: Change,
) -> Response {
    let seconds = form
        .int("advance_seconds")
        .ok()
        .flatten()
        .filter(|s| (0..=control::MAX_ADVANCE_SECONDS).contains(s));
    let Some(seconds) = seconds else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Invalid time",
            "Advance by a whole number of seconds, at most ten years.",
        );
    };
    match control::move_clock(&state, state.now() + seconds * 1000) {
        Ok(()) => Done::Clock.redirect(),
        Err(error) => error_page(&error),
    }
}

/// `POST /_localzoom/ui/control/faults`: the form's non-empty fields, with the API's types, as the control API's
/// `POST /faults` body.
pub(super) async fn add_fault(
    State(state): State<AppState>,
    Change { form, .. }: Change,
) -> Response {
    let mut rule = Map::new();
    for (name, value) in form.iter() {
        let Some(text) = value.as_str().map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        let value = match name.as_str() {
            "csrf" => continue,
            "status" | "code" | "times" | "latency_ms" => match text.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return invalid_field(name),
            },
            "probability" => match text.parse::<f64>() {
                Ok(p) => Value::from(p),
                Err(_) => return invalid_field(name),
            },
            _ => Value::from(text),
        };
        rule.insert(name.clone(), value);
    }
    match faults::add_rule(&state, &Fields::of(rule)) {
        Ok(_) => Done::FaultAdded.redirect(),
        Err(error) => error_page(&error),
    }
}

fn invalid_field(name: &str) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Invalid field",
        &format!("{name} must be a number."),
    )
}

/// `POST /_localzoom/ui/control/faults/{id}/delete`.
pub(super) async fn remove_fault(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    _: Change,
) -> Response {
    match faults::the_rules(&state) {
        Ok(rules) if rules.delete(Some(&id)) => Done::FaultRemoved.redirect(),
        Ok(_) => error_page(&ApiError::NoSuchFaultRule(id)),
        Err(error) => error_page(&error),
    }
}

/// `POST /_localzoom/ui/control/reset` `account_id=` (empty: everything).
pub(super) async fn reset(State(state): State<AppState>, Change { form, .. }: Change) -> Response {
    let scope = match form.str("account_id").ok().flatten() {
        Some(id) if !id.trim().is_empty() => ResetScope::Account(id.trim().to_string()),
        _ => ResetScope::Everything,
    };
    match state.reset(scope).await {
        Ok(()) => Done::Reset.redirect(),
        Err(error) => error_page(&error),
    }
}

/// What a multipart body may hold besides the fixture itself (the CSRF token, a field name or two).
const MAX_FORM_OVERHEAD: usize = 16 * 1024;

/// `POST /_localzoom/ui/control/fixtures` (multipart: `csrf`, and the file as `fixture`; a `.yaml`/`.yml` name is
/// read as YAML, anything else as JSON).
pub(super) async fn load_fixture(
    State(state): State<AppState>,
    signed: Signed,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let bad = || {
        message_page(
            StatusCode::BAD_REQUEST,
            "Invalid upload",
            "Choose a fixture file (JSON or YAML, at most 4 MiB) and load it from this page.",
        )
    };
    let Ok(mut multipart) = multipart else {
        return bad();
    };
    let (mut csrf, mut fixture) = (None, None);
    // At most the two fields the form has, and a few more a browser might add.
    for _ in 0..4 {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => return bad(),
        };
        let name = field.name().unwrap_or("").to_string();
        let yaml = field
            .file_name()
            .is_some_and(|f| f.ends_with(".yaml") || f.ends_with(".yml"));
        let Ok(bytes) = field.bytes().await else {
            return bad();
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8(bytes.to_vec()).ok(),
            "fixture" => fixture = Some((bytes, yaml)),
            _ => {}
        }
    }
    if !signed.holds(&csrf.unwrap_or_default()) {
        return forged();
    }
    let Some((bytes, yaml)) = fixture.filter(|(b, _)| !b.is_empty()) else {
        return bad();
    };
    let format = if yaml {
        FixtureFormat::Yaml
    } else {
        FixtureFormat::Json
    };
    let loaded = match crate::domain::fixture::parse(&bytes, format) {
        Ok(parsed) => state.load_fixture(parsed).await,
        Err(refusal) => Err(refusal.into()),
    };
    match loaded {
        Ok(()) => Done::Fixture.redirect(),
        Err(error) => error_page(&error),
    }
}

/// The body limit of the fixture upload's route.
pub(super) const UPLOAD_LIMIT: usize = MAX_FIXTURE_BYTES + MAX_FORM_OVERHEAD;
