//! `esxlcm mirror add --only-for SPEC`: the sync resolves the spec against the upstream
//! metadata, downloads only the image's VIBs and publishes a depot that declares exactly
//! them (the same VIBs `esxlcm image resolve` names, and the image resolves from the
//! published depot alone); a second spec widens it, fetching only what is new; a spec
//! that does not resolve fails the sync with the solver's explanation and publishes
//! nothing new.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::mirror_support::*;

/// [`resolved_vibs`] of the spec file `spec` over the one depot `depot`.
fn resolved_in(spec: &Path, depot: &Path) -> BTreeSet<String> {
    resolved_vibs(spec.to_str().unwrap(), &[depot.to_str().unwrap()])
}

fn spec(dir: &Path, name: &str, base: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!(r#"{{"base_image": {{"version": "{base}"}}}}"#)).unwrap();
    path
}

#[test]
fn only_for_publishes_exactly_the_specs_content_and_a_second_spec_widens_it() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    generate(3, &up);
    let inspected = json(&ok(&["depot", "inspect", "--json", up.to_str().unwrap()]));
    let bases: Vec<String> = inspected["base_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["version"].as_str().unwrap().to_owned())
        .collect();
    assert!(bases.len() >= 2, "{bases:?}");
    let first = spec(dir.path(), "first.json", &bases[0]);
    let second = spec(dir.path(), "second.json", bases.last().unwrap());
    let (want_first, want_second) = (resolved_in(&first, &up), resolved_in(&second, &up));
    assert!(want_first != want_second && !want_second.is_subset(&want_first));

    let upstream = SlowServer::start(&up, 1 << 20, Duration::ZERO);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let url = upstream.url("vmw-depot-index.xml");
    ok(&["mirror", "--store", s, "add", "narrow", &url, "--only-for", first.to_str().unwrap()]);
    let listed = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    assert_eq!(listed["sources"][0]["only_for"], 1);

    ok(&["mirror", "--store", s, "sync"]);
    let published = store.join("published/narrow");
    assert_eq!(vib_files(&published), want_first, "exactly the image's VIBs");
    assert!(want_first.len() < vib_files(&up).len());
    assert_eq!(
        upstream.requests.load(Ordering::SeqCst),
        3 + want_first.len(),
        "vendor list, vendor index, metadata.zip and only the image's VIBs"
    );
    // Self-consistent: the published depot declares only what it holds, and the image
    // resolves from it alone to the same VIBs.
    let contents = json(&ok(&["depot", "inspect", "--json", published.to_str().unwrap()]));
    assert_eq!(contents["vib_count"].as_u64(), Some(want_first.len() as u64), "{contents}");
    assert_eq!(resolved_in(&first, &published), want_first);
    let checked = run(&["depot", "check", published.to_str().unwrap()]);
    assert!(
        checked.code == 0 && checked.stdout.contains("Summary: 0 errors, 0 warnings"),
        "{}{}",
        checked.stdout,
        checked.stderr
    );
    assert_eq!(verify_json(&store)["clean"], true);

    // A second sync of the same upstream records nothing new.
    let again = ok(&["mirror", "--store", s, "sync"]);
    assert!(again.stdout.contains("narrow: unchanged"), "{}", again.stdout);

    // A second spec widens the source: only the VIBs it adds are downloaded.
    let before = upstream.requests.load(Ordering::SeqCst);
    ok(&["mirror", "--store", s, "only-for", "narrow", first.to_str().unwrap(), second.to_str().unwrap()]);
    let widened = ok(&["mirror", "--store", s, "sync"]);
    assert!(widened.stdout.contains("narrow: published snapshot"), "{}", widened.stdout);
    let union: BTreeSet<String> = want_first.union(&want_second).cloned().collect();
    assert_eq!(vib_files(&published), union);
    let new_vibs = union.len() - want_first.len();
    assert_eq!(upstream.requests.load(Ordering::SeqCst) - before, 3 + new_vibs, "documents and the new VIBs only");
    assert_eq!(resolved_in(&second, &published), want_second);
    assert_eq!(resolved_in(&first, &published), want_first);

    // A spec that does not resolve: the sync fails with the solver's explanation.
    let snapshot = json(&ok(&["mirror", "--store", s, "list", "--json"]))["sources"][0]["published_snapshot"].clone();
    let bad = spec(dir.path(), "bad.json", "9.9.9-0.0.1");
    ok(&["mirror", "--store", s, "only-for", "narrow", bad.to_str().unwrap()]);
    let failed = run(&["mirror", "--store", s, "sync"]);
    assert_ne!(failed.code, 0, "{}", failed.stdout);
    let said = format!("{}{}", failed.stdout, failed.stderr);
    assert!(said.contains("only-for spec 1 of 1") && said.contains("9.9.9"), "{said}");
    let listed = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    assert_eq!(listed["sources"][0]["published_snapshot"], snapshot, "nothing new is published");
    assert_eq!(vib_files(&published), union);

    // --clear keeps everything again.
    ok(&["mirror", "--store", s, "only-for", "narrow", "--clear"]);
    ok(&["mirror", "--store", s, "sync"]);
    assert_eq!(vib_files(&published), vib_files(&up));
    assert_eq!(verify_json(&store)["clean"], true);
}

/// A bundle source: `mirror only-for` takes effect at the next sync even though the bundle
/// itself is unchanged.
#[test]
fn only_for_applies_to_an_unchanged_bundle_at_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("depot.zip");
    let b = bundle.to_str().unwrap();
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "7", "--base-images", "3", "--out", b]);
    let inspected = json(&ok(&["depot", "inspect", "--json", b]));
    let base = inspected["base_images"][0]["version"].as_str().unwrap().to_owned();
    let first = spec(dir.path(), "first.json", &base);
    let want = resolved_in(&first, &bundle);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "drivers", b]);
    ok(&["mirror", "--store", s, "sync"]);
    let published = store.join("published/drivers");
    let all = vib_files(&published);
    assert!(want.len() < all.len());
    ok(&["mirror", "--store", s, "only-for", "drivers", first.to_str().unwrap()]);
    let narrowed = ok(&["mirror", "--store", s, "sync"]);
    assert!(narrowed.stdout.contains("drivers: published snapshot 2"), "{}", narrowed.stdout);
    assert_eq!(vib_files(&published), want);
    assert_eq!(resolved_in(&first, &published), want);
    assert_eq!(verify_json(&store)["clean"], true);
}
