//! The console's webhooks: every subscription, a subscription's delivery log (attempts, last answer, next
//! retry), and sending a delivery's event again. The views are the control API's own (`service::webhooks`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{
    BASE, Change, Signed, empty_row, encode_path, error_page, escape, message_page, page, plain,
    see_other,
};
use crate::error::ApiError;
use crate::gate::state::AppState;
use crate::http::input::PathParams;
use crate::service::webhooks;

/// Deliveries a subscription's page shows: the newest.
const DELIVERY_ROWS: u32 = 100;

/// `GET /_localzoom/ui/webhooks`.
pub(super) async fn list(State(state): State<AppState>, signed: Signed) -> Response {
    let views = state.db.read(|store| async move {
        let mut views = Vec::new();
        for subscription in store.subscriptions(None).await? {
            views.push(webhooks::subscription_view(&store, &subscription).await?);
        }
        Ok::<_, ApiError>(views)
    });
    let views = match views.await {
        Ok(views) => views,
        Err(error) => return error_page(&error),
    };
    let rows: String = views
        .iter()
        .map(|v| {
            format!(
                r#"<tr><td><a href="{BASE}/webhooks/{id}">{url}</a></td><td>{app}</td><td>{account}</td><td>{events}</td>
<td>{validation}</td><td>{pending}</td><td>{delivered}</td><td>{dropped}</td></tr>"#,
                id = escape(&encode_path(text(v, "id"))),
                url = escape(text(v, "url")),
                app = escape(text(v, "client_id")),
                account = escape(text(v, "account_id")),
                events = escape(&list_of(&v["events"])),
                validation = escape(text(v, "validation")),
                pending = escape(&plain(&v["deliveries"]["pending"])),
                delivered = escape(&plain(&v["deliveries"]["delivered"])),
                dropped = escape(&plain(&v["deliveries"]["dropped"])),
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        empty_row(
            8,
            "No subscriptions. Add one with <code>POST /_localzoom/v1/apps/{clientId}/webhooks</code>.",
        )
    } else {
        rows
    };
    page(
        StatusCode::OK,
        "Webhooks",
        Some(&signed),
        &format!(
            r#"<h1>Webhooks</h1><table id="webhooks"><thead><tr><th>Endpoint</th><th>App</th><th>Account</th><th>Events</th>
<th>Validation</th><th>Pending</th><th>Delivered</th><th>Dropped</th></tr></thead><tbody>{rows}</tbody></table>"#
        ),
    )
}

/// `GET /_localzoom/ui/webhooks/{id}`: the subscription and its newest deliveries.
pub(super) async fn subscription(
    State(state): State<AppState>,
    signed: Signed,
    PathParams(id): PathParams<String>,
) -> Response {
    let read = state.db.read(|tx| async {
        let tx = tx;
        let store = &tx;

        let subscription = webhooks::subscription(store, &id).await?;
        let view = webhooks::subscription_view(store, &subscription).await?;
        let log = webhooks::delivery_log(store, &id, DELIVERY_ROWS).await?;
        Ok::<_, crate::error::ApiError>((view, log))
    });
    let (view, log) = match read.await {
        Ok(read) => read,
        Err(error) => return error_page(&error),
    };
    let csrf = signed.field();
    let subscription_id = escape(&encode_path(&id));
    let rows: String = log
        .iter()
        .map(|d| {
            let body = serde_json::to_string_pretty(&d["body"]).unwrap_or_default();
            format!(
                r#"<tr><td>{id}</td><td>{event}</td><td class="delivery-{state}">{state}</td><td>{attempts}</td><td>{status}</td>
<td>{error}</td><td>{next}</td><td>{finished}</td><td><form method="post" action="{BASE}/webhooks/{subscription_id}/deliveries/{id}/redeliver">{csrf}<button type="submit" class="small">Send again</button></form></td></tr>
<tr class="body"><td colspan="9"><details><summary>Body</summary><pre>{body}</pre></details></td></tr>"#,
                id = escape(&plain(&d["id"])),
                event = escape(text(d, "event")),
                state = escape(text(d, "state")),
                attempts = escape(&plain(&d["attempts"])),
                status = escape(&plain(&d["last_status"])),
                error = escape(&plain(&d["last_error"])),
                next = escape(&plain(&d["next_attempt_at"])),
                finished = escape(&plain(&d["finished_at"])),
                body = escape(&body),
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        empty_row(9, "No deliveries yet.")
    } else {
        rows
    };
    page(
        StatusCode::OK,
        "Webhook",
        Some(&signed),
        &format!(
            r#"<h1>{url}</h1><table id="subscription">
<tr><th>Id</th><td>{sid}</td></tr><tr><th>App</th><td>{app}</td></tr><tr><th>Events</th><td>{events}</td></tr>
<tr><th>Validation</th><td>{validation} {detail}</td></tr><tr><th>Created</th><td>{created}</td></tr></table>
<h2>Deliveries</h2><table id="deliveries"><thead><tr><th>Id</th><th>Event</th><th>State</th><th>Attempts</th>
<th>Last status</th><th>Last error</th><th>Next retry</th><th>Finished</th><th></th></tr></thead><tbody>{rows}</tbody></table>"#,
            url = escape(text(&view, "url")),
            sid = escape(text(&view, "id")),
            app = escape(text(&view, "client_id")),
            events = escape(&list_of(&view["events"])),
            validation = escape(text(&view, "validation")),
            detail = escape(&plain(&view["validation_detail"])),
            created = escape(text(&view, "created_at")),
        ),
    )
}

/// `POST /_localzoom/ui/webhooks/{id}/deliveries/{deliveryId}/redeliver`: as the control API's redeliver.
pub(super) async fn redeliver(
    State(state): State<AppState>,
    PathParams((_, delivery_id)): PathParams<(String, String)>,
    _: Change,
) -> Response {
    let Ok(delivery_id) = delivery_id.parse::<i64>() else {
        return message_page(
            StatusCode::NOT_FOUND,
            "No such delivery",
            "No such delivery.",
        );
    };
    let sent = state
        .db
        .write(move |tx| async move {
            let store = &tx;
            webhooks::redeliver(store, delivery_id).await
        })
        .await;
    match sent {
        // Back to the subscription the event went to again, whichever page asked.
        Ok(copy) => {
            state.sender.wake.notify_one();
            see_other(&format!(
                "{BASE}/webhooks/{}",
                encode_path(&copy.subscription_id)
            ))
        }
        Err(error) => error_page(&error),
    }
}

fn text<'v>(view: &'v Value, name: &str) -> &'v str {
    view[name].as_str().unwrap_or("")
}

fn list_of(values: &Value) -> String {
    values
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
