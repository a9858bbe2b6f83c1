//! `esxlcm mirror export` / `mirror import` across a (simulated) air gap: a full export
//! into an empty store, an incremental one after an upstream release, a corrupted chunk,
//! and imports killed part-way that continue where they stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::mirror_support::*;
use sha2::{Digest, Sha256};

/// Blob files in a store's `blobs/` directory.
fn blob_files(blobs: &Path) -> usize {
    fs::read_dir(blobs).map_or(0, |shards| shards.map(|s| fs::read_dir(s.unwrap().path()).unwrap().count()).sum())
}

/// The distinct contents (sha-256) of a tree: what a content-addressed store holds for it.
fn blobs(t: &BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    t.values().map(|b| hex::encode(Sha256::digest(b))).collect()
}

/// `mirror export --json` of store `a` into `to` in chunks of `chunk_size`; the report.
fn export_chunked(a: &Path, to: &Path, chunk_size: &str) -> serde_json::Value {
    json(&ok(&[
        "mirror",
        "--store",
        a.to_str().unwrap(),
        "export",
        "--to",
        to.to_str().unwrap(),
        "--chunk-size",
        chunk_size,
        "--json",
    ]))
}

/// A store A with `up` synced (snapshot 1); returns (dir, upstream, v2, store A).
fn synced_store(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, a) = (dir.path().join("up"), dir.path().join("v2"), dir.path().join("a"));
    for (n, out) in [(2, &upstream), (3, &v2)] {
        let n = n.to_string();
        let mut args = vec!["depot", "generate", "--preset", "tiny", "--seed", "7", "--base-images", &n];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        ok(&args);
    }
    let s = a.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &file_url(&upstream), "--description", "vmw"]);
    ok(&["mirror", "--store", s, "sync"]);
    (dir, upstream, v2, a)
}

#[test]
fn full_then_incremental_export_carries_the_published_tree_and_only_new_blobs() {
    let (dir, upstream, v2, a) = synced_store(&[]);
    let (sa, b) = (a.to_str().unwrap(), dir.path().join("b"));
    let sb = b.to_str().unwrap();
    let e1 = dir.path().join("carry-1");

    let full = json(&ok(&["mirror", "--store", sa, "export", "--to", e1.to_str().unwrap(), "--json"]));
    let v1 = tree(&upstream);
    assert_eq!(full["blobs"], blobs(&v1).len(), "every distinct file once: {full}");
    assert_eq!(full["upto"], 1);
    assert_eq!(full["chunks"], 1, "one default-size chunk");
    // The export checks with standard tools, too.
    let sums =
        std::process::Command::new("sha256sum").arg("-c").arg("--quiet").arg("SHA256SUMS").current_dir(&e1).status();
    if let Ok(status) = sums {
        assert!(status.success(), "sha256sum -c SHA256SUMS");
    }

    let imported = json(&ok(&["mirror", "--store", sb, "import", e1.to_str().unwrap(), "--json"]));
    assert_eq!(imported["blobs_written"], full["blobs"]);
    assert_eq!(imported["published"][0]["source"], "up");
    assert_eq!(published(&b, "up"), published(&a, "up"), "B serves A's tree byte for byte");
    assert_eq!(published(&b, "up"), v1);
    let list = json(&ok(&["mirror", "--store", sb, "list", "--json"]));
    assert_eq!(list["sources"][0]["enabled"], false, "an imported source is not synced from this side");
    assert_eq!(list["sources"][0]["description"], "vmw");

    // Upstream releases; A syncs; only what is new crosses the gap.
    update_upstream(&v2, &upstream);
    ok(&["mirror", "--store", sa, "sync"]);
    let e2 = dir.path().join("carry-2");
    let inc = json(&ok(&["mirror", "--store", sa, "export", "--since", "1", "--to", e2.to_str().unwrap(), "--json"]));
    let new: BTreeSet<String> = blobs(&tree(&v2)).difference(&blobs(&v1)).cloned().collect();
    assert!(new.len() > 10, "{new:?}");
    assert_eq!(inc["blobs"], new.len(), "only blobs no earlier snapshot has: {inc}");
    let new_bytes: usize =
        tree(&v2).values().filter(|b| new.contains(&hex::encode(Sha256::digest(b)))).map(Vec::len).sum();
    let carried: u64 = fs::read_dir(&e2)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("chunk-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(carried, inc["bytes"].as_u64().unwrap());
    assert!(carried as usize <= new_bytes, "no file twice ({carried} > {new_bytes})");

    // The incremental export needs its base: an empty store refuses it, saying why.
    let c = dir.path().join("c");
    let refused = run(&["mirror", "--store", c.to_str().unwrap(), "import", e2.to_str().unwrap()]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("incremental") && refused.stderr.contains("--since 1"), "{}", refused.stderr);
    assert!(!c.join("published/up").exists());

    let r2 = json(&ok(&["mirror", "--store", sb, "import", e2.to_str().unwrap(), "--json"]));
    assert_eq!(r2["blobs_written"], new.len());
    assert_eq!(r2["snapshots_created"].as_array().unwrap().len(), 1);
    assert_eq!(published(&b, "up"), tree(&v2));
    assert_eq!(published(&b, "up"), published(&a, "up"));

    // Importing again changes nothing.
    let again = ok(&["mirror", "--store", sb, "import", e2.to_str().unwrap()]);
    assert!(again.stdout.contains("nothing new") && again.stdout.contains("stored 0 files"), "{}", again.stdout);
    assert_eq!(verify_json(&b)["clean"], true);
    let status = json(&ok(&["mirror", "--store", sb, "status", "--json"]));
    assert_eq!(status["sources"][0]["snapshots"].as_array().unwrap().len(), 2);
    // B rolls back like any store.
    ok(&["mirror", "--store", sb, "rollback", "up"]);
    assert_eq!(published(&b, "up"), v1);
}

#[test]
fn a_flipped_byte_in_a_chunk_is_named_and_the_import_resumes_after_it_is_fixed() {
    let (dir, _upstream, _v2, a) = synced_store(&[]);
    let e = dir.path().join("carry");
    let b = dir.path().join("b");
    let sb = b.to_str().unwrap();
    let r = export_chunked(&a, &e, "16K");
    let chunks = r["chunks"].as_u64().unwrap();
    assert!(chunks >= 8, "{r}");
    for i in 1..=chunks {
        let len = fs::metadata(e.join(format!("chunk-{i:05}.bin"))).unwrap().len();
        assert!(len == 16 * 1024 || i == chunks, "chunk {i}: {len}");
    }

    let victim = e.join(format!("chunk-{:05}.bin", chunks / 2));
    let original = fs::read(&victim).unwrap();
    let mut bad = original.clone();
    bad[original.len() / 3] ^= 0x01;
    fs::write(&victim, &bad).unwrap();
    let failed = run(&["mirror", "--store", sb, "import", e.to_str().unwrap()]);
    assert_ne!(failed.code, 0);
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(failed.stderr.contains(&format!("{name} is corrupt: sha-256")), "names the chunk: {}", failed.stderr);
    assert!(!b.join("published/up").exists(), "nothing is published from a bad export");
    let status = json(&ok(&["mirror", "--store", sb, "status", "--json"]));
    assert!(status["sources"].as_array().unwrap().is_empty(), "no source or snapshot recorded: {status}");

    // A truncated copy is named before anything is read.
    fs::write(&victim, &original[..100]).unwrap();
    let short = run(&["mirror", "--store", sb, "import", e.to_str().unwrap()]);
    assert!(short.stderr.contains(&name) && short.stderr.contains("incomplete copy"), "{}", short.stderr);

    // The chunk copied again: the import continues; blobs of the chunks before it stay.
    fs::write(&victim, &original).unwrap();
    let resumed = json(&ok(&["mirror", "--store", sb, "import", e.to_str().unwrap(), "--json"]));
    let present = resumed["blobs_present"].as_u64().unwrap();
    assert!(present > 0, "blobs stored before the bad chunk are not written again: {resumed}");
    assert_eq!(present + resumed["blobs_written"].as_u64().unwrap(), r["blobs"].as_u64().unwrap());
    assert!(resumed["chunks_skipped"].as_u64().unwrap() > 0, "{resumed}");
    assert_eq!(published(&b, "up"), published(&a, "up"));
    assert_eq!(verify_json(&b)["clean"], true);
}

#[test]
fn an_import_killed_at_random_points_continues_and_publishes_only_whole_snapshots() {
    let (dir, _upstream, _v2, a) = synced_store(&["--payload-bytes", "200000"]);
    let e = dir.path().join("carry");
    let b = dir.path().join("b");
    let sb = b.to_str().unwrap();
    let r = export_chunked(&a, &e, "64K");
    assert!(r["chunks"].as_u64().unwrap() > 100, "{r}");
    let want = published(&a, "up");
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut killed = 0;
    let mut stored = Vec::new();
    for round in 0..8 {
        // A whole import takes 0.1–0.3 s here: kills land before, during and after it.
        let delay = Duration::from_millis(2 + jitter(&mut seed) % 80);
        if run_killed_after(&["mirror", "--store", sb, "import", e.to_str().unwrap()], delay) {
            killed += 1;
        }
        // Whatever the moment: nothing published, or the whole snapshot.
        if b.join("published/up").exists() {
            assert_eq!(published(&b, "up"), want, "round {round}: a published tree is always complete");
        }
        stored.push(blob_files(&b.join("blobs")));
    }
    assert!(stored.windows(2).all(|w| w[0] <= w[1]), "what a killed import stored stays stored: {stored:?}");
    let last = json(&ok(&["mirror", "--store", sb, "import", e.to_str().unwrap(), "--json"]));
    eprintln!("killed {killed} of 8 imports; blobs stored after each: {stored:?}; the last run: {last}");
    assert_eq!(published(&b, "up"), want);
    let total = r["blobs"].as_u64().unwrap();
    assert_eq!(last["blobs_present"].as_u64().unwrap() + last["blobs_written"].as_u64().unwrap(), total);
    if killed > 0 {
        assert!(last["blobs_written"].as_u64().unwrap() < total, "the earlier runs' blobs were kept: {last}");
    }
    let status = json(&ok(&["mirror", "--store", sb, "status", "--json"]));
    assert_eq!(status["sources"][0]["snapshots"].as_array().unwrap().len(), 1, "recorded once: {status}");
    assert_eq!(verify_json(&b)["clean"], true);
}
