//! Runs `depots.sync` on the schedule set with `depots.sync_schedule.set` (times in UTC).
//! A scheduled sync is an ordinary `cis.tasks` task of the user `esxlcm-scheduler`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, Months, Utc};
use esxlcm_store::schedule::{Schedule, parse_weekday};
use serde_json::{Map, Value};

use super::ApiState;
use super::dispatch::{Caller, Ctx};
use super::users::Role;

const SCHEDULER_USER: &str = "esxlcm-scheduler";

fn field(schedule: &Value, name: &str) -> Option<u32> {
    schedule.get(name).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok())
}

/// A plain `sync_schedule.schedule` as the store's typed schedule; `None` if malformed.
fn typed(schedule: &Value) -> Option<Schedule> {
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

/// The first time strictly after `after` that `schedule` (a plain `sync_schedule.schedule`)
/// names; `None` if it names none (a malformed schedule).
pub fn next_slot(schedule: &Value, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    typed(schedule)?.next_after(after)
}

/// The run after one at `ran`: `skip` units of the recurrence are left out in between.
pub fn next_after_run(schedule: &Value, ran: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let skip = schedule.get("skip").and_then(Value::as_u64).unwrap_or(0);
    let from = match schedule.get("type")?.as_str()? {
        "HOURLY" => ran + chrono::Duration::hours(i64::try_from(skip).ok()?),
        "DAILY" => ran.checked_add_days(Days::new(skip))?,
        "WEEKLY" => ran.checked_add_days(Days::new(skip.checked_mul(7)?))?,
        _ => ran.checked_add_months(Months::new(u32::try_from(skip).ok()?))?,
    };
    next_slot(schedule, from)
}

/// The enabled schedule, if any.
fn enabled_schedule(state: &ApiState) -> Option<Value> {
    let s = state.depots.published_schedule()?;
    if s.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    s.get("schedule").filter(|v| !v.is_null()).cloned()
}

/// What the scheduler plans: the schedule it planned for and when that is due next.
pub type Planned = Option<(Value, DateTime<Utc>)>;

/// Check every `tick` whether a sync is due; runs until the server's runtime stops.
pub async fn run(state: Arc<ApiState>, tick: Duration) {
    let mut planned: Planned = None;
    let mut interval = tokio::time::interval(tick);
    loop {
        interval.tick().await;
        step(&state, &mut planned, Utc::now()).await;
    }
}

/// One look at the clock: (re)plan a new or changed schedule from `now`, run the sync if
/// it is due. Returns whether a sync ran.
pub async fn step(state: &Arc<ApiState>, planned: &mut Planned, now: DateTime<Utc>) -> bool {
    let Some(schedule) = enabled_schedule(state) else {
        *planned = None;
        return false;
    };
    let due = match planned {
        Some((s, due)) if *s == schedule => *due,
        _ => match next_slot(&schedule, now) {
            Some(due) => {
                tracing::info!(next = %due, "depot sync scheduled");
                *planned = Some((schedule.clone(), due));
                due
            }
            None => return false,
        },
    };
    if now < due {
        return false;
    }
    sync_now(state).await;
    *planned = next_after_run(&schedule, due).map(|next| (schedule, next));
    true
}

async fn sync_now(state: &Arc<ApiState>) {
    let service = "com.vmware.esx.settings.depots";
    let (id, progress) = match state.tasks.start(service, "sync", SCHEDULER_USER) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the scheduled depot sync");
            return;
        }
    };
    let ctx = Ctx {
        state: Arc::clone(state),
        caller: Caller { user: SCHEDULER_USER.to_owned(), role: Role::Admin, session: None },
        input: Map::new(),
        progress: Some(progress),
        origin: None,
    };
    let outcome = super::services::depots::sync(ctx).await.map(|_| None);
    if let Err(e) = &outcome {
        tracing::warn!(task = %id, error = %e, "scheduled depot sync failed");
    }
    state.tasks.finish(&id, outcome);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Each plain recurrence maps onto the store's schedule (whose slots the store's tests
    /// check); a malformed one has no slot.
    #[test]
    fn plain_schedules_map_onto_the_stores() {
        assert_eq!(typed(&json!({"type": "HOURLY", "minute": 15})), Schedule::hourly(15));
        assert_eq!(typed(&json!({"type": "DAILY", "minute": 30, "hour": 2})), Schedule::daily(2, 30));
        let weekly = json!({"type": "WEEKLY", "minute": 0, "hour": 3, "day_of_week": "SUNDAY"});
        assert_eq!(typed(&weekly), Schedule::weekly(chrono::Weekday::Sun, 3, 0));
        let monthly = json!({"type": "MONTHLY_BY_DAY", "minute": 0, "hour": 0, "day_of_month": 31});
        assert_eq!(typed(&monthly), Schedule::monthly_by_day(31, 0, 0));
        for malformed in [json!({"type": "DAILY", "minute": 1}), json!({"type": "YEARLY", "minute": 0})] {
            assert_eq!(typed(&malformed), None);
            assert_eq!(next_slot(&malformed, t("2026-11-23T10:00:00Z")), None);
        }
    }

    /// A schedule set through the state runs a real sync when due, and only then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_due_schedule_syncs_the_online_depots() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        esxlcm_depot::generate::generate_to_tree(&esxlcm_depot::generate::GeneratorConfig::tiny(3), &tree).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tree.clone();
        tokio::spawn(async move { crate::depot_http::serve(listener, &served, std::future::pending()).await });

        let admin = crate::api::users::InitialAdmin { user: "admin".into(), password: "pw-for-tests".into() };
        let (state, _) = ApiState::open(&dir.path().join("data"), Some(admin)).unwrap();
        let state = Arc::new(state);
        let location = format!("http://127.0.0.1:{port}/index.xml");
        state
            .depots
            .mutate(|s| {
                s.online_depots.insert(
                    "online-1".into(),
                    crate::api::persist::OnlineDepot {
                        description: String::new(),
                        location,
                        enabled: true,
                        owner: None,
                        ownerdata: None,
                        synced: None,
                    },
                );
                s.sync_schedule = Some(json!({"enabled": true, "email_addresses": [],
                    "schedule": {"type": "DAILY", "hour": 2, "minute": 30}}));
                Ok(())
            })
            .await
            .unwrap();

        let mut planned = None;
        assert!(!step(&state, &mut planned, t("2026-11-23T10:00:00Z")).await);
        assert_eq!(planned.as_ref().map(|p| p.1), Some(t("2026-11-24T02:30:00Z")));
        assert!(!step(&state, &mut planned, t("2026-11-24T02:29:00Z")).await);
        assert!(state.depots.snapshot().await.online_depots["online-1"].synced.is_none());
        assert!(step(&state, &mut planned, t("2026-11-24T02:30:10Z")).await);
        assert!(state.depots.snapshot().await.online_depots["online-1"].synced.is_some());
        assert!(state.depots.catalog().await.unwrap().components().count() > 0);
        assert_eq!(planned.as_ref().map(|p| p.1), Some(t("2026-11-25T02:30:00Z")));
        let task = state.tasks.list().into_iter().find(|r| r.user == SCHEDULER_USER).unwrap();
        assert_eq!(task.operation, "sync");

        // Disabled: nothing is planned any more.
        state
            .depots
            .mutate(|s| {
                s.sync_schedule = Some(json!({"enabled": false, "email_addresses": []}));
                Ok(())
            })
            .await
            .unwrap();
        assert!(!step(&state, &mut planned, t("2026-11-25T02:30:00Z")).await);
        assert!(planned.is_none());
    }

    #[test]
    fn skip_leaves_out_units_between_runs() {
        let every_third_hour = json!({"type": "HOURLY", "minute": 15, "skip": 2});
        assert_eq!(next_after_run(&every_third_hour, t("2026-11-23T10:15:00Z")), Some(t("2026-11-23T13:15:00Z")));
        let daily = json!({"type": "DAILY", "minute": 30, "hour": 2});
        assert_eq!(next_after_run(&daily, t("2026-11-24T02:30:00Z")), Some(t("2026-11-25T02:30:00Z")));
        let fortnightly = json!({"type": "WEEKLY", "minute": 0, "hour": 3, "day_of_week": "SUNDAY", "skip": 1});
        assert_eq!(next_after_run(&fortnightly, t("2026-11-29T03:00:00Z")), Some(t("2026-12-13T03:00:00Z")));
    }
}
