//! Depot content: base images, add-ons and components of every depot merged (the API's
//! `depot_content`), versions in ESXi order (`esxlcm-version`, not semver); a component's
//! page lists every version and the depots holding it, a version's page its VIBs with
//! their dependencies, each linked to the components that satisfy it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use esxlcm_version::Version;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::Ui;
use super::super::auth::Viewer;
use super::super::error::UiError;
use super::super::layout::{self, enc, s};
use super::super::list::{ListQuery, pager, search};
use super::depots::depot_link;

const DC: &str = "com.vmware.esx.settings.depot_content";

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/content", get(|| async { axum::response::Redirect::to("/ui/content/components") }))
        .route("/ui/content/components", get(components))
        .route("/ui/content/components/{name}", get(component))
        .route("/ui/content/components/{name}/{version}", get(component_version))
        .route("/ui/content/base-images", get(base_images))
        .route("/ui/content/add-ons", get(add_ons))
}

fn tabs(current: &str) -> Markup {
    let items = [
        ("/ui/content/base-images", "Base images"),
        ("/ui/content/add-ons", "Add-ons"),
        ("/ui/content/components", "Components"),
    ];
    html! {
        nav.tabs aria-label="Depot content" { ul {
            @for (href, label) in items { li {
                @if href == current { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
            } }
        } }
    }
}

/// Versions in ESXi order, newest first (unparsable ones last, as written).
pub fn newest_first(mut versions: Vec<(String, String)>) -> Vec<(String, String)> {
    versions.sort_by(|a, b| match (Version::parse(&a.0), Version::parse(&b.0)) {
        (Ok(x), Ok(y)) => y.cmp(&x),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.0.cmp(&b.0),
    });
    versions
}

fn versions_of(v: &Value) -> Vec<(String, String)> {
    newest_first(
        v.get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|x| (s(x, "version").to_owned(), s(x, "display_version").to_owned()))
            .collect(),
    )
}

#[derive(Debug, Default, Deserialize)]
struct ComponentsQuery {
    #[serde(flatten)]
    list: ListQuery,
    depot: Option<String>,
}

/// Components by depot (source name → component names), from the merged catalog.
async fn components_by_depot(ui: &Ui) -> Result<BTreeMap<String, BTreeSet<String>>, UiError> {
    let (catalog, names) = ui.api.depots.catalog_named().await?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in catalog.components() {
        let Some(spec) = &c.bulletin.component else { continue };
        for d in &c.depots {
            if let Some(n) = names.get(*d) {
                out.entry(n.clone()).or_default().insert(spec.name.clone());
            }
        }
    }
    Ok(out)
}

async fn components(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Query(q): Query<ComponentsQuery>,
) -> Result<Response, UiError> {
    let all = ui.call(&viewer, &format!("{DC}.components"), "list", json!({})).await?;
    let mut rows: Vec<Value> = all.as_array().cloned().unwrap_or_default();
    if let Some(depot) = q.depot.as_deref().filter(|d| !d.is_empty()) {
        let by = components_by_depot(&ui).await?;
        let held = by.get(depot).cloned().unwrap_or_default();
        rows.retain(|r| held.contains(s(r, "name")));
    }
    rows.sort_by_key(|r| s(r, "name").to_lowercase());
    let paged = q.list.apply(rows, |r| format!("{} {} {}", s(r, "name"), s(r, "display_name"), s(r, "vendor")));
    let body = html! {
        (tabs("/ui/content/components"))
        @if let Some(d) = q.depot.as_deref().filter(|d| !d.is_empty()) { p.notice { "Only depot " (depot_link(d)) ". " a href="/ui/content/components" { "Show all depots" } } }
        (search("/ui/content/components", &q.list, "Search components (name, vendor)"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Component" } th scope="col" { "Name" } th scope="col" { "Vendor" } th scope="col" { "Newest version" } th scope="col" { "Versions" } } }
                tbody { @for r in &paged.rows {
                    @let versions = versions_of(r);
                    tr {
                        td { a href={ "/ui/content/components/" (enc(s(r, "name"))) } { (s(r, "display_name")) } }
                        td.mono { (s(r, "name")) }
                        td { (s(r, "vendor")) }
                        td { @if let Some((v, d)) = versions.first() { (d) " " span.muted.mono { "(" (v) ")" } } }
                        td { (versions.len()) }
                    }
                } }
            } }
            (pager("/ui/content/components", &q.list, &paged))
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Components", "/ui/content/components", body)))
}

async fn component(viewer: Viewer, State(ui): State<Arc<Ui>>, Path(name): Path<String>) -> Result<Response, UiError> {
    let all = ui.call(&viewer, &format!("{DC}.components"), "list", json!({"filter": {"names": [name]}})).await?;
    let Some(c) = all.as_array().and_then(|a| a.iter().find(|c| s(c, "name") == name)).cloned() else {
        return Err(UiError::NotFound(format!("no depot has a component named '{name}'")));
    };
    let (catalog, names) = ui.api.depots.catalog_named().await?;
    let mut holders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in catalog.component_versions(&name) {
        if let Some(spec) = &b.bulletin.component {
            let e = holders.entry(spec.version.to_string()).or_default();
            e.extend(b.depots.iter().filter_map(|d| names.get(*d).cloned()));
        }
    }
    let body = html! {
        dl.facts {
            dt { "Name" } dd.mono { (name) }
            dt { "Vendor" } dd { (s(&c, "vendor")) }
        }
        h2 { "Versions (newest first)" }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Version" } th scope="col" { "Display version" } th scope="col" { "In depots" } } }
            tbody { @for (v, d) in versions_of(&c) { tr {
                td { a href={ "/ui/content/components/" (enc(&name)) "/" (enc(&v)) } { span.mono { (v) } } }
                td { (d) }
                td { @for (i, depot) in holders.get(&v).into_iter().flatten().enumerate() { @if i > 0 { ", " } (depot_link(depot)) } }
            } } }
        } }
    };
    Ok(layout::ok(layout::page(&viewer, s(&c, "display_name"), "/ui/content/components", body)))
}

async fn component_version(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let info = ui
        .call(&viewer, &format!("{DC}.components.versions"), "get", json!({"name": name, "version": version}))
        .await?;
    let (catalog, _) = ui.api.depots.catalog_named().await?;
    let parsed = Version::parse(&version).map_err(|e| UiError::input(format!("Version '{version}': {e}")))?;
    // Which component carries a VIB by name or by what it provides.
    let mut provider: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in catalog.components() {
        let Some(spec) = &b.bulletin.component else { continue };
        for id in &b.bulletin.vib_ids {
            if let Some(v) = catalog.vib(id) {
                provider.entry(v.vib.name.clone()).or_default().insert(spec.name.clone());
                for p in &v.vib.provides {
                    provider.entry(p.name.clone()).or_default().insert(spec.name.clone());
                }
            }
        }
    }
    let vibs: Vec<_> = catalog
        .component(&name, &parsed)
        .map(|b| b.bulletin.vib_ids.iter().filter_map(|id| catalog.vib(id)).collect())
        .unwrap_or_default();
    let body = html! {
        p { a href={ "/ui/content/components/" (enc(&name)) } { "← every version of " (name) } }
        dl.facts {
            dt { "Version" } dd.mono { (version) }
            dt { "Display version" } dd { (s(&info, "display_version")) }
            dt { "Vendor" } dd { (s(&info, "vendor")) }
            dt { "Summary" } dd { (s(&info, "summary")) }
            dt { "Category" } dd { (s(&info, "category")) }
            dt { "Urgency" } dd { (s(&info, "urgency")) }
            dt { "Released" } dd { (layout::time(s(&info, "release_date"))) }
        }
        h2 { "VIBs" }
        @for v in &vibs {
            section.card {
                h3.mono { (v.vib.name) " " (v.vib.version.to_string()) }
                p { "Acceptance: " (format!("{:?}", v.vib.acceptance_level)) }
                @if v.vib.depends.is_empty() { p.muted { "No dependencies." } }
                @else {
                    h4 { "Depends on" }
                    ul { @for d in &v.vib.depends { li {
                        span.mono { (d.to_string()) }
                        @if let Some(ps) = provider.get(&d.name) {
                            " — provided by "
                            @for (i, p) in ps.iter().enumerate() { @if i > 0 { ", " } a href={ "/ui/content/components/" (enc(p)) } { (p) } }
                        } @else { " — " span.warn { "no depot provides it" } }
                    } } }
                }
                @if !v.vib.conflicts.is_empty() { h4 { "Conflicts with" } ul { @for d in &v.vib.conflicts { li.mono { (d.to_string()) } } } }
                @if !v.vib.replaces.is_empty() { h4 { "Replaces" } ul { @for d in &v.vib.replaces { li.mono { (d.to_string()) } } } }
            }
        }
    };
    Ok(layout::ok(layout::page(
        &viewer,
        &format!("{} {}", s(&info, "display_name"), s(&info, "display_version")),
        "/ui/content/components",
        body,
    )))
}

async fn base_images(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let all = ui.call(&viewer, &format!("{DC}.base_images"), "list", json!({})).await?;
    let rows = newest_first(
        all.as_array().into_iter().flatten().map(|b| (s(b, "version").to_owned(), b.to_string())).collect(),
    );
    let rows: Vec<Value> = rows.into_iter().filter_map(|(_, b)| serde_json::from_str(&b).ok()).collect();
    let paged = q.apply(rows, |r| format!("{} {} {}", s(r, "version"), s(r, "display_version"), s(r, "summary")));
    let body = html! {
        (tabs("/ui/content/base-images"))
        (search("/ui/content/base-images", &q, "Search base images"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Display version" } th scope="col" { "Category" } th scope="col" { "Released" } th scope="col" { "Summary" } } }
                tbody { @for r in &paged.rows { tr {
                    td.mono { (s(r, "version")) } td { (s(r, "display_version")) } td { (s(r, "category")) }
                    td { (layout::time(s(r, "release_date"))) } td { (s(r, "summary")) }
                } } }
            } }
            (pager("/ui/content/base-images", &q, &paged))
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Base images", "/ui/content/components", body)))
}

async fn add_ons(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let all = ui.call(&viewer, &format!("{DC}.add_ons"), "list", json!({})).await?;
    let rows: Vec<Value> = all.as_array().cloned().unwrap_or_default();
    let paged = q.apply(rows, |r| format!("{} {} {}", s(r, "name"), s(r, "display_name"), s(r, "vendor")));
    let body = html! {
        (tabs("/ui/content/add-ons"))
        (search("/ui/content/add-ons", &q, "Search add-ons (name, vendor)"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Add-on" } th scope="col" { "Name" } th scope="col" { "Vendor" } th scope="col" { "Versions (newest first)" } } }
                tbody { @for r in &paged.rows { tr {
                    td { (s(r, "display_name")) } td.mono { (s(r, "name")) } td { (s(r, "vendor")) }
                    td { @for (i, (v, d)) in versions_of(r).iter().enumerate() { @if i > 0 { ", " } (d) " " span.muted.mono { "(" (v) ")" } } }
                } } }
            } }
            (pager("/ui/content/add-ons", &q, &paged))
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Add-ons", "/ui/content/components", body)))
}
