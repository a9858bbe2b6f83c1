//! Issue #12 as a hostile bundle finds the two doors bundles come in by: the API's upload
//! (`POST /vum-fileupload`, then an offline depot `PUSH`) and the store's push
//! (`PUT /depots/-/push/<source>`). A member whose header declares a small size but that
//! inflates far past it (a ZIP bomb), a member named out of the tree (`../`), and a symbolic
//! link member are each refused with an answer naming the member; nothing is published, what
//! was published stays, and the server still takes a good bundle afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use esxlcm_depot::archive::{ArchiveLimits, DeterministicZip, SafeZip};
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_server::store_http::{PushConfig, PushToken};
use esxlcm_test_support::zip_headers::{forge_size, set_unix_mode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::api_support::{ADMIN, TestServer, start_on};

/// How far the bombs inflate: far past anything their headers declare.
const BOMB_BYTES: usize = 64 << 20;

/// A generated bundle's members, in archive order (directories left out).
fn members(bundle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = SafeZip::open(Cursor::new(bundle), ArchiveLimits::default()).unwrap();
    let names: Vec<String> = zip.names().iter().filter(|n| !n.ends_with('/')).cloned().collect();
    names.into_iter().map(|n| (n.clone(), zip.read_to_vec(&n, u64::MAX).unwrap())).collect()
}

/// A ZIP of `members` (deflated, so a run of one byte packs into little).
fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
    for (name, bytes) in members {
        zip.add_bytes(name, bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// One hostile bundle: what it is, its bytes, and the member the refusal must name.
struct Hostile {
    what: &'static str,
    bytes: Vec<u8>,
    member: String,
    /// What the refusal says besides the member's name.
    says: &'static str,
    /// The store push door's answer: 400 for a bundle it cannot read, 422 for a payload it
    /// refuses (quarantined).
    push_status: u16,
}

/// The hostile variants of the good bundle `good`.
fn hostile_bundles(good: &[u8]) -> Vec<Hostile> {
    let honest = members(good);
    let vib = honest.iter().find(|(n, _)| n.ends_with(".vib")).unwrap().0.clone();
    let with = |extra: (&str, Vec<u8>)| {
        let mut all = honest.clone();
        all.push((extra.0.to_owned(), extra.1));
        zip_of(&all)
    };
    // index.xml, then 64 MiB of whitespace; the header declares only the XML.
    let index_len = honest.iter().find(|(n, _)| n == "index.xml").unwrap().1.len();
    let mut bomb = honest.clone();
    bomb.iter_mut().find(|(n, _)| n == "index.xml").unwrap().1.resize(index_len + BOMB_BYTES, b' ');
    let index_bomb = forge_size(zip_of(&bomb), "index.xml", u32::try_from(index_len).unwrap());
    // A VIB member of 64 MiB of zeros declaring 1 KiB.
    let mut bomb = honest.clone();
    bomb.iter_mut().find(|(n, _)| *n == vib).unwrap().1 = vec![0; BOMB_BYTES];
    let vib_bomb = forge_size(zip_of(&bomb), &vib, 1024);
    let symlink =
        set_unix_mode(with(("vib20/evil/passwd.vib", b"/etc/passwd".to_vec())), "vib20/evil/passwd.vib", 0o120_777);
    vec![
        Hostile {
            what: "a ZIP bomb in index.xml",
            bytes: index_bomb,
            member: "index.xml".into(),
            says: "inflates past its declared size",
            push_status: 400,
        },
        Hostile {
            what: "a ZIP bomb in a VIB",
            bytes: vib_bomb,
            member: vib,
            says: "inflates past its declared size",
            push_status: 422,
        },
        Hostile {
            what: "a member escaping with ../",
            bytes: with(("../escaped.xml", b"<x/>".to_vec())),
            member: "../escaped.xml".into(),
            says: "unsafe path",
            push_status: 400,
        },
        Hostile {
            what: "a member escaping from a subdirectory",
            bytes: with(("vib20/../../escaped.vib", b"x".to_vec())),
            member: "vib20/../../escaped.vib".into(),
            says: "unsafe path",
            push_status: 400,
        },
        Hostile {
            what: "a symbolic link member",
            bytes: symlink,
            member: "vib20/evil/passwd.vib".into(),
            says: "symbolic link (to '/etc/passwd')",
            push_status: 400,
        },
    ]
}

fn generated_bundle(dir: &Path, seed: u64) -> Vec<u8> {
    let path = dir.join(format!("bundle-{seed}.zip"));
    generate_to_bundle(&GeneratorConfig::tiny(seed), &path).unwrap();
    std::fs::read(&path).unwrap()
}

/// Upload `bytes` and create an offline PUSH depot from it: the finished task's info.
async fn upload_and_create(s: &TestServer, token: &str, bytes: Vec<u8>) -> Value {
    let r = s.rest(Method::POST, "/vum-fileupload", token).body(bytes).send().await.unwrap();
    assert_eq!(r.status(), 201, "an upload is only stored");
    let file_id: String = r.json().await.unwrap();
    s.rest_task(
        Method::POST,
        "/api/esx/settings/depots/offline",
        token,
        Some(json!({"source_type": "PUSH", "file_id": file_id})),
    )
    .await
}

/// The offline depots, the store's sources and its published trees, as the API's store has them.
fn published_state(data: &Path) -> (Vec<String>, BTreeMap<String, Option<i64>>) {
    let store = esxlcm_store::Store::open(&data.join("store")).unwrap();
    let mut trees: Vec<String> = match std::fs::read_dir(store.published_dir()) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    trees.sort();
    let sources = store
        .sources()
        .unwrap()
        .into_iter()
        .map(|s| (s.config.name.clone(), store.published_snapshot(&s).unwrap()))
        .collect();
    (trees, sources)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bundles_through_the_upload_door_are_refused_naming_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let good = generated_bundle(dir.path(), 31);
    let data = dir.path().join("data");
    let s = start_on(&data).await;
    let token = s.rest_login(ADMIN.0, ADMIN.1).await;
    // A depot published first: the refusals must leave it as it is.
    let info = upload_and_create(&s, &token, good.clone()).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let first = info["result"]["depot"].as_str().unwrap().to_owned();
    let before = published_state(&data);
    let listed_before = s.get_json("/api/esx/settings/depots/offline", &token).await;
    let store = esxlcm_store::Store::open(&data.join("store")).unwrap();
    let uploads = || store.shared_files("upload/").unwrap();
    assert!(uploads().is_empty(), "the good bundle's upload was consumed: {:?}", uploads());

    for h in hostile_bundles(&good) {
        let info = upload_and_create(&s, &token, h.bytes).await;
        assert_eq!(info["status"], "FAILED", "{}: {info}", h.what);
        let error = &info["error"];
        assert_eq!(error["error_type"], "INVALID_ARGUMENT", "{}: {info}", h.what);
        let message = error["messages"][0]["default_message"].as_str().unwrap();
        assert!(message.contains(&format!("'{}'", h.member)), "{}: names the member: {message}", h.what);
        assert!(message.contains(h.says), "{}: says '{}': {message}", h.what, h.says);
        assert!(!message.contains(data.to_str().unwrap()), "{}: names no server path: {message}", h.what);
        // Nothing new is published, nothing is left behind, the first depot is as it was.
        assert_eq!(published_state(&data), before, "{}", h.what);
        assert_eq!(s.get_json("/api/esx/settings/depots/offline", &token).await, listed_before, "{}", h.what);
        let staged: Vec<String> = std::fs::read_dir(data.join("store/uploads"))
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(staged.iter().all(|n| !n.starts_with(".incoming-")), "{}: staging cleaned: {staged:?}", h.what);
        // The refused upload stays (it was not consumed): one shared file.
        let left: Vec<String> = uploads().into_iter().map(|(key, _)| key).collect();
        assert_eq!(left.len(), 1, "{}: {left:?}", h.what);
        store.unshare_files(&left).unwrap();
    }
    assert!(!dir.path().join("escaped.xml").exists() && !data.join("escaped.xml").exists());

    // The server still takes a good bundle, and still serves the first depot's content.
    let info = upload_and_create(&s, &token, generated_bundle(dir.path(), 32)).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (status, content) =
        s.send(Method::GET, &format!("/api/esx/settings/depots/offline/{first}/content"), &token, None).await;
    assert_eq!(status, 200, "{content}");
    s.stop().await;
}

/// The store's push door, as `esxlcm serve --store STORE --push-token-file FILE` runs it.
async fn serve_store_push(store: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let push = PushConfig {
        token: PushToken::parse("push-secret\n", Path::new("token")).unwrap(),
        max_size: 1 << 30,
        uploads: esxlcm_store::Store::uploads_dir(store),
    };
    let store = std::sync::Arc::new(esxlcm_store::Store::open(store).unwrap());
    crate::store_rows::serve(store, Some(push)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bundles_through_the_store_push_door_are_refused_naming_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let good = generated_bundle(dir.path(), 33);
    let store_dir = dir.path().join("store");
    esxlcm_store::Store::open(&store_dir).unwrap();
    let (base, stop) = serve_store_push(&store_dir).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let push = |source: &str, body: Vec<u8>| {
        client.put(format!("{base}/-/push/{source}")).bearer_auth("push-secret").body(body).send()
    };
    let r = push("oem", good.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let summary: Value = r.json().await.unwrap();
    assert_eq!(summary["outcome"], "published", "{summary}");
    let index = client.get(format!("{base}/oem/index.xml")).send().await.unwrap().bytes().await.unwrap();
    let store = esxlcm_store::Store::open(&store_dir).unwrap();
    let published_tree = |name: &str| -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let root = store.published_dir().join(name);
        for e in walk(&root) {
            out.insert(e.strip_prefix(&root).unwrap().to_string_lossy().into_owned(), std::fs::read(&e).unwrap());
        }
        out
    };
    let oem_before = published_tree("oem");
    let snapshot_before = store.published_snapshot(&store.source("oem").unwrap()).unwrap();
    assert!(snapshot_before.is_some());

    for h in hostile_bundles(&good) {
        // Into the published source, and into a new one.
        for source in ["oem", "fresh"] {
            let r = push(source, h.bytes.clone()).await.unwrap();
            let status = r.status().as_u16();
            let doc: Value = r.json().await.unwrap();
            assert_eq!(status, h.push_status, "{} into {source}: {doc}", h.what);
            let error = doc["error"].as_str().unwrap_or_else(|| panic!("{}: {doc}", h.what));
            assert!(error.contains(&format!("'{}'", h.member)), "{} into {source}: names the member: {doc}", h.what);
            assert!(error.contains(h.says), "{} into {source}: says '{}': {doc}", h.what, h.says);
            assert!(!error.contains(store_dir.to_str().unwrap()), "{}: names no server path: {error}", h.what);
        }
        assert!(store.source("fresh").is_err(), "{}: a refused first push leaves no source", h.what);
        assert_eq!(store.published_snapshot(&store.source("oem").unwrap()).unwrap(), snapshot_before, "{}", h.what);
        assert_eq!(published_tree("oem"), oem_before, "{}: the published tree is unchanged", h.what);
        let r = client.get(format!("{base}/oem/index.xml")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}: the store still serves", h.what);
        assert_eq!(r.bytes().await.unwrap(), index);
    }
    assert!(!dir.path().join("escaped.xml").exists() && !store_dir.join("escaped.xml").exists());
    let uploads = std::fs::read_dir(esxlcm_store::Store::uploads_dir(&store_dir)).unwrap().count();
    assert_eq!(uploads, 0, "no pushed body is left behind");

    // A good bundle still goes in.
    let r = push("fresh", generated_bundle(dir.path(), 34)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "published");
    stop.send(()).unwrap();
}

/// Every regular file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
