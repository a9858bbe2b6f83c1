//! `esxlcm mirror push`: publish an offline bundle into a bundle source (`Store::push`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use esxlcm_store::Store;
use esxlcm_store::ops::{LockWait, Pushed};
use esxlcm_store::sync::{Outcome, SyncOptions};

use super::render::{print_report, refresh_lines, report_json, report_refreshes};
use super::sync::Bar;
use crate::cmd::Status;
use crate::output::{self, count};

const PUSH_HELP: &str = "\
Every payload of the bundle is checked against the checksum its metadata declares before
anything is published; if one fails (or declares none), the push is refused, the payload is
quarantined and the published snapshot stays. A bundle whose depot differs from the
published snapshot becomes a new snapshot (retention and rollback as for syncs); the same
bundle again records nothing new. SOURCE is created if missing, disabled (its content comes
from pushes, so `mirror sync` without names leaves it alone).

Examples:
  esxlcm mirror push drivers ./nvme-driver-1.2-offline-bundle.zip
  esxlcm mirror push drivers ./nvme-driver-1.3-offline-bundle.zip && esxlcm mirror status
  esxlcm mirror rollback drivers                       # back to the 1.2 push";

#[derive(Debug, Args)]
#[command(after_help = PUSH_HELP)]
pub struct PushArgs {
    /// The bundle source to publish into (created if missing)
    pub name: String,
    /// The offline bundle (.zip)
    pub bundle: PathBuf,
    /// Payloads verified at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
    /// Write one JSON object (schema esxlcm.mirror.push/1) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(store: &Store, a: &PushArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let options = SyncOptions { parallel: a.parallel.max(1) };
    let bar = Bar::new(&a.name);
    let pushed = store
        .push(&a.name, &a.bundle, &options, LockWait::NONE, &bar)
        .with_context(|| format!("pushing {} into '{}'", a.bundle.display(), a.name))?;
    drop(bar);
    let status = if a.json {
        let (views, failed) = refresh_lines(&pushed.views);
        output::write_json(
            out,
            &serde_json::json!({ "schema": "esxlcm.mirror.push/1", "report": report_json(&pushed.report), "views": views }),
        )?;
        if pushed.report.outcome == Outcome::Rejected || failed { Status::Findings } else { Status::Success }
    } else {
        report_push(&pushed, out)?
    };
    if pushed.report.outcome == Outcome::Rejected {
        out.flush()?;
        bail!(
            "push refused: {} failed verification; nothing new is published",
            count(pushed.report.rejected.len(), "payload", "payloads")
        );
    }
    Ok(status)
}

/// A push's report and its views' lines; `Findings` when payloads were rejected or a view
/// failed to build.
fn report_push(pushed: &Pushed, out: &mut dyn Write) -> anyhow::Result<Status> {
    Ok(print_report(&pushed.report, out)?.combine(report_refreshes(&pushed.views, out)?))
}
