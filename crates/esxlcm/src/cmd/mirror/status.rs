//! `esxlcm mirror status`: each source's snapshots, schedule, running or last sync and
//! quarantine.

use std::io::Write;

use chrono::Utc;
use esxlcm_store::Store;
use esxlcm_store::schedule;
use esxlcm_store::status::{self, SyncState};
use serde::Serialize;

use super::JsonArgs;
use super::render::{ClientCertView, fmt_next, fmt_time};
use crate::cmd::Status;
use crate::output::{self, Table, human_size};

#[derive(Serialize)]
struct SnapshotView {
    id: i64,
    created_at: String,
    files: u64,
    bytes: u64,
    published: bool,
}

#[derive(Serialize)]
struct StatusView {
    name: String,
    published_snapshot: Option<i64>,
    snapshots: Vec<SnapshotView>,
    last_run: Option<serde_json::Value>,
    quarantined: usize,
    schedule: Option<String>,
    /// RFC 3339 UTC, or null without a schedule.
    next_run: Option<String>,
    /// The latest sync's status document (`STORE/status/<source>.json`), live while it runs.
    sync: Option<status::SyncStatus>,
    /// Mutual TLS: the certificate's file and subject.
    client_cert: Option<ClientCertView>,
}

pub fn run(store: &Store, a: &JsonArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    // A sync whose process died still says `running` until settled.
    store.settle_interrupted_syncs()?;
    let quarantine = store.quarantined()?;
    let mut views = Vec::new();
    let now = Utc::now();
    for s in store.sources()? {
        let published = store.published_snapshot(&s)?;
        let snapshots = store
            .snapshots(&s)?
            .into_iter()
            .map(|x| SnapshotView {
                id: x.id,
                created_at: fmt_time(x.created_at),
                files: x.files,
                bytes: x.bytes,
                published: Some(x.id) == published,
            })
            .collect();
        let last_run = store.last_run(&s)?.map(|r| {
            serde_json::json!({
                "finished_at": fmt_time(r.finished_at),
                "outcome": r.outcome,
                "snapshot": r.snapshot_id,
                "files_fetched": r.files_fetched,
                "bytes_fetched": r.bytes_fetched,
                "message": r.message,
            })
        });
        let quarantined = quarantine.iter().filter(|q| q.source == s.config.name).count();
        views.push(StatusView {
            name: s.config.name.clone(),
            published_snapshot: published,
            snapshots,
            last_run,
            quarantined,
            schedule: s.config.schedule.map(|x| x.to_string()),
            next_run: schedule::next_run(store, &s, now)?.map(status::rfc3339),
            sync: status::read(store, &s.config.name),
            client_cert: ClientCertView::of(&s.config),
        });
    }
    if a.json {
        output::write_json(out, &serde_json::json!({ "schema": "esxlcm.mirror.status/1", "sources": views }))?;
        return Ok(Status::Success);
    }
    if views.is_empty() {
        writeln!(out, "no sources")?;
    }
    for v in &views {
        writeln!(out, "{}:", v.name)?;
        let mut t = Table::new(["SNAPSHOT", "CREATED", "FILES", "SIZE", ""]);
        for s in &v.snapshots {
            t.row([
                s.id.to_string(),
                s.created_at.clone(),
                s.files.to_string(),
                human_size(s.bytes),
                if s.published { "published".into() } else { String::new() },
            ]);
        }
        if t.is_empty() {
            writeln!(out, "  no snapshots yet")?;
        } else {
            t.write(out, "  ")?;
        }
        if let Some(sched) = &v.schedule {
            let next = v
                .next_run
                .as_deref()
                .and_then(|n| chrono::DateTime::parse_from_rfc3339(n).ok())
                .map_or_else(|| "- (source disabled)".to_owned(), |n| fmt_next(n.with_timezone(&Utc), now));
            writeln!(out, "  schedule: {sched} UTC; next run {next}")?;
        }
        if let Some(sync) = v.sync.as_ref().filter(|x| x.state == SyncState::Running) {
            writeln!(out, "  {}", running_line(sync, now))?;
        }
        if let Some(r) = &v.last_run {
            let outcome = r["outcome"].as_str().unwrap_or_default();
            let when = r["finished_at"].as_str().unwrap_or_default();
            let msg = r["message"].as_str().unwrap_or_default();
            if msg.is_empty() {
                writeln!(out, "  last sync: {outcome} at {when}")?;
            } else {
                writeln!(out, "  last sync: {outcome} at {when}: {msg}")?;
            }
        }
        if v.quarantined > 0 {
            writeln!(out, "  quarantined payloads: {}", v.quarantined)?;
        }
        if let Some(c) = &v.client_cert {
            writeln!(out, "  {}", c.line())?;
        }
    }
    for q in &quarantine {
        writeln!(out, "quarantined: {} from '{}' ({}): {} -> {}", q.name, q.source, q.path, q.reason, q.file)?;
    }
    Ok(Status::Success)
}

/// A running sync's progress: `syncing (payloads): 12/40 files, 1.2 MiB of 3.4 MiB, since …`.
fn running_line(sync: &status::SyncStatus, now: chrono::DateTime<Utc>) -> String {
    let mut line = format!(
        "syncing ({}): {}/{} files, {} of {}, started {}",
        sync.phase,
        sync.files_done,
        sync.files_total,
        human_size(sync.bytes_done),
        human_size(sync.bytes_total),
        sync.started
    );
    // A process that died mid-sync leaves `running` behind until the next sync.
    let updated = chrono::DateTime::parse_from_rfc3339(&sync.updated).map(|u| u.with_timezone(&Utc));
    if updated.is_ok_and(|u| now - u > chrono::Duration::minutes(5)) {
        line.push_str(&format!("; no progress since {} (stalled, or the sync was interrupted)", sync.updated));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_sync_shows_its_progress_and_when_it_went_quiet() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let sync = status::SyncStatus {
            source: "vmw".into(),
            state: SyncState::Running,
            started: "2026-11-23T02:30:00Z".into(),
            updated: "2026-11-23T02:31:00Z".into(),
            phase: "payloads".into(),
            files_done: 12,
            files_total: 40,
            bytes_done: 2048,
            bytes_total: 4096,
            message: String::new(),
            next_run: None,
        };
        let line = running_line(&sync, t("2026-11-23T02:31:30Z"));
        assert_eq!(line, "syncing (payloads): 12/40 files, 2.0 KiB of 4.0 KiB, started 2026-11-23T02:30:00Z");
        let quiet = running_line(&sync, t("2026-11-23T02:40:00Z"));
        assert!(
            quiet.ends_with("no progress since 2026-11-23T02:31:00Z (stalled, or the sync was interrupted)"),
            "{quiet}"
        );
    }
}
