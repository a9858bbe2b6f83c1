//! Compliance: hosts and the states they posted (uploaded as a file or pasted: the esxcli
//! JSON of `testdata/host-state/README.md`), and each cluster scanned against its image
//! with the impact per host (base image, components in and out, reboot, maintenance mode).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::Ui;
use super::super::auth::{Viewer, check_csrf};
use super::super::error::UiError;
use super::super::layout::{self, csrf_field, enc, s};
use super::super::list::{ListQuery, pager, search};
use super::home::status_badge;
use super::tasks::{progress_block, task_error};

const HOSTS: &str = "com.esxlcm.inventory.hosts";
const CLUSTERS: &str = "com.esxlcm.inventory.clusters";
const SW: &str = "com.vmware.esx.settings.clusters.software";

/// A host state is a document of a few hundred KiB at most.
const MAX_STATE: usize = 8 * 1024 * 1024;

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/compliance", get(list))
        .route("/ui/compliance/hosts", post(add_host))
        .route("/ui/compliance/hosts/{host}/state", post(upload_state))
        .route("/ui/compliance/clusters/{cluster}", get(cluster))
        .route("/ui/compliance/clusters/{cluster}/scan", post(scan))
        .route("/ui/compliance/hosts/{host}", get(host))
        .route("/ui/compliance/hosts/{host}/scan", post(scan_host))
}

fn cluster_url(cluster: &str) -> String {
    format!("/ui/compliance/clusters/{}", enc(cluster))
}

async fn list(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let hosts = ui.call(&viewer, HOSTS, "list", json!({})).await?;
    let clusters = ui.call(&viewer, CLUSTERS, "list", json!({})).await?;
    let cluster_name = |id: &str| clusters.get(id).map_or_else(|| id.to_owned(), |c| s(c, "name").to_owned());
    let mut rows: Vec<(String, Value)> =
        hosts.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    rows.sort_by_key(|(_, v)| s(v, "name").to_lowercase());
    let paged = q.apply(rows, |(id, h)| format!("{id} {} {}", s(h, "name"), s(h, "base_image")));
    let admin = viewer.is_admin();
    let body = html! {
        h2 { "Clusters" }
        @if clusters.as_object().is_none_or(serde_json::Map::is_empty) { p.muted { "No clusters yet: add one on the " a href="/ui/images" { "images" } " page." } }
        ul { @for (id, c) in clusters.as_object().into_iter().flatten() { li { a href=(cluster_url(id)) { (s(c, "name")) } } } }
        h2 { "Hosts" }
        (search("/ui/compliance", &q, "Search hosts"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Host" } th scope="col" { "Cluster" } th scope="col" { "State posted" } th scope="col" { "Base image" } @if admin { th scope="col" { "Post its state" } } } }
                tbody { @for (id, h) in &paged.rows { tr {
                    td { (s(h, "name")) br; span.muted.mono { (id) } }
                    td { @if let Some(c) = h.get("cluster").and_then(Value::as_str) { a href=(cluster_url(c)) { (cluster_name(c)) } } @else { a href={ "/ui/compliance/hosts/" (enc(id)) } { "standalone" } } }
                    td { @if h.get("state_time").is_some() { (layout::time(s(h, "state_time"))) } @else { span.muted { "never" } } }
                    td.mono { (s(h, "base_image")) }
                    @if admin { td { (state_form(&viewer, id, s(h, "name"))) } }
                } } }
            } }
            (pager("/ui/compliance", &q, &paged))
        }
        @if admin {
            form.card method="post" action="/ui/compliance/hosts" {
                h2 { "Add a host" }
                (csrf_field(&viewer))
                p { label for="host-name" { "Name" } input #host-name type="text" name="name" required; }
                p { label for="host-cluster" { "Cluster" }
                    select #host-cluster name="cluster" {
                        option value="" { "none (standalone)" }
                        @for (id, c) in clusters.as_object().into_iter().flatten() { option value=(id) { (s(c, "name")) } }
                    } }
                p { button type="submit" { "Add host" } }
            }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Compliance", "/ui/compliance", body)))
}

fn state_form(viewer: &Viewer, host: &str, name: &str) -> Markup {
    let id = format!("state-{host}");
    html! {
        form method="post" action={ "/ui/compliance/hosts/" (enc(host)) "/state" } enctype="multipart/form-data" {
            (csrf_field(viewer))
            label for={ (id) "-file" } { "esxcli state of " (name) " (file)" }
            input id={ (id) "-file" } type="file" name="file" accept=".json,application/json";
            details {
                summary { "or paste it" }
                label for={ (id) "-text" } { "esxcli state (JSON)" }
                textarea id={ (id) "-text" } name="text" {}
            }
            button type="submit" { "Post state" }
        }
    }
}

#[derive(Deserialize)]
struct HostForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    cluster: String,
}

async fn add_host(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<HostForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let name = f.name.trim();
    if name.is_empty() {
        return Err(UiError::input("Name: give the host a name."));
    }
    let cluster = Some(f.cluster.trim()).filter(|c| !c.is_empty());
    ui.call(&viewer, HOSTS, "create", json!({"spec": {"name": name, "cluster": cluster}})).await?;
    Ok(Redirect::to("/ui/compliance").into_response())
}

/// `POST /ui/compliance/hosts/<id>/state` (multipart: `csrf`, then `file` or `text`): the
/// document goes to `inventory.hosts.state.set`, which checks it.
async fn upload_state(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    mut form: Multipart,
) -> Result<Response, UiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        UiError::input(format!("the form could not be read: {}", e.body_text()))
    };
    let mut csrf_ok = false;
    let mut doc: Option<Vec<u8>> = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => {
                check_csrf(&viewer, &headers, &field.text().await.map_err(bad)?)?;
                csrf_ok = true;
            }
            "file" | "text" if csrf_ok => {
                let bytes = field.bytes().await.map_err(bad)?;
                if bytes.len() > MAX_STATE {
                    return Err(UiError::input(format!("State: at most {} MiB.", MAX_STATE / 1024 / 1024)));
                }
                if doc.is_none() && !bytes.iter().all(u8::is_ascii_whitespace) {
                    doc = Some(bytes.to_vec());
                }
            }
            "file" | "text" => return Err(UiError::Csrf),
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(UiError::Csrf);
    }
    let Some(doc) = doc else { return Err(UiError::input("State: choose a file or paste the esxcli JSON.")) };
    let state: Value = serde_json::from_slice(&doc).map_err(|e| UiError::input(format!("State: not JSON ({e}).")))?;
    ui.call(&viewer, "com.esxlcm.inventory.hosts.state", "set", json!({"host": host, "state": state})).await?;
    let info = ui.call(&viewer, HOSTS, "get", json!({"host": host})).await?;
    let back = info
        .get("cluster")
        .and_then(Value::as_str)
        .map_or_else(|| format!("/ui/compliance/hosts/{}", enc(&host)), cluster_url);
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize, Default)]
struct ScanQuery {
    scan: Option<String>,
}

impl ScanQuery {
    /// The scan task the page follows, with its state.
    async fn task(&self, ui: &Ui, viewer: &Viewer) -> Result<Option<(String, Value)>, UiError> {
        let Some(task) = &self.scan else { return Ok(None) };
        let spec = json!({"task": task, "spec": {"exclude_result": true}});
        Ok(Some((task.clone(), ui.call(viewer, "com.vmware.cis.tasks", "get", spec).await?)))
    }
}

/// A followed scan while it runs, or why it failed (nothing once it succeeded: the report
/// below shows it).
fn scan_progress(scan_task: Option<&(String, Value)>, url: &str) -> Markup {
    html! {
        @if let Some((task, t)) = scan_task {
            @match s(t, "status") {
                "SUCCEEDED" => {}
                "FAILED" => { p.error role="alert" { (task_error(t).unwrap_or_default()) } }
                _ => { (progress_block(task, Some((&format!("{url}?scan={}", enc(task)), "Show the scan")))) }
            }
        }
    }
}

fn impact_text(impact: &str) -> &'static str {
    match impact {
        "NO_IMPACT" => "no impact",
        "MAINTENANCE_MODE_REQUIRED" => "maintenance mode required",
        "PARTIAL_MAINTENANCE_MODE_REQUIRED" => "partial maintenance mode required",
        "REBOOT_REQUIRED" => "reboot (and maintenance mode) required",
        _ => "unknown",
    }
}

fn messages(n: &Value) -> Vec<String> {
    ["errors", "warnings", "info"]
        .iter()
        .flat_map(|k| n.get(*k).and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|m| m.pointer("/message/default_message").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn host_report(name: &str, h: &Value) -> Markup {
    let comps: Vec<(String, Value)> = h
        .get("components")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    html! {
        section.card {
            h3 { (name) ": " (status_badge(s(h, "status"))) }
            p { "Impact: " strong { (impact_text(s(h, "impact"))) } }
            p { "Base image: " span.mono { (h.pointer("/base_image/current/version").and_then(Value::as_str).unwrap_or("—")) }
                " → " span.mono { (h.pointer("/base_image/target/version").and_then(Value::as_str).unwrap_or("—")) }
                " (" (s(h.get("base_image").unwrap_or(&Value::Null), "status")) ")" }
            @let changed: Vec<_> = comps.iter().filter(|(_, c)| s(c, "status") != "COMPLIANT").collect();
            @if !changed.is_empty() {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Component" } th scope="col" { "On the host" } th scope="col" { "In the image" } th scope="col" { "Status" } } }
                    tbody { @for (n, c) in &changed { tr {
                        td { (n) }
                        td.mono { (c.pointer("/current/version").and_then(Value::as_str).unwrap_or("not installed")) }
                        td.mono { (c.pointer("/target/version").and_then(Value::as_str).unwrap_or("to be removed")) }
                        td { (status_badge(s(c, "status"))) }
                    } } }
                } }
            }
            @let notes = messages(h.get("notifications").unwrap_or(&Value::Null));
            @if !notes.is_empty() { ul { @for m in &notes { li { (m) } } } }
        }
    }
}

async fn cluster(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path(cluster): Path<String>,
    Query(q): Query<ScanQuery>,
) -> Result<Response, UiError> {
    let info = ui.call(&viewer, CLUSTERS, "get", json!({"cluster": cluster})).await?;
    let scan_task = q.task(&ui, &viewer).await?;
    let report = ui
        .call(&viewer, "com.vmware.esx.settings.clusters.software.compliance", "get", json!({"cluster": cluster}))
        .await
        .ok();
    let url = cluster_url(&cluster);
    let body = html! {
        p { a href={ "/ui/images/clusters/" (enc(&cluster)) } { "Desired image of this cluster" } }
        @if viewer.is_admin() {
            form method="post" action={ (url) "/scan" } {
                (csrf_field(&viewer))
                button type="submit" { "Scan the hosts now" }
            }
        }
        (scan_progress(scan_task.as_ref(), &url))
        @if let Some(r) = &report {
            h2 { "Last scan: " (status_badge(s(r, "status"))) }
            p { "Scanned " (layout::time(s(r, "scan_time"))) " against commit " (s(r, "commit")) ". Impact: " strong { (impact_text(s(r, "impact"))) } "." }
            @let names = r.get("host_info").cloned().unwrap_or(Value::Null);
            @for (id, h) in r.get("hosts").and_then(Value::as_object).into_iter().flatten() {
                (host_report(names.get(id).map_or(id.as_str(), |n| s(n, "name")), h))
            }
        } @else {
            p.muted { "Not scanned yet." }
        }
    };
    Ok(layout::ok(layout::page(&viewer, &format!("Compliance of {}", s(&info, "name")), "/ui/compliance", body)))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn scan(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(cluster): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let task = ui.call(&viewer, SW, "scan$task", json!({"cluster": cluster})).await?;
    Ok(Redirect::to(&format!("{}?scan={}", cluster_url(&cluster), enc(task.as_str().unwrap_or_default())))
        .into_response())
}

/// A standalone host against its own image (`hosts.software.scan` / `compliance.get`).
async fn host(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path(host): Path<String>,
    Query(q): Query<ScanQuery>,
) -> Result<Response, UiError> {
    let info = ui.call(&viewer, HOSTS, "get", json!({"host": host})).await?;
    if let Some(cluster) = info.get("cluster").and_then(Value::as_str) {
        return Ok(Redirect::to(&cluster_url(cluster)).into_response());
    }
    let scan_task = q.task(&ui, &viewer).await?;
    let report =
        ui.call(&viewer, "com.vmware.esx.settings.hosts.software.compliance", "get", json!({"host": host})).await.ok();
    let url = format!("/ui/compliance/hosts/{}", enc(&host));
    let name = s(&info, "name").to_owned();
    let body = html! {
        p { a href={ "/ui/images/hosts/" (enc(&host)) } { "Desired image of this host" } }
        @if viewer.is_admin() {
            (state_form(&viewer, &host, &name))
            form method="post" action={ (url) "/scan" } {
                (csrf_field(&viewer))
                button type="submit" { "Scan the host now" }
            }
        }
        (scan_progress(scan_task.as_ref(), &url))
        @if let Some(r) = &report {
            h2 { "Last scan" }
            p { "Scanned " (layout::time(s(r, "scan_time"))) " against commit " (s(r, "commit")) "." }
            (host_report(&name, r))
        } @else {
            p.muted { "Not scanned yet." }
        }
    };
    Ok(layout::ok(layout::page(&viewer, &format!("Compliance of {name}"), "/ui/compliance", body)))
}

async fn scan_host(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let task = ui.call(&viewer, "com.vmware.esx.settings.hosts.software", "scan$task", json!({"host": host})).await?;
    Ok(Redirect::to(&format!("/ui/compliance/hosts/{}?scan={}", enc(&host), enc(task.as_str().unwrap_or_default())))
        .into_response())
}
