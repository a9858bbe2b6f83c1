//! The whole service in one `esxlcm serve` process, driven as an admin would: a depot made
//! through the API is a store source (synced, verified, served to hosts under `/depots/`,
//! listed by `esxlcm mirror`); a bundle pushed with `esxlcm mirror push` is depot content
//! of the API; `kill -9` during an API sync and during draft commits loses nothing
//! committed and leaves nothing half-written, and the interrupted task says so.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::mirror_support::{
    Served, esxlcm, generate, json as run_json, listed_source, ok, start_serving, verify_json,
};

const ADMIN: (&str, &str) = ("admin", "Adm1n!pass");

/// A running `esxlcm serve` with an admin session.
pub(crate) struct Service {
    child: Child,
    /// `https://127.0.0.1:PORT`
    api: String,
    /// `127.0.0.1:PORT` of the hosts' plain-HTTP listener.
    pub(crate) hosts: String,
    client: Client,
    token: String,
}

impl Service {
    fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// [`Service::start`] with more environment (a cluster store's variables).
    pub(crate) fn start_with(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = esxlcm()
            .envs(env.iter().copied())
            .args(["serve", "--no-demo", "--data-dir", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--hosts-listen", "127.0.0.1:0"])
            .env("ESXLCM_ADMIN_USER", ADMIN.0)
            .env("ESXLCM_ADMIN_PASSWORD", ADMIN.1)
            .stdout(Stdio::piped())
            // The server's log, for a failure's post-mortem.
            .stderr(std::fs::File::options().create(true).append(true).open(data.with_extension("log")).unwrap())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut banner = Vec::new();
        loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "serve stopped early: {banner:?}");
            let last = line.starts_with("press Ctrl-C");
            banner.push(line.trim_end().to_owned());
            if last {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let api = banner[0].strip_prefix("listening on ").unwrap().trim_end_matches("/api").to_owned();
        let hosts = banner
            .iter()
            .find_map(|l| l.trim().strip_prefix("http://").and_then(|r| r.split('/').next()))
            .unwrap()
            .to_owned();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
        let client = Client::builder().add_root_certificate(ca).build().unwrap();
        let resp = client.post(format!("{api}/api/session")).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
        assert_eq!(resp.status(), 201);
        let token: String = serde_json::from_str(&resp.text().unwrap()).unwrap();
        Self { child, api, hosts, client, token }
    }

    /// The status of a login as `user` (201 when it is let in).
    pub(crate) fn login_status(&self, user: &str, password: &str) -> u16 {
        let resp =
            self.client.post(format!("{}/api/session", self.api)).basic_auth(user, Some(password)).send().unwrap();
        resp.status().as_u16()
    }

    /// The admin session this service logged in with.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// A REST call: status and JSON answer (`null` when empty).
    pub(crate) fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.token, method, path, body)
    }

    /// [`Service::call`] in session `token` (made on this or another replica).
    pub(crate) fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.api)).header("vmware-api-session-id", token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// `POST /vum-fileupload` of `bytes`: the upload's id.
    pub(crate) fn upload(&self, bytes: Vec<u8>) -> String {
        let resp = self
            .client
            .post(format!("{}/vum-fileupload", self.api))
            .header("vmware-api-session-id", &self.token)
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 201);
        serde_json::from_str(&resp.text().unwrap()).unwrap()
    }

    /// Start `POST path` as a task; its id.
    fn start_task(&self, path: &str, body: Option<Value>) -> String {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, task) = self.call(Method::POST, &format!("{path}{sep}vmw-task=true"), body);
        assert_eq!(status, 202, "{task}");
        task.as_str().unwrap().to_owned()
    }

    fn task(&self, id: &str) -> Value {
        let (status, info) = self.call(Method::GET, &format!("/api/cis/tasks/{id}"), None);
        assert_eq!(status, 200, "{info}");
        info
    }

    /// Run `POST path` as a task and wait for it to end.
    pub(crate) fn run_task(&self, path: &str, body: Option<Value>) -> Value {
        let id = self.start_task(path, body);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let info = self.task(&id);
            if matches!(info["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
                return info;
            }
            assert!(Instant::now() < deadline, "task {id} did not end: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash or power cut would stop it.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `esxlcm serve --dir DIR` on a free port: the upstream of online depots (`base` is its URL).
fn upstream(dir: &Path) -> Served {
    let mut serve = esxlcm();
    serve.args(["serve", "--dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    start_serving(serve)
}

/// An upstream that takes connections and never answers: a sync against it stays running.
fn stalling_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{addr}/index.xml")
}

fn components_of(depot: &str) -> Vec<String> {
    let r = run_json(&ok(&["depot", "inspect", depot, "--json"]));
    let mut names: Vec<String> =
        r["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

fn store_of(data: &Path) -> PathBuf {
    data.join("store")
}

#[test]
fn an_api_depot_is_a_store_source_served_to_hosts_and_mirror_pushes_are_api_content() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("upstream");
    generate(2, &tree);
    let upstream = upstream(&tree);
    let data = dir.path().join("data");
    let s = Service::start(&data);

    // An online depot made through the API, synced through the API.
    let (status, id) = s.call(
        Method::POST,
        "/api/esx/settings/depots/online",
        Some(json!({"location": format!("{}index.xml", upstream.base), "description": "upstream"})),
    );
    assert_eq!(status, 201, "{id}");
    let id = id.as_str().unwrap().to_owned();
    let info = s.run_task("/api/esx/settings/depots?action=sync", None);
    assert_eq!(info["status"], "SUCCEEDED", "{info}");

    // It is a store source, published and verified, and hosts get it under /depots/.
    let store = store_of(&data);
    let store_arg = store.to_str().unwrap();
    let listed = run_json(&ok(&["mirror", "--store", store_arg, "list", "--json"]));
    let source = listed_source(&listed, &id);
    assert_eq!(source["description"], "upstream");
    assert!(source["published_snapshot"].as_i64().is_some(), "{source}");
    assert_eq!(source["served_at"], format!("/depots/{id}/index.xml"));
    let served = format!("http://{}/depots/{id}/index.xml", s.hosts);
    assert_eq!(components_of(&served), components_of(tree.to_str().unwrap()), "hosts get what upstream has");
    let verified = verify_json(&store);
    assert_eq!(verified["clean"], true, "{verified}");

    // A bundle pushed with `esxlcm mirror push` beside the running server is API content.
    let bundle = dir.path().join("oem.zip");
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "11", "--out", bundle.to_str().unwrap()]);
    ok(&["mirror", "--store", store_arg, "push", "oem", bundle.to_str().unwrap()]);
    let pushed = components_of(bundle.to_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, list) = s.call(Method::GET, "/api/esx/settings/depot-content/components", None);
        let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
        assert_eq!(status, 200, "{list}\n{log}");
        let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        if pushed.iter().all(|p| names.contains(&p.as_str())) {
            break;
        }
        assert!(Instant::now() < deadline, "the pushed bundle's components never showed: {names:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, offline) = s.call(Method::GET, "/api/esx/settings/depots/offline", None);
    assert_eq!(status, 200, "{offline}");
    assert_eq!(offline["oem"]["source_type"], "PULL", "the pushed source is an offline depot of the API: {offline}");
}

#[test]
fn kill_9_during_an_api_sync_and_during_draft_commits_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("upstream");
    generate(2, &tree);
    let upstream = upstream(&tree);
    let data = dir.path().join("data");
    let store = store_of(&data);

    let s = Service::start(&data);
    let (status, good) = s.call(
        Method::POST,
        "/api/esx/settings/depots/online",
        Some(json!({"location": format!("{}index.xml", upstream.base)})),
    );
    assert_eq!(status, 201, "{good}");
    let info = s.run_task("/api/esx/settings/depots?action=sync", None);
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, bases) = s.call(Method::GET, "/api/esx/settings/depot-content/base-images", None);
    let version = bases[0]["version"].as_str().unwrap().to_owned();
    let (status, cluster) = s.call(Method::POST, "/api/esxlcm/clusters", Some(json!({"name": "prod"})));
    assert_eq!(status, 201, "{cluster}");
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());

    // Draft commits, each killed at another moment: afterwards the commit is whole (and its
    // draft gone) or absent (and its draft still there), never anything between.
    let mut s = s;
    for (round, delay_ms) in [0u64, 3, 15, 60].into_iter().enumerate() {
        let (status, draft) = s.call(Method::POST, &format!("{sw}/drafts"), None);
        assert_eq!(status, 201, "{draft}");
        let draft = draft.as_str().unwrap().to_owned();
        let d = format!("{sw}/drafts/{draft}");
        let (status, e) = s.call(Method::PUT, &format!("{d}/software/base-image"), Some(json!({"version": version})));
        assert_eq!(status, 204, "{e}");
        let message = format!("round {round}");
        let task = s.start_task(&format!("{d}?action=commit"), Some(json!({"message": message})));
        std::thread::sleep(Duration::from_millis(delay_ms));
        s.kill();
        s = Service::start(&data);
        let info = s.task(&task);
        let (_, c) = s.call(Method::GET, &format!("/api/esxlcm/clusters/{}", cluster.as_str().unwrap()), None);
        let committed = match c["commit"].as_str() {
            Some(commit) => {
                let (status, ci) = s.call(Method::GET, &format!("{sw}/commits/{commit}"), None);
                assert_eq!(status, 200, "round {round}: the current commit is readable: {ci}");
                ci["description"] == message.as_str()
            }
            None => false,
        };
        let commits = c.clone();
        let (status, _) = s.call(Method::GET, &d, None);
        let draft_left = status == 200;
        assert!(committed != draft_left, "round {round}: commit {committed}, draft left {draft_left}: {commits}");
        match info["status"].as_str() {
            Some("SUCCEEDED") => assert!(committed, "round {round}: {info}"),
            Some("FAILED") => {
                let text = info["error"].to_string();
                assert!(text.contains("interrupted by restart") || committed, "round {round}: {info}");
            }
            other => panic!("round {round}: the task reads {other:?} after a restart: {info}"),
        }
        if draft_left {
            let (status, e) = s.call(Method::DELETE, &d, None);
            assert_eq!(status, 204, "{e}");
        }
    }

    // A sync that hangs upstream, killed while it runs: the task reads interrupted, the
    // depots and the store are intact.
    let (status, stuck) =
        s.call(Method::POST, "/api/esx/settings/depots/online", Some(json!({"location": stalling_upstream()})));
    assert_eq!(status, 201, "{stuck}");
    let task = s.start_task("/api/esx/settings/depots?action=sync", None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(s.task(&task)["status"], "RUNNING");
    s.kill();
    let s = Service::start(&data);
    let info = s.task(&task);
    assert_eq!(info["status"], "FAILED", "{info}");
    assert!(info["error"].to_string().contains("interrupted by restart"), "{info}");
    let (_, online) = s.call(Method::GET, "/api/esx/settings/depots/online", None);
    assert!(online.get(good.as_str().unwrap()).is_some() && online.get(stuck.as_str().unwrap()).is_some(), "{online}");
    let (status, content) =
        s.call(Method::GET, &format!("/api/esx/settings/depots/online/{}/content", good.as_str().unwrap()), None);
    assert_eq!(status, 200, "the synced depot stays published: {content}");
    let status_doc = run_json(&ok(&["mirror", "--store", store.to_str().unwrap(), "status", "--json"]));
    let stuck_status = listed_source(&status_doc, stuck.as_str().unwrap());
    assert_eq!(
        stuck_status["sync"]["state"], "failed",
        "a sync killed with its process is not running: {stuck_status}"
    );
    assert!(stuck_status["sync"]["message"].as_str().unwrap().contains("interrupted"), "{stuck_status}");
    drop(s);
    let verified = verify_json(&store);
    assert_eq!(verified["clean"], true, "{verified}");
}

/// The value of the first `/metrics` sample named `name` whose labels include every one of
/// `labels` (`key="value"`); `None` when there is none.
fn sample(metrics: &str, name: &str, labels: &[&str]) -> Option<f64> {
    metrics.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        (metric == name && labels.iter().all(|l| rest.contains(l))).then(|| value.parse().ok()).flatten()
    })
}

#[test]
fn metrics_count_requests_bytes_logins_and_syncs_and_the_access_log_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("svc");
    let svc = Service::start(&data);
    let store = store_of(&data);
    let upstream_dir = dir.path().join("upstream");
    generate(2, &upstream_dir);

    // Probes answer anyone; /metrics answers this machine.
    for probe in ["/healthz", "/readyz"] {
        let r = svc.client.get(format!("{}{probe}", svc.api)).send().unwrap();
        assert_eq!(r.status(), 200, "{probe}");
    }
    // The REST dialect's contract, without a session.
    let doc: Value =
        serde_json::from_str(&svc.client.get(format!("{}/api/openapi.json", svc.api)).send().unwrap().text().unwrap())
            .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/esx/settings/depots/offline"]["post"].is_object(), "{}", doc["paths"]);
    let scrape = || {
        let r = svc.client.get(format!("{}/metrics", svc.api)).send().unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
        let text = r.text().unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        text
    };
    let before = scrape();
    let counter = |text: &str, name: &str, labels: &[&str]| sample(text, name, labels).unwrap_or(0.0);

    // A sync from another process (what a timer's `mirror sync --due` does), then hosts
    // read the depot and a login fails.
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &format!("file://{}/", upstream_dir.display())]);
    ok(&["mirror", "--store", s, "sync", "up"]);
    let index = reqwest::blocking::get(format!("http://{}/depots/up/index.xml", svc.hosts)).unwrap();
    assert_eq!(index.status(), 200);
    let index_len = index.bytes().unwrap().len() as f64;
    let missing = reqwest::blocking::get(format!("http://{}/depots/made-up-name/index.xml", svc.hosts)).unwrap();
    assert_eq!(missing.status(), 404);
    let refused =
        svc.client.post(format!("{}/api/session", svc.api)).basic_auth(ADMIN.0, Some("wrong")).send().unwrap();
    assert_eq!(refused.status(), 401);
    let (status, _) = svc.call(Method::GET, "/api/esx/settings/depots/offline", None);
    assert_eq!(status, 200);

    let after = scrape();
    let moved = |name: &str, labels: &[&str]| counter(&after, name, labels) - counter(&before, name, labels);
    assert!(moved("esxlcm_http_requests_total", &["listener=\"hosts\"", "code=\"200\""]) >= 1.0, "{after}");
    assert!(moved("esxlcm_depot_requests_total", &["source=\"up\"", "code=\"200\""]) >= 1.0, "{after}");
    assert!(moved("esxlcm_depot_sent_bytes_total", &["source=\"up\""]) >= index_len, "{after}");
    // A made-up name is not a series of its own.
    assert!(!after.contains("made-up-name"), "{after}");
    assert!(moved("esxlcm_depot_requests_total", &["source=\"-\"", "code=\"404\""]) >= 1.0, "{after}");
    assert!(moved("esxlcm_login_failures_total", &[]) >= 1.0, "{after}");
    assert!(moved("esxlcm_api_request_duration_seconds_count", &["dialect=\"rest\""]) >= 2.0, "{after}");
    assert_eq!(counter(&after, "esxlcm_sync_runs_total", &["source=\"up\"", "outcome=\"published\""]), 1.0, "{after}");
    assert_eq!(
        counter(&after, "esxlcm_sync_duration_seconds_count", &["source=\"up\"", "outcome=\"published\""]),
        1.0,
        "{after}"
    );
    assert!(counter(&after, "esxlcm_sync_duration_seconds_bucket", &["source=\"up\"", "le=\"+Inf\""]) >= 1.0);
    assert_eq!(counter(&after, "esxlcm_store_up", &[]), 1.0, "{after}");
    assert!(counter(&after, "esxlcm_store_payload_bytes", &[]) > 0.0, "{after}");
    assert!(counter(&after, "esxlcm_sources", &[]) >= 1.0, "{after}");
    assert!(after.contains("esxlcm_quarantined_payloads") && after.contains("esxlcm_api_tasks"), "{after}");

    // One access-log line per request: method, path, status, bytes, and the user of a login.
    drop(svc);
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("/depots/up/index.xml") && l.contains("200"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("GET") && line.contains(&format!("{index_len}B")), "{line}");
    assert!(log.lines().any(|l| l.contains("POST /api/session 201") && l.contains("user=admin")), "{log}");
    assert!(log.lines().any(|l| l.contains("POST /api/session 401") && l.contains("user=-")), "{log}");
    // A call made with a session id names the user the session belongs to.
    assert!(
        log.lines().any(|l| l.contains("GET /api/esx/settings/depots/offline 200") && l.contains("user=admin")),
        "{log}"
    );
}

#[test]
fn light_modes_answer_probes_and_metrics_under_dash() {
    let dir = tempfile::tempdir().unwrap();
    let upstream_dir = dir.path().join("up");
    generate(2, &upstream_dir);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &format!("file://{}/", upstream_dir.display())]);
    ok(&["mirror", "--store", s, "sync"]);
    let served = crate::mirror_support::serve_store(&store);
    let get = |path: &str| reqwest::blocking::get(format!("{}{path}", served.base.trim_end_matches('/'))).unwrap();
    assert_eq!(get("/up/index.xml").status(), 200);
    assert_eq!(get("/-/healthz").status(), 200);
    assert_eq!(get("/-/readyz").status(), 200);
    let metrics = get("/-/metrics").text().unwrap();
    assert!(
        sample(&metrics, "esxlcm_depot_requests_total", &["source=\"up\"", "code=\"200\""]) >= Some(1.0),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, "esxlcm_sync_runs_total", &["source=\"up\"", "outcome=\"published\""]), Some(1.0));

    let dir_served = upstream(&upstream_dir);
    let get = |path: &str| reqwest::blocking::get(format!("{}{path}", dir_served.base.trim_end_matches('/'))).unwrap();
    assert_eq!(get("/index.xml").status(), 200);
    assert_eq!(get("/-/healthz").status(), 200);
    let metrics = get("/-/metrics").text().unwrap();
    assert!(
        sample(&metrics, "esxlcm_depot_requests_total", &["source=\"dir\"", "code=\"200\""]) >= Some(1.0),
        "{metrics}"
    );
}
