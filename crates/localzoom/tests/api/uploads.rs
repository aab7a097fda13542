//! Uploads: a user's profile picture (served at its `pic_url`) and virtual backgrounds (listed in the user's
//! settings), with Zoom's type, size and count rules.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::helpers::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image-but-a-png-header";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF-rest";
const MP4: &[u8] = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2mp41";

fn file(field: &str, name: &str, bytes: &[u8]) -> Form {
    Form::new().part(
        field.to_string(),
        Part::bytes(bytes.to_vec()).file_name(name.to_string()),
    )
}

async fn upload(app: &TestApp, path: &str, form: Form) -> Reply {
    app.send(app.request(Method::POST, path).multipart(form))
        .await
}

#[backend_test]
async fn a_picture_is_served_at_its_pic_url_until_replaced_or_deleted() {
    let app = TestApp::spawn().await;
    let id = app.member("face@example.com").await;
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["pic_url"],
        json!("")
    );
    let path = format!("/users/{id}/picture");
    let reply = upload(&app, &path, file("pic_file", "me.png", PNG)).await;
    reply.assert_status(201);
    assert_eq!(reply.body, json!({}));
    let url = app.get(&format!("/users/{id}")).await.body["pic_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&app.base), "{url}");
    assert_eq!(
        app.get("/users/FACE@example.com").await.body["pic_url"],
        url.as_str()
    );
    let served = app.http.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    // Each URL names one picture for good; no browser guesses another type for it.
    assert_eq!(
        served.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

    // A new picture has a new URL, even within the same millisecond; the old one is gone.
    upload(&app, &path, file("pic_file", "me.jpg", JPEG))
        .await
        .assert_status(201);
    let new_url = app.get(&format!("/users/{id}")).await.body["pic_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_url, url);
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
    let served = app.http.get(&new_url).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/jpeg");

    app.call(Method::DELETE, &path, None)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["pic_url"],
        json!("")
    );
    assert_eq!(app.http.get(&new_url).send().await.unwrap().status(), 404);
}

#[backend_test]
async fn pictures_zoom_refuses_leave_the_old_one() {
    let app = TestApp::spawn().await;
    let id = app.member("strict-face@example.com").await;
    let path = format!("/users/{id}/picture");
    upload(&app, &path, file("pic_file", "ok.png", PNG))
        .await
        .assert_status(201);
    let url = app.get(&format!("/users/{id}")).await.body["pic_url"].clone();
    let big = [JPEG, &vec![0u8; 2 * 1024 * 1024]].concat();
    for (form, message) in [
        (file("pic_file", "empty.png", b""), "File is empty."),
        (file("other_field", "me.png", PNG), "File is empty."),
        (
            file("pic_file", "doc.pdf", b"%PDF-1.7 ..."),
            "Only jpg/jpeg or png image file can be uploaded.",
        ),
        (
            file("pic_file", "anim.gif", b"GIF89a...."),
            "Only jpg/jpeg or png image file can be uploaded.",
        ),
        (
            file("pic_file", "big.jpg", &big),
            "File size cannot exceed 2M.",
        ),
    ] {
        upload(&app, &path, form)
            .await
            .assert_error(400, 120, message);
    }
    // Not multipart at all.
    app.call(Method::POST, &path, Some(json!({ "pic_file": "me.png" })))
        .await
        .assert_error(
            400,
            300,
            "Request Body should be a valid multipart/form-data body.",
        );
    assert_eq!(app.get(&format!("/users/{id}")).await.body["pic_url"], url);
    upload(
        &app,
        "/users/nobody@example.com/picture",
        file("pic_file", "x.png", PNG),
    )
    .await
    .assert_error(404, 1001, "User does not exist: nobody@example.com.");
}

#[backend_test]
async fn only_admins_change_pictures_when_the_account_says_so() {
    let app = TestApp::spawn().await;
    let id = app.member("own-face@example.com").await;
    let own = app.token_with_scopes(&id, &["user:write"]).await;
    let send_own = || {
        app.http
            .post(format!("{}/v2/users/me/picture", app.base))
            .bearer_auth(&own)
            .multipart(file("pic_file", "me.png", PNG))
    };
    app.send(send_own()).await.assert_status(201);
    app.edit_account(|a| {
        a.security
            .insert("admin_change_name_pic".into(), json!(true));
    })
    .await;
    app.send(send_own()).await.assert_error(
        400,
        200,
        "Only an account administrator can change a profile picture.",
    );
    app.call_with(&own, Method::DELETE, "/v2/users/me/picture", None)
        .await
        .assert_error(
            400,
            200,
            "Only an account administrator can change a profile picture.",
        );
    assert_ne!(
        app.get(&format!("/users/{id}")).await.body["pic_url"],
        json!("")
    );
    // The admin still can.
    app.call(Method::DELETE, &format!("/users/{id}/picture"), None)
        .await
        .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["pic_url"],
        json!("")
    );
    // The current setting: admins only for the kinds of information listed, through the account settings API.
    let security = |body: serde_json::Value| {
        app.call(
            Method::PATCH,
            "/accounts/me/settings?option=security",
            Some(json!({ "security": body })),
        )
    };
    security(
        json!({ "admin_change_name_pic": false, "admin_change_user_info": true,
                     "user_modifiable_info_by_admin": ["name", "host_key"] }),
    )
    .await
    .assert_status(204);
    app.send(send_own()).await.assert_status(201);
    security(json!({ "user_modifiable_info_by_admin": ["profile_picture"] }))
        .await
        .assert_status(204);
    app.send(send_own()).await.assert_error(
        400,
        200,
        "Only an account administrator can change a profile picture.",
    );
    let bad = security(json!({ "user_modifiable_info_by_admin": ["shoe_size"] })).await;
    bad.assert_error(400, 300, "Validation Failed.");
    assert_eq!(
        bad.error_fields(),
        ["security.user_modifiable_info_by_admin"]
    );
}

#[backend_test]
async fn virtual_backgrounds_are_listed_in_settings_up_to_ten() {
    let app = TestApp::spawn().await;
    let id = app.member("backdrop@example.com").await;
    let path = format!("/users/{id}/settings/virtual_backgrounds");
    let first = upload(&app, &path, file("file", "beach.png", PNG)).await;
    first.assert_status(201);
    assert_eq!(
        (
            &first.body["name"],
            &first.body["type"],
            &first.body["size"],
            &first.body["is_default"]
        ),
        (
            &json!("beach.png"),
            &json!("image"),
            &json!(PNG.len()),
            &json!(true)
        )
    );
    let video = upload(&app, &path, file("file", "waves.mp4", MP4)).await;
    video.assert_status(201);
    assert_eq!(
        (&video.body["type"], &video.body["is_default"]),
        (&json!("video"), &json!(false))
    );
    let listed = |settings: serde_json::Value| {
        settings["in_meeting"]["virtual_background_settings"]["files"].clone()
    };
    let files = listed(app.get(&format!("/users/{id}/settings")).await.body);
    assert_eq!(files, json!([first.body, video.body]));

    upload(&app, &path, file("file", "doc.pdf", b"%PDF-1.7"))
        .await
        .assert_error(
            400,
            120,
            "Only jpg/jpeg, gif or png image file can be uploaded.",
        );
    upload(&app, &path, Form::new().text("name", "nothing"))
        .await
        .assert_error(
            400,
            120,
            "No file uploaded, verify that a file has been uploaded.",
        );
    for n in 2..10 {
        upload(&app, &path, file("file", &format!("{n}.png"), PNG))
            .await
            .assert_status(201);
    }
    upload(&app, &path, file("file", "eleven.png", PNG))
        .await
        .assert_error(400, 120, "A maximum of 10 files are allowed for a user.");

    // Deleting: all named files of the user, or none.
    let first_id = first.body["id"].as_str().unwrap();
    let video_id = video.body["id"].as_str().unwrap();
    for query in [
        "",
        "?file_ids=",
        &format!("?file_ids={first_id},not-a-file"),
    ] {
        app.call(Method::DELETE, &format!("{path}{query}"), None)
            .await
            .assert_error(400, 300, "Invalid parameter: file_ids");
    }
    assert_eq!(
        listed(app.get(&format!("/users/{id}/settings")).await.body)
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // Named twice is named once; the default goes, so the oldest file left becomes the default.
    app.call(
        Method::DELETE,
        &format!("{path}?file_ids={first_id},{video_id},{first_id}"),
        None,
    )
    .await
    .assert_status(204);
    let files = listed(app.get(&format!("/users/{id}/settings")).await.body);
    assert_eq!(files.as_array().unwrap().len(), 8);
    let defaults: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["is_default"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(defaults, ["2.png"]);
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != first_id && f["id"] != video_id)
    );
    upload(&app, &path, file("file", "again.png", PNG))
        .await
        .assert_status(201);
}

/// A body whose declared length is over the limit is refused at once, before a byte of it is read.
#[backend_test]
async fn an_upload_declared_too_large_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let id = app.member("big-face@example.com").await;
    let address = app.base.trim_start_matches("http://").to_string();
    for (path, message) in [
        (
            format!("/v2/users/{id}/picture"),
            "File size cannot exceed 2M.",
        ),
        (
            format!("/v2/users/{id}/settings/virtual_backgrounds"),
            "File size cannot exceed 15M.",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 104857600\r\n\r\n--x\r\n",
            app.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        // The answer comes while 100 MB are still owed; the server closes or keeps the connection, either way
        // the answer is complete once its body is.
        while !String::from_utf8_lossy(&answer).contains(message) {
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut chunk))
                    .await
                    .expect("answered at once")
                    .unwrap();
            assert!(
                n > 0,
                "closed without the answer: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains(r#""code":120"#), "{text}");
    }
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["pic_url"],
        json!("")
    );
}

/// Behind a proxy, `--public-url` is what the URLs handed out start with.
#[tokio::test]
async fn handed_out_urls_follow_the_public_url() {
    let app = TestApp::spawn_tuned(|config| {
        config.public_url = Some("https://zoom.example.test/".into());
    })
    .await;
    let id = app.member("proxied@example.com").await;
    upload(
        &app,
        &format!("/users/{id}/picture"),
        file("pic_file", "me.png", PNG),
    )
    .await
    .assert_status(201);
    let pic_url = app.get(&format!("/users/{id}")).await.body["pic_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        pic_url.starts_with(&format!("https://zoom.example.test/p/{id}/")),
        "{pic_url}"
    );
    let scim = app
        .call_with(&app.token, Method::GET, &format!("/scim2/Users/{id}"), None)
        .await;
    assert_eq!(
        scim.body["meta"]["location"],
        format!("https://zoom.example.test/scim2/Users/{id}")
    );
    // A URL that is not one is refused at start.
    let mut config = localzoom_server::ServerConfig::new("127.0.0.1:0", "sqlite::memory:");
    config.public_url = Some("zoom.example.test".into());
    let refused = localzoom_server::server::start(config)
        .await
        .err()
        .expect("refused");
    assert!(refused.to_string().contains("--public-url"), "{refused}");
}
