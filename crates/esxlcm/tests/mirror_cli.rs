//! `esxlcm mirror` end to end through the binary: the command flow, secrets kept out of
//! listings, exit codes, and SIGKILL at random points of a sync never corrupting the store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::mirror_support::*;

#[test]
fn add_list_sync_status_rollback_verify_gc_remove() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    let s = store.to_str().unwrap();
    let url = file_url(&upstream);

    let token = "aB3dE5fG7hI9jK1lM3nO5pQ7";
    ok(&["mirror", "--store", s, "add", "up", &url, "--description", "generated"]);
    let secret_url = format!("https://user:hunter2@dl.example.com/{token}/main/vmw-depot-index.xml");
    ok(&[
        "mirror",
        "--store",
        s,
        "add",
        "private",
        &secret_url,
        "--header",
        "Authorization: Bearer s3cr3t",
        "--disabled",
    ]);
    let dup = run(&["mirror", "--store", s, "add", "up", &url]);
    assert_eq!(dup.code, 2);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);

    for args in [vec!["mirror", "--store", s, "list"], vec!["mirror", "--store", s, "list", "--json"]] {
        let list = ok(&args);
        for secret in [token, "hunter2", "s3cr3t"] {
            assert!(!list.stdout.contains(secret), "{secret} leaked: {}", list.stdout);
        }
        assert!(list.stdout.contains("Authorization"), "{}", list.stdout);
    }

    let first = ok(&["mirror", "--store", s, "sync"]);
    assert!(first.stdout.contains("up: published snapshot 1"), "{}", first.stdout);
    assert!(!first.stdout.contains("private"), "disabled sources are skipped: {}", first.stdout);
    assert_eq!(published(&store, "up"), tree(&upstream));
    let v1 = tree(&upstream);

    update_upstream(&v2, &upstream);
    let second = ok(&["mirror", "--store", s, "sync", "up"]);
    assert!(
        second.stdout.contains("published snapshot 2") && second.stdout.contains("2 not modified"),
        "{}",
        second.stdout
    );
    assert_eq!(published(&store, "up"), tree(&v2));

    let v = json(&ok(&["mirror", "--store", s, "status", "--json"]));
    let up = listed_source(&v, "up");
    assert_eq!(up["published_snapshot"], 2);
    assert_eq!(up["snapshots"].as_array().unwrap().len(), 2);

    let rb = ok(&["mirror", "--store", s, "rollback", "up"]);
    assert!(rb.stdout.contains("published snapshot 1 (was snapshot 2)"), "{}", rb.stdout);
    assert_eq!(published(&store, "up"), v1);
    // Disabled, a source is left out of `mirror sync`: the rollback holds.
    ok(&["mirror", "--store", s, "disable", "up"]);
    let held = ok(&["mirror", "--store", s, "sync"]);
    assert!(held.stdout.contains("no enabled sources"), "{}", held.stdout);
    assert_eq!(published(&store, "up"), v1);
    ok(&["mirror", "--store", s, "enable", "up"]);
    ok(&["mirror", "--store", s, "rollback", "up", "--to", "2"]);
    assert_eq!(published(&store, "up"), tree(&v2));
    assert_eq!(verify_json(&store)["clean"], true);

    // A corrupted VIB upstream: rejected by name, exit 1, the published snapshot stays.
    let vib = tree(&upstream).keys().find(|k| k.ends_with(".vib") && !v1.contains_key(*k)).unwrap().clone();
    let mut bytes = fs::read(upstream.join(&vib)).unwrap();
    bytes[10] ^= 0x55;
    fs::write(upstream.join(&vib), &bytes).unwrap();
    // A source added by local path; and a fresh store, which must download the bad VIB.
    let local = upstream.to_str().unwrap();
    let again = ok(&["mirror", "--store", s, "add", "again", local]);
    assert!(again.stdout.contains(&format!("(file://{local}/)")), "a local path becomes a file: URL: {}", again.stdout);
    let other_store = dir.path().join("store2");
    let s2 = other_store.to_str().unwrap();
    ok(&["mirror", "--store", s2, "add", "up", &url]);
    let bad = run(&["mirror", "--store", s2, "sync", "up"]);
    assert_eq!(bad.code, 1, "{}\n{}", bad.stdout, bad.stderr);
    let id = Path::new(&vib).file_stem().unwrap().to_string_lossy().into_owned();
    assert!(bad.stdout.contains(&format!("rejected {id}")), "{}", bad.stdout);
    assert!(bad.stdout.contains("nothing is published"), "{}", bad.stdout);
    let st = ok(&["mirror", "--store", s2, "status"]);
    assert!(st.stdout.contains(&format!("quarantined: {id}")), "{}", st.stdout);
    assert_eq!(verify_json(&other_store)["clean"], true);

    ok(&["mirror", "--store", s, "remove", "again"]);
    ok(&["mirror", "--store", s, "remove", "private"]);
    let gc = ok(&["mirror", "--store", s, "gc"]);
    assert!(gc.stdout.contains("deleted 0 unreferenced blobs"), "both snapshots of 'up' are kept: {}", gc.stdout);
    ok(&["mirror", "--store", s, "remove", "up"]);
    let gc = ok(&["mirror", "--store", s, "gc"]);
    assert!(gc.stdout.contains("kept 0 blobs"), "{}", gc.stdout);
    assert!(!store.join("published/up").exists());
    assert_eq!(verify_json(&store)["clean"], true);
}

#[test]
fn sigkill_at_random_points_never_corrupts_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    // ~155 KiB in 256-byte chunks every 8 ms, 3 at a time: a full sync takes about 1.5 s,
    // so most kills land mid-transfer, and resumed runs still have work left.
    let server = SlowServer::start(&upstream, 256, Duration::from_millis(8));
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &server.url("")]);

    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill schedule seed: {seed}");
    let started = Instant::now();
    let mut kills = 0;
    for round in 0..8 {
        if round == 4 {
            update_upstream(&v2, &upstream); // a publication happens between kills too
        }
        let delay = Duration::from_millis(20 + jitter(&mut seed) % 600);
        if run_killed_after(&["mirror", "--store", s, "sync", "--parallel", "3"], delay) {
            kills += 1;
        }
        let v = verify_json(&store);
        assert_eq!(v["clean"], true, "round {round}, killed after {delay:?}: {v}");
        assert!(started.elapsed() < Duration::from_secs(60), "bounded time");
    }
    assert!(kills >= 3, "most runs must be killed mid-sync (killed {kills} of 8)");

    let done = ok(&["mirror", "--store", s, "sync"]);
    assert!(done.stdout.contains("up: published") || done.stdout.contains("up: unchanged"), "{}", done.stdout);
    assert_eq!(published(&store, "up"), tree(&v2), "the final sync finished the job");
    let v = verify_json(&store);
    assert_eq!(v["clean"], true, "{v}");
    assert!(server.requests.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_store_publishes_each_source_and_follows_new_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &file_url(&upstream)]);
    ok(&["mirror", "--store", s, "sync"]);

    let served = serve_store(&store);
    let listing = http_get(&served.base, "/");
    assert!(listing.contains("/up/index.xml"), "{listing}");
    let url = format!("{}up/vmw-depot-index.xml", served.base);
    let v1_vibs = tree(&upstream).keys().filter(|k| k.ends_with(".vib")).count() as u64;
    assert_eq!(inspected_vib_count(&url), v1_vibs);
    let missing = http_get(&served.base, "/up/../meta.sqlite");
    assert!(!missing.contains("SQLite format"), "the database is not reachable: {missing}");

    // A sync beside the running server: the next request sees the new snapshot.
    update_upstream(&v2, &upstream);
    ok(&["mirror", "--store", s, "sync"]);
    let v2_vibs = tree(&v2).keys().filter(|k| k.ends_with(".vib")).count() as u64;
    assert_eq!(inspected_vib_count(&url), v2_vibs);
    ok(&["mirror", "--store", s, "rollback", "up"]);
    assert_eq!(inspected_vib_count(&url), v1_vibs);
}
