//! Accounts like a real service: `esxlcm users` manages the store's database (passwords
//! only from stdin or a terminal), a running `esxlcm serve` takes the changes, logins and
//! mutating calls land in the audit log (`esxlcm audit`, `GET /api/esxlcm/audit`), and
//! every HTTPS answer carries the security headers.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

const ROOT_PW: &str = "correct horse battery";
const VIEWER_PW: &str = "look but do not touch";

fn esxlcm() -> Command {
    let mut cmd = Command::cargo_bin("esxlcm").unwrap();
    cmd.env_remove("RUST_LOG").env_remove("ESXLCM_DATA_DIR").env_remove("ESXLCM_ADMIN_USER");
    cmd.env_remove("ESXLCM_ADMIN_PASSWORD");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `esxlcm ARGS…` with `stdin` piped in.
fn run(args: &[&str], stdin: &str) -> Run {
    let mut child =
        esxlcm().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(args: &[&str], stdin: &str) -> String {
    let r = run(args, stdin);
    assert_eq!(r.code, 0, "esxlcm {args:?}: {}", r.stderr);
    r.stdout
}

use crate::mirror_support::{Served as Server, start_serving};

fn serve(data: &Path) -> Server {
    let mut serve = esxlcm();
    serve.args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let mut server = start_serving(serve);
    // `https://HOST:PORT/api`: the service's root.
    server.base = server.base.trim_end_matches('/').trim_end_matches("/api").to_owned();
    server
}

fn login(client: &Client, base: &str, user: &str, password: &str) -> Response {
    client.post(format!("{base}/api/session")).basic_auth(user, Some(password)).send().unwrap()
}

fn token(client: &Client, base: &str, user: &str, password: &str) -> String {
    let r = login(client, base, user, password);
    assert_eq!(r.status(), StatusCode::CREATED);
    body::<String>(r)
}

/// The JSON of an answer (reqwest's `json` feature is not in this crate's build).
fn body<T: serde::de::DeserializeOwned>(r: Response) -> T {
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

fn assert_security_headers(r: &Response) {
    let h = r.headers();
    assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="), "{h:?}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"), "{h:?}");
}

#[test]
fn users_from_the_cli_log_in_and_every_change_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();

    // Users: passwords only from stdin (or a terminal), never echoed or stored in clear.
    let out =
        ok(&["users", "add", "root", "--role", "admin", "--password-stdin", "--data-dir", d], &format!("{ROOT_PW}\n"));
    assert!(out.contains("added user root (admin)"), "{out}");
    ok(&["users", "add", "viewer", "--role", "read-only", "--password-stdin", "--data-dir", d], VIEWER_PW);
    let r = run(&["users", "add", "third", "--data-dir", d], "");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--password-stdin"), "{}", r.stderr);
    let r = run(&["users", "add", "root", "--password-stdin", "--data-dir", d], "another password");
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    let r = run(&["users", "remove", "root", "--data-dir", d], "");
    assert!(r.code == 2 && r.stderr.contains("last administrator"), "{}", r.stderr);
    let r = run(&["users", "role", "root", "read-only", "--data-dir", d], "");
    assert!(r.code == 2 && r.stderr.contains("last administrator"), "{}", r.stderr);
    let list: Value = serde_json::from_str(&ok(&["users", "list", "--json", "--data-dir", d], "")).unwrap();
    assert_eq!(
        list,
        json!({"schema": "esxlcm.users.list/1", "users": [{"name": "root", "role": "admin"}, {"name": "viewer", "role": "read_only"}]})
    );
    // Only hashes are kept: neither password is in any file of the data directory (the
    // store's database and its write-ahead log included).
    let mut files = vec![data.to_path_buf()];
    let mut read = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            read += 1;
            for pw in [ROOT_PW, VIEWER_PW] {
                assert!(!bytes.windows(pw.len()).any(|w| w == pw.as_bytes()), "{} holds a password", p.display());
            }
        }
    }
    assert!(read > 0 && data.join("store").is_dir(), "the users are in the store's database");

    // The service starts with these users (no ESXLCM_ADMIN_* needed).
    let server = serve(&data);
    let base = &server.base;
    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    let client = Client::builder().add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap()).build().unwrap();

    let r = login(&client, base, "root", ROOT_PW);
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_security_headers(&r);
    let root = body::<String>(r);
    let r = login(&client, base, "root", "not the password");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_security_headers(&r);
    let depot = client.get(format!("{base}/depots/demo/index.xml")).send().unwrap();
    assert_eq!(depot.status(), StatusCode::OK);
    assert_security_headers(&depot);

    let r = client
        .post(format!("{base}/api/esxlcm/clusters"))
        .header("vmware-api-session-id", &root)
        .header("content-type", "application/json")
        .body(json!({"name": "prod"}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let cluster = body::<String>(r);
    let viewer = token(&client, base, "viewer", VIEWER_PW);
    let r = client
        .post(format!("{base}/api/esxlcm/clusters"))
        .header("vmware-api-session-id", &viewer)
        .header("content-type", "application/json")
        .body(json!({"name": "mine"}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The audit log, read beside the running server.
    let audit: Value = serde_json::from_str(&ok(&["audit", "--data-dir", d, "--json"], "")).unwrap();
    assert_eq!(audit["schema"], "esxlcm.audit/1");
    let rows = audit["records"].as_array().unwrap().clone();
    let has = |user: &str, action: &str, result: &str| {
        rows.iter().find(|r| r["user"] == user && r["action"] == action && r["result"] == result)
    };
    let failed = has("root", "com.vmware.cis.session.create", "unauthenticated").expect("a failed login");
    assert_eq!(failed["client"], "127.0.0.1");
    assert!(has("root", "com.vmware.cis.session.create", "ok").is_some(), "{rows:#?}");
    let created = has("root", "com.esxlcm.inventory.clusters.create", "ok").expect("the create");
    assert_eq!(created["target"], format!("created={cluster}"));
    assert!(has("viewer", "com.esxlcm.inventory.clusters.create", "unauthorized").is_some(), "{rows:#?}");
    let text = serde_json::to_string(&rows).unwrap();
    assert!(!text.contains(ROOT_PW) && !text.contains(&root) && !text.contains(&viewer), "no secrets in the log");
    let table = ok(&["audit", "--data-dir", d, "--limit", "2"], "");
    assert_eq!(table.lines().count(), 3, "a header and the newest two: {table}");
    let r = run(&["audit", "--data-dir", d, "--since", "yesterday"], "");
    assert_eq!(r.code, 2, "{}", r.stderr);

    // And through the API, for administrators only.
    let r =
        client.get(format!("{base}/api/esxlcm/audit?limit=500")).header("vmware-api-session-id", &root).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(&r);
    let api_rows: Vec<Value> = body(r);
    assert_eq!(api_rows.len(), rows.len(), "reading the log is not itself a change");
    let r = client
        .get(format!("{base}/api/esxlcm/audit?since=2999-01-01T00:00:00Z"))
        .header("vmware-api-session-id", &root)
        .send()
        .unwrap();
    assert_eq!(body::<Vec<Value>>(r), Vec::<Value>::new());
    let r = client.get(format!("{base}/api/esxlcm/audit")).header("vmware-api-session-id", &viewer).send().unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The running server follows `esxlcm users`: a new password, a removed user.
    ok(&["users", "passwd", "viewer", "--password-stdin", "--data-dir", d], "a brand new password\n");
    assert_eq!(login(&client, base, "viewer", VIEWER_PW).status(), StatusCode::UNAUTHORIZED);
    token(&client, base, "viewer", "a brand new password");
    ok(&["users", "remove", "viewer", "--data-dir", d], "");
    // A call re-reads the users at most once a second (a login at once).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = client.get(format!("{base}/api/session")).header("vmware-api-session-id", &viewer).send().unwrap();
        if r.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert!(std::time::Instant::now() < deadline, "a removed user's sessions end");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(server);
}
