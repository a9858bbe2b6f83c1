//! The trust store: `vcenter.certificate_management.vcenter.tls` describes the server's
//! own certificate; `trusted_root_chains` checks PEM input and its chains are trusted by
//! HTTPS depot syncs: a depot behind a private CA fails to sync with a certificate error
//! until its CA is added, syncs with it (also after a restart), and fails again once the
//! chain is deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, TestServer, VIEWER, rpc_error, start_on};
use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
use reqwest::Method;
use serde_json::{Value, json};

const CHAINS: &str = "/api/vcenter/certificate-management/vcenter/trusted-root-chains";

/// Serve `dir` as a depot over HTTPS with a certificate from a private CA (the one
/// `esxlcm serve --https` makes in its data dir): the port, the CA's PEM, and the stopper.
async fn https_depot(
    dir: &std::path::Path,
    tls_dir: &std::path::Path,
) -> (u16, String, tokio::sync::oneshot::Sender<()>) {
    let https = esxlcm_server::https::Https::load_or_create(tls_dir, None).unwrap();
    let ca = std::fs::read_to_string(https.ca_file.as_ref().unwrap()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = esxlcm_server::depot_http::router(dir);
    tokio::spawn(async move {
        https
            .serve(listener, app, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (port, ca, stop)
}

async fn sync(s: &TestServer, t: &str) -> Value {
    s.rest_task(Method::POST, "/api/esx/settings/depots?action=sync", t, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_get_describes_the_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_on(dir.path()).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let (st, info) = s.send(Method::GET, "/api/vcenter/certificate-management/vcenter/tls", &viewer, None).await;
    assert_eq!(st, 200, "{info}");
    let served = std::fs::read_to_string(dir.path().join("tls/server.pem")).unwrap();
    let first = &served[..served.find("-----END CERTIFICATE-----").unwrap()];
    let got = info["cert"].as_str().unwrap();
    assert_eq!(
        got.lines().filter(|l| !l.starts_with("-----")).collect::<String>(),
        first.lines().filter(|l| !l.starts_with("-----")).collect::<String>(),
        "the certificate the server presents"
    );
    assert_eq!(info["version"], 3);
    assert_eq!(info["is_CA"], false);
    assert_eq!(info["path_length_constraint"], -1);
    assert_eq!(info["subject_dn"], "CN=esxlcm");
    assert!(info["issuer_dn"].as_str().unwrap().contains("esxlcm local CA"), "{info}");
    let sans: Vec<&str> =
        info["subject_alternative_name"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(sans.contains(&"localhost") && sans.contains(&"127.0.0.1"), "{sans:?}");
    assert_eq!(info["extended_key_usage"], json!(["serverAuth"]));
    assert!(info["valid_from"].as_str().unwrap() < info["valid_to"].as_str().unwrap());

    // JSON-RPC: the declared structure.
    let session = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s.rpc_s(&session, "com.vmware.vcenter.certificate_management.vcenter.tls", "get", json!({})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.vcenter.certificate_management.vcenter.tls.info"];
    assert_eq!(info["is_CA"], false, "{r}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_root_chains_are_checked_and_trusted_by_https_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    generate_to_tree(&GeneratorConfig::tiny(3), &tree).unwrap();
    let (port, ca, stop) = https_depot(&tree, &dir.path().join("depot-tls")).await;
    let data = dir.path().join("data");
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let location = format!("https://localhost:{port}/index.xml");
    let (st, id) =
        s.send(Method::POST, "/api/esx/settings/depots/online", &t, Some(json!({"location": location}))).await;
    assert_eq!(st, 201, "{id}");

    // Not trusted yet: the sync fails, saying it is the certificate and what to do.
    let info = sync(&s, &t).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    let message = info["error"]["messages"][0]["default_message"].as_str().unwrap().to_owned();
    assert!(message.contains("TLS certificate is signed by a CA this machine does not trust"), "{message}");
    assert!(message.contains("trusted-root-chains"), "{message}");
    assert!(!message.contains("esxlcm mirror"), "an API client has no mirror command: {message}");

    // PEM input is checked, with what is wrong.
    assert_eq!(s.get_json(CHAINS, &viewer).await, json!([]));
    let (st, e) =
        s.send(Method::POST, CHAINS, &t, Some(json!({"cert_chain": {"cert_chain": ["not a certificate"]}}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(
        e["messages"][0]["default_message"]
            .as_str()
            .unwrap()
            .contains("cert_chain.cert_chain[0] holds no PEM certificate"),
        "{e}"
    );
    let truncated = &ca[..ca.len() / 2];
    let (st, e) = s.send(Method::POST, CHAINS, &t, Some(json!({"cert_chain": {"cert_chain": [ca, truncated]}}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("cert_chain.cert_chain[1]"), "{e}");
    let (st, e) = s.send(Method::POST, CHAINS, &t, Some(json!({"cert_chain": {"cert_chain": []}}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let (st, _) = s.send(Method::POST, CHAINS, &viewer, Some(json!({"cert_chain": {"cert_chain": [ca]}}))).await;
    assert_eq!(st, 403);

    // Added (over JSON-RPC, with our own id), it is trusted at once.
    let session = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let spec = json!({"STRUCTURE": {"com.vmware.vcenter.certificate_management.vcenter.trusted_root_chains.create_spec": {
        "cert_chain": {"STRUCTURE": {"com.vmware.vcenter.certificate_management.x509_cert_chain": {"cert_chain": [ca]}}},
        "chain": {"OPTIONAL": "branch-ca"}}}});
    let service = "com.vmware.vcenter.certificate_management.vcenter.trusted_root_chains";
    let r = s.rpc_s(&session, service, "create", json!({"spec": spec})).await;
    assert_eq!(r["result"]["output"], "branch-ca", "{r}");
    let r = s.rpc_s(&session, service, "create", json!({"spec": spec})).await;
    rpc_error(&r, "already_exists");
    assert_eq!(s.get_json(CHAINS, &viewer).await, json!([{"chain": "branch-ca"}]));
    let got = s.get_json(&format!("{CHAINS}/branch-ca"), &viewer).await;
    assert_eq!(got["cert_chain"]["cert_chain"].as_array().unwrap().len(), 1, "{got}");
    assert!(got["cert_chain"]["cert_chain"][0].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let info = sync(&s, &t).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert!(!s.get_json("/api/esx/settings/depot-content/components", &t).await.as_array().unwrap().is_empty());

    // Kept across a restart.
    s.stop().await;
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let info = sync(&s, &t).await;
    assert_eq!(info["status"], "SUCCEEDED", "trusted again after a restart: {info}");

    // Deleted, the depot is not trusted any more.
    let (st, e) = s.send(Method::DELETE, &format!("{CHAINS}/branch-ca"), &t, None).await;
    assert_eq!(st, 204, "{e}");
    let (st, e) = s.send(Method::DELETE, &format!("{CHAINS}/branch-ca"), &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")));
    let info = sync(&s, &t).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    assert!(info["error"]["messages"][0]["default_message"].as_str().unwrap().contains("certificate"), "{info}");

    // Generated ids when none is given.
    let (st, id) = s.send(Method::POST, CHAINS, &t, Some(json!({"cert_chain": {"cert_chain": [ca]}}))).await;
    assert_eq!(st, 201, "{id}");
    assert!(id.as_str().unwrap().starts_with("chain-"), "{id}");
    stop.send(()).unwrap();
    s.stop().await;
}
