//! Scale-out end to end, on real engines: PostgreSQL (a throwaway cluster) and an
//! S3-compatible object store (Garage), with `esxlcm serve` replicas as separate processes.
//!
//! - one sync at a time across the cluster: while replica A's scheduler syncs, a sync from
//!   any other node is refused as busy, and every node shows A's live progress;
//! - `kill -9` of replica A mid-sync: nothing is published, and replica B's scheduler takes
//!   the next run once PostgreSQL has released A's lease;
//! - what B published, replica C serves (index chain and VIBs, Range included), byte for
//!   byte as upstream has them; `mirror verify` of the cluster store is clean;
//! - a scheduled slot runs once however many replicas tick;
//! - `store migrate` moves a single-node store in, verified, and a second run has nothing left;
//!   its named view is served by a replica as the single node served it, and views are
//!   added, listed and removed on the cluster with the same commands;
//! - `mirror export` / `import` carry depots into and out of a cluster store;
//! - two whole-service replicas share depots, the API's state (an object made through one is
//!   the other's, neither loses the other's change), trusted root chains, users, sessions,
//!   uploads (made on one, consumed once through the other) and exports (made through one,
//!   downloaded from the other).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use esxlcm_test_support::postgres::cluster_or_skip;
use esxlcm_test_support::s3::S3Server;

use crate::mirror_support::*;

/// One cluster store: a database of the shared PostgreSQL and a prefix of the shared bucket.
struct ClusterStore {
    database: String,
    blobs: String,
    env: Vec<(&'static str, String)>,
}

impl ClusterStore {
    fn new(test: &str) -> Option<Self> {
        let pg = cluster_or_skip(test)?;
        let s3 = S3Server::shared_or_skip(test)?;
        let database = pg.database(test).unwrap_or_else(|e| panic!("{test}: creating a database: {e}"));
        Some(Self { database, blobs: s3.url(test), env: s3.env() })
    }

    /// `esxlcm` with the cluster's variables (`ESXLCM_DATABASE`, `ESXLCM_BLOBS`, the AWS ones).
    fn esxlcm(&self) -> Command {
        let mut cmd = esxlcm();
        cmd.env("ESXLCM_DATABASE", &self.database).env("ESXLCM_BLOBS", &self.blobs);
        cmd.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = self.esxlcm().args(args).output().expect("esxlcm runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "esxlcm {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
        r
    }

    /// `esxlcm serve --store NODE` as a replica with its own node directory.
    fn replica(&self, node: &Path) -> Served {
        let mut serve = self.esxlcm();
        serve.args(["serve", "--store", node.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        start_serving(serve)
    }

    /// The variables a replica's environment needs.
    fn env_refs(&self) -> Vec<(&str, &str)> {
        let mut env = vec![("ESXLCM_DATABASE", self.database.as_str()), ("ESXLCM_BLOBS", self.blobs.as_str())];
        env.extend(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        env
    }

    fn status(&self, node: &Path) -> serde_json::Value {
        json(&self.ok(&["mirror", "--store", node.to_str().unwrap(), "status", "--json"]))
    }
}

fn get(url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut req = client.get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
}

/// Poll until `check` holds, or fail naming `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn replicas_share_one_store_a_killed_sync_publishes_nothing_and_another_replica_takes_over() {
    let Some(cluster) = ClusterStore::new("replicas_share_one_store") else { return };
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    generate(2, &upstream);
    // Slow enough that a sync lasts seconds: there is time to see it hold the lease and kill it.
    let slow = SlowServer::start(&upstream, 1024, Duration::from_millis(40));
    let node = |n: &str| dir.path().join(n);
    let (a, b, c, cli) = (node("a"), node("b"), node("c"), node("cli"));
    let cli_s = cli.to_str().unwrap();
    cluster.ok(&["mirror", "--store", cli_s, "add", "oem", &slow.url("index.xml")]);
    cluster.ok(&["mirror", "--store", cli_s, "schedule", "oem", "--hourly", ":00"]);

    // Replica A starts; the source never ran, so A's scheduler syncs it at once.
    let mut replica_a = cluster.replica(&a);
    wait_for("replica A's sync to download", Duration::from_secs(120), || slow.requests.load(Ordering::Relaxed) > 3);
    let busy = cluster.run(&["mirror", "--store", cli_s, "sync", "oem"]);
    assert_ne!(busy.code, 0, "a second sync ran beside A's: {}", busy.stdout);
    assert!(busy.stderr.contains("another esxlcm process"), "{}", busy.stderr);
    // Its live progress is the cluster's, not only A's node's.
    let running = cluster.status(&cli);
    assert_eq!(running["sources"][0]["sync"]["state"], "running", "another node sees A's sync: {running}");

    // kill -9 mid-sync: nothing half-published.
    replica_a.child.kill().unwrap();
    replica_a.child.wait().unwrap();
    let status = cluster.status(&cli);
    let oem = &status["sources"][0];
    assert!(oem["published_snapshot"].is_null(), "a killed sync published: {oem}");

    // Replica B takes the next run once PostgreSQL released A's lease (its connection died).
    let replica_b = cluster.replica(&b);
    wait_for("replica B to publish the source", Duration::from_secs(240), || {
        get(&format!("{}oem/index.xml", replica_b.base), None).0 == 200
    });
    let status = cluster.status(&cli);
    let published = status["sources"][0]["published_snapshot"].as_i64().expect("published");
    assert_eq!(status["sources"][0]["sync"]["state"], "succeeded", "B's outcome, seen from another node: {status}");

    // Replica C, which synced nothing, serves what B published: the whole index chain and
    // every VIB byte for byte as upstream has it, and a Range of each.
    let replica_c = cluster.replica(&c);
    let listing = ok(&["depot", "inspect", &format!("{}oem/index.xml", replica_c.base), "--json"]);
    assert!(listing.stdout.contains("\"vibs\""), "{}", listing.stdout);
    let files = tree(&upstream);
    let vibs: Vec<(&String, &Vec<u8>)> = files.iter().filter(|(p, _)| p.ends_with(".vib")).collect();
    assert!(!vibs.is_empty());
    for (path, bytes) in &vibs {
        let (code, body) = get(&format!("{}oem/{path}", replica_c.base), None);
        assert_eq!((code, body.as_slice()), (200, bytes.as_slice()), "{path}");
        let (from, to) = (bytes.len() / 4, bytes.len() / 2);
        let (code, part) =
            get(&format!("{}oem/@{published}/{path}", replica_c.base), Some(&format!("bytes={from}-{to}")));
        assert_eq!((code, part.as_slice()), (206, &bytes[from..=to]), "{path} range");
    }
    for doc in ["index.xml", "vendor-index.xml"] {
        if let Some(bytes) = files.get(doc) {
            assert_eq!(get(&format!("{}oem/{doc}", replica_c.base), None), (200, bytes.clone()), "{doc}");
        }
    }

    // Both schedulers keep ticking (every 20 s): the slot B ran is not run again.
    let runs = slow.requests.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(25));
    assert_eq!(slow.requests.load(Ordering::Relaxed), runs, "a replica synced a slot that had run");

    let verify = cluster.run(&["mirror", "--store", cli_s, "verify", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&verify.stdout).unwrap();
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(verify.code, 0, "{}", verify.stderr);
}

#[test]
fn a_single_node_store_migrates_in_verified_and_resumable() {
    let Some(cluster) = ClusterStore::new("single_node_migrates_in") else { return };
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let s = single.to_str().unwrap();
    let bundle = dir.path().join("b.zip");
    tiny_bundle(2, &bundle);
    ok(&["mirror", "--store", s, "push", "oem", bundle.to_str().unwrap()]);
    ok(&["mirror", "--store", s, "view", "add", "all", "--source", "oem"]);
    let before = published(&single, "oem");
    let view_before = tree(&single.join("named-views/published/all"));

    let first = cluster.ok(&["store", "migrate", "--from", s, "--json"]);
    let report = json(&first);
    assert_eq!(report["schema"], "esxlcm.store-migrate/1");
    assert_eq!(report["report"]["sources_verified"], 1, "{report}");
    assert_eq!(report["report"]["views_moved"], serde_json::json!(["all"]), "{report}");
    assert!(report["report"]["blobs_copied"].as_u64().unwrap() > 0, "{report}");
    let again = json(&cluster.ok(&["store", "migrate", "--from", s, "--json"]));
    assert_eq!(again["report"]["blobs_copied"], 0, "{again}");
    assert_eq!(again["report"]["snapshots_copied"], 0, "{again}");

    // A replica of the cluster serves what the single node published, file for file.
    let replica = cluster.replica(&dir.path().join("node"));
    for (path, bytes) in &before {
        assert_eq!(get(&format!("{}oem/{path}", replica.base), None), (200, bytes.clone()), "{path}");
    }
    // And the view, rebuilt in the cluster from the migrated snapshot: the same files.
    for (path, bytes) in &view_before {
        assert_eq!(get(&format!("{}views/all/{path}", replica.base), None), (200, bytes.clone()), "{path}");
    }
    // Views are managed on the cluster with the same commands: listed from the database,
    // added, built and served by every replica, removed.
    let node = dir.path().join("cli-node");
    let n = node.to_str().unwrap();
    cluster.ok(&["mirror", "--store", n, "view", "add", "again", "--source", "oem"]);
    let listed = json(&cluster.ok(&["mirror", "--store", n, "view", "list", "--json"]));
    let names: Vec<&str> = listed["views"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["again", "all"], "{listed}");
    assert_eq!(listed["views"][0]["build"]["number"], 1, "{listed}");
    let (code, index) = get(&format!("{}views/again/index.xml", replica.base), None);
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&index).contains("vendor-index"));
    cluster.ok(&["mirror", "--store", n, "view", "remove", "again"]);
    assert_eq!(get(&format!("{}views/again/index.xml", replica.base), None).0, 404);
    assert!(!node.join("named-views").exists(), "no view state on a node's disk");
    let bad = cluster.run(&["store", "migrate", "--from", dir.path().to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("not a single-node store"), "{}", bad.stderr);
}

#[test]
fn export_and_import_carry_depots_into_and_out_of_a_cluster_store() {
    let Some(cluster) = ClusterStore::new("carry_cluster") else { return };
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let s = single.to_str().unwrap();
    let bundle = dir.path().join("v1.zip");
    tiny_bundle(2, &bundle);
    ok(&["mirror", "--store", s, "push", "oem", bundle.to_str().unwrap()]);
    let v1 = published(&single, "oem");

    // Connected side single-node, disconnected side a cluster store.
    let e1 = dir.path().join("carry-1");
    let full = json(&ok(&["mirror", "--store", s, "export", "--to", e1.to_str().unwrap(), "--json"]));
    let node = dir.path().join("node");
    let n = node.to_str().unwrap();
    let imported = json(&cluster.ok(&["mirror", "--store", n, "import", e1.to_str().unwrap(), "--json"]));
    assert_eq!(imported["blobs_written"], full["blobs"], "{imported}");
    assert_eq!(imported["published"][0]["source"], "oem", "{imported}");
    let again = cluster.ok(&["mirror", "--store", n, "import", e1.to_str().unwrap()]);
    assert!(again.stdout.contains("stored 0 files") && again.stdout.contains("imported before"), "{}", again.stdout);

    // A release: the incremental export carries only what is new into the bucket.
    let v2_bundle = dir.path().join("v2.zip");
    tiny_bundle(3, &v2_bundle);
    ok(&["mirror", "--store", s, "push", "oem", v2_bundle.to_str().unwrap()]);
    let v2 = published(&single, "oem");
    assert_ne!(v1, v2);
    let e2 = dir.path().join("carry-2");
    ok(&["mirror", "--store", s, "export", "--since", "1", "--to", e2.to_str().unwrap()]);
    let inc = json(&cluster.ok(&["mirror", "--store", n, "import", e2.to_str().unwrap(), "--json"]));
    assert_eq!(inc["snapshots_created"].as_array().unwrap().len(), 1, "{inc}");
    let replica = cluster.replica(&dir.path().join("server"));
    for (path, bytes) in &v2 {
        assert_eq!(get(&format!("{}oem/{path}", replica.base), None), (200, bytes.clone()), "{path}");
    }
    let verify = cluster.run(&["mirror", "--store", n, "verify", "--json"]);
    assert_eq!((verify.code, json(&verify)["clean"].clone()), (0, serde_json::json!(true)), "{}", verify.stderr);

    // And out again: the cluster store's export rebuilds the same tree in a single-node store.
    let e3 = dir.path().join("carry-3");
    let out = json(&cluster.ok(&["mirror", "--store", n, "export", "--to", e3.to_str().unwrap(), "--json"]));
    assert!(out["blobs"].as_u64().unwrap() > 0, "{out}");
    let back = dir.path().join("back");
    ok(&["mirror", "--store", back.to_str().unwrap(), "import", e3.to_str().unwrap()]);
    assert_eq!(published(&back, "oem"), v2, "the cluster's export is the tree it serves");
    assert_eq!(verify_json(&back)["clean"], true);
}

#[test]
fn the_whole_service_runs_as_two_replicas_on_the_cluster_backends() {
    let Some(cluster) = ClusterStore::new("whole_service_replicas") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("oem.zip");
    tiny_bundle(2, &bundle);
    let cli = dir.path().join("cli");
    cluster.ok(&["mirror", "--store", cli.to_str().unwrap(), "push", "oem", bundle.to_str().unwrap()]);

    // Two API replicas, each with its own data directory, on the one store.
    let env = cluster.env_refs();
    let replicas = [
        crate::service::Service::start_with(&dir.path().join("a"), &env),
        crate::service::Service::start_with(&dir.path().join("b"), &env),
    ];
    for (name, s) in ["a", "b"].iter().zip(&replicas) {
        let (status, offline) = s.call(reqwest::Method::GET, "/api/esx/settings/depots/offline", None);
        assert_eq!(status, 200, "replica {name}: {offline}");
        assert_eq!(offline["oem"]["source_type"], "PULL", "replica {name}: {offline}");
        let (status, components) = s.call(reqwest::Method::GET, "/api/esx/settings/depot-content/components", None);
        assert_eq!(status, 200, "replica {name}: {components}");
        assert!(!components.as_array().unwrap().is_empty(), "replica {name}: {components}");
        let (code, index) = get(&format!("http://{}/depots/oem/index.xml", s.hosts), None);
        assert_eq!(code, 200, "replica {name}");
        assert!(String::from_utf8_lossy(&index).contains("vendor-index"), "replica {name}");
    }
    // A depot added through one replica's API is a depot of the other.
    let tree = dir.path().join("upstream");
    generate(2, &tree);
    let mut upstream = esxlcm();
    upstream.args(["serve", "--dir", tree.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let upstream = start_serving(upstream);
    let (status, id) = replicas[0].call(
        reqwest::Method::POST,
        "/api/esx/settings/depots/online",
        Some(serde_json::json!({"location": format!("{}index.xml", upstream.base), "description": "through a"})),
    );
    assert_eq!(status, 201, "{id}");
    let id = id.as_str().unwrap().to_owned();
    let (status, online) = replicas[1].call(reqwest::Method::GET, "/api/esx/settings/depots/online", None);
    assert_eq!(status, 200, "{online}");
    assert_eq!(online[&id]["description"], "through a", "replica b does not see the depot added through a: {online}");

    // The API's state is one: an inventory object made through a is b's within a second,
    // and b's change on top of it loses nothing of a's.
    let (status, prod) =
        replicas[0].call(reqwest::Method::POST, "/api/esxlcm/clusters", Some(serde_json::json!({"name": "prod"})));
    assert_eq!(status, 201, "{prod}");
    let prod = format!("/api/esxlcm/clusters/{}", prod.as_str().unwrap());
    wait_for("replica b to see the cluster made through a", Duration::from_secs(10), || {
        replicas[1].call(reqwest::Method::GET, &prod, None).0 == 200
    });
    let (status, edge) =
        replicas[1].call(reqwest::Method::POST, "/api/esxlcm/clusters", Some(serde_json::json!({"name": "edge"})));
    assert_eq!(status, 201, "{edge}");
    let edge = format!("/api/esxlcm/clusters/{}", edge.as_str().unwrap());
    assert_ne!(prod, edge, "the replicas hand out distinct ids");
    wait_for("replica a to see the cluster made through b", Duration::from_secs(10), || {
        replicas[0].call(reqwest::Method::GET, &edge, None).0 == 200
    });
    for (name, s) in ["a", "b"].iter().zip(&replicas) {
        let (status, c) = s.call(reqwest::Method::GET, &prod, None);
        assert_eq!((status, c["name"].as_str()), (200, Some("prod")), "replica {name}: {c}");
    }

    // A trusted root chain added through a is trusted by b's own syncs: b writes it into
    // its node's trusted roots file.
    let ca = std::fs::read_to_string(dir.path().join("a/tls/ca.pem")).unwrap();
    let chains = "/api/vcenter/certificate-management/vcenter/trusted-root-chains";
    let spec = serde_json::json!({"cert_chain": {"cert_chain": [ca]}, "chain": "branch-ca"});
    let (status, chain) = replicas[0].call(reqwest::Method::POST, chains, Some(spec));
    assert_eq!(status, 201, "{chain}");
    let b_roots = dir.path().join("b/tls/trusted-roots.pem");
    wait_for("replica b to trust the chain added through a", Duration::from_secs(10), || {
        replicas[1].call(reqwest::Method::GET, chains, None);
        std::fs::read_to_string(&b_roots).is_ok_and(|pem| pem.contains(ca.trim()))
    });

    // Users are the cluster's: one `esxlcm users add` against the database, and both
    // replicas let the new user in.
    let mut add = cluster.esxlcm();
    add.args(["users", "add", "ops", "--role", "read-only", "--password-stdin", "--data-dir"])
        .arg(dir.path().join("cli-data"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"operations only\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (name, s) in ["a", "b"].iter().zip(&replicas) {
        assert_eq!(s.login_status("ops", "operations only"), 201, "replica {name}");
        assert_eq!(s.login_status("ops", "not the password"), 401, "replica {name}");
    }

    // Uploads and exports are the cluster's: a bundle uploaded to a becomes a depot through
    // b (once: it is consumed), and an image exported through b downloads from a.
    let more = dir.path().join("more.zip");
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "12", "--out", more.to_str().unwrap()]);
    let file_id = replicas[0].upload(std::fs::read(&more).unwrap());
    let push = serde_json::json!({"source_type": "PUSH", "file_id": file_id});
    let info = replicas[1].run_task("/api/esx/settings/depots/offline", Some(push.clone()));
    assert_eq!(info["status"], "SUCCEEDED", "a's upload, pushed through b: {info}");
    let pushed = info["result"]["depot"].as_str().unwrap().to_owned();
    let (_, offline) = replicas[0].call(reqwest::Method::GET, "/api/esx/settings/depots/offline", None);
    assert_eq!(offline[&pushed]["source_type"], "PUSH", "{offline}");
    let info = replicas[0].run_task("/api/esx/settings/depots/offline", Some(push));
    assert_eq!(info["status"], "FAILED", "an upload is consumed once, on any replica: {info}");
    assert!(info["error"].to_string().contains("no uploaded file"), "{info}");

    let (_, bases) = replicas[1].call(reqwest::Method::GET, "/api/esx/settings/depot-content/base-images", None);
    let version = bases[0]["version"].as_str().unwrap().to_owned();
    let sw = format!("/api/esx/settings/clusters/{}/software", prod.rsplit('/').next().unwrap());
    let (status, draft) = replicas[1].call(reqwest::Method::POST, &format!("{sw}/drafts"), None);
    assert_eq!(status, 201, "{draft}");
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    let base = serde_json::json!({"version": version});
    let (status, e) = replicas[1].call(reqwest::Method::PUT, &format!("{d}/software/base-image"), Some(base));
    assert_eq!(status, 204, "{e}");
    let info = replicas[1].run_task(&format!("{d}?action=commit"), Some(serde_json::json!({"message": "via b"})));
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let spec =
        serde_json::json!({"export_software_spec": true, "export_offline_bundle": false, "export_iso_image": false});
    let (status, urls) = replicas[1].call(reqwest::Method::POST, &format!("{sw}?action=export"), Some(spec));
    assert_eq!(status, 200, "{urls}");
    let url = urls["SOFTWARE_SPEC"].as_str().unwrap();
    let path = &url[url.find("/api/esxlcm/exports/").unwrap()..];
    let (status, exported) = replicas[0].call(reqwest::Method::GET, path, None);
    assert_eq!(status, 200, "b's export downloaded from a: {exported}");
    assert_eq!(exported["base_image"]["version"], version.as_str(), "{exported}");

    // Sessions are the cluster's: a's session works on b (no sticky sessions needed), and a
    // logout on b ends it on a within a second.
    let a_token = replicas[0].token().to_owned();
    let (status, who) = replicas[1].call_as(&a_token, reqwest::Method::GET, "/api/session", None);
    assert_eq!(status, 200, "a's session on b: {who}");
    assert_eq!(replicas[1].call_as(&a_token, reqwest::Method::DELETE, "/api/session", None).0, 204);
    wait_for("the logout on b to end the session on a", Duration::from_secs(10), || {
        replicas[0].call_as(&a_token, reqwest::Method::GET, "/api/session", None).0 == 401
    });
}
