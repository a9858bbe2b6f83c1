use std::io::{self, Read};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::problem::{AlertProblem, StatusProblem, TlsFailure};
use crate::redact::{error_chain, redact_url, redact_url_str};
use crate::retry::{is_retryable_status, retry_after};
use crate::{ClientConfig, ClientIdentity, NetError};

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

/// The one HTTP(S) client: blocking reqwest over rustls with the system's roots plus the
/// configured CAs, retrying idempotent GETs (see [`RetryPolicy`](crate::RetryPolicy)).
/// Cheap to share (`Arc`); callers on an async runtime call it from `spawn_blocking`.
pub struct HttpClient {
    client: Client,
    config: ClientConfig,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

/// A request's own extra header and cancellation, for [`HttpClient::send`].
#[derive(Default)]
pub(crate) struct Extra<'a> {
    pub header: Option<(HeaderName, HeaderValue)>,
    pub cancelled: Option<&'a dyn Fn() -> bool>,
}

impl HttpClient {
    /// Build the client. Fails on an unreadable or invalid CA file, a malformed proxy or
    /// header, an unusable client certificate: those are reported before any request.
    pub fn new(config: &ClientConfig) -> Result<Self, NetError> {
        let mut headers = HeaderMap::new();
        for h in &config.headers {
            let (name, value) = parse_header(h)?;
            headers.append(name, value);
        }
        let mut builder = Client::builder()
            .user_agent(config.user_agent.as_str())
            .connect_timeout(config.connect_timeout)
            .timeout(config.read_timeout)
            .default_headers(headers);
        let mut roots = Vec::new();
        for file in &config.ca_files {
            let what = file.display().to_string();
            let pem = std::fs::read(file)
                .map_err(|e| NetError::CaFile { what: what.clone(), problem: format!("cannot read it ({e})") })?;
            roots.extend(parse_roots(&pem, &what)?);
        }
        for (i, pem) in config.ca_pems.iter().enumerate() {
            roots.extend(parse_roots(pem.as_bytes(), &format!("number {}", i + 1))?);
        }
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        if let Some(cert) = &config.client_cert {
            let identity = ClientIdentity::load(cert, config.client_key.as_deref())?;
            tracing::debug!(cert = %cert.display(), subject = %identity.subject, "client certificate");
            builder = builder.identity(identity.reqwest_identity()?);
        }
        if let Some(proxy) = &config.proxy {
            let p =
                reqwest::Proxy::all(proxy.as_str()).map_err(|_| NetError::Proxy { proxy: redact_url_str(proxy) })?;
            builder = builder.proxy(p);
        }
        let client = builder.build().map_err(|e| NetError::Setup { message: error_chain(&e) })?;
        Ok(Self { client, config: config.clone() })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The reqwest client, for [`crate::call`].
    pub(crate) fn inner(&self) -> &Client {
        &self.client
    }

    /// GET `url` (http or https) with validators and resume, retrying what may work later.
    pub fn get(&self, url: &Url, request: &GetRequest) -> Result<GetResponse, NetError> {
        let response = self.send(url, request, &Extra::default())?;
        Ok(self.classify(url, request, response))
    }

    /// Turn an answered request into a [`GetResponse`]; the statuses `send` lets through.
    fn classify(&self, url: &Url, request: &GetRequest, response: Response) -> GetResponse {
        let validators = Validators {
            etag: header_text(response.headers(), header::ETAG),
            last_modified: header_text(response.headers(), header::LAST_MODIFIED),
        };
        let length = response.content_length();
        let status = response.status();
        let body = |response| Body {
            validators: validators.clone(),
            length,
            reader: Box::new(BodyReader { response, url: redact_url(url) }),
        };
        match status {
            StatusCode::NOT_MODIFIED => GetResponse::NotModified,
            StatusCode::PARTIAL_CONTENT if request.resume_from.is_some() => GetResponse::Partial(body(response)),
            // The partial copy is already whole: nothing more to read (verification decides).
            StatusCode::RANGE_NOT_SATISFIABLE => {
                GetResponse::Partial(Body { validators, length: Some(0), reader: Box::new(io::empty()) })
            }
            _ => GetResponse::Full(body(response)),
        }
    }

    /// Send the GET, with retries; returns a response whose status is 200, 206, 304 or (for
    /// a resume) 416, or the error that says why not.
    pub(crate) fn send(&self, url: &Url, request: &GetRequest, extra: &Extra<'_>) -> Result<Response, NetError> {
        let shown = redact_url(url);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetError::UnsupportedScheme { url: shown, scheme: url.scheme().to_owned() });
        }
        let policy = &self.config.retry;
        let mut waited = Duration::ZERO;
        let mut retries = 0u32;
        loop {
            if extra.cancelled.is_some_and(|c| c()) {
                return Err(NetError::Cancelled { url: shown });
            }
            tracing::debug!(url = %shown, resume_from = ?request.resume_from, retries, "GET");
            let result = self.request(url, request, extra).send();
            let asked = match &result {
                Ok(r) if is_retryable_status(r.status().as_u16()) => retry_after(r.headers(), SystemTime::now()),
                _ => None,
            };
            let retryable = match &result {
                Ok(r) => is_retryable_status(r.status().as_u16()),
                // A refused certificate will be refused again.
                Err(e) => (e.is_connect() || e.is_timeout()) && TlsFailure::find(e).is_none(),
            };
            let wait = if retryable { policy.next_wait(retries, asked, waited) } else { None };
            let Some(wait) = wait else {
                let tries = retries + 1;
                return match result {
                    Ok(response) => self.answered(&shown, request, response, tries, asked),
                    Err(e) => Err(self.request_error(shown, &e, tries)),
                };
            };
            let why = match &result {
                Ok(r) => format!("HTTP {}", r.status().as_u16()),
                Err(e) if e.is_timeout() => "timed out".to_owned(),
                Err(_) => "could not connect".to_owned(),
            };
            drop(result);
            tracing::warn!(url = %shown, reason = %why, wait_ms = wait.as_millis() as u64, retry = retries + 1, "retrying");
            sleep(wait, extra.cancelled).map_err(|()| NetError::Cancelled { url: shown.clone() })?;
            waited += wait;
            retries += 1;
        }
    }

    fn request(&self, url: &Url, request: &GetRequest, extra: &Extra<'_>) -> RequestBuilder {
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
        if let Some((name, value)) = &extra.header {
            req = req.header(name, value);
        }
        req
    }

    /// A response after the last try: through if it is an answer, else the status's error.
    fn answered(
        &self,
        shown: &str,
        request: &GetRequest,
        response: Response,
        tries: u32,
        asked: Option<Duration>,
    ) -> Result<Response, NetError> {
        let status = response.status();
        tracing::debug!(url = %shown, status = status.as_u16(), "response");
        match status {
            StatusCode::OK | StatusCode::NOT_MODIFIED => return Ok(response),
            StatusCode::PARTIAL_CONTENT | StatusCode::RANGE_NOT_SATISFIABLE if request.resume_from.is_some() => {
                return Ok(response);
            }
            _ => {}
        }
        let code = status.as_u16();
        let problem = StatusProblem::of(code).unwrap_or(StatusProblem::Unexpected);
        if problem == StatusProblem::NotFound {
            return Err(NetError::NotFound { url: shown.to_owned() });
        }
        let mut message = problem.message(code, &self.config.advice.credentials);
        if let Some(asked) = asked {
            message.push_str(&format!(" (the server asked to retry in {} s)", asked.as_secs()));
        }
        message.push_str(&tries_note(tries));
        Err(NetError::Status { url: shown.to_owned(), status: code, message })
    }

    /// A request that got no answer, said plainly with what to do.
    pub(crate) fn request_error(&self, url: String, err: &reqwest::Error, tries: u32) -> NetError {
        let detail = error_chain(err);
        let advice = &self.config.advice;
        if let Some(tls) = TlsFailure::find(err) {
            return NetError::Failed { url, message: self.explain_tls(&tls) };
        }
        let then = |text: &str| if text.is_empty() { String::new() } else { format!(". {text}") };
        if err.is_timeout() {
            return NetError::TimedOut {
                url,
                message: format!("{detail}{}{}", tries_note(tries), then(&advice.timeout)),
            };
        }
        if err.is_connect() {
            return NetError::Failed {
                url,
                message: format!("could not connect: {detail}{}{}", tries_note(tries), then(&advice.connect)),
            };
        }
        NetError::Failed { url, message: detail }
    }

    /// A TLS failure said plainly, with what to do.
    fn explain_tls(&self, tls: &TlsFailure) -> String {
        let advice = &self.config.advice;
        let config = &self.config;
        match tls {
            TlsFailure::ServerCertificate { problem, detail } => {
                let todo = if config.ca_files.is_empty() && config.ca_pems.is_empty() {
                    advice.trust_ca.clone()
                } else {
                    let given: Vec<String> = config.ca_files.iter().map(|f| f.display().to_string()).collect();
                    let given =
                        if given.is_empty() { "given".to_owned() } else { format!("given ({})", given.join(", ")) };
                    format!(
                        "the CA certificates {given} do not vouch for it: check that they hold the CA that signed \
                         the depot's certificate"
                    )
                };
                format!("{} ({detail}); {todo}", problem.describe())
            }
            TlsFailure::Alert { problem, detail } => match (problem, &config.client_cert) {
                (AlertProblem::CertificateRequired, None) => format!(
                    "the depot requires a client certificate (mutual TLS) and none was given ({detail}); {}",
                    advice.client_certificate
                ),
                (AlertProblem::HandshakeFailure, None) => format!(
                    "the depot refused the TLS handshake ({detail}); if it requires a client certificate (mutual \
                     TLS), {}",
                    advice.client_certificate
                ),
                (AlertProblem::CertificateRequired, Some(cert)) => format!(
                    "the depot requires a client certificate but did not accept the one offered ({}; {detail}); \
                     check that the depot's CA issued it; {}",
                    cert.display(),
                    advice.replace_client_certificate
                ),
                (AlertProblem::CertificateRefused | AlertProblem::HandshakeFailure, Some(cert)) => format!(
                    "the depot refused this source's client certificate {} ({detail}): check that it is the \
                     certificate the depot's operator issued, signed by a CA the depot trusts and not expired; {}",
                    cert.display(),
                    advice.replace_client_certificate
                ),
                _ => format!("the TLS handshake failed ({detail})"),
            },
        }
    }
}

fn tries_note(tries: u32) -> String {
    if tries > 1 { format!(" (after {tries} tries)") } else { String::new() }
}

/// Sleep `wait`, in short steps that check `cancelled`; `Err` when cancelled.
fn sleep(wait: Duration, cancelled: Option<&dyn Fn() -> bool>) -> Result<(), ()> {
    let Some(cancelled) = cancelled else {
        std::thread::sleep(wait);
        return Ok(());
    };
    let until = Instant::now() + wait;
    loop {
        if cancelled() {
            return Err(());
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn parse_roots(pem: &[u8], what: &str) -> Result<Vec<reqwest::Certificate>, NetError> {
    let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| NetError::CaFile {
        what: what.to_owned(),
        problem: format!("not a PEM certificate bundle ({})", error_chain(&e)),
    })?;
    if certs.is_empty() {
        return Err(NetError::CaFile {
            what: what.to_owned(),
            problem: "no PEM certificates found ('-----BEGIN CERTIFICATE-----')".into(),
        });
    }
    Ok(certs)
}

/// A `Name: value` header; the value is marked sensitive (kept out of reqwest's `Debug`).
pub(crate) fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), NetError> {
    let Some((name, value)) = h.split_once(':') else {
        return Err(NetError::Header {
            problem: "a header must look like 'Name: value' (for example 'Authorization: Bearer …'); got a value \
                      without ':'"
                .into(),
        });
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| NetError::Header { problem: format!("'{}' is not a valid header name", name.trim()) })?;
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| NetError::Header {
        problem: format!("{name}: the value holds characters not allowed in a header"),
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The body of `response` as a reader whose errors name `url` redacted.
pub(crate) fn body_reader(response: Response, url: &Url) -> BodyReader {
    BodyReader { response, url: redact_url(url) }
}

/// Body read errors without the URL reqwest would put in them (it may carry a token).
pub(crate) struct BodyReader {
    response: Response,
    url: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.response.read(buf).map_err(|e| {
            let detail = e.get_ref().map_or_else(|| e.to_string(), |inner| error_chain(inner));
            io::Error::new(e.kind(), format!("reading the response body of {}: {detail}", self.url))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_validated_and_their_values_never_shown() {
        assert!(parse_header("Authorization: Bearer abc").is_ok());
        let e = parse_header("no colon").unwrap_err().to_string();
        assert!(e.contains("'Name: value'"), "{e}");
        assert!(parse_header("bad name: x").is_err());
        let e = parse_header("X-Token: s3cr\u{7}et").unwrap_err().to_string();
        assert!(!e.contains("s3cr"), "{e}");
    }

    #[test]
    fn unusable_setup_is_refused_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing\n").unwrap();
        let err = |c: ClientConfig| HttpClient::new(&c).unwrap_err().to_string();
        let e = err(ClientConfig { ca_files: vec![empty], ..Default::default() });
        assert!(e.contains("empty.pem") && e.contains("no PEM certificates"), "{e}");
        let e = err(ClientConfig { ca_files: vec![dir.path().join("missing.pem")], ..Default::default() });
        assert!(e.contains("missing.pem") && e.contains("cannot read"), "{e}");
        let e = err(ClientConfig { proxy: Some("http://u:pw@[bad".into()), ..Default::default() });
        assert!(e.contains("not a usable proxy") && !e.contains("pw"), "{e}");
        let e = err(ClientConfig { headers: vec!["nocolon".into()], ..Default::default() });
        assert!(e.contains("header"), "{e}");
    }

    #[test]
    fn other_schemes_are_refused() {
        let client = HttpClient::new(&ClientConfig::default()).unwrap();
        let url = Url::parse("ftp://example.com/x").unwrap();
        let Err(e) = client.get(&url, &GetRequest::default()) else { panic!("ftp fetched") };
        assert!(matches!(e, NetError::UnsupportedScheme { .. }), "{e}");
    }
}
