//! Depots: the list (every source of the service's store, searchable), adding online,
//! offline (a bundle uploaded from the browser, or a URL) and UMDS depots, syncing now with
//! live progress, and one depot's page: snapshots with rollback, its schedule, signature
//! policy and quarantined VIBs.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use esxlcm_store::meta::QuarantineRecord;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::super::Ui;
use super::super::auth::{Viewer, check_csrf};
use super::super::error::UiError;
use super::super::layout::{self, csrf_field, enc};
use super::super::list::{ListQuery, pager, search, search_with};
use crate::api::errors::ApiError;

const ONLINE: &str = "com.vmware.esx.settings.depots.online";
const OFFLINE: &str = "com.vmware.esx.settings.depots.offline";
const UMDS: &str = "com.vmware.esx.settings.depots.umds";

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/depots", get(list))
        .route("/ui/depots/online", post(add_online))
        .route("/ui/depots/offline", post(add_offline_url))
        .route("/ui/depots/umds", post(set_umds))
        .route("/ui/depots/sync", post(sync_now))
        .route("/ui/depots/{name}", get(detail))
        .route("/ui/depots/{name}/rollback", post(rollback))
        .route("/ui/depots/{name}/signatures", post(set_signatures))
        .route("/ui/depots/{name}/schedule", post(set_depot_schedule))
        .route("/ui/depots/{name}/changes", get(changes))
        .route("/ui/depots/schedule", post(set_schedule))
}

/// One source of the store as the pages show it.
pub struct DepotRow {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub policy: String,
    pub schedule: String,
    /// The schedule as the form takes it (empty: none).
    pub schedule_text: String,
    pub last_sync: String,
    pub next_sync: String,
    pub snapshots: usize,
    pub published: Option<i64>,
    pub published_bytes: u64,
}

/// Every source with its sync state, and the quarantine, read from the store.
pub async fn depot_rows(ui: &Ui) -> Result<(Vec<DepotRow>, Vec<QuarantineRecord>), UiError> {
    let store = Arc::clone(ui.api.depots.store());
    let read = tokio::task::spawn_blocking(move || {
        let now = chrono::Utc::now();
        let mut rows = Vec::new();
        for src in store.sources()? {
            let snaps = store.snapshots(&src)?;
            let published = store.published_snapshot(&src)?;
            let last = store.last_run(&src)?;
            let next = esxlcm_store::schedule::next_run(&store, &src, now)?;
            let c = &src.config;
            rows.push(DepotRow {
                name: c.name.clone(),
                kind: format!("{:?}", c.kind).to_lowercase(),
                url: esxlcm_net::redact::redact_url_str(&c.url),
                description: c.description.clone(),
                enabled: c.enabled,
                policy: c.signatures.as_str().to_owned(),
                schedule: c.schedule.map_or_else(|| "manual".to_owned(), |s| s.to_string()),
                schedule_text: c.schedule.map(|s| s.to_string()).unwrap_or_default(),
                last_sync: last.map_or_else(
                    || "never".to_owned(),
                    |r| format!("{} ({})", layout::epoch(r.finished_at), r.outcome),
                ),
                next_sync: next
                    .map_or_else(|| "not scheduled".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
                snapshots: snaps.len(),
                published,
                published_bytes: snaps.iter().find(|s| Some(s.id) == published).map_or(0, |s| s.bytes),
            });
        }
        let quarantined = store.quarantined()?;
        Ok::<_, esxlcm_store::StoreError>((rows, quarantined))
    })
    .await
    .map_err(|e| UiError::internal(format!("reading the store: {e}")))?;
    read.map_err(|e| UiError::internal(format!("reading the store: {e}")))
}

async fn list(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let (rows, quarantined) = depot_rows(&ui).await?;
    let schedule = ui.call(&viewer, "com.vmware.esx.settings.depots.sync_schedule", "get", json!({})).await?;
    let paged = q.apply(rows, |r| format!("{} {} {} {}", r.name, r.kind, r.url, r.description));
    let body = html! {
        p { "Every depot is a source of the service's store, served to hosts at "
            code { "/depots/<name>/index.xml" } "." }
        (search("/ui/depots", &q, "Search depots (name, kind, URL, description)"))
        div #results {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Depot" } th scope="col" { "Kind" } th scope="col" { "Location" }
                    th scope="col" { "Last sync" } th scope="col" { "Next sync" } th scope="col" { "Snapshots" }
                } }
                tbody { @for r in &paged.rows { tr {
                    td { a href={ "/ui/depots/" (enc(&r.name)) } { (r.name) } br; span.muted { (r.description) } }
                    td { (r.kind) }
                    td.mono { (r.url) }
                    td { (r.last_sync) }
                    td { (r.next_sync) }
                    td { (r.snapshots) }
                } } }
            } }
            (pager("/ui/depots", &q, &paged))
        }
        @if !quarantined.is_empty() {
            p.error { (quarantined.len()) " files are quarantined: see each depot's page." }
        }
        @if viewer.is_admin() { (add_forms(&viewer)) }
        h2 { "Sync schedule" }
        p { "Online depots: " @if schedule.get("enabled").and_then(serde_json::Value::as_bool).unwrap_or(false) {
                "synced on schedule, " (schedule_text(schedule.get("schedule").unwrap_or(&serde_json::Value::Null)))
            } @else { "no automatic sync" } "." }
        @if viewer.is_admin() { (schedule_form(&viewer, &schedule)) }
    };
    Ok(layout::ok(layout::page(&viewer, "Depots", "/ui/depots", body)))
}

/// A sync schedule in words: "every day at 03:30 UTC".
fn schedule_text(s: &serde_json::Value) -> String {
    let num = |f: &str| s.get(f).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let at = format!("{:02}:{:02} UTC", num("hour"), num("minute"));
    match s.get("type").and_then(serde_json::Value::as_str).unwrap_or("") {
        "HOURLY" => format!("every hour at minute {}", num("minute")),
        "DAILY" => format!("every day at {at}"),
        "WEEKLY" => {
            let day = s.get("day_of_week").and_then(serde_json::Value::as_str).unwrap_or("").to_lowercase();
            format!("every {day} at {at}")
        }
        "MONTHLY_BY_DAY" => format!("every month on day {} at {at}", num("day_of_month")),
        other => other.to_owned(),
    }
}

const DAYS: [&str; 7] = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];

fn schedule_form(viewer: &Viewer, current: &serde_json::Value) -> Markup {
    let sched = current.get("schedule").cloned().unwrap_or(serde_json::Value::Null);
    let kind = sched.get("type").and_then(serde_json::Value::as_str).unwrap_or("DAILY").to_owned();
    let num = |f: &str| sched.get(f).and_then(serde_json::Value::as_i64).unwrap_or(0).to_string();
    let day = sched.get("day_of_week").and_then(serde_json::Value::as_str).unwrap_or("SUNDAY").to_owned();
    let enabled = current.get("enabled").and_then(serde_json::Value::as_bool).unwrap_or(false);
    html! {
        form.card method="post" action="/ui/depots/schedule" {
            h3 { "Change the schedule" }
            (csrf_field(viewer))
            p { input #sched-enabled type="checkbox" name="enabled" value="1" checked[enabled]; " " label.inline for="sched-enabled" { "Sync online depots automatically" } }
            p { label for="sched-type" { "How often" }
                select #sched-type name="kind" {
                    @for (v, l) in [("HOURLY", "every hour"), ("DAILY", "every day"), ("WEEKLY", "every week")] {
                        option value=(v) selected[kind == v] { (l) }
                    }
                } }
            p { label for="sched-day" { "Day (weekly)" }
                select #sched-day name="day" { @for d in DAYS { option value=(d) selected[day == d] { (d) } } } }
            p { label for="sched-hour" { "Hour (UTC, 0–23; daily and weekly)" } input #sched-hour type="text" inputmode="numeric" name="hour" value=(num("hour")); }
            p { label for="sched-minute" { "Minute (0–59)" } input #sched-minute type="text" inputmode="numeric" name="minute" value=(num("minute")); }
            p { button type="submit" { "Save the schedule" } }
        }
    }
}

#[derive(Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    enabled: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    hour: String,
    #[serde(default)]
    minute: String,
}

fn number_in(text: &str, field: &str, max: i64) -> Result<i64, UiError> {
    match text.trim().parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(n),
        _ => Err(UiError::input(format!("{field}: a whole number from 0 to {max}."))),
    }
}

/// `depots.sync_schedule.set`: the online depots' schedule.
async fn set_schedule(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<ScheduleForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let minute = number_in(&f.minute, "Minute", 59)?;
    let schedule = match f.kind.as_str() {
        "HOURLY" => json!({"type": "HOURLY", "minute": minute}),
        "DAILY" => json!({"type": "DAILY", "minute": minute, "hour": number_in(&f.hour, "Hour", 23)?}),
        "WEEKLY" => {
            if !DAYS.contains(&f.day.as_str()) {
                return Err(UiError::input("Day: pick a day of the week."));
            }
            json!({"type": "WEEKLY", "minute": minute, "hour": number_in(&f.hour, "Hour", 23)?, "day_of_week": f.day})
        }
        _ => return Err(UiError::input("How often: pick every hour, day or week.")),
    };
    let spec = json!({"enabled": f.enabled.is_some(), "schedule": schedule, "email_addresses": []});
    ui.call(&viewer, "com.vmware.esx.settings.depots.sync_schedule", "set", json!({"spec": spec})).await?;
    Ok(Redirect::to("/ui/depots").into_response())
}

fn add_forms(viewer: &Viewer) -> Markup {
    html! {
        h2 { "Sync" }
        form method="post" action="/ui/depots/sync" {
            (csrf_field(viewer))
            button type="submit" { "Sync all depots now" }
        }
        div.grid {
            form.card method="post" action="/ui/depots/offline/upload" enctype="multipart/form-data" {
                h2 { "Upload an offline bundle" }
                (csrf_field(viewer))
                p { label for="bundle" { "Bundle (.zip)" } input #bundle type="file" name="bundle" accept=".zip" required; }
                p { label for="up-description" { "Description (optional)" } input #up-description type="text" name="description"; }
                p { button type="submit" { "Upload and add" } }
            }
            (location_card(viewer, "/ui/depots/offline", "Offline bundle from a URL", "off", "Bundle URL (https:, http: or file:)", true, "Add"))
            (location_card(viewer, "/ui/depots/online", "Online depot", "on", "index.xml URL", true, "Add"))
            (location_card(viewer, "/ui/depots/umds", "UMDS depot", "umds", "UMDS export URL (…/hostupdate/)", false, "Set"))
        }
    }
}

/// A form adding a depot by its URL ([`LocationForm`]); `prefix` keeps its field ids apart
/// from the other forms' on the page.
fn location_card(
    viewer: &Viewer,
    action: &str,
    title: &str,
    prefix: &str,
    label: &str,
    with_description: bool,
    button: &str,
) -> Markup {
    let (location, description) = (format!("{prefix}-location"), format!("{prefix}-description"));
    html! {
        form.card method="post" action=(action) {
            h2 { (title) }
            (csrf_field(viewer))
            p { label for=(location) { (label) } input #(location) type="url" name="location" required; }
            @if with_description {
                p { label for=(description) { "Description (optional)" } input #(description) type="text" name="description"; }
            }
            p { button type="submit" { (button) } }
        }
    }
}

#[derive(Deserialize)]
struct LocationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    description: String,
}

impl LocationForm {
    fn location(&self) -> Result<String, UiError> {
        let l = self.location.trim();
        if l.is_empty() {
            return Err(UiError::input("Location: enter the depot's URL."));
        }
        if url::Url::parse(l).is_err() {
            return Err(UiError::input(format!(
                "Location: '{l}' is not a URL (for example https://depot.example.com/index.xml)."
            )));
        }
        Ok(l.to_owned())
    }

    fn description(&self) -> Option<String> {
        Some(self.description.trim().to_owned()).filter(|d| !d.is_empty())
    }
}

fn to_task(task: &serde_json::Value) -> Response {
    Redirect::to(&format!("/ui/tasks/{}", enc(task.as_str().unwrap_or_default()))).into_response()
}

async fn add_online(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<LocationForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let spec = json!({"location": f.location()?, "description": f.description()});
    let id = ui.call(&viewer, ONLINE, "create", json!({"spec": spec})).await?;
    Ok(Redirect::to(&format!("/ui/depots/{}", enc(id.as_str().unwrap_or_default()))).into_response())
}

async fn add_offline_url(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<LocationForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let spec = json!({"source_type": "PULL", "location": f.location()?, "description": f.description()});
    let task = ui.call(&viewer, OFFLINE, "create$task", json!({"spec": spec})).await?;
    Ok(to_task(&task))
}

async fn set_umds(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<LocationForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let spec = json!({"location": f.location()?, "description": f.description()});
    ui.call(&viewer, UMDS, "set", json!({"spec": spec})).await?;
    Ok(Redirect::to("/ui/depots").into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sync_now(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let task = ui.call(&viewer, "com.vmware.esx.settings.depots", "sync$task", json!({})).await?;
    Ok(to_task(&task))
}

/// `POST /ui/depots/offline/upload` (multipart: `csrf` first, then `description`, then
/// `bundle`): the bundle streams to the API's upload store, then `offline.create` (PUSH)
/// runs as a task whose page shows its progress.
pub async fn upload(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        UiError::input(format!("the upload could not be read: {}", e.body_text()))
    };
    let mut csrf_ok = false;
    let mut description = None;
    let mut file_id = None;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "csrf" => {
                let given = field.text().await.map_err(bad)?;
                check_csrf(&viewer, &headers, &given)?;
                csrf_ok = true;
            }
            "description" => {
                description = Some(field.text().await.map_err(bad)?.trim().to_owned()).filter(|d| !d.is_empty());
            }
            "bundle" if csrf_ok => {
                let named = field.file_name().is_some_and(|n| !n.is_empty());
                if !named {
                    return Err(UiError::input("Bundle: choose a .zip file to upload."));
                }
                let stream = futures_util::stream::poll_fn(move |cx| {
                    use futures_util::Stream as _;
                    std::pin::Pin::new(&mut field).poll_next(cx)
                });
                let id = crate::api::files::upload_bundle(&ui.api, viewer.credentials(), viewer.peer, Box::pin(stream))
                    .await?;
                file_id = Some(id);
            }
            "bundle" => return Err(UiError::Csrf),
            _ => {}
        }
    }
    let Some(file_id) = file_id else { return Err(UiError::input("Bundle: choose a .zip file to upload.")) };
    let spec = json!({"source_type": "PUSH", "file_id": file_id, "description": description});
    let task = ui.call(&viewer, OFFLINE, "create$task", json!({"spec": spec})).await?;
    Ok(to_task(&task))
}

async fn detail(viewer: Viewer, State(ui): State<Arc<Ui>>, Path(name): Path<String>) -> Result<Response, UiError> {
    let (rows, quarantined) = depot_rows(&ui).await?;
    let Some(row) = rows.into_iter().find(|r| r.name == name) else {
        return Err(UiError::NotFound(format!("there is no depot '{name}'")));
    };
    let store = Arc::clone(ui.api.depots.store());
    let n = name.clone();
    let snaps = tokio::task::spawn_blocking(move || store.source(&n).and_then(|src| store.snapshots(&src)))
        .await
        .map_err(|e| UiError::internal(e.to_string()))?
        .map_err(|e| UiError::internal(e.to_string()))?;
    let held: Vec<_> = quarantined.iter().filter(|q| q.source == name).collect();
    let body = html! {
        dl.facts {
            dt { "Kind" } dd { (row.kind) }
            dt { "Location" } dd.mono { (row.url) }
            dt { "Description" } dd { (row.description) }
            dt { "Enabled" } dd { (if row.enabled { "yes" } else { "no" }) }
            dt { "Served to hosts at" } dd.mono { "/depots/" (row.name) "/index.xml" }
            dt { "Last sync" } dd { (row.last_sync) }
            dt { "Schedule" } dd { (row.schedule) " — next: " (row.next_sync) }
            dt { "Signature policy" } dd { (row.policy) }
        }
        p { a href={ "/ui/content/components?depot=" (enc(&row.name)) } { "Components in this depot" } }
        h2 { "Snapshots" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Snapshot" } th scope="col" { "Made" } th scope="col" { "Files" } th scope="col" { "Size" } th scope="col" { "State" } } }
            tbody { @for snap in snaps.iter().rev() { tr {
                td { (snap.id) }
                td { (layout::epoch(snap.created_at)) }
                td { (snap.files) }
                td { (layout::bytes(snap.bytes)) }
                td {
                    @if Some(snap.id) == row.published { strong { "published" } }
                    @else if viewer.is_admin() {
                        form.inline method="post" action={ "/ui/depots/" (enc(&row.name)) "/rollback" } {
                            (csrf_field(&viewer))
                            input type="hidden" name="snapshot" value=(snap.id);
                            button.secondary type="submit" { "Roll back to " (snap.id) }
                        }
                    }
                }
            } } }
        } }
        @if snaps.len() > 1 {
            form.search method="get" action={ "/ui/depots/" (enc(&row.name)) "/changes" } {
                h3 { "What changed between two snapshots" }
                p { label for="from" { "From" } select #from name="from" { @for (i, sn) in snaps.iter().rev().enumerate() { option value=(sn.id) selected[i == 1] { (sn.id) " — " (layout::epoch(sn.created_at)) } } } }
                p { label for="to" { "To" } select #to name="to" { @for (i, sn) in snaps.iter().rev().enumerate() { option value=(sn.id) selected[i == 0] { (sn.id) " — " (layout::epoch(sn.created_at)) } } } }
                p { button type="submit" { "Compare" } }
            }
        }
        @if viewer.is_admin() {
            form.card method="post" action={ "/ui/depots/" (enc(&row.name)) "/schedule" } {
                h3 { "This depot's schedule" }
                (csrf_field(&viewer))
                p {
                    label for="depot-schedule" { "Sync by itself (UTC), or leave empty for never" }
                    input #depot-schedule type="text" name="schedule" value=(row.schedule_text)
                        placeholder="daily 02:30" aria-describedby="depot-schedule-help";
                }
                p #depot-schedule-help .muted { "hourly :MM, daily HH:MM, weekly DAY HH:MM (mon…sun), monthly D HH:MM" }
                p { button type="submit" { "Set the schedule" } }
            }
            form.card method="post" action={ "/ui/depots/" (enc(&row.name)) "/signatures" } {
                h3 { "Signature policy" }
                (csrf_field(&viewer))
                p { label for="policy" { "VIBs without a valid signature are" }
                    select #policy name="policy" {
                        @for (v, label) in [("require", "refused (require)"), ("warn", "taken with a warning (warn)"), ("off", "not checked (off)")] {
                            option value=(v) selected[row.policy == v] { (label) }
                        }
                    } }
                p { button type="submit" { "Set the policy" } }
            }
        }
        h2 { "Signature findings" }
        @if held.is_empty() { p.ok { "No VIB of this depot is quarantined." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "VIB" } th scope="col" { "Path" } th scope="col" { "Why" } th scope="col" { "When" } } }
                tbody { @for q in &held { tr { td { (q.name) } td.mono { (q.path) } td { (q.reason) } td { (layout::epoch(q.at)) } } } }
            } }
        }
    };
    Ok(layout::ok(layout::page(&viewer, &format!("Depot {name}"), "/ui/depots", body)))
}

#[derive(Deserialize)]
struct RollbackForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    snapshot: String,
}

/// A store operation the API has no operation for (`esxlcm mirror` runs it), done for an
/// administrator and audited as the API's changes are: `action` and `target` name it in
/// the audit log, `what` says in words what a read-only user may not do.
async fn store_change(
    ui: &Ui,
    viewer: &Viewer,
    action: &str,
    target: String,
    what: &str,
    op: impl FnOnce(&esxlcm_store::Store) -> Result<(), esxlcm_store::StoreError> + Send + 'static,
) -> Result<(), UiError> {
    let result = if viewer.is_admin() {
        let store = Arc::clone(ui.api.depots.store());
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))
            .and_then(|r| r.map_err(|e| ApiError::invalid_argument(e.to_string())))
    } else {
        Err(ApiError::unauthorized(format!("user '{}' is read-only and may not {what}", viewer.caller.user)))
    };
    let record = esxlcm_store::audit::AuditRecord {
        user: Some(viewer.caller.user.clone()),
        client: viewer.peer.map(|a| a.to_string()),
        action: action.to_owned(),
        target: Some(target),
        result: result.as_ref().map_or_else(|e| e.kind.name().to_owned(), |()| "ok".to_owned()),
        detail: None,
    };
    crate::api::audit::append(&ui.api, record).await;
    Ok(result?)
}

/// How long a change from a page waits for the store's lock (a sync may hold it).
const STORE_WAIT: esxlcm_store::ops::LockWait = esxlcm_store::ops::LockWait(std::time::Duration::from_secs(10));

/// Roll a depot back to one of its snapshots: `Store::rollback`, the operation
/// `esxlcm mirror rollback` runs.
async fn rollback(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<RollbackForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let snapshot: i64 =
        f.snapshot.trim().parse().map_err(|_| UiError::input("Snapshot: a snapshot number is needed."))?;
    let n = name.clone();
    let target = format!("depot={name} snapshot={snapshot}");
    store_change(&ui, &viewer, "depot.rollback", target, "roll depots back", move |store| {
        store.rollback(&n, Some(snapshot), STORE_WAIT).map(|_| ())
    })
    .await?;
    ui.api.depots.invalidate_catalog().await;
    Ok(Redirect::to(&format!("/ui/depots/{}", enc(&name))).into_response())
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    policy: String,
}

/// A depot's signature policy (require, warn, off), judged at its next sync or push: the
/// source's configuration, as `esxlcm mirror add --signatures` sets it.
async fn set_signatures(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<PolicyForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let policy: esxlcm_store::signatures::SignaturePolicy =
        f.policy.parse().map_err(|_| UiError::input("Signature policy: pick require, warn or off."))?;
    let n = name.clone();
    let target = format!("depot={name} signatures={policy}");
    store_change(&ui, &viewer, "depot.signatures", target, "change signature policies", move |store| {
        store.configure_source(&n, STORE_WAIT, |c| c.signatures = policy).map(|_| ())
    })
    .await?;
    Ok(Redirect::to(&format!("/ui/depots/{}", enc(&name))).into_response())
}

#[derive(Deserialize)]
struct DepotScheduleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    schedule: String,
}

/// One depot's own schedule (the text `esxlcm mirror schedule` takes), or none: the
/// source's configuration, which the service's scheduler follows.
async fn set_depot_schedule(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<DepotScheduleForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let text = f.schedule.trim();
    let schedule: Option<esxlcm_store::schedule::Schedule> = if text.is_empty() || text.eq_ignore_ascii_case("none") {
        None
    } else {
        Some(
            text.parse()
                .map_err(|e: esxlcm_store::schedule::ScheduleError| UiError::input(format!("Schedule: {e}.")))?,
        )
    };
    let n = name.clone();
    let target = format!("depot={name} schedule={}", schedule.map_or_else(|| "none".to_owned(), |s| s.to_string()));
    store_change(&ui, &viewer, "depot.schedule", target, "change schedules", move |store| {
        store.configure_source(&n, STORE_WAIT, |c| c.schedule = schedule).map(|_| ())
    })
    .await?;
    Ok(Redirect::to(&format!("/ui/depots/{}", enc(&name))).into_response())
}

/// A depot's name shown with a link to its page.
pub fn depot_link(name: &str) -> Markup {
    html! { a href={ "/ui/depots/" (enc(name)) } { (name) } }
}

#[derive(Deserialize)]
struct ChangesQuery {
    #[serde(flatten)]
    list: ListQuery,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// What a snapshot holds, one line each: `base image <version>`, `add-on <name> <version>`,
/// `hardware support <manager> <package> <version>`, `component <name> <version>` (the
/// snapshot's tree opened as a depot).
fn content_of(store: &Arc<esxlcm_store::Store>, snapshot: i64) -> Result<std::collections::BTreeSet<String>, String> {
    use esxlcm_depot::model::ReleaseKind;
    let depot = store.snapshot_depot(snapshot, &format!("snapshot {snapshot}")).map_err(|e| e.to_string())?;
    let catalog = esxlcm_depot::catalog::Catalog::from_depots([depot]).map_err(|e| e.to_string())?;
    let mut out = std::collections::BTreeSet::new();
    for u in catalog.release_units(ReleaseKind::BaseImage) {
        out.insert(format!("base image {}", u.version));
    }
    for u in catalog.release_units(ReleaseKind::Addon) {
        out.insert(format!("add-on {} {}", u.name.as_deref().unwrap_or(""), u.version));
    }
    for u in catalog.release_units(ReleaseKind::Manifest) {
        if let Some((manager, package, version)) = &u.hardware_support {
            out.insert(format!("hardware support {manager} {package} {version}"));
        }
    }
    for c in catalog.components() {
        if let Some(spec) = &c.bulletin.component {
            out.insert(format!("component {} {}", spec.name, spec.version));
        }
    }
    Ok(out)
}

/// What two snapshots of one depot differ in: base images, add-ons and components added
/// or removed, and the files added, removed, or changed.
async fn changes(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    Query(q): Query<ChangesQuery>,
) -> Result<Response, UiError> {
    let from: i64 = q.from.trim().parse().map_err(|_| UiError::input("From: pick a snapshot."))?;
    let to: i64 = q.to.trim().parse().map_err(|_| UiError::input("To: pick a snapshot."))?;
    let store = Arc::clone(ui.api.depots.store());
    let n = name.clone();
    let read = tokio::task::spawn_blocking(move || {
        let src = store.source(&n)?;
        let ids: Vec<i64> = store.snapshots(&src)?.iter().map(|s| s.id).collect();
        if !(ids.contains(&from) && ids.contains(&to)) {
            return Ok(None);
        }
        let content = content_of(&store, from).and_then(|a| Ok((a, content_of(&store, to)?)));
        Ok::<_, esxlcm_store::StoreError>(Some((store.snapshot_files(from)?, store.snapshot_files(to)?, content)))
    })
    .await
    .map_err(|e| UiError::internal(e.to_string()))?;
    let Some((a, b, content)) = read.map_err(|e| UiError::NotFound(format!("depot '{name}': {e}")))? else {
        return Err(UiError::NotFound(format!("depot '{name}' has no snapshot {from} or {to}")));
    };
    let content_changes: Result<Vec<(String, &'static str)>, String> = content.map(|(old, new)| {
        let mut out: Vec<(String, &'static str)> = new.difference(&old).map(|c| (c.clone(), "added")).collect();
        out.extend(old.difference(&new).map(|c| (c.clone(), "removed")));
        out.sort();
        out
    });
    let before: std::collections::BTreeMap<&str, (&esxlcm_store::blob::BlobId, u64)> =
        a.iter().map(|f| (f.path.as_str(), (&f.blob, f.size))).collect();
    let after: std::collections::BTreeMap<&str, (&esxlcm_store::blob::BlobId, u64)> =
        b.iter().map(|f| (f.path.as_str(), (&f.blob, f.size))).collect();
    let mut rows: Vec<(String, &'static str, u64)> = Vec::new();
    for (path, (blob, size)) in &after {
        match before.get(path) {
            None => rows.push(((*path).to_owned(), "added", *size)),
            Some((old, _)) if old != blob => rows.push(((*path).to_owned(), "changed", *size)),
            Some(_) => {}
        }
    }
    for (path, (_, size)) in &before {
        if !after.contains_key(path) {
            rows.push(((*path).to_owned(), "removed", *size));
        }
    }
    rows.sort();
    let vibs = |what: &str| rows.iter().filter(|r| r.1 == what && r.0.ends_with(".vib")).count();
    let summary = format!("{} VIBs added, {} removed, {} changed", vibs("added"), vibs("removed"), vibs("changed"));
    let path = format!("/ui/depots/{}/changes", enc(&name));
    let paged = q.list.apply(rows, |r| format!("{} {}", r.0, r.1));
    let body = html! {
        p { a href={ "/ui/depots/" (enc(&name)) } { "← depot " (name) } }
        p { "From snapshot " strong { (from) } " to snapshot " strong { (to) } ": " (summary) "." }
        h2 { "Content" }
        @match &content_changes {
            Ok(list) if list.is_empty() => { p { "The same base images, add-ons and components." } }
            Ok(list) => {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Base image, add-on, hardware support or component" } th scope="col" { "Change" } } }
                    tbody { @for (what, change) in list { tr { td.mono { (what) } td { (change) } } } }
                } }
            }
            Err(e) => { p.muted { "The content could not be compared: " (e) } }
        }
        h2 { "Files" }
        (search_with(&path, &[("from", from.to_string()), ("to", to.to_string())], &q.list, "Search changed files"))
        div #results {
            @if paged.total == 0 { p { "The two snapshots hold the same files." } }
            div.table-wrap { table {
                thead { tr { th scope="col" { "File" } th scope="col" { "Change" } th scope="col" { "Size" } } }
                tbody { @for (p, what, size) in &paged.rows { tr { td.mono { (p) } td { (what) } td { (layout::bytes(*size)) } } } }
            } }
            (pager(&format!("{path}?from={from}&to={to}"), &q.list, &paged))
        }
    };
    Ok(layout::ok(layout::page(&viewer, &format!("Changes in depot {name}"), "/ui/depots", body)))
}
