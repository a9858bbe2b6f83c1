//! Helpers for the `esxlcm mirror` end-to-end tests: the binary, generated upstream depots,
//! a slow loopback HTTP server (so a sync can be killed mid-transfer) and file trees.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub use esxlcm_test_support::files::{tree, update_upstream};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use assert_cmd::cargo::CommandCargoExt;

pub fn esxlcm() -> Command {
    let mut cmd = Command::cargo_bin("esxlcm").expect("the esxlcm binary is built for integration tests");
    cmd.env_remove("RUST_LOG").env_remove("ESXLCM_HTTP_HEADER").env_remove("ESXLCM_STORE");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    let out = esxlcm().args(args).output().expect("esxlcm runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run and require exit 0.
pub fn ok(args: &[&str]) -> Run {
    let r = run(args);
    assert_eq!(r.code, 0, "esxlcm {args:?} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
    r
}

/// A cheap source of varied kill points, reported so a failure can be replayed.
pub fn jitter(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Start `esxlcm ARGS` with its output discarded, SIGKILL it after `delay` if it is still
/// running, and reap it; true when it was killed.
pub fn run_killed_after(args: &[&str], delay: Duration) -> bool {
    let mut child = esxlcm().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(delay);
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap(); // SIGKILL
    }
    child.wait().unwrap();
    killed
}

/// A tiny generated online depot; base images 2 → 3 is an upstream release.
pub fn generate(base_images: usize, out: &Path) {
    let n = base_images.to_string();
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "7", "--base-images", &n, "--out", out.to_str().unwrap()]);
}

/// `file:` URL of a local depot directory.
pub fn file_url(dir: &Path) -> String {
    format!("file://{}/", dir.display())
}

/// Under `dir`: `up`, a generated depot (2 base images); `v2`, its next release (3); and
/// the path `store` (not created). Returns the three paths in that order.
pub fn upstream_and_release(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (upstream, v2, store) = (dir.join("up"), dir.join("v2"), dir.join("store"));
    generate(2, &upstream);
    generate(3, &v2);
    (upstream, v2, store)
}

/// A run's standard output as JSON.
pub fn json(r: &Run) -> serde_json::Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

/// The source `name` in a `mirror list --json` or `mirror status --json` document.
pub fn listed_source<'a>(listing: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    listing["sources"].as_array().unwrap().iter().find(|x| x["name"] == name).unwrap()
}

/// The published snapshot of a source, from `mirror list --json`.
pub fn published_snapshot(store: &str, source: &str) -> i64 {
    let listed = json(&ok(&["mirror", "--store", store, "list", "--json"]));
    listed_source(&listed, source)["published_snapshot"].as_i64().unwrap()
}

/// The published tree of source `name` in `store`.
pub fn published(store: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
    tree(&store.join("published").join(name))
}

/// The VIB count `depot inspect --json` reports for `depot` (a path or URL).
pub fn inspected_vib_count(depot: &str) -> u64 {
    json(&ok(&["depot", "inspect", depot, "--json"]))["vib_count"].as_u64().unwrap()
}

/// The status document of `source` in `store` (`STORE/status/<source>.json`).
pub fn status_doc(store: &Path, source: &str) -> serde_json::Value {
    let bytes = fs::read(store.join("status").join(format!("{source}.json"))).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The VIBs `esxlcm image resolve` names for the spec file `spec` over `depots`; the
/// spec must resolve.
pub fn resolved_vibs(spec: &str, depots: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["image", "resolve", "--spec", spec, "--json"];
    for d in depots {
        args.extend(["--depot", d]);
    }
    let v = json(&ok(&args));
    assert_eq!(v["valid"], true, "{v}");
    v["vibs"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect()
}

/// VIB IDs of a depot tree, from its file names (`…/<id>.vib`).
pub fn vib_files(dir: &Path) -> BTreeSet<String> {
    tree(dir).keys().filter_map(|p| p.rsplit('/').next()?.strip_suffix(".vib").map(str::to_owned)).collect()
}

/// What `mirror verify --json` says.
pub fn verify_json(store: &Path) -> serde_json::Value {
    let r = run(&["mirror", "--store", store.to_str().unwrap(), "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("verify output is not JSON ({e}):\n{}\n{}", r.stdout, r.stderr));
    assert_eq!(r.code, if v["clean"] == true { 0 } else { 1 }, "{}", r.stderr);
    v
}

/// A deliberately slow HTTP/1.1 file server (one request per connection): ETag from
/// size and mtime, If-None-Match → 304, Range → 206. Bodies trickle out in small chunks.
pub struct SlowServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl SlowServer {
    pub fn start(root: &Path, chunk: usize, pause: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (root, count, halt) = (root.to_path_buf(), Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                count.fetch_add(1, Ordering::Relaxed);
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &root, chunk, pause);
                });
            }
        });
        Self { port, requests, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(conn: TcpStream, root: &Path, chunk: usize, pause: Duration) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
    let (mut inm, mut range) = (None, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or_default();
        match name.trim().to_ascii_lowercase().as_str() {
            "if-none-match" => inm = Some(value.trim().to_owned()),
            "range" => range = value.trim().strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).map(str::to_owned),
            _ => {}
        }
    }
    let mut out = conn;
    let file_path: PathBuf = root.join(&path);
    let Ok(mut file) = fs::File::open(&file_path)
        .and_then(|f| if f.metadata()?.is_file() { Ok(f) } else { Err(std::io::ErrorKind::NotFound.into()) })
    else {
        return out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let meta = file.metadata()?;
    let mtime = meta.modified()?.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let etag = format!("\"{:x}-{mtime:x}\"", meta.len());
    if inm.as_deref() == Some(etag.as_str()) {
        let head = format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n");
        return out.write_all(head.as_bytes());
    }
    let from: u64 = range.and_then(|r| r.parse().ok()).filter(|f| *f <= meta.len()).unwrap_or(0);
    let head = if from > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nETag: {etag}\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
            meta.len() - from,
            meta.len().saturating_sub(1),
            meta.len()
        )
    } else {
        format!("HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", meta.len())
    };
    out.write_all(head.as_bytes())?;
    file.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; chunk];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n])?;
        std::thread::sleep(pause);
    }
}

/// A running `esxlcm serve`, killed when dropped.
pub struct Served {
    pub child: std::process::Child,
    /// The URL of its first line, `listening on URL`.
    pub base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `esxlcm serve --store STORE` on a free loopback port; `base` is its `http://…/`.
pub fn serve_store(store: &Path) -> Served {
    serve_store_with(store, &[])
}

/// Start `esxlcm serve --store STORE EXTRA…` on a free loopback port (`serve_store` with
/// more options, such as `--push-token-file`).
pub fn serve_store_with(store: &Path, extra: &[&str]) -> Served {
    let mut serve = esxlcm();
    serve.args(["serve", "--store", store.to_str().unwrap(), "--listen", "127.0.0.1:0"]).args(extra);
    start_serving(serve)
}

/// A generated offline bundle (`depot generate --preset tiny --seed 7`) with
/// `base_images` base images at `out`.
pub fn tiny_bundle(base_images: usize, out: &Path) {
    let n = base_images.to_string();
    ok(&["depot", "generate", "--preset", "tiny", "--seed", "7", "--base-images", &n, "--out", out.to_str().unwrap()]);
}

/// A copy of the offline bundle `from` at `to` with one byte of its first VIB flipped
/// (same size, wrong sha-256); returns that VIB's path in the bundle.
pub fn bundle_with_a_corrupt_vib(from: &Path, to: &Path) -> String {
    let mut archive = zip::ZipArchive::new(fs::File::open(from).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(fs::File::create(to).unwrap());
    let mut corrupted = None;
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).unwrap();
        let name = member.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        member.read_to_end(&mut bytes).unwrap();
        if corrupted.is_none() && name.ends_with(".vib") {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            corrupted = Some(name.clone());
        }
        writer.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.finish().unwrap();
    corrupted.expect("the bundle holds a VIB")
}

/// Start `serve` (an `esxlcm serve …` command), read its first line and keep draining its
/// output, so the server's later output never meets a closed pipe.
pub fn start_serving(mut serve: Command) -> Served {
    let mut child = serve.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("esxlcm serve starts");
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    let read = reader.read_line(&mut first);
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let mut served = Served { child, base: String::new() };
    assert!(read.is_ok_and(|n| n > 0), "serve printed nothing (did it fail to start?)");
    served.base = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line should be 'listening on URL', got {first:?}"))
        .to_owned();
    served
}
