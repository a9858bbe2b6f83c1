//! How the server reads online depots: [`HttpFetch`] implements the depot crate's
//! [`Fetch`] over HTTP(S) with the async reqwest client (rustls, the system's roots plus
//! `trusted_ca_files` of `config.json` plus the chains added through
//! `vcenter.certificate_management.vcenter.trusted_root_chains`), bridged to the blocking `Read` the depot crate
//! wants through the runtime's handle — callers are on blocking threads (`spawn_blocking`).
//!
//! A sync stores the documents of the index chain (vendor list, vendor indexes, metadata
//! zips) in a cache directory through [`RecordingFetch`]; the catalog then reads them back
//! through [`CachedFetch`], which goes to the network only for what is not cached: VIBs,
//! fetched when an export needs them.
//!
//! Depot URLs carry secrets (download tokens in the path, userinfo, query strings): every
//! URL in a message goes through [`redact_url`], and cache file names are hashes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use esxlcm_depot::source::http_problem::{CertificateProblem, StatusProblem};
use esxlcm_depot::source::redact::error_chain;
pub use esxlcm_depot::source::redact::{redact_text, redact_url, redact_url_str};

use esxlcm_depot::source::{Fetch, FetchError};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum FetchSetupError {
    #[error("trusted CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error(
        "trusted root chain number {index} (trusted_root_chains in state.json) is unusable: {reason}; remove it there"
    )]
    Chain { index: usize, reason: String },
    #[error("setting up the HTTP client: {0}")]
    Client(String),
    #[error("the HTTP client needs a tokio runtime")]
    NoRuntime,
}

/// Fetches `http:` and `https:` URLs (nothing local: an online depot must not read the
/// server's own files).
pub struct HttpFetch {
    /// Rebuilt when the API's trusted root chains change; requests clone it (cheap).
    client: std::sync::RwLock<reqwest::Client>,
    /// The roots of `trusted_ca_files`, kept for rebuilding.
    file_roots: Vec<reqwest::Certificate>,
    rt: tokio::runtime::Handle,
}

impl HttpFetch {
    pub fn new(ca_files: &[PathBuf]) -> Result<Self, FetchSetupError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| FetchSetupError::NoRuntime)?;
        let mut roots = Vec::new();
        for path in ca_files {
            let pem = std::fs::read(path)
                .map_err(|e| FetchSetupError::CaFile { path: path.clone(), reason: e.to_string() })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| FetchSetupError::CaFile { path: path.clone(), reason: e.to_string() })?;
            if certs.is_empty() {
                return Err(FetchSetupError::CaFile { path: path.clone(), reason: "no PEM certificates found".into() });
            }
            roots.extend(certs);
        }
        let client = build_client(roots.clone())?;
        Ok(Self { client: std::sync::RwLock::new(client), file_roots: roots, rt })
    }

    /// Trust `chains` (PEM, as added through the API) besides the system's roots and
    /// `trusted_ca_files`, from the next request on; an empty list trusts them no more.
    pub fn set_api_roots(&self, chains: &[String]) -> Result<(), FetchSetupError> {
        let mut roots = self.file_roots.clone();
        for (i, pem) in chains.iter().enumerate() {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| FetchSetupError::Chain { index: i, reason: e.to_string() })?;
            roots.extend(certs);
        }
        let client = build_client(roots)?;
        *self.client.write().unwrap_or_else(std::sync::PoisonError::into_inner) = client;
        Ok(())
    }

    fn client(&self) -> reqwest::Client {
        self.client.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn build_client(roots: Vec<reqwest::Certificate>) -> Result<reqwest::Client, FetchSetupError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("esxlcm-server/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60));
    if !roots.is_empty() {
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().map_err(|e| FetchSetupError::Client(error_chain(&e)))
}

impl Fetch for HttpFetch {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        let shown = redact_url(url);
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::UnsupportedScheme { url: shown, scheme: url.scheme().to_owned() });
        }
        tracing::debug!(url = %shown, "GET");
        let response =
            self.rt.block_on(self.client().get(url.clone()).send()).map_err(|e| request_error(&shown, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(shown, status));
        }
        Ok(Box::new(BodyReader { response, rt: self.rt.clone(), pending: Default::default(), url: shown }))
    }
}

/// The body, chunk by chunk, as a blocking reader.
struct BodyReader {
    response: reqwest::Response,
    rt: tokio::runtime::Handle,
    pending: axum::body::Bytes,
    url: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.rt.block_on(self.response.chunk()) {
                Ok(Some(chunk)) => self.pending = chunk,
                Ok(None) => return Ok(0),
                Err(e) => {
                    return Err(io::Error::other(format!(
                        "reading the response body of {}: {}",
                        self.url,
                        error_chain(&e)
                    )));
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

fn status_error(url: String, status: StatusCode) -> FetchError {
    match StatusProblem::of(status.as_u16()) {
        Some(StatusProblem::NotFound) => FetchError::NotFound { url },
        problem => FetchError::Failed {
            url,
            message: problem
                .unwrap_or(StatusProblem::Unexpected)
                .message(status.as_u16(), "check the token in the location"),
        },
    }
}

fn request_error(url: &str, err: &reqwest::Error) -> FetchError {
    let detail = error_chain(err);
    let message = if let Some(problem) = CertificateProblem::classify(&detail) {
        format!(
            "{} ({detail}): the certificate was not accepted. If the depot uses a private CA, add its certificate \
             as a trusted root chain (POST /api/vcenter/certificate-management/vcenter/trusted-root-chains) or to \
             trusted_ca_files in the server's config.json",
            problem.describe()
        )
    } else if err.is_timeout() {
        format!("timed out: {detail}")
    } else if err.is_connect() {
        format!("could not connect: {detail}")
    } else {
        detail
    };
    FetchError::Failed { url: url.to_owned(), message }
}

/// The cache file of a URL: a hash, so tokens in the URL are not written to disk.
fn cache_name(url: &Url) -> String {
    hex::encode(Sha256::digest(url.as_str().as_bytes()))
}

/// Serves what a sync cached; everything else (VIBs) from `inner`.
pub struct CachedFetch {
    pub dir: PathBuf,
    pub inner: Arc<dyn Fetch>,
}

impl Fetch for CachedFetch {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        let name = cache_name(url);
        if self.dir.join(format!("{name}.missing")).exists() {
            return Err(FetchError::NotFound { url: redact_url(url) });
        }
        match File::open(self.dir.join(name)) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.inner.open(url),
            Err(source) => Err(FetchError::Io { url: redact_url(url), source }),
        }
    }
}

/// Fetches through `inner` and keeps a copy of each document in `dir` (used while a sync
/// reads the index chain, which is all it reads).
pub struct RecordingFetch {
    pub dir: PathBuf,
    pub inner: Arc<dyn Fetch>,
    pub files: AtomicU64,
    pub bytes: AtomicU64,
    /// Told the running totals after each document.
    pub on_file: Box<dyn Fn(u64, u64) + Send + Sync>,
}

impl Fetch for RecordingFetch {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        let shown = redact_url(url);
        let path = self.dir.join(cache_name(url));
        let io_err = |source: io::Error| FetchError::Io { url: shown.clone(), source };
        let mut reader = match self.inner.open(url) {
            // The vendor list is probed under two names: remember which one is absent.
            Err(FetchError::NotFound { url }) => {
                File::create(path.with_extension("missing")).map_err(io_err)?;
                return Err(FetchError::NotFound { url });
            }
            other => other?,
        };
        let mut out = File::create(&path).map_err(io_err)?;
        let n = io::copy(&mut reader, &mut out).map_err(io_err)?;
        out.flush().map_err(io_err)?;
        drop(out);
        let files = self.files.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        (self.on_file)(files, bytes);
        Ok(Box::new(File::open(&path).map_err(io_err)?))
    }
}

/// Only the cache: for reading a synced depot without touching the network.
pub struct CacheOnly;

impl Fetch for CacheOnly {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        Err(FetchError::Failed { url: redact_url(url), message: "not in the synced metadata".into() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn cache_serves_recorded_files_and_falls_through() {
        struct Fixed;
        impl Fetch for Fixed {
            fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
                Ok(Box::new(io::Cursor::new(url.path().as_bytes().to_vec())))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let rec = RecordingFetch {
            dir: dir.path().to_path_buf(),
            inner: Arc::new(Fixed),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            on_file: Box::new(|_, _| {}),
        };
        let a = Url::parse("http://h/a.xml").unwrap();
        let mut s = String::new();
        rec.open(&a).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "/a.xml");
        let cached = CachedFetch { dir: dir.path().to_path_buf(), inner: Arc::new(CacheOnly) };
        s.clear();
        cached.open(&a).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "/a.xml");
        assert!(cached.open(&Url::parse("http://h/b.vib").unwrap()).is_err());
    }
}
