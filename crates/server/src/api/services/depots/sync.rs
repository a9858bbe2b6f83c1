//! `depots.sync$task` and `depots.sync_schedule`: the online and UMDS depots synced by the
//! store's sync ([`esxlcm_store::Store::sync`]), and the schedule set through the API
//! applied to their sources, which the store's scheduler runs (`esxlcm serve`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use esxlcm_store::ops::Selection;
use esxlcm_store::schedule::{Schedule, parse_weekday};
use esxlcm_store::sync::{Outcome, SyncEvent, SyncOptions};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DepotKind, STORE_WAIT, UMDS_ID, store_error};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::ServerState;
use crate::api::tasks::Progress;
use esxlcm_net::redact::{redact_text, redact_url_str};

#[derive(Deserialize, Default)]
struct SyncSpec {
    #[allow(dead_code)]
    cleanup: Option<bool>,
}

/// A task's progress fed by a source's sync: this source's share of the task's percent,
/// filled as its payloads arrive.
struct TaskShare {
    progress: Progress,
    label: String,
    start: i64,
    width: i64,
    planned: AtomicU64,
    done: AtomicU64,
    /// The highest percent reported: a later stage never moves the bar back.
    shown: AtomicI64,
}

impl TaskShare {
    fn report(&self, pct: i64, message: &str) {
        let pct = self.shown.fetch_max(pct, Ordering::Relaxed).max(pct);
        self.progress.set(pct, 100, message);
    }
}

impl esxlcm_store::sync::Progress for TaskShare {
    fn event(&self, event: &SyncEvent<'_>) {
        match event {
            SyncEvent::Stage(stage) => {
                self.report(self.start, &format!("{}: {stage}", self.label));
            }
            SyncEvent::Planned { bytes, .. } => {
                self.planned.store(*bytes, Ordering::Relaxed);
            }
            SyncEvent::Bytes(n) => {
                let done = self.done.fetch_add(*n, Ordering::Relaxed) + n;
                let planned = self.planned.load(Ordering::Relaxed).max(1);
                let part = i64::try_from(done.min(planned).saturating_mul(100) / planned).unwrap_or(100);
                let pct = self.start + self.width * part / 100;
                self.report(pct, &format!("{}: downloaded {done} of {planned} bytes", self.label));
            }
            SyncEvent::FileDone { .. } | SyncEvent::Rejected { .. } => {}
        }
    }
}

/// `depots.sync$task`: sync every enabled online depot and the UMDS depot with the store's
/// sync. A depot that fails keeps its published snapshot; the task then fails naming each
/// such depot and why.
pub fn sync(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        // The store's sync is incremental and verifies everything: `cleanup` asks nothing more.
        let _spec: Option<SyncSpec> = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        let targets: Vec<(String, String)> = depots
            .depots()
            .await?
            .into_iter()
            .filter(|(s, kind, _)| matches!(kind, DepotKind::Online | DepotKind::Umds) && s.config.enabled)
            .map(|(s, _, _)| {
                let shown =
                    depots.info(&s.config.name).location.map_or_else(|| s.config.display_url(), |l| redact_url_str(&l));
                (s.config.name, shown)
            })
            .collect();
        if let Some(p) = &ctx.progress {
            // A sync publishes atomically at its end; stopping it halfway gains nothing.
            p.set_cancelable(false);
        }
        let total = i64::try_from(targets.len()).unwrap_or(i64::MAX).max(1);
        let names: Vec<String> = targets.iter().map(|(n, _)| n.clone()).collect();
        let progress = ctx.progress.clone();
        let order = names.clone();
        let batch = depots
            .blocking(move |store| {
                store.sync(&Selection::Named(order.clone()), &SyncOptions::default(), STORE_WAIT, &|name| {
                    let i = i64::try_from(order.iter().position(|n| n == name).unwrap_or(0)).unwrap_or(0);
                    match &progress {
                        Some(p) => Box::new(TaskShare {
                            progress: p.clone(),
                            label: name.to_owned(),
                            start: i * 100 / total,
                            width: 100 / total,
                            planned: AtomicU64::new(0),
                            done: AtomicU64::new(0),
                            shown: AtomicI64::new(0),
                        }),
                        None => Box::new(esxlcm_store::sync::NoProgress),
                    }
                })
            })
            .await
            .map_err(store_error)?;
        depots.invalidate_catalog().await;
        let mut failures = Vec::new();
        for run in &batch.runs {
            let shown = targets.iter().find(|(n, _)| *n == run.source).map_or("", |(_, l)| l.as_str());
            let kind = if run.source == UMDS_ID { "the UMDS depot" } else { "online depot" };
            let cause = match &run.result {
                Ok(r) if r.outcome == Outcome::Rejected => {
                    let names: Vec<&str> = r.rejected.iter().map(|x| x.name.as_str()).collect();
                    format!(
                        "{} payload(s) failed verification and were quarantined ({}); nothing new is published",
                        names.len(),
                        names.join(", ")
                    )
                }
                Ok(_) => continue,
                Err(e) => explain(e),
            };
            tracing::warn!(depot = %run.source, location = %shown, %cause, "online depot sync failed");
            failures.push(format!("{kind} {} ({shown}): {cause}", run.source));
        }
        for (view, result) in &batch.views {
            if let Err(e) = result {
                tracing::error!(view = %view, "refreshing the view after a sync: {e}");
            }
        }
        if !failures.is_empty() {
            return Err(ApiError::new(
                ErrorKind::ResourceInaccessible,
                "com.vmware.esxlcm.depot.sync_failed",
                format!(
                    "{} of {} online depots could not be synced: {}",
                    failures.len(),
                    targets.len(),
                    failures.join("; ")
                ),
            ));
        }
        ctx.report(100, 100, &format!("Synced {} online depots", names.len()));
        tracing::info!(depots = names.len(), "online depots synced");
        Ok(Out::Plain(Value::Null))
    })
}

/// A failed sync in the API's terms: no secrets (a source's own advice, given when the
/// API made it, already speaks of the API's trust store).
fn explain(e: &esxlcm_store::StoreError) -> String {
    redact_text(&e.to_string())
}

fn default_schedule() -> Value {
    json!({"enabled": false, "email_addresses": []})
}

/// `depots.sync_schedule.get`: the schedule as set.
pub fn sync_schedule_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        Ok(Out::Plain(s.sync_schedule.clone().unwrap_or_else(default_schedule)))
    })
}

/// The fields each recurrence needs (the contract's unions), with their ranges (the typed
/// layer has checked the enum values).
fn check_schedule(schedule: &Value) -> Result<(), ApiError> {
    let kind = schedule.get("type").and_then(Value::as_str).unwrap_or_default();
    let needed: &[&str] = match kind {
        "HOURLY" => &["minute"],
        "DAILY" => &["minute", "hour"],
        "WEEKLY" => &["minute", "hour", "day_of_week"],
        "MONTHLY_BY_DAY" => &["minute", "hour", "day_of_month"],
        other => return Err(ApiError::invalid_argument(format!("unknown recurrence '{other}'"))),
    };
    for field in needed {
        if schedule.get(*field).is_none_or(Value::is_null) {
            return Err(ApiError::invalid_argument(format!("a {kind} schedule needs '{field}'")));
        }
    }
    let ranges: [(&str, i64, i64); 4] = [("minute", 0, 59), ("hour", 0, 23), ("day_of_month", 1, 31), ("skip", 0, 998)];
    for (field, lo, hi) in ranges {
        if let Some(v) = schedule.get(field).and_then(Value::as_i64)
            && !(lo..=hi).contains(&v)
        {
            return Err(ApiError::invalid_argument(format!("schedule '{field}' must be within {lo}..={hi}, not {v}")));
        }
    }
    Ok(())
}

fn field(schedule: &Value, name: &str) -> Option<u32> {
    schedule.get(name).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok())
}

/// A plain `sync_schedule.schedule` as the store's typed schedule; `None` if malformed.
/// (`skip` is not kept: the store's schedules recur every period.)
pub fn typed(schedule: &Value) -> Option<Schedule> {
    let minute = field(schedule, "minute")?;
    let hour = || field(schedule, "hour");
    match schedule.get("type")?.as_str()? {
        "HOURLY" => Schedule::hourly(minute),
        "DAILY" => Schedule::daily(hour()?, minute),
        "WEEKLY" => Schedule::weekly(parse_weekday(schedule.get("day_of_week")?.as_str()?)?, hour()?, minute),
        "MONTHLY_BY_DAY" => Schedule::monthly_by_day(field(schedule, "day_of_month")?, hour()?, minute),
        _ => None,
    }
}

/// The store schedule the API's enabled sync schedule asks of its online depots.
pub fn api_schedule(state: &ServerState) -> Option<Schedule> {
    let s = state.sync_schedule.as_ref()?;
    if s.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    typed(s.get("schedule")?)
}

/// `depots.sync_schedule.set`: store the schedule (no `spec` resets it to disabled) and
/// give it to every online and UMDS depot, which the store's scheduler then runs.
pub fn sync_schedule_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: Option<Value> = ctx.input("spec")?;
        let spec = spec.filter(|v| !v.is_null());
        if let Some(spec) = &spec {
            let enabled = spec.get("enabled").and_then(Value::as_bool).unwrap_or(false);
            match spec.get("schedule").filter(|v| !v.is_null()) {
                Some(schedule) => check_schedule(schedule)?,
                None if enabled => return Err(ApiError::invalid_argument("an enabled sync schedule needs a schedule")),
                None => {}
            }
        }
        let depots = &ctx.state.depots;
        let schedule = depots
            .mutate(|s| {
                s.sync_schedule = spec;
                Ok(api_schedule(s))
            })
            .await?;
        let names: Vec<String> = depots
            .depots()
            .await?
            .into_iter()
            .filter(|(_, kind, _)| matches!(kind, DepotKind::Online | DepotKind::Umds))
            .map(|(s, _, _)| s.config.name)
            .collect();
        depots
            .blocking(move |store| {
                for name in &names {
                    store.configure_source(name, STORE_WAIT, |c| c.schedule = schedule)?;
                }
                Ok(())
            })
            .await
            .map_err(store_error)?;
        Ok(Out::Plain(Value::Null))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plain_schedules_map_onto_the_stores() {
        let weekly = json!({"type": "WEEKLY", "day_of_week": "SUNDAY", "hour": 2, "minute": 30});
        assert_eq!(typed(&weekly).unwrap().to_string(), "weekly sun 02:30");
        assert_eq!(typed(&json!({"type": "HOURLY", "minute": 5})).unwrap().to_string(), "hourly :05");
        assert!(typed(&json!({"type": "DAILY", "minute": 5})).is_none(), "a daily schedule needs its hour");
        let mut state = ServerState {
            sync_schedule: Some(json!({"enabled": false, "schedule": weekly})),
            ..ServerState::default()
        };
        assert_eq!(api_schedule(&state), None, "a disabled schedule runs nothing");
        state.sync_schedule = Some(json!({"enabled": true, "schedule": {"type": "DAILY", "hour": 1, "minute": 0}}));
        assert_eq!(api_schedule(&state).unwrap().to_string(), "daily 01:00");
    }
}
