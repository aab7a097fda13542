use localzoom_test_macros::backend_test;
use reqwest::Method;

use crate::helpers::*;

#[backend_test]
async fn revoking_the_sso_token_ends_sso_sessions_only_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let id = app
        .create_user("ssoCreate", "sso.user@example.com", 2)
        .await;
    let sso_a = app.add_session(&id, 101).await;
    let sso_b = app.add_session(&id, 101).await;
    let mobile = app.add_session(&id, 97).await;
    app.clock.advance_ms(5_000);

    app.call(Method::DELETE, &format!("/users/{id}/token"), None)
        .await
        .assert_status(204);
    let sessions = app.sessions(&id).await;
    for session in &sessions {
        let ended = session.ended_at.is_some();
        assert_eq!(
            ended,
            session.id == sso_a || session.id == sso_b,
            "{session:?}"
        );
        if ended {
            assert_eq!(session.ended_at, Some(START_MS + 5_000));
        }
    }
    assert!(
        sessions
            .iter()
            .any(|s| s.id == mobile && s.ended_at.is_none())
    );

    // Again, and by e-mail in another case: nothing left to end, still 204, nothing else changes.
    app.call(Method::DELETE, "/users/SSO.User@Example.com/token", None)
        .await
        .assert_status(204);
    assert_eq!(app.sessions(&id).await, sessions);
}

#[backend_test]
async fn revoking_for_an_unknown_user_is_404_1001() {
    let app = TestApp::spawn().await;
    app.call(Method::DELETE, "/users/nobody@example.com/token", None)
        .await
        .assert_error(404, 1001, "User does not exist: nobody@example.com.");
    app.call(Method::DELETE, "/users/abcdefghijklmnopqrstuv/token", None)
        .await
        .assert_error(404, 1001, "User does not exist: abcdefghijklmnopqrstuv.");
}
