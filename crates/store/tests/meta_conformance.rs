//! The `MetaStore` contract, one suite run against both backends: `SqliteMeta` on a
//! temporary file and `PgMeta` on a throwaway PostgreSQL cluster (Debian's `postgresql`,
//! started by `esxlcm_test_support::postgres`; skipped with a printed reason when it is
//! not installed, failing when `CI` is set). Each test function takes a fresh database;
//! `sqlite::NAME` and `postgres::NAME` run the same function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use esxlcm_store::StoreError;
use esxlcm_store::audit::{AuditQuery, AuditRecord};
use esxlcm_store::blob::BlobId;
use esxlcm_store::meta::{
    CLAIMS_KEPT_SECONDS, CacheEntry, DocumentChange, FileEntry, MetaStore, PgMeta, QuarantineRecord, RemotePayload,
    SqliteMeta, SyncRun, VerifyRun,
};
use esxlcm_store::source::SourceConfig;
use esxlcm_test_support::postgres as pg;

/// Where a test's database is; [`Fixture::open`] makes another handle on it (what another
/// process or replica has).
enum At {
    Sqlite(PathBuf),
    Postgres { url: String, db: String, cluster: &'static pg::PgCluster },
}

struct Fixture {
    meta: Box<dyn MetaStore>,
    at: At,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    fn sqlite(_test: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        Fixture { meta: Box::new(SqliteMeta::open(&path).unwrap()), at: At::Sqlite(path), _dir: Some(dir) }
    }

    fn postgres(test: &str) -> Option<Fixture> {
        let cluster = pg::cluster_or_skip(test)?;
        let url = cluster.database(test).unwrap();
        let db = url.rsplit('/').next().unwrap().to_owned();
        Some(Fixture {
            meta: Box::new(PgMeta::connect(&url).unwrap()),
            at: At::Postgres { url, db, cluster },
            _dir: None,
        })
    }

    fn open(&self) -> Box<dyn MetaStore> {
        match &self.at {
            At::Sqlite(path) => Box::new(SqliteMeta::open(path).unwrap()),
            At::Postgres { url, .. } => Box::new(PgMeta::connect(url).unwrap()),
        }
    }

    /// How a child process opens the same database (`HOLDER_VAR`).
    fn spec(&self) -> String {
        match &self.at {
            At::Sqlite(path) => format!("sqlite:{}", path.display()),
            At::Postgres { url, .. } => format!("postgres:{url}"),
        }
    }

    /// Damages the database behind the store's back; what `integrity_check` must then say.
    fn damage(&self) -> &'static str {
        match &self.at {
            At::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).unwrap();
                c.execute_batch(
                    "PRAGMA foreign_keys=OFF;
                     INSERT INTO snapshots (source_id, created_at, files, bytes, tree_digest) VALUES (999, 0, 0, 0, 'x');",
                )
                .unwrap();
                "foreign key violation in table snapshots"
            }
            At::Postgres { db, cluster, .. } => {
                cluster.psql(db, "DROP TABLE verify_runs").unwrap();
                "table verify_runs is missing"
            }
        }
    }
}

fn open_spec(spec: &str) -> Box<dyn MetaStore> {
    match spec.split_once(':') {
        Some(("sqlite", path)) => Box::new(SqliteMeta::open(std::path::Path::new(path)).unwrap()),
        Some(("postgres", url)) => Box::new(PgMeta::connect(url).unwrap()),
        _ => panic!("bad holder spec {spec}"),
    }
}

fn entry(path: &str, content: &[u8]) -> FileEntry {
    FileEntry { path: path.into(), blob: BlobId::of_bytes(content), size: content.len() as u64 }
}

fn source(meta: &dyn MetaStore, name: &str) -> esxlcm_store::source::Source {
    meta.add_source(&SourceConfig::new(name, "https://depot.example/index.xml").unwrap()).unwrap()
}

/// Each listed function runs as `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Fixture::sqlite(stringify!($name))); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(f) = super::Fixture::postgres(stringify!($name)) { super::$name(&f); }
            } )*
        }
    };
}

conformance!(
    sources_are_unique_by_name,
    snapshots_record_files_and_their_digest,
    a_snapshot_is_recorded_whole_or_not_at_all,
    large_snapshots_keep_every_file,
    the_published_pointer_moves_atomically,
    remote_payloads_are_replaced_per_path_and_blob,
    cache_entries_go_with_their_source,
    quarantine_is_listed_and_forgotten,
    runs_are_summed_by_source_and_outcome,
    verify_runs_keep_the_latest,
    documents_are_written_and_deleted_in_batches,
    view_builds_are_rows_published_by_one_pointer,
    the_audit_log_is_appended_pruned_and_filtered,
    the_store_id_is_made_once,
    imports_are_recorded_once,
    integrity_check_finds_damage,
    leases_have_one_holder,
    a_killed_holder_releases_its_lease,
    a_due_run_is_claimed_once,
    concurrent_writers_lose_nothing,
    calls_work_from_any_thread,
);

fn sources_are_unique_by_name(f: &Fixture) {
    let meta = f.meta.as_ref();
    let b = source(meta, "b");
    let a = source(meta, "a");
    let upper = source(meta, "B");
    let cfg = SourceConfig::new("a", "https://other.example/index.xml").unwrap();
    assert!(matches!(meta.add_source(&cfg).unwrap_err(), StoreError::SourceExists(n) if n == "a"));
    let names: Vec<String> = meta.sources().unwrap().into_iter().map(|s| s.config.name).collect();
    assert_eq!(names, ["B", "a", "b"], "byte order, whatever the database's locale");
    assert_eq!(meta.source("a").unwrap(), a);
    assert!(matches!(meta.source("nope").unwrap_err(), StoreError::UnknownSource(n) if n == "nope"));
    let mut invalid = SourceConfig::new("c", "https://x.example/index.xml").unwrap();
    invalid.name = "views".into();
    assert!(matches!(meta.add_source(&invalid).unwrap_err(), StoreError::InvalidSource(_)));

    let mut updated = b.clone();
    updated.config.enabled = false;
    updated.config.url = "https://mirror.example/index.xml".into();
    meta.update_source(&updated).unwrap();
    assert_eq!(meta.source("b").unwrap(), updated);
    assert!(f.open().source("b").unwrap() == updated, "another handle sees the update");

    meta.remove_source("B").unwrap();
    assert!(matches!(meta.source("B").unwrap_err(), StoreError::UnknownSource(_)));
    assert!(matches!(meta.remove_source("B").unwrap_err(), StoreError::UnknownSource(_)));
    let again = source(meta, "B");
    assert_eq!((again.config.name.as_str(), meta.sources().unwrap().len()), ("B", 3));
    assert!(meta.snapshots(upper.id).unwrap().is_empty());
}

fn snapshots_record_files_and_their_digest(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    let t = source(meta, "other");
    let a = meta.create_snapshot(s.id, &[entry("index.xml", b"a"), entry("v/x.vib", b"xx")]).unwrap();
    let b = meta.create_snapshot(s.id, &[entry("v/x.vib", b"xx"), entry("index.xml", b"a")]).unwrap();
    let c =
        meta.create_snapshot(t.id, &[entry("index.xml", b"c"), entry("B.vib", b"B"), entry("a.vib", b"a")]).unwrap();
    let empty = meta.create_snapshot(t.id, &[]).unwrap();
    assert_eq!(a.tree_digest, b.tree_digest, "order does not matter");
    assert_ne!(a.tree_digest, c.tree_digest);
    assert_eq!(a.tree_digest, esxlcm_store::meta::tree_digest(&[entry("index.xml", b"a"), entry("v/x.vib", b"xx")]));
    assert_eq!((a.files, a.bytes, a.source_id), (2, 3, s.id));
    assert_eq!((empty.files, empty.bytes), (0, 0));
    assert!(b.id > a.id && c.id > b.id, "ids grow");
    assert_eq!(meta.snapshots(s.id).unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(meta.all_snapshots().unwrap(), vec![a.clone(), b.clone(), c.clone(), empty.clone()]);
    let paths: Vec<String> = meta.snapshot_files(c.id).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["B.vib", "a.vib", "index.xml"], "sorted by path, byte order");
    assert_eq!(meta.snapshot_file(a.id, "v/x.vib").unwrap(), Some(entry("v/x.vib", b"xx")));
    assert_eq!(meta.snapshot_file(a.id, "v/none.vib").unwrap(), None);
    assert_eq!(meta.snapshot_files(9_999_999).unwrap(), vec![]);

    let referenced = meta.referenced_blobs().unwrap();
    let expected: HashSet<BlobId> = [&b"a"[..], b"xx", b"c", b"B"].iter().map(|b| BlobId::of_bytes(b)).collect();
    assert_eq!(referenced, expected);

    meta.delete_snapshot(c.id).unwrap();
    assert_eq!(meta.snapshot_files(c.id).unwrap(), vec![], "files go with their snapshot");
    assert!(!meta.referenced_blobs().unwrap().contains(&BlobId::of_bytes(b"B")));
    meta.delete_snapshot(c.id).unwrap();
}

fn a_snapshot_is_recorded_whole_or_not_at_all(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    let twice = [entry("index.xml", b"a"), entry("index.xml", b"b")];
    assert!(meta.create_snapshot(s.id, &twice).is_err(), "a path appears once");
    assert!(meta.create_snapshot(987_654, &[entry("index.xml", b"a")]).is_err(), "the source must exist");
    assert!(meta.all_snapshots().unwrap().is_empty(), "nothing of the failed inserts is left");
    assert!(meta.referenced_blobs().unwrap().is_empty());
}

fn large_snapshots_keep_every_file(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "big");
    // More files than one insert batch of the PostgreSQL backend.
    let files: Vec<FileEntry> =
        (0..12_345).map(|i| entry(&format!("vib20/p{i:05}.vib"), format!("{i}").as_bytes())).collect();
    let snap = meta.create_snapshot(s.id, &files).unwrap();
    assert_eq!(snap.files, 12_345);
    let stored = meta.snapshot_files(snap.id).unwrap();
    assert_eq!(stored, files);
    assert_eq!(snap.tree_digest, esxlcm_store::meta::tree_digest(&stored));
    assert_eq!(meta.referenced_blobs().unwrap().len(), 12_345);
}

fn the_published_pointer_moves_atomically(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    let a = meta.create_snapshot(s.id, &[entry("index.xml", b"a")]).unwrap();
    let b = meta.create_snapshot(s.id, &[entry("index.xml", b"b")]).unwrap();
    assert_eq!(meta.published(s.id).unwrap(), None);
    meta.set_published(s.id, a.id).unwrap();
    assert_eq!(meta.published(s.id).unwrap(), Some(a.id));
    assert!(meta.delete_snapshot(a.id).is_err(), "the published snapshot cannot be deleted");
    assert!(meta.set_published(s.id, 9_999_999).is_err(), "only a recorded snapshot is published");
    assert_eq!(meta.published(s.id).unwrap(), Some(a.id));

    // Another handle (a replica) reads while this one flips the pointer: always one of the two.
    let reader = f.open();
    std::thread::scope(|scope| {
        let flips = scope.spawn(|| {
            for i in 0..100 {
                meta.set_published(s.id, if i % 2 == 0 { b.id } else { a.id }).unwrap();
            }
        });
        while !flips.is_finished() {
            let seen = reader.published(s.id).unwrap();
            assert!(seen == Some(a.id) || seen == Some(b.id), "{seen:?}");
        }
        flips.join().unwrap();
    });
    assert_eq!(reader.published(s.id).unwrap(), Some(a.id));
    meta.remove_source("vmw").unwrap();
    assert_eq!(meta.published(s.id).unwrap(), None, "the pointer goes with its source");
}

fn remote_payloads_are_replaced_per_path_and_blob(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "od");
    let x = entry("v/x.vib", b"x");
    let y = entry("v/y.vib", b"y");
    let snap = meta.create_snapshot(s.id, &[entry("index.xml", b"i"), x.clone(), y.clone()]).unwrap();
    let remote = |e: &FileEntry, name: &str, url: Option<&str>| RemotePayload {
        path: e.path.clone(),
        blob: e.blob.clone(),
        size: e.size,
        name: name.into(),
        url: url.map(str::to_owned),
    };
    meta.record_remote(s.id, &[remote(&x, "X_1", None), remote(&x, "X_2", Some("https://cdn.example/x.vib"))]).unwrap();
    meta.record_remote(s.id, &[remote(&y, "Y", None)]).unwrap();
    meta.record_remote(s.id, &[]).unwrap();
    assert_eq!(
        meta.remote_payload(s.id, "v/x.vib", &x.blob).unwrap(),
        Some(remote(&x, "X_2", Some("https://cdn.example/x.vib"))),
        "the last record of a (path, blob) wins"
    );
    assert_eq!(meta.remote_payload(s.id, "v/x.vib", &y.blob).unwrap(), None, "keyed by blob too");
    assert_eq!(meta.remote_payload(s.id + 1000, "v/x.vib", &x.blob).unwrap(), None, "and by source");
    assert_eq!(
        meta.snapshot_remote(snap.id).unwrap(),
        vec![remote(&x, "X_2", Some("https://cdn.example/x.vib")), remote(&y, "Y", None)]
    );
    let other = meta.create_snapshot(s.id, &[entry("v/x.vib", b"changed")]).unwrap();
    assert!(meta.snapshot_remote(other.id).unwrap().is_empty(), "a different blob at the path is not remote");
    assert!(meta.record_remote(424_242, &[remote(&x, "X", None)]).is_err(), "the source must exist");
}

fn cache_entries_go_with_their_source(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    assert_eq!(meta.cache_get(s.id, "https://x/index.xml").unwrap(), None);
    let first = CacheEntry { etag: Some("\"e1\"".into()), last_modified: None, blob: Some(BlobId::of_bytes(b"a")) };
    meta.cache_put(s.id, "https://x/index.xml", &first).unwrap();
    assert_eq!(meta.cache_get(s.id, "https://x/index.xml").unwrap(), Some(first));
    let second = CacheEntry { etag: None, last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()), blob: None };
    meta.cache_put(s.id, "https://x/index.xml", &second).unwrap();
    assert_eq!(meta.cache_get(s.id, "https://x/index.xml").unwrap(), Some(second), "replaced whole");
    assert!(meta.cache_put(777_777, "u", &CacheEntry::default()).is_err(), "the source must exist");
    meta.remove_source("vmw").unwrap();
    assert_eq!(meta.cache_get(s.id, "https://x/index.xml").unwrap(), None);
}

fn quarantine_is_listed_and_forgotten(f: &Fixture) {
    let meta = f.meta.as_ref();
    let q = |i: i64| QuarantineRecord {
        source: "vmw".into(),
        name: format!("VMW_bootbank_x_{i}"),
        path: format!("vib20/x{i}.vib"),
        expected: "e".into(),
        actual: "a".into(),
        size: 9,
        file: format!("quarantine/x{i}"),
        reason: "sha-256 differs".into(),
        at: i * 100,
    };
    for i in [3, 1, 2] {
        meta.record_quarantine(&q(i)).unwrap();
    }
    assert_eq!(meta.quarantined().unwrap(), vec![q(3), q(1), q(2)], "in the order recorded");
    let mut gone = meta.forget_quarantined_before(250).unwrap();
    gone.sort();
    assert_eq!(gone, ["quarantine/x1", "quarantine/x2"]);
    assert_eq!(meta.quarantined().unwrap(), vec![q(3)]);
    assert!(meta.forget_quarantined_before(250).unwrap().is_empty());
}

fn runs_are_summed_by_source_and_outcome(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    let t = source(meta, "hpe");
    assert_eq!(meta.last_run(s.id).unwrap(), None);
    let run = |source_id: i64, started_at: i64, seconds: i64, outcome: &str| SyncRun {
        source_id,
        started_at,
        finished_at: started_at + seconds,
        outcome: outcome.into(),
        snapshot_id: None,
        files_fetched: 3,
        bytes_fetched: 4,
        message: format!("{outcome} after {seconds}s"),
    };
    meta.record_run(&run(s.id, 100, 0, "published")).unwrap();
    meta.record_run(&run(s.id, 200, 40, "published")).unwrap();
    meta.record_run(&run(s.id, 300, -5, "failed")).unwrap();
    let last = SyncRun { snapshot_id: Some(12), ..run(t.id, 50, 7200, "published") };
    meta.record_run(&last).unwrap();
    assert_eq!(meta.last_run(s.id).unwrap(), Some(run(s.id, 300, -5, "failed")), "the latest recorded");
    assert_eq!(meta.last_run(t.id).unwrap(), Some(last));
    let stats = meta.run_stats().unwrap();
    let summary: Vec<(String, String, u64, u64, Vec<u64>)> =
        stats.into_iter().map(|r| (r.source, r.outcome, r.count, r.seconds, r.at_most)).collect();
    assert_eq!(
        summary,
        vec![
            ("hpe".into(), "published".into(), 1, 7200, vec![0, 0, 0, 0, 0, 0, 0, 1]),
            ("vmw".into(), "failed".into(), 1, 0, vec![1; 8]),
            ("vmw".into(), "published".into(), 2, 40, vec![1, 1, 1, 2, 2, 2, 2, 2]),
        ]
    );
    meta.remove_source("hpe").unwrap();
    assert_eq!(meta.run_stats().unwrap().len(), 2, "runs go with their source");
}

fn verify_runs_keep_the_latest(f: &Fixture) {
    let meta = f.meta.as_ref();
    assert_eq!(meta.last_verify().unwrap(), None);
    let run = |i: i64| VerifyRun {
        started_at: i,
        finished_at: i + 1,
        blobs_checked: 10,
        snapshots_checked: 2,
        problems: u64::from(i % 2 == 1),
        first_problem: (i % 2 == 1).then(|| format!("blob {i} is damaged")),
    };
    for i in 0..105 {
        meta.record_verify(&run(i)).unwrap();
    }
    assert_eq!(meta.last_verify().unwrap(), Some(run(104)));
    assert_eq!(f.open().last_verify().unwrap(), Some(run(104)));
}

fn view_builds_are_rows_published_by_one_pointer(f: &Fixture) {
    let meta = f.meta.as_ref();
    assert!(meta.views().unwrap().is_empty());
    meta.put_view("branch", "{\"n\":0}", None).unwrap();
    meta.add_view_build("branch", 1, &[entry("index.xml", b"v1"), entry("b/vib20/x.vib", b"x")]).unwrap();
    assert_eq!(meta.view_file("branch", "index.xml").unwrap(), None, "not served before its pointer moves");
    meta.put_view("branch", "{\"n\":1}", Some((1, 7))).unwrap();
    let served = f.open().view_file("branch", "index.xml").unwrap().unwrap();
    assert_eq!((served.build, served.built_at, served.file), (1, 7, entry("index.xml", b"v1")));
    // A build recorded twice (an interrupted one) keeps only the second's files.
    meta.add_view_build("branch", 2, &[entry("index.xml", b"junk"), entry("junk", b"j")]).unwrap();
    meta.add_view_build("branch", 2, &[entry("index.xml", b"v2")]).unwrap();
    assert_eq!(meta.view_files("branch", 2).unwrap(), vec![entry("index.xml", b"v2")]);
    assert_eq!(meta.view_file("branch", "index.xml").unwrap().unwrap().build, 1, "build 1 is served until published");
    meta.put_view("branch", "{\"n\":2}", Some((2, 8))).unwrap();
    assert_eq!(meta.view_file("branch", "index.xml").unwrap().unwrap().file, entry("index.xml", b"v2"));
    assert_eq!(meta.view_file("branch", "b/vib20/x.vib").unwrap(), None, "no file of build 1 is served with build 2");
    meta.add_view_build("branch", 3, &[entry("index.xml", b"v3")]).unwrap();
    meta.prune_view_builds("branch", &[1, 2]).unwrap();
    assert_eq!(meta.view_builds("branch").unwrap(), vec![1, 2]);
    let referenced = meta.referenced_blobs().unwrap();
    for kept in [&b"v1"[..], b"x", b"v2"] {
        assert!(referenced.contains(&BlobId::of_bytes(kept)), "gc keeps the retained builds' blobs");
    }
    assert!(!referenced.contains(&BlobId::of_bytes(b"v3")));
    meta.put_view("other", "{}", None).unwrap();
    let names: Vec<String> = meta.views().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["branch", "other"]);
    assert_eq!(meta.view("branch").unwrap().as_deref(), Some("{\"n\":2}"));
    meta.remove_view("branch").unwrap();
    assert_eq!(meta.view("branch").unwrap(), None);
    assert!(meta.view_builds("branch").unwrap().is_empty());
    assert!(meta.referenced_blobs().unwrap().is_empty());
    assert!(meta.integrity_check().unwrap().is_empty());
}

fn documents_are_written_and_deleted_in_batches(f: &Fixture) {
    let meta = f.meta.as_ref();
    let put =
        |kind: &str, id: &str, body: &str| DocumentChange { kind: kind.into(), id: id.into(), body: Some(body.into()) };
    let del = |kind: &str, id: &str| DocumentChange { kind: kind.into(), id: id.into(), body: None };
    meta.write_documents(&[]).unwrap();
    meta.write_documents(&[put("drafts", "b", "{\"n\":1}"), put("drafts", "B", "{}"), put("clusters", "c1", "[]")])
        .unwrap();
    let all: Vec<(String, String)> = meta.documents().unwrap().into_iter().map(|d| (d.kind, d.id)).collect();
    assert_eq!(all, [("clusters".into(), "c1".into()), ("drafts".into(), "B".into()), ("drafts".into(), "b".into())]);
    meta.write_documents(&[put("drafts", "b", "{\"n\":2}"), del("drafts", "B"), del("drafts", "never")]).unwrap();
    assert_eq!(meta.documents_of("drafts").unwrap(), vec![("b".into(), "{\"n\":2}".into())]);
    assert_eq!(meta.documents_of("none").unwrap(), vec![]);
    assert_eq!(meta.document("drafts", "b").unwrap().as_deref(), Some("{\"n\":2}"));
    assert_eq!(meta.document("drafts", "B").unwrap(), None, "deleted");
    assert_eq!(meta.document("clusters", "b").unwrap(), None, "another kind's id");
    let big = "x".repeat(1 << 20);
    meta.write_documents(&[put("blobs", "big", &big)]).unwrap();
    assert_eq!(f.open().documents_of("blobs").unwrap()[0].1.len(), 1 << 20);
}

fn the_audit_log_is_appended_pruned_and_filtered(f: &Fixture) {
    let meta = f.meta.as_ref();
    let rec = |action: &str| AuditRecord {
        user: Some("root".into()),
        client: Some("192.0.2.1".into()),
        action: action.into(),
        target: None,
        result: "ok".into(),
        detail: Some("task-1".into()),
    };
    assert!(meta.audit(AuditQuery::default()).unwrap().is_empty());
    for i in 0..5 {
        meta.append_audit(&rec(&format!("op{i}")), 3).unwrap();
    }
    meta.append_audit(&AuditRecord { user: None, client: None, action: "login".into(), ..AuditRecord::default() }, 3)
        .unwrap();
    let all = meta.audit(AuditQuery { since_ms: None, limit: 100 }).unwrap();
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["op3", "op4", "login"], "the newest 3 kept, oldest first");
    assert_eq!((all[0].user.as_deref(), all[0].detail.as_deref()), (Some("root"), Some("task-1")));
    assert_eq!((all[2].user.as_deref(), all[2].target.as_deref()), (None, None));
    assert!(all[0].time.ends_with('Z') && all.windows(2).all(|w| w[0].id < w[1].id));
    let two = meta.audit(AuditQuery { since_ms: None, limit: 2 }).unwrap();
    assert_eq!(two.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["op4", "login"]);
    let future = chrono::Utc::now().timestamp_millis() + 60_000;
    assert!(meta.audit(AuditQuery { since_ms: Some(future), limit: 100 }).unwrap().is_empty());
    assert_eq!(meta.audit(AuditQuery { since_ms: Some(0), limit: 100 }).unwrap().len(), 3);
}

fn the_store_id_is_made_once(f: &Fixture) {
    let id = f.meta.store_id().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(f.meta.store_id().unwrap(), id);
    assert_eq!(f.open().store_id().unwrap(), id, "every handle (replica) reads the same id");
}

fn imports_are_recorded_once(f: &Fixture) {
    let meta = f.meta.as_ref();
    let s = source(meta, "vmw");
    assert_eq!(meta.imported_snapshot("other", 7).unwrap(), None);
    let imported = meta.create_imported_snapshot(s.id, &[entry("index.xml", b"i")], 42, "other", 7).unwrap();
    assert_eq!((imported.created_at, imported.files), (42, 1));
    assert_eq!(meta.imported_snapshot("other", 7).unwrap(), Some(imported.id));
    assert_eq!(meta.imported_snapshot("other", 8).unwrap(), None);
    assert_eq!(meta.imported_snapshot("third", 7).unwrap(), None);
    assert!(meta.create_imported_snapshot(s.id, &[], 43, "other", 7).is_err(), "an origin snapshot maps once");
    assert_eq!(meta.snapshots(s.id).unwrap(), vec![imported.clone()], "the failed insert left nothing behind");
    meta.delete_snapshot(imported.id).unwrap();
    assert_eq!(meta.imported_snapshot("other", 7).unwrap(), None, "the record goes with its snapshot");
    let again = meta.create_imported_snapshot(s.id, &[entry("index.xml", b"i")], 44, "other", 7).unwrap();
    meta.remove_source("vmw").unwrap();
    assert!(meta.imported_snapshot("other", 7).unwrap().is_none());
    assert!(meta.snapshots(again.source_id).unwrap().is_empty());
}

fn integrity_check_finds_damage(f: &Fixture) {
    let s = source(f.meta.as_ref(), "vmw");
    f.meta.create_snapshot(s.id, &[entry("index.xml", b"a")]).unwrap();
    assert_eq!(f.meta.integrity_check().unwrap(), Vec::<String>::new(), "healthy");
    let expected = f.damage();
    let problems = f.open().integrity_check().unwrap();
    assert!(problems.iter().any(|p| p.contains(expected)), "{problems:?}");
}

fn leases_have_one_holder(f: &Fixture) {
    let meta = f.meta.as_ref();
    let other = f.open();
    let held = meta.try_lease("sync:vmw").unwrap().expect("free");
    assert_eq!(held.name(), "sync:vmw");
    assert!(held.is_held());
    assert!(meta.try_lease("sync:vmw").unwrap().is_none(), "the same handle is refused too");
    assert!(other.try_lease("sync:vmw").unwrap().is_none(), "another handle (replica) is refused");
    let hpe = other.try_lease("sync:hpe").unwrap().expect("names are independent");
    drop(held);
    let moved = other.try_lease("sync:vmw").unwrap().expect("released on drop");
    assert!(meta.try_lease("sync:vmw").unwrap().is_none());
    // A lease outlives the handle that took it, and is still released on drop.
    drop(other);
    assert!(moved.is_held());
    assert!(meta.try_lease("sync:hpe").unwrap().is_none());
    drop((moved, hpe));
    assert!(meta.try_lease("sync:vmw").unwrap().is_some());
    assert!(meta.try_lease("sync:hpe").unwrap().is_some());
}

/// The variable that makes [`lease_holder_process`] hold a lease (`sqlite:PATH` or
/// `postgres:URL`).
const HOLDER_VAR: &str = "ESXLCM_TEST_LEASE_HOLDER";
const HOLDER_MARK: &str = "ESXLCM-LEASE-HELD";

/// The child process of [`a_killed_holder_releases_its_lease`]: takes the lease, says so,
/// and waits to be killed.
#[test]
#[ignore = "a helper process: a_killed_holder_releases_its_lease runs it with --ignored"]
fn lease_holder_process() {
    let spec = std::env::var(HOLDER_VAR).expect("run by a_killed_holder_releases_its_lease");
    let meta = open_spec(&spec);
    let _lease = meta.try_lease("sync:killed").unwrap().expect("the parent does not hold it");
    let mut out = std::io::stdout();
    writeln!(out, "\n{HOLDER_MARK}").unwrap();
    out.flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn a_killed_holder_releases_its_lease(f: &Fixture) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["lease_holder_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HOLDER_VAR, f.spec())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(line) => {
                if line.unwrap().contains(HOLDER_MARK) {
                    break;
                }
            }
            None => panic!("the holder exited before taking the lease: {:?}", child.wait()),
        }
    }
    assert!(f.meta.try_lease("sync:killed").unwrap().is_none(), "the child holds it");
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    // The kernel closes the dead process's files and sockets; the database server notices
    // the closed connection at once, but asynchronously: poll (the deadline only bounds a hang).
    let start = Instant::now();
    let lease = loop {
        if let Some(lease) = f.meta.try_lease("sync:killed").unwrap() {
            break lease;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the killed holder's lease was never released");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(lease.is_held());
}

fn a_due_run_is_claimed_once(f: &Fixture) {
    let handles: Vec<Box<dyn MetaStore>> = (0..4).map(|_| f.open()).collect();
    for due in [3600, 7200] {
        let granted: usize = std::thread::scope(|s| {
            let racers: Vec<_> = handles
                .iter()
                .flat_map(|m| (0..3).map(move |_| m))
                .map(|m| s.spawn(move || (0..5).filter(|_| m.claim_due("sync:vmw", due).unwrap()).count()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).sum()
        });
        assert_eq!(granted, 1, "12 threads on 4 handles, 5 tries each: one claim of due {due}");
    }
    let meta = f.meta.as_ref();
    assert!(!meta.claim_due("sync:vmw", 3600).unwrap());
    assert!(meta.claim_due("sync:hpe", 3600).unwrap(), "keys are independent");
    let later = 7200 + CLAIMS_KEPT_SECONDS + 1;
    assert!(meta.claim_due("sync:vmw", later).unwrap());
    assert!(!meta.claim_due("sync:vmw", 3600).unwrap(), "pruned or not, an old due is not granted again");
    assert!(!meta.claim_due("sync:vmw", 7200).unwrap());
    assert!(meta.claim_due("sync:vmw", later - 10).unwrap(), "a due inside the horizon still is, once");
}

fn concurrent_writers_lose_nothing(f: &Fixture) {
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let handles: Vec<Box<dyn MetaStore>> = (0..WRITERS / 2).map(|_| f.open()).collect();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let meta: &dyn MetaStore = if w % 2 == 0 { f.meta.as_ref() } else { handles[w / 2].as_ref() };
            s.spawn(move || {
                let src = source(meta, &format!("w{w}"));
                for i in 0..EACH {
                    let snap =
                        meta.create_snapshot(src.id, &[entry("index.xml", format!("{w}/{i}").as_bytes())]).unwrap();
                    meta.set_published(src.id, snap.id).unwrap();
                    let doc = DocumentChange { kind: "tasks".into(), id: format!("{w}-{i}"), body: Some("{}".into()) };
                    meta.write_documents(&[doc]).unwrap();
                    meta.append_audit(
                        &AuditRecord { action: format!("w{w}.{i}"), ..AuditRecord::default() },
                        1_000_000,
                    )
                    .unwrap();
                    meta.record_run(&SyncRun {
                        source_id: src.id,
                        started_at: 0,
                        finished_at: 1,
                        outcome: "published".into(),
                        snapshot_id: Some(snap.id),
                        files_fetched: 1,
                        bytes_fetched: 1,
                        message: String::new(),
                    })
                    .unwrap();
                }
            });
        }
    });
    let meta = f.open();
    let sources = meta.sources().unwrap();
    assert_eq!(sources.len(), WRITERS);
    for s in &sources {
        let snaps = meta.snapshots(s.id).unwrap();
        assert_eq!(snaps.len(), EACH, "{}", s.config.name);
        assert_eq!(meta.published(s.id).unwrap(), snaps.last().map(|x| x.id));
    }
    assert_eq!(meta.documents_of("tasks").unwrap().len(), WRITERS * EACH);
    assert_eq!(meta.audit(AuditQuery { since_ms: None, limit: 10_000 }).unwrap().len(), WRITERS * EACH);
    let runs: u64 = meta.run_stats().unwrap().iter().map(|r| r.count).sum();
    assert_eq!(runs, (WRITERS * EACH) as u64);
}

/// The server calls the store from async handlers (on tokio worker threads), from
/// `spawn_blocking` and from plain threads; a handle is also dropped on any of them.
fn calls_work_from_any_thread(f: &Fixture) {
    let s = source(f.meta.as_ref(), "vmw");
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    multi.block_on(async {
        assert_eq!(f.meta.source("vmw").unwrap(), s, "inside the runtime's context");
        let handle = f.open();
        let on_worker = tokio::spawn(async move {
            let lease = handle.try_lease("sync:worker").unwrap();
            let names: Vec<String> = handle.sources().unwrap().into_iter().map(|s| s.config.name).collect();
            drop((handle, lease));
            names
        });
        assert_eq!(on_worker.await.unwrap(), ["vmw"], "on a worker thread, handle and lease dropped there");
        let lease = f.meta.try_lease("sync:vmw").unwrap().expect("free");
        drop(lease);
        let other = f.open();
        let blocking = tokio::task::spawn_blocking(move || {
            let n = other.sources().unwrap().len();
            (other, n)
        });
        let (other, n) = blocking.await.unwrap();
        assert_eq!(n, 1, "from spawn_blocking");
        let lease = other.try_lease("sync:vmw").unwrap().expect("released on a worker thread");
        drop(other);
        drop(lease);
    });
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    current.block_on(async {
        assert_eq!(f.meta.sources().unwrap().len(), 1, "on a current-thread runtime");
        let spawned = tokio::spawn(async { 1 });
        assert_eq!(spawned.await.unwrap(), 1);
        drop(f.open());
    });
    std::thread::scope(|scope| {
        scope.spawn(|| assert!(f.meta.try_lease("sync:vmw").unwrap().is_some(), "on a plain thread"));
    });
}

// --- PostgreSQL only ------------------------------------------------------------------

#[test]
fn postgres_replicas_starting_together_migrate_once() {
    let Some(cluster) = pg::cluster_or_skip("postgres_replicas_starting_together_migrate_once") else { return };
    let url = cluster.database("migrate_together").unwrap();
    let versions: Vec<i64> = std::thread::scope(|s| {
        let starts: Vec<_> =
            (0..6).map(|_| s.spawn(|| PgMeta::connect(&url).unwrap().schema_version().unwrap())).collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let latest = esxlcm_store::meta::postgres::PG_MIGRATIONS.len() as i64;
    assert_eq!(versions, vec![latest; 6]);
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(cluster.psql(db, "SELECT count(*) FROM schema_version").unwrap(), "1");
    cluster.psql(db, "UPDATE schema_version SET version = 99").unwrap();
    let e = PgMeta::connect(&url).unwrap_err();
    assert!(matches!(e, StoreError::SchemaTooNew { found: 99, .. }), "{e}");
    assert!(!e.to_string().contains(pg::PASSWORD), "{e}");
}

#[test]
fn postgres_errors_never_show_the_password() {
    let Some(cluster) = pg::cluster_or_skip("postgres_errors_never_show_the_password") else { return };
    let url = cluster.database("password").unwrap();
    let wrong = url.replace(pg::PASSWORD, "not-the-password");
    let e = PgMeta::connect(&wrong).unwrap_err().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("not-the-password") && e.contains(":***@127.0.0.1"), "{e}");
    let meta = PgMeta::connect(&url.replace("postgres://", "postgresql://")).unwrap();
    assert!(meta.target().contains(":***@") && !meta.target().contains(pg::PASSWORD));
    let closed = format!("postgres://{}:{}@127.0.0.1:1/x", pg::ROLE, pg::PASSWORD);
    let e = PgMeta::connect(&closed).unwrap_err().to_string();
    assert!(!e.contains(pg::PASSWORD) && e.contains("127.0.0.1:1"), "{e}");
}

#[test]
fn postgres_lease_is_lost_when_its_connection_is() {
    let Some(cluster) = pg::cluster_or_skip("postgres_lease_is_lost_when_its_connection_is") else { return };
    let url = cluster.database("lease_lost").unwrap();
    let meta = PgMeta::connect(&url).unwrap();
    let lease = meta.try_lease("sync:cut").unwrap().unwrap();
    let db = url.rsplit('/').next().unwrap();
    let cut = cluster
        .psql(db, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'esxlcm lease sync:cut'")
        .unwrap();
    assert_eq!(cut, "1", "the lease's own connection, named after it");
    let start = Instant::now();
    while lease.is_held() {
        assert!(start.elapsed() < Duration::from_secs(60), "the holder never noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(meta.try_lease("sync:cut").unwrap().is_some(), "the server released it");
    drop(lease);
    assert!(meta.sources().unwrap().is_empty(), "the pool is unaffected");
}

#[test]
fn postgres_connects_over_verified_tls() {
    let Some(cluster) = pg::cluster_or_skip("postgres_connects_over_verified_tls") else { return };
    let url = cluster.database("tls").unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let ca = cluster.ca_file();
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={}&application_name=esxlcm-tls", ca.display());
    let meta = PgMeta::connect(&verified).unwrap();
    let s = source(&meta, "vmw");
    let lease = meta.try_lease("sync:vmw").unwrap().unwrap();
    let sql = format!(
        "SELECT count(*) || ' ' || bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = '{db}' AND a.application_name LIKE 'esxlcm%'"
    );
    let seen = cluster.psql("postgres", &sql).unwrap();
    let (count, all_tls) = seen.split_once(' ').unwrap();
    assert!(count.parse::<u32>().unwrap() >= 2 && all_tls == "true", "pooled and lease connections over TLS: {seen}");
    drop(lease);
    assert_eq!(meta.source("vmw").unwrap(), s);

    // The throwaway CA is not in the system's store: without sslrootcert the server's
    // certificate is refused, not accepted unverified.
    let e = PgMeta::connect(&format!("{url}?sslmode=require")).unwrap_err().to_string();
    assert!(e.contains("TLS") && !e.contains(pg::PASSWORD), "{e}");
    let plain = PgMeta::connect(&format!("{url}?sslmode=disable")).unwrap();
    assert_eq!(plain.source("vmw").unwrap(), s);
}

/// Not a check: a measurement of the metadata backends (for docs/PERFORMANCE.md). Records a
/// 20,000-file snapshot, reads it back whole and file by file, on each backend:
/// `cargo test -p esxlcm-store --test meta_conformance -- --ignored --nocapture measure`.
#[test]
#[ignore = "a measurement, run by hand"]
#[allow(clippy::print_stdout)]
fn measure_snapshot_write_and_read() {
    let mut fixtures = vec![("sqlite", Fixture::sqlite("measure"))];
    fixtures.extend(Fixture::postgres("measure").map(|f| ("postgres", f)));
    for (name, f) in fixtures {
        let meta = f.meta.as_ref();
        let s = source(meta, "big");
        let files: Vec<FileEntry> =
            (0..20_000).map(|i| entry(&format!("vib20/p{i:05}/x.vib"), format!("{i}").as_bytes())).collect();
        let start = Instant::now();
        let snap = meta.create_snapshot(s.id, &files).unwrap();
        let write = start.elapsed();
        let start = Instant::now();
        assert_eq!(meta.snapshot_files(snap.id).unwrap().len(), files.len());
        let read = start.elapsed();
        let start = Instant::now();
        for f in files.iter().step_by(20) {
            assert!(meta.snapshot_file(snap.id, &f.path).unwrap().is_some());
        }
        let lookups = start.elapsed();
        let start = Instant::now();
        for _ in 0..1000 {
            assert_eq!(meta.published(s.id).unwrap(), None);
        }
        let published = start.elapsed();
        println!(
            "{name}: create_snapshot(20000 files) {write:?}; snapshot_files {read:?}; 1000 snapshot_file {lookups:?} \
             ({:?} each); 1000 published {published:?}",
            lookups / 1000
        );
    }
}
