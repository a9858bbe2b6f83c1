//! A store without directory trees (as on PostgreSQL and object storage) serves hosts from
//! its database rows and blobs: the published snapshot and any kept one by id, whole files
//! and Range requests (small files read whole, large ones streamed), the switch to a new
//! publication at the next request, and 404s that say why; a named view is served from its
//! build's rows at the same URLs as from a tree. `cluster_serving` runs the same checks
//! against the real backends.

use std::path::Path;
use std::sync::Arc;

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_store::Store;
use esxlcm_store::meta::FileEntry;
use esxlcm_store::ops::LockWait;
use esxlcm_store::sync::{NoProgress, SyncOptions};
use esxlcm_store::view::Refreshed;
use reqwest::StatusCode;

/// Serve `store` to hosts on a loopback port, as `/depots/` of the service does (taking
/// pushed bundles when `push` is given, as `serve --store --push-token-file` does).
pub async fn serve(
    store: Arc<Store>,
    push: Option<esxlcm_server::store_http::PushConfig>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = esxlcm_server::store_index::router(store, push);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(esxlcm_server::depot_http::serve_router(
        listener,
        app,
        None,
        esxlcm_server::depot_http::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    (base, stop)
}

/// A bundle with one payload larger than the 1 MiB read-whole limit, so that both serving
/// paths (read whole, streamed) are taken.
pub fn bundle(dir: &Path, seed: u64) -> std::path::PathBuf {
    let path = dir.join(format!("bundle-{seed}.zip"));
    let config = GeneratorConfig {
        base_images: 1,
        components_per_base_image: 4,
        addons: 0,
        payload_bytes: (700_000, 1_600_000),
        ..GeneratorConfig::tiny(seed)
    };
    generate_to_bundle(&config, &path).unwrap();
    path
}

pub fn push(store: &Store, source: &str, bundle: &Path) -> i64 {
    let pushed = store.push(source, bundle, &SyncOptions::default(), LockWait::NONE, &NoProgress).unwrap();
    pushed.report.snapshot.unwrap()
}

/// Every check of serving from rows, against `store` (one replica) and `other` (another
/// replica of the same store, or the same one): what one publishes the other serves.
pub async fn check_rows_serving(store: Arc<Store>, other: Arc<Store>, work: &Path) {
    let first = push(&store, "oem", &bundle(work, 41));
    let (base, stop) = serve(Arc::clone(&other), None).await;
    let client = reqwest::Client::new();
    let get = |path: String| client.get(format!("{base}{path}")).send();

    let index = get("/oem/index.xml".into()).await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/xml");
    assert!(index.headers().contains_key("etag"));
    assert!(index.text().await.unwrap().contains("vendor-index"));

    // Every file of the snapshot, byte for byte as recorded; the big ones in two ranges.
    let files = store.snapshot_files(first).unwrap();
    let big = files.iter().filter(|f| f.size > 1 << 20).count();
    assert!(big > 0, "the bundle has no payload over 1 MiB");
    for f in &files {
        let mut expected = Vec::new();
        std::io::Read::read_to_end(&mut store.open_blob_at(&f.blob, 0).unwrap(), &mut expected).unwrap();
        let whole = get(format!("/oem/{}", f.path)).await.unwrap();
        assert_eq!(whole.status(), 200, "{}", f.path);
        assert_eq!(whole.bytes().await.unwrap().as_ref(), expected.as_slice(), "{}", f.path);
        let (from, to) = (f.size / 3, f.size - f.size / 5);
        let part = client
            .get(format!("{base}/oem/@{first}/{}", f.path))
            .header("range", format!("bytes={from}-{to}"))
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{}", f.path);
        let range = usize::try_from(from).unwrap()..=usize::try_from(to).unwrap();
        assert_eq!(part.bytes().await.unwrap().as_ref(), &expected[range], "{}", f.path);
    }

    // A new publication is served at the next request; the old snapshot stays by id.
    let second = push(&store, "oem", &bundle(work, 42));
    assert_ne!(first, second);
    let now = get("/oem/index.xml".into()).await.unwrap();
    assert_eq!(now.status(), 200);
    let new_files = store.snapshot_files(second).unwrap();
    let old_only = files.iter().find(|f| !new_files.iter().any(|n| n.path == f.path)).unwrap();
    assert_eq!(get(format!("/oem/{}", old_only.path)).await.unwrap().status(), 404);
    assert_eq!(get(format!("/oem/@{first}/{}", old_only.path)).await.unwrap().status(), 200);

    // 404s say why.
    let gone = get("/oem/@99999/index.xml".into()).await.unwrap();
    assert_eq!(gone.status(), 404);
    assert!(gone.text().await.unwrap().contains("does not exist"));
    let view = get("/views/nobranch/index.xml".into()).await.unwrap();
    assert_eq!(view.status(), 404);
    assert!(view.text().await.unwrap().contains("no published view 'nobranch'"));
    assert_eq!(get("/nobody/index.xml".into()).await.unwrap().status(), 404);
    assert_eq!(get("/oem/../oem/index.xml".into()).await.unwrap().status(), 200);
    assert_eq!(get("/oem/%2e%2e/secret".into()).await.unwrap().status(), 404);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_trees_serves_hosts_from_its_rows_and_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_without_trees(&dir.path().join("store")).unwrap());
    check_rows_serving(Arc::clone(&store), Arc::clone(&store), dir.path()).await;
    // Nothing was materialised: no snapshot tree, no published link.
    for sub in ["views", "published"] {
        let entries = std::fs::read_dir(dir.path().join("store").join(sub)).unwrap().count();
        assert_eq!(entries, 0, "{sub}/ holds {entries} entries");
    }
}

/// A named view of a store without trees is served from its build's rows and blobs at
/// `/views/<name>/…`, the URLs a tree store serves it at: the index documents, the
/// metadata, a VIB whole and by Range (streamed: over 1 MiB). A rebuild after a push is
/// served at the next request; a view that does not exist is a 404 that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_trees_serves_its_views_from_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open_without_trees(&dir.path().join("store")).unwrap());
    push(&store, "oem", &bundle(dir.path(), 43));
    let (_, built) = store.add_view("branch", &["oem".into()], None, LockWait::NONE).unwrap();
    let Refreshed::Built(first) = built.unwrap() else { panic!("the view was not built") };
    let files = store.view_build_files("branch", first.number).unwrap();
    let (base, stop) = serve(Arc::clone(&store), None).await;
    let client = reqwest::Client::new();
    let blob = |f: &FileEntry| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut store.open_blob_at(&f.blob, 0).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let file = |files: &[FileEntry], suffix: &str| files.iter().find(|f| f.path.ends_with(suffix)).unwrap().clone();

    for (suffix, content_type) in [("index.xml", "text/xml"), ("metadata.zip", "application/zip")] {
        let f = file(&files, suffix);
        let got = client.get(format!("{base}/views/branch/{}", f.path)).send().await.unwrap();
        assert_eq!(got.status(), 200, "{}", f.path);
        assert_eq!(got.headers()["content-type"], content_type, "{}", f.path);
        assert!(got.headers().contains_key("etag"), "{}", f.path);
        assert_eq!(got.bytes().await.unwrap().as_ref(), blob(&f).as_slice(), "{}", f.path);
    }
    let vib = files.iter().filter(|f| f.path.ends_with(".vib")).max_by_key(|f| f.size).unwrap();
    assert!(vib.size > 1 << 20, "the largest VIB is streamed");
    let expected = blob(vib);
    let whole = client.get(format!("{base}/views/branch/{}", vib.path)).send().await.unwrap();
    assert_eq!(whole.bytes().await.unwrap().as_ref(), expected.as_slice());
    let (from, to) = (vib.size / 3, vib.size - 7);
    let part = client
        .get(format!("{base}/views/branch/{}", vib.path))
        .header("range", format!("bytes={from}-{to}"))
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    let range = usize::try_from(from).unwrap()..=usize::try_from(to).unwrap();
    assert_eq!(part.bytes().await.unwrap().as_ref(), &expected[range]);

    // A push rebuilds the view (build 2): the next request gets the new metadata.
    push(&store, "oem", &bundle(dir.path(), 44));
    let second = esxlcm_store::view::get(&store, "branch").unwrap().build.unwrap();
    assert_eq!(second.number, first.number + 1);
    let metadata = file(&store.view_build_files("branch", second.number).unwrap(), "metadata.zip");
    assert_ne!(metadata.blob, file(&files, "metadata.zip").blob);
    let now = client.get(format!("{base}/views/branch/{}", metadata.path)).send().await.unwrap();
    assert_eq!(now.bytes().await.unwrap().as_ref(), blob(&metadata).as_slice());

    let none = client.get(format!("{base}/views/none/index.xml")).send().await.unwrap();
    assert_eq!(none.status(), 404);
    assert!(none.text().await.unwrap().contains("no published view 'none'"));
    let missing = client.get(format!("{base}/views/branch/no/such.vib")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let _ = stop.send(());
    assert!(!dir.path().join("store/named-views").exists(), "nothing of the view on disk");
}
