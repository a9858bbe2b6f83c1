//! `esxlcm mirror sync`: sync sources now, or the scheduled ones that are due
//! (`Store::sync`), with a progress bar on a terminal.

use std::io::{IsTerminal as _, Write};

use anyhow::{Context as _, bail};
use chrono::Utc;
use clap::Args;
use esxlcm_store::Store;
use esxlcm_store::ops::{LockWait, Selection};
use esxlcm_store::schedule;
use esxlcm_store::sync::{Progress, SyncEvent, SyncOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::render::{fmt_next, print_report, report_refreshes};
use crate::cmd::Status;
use crate::output::count;

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
}

/// The progress bar on a terminal: bytes of payloads downloaded.
pub(super) struct Bar {
    bar: ProgressBar,
    label: String,
}

impl Bar {
    pub(super) fn new(label: &str) -> Self {
        let target =
            if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(None, target);
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(format!("{label}: metadata"));
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

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
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
            match next {
                Some((at, name)) => writeln!(out, "no source is due; next: {name} at {}", fmt_next(at, now))?,
                None => {
                    writeln!(out, "no source is due (no enabled source has a schedule; see `esxlcm mirror schedule`)")?
                }
            }
            return Ok(Status::Success);
        }
        Selection::Due(now)
    } else if a.names.is_empty() {
        if !store.sources()?.iter().any(|s| s.config.enabled) {
            writeln!(out, "no enabled sources to sync")?;
            return Ok(Status::Success);
        }
        Selection::Enabled
    } else {
        Selection::Named(a.names.clone())
    };
    let options = SyncOptions { parallel: a.parallel.max(1) };
    let batch = store.sync(&selection, &options, LockWait::NONE, &|name| Box::new(Bar::new(name)))?;
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
