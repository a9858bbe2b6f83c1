//! Report rendering several mirror commands share: a sync's or push's report, the lines
//! of the views an operation refreshed, client certificates, times.

use std::io::Write;

use chrono::Utc;
use esxlcm_store::ops::ViewRefresh;
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::{Outcome, SyncReport};
use esxlcm_store::view::{RefreshResult, Refreshed, ViewBuild, ViewError};
use serde::Serialize;

use crate::cmd::Status;
use crate::output::{count, human_size};

/// A source's client certificate for listings: its file and subject (never the key).
#[derive(Serialize)]
pub(super) struct ClientCertView {
    file: String,
    /// `CN=…, O=…`, or null when the file cannot be read now (see `problem`).
    subject: Option<String>,
    problem: Option<String>,
}

impl ClientCertView {
    pub(super) fn of(config: &SourceConfig) -> Option<Self> {
        let file = config.client_cert.as_ref()?;
        let (subject, problem) = match esxlcm_store::transport::client_certificate_subject(file) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Some(Self { file: file.display().to_string(), subject, problem })
    }

    pub(super) fn line(&self) -> String {
        match (&self.subject, &self.problem) {
            (Some(s), _) => format!("client certificate {s} ({})", self.file),
            (None, Some(p)) => p.clone(),
            (None, None) => format!("client certificate {}", self.file),
        }
    }
}

/// One source's sync (or push) as lines of text; `Findings` when payloads were rejected.
pub(super) fn print_report(r: &SyncReport, out: &mut dyn Write) -> anyhow::Result<Status> {
    let name = &r.source;
    let mut status = Status::Success;
    {
        let mut fetched = format!(
            "fetched {} ({}), {} not modified, {} already stored",
            count(r.files_fetched, "file", "files"),
            human_size(r.bytes_fetched),
            r.not_modified,
            r.reused
        );
        if r.deferred > 0 {
            fetched.push_str(&format!(", {} left upstream until first needed (on-demand)", r.deferred));
        }
        match r.outcome {
            Outcome::Published => writeln!(
                out,
                "{name}: published snapshot {} ({}; {fetched})",
                r.snapshot.unwrap_or_default(),
                count(r.files, "file", "files")
            )?,
            Outcome::Unchanged => writeln!(
                out,
                "{name}: unchanged, snapshot {} stays published ({fetched})",
                r.snapshot.map_or_else(|| "-".to_owned(), |s| s.to_string())
            )?,
            Outcome::Rejected => {
                status = Status::Findings;
                let kept = r
                    .snapshot
                    .map_or_else(|| "nothing is published".to_owned(), |s| format!("snapshot {s} stays published"));
                writeln!(
                    out,
                    "{name}: {} rejected, {kept} ({fetched})",
                    count(r.rejected.len(), "payload", "payloads")
                )?;
                for rej in &r.rejected {
                    writeln!(
                        out,
                        "  rejected {} ({}): {}; quarantined as {}",
                        rej.name,
                        rej.path,
                        rej.reason,
                        rej.quarantine_file.display()
                    )?;
                }
            }
        }
        if !r.expired.is_empty() {
            let ids: Vec<String> = r.expired.iter().map(ToString::to_string).collect();
            writeln!(out, "{name}: retention removed snapshot(s) {}", ids.join(", "))?;
        }
    }
    Ok(status)
}

/// One source's sync (or push) report as JSON: an element of `esxlcm.mirror.sync/1`'s
/// `runs` and `esxlcm.mirror.push/1`'s `report`.
pub(super) fn report_json(r: &SyncReport) -> serde_json::Value {
    let rejected: Vec<_> = r
        .rejected
        .iter()
        .map(|x| {
            serde_json::json!({
                "name": x.name,
                "path": x.path,
                "reason": x.reason,
                "quarantine_file": x.quarantine_file.display().to_string(),
            })
        })
        .collect();
    serde_json::json!({
        "source": r.source,
        "outcome": r.outcome.as_str(),
        "snapshot": r.snapshot,
        "previous": r.previous,
        "files": r.files,
        "files_fetched": r.files_fetched,
        "bytes_fetched": r.bytes_fetched,
        "not_modified": r.not_modified,
        "reused": r.reused,
        "deferred": r.deferred,
        "rejected": rejected,
        "expired": r.expired,
    })
}

/// `Findings` when a view failed to build (it keeps its previous build).
pub(super) fn views_status(failed: bool) -> Status {
    if failed { Status::Findings } else { Status::Success }
}

/// A next-run time for people: `2026-11-24 02:30:00Z`, or `now (due since …)` when passed.
pub(super) fn fmt_next(at: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> String {
    let shown = at.format("%Y-%m-%d %H:%M:%SZ").to_string();
    if at <= now { format!("now (due since {shown})") } else { shown }
}

pub(super) fn fmt_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The line of one view's refresh (`all: published build 2 (…)`) and whether it failed
/// (a failed view keeps its previous build).
pub(super) fn refresh_line(name: &str, result: &RefreshResult) -> (String, bool) {
    match result {
        Ok(Refreshed::Built(b)) => (format!("{name}: published build {} ({})", b.number, describe_build(b)), false),
        Ok(Refreshed::Unchanged(b)) => (format!("{name}: unchanged, build {} stays published", b.number), false),
        Err(e @ ViewError::NothingPublished { .. }) => (format!("{name}: not built yet: {e}"), false),
        Err(e) => {
            tracing::error!("{e}");
            (format!("{name}: FAILED: {e}"), true)
        }
    }
}

/// The lines of the views an operation rebuilt (those left unchanged say nothing), and
/// whether one failed.
pub(super) fn refresh_lines(refreshes: &[ViewRefresh]) -> (Vec<String>, bool) {
    let mut failed = false;
    let lines = refreshes
        .iter()
        .filter(|(_, result)| !matches!(result, Ok(Refreshed::Unchanged(_))))
        .map(|(name, result)| {
            let (line, view_failed) = refresh_line(name, result);
            failed |= view_failed;
            line
        })
        .collect();
    (lines, failed)
}

/// Writes [`refresh_lines`]; `Findings` when a view failed to build.
pub(super) fn report_refreshes(refreshes: &[ViewRefresh], out: &mut dyn Write) -> anyhow::Result<Status> {
    let (lines, failed) = refresh_lines(refreshes);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(views_status(failed))
}

/// `12 components, 40 VIBs (3.1 MiB) from vmw@3, dell@5`.
pub(super) fn describe_build(b: &ViewBuild) -> String {
    let from: Vec<String> = b.snapshots.iter().map(|(s, id)| format!("{s}@{id}")).collect();
    format!(
        "{}, {} ({}) from {}",
        count(b.components, "component", "components"),
        count(b.vibs, "VIB", "VIBs"),
        human_size(b.vib_bytes),
        from.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(fmt_time(1_763_900_000), "2025-11-23 12:13:20Z");
        assert_eq!(fmt_time(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn next_runs_in_the_past_read_as_due() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(fmt_next(t("2026-11-24T02:30:00Z"), t("2026-11-23T10:00:00Z")), "2026-11-24 02:30:00Z");
        assert_eq!(
            fmt_next(t("2026-11-23T02:30:00Z"), t("2026-11-23T10:00:00Z")),
            "now (due since 2026-11-23 02:30:00Z)"
        );
    }
}
