//! `GET /metrics`: Prometheus' text format, counting what was served.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// The value of one series in the exposition text.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {name} in:\n{text}"))
        .parse()
        .unwrap()
}

#[backend_test]
async fn metrics_count_operations_refusals_and_writes() {
    let app = TestApp::spawn_rate_limited("pro").await;
    let metrics = || async {
        let reply = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(
            reply.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        reply.text().await.unwrap()
    };
    let before = metrics().await;
    for _ in 0..3 {
        app.get("/users/me").await.assert_status(200);
    }
    app.get("/users/ghost").await.assert_status(404);
    app.call_with("not-a-token", Method::GET, "/v2/users/me", None)
        .await
        .assert_status(401);
    let id = app.member("counted@example.com").await;
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "job_title": "Counted" })),
    )
    .await
    .assert_status(204);
    // A Light quota of one call: the second call is refused.
    app.edit_account(|a| {
        a.rate_limit_overrides.set(
            localzoom_server::domain::rate_limits::Limit::Rate(
                localzoom_server::domain::rate_limits::Label::Light,
            ),
            Some(Some(1)),
        )
    })
    .await;
    app.clock.advance_ms(10_000);
    app.get("/users/me").await.assert_status(200);
    app.get("/users/me").await.assert_status(429);

    let after = metrics().await;
    let delta = |name: &str| series(&after, name) - series(&before, name);
    assert_eq!(
        delta("localzoom_requests_total{operation=\"user\",status=\"2xx\"}"),
        4.0
    );
    assert_eq!(
        delta("localzoom_requests_total{operation=\"user\",status=\"4xx\"}"),
        3.0
    );
    assert_eq!(
        delta("localzoom_requests_total{operation=\"userUpdate\",status=\"2xx\"}"),
        1.0
    );
    assert_eq!(
        delta("localzoom_request_duration_seconds_count{operation=\"user\"}"),
        7.0
    );
    assert_eq!(
        delta("localzoom_rate_limited_total{category=\"Light\"}"),
        1.0
    );
    assert_eq!(
        delta("localzoom_auth_failures_total{kind=\"access_token\"}"),
        1.0
    );
    assert!(
        delta("localzoom_writer_batch_size_count") >= 2.0,
        "the member and the update were written"
    );
    assert_eq!(series(&after, "localzoom_writer_in_flight"), 0.0);
    // Histograms are cumulative up to +Inf, which equals the count.
    assert_eq!(
        series(
            &after,
            "localzoom_request_duration_seconds_bucket{operation=\"user\",le=\"+Inf\"}"
        ),
        series(
            &after,
            "localzoom_request_duration_seconds_count{operation=\"user\"}"
        )
    );
}
