//! An administrator's day in the browser: log in through the form; add a depot by
//! uploading a real sample bundle and find its component and version by following links;
//! compose a cluster image whose component misses a dependency, read the explanation, fix
//! it, commit; post a host's state and see it non-compliant; export the image as JSON and
//! download it; log out. Every page is screenshot and leaves the console clean.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::harness::{ADMIN, Browser, ONE_BROWSER, Service, browser_wanted, picks};

const TASK_WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_depot_builds_an_image_checks_a_host_and_exports() {
    if !browser_wanted() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let p = picks();
    let bundle = esxlcm_test_support::sample_bundle("ESXi80U3-VMKUSB-NIC-FLING");
    let host_state = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/host-state/compliant.json")
        .canonicalize()
        .unwrap();
    let svc = Service::start().await;
    let b = Browser::start().await;

    // Logging in: `/` leads to the login form.
    b.goto(&svc.url("/")).await;
    assert_eq!(b.path().await, "/ui/login");
    b.checked("login").await;
    // The console check sees what it must refuse: a failed load is an error.
    b.goto(&svc.url("/ui/assets/no-such-file.js")).await;
    assert!(b.console().await.iter().any(|e| e["level"] == "SEVERE"), "a 404 shows in the console");
    b.login(&svc, ADMIN).await;
    assert_eq!(b.path().await, "/ui/");
    let home = b.checked("home").await;
    b.assert_keyboard_start().await;
    assert!(home.contains("demo") && home.contains("Store health"), "{home}");

    // A depot from a bundle uploaded by the browser, its task followed live.
    b.click_link("Depots").await;
    b.checked("depots").await;
    b.find("#bundle").await.send_keys(bundle.to_str().unwrap()).await.unwrap();
    b.fill("#up-description", "VMKUSB NIC fling, uploaded").await;
    b.submit("/ui/depots/offline/upload").await;
    b.wait_text("SUCCEEDED", TASK_WAIT).await;
    b.checked("task").await;

    // A second depot from a URL: the demo's content again, with a hardware support package.
    let hsp_dir = tempfile::tempdir().unwrap();
    let hsp_bundle = hsp_dir.path().join("with-hsp.zip");
    let config = esxlcm_depot::generate::GeneratorConfig {
        hardware_support: 1,
        ..esxlcm_depot::generate::GeneratorConfig::tiny(7)
    };
    esxlcm_depot::generate::generate_to_bundle(&config, &hsp_bundle).unwrap();
    b.click_link("Depots").await;
    b.fill("#off-location", url::Url::from_file_path(&hsp_bundle).unwrap().as_str()).await;
    b.submit("/ui/depots/offline").await;
    b.wait_text("SUCCEEDED", TASK_WAIT).await;

    // The demo depot gets a second snapshot (the same content plus the hardware support
    // package, pushed as `esxlcm mirror push` would): what changed, by content and by file.
    let store_dir = esxlcm_server::api::store_dir(&svc.data_dir);
    let pushed = hsp_bundle.clone();
    tokio::task::spawn_blocking(move || {
        let store = esxlcm_store::Store::open(&store_dir).unwrap();
        let wait = esxlcm_store::ops::LockWait(Duration::from_secs(30));
        let options = esxlcm_store::sync::SyncOptions::default();
        store.push("demo", &pushed, &options, wait, &esxlcm_store::sync::NoProgress).unwrap();
    })
    .await
    .unwrap();
    b.page(&svc, "/ui/depots/demo", "depot-two-snapshots").await;
    b.click_and_wait("form[action='/ui/depots/demo/changes'] button").await;
    let changes = b.checked("depot-changes").await;
    assert!(changes.contains("component ") && changes.contains("hardware support "), "{changes}");

    // Sync now: a task whose page follows it.
    b.click_link("Depots").await;
    b.submit("/ui/depots/sync").await;
    b.wait_text("SUCCEEDED", TASK_WAIT).await;
    assert!(b.path().await.starts_with("/ui/tasks/"));
    b.checked("sync-task").await;

    // The online depots' schedule, validated and saved.
    b.click_link("Depots").await;
    b.fill("#sched-minute", "75").await;
    b.submit("/ui/depots/schedule").await;
    let refused = b.body_text().await;
    assert!(refused.contains("Minute: a whole number from 0 to 59"), "{refused}");
    b.console().await; // the 422 answer is logged as a failed load: expected here
    b.goto(&svc.url("/ui/depots")).await;
    b.find("#sched-enabled").await.click().await.unwrap();
    b.select("#sched-type", "DAILY").await;
    b.fill("#sched-hour", "3").await;
    b.fill("#sched-minute", "30").await;
    b.submit("/ui/depots/schedule").await;
    let depots = b.checked("depots-scheduled").await;
    assert!(depots.contains("synced on schedule, every day at 03:30 UTC"), "{depots}");

    // Its component and version, by following links.
    b.click_link("Depots").await;
    let depots = b.wait_text("VMKUSB NIC fling, uploaded", Duration::from_secs(10)).await;
    assert!(depots.contains("offline-"), "{depots}");
    b.click_and_wait("#results a[href^='/ui/depots/offline-']").await;
    let depot = b.checked("depot").await;
    assert!(depot.contains("published") && depot.contains("Signature findings"), "{depot}");
    let depot_path = b.path().await;
    b.select("#policy", "warn").await;
    b.submit(&format!("{depot_path}/signatures")).await;
    let warned = b.checked("depot-policy").await;
    assert!(warned.contains("Signature policy\nwarn") || warned.contains("Signature policy warn"), "{warned}");
    // Its own schedule: a wrong one is named on the page, a right one is taken.
    b.fill("#depot-schedule", "daily 25:00").await;
    b.submit(&format!("{depot_path}/schedule")).await;
    let refused = b.body_text().await;
    assert!(refused.contains("'daily 25:00' is not a schedule"), "{refused}");
    b.console().await; // the 422 answer is logged as a failed load: expected here
    b.goto(&svc.url(&depot_path)).await;
    b.fill("#depot-schedule", "weekly sun 03:00").await;
    b.submit(&format!("{depot_path}/schedule")).await;
    let scheduled = b.checked("depot-schedule").await;
    assert!(scheduled.contains("weekly sun 03:00 — next:"), "{scheduled}");
    b.click_link("Components in this depot").await;
    b.checked("components").await;
    let links = b.client.find_all(fantoccini::Locator::Css("#results tbody a")).await.unwrap();
    assert_eq!(links.len(), 1, "the bundle holds one component");
    drop(links);
    b.click_and_wait("#results tbody a").await;
    let component = b.checked("component").await;
    assert!(component.contains("In depots") && component.contains("offline-"), "{component}");
    b.click_and_wait("table tbody a").await;
    let version = b.checked("component-version").await;
    assert!(version.contains("VIBs") && version.contains("Depends on"), "{version}");

    // A cluster and a draft whose component misses a dependency.
    b.click_link("Images").await;
    b.checked("images").await;
    b.fill("#cluster-name", "prod").await;
    b.submit("/ui/images/clusters").await;
    b.wait_text("No image committed yet", Duration::from_secs(10)).await;
    let cluster_path = b.path().await;
    b.click_and_wait("form[action$='/drafts'] button").await;
    b.wait_text("Set base image", Duration::from_secs(10)).await;
    let draft_path = b.path().await;
    b.select("#base-image", &p.low).await;
    b.submit(&format!("{draft_path}/base-image")).await;
    b.wait_text(&p.low, Duration::from_secs(10)).await;
    b.select("#component", &format!("{}|{}", p.component.0, p.component.1)).await;
    b.submit(&format!("{draft_path}/components")).await;
    b.wait_text(&format!("Remove {}", p.component.0), Duration::from_secs(10)).await;
    b.submit(&format!("{draft_path}/validate")).await;
    b.wait_url("validation=").await;
    b.after_task("Show the findings").await;
    let findings = b.wait_text("Because:", TASK_WAIT).await;
    assert!(findings.contains(&p.component.0) && findings.contains("Fix:"), "{findings}");
    b.checked("draft-invalid").await;

    // Fixed as the explanation says: the newest base image, with its add-on.
    b.select("#base-image", &p.high).await;
    b.submit(&format!("{draft_path}/base-image")).await;
    b.wait_text(&p.high, Duration::from_secs(10)).await;
    b.select("#add-on", &format!("{}|{}", p.addon.0, p.addon.1)).await;
    b.submit(&format!("{draft_path}/add-on")).await;
    b.wait_text(&p.addon.1, Duration::from_secs(10)).await;
    // A hardware support package picked from the depots, then taken out again.
    let hsp = b.find("#hsp option:nth-child(2)").await.attr("value").await.unwrap().unwrap();
    let pkg = hsp.split('|').nth(1).unwrap().to_owned();
    b.select("#hsp", &hsp).await;
    b.submit(&format!("{draft_path}/hardware-support")).await;
    let with_hsp = b.checked("draft-hsp").await;
    assert!(with_hsp.contains(&pkg), "{with_hsp}");
    b.select("#hsp", "").await;
    b.submit(&format!("{draft_path}/hardware-support")).await;
    b.submit(&format!("{draft_path}/validate")).await;
    b.wait_url("validation=").await;
    b.after_task("Show the findings").await;
    b.wait_text("The draft is valid", TASK_WAIT).await;
    b.checked("draft-valid").await;
    b.fill("#message", "prod image: newest ESXi with the add-on").await;
    b.submit(&format!("{draft_path}/commit")).await;
    b.wait_url("/ui/tasks/").await;
    if b.exists("[data-task-events]").await {
        b.after_task("Continue").await;
    } else {
        b.click_link("Continue").await;
    }
    let cluster = b.checked("cluster").await;
    assert_eq!(b.path().await, cluster_path);
    assert!(cluster.contains("prod image: newest ESXi with the add-on") && cluster.contains(&p.high), "{cluster}");

    // A host of the cluster posts its state (a file) and is scanned: not compliant.
    b.click_link("Compliance").await;
    b.fill("#host-name", "esx-01").await;
    b.select("#host-cluster", cluster_path.rsplit('/').next().unwrap()).await;
    b.submit("/ui/compliance/hosts").await;
    b.wait_text("esx-01", Duration::from_secs(10)).await;
    b.checked("compliance").await;
    b.find("input[type=file][name=file]").await.send_keys(host_state.to_str().unwrap()).await.unwrap();
    b.click_and_wait("form[action$='/state'] button[type=submit]").await;
    b.wait_text("Scan the hosts now", Duration::from_secs(10)).await;
    b.click_and_wait("form[action$='/scan'] button").await;
    b.wait_url("scan=").await;
    b.after_task("Show the scan").await;
    let scan = b.wait_text("Last scan", TASK_WAIT).await;
    assert!(scan.contains("NON_COMPLIANT") && scan.contains("esx-01") && scan.contains("Impact"), "{scan}");
    b.checked("cluster-compliance").await;

    // A standalone host has an image of its own, edited the same way.
    b.click_link("Compliance").await;
    b.fill("#host-name", "edge-01").await;
    b.submit("/ui/compliance/hosts").await;
    b.click_link("Images").await;
    b.click_link("edge-01").await;
    b.wait_text("Standalone host", Duration::from_secs(10)).await;
    let host_path = b.path().await;
    assert!(host_path.starts_with("/ui/images/hosts/"), "{host_path}");
    b.click_and_wait("form[action$='/drafts'] button").await;
    let host_draft = b.path().await;
    assert!(!b.exists("#hsp").await, "hosts' drafts have no hardware support in the API");
    b.select("#base-image", &p.high).await;
    b.submit(&format!("{host_draft}/base-image")).await;
    b.fill("#message", "edge: newest ESXi").await;
    b.submit(&format!("{host_draft}/commit")).await;
    if b.exists("[data-task-events]").await {
        b.after_task("Continue").await;
    } else {
        b.click_link("Continue").await;
    }
    let host_image = b.checked("host-image").await;
    assert_eq!(b.path().await, host_path);
    assert!(host_image.contains("edge: newest ESXi") && host_image.contains(&p.high), "{host_image}");
    b.click_link("Compliance").await;
    b.find("input[type=file][name=file]").await.send_keys(host_state.to_str().unwrap()).await.unwrap();
    b.click_and_wait("form[action$='/state'] button[type=submit]").await;
    b.click_and_wait("form[action$='/scan'] button").await;
    b.wait_url("scan=").await;
    b.after_task("Show the scan").await;
    let host_scan = b.wait_text("Last scan", TASK_WAIT).await;
    assert!(host_scan.contains("edge-01: NON_COMPLIANT"), "{host_scan}");
    b.checked("host-compliance").await;

    // The image library: a named image made from a library draft.
    b.click_link("Images").await;
    b.click_link("Image library").await;
    b.click_and_wait("form[action$='/drafts'] button").await;
    let lib_draft = b.path().await;
    assert!(lib_draft.starts_with("/ui/images/library/"), "{lib_draft}");
    b.select("#base-image", &p.high).await;
    b.submit(&format!("{lib_draft}/base-image")).await;
    b.fill("#display-name", "gold").await;
    b.submit(&format!("{lib_draft}/display-name")).await;
    b.fill("#message", "the gold image").await;
    b.submit(&format!("{lib_draft}/commit")).await;
    if b.exists("[data-task-events]").await {
        b.after_task("Continue").await;
    } else {
        b.click_link("Continue").await;
    }
    let library = b.checked("library").await;
    assert!(library.contains("gold") && library.contains(&p.high), "{library}");

    // The image as JSON, built and downloaded.
    b.click_link("Exports").await;
    let exports = b.checked("exports").await;
    assert!(exports.contains("cluster prod") && exports.contains("standalone host edge-01"), "{exports}");
    b.find("#want-bundle").await.click().await.unwrap();
    b.submit("/ui/exports").await;
    b.after_task("Show the downloads").await;
    b.wait_text("Download", TASK_WAIT).await;
    b.checked("export-ready").await;
    let link = b.find("a[download][href$='.json']").await.attr("href").await.unwrap().unwrap();
    let resp = svc.http().get(svc.url(&link)).header("cookie", b.session_cookie().await).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{link}");
    let spec: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(spec["base_image"]["version"], p.high.as_str(), "{spec}");
    let zip = b.find("a[download][href$='.zip']").await.attr("href").await.unwrap().unwrap();
    let resp = svc.http().get(svc.url(&zip)).header("cookie", b.session_cookie().await).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{zip}");
    assert!(resp.bytes().await.unwrap().starts_with(b"PK"), "an offline bundle is a ZIP");
    let anonymous = svc.http().get(svc.url(&link)).send().await.unwrap();
    assert_eq!(anonymous.status(), 303, "a download needs a session");

    // The rest of the pages, for their screenshots.
    for (path, shot) in [
        ("/ui/tasks", "tasks"),
        ("/ui/content/base-images", "base-images"),
        ("/ui/content/add-ons", "add-ons"),
        ("/ui/depots/demo/changes?from=1&to=1", "depot-no-changes"),
    ] {
        b.page(&svc, path, shot).await;
    }
    assert!(b.body_text().await.contains("The two snapshots hold the same files"));
    // On a tablet: the same page, narrower, still without errors.
    b.client.set_window_size(800, 1100).await.unwrap();
    b.page(&svc, "/ui/", "home-tablet").await;

    b.click_and_wait("form[action='/ui/logout'] button").await;
    b.wait_text("Log in to esxlcm", Duration::from_secs(10)).await;
    b.goto(&svc.url("/ui/")).await;
    assert_eq!(b.path().await, "/ui/login", "logged out: pages ask for a login again");
    b.assert_clean_console().await;
    b.stop().await;
}
