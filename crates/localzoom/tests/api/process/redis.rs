//! Rate limits shared through Redis.

use super::*;

#[test]
fn two_nodes_share_one_rate_limit_through_redis() {
    let (Some(db), Some(redis)) = (postgres_database(), test_redis()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = start_on(dir.path(), &db.url, &["--redis", &redis]);
    let b = start_on(dir.path(), &db.url, &["--redis", &redis]);
    assert!(
        a.banner
            .contains("shared by every node through Redis (fail open)"),
        "{}",
        a.banner
    );
    let set = Command::new(BIN)
        .args([
            "accounts",
            "set-limits",
            "--rate-limit",
            "light=20",
            "--database",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let token = token(&a.base);

    // Four clients, two per node, as fast as they can for three seconds.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (admitted, refused, elapsed) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let until = started + Duration::from_secs(3);
        let clients: Vec<_> = (0..4)
            .map(|n| {
                let (http, token) = (http.clone(), token.clone());
                let base = if n % 2 == 0 {
                    a.base.clone()
                } else {
                    b.base.clone()
                };
                tokio::spawn(async move {
                    let (mut ok, mut limited) = (0u32, 0u32);
                    while Instant::now() < until {
                        let response = http
                            .get(format!("{base}/v2/users/me"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        match response.status().as_u16() {
                            200 => ok += 1,
                            429 => limited += 1,
                            other => panic!("unexpected {other}"),
                        }
                    }
                    (ok, limited)
                })
            })
            .collect();
        let (mut ok, mut limited) = (0, 0);
        for client in clients {
            let (o, l) = client.await.unwrap();
            ok += o;
            limited += l;
        }
        (ok, limited, started.elapsed().as_secs_f64())
    });
    // GCRA: a burst of 20, then 20 a second — for both nodes together, not each.
    let rate = f64::from(admitted - 20) / elapsed;
    println!(
        "shared limit: {admitted} admitted, {refused} refused in {elapsed:.2} s = {rate:.2}/s"
    );
    assert!(refused > 0, "nothing was refused: {admitted} admitted");
    assert!(
        (19.0..=21.0).contains(&rate),
        "{admitted} admitted in {elapsed:.2} s = {rate:.2}/s"
    );
}

#[backend_test]
fn an_unreachable_redis_fails_open_or_closed_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let closed = start(
        dir.path(),
        &[
            "--redis",
            "redis://127.0.0.1:1",
            "--redis-failure",
            "closed",
        ],
    );
    assert!(
        closed.banner.contains("Redis does not answer now"),
        "{}",
        closed.banner
    );
    let token = token(&closed.base);
    let (status, body) = api(&closed.base, &token, "GET", "/users/me", None);
    assert_eq!(
        (status, json_field(&body, "code")),
        (503, Value::from(503)),
        "{body}"
    );
    drop(closed);
    let open = start(dir.path(), &["--redis", "redis://127.0.0.1:1"]);
    let (status, _) = api(&open.base, &token, "GET", "/users/me", None);
    assert_eq!(status, 200);
    let log = open.logs_once_they_contain("unreachable");
    assert!(
        log.contains("the shared rate limiter (Redis) is unreachable"),
        "{log}"
    );
}

/// A reset forgets what the account spent on the shared limiter too (its counters in Redis), and nothing of
/// another deployment's.
#[backend_test]
async fn a_reset_forgets_the_quota_spent_in_redis() {
    use crate::helpers::{ACCOUNT_ID, TestApp};
    use localzoom_server::domain::rate_limits::{Label, Limit};
    let Some(redis) = test_redis() else {
        return;
    };
    let app = TestApp::spawn_tuned(|config| {
        config.rate_limits = true;
        config.redis = Some(redis.clone());
    })
    .await;
    app.edit_account(|a| {
        a.rate_limit_overrides
            .set(Limit::Daily(Label::Light), Some(Some(2)))
    })
    .await;
    for expected in [200, 200, 429] {
        assert_eq!(app.get("/users/me").await.status, expected);
    }
    app.control(
        reqwest::Method::POST,
        "/reset",
        Some(serde_json::json!({ "account_id": ACCOUNT_ID })),
    )
    .await
    .assert_status(204);
    let token = app.fresh_token().await;
    for expected in [200, 200, 429] {
        let reply = app
            .call_with(&token, reqwest::Method::GET, "/v2/users/me", None)
            .await;
        assert_eq!(reply.status, expected);
    }
}
