//! When a source syncs by itself: hourly at :MM, daily at HH:MM, weekly on a day at HH:MM,
//! or monthly on a day of the month at HH:MM, always in UTC (the model of the vLCM API's
//! `SyncSchedule`, which `esxlcm serve --api` computes with this module too).
//!
//! The text form is what `esxlcm mirror schedule` takes and shows, and what a source's
//! configuration stores: `hourly :15`, `daily 02:30`, `weekly sun 03:00`, `monthly 31 00:00`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;
use crate::source::Source;
use crate::store::Store;

/// A recurring UTC time. Build it with the constructors (or parse it): fields are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Hourly {
        minute: u32,
    },
    Daily {
        hour: u32,
        minute: u32,
    },
    Weekly {
        day: Weekday,
        hour: u32,
        minute: u32,
    },
    /// Months without that day (the 31st in April) are skipped.
    MonthlyByDay {
        day: u32,
        hour: u32,
        minute: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{given}' is not a schedule: {why}; use 'hourly :MM', 'daily HH:MM', 'weekly DAY HH:MM' or \
     'monthly D HH:MM' (UTC, DAY as mon…sun)"
)]
pub struct ScheduleError {
    pub given: String,
    pub why: String,
}

impl Schedule {
    pub fn hourly(minute: u32) -> Option<Self> {
        (minute < 60).then_some(Self::Hourly { minute })
    }

    pub fn daily(hour: u32, minute: u32) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self::Daily { hour, minute })
    }

    pub fn weekly(day: Weekday, hour: u32, minute: u32) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self::Weekly { day, hour, minute })
    }

    pub fn monthly_by_day(day: u32, hour: u32, minute: u32) -> Option<Self> {
        ((1..=31).contains(&day) && hour < 24 && minute < 60).then_some(Self::MonthlyByDay { day, hour, minute })
    }

    pub fn minute(self) -> u32 {
        match self {
            Self::Hourly { minute }
            | Self::Daily { minute, .. }
            | Self::Weekly { minute, .. }
            | Self::MonthlyByDay { minute, .. } => minute,
        }
    }

    /// The first slot strictly after `after`. `None` only past the end of chrono's calendar.
    pub fn next_after(self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (hour, minute) = match self {
            Self::Hourly { minute } => {
                let this_hour = after.date_naive().and_hms_opt(after.hour(), minute, 0)?.and_utc();
                return [Some(this_hour), this_hour.checked_add_signed(chrono::Duration::hours(1))]
                    .into_iter()
                    .flatten()
                    .find(|t| *t > after);
            }
            Self::Daily { hour, minute }
            | Self::Weekly { hour, minute, .. }
            | Self::MonthlyByDay { hour, minute, .. } => (hour, minute),
        };
        let fits = |day: NaiveDate| match self {
            Self::Weekly { day: wanted, .. } => day.weekday() == wanted,
            Self::MonthlyByDay { day: wanted, .. } => day.day() == wanted,
            Self::Hourly { .. } | Self::Daily { .. } => true,
        };
        // Two months always hold a day 1–31 (a 31st exists in one of any two in a row);
        // 62 days plus today is enough, and a week fits easily.
        (0..=62u64)
            .filter_map(|d| after.date_naive().checked_add_days(Days::new(d)))
            .filter(|day| fits(*day))
            .filter_map(|day| day.and_hms_opt(hour, minute, 0).map(|t| t.and_utc()))
            .find(|t| *t > after)
    }

    /// Has a slot passed since `last_run` (the start of the source's last sync)? A source
    /// that never ran is due.
    pub fn is_due(self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        match last_run {
            None => true,
            Some(last) => self.next_after(last).is_some_and(|slot| slot <= now),
        }
    }
}

/// The start of a source's last sync, if it ever ran.
pub fn last_run_start(store: &Store, source: &Source) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store.meta.last_run(source.id)?.and_then(|r| DateTime::from_timestamp(r.started_at, 0)))
}

/// When `source` syncs by itself next: the first slot after its last run started (earlier
/// than `now` when it is due), `now` if it never ran; `None` when it has no schedule or
/// is disabled.
pub fn next_run(store: &Store, source: &Source, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
    let Some(schedule) = source.config.schedule.filter(|_| source.config.enabled) else {
        return Ok(None);
    };
    Ok(match last_run_start(store, source)? {
        Some(last) => schedule.next_after(last),
        None => Some(now),
    })
}

/// The slot a due source's scheduled run is for, the same on every replica that asks: the
/// first slot after its last run started, or, for a source that never ran, the minute
/// `now` falls in. [`Store::run_due`] claims it once across replicas
/// (`MetaStore::claim_due`), so a slot is run once, not once per replica.
pub fn due_slot(store: &Store, source: &Source, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
    Ok(next_run(store, source, now)?.filter(|next| *next <= now).map(|next| match last_run_start(store, source) {
        Ok(Some(_)) => next.timestamp(),
        _ => now.timestamp() - now.timestamp().rem_euclid(60),
    }))
}

/// Claim the scheduled run of `source` for `slot`: true for exactly one caller per slot,
/// whichever replica asks first.
pub fn claim_slot(store: &Store, source: &Source, slot: i64) -> Result<bool, StoreError> {
    store.meta.claim_due(&format!("sync:{}", source.config.name), slot)
}

/// Enabled sources with a schedule whose slot has passed since their last run (a source
/// that never ran is due), in name order: what `mirror sync --due` and the scheduler of
/// `esxlcm serve --store` sync. A failed run counts as a run: it is retried at the next slot.
pub fn due_sources(store: &Store, now: DateTime<Utc>) -> Result<Vec<Source>, StoreError> {
    let mut due = Vec::new();
    for source in store.meta.sources()? {
        if next_run(store, &source, now)?.is_some_and(|next| next <= now) {
            due.push(source);
        }
    }
    due.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    Ok(due)
}

/// `mon`, `monday`, `MONDAY`, … (the API spells days in capitals).
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    const NAMES: [(Weekday, &str); 7] = [
        (Weekday::Mon, "monday"),
        (Weekday::Tue, "tuesday"),
        (Weekday::Wed, "wednesday"),
        (Weekday::Thu, "thursday"),
        (Weekday::Fri, "friday"),
        (Weekday::Sat, "saturday"),
        (Weekday::Sun, "sunday"),
    ];
    let t = text.trim().to_ascii_lowercase();
    NAMES.iter().find(|(_, name)| t == *name || (t.len() == 3 && name.starts_with(&t))).map(|(d, _)| *d)
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// `HH:MM` → (hour, minute).
fn parse_time(text: &str) -> Option<(u32, u32)> {
    let (h, m) = text.split_once(':')?;
    let digits = |t: &str, lens: std::ops::RangeInclusive<usize>| {
        (lens.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<u32>().ok()).flatten()
    };
    let (h, m) = (digits(h, 1..=2)?, digits(m, 2..=2)?);
    (h < 24 && m < 60).then_some((h, m))
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Hourly { minute } => write!(f, "hourly :{minute:02}"),
            Self::Daily { hour, minute } => write!(f, "daily {hour:02}:{minute:02}"),
            Self::Weekly { day, hour, minute } => write!(f, "weekly {} {hour:02}:{minute:02}", weekday_name(day)),
            Self::MonthlyByDay { day, hour, minute } => write!(f, "monthly {day} {hour:02}:{minute:02}"),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, ScheduleError> {
        let err = |why: &str| ScheduleError { given: s.to_owned(), why: why.to_owned() };
        let words: Vec<&str> = s.split_whitespace().collect();
        let kind = words.first().map(|w| w.to_ascii_lowercase()).unwrap_or_default();
        match (kind.as_str(), words.as_slice()) {
            ("hourly", [_, minute]) => {
                let m = minute.strip_prefix(':').unwrap_or(minute);
                m.parse::<u32>()
                    .ok()
                    .filter(|_| m.len() <= 2)
                    .and_then(Self::hourly)
                    .ok_or_else(|| err("the minute must be :00 to :59"))
            }
            ("daily", [_, time]) => {
                let (h, m) = parse_time(time).ok_or_else(|| err("the time must be HH:MM, 00:00 to 23:59"))?;
                Self::daily(h, m).ok_or_else(|| err("the time must be HH:MM"))
            }
            ("weekly", [_, day, time]) => {
                let day =
                    parse_weekday(day).ok_or_else(|| err("the day must be mon, tue, wed, thu, fri, sat or sun"))?;
                let (h, m) = parse_time(time).ok_or_else(|| err("the time must be HH:MM, 00:00 to 23:59"))?;
                Self::weekly(day, h, m).ok_or_else(|| err("the time must be HH:MM"))
            }
            ("monthly", [_, day, time]) => {
                let day = day.parse::<u32>().ok().filter(|d| (1..=31).contains(d));
                let day = day.ok_or_else(|| err("the day of the month must be 1 to 31"))?;
                let (h, m) = parse_time(time).ok_or_else(|| err("the time must be HH:MM, 00:00 to 23:59"))?;
                Self::monthly_by_day(day, h, m).ok_or_else(|| err("the time must be HH:MM"))
            }
            ("hourly" | "daily" | "weekly" | "monthly", _) => Err(err("wrong number of fields")),
            _ => Err(err("it must start with hourly, daily, weekly or monthly")),
        }
    }
}

/// Stored as its text form, so a source's configuration reads as it was typed.
impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn text_round_trips_and_bad_text_says_why() {
        for text in ["hourly :05", "daily 02:30", "weekly sun 03:00", "monthly 31 00:00"] {
            let s: Schedule = text.parse().unwrap();
            assert_eq!(s.to_string(), text);
            assert_eq!(serde_json::from_value::<Schedule>(serde_json::to_value(s).unwrap()).unwrap(), s);
        }
        assert_eq!("Weekly SUNDAY 3:00".parse::<Schedule>().unwrap().to_string(), "weekly sun 03:00");
        assert_eq!("hourly 7".parse::<Schedule>().unwrap(), Schedule::Hourly { minute: 7 });
        for bad in
            ["", "hourly :60", "daily 24:00", "daily 2", "weekly xyz 01:00", "monthly 32 01:00", "often", "daily 1:2:3"]
        {
            let e = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(e.contains("use 'hourly :MM'"), "{bad}: {e}");
        }
        assert_eq!(parse_weekday("MONDAY"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("mo"), None);
    }

    #[test]
    fn slots_of_each_recurrence() {
        let hourly = Schedule::hourly(15).unwrap();
        assert_eq!(hourly.next_after(t("2026-11-23T10:05:00Z")), Some(t("2026-11-23T10:15:00Z")));
        assert_eq!(hourly.next_after(t("2026-11-23T10:15:00Z")), Some(t("2026-11-23T11:15:00Z")));
        assert_eq!(hourly.next_after(t("2026-12-31T23:20:00Z")), Some(t("2027-01-01T00:15:00Z")));
        let daily = Schedule::daily(2, 30).unwrap();
        assert_eq!(daily.next_after(t("2026-11-23T10:00:00Z")), Some(t("2026-11-24T02:30:00Z")));
        // 2026-11-23 is a Monday.
        let weekly = Schedule::weekly(Weekday::Sun, 3, 0).unwrap();
        assert_eq!(weekly.next_after(t("2026-11-23T10:00:00Z")), Some(t("2026-11-29T03:00:00Z")));
        let monthly = Schedule::monthly_by_day(31, 0, 0).unwrap();
        assert_eq!(monthly.next_after(t("2026-11-23T10:00:00Z")), Some(t("2026-12-31T00:00:00Z")));
        assert_eq!(monthly.next_after(t("2027-01-31T00:00:00Z")), Some(t("2027-03-31T00:00:00Z")));
    }

    #[test]
    fn due_when_a_slot_passed_since_the_last_run() {
        let daily = Schedule::daily(2, 30).unwrap();
        assert!(daily.is_due(None, t("2026-11-23T10:00:00Z")), "never ran");
        assert!(!daily.is_due(Some(t("2026-11-23T03:00:00Z")), t("2026-11-24T02:29:59Z")));
        assert!(daily.is_due(Some(t("2026-11-23T03:00:00Z")), t("2026-11-24T02:30:00Z")));
    }

    #[test]
    fn due_sources_follow_schedules_and_last_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let add = |name: &str, schedule: Option<&str>, enabled: bool| {
            let mut c = crate::source::SourceConfig::new(name, "file:///nowhere/index.xml").unwrap();
            c.schedule = schedule.map(|s| s.parse().unwrap());
            c.enabled = enabled;
            store.meta.add_source(&c).unwrap()
        };
        let ran = |source: &Source, at: &str| {
            store
                .meta
                .record_run(&crate::meta::SyncRun {
                    source_id: source.id,
                    started_at: t(at).timestamp(),
                    finished_at: t(at).timestamp() + 5,
                    outcome: "failed".into(),
                    snapshot_id: None,
                    files_fetched: 0,
                    bytes_fetched: 0,
                    message: String::new(),
                })
                .unwrap();
        };
        let daily = add("daily", Some("daily 02:30"), true);
        let hourly = add("hourly", Some("hourly :10"), true);
        add("manual", None, true);
        add("off", Some("hourly :10"), false);
        let names = |now: &str| -> Vec<String> {
            due_sources(&store, t(now)).unwrap().into_iter().map(|s| s.config.name).collect()
        };
        assert_eq!(names("2026-11-23T10:00:00Z"), ["daily", "hourly"], "never ran: due");
        ran(&daily, "2026-11-23T02:30:05Z");
        ran(&hourly, "2026-11-23T10:10:02Z");
        assert!(names("2026-11-23T11:00:00Z").is_empty());
        assert_eq!(names("2026-11-23T11:10:00Z"), ["hourly"]);
        assert_eq!(names("2026-11-24T02:31:00Z"), ["daily", "hourly"]);
        assert_eq!(next_run(&store, &daily, t("2026-11-23T11:00:00Z")).unwrap(), Some(t("2026-11-24T02:30:00Z")));
    }

    fn any_schedule() -> impl Strategy<Value = Schedule> {
        prop_oneof![
            (0u32..60).prop_map(|m| Schedule::hourly(m).unwrap()),
            (0u32..24, 0u32..60).prop_map(|(h, m)| Schedule::daily(h, m).unwrap()),
            (0u8..7, 0u32..24, 0u32..60)
                .prop_map(|(d, h, m)| { Schedule::weekly(Weekday::try_from(d).unwrap(), h, m).unwrap() }),
            (1u32..=31, 0u32..24, 0u32..60).prop_map(|(d, h, m)| Schedule::monthly_by_day(d, h, m).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn next_after_is_later_and_lands_on_the_slot(s in any_schedule(), secs in 0i64..4_102_444_800) {
            let after = DateTime::from_timestamp(secs, 0).unwrap();
            let next = s.next_after(after).unwrap();
            prop_assert!(next > after);
            prop_assert_eq!(next.second(), 0);
            prop_assert_eq!(next.minute(), s.minute());
            match s {
                Schedule::Hourly { .. } => prop_assert!(next - after <= chrono::Duration::hours(1)),
                Schedule::Daily { hour, .. } => {
                    prop_assert_eq!(next.hour(), hour);
                    prop_assert!(next - after <= chrono::Duration::days(1));
                }
                Schedule::Weekly { day, hour, .. } => {
                    prop_assert_eq!((next.weekday(), next.hour()), (day, hour));
                    prop_assert!(next - after <= chrono::Duration::days(7));
                }
                Schedule::MonthlyByDay { day, hour, .. } => {
                    prop_assert_eq!((next.day(), next.hour()), (day, hour));
                    prop_assert!(next - after <= chrono::Duration::days(62));
                }
            }
            // Nothing in between: the slot just before `next` is not after `after`.
            let just_before = next - chrono::Duration::seconds(1);
            prop_assert_eq!(s.next_after(just_before), Some(next));
            prop_assert_eq!(s.to_string().parse::<Schedule>().unwrap(), s);
        }
    }
}
