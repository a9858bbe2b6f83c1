//! `esxlcm mirror sync`: sync sources now, or the scheduled ones that are due
//! (`Store::sync`), with a progress bar on a terminal.

use std::io::Write;

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::Args;
use esxlcm_store::Store;
use esxlcm_store::ops::{LockWait, Selection};
use esxlcm_store::schedule;
use esxlcm_store::sync::{Outcome, Progress, SyncEvent, SyncOptions};
use indicatif::ProgressBar;

use super::render::{fmt_next, print_report, refresh_lines, report_json, report_refreshes};
use crate::cmd::Status;
use crate::output::{self, count};

const SYNC_HELP: &str = "\
With --due, only the enabled sources with a schedule (`esxlcm mirror schedule`) whose slot
has passed since their last sync are synced (a scheduled source that never synced is due);
run it from cron or a systemd timer as often as the most frequent schedule:
  */5 * * * *  esxlcm mirror --store /srv/esxlcm/store sync --due

Each sync writes its progress and outcome to STORE/status/<source>.json (see `mirror status`).";

#[derive(Debug, Args)]
#[command(after_help = SYNC_HELP)]
pub struct SyncArgs {
    /// Sources to sync (default: every enabled source)
    #[arg(conflicts_with = "due")]
    pub names: Vec<String>,
    /// Payload downloads at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
    /// Only sources whose scheduled slot has passed since their last sync
    #[arg(long)]
    pub due: bool,
    /// For tests: the time --due compares schedules with (RFC 3339), instead of the clock
    #[arg(long, hide = true, value_name = "TIME", requires = "due")]
    pub now: Option<String>,
    /// Write one JSON object (schema esxlcm.mirror.sync/1) instead of text
    #[arg(long)]
    pub json: bool,
}

/// The progress bar on a terminal: bytes of payloads downloaded (hidden per [`output::ui`]).
pub(super) struct Bar {
    bar: ProgressBar,
    label: String,
}

impl Bar {
    pub(super) fn new(label: &str) -> Self {
        let bar = output::bytes_bar(&format!("{label}: metadata"), None);
        Self { bar, label: label.to_owned() }
    }
}

impl Progress for Bar {
    fn event(&self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::Planned { files, bytes } => {
                self.bar.set_length(*bytes);
                self.bar.set_message(format!("{}: {}", self.label, count(*files, "payload", "payloads")));
            }
            SyncEvent::Bytes(n) => self.bar.inc(*n),
            SyncEvent::Rejected { name, reason } => self.bar.println(format!("rejected {name}: {reason}")),
            SyncEvent::Stage(_) | SyncEvent::FileDone { .. } => {}
        }
    }
}

/// A bar over the bytes an export, import or verify reads (`Planned`, then `Bytes`).
pub(super) struct BytesBar(ProgressBar);

impl BytesBar {
    pub(super) fn new(label: &str) -> Self {
        Self(output::bytes_bar(label, None))
    }
}

impl Progress for BytesBar {
    fn event(&self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::Planned { bytes, .. } => self.0.set_length(*bytes),
            SyncEvent::Bytes(n) => self.0.inc(*n),
            _ => {}
        }
    }
}

impl Drop for BytesBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Nothing ran (no source due or enabled): the sentence, or an empty `runs` as JSON.
fn nothing(a: &SyncArgs, message: &str, out: &mut dyn Write) -> anyhow::Result<Status> {
    if a.json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.sync/1", "runs": [], "views": [], "failed": [], "message": message,
            }),
        )?;
    } else {
        writeln!(out, "{message}")?;
    }
    Ok(Status::Success)
}

pub fn run(store: &Store, a: &SyncArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let selection = if a.due {
        let now = match &a.now {
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| format!("--now {t}: not an RFC 3339 time (2026-11-23T02:30:00Z)"))?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        if schedule::due_sources(store, now)?.is_empty() {
            let next = store
                .sources()?
                .iter()
                .filter_map(|s| schedule::next_run(store, s, now).ok().flatten().map(|n| (n, s.config.name.clone())))
                .min();
            let message = match next {
                Some((at, name)) => format!("no source is due; next: {name} at {}", fmt_next(at, now)),
                None => "no source is due (no enabled source has a schedule; see `esxlcm mirror schedule`)".to_owned(),
            };
            return nothing(a, &message, out);
        }
        Selection::Due(now)
    } else if a.names.is_empty() {
        if !store.sources()?.iter().any(|s| s.config.enabled) {
            return nothing(a, "no enabled sources to sync", out);
        }
        Selection::Enabled
    } else {
        Selection::Named(a.names.clone())
    };
    let options = SyncOptions { parallel: a.parallel.max(1) };
    let batch = store.sync(&selection, &options, LockWait::NONE, &|name| Box::new(Bar::new(name)))?;
    if a.json {
        let runs: Vec<_> = batch
            .runs
            .iter()
            .map(|run| match &run.result {
                Ok(r) => report_json(r),
                Err(e) => {
                    tracing::error!("{e}");
                    serde_json::json!({ "source": run.source, "outcome": "failed", "error": e.to_string() })
                }
            })
            .collect();
        let (views, view_failed) = refresh_lines(&batch.views);
        let failed = batch.failed();
        output::write_json(
            out,
            &serde_json::json!({ "schema": "esxlcm.mirror.sync/1", "runs": runs, "views": views, "failed": failed }),
        )?;
        if !failed.is_empty() {
            out.flush()?;
            bail!("sync failed for {}: {}", count(failed.len(), "source", "sources"), failed.join(", "));
        }
        let rejected = batch.runs.iter().any(|r| r.result.as_ref().is_ok_and(|r| r.outcome == Outcome::Rejected));
        return Ok(if rejected || view_failed { Status::Findings } else { Status::Success });
    }
    let mut status = Status::Success;
    for run in &batch.runs {
        match &run.result {
            Ok(r) => status = status.combine(print_report(r, out)?),
            Err(e) => {
                tracing::error!("{e}");
                writeln!(out, "{}: FAILED: {e}", run.source)?;
            }
        }
    }
    // Views of these sources follow what was just published (a view that fails keeps its build).
    status = status.combine(report_refreshes(&batch.views, out)?);
    let failed = batch.failed();
    if !failed.is_empty() {
        out.flush()?;
        bail!("sync failed for {}: {}", count(failed.len(), "source", "sources"), failed.join(", "));
    }
    Ok(status)
}
