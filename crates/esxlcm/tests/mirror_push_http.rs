//! `PUT /-/push/<source>` of `esxlcm serve --store --push-token-file`, end to end: a
//! pushed bundle becomes a snapshot served at `/<source>/index.xml`; the same bundle again
//! is unchanged; the token is required (401) and checked (403); a corrupt bundle is a 422
//! naming the VIB with nothing new published; a body over `--push-max-size` is a 413; a
//! body that is not a bundle is a 400; the temporary uploads never stay behind; without
//! a token file the endpoint is a 404 that says how to turn it on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Read as _;
use std::path::Path;

use sha2::Digest as _;

use crate::mirror_support::*;

const TOKEN: &str = "push-secret-0123456789";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The sha-256 of every VIB in an offline bundle.
fn bundle_vib_digests(bundle: &Path) -> BTreeSet<String> {
    let mut archive = zip::ZipArchive::new(fs::File::open(bundle).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        if member.name().unwrap().ends_with(".vib") {
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            out.insert(sha256(&bytes));
        }
    }
    out
}

/// Files left in STORE/uploads (none when it does not exist).
fn uploads_left(store: &Path) -> Vec<String> {
    match fs::read_dir(store.join("uploads")) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

struct Pushed {
    status: u16,
    body: serde_json::Value,
    www_authenticate: Option<String>,
}

fn push(base: &str, source: &str, body: Vec<u8>, token: Option<&str>, post: bool) -> Pushed {
    let client = reqwest::blocking::Client::new();
    let url = format!("{base}-/push/{source}");
    let mut req = if post { client.post(url) } else { client.put(url) };
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let r = req.body(body).send().unwrap();
    let status = r.status().as_u16();
    let www_authenticate = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Pushed { status, body, www_authenticate }
}

#[test]
fn pushed_bundles_are_published_and_served_and_bad_pushes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let (b1, b2, bad) = (dir.path().join("b1.zip"), dir.path().join("b2.zip"), dir.path().join("bad.zip"));
    tiny_bundle(2, &b1);
    tiny_bundle(3, &b2);
    let corrupted = bundle_with_a_corrupt_vib(&b2, &bad);
    let token_file = dir.path().join("token");
    fs::write(&token_file, format!("  {TOKEN}\n")).unwrap();
    ok(&["mirror", "--store", s, "list"]); // creates the store

    let served = serve_store_with(&store, &["--push-token-file", token_file.to_str().unwrap()]);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", served.base)).send().unwrap();
    let listing = get("").text().unwrap();
    assert!(listing.contains("PUT /-/push/<source>"), "{listing}");

    // The right token: published, then served.
    let first = push(&served.base, "oem", fs::read(&b1).unwrap(), Some(TOKEN), false);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["source"], "oem");
    assert_eq!(first.body["outcome"], "published");
    assert_eq!(first.body["snapshot"], 1);
    let vibs = bundle_vib_digests(&b1);
    assert_eq!(first.body["vibs"].as_u64(), Some(vibs.len() as u64), "{}", first.body);
    assert!(first.body["components"].as_u64().is_some_and(|n| n > 0), "{}", first.body);
    assert_eq!(published_snapshot(s, "oem"), 1);
    let index = get("oem/index.xml");
    assert_eq!(index.status(), 200);
    assert_eq!(index.bytes().unwrap().as_ref(), fs::read(store.join("published/oem/index.xml")).unwrap().as_slice());
    // Vendor list, vendor index and metadata over HTTP: the depot reads whole.
    assert_eq!(inspected_vib_count(&format!("{}oem/index.xml", served.base)), vibs.len() as u64);
    let published = tree(&store.join("published/oem"));
    let metadata: Vec<&String> = published.keys().filter(|p| p.ends_with(".zip")).collect();
    assert!(!metadata.is_empty(), "a metadata zip is published: {:?}", published.keys());
    for path in metadata {
        let r = get(&format!("oem/{path}"));
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.bytes().unwrap().as_ref(), published[path].as_slice(), "{path}");
    }
    let served_vibs: BTreeSet<String> = published
        .keys()
        .filter(|p| p.ends_with(".vib"))
        .map(|p| {
            let r = get(&format!("oem/{p}"));
            assert_eq!(r.status(), 200, "{p}");
            sha256(&r.bytes().unwrap())
        })
        .collect();
    assert_eq!(served_vibs, vibs, "every pushed VIB is served with its sha-256");
    // The upload is not kept, so an explicit sync has nothing to re-read: it says so.
    let sync = run(&["mirror", "--store", s, "sync", "oem"]);
    assert_ne!(sync.code, 0);
    assert!(
        sync.stderr.contains("takes bundles pushed over HTTP") && sync.stderr.contains("/-/push/oem"),
        "{}",
        sync.stderr
    );
    assert_eq!(published_snapshot(s, "oem"), 1, "nothing changed");

    // The same bundle again (POST works too): nothing new.
    let again = push(&served.base, "oem", fs::read(&b1).unwrap(), Some(TOKEN), true);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["outcome"], "unchanged");
    assert_eq!(again.body["snapshot"], serde_json::Value::Null);
    assert_eq!(published_snapshot(s, "oem"), 1);

    // No token, a wrong one.
    let anonymous = push(&served.base, "oem", fs::read(&b2).unwrap(), None, false);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert_eq!(anonymous.www_authenticate.as_deref(), Some("Bearer"));
    assert!(anonymous.body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{}", anonymous.body);
    let wrong = push(&served.base, "oem", fs::read(&b2).unwrap(), Some("push-secret-0123456788"), false);
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(published_snapshot(s, "oem"), 1);

    // A bad source name.
    let badly_named = push(&served.base, "-oem", fs::read(&b2).unwrap(), Some(TOKEN), false);
    assert_eq!(badly_named.status, 400, "{}", badly_named.body);
    assert!(badly_named.body["error"].as_str().unwrap().contains("not a valid source name"), "{}", badly_named.body);

    // A corrupt VIB: 422 naming it, nothing new published.
    let before = tree(&store.join("published/oem"));
    let refused = push(&served.base, "oem", fs::read(&bad).unwrap(), Some(TOKEN), false);
    assert_eq!(refused.status, 422, "{}", refused.body);
    let vib_id = Path::new(&corrupted).file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(refused.body["rejected"], serde_json::json!([vib_id]), "{}", refused.body);
    assert!(refused.body["error"].as_str().unwrap().contains(&vib_id), "{}", refused.body);
    assert_eq!(published_snapshot(s, "oem"), 1);
    assert_eq!(tree(&store.join("published/oem")), before, "the published tree is untouched");

    // Not a zip: 400 with the store's words.
    let text = push(&served.base, "oem", b"this is not an offline bundle\n".to_vec(), Some(TOKEN), false);
    assert_eq!(text.status, 400, "{}", text.body);
    assert!(text.body["error"].as_str().unwrap().contains("offline bundle"), "{}", text.body);
    assert_eq!(published_snapshot(s, "oem"), 1);

    // The next release is published as snapshot 2.
    let second = push(&served.base, "oem", fs::read(&b2).unwrap(), Some(TOKEN), false);
    assert_eq!((second.status, &second.body["snapshot"]), (200, &serde_json::json!(2)), "{}", second.body);
    assert_eq!(get("oem/index.xml").status(), 200);
    assert_eq!(inspected_vib_count(&format!("{}oem/index.xml", served.base)), bundle_vib_digests(&b2).len() as u64);
    assert!(uploads_left(&store).is_empty(), "uploads left behind: {:?}", uploads_left(&store));
}

#[test]
fn oversized_bodies_are_refused_and_leave_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let b1 = dir.path().join("b1.zip");
    tiny_bundle(2, &b1);
    let token_file = dir.path().join("token");
    fs::write(&token_file, TOKEN).unwrap();
    ok(&["mirror", "--store", store.to_str().unwrap(), "list"]);
    let served =
        serve_store_with(&store, &["--push-token-file", token_file.to_str().unwrap(), "--push-max-size", "4K"]);

    // Declared too large: refused before the body is read.
    let declared = push(&served.base, "oem", fs::read(&b1).unwrap(), Some(TOKEN), false);
    assert_eq!(declared.status, 413, "{}", declared.body);
    assert!(declared.body["error"].as_str().unwrap().contains("--push-max-size"), "{}", declared.body);
    // Streamed without a length: refused once the limit is passed, the partial file removed.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(vec![7u8; 16 << 10]));
    let r = reqwest::blocking::Client::new()
        .put(format!("{}-/push/oem", served.base))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(uploads_left(&store).is_empty(), "uploads left behind: {:?}", uploads_left(&store));
    let listed = json(&ok(&["mirror", "--store", store.to_str().unwrap(), "list", "--json"]));
    assert_eq!(listed["sources"].as_array().map(Vec::len), Some(0), "{listed}");
}

#[test]
fn without_a_token_file_the_endpoint_says_how_to_turn_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "list"]);
    let served = serve_store(&store);
    let off = push(&served.base, "oem", b"PK".to_vec(), Some(TOKEN), false);
    assert_eq!(off.status, 404, "{}", off.body);
    assert!(off.body["error"].as_str().unwrap().contains("--push-token-file"), "{}", off.body);
    let listing = reqwest::blocking::get(&served.base).unwrap().text().unwrap();
    assert!(!listing.contains("/-/push/"), "{listing}");
    drop(served);

    // A token file that cannot be read, or is empty: the server does not start.
    let missing = dir.path().join("no-such-token");
    let r = run(&["serve", "--store", s, "--listen", "127.0.0.1:0", "--push-token-file", missing.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no-such-token") && r.stderr.contains("cannot read"), "{}", r.stderr);
    let empty = dir.path().join("empty-token");
    fs::write(&empty, "\n  \n").unwrap();
    let r = run(&["serve", "--store", s, "--listen", "127.0.0.1:0", "--push-token-file", empty.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("empty-token") && r.stderr.contains("empty"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "not listening: {}", r.stdout);
}
