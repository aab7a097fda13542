//! `GET /metrics` in Prometheus' text format: requests and their latency per operation, 429s per rate-limit
//! category, authentication failures, and the writer's queue and batch sizes. Counting costs a few relaxed atomic
//! additions per request and no lock; the text is only built when `/metrics` is read.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::domain::rate_limits::Label;
use crate::gate::scopes::OPERATIONS;
use crate::store::{BATCH_BUCKETS, WriterStats};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Routes that are not Zoom operations, by the name they are counted under.
const OWN_ROUTES: [(&str, &str, &str); 13] = [
    ("POST", "/oauth/token", "oauth_token"),
    ("GET", "/oauth/authorize", "oauth_authorize_page"),
    ("POST", "/oauth/authorize", "oauth_authorize"),
    ("POST", "/oauth/revoke", "oauth_revoke"),
    ("GET", "/healthz", "healthz"),
    ("GET", "/metrics", "metrics"),
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/p/{userId}/{version}", "picture"),
    (
        "*",
        "/_localzoom/v1/users/{userId}/sessions",
        "control_sessions",
    ),
    ("*", "/_localzoom/v1/clock", "control_clock"),
    (
        "POST",
        "/_localzoom/v1/users/{userId}/collaboration_devices",
        "control_load_devices",
    ),
    (
        "POST",
        "/_localzoom/v1/users/{userId}/meeting_summary_templates",
        "control_load_summary_templates",
    ),
    (
        "POST",
        "/_localzoom/v1/users/{userId}/meeting_templates",
        "control_load_meeting_templates",
    ),
];

/// Why a caller was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A `/v2` call with an invalid or expired access token.
    AccessToken,
    /// Wrong client credentials at `/oauth/token` or `/oauth/revoke`.
    ClientCredentials,
    /// A wrong e-mail or password on the sign-in page.
    SignIn,
    /// A control-API call without the admin key.
    AdminKey,
}

impl AuthFailure {
    const ALL: [AuthFailure; 4] = [
        AuthFailure::AccessToken,
        AuthFailure::ClientCredentials,
        AuthFailure::SignIn,
        AuthFailure::AdminKey,
    ];

    fn as_str(self) -> &'static str {
        match self {
            AuthFailure::AccessToken => "access_token",
            AuthFailure::ClientCredentials => "client_credentials",
            AuthFailure::SignIn => "sign_in",
            AuthFailure::AdminKey => "admin_key",
        }
    }
}

struct RouteMetrics {
    name: &'static str,
    /// Answers by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Answers by latency bucket (not cumulative); the last slot is beyond every bound.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

pub struct Metrics {
    routes: Vec<RouteMetrics>,
    /// The (method, route template) of each route but the last, which counts whatever matched no template. A
    /// scan of a few dozen short strings costs less than hashing an owned key.
    keys: Vec<(&'static str, String)>,
    rate_limited: [AtomicU64; Label::ALL.len()],
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        let zoom = OPERATIONS.iter().map(|op| {
            (
                op.method.as_str(),
                format!("{}{}", op.api.prefix(), op.path),
                op.name,
            )
        });
        let own = OWN_ROUTES
            .iter()
            .map(|&(method, path, name)| (method, path.to_string(), name));
        let mut routes = Vec::new();
        let mut keys = Vec::new();
        for (method, path, name) in zoom.chain(own) {
            keys.push((method, path));
            routes.push(RouteMetrics::new(name));
        }
        routes.push(RouteMetrics::new("other"));
        Metrics {
            routes,
            keys,
            rate_limited: Default::default(),
            auth_failures: Default::default(),
        }
    }
}

impl RouteMetrics {
    fn new(name: &'static str) -> Self {
        RouteMetrics {
            name,
            by_class: Default::default(),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one answered request: its route (`None` if it matched none), status, latency and, for a 429, the
    /// category of the quota that refused it.
    pub fn record(
        &self,
        (method, route): (&str, Option<&str>),
        status: u16,
        latency_us: u64,
        rate_limited: Option<&str>,
    ) {
        let slot = route
            .and_then(|route| {
                self.keys
                    .iter()
                    .position(|(m, p)| p == route && (*m == method || *m == "*"))
            })
            .unwrap_or(self.routes.len() - 1);
        let route = &self.routes[slot];
        let class = (status / 100).clamp(1, 5) as usize - 1;
        route.by_class[class].fetch_add(1, Relaxed);
        let seconds = latency_us as f64 / 1e6;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        route.latency[bucket].fetch_add(1, Relaxed);
        route.latency_sum_us.fetch_add(latency_us, Relaxed);
        if let Some(category) = rate_limited
            && let Some(i) = Label::ALL.iter().position(|l| l.as_str() == category)
        {
            self.rate_limited[i].fetch_add(1, Relaxed);
        }
    }

    pub fn auth_failure(&self, kind: AuthFailure) {
        if let Some(i) = AuthFailure::ALL.iter().position(|k| *k == kind) {
            self.auth_failures[i].fetch_add(1, Relaxed);
        }
    }

    /// The exposition text, with the writer's figures.
    pub fn render(&self, writer: &WriterStats) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP localzoom_requests_total Requests answered, by operation and status class.\n\
             # TYPE localzoom_requests_total counter\n",
        );
        for route in &self.routes {
            for (class, count) in route.by_class.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "localzoom_requests_total{{operation=\"{}\",status=\"{}xx\"}} {}",
                    route.name,
                    class + 1,
                    count.load(Relaxed)
                );
            }
        }
        out.push_str(
            "# HELP localzoom_request_duration_seconds Time from a request's arrival to its answer.\n\
             # TYPE localzoom_request_duration_seconds histogram\n",
        );
        for route in &self.routes {
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += route.latency[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "localzoom_request_duration_seconds_bucket{{operation=\"{}\",le=\"{bound}\"}} {cumulative}",
                    route.name
                );
            }
            cumulative += route.latency[LATENCY_BUCKETS.len()].load(Relaxed);
            let sum = route.latency_sum_us.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "localzoom_request_duration_seconds_bucket{{operation=\"{0}\",le=\"+Inf\"}} {cumulative}\n\
                 localzoom_request_duration_seconds_sum{{operation=\"{0}\"}} {sum}\n\
                 localzoom_request_duration_seconds_count{{operation=\"{0}\"}} {cumulative}",
                route.name
            );
        }
        out.push_str(
            "# HELP localzoom_rate_limited_total Calls refused with 429, by rate-limit category.\n\
             # TYPE localzoom_rate_limited_total counter\n",
        );
        for (label, count) in Label::ALL.iter().zip(&self.rate_limited) {
            let _ = writeln!(
                out,
                "localzoom_rate_limited_total{{category=\"{}\"}} {}",
                label.as_str(),
                count.load(Relaxed)
            );
        }
        out.push_str(
            "# HELP localzoom_auth_failures_total Callers that failed to authenticate, by what they presented.\n\
             # TYPE localzoom_auth_failures_total counter\n",
        );
        for (kind, count) in AuthFailure::ALL.iter().zip(&self.auth_failures) {
            let _ = writeln!(
                out,
                "localzoom_auth_failures_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                count.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP localzoom_writer_in_flight Writes queued for or running in the writer now.\n\
             # TYPE localzoom_writer_in_flight gauge\n\
             localzoom_writer_in_flight {}",
            writer.in_flight()
        );
        out.push_str(
            "# HELP localzoom_writer_batch_size Writes committed together, per commit.\n\
             # TYPE localzoom_writer_batch_size histogram\n",
        );
        let (batches, writes) = writer.batches();
        let mut cumulative = 0;
        for (bound, count) in BATCH_BUCKETS.iter().zip(batches) {
            cumulative += count;
            let _ = writeln!(
                out,
                "localzoom_writer_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "localzoom_writer_batch_size_bucket{{le=\"+Inf\"}} {cumulative}\n\
             localzoom_writer_batch_size_sum {writes}\n\
             localzoom_writer_batch_size_count {cumulative}"
        );
        out
    }
}
