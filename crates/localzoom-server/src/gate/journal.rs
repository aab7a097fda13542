//! The request journal of the control API (`GET /_localzoom/v1/requests`): what each call to Zoom's API was and
//! what it got, so a test can assert which calls its code made. Kept in memory, per node, bounded: the oldest
//! entry goes when it is full, and the drop is counted. Secrets never enter it (`redact`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Map, Value};

use localzoom_api::control::RecordedCall;

use crate::domain::principal::Principal;

/// The journal's default size, in entries.
pub const DEFAULT_CAPACITY: usize = 1000;
/// The most of a request's or response's body kept per entry; a longer one is kept as a note of its size.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// One call, as the journal keeps it: what the control API answers, and when it came in epoch ms (for `from`/`to`).
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub time_ms: i64,
    pub call: RecordedCall,
}

/// Which entries a listing wants (all given filters must hold).
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub operation: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<u16>,
    pub user: Option<String>,
    /// Only entries after the one with this tracking id (all kept, if it is no longer kept: they all came later).
    pub since: Option<String>,
    /// Only entries that arrived at or after / before this time (epoch ms).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl JournalFilter {
    fn matches(&self, entry: &JournalEntry) -> bool {
        let call = &entry.call;
        self.operation
            .as_deref()
            .is_none_or(|op| call.operation.as_deref() == Some(op))
            && self
                .account_id
                .as_deref()
                .is_none_or(|id| call.account_id.as_deref() == Some(id))
            && self.status.is_none_or(|status| call.status == status)
            && self.user.as_deref().is_none_or(|user| {
                call.user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user))
            })
            && self.from_ms.is_none_or(|from| entry.time_ms >= from)
            && self.to_ms.is_none_or(|to| entry.time_ms < to)
    }
}

pub struct Journal {
    capacity: usize,
    inner: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    entries: VecDeque<JournalEntry>,
    dropped: u64,
}

impl Journal {
    pub fn new(capacity: usize) -> Journal {
        Journal {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    pub fn record(&self, entry: JournalEntry) {
        let Ok(mut kept) = self.inner.lock() else {
            return;
        };
        if kept.entries.len() >= self.capacity {
            kept.entries.pop_front();
            kept.dropped += 1;
        }
        kept.entries.push_back(entry);
    }

    /// The calls the filter wants, oldest first, and how many entries were dropped for room.
    pub fn list(&self, filter: &JournalFilter) -> (Vec<RecordedCall>, u64) {
        self.wanted(filter, |wanted, dropped| {
            (wanted.map(|e| e.call.clone()).collect(), dropped)
        })
        .unwrap_or_default()
    }

    /// The newest `n` calls the filter wants, newest first (only those are copied).
    pub fn newest(&self, filter: &JournalFilter, n: usize) -> Vec<RecordedCall> {
        let Ok(kept) = self.inner.lock() else {
            return Vec::new();
        };
        kept.entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(n)
            .map(|e| e.call.clone())
            .collect()
    }

    /// The call with this tracking id, while it is kept.
    pub fn get(&self, tracking_id: &str) -> Option<RecordedCall> {
        let kept = self.inner.lock().ok()?;
        kept.entries
            .iter()
            .rev()
            .find(|e| e.call.tracking_id == tracking_id)
            .map(|e| e.call.clone())
    }

    /// How many calls the filter wants (nothing is copied).
    pub fn count(&self, filter: &JournalFilter) -> usize {
        self.wanted(filter, |wanted, _| wanted.count())
            .unwrap_or_default()
    }

    /// Runs `f` over the entries the filter wants, oldest first, and the count of those dropped for room.
    fn wanted<R>(
        &self,
        filter: &JournalFilter,
        f: impl FnOnce(&mut dyn Iterator<Item = &JournalEntry>, u64) -> R,
    ) -> Option<R> {
        let kept = self.inner.lock().ok()?;
        let start = match &filter.since {
            None => 0,
            Some(id) => kept
                .entries
                .iter()
                .position(|e| e.call.tracking_id == *id)
                .map_or(0, |at| at + 1),
        };
        let mut wanted = kept
            .entries
            .iter()
            .skip(start)
            .filter(|e| filter.matches(e));
        Some(f(&mut wanted, kept.dropped))
    }

    /// Forgets every entry (of one account: `Some`), and the count of dropped ones when all go.
    pub fn clear(&self, account_id: Option<&str>) {
        if let Ok(mut kept) = self.inner.lock() {
            match account_id {
                None => *kept = Kept::default(),
                Some(id) => kept
                    .entries
                    .retain(|e| e.call.account_id.as_deref() != Some(id)),
            }
        }
    }
}

/// Who made the call being served: (account id, client id), noted where the gate authenticates it.
pub type Caller = (String, String);

tokio::task_local! {
    static CALLER: RefCell<Option<Caller>>;
}

/// Notes the principal of the request this task serves, when the journal is recording it.
pub fn note_caller(principal: &Principal) {
    let _ = CALLER.try_with(|caller| {
        *caller.borrow_mut() = Some((principal.account_id.clone(), principal.client_id.clone()));
    });
}

/// Runs `serve` with a place for its caller to be noted, and returns that caller with its output.
pub async fn with_caller<F: Future>(serve: F) -> (F::Output, Option<Caller>) {
    CALLER
        .scope(RefCell::new(None), async move {
            let output = serve.await;
            let caller = CALLER.with(|caller| caller.borrow_mut().take());
            (output, caller)
        })
        .await
}

/// Whether a field of this name holds a secret: passwords, client secrets, tokens (access, refresh, ZAK, SSO),
/// authorization codes and their verifiers, host keys.
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "zak",
        "verifier",
        "host_key",
        "authorization",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// `value` with every secret field replaced by `[redacted]`, however deep. An OAuth `code` is a secret when it
/// is text; Zoom's numeric error `code` is not.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(name, value)| {
                    let secret = is_secret(&name) || (name == "code" && value.is_string());
                    let value = if secret {
                        Value::String(REDACTED.into())
                    } else {
                        redact(value)
                    };
                    (name, value)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// Form pairs (a query string or a form body) with their secrets redacted.
pub fn redact_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(name, value)| {
            if is_secret(&name) || name == "code" {
                (name, REDACTED.into())
            } else {
                (name, value)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth_and_codes_only_when_text() {
        let body = json!({
            "action": "autoCreate",
            "user_info": { "email": "a@b.test", "password": "Secret1Pass" },
            "access_token": "abc", "refresh_token": "def", "client_secret": "x",
            "list": [{ "token": "zak" }], "code": 124, "message": "m",
        });
        assert_eq!(
            redact(body),
            json!({
                "action": "autoCreate",
                "user_info": { "email": "a@b.test", "password": REDACTED },
                "access_token": REDACTED, "refresh_token": REDACTED, "client_secret": REDACTED,
                "list": [{ "token": REDACTED }], "code": 124, "message": "m",
            })
        );
        assert_eq!(
            redact(json!({ "code": "authcode" })),
            json!({ "code": REDACTED })
        );
        assert_eq!(
            redact_pairs(vec![
                ("grant_type".into(), "authorization_code".into()),
                ("code".into(), "c".into()),
                ("code_verifier".into(), "v".into()),
            ]),
            vec![
                ("grant_type".to_string(), "authorization_code".to_string()),
                ("code".to_string(), REDACTED.to_string()),
                ("code_verifier".to_string(), REDACTED.to_string()),
            ]
        );
    }

    fn entry(n: u32, account: &str) -> JournalEntry {
        JournalEntry {
            time_ms: i64::from(n),
            call: RecordedCall {
                tracking_id: format!("t{n}"),
                time: String::new(),
                method: "GET".into(),
                path: "/v2/users/me".into(),
                query: None,
                operation: Some("user".into()),
                account_id: Some(account.into()),
                client_id: None,
                user: Some("me".into()),
                status: 200,
                code: None,
                latency_ms: 0.0,
                request_body: None,
                response_body: None,
                fault: None,
            },
        }
    }

    #[test]
    fn the_oldest_entries_go_when_full_and_are_counted() {
        let journal = Journal::new(3);
        for n in 0..5 {
            journal.record(entry(n, if n % 2 == 0 { "a" } else { "b" }));
        }
        let (kept, dropped) = journal.list(&JournalFilter::default());
        assert_eq!(
            kept.iter()
                .map(|e| e.tracking_id.as_str())
                .collect::<Vec<_>>(),
            ["t2", "t3", "t4"]
        );
        assert_eq!(dropped, 2);
        let since = JournalFilter {
            since: Some("t2".into()),
            ..Default::default()
        };
        assert_eq!(journal.count(&since), 2);
        let gone = JournalFilter {
            since: Some("t0".into()),
            ..Default::default()
        };
        assert_eq!(journal.count(&gone), 3);
        journal.clear(Some("a"));
        assert_eq!(journal.list(&JournalFilter::default()).0.len(), 1);
        journal.clear(None);
        assert_eq!(journal.list(&JournalFilter::default()), (Vec::new(), 0));
    }
}
