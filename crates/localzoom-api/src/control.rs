//! What localzoom's control API (`/_localzoom/v1`) answers that its client reads back: a journal entry and a
//! recorded e-mail.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One call to Zoom's API as localzoom's request journal recorded it, secrets redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCall {
    /// The call's `x-zm-trackingid`.
    pub tracking_id: String,
    /// When it arrived, on the server's clock (RFC 3339).
    pub time: String,
    pub method: String,
    pub path: String,
    /// The query string, secrets redacted.
    pub query: Option<String>,
    /// Zoom's `operationId` (`userStatus`, …), for a call to one of Zoom's operations.
    pub operation: Option<String>,
    pub account_id: Option<String>,
    /// The OAuth app (client id) the call came through.
    pub client_id: Option<String>,
    /// The user the path names (`{userId}` as given: an id, an e-mail or `me`).
    pub user: Option<String>,
    /// The HTTP status answered; 0 when a fault rule reset the connection instead.
    pub status: u16,
    /// Zoom's error code of an error answer.
    pub code: Option<i64>,
    pub latency_ms: f64,
    pub request_body: Option<Value>,
    pub response_body: Option<Value>,
    /// The fault rule that answered instead of localzoom, if one did.
    pub fault: Option<String>,
}

/// An e-mail localzoom recorded instead of sending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub sent_at: String,
    pub user_id: Option<String>,
}
