//! `esxlcm mirror sync` against a real web server: nginx (Debian nginx-light) on a
//! loopback port serving a generated depot. After an upstream release, nginx's access log
//! must show that only the changed files were transferred (ETag → 304 for the rest).
//!
//! Skipped, with the reason printed, when nginx is not installed, unless `CI` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::mirror_support::*;

fn nginx_binary() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx"];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("nginx")).find(|p| p.is_file())
    })
}

struct Nginx {
    child: Child,
    port: u16,
    access_log: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(binary: &Path, prefix: &Path, root: &Path) -> Nginx {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    fs::create_dir_all(prefix.join("tmp")).unwrap();
    let p = prefix.display();
    let conf = format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    types {{ text/xml xml; application/zip zip; application/octet-stream vib; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        etag on;
    }}
}}
",
        root = root.display()
    );
    let conf_path = prefix.join("nginx.conf");
    fs::write(&conf_path, conf).unwrap();
    let child = Command::new(binary)
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e") // the startup error log too, not the packaged /var/log/nginx path
        .arg(prefix.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port, access_log: prefix.join("access.log") }
}

/// (path, status, body bytes) of each access-log line (combined format).
fn hits(log: &Path, skip_lines: usize) -> Vec<(String, u16, u64)> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .skip(skip_lines)
        .filter_map(|line| {
            let request = line.split('"').nth(1)?;
            let path = request.split_whitespace().nth(1)?.trim_start_matches('/').to_owned();
            let mut after = line.split('"').nth(2)?.split_whitespace();
            let status = after.next()?.parse().ok()?;
            let bytes = after.next()?.parse().ok()?;
            Some((path, status, bytes))
        })
        .collect()
}

#[test]
fn sync_from_nginx_transfers_only_changed_files() {
    let Some(nginx) = nginx_binary() else {
        if std::env::var_os("CI").is_some() {
            panic!("nginx is not installed, and CI is set: .ci/run must install it (Debian nginx-light)");
        }
        eprintln!(
            "SKIPPED sync_from_nginx_transfers_only_changed_files: nginx is not installed (apt-get install nginx-light)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    let server = start_nginx(&nginx, &dir.path().join("nginx"), &upstream);
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "nginx", &format!("http://127.0.0.1:{}/", server.port)]);

    let first = ok(&["mirror", "--store", s, "sync"]);
    assert!(first.stdout.contains("nginx: published snapshot 1"), "{}", first.stdout);
    let h1 = hits(&server.access_log, 0);
    let v1 = tree(&upstream);
    let vibs = |t: &std::collections::BTreeMap<String, Vec<u8>>| t.keys().filter(|k| k.ends_with(".vib")).count();
    assert_eq!(h1.iter().filter(|(p, s, _)| *s == 200 && p.ends_with(".vib")).count(), vibs(&v1), "{h1:?}");
    assert_eq!(tree(&store.join("published/nginx")), v1);

    let changed = update_upstream(&v2, &upstream);
    let second = ok(&["mirror", "--store", s, "sync"]);
    assert!(second.stdout.contains("nginx: published snapshot 2"), "{}", second.stdout);
    let h2 = hits(&server.access_log, h1.len());
    let mut transferred: Vec<String> = h2.iter().filter(|(_, s, _)| *s == 200).map(|(p, _, _)| p.clone()).collect();
    transferred.sort();
    let mut want: Vec<String> = changed.clone();
    want.sort();
    assert_eq!(transferred, want, "exactly the changed files came over the wire");
    let not_modified: Vec<&str> = h2.iter().filter(|(_, s, _)| *s == 304).map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(not_modified, ["vmw-depot-index.xml", "vmw/vendor-index.xml"], "{h2:?}");
    let bytes: u64 = h2.iter().map(|(_, _, b)| b).sum();
    let want_bytes: u64 = changed.iter().map(|c| fs::metadata(upstream.join(c)).unwrap().len()).sum();
    assert_eq!(bytes, want_bytes);
    assert_eq!(tree(&store.join("published/nginx")), tree(&v2));

    let third = ok(&["mirror", "--store", s, "sync"]);
    assert!(third.stdout.contains("unchanged"), "{}", third.stdout);
    let h3 = hits(&server.access_log, h1.len() + h2.len());
    assert!(h3.iter().all(|(_, s, _)| *s == 304) && h3.len() == 3, "only 304s for the three documents: {h3:?}");
    assert_eq!(verify_json(&store)["clean"], true);
}
