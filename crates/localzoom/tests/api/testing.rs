//! `localzoom-testing`: the in-process server a Rust test suite starts, used as its documentation shows.

use localzoom_client::StatusAction;
use localzoom_client::control::RequestFilter;
use localzoom_client::types::{CreateAction, CreateUserInfo, CreateUserRequest};
use localzoom_testing::LocalZoom;

#[tokio::test]
async fn a_test_starts_localzoom_in_process_and_asserts_on_its_journal() {
    let zoom = LocalZoom::start().await;
    assert!(zoom.api_url.starts_with("http://127.0.0.1:") && zoom.api_url.ends_with("/v2"));
    let client = zoom.client();
    let created = client
        .create_user(&CreateUserRequest {
            action: CreateAction::Create,
            user_info: CreateUserInfo {
                email: "new@localzoom.test".into(),
                user_type: 1,
                ..CreateUserInfo::default()
            },
        })
        .await
        .unwrap();
    // The invitation Zoom would have sent.
    let mail = zoom
        .control()
        .outbox(Some("new@localzoom.test"))
        .await
        .unwrap();
    assert_eq!(mail[0].subject, "Please activate your Zoom account");

    let owner = client.get_user("me").await.unwrap();
    let member = client
        .create_user(&CreateUserRequest {
            action: CreateAction::CustCreate,
            user_info: CreateUserInfo {
                email: "leaver@localzoom.test".into(),
                user_type: 1,
                ..CreateUserInfo::default()
            },
        })
        .await
        .unwrap();
    client
        .update_status(&member.id, StatusAction::Deactivate)
        .await
        .unwrap();
    let status_calls = RequestFilter {
        operation: Some("userStatus".into()),
        ..RequestFilter::default()
    };
    assert_eq!(zoom.control().count(&status_calls).await.unwrap(), 1);
    let (calls, dropped) = zoom.control().requests(&status_calls).await.unwrap();
    assert_eq!(dropped, 0);
    assert_eq!(calls[0].user.as_deref(), Some(member.id.as_str()));
    assert_eq!(
        calls[0].account_id.as_deref(),
        Some(zoom.account_id.as_str())
    );

    // A fault, then a reset back to the bootstrap account.
    zoom.control()
        .add_fault(serde_json::json!({ "operation": "user", "times": 1, "status": 500 }))
        .await
        .unwrap();
    let failed = client.get_user("me").await.unwrap_err();
    assert_eq!(failed.zoom().unwrap().http_status, 500);
    zoom.control().reset(None).await.unwrap();
    let fresh = zoom.client();
    assert_eq!(fresh.get_user("me").await.unwrap().id, owner.id);
    let gone = fresh.get_user(&member.id).await.unwrap_err();
    assert_eq!(gone.zoom().unwrap().code, 1001);
    assert_eq!(created.email, "new@localzoom.test");
    zoom.stop().await.unwrap();
}
