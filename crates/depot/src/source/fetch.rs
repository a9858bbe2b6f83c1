//! How bytes of an online depot are obtained. The depot crate does no network I/O:
//! `esxlcm-net`'s client implements [`Fetch`] over HTTP(S); [`FileFetch`] serves `file:`.

use std::fs::File;
use std::io::{self, Read};

use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: not found")]
    NotFound { url: String },
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    #[error("{url}: scheme '{scheme}' is not supported here (use file:, http: or https:)")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
}

/// Opens a URL for streaming reads.
pub trait Fetch: Send + Sync {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError>;
}

/// Reads `file:` URLs only.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileFetch;

impl Fetch for FileFetch {
    fn open(&self, url: &Url) -> Result<Box<dyn Read + Send>, FetchError> {
        if url.scheme() != "file" {
            return Err(FetchError::UnsupportedScheme { url: url.to_string(), scheme: url.scheme().to_owned() });
        }
        let path = url
            .to_file_path()
            .map_err(|()| FetchError::Failed { url: url.to_string(), message: "not a local path".into() })?;
        match File::open(&path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FetchError::NotFound { url: url.to_string() }),
            Err(source) => Err(FetchError::Io { url: url.to_string(), source }),
        }
    }
}

/// Read a whole (small) document through a fetcher, capped at `limit` bytes.
pub fn fetch_to_vec(fetch: &dyn Fetch, url: &Url, limit: u64) -> Result<Vec<u8>, FetchError> {
    let reader = fetch.open(url)?;
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| FetchError::Io { url: url.to_string(), source })?;
    if out.len() as u64 > limit {
        return Err(FetchError::Failed {
            url: url.to_string(),
            message: format!("document larger than {limit} bytes"),
        });
    }
    Ok(out)
}
