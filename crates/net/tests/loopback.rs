//! The client against servers started here on 127.0.0.1:0: retries and Retry-After,
//! conditional GET, Range/If-Range, bounded downloads, and TLS failures classified from
//! rustls's typed errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use esxlcm_depot::source::Fetch;
use esxlcm_net::{ClientConfig, Download, GetRequest, GetResponse, HttpClient, NetError, RetryPolicy, Validators};
use url::Url;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server does with request number `n` (from 0).
enum Reply {
    Send(String),
    /// Read the request, answer nothing for this long, then close.
    Hold(Duration),
}

type Script = dyn Fn(usize, &Seen) -> Reply + Send + Sync;

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script: Arc<Script> = Arc::new(script);
    let count = Arc::new(AtomicUsize::new(0));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (log, script, count) = (Arc::clone(&log), Arc::clone(&script), Arc::clone(&count));
            std::thread::spawn(move || handle(conn, &log, &*script, &count));
        }
    });
    Server { addr, seen }
}

fn handle(conn: TcpStream, log: &Mutex<Vec<Seen>>, script: &Script, count: &AtomicUsize) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let seen = Seen { path, headers };
    log.lock().unwrap().push(seen.clone());
    let n = count.fetch_add(1, Ordering::SeqCst);
    let mut conn = conn;
    match script(n, &seen) {
        Reply::Send(text) => {
            let _ = conn.write_all(text.as_bytes());
        }
        Reply::Hold(d) => std::thread::sleep(d),
    }
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (n, v) in headers {
        text.push_str(&format!("{n}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    Reply::Send(text)
}

fn client(retry: RetryPolicy) -> HttpClient {
    HttpClient::new(&ClientConfig { retry, read_timeout: Duration::from_secs(5), ..Default::default() }).unwrap()
}

fn quick_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_total_wait: Duration::from_secs(5),
    }
}

fn full_text(r: GetResponse) -> String {
    let GetResponse::Full(mut body) = r else { panic!("expected a full response") };
    let mut s = String::new();
    body.reader.read_to_string(&mut s).unwrap();
    s
}

#[test]
fn statuses_that_mean_later_are_retried_until_an_answer() {
    let server = serve(|n, _| match n {
        0 => response("503 Service Unavailable", &[], ""),
        1 => response("502 Bad Gateway", &[], ""),
        2 => response("504 Gateway Timeout", &[], ""),
        _ => response("200 OK", &[], "hello"),
    });
    let r = client(quick_retries(3)).get(&server.url("/index.xml"), &GetRequest::default()).unwrap();
    assert_eq!(full_text(r), "hello");
    assert_eq!(server.seen().len(), 4);
}

#[test]
fn retries_stop_after_the_last_and_say_how_many_there_were() {
    let server = serve(|_, _| response("503 Service Unavailable", &[], ""));
    let Err(e) = client(quick_retries(2)).get(&server.url("/a"), &GetRequest::default()) else { panic!() };
    assert!(matches!(e, NetError::Status { status: 503, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("HTTP 503") && text.contains("after 3 tries"), "{text}");
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn answers_that_will_not_change_are_not_retried() {
    let server = serve(|_, seen| match seen.path.as_str() {
        "/missing" => response("404 Not Found", &[], ""),
        "/broken" => response("500 Internal Server Error", &[], ""),
        _ => response("401 Unauthorized", &[], ""),
    });
    let c = client(quick_retries(3));
    let get = |p: &str| c.get(&server.url(p), &GetRequest::default()).err().unwrap();
    assert!(matches!(get("/missing"), NetError::NotFound { .. }));
    assert!(matches!(get("/broken"), NetError::Status { status: 500, .. }));
    let refused = get("/token").to_string();
    assert!(refused.contains("download tokens expire"), "{refused}");
    assert_eq!(server.seen().len(), 3, "one request each");
}

#[test]
fn retry_after_in_seconds_is_waited_for() {
    let server = serve(|n, _| match n {
        0 => response("429 Too Many Requests", &[("Retry-After", "1")], ""),
        _ => response("200 OK", &[], "ok"),
    });
    let started = Instant::now();
    let r = client(quick_retries(3)).get(&server.url("/a"), &GetRequest::default()).unwrap();
    assert_eq!(full_text(r), "ok");
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}, not the 20 ms backoff", started.elapsed());
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn retry_after_as_a_date_is_waited_for() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = serve(move |n, _| match n {
        0 => response("503 Service Unavailable", &[("Retry-After", &at)], ""),
        _ => response("200 OK", &[], "ok"),
    });
    let started = Instant::now();
    let r = client(quick_retries(3)).get(&server.url("/a"), &GetRequest::default()).unwrap();
    assert_eq!(full_text(r), "ok");
    // The date has whole seconds: the wait is between 1 and 2 s.
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_retry_after_beyond_the_total_wait_ends_the_retries_at_once() {
    let server = serve(|_, _| response("503 Service Unavailable", &[("Retry-After", "3600")], ""));
    let started = Instant::now();
    let Err(e) = client(quick_retries(3)).get(&server.url("/a"), &GetRequest::default()) else { panic!() };
    assert!(started.elapsed() < Duration::from_secs(2), "did not wait: {:?}", started.elapsed());
    assert!(e.to_string().contains("asked to retry in 3600 s"), "{e}");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn a_refused_connection_is_retried_then_explained() {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = Url::parse(&format!("http://{addr}/index.xml")).unwrap();
    let Err(e) = client(quick_retries(2)).get(&url, &GetRequest::default()) else { panic!() };
    let text = e.to_string();
    assert!(matches!(e, NetError::Failed { .. }), "{e:?}");
    assert!(text.contains("could not connect") && text.contains("after 3 tries"), "{text}");
}

#[test]
fn a_silent_server_times_out_and_the_retry_gets_the_answer() {
    let server = serve(|n, _| match n {
        0 => Reply::Hold(Duration::from_secs(2)),
        _ => response("200 OK", &[], "late"),
    });
    let config =
        ClientConfig { read_timeout: Duration::from_millis(300), retry: quick_retries(1), ..Default::default() };
    let r = HttpClient::new(&config).unwrap().get(&server.url("/a"), &GetRequest::default()).unwrap();
    assert_eq!(full_text(r), "late");
    assert_eq!(server.seen().len(), 2);

    let silent = serve(|_, _| Reply::Hold(Duration::from_secs(2)));
    let config = ClientConfig { retry: RetryPolicy::none(), ..config };
    let Err(e) = HttpClient::new(&config).unwrap().get(&silent.url("/a"), &GetRequest::default()) else { panic!() };
    assert!(matches!(e, NetError::TimedOut { .. }), "{e:?}");
}

#[test]
fn conditional_requests_send_validators_and_read_not_modified() {
    let server = serve(|_, seen| match (seen.header("If-None-Match"), seen.header("If-Modified-Since")) {
        (Some("\"v1\""), _) | (None, Some("Sun, 06 Nov 1994 08:49:37 GMT")) => response("304 Not Modified", &[], ""),
        _ => response("200 OK", &[("ETag", "\"v2\""), ("Last-Modified", "Mon, 07 Nov 1994 08:49:37 GMT")], "new"),
    });
    let c = client(RetryPolicy::none());
    let url = server.url("/index.xml");
    let etag = GetRequest {
        conditional: Some(Validators { etag: Some("\"v1\"".into()), last_modified: Some("x".into()) }),
        ..Default::default()
    };
    assert!(matches!(c.get(&url, &etag).unwrap(), GetResponse::NotModified));
    assert_eq!(server.seen()[0].header("If-Modified-Since"), None, "If-None-Match wins");
    let date = GetRequest {
        conditional: Some(Validators { etag: None, last_modified: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()) }),
        ..Default::default()
    };
    assert!(matches!(c.get(&url, &date).unwrap(), GetResponse::NotModified));
    let stale = GetRequest {
        conditional: Some(Validators { etag: Some("\"v0\"".into()), last_modified: None }),
        ..Default::default()
    };
    let GetResponse::Full(body) = c.get(&url, &stale).unwrap() else { panic!("expected the new version") };
    assert_eq!(body.validators.etag.as_deref(), Some("\"v2\""));
    assert_eq!(body.validators.last_modified.as_deref(), Some("Mon, 07 Nov 1994 08:49:37 GMT"));
    assert_eq!(body.length, Some(3));
}

#[test]
fn a_resume_asks_for_the_rest_with_if_range() {
    let server = serve(|_, seen| match (seen.header("Range"), seen.header("If-Range")) {
        (Some("bytes=4-"), Some("\"v1\"")) => response("206 Partial Content", &[("ETag", "\"v1\"")], "456789"),
        (Some("bytes=10-"), _) => response("416 Range Not Satisfiable", &[], ""),
        _ => response("200 OK", &[("ETag", "\"v2\"")], "0123456789"),
    });
    let c = client(RetryPolicy::none());
    let url = server.url("/a.vib");
    let resume =
        |from: u64, v: &str| GetRequest { resume_from: Some(from), if_range: Some(v.to_owned()), ..Default::default() };
    let GetResponse::Partial(mut body) = c.get(&url, &resume(4, "\"v1\"")).unwrap() else { panic!("not partial") };
    let mut rest = String::new();
    body.reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "456789");
    assert_eq!(full_text(c.get(&url, &resume(4, "\"old\"")).unwrap()), "0123456789", "changed: the whole file");
    let GetResponse::Partial(body) = c.get(&url, &resume(10, "\"v1\"")).unwrap() else { panic!("416 is done") };
    assert_eq!(body.length, Some(0));
}

#[test]
fn downloads_are_capped_report_progress_send_their_header_and_stop_when_cancelled() {
    let body = "x".repeat(1000);
    let server = serve(move |_, seen| match seen.path.as_str() {
        "/bundle.zip" => response("200 OK", &[], &body),
        _ => response("200 OK", &[], "{\"spec\":1}"),
    });
    let c = client(RetryPolicy::none());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("bundle.zip");
    let progress = Mutex::new(Vec::new());
    let record = |done: u64, total: Option<u64>| progress.lock().unwrap().push((done, total));
    let never = || false;
    let run = |max_bytes: u64, cancelled: &dyn Fn() -> bool| {
        c.download_to_file(
            &server.url("/bundle.zip"),
            &dest,
            &Download { max_bytes, header: Some("Authorization: Bearer s3cret"), progress: &record, cancelled },
        )
    };
    assert_eq!(run(4096, &never).unwrap(), 1000);
    assert_eq!(std::fs::read(&dest).unwrap().len(), 1000);
    assert_eq!(progress.lock().unwrap().last(), Some(&(1000, Some(1000))));
    assert_eq!(server.seen()[0].header("Authorization"), Some("Bearer s3cret"));

    let e = run(999, &never).unwrap_err();
    assert!(matches!(e, NetError::TooLarge { limit: 999, .. }), "{e:?}");
    assert!(!dest.exists(), "a refused download leaves no file");
    let e = run(4096, &|| true).unwrap_err();
    assert!(matches!(e, NetError::Cancelled { .. }), "{e:?}");
    assert_eq!(server.seen().len(), 2, "cancelled before the request");

    assert_eq!(c.fetch_to_vec(&server.url("/spec.json"), 100).unwrap(), b"{\"spec\":1}");
    assert!(matches!(c.fetch_to_vec(&server.url("/spec.json"), 5), Err(NetError::TooLarge { .. })));
}

#[test]
fn depot_reads_go_through_the_same_client() {
    let server = serve(|_, seen| match seen.path.as_str() {
        "/index.xml" => response("200 OK", &[], "<vendorList/>"),
        _ => response("404 Not Found", &[], ""),
    });
    let c = client(RetryPolicy::none());
    let mut text = String::new();
    c.open(&server.url("/index.xml")).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "<vendorList/>");
    assert!(matches!(c.open(&server.url("/nope.xml")), Err(esxlcm_depot::source::FetchError::NotFound { .. })));
    let dir = tempfile::tempdir().unwrap();
    let file = Url::from_file_path(dir.path().join("x")).unwrap();
    assert!(
        matches!(c.open(&file), Err(esxlcm_depot::source::FetchError::UnsupportedScheme { .. })),
        "file: only when allowed"
    );
}

/// An HTTPS server with a certificate from a CA of its own; returns its address and the CA.
fn serve_tls(name: &str) -> (SocketAddr, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let tls = rustls::ServerConnection::new(config).unwrap();
                let mut stream = rustls::StreamOwned::new(tls, conn);
                let mut reader = BufReader::new(&mut stream);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    (addr, ca_cert.pem())
}

#[test]
fn tls_failures_are_classified_from_typed_errors_and_say_what_to_do() {
    let (addr, ca) = serve_tls("localhost");
    let url = Url::parse(&format!("https://localhost:{}/index.xml", addr.port())).unwrap();
    let untrusting = HttpClient::new(&ClientConfig { retry: quick_retries(2), ..Default::default() }).unwrap();
    let Err(e) = untrusting.get(&url, &GetRequest::default()) else { panic!("an untrusted certificate accepted") };
    let text = e.to_string();
    assert!(text.contains("signed by a CA this machine does not trust"), "{text}");
    assert!(text.contains("UnknownIssuer") && text.contains("private or corporate CA"), "{text}");
    assert!(!text.contains("tries"), "a refused certificate is not retried: {text}");

    let trusting = HttpClient::new(&ClientConfig { ca_pems: vec![ca.clone()], ..Default::default() }).unwrap();
    assert_eq!(full_text(trusting.get(&url, &GetRequest::default()).unwrap()), "ok");

    // Trusted CA, wrong name: the name, and that the given CA is not the problem's cure.
    let by_ip = Url::parse(&format!("https://127.0.0.1:{}/index.xml", addr.port())).unwrap();
    let Err(e) = trusting.get(&by_ip, &GetRequest::default()) else { panic!("a certificate for another name") };
    let text = e.to_string();
    assert!(text.contains("does not name this host"), "{text}");
}
