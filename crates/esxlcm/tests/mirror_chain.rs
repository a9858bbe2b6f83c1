//! A mirror of a mirror: store A syncs a depot, `esxlcm serve --store A` publishes it, and
//! store B syncs from that server. Every file B serves has the sha-256 of the file A serves,
//! and after an upstream release B fetches only what changed, from A.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use crate::mirror_support::*;
use sha2::{Digest, Sha256};

/// sha-256 of every file of a source, as its server sends it.
fn served_digests(base: &str, source: &str, paths: &[String]) -> BTreeMap<String, String> {
    let client = reqwest::blocking::Client::new();
    paths
        .iter()
        .map(|p| {
            let r = client.get(format!("{base}{source}/{p}")).send().unwrap();
            assert_eq!(r.status(), 200, "{base}{source}/{p}");
            (p.clone(), hex::encode(Sha256::digest(r.bytes().unwrap())))
        })
        .collect()
}

fn digests(t: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    t.iter().map(|(p, b)| (p.clone(), hex::encode(Sha256::digest(b)))).collect()
}

#[test]
fn a_store_served_by_esxlcm_syncs_into_a_second_store_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2) = (dir.path().join("up"), dir.path().join("v2"));
    let (a, b) = (dir.path().join("store-a"), dir.path().join("store-b"));
    generate(2, &upstream);
    generate(3, &v2);
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&["mirror", "--store", sa, "add", "vmw", &file_url(&upstream)]);
    ok(&["mirror", "--store", sa, "sync"]);

    let served_a = serve_store(&a);
    ok(&["mirror", "--store", sb, "add", "copy", &format!("{}vmw/index.xml", served_a.base)]);
    let first = ok(&["mirror", "--store", sb, "sync"]);
    assert!(first.stdout.contains("copy: published snapshot 1"), "{}", first.stdout);
    let served_b = serve_store(&b);

    let check = |want: &Path| {
        let tree_a = tree(&a.join("published/vmw"));
        let tree_b = tree(&b.join("published/copy"));
        assert_eq!(tree_a, tree(want), "A publishes upstream");
        assert_eq!(digests(&tree_a), digests(&tree_b), "B's published tree is A's, file for file");
        let paths: Vec<String> = tree_a.keys().cloned().collect();
        assert!(paths.iter().filter(|p| p.ends_with(".vib")).count() > 10, "{paths:?}");
        let over_a = served_digests(&served_a.base, "vmw", &paths);
        let over_b = served_digests(&served_b.base, "copy", &paths);
        assert_eq!(over_a, digests(&tree_a), "A serves its published tree");
        assert_eq!(over_b, over_a, "B serves exactly what A serves");
    };
    check(&upstream);

    // An upstream release reaches B through A; B asks A only for what changed.
    let changed = update_upstream(&v2, &upstream);
    ok(&["mirror", "--store", sa, "sync"]);
    let second = ok(&["mirror", "--store", sb, "sync"]);
    assert!(second.stdout.contains("copy: published snapshot 2"), "{}", second.stdout);
    let new_vibs = changed.iter().filter(|c| c.ends_with(".vib")).count();
    assert!(
        second.stdout.contains(&format!("fetched {} files", new_vibs + 1)) && second.stdout.contains("2 not modified"),
        "the new metadata.zip and VIBs only; vendor list and index 304: {}",
        second.stdout
    );
    check(&v2);
    assert_eq!(verify_json(&b)["clean"], true);
}
