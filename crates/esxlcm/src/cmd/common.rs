//! What the command line and every command share, in one place both import (so `cli.rs`,
//! which assembles the commands' arguments, and the commands never import each other):
//! the network flags, the [`Context`] they become, a command's [`Status`] and exit codes.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use clap::builder::{EnumValueParser, TypedValueParser as _};
use clap::{Args, ValueEnum};
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_net::{ClientConfig, HttpClient};

use crate::fetch::redact_url_str;

/// What a command that ran to the end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing to report: exit 0.
    Success,
    /// The content has problems the command reported: exit 1.
    Findings,
}

impl Status {
    /// `Findings` when either found problems.
    pub fn combine(self, other: Status) -> Status {
        if self == Status::Findings || other == Status::Findings { Status::Findings } else { Status::Success }
    }
}

/// Exit codes, as documented in `esxlcm --help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FINDINGS: u8 = 1;
    pub const USAGE_OR_IO: u8 = 2;
}

/// Shared by every command: how to reach online depots.
#[derive(Debug)]
pub struct Context {
    http: ClientConfig,
    fetch: OnceLock<Arc<HttpClient>>,
}

impl Context {
    pub fn new(http: ClientConfig) -> Self {
        Self { http, fetch: OnceLock::new() }
    }

    /// The HTTP fetcher, built on first use (a bad `--ca-file` is reported here).
    pub fn fetch(&self) -> anyhow::Result<Arc<HttpClient>> {
        if let Some(f) = self.fetch.get() {
            return Ok(Arc::clone(f));
        }
        let f = Arc::new(
            HttpClient::new(&self.http).context("the network options (--ca-file, --proxy, --header) cannot be used")?,
        );
        Ok(Arc::clone(self.fetch.get_or_init(|| f)))
    }

    /// Options for [`Depot::open`] that read `http(s):` and `file:` URLs.
    pub fn open_options(&self) -> anyhow::Result<OpenOptions> {
        Ok(OpenOptions { fetch: self.fetch()?, ..Default::default() })
    }

    /// Open one depot source (path or URL) with a message that names it.
    pub fn open_depot(&self, source: &str) -> anyhow::Result<Depot> {
        let options = self.open_options()?;
        Depot::open(source, &options).with_context(|| format!("cannot read depot {}", redact_url_str(source)))
    }
}

/// An error in the content of the input (exit 1), for commands that find one outside
/// the depot crate's own error types.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ContentError(pub String);

/// How to reach online depots; accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Network options (online depots)")]
pub struct NetworkArgs {
    /// Also trust the CA certificates in this PEM file (repeatable)
    #[arg(long = "ca-file", value_name = "FILE.pem", global = true)]
    pub ca_files: Vec<PathBuf>,

    /// Send every request through this proxy (default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY)
    #[arg(long, value_name = "URL", global = true)]
    pub proxy: Option<String>,

    /// Add a request header, e.g. 'Authorization: Bearer TOKEN' (repeatable; never logged)
    #[arg(
        long = "header",
        value_name = "NAME: VALUE",
        global = true,
        env = "ESXLCM_HTTP_HEADER",
        hide_env_values = true
    )]
    pub headers: Vec<String>,

    /// Seconds allowed to connect to a server
    #[arg(long, value_name = "SECONDS", default_value_t = 15, global = true)]
    pub connect_timeout: u64,

    /// Seconds allowed for each step after connecting (the response, each read of a body)
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub timeout: u64,
}

impl NetworkArgs {
    /// The HTTP client's configuration: these flags, the CLI's advice, `file:` URLs allowed.
    pub fn to_options(&self) -> ClientConfig {
        ClientConfig {
            ca_files: self.ca_files.clone(),
            proxy: self.proxy.clone(),
            headers: self.headers.clone(),
            connect_timeout: Duration::from_secs(self.connect_timeout),
            read_timeout: Duration::from_secs(self.timeout),
            file_urls: true,
            advice: crate::fetch::advice(),
            ..Default::default()
        }
    }
}

/// An acceptance level on the command line (`--min-acceptance`): the four levels, with the
/// descriptor spellings as aliases, listed by `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LevelArg {
    #[value(alias = "vmwarecertified", alias = "vmware_certified")]
    Certified,
    #[value(alias = "vmwareaccepted", alias = "vmware_accepted")]
    Accepted,
    #[value(alias = "partnersupported", alias = "partner_supported")]
    Partner,
    #[value(alias = "communitysupported", alias = "community_supported")]
    Community,
}

impl From<LevelArg> for AcceptanceLevel {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Certified => AcceptanceLevel::Certified,
            LevelArg::Accepted => AcceptanceLevel::Accepted,
            LevelArg::Partner => AcceptanceLevel::Partner,
            LevelArg::Community => AcceptanceLevel::Community,
        }
    }
}

/// The parser of `--min-acceptance`: the choices of [`LevelArg`], as an [`AcceptanceLevel`].
pub fn level_parser() -> impl clap::builder::TypedValueParser<Value = AcceptanceLevel> {
    EnumValueParser::<LevelArg>::new().map(AcceptanceLevel::from)
}

/// `--database` and `--blobs`: the scale-out backends of a store (`esxlcm serve`,
/// `esxlcm mirror …`). Unset, the store is SQLite and blobs in its directory.
#[derive(Debug, Clone, Default, Args)]
pub struct BackendArgs {
    /// Keep the store's metadata in PostgreSQL (postgres://USER[:PASSWORD]@HOST:PORT/DB)
    /// instead of SQLite, so several `esxlcm serve` replicas share it; migrated on start
    #[arg(long, value_name = "URL", env = "ESXLCM_DATABASE", global = true, hide_env_values = true)]
    pub database: Option<String>,

    /// Keep the store's payloads in an S3-compatible bucket (s3://BUCKET/PREFIX) instead of
    /// the local directory; endpoint and credentials from AWS_ENDPOINT_URL,
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (AWS_ALLOW_HTTP=true for a
    /// plain-http endpoint); blobs read are cached locally (ESXLCM_BLOB_CACHE_MIB, default 4096)
    #[arg(long, value_name = "URL", env = "ESXLCM_BLOBS", global = true)]
    pub blobs: Option<String>,
}

impl BackendArgs {
    /// The store at `root` (this node's directory) on these backends.
    pub fn location(&self, root: &std::path::Path) -> anyhow::Result<esxlcm_store::StoreLocation> {
        Ok(esxlcm_store::StoreLocation::parse(root, self.database.as_deref(), self.blobs.as_deref())?)
    }
}
