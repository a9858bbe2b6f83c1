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

use esxlcm_depot::source::{ContainerError, FetchError, SourceError};

use crate::fetch::redact_text;

pub mod audit;
pub mod check;
pub mod common;
pub mod completions;
pub mod export;
pub mod generate;
pub mod host;
pub mod image;
pub mod image_build;
pub mod image_inspect;
pub mod inspect;
pub mod mirror;
pub mod serve;
pub mod store;
pub mod users;

pub use common::{ContentError, Context, Status, exit};

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
