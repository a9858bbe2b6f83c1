//! Scale-out end to end, on real engines: PostgreSQL (a throwaway cluster) and an
//! S3-compatible object store (Garage), with `esxlcm serve` replicas as separate processes.
//!
//! - one sync at a time across the cluster: while replica A's scheduler syncs, a sync from
//!   any other node is refused as busy;
//! - `kill -9` of replica A mid-sync: nothing is published, and replica B's scheduler takes
//!   the next run once PostgreSQL has released A's lease;
//! - what B published, replica C serves (index chain and VIBs, Range included), byte for
//!   byte as upstream has them; `mirror verify` of the cluster store is clean;
//! - a scheduled slot runs once however many replicas tick;
//! - `store migrate` moves a single-node store in, verified, and a second run has nothing left;
//!   its named view is served by a replica as the single node served it, and views are
//!   added, listed and removed on the cluster with the same commands.

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
}
