//! Named views stay true to their sources: `mirror rollback` and `mirror import` republish
//! snapshots and the views built from those sources follow, as after `mirror sync`; and
//! `mirror verify` checks each published view (every VIB file its metadata names is there
//! and is the verified blob it declares), naming the view and file when one is damaged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::mirror_support::*;
use serde_json::Value;

/// The snapshots view `name`'s published build was made from, from `mirror view list --json`.
fn view_snapshots(store: &str, name: &str) -> Value {
    let listed = json(&ok(&["mirror", "--store", store, "view", "list", "--json"]));
    let view = listed["views"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap().clone();
    view["build"]["snapshots"].clone()
}

#[test]
fn views_follow_rollback_and_import_like_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (up, v3) = (dir.path().join("up"), dir.path().join("v3"));
    let (a, b, carry1, carry2) =
        (dir.path().join("a"), dir.path().join("b"), dir.path().join("carry1"), dir.path().join("carry2"));
    generate(2, &up);
    generate(3, &v3);
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&["mirror", "--store", sa, "add", "vmw", &file_url(&up)]);
    ok(&["mirror", "--store", sa, "sync"]);
    let first = published_snapshot(sa, "vmw");
    let added = ok(&["mirror", "--store", sa, "view", "add", "all", "--source", "vmw"]);
    assert!(added.stdout.contains("all: published build 1"), "{}", added.stdout);
    let view = a.join("named-views/published/all");
    let vibs_first = vib_files(&view);

    // Across the gap: store B imports the first snapshot and builds its own view of it.
    ok(&["mirror", "--store", sa, "export", "--to", carry1.to_str().unwrap()]);
    ok(&["mirror", "--store", sb, "import", carry1.to_str().unwrap()]);
    ok(&["mirror", "--store", sb, "view", "add", "all", "--source", "vmw"]);
    assert_eq!(vib_files(&b.join("named-views/published/all")), vibs_first);

    // Upstream releases; the sync rebuilds A's view.
    update_upstream(&v3, &up);
    let synced = ok(&["mirror", "--store", sa, "sync"]);
    assert!(synced.stdout.contains("all: published build 2"), "{}", synced.stdout);
    let second = published_snapshot(sa, "vmw");
    let vibs_second = vib_files(&view);
    assert_ne!(vibs_first, vibs_second, "the release changed the view");

    // A rollback republishes the first snapshot: the view follows at once.
    let rolled = ok(&["mirror", "--store", sa, "rollback", "vmw"]);
    assert!(rolled.stdout.contains(&format!("vmw: published snapshot {first}")), "{}", rolled.stdout);
    assert!(rolled.stdout.contains("all: published build 3"), "the view follows the rollback: {}", rolled.stdout);
    assert_eq!(view_snapshots(sa, "all")["vmw"], first);
    assert_eq!(vib_files(&view), vibs_first);
    // And back again, to the snapshot the incremental export carries.
    let forward = ok(&["mirror", "--store", sa, "rollback", "vmw", "--to", &second.to_string()]);
    assert!(forward.stdout.contains("all: published build 4"), "{}", forward.stdout);
    assert_eq!(vib_files(&view), vibs_second);
    assert_eq!(verify_json(&a)["clean"], true);

    // The incremental import publishes the release in B: B's view follows, reported in JSON too.
    let export =
        ok(&["mirror", "--store", sa, "export", "--to", carry2.to_str().unwrap(), "--since", &first.to_string()]);
    assert!(export.stdout.contains("vmw:"), "{}", export.stdout);
    let imported = json(&ok(&["mirror", "--store", sb, "import", carry2.to_str().unwrap(), "--json"]));
    let lines: Vec<&str> = imported["views"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(lines.iter().any(|l| l.starts_with("all: published build 2")), "{imported}");
    assert_eq!(view_snapshots(sb, "all")["vmw"], published_snapshot(sb, "vmw"));
    assert_eq!(vib_files(&b.join("named-views/published/all")), vibs_second);
    // The same export again publishes nothing, so no view is rebuilt.
    let again = ok(&["mirror", "--store", sb, "import", carry2.to_str().unwrap()]);
    assert!(!again.stdout.contains("all:"), "{}", again.stdout);
    assert_eq!(verify_json(&b)["clean"], true);
}

#[test]
fn verify_names_the_view_and_file_a_damaged_view_serves() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    generate(2, &up);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "vmw", &file_url(&up)]);
    ok(&["mirror", "--store", s, "sync"]);
    ok(&["mirror", "--store", s, "view", "add", "all", "--source", "vmw"]);
    let clean = verify_json(&store);
    assert_eq!(clean["clean"], true, "{clean}");
    assert_eq!(clean["views_checked"], 1);

    let view = store.join("named-views/published/all");
    let vibs: Vec<String> = tree(&view).into_keys().filter(|p| p.ends_with(".vib")).collect();
    assert!(vibs.len() >= 3, "{vibs:?}");
    // One VIB deleted, one replaced by other bytes (its blob stays intact), one replaced by
    // an equal copy (no longer a hard link, still the verified bytes: fine).
    std::fs::remove_file(view.join(&vibs[0])).unwrap();
    std::fs::remove_file(view.join(&vibs[1])).unwrap();
    std::fs::write(view.join(&vibs[1]), b"not the VIB the metadata names").unwrap();
    let copy = std::fs::read(view.join(&vibs[2])).unwrap();
    std::fs::remove_file(view.join(&vibs[2])).unwrap();
    std::fs::write(view.join(&vibs[2]), &copy).unwrap();

    let r = verify_json(&store);
    assert_eq!(r["clean"], false, "{r}");
    let problems: Vec<&str> = r["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(problems.len(), 2, "exactly the two damaged files: {problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("view 'all': {}: named by the view's metadata but missing", vibs[0]))),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("view 'all': {}: not the verified blob its metadata names", vibs[1]))),
        "{problems:#?}"
    );
    assert!(problems.iter().all(|p| p.contains("mirror view remove all")), "says how to rebuild: {problems:#?}");
    let text = run(&["mirror", "--store", s, "verify"]);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("PROBLEMS FOUND") && text.stdout.contains("1 view checked"), "{}", text.stdout);

    // The remedy the message gives rebuilds it clean.
    ok(&["mirror", "--store", s, "view", "remove", "all"]);
    ok(&["mirror", "--store", s, "view", "add", "all", "--source", "vmw"]);
    assert_eq!(verify_json(&store)["clean"], true);

    // A published link that lost its build is named too.
    let link = store.join("named-views/published/all");
    std::fs::remove_file(&link).unwrap();
    let r = verify_json(&store);
    let problems = r["problems"].to_string();
    assert!(problems.contains("view 'all': build 1 is recorded but published/all is missing"), "{problems}");
    assert!(problems.contains("mirror view refresh all"), "{problems}");
    ok(&["mirror", "--store", s, "view", "refresh", "all"]);
    assert_eq!(verify_json(&store)["clean"], true);

    // `serve --store` names the views' URLs next to the sources' when it starts.
    let mut child = esxlcm()
        .args(["serve", "--store", s, "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    {
        use std::io::BufRead as _;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // listening, serving, scheduled syncs, one source, one view.
        for _ in 0..5 {
            banner.push(lines.next().unwrap().unwrap());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let base = banner[0].strip_prefix("listening on ").unwrap().to_owned();
    assert_eq!(banner[3], format!("  {base}vmw/index.xml"), "{banner:#?}");
    assert_eq!(banner[4], format!("  {base}views/all/index.xml  (merged view, build 1)"), "{banner:#?}");
}
