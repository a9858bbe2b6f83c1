//! Tasks: the list (running first, then newest), one task's page, and its progress as
//! server-sent events (`/ui/tasks/<id>/events`: `progress` while it runs, then one `done`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::super::Ui;
use super::super::auth::Viewer;
use super::super::error::UiError;
use super::super::layout::{self, enc, s};
use super::super::list::{ListQuery, pager, search};
use super::home::status_badge;

const TASKS: &str = "com.vmware.cis.tasks";

/// How often a task's progress is looked at for its event stream.
const POLL: Duration = Duration::from_millis(400);
/// An event stream ends after this long even if the task still runs (the page can reload).
const STREAM_LIMIT: Duration = Duration::from_secs(30 * 60);

pub struct TaskRow {
    pub id: String,
    pub label: String,
    pub status: String,
    pub user: String,
    pub start: String,
    pub start_raw: String,
}

fn label(service: &str, operation: &str) -> String {
    let short = service
        .strip_prefix("com.vmware.esx.settings.")
        .or_else(|| service.strip_prefix("com.vmware."))
        .unwrap_or(service);
    format!("{short}.{operation}")
}

/// Every task the viewer may see (the API lists all to any user), running first, then
/// the newest.
pub async fn task_rows(ui: &Ui, viewer: &Viewer) -> Result<Vec<TaskRow>, UiError> {
    let list = ui.call(viewer, TASKS, "list", json!({"result_spec": {"exclude_result": true}})).await?;
    let mut rows: Vec<TaskRow> = list
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, t)| TaskRow {
            id: id.clone(),
            label: label(s(t, "service"), s(t, "operation")),
            status: s(t, "status").to_owned(),
            user: s(t, "user").to_owned(),
            start: layout::time(s(t, "start_time")),
            start_raw: s(t, "start_time").to_owned(),
        })
        .collect();
    rows.sort_by(|a, b| {
        let running = |t: &TaskRow| !matches!(t.status.as_str(), "RUNNING" | "PENDING");
        running(a).cmp(&running(b)).then_with(|| b.start_raw.cmp(&a.start_raw))
    });
    Ok(rows)
}

pub async fn list(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let rows = task_rows(&ui, &viewer).await?;
    let paged = q.apply(rows, |t| format!("{} {} {} {}", t.id, t.label, t.status, t.user));
    let body = html! {
        (search("/ui/tasks", &q, "Search tasks (operation, status, user)"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Task" } th scope="col" { "Status" } th scope="col" { "User" } th scope="col" { "Started" } } }
                tbody { @for t in &paged.rows { tr {
                    td { a href={ "/ui/tasks/" (enc(&t.id)) } { (t.label) } }
                    td { (status_badge(&t.status)) }
                    td { (t.user) }
                    td { (t.start) }
                } } }
            } }
            (pager("/ui/tasks", &q, &paged))
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Tasks", "/ui/tasks", body)))
}

/// The progress block of a task: filled by `ui.js` from the event stream; without
/// JavaScript the page shows the state when it was loaded. `then` is shown once it ends.
pub fn progress_block(task: &str, then: Option<(&str, &str)>) -> Markup {
    html! {
        div.card.task data-task-events={ "/ui/tasks/" (enc(task)) "/events" } {
            p { "Task " a href={ "/ui/tasks/" (enc(task)) } { code { (task) } } ": " strong data-task-status { "RUNNING" } }
            progress max="1" aria-label="Task progress" {}
            p.muted data-task-message {}
            p.error data-task-error hidden {}
            @if let Some((href, text)) = then {
                p data-task-done hidden { a.button href=(href) { (text) } }
            } @else {
                p data-task-done hidden { "Finished." }
            }
        }
    }
}

fn progress_of(t: &Value) -> (i64, i64, String) {
    let p = t.get("progress").cloned().unwrap_or(Value::Null);
    let msg = p.get("message").map(|m| s(m, "default_message").to_owned()).unwrap_or_default();
    (p.get("completed").and_then(Value::as_i64).unwrap_or(0), p.get("total").and_then(Value::as_i64).unwrap_or(0), msg)
}

/// The error text of a failed task.
pub fn task_error(t: &Value) -> Option<String> {
    let e = t.get("error")?;
    let msgs: Vec<&str> = e
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("default_message").and_then(Value::as_str))
        .collect();
    let kind = e.get("error_type").and_then(Value::as_str).unwrap_or("ERROR");
    Some(if msgs.is_empty() { kind.to_owned() } else { format!("{kind}: {}", msgs.join("; ")) })
}

#[derive(serde::Deserialize, Default)]
pub struct ThenQuery {
    then: Option<String>,
}

pub async fn page(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path(task): Path<String>,
    Query(q): Query<ThenQuery>,
) -> Result<Response, UiError> {
    // Where to go on from here: one of our pages only.
    let then = q.then.filter(|t| t.starts_with("/ui/") && !t.contains("//") && !t.contains('\\'));
    let t = ui.call(&viewer, TASKS, "get", json!({"task": task})).await?;
    let status = s(&t, "status").to_owned();
    let (completed, total, message) = progress_of(&t);
    let running = matches!(status.as_str(), "RUNNING" | "PENDING");
    let body = html! {
        dl.facts {
            dt { "Operation" } dd { code { (label(s(&t, "service"), s(&t, "operation"))) } }
            dt { "Status" } dd { (status_badge(&status)) }
            dt { "User" } dd { (s(&t, "user")) }
            dt { "Started" } dd { (layout::time(s(&t, "start_time"))) }
            dt { "Ended" } dd { (layout::time(s(&t, "end_time"))) }
            dt { "Progress" } dd { (completed) " of " (total) " " (message) }
        }
        @if let Some(e) = task_error(&t) { p.error role="alert" { (e) } }
        @if running {
            @match &then {
                Some(t) => { (progress_block(&task, Some((t, "Continue")))) }
                None => { (progress_block(&task, Some((&format!("/ui/tasks/{}", enc(&task)), "Show the result")))) }
            }
        } @else if let Some(t) = &then {
            p { a.button href=(t) { "Continue" } }
        }
        @if let Some(result) = t.get("result").filter(|r| !r.is_null()) {
            h2 { "Result" }
            pre.mono { (serde_json::to_string_pretty(result).unwrap_or_default()) }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Task", "/ui/tasks", body)))
}

fn event_of(t: &Value) -> Value {
    let (completed, total, message) = progress_of(t);
    json!({"status": s(t, "status"), "completed": completed, "total": total, "message": message, "error": task_error(t)})
}

/// `GET /ui/tasks/<id>/events`: the task's progress as server-sent events, read through
/// `cis.tasks.get` with the viewer's session until the task ends.
pub async fn events(viewer: Viewer, State(ui): State<Arc<Ui>>, Path(task): Path<String>) -> Response {
    let started = tokio::time::Instant::now();
    // The state: `Some(first)` while the stream goes on.
    let stream = futures_util::stream::unfold(Some(true), move |state| {
        let ui = Arc::clone(&ui);
        let viewer = viewer.clone();
        let task = task.clone();
        async move {
            let first = state?;
            if !first {
                tokio::time::sleep(POLL).await;
            }
            let got = ui.call(&viewer, TASKS, "get", json!({"task": task, "spec": {"exclude_result": true}})).await;
            let (name, data, more) = match got {
                Ok(t) => {
                    let running = matches!(s(&t, "status"), "RUNNING" | "PENDING");
                    let over = started.elapsed() > STREAM_LIMIT;
                    (if running && !over { "progress" } else { "done" }, event_of(&t), running && !over)
                }
                Err(e) => ("done", json!({"status": "UNKNOWN", "error": e.for_client().to_string()}), false),
            };
            let event = Event::default().event(name).data(data.to_string());
            Some((Ok::<_, Infallible>(event), more.then_some(false)))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
