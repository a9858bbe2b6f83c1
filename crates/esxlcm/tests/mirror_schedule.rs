//! Scheduled syncs: `mirror schedule`, `mirror sync --due` (for cron) against an injected
//! clock, the status documents every sync leaves in STORE/status/, and the scheduler of
//! `esxlcm serve --store`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::mirror_support::*;
use chrono::{Datelike as _, Utc};

#[test]
fn sync_due_runs_only_sources_whose_slot_passed_and_leaves_status_documents() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    let s = store.to_str().unwrap();
    let url = file_url(&upstream);
    for name in ["daily", "weekly", "manual"] {
        ok(&["mirror", "--store", s, "add", name, &url]);
    }
    // The weekly slot is four days from today, so two days from now it has not come yet.
    let in_four_days = (Utc::now() + chrono::Duration::days(4)).weekday().to_string().to_lowercase();
    let set = ok(&["mirror", "--store", s, "schedule", "daily", "--daily", "02:30"]);
    assert!(set.stdout.contains("daily: daily 02:30 UTC; next run"), "{}", set.stdout);
    ok(&["mirror", "--store", s, "schedule", "weekly", "--weekly", &in_four_days, "03:00"]);

    let bad = run(&["mirror", "--store", s, "schedule", "daily", "--daily", "25:00"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("HH:MM"), "says what is expected: {}", bad.stderr);
    assert_eq!(run(&["mirror", "--store", s, "schedule", "daily"]).code, 2, "a schedule or --off is required");

    let list = json(&ok(&["mirror", "--store", s, "list", "--json"]));
    assert_eq!(listed_source(&list, "daily")["schedule"], "daily 02:30");
    let manual = listed_source(&list, "manual");
    assert!(manual["schedule"].is_null() && manual["next_run"].is_null());

    // Never synced: both scheduled sources are due, the unscheduled one is not.
    let first = ok(&["mirror", "--store", s, "sync", "--due"]);
    assert!(first.stdout.contains("daily: published snapshot"), "{}", first.stdout);
    assert!(first.stdout.contains("weekly: published snapshot"), "{}", first.stdout);
    assert!(!first.stdout.contains("manual"), "{}", first.stdout);
    let nothing = ok(&["mirror", "--store", s, "sync", "--due"]);
    assert!(nothing.stdout.contains("no source is due; next:"), "{}", nothing.stdout);

    let doc = status_doc(&store, "daily");
    assert_eq!(doc["state"], "succeeded", "{doc}");
    assert_eq!(doc["phase"], "done");
    assert!(doc["files_total"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["files_done"], doc["files_total"], "{doc}");
    assert_eq!(doc["bytes_done"], doc["bytes_total"], "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("published snapshot"), "{doc}");
    assert!(doc["next_run"].as_str().unwrap().ends_with("T02:30:00Z"), "{doc}");

    // Two days on, the daily slot has passed and the weekly one has not.
    update_upstream(&v2, &upstream);
    let later = chrono::DateTime::<Utc>::from_timestamp(Utc::now().timestamp() + 2 * 86_400, 0).unwrap();
    let later = later.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let due = ok(&["mirror", "--store", s, "sync", "--due", "--now", &later]);
    assert!(due.stdout.contains("daily: published snapshot"), "{}", due.stdout);
    assert!(!due.stdout.contains("weekly"), "{}", due.stdout);
    assert_eq!(tree(&store.join("published/daily")), tree(&v2));
    assert_ne!(tree(&store.join("published/weekly")), tree(&v2), "weekly waits for its slot");

    let status = json(&ok(&["mirror", "--store", s, "status", "--json"]));
    let daily = listed_source(&status, "daily");
    assert_eq!(daily["schedule"], "daily 02:30");
    assert_eq!(daily["sync"]["state"], "succeeded");
    assert_eq!(daily["sync"]["source"], "daily");
    let text = ok(&["mirror", "--store", s, "status"]).stdout;
    assert!(text.contains("schedule: daily 02:30 UTC; next run"), "{text}");

    let off = ok(&["mirror", "--store", s, "schedule", "daily", "--off"]);
    assert!(off.stdout.contains("no schedule"), "{}", off.stdout);
    let status = json(&ok(&["mirror", "--store", s, "status", "--json"]));
    assert!(listed_source(&status, "daily")["schedule"].is_null());
    let bad_now = run(&["mirror", "--store", s, "sync", "--due", "--now", "tomorrow"]);
    assert_ne!(bad_now.code, 0);
    assert!(bad_now.stderr.contains("RFC 3339"), "{}", bad_now.stderr);

    // A removed source's status document goes with it.
    ok(&["mirror", "--store", s, "remove", "weekly"]);
    assert!(!store.join("status/weekly.json").exists());
    assert!(store.join("status/daily.json").exists());
}

/// A failed sync's document says so, with the error; a rejected one names the payloads.
#[test]
fn a_failed_sync_leaves_a_failed_status_document() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let gone = file_url(&dir.path().join("nothing-here"));
    ok(&["mirror", "--store", s, "add", "gone", &gone]);
    let r = run(&["mirror", "--store", s, "sync", "gone"]);
    assert_ne!(r.code, 0);
    let doc = status_doc(&store, "gone");
    assert_eq!(doc["state"], "failed", "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("no vendor list found"), "{doc}");
    assert!(doc["next_run"].is_null(), "no schedule: {doc}");
}

/// `esxlcm serve --store` runs a due source's sync in the background and serves it; a
/// failing source is recorded as failed and does not stop the server.
#[test]
fn serve_store_runs_scheduled_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, store) = (dir.path().join("up"), dir.path().join("store"));
    generate(2, &upstream);
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &file_url(&upstream)]);
    ok(&["mirror", "--store", s, "schedule", "up", "--hourly", ":00"]);
    let gone = file_url(&dir.path().join("nothing-here"));
    ok(&["mirror", "--store", s, "add", "broken", &gone]);
    ok(&["mirror", "--store", s, "schedule", "broken", "--hourly", ":00"]);

    let served = serve_store(&store);
    let deadline = Instant::now() + Duration::from_secs(120);
    let finished = |name: &str| {
        let p = store.join("status").join(format!("{name}.json"));
        std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter(|d| d["state"] != "running")
    };
    let (up, broken) = loop {
        if let (Some(a), Some(b)) = (finished("up"), finished("broken")) {
            break (a, b);
        }
        assert!(Instant::now() < deadline, "the scheduled syncs did not finish in time");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(up["state"], "succeeded", "{up}");
    assert!(up["next_run"].as_str().unwrap().ends_with(":00:00Z"), "{up}");
    assert_eq!(broken["state"], "failed", "{broken}");
    let vibs = tree(&upstream).keys().filter(|k| k.ends_with(".vib")).count() as u64;
    let served_vibs = inspected_vib_count(&format!("{}up/index.xml", served.base));
    assert_eq!(served_vibs, vibs, "the scheduled sync's snapshot is served");
}
