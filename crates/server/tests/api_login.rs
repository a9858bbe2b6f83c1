//! Issue #12, D1 and the minor API findings: user names and passwords are taken only where
//! a session is created, failed logins back off, unknown `?action=` is a 400, and a 500
//! says nothing of the server's internals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::api_support::{ADMIN, VIEWER, start_on};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_taken_only_to_create_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    // REST: Basic on an ordinary endpoint, on the upload and on an export download is refused.
    for (method, path) in [
        (Method::GET, "/api/esx/settings/depots/online"),
        (Method::POST, "/vum-fileupload"),
        (Method::GET, "/api/esxlcm/exports/00000000-0000-4000-8000-000000000000/image.json"),
    ] {
        let mut req = s.client.request(method.clone(), s.url(path)).basic_auth(ADMIN.0, Some(ADMIN.1));
        if method == Method::POST {
            req = req.body("PK");
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains("only to create a session"), "{body}");
    }
    // JSON-RPC: user_pass on anything but session.create is refused too.
    let sec = json!({"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": ADMIN.0, "password": ADMIN.1});
    let r = s.rpc("com.vmware.esx.settings.depots.online", "list", json!({}), sec).await;
    let err = r["result"]["error"].to_string();
    assert!(err.contains("unauthenticated") && err.contains("only to create a session"), "{r}");
    // The login itself works in both dialects, and its session opens the rest.
    let rest = s.rest_login(ADMIN.0, ADMIN.1).await;
    let rpc = s.rpc_login(ADMIN.0, ADMIN.1).await;
    for token in [&rest, &rpc] {
        let (status, _) = s.send(Method::GET, "/api/esx/settings/depots/online", token, None).await;
        assert_eq!(status, 200);
    }
    let up = s.rest(Method::POST, "/vum-fileupload", &rest).body("PK-not-a-bundle").send().await.unwrap();
    assert_eq!(up.status(), 201, "an upload takes the session id");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_back_off_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let attempt = |user: &'static str, password: &'static str| {
        s.client.post(s.url("/api/session")).basic_auth(user, Some(password)).send()
    };
    // The first failures are answered as such; then the user (and this address) back off.
    let mut throttled = None;
    for _ in 0..12 {
        let r = attempt(ADMIN.0, "wrong").await.unwrap();
        match r.status().as_u16() {
            401 => {}
            503 => {
                throttled = Some(r);
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let r = throttled.expect("wrong logins are throttled");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "SERVICE_UNAVAILABLE");
    assert!(body.to_string().contains("too many failed logins"), "{body}");
    // While backing off even the right password waits (no password check is run at all).
    assert_eq!(attempt(ADMIN.0, ADMIN.1).await.unwrap().status(), 503);
    // The address backs off too (the listener hands the peer address to the API).
    assert_eq!(attempt(VIEWER.0, VIEWER.1).await.unwrap().status(), 503, "same client address");
    // Once the backoff has passed, the right password logs in (and clears the failures).
    let mut status = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        status = attempt(ADMIN.0, ADMIN.1).await.unwrap().status().as_u16();
        if status == 201 {
            break;
        }
    }
    assert_eq!(status, 201, "the backoff ends");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_are_bad_requests_and_internal_errors_keep_their_details() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    let (status, body) =
        s.send(Method::POST, "/api/esx/settings/depots/online?action=bogus", &token, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("no action 'bogus'"), "{body}");

    // Uploads cannot be staged (their directory is a file): a 500 that names no path.
    let uploads = dir.path().join("store/uploads");
    let _ = std::fs::remove_dir_all(&uploads);
    std::fs::write(&uploads, b"in the way").unwrap();
    let r = s.rest(Method::POST, "/vum-fileupload", &token).body("PK").send().await.unwrap();
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    let data_dir = dir.path().to_string_lossy().into_owned();
    assert!(!text.contains(&data_dir) && !text.contains("uploads") && !text.contains("os error"), "{text}");
    assert!(text.contains("reference"), "{text}");
    s.stop().await;
}
