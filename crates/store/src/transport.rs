//! How the sync engine gets bytes: GET with conditional validators (ETag, Last-Modified)
//! and resume (`Range` + `If-Range`). The depot crate's `Fetch` only opens a URL; a mirror
//! needs these two, so the store has its own seam. [`FileTransport`] serves `file:` (with
//! validators from size and mtime, and ranges by seeking); [`HttpTransport`] uses
//! reqwest's blocking client with per-source headers, proxy, CA bundle and client
//! certificate ([`ClientIdentity`], for depots that require mutual TLS).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use esxlcm_depot::source::http_problem::{CertificateProblem, StatusProblem};
use esxlcm_depot::source::redact::{error_chain, redact_url};

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

/// What to do about a client certificate that cannot be used.
const CLIENT_CERT_TODO: &str = "give the source a PEM certificate and its unencrypted private key: \
     `esxlcm mirror remove NAME`, then `esxlcm mirror add NAME URL --client-cert CERT.pem --client-key KEY.pem`";

/// A source's client certificate (mutual TLS): the certificate chain and its private key,
/// read from PEM files, checked to belong together. The key is held only as the PEM handed
/// to the TLS client; `Debug` shows the certificate file and subject alone.
pub struct ClientIdentity {
    /// The chain, then the key, as PEM. Secret.
    pem: Vec<u8>,
    /// The certificate file, for messages.
    pub cert_file: PathBuf,
    /// The end-entity certificate's subject (`CN=…, O=…`).
    pub subject: String,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_file", &self.cert_file)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

const KEY_TAGS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

impl ClientIdentity {
    /// Read the certificate chain from `cert_file` and the private key from `key_file`, or
    /// from `cert_file` too when it holds both. Errors say which file and what is wrong,
    /// never what the key is.
    pub fn load(cert_file: &Path, key_file: Option<&Path>) -> Result<Self, TransportError> {
        let fail =
            |file: &Path, problem: String| TransportError::ClientCertificate { file: file.to_path_buf(), problem };
        let cert_pems = read_pem(cert_file)?;
        let chain: Vec<&pem::Pem> = cert_pems.iter().filter(|p| p.tag() == "CERTIFICATE").collect();
        let Some(leaf) = chain.first() else {
            return Err(fail(
                cert_file,
                format!("holds no PEM certificate ('-----BEGIN CERTIFICATE-----'); {CLIENT_CERT_TODO}"),
            ));
        };
        let subject = certificate_subject(leaf.contents()).map_err(|problem| fail(cert_file, problem))?;
        check_validity(leaf.contents(), chrono::Utc::now()).map_err(|problem| fail(cert_file, problem))?;
        let key_pems;
        let (key_path, key_source) = match key_file {
            Some(k) if k != cert_file => {
                key_pems = read_pem(k)?;
                (k, &key_pems)
            }
            _ => (cert_file, &cert_pems),
        };
        if key_source.iter().any(|p| {
            p.tag() == "ENCRYPTED PRIVATE KEY" || p.headers().get("Proc-Type").is_some_and(|v| v.contains("ENCRYPTED"))
        }) {
            return Err(fail(
                key_path,
                "the private key is encrypted; esxlcm needs it unencrypted (`openssl pkey -in KEY.pem -out \
                 plain-key.pem`, kept readable only by the account that syncs)"
                    .into(),
            ));
        }
        let keys: Vec<&pem::Pem> = key_source.iter().filter(|p| KEY_TAGS.contains(&p.tag())).collect();
        let key = match keys.as_slice() {
            [one] => *one,
            [] if key_file.is_none() => {
                return Err(fail(
                    cert_file,
                    "holds a certificate but no private key; give the key with --client-key KEY.pem (or put \
                     both in one PEM file)"
                        .into(),
                ));
            }
            [] => return Err(fail(key_path, format!("holds no PEM private key; {CLIENT_CERT_TODO}"))),
            _ => return Err(fail(key_path, "holds more than one private key; keep only the certificate's".into())),
        };
        check_key_matches(&chain, key).map_err(|problem| {
            let problem = match key_file {
                Some(k) if k != cert_file => format!("{problem} (key file {})", k.display()),
                _ => problem,
            };
            fail(cert_file, problem)
        })?;
        let mut parts: Vec<pem::Pem> = chain.iter().map(|p| pem::Pem::new("CERTIFICATE", p.contents())).collect();
        parts.push(pem::Pem::new(key.tag(), key.contents()));
        let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
        let pem = pem::encode_many_config(&parts, config).into_bytes();
        Ok(Self { pem, cert_file: cert_file.to_path_buf(), subject })
    }

    fn reqwest_identity(&self) -> Result<reqwest::Identity, TransportError> {
        reqwest::Identity::from_pem(&self.pem).map_err(|e| TransportError::ClientCertificate {
            file: self.cert_file.clone(),
            problem: format!("the TLS client cannot use it ({}); {CLIENT_CERT_TODO}", error_chain(&e)),
        })
    }
}

/// The subject of the first certificate in a PEM file, for listings.
pub fn client_certificate_subject(cert_file: &Path) -> Result<String, TransportError> {
    let pems = read_pem(cert_file)?;
    let leaf = pems.iter().find(|p| p.tag() == "CERTIFICATE").ok_or_else(|| TransportError::ClientCertificate {
        file: cert_file.to_path_buf(),
        problem: "holds no PEM certificate".into(),
    })?;
    certificate_subject(leaf.contents())
        .map_err(|problem| TransportError::ClientCertificate { file: cert_file.to_path_buf(), problem })
}

fn read_pem(file: &Path) -> Result<Vec<pem::Pem>, TransportError> {
    let fail = |problem: String| TransportError::ClientCertificate { file: file.to_path_buf(), problem };
    let bytes = std::fs::read(file).map_err(|e| fail(format!("cannot read it ({e}); {CLIENT_CERT_TODO}")))?;
    // The parser's messages quote no content, but a key file's bytes stay out of them anyway.
    pem::parse_many(&bytes).map_err(|_| fail(format!("is not a readable PEM file; {CLIENT_CERT_TODO}")))
}

fn certificate_subject(der: &[u8]) -> Result<String, String> {
    let cert = parse_certificate(der)?;
    let subject = cert.subject_name().user_friendly_str().unwrap_or_default();
    Ok(if subject.is_empty() { "(no subject name)".to_owned() } else { subject })
}

fn parse_certificate(der: &[u8]) -> Result<x509_certificate::X509Certificate, String> {
    x509_certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("the first certificate is not a valid X.509 certificate ({e})"))
}

/// A depot refuses a certificate outside its validity; say so before connecting.
fn check_validity(der: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let cert = parse_certificate(der)?;
    let (from, until) = (cert.validity_not_before(), cert.validity_not_after());
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%SZ").to_string();
    if now > until {
        return Err(format!("the certificate expired on {}; ask the depot's operator for a new one", day(until)));
    }
    if now < from {
        return Err(format!("the certificate is valid only from {} (check this machine's clock)", day(from)));
    }
    Ok(())
}

/// The key must be the one the end-entity certificate certifies (rustls checks the
/// public keys agree), and of a kind the TLS client can sign with.
fn check_key_matches(chain: &[&pem::Pem], key: &pem::Pem) -> Result<(), String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
    let certs: Vec<CertificateDer<'static>> =
        chain.iter().map(|p| CertificateDer::from(p.contents().to_vec())).collect();
    let der = key.contents().to_vec();
    let key_der = match key.tag() {
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(certs, key_der, &provider) {
        Ok(_) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err("the private key does not belong to this certificate (their public keys differ); give the key the \
             certificate was issued for"
                .into())
        }
        // rustls's messages name the problem (an unsupported key type), not the key.
        Err(e) => Err(format!("the private key cannot be used ({e}); {CLIENT_CERT_TODO}")),
    }
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
    /// Client certificate (PEM) for mutual TLS, and its key when not in the same file.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
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
            client_cert: None,
            client_key: None,
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
    client_cert: Option<PathBuf>,
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
        if let Some(cert) = &config.client_cert {
            let identity = ClientIdentity::load(cert, config.client_key.as_deref())?;
            tracing::debug!(cert = %cert.display(), subject = %identity.subject, "client certificate");
            builder = builder.identity(identity.reqwest_identity()?);
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
        Ok(Self { client, ca_file: config.ca_file.clone(), client_cert: config.client_cert.clone() })
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
        let response = req.send().map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                return TransportError::TimedOut { url: shown.clone(), message: error_chain(&e) };
            }
            TransportError::Failed {
                url: shown.clone(),
                message: explain_tls(&error_chain(&e), self.ca_file.as_deref(), self.client_cert.as_deref()),
            }
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
            s => match StatusProblem::of(s.as_u16()) {
                Some(StatusProblem::NotFound) => Err(TransportError::NotFound { url: shown }),
                problem => Err(TransportError::Failed {
                    url: shown,
                    message: problem
                        .unwrap_or(StatusProblem::Unexpected)
                        .message(s.as_u16(), "check the source's URL token or header"),
                }),
            },
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
            let detail = e.get_ref().map_or_else(|| e.to_string(), |inner| error_chain(inner));
            io::Error::new(e.kind(), detail)
        })
    }
}

/// A certificate failure said plainly, with what to do; other errors unchanged.
fn explain_tls(message: &str, ca_file: Option<&Path>, client_cert: Option<&Path>) -> String {
    if let Some(explained) = explain_client_auth(message, client_cert) {
        return explained;
    }
    let Some(at) = message.find("invalid peer certificate") else { return message.to_owned() };
    let detail = message.get(at..).unwrap_or(message);
    let what = CertificateProblem::classify(detail).unwrap_or(CertificateProblem::Other).describe();
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

/// The depot refused the TLS handshake over the client certificate: none was sent where one
/// is required, or the one sent was not accepted. `None` for anything else.
fn explain_client_auth(message: &str, client_cert: Option<&Path>) -> Option<String> {
    const REFUSALS: [&str; 7] = [
        "BadCertificate",
        "UnknownCA",
        "CertificateUnknown",
        "CertificateExpired",
        "CertificateRevoked",
        "AccessDenied",
        "DecryptError",
    ];
    let at = message.find("received fatal alert: ")?;
    let alert = message.get(at + "received fatal alert: ".len()..).unwrap_or_default();
    let alert = alert.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default();
    let detail = format!("TLS alert {alert}");
    match (alert, client_cert) {
        ("CertificateRequired", None) => Some(format!(
            "the depot requires a client certificate (mutual TLS) and this source has none ({detail}); give the \
             source the certificate and key the depot's operator issued: `esxlcm mirror remove NAME`, then \
             `esxlcm mirror add NAME URL --client-cert CERT.pem --client-key KEY.pem`"
        )),
        ("HandshakeFailure", None) => Some(format!(
            "the depot refused the TLS handshake ({detail}); if it requires a client certificate (mutual TLS), give \
             the source one with --client-cert/--client-key (`esxlcm mirror add NAME URL --client-cert CERT.pem \
             --client-key KEY.pem`)"
        )),
        ("CertificateRequired", Some(cert)) => Some(format!(
            "the depot requires a client certificate but did not accept the one this source offers ({}; {detail}); \
             check that the depot's CA issued it, and re-add the source with the right --client-cert/--client-key",
            cert.display()
        )),
        (a, Some(cert)) if REFUSALS.contains(&a) || a == "HandshakeFailure" => Some(format!(
            "the depot refused this source's client certificate {} ({detail}): check that it is the certificate \
             the depot's operator issued, signed by a CA the depot trusts and not expired; re-add the source with \
             the right --client-cert/--client-key",
            cert.display()
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_say_what_to_do() {
        let raw = "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer";
        let plain = explain_tls(raw, None, None);
        assert!(plain.contains("not trust") && plain.contains("--ca-file CA.pem"), "{plain}");
        assert!(plain.contains("UnknownIssuer"), "the underlying reason stays: {plain}");
        let with_ca = explain_tls(raw, Some(Path::new("/etc/corp-ca.pem")), None);
        assert!(with_ca.contains("/etc/corp-ca.pem"), "{with_ca}");
        assert_eq!(explain_tls("connection refused", None, None), "connection refused");
    }

    /// A CA-signed client certificate: (certificate PEM, key PEM).
    fn client_pair(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "esxlcm tests");
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// The base64 body of a PEM key, to check no message quotes it.
    fn key_body(key_pem: &str) -> String {
        key_pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn client_identities_load_from_one_or_two_files_and_name_their_subject() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = client_pair("mirror-01");
        let (cert_file, key_file, both) =
            (dir.path().join("c.pem"), dir.path().join("k.pem"), dir.path().join("b.pem"));
        std::fs::write(&cert_file, &cert).unwrap();
        std::fs::write(&key_file, &key).unwrap();
        std::fs::write(&both, format!("{key}\n{cert}")).unwrap();
        let id = ClientIdentity::load(&cert_file, Some(&key_file)).unwrap();
        assert_eq!(id.subject, "CN=mirror-01, O=esxlcm tests");
        assert!(id.reqwest_identity().is_ok());
        let shown = format!("{id:?}");
        assert!(shown.contains("mirror-01") && !shown.contains(&key_body(&key)[..40]), "{shown}");
        assert_eq!(ClientIdentity::load(&both, None).unwrap().subject, "CN=mirror-01, O=esxlcm tests");
        assert!(ClientIdentity::load(&both, Some(&both)).is_ok(), "the same file as both");
        assert_eq!(client_certificate_subject(&both).unwrap(), "CN=mirror-01, O=esxlcm tests");
        let config = HttpConfig { client_cert: Some(cert_file), client_key: Some(key_file), ..Default::default() };
        assert!(HttpTransport::new(&config).is_ok());
    }

    #[test]
    fn unusable_client_certificates_are_refused_saying_which_file_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = client_pair("mirror-01");
        let (_, other_key) = client_pair("someone-else");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let cert_file = write("c.pem", &cert);
        let err = |r: Result<ClientIdentity, TransportError>| r.unwrap_err().to_string();

        let e = err(ClientIdentity::load(&cert_file, None));
        assert!(e.contains("c.pem") && e.contains("no private key") && e.contains("--client-key"), "{e}");
        let e = err(ClientIdentity::load(&cert_file, Some(&write("wrong.pem", &other_key))));
        assert!(e.contains("does not belong to this certificate") && e.contains("wrong.pem"), "{e}");
        assert!(!e.contains(&key_body(&other_key)[..40]), "no key material: {e}");
        let e = err(ClientIdentity::load(&write("only-key.pem", &key), None));
        assert!(e.contains("only-key.pem") && e.contains("no PEM certificate"), "{e}");
        let e = err(ClientIdentity::load(&cert_file, Some(&write("empty.pem", "nothing here\n"))));
        assert!(e.contains("empty.pem") && e.contains("no PEM private key"), "{e}");
        let e = err(ClientIdentity::load(&dir.path().join("missing.pem"), None));
        assert!(e.contains("missing.pem") && e.contains("cannot read"), "{e}");
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = err(ClientIdentity::load(&cert_file, Some(&write("enc.pem", encrypted))));
        assert!(e.contains("encrypted") && e.contains("openssl pkey"), "{e}");
        let e = err(ClientIdentity::load(&write("two.pem", &format!("{cert}{key}{other_key}")), None));
        assert!(e.contains("more than one private key"), "{e}");
        let config = HttpConfig { client_cert: Some(cert_file), ..Default::default() };
        assert!(matches!(HttpTransport::new(&config), Err(TransportError::ClientCertificate { .. })));
    }

    #[test]
    fn client_certificates_outside_their_validity_are_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
        assert!(check_validity(&der, at("2020-06-01T00:00:00Z")).is_ok());
        let expired = check_validity(&der, at("2026-11-23T00:00:00Z")).unwrap_err();
        assert!(expired.contains("expired on 2021-01-01"), "{expired}");
        let early = check_validity(&der, at("2019-01-01T00:00:00Z")).unwrap_err();
        assert!(early.contains("valid only from 2020-01-01"), "{early}");
    }

    #[test]
    fn client_certificate_refusals_say_what_to_do() {
        let raw = "error sending request: client error (SendRequest): connection error: received fatal alert: \
                   CertificateRequired";
        let none = explain_tls(raw, None, None);
        assert!(none.contains("requires a client certificate") && none.contains("--client-cert"), "{none}");
        assert!(none.contains("CertificateRequired"), "{none}");
        let cert = Path::new("/etc/esxlcm/mirror.pem");
        let refused = explain_tls("received fatal alert: UnknownCA", None, Some(cert));
        assert!(refused.contains("refused this source's client certificate /etc/esxlcm/mirror.pem"), "{refused}");
        let plain = explain_tls("received fatal alert: HandshakeFailure", None, None);
        assert!(plain.contains("--client-cert/--client-key"), "{plain}");
        assert_eq!(
            explain_tls("received fatal alert: ProtocolVersion", None, None),
            "received fatal alert: ProtocolVersion"
        );
        assert_eq!(explain_tls("received fatal alert: UnknownCA", None, None), "received fatal alert: UnknownCA");
    }

    #[test]
    fn a_server_that_never_answers_is_a_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and hold the connection without answering.
        let held = std::thread::spawn(move || listener.accept().map(|(conn, _)| conn));
        let config = HttpConfig { read_timeout: Duration::from_millis(300), ..HttpConfig::default() };
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
