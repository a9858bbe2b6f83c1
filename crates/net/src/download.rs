//! Whole downloads for the API server (blocking: call them from `spawn_blocking`):
//! [`HttpClient::download_to_file`] for an offline depot PULL of a bundle, with a byte cap,
//! progress and cancellation; [`HttpClient::fetch_to_vec`] for a small document (a spec
//! import). Both retry like every GET; a body that fails halfway is not resumed.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use url::Url;

use crate::client::{Extra, parse_header};
use crate::redact::redact_url;
use crate::{GetRequest, HttpClient, NetError};

/// How to run one [`HttpClient::download_to_file`].
pub struct Download<'a> {
    /// Refuse a body larger than this (checked against Content-Length first, then as it comes).
    pub max_bytes: u64,
    /// One more request header, `Name: value` (a token for this URL only); never logged.
    pub header: Option<&'a str>,
    /// Told the bytes written so far and the announced total, after each chunk.
    pub progress: &'a dyn Fn(u64, Option<u64>),
    /// Asked before the request, during waits between retries and after each chunk; `true`
    /// stops the download with [`NetError::Cancelled`].
    pub cancelled: &'a dyn Fn() -> bool,
}

impl HttpClient {
    /// Download `url` into `dest` (created or truncated) and return its size. On any error
    /// `dest` is removed, so a file left there is whole.
    pub fn download_to_file(&self, url: &Url, dest: &Path, download: &Download<'_>) -> Result<u64, NetError> {
        let result = self.download_inner(url, dest, download);
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    fn download_inner(&self, url: &Url, dest: &Path, d: &Download<'_>) -> Result<u64, NetError> {
        let shown = redact_url(url);
        let header = d.header.map(parse_header).transpose()?;
        let extra = Extra { header, cancelled: Some(d.cancelled) };
        let response = self.send(url, &GetRequest::default(), &extra)?;
        let total = response.content_length();
        if total.is_some_and(|n| n > d.max_bytes) {
            return Err(NetError::TooLarge { url: shown, limit: d.max_bytes });
        }
        let local = |source| NetError::LocalFile { path: dest.to_path_buf(), source };
        let mut out = BufWriter::new(File::create(dest).map_err(local)?);
        let mut reader = crate::client::body_reader(response, url);
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            if (d.cancelled)() {
                return Err(NetError::Cancelled { url: shown });
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(NetError::Io { url: shown, source }),
            };
            written += n as u64;
            if written > d.max_bytes {
                return Err(NetError::TooLarge { url: shown, limit: d.max_bytes });
            }
            out.write_all(buf.get(..n).unwrap_or_default()).map_err(local)?;
            (d.progress)(written, total);
        }
        out.into_inner().map_err(|e| local(e.into_error()))?.sync_all().map_err(local)?;
        Ok(written)
    }

    /// GET a small document whole, refusing more than `limit` bytes.
    pub fn fetch_to_vec(&self, url: &Url, limit: u64) -> Result<Vec<u8>, NetError> {
        let shown = redact_url(url);
        let response = self.send(url, &GetRequest::default(), &Extra::default())?;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(NetError::TooLarge { url: shown, limit });
        }
        let mut out = Vec::new();
        crate::client::body_reader(response, url)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|source| NetError::Io { url: shown.clone(), source })?;
        if out.len() as u64 > limit {
            return Err(NetError::TooLarge { url: shown, limit });
        }
        Ok(out)
    }
}
