//! Source kinds beyond online depots, through the binary: offline bundles pushed into the
//! store (`mirror push`) and UMDS exports (`mirror add` recognises them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Read as _;
use std::path::Path;

use crate::mirror_support::*;

fn vibs(dir: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = tree(dir).into_iter().filter(|(k, _)| k.ends_with(".vib")).map(|(_, b)| b).collect();
    v.sort();
    v
}

fn unpacked_vibs(bundle: &Path) -> Vec<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(fs::File::open(bundle).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        if member.name().unwrap().ends_with(".vib") {
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            out.push(bytes);
        }
    }
    out.sort();
    out
}

#[test]
fn pushed_bundles_become_snapshots_and_a_bad_one_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let (b1, b2, bad) = (dir.path().join("b1.zip"), dir.path().join("b2.zip"), dir.path().join("bad.zip"));
    tiny_bundle(2, &b1);
    tiny_bundle(3, &b2);
    let corrupted = bundle_with_a_corrupt_vib(&b2, &bad);
    let published = store.join("published/drivers");

    let first = ok(&["mirror", "--store", s, "push", "drivers", b1.to_str().unwrap()]);
    assert!(first.stdout.contains("drivers: published snapshot 1"), "{}", first.stdout);
    assert_eq!(vibs(&published), unpacked_vibs(&b1));
    let list = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    let drivers = &list["sources"][0];
    assert_eq!((drivers["kind"].as_str(), drivers["enabled"].as_bool()), (Some("bundle"), Some(false)), "{drivers}");
    let bulk = ok(&["mirror", "--store", s, "sync"]);
    assert!(bulk.stdout.contains("no enabled sources"), "a pushed source is not synced: {}", bulk.stdout);

    let again = ok(&["mirror", "--store", s, "push", "drivers", b1.to_str().unwrap()]);
    assert!(again.stdout.contains("drivers: unchanged"), "{}", again.stdout);
    let second = ok(&["mirror", "--store", s, "push", "drivers", b2.to_str().unwrap()]);
    assert!(second.stdout.contains("drivers: published snapshot 2"), "{}", second.stdout);
    assert_eq!(vibs(&published), unpacked_vibs(&b2));

    let refused = run(&["mirror", "--store", s, "push", "drivers", bad.to_str().unwrap()]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("push refused: 1 payload failed verification"), "{}", refused.stderr);
    assert!(
        refused.stdout.contains("rejected") && refused.stdout.contains("snapshot 2 stays published"),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains(corrupted.rsplit('/').next().unwrap()), "names the file: {}", refused.stdout);
    assert_eq!(vibs(&published), unpacked_vibs(&b2), "nothing of the bad bundle is published");
    let doc = status_doc(&store, "drivers");
    assert_eq!(doc["state"], "rejected", "{doc}");
    let list = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    let url = list["sources"][0]["url"].as_str().unwrap();
    assert!(url.ends_with("/b2.zip"), "the source still names the bundle it publishes: {url}");

    let rb = ok(&["mirror", "--store", s, "rollback", "drivers"]);
    assert!(rb.stdout.contains("published snapshot 1"), "{}", rb.stdout);
    assert_eq!(vibs(&published), unpacked_vibs(&b1));
    assert_eq!(verify_json(&store)["clean"], true);

    let upstream = dir.path().join("up");
    generate(2, &upstream);
    ok(&["mirror", "--store", s, "add", "online", &file_url(&upstream)]);
    let wrong = run(&["mirror", "--store", s, "push", "online", b1.to_str().unwrap()]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("into a bundle source"), "{}", wrong.stderr);
    let missing = run(&["mirror", "--store", s, "push", "drivers", dir.path().join("nope.zip").to_str().unwrap()]);
    assert!(missing.stderr.contains("not a file"), "{}", missing.stderr);
}

#[test]
fn mirror_add_recognises_a_umds_export() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, export, store) = (dir.path().join("gen"), dir.path().join("export"), dir.path().join("store"));
    generate(2, &generated);
    // UMDS keeps each vendor's depot under hostupdate/<vendor code>/.
    for (rel, bytes) in tree(&generated.join("vmw")) {
        let dest = export.join("hostupdate/vmw").join(rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(dest, bytes).unwrap();
    }
    let s = store.to_str().unwrap();
    let added = ok(&["mirror", "--store", s, "add", "umds", export.to_str().unwrap()]);
    assert!(added.stdout.contains("added umds source 'umds'"), "{}", added.stdout);
    let synced = ok(&["mirror", "--store", s, "sync", "umds"]);
    assert!(synced.stdout.contains("umds: published snapshot 1"), "{}", synced.stdout);
    let published = store.join("published/umds");
    assert!(published.join("index.xml").is_file());
    assert_eq!(vibs(&published), vibs(&generated));
    assert_eq!(inspected_vib_count(published.to_str().unwrap()) as usize, vibs(&generated).len());

    let forced = ok(&["mirror", "--store", s, "add", "web", "https://umds.example/export/", "--kind", "umds"]);
    assert!(forced.stdout.contains("added umds source 'web'"), "{}", forced.stdout);
    let unknown = run(&["mirror", "--store", s, "add", "x", "https://umds.example/", "--kind", "ftp"]);
    assert!(unknown.stderr.contains("online, bundle, umds"), "{}", unknown.stderr);
}
