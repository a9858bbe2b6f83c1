//! `esxlcm serve --store` publishes any snapshot and any named view as an online depot:
//! `/<source>/@<id>/index.xml`, `/views/<name>/index.xml`. A merged view carries both
//! sources, an image view exactly what `esxlcm image resolve` says the image needs (and
//! resolves from its URL alone), views follow each sync, and a second store mirrors a view
//! byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use crate::mirror_support::*;
use serde_json::Value;

#[test]
fn snapshots_and_views_are_served_at_stable_urls_and_mirror_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (up, v2, oem) = (dir.path().join("up"), dir.path().join("v2"), dir.path().join("oem"));
    let (a, b) = (dir.path().join("store-a"), dir.path().join("store-b"));
    generate(2, &up);
    generate(3, &v2);
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "11", "--out", oem.to_str().unwrap()]);
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&["mirror", "--store", sa, "add", "vmw", &file_url(&up)]);
    ok(&["mirror", "--store", sa, "add", "oem", &file_url(&oem)]);

    // The image: the newest base image of the first release.
    let inspected = json(&ok(&["depot", "inspect", "--json", up.to_str().unwrap()]));
    let base = inspected["base_images"].as_array().unwrap().last().unwrap()["version"].as_str().unwrap().to_owned();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, format!(r#"{{"base_image": {{"version": "{base}"}}}}"#)).unwrap();
    let spec_s = spec.to_str().unwrap();

    // Views added before anything is synced are built by the first sync.
    let added = ok(&["mirror", "--store", sa, "view", "add", "all", "--source", "vmw", "--source", "oem"]);
    assert!(added.stdout.contains("all: not built yet") && added.stdout.contains("mirror sync"), "{}", added.stdout);
    ok(&["mirror", "--store", sa, "view", "add", "branch", "--source", "vmw", "--spec", spec_s]);
    let synced = ok(&["mirror", "--store", sa, "sync"]);
    assert!(synced.stdout.contains("all: published build 1"), "{}", synced.stdout);
    assert!(synced.stdout.contains("branch: published build 1"), "{}", synced.stdout);
    let first = published_snapshot(sa, "vmw");

    // An upstream release: the sync rebuilds both views; the first snapshot stays addressable.
    update_upstream(&v2, &up);
    let synced = ok(&["mirror", "--store", sa, "sync", "vmw"]);
    assert!(synced.stdout.contains("all: published build 2"), "{}", synced.stdout);
    assert!(synced.stdout.contains("branch: published build 2"), "{}", synced.stdout);
    let second = published_snapshot(sa, "vmw");
    assert_ne!(first, second);

    let views = a.join("named-views/published");
    let merged = vib_files(&views.join("all"));
    // (v2, not up: update_upstream leaves the files v2 dropped in up, unlisted.)
    let both: BTreeSet<String> = vib_files(&v2).union(&vib_files(&oem)).cloned().collect();
    assert_eq!(merged, both, "the merged view holds every VIB of both sources");

    // The image view is exactly what `image resolve` says the spec needs.
    let published_vmw = a.join("published/vmw");
    let want = resolved_vibs(spec_s, &[published_vmw.to_str().unwrap()]);
    assert_eq!(vib_files(&views.join("branch")), want, "exactly the image's VIBs");
    assert!(want.len() < vib_files(&up).len());

    let served = serve_store(&a);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", served.base)).send().unwrap();
    let listing = get("").text().unwrap();
    for url in [
        format!("/vmw/@{first}/index.xml"),
        format!("/vmw/@{second}/index.xml"),
        "/views/all/index.xml".to_owned(),
        "/views/branch/index.xml".to_owned(),
    ] {
        assert!(listing.contains(&url), "{url} in:\n{listing}");
    }

    // Any snapshot by id, the published one also at its usual URL. One whose tree is not on
    // disk (an imported snapshot never published) is materialised on its first request.
    let first_dir = a.join(format!("views/{first}"));
    let first_tree = tree(&first_dir);
    std::fs::remove_dir_all(&first_dir).unwrap();
    let old = get(&format!("vmw/@{first}/index.xml"));
    assert_eq!(old.status(), 200);
    assert_eq!(tree(&first_dir), first_tree, "materialised again, whole");
    assert!(first_tree.keys().any(|p| p.ends_with("metadata.zip")));
    for (path, bytes) in &first_tree {
        let r = get(&format!("vmw/@{first}/{path}"));
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.bytes().unwrap().as_ref(), bytes.as_slice(), "{path} of snapshot {first}");
    }
    assert_eq!(get("vmw/index.xml").bytes().unwrap(), get(&format!("vmw/@{second}/index.xml")).bytes().unwrap());
    let gone = get("vmw/@999/index.xml");
    assert_eq!(gone.status(), 404);
    assert!(gone.text().unwrap().contains("snapshot 999 of 'vmw' does not exist"));

    // The image resolves from the view's URL alone, to the same image.
    let view_url = format!("{}views/branch/index.xml", served.base);
    assert_eq!(resolved_vibs(spec_s, &[&view_url]), want);

    // A view file over HTTP: content type, ETag, 304, Range with If-Range.
    let vib = tree(&views.join("branch")).into_iter().find(|(p, _)| p.ends_with(".vib")).unwrap();
    let url = format!("{}views/branch/{}", served.base, vib.0);
    let full = client.get(&url).send().unwrap();
    assert_eq!(full.headers()["content-type"], "application/octet-stream");
    let etag = full.headers()["etag"].clone();
    assert_eq!(full.bytes().unwrap().as_ref(), vib.1.as_slice());
    assert_eq!(client.get(&url).header("if-none-match", etag.clone()).send().unwrap().status(), 304);
    let part = client.get(&url).header("range", "bytes=100-").header("if-range", etag).send().unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().unwrap().as_ref(), &vib.1[100..]);

    // A second store mirrors the view, byte for byte.
    ok(&["mirror", "--store", sb, "add", "branch", &view_url]);
    ok(&["mirror", "--store", sb, "sync"]);
    assert_eq!(tree(&b.join("published/branch")), tree(&views.join("branch")));
    assert_eq!(verify_json(&b)["clean"], true);

    let status: Value = serde_json::from_slice(&get("-/status").bytes().unwrap()).unwrap();
    let sources: Vec<&str> =
        status["sources"].as_array().unwrap().iter().map(|s| s["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["oem", "vmw"]);
    assert_eq!(status["views"][1]["build"], 2);

    let listed = json(&ok(&["mirror", "--store", sa, "view", "list", "--json"]));
    assert_eq!(listed["schema"], "esxlcm.mirror.view-list/1");
    assert_eq!(listed["views"][1]["name"], "branch");
    assert_eq!(listed["views"][1]["kind"], "image");
    ok(&["mirror", "--store", sa, "view", "remove", "all"]);
    assert_eq!(get("views/all/index.xml").status(), 404);
}

#[test]
fn an_image_view_that_stops_resolving_keeps_its_build_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (up, v1) = (dir.path().join("up"), dir.path().join("v1"));
    generate(3, &up);
    generate(2, &v1);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "vmw", &file_url(&up)]);
    ok(&["mirror", "--store", s, "sync"]);
    let inspected = json(&ok(&["depot", "inspect", "--json", up.to_str().unwrap()]));
    let newest = inspected["base_images"].as_array().unwrap().last().unwrap()["version"].as_str().unwrap().to_owned();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, format!(r#"{{"base_image": {{"version": "{newest}"}}}}"#)).unwrap();
    let added =
        ok(&["mirror", "--store", s, "view", "add", "branch", "--source", "vmw", "--spec", spec.to_str().unwrap()]);
    assert!(added.stdout.contains("branch: published build 1"), "{}", added.stdout);
    let before = tree(&store.join("named-views/published/branch"));

    // Upstream withdraws that base image.
    std::fs::remove_dir_all(&up).unwrap();
    update_upstream(&v1, &up);
    let r = run(&["mirror", "--store", s, "sync"]);
    assert_eq!(r.code, 1, "a view that fails is a finding: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("vmw: published snapshot 2"), "{}", r.stdout);
    assert!(r.stdout.contains("branch: FAILED") && r.stdout.contains(&newest), "{}", r.stdout);
    assert_eq!(tree(&store.join("named-views/published/branch")), before, "build 1 stays served");
    let listed = ok(&["mirror", "--store", s, "view", "list"]);
    assert!(listed.stdout.contains("the last build failed") && listed.stdout.contains(&newest), "{}", listed.stdout);
    let refreshed = run(&["mirror", "--store", s, "view", "refresh"]);
    assert_eq!(refreshed.code, 1, "{}", refreshed.stdout);
}
