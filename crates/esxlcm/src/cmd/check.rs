//! `esxlcm depot check SOURCE…`: partner packaging checks, as ESXi, esxcli and vLCM would
//! see the depots. The checks live in `esxlcm_depot::check`; this module parses the
//! arguments, reports progress, redacts URL secrets and renders the report (text, or JSON
//! `esxlcm.check/1`, documented in `docs/check.md`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::Context as _;
use clap::Args;
use esxlcm_depot::check::{self, CheckOptions, CheckProgress, CheckRun, Finding};
use esxlcm_depot::vib::TrustStore;
use indicatif::ProgressBar;

use super::{Context, Status};
use crate::fetch::redact_url_str;
use crate::output::{self, count, human_size};

const AFTER_HELP: &str = "\
A SOURCE is an offline bundle (.zip, also a ZIP that wraps one), a single .vib, an unpacked
depot directory, or the URL of an online depot (http://, https:// or file://). Each source
is checked on its own, then all of them together (one VIB ID, component or add-on must not
mean different content in two sources).

Every finding has a stable rule id (e.g. vib-checksum, signature-missing); docs/check.md
lists them all with what fixes each.

Examples:
  esxlcm depot check my-driver-offline-bundle.zip
  esxlcm depot check my-driver.zip --trust vmware-ca.pem
  esxlcm depot check ./depot-dir --no-payloads --jobs 8
  esxlcm depot check a.zip b.zip --json | jq '.reports[].findings[] | select(.severity == \"error\")'

Exit status: 0 no error finding (warnings allowed), 1 at least one error finding,
2 usage errors, unreadable sources or --trust file, network errors.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct CheckArgs {
    /// Depots to check: bundle .zip, .vib, depot directory, or URL (see below)
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    /// Write one JSON object (schema esxlcm.check/1) instead of text
    #[arg(long)]
    pub json: bool,

    /// Require every signature to chain to a certificate in this PEM file (or to VMware's, built in)
    #[arg(long, value_name = "FILE.pem")]
    pub trust: Option<PathBuf>,

    /// Skip decompressing payloads (check only their stored sha-256 and size)
    #[arg(long)]
    pub no_payloads: bool,

    /// VIB files to verify in parallel [default: number of CPUs]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
}

pub fn run(args: &CheckArgs, ctx: &Context) -> anyhow::Result<Status> {
    let trust = match &args.trust {
        Some(path) => {
            // A CA bundle is a few KiB; 1 MiB holds hundreds of certificates.
            let pem = esxlcm_depot::input::read_capped(path, 1 << 20, "a --trust PEM file")
                .with_context(|| format!("cannot read --trust file {}", path.display()))?;
            // Partners add their anchors to VMware's built-in one.
            let store = TrustStore::from_pem(&pem)
                .with_context(|| format!("--trust {}: not usable as trust anchors", path.display()))?
                .with_builtin();
            tracing::info!(anchors = ?store.subjects(), "trust anchors");
            Some(Arc::new(store))
        }
        None => None,
    };
    let jobs = args
        .jobs
        .map_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get), usize::from);
    let options = CheckOptions { verify_payloads: !args.no_payloads, trust, jobs, ..CheckOptions::default() };
    let open = ctx.open_options()?;
    // A bar on a terminal; log lines (shown with -v) when stderr is a file or a pipe, or
    // bars are off (-q, --no-progress).
    let progress: Box<dyn CheckProgress> =
        if output::ui().progress { Box::new(BarProgress::new()) } else { Box::new(LogProgress::default()) };
    let mut run = check::check_sources(&args.sources, &open, &options, progress.as_ref())?;
    drop(progress);
    redact(&mut run);

    let mut out = output::stdout();
    if args.json {
        out.write_all(run.to_json().as_bytes())?;
        writeln!(out)?;
    } else {
        out.write_all(run.to_text().as_bytes())?;
    }
    out.flush()?;
    Ok(if run.has_errors() { Status::Findings } else { Status::Success })
}

/// Progress as log lines (`-v` shows them): one per source, one per VIB file.
#[derive(Debug, Default)]
struct LogProgress {
    total: AtomicUsize,
    done: AtomicUsize,
    total_bytes: AtomicU64,
    done_bytes: AtomicU64,
}

impl CheckProgress for LogProgress {
    fn source_started(&self, label: &str, vib_files: usize, bytes: u64) {
        self.total.store(vib_files, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.total_bytes.store(bytes, Ordering::Relaxed);
        self.done_bytes.store(0, Ordering::Relaxed);
        tracing::info!(
            "checking {}: {} ({})",
            redact_url_str(label),
            count(vib_files, "VIB file", "VIB files"),
            human_size(bytes)
        );
    }

    fn vib_started(&self, vib: &str, _file: &str) {
        tracing::debug!("verifying {vib}");
    }

    fn vib_finished(&self, vib: &str, _file: &str, bytes: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let done_bytes = self.done_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        tracing::info!(
            "[{done}/{}] {vib} ({} of {})",
            self.total.load(Ordering::Relaxed),
            human_size(done_bytes),
            human_size(self.total_bytes.load(Ordering::Relaxed))
        );
    }
}

/// A progress bar over the bytes of VIB files verified, on stderr.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    fn new() -> Self {
        Self { bar: output::bytes_bar("", None) }
    }
}

impl CheckProgress for BarProgress {
    fn source_started(&self, label: &str, vib_files: usize, bytes: u64) {
        self.bar.reset();
        self.bar.set_length(bytes);
        self.bar.set_message(format!("{} ({})", redact_url_str(label), count(vib_files, "VIB file", "VIB files")));
    }

    fn vib_finished(&self, _vib: &str, _file: &str, bytes: u64) {
        self.bar.inc(bytes);
    }
}

impl Drop for BarProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Download tokens and credentials in URLs never reach the output.
fn redact(run: &mut CheckRun) {
    fn finding(f: &mut Finding) {
        f.message = redact_text(&f.message);
        if let Some(file) = &mut f.file {
            *file = redact_text(file);
        }
    }
    for report in &mut run.reports {
        report.source = redact_url_str(&report.source);
        report.label = redact_text(&report.label);
        report.findings.iter_mut().for_each(finding);
        for vib in &mut report.vibs {
            vib.file = redact_text(&vib.file);
        }
    }
    run.findings.iter_mut().for_each(finding);
}

/// Every `http(s)://` URL inside `text`, redacted.
fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| c.is_whitespace() || "'\"<>()[]{},;".contains(c)).unwrap_or(tail.len());
        out.push_str(&redact_url_str(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_are_redacted() {
        let text =
            "https://dl.example.com/aB3dE5fG7hJ9kL1mN3pQ5rS7/PROD/index.xml has no file 'x' (see http://h/a?token=1)";
        assert_eq!(redact_text(text), "https://dl.example.com/***/PROD/index.xml has no file 'x' (see http://h/a?***)");
        assert_eq!(redact_text("plain ./bundle.zip"), "plain ./bundle.zip");
    }
}
