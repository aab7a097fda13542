//! The seeds' curl commands, verbatim but for host and token.

use super::*;

#[backend_test]
fn the_seed_curl_commands_work_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let token = token(&server.base);
    let user = create_member(&server.base, &token, "seed.user@localzoom.test");
    let commands = seed_commands();
    assert_eq!(commands.len(), 4);
    let run = |words: &[String], user: &str| {
        let args: Vec<String> = words[1..]
            .iter()
            .map(|w| {
                w.replace("https://api.zoom.us", &server.base)
                    .replace("<access_token>", &token)
                    .replace(":userId", user)
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    };
    // 000 revoke SSO token, 003 delete assistants: 204.
    assert_eq!(run(&commands[0], &user), (204, String::new()));
    assert_eq!(run(&commands[3], &user), (204, String::new()));
    // 002: the seed's sample password has no digit, and Zoom's basic rules require one.
    let (status, body) = run(&commands[2], &user);
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"code":1126,"message":"Have at least 1 number (1, 2, 3…)"}"#
    );
    let with_digit: Vec<String> = commands[2]
        .iter()
        .map(|w| w.replace("dolor Excepteur minim", "dolor Excepteur minim 7"))
        .collect();
    assert_eq!(run(&with_digit, &user), (204, String::new()));
    // 001 deactivates.
    assert_eq!(run(&commands[1], &user), (204, String::new()));
    let (_, body) = api(&server.base, &token, "GET", &format!("/users/{user}"), None);
    assert_eq!(json_field(&body, "status"), "inactive");
    // An unknown user gets Zoom's 404.
    assert_eq!(
        run(&commands[0], "nobody"),
        (
            404,
            r#"{"code":1001,"message":"User does not exist: nobody."}"#.to_string()
        )
    );
}
