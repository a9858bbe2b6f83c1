//! Images: clusters and their desired images, the image library, and the draft editor.
//! The editor picks the base image, add-on and components from the depots' content (no
//! version typed by hand), validates (notifications with their chain of causes and the
//! fix), commits with a message; a cluster's page shows its commit history and the
//! difference between two commits.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
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
use super::content::newest_first;
use super::tasks::{progress_block, task_error};
use crate::api::services::software::owner::Owner;

const CLUSTERS: &str = "com.esxlcm.inventory.clusters";
const HOSTS: &str = "com.esxlcm.inventory.hosts";
const SW: &str = "com.vmware.esx.settings.clusters.software";
const LIBRARY: &str = "com.vmware.esx.settings.repository.software";
const DC: &str = "com.vmware.esx.settings.depot_content";

pub fn routes() -> Router<Arc<Ui>> {
    Router::new()
        .route("/ui/images", get(list))
        .route("/ui/images/clusters", post(add_cluster))
        .route("/ui/images/{kind}/{id}", get(cluster))
        .route("/ui/images/{kind}/{id}/drafts", post(new_draft))
        .route("/ui/images/{kind}/{id}/diff", get(diff))
        .route("/ui/images/{kind}/{id}/drafts/{draft}", get(draft))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/base-image", post(set_base_image))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/add-on", post(set_add_on))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/components", post(set_component))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/hardware-support", post(set_hsp))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/components/remove", post(remove_component))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/validate", post(validate))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/display-name", post(set_display_name))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/commit", post(commit))
        .route("/ui/images/{kind}/{id}/drafts/{draft}/delete", post(delete_draft))
}

fn cluster_url(cluster: &str) -> String {
    format!("/ui/images/clusters/{}", enc(cluster))
}

/// Whose image a page is about: a cluster's, a standalone host's (the API's
/// `clusters.software.*` and `hosts.software.*` mirror each other), or the image library's
/// (`repository.software.*`, whose drafts make or change named specs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cluster,
    Host,
    Library,
}

struct Scope {
    kind: Kind,
    id: String,
}

/// The library's page: `/ui/images/library/specs`.
const LIBRARY_ID: &str = "specs";

impl Scope {
    fn parse(kind: &str, id: String) -> Result<Self, UiError> {
        match kind {
            "clusters" => Ok(Self { kind: Kind::Cluster, id }),
            "hosts" => Ok(Self { kind: Kind::Host, id }),
            "library" if id == LIBRARY_ID => Ok(Self { kind: Kind::Library, id }),
            _ => Err(UiError::NotFound(format!("no page /ui/images/{kind}/{id}"))),
        }
    }

    fn sw(&self) -> &'static str {
        match self.kind {
            Kind::Cluster => SW,
            Kind::Host => "com.vmware.esx.settings.hosts.software",
            Kind::Library => LIBRARY,
        }
    }

    fn drafts(&self) -> String {
        format!("{}.drafts", self.sw())
    }

    /// Where a draft's content is set (the library's drafts have no `.software` level).
    fn d_sw(&self) -> String {
        match self.kind {
            Kind::Library => self.drafts(),
            _ => format!("{}.drafts.software", self.sw()),
        }
    }

    /// The operations' input naming the owner (the library's operations have none: an
    /// input an operation does not declare is not sent).
    fn key(&self) -> &'static str {
        match self.kind {
            Kind::Cluster => "cluster",
            Kind::Host => "host",
            Kind::Library => "library",
        }
    }

    fn noun(&self) -> &'static str {
        match self.kind {
            Kind::Cluster => "cluster",
            Kind::Host => "host",
            Kind::Library => "image library",
        }
    }

    fn url(&self) -> String {
        let kind = match self.kind {
            Kind::Cluster => "clusters",
            Kind::Host => "hosts",
            Kind::Library => "library",
        };
        format!("/ui/images/{kind}/{}", enc(&self.id))
    }

    fn draft_url(&self, draft: &str) -> String {
        format!("{}/drafts/{}", self.url(), enc(draft))
    }

    fn owner(&self) -> Owner {
        match self.kind {
            Kind::Cluster => Owner::Cluster(self.id.clone()),
            Kind::Host => Owner::Host(self.id.clone()),
            Kind::Library => Owner::Library,
        }
    }

    /// Hardware support in drafts: clusters' and the library's, not hosts'.
    fn has_hsp(&self) -> bool {
        self.kind != Kind::Host
    }
}

async fn list(viewer: Viewer, State(ui): State<Arc<Ui>>, Query(q): Query<ListQuery>) -> Result<Response, UiError> {
    let clusters = ui.call(&viewer, CLUSTERS, "list", json!({})).await?;
    let mut rows: Vec<(String, Value)> =
        clusters.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    rows.sort_by_key(|(_, v)| s(v, "name").to_lowercase());
    let paged = q.apply(rows, |(id, v)| format!("{id} {}", s(v, "name")));
    let library = ui.call(&viewer, "com.vmware.esx.settings.repository.software", "list", json!({})).await?;
    let hosts = ui.call(&viewer, HOSTS, "list", json!({})).await?;
    let standalone: Vec<(String, String)> = hosts
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, h)| h.get("cluster").is_none_or(Value::is_null))
        .map(|(id, h)| (id.clone(), s(h, "name").to_owned()))
        .collect();
    let specs: Vec<Value> = library.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
    let body = html! {
        h2 { "Clusters" }
        (search("/ui/images", &q, "Search clusters"))
        div #results {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Cluster" } th scope="col" { "Id" } th scope="col" { "Hosts" } th scope="col" { "Current commit" } } }
                tbody { @for (id, c) in &paged.rows { tr {
                    td { a href=(cluster_url(id)) { (s(c, "name")) } }
                    td.mono { (id) }
                    td { (c.get("hosts").and_then(Value::as_array).map_or(0, Vec::len)) }
                    td { @if let Some(commit) = c.get("commit").and_then(Value::as_str) { (commit) } @else { span.muted { "no image yet" } } }
                } } }
            } }
            (pager("/ui/images", &q, &paged))
        }
        @if viewer.is_admin() {
            form.card method="post" action="/ui/images/clusters" {
                h2 { "Add a cluster" }
                (csrf_field(&viewer))
                p { label for="cluster-name" { "Name" } input #cluster-name type="text" name="name" required; }
                p { button type="submit" { "Add cluster" } }
            }
        }
        h2 { "Standalone hosts" }
        @if standalone.is_empty() { p.muted { "No standalone hosts (hosts in a cluster have the cluster's image)." } }
        ul { @for (id, name) in &standalone { li { a href={ "/ui/images/hosts/" (enc(id)) } { (name) } " " span.muted.mono { (id) } } } }
        h2 { a href={ "/ui/images/library/" (LIBRARY_ID) } { "Image library" } }
        @if specs.is_empty() { p.muted { "The library is empty." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Image" } th scope="col" { "Id" } th scope="col" { "Base image" } } }
                tbody { @for sp in &specs { tr {
                    td { (s(sp, "display_name")) }
                    td.mono { (s(sp, "id")) }
                    td.mono { (sp.pointer("/software_info/base_image/version").and_then(Value::as_str).unwrap_or("")) }
                } } }
            } }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Images", "/ui/images", body)))
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

async fn add_cluster(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(f): Form<NameForm>,
) -> Result<Response, UiError> {
    check_csrf(&viewer, &headers, &f.csrf)?;
    let name = f.name.trim();
    if name.is_empty() {
        return Err(UiError::input("Name: give the cluster a name."));
    }
    let id = ui.call(&viewer, CLUSTERS, "create", json!({"spec": {"name": name}})).await?;
    Ok(Redirect::to(&cluster_url(id.as_str().unwrap_or_default())).into_response())
}

/// (id, author, time, message, spec as JSON) of every commit of a cluster or host, newest first.
async fn commits(ui: &Ui, scope: &Scope) -> Result<Vec<(String, String, String, String, Value)>, UiError> {
    let state = ui.api.depots.snapshot().await;
    let history = scope.owner().history(&state)?;
    let mut out: Vec<_> = history
        .commits
        .iter()
        .map(|(id, c)| {
            let spec = serde_json::to_value(&c.spec).unwrap_or(Value::Null);
            (id.clone(), c.author.clone(), c.time.clone(), c.message.clone(), spec)
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.0.len().cmp(&a.0.len())).then_with(|| b.0.cmp(&a.0)));
    Ok(out)
}

fn software_summary(sw: &Value) -> Markup {
    let mut comps: Vec<(String, String)> = sw
        .get("components")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), s(v, "version").to_owned()))
        .collect();
    comps.sort();
    html! {
        dl.facts {
            dt { "Base image" } dd { @if let Some(v) = sw.pointer("/base_image/version").and_then(Value::as_str) { span.mono { (v) } } @else { span.muted { "none" } } }
            dt { "Add-on" } dd { @if let Some(a) = sw.get("add_on").filter(|a| !a.is_null()) { (s(a, "name")) " " span.mono { (s(a, "version")) } } @else { span.muted { "none" } } }
            dt { "Hardware support" } dd {
                @let packages: Vec<(String, Value)> = sw.pointer("/hardware_support/packages").and_then(Value::as_object).into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
                @if packages.is_empty() { span.muted { "none" } }
                @for (manager, p) in &packages { (manager) ": " (s(p, "pkg")) " " span.mono { (s(p, "version")) } br; }
            }
            dt { "Components" } dd {
                @if comps.is_empty() { span.muted { "none besides the base image's" } }
                ul { @for (n, v) in &comps { li { a href={ "/ui/content/components/" (enc(n)) } { (n) } " " span.mono { (if v.is_empty() { "(newest that fits)" } else { v.as_str() }) } } } }
            }
        }
    }
}

async fn cluster(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let scope = Scope::parse(&kind, id)?;
    if scope.kind == Kind::Library {
        return library_page(&ui, &viewer, &scope).await;
    }
    let host = scope.kind == Kind::Host;
    let inventory = if host { HOSTS } else { CLUSTERS };
    let info = ui.call(&viewer, inventory, "get", json!({(scope.key()): scope.id})).await?;
    if let Some(cluster) = info.get("cluster").and_then(Value::as_str) {
        // A host in a cluster has the cluster's image.
        return Ok(Redirect::to(&cluster_url(cluster)).into_response());
    }
    let current = ui.call(&viewer, scope.sw(), "get", json!({(scope.key()): scope.id})).await.ok();
    let drafts = ui.call(&viewer, &scope.drafts(), "list", json!({(scope.key()): scope.id})).await?;
    let history = commits(&ui, &scope).await?;
    let body = html! {
        @if host {
            p { "Standalone host " code { (scope.id) } ". " a href={ "/ui/compliance/hosts/" (enc(&scope.id)) } { "Compliance" } }
        } @else {
            p { "Cluster " code { (scope.id) } " — hosts: " (info.get("hosts").and_then(Value::as_array).map_or(0, Vec::len)) ". "
                a href={ "/ui/compliance/clusters/" (enc(&scope.id)) } { "Compliance" } " · " a href={ "/ui/exports?cluster=" (enc(&scope.id)) } { "Export" } }
        }
        h2 { "Desired image" }
        @if let Some(sw) = &current { (software_summary(sw)) } @else { p.muted { "No image committed yet: create a draft." } }
        h2 { "Drafts" }
        ul { @for (id, d) in drafts.as_object().into_iter().flatten() {
            li { a href=(scope.draft_url(id)) { "Draft " (id) } " by " (d.pointer("/metadata/owner").and_then(Value::as_str).unwrap_or("")) }
        } }
        @if viewer.is_admin() {
            form method="post" action={ (scope.url()) "/drafts" } {
                (csrf_field(&viewer))
                button type="submit" { "New draft" }
            }
        }
        h2 { "Commit history" }
        @if history.is_empty() { p.muted { "No commits yet." } }
        @else {
            form method="get" action={ (scope.url()) "/diff" } {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Commit" } th scope="col" { "Author" } th scope="col" { "Time" } th scope="col" { "Message" } th scope="col" { "From" } th scope="col" { "To" } } }
                    tbody { @for (i, (id, author, time, message, _)) in history.iter().enumerate() { tr {
                        td.mono { (id) } td { (author) } td { (layout::time(time)) } td { (message) }
                        td { input type="radio" name="from" value=(id) checked[i == 1] aria-label={ "compare from commit " (id) }; }
                        td { input type="radio" name="to" value=(id) checked[i == 0] aria-label={ "compare to commit " (id) }; }
                    } } }
                } }
                @if history.len() > 1 { button type="submit" { "Show the difference" } }
            }
        }
    };
    Ok(layout::ok(layout::page(
        &viewer,
        &format!("{} {}", if host { "Host" } else { "Cluster" }, s(&info, "name")),
        "/ui/images",
        body,
    )))
}

/// The image library: its named specs and the drafts that make or change them.
async fn library_page(ui: &Ui, viewer: &Viewer, scope: &Scope) -> Result<Response, UiError> {
    let list = ui.call(viewer, LIBRARY, "list", json!({})).await?;
    let records = list.get("records").and_then(Value::as_array).cloned().unwrap_or_default();
    let drafts = ui.call(viewer, &scope.drafts(), "list", json!({})).await?;
    let body = html! {
        h2 { "Images in the library" }
        @if records.is_empty() { p.muted { "The library is empty: a draft committed here makes its first image." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Image" } th scope="col" { "Id" } th scope="col" { "Base image" } th scope="col" { "Modified" } } }
                tbody { @for r in &records { tr {
                    td { (s(r, "display_name")) }
                    td.mono { (s(r, "id")) }
                    td.mono { (r.pointer("/software_info/base_image/version").and_then(Value::as_str).unwrap_or("")) }
                    td { (layout::time(s(r, "modified_time"))) }
                } } }
            } }
        }
        h2 { "Drafts" }
        ul { @for (id, d) in drafts.as_object().into_iter().flatten() {
            li { a href=(scope.draft_url(id)) { "Draft " (id) } " “" (s(d, "display_name")) "” by " (d.pointer("/metadata/owner").and_then(Value::as_str).unwrap_or("")) }
        } }
        @if viewer.is_admin() {
            form method="post" action={ (scope.url()) "/drafts" } {
                (csrf_field(viewer))
                button type="submit" { "New library draft" }
            }
        }
    };
    Ok(layout::ok(layout::page(viewer, "Image library", "/ui/images", body)))
}

/// Leaf values of a JSON document by path (`components/x`), for the commit diff.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}/{k}") }, v, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_owned(), "(newest that fits)".to_owned());
        }
        Value::String(t) => {
            out.insert(prefix.to_owned(), t.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

#[derive(Deserialize)]
struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

async fn diff(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path((kind, id)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, UiError> {
    let scope = Scope::parse(&kind, id)?;
    let history = commits(&ui, &scope).await?;
    let find = |id: &Option<String>, what: &str| {
        let id = id.as_deref().ok_or_else(|| UiError::input(format!("{what}: pick a commit.")))?;
        history
            .iter()
            .find(|c| c.0 == id)
            .ok_or_else(|| UiError::NotFound(format!("{} {} has no commit '{id}'", scope.noun(), scope.id)))
    };
    let (from, to) = (find(&q.from, "From")?, find(&q.to, "To")?);
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &from.4, &mut a);
    flatten("", &to.4, &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let changes: Vec<(&String, Option<&String>, Option<&String>)> =
        keys.into_iter().map(|k| (k, a.get(k), b.get(k))).filter(|(_, x, y)| x != y).collect();
    let body = html! {
        p { a href=(scope.url()) { "← " (scope.noun()) } }
        p { "From commit " strong { (from.0) } " (" (from.3) ") to commit " strong { (to.0) } " (" (to.3) ")." }
        @if changes.is_empty() { p { "The two commits hold the same image." } }
        @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "What" } th scope="col" { "Before" } th scope="col" { "After" } } }
                tbody { @for (k, x, y) in &changes { tr {
                    td.mono { (k) }
                    td { @if let Some(x) = x { span.mono { (x) } } @else { span.muted { "absent" } } }
                    td { @if let Some(y) = y { span.mono { (y) } } @else { span.muted { "absent" } } }
                } } }
            } }
        }
    };
    Ok(layout::ok(layout::page(&viewer, "Difference between commits", "/ui/images", body)))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn new_draft(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let scope = Scope::parse(&kind, id)?;
    check_csrf(&viewer, &headers, &f.csrf)?;
    let input = match scope.kind {
        // One library draft per user: an earlier one of theirs is replaced.
        Kind::Library => json!({"spec": {"delete_existing_draft": true}}),
        _ => json!({(scope.key()): scope.id}),
    };
    let id = ui.call(&viewer, &scope.drafts(), "create", input).await?;
    Ok(Redirect::to(&scope.draft_url(id.as_str().unwrap_or_default())).into_response())
}

#[derive(Deserialize, Default)]
struct DraftQuery {
    validation: Option<String>,
}

/// The notifications of a validation, each with its chain of causes and its fix.
fn notifications(n: &Value) -> Markup {
    let groups = [("errors", "Errors", "bad"), ("warnings", "Warnings", "warn"), ("info", "Information", "muted")];
    let errors = n.get("errors").and_then(Value::as_array).map_or(0, Vec::len);
    html! {
        @if errors == 0 { p.ok { "The draft is valid: no errors." } }
        @for (key, title, class) in groups {
            @let list = n.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
            @if !list.is_empty() {
                h3 class=(class) { (title) " (" (list.len()) ")" }
                @for item in &list {
                    @let text = item.pointer("/message/default_message").and_then(Value::as_str).unwrap_or("");
                    @let (head, chain) = text.split_once(". Because: ").map_or((text, ""), |(h, c)| (h, c));
                    div.card.notification {
                        p { strong { (head) } " " span.muted.mono { "[" (s(item, "id")) "]" } }
                        @if !chain.is_empty() {
                            p { "Because:" }
                            ol.chain { @for step in chain.split("; ") { li { (step) } } }
                        }
                        @if let Some(fix) = item.pointer("/resolution/default_message").and_then(Value::as_str) {
                            p.fix { "Fix: " (fix) }
                        }
                    }
                }
            }
        }
    }
}

/// Options for every version of every component in the depots: `name|version`, newest first.
async fn component_options(ui: &Ui, viewer: &Viewer) -> Result<Vec<(String, String)>, UiError> {
    let all = ui.call(viewer, &format!("{DC}.components"), "list", json!({})).await?;
    let mut comps: Vec<Value> = all.as_array().cloned().unwrap_or_default();
    comps.sort_by_key(|c| s(c, "display_name").to_lowercase());
    let mut out = Vec::new();
    for c in &comps {
        let versions = newest_first(
            c.get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|v| (s(v, "version").to_owned(), s(v, "display_version").to_owned()))
                .collect(),
        );
        for (v, d) in versions {
            out.push((
                format!("{}|{v}", s(c, "name")),
                format!("{} ({}) {d} — {v}", s(c, "display_name"), s(c, "name")),
            ));
        }
    }
    Ok(out)
}

async fn draft(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    Path((kind, id, draft)): Path<(String, String, String)>,
    Query(q): Query<DraftQuery>,
) -> Result<Response, UiError> {
    let scope = Scope::parse(&kind, id)?;
    let info = ui.call(&viewer, &scope.drafts(), "get", json!({(scope.key()): scope.id, "draft": draft})).await?;
    let sw = info.get("software").or_else(|| info.get("software_info")).cloned().unwrap_or(Value::Null);
    let validation = match &q.validation {
        Some(task) => {
            Some((task.clone(), ui.call(&viewer, "com.vmware.cis.tasks", "get", json!({"task": task})).await?))
        }
        None => None,
    };
    let admin = viewer.is_admin();
    let url = scope.draft_url(&draft);
    let (bases, addons, comps, hsps) = if admin {
        let b = ui.call(&viewer, &format!("{DC}.base_images"), "list", json!({})).await?;
        let bases = newest_first(
            b.as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    (
                        s(x, "version").to_owned(),
                        format!("{} {} — {}", s(x, "display_name"), s(x, "display_version"), s(x, "version")),
                    )
                })
                .collect(),
        );
        let a = ui.call(&viewer, &format!("{DC}.add_ons"), "list", json!({})).await?;
        let mut addons = Vec::new();
        for x in a.as_array().into_iter().flatten() {
            for v in x.get("versions").and_then(Value::as_array).into_iter().flatten() {
                addons.push((
                    format!("{}|{}", s(x, "name"), s(v, "version")),
                    format!("{} {} — {}", s(x, "display_name"), s(v, "display_version"), s(v, "version")),
                ));
            }
        }
        (
            bases,
            addons,
            component_options(&ui, &viewer).await?,
            if scope.has_hsp() { hsp_options(&ui, &viewer).await? } else { Vec::new() },
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new(), Vec::new())
    };
    let current_base = sw.pointer("/base_image/version").and_then(Value::as_str).unwrap_or("").to_owned();
    let mut components: Vec<(String, String)> = sw
        .get("components")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), s(v, "version").to_owned()))
        .collect();
    components.sort();
    let body = html! {
        p { a href=(scope.url()) { "← " (scope.noun()) " " (scope.id) } }
        h2 { "Content" }
        (software_summary(&sw))
        @if admin {
            div.grid {
                form.card method="post" action={ (url) "/base-image" } {
                    h3 { "Base image" }
                    (csrf_field(&viewer))
                    p { label for="base-image" { "ESXi version" }
                        select #base-image name="version" required {
                            @for (v, label) in &bases { option value=(v) selected[*v == current_base] { (label) } }
                        } }
                    p { button type="submit" { "Set base image" } }
                }
                form.card method="post" action={ (url) "/add-on" } {
                    h3 { "Add-on" }
                    (csrf_field(&viewer))
                    p { label for="add-on" { "Vendor add-on" }
                        select #add-on name="add_on" {
                            option value="" { "none" }
                            @for (v, label) in &addons { option value=(v) { (label) } }
                        } }
                    p { button type="submit" { "Set add-on" } }
                }
                @if scope.has_hsp() { form.card method="post" action={ (url) "/hardware-support" } {
                    h3 { "Hardware support package" }
                    (csrf_field(&viewer))
                    p { label for="hsp" { "Manager, package and version" }
                        select #hsp name="hsp" {
                            option value="" { "none" }
                            @for (v, label) in &hsps { option value=(v) { (label) } }
                        } }
                    @if hsps.is_empty() { p.muted { "No depot has a hardware support package." } }
                    p { button type="submit" { "Set hardware support" } }
                } }
                form.card method="post" action={ (url) "/components" } {
                    h3 { "Add a component" }
                    (csrf_field(&viewer))
                    p { label for="component" { "Component and version" }
                        select #component name="component" required {
                            @for (v, label) in &comps { option value=(v) { (label) } }
                        } }
                    p { button type="submit" { "Add component" } }
                }
            }
            @if !components.is_empty() {
                h3 { "Remove a component" }
                ul { @for (n, _) in &components { li {
                    form.inline method="post" action={ (url) "/components/remove" } {
                        (csrf_field(&viewer))
                        input type="hidden" name="component" value=(n);
                        button.secondary type="submit" aria-label={ "Remove " (n) } { "Remove " (n) }
                    }
                } } }
            }
            h2 { "Validate" }
            form method="post" action={ (url) "/validate" } {
                (csrf_field(&viewer))
                button type="submit" { "Validate the draft" }
            }
        }
        @if let Some((task, t)) = &validation {
            section #validation aria-labelledby="h-validation" {
                h2 #h-validation { "Validation" }
                @match s(t, "status") {
                    "SUCCEEDED" => { (notifications(t.pointer("/result/notifications").unwrap_or(&Value::Null))) }
                    "FAILED" => { p.error role="alert" { (task_error(t).unwrap_or_default()) } }
                    _ => { (progress_block(task, Some((&format!("{url}?validation={}", enc(task)), "Show the findings")))) }
                }
            }
        }
        @if admin {
            h2 { "Name" }
            form.card method="post" action={ (url) "/display-name" } {
                (csrf_field(&viewer))
                p { label for="display-name" { "Display name" (if scope.kind == Kind::Library { " (the library's images need one)" } else { "" }) }
                    input #display-name type="text" name="display_name" value=(s(&info, "display_name")) required; }
                p { button type="submit" { "Set the name" } }
            }
            h2 { "Commit" }
            form.card method="post" action={ (url) "/commit" } {
                (csrf_field(&viewer))
                p { label for="message" { "Commit message" } input #message type="text" name="message" required; }
                p { button type="submit" { "Commit the draft" } }
            }
            form method="post" action={ (url) "/delete" } {
                (csrf_field(&viewer))
                button.danger type="submit" { "Discard the draft" }
            }
        }
    };
    Ok(layout::ok(layout::page(
        &viewer,
        &format!("Draft {draft} of {} {}", scope.noun(), scope.id),
        "/ui/images",
        body,
    )))
}

/// Options for every hardware support package: `manager|package|version`.
async fn hsp_options(ui: &Ui, viewer: &Viewer) -> Result<Vec<(String, String)>, UiError> {
    let managers = ui.call(viewer, "com.vmware.esx.settings.hardware_support.managers", "list", json!({})).await?;
    let mut out = Vec::new();
    for m in managers.as_array().into_iter().flatten() {
        let manager = s(m, "manager");
        let pkgs = ui
            .call(
                viewer,
                "com.vmware.esx.settings.hardware_support.managers.packages",
                "list",
                json!({"manager": manager}),
            )
            .await?;
        for p in pkgs.as_array().into_iter().flatten() {
            out.push((
                format!("{manager}|{}|{}", s(p, "pkg"), s(p, "version")),
                format!("{} — {} {}", s(m, "display_name"), s(p, "pkg"), s(p, "version")),
            ));
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
}

/// One draft an edit form changes: the path names it, the form carries the CSRF token.
struct DraftEdit {
    scope: Scope,
    draft: String,
}

impl DraftEdit {
    fn open(
        viewer: &Viewer,
        headers: &HeaderMap,
        csrf: &str,
        (kind, id, draft): (String, String, String),
    ) -> Result<Self, UiError> {
        let scope = Scope::parse(&kind, id)?;
        check_csrf(viewer, headers, csrf)?;
        Ok(Self { scope, draft })
    }

    /// `service.operation` on this draft: the input naming it, with `fields` besides.
    async fn call(
        &self,
        ui: &Ui,
        viewer: &Viewer,
        service: &str,
        operation: &str,
        fields: Value,
    ) -> Result<Value, UiError> {
        let mut input = json!({(self.scope.key()): self.scope.id, "draft": self.draft});
        if let (Some(input), Value::Object(fields)) = (input.as_object_mut(), fields) {
            input.extend(fields);
        }
        Ok(ui.call(viewer, service, operation, input).await?)
    }

    /// Back to the draft's page.
    fn back(&self) -> Response {
        Redirect::to(&self.scope.draft_url(&self.draft)).into_response()
    }
}

async fn set_display_name(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<NameOnly>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let name = f.display_name.trim();
    if name.is_empty() {
        return Err(UiError::input("Display name: give the image a name."));
    }
    let service = format!("{}.display_name", edit.scope.drafts());
    edit.call(&ui, &viewer, &service, "set", json!({"spec": {"display_name": name}})).await?;
    Ok(edit.back())
}

#[derive(Deserialize)]
struct PickForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    add_on: String,
    #[serde(default)]
    component: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    hsp: String,
}

fn split_pick<'a>(text: &'a str, field: &str) -> Result<(&'a str, &'a str), UiError> {
    text.split_once('|')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| UiError::input(format!("{field}: pick one from the list.")))
}

async fn set_base_image(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let version = f.version.trim();
    if version.is_empty() {
        return Err(UiError::input("Base image: pick an ESXi version from the list."));
    }
    let service = format!("{}.base_image", edit.scope.d_sw());
    edit.call(&ui, &viewer, &service, "set", json!({"spec": {"version": version}})).await?;
    Ok(edit.back())
}

async fn set_add_on(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let service = format!("{}.add_on", edit.scope.d_sw());
    if f.add_on.is_empty() {
        edit.call(&ui, &viewer, &service, "delete", json!({})).await?;
    } else {
        let (name, version) = split_pick(&f.add_on, "Add-on")?;
        edit.call(&ui, &viewer, &service, "set", json!({"spec": {"name": name, "version": version}})).await?;
    }
    Ok(edit.back())
}

async fn set_component(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let (name, version) = split_pick(&f.component, "Component")?;
    let service = format!("{}.components", edit.scope.d_sw());
    edit.call(&ui, &viewer, &service, "set", json!({"component": name, "version": version})).await?;
    Ok(edit.back())
}

async fn set_hsp(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let service = format!("{}.hardware_support", edit.scope.d_sw());
    if f.hsp.is_empty() {
        edit.call(&ui, &viewer, &service, "delete", json!({})).await?;
    } else {
        let mut parts = f.hsp.splitn(3, '|');
        let (Some(manager), Some(pkg), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(UiError::input("Hardware support package: pick one from the list."));
        };
        let spec = json!({"packages": {manager: {"pkg": pkg, "version": version}}});
        edit.call(&ui, &viewer, &service, "set", json!({"spec": spec})).await?;
    }
    Ok(edit.back())
}

async fn remove_component(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let name = f.component.trim();
    if name.is_empty() {
        return Err(UiError::input("Component: name the component to remove."));
    }
    let service = format!("{}.components", edit.scope.d_sw());
    edit.call(&ui, &viewer, &service, "delete", json!({"component": name})).await?;
    Ok(edit.back())
}

async fn validate(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let task = edit.call(&ui, &viewer, &edit.scope.drafts(), "validate$task", json!({})).await?;
    let url = format!(
        "{}?validation={}#validation",
        edit.scope.draft_url(&edit.draft),
        enc(task.as_str().unwrap_or_default())
    );
    Ok(Redirect::to(&url).into_response())
}

async fn commit(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<PickForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    let message = f.message.trim();
    if message.is_empty() {
        return Err(UiError::input("Commit message: say what this image changes."));
    }
    let task =
        edit.call(&ui, &viewer, &edit.scope.drafts(), "commit$task", json!({"spec": {"message": message}})).await?;
    Ok(Redirect::to(&format!("/ui/tasks/{}?then={}", enc(task.as_str().unwrap_or_default()), enc(&edit.scope.url())))
        .into_response())
}

async fn delete_draft(
    viewer: Viewer,
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path(path): Path<(String, String, String)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, UiError> {
    let edit = DraftEdit::open(&viewer, &headers, &f.csrf, path)?;
    edit.call(&ui, &viewer, &edit.scope.drafts(), "delete", json!({})).await?;
    Ok(Redirect::to(&edit.scope.url()).into_response())
}
