//! Load test of the vLCM-compatible API on loopback (docs/PERFORMANCE.md, "API load test
//! (crates/server)"). Starts the API server in-process on a fresh data dir with a generated
//! offline depot, then for `--seconds`:
//!
//! * `--readers` clients (each its own HTTPS connection) browse depot content over REST
//!   (or, with `--dialect jsonrpc`, the same reads as vAPI JSON-RPC calls on `POST /api`):
//!   components, base images and add-ons (lists and single versions) and offline depots
//!   (list, get), with a random think time averaging `--think-ms` between requests;
//! * `--editors` administrators each edit a draft of their own cluster in a loop: create
//!   the draft, set a component, validate (a task, polled every 10 ms), delete the draft.
//!
//! Every non-2xx answer, transport error or failed task counts as an error. Latencies are
//! per request class; a validation's latency is from its start to the task's end.
//!
//!     cargo run --release -p esxlcm-server --example api_load -- --seconds 60 --readers 200 --editors 10
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_server::api::users::InitialAdmin;
use esxlcm_server::api::{ApiConfig, ApiServer};
use reqwest::Method;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio::sync::Mutex;

const ADMIN: (&str, &str) = ("administrator@vsphere.local", "Adm1n!pass");
const VIEWER: (&str, &str) = ("viewer", "just-looking");

struct Args {
    seconds: u64,
    readers: usize,
    editors: usize,
    think_ms: u64,
    /// Viewer sessions the readers share (each login costs an Argon2 hash).
    sessions: usize,
    /// How readers ask: REST GETs, or vAPI JSON-RPC `invoke` on `POST /api` (the SDK's way).
    jsonrpc: bool,
}

fn args() -> Args {
    let mut a = Args { seconds: 60, readers: 200, editors: 10, think_ms: 100, sessions: 20, jsonrpc: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--dialect" {
            a.jsonrpc = match it.next().as_deref() {
                Some("rest") => false,
                Some("jsonrpc") => true,
                other => panic!("--dialect takes rest or jsonrpc, not {other:?}"),
            };
            continue;
        }
        let value: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--seconds" => a.seconds = value,
            "--readers" => a.readers = usize::try_from(value).unwrap(),
            "--editors" => a.editors = usize::try_from(value).unwrap(),
            "--think-ms" => a.think_ms = value,
            "--sessions" => a.sessions = usize::try_from(value).unwrap().max(1),
            other => {
                panic!("unknown flag {other} (--seconds, --readers, --editors, --think-ms, --sessions, --dialect)")
            }
        }
    }
    a
}

/// Per class: latencies in microseconds, errors and the first few error texts.
#[derive(Default)]
struct Class {
    micros: Vec<u64>,
    errors: u64,
    samples: Vec<String>,
}

type Stats = Arc<Mutex<BTreeMap<&'static str, Class>>>;

async fn record(stats: &Stats, class: &'static str, started: Instant, outcome: Result<(), String>) {
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut s = stats.lock().await;
    let c = s.entry(class).or_default();
    c.micros.push(micros);
    if let Err(e) = outcome {
        c.errors += 1;
        if c.samples.len() < 3 {
            c.samples.push(e);
        }
    }
}

/// xorshift64*: enough randomness for picking requests and think times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

struct Target {
    base: String,
    ca: reqwest::Certificate,
}

impl Target {
    fn client(&self) -> reqwest::Client {
        // Only the server's CA: parsing the system's roots 200 times would load the machine.
        reqwest::Client::builder()
            .tls_certs_only([self.ca.clone()])
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let mut req = client.request(method, format!("{base}{path}")).header("vmware-api-session-id", token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| format!("{path}: {e}"))?;
    if !status.is_success() {
        return Err(format!("{path}: HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))? })
}

/// A read: the whole body received, not parsed (the client's CPU is the server's too here).
async fn fetch(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Result<(), String> {
    let resp = client
        .get(format!("{base}{path}"))
        .header("vmware-api-session-id", token)
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
    if !status.is_success() || body.is_empty() {
        return Err(format!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])));
    }
    Ok(())
}

/// A read over JSON-RPC: `invoke` with the session in `securityCtx`. A vAPI error comes as
/// `result.error` with HTTP 200, so the reply is read for its shape only — into
/// `IgnoredAny`, nothing kept — the way REST reads skip parsing: the load generator's CPU
/// is the server's too here.
async fn invoke(client: &reqwest::Client, base: &str, call: &RpcCall, token: &str) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Reply {
        result: Option<Outcome>,
        error: Option<IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct Outcome {
        output: Option<IgnoredAny>,
        error: Option<IgnoredAny>,
    }
    let body = json!({"jsonrpc": "2.0", "method": "invoke", "id": "1", "params": {
        "serviceId": call.service, "operationId": call.op,
        "input": {"STRUCTURE": {"operation-input": call.input}},
        "ctx": {"appCtx": {}, "securityCtx": {"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": token}}}});
    let what = || format!("{}.{}", call.service, call.op);
    let resp = client.post(format!("{base}/api")).json(&body).send().await.map_err(|e| format!("{}: {e}", what()))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("{}: {e}", what()))?;
    let reply: Result<Reply, _> = serde_json::from_slice(&bytes);
    let ok = matches!(&reply, Ok(Reply { result: Some(Outcome { output: Some(_), error: None }), error: None }));
    if !status.is_success() || !ok {
        return Err(format!("{}: HTTP {status}: {}", what(), String::from_utf8_lossy(&bytes[..bytes.len().min(200)])));
    }
    Ok(())
}

async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let r = client.post(format!("{base}/api/session")).basic_auth(user, Some(password)).send().await.unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Start a task and poll it to its end.
async fn run_task(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let task = call(client, base, Method::POST, &format!("{path}{sep}vmw-task=true"), token, body).await?;
    let task = task.as_str().ok_or("no task id")?.to_owned();
    loop {
        let info = call(client, base, Method::GET, &format!("/api/cis/tasks/{task}"), token, None).await?;
        match info["status"].as_str() {
            Some("SUCCEEDED") => return Ok(info),
            Some("FAILED") => return Err(format!("{path}: task failed: {}", info["error"])),
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One JSON-RPC read: service, operation and its `operation-input` fields.
struct RpcCall {
    service: &'static str,
    op: &'static str,
    input: Value,
}

/// What readers ask for, taken from the depot content itself: REST paths and the same
/// reads as JSON-RPC calls (`--dialect` picks which).
struct Paths {
    gets: Vec<(&'static str, String)>,
    calls: Vec<(&'static str, RpcCall)>,
    jsonrpc: bool,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// One simulated client: its connection, session and random seed.
struct Who {
    client: reqwest::Client,
    token: String,
    seed: u64,
}

async fn reader(who: Who, target: Arc<Target>, paths: Arc<Paths>, stats: Stats, stop: Arc<AtomicBool>, think: u64) {
    let Who { client, token, seed } = who;
    let mut rng = Rng(seed | 1);
    // Spread the start so 200 clients do not arrive in one burst.
    tokio::time::sleep(Duration::from_millis(rng.next() % (think * 2 + 1))).await;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if paths.jsonrpc {
            let (class, call) = &paths.calls[rng.below(paths.calls.len())];
            let r = invoke(&client, &target.base, call, &token).await;
            record(&stats, class, started, r).await;
        } else {
            let (class, path) = &paths.gets[rng.below(paths.gets.len())];
            let r = fetch(&client, &target.base, path, &token).await;
            record(&stats, class, started, r).await;
        }
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(rng.next() % (think * 2 + 1))).await;
        }
    }
}

async fn editor(
    who: Who,
    target: Arc<Target>,
    cluster: String,
    components: Arc<Vec<(String, String)>>,
    stats: Stats,
    stop: Arc<AtomicBool>,
) {
    let Who { client, token, seed } = who;
    let base = &target.base;
    let mut rng = Rng(seed | 1);
    let sw = format!("/api/esx/settings/clusters/{cluster}/software");
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let draft = call(&client, base, Method::POST, &format!("{sw}/drafts"), &token, None).await;
        let ok = draft.as_ref().map(drop).map_err(Clone::clone);
        record(&stats, "edit: create draft", started, ok).await;
        let Ok(Value::String(draft)) = draft else { continue };
        let d = format!("{sw}/drafts/{draft}");
        let (name, version) = &components[rng.below(components.len())];
        let started = Instant::now();
        let body = json!(version);
        let r =
            call(&client, base, Method::PUT, &format!("{d}/software/components/{}", enc(name)), &token, Some(&body))
                .await
                .map(drop);
        record(&stats, "edit: set component", started, r).await;
        let started = Instant::now();
        let r = run_task(&client, base, &format!("{d}?action=validate"), &token, None).await.map(drop);
        record(&stats, "edit: validate (task)", started, r).await;
        let started = Instant::now();
        let r = call(&client, base, Method::DELETE, &d, &token, None).await.map(drop);
        record(&stats, "edit: delete draft", started, r).await;
    }
}

/// CPU seconds (user + system) used so far by this process's threads named `prefix…`
/// (Linux: /proc/self/task/*/stat, clock ticks of 1/100 s).
fn cpu_seconds(prefix: &str) -> f64 {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the name: state is field 3, utime field 14, stime field 15.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        ticks += fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        ticks += fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    ticks as f64 / 100.0
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    // The server on its own runtime (its own threads), as if it were another process.
    // Idle blocking threads are kept so that their CPU time is still counted at the end.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .thread_keep_alive(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("client").build().unwrap();
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("depot.zip");
    let config = GeneratorConfig { seed: 1, ..GeneratorConfig::default() };
    generate_to_bundle(&config, &bundle).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("config.json"),
        json!({"users": [{"name": VIEWER.0, "role": "read_only", "password": VIEWER.1}]}).to_string(),
    )
    .unwrap();
    let server = server_rt
        .block_on(ApiServer::start(ApiConfig {
            data_dir: data.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            initial_admin: Some(InitialAdmin { user: ADMIN.0.into(), password: ADMIN.1.into() }),
            hosts_listen: None,
            database: None,
            blobs: None,
        }))
        .unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(server.ca_file.as_ref().unwrap()).unwrap()).unwrap();
    let target = Arc::new(Target { base: format!("https://localhost:{}", server.local_addr.port()), ca });
    let errors = client_rt.block_on(drive(a, target, bundle));
    server.shutdown(Duration::from_secs(2));
    server_rt.block_on(server.wait()).unwrap();
    drop(dir);
    if errors > 0 {
        std::process::exit(1);
    }
}

async fn drive(a: Args, target: Arc<Target>, bundle: std::path::PathBuf) -> u64 {
    let setup = target.client();
    let base = target.base.clone();
    let admin = login(&setup, &base, ADMIN.0, ADMIN.1).await;

    // The depot, and what to ask about it.
    let location = json!({"source_type": "PULL", "location": bundle.to_str().unwrap()});
    let info = run_task(&setup, &base, "/api/esx/settings/depots/offline", &admin, Some(&location)).await.unwrap();
    let depot = info["result"]["depot"].as_str().unwrap().to_owned();
    let comps =
        call(&setup, &base, Method::GET, "/api/esx/settings/depot-content/components", &admin, None).await.unwrap();
    let bases =
        call(&setup, &base, Method::GET, "/api/esx/settings/depot-content/base-images", &admin, None).await.unwrap();
    let addons =
        call(&setup, &base, Method::GET, "/api/esx/settings/depot-content/add-ons", &admin, None).await.unwrap();
    let mut component_versions = Vec::new();
    for c in comps.as_array().unwrap() {
        for v in c["versions"].as_array().unwrap() {
            component_versions
                .push((c["name"].as_str().unwrap().to_owned(), v["version"].as_str().unwrap().to_owned()));
        }
    }
    let base_versions: Vec<String> =
        bases.as_array().unwrap().iter().map(|b| b["version"].as_str().unwrap().to_owned()).collect();
    let rpc = |service, op, input| RpcCall { service, op, input };
    let mut calls: Vec<(&'static str, RpcCall)> = vec![
        ("read: components list", rpc("com.vmware.esx.settings.depot_content.components", "list", json!({}))),
        ("read: base images list", rpc("com.vmware.esx.settings.depot_content.base_images", "list", json!({}))),
        ("read: add-ons list", rpc("com.vmware.esx.settings.depot_content.add_ons", "list", json!({}))),
        ("read: offline depots list", rpc("com.vmware.esx.settings.depots.offline", "list", json!({}))),
        ("read: offline depot get", rpc("com.vmware.esx.settings.depots.offline", "get", json!({"depot": depot}))),
    ];
    let mut gets: Vec<(&'static str, String)> = vec![
        ("read: components list", "/api/esx/settings/depot-content/components".into()),
        ("read: base images list", "/api/esx/settings/depot-content/base-images".into()),
        ("read: add-ons list", "/api/esx/settings/depot-content/add-ons".into()),
        ("read: offline depots list", "/api/esx/settings/depots/offline".into()),
        ("read: offline depot get", format!("/api/esx/settings/depots/offline/{depot}")),
    ];
    // Single versions in proportion: as many gets as lists.
    let mut rng = Rng(7);
    for _ in 0..2 {
        let (n, v) = &component_versions[rng.below(component_versions.len())];
        gets.push((
            "read: component version get",
            format!("/api/esx/settings/depot-content/components/{}/versions/{}", enc(n), enc(v)),
        ));
        calls.push((
            "read: component version get",
            rpc("com.vmware.esx.settings.depot_content.components.versions", "get", json!({"name": n, "version": v})),
        ));
        let b = &base_versions[rng.below(base_versions.len())];
        gets.push((
            "read: base image version get",
            format!("/api/esx/settings/depot-content/base-images/versions/{}", enc(b)),
        ));
        calls.push((
            "read: base image version get",
            rpc("com.vmware.esx.settings.depot_content.base_images.versions", "get", json!({"version": b})),
        ));
    }
    for a in addons.as_array().unwrap().iter().take(1) {
        let v = a["versions"][0]["version"].as_str().unwrap();
        gets.push((
            "read: add-on version get",
            format!("/api/esx/settings/depot-content/add-ons/{}/versions/{}", enc(a["name"].as_str().unwrap()), enc(v)),
        ));
        calls.push((
            "read: add-on version get",
            rpc(
                "com.vmware.esx.settings.depot_content.add_ons.versions",
                "get",
                json!({"name": a["name"], "version": v}),
            ),
        ));
    }
    let paths = Arc::new(Paths { gets, calls, jsonrpc: a.jsonrpc });
    let newest = base_versions.last().unwrap().clone();

    // Each editor gets a cluster whose committed image is the newest base image.
    let mut clusters = Vec::new();
    for i in 0..a.editors {
        let c =
            call(&setup, &base, Method::POST, "/api/esxlcm/clusters", &admin, Some(&json!({"name": format!("c{i}")})))
                .await
                .unwrap();
        let c = c.as_str().unwrap().to_owned();
        let sw = format!("/api/esx/settings/clusters/{c}/software");
        let draft = call(&setup, &base, Method::POST, &format!("{sw}/drafts"), &admin, None).await.unwrap();
        let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
        call(
            &setup,
            &base,
            Method::PUT,
            &format!("{d}/software/base-image"),
            &admin,
            Some(&json!({"version": newest})),
        )
        .await
        .unwrap();
        run_task(&setup, &base, &format!("{d}?action=commit"), &admin, Some(&json!({"message": "load"})))
            .await
            .unwrap();
        clusters.push(c);
    }

    let mut viewer_sessions = Vec::new();
    for _ in 0..a.sessions {
        viewer_sessions.push(login(&setup, &base, VIEWER.0, VIEWER.1).await);
    }
    let mut editor_sessions = Vec::new();
    for _ in 0..a.editors {
        editor_sessions.push(login(&setup, &base, ADMIN.0, ADMIN.1).await);
    }
    println!(
        "depot: {} component versions, {} base images; {} readers (think time 0-{} ms, mean {}), {} editors, {} s",
        component_versions.len(),
        base_versions.len(),
        a.readers,
        a.think_ms * 2,
        a.think_ms,
        a.editors,
        a.seconds
    );

    // Every client connected (TLS handshake done) before the clock starts.
    let mut reader_clients = Vec::new();
    for i in 0..a.readers {
        let c = target.client();
        fetch(&c, &base, "/api/esx/settings/depots/offline", &viewer_sessions[i % viewer_sessions.len()])
            .await
            .unwrap();
        reader_clients.push(c);
    }
    let mut editor_clients = Vec::new();
    for token in &editor_sessions {
        let c = target.client();
        fetch(&c, &base, "/api/esx/settings/depots/offline", token).await.unwrap();
        editor_clients.push(c);
    }
    let stats: Stats = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let components = Arc::new(component_versions);
    let mut tasks = Vec::new();
    for i in 0..a.readers {
        let token = viewer_sessions[i % viewer_sessions.len()].clone();
        let who = Who { client: reader_clients[i].clone(), token, seed: 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1) };
        tasks.push(tokio::spawn(reader(
            who,
            Arc::clone(&target),
            Arc::clone(&paths),
            Arc::clone(&stats),
            Arc::clone(&stop),
            a.think_ms,
        )));
    }
    for (i, cluster) in clusters.iter().enumerate() {
        let who = Who {
            client: editor_clients[i].clone(),
            token: editor_sessions[i].clone(),
            seed: 0xD1B5_4A32_D192_ED03 ^ (i as u64 + 1),
        };
        tasks.push(tokio::spawn(editor(
            who,
            Arc::clone(&target),
            cluster.clone(),
            Arc::clone(&components),
            Arc::clone(&stats),
            Arc::clone(&stop),
        )));
    }
    let started = Instant::now();
    let cpu_before = (cpu_seconds("server"), cpu_seconds("client"));
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds("server") - cpu_before.0, cpu_seconds("client") - cpu_before.1);

    let stats = stats.lock().await;
    println!(
        "{:<30} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "class", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    let mut totals = (0usize, 0u64, Vec::new());
    for (name, c) in stats.iter() {
        let mut sorted = c.micros.clone();
        sorted.sort_unstable();
        println!(
            "{:<30} {:>8} {:>7} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            name,
            sorted.len(),
            c.errors,
            sorted.len() as f64 / elapsed,
            percentile(&sorted, 50.0),
            percentile(&sorted, 90.0),
            percentile(&sorted, 99.0),
            percentile(&sorted, 100.0)
        );
        if name.starts_with("read:") {
            totals.0 += sorted.len();
            totals.2.extend_from_slice(&sorted);
        }
        totals.1 += c.errors;
        for s in &c.samples {
            println!("    error: {s}");
        }
    }
    totals.2.sort_unstable();
    println!(
        "{:<30} {:>8} {:>7} {:>8.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        "all reads",
        totals.0,
        "",
        totals.0 as f64 / elapsed,
        percentile(&totals.2, 50.0),
        percentile(&totals.2, 90.0),
        percentile(&totals.2, 99.0),
        percentile(&totals.2, 100.0)
    );
    let all: usize = stats.values().map(|c| c.micros.len()).sum();
    println!(
        "CPU: server {:.1} s ({:.0} % of one core, {:.2} ms per request), load generator {:.1} s, over {:.1} s",
        cpu.0,
        cpu.0 / elapsed * 100.0,
        cpu.0 * 1000.0 / all.max(1) as f64,
        cpu.1,
        elapsed
    );
    println!("errors: {}", totals.1);
    totals.1
}
