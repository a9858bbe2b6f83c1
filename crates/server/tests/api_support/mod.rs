//! Shared by the `api_*` integration tests: a server on loopback HTTPS with its generated
//! CA trusted, an admin and a read-only user, and small JSON-RPC / REST helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_server::api::users::InitialAdmin;
use esxlcm_server::api::{ApiConfig, ApiServer};
use serde_json::{Value, json};

pub const ADMIN: (&str, &str) = ("administrator@vsphere.local", "Adm1n!pass");
pub const VIEWER: (&str, &str) = ("viewer", "just-looking");

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub server: ApiServer,
    pub data_dir: PathBuf,
    next_id: std::sync::atomic::AtomicU64,
}

/// Start a server on `data_dir` (created with a read-only user on first use).
pub async fn start_on(data_dir: &Path) -> TestServer {
    let config_path = data_dir.join("config.json");
    if !config_path.exists() {
        std::fs::create_dir_all(data_dir).unwrap();
        // The operator's way to add a user: clear text, hashed away on start.
        std::fs::write(
            &config_path,
            json!({"users": [{"name": VIEWER.0, "role": "read_only", "password": VIEWER.1}]}).to_string(),
        )
        .unwrap();
    }
    // As ESXLCM_ADMIN_USER / ESXLCM_ADMIN_PASSWORD would give it; ignored after the first start.
    let initial_admin = Some(InitialAdmin { user: ADMIN.0.into(), password: ADMIN.1.into() });
    let server = ApiServer::start(ApiConfig {
        data_dir: data_dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        initial_admin,
        hosts_listen: None,
        database: None,
        blobs: None,
    })
    .await
    .unwrap();
    let ca = std::fs::read(server.ca_file.as_ref().unwrap()).unwrap();
    let client =
        reqwest::Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();
    let base = format!("https://localhost:{}", server.local_addr.port());
    TestServer { base, client, server, data_dir: data_dir.to_path_buf(), next_id: Default::default() }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A raw JSON-RPC exchange; the HTTP status must be 200 (§1.2).
    pub async fn rpc_raw(&self, body: &Value) -> Value {
        let resp = self.client.post(self.url("/api")).json(body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "JSON-RPC answers are always HTTP 200");
        resp.json().await.unwrap()
    }

    /// `invoke` with `input` fields (already DataValue-encoded) and a security context.
    pub async fn rpc(&self, service: &str, op: &str, input: Value, sec: Value) -> Value {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_string();
        let body = json!({"jsonrpc": "2.0", "method": "invoke", "params": {
            "serviceId": service, "operationId": op,
            "input": {"STRUCTURE": {"operation-input": input}},
            "ctx": {"appCtx": {"opId": "test"}, "securityCtx": sec}}, "id": id});
        let resp = self.rpc_raw(&body).await;
        assert_eq!(resp["id"], json!(id));
        assert_eq!(resp["jsonrpc"], "2.0");
        resp
    }

    pub async fn rpc_login(&self, user: &str, password: &str) -> String {
        let r = self
            .rpc(
                "com.vmware.cis.session",
                "create",
                json!({}),
                json!({"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": user, "password": password}),
            )
            .await;
        r["result"]["output"]["SECRET"].as_str().unwrap_or_else(|| panic!("login failed: {r}")).to_owned()
    }

    pub async fn rpc_s(&self, session: &str, service: &str, op: &str, input: Value) -> Value {
        self.rpc(
            service,
            op,
            input,
            json!({"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": session}),
        )
        .await
    }

    pub async fn rest_login(&self, user: &str, password: &str) -> String {
        let resp = self.client.post(self.url("/api/session")).basic_auth(user, Some(password)).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        resp.json::<String>().await.unwrap()
    }

    /// `GET path` over REST with the session, the answer's JSON body (any status).
    pub async fn get_json(&self, path: &str, session: &str) -> Value {
        self.rest(reqwest::Method::GET, path, session).send().await.unwrap().json().await.unwrap()
    }

    /// A REST call with an optional JSON body: the status and the JSON answer (`null` when empty).
    pub async fn send(&self, method: reqwest::Method, path: &str, session: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.rest(method, path, session);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Start `METHOD path?…&vmw-task=true` over REST and wait for the task: its last info.
    pub async fn rest_task(&self, method: reqwest::Method, path: &str, session: &str, body: Option<Value>) -> Value {
        self.rest_task_progress(method, path, session, body).await.0
    }

    /// `POST path?…&vmw-task=true` (actions such as `?action=commit`), waited for.
    pub async fn run_task(&self, session: &str, path: &str, body: Option<Value>) -> Value {
        self.rest_task(reqwest::Method::POST, path, session, body).await
    }

    /// [`Self::rest_task`], with every progress `completed` value seen while polling.
    pub async fn rest_task_progress(
        &self,
        method: reqwest::Method,
        path: &str,
        session: &str,
        body: Option<Value>,
    ) -> (Value, Vec<i64>) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, task) = self.send(method, &format!("{path}{sep}vmw-task=true"), session, body).await;
        assert_eq!(status, 202, "{task}");
        let task = task.as_str().unwrap().to_owned();
        let mut seen = Vec::new();
        for _ in 0..1500 {
            let (status, info) =
                self.send(reqwest::Method::GET, &format!("/api/cis/tasks/{task}"), session, None).await;
            assert_eq!(status, 200, "{info}");
            if let Some(c) = info["progress"]["completed"].as_i64() {
                seen.push(c);
            }
            if matches!(info["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
                return (info, seen);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("task {task} did not finish");
    }

    pub fn rest(&self, method: reqwest::Method, path: &str, session: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).header("vmware-api-session-id", session)
    }

    /// Poll `cis.tasks.get` over JSON-RPC until the task ends; returns the last info
    /// (the STRUCTURE's fields) and every progress `completed` value seen.
    pub async fn rpc_wait_task(&self, session: &str, task: &str) -> (Value, Vec<i64>) {
        let mut seen = Vec::new();
        for _ in 0..600 {
            let r = self
                .rpc_s(session, "com.vmware.cis.tasks", "get", json!({"task": task, "spec": {"OPTIONAL": null}}))
                .await;
            let info = r["result"]["output"]["STRUCTURE"]["com.vmware.cis.task.info"].clone();
            assert!(info.is_object(), "{r}");
            if let Some(c) =
                info["progress"]["OPTIONAL"]["STRUCTURE"]["com.vmware.cis.task.progress"]["completed"].as_i64()
            {
                seen.push(c);
            }
            match info["status"].as_str().unwrap() {
                "SUCCEEDED" | "FAILED" => return (info, seen),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        panic!("task {task} did not finish");
    }

    pub async fn stop(self) {
        self.server.shutdown(Duration::from_secs(1));
        self.server.wait().await.unwrap();
    }
}

/// Serve `dir` as an online depot over plain HTTP on loopback: its port, and the sender
/// that stops it.
pub async fn serve_depot(dir: &Path) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let (port, stop, _) = serve_depot_task(dir).await;
    (port, stop)
}

/// [`serve_depot`], with the server's task (awaited, it says the depot is gone).
pub async fn serve_depot_task(dir: &Path) -> (u16, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let dir = dir.to_path_buf();
    let task = tokio::spawn(async move {
        esxlcm_server::depot_http::serve(listener, &dir, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (port, stop, task)
}

/// A generated depot tree (`GeneratorConfig::tiny(seed)`) at `tree`: its catalog and the
/// names of its components.
pub fn tree_depot(tree: &Path, seed: u64) -> (Catalog, BTreeSet<String>) {
    generate_to_tree(&GeneratorConfig::tiny(seed), tree).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(tree, &OpenOptions::default()).unwrap()]).unwrap();
    let names = catalog.components().filter_map(|c| c.bulletin.component.as_ref().map(|s| s.name.clone())).collect();
    (catalog, names)
}

/// The `name`s of a list of components (as depot content lists them).
pub fn component_names(list: &Value) -> BTreeSet<String> {
    list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

/// A JSON-RPC vAPI error's inner struct, by name.
pub fn rpc_error<'a>(resp: &'a Value, name: &str) -> &'a Value {
    let e = &resp["result"]["error"]["ERROR"][format!("com.vmware.vapi.std.errors.{name}")];
    assert!(e.is_object(), "expected error {name}, got {resp}");
    e
}

/// The service's state as JSON, read from the store's database as a new server would
/// (the server must be stopped, or the state be settled).
pub fn state_json(data: &Path) -> Value {
    let store = esxlcm_store::Store::open(&data.join("store")).unwrap();
    let state = esxlcm_server::api::persist::DocumentState::new(std::sync::Arc::new(store));
    serde_json::to_value(state.load(&data.join("state.json")).unwrap().state).unwrap()
}

/// Change the stopped server's state behind its back (to make states the API refuses).
pub fn edit_state(data: &Path, edit: impl FnOnce(&mut Value)) {
    let store = esxlcm_store::Store::open(&data.join("store")).unwrap();
    let state = esxlcm_server::api::persist::DocumentState::new(std::sync::Arc::new(store));
    let mut value = serde_json::to_value(state.load(&data.join("state.json")).unwrap().state).unwrap();
    edit(&mut value);
    state.save(&serde_json::from_value(value).unwrap()).unwrap();
}
