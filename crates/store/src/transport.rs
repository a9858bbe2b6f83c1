//! How the sync engine gets bytes: GET with conditional validators (ETag, Last-Modified)
//! and resume (`Range` + `If-Range`). The depot crate's `Fetch` only opens a URL; a mirror
//! needs these two, so the store has its own seam. [`FileTransport`] serves `file:` (with
//! validators from size and mtime, and ranges by seeking); [`HttpTransport`] uses
//! reqwest's blocking client with per-source headers, proxy and CA bundle.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use esxlcm_depot::source::redact::redact_url;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{url}: not found")]
    NotFound { url: String },
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
    #[error("{0}")]
    Setup(String),
}

/// Validators a server gave for a response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct GetRequest {
    /// Send `If-None-Match` / `If-Modified-Since`.
    pub conditional: Option<Validators>,
    /// Ask for the bytes from this offset on (`Range: bytes=N-`), with `If-Range` when the
    /// validator of the partial copy is known.
    pub resume_from: Option<u64>,
    pub if_range: Option<String>,
}

pub struct Body {
    pub validators: Validators,
    /// Bytes this response carries, when announced.
    pub length: Option<u64>,
    pub reader: Box<dyn Read + Send>,
}

pub enum GetResponse {
    /// 304: what the conditional request named is still current.
    NotModified,
    /// 200: the whole file.
    Full(Body),
    /// 206: the rest of the file from the requested offset.
    Partial(Body),
}

pub trait Transport: Send + Sync {
    fn get(&self, url: &Url, request: &GetRequest) -> Result<GetResponse, TransportError>;
}

/// `file:` URLs. Validators are made from size and modification time, so an unchanged
/// local upstream is treated exactly like an unchanged HTTP one.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileTransport;

impl Transport for FileTransport {
    fn get(&self, url: &Url, request: &GetRequest) -> Result<GetResponse, TransportError> {
        let shown = url.to_string();
        let path: PathBuf = url
            .to_file_path()
            .map_err(|()| TransportError::Failed { url: shown.clone(), message: "not a local path".into() })?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(TransportError::NotFound { url: shown }),
            Err(source) => return Err(TransportError::Io { url: shown, source }),
        };
        let meta = file.metadata().map_err(|source| TransportError::Io { url: shown.clone(), source })?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let etag = format!("\"{:x}-{:x}\"", meta.len(), mtime.as_nanos());
        let validators = Validators { etag: Some(etag.clone()), last_modified: None };
        if request.conditional.as_ref().is_some_and(|c| c.etag.as_deref() == Some(etag.as_str())) {
            return Ok(GetResponse::NotModified);
        }
        if let Some(from) = request.resume_from
            && request.if_range.as_deref().is_none_or(|v| v == etag)
            && from <= meta.len()
        {
            file.seek(SeekFrom::Start(from)).map_err(|source| TransportError::Io { url: shown, source })?;
            return Ok(GetResponse::Partial(Body {
                validators,
                length: Some(meta.len() - from),
                reader: Box::new(file),
            }));
        }
        Ok(GetResponse::Full(Body { validators, length: Some(meta.len()), reader: Box::new(file) }))
    }
}

/// How to reach one HTTP(S) source.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub headers: Vec<String>,
    pub proxy: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// Per read of the body, not for the whole transfer (VIBs can be large).
    pub read_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            headers: Vec::new(),
            proxy: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// `http:`, `https:` (and `file:` through [`FileTransport`]).
pub struct HttpTransport {
    client: Client,
    /// For the advice in certificate errors.
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport").finish_non_exhaustive()
    }
}

impl HttpTransport {
    pub fn new(config: &HttpConfig) -> Result<Self, TransportError> {
        let mut headers = HeaderMap::new();
        for h in &config.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| TransportError::Setup("a header must look like 'Name: value'".into()))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| TransportError::Setup(format!("'{}' is not a valid header name", name.trim())))?;
            let mut value = HeaderValue::from_str(value.trim())
                .map_err(|_| TransportError::Setup(format!("header {name}: the value holds invalid characters")))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let mut builder = Client::builder()
            .user_agent(concat!("esxlcm/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.read_timeout)
            .default_headers(headers);
        if let Some(file) = &config.ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| TransportError::Setup(format!("reading CA bundle {}: {e}", file.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| TransportError::Setup(format!("CA bundle {}: {e}", file.display())))?;
            if certs.is_empty() {
                return Err(TransportError::Setup(format!("CA bundle {}: no PEM certificates", file.display())));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if let Some(proxy) = &config.proxy {
            let p = reqwest::Proxy::all(proxy.as_str()).map_err(|_| {
                TransportError::Setup(format!(
                    "proxy {}: not a usable proxy URL",
                    esxlcm_depot::source::redact::redact_url_str(proxy)
                ))
            })?;
            builder = builder.proxy(p);
        }
        let client = builder
            .build()
            .map_err(|e| TransportError::Setup(format!("setting up the HTTP client: {}", e.without_url())))?;
        Ok(Self { client, ca_file: config.ca_file.clone() })
    }
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl Transport for HttpTransport {
    fn get(&self, url: &Url, request: &GetRequest) -> Result<GetResponse, TransportError> {
        if url.scheme() == "file" {
            return FileTransport.get(url, request);
        }
        let shown = redact_url(url);
        let mut req = self.client.get(url.clone());
        if let Some(c) = &request.conditional {
            if let Some(etag) = &c.etag {
                req = req.header(header::IF_NONE_MATCH, etag);
            }
            // If-None-Match wins when both are known (RFC 9110 §13.2.2); Last-Modified has a
            // one-second resolution that can miss a quick rewrite.
            if let (None, Some(lm)) = (&c.etag, &c.last_modified) {
                req = req.header(header::IF_MODIFIED_SINCE, lm);
            }
        }
        if let Some(from) = request.resume_from {
            req = req.header(header::RANGE, format!("bytes={from}-"));
            if let Some(v) = &request.if_range {
                req = req.header(header::IF_RANGE, v);
            }
        }
        tracing::debug!(url = %shown, resume_from = ?request.resume_from, "GET");
        let response = req.send().map_err(|e| TransportError::Failed {
            url: shown.clone(),
            message: explain_tls(&flatten(&e.without_url()), self.ca_file.as_deref()),
        })?;
        let status = response.status();
        tracing::debug!(url = %shown, status = status.as_u16(), "response");
        let validators = Validators {
            etag: header_text(response.headers(), header::ETAG),
            last_modified: header_text(response.headers(), header::LAST_MODIFIED),
        };
        let length = response.content_length();
        let body =
            |response| Body { validators: validators.clone(), length, reader: Box::new(BodyReader { response }) };
        match status {
            StatusCode::NOT_MODIFIED => Ok(GetResponse::NotModified),
            StatusCode::OK => Ok(GetResponse::Full(body(response))),
            StatusCode::PARTIAL_CONTENT if request.resume_from.is_some() => Ok(GetResponse::Partial(body(response))),
            // The partial copy is already whole: nothing more to read (verification decides).
            StatusCode::RANGE_NOT_SATISFIABLE if request.resume_from.is_some() => {
                Ok(GetResponse::Partial(Body { validators, length: Some(0), reader: Box::new(io::empty()) }))
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => Err(TransportError::NotFound { url: shown }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(TransportError::Failed {
                url: shown,
                message: format!(
                    "the depot refused the request (HTTP {}); download tokens expire — check the source's URL token or header",
                    status.as_u16()
                ),
            }),
            s => Err(TransportError::Failed { url: shown, message: format!("unexpected HTTP status {s}") }),
        }
    }
}

/// Body read errors without the URL reqwest would put in them (it may carry a token).
struct BodyReader {
    response: reqwest::blocking::Response,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.response.read(buf).map_err(|e| {
            let detail = e.get_ref().map_or_else(|| e.to_string(), |inner| flatten(inner));
            io::Error::new(e.kind(), detail)
        })
    }
}

/// A certificate failure said plainly, with what to do; other errors unchanged.
fn explain_tls(message: &str, ca_file: Option<&std::path::Path>) -> String {
    let Some(at) = message.find("invalid peer certificate") else { return message.to_owned() };
    let detail = message.get(at..).unwrap_or(message);
    let what = if detail.contains("UnknownIssuer") {
        "the server's TLS certificate is signed by a CA this machine does not trust"
    } else if detail.contains("NotValidForName") {
        "the server's TLS certificate does not name this host (check the URL's host name)"
    } else if detail.contains("Expired") {
        "the server's TLS certificate has expired (or this machine's clock is wrong)"
    } else {
        "the server's TLS certificate was refused"
    };
    let todo = match ca_file {
        Some(ca) => format!(
            "the CA bundle given to this source ({}) does not vouch for it: check that it holds the CA that \
             signed the depot's certificate",
            ca.display()
        ),
        None => "if the depot uses a private or corporate CA, give the source its CA certificate (PEM): \
                 `esxlcm mirror remove NAME`, then `esxlcm mirror add NAME URL --ca-file CA.pem`"
            .to_owned(),
    };
    format!("{what} ({detail}); {todo}")
}

fn flatten(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        let text = text.split(" for url (").next().unwrap_or_default().to_owned();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_say_what_to_do() {
        let raw = "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer";
        let plain = explain_tls(raw, None);
        assert!(plain.contains("not trust") && plain.contains("--ca-file CA.pem"), "{plain}");
        assert!(plain.contains("UnknownIssuer"), "the underlying reason stays: {plain}");
        let with_ca = explain_tls(raw, Some(std::path::Path::new("/etc/corp-ca.pem")));
        assert!(with_ca.contains("/etc/corp-ca.pem"), "{with_ca}");
        assert_eq!(explain_tls("connection refused", None), "connection refused");
    }

    #[test]
    fn file_transport_has_validators_and_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let url = Url::from_file_path(&path).unwrap();
        let GetResponse::Full(body) = FileTransport.get(&url, &GetRequest::default()).unwrap() else { panic!() };
        let v = body.validators.clone();
        assert!(v.etag.is_some());
        let cond = GetRequest { conditional: Some(v.clone()), ..Default::default() };
        assert!(matches!(FileTransport.get(&url, &cond).unwrap(), GetResponse::NotModified));
        let range = GetRequest { resume_from: Some(4), if_range: v.etag.clone(), ..Default::default() };
        let GetResponse::Partial(mut body) = FileTransport.get(&url, &range).unwrap() else { panic!() };
        let mut s = String::new();
        body.reader.read_to_string(&mut s).unwrap();
        assert_eq!(s, "456789");
        let stale = GetRequest { resume_from: Some(4), if_range: Some("\"other\"".into()), ..Default::default() };
        assert!(matches!(FileTransport.get(&url, &stale).unwrap(), GetResponse::Full(_)));
        let missing = Url::from_file_path(dir.path().join("nope")).unwrap();
        assert!(matches!(FileTransport.get(&missing, &GetRequest::default()), Err(TransportError::NotFound { .. })));
    }
}
