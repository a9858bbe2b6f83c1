//! The sync engine end to end over generated depots: `file:` and loopback HTTP upstreams,
//! conditional GETs, verification and quarantine, resume, filters, bundles, rollback, gc.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;

use crate::common::*;
use esxlcm_store::Store;
use esxlcm_store::internals;
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::Outcome;
use esxlcm_store::verify;

fn add(store: &Store, name: &str, url: &str) {
    store.add_source(&SourceConfig::new(name, url).unwrap(), LockWait::NONE).unwrap();
}

fn published_tree(store: &Store, name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    tree(&store.published_dir().join(name))
}

fn assert_clean(store: &Store) {
    let r = verify::verify(store).unwrap();
    assert!(r.is_clean(), "verify found problems: {:?}", r.problems);
}

struct Fixture {
    _dir: tempfile::TempDir,
    upstream: std::path::PathBuf,
    v2: std::path::PathBuf,
    store: Store,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let v2 = dir.path().join("v2");
    generate_tree(2, &upstream);
    generate_tree(3, &v2);
    let store = Store::open(&dir.path().join("store")).unwrap();
    Fixture { upstream, v2, store, _dir: dir }
}

fn vib_count(t: &std::collections::BTreeMap<String, Vec<u8>>) -> usize {
    t.keys().filter(|k| k.ends_with(".vib")).count()
}

#[test]
fn file_url_sync_publishes_the_upstream_tree_and_fetches_only_changes() {
    let f = fixture();
    let url = url::Url::from_directory_path(&f.upstream).unwrap().to_string();
    add(&f.store, "up", &url);

    let r1 = sync(&f.store, "up").unwrap();
    assert_eq!(r1.outcome, Outcome::Published);
    assert_eq!(published_tree(&f.store, "up"), tree(&f.upstream), "published view is the upstream depot");
    let v1_vibs = vib_count(&tree(&f.upstream));
    assert_eq!(r1.files_fetched, 3 + v1_vibs, "vendor list, vendor index, metadata.zip and every VIB");
    assert_clean(&f.store);

    let changed = update_upstream(&f.v2, &f.upstream);
    let new_vibs = changed.iter().filter(|c| c.ends_with(".vib")).count();
    assert!(new_vibs > 5 && changed.contains(&"vmw/metadata.zip".to_owned()), "{changed:?}");
    let r2 = sync(&f.store, "up").unwrap();
    assert_eq!(r2.outcome, Outcome::Published);
    assert_eq!(r2.not_modified, 2, "vendor list and vendor index are unchanged");
    assert_eq!(r2.files_fetched, 1 + new_vibs, "only the new metadata.zip and the new VIBs");
    assert_eq!(r2.reused, vib_count(&tree(&f.v2)) - new_vibs, "v2's VIBs that v1 had are not fetched again");
    assert_eq!(r2.previous, r1.snapshot);
    assert_eq!(published_tree(&f.store, "up"), tree(&f.v2));

    let r3 = sync(&f.store, "up").unwrap();
    assert_eq!(r3.outcome, Outcome::Unchanged);
    assert_eq!((r3.files_fetched, r3.not_modified), (0, 3), "all three documents answered 304");
    assert_eq!(r3.snapshot, r2.snapshot);
    assert_eq!(f.store.snapshots(&f.store.source("up").unwrap()).unwrap().len(), 2);
    assert_clean(&f.store);
}

#[test]
fn http_sync_uses_etags_rejects_a_corrupt_vib_and_keeps_the_old_snapshot_published() {
    let f = fixture();
    let server = serve(&f.upstream);
    add(&f.store, "up", &server.url("vmw-depot-index.xml"));

    let r1 = sync(&f.store, "up").unwrap();
    assert_eq!(r1.outcome, Outcome::Published);
    let hits = server.take_hits();
    let v1 = tree(&f.upstream);
    assert_eq!(count(&hits, 200, |p| p.ends_with(".vib")), vib_count(&v1));
    assert_eq!(count(&hits, 200, |p| p == "vmw/metadata.zip"), 1);
    let v1_published = published_tree(&f.store, "up");
    assert_eq!(v1_published, v1);

    // A new release upstream, one of whose new VIBs arrives corrupted.
    let changed = update_upstream(&f.v2, &f.upstream);
    let bad = changed.iter().find(|c| c.ends_with(".vib")).unwrap().clone();
    corrupt(&f.upstream.join(&bad));
    let bad_id = Path::new(&bad).file_stem().unwrap().to_string_lossy().into_owned();

    let r2 = sync(&f.store, "up").unwrap();
    assert_eq!(r2.outcome, Outcome::Rejected);
    assert_eq!(r2.rejected.len(), 1);
    assert_eq!(r2.rejected[0].name, bad_id, "rejected by VIB ID");
    assert_eq!(r2.rejected[0].path, bad);
    assert!(r2.rejected[0].reason.contains("sha-256"), "{}", r2.rejected[0].reason);
    assert!(r2.rejected[0].quarantine_file.is_file());
    assert_eq!(fs::read(&r2.rejected[0].quarantine_file).unwrap(), fs::read(f.upstream.join(&bad)).unwrap());
    let q = f.store.quarantined().unwrap();
    assert_eq!((q.len(), q[0].name.as_str()), (1, bad_id.as_str()));
    assert_eq!(r2.snapshot, r1.snapshot, "the previous snapshot stays published");
    assert_eq!(published_tree(&f.store, "up"), v1_published);
    let hits = server.take_hits();
    assert_eq!(count(&hits, 304, |p| p.ends_with(".xml")), 2, "{hits:?}");
    assert_eq!(count(&hits, 200, |p| p == "vmw/metadata.zip"), 1);
    assert_eq!(count(&hits, 200, |p| p.ends_with(".vib")), changed.iter().filter(|c| c.ends_with(".vib")).count());
    assert_clean(&f.store);

    // Upstream fixes the file: only that VIB moves; the metadata zip is not downloaded again.
    fs::copy(f.v2.join(&bad), f.upstream.join(&bad)).unwrap();
    let r3 = sync(&f.store, "up").unwrap();
    assert_eq!(r3.outcome, Outcome::Published);
    let hits = server.take_hits();
    assert_eq!(count(&hits, 304, |_| true), 3, "vendor list, vendor index, metadata.zip: {hits:?}");
    let fetched: Vec<&str> = hits.iter().filter(|h| h.status == 200).map(|h| h.path.as_str()).collect();
    assert_eq!(fetched, vec![bad.as_str()]);
    let bytes: u64 = hits.iter().map(|h| h.bytes).sum();
    assert_eq!(bytes, fs::metadata(f.v2.join(&bad)).unwrap().len());
    assert_eq!(published_tree(&f.store, "up"), tree(&f.v2));
    assert_clean(&f.store);
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let f = fixture();
    let server = serve(&f.upstream);
    add(&f.store, "up", &server.url(""));
    let upstream = tree(&f.upstream);
    let (victim, content) = upstream.iter().filter(|(k, _)| k.ends_with(".vib")).max_by_key(|(_, v)| v.len()).unwrap();
    let keep = content.len() / 3;
    *server.shared.cut.lock().unwrap() = Some((victim.clone(), keep));

    let err = sync(&f.store, "up").unwrap_err();
    assert!(err.to_string().contains("could not be downloaded"), "{err}");
    assert!(
        f.store.published_snapshot(&f.store.source("up").unwrap()).unwrap().is_none(),
        "nothing published from a failed run"
    );
    let parts: Vec<_> = fs::read_dir(f.store.staging_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect();
    assert_eq!(parts.len(), 1, "the partial file is kept for resume");
    assert_eq!(fs::metadata(&parts[0]).unwrap().len(), keep as u64);
    server.take_hits();

    *server.shared.cut.lock().unwrap() = None;
    let r = sync(&f.store, "up").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    let hits = server.take_hits();
    let resumed: Vec<_> = hits.iter().filter(|h| h.range).collect();
    assert_eq!(resumed.len(), 1, "{hits:?}");
    assert_eq!((&resumed[0].path, resumed[0].status), (victim, 206));
    assert_eq!(resumed[0].bytes, (content.len() - keep) as u64, "only the missing tail moved");
    assert_eq!(count(&hits, 200, |p| p.ends_with(".vib")), 0, "every other VIB was stored by the first run");
    assert_eq!(published_tree(&f.store, "up"), upstream);
    assert_clean(&f.store);
}

#[test]
fn filters_by_vendor_and_platform() {
    let f = fixture();
    let url = url::Url::from_directory_path(&f.upstream).unwrap().to_string();
    let mut cfg = SourceConfig::new("other-vendor", &url).unwrap();
    cfg.vendors = vec!["dell".into()];
    f.store.add_source(&cfg, LockWait::NONE).unwrap();
    let mut cfg = SourceConfig::new("esxi7", &url).unwrap();
    cfg.platforms = vec!["7.0".into()];
    f.store.add_source(&cfg, LockWait::NONE).unwrap();
    let mut cfg = SourceConfig::new("esxi8", &url).unwrap();
    cfg.platforms = vec!["8.0.3".into()];
    cfg.vendors = vec!["VMware".into()];
    f.store.add_source(&cfg, LockWait::NONE).unwrap();

    sync(&f.store, "other-vendor").unwrap();
    let t = published_tree(&f.store, "other-vendor");
    assert_eq!(t.keys().collect::<Vec<_>>(), ["index.xml", "vmw-depot-index.xml"]);
    assert!(!String::from_utf8_lossy(&t["index.xml"]).contains("<vendor>"), "vendor list rewritten without vmw");

    sync(&f.store, "esxi7").unwrap();
    let t = published_tree(&f.store, "esxi7");
    assert_eq!(vib_count(&t), 0);
    assert!(!t.contains_key("vmw/metadata.zip"));
    assert!(!String::from_utf8_lossy(&t["vmw/vendor-index.xml"]).contains("<metadata>"));

    sync(&f.store, "esxi8").unwrap();
    assert_eq!(published_tree(&f.store, "esxi8"), tree(&f.upstream));
    assert_clean(&f.store);
}

#[test]
fn bundles_over_file_and_http_are_unpacked_and_not_fetched_twice() {
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundles");
    fs::create_dir_all(&bundle_dir).unwrap();
    let bundle = bundle_dir.join("depot.zip");
    generate_bundle(2, &bundle);
    let reference = dir.path().join("tree");
    generate_tree(2, &reference);
    let server = serve(&bundle_dir);
    let store = Store::open(&dir.path().join("store")).unwrap();
    add(&store, "local", url::Url::from_file_path(&bundle).unwrap().as_ref());
    add(&store, "remote", &server.url("depot.zip"));

    for name in ["local", "remote"] {
        let r = sync(&store, name).unwrap();
        assert_eq!(r.outcome, Outcome::Published, "{name}");
        let t = published_tree(&store, name);
        // A bundle lays VIBs out from its root, a tree under the vendor directory.
        let vibs = |t: &std::collections::BTreeMap<String, Vec<u8>>| {
            let mut v: Vec<Vec<u8>> = t.iter().filter(|(k, _)| k.ends_with(".vib")).map(|(_, b)| b.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(vibs(&t), vibs(&tree(&reference)), "{name}");
        assert!(t.contains_key("index.xml") && t.keys().any(|k| k.ends_with("metadata.zip")), "{name}");
        let again = sync(&store, name).unwrap();
        assert_eq!((again.outcome, again.files_fetched, again.not_modified), (Outcome::Unchanged, 0, 1), "{name}");
    }
    let hits = server.take_hits();
    assert_eq!(count(&hits, 200, |p| p == "depot.zip"), 1, "{hits:?}");
    assert_eq!(count(&hits, 304, |p| p == "depot.zip"), 1, "{hits:?}");
    // Both sources carry the same VIBs: stored once.
    let stored = verify::verify(&store).unwrap();
    assert_eq!(stored.unreferenced_blobs, 0);
    assert!(stored.blobs_checked < 2 * vib_count(&tree(&reference)));
    assert_clean(&store);
}

#[test]
fn rollback_retention_and_gc() {
    let f = fixture();
    let url = url::Url::from_directory_path(&f.upstream).unwrap().to_string();
    let mut cfg = SourceConfig::new("up", &url).unwrap();
    cfg.retention = 2;
    let source = f.store.add_source(&cfg, LockWait::NONE).unwrap();
    let v1 = tree(&f.upstream);
    let r1 = sync(&f.store, "up").unwrap();
    update_upstream(&f.v2, &f.upstream);
    let r2 = sync(&f.store, "up").unwrap();

    let rb = f.store.rollback("up", None, LockWait::NONE).unwrap();
    let (from, to) = (rb.from, rb.to);
    assert_eq!((from, to), (r2.snapshot, r1.snapshot.unwrap()));
    assert_eq!(published_tree(&f.store, "up"), v1);
    assert_clean(&f.store);
    let gc1 = internals::gc(&f.store).unwrap();
    assert_eq!(gc1.blobs_deleted, 0, "both snapshots are kept by retention");

    // Forward again, then a third upstream state: retention 2 drops the oldest snapshot.
    f.store.rollback("up", r2.snapshot, LockWait::NONE).unwrap();
    let extra = f.upstream.join("vmw/vendor-index.xml");
    let mut text = fs::read_to_string(&extra).unwrap();
    text.push_str("<!-- republished -->\n");
    fs::write(&extra, text).unwrap();
    let r3 = sync(&f.store, "up").unwrap();
    assert_eq!(r3.outcome, Outcome::Published);
    assert_eq!(r3.expired, vec![r1.snapshot.unwrap()]);
    let ids: Vec<i64> = f.store.snapshots(&source).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![r2.snapshot.unwrap(), r3.snapshot.unwrap()]);

    // Blobs only the expired snapshot used: its metadata.zip and the VIBs v2 dropped.
    let v2 = tree(&f.v2);
    let dropped = v1.iter().filter(|(k, v)| k.ends_with(".vib") && !v2.values().any(|w| w == *v)).count();
    assert!(dropped > 0);
    let before = verify::verify(&f.store).unwrap().blobs_checked;
    let g = internals::gc(&f.store).unwrap();
    assert_eq!(g.blobs_deleted, 1 + dropped, "{g:?}");
    assert_eq!(verify::verify(&f.store).unwrap().blobs_checked, before - 1 - dropped);
    let mut want = tree(&f.v2);
    want.insert("vmw/vendor-index.xml".into(), fs::read(&extra).unwrap());
    assert_eq!(published_tree(&f.store, "up"), want);
    assert_clean(&f.store);
}

#[test]
fn source_headers_are_sent_and_tokens_stay_out_of_errors() {
    let f = fixture();
    let server = serve(&f.upstream);
    let token = "aB3dE5fG7hI9jK1lM3nO5pQ7";
    let mut cfg = SourceConfig::new("private", &server.url(&format!("{token}/index.xml"))).unwrap();
    cfg.headers = vec!["X-Token: hunter2".into()];
    f.store.add_source(&cfg, LockWait::NONE).unwrap();
    let err = sync(&f.store, "private").unwrap_err().to_string();
    assert!(!err.contains(token) && !err.contains("hunter2"), "{err}");
    assert!(err.contains("/***/index.xml"), "{err}");
    let tokens = server.shared.tokens.lock().unwrap().clone();
    assert!(!tokens.is_empty() && tokens.iter().all(|t| t.as_deref() == Some("hunter2")), "{tokens:?}");

    // An on-demand source sends its header with the metadata and with each later fetch.
    let mut cfg = SourceConfig::new("lazy", &server.url("index.xml")).unwrap();
    cfg.payloads = esxlcm_store::source::PayloadPolicy::OnDemand;
    cfg.headers = vec!["X-Token: lazy-token".into()];
    f.store.add_source(&cfg, LockWait::NONE).unwrap();
    server.shared.tokens.lock().unwrap().clear();
    let r = sync(&f.store, "lazy").unwrap();
    assert!(r.outcome == Outcome::Published && r.deferred > 0, "{r:?}");
    let (id, files) = f.store.published_files(&f.store.source("lazy").unwrap()).unwrap().unwrap();
    let vib = files.iter().find(|x| x.path.ends_with(".vib")).unwrap();
    let fetcher = esxlcm_store::ondemand::OnDemand::new();
    let served = fetcher.serve_file(&f.store, "lazy", Some(id), &vib.path).unwrap();
    assert_eq!(fs::read(served).unwrap(), fs::read(f.upstream.join(&vib.path)).unwrap());
    let tokens = server.shared.tokens.lock().unwrap().clone();
    assert!(tokens.len() == 4 && tokens.iter().all(|t| t.as_deref() == Some("lazy-token")), "{tokens:?}");
    let run = f.store.last_run(&f.store.source("private").unwrap()).unwrap().unwrap();
    assert_eq!(run.outcome, "failed");
}

/// Serves the bytes of `original` for the VIB `alias` (the same file at two paths).
struct Twin<'a> {
    depot: &'a esxlcm_depot::generate::GeneratedDepot,
    alias: String,
    original: String,
}

impl esxlcm_depot::write::VibSource for Twin<'_> {
    fn open_vib(
        &self,
        vib: &esxlcm_depot::model::Vib,
    ) -> Result<Box<dyn std::io::Read + '_>, esxlcm_depot::write::WriteError> {
        let id = if vib.id() == self.alias { self.original.clone() } else { vib.id() };
        Ok(Box::new(std::io::Cursor::new(self.depot.vib_bytes(&id)?)))
    }
}

#[test]
fn one_payload_at_two_paths_downloads_once() {
    let dir = tempfile::tempdir().unwrap();
    let depot = esxlcm_depot::generate::generate(&config(2)).unwrap();
    let mut content = depot.content().clone();
    let mut twin = content.vibs[0].clone();
    let original = twin.id();
    twin.name = format!("{}-twin", twin.name);
    twin.location = None;
    let alias = twin.id();
    content.vibs.push(twin);
    let upstream = dir.path().join("up");
    esxlcm_depot::write::write_tree(&content, &Twin { depot: &depot, alias, original }, &upstream, false).unwrap();
    let t = tree(&upstream);
    let mut by_content: std::collections::BTreeMap<&Vec<u8>, Vec<&String>> = std::collections::BTreeMap::new();
    for (k, v) in t.iter().filter(|(k, _)| k.ends_with(".vib")) {
        by_content.entry(v).or_default().push(k);
    }
    let shared: Vec<_> = by_content.values().filter(|paths| paths.len() > 1).collect();
    assert_eq!(shared.len(), 1, "one VIB file at two paths: {shared:?}");
    assert_eq!(shared[0].len(), 2);

    let store = Store::open(&dir.path().join("store")).unwrap();
    add(&store, "up", url::Url::from_directory_path(&upstream).unwrap().as_ref());
    let r = sync(&store, "up").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    assert_eq!(r.files_fetched, 3 + vib_count(&t) - 1, "the shared payload is fetched once");
    assert_eq!(published_tree(&store, "up"), t);
    assert_clean(&store);
}

#[test]
fn a_download_complete_before_a_crash_is_not_fetched_again() {
    use esxlcm_store::transport::{GetRequest, GetResponse, HttpConfig, HttpTransport, Transport};
    let f = fixture();
    let server = serve(&f.upstream);
    add(&f.store, "up", &server.url(""));
    let upstream = tree(&f.upstream);
    let (victim, content) = upstream.iter().find(|(k, _)| k.ends_with(".vib")).unwrap();
    // What a run killed between the last byte and the rename leaves in staging: the whole
    // file and its validator (`<sha-256>.part`, `<sha-256>.part.validator`).
    let http = HttpTransport::new(&HttpConfig::default()).unwrap();
    let GetResponse::Full(body) =
        http.get(&url::Url::parse(&server.url(victim)).unwrap(), &GetRequest::default()).unwrap()
    else {
        panic!("expected a full response")
    };
    let sha = esxlcm_store::blob::BlobId::of_bytes(content);
    let part = f.store.staging_dir().join(format!("{sha}.part"));
    fs::write(&part, content).unwrap();
    fs::write(f.store.staging_dir().join(format!("{sha}.part.validator")), body.validators.etag.unwrap()).unwrap();
    server.take_hits();

    let r = sync(&f.store, "up").unwrap();
    assert_eq!(r.outcome, Outcome::Published);
    let hits = server.take_hits();
    let for_victim: Vec<_> = hits.iter().filter(|h| &h.path == victim).collect();
    assert_eq!(for_victim.len(), 1, "{for_victim:?}");
    assert!(for_victim[0].range && for_victim[0].status == 416, "asked for the rest; there was none: {for_victim:?}");
    assert!(!part.exists());
    assert_eq!(published_tree(&f.store, "up"), upstream);
    assert_clean(&f.store);
}

#[test]
fn a_verify_is_recorded_with_what_it_found() {
    let f = fixture();
    let url = url::Url::from_directory_path(&f.upstream).unwrap().to_string();
    add(&f.store, "up", &url);
    assert_eq!(sync(&f.store, "up").unwrap().outcome, Outcome::Published);
    assert_eq!(f.store.last_verify().unwrap(), None, "never verified yet");

    let report = f.store.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    let clean = f.store.last_verify().unwrap().unwrap();
    assert_eq!((clean.problems, clean.first_problem.as_deref()), (0, None));
    assert_eq!(clean.blobs_checked, report.blobs_checked as u64);
    assert!(clean.finished_at >= clean.started_at && clean.started_at > 0);

    // A stored payload damaged on disk: the next verify finds it, and the record says so.
    let (path, bytes) = published_tree(&f.store, "up").into_iter().find(|(p, _)| p.ends_with(".vib")).unwrap();
    let blob = f.store.blob_path(&esxlcm_store::blob::BlobId::of_bytes(&bytes)).unwrap();
    corrupt(&blob);
    let report = f.store.verify(LockWait::NONE, &esxlcm_store::sync::NoProgress).unwrap();
    assert!(!report.problems.is_empty(), "{path}: damage not found");
    let damaged = f.store.last_verify().unwrap().unwrap();
    assert_eq!(damaged.problems, report.problems.len() as u64);
    assert_eq!(damaged.first_problem.as_deref(), report.problems.first().map(String::as_str));
}
