use std::path::PathBuf;
use std::time::Duration;

use crate::RetryPolicy;

/// Everything about how to reach depots over HTTP(S). One value per client: the CLI builds
/// it from its flags, the mirror from a source's settings, the API server from its config.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Extra trusted CA certificates (PEM bundles), added to the system's roots.
    pub ca_files: Vec<PathBuf>,
    /// Extra trusted CA certificates given as PEM text (the API's trusted root chains),
    /// added to the system's roots as well.
    pub ca_pems: Vec<String>,
    /// An explicit proxy for every request; `None` uses `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// Extra request headers, `Name: value` (typically `Authorization`); never logged.
    pub headers: Vec<String>,
    /// Client certificate (PEM) for mutual TLS, and its key when not in the same file.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for each step after that: the response, and each read of the body
    /// (not the whole transfer: VIBs can be large).
    pub read_timeout: Duration,
    pub retry: RetryPolicy,
    /// Whether [`Fetch::open`](esxlcm_depot::source::Fetch::open) also reads `file:` URLs:
    /// yes for the CLI (a depot given as a path), no for a server reading depots on behalf
    /// of others (it must not read its own files).
    pub file_urls: bool,
    pub user_agent: String,
    /// What each kind of failure tells the user to do, in the caller's terms.
    pub advice: Advice,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            proxy: None,
            headers: Vec::new(),
            client_cert: None,
            client_key: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            file_urls: false,
            user_agent: concat!("esxlcm/", env!("CARGO_PKG_VERSION")).to_owned(),
            advice: Advice::default(),
        }
    }
}

/// The caller's words for what to do about a failure (its flags, its commands, its API).
/// An empty text adds nothing.
#[derive(Debug, Clone)]
pub struct Advice {
    /// After the server's certificate was refused and no CA was given: how to trust a CA.
    pub trust_ca: String,
    /// After a 401/403: where the token lives.
    pub credentials: String,
    /// After the server asked for a client certificate and none was given: how to give one.
    pub client_certificate: String,
    /// After the server refused the client certificate given: how to give another.
    pub replace_client_certificate: String,
    /// After a timeout: what to raise or check.
    pub timeout: String,
    /// After a failed connection: what to check.
    pub connect: String,
}

impl Default for Advice {
    fn default() -> Self {
        Self {
            trust_ca: "if the depot uses a private or corporate CA, add its CA certificate (PEM) to the trusted \
                       CA certificates"
                .into(),
            credentials: "check the token in the URL or the request headers".into(),
            client_certificate: "give the certificate and key (PEM) the depot's operator issued".into(),
            replace_client_certificate: "give the right client certificate and key".into(),
            timeout: String::new(),
            connect: String::new(),
        }
    }
}
