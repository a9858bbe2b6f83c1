//! One module per subcommand. Each has an `…Args` struct (clap derive, plugged into
//! [`crate::cli`]) and a `run` function:
//!
//! ```text
//! pub fn run(args: &XArgs, ctx: &Context) -> anyhow::Result<Status>
//! ```
//!
//! * `Ok(Status::Success)` exits 0, `Ok(Status::Findings)` exits 1 (the command worked
//!   and found problems in the content it looked at).
//! * `Err(e)` exits 1 when the error is about content (an unreadable depot document, see
//!   [`ContentError`] and [`exit_code_of`]) and 2 otherwise (usage, I/O, network).
//! * Output goes to the writer of [`crate::output`]; logs and errors to stderr.

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use esxlcm_depot::source::{ContainerError, Depot, FetchError, OpenOptions, SourceError};

use crate::fetch::{redact_text, redact_url_str};
use esxlcm_net::{ClientConfig, HttpClient};

pub mod audit;
pub mod check;
pub mod export;
pub mod generate;
pub mod image;
pub mod image_build;
pub mod image_inspect;
pub mod inspect;
pub mod mirror;
pub mod mirror_view;
pub mod serve;
pub mod users;

/// What a command that ran to the end found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing to report: exit 0.
    Success,
    /// The content has problems the command reported: exit 1.
    Findings,
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

/// The exit code for an error: 1 if it is about content, 2 for usage, I/O and network.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ContentError>().is_some() {
            return exit::FINDINGS;
        }
        if let Some(e) = cause.downcast_ref::<SourceError>() {
            return if source_error_is_content(e) { exit::FINDINGS } else { exit::USAGE_OR_IO };
        }
        if cause.downcast_ref::<FetchError>().is_some() || cause.downcast_ref::<std::io::Error>().is_some() {
            return exit::USAGE_OR_IO;
        }
    }
    exit::USAGE_OR_IO
}

fn source_error_is_content(e: &SourceError) -> bool {
    match e {
        SourceError::Io { .. } => false,
        SourceError::Container(c) => match c {
            ContainerError::Io { .. } | ContainerError::Fetch(_) => false,
            ContainerError::NotFound { .. }
            | ContainerError::Archive { .. }
            | ContainerError::UnsupportedCompression { .. } => true,
        },
        SourceError::Document { .. }
        | SourceError::Metadata { .. }
        | SourceError::NotADepot { .. }
        | SourceError::EscapingPath { .. }
        | SourceError::Vib { .. } => true,
    }
}

/// The error and its causes, one per line. A cause whose text the line above already
/// ends with is left out (typed errors often print `{file}: {source}`).
pub fn render_error(err: &anyhow::Error) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = redact_text(&cause.to_string());
        if text.is_empty() {
            continue;
        }
        if lines.last().is_some_and(|prev| prev.ends_with(&text)) {
            continue;
        }
        lines.push(text);
    }
    lines
}

/// Was the error a closed stdout (`esxlcm … | head`)? Then there is nothing to report.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().filter_map(|c| c.downcast_ref::<std::io::Error>()).any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
