//! A store without directory trees (as on PostgreSQL and object storage) serves hosts from
//! its database rows and blobs: the published snapshot and any kept one by id, whole files
//! and Range requests (small files read whole, large ones streamed), the switch to a new
//! publication at the next request, and 404s that say why. `cluster_serving` runs the same
//! checks against the real backends.

use std::path::Path;
use std::sync::Arc;

use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::sync::{NoProgress, SyncOptions};
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
    let view = get("/views/branch/index.xml".into()).await.unwrap();
    assert_eq!(view.status(), 404);
    assert!(view.text().await.unwrap().contains("single-node"));
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
