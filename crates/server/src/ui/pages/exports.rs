//! Exports: a cluster's or standalone host's desired image as its software spec (JSON), an
//! offline bundle or an installer ISO (`clusters.software.export`, `hosts.software.export`),
//! then downloads through the UI's session.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::super::Ui;
use super::super::auth::{Viewer, check_csrf};
use super::super::error::UiError;
use super::super::layout::{self, csrf_field, enc, s};

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/exports", get(page).post(export))
        .route("/ui/exports/builds/{build}", get(build_page))
        .route("/ui/exports/builds/{build}/events", get(build_events))
        .route("/ui/exports/{export}/{file}", get(download))
}

/// How many builds the pages remember (the newest; the files stay as the API keeps them).
const KEEP_BUILDS: usize = 50;

/// One export being built or built: who asked, of what, since when, and the
/// downloads (or the error) once done.
#[derive(Clone)]
struct Build {
    user: String,
    target: String,
    started: std::time::Instant,
    outcome: Option<Result<Vec<(String, String)>, String>>,
}

/// The exports the pages started: `clusters.software.export` runs in the background so
/// the page can follow it (as a task's page does) instead of hanging on the request.
#[derive(Default)]
pub struct Builds(std::sync::Mutex<Vec<(String, Build)>>);

impl Builds {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, Build)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn start(&self, id: &str, user: &str, target: &str) {
        let mut all = self.lock();
        let build = Build {
            user: user.to_owned(),
            target: target.to_owned(),
            started: std::time::Instant::now(),
            outcome: None,
        };
        all.push((id.to_owned(), build));
        let excess = all.len().saturating_sub(KEEP_BUILDS);
        all.drain(..excess);
    }

    fn finish(&self, id: &str, outcome: Result<Vec<(String, String)>, String>) {
        if let Some((_, b)) = self.lock().iter_mut().find(|(i, _)| i == id) {
            b.outcome = Some(outcome);
        }
    }

    /// A build of `user` (another user's builds are not theirs to see).
    fn get(&self, id: &str, user: &str) -> Option<Build> {
        self.lock().iter().find(|(i, b)| i == id && b.user == user).map(|(_, b)| b.clone())
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    cluster: Option<String>,
}

async fn page(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<PageQuery>) -> Result<Response, UiError> {
    let clusters = ui.call(&viewer, "com.esxlcm.inventory.clusters", "list", json!({})).await?;
    // (value, label): `clusters:<id>` or `hosts:<id>`, whatever has a committed image.
    let mut with_image: Vec<(String, String)> = clusters
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c.get("commit").is_some_and(|v| !v.is_null()))
        .map(|(id, c)| (format!("clusters:{id}"), format!("cluster {} ({id})", s(c, "name"))))
        .collect();
    let hosts = ui.call(&viewer, "com.esxlcm.inventory.hosts", "list", json!({})).await?;
    for (id, h) in hosts.as_object().into_iter().flatten() {
        if h.get("cluster").is_some_and(|c| !c.is_null()) {
            continue;
        }
        if ui.call(&viewer, "com.vmware.esx.settings.hosts.software", "get", json!({"host": id})).await.is_ok() {
            with_image.push((format!("hosts:{id}"), format!("standalone host {} ({id})", s(h, "name"))));
        }
    }
    let preselect = q.cluster.map(|c| format!("clusters:{c}"));
    let body = html! {
        p { "Build a cluster's or standalone host's desired image as files to carry or install." }
        @if with_image.is_empty() { p.muted { "No cluster or host has a committed image yet: see " a href="/ui/images" { "images" } "." } }
        @else if viewer.is_admin() {
            form.card method="post" action="/ui/exports" {
                (csrf_field(&viewer))
                p { label for="export-target" { "Image of" }
                    select #export-target name="target" required {
                        @for (value, label) in &with_image { option value=(value) selected[preselect.as_deref() == Some(value.as_str())] { (label) } }
                    } }
                fieldset {
                    legend { "What to build" }
                    p { input #want-json type="checkbox" name="json" value="1" checked; label.inline for="want-json" { "Software spec (JSON)" } }
                    p { input #want-bundle type="checkbox" name="bundle" value="1"; label.inline for="want-bundle" { "Offline bundle (.zip)" } }
                    p { input #want-iso type="checkbox" name="iso" value="1"; label.inline for="want-iso" { "Installer ISO (needs bootloader_dir)" } }
                }
                p { button type="submit" { "Build" } }
            }
        } @else {
            p { "Exports are built by administrators." }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Exports", "/ui/exports", body)))
}

#[derive(Deserialize)]
struct ExportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    target: String,
    json: Option<String>,
    bundle: Option<String>,
    iso: Option<String>,
}

/// The UI's download path of an export URL the API handed out
/// (`…/api/esxlcm/exports/<id>/<file>`).
fn ui_download(uri: &str) -> Option<String> {
    let mut parts = uri.rsplit('/');
    let file = parts.next()?;
    let id = parts.next()?;
    Some(format!("/ui/exports/{}/{}", enc(id), enc(file)))
}

async fn export(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<ExportForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let (service, key, id, label) = match f.target.trim().split_once(':') {
        Some(("clusters", id)) if !id.is_empty() => ("clusters", "cluster", id, format!("cluster {id}")),
        Some(("hosts", id)) if !id.is_empty() => ("hosts", "host", id, format!("host {id}")),
        _ => return Err(UiError::input("Image of: pick the cluster or host whose image to build.")),
    };
    let (json_spec, bundle, iso) = (f.json.is_some(), f.bundle.is_some(), f.iso.is_some());
    if !(json_spec || bundle || iso) {
        return Err(UiError::input("What to build: tick at least one."));
    }
    let spec = json!({"export_software_spec": json_spec, "export_offline_bundle": bundle, "export_iso_image": iso});
    // Checked before the build starts: a read-only user is refused here, with 403.
    if !viewer.is_admin() {
        return Err(crate::api::errors::ApiError::unauthorized(format!(
            "user '{}' is read-only and may not export images",
            viewer.caller.user
        ))
        .into());
    }
    let build = crate::api::random::random_hex(8).map_err(|e| UiError::internal(e.to_string()))?;
    ui.exports.start(&build, &viewer.caller.user, &label);
    let (job_ui, job_viewer, job_id) = (Arc::clone(&ui), viewer.clone(), build.clone());
    let input = json!({key: id, "spec": spec});
    let service = format!("com.vmware.esx.settings.{service}.software");
    tokio::spawn(async move {
        let built = job_ui.call(&job_viewer, &service, "export", input).await;
        let outcome = built
            .map(|links| {
                links
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(kind, uri)| Some((kind.clone(), ui_download(uri.as_str()?)?)))
                    .collect()
            })
            .map_err(|e| e.for_client().to_string());
        job_ui.exports.finish(&job_id, outcome);
    });
    Ok(Redirect::to(&format!("/ui/exports/builds/{build}")).into_response())
}

fn build_markup(b: &Build) -> Markup {
    html! {
        @match &b.outcome {
            None => { p { "Building the image of " (b.target) "…" } }
            Some(Ok(links)) => {
                p.ok { "Built the image of " (b.target) " in " (b.started.elapsed().as_secs()) " s." }
                ul { @for (kind, href) in links { li { a href=(href) download { "Download " (kind) } } } }
                p { a href="/ui/exports" { "Build another" } }
            }
            Some(Err(e)) => { p.error role="alert" { "The export failed: " (e) } p { a href="/ui/exports" { "Back" } } }
        }
    }
}

async fn build_page(viewer: Viewer, State(ui): State<Arc<Ui>>, Path(build): Path<String>) -> Result<Response, UiError> {
    let Some(b) = ui.exports.get(&build, &viewer.caller.user) else {
        return Err(UiError::NotFound(format!("no export build '{build}' of yours")));
    };
    let body = html! {
        @if b.outcome.is_none() {
            div.card.task data-task-events={ "/ui/exports/builds/" (enc(&build)) "/events" } {
                p { "Export: " strong data-task-status { "RUNNING" } }
                progress aria-label="Export progress" {}
                p.muted data-task-message { "building…" }
                p.error data-task-error hidden {}
                p data-task-done hidden { a.button href={ "/ui/exports/builds/" (enc(&build)) } { "Show the downloads" } }
            }
        } @else {
            (build_markup(&b))
        }
    };
    let title = if b.outcome.is_some() { "Export ready" } else { "Export" };
    Ok(layout::ok(layout::page(&viewer, title, "/ui/exports", body)))
}

/// The build's state as server-sent events, in the shape a task's stream has.
async fn build_events(viewer: Viewer, State(ui): State<Arc<Ui>>, Path(build): Path<String>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let stream = futures_util::stream::unfold(Some(true), move |state| {
        let ui = Arc::clone(&ui);
        let (build, user) = (build.clone(), viewer.caller.user.clone());
        async move {
            let first = state?;
            if !first {
                tokio::time::sleep(std::time::Duration::from_millis(400)).await;
            }
            let (name, data, more) = match ui.exports.get(&build, &user) {
                None => ("done", json!({"status": "UNKNOWN", "error": "no such export"}), false),
                Some(b) => match &b.outcome {
                    None => {
                        let msg = format!("building for {} s", b.started.elapsed().as_secs());
                        ("progress", json!({"status": "RUNNING", "completed": 0, "total": 0, "message": msg}), true)
                    }
                    Some(Ok(_)) => {
                        ("done", json!({"status": "SUCCEEDED", "completed": 1, "total": 1, "message": ""}), false)
                    }
                    Some(Err(e)) => ("done", json!({"status": "FAILED", "error": e}), false),
                },
            };
            let event = Event::default().event(name).data(data.to_string());
            Some((Ok::<_, std::convert::Infallible>(event), more.then_some(false)))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn download(viewer: Viewer, State(ui): State<Arc<Ui>>, Path((export, file)): Path<(String, String)>) -> Response {
    crate::api::files::export_response(&ui.api, viewer.credentials(), &export, &file).await
}
