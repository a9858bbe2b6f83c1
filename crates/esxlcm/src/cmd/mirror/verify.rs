//! `esxlcm mirror verify`: the whole store checked (`Store::verify`).

use std::io::Write;

use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;

use super::JsonArgs;
use crate::cmd::Status;
use crate::output::{self, count};

pub fn run(store: &Store, a: &JsonArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let bar = super::sync::BytesBar::new("verifying");
    let r = store.verify(LockWait::NONE, &bar)?;
    drop(bar);
    if a.json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.verify/1",
                "clean": r.is_clean(),
                "blobs_checked": r.blobs_checked,
                "snapshots_checked": r.snapshots_checked,
                "views_checked": r.views_checked,
                "unreferenced_blobs": r.unreferenced_blobs,
                "partial_downloads": r.partial_downloads,
                "not_fetched": r.not_fetched,
                "problems": r.problems,
            }),
        )?;
    } else {
        for p in &r.problems {
            writeln!(out, "problem: {p}")?;
        }
        writeln!(
            out,
            "{}: {}, {} and {} checked; {} unreferenced (mirror gc), {} partial download(s) kept for resume",
            if r.is_clean() { "clean" } else { "PROBLEMS FOUND" },
            count(r.blobs_checked, "blob", "blobs"),
            count(r.snapshots_checked, "snapshot", "snapshots"),
            count(r.views_checked, "view", "views"),
            r.unreferenced_blobs,
            r.partial_downloads
        )?;
        if r.not_fetched > 0 {
            writeln!(
                out,
                "{} of on-demand sources not fetched yet (fetched when first requested; not a problem)",
                count(r.not_fetched, "payload", "payloads")
            )?;
        }
    }
    Ok(if r.is_clean() { Status::Success } else { Status::Findings })
}
