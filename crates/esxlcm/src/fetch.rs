//! [`HttpFetch`]: the depot crate's [`Fetch`] over `http:`, `https:` and `file:` URLs.
//!
//! The depot crate does no network I/O; this is where the binary does it, with reqwest's
//! blocking client (rustls, the operating system's trust store, plus `--ca-file`).
//!
//! Depot URLs carry secrets: Broadcom download tokens sit in the path
//! (`https://dl.broadcom.com/<token>/PROD/…`), and some mirrors use userinfo or query
//! strings. Every URL that ends up in a message goes through [`redact_url`] first, and
//! header values given with `--header` are marked sensitive and never logged.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use esxlcm_depot::source::http_problem::{CertificateProblem, StatusProblem};
use esxlcm_depot::source::redact::error_chain;
pub use esxlcm_depot::source::redact::{redact_text, redact_url, redact_url_str};

use anyhow::{Context as _, bail};
use esxlcm_depot::source::{Fetch, FetchError, FileFetch};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

/// How to reach online depots.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Extra trusted CA certificates (PEM bundles), added to the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// An explicit proxy for every request; `None` uses `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// Extra request headers, `Name: value` (typically `Authorization`).
    pub headers: Vec<String>,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for each step after that: sending the request, and each read of the body.
    pub read_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            ca_files: Vec::new(),
            proxy: None,
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Fetches depot files over HTTP(S) (and `file:` through [`FileFetch`]).
pub struct HttpFetch {
    client: Client,
}

impl fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetch").finish_non_exhaustive()
    }
}

impl HttpFetch {
    /// Build the client. Fails on an unreadable or invalid `--ca-file`, a malformed
    /// `--proxy` or `--header`: those are usage errors, reported before any request.
    pub fn new(options: &HttpOptions) -> anyhow::Result<Self> {
        let mut builder = Client::builder()
            .user_agent(concat!("esxlcm/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .timeout(options.read_timeout)
            .default_headers(parse_headers(&options.headers)?);
        let mut extra_roots = Vec::new();
        for file in &options.ca_files {
            let pem = std::fs::read(file).with_context(|| format!("reading --ca-file {}", file.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("--ca-file {}: not a PEM certificate bundle", file.display()))?;
            if certs.is_empty() {
                bail!("--ca-file {}: no PEM certificates found ('-----BEGIN CERTIFICATE-----')", file.display());
            }
            extra_roots.extend(certs);
        }
        if !extra_roots.is_empty() {
            builder = builder.tls_certs_merge(extra_roots);
        }
        if let Some(proxy) = &options.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(reqwest::Error::without_url)
                .with_context(|| format!("--proxy {}: not a usable proxy URL", redact_url_str(proxy)))?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(reqwest::Error::without_url).context("setting up the HTTP client")?;
        Ok(Self { client })
    }
}

impl Fetch for HttpFetch {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        match url.scheme() {
            "file" => return FileFetch.open(url),
            "http" | "https" => {}
            other => {
                return Err(FetchError::UnsupportedScheme { url: redact_url(url), scheme: other.to_owned() });
            }
        }
        let shown = redact_url(url);
        tracing::debug!(url = %shown, "GET");
        let response = self.client.get(url.clone()).send().map_err(|e| request_error(&shown, &e))?;
        let status = response.status();
        tracing::debug!(url = %shown, status = status.as_u16(), "response");
        if status.is_success() {
            return Ok(Box::new(BodyReader { inner: response, url: shown }));
        }
        Err(status_error(shown, status))
    }
}

/// Maps read errors of the body to messages without the URL's secrets.
struct BodyReader {
    inner: reqwest::blocking::Response,
    url: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let kind = e.kind();
            let detail = match e.get_ref() {
                Some(inner) => error_chain(inner),
                None => e.to_string(),
            };
            io::Error::new(kind, format!("reading the response body of {}: {detail}", self.url))
        })
    }
}

fn status_error(url: String, status: StatusCode) -> FetchError {
    match StatusProblem::of(status.as_u16()) {
        Some(StatusProblem::NotFound) => FetchError::NotFound { url },
        problem => FetchError::Failed {
            url,
            message: problem
                .unwrap_or(StatusProblem::Unexpected)
                .message(status.as_u16(), "check the token in the URL or the --header"),
        },
    }
}

fn request_error(url: &str, err: &reqwest::Error) -> FetchError {
    let detail = error_chain(err);
    let message = if let Some(problem) = CertificateProblem::classify(&detail) {
        format!(
            "{} ({detail}); if the depot uses a private or corporate CA, pass its certificate with --ca-file FILE.pem",
            problem.describe()
        )
    } else if err.is_timeout() {
        format!("timed out: {detail}. Raise --timeout/--connect-timeout, or check --proxy / HTTPS_PROXY")
    } else if err.is_connect() {
        format!("could not connect: {detail}. Check the host name and port, and --proxy / HTTPS_PROXY")
    } else {
        detail
    };
    FetchError::Failed { url: url.to_owned(), message }
}

fn parse_headers(headers: &[String]) -> anyhow::Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for h in headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!(
                "--header must look like 'Name: value' (for example 'Authorization: Bearer …'); got a value without ':'"
            );
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("--header: '{}' is not a valid header name", name.trim()))?;
        let mut value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("--header {name}: the value holds characters not allowed in a header"))?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_validated() {
        assert!(parse_headers(&["Authorization: Bearer abc".into()]).is_ok());
        assert!(parse_headers(&["no colon".into()]).is_err());
        assert!(parse_headers(&["bad name: x".into()]).is_err());
    }

    #[test]
    fn status_messages_explain() {
        let e = status_error("u".into(), StatusCode::UNAUTHORIZED).to_string();
        assert!(e.contains("download tokens expire"), "{e}");
        assert!(matches!(status_error("u".into(), StatusCode::NOT_FOUND), FetchError::NotFound { .. }));
    }
}
