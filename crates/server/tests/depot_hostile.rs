//! Issue #12 as a hostile client finds the depot and store listeners: symlinks out of the
//! served tree (D2), silent and half-sent connections (D3), over-long segments (D9), Range
//! forms RFC 9110 says to ignore (D10) and FIFOs (D11).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use esxlcm_server::depot_http::{self, Limits};
use esxlcm_server::store_http::{self, Overview, StoreIndex, StoreLayout, Unavailable};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A depot dir holding `index.xml`, `vib20/a.vib`, and hostile entries: symlinks to a
/// secret outside it (a file and a directory), and a FIFO.
fn hostile_dir(root: &Path) -> (PathBuf, Vec<u8>) {
    let dir = root.join("depot");
    let outside = root.join("outside");
    std::fs::create_dir_all(dir.join("vib20")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.xml"), b"SECRET").unwrap();
    let body: Vec<u8> = (0..100u8).collect();
    std::fs::write(dir.join("index.xml"), &body).unwrap();
    std::fs::write(dir.join("vib20/a.vib"), &body).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.xml"), dir.join("leak.xml")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.xml"), dir.join("leak")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("out")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(dir.join("pipe.xml")).status().unwrap();
    assert!(fifo.success());
    std::fs::copy(dir.join("index.xml"), dir.join("plain")).unwrap();
    (dir, body)
}

fn client() -> reqwest::Client {
    // A hung request fails the test instead of hanging it.
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// What both `--dir` and `--store` must answer for the hostile paths under `prefix`.
async fn check_hostile_paths(base: &str, prefix: &str, body: &[u8]) {
    let c = client();
    let get = |path: String| c.get(format!("{base}{prefix}{path}"));
    assert_eq!(get("/index.xml".into()).send().await.unwrap().status(), 200);
    for path in ["/leak.xml", "/leak", "/out/secret.xml", "/pipe.xml", "/pipe.xml?x", "/vib20/a.vib/x"] {
        for range in [None, Some("bytes=0-1")] {
            let mut req = get(path.into());
            if let Some(r) = range {
                req = req.header("range", r);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 404, "{prefix}{path} {range:?}");
            assert!(!r.text().await.unwrap().contains("SECRET"));
        }
        let head = c.head(format!("{base}{prefix}{path}")).send().await.unwrap();
        assert_eq!(head.status(), 404, "HEAD {prefix}{path}");
    }
    let long = format!("/{}.vib", "a".repeat(300));
    for path in [long.clone(), format!("/vib20{long}"), format!("/{}/x.xml", "b".repeat(256))] {
        let r = get(path.clone()).send().await.unwrap();
        assert_eq!(r.status(), 404, "{prefix}{}", &path[..20]);
        let r = get(path.clone()).header("range", "bytes=0-1").send().await.unwrap();
        assert_eq!(r.status(), 404, "ranged {prefix}{}", &path[..20]);
    }
    // D10: an unknown unit and several ranges are ignored (the whole file); one range is served.
    for (path, range) in [("/index.xml", "items=0-1"), ("/index.xml", "bytes=0-1,5-6"), ("/vib20/a.vib", "items=0-1")] {
        let r = get(path.into()).header("range", range).send().await.unwrap();
        assert_eq!(r.status(), 200, "{prefix}{path} {range}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), body, "{prefix}{path} {range}");
    }
    let r = get("/vib20/a.vib".into()).header("range", "bytes=5-6").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[5..7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depot_dir_serves_no_symlink_fifo_or_overlong_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, body) = hostile_dir(tmp.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = dir.clone();
    let server = tokio::spawn(async move {
        depot_http::serve(listener, &served, async move {
            let _ = stopped.await;
        })
        .await
    });
    check_hostile_paths(&base, "", &body).await;
    assert_eq!(client().get(format!("{base}/plain")).send().await.unwrap().status(), 200);
    // D11: with the FIFO asked for, shutdown still completes.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server).await.expect("shutdown completes").unwrap().unwrap();
}

struct Published;

impl StoreIndex for Published {
    fn open_snapshot(&self, _source: &str, _id: i64) -> Result<(), Unavailable> {
        Ok(())
    }
    fn overview(&self) -> Overview {
        Overview::default()
    }
    fn status(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The store's own links (`published/<source>`, a named view) are followed; links inside
/// the trees they lead to are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_follows_its_own_links_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (tree, body) = hostile_dir(tmp.path());
    let layout = StoreLayout {
        published: tmp.path().join("published"),
        snapshots: tmp.path().join("snapshots"),
        views: tmp.path().join("named/published"),
        rows: None,
    };
    std::fs::create_dir_all(&layout.published).unwrap();
    std::fs::create_dir_all(&layout.snapshots).unwrap();
    std::fs::create_dir_all(&layout.views).unwrap();
    std::fs::rename(&tree, layout.snapshots.join("3")).unwrap();
    std::os::unix::fs::symlink("../snapshots/3", layout.published.join("vmw")).unwrap();
    std::os::unix::fs::symlink(layout.snapshots.join("3"), layout.views.join("branch")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        async move { store_http::serve(listener, &layout, Arc::new(Published), std::future::pending()).await },
    );
    for prefix in ["/vmw", "/vmw/@3", "/views/branch"] {
        check_hostile_paths(&base, prefix, &body).await;
    }
    let long = format!("/{}/index.xml", "s".repeat(300));
    assert_eq!(client().get(format!("{base}{long}")).send().await.unwrap().status(), 404);
    assert_eq!(client().get(format!("{base}/views{long}")).send().await.unwrap().status(), 404);
}

/// Reads until the server closes the connection (EOF or reset); what it sent before.
async fn closed_by_server(mut conn: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server still holds the connection after 20 s");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_closed_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, body) = hostile_dir(tmp.path());
    let limits = Limits {
        max_connections: 6,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        tls_handshake_timeout: Duration::from_secs(1),
        grace: Duration::from_secs(1),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = depot_http::router(&dir);
    tokio::spawn(depot_http::serve_router(listener, app, None, limits, std::future::pending()));
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut partial = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /index.xml HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        partial.push(c);
    }
    // Five of six slots are taken: a normal request is still served.
    let c = client();
    let r = c.get(format!("http://{addr}/index.xml")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), body);
    for conn in partial {
        let got = closed_by_server(conn).await;
        assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "no answer to a half-sent request");
    }
    for conn in silent {
        assert!(closed_by_server(conn).await.is_empty());
    }

    // At the limit, the next connection waits (it is not served) until a slot frees.
    let mut hogs = Vec::new();
    for _ in 0..6 {
        hogs.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // let the server accept them
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().unwrap();
    assert!(quick.get(format!("http://{addr}/index.xml")).send().await.is_err(), "served past the limit");
    // The idle hogs are closed after 2 s; then requests are served again.
    let r = c.get(format!("http://{addr}/index.xml")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(hogs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshakes_time_out_and_shutdown_is_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = hostile_dir(tmp.path());
    let tls = esxlcm_server::api::tls::load_or_create(&tmp.path().join("data"), None).unwrap();
    let limits = Limits {
        tls_handshake_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        grace: Duration::from_secs(1),
        ..Limits::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(depot_http::serve_router(
        listener,
        depot_http::router(&dir),
        Some(tls.config),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x00, 0xff, 0x01]).await.unwrap(); // a ClientHello that never ends
    closed_by_server(silent).await;
    closed_by_server(half).await;
    // A connection held open across shutdown does not keep the server from stopping.
    let _held = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server).await.expect("shutdown completes").unwrap().unwrap();
}
