//! The `/api` REST dialect over HTTPS: Basic login, the session header, roles, status codes
//! and `{error_type, messages}` errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, start_on};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_lifecycle_with_basic_login() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    assert!(token.len() >= 32);

    let info: Value = s.get_json("/api/session", &token).await;
    assert_eq!(info["user"], ADMIN.0);
    assert!(info["created_time"].as_str().unwrap().ends_with('Z'));

    let (status, _) = s.send(Method::DELETE, "/api/session", &token, None).await;
    assert_eq!(status, 204);
    let (status, body) = s.send(Method::GET, "/api/session", &token, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error_type"], "UNAUTHENTICATED");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_no_session_are_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let r = s.client.post(s.url("/api/session")).basic_auth(ADMIN.0, Some("nope")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_type"], "UNAUTHENTICATED");
    assert!(!body["messages"].as_array().unwrap().is_empty());
    assert!(body["messages"][0]["default_message"].as_str().unwrap().contains("wrong user name or password"));

    let r = s.client.get(s.url("/api/esx/settings/depots/online")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = s.send(Method::GET, "/api/esx/settings/depots/online", "made-up-session", None).await;
    assert_eq!(status, 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_user_may_read_but_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let token = s.rest_login(VIEWER.0, VIEWER.1).await;
    let (status, list) = s.send(Method::GET, "/api/esx/settings/depots/online", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({}));

    let (status, body) = s
        .send(
            Method::POST,
            "/api/esx/settings/depots/online",
            &token,
            Some(json!({"location": "https://depot.example.com/index.xml"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error_type"], "UNAUTHORIZED");
    // Nothing was created.
    let list: Value = s.get_json("/api/esx/settings/depots/online", &token).await;
    assert_eq!(list, json!({}));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_depot_records_crud_and_error_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let base = "/api/esx/settings/depots/online";

    let (status, id) = s
        .send(
            Method::POST,
            base,
            &t,
            Some(json!({"location": "https://depot.example.com/index.xml", "description": "vendor"})),
        )
        .await;
    assert_eq!(status, 201);
    let id = id.as_str().unwrap().to_owned();

    let list: Value = s.get_json(base, &t).await;
    assert_eq!(
        list[&id],
        json!({"description": "vendor", "location": "https://depot.example.com/index.xml", "enabled": true,
               "system_defined": false, "owner": ADMIN.0})
    );

    let (status, _) = s.send(Method::PATCH, &format!("{base}/{id}"), &t, Some(json!({"enabled": false}))).await;
    assert_eq!(status, 204);
    let got: Value = s.get_json(&format!("{base}/{id}"), &t).await;
    assert_eq!(got["enabled"], false);
    assert_eq!(got["description"], "vendor");

    // Same location twice: AlreadyExists (400).
    let (status, e) =
        s.send(Method::POST, base, &t, Some(json!({"location": "https://depot.example.com/index.xml"}))).await;
    assert_eq!(status, 400);
    assert_eq!(e["error_type"], "ALREADY_EXISTS");

    // InvalidArgument: not http(s), then a required field missing, then a bad URI.
    for body in [
        json!({"location": "ftp://x/index.xml"}),
        json!({"description": "no location"}),
        json!({"location": "has space"}),
    ] {
        let (status, e) = s.send(Method::POST, base, &t, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(e["error_type"], "INVALID_ARGUMENT", "{e}");
        assert!(!e["messages"][0]["default_message"].as_str().unwrap().is_empty());
    }

    let (status, _) = s.send(Method::DELETE, &format!("{base}/{id}"), &t, None).await;
    assert_eq!(status, 204);
    let (status, e) = s.send(Method::GET, &format!("{base}/{id}"), &t, None).await;
    assert_eq!(status, 404);
    assert_eq!(e["error_type"], "NOT_FOUND");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains(&id));

    // An operation this server does not have (remediation).
    let (status, e) =
        s.send(Method::POST, "/api/esx/settings/clusters/domain-c8/software?action=apply", &t, None).await;
    assert_eq!(status, 404);
    assert_eq!(e["error_type"], "OPERATION_NOT_FOUND");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let (_, id) = s
        .send(
            Method::POST,
            "/api/esx/settings/depots/online",
            &t,
            Some(json!({"location": "https://depot.example.com/index.xml"})),
        )
        .await;
    let id = id.as_str().unwrap().to_owned();
    let ca_before = std::fs::read(dir.path().join("tls/ca.pem")).unwrap();
    s.stop().await;

    let s = start_on(dir.path()).await;
    // The certificate is reused, the users and depots are still there.
    assert_eq!(std::fs::read(dir.path().join("tls/ca.pem")).unwrap(), ca_before);
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let list: Value = s.get_json("/api/esx/settings/depots/online", &t).await;
    assert!(list.get(&id).is_some(), "{list}");
    let config = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert!(!config.contains(ADMIN.1) && !config.contains(VIEWER.1), "passwords must only be stored hashed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let second = esxlcm_server::api::ApiServer::start(esxlcm_server::api::ApiConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        initial_admin: None,
        hosts_listen: None,
        database: None,
        blobs: None,
    })
    .await;
    assert!(matches!(second, Err(esxlcm_server::api::ServeError::Locked(_))));
    s.stop().await;
}
