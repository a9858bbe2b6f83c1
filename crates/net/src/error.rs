use std::io;
use std::path::PathBuf;

use esxlcm_depot::source::FetchError;

/// A request or the client's setup failed. URLs are redacted; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{url}: not found")]
    NotFound { url: String },
    /// No answer within the connect or read timeout, after the retries.
    #[error("{url}: timed out: {message}")]
    TimedOut { url: String, message: String },
    /// The server answered with a status that is not an answer (404 aside).
    #[error("{url}: {message}")]
    Status { url: String, status: u16, message: String },
    /// No answer: connection, TLS, proxy or protocol failure.
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
    #[error("{url}: scheme '{scheme}' is not supported here (use http: or https:)")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("{url}: larger than the {limit} bytes allowed")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: cancelled")]
    Cancelled { url: String },
    /// Writing what was downloaded.
    #[error("{}: {source}", path.display())]
    LocalFile { path: PathBuf, source: io::Error },
    /// A trusted CA file or PEM text cannot be used.
    #[error("CA certificates {what}: {problem}")]
    CaFile { what: String, problem: String },
    #[error("proxy {proxy}: not a usable proxy URL")]
    Proxy { proxy: String },
    /// A request header given as `Name: value` is malformed (its value is never shown).
    #[error("header: {problem}")]
    Header { problem: String },
    /// The client certificate or key cannot be used; never carries key material.
    #[error("client certificate {}: {problem}", file.display())]
    ClientCertificate { file: PathBuf, problem: String },
    #[error("setting up the HTTP client: {message}")]
    Setup { message: String },
}

impl NetError {
    /// The redacted URL the error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::NotFound { url }
            | Self::TimedOut { url, .. }
            | Self::Status { url, .. }
            | Self::Failed { url, .. }
            | Self::Io { url, .. }
            | Self::UnsupportedScheme { url, .. }
            | Self::TooLarge { url, .. }
            | Self::Cancelled { url } => Some(url),
            _ => None,
        }
    }
}

/// For depot reading: the same text, in the depot crate's terms.
impl From<NetError> for FetchError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::NotFound { url } => FetchError::NotFound { url },
            NetError::UnsupportedScheme { url, scheme } => FetchError::UnsupportedScheme { url, scheme },
            NetError::Io { url, source } => FetchError::Io { url, source },
            NetError::TimedOut { url, message } => FetchError::Failed { url, message: format!("timed out: {message}") },
            NetError::Status { url, message, .. } | NetError::Failed { url, message } => {
                FetchError::Failed { url, message }
            }
            other => {
                let url = other.url().unwrap_or_default().to_owned();
                let message = match &other {
                    NetError::TooLarge { limit, .. } => format!("larger than the {limit} bytes allowed"),
                    NetError::Cancelled { .. } => "cancelled".to_owned(),
                    _ => other.to_string(),
                };
                FetchError::Failed { url, message }
            }
        }
    }
}
