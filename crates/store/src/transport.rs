//! How the sync engine gets bytes: GET with conditional validators (ETag, Last-Modified)
//! and resume (`Range` + `If-Range`). The depot crate's `Fetch` only opens a URL; a mirror
//! needs these two, so the store has its own seam. [`FileTransport`] serves `file:` (with
//! validators from size and mtime, and ranges by seeking); [`HttpTransport`] is esxlcm-net's
//! client with the source's headers, proxy, CA bundle and client certificate, worded for
//! `esxlcm mirror`.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use esxlcm_net::{Advice, ClientConfig, HttpClient, NetError, RetryPolicy};
use url::Url;

pub use esxlcm_net::{Body, ClientIdentity, GetRequest, GetResponse, Validators, client_certificate_subject};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{url}: not found")]
    NotFound { url: String },
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    /// No answer within the connect or read timeout (a gateway answers 504 for it).
    #[error("{url}: timed out: {message}")]
    TimedOut { url: String, message: String },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
    #[error("{0}")]
    Setup(String),
    /// The source's client certificate or key cannot be used; never carries key material.
    #[error("client certificate {}: {problem}", file.display())]
    ClientCertificate { file: PathBuf, problem: String },
}

impl From<NetError> for TransportError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::NotFound { url } => Self::NotFound { url },
            NetError::TimedOut { url, message } => Self::TimedOut { url, message },
            NetError::Io { url, source } => Self::Io { url, source },
            NetError::ClientCertificate { file, problem } => Self::ClientCertificate { file, problem },
            NetError::Status { url, message, .. } | NetError::Failed { url, message } => Self::Failed { url, message },
            other => match other.url() {
                Some(url) => Self::Failed { url: url.to_owned(), message: other.to_string() },
                None => Self::Setup(other.to_string()),
            },
        }
    }
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
    /// Client certificate (PEM) for mutual TLS, and its key when not in the same file.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Replaces the mirror's advice after a refused server certificate.
    pub trust_advice: Option<String>,
    pub connect_timeout: Duration,
    /// Per read of the body, not for the whole transfer (VIBs can be large).
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            headers: Vec::new(),
            proxy: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            trust_advice: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

/// What a refused server certificate asks of a mirror source's owner (a source made by
/// the API carries the API's own words in [`HttpConfig::trust_advice`]).
pub const MIRROR_TRUST_CA: &str = "if the depot uses a private or corporate CA, give the source its CA \
     certificate (PEM): `esxlcm mirror remove NAME`, then `esxlcm mirror add NAME URL --ca-file CA.pem`";

/// What `esxlcm mirror` tells the user to do after a failed request.
fn mirror_advice(trust_ca: Option<&str>) -> Advice {
    Advice {
        trust_ca: trust_ca.unwrap_or(MIRROR_TRUST_CA).into(),
        credentials: "check the source's URL token or header".into(),
        client_certificate: "give the source the certificate and key the depot's operator issued: `esxlcm mirror \
                             remove NAME`, then `esxlcm mirror add NAME URL --client-cert CERT.pem --client-key \
                             KEY.pem`"
            .into(),
        replace_client_certificate: "re-add the source with the right --client-cert/--client-key".into(),
        timeout: String::new(),
        connect: String::new(),
    }
}

/// `http:`, `https:` (and `file:` through [`FileTransport`]).
#[derive(Debug)]
pub struct HttpTransport {
    client: HttpClient,
}

impl HttpTransport {
    pub fn new(config: &HttpConfig) -> Result<Self, TransportError> {
        let config = ClientConfig {
            ca_files: config.ca_file.iter().cloned().collect(),
            proxy: config.proxy.clone(),
            headers: config.headers.clone(),
            client_cert: config.client_cert.clone(),
            client_key: config.client_key.clone(),
            connect_timeout: config.connect_timeout,
            read_timeout: config.read_timeout,
            retry: config.retry.clone(),
            advice: mirror_advice(config.trust_advice.as_deref()),
            ..ClientConfig::default()
        };
        Ok(Self { client: HttpClient::new(&config)? })
    }
}

impl Transport for HttpTransport {
    fn get(&self, url: &Url, request: &GetRequest) -> Result<GetResponse, TransportError> {
        if url.scheme() == "file" {
            return FileTransport.get(url, request);
        }
        Ok(self.client.get(url, request)?)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn net_errors_keep_their_kind_and_text() {
        let e = TransportError::from(NetError::TimedOut { url: "u".into(), message: "m".into() });
        assert!(matches!(e, TransportError::TimedOut { .. }));
        assert_eq!(e.to_string(), "u: timed out: m");
        let e = TransportError::from(NetError::Status { url: "u".into(), status: 503, message: "later".into() });
        assert_eq!(e.to_string(), "u: later");
        let e = TransportError::from(NetError::Proxy { proxy: "http://***@p".into() });
        assert!(matches!(e, TransportError::Setup(_)), "{e:?}");
    }

    #[test]
    fn certificate_failures_say_what_to_do_in_mirror_terms() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("missing.pem");
        let config = HttpConfig { client_cert: Some(cert), ..Default::default() };
        let Err(e) = HttpTransport::new(&config) else { panic!("a missing certificate accepted") };
        assert!(matches!(e, TransportError::ClientCertificate { .. }), "{e:?}");
        assert!(e.to_string().contains("esxlcm mirror add NAME URL --client-cert"), "{e}");
        assert!(mirror_advice(None).trust_ca.contains("--ca-file CA.pem"));
        assert_eq!(mirror_advice(Some("use the trust store")).trust_ca, "use the trust store");
    }

    #[test]
    fn a_server_that_never_answers_is_a_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and hold the connection without answering.
        let held = std::thread::spawn(move || listener.accept().map(|(conn, _)| conn));
        let config = HttpConfig {
            read_timeout: Duration::from_millis(300),
            retry: RetryPolicy::none(),
            ..HttpConfig::default()
        };
        let transport = HttpTransport::new(&config).unwrap();
        let url = Url::parse(&format!("http://{addr}/index.xml")).unwrap();
        let Err(err) = transport.get(&url, &GetRequest::default()) else { panic!("an answer from a silent server") };
        assert!(matches!(err, TransportError::TimedOut { .. }), "{err:?}");
        drop(held.join());
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
