//! Exports: a cluster's desired image as its software spec (JSON), an offline bundle or an
//! installer ISO (`clusters.software.export`), then downloads through the UI's session.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::super::Ui;
use super::super::auth::{Viewer, check_csrf};
use super::super::error::UiError;
use super::super::layout::{self, csrf_field, enc, s};

pub fn routes() -> Router<Arc<Ui>> {
    Router::new().route("/ui/exports", get(page).post(export)).route("/ui/exports/{export}/{file}", get(download))
}

#[derive(Deserialize, Default)]
struct PageQuery {
    cluster: Option<String>,
}

async fn page(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<PageQuery>) -> Result<Response, UiError> {
    let clusters = ui.call(&viewer, "com.esxlcm.inventory.clusters", "list", json!({})).await?;
    let with_image: Vec<(String, String)> = clusters
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, c)| c.get("commit").is_some_and(|v| !v.is_null()))
        .map(|(id, c)| (id.clone(), s(c, "name").to_owned()))
        .collect();
    let body = html! {
        p { "Build a cluster's desired image as files to carry or install." }
        @if with_image.is_empty() { p.muted { "No cluster has a committed image yet: see " a href="/ui/images" { "images" } "." } }
        @else if viewer.is_admin() {
            form.card method="post" action="/ui/exports" {
                (csrf_field(&viewer))
                p { label for="export-cluster" { "Cluster" }
                    select #export-cluster name="cluster" required {
                        @for (id, name) in &with_image { option value=(id) selected[q.cluster.as_deref() == Some(id.as_str())] { (name) " (" (id) ")" } }
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
    cluster: String,
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
    let cluster = f.cluster.trim();
    if cluster.is_empty() {
        return Err(UiError::input("Cluster: pick the cluster whose image to build."));
    }
    let (json_spec, bundle, iso) = (f.json.is_some(), f.bundle.is_some(), f.iso.is_some());
    if !(json_spec || bundle || iso) {
        return Err(UiError::input("What to build: tick at least one."));
    }
    let spec = json!({"export_software_spec": json_spec, "export_offline_bundle": bundle, "export_iso_image": iso});
    let built = ui
        .call(&viewer, "com.vmware.esx.settings.clusters.software", "export", json!({"cluster": cluster, "spec": spec}))
        .await?;
    let links: Vec<(String, String)> = built
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(kind, uri)| Some((kind.clone(), ui_download(uri.as_str()?)?)))
        .collect();
    let body = html! {
        p.ok { "Built the image of cluster " (cluster) "." }
        ul { @for (kind, href) in &links { li { a href=(href) download { "Download " (kind) } } } }
        p { a href="/ui/exports" { "Build another" } }
    };
    Ok(layout::ok(layout::page(&viewer, "Export ready", "/ui/exports", body)))
}

async fn download(viewer: Viewer, State(ui): State<Arc<Ui>>, Path((export, file)): Path<(String, String)>) -> Response {
    crate::api::files::export_response(&ui.api, viewer.credentials(), &export, &file).await
}
