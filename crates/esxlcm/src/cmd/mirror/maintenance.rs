//! The short mirror commands that keep a store: `remove`, `gc`, `rollback`, `enable`,
//! `disable`, `only-for` and `schedule`, each one store operation and a line or two.

use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::schedule::{self, Schedule};

use super::add::read_specs;
use super::render::{fmt_next, refresh_lines, report_refreshes, views_status};
use crate::cmd::Status;
use crate::output::{self, count, human_size};

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
    /// Write one JSON object (see docs/cli-json.md) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    /// Say what would be removed, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write one JSON object (schema esxlcm.mirror.remove/1) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Say what would be deleted and freed, and delete nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write one JSON object (schema esxlcm.mirror.gc/1) instead of text
    #[arg(long)]
    pub json: bool,
}

const SCHEDULE_HELP: &str = "\
Times are UTC. A source syncs at its slot when `esxlcm serve --store DIR` runs (one sync at
a time), or when `esxlcm mirror sync --due` runs after the slot (from cron or a systemd
timer). A failed run is retried at the next slot; the published snapshot stays meanwhile.

Examples:
  esxlcm mirror schedule vmw --daily 02:30
  esxlcm mirror schedule oem --weekly sun 03:00
  esxlcm mirror schedule drivers --hourly :15
  esxlcm mirror schedule archive --monthly 1 04:00
  esxlcm mirror schedule vmw --off";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["specs", "clear"])))]
pub struct OnlyForArgs {
    pub name: String,
    /// vLCM software specs (JSON); the source keeps the union of their images' content
    #[arg(value_name = "SPEC.json")]
    pub specs: Vec<PathBuf>,
    /// Keep everything again (within the platform and vendor filters)
    #[arg(long)]
    pub clear: bool,
    /// Write one JSON object (schema esxlcm.mirror.source/1) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = SCHEDULE_HELP)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["hourly", "daily", "weekly", "monthly", "off"])))]
pub struct ScheduleArgs {
    pub name: String,
    /// Every hour at minute MM (:00–:59)
    #[arg(long, value_name = ":MM")]
    pub hourly: Option<String>,
    /// Every day at HH:MM
    #[arg(long, value_name = "HH:MM")]
    pub daily: Option<String>,
    /// Every week on DAY (mon … sun) at HH:MM
    #[arg(long, num_args = 2, value_names = ["DAY", "HH:MM"])]
    pub weekly: Option<Vec<String>>,
    /// Every month on day D (1–31; months without it are skipped) at HH:MM
    #[arg(long, num_args = 2, value_names = ["D", "HH:MM"])]
    pub monthly: Option<Vec<String>>,
    /// No schedule: the source syncs only when asked
    #[arg(long)]
    pub off: bool,
    /// Write one JSON object (schema esxlcm.mirror.source/1) instead of text
    #[arg(long)]
    pub json: bool,
}

impl ScheduleArgs {
    /// The schedule asked for (`None` for --off).
    fn schedule(&self) -> anyhow::Result<Option<Schedule>> {
        let text = if let Some(m) = &self.hourly {
            format!("hourly {m}")
        } else if let Some(t) = &self.daily {
            format!("daily {t}")
        } else if let Some(w) = &self.weekly {
            format!("weekly {}", w.join(" "))
        } else if let Some(m) = &self.monthly {
            format!("monthly {}", m.join(" "))
        } else {
            return Ok(None);
        };
        Ok(Some(text.parse()?))
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub name: String,
    /// The snapshot to publish (default: the newest one older than the published one)
    #[arg(long, value_name = "SNAPSHOT")]
    pub to: Option<i64>,
    /// Say which snapshot would be published and which views rebuilt, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write one JSON object (schema esxlcm.mirror.rollback/1) instead of text
    #[arg(long)]
    pub json: bool,
}

fn ids(ids: &[i64]) -> String {
    if ids.is_empty() { "none".to_owned() } else { ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") }
}

pub fn remove(store: &Store, a: &RemoveArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    // The plan is read before removing too: the report names what went.
    let plan = store.plan_remove(&a.name, LockWait::NONE)?;
    if !a.dry_run {
        store.remove_source(&a.name, LockWait::NONE)?;
    }
    if a.json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.remove/1",
                "dry_run": a.dry_run,
                "source": plan.source,
                "published_snapshot": plan.published,
                "snapshots": plan.snapshots,
                "views": plan.views,
            }),
        )?;
        return Ok(Status::Success);
    }
    let published =
        plan.published.map_or_else(|| "nothing published".to_owned(), |p| format!("snapshot {p} published"));
    if a.dry_run {
        writeln!(
            out,
            "dry run: would remove source '{}' ({published}; snapshots {}); nothing changed",
            a.name,
            ids(&plan.snapshots)
        )?;
    } else {
        writeln!(out, "removed source '{}' (run `esxlcm mirror gc` to free its payloads)", a.name)?;
    }
    if !plan.views.is_empty() {
        writeln!(out, "views that include it keep their last build: {}", plan.views.join(", "))?;
    }
    Ok(Status::Success)
}

pub fn gc(store: &Store, a: &GcArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let r = if a.dry_run { store.plan_gc(LockWait::NONE)? } else { store.gc(LockWait::NONE)? };
    if a.json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.gc/1",
                "dry_run": a.dry_run,
                "blobs_deleted": r.blobs_deleted,
                "blobs_kept": r.blobs_kept,
                "partial_removed": r.partial_removed,
                "quarantine_removed": r.quarantine_removed,
                "bytes_freed": r.bytes_freed,
            }),
        )?;
        return Ok(Status::Success);
    }
    let (verb, freed, tail) =
        if a.dry_run { ("would delete", "would be freed", "; nothing changed") } else { ("deleted", "freed", "") };
    writeln!(
        out,
        "{verb} {}, {} and {} ({} {freed}), kept {}{tail}",
        count(r.blobs_deleted, "unreferenced blob", "unreferenced blobs"),
        count(r.partial_removed, "partial download", "partial downloads"),
        count(r.quarantine_removed, "quarantined payload", "quarantined payloads"),
        human_size(r.bytes_freed),
        count(r.blobs_kept, "blob", "blobs")
    )?;
    Ok(Status::Success)
}

pub fn rollback(store: &Store, a: &RollbackArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    if a.dry_run {
        let p = store.plan_rollback(&a.name, a.to, LockWait::NONE)?;
        if a.json {
            output::write_json(
                out,
                &serde_json::json!({
                    "schema": "esxlcm.mirror.rollback/1",
                    "dry_run": true,
                    "source": p.source,
                    "from": p.from,
                    "to": p.to,
                    "views": p.views,
                }),
            )?;
            return Ok(Status::Success);
        }
        let from = p.from.map_or_else(|| "nothing".to_owned(), |f| format!("snapshot {f}"));
        writeln!(out, "dry run: {} would publish snapshot {} (now {from}); nothing changed", a.name, p.to)?;
        if !p.views.is_empty() {
            writeln!(out, "views that would be rebuilt: {}", p.views.join(", "))?;
        }
        return Ok(Status::Success);
    }
    let r = store.rollback(&a.name, a.to, LockWait::NONE)?;
    if a.json {
        let (views, failed) = refresh_lines(&r.views);
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.rollback/1",
                "dry_run": false,
                "source": r.source,
                "from": r.from,
                "to": r.to,
                "views": views,
            }),
        )?;
        return Ok(views_status(failed));
    }
    let from = r.from.map_or_else(|| "nothing".to_owned(), |f| format!("snapshot {f}"));
    writeln!(out, "{}: published snapshot {} (was {from})", a.name, r.to)?;
    writeln!(
        out,
        "a later sync publishes upstream's current state again; `esxlcm mirror disable {}` holds this snapshot",
        a.name
    )?;
    // Views of the source follow the republished snapshot, as after a sync.
    report_refreshes(&r.views, out)
}

/// A source's settings after `enable`, `disable`, `only-for` or `schedule`, as JSON.
fn source_json(store: &Store, source: &esxlcm_store::source::Source, out: &mut dyn Write) -> anyhow::Result<Status> {
    let next = schedule::next_run(store, source, Utc::now())?;
    let c = &source.config;
    output::write_json(
        out,
        &serde_json::json!({
            "schema": "esxlcm.mirror.source/1",
            "source": c.name,
            "enabled": c.enabled,
            "only_for": c.only_for.len(),
            "schedule": c.schedule.map(|s| s.to_string()),
            "next_run": next.map(|n| n.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }),
    )?;
    Ok(Status::Success)
}

/// `mirror enable` and `mirror disable`.
pub fn set_enabled(store: &Store, a: &NameArgs, enable: bool, out: &mut dyn Write) -> anyhow::Result<Status> {
    let source = store.configure_source(&a.name, LockWait::NONE, |c| c.enabled = enable)?;
    if a.json {
        return source_json(store, &source, out);
    }
    writeln!(out, "{}: {}", a.name, if enable { "enabled" } else { "disabled" })?;
    Ok(Status::Success)
}

pub fn only_for(store: &Store, a: &OnlyForArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let specs = if a.clear { Vec::new() } else { read_specs(&a.specs)? };
    // The store forgets the vendor list's validators, so the next sync applies them.
    let source = store.configure_source(&a.name, LockWait::NONE, |c| c.only_for = specs)?;
    if a.json {
        return source_json(store, &source, out);
    }
    match source.config.only_for.len() {
        0 => writeln!(out, "{}: keeps everything; run `esxlcm mirror sync {}`", a.name, a.name)?,
        n => writeln!(
            out,
            "{}: keeps only what {} need(s); run `esxlcm mirror sync {}`",
            a.name,
            count(n, "spec", "specs"),
            a.name
        )?,
    }
    Ok(Status::Success)
}

pub fn schedule(store: &Store, a: &ScheduleArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let schedule = a.schedule()?;
    let source = store.configure_source(&a.name, LockWait::NONE, |c| c.schedule = schedule)?;
    if a.json {
        return source_json(store, &source, out);
    }
    match schedule {
        None => writeln!(out, "{}: no schedule (syncs only when asked)", a.name)?,
        Some(s) => {
            let next = schedule::next_run(store, &source, Utc::now())?;
            let next = next.map_or_else(|| "-".to_owned(), |n| fmt_next(n, Utc::now()));
            writeln!(out, "{}: {s} UTC; next run {next}", a.name)?;
            if !source.config.enabled {
                writeln!(out, "{}: the source is disabled; `esxlcm mirror enable {}` to run it", a.name, a.name)?;
            }
        }
    }
    Ok(Status::Success)
}
