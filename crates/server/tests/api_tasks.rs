//! Tasks that take time: an offline depot pulled over HTTP(S) with a header token reports
//! progress and can be canceled while it downloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::time::Duration;

use crate::api_support::{ADMIN, rpc_error, start_on};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use serde_json::{Value, json};

/// Serves `/bundle.zip` (only with `X-Token: t0k`) and `/slow.zip`, which sends a few bytes
/// and then nothing for a minute.
async fn upstream(bundle: Vec<u8>) -> String {
    let app = axum::Router::new()
        .route(
            "/bundle.zip",
            get(move |headers: HeaderMap| {
                let bundle = bundle.clone();
                async move {
                    if headers.get("x-token").and_then(|v| v.to_str().ok()) != Some("t0k") {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    bundle.into_response()
                }
            }),
        )
        .route(
            "/slow.zip",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |n| async move {
                    if n > 0 {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Some((Ok::<_, Infallible>(Bytes::from_static(b"PK\x03\x04")), n + 1))
                });
                ([("content-length", "1000000")], Body::from_stream(chunks))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn create(location: &str, auth: Value) -> Value {
    json!({"spec": {"STRUCTURE": {"com.vmware.esx.settings.depots.offline.create_spec": {
        "source_type": "PULL", "location": {"OPTIONAL": location}, "authentication_spec": auth}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_over_http_with_a_header_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.zip");
    generate_to_bundle(&GeneratorConfig::tiny(5), &path).unwrap();
    let base = upstream(std::fs::read(&path).unwrap()).await;
    let s = start_on(&dir.path().join("data")).await;
    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let url = format!("{base}/bundle.zip");

    // Without the token the upstream refuses: the task fails, naming no secret.
    let r = s
        .rpc_s(&t, "com.vmware.esx.settings.depots.offline", "create$task", create(&url, json!({"OPTIONAL": null})))
        .await;
    let (info, _) = s.rpc_wait_task(&t, r["result"]["output"].as_str().unwrap()).await;
    assert_eq!(info["status"], "FAILED");
    assert!(
        info["error"]["OPTIONAL"]["ERROR"]["com.vmware.vapi.std.errors.resource_inaccessible"].is_object(),
        "{info}"
    );

    let auth = json!({"OPTIONAL": {"STRUCTURE": {"com.vmware.esx.settings.depots.offline.authentication_spec": {
        "method": "HEADER_AUTH", "authentication_key": {"OPTIONAL": "X-Token"}, "authentication_value": {"OPTIONAL": "t0k"}}}}});
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "create$task", create(&url, auth)).await;
    let (info, _) = s.rpc_wait_task(&t, r["result"]["output"].as_str().unwrap()).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    // The token is not stored with the depot.
    let state = crate::api_support::state_json(&dir.path().join("data")).to_string();
    assert!(!state.contains("t0k"));
    let sources = std::fs::read(dir.path().join("data/store/meta.sqlite")).unwrap();
    assert!(!sources.windows(3).any(|w| w == b"t0k"), "nor with its store source");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_in_progress_can_be_canceled() {
    let dir = tempfile::tempdir().unwrap();
    let base = upstream(Vec::new()).await;
    let s = start_on(&dir.path().join("data")).await;
    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depots.offline",
            "create$task",
            create(&format!("{base}/slow.zip"), json!({"OPTIONAL": null})),
        )
        .await;
    let task = r["result"]["output"].as_str().unwrap().to_owned();

    // Wait until it is downloading (cancelable), then cancel.
    let mut cancelable = false;
    for _ in 0..250 {
        let r = s.rpc_s(&t, "com.vmware.cis.tasks", "get", json!({"task": task})).await;
        let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.cis.task.info"];
        assert_eq!(info["status"], "RUNNING", "{info}");
        if info["cancelable"] == true {
            cancelable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cancelable);
    let r = s.rpc_s(&t, "com.vmware.cis.tasks", "cancel", json!({"task": task})).await;
    assert_eq!(r["result"], json!({"output": null}), "{r}");

    // The stalled download is noticed at the next chunk; the test upstream stalls for a
    // minute, so the task must end through cancellation well before that.
    let started = std::time::Instant::now();
    let (info, _) = s.rpc_wait_task(&t, &task).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(info["status"], "FAILED");
    assert!(info["error"]["OPTIONAL"]["ERROR"]["com.vmware.vapi.std.errors.canceled"].is_object(), "{info}");

    // A finished task cannot be canceled; an unknown one is NotFound.
    let r = s.rpc_s(&t, "com.vmware.cis.tasks", "cancel", json!({"task": task})).await;
    rpc_error(&r, "not_allowed_in_current_state");
    let r = s.rpc_s(&t, "com.vmware.cis.tasks", "get", json!({"task": "nope:com.vmware.x"})).await;
    rpc_error(&r, "not_found");
    // Nothing half-downloaded stays behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/store/uploads")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    s.stop().await;
}
