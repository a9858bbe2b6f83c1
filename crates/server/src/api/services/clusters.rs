//! `esx.settings.clusters.software` and its drafts: a cluster's desired image is its latest
//! commit; it changes only through a draft, edited by one user, validated with
//! esxlcm_solver and committed (refused when another commit landed since the draft began).
//! Compliance scans check the hosts' posted states; `export` builds the image with
//! esxlcm_builder into files served at `/api/esxlcm/exports/…`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use esxlcm_solver::host_state::HostState;
use esxlcm_solver::spec::{AddOnSpec, BaseImageSpec};
use esxlcm_solver::{ResolveOptions, SoftwareSpec, SpecResolution, resolve_spec};
use esxlcm_version::Version;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::depots::{is_upload_id, local_path};
use super::image_wire::{self, cluster_compliance};
use super::inventory::{cluster, cluster_mut};
use crate::api::ApiState;
use crate::api::dispatch::{Ctx, HandlerFuture, Out};
use crate::api::errors::{ApiError, ErrorKind, Message};
use crate::api::persist::{Commit, Draft, ServerState};
use crate::api::typed::format_datetime;

/// Software spec documents (imports) are small; anything bigger is not one.
const MAX_SPEC_BYTES: u64 = 4 * 1024 * 1024;

fn parse_version(what: &str, text: &str) -> Result<Version, ApiError> {
    Version::parse(text).map_err(|e| ApiError::invalid_argument(format!("{what} version '{text}': {e}")))
}

fn concurrent(message: String) -> ApiError {
    ApiError::new(ErrorKind::ConcurrentChange, "com.esxlcm.draft.concurrent_change", message)
}

fn no_image(cluster_id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotAllowedInCurrentState,
        "com.esxlcm.cluster.no_image",
        format!("cluster '{cluster_id}' has no desired image yet: create a draft, set its base image and commit it"),
    )
}

fn draft<'a>(s: &'a ServerState, cluster_id: &str, draft_id: &str) -> Result<&'a Draft, ApiError> {
    cluster(s, cluster_id)?.drafts.get(draft_id).ok_or_else(|| ApiError::not_found("draft", draft_id))
}

/// The draft for a change by `user`: one editor per draft, its owner.
fn draft_for_edit<'a>(
    s: &'a mut ServerState,
    cluster_id: &str,
    draft_id: &str,
    user: &str,
) -> Result<&'a mut Draft, ApiError> {
    let d =
        cluster_mut(s, cluster_id)?.drafts.get_mut(draft_id).ok_or_else(|| ApiError::not_found("draft", draft_id))?;
    if d.owner != user {
        return Err(concurrent(format!(
            "draft '{draft_id}' is being edited by '{}'; only its owner may change it",
            d.owner
        )));
    }
    Ok(d)
}

/// The committed spec of a cluster (its desired image).
fn committed(s: &ServerState, cluster_id: &str) -> Result<(String, SoftwareSpec), ApiError> {
    let c = cluster(s, cluster_id)?;
    let id = c.commit.clone().ok_or_else(|| no_image(cluster_id))?;
    let commit = c.commits.get(&id).ok_or_else(|| ApiError::internal(format!("commit {id} is missing")))?;
    Ok((id, commit.spec.clone()))
}

/// Change a draft of the caller's, persisted; the change makes it unvalidated.
async fn edit_draft(
    ctx: &Ctx,
    f: impl FnOnce(&mut SoftwareSpec, &Catalog) -> Result<(), ApiError>,
) -> Result<Out, ApiError> {
    let cluster_id: String = ctx.input("cluster")?;
    let draft_id: String = ctx.input("draft")?;
    let catalog = ctx.state.depots.catalog().await?;
    let user = ctx.caller.user.clone();
    ctx.state
        .depots
        .mutate(|s| {
            let d = draft_for_edit(s, &cluster_id, &draft_id, &user)?;
            f(&mut d.spec, &catalog)?;
            d.valid = false;
            Ok(())
        })
        .await?;
    Ok(Out::Plain(Value::Null))
}

/// Resolve a spec (main image and alternatives) off the async threads.
pub async fn resolve(state: &ApiState, spec: SoftwareSpec) -> Result<(Arc<Catalog>, SpecResolution), ApiError> {
    let catalog = state.depots.catalog().await?;
    let c = Arc::clone(&catalog);
    let _slot = state.depots.solver_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    let r = tokio::task::spawn_blocking(move || resolve_spec(&spec, &c, &ResolveOptions::default()))
        .await
        .map_err(|e| ApiError::internal(format!("resolving the image: {e}")))?;
    Ok((catalog, r))
}

/// All findings of a spec: main image and alternatives.
fn all_notifications(r: &SpecResolution) -> Vec<&esxlcm_solver::Notification> {
    r.main.notifications.iter().chain(r.alternatives.values().flat_map(|a| a.resolution.notifications.iter())).collect()
}

// ---- clusters.software (the committed image) ----

pub fn software_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::software_info(&catalog, &spec)))
    })
}

pub fn base_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::base_image_info(&catalog, spec.image.base_image.as_ref().map(|b| &b.version))))
    })
}

pub fn add_on_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let a = spec.image.add_on.ok_or_else(|| ApiError::not_found("add-on of cluster", &cluster_id))?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::add_on_info(&catalog, &a.name, &a.version)))
    })
}

fn components_of(catalog: &Catalog, spec: &SoftwareSpec) -> Value {
    let map: Map<String, Value> = spec
        .image
        .components
        .iter()
        .map(|(n, v)| (n.clone(), image_wire::component_info(catalog, n, v.as_ref())))
        .collect();
    Value::Object(map)
}

fn removed_of(catalog: &Catalog, spec: &SoftwareSpec) -> Value {
    let map: Map<String, Value> = spec
        .image
        .removed_components
        .iter()
        .map(|n| (n.clone(), image_wire::component_info(catalog, n, None)))
        .collect();
    Value::Object(map)
}

pub fn components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(components_of(&catalog, &spec)))
    })
}

pub fn components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let name: String = ctx.input("component")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        // `component_info?`: unset when the image does not name the component.
        Ok(Out::Plain(
            spec.image
                .components
                .get(&name)
                .map_or(Value::Null, |v| image_wire::component_info(&catalog, &name, v.as_ref())),
        ))
    })
}

pub fn removed_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_of(&catalog, &spec)))
    })
}

pub fn removed_components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let name: String = ctx.input("component")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        if !spec.image.removed_components.contains(&name) {
            return Err(ApiError::not_found("removed component", &name));
        }
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::component_info(&catalog, &name, None)))
    })
}

async fn effective(state: &ApiState, spec: SoftwareSpec) -> Result<Value, ApiError> {
    let (catalog, r) = resolve(state, spec).await?;
    if r.main.has_errors() {
        let mut e = ApiError::new(
            ErrorKind::NotAllowedInCurrentState,
            "com.esxlcm.image.invalid",
            "the image does not resolve against the depots",
        );
        e.messages.extend(r.main.errors().map(|n| Message::new(&n.id, n.message.default_message.clone())));
        return Err(e);
    }
    Ok(image_wire::effective_components(&catalog, &r.main.image))
}

pub fn effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        Ok(Out::Plain(effective(&ctx.state, spec).await?))
    })
}

pub fn commits_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let commit_id: String = ctx.input("commit")?;
        let s = ctx.state.depots.snapshot().await;
        let c = cluster(&s, &cluster_id)?
            .commits
            .get(&commit_id)
            .ok_or_else(|| ApiError::not_found("commit", &commit_id))?;
        // esxlcm never remediates hosts, so no commit is ever applied.
        Ok(Out::Plain(json!({
            "author": c.author, "commit_time": c.time, "description": c.message, "apply_status": "NOT_APPLIED",
        })))
    })
}

pub fn compliance_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let s = ctx.state.depots.snapshot().await;
        let scan = cluster(&s, &cluster_id)?.last_scan.clone().ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "com.esxlcm.cluster.not_scanned",
                format!("cluster '{cluster_id}' has not been scanned yet (scan$task)"),
            )
        })?;
        Ok(Out::Plain(scan))
    })
}

/// Check every host of the cluster against `spec`.
async fn scan_spec(ctx: &Ctx, cluster_id: &str, spec: SoftwareSpec, commit: Option<&str>) -> Result<Value, ApiError> {
    ctx.report(10, 100, "Resolving the image");
    let (_, r) = resolve(&ctx.state, spec).await?;
    if r.main.has_errors() {
        let mut e = ApiError::new(
            ErrorKind::NotAllowedInCurrentState,
            "com.esxlcm.image.invalid",
            "the image does not resolve against the depots; hosts cannot be checked against it",
        );
        e.messages.extend(r.main.errors().map(|n| Message::new(&n.id, n.message.default_message.clone())));
        return Err(e);
    }
    ctx.report(50, 100, "Checking hosts");
    let s = ctx.state.depots.snapshot().await;
    let mut results = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (id, h) in s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(cluster_id)) {
        // A stored state was checked when posted; one that no longer reads is unavailable.
        let state = h.state.as_ref().and_then(|v| HostState::from_value(v).ok());
        results.insert(id.clone(), esxlcm_solver::alternatives::check_host(&r, state.as_ref()));
        names.insert(id.clone(), h.name.clone());
    }
    Ok(cluster_compliance(results, &names, commit))
}

pub fn scan(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let (commit, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let result = scan_spec(&ctx, &cluster_id, spec, Some(&commit)).await?;
        let stored = result.clone();
        ctx.state
            .depots
            .mutate(|s| {
                cluster_mut(s, &cluster_id)?.last_scan = Some(stored);
                Ok(())
            })
            .await?;
        Ok(Out::Plain(result))
    })
}

// ---- export ----

#[derive(Deserialize)]
struct ExportSpec {
    export_software_spec: bool,
    export_iso_image: bool,
    export_offline_bundle: bool,
}

/// Exports kept: older ones are removed when a new one is made.
const KEEP_EXPORTS: usize = 20;

/// Remove all but the newest [`KEEP_EXPORTS`] export directories (best effort: a failure
/// only leaves files behind).
fn prune_exports(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok().map(|t| (t, e.path())))
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(KEEP_EXPORTS);
    for (_, old) in dirs.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_dir_all(&old) {
            tracing::warn!(path = %old.display(), error = %e, "could not remove an old export");
        }
    }
}

/// Export files: `<data dir>/exports/<uuid>/<name>`.
pub const EXPORT_FILES: [&str; 3] = ["software-spec.json", "offline-bundle.zip", "image.iso"];

pub fn exports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("exports")
}

fn build_error(e: &esxlcm_builder::BuildError) -> ApiError {
    ApiError::new(ErrorKind::Error, "com.esxlcm.export.failed", format!("building the image failed: {e}"))
}

pub fn export(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let spec_in: ExportSpec = ctx.input("spec")?;
        if !(spec_in.export_software_spec || spec_in.export_iso_image || spec_in.export_offline_bundle) {
            return Err(ApiError::invalid_argument(
                "nothing to export: set export_software_spec, export_offline_bundle or export_iso_image",
            ));
        }
        let origin = ctx
            .origin
            .clone()
            .ok_or_else(|| ApiError::invalid_argument("the request names no host, so no download URL can be made"))?;
        let bootloader = match (spec_in.export_iso_image, &ctx.state.bootloader_dir) {
            (false, _) => None,
            (true, None) => {
                return Err(ApiError::new(
                    ErrorKind::Unsupported,
                    "com.esxlcm.export.iso_unconfigured",
                    "exporting an ISO needs the ESXi bootloader files (ISOLINUX.BIN, MBOOT.C32, EFIBOOT.IMG, \
                     BOOTX64.EFI): set \"bootloader_dir\" in the data dir's config.json to a directory holding them \
                     and restart the server",
                ));
            }
            (true, Some(dir)) => Some(dir.clone()),
        };
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &cluster_id)?;
        let (catalog, r) = resolve(&ctx.state, spec.clone()).await?;
        let id = crate::api::tasks::uuid_v4().map_err(|e| ApiError::internal(e.to_string()))?;
        let dir = exports_dir(ctx.state.depots.data_dir()).join(&id);
        let out_dir = dir.clone();
        let flags = (spec_in.export_software_spec, spec_in.export_offline_bundle);
        let built = tokio::task::spawn_blocking(move || -> Result<Vec<(&'static str, &'static str)>, ApiError> {
            let image = esxlcm_builder::Image::new(&catalog, &spec, &r.main, &esxlcm_builder::ImageOptions::default())
                .map_err(|e| {
                    ApiError::new(ErrorKind::NotAllowedInCurrentState, "com.esxlcm.image.invalid", e.to_string())
                })?;
            std::fs::create_dir_all(&out_dir).map_err(|e| ApiError::internal(format!("{}: {e}", out_dir.display())))?;
            let mut progress = esxlcm_builder::NoProgress;
            let mut made = Vec::new();
            if flags.0 {
                image.write_json(&out_dir.join(EXPORT_FILES[0]), true, &mut progress).map_err(|e| build_error(&e))?;
                made.push(("SOFTWARE_SPEC", EXPORT_FILES[0]));
            }
            if flags.1 {
                image.write_bundle(&out_dir.join(EXPORT_FILES[1]), true, &mut progress).map_err(|e| build_error(&e))?;
                made.push(("OFFLINE_BUNDLE", EXPORT_FILES[1]));
            }
            if let Some(bdir) = bootloader {
                let bootloader = esxlcm_builder::Bootloader::from_dir(&bdir).map_err(|e| build_error(&e))?;
                let options = esxlcm_builder::IsoOptions { bootloader, ..Default::default() };
                image
                    .write_iso(&out_dir.join(EXPORT_FILES[2]), true, &options, &mut progress)
                    .map_err(|e| build_error(&e))?;
                made.push(("ISO_IMAGE", EXPORT_FILES[2]));
            }
            Ok(made)
        })
        .await
        .map_err(|e| ApiError::internal(format!("building the image: {e}")))?;
        let made = match built {
            Ok(m) => m,
            Err(e) => {
                // Nothing half-built stays behind.
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        prune_exports(&exports_dir(ctx.state.depots.data_dir()));
        tracing::info!(cluster = %cluster_id, export = %id, user = %ctx.caller.user, "image exported");
        let map: Map<String, Value> = made
            .into_iter()
            .map(|(kind, file)| {
                (kind.to_owned(), Value::String(format!("https://{origin}/api/esxlcm/exports/{id}/{file}")))
            })
            .collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

// ---- drafts ----

fn draft_metadata(d: &Draft) -> Value {
    json!({"owner": d.owner, "status": if d.valid { "VALID" } else { "INVALID" }, "creation_time": d.created})
}

/// A new draft of `user` in the cluster, starting from `spec` (the committed image unless
/// imported); a user has one draft per cluster.
fn add_draft(
    s: &mut ServerState,
    cluster_id: &str,
    user: &str,
    spec: Option<SoftwareSpec>,
) -> Result<String, ApiError> {
    s.next_id += 1;
    let id = s.next_id.to_string();
    let c = cluster_mut(s, cluster_id)?;
    if let Some((existing, _)) = c.drafts.iter().find(|(_, d)| d.owner == user) {
        return Err(ApiError::new(
            ErrorKind::AlreadyExists,
            "com.esxlcm.draft.exists",
            format!(
                "user '{user}' already has draft '{existing}' of cluster '{cluster_id}'; commit or delete it first"
            ),
        ));
    }
    let base_commit = c.commit.clone();
    let spec = match spec {
        Some(s) => s,
        None => base_commit.as_ref().and_then(|b| c.commits.get(b)).map(|b| b.spec.clone()).unwrap_or_default(),
    };
    let d = Draft { owner: user.to_owned(), created: format_datetime(Utc::now()), base_commit, spec, valid: false };
    c.drafts.insert(id.clone(), d);
    Ok(id)
}

pub fn drafts_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let user = ctx.caller.user.clone();
        let id = ctx.state.depots.mutate(|s| add_draft(s, &cluster_id, &user, None)).await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

#[derive(Deserialize, Default)]
struct DraftFilter {
    owners: Option<std::collections::BTreeSet<String>>,
}

pub fn drafts_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let filter: DraftFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let s = ctx.state.depots.snapshot().await;
        let map: Map<String, Value> = cluster(&s, &cluster_id)?
            .drafts
            .iter()
            .filter(|(_, d)| filter.owners.as_ref().is_none_or(|o| o.contains(&d.owner)))
            .map(|(id, d)| (id.clone(), json!({"metadata": draft_metadata(d)})))
            .collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn drafts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let draft_id: String = ctx.input("draft")?;
        let s = ctx.state.depots.snapshot().await;
        let d = draft(&s, &cluster_id, &draft_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(json!({"metadata": draft_metadata(d), "software": image_wire::software_info(&catalog, &d.spec)})))
    })
}

pub fn drafts_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let draft_id: String = ctx.input("draft")?;
        let user = ctx.caller.user.clone();
        ctx.state
            .depots
            .mutate(|s| {
                draft_for_edit(s, &cluster_id, &draft_id, &user)?;
                cluster_mut(s, &cluster_id)?.drafts.remove(&draft_id);
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

#[derive(Deserialize)]
struct ImportSpec {
    source_type: String,
    location: Option<String>,
    file_id: Option<String>,
    software_spec: Option<String>,
}

async fn read_spec_document(state: &ApiState, spec: &ImportSpec) -> Result<Vec<u8>, ApiError> {
    let read_local = |path: PathBuf| -> Result<Vec<u8>, ApiError> {
        let meta = std::fs::metadata(&path)
            .map_err(|e| ApiError::invalid_argument(format!("cannot read {}: {e}", path.display())))?;
        if meta.len() > MAX_SPEC_BYTES {
            return Err(ApiError::invalid_argument(format!("{} is too big for a software spec", path.display())));
        }
        std::fs::read(&path).map_err(|e| ApiError::invalid_argument(format!("cannot read {}: {e}", path.display())))
    };
    match spec.source_type.as_str() {
        "JSON_STRING" => spec
            .software_spec
            .clone()
            .map(String::into_bytes)
            .ok_or_else(|| ApiError::invalid_argument("JSON_STRING needs software_spec")),
        "PUSH" => {
            let id = spec.file_id.as_deref().ok_or_else(|| ApiError::invalid_argument("PUSH needs a file_id"))?;
            if !is_upload_id(id) {
                return Err(ApiError::invalid_argument(format!("'{id}' is not an upload id")));
            }
            let path = state.depots.uploads_dir().join(format!("{id}.zip"));
            let bytes = read_local(path.clone())?;
            let _ = std::fs::remove_file(&path);
            Ok(bytes)
        }
        "PULL" => {
            let location =
                spec.location.as_deref().ok_or_else(|| ApiError::invalid_argument("PULL needs a location"))?;
            if let Some(path) = local_path(location) {
                return read_local(path);
            }
            let resp = reqwest::get(location).await.and_then(reqwest::Response::error_for_status).map_err(|e| {
                ApiError::new(
                    ErrorKind::ResourceInaccessible,
                    "com.esxlcm.spec.fetch",
                    format!("fetching the software spec: {}", e.without_url()),
                )
            })?;
            if resp.content_length().is_some_and(|l| l > MAX_SPEC_BYTES) {
                return Err(ApiError::invalid_argument("the document is too big for a software spec"));
            }
            let bytes = resp.bytes().await.map_err(|e| {
                ApiError::new(ErrorKind::ResourceInaccessible, "com.esxlcm.spec.fetch", e.without_url().to_string())
            })?;
            Ok(bytes.to_vec())
        }
        other => Err(ApiError::new(
            ErrorKind::Unsupported,
            "com.esxlcm.spec.recommendation",
            format!("{other}: image recommendations need Broadcom's online data and are not available"),
        )),
    }
}

pub fn drafts_import(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let spec_in: ImportSpec = ctx.input("spec")?;
        let bytes = read_spec_document(&ctx.state, &spec_in).await?;
        let spec = SoftwareSpec::from_json(&bytes)
            .map_err(|e| ApiError::invalid_argument(format!("not a usable software spec: {e}")))?;
        let unknown = spec.unknown_keys();
        if !unknown.is_empty() {
            return Err(ApiError::invalid_argument(format!(
                "the software spec has keys esxlcm does not know: {}",
                unknown.join(", ")
            )));
        }
        let user = ctx.caller.user.clone();
        let id = ctx.state.depots.mutate(|s| add_draft(s, &cluster_id, &user, Some(spec))).await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn drafts_validate(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let draft_id: String = ctx.input("draft")?;
        let d = draft(&*ctx.state.depots.snapshot().await, &cluster_id, &draft_id)?.clone();
        ctx.report(10, 100, "Resolving and validating the image");
        let (_, r) = resolve(&ctx.state, d.spec.clone()).await?;
        let valid = !r.has_errors();
        // Record the verdict only if the draft did not change meanwhile.
        ctx.state
            .depots
            .mutate(|s| {
                if let Some(cur) = cluster_mut(s, &cluster_id)?.drafts.get_mut(&draft_id)
                    && cur.spec == d.spec
                {
                    cur.valid = valid;
                }
                Ok(())
            })
            .await?;
        Ok(Out::Plain(json!({"notifications": image_wire::notifications(all_notifications(&r))})))
    })
}

#[derive(Deserialize, Default)]
struct CommitSpec {
    message: Option<String>,
}

pub fn drafts_commit(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let draft_id: String = ctx.input("draft")?;
        let spec_in: CommitSpec = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let user = ctx.caller.user.clone();
        let d = {
            let mut s = ServerState::clone(&*ctx.state.depots.snapshot().await);
            draft_for_edit(&mut s, &cluster_id, &draft_id, &user)?.clone()
        };
        ctx.report(10, 100, "Validating the draft");
        let (_, r) = resolve(&ctx.state, d.spec.clone()).await?;
        if r.has_errors() {
            let mut e = ApiError::new(
                ErrorKind::InvalidArgument,
                "com.esxlcm.draft.invalid",
                format!("draft '{draft_id}' does not validate; nothing is committed"),
            );
            e.messages.extend(
                all_notifications(&r)
                    .into_iter()
                    .filter(|n| n.is_error())
                    .map(|n| Message::new(&n.id, n.message.default_message.clone())),
            );
            return Err(e);
        }
        ctx.report(80, 100, "Committing");
        let commit_id = ctx
            .state
            .depots
            .mutate(|s| {
                let cur = draft_for_edit(s, &cluster_id, &draft_id, &user)?;
                if cur.spec != d.spec {
                    return Err(concurrent(format!("draft '{draft_id}' changed while it was being committed")));
                }
                let c = cluster(s, &cluster_id)?;
                if c.commit != d.base_commit {
                    return Err(concurrent(format!(
                        "cluster '{cluster_id}' has a new desired image (commit {}) since draft '{draft_id}' was \
                         created from {}; create a new draft",
                        c.commit.as_deref().unwrap_or("none"),
                        d.base_commit.as_deref().unwrap_or("no image"),
                    )));
                }
                s.next_id += 1;
                let commit_id = s.next_id.to_string();
                let c = cluster_mut(s, &cluster_id)?;
                c.commits.insert(
                    commit_id.clone(),
                    Commit {
                        author: user.clone(),
                        time: format_datetime(Utc::now()),
                        message: spec_in.message.unwrap_or_default(),
                        spec: d.spec,
                    },
                );
                c.commit = Some(commit_id.clone());
                c.drafts.remove(&draft_id);
                Ok(commit_id)
            })
            .await?;
        tracing::info!(cluster = %cluster_id, commit = %commit_id, user = %user, "draft committed");
        Ok(Out::Plain(Value::String(commit_id)))
    })
}

pub fn drafts_scan(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster_id: String = ctx.input("cluster")?;
        let draft_id: String = ctx.input("draft")?;
        let d = draft(&*ctx.state.depots.snapshot().await, &cluster_id, &draft_id)?.clone();
        Ok(Out::Plain(scan_spec(&ctx, &cluster_id, d.spec, None).await?))
    })
}

// ---- drafts.software.* ----

fn draft_spec_of(s: &ServerState, ctx: &Ctx) -> Result<SoftwareSpec, ApiError> {
    let cluster_id: String = ctx.input("cluster")?;
    let draft_id: String = ctx.input("draft")?;
    Ok(draft(s, &cluster_id, &draft_id)?.spec.clone())
}

pub fn draft_base_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        let b = spec.image.base_image.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, "com.esxlcm.draft.no_base_image", "the draft has no base image yet")
        })?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::base_image_info(&catalog, Some(&b.version))))
    })
}

#[derive(Deserialize)]
struct BaseImageIn {
    version: String,
}

pub fn draft_base_image_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: BaseImageIn = ctx.input("spec")?;
        let v = parse_version("base image", &input.version)?;
        edit_draft(&ctx, |spec, catalog| {
            if catalog.base_image(&v).is_none() {
                return Err(ApiError::invalid_argument(format!("no depot has base image {v}")));
            }
            spec.image.base_image = Some(BaseImageSpec { version: v, unknown: Default::default() });
            Ok(())
        })
        .await
    })
}

pub fn draft_add_on_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        let a = spec.image.add_on.ok_or_else(|| {
            ApiError::new(ErrorKind::NotFound, "com.esxlcm.draft.no_add_on", "the draft has no add-on")
        })?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::add_on_info(&catalog, &a.name, &a.version)))
    })
}

#[derive(Deserialize)]
struct AddOnIn {
    name: String,
    version: String,
}

pub fn draft_add_on_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: AddOnIn = ctx.input("spec")?;
        let v = parse_version("add-on", &input.version)?;
        edit_draft(&ctx, |spec, catalog| {
            if catalog.addon(&input.name, &v).is_none() {
                return Err(ApiError::invalid_argument(format!("no depot has add-on {} {v}", input.name)));
            }
            spec.image.add_on = Some(AddOnSpec { name: input.name, version: v, unknown: Default::default() });
            Ok(())
        })
        .await
    })
}

pub fn draft_add_on_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        edit_draft(&ctx, |spec, _| {
            spec.image.add_on.take().map(drop).ok_or_else(|| {
                ApiError::new(ErrorKind::NotFound, "com.esxlcm.draft.no_add_on", "the draft has no add-on")
            })
        })
        .await
    })
}

pub fn draft_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(components_of(&catalog, &spec)))
    })
}

pub fn draft_components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(
            spec.image
                .components
                .get(&name)
                .map_or(Value::Null, |v| image_wire::component_info(&catalog, &name, v.as_ref())),
        ))
    })
}

/// A component version to put in a draft: the depots must have it (or, for "system
/// chooses", some version of it).
fn checked_component(catalog: &Catalog, name: &str, version: Option<&str>) -> Result<Option<Version>, ApiError> {
    match version {
        None if catalog.component_versions(name).is_empty() => {
            Err(ApiError::invalid_argument(format!("no depot has component {name}")))
        }
        None => Ok(None),
        Some(text) => {
            let v = parse_version(&format!("component {name}"), text)?;
            if catalog.component(name, &v).is_none() {
                return Err(ApiError::invalid_argument(format!("no depot has component {name} {v}")));
            }
            Ok(Some(v))
        }
    }
}

pub fn draft_components_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let version: Option<String> = ctx.input("version")?;
        edit_draft(&ctx, |spec, catalog| {
            let v = checked_component(catalog, &name, version.as_deref())?;
            spec.image.components.insert(name, v);
            Ok(())
        })
        .await
    })
}

pub fn draft_components_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_draft(&ctx, |spec, _| {
            spec.image.components.remove(&name).map(drop).ok_or_else(|| ApiError::not_found("draft component", &name))
        })
        .await
    })
}

#[derive(Deserialize)]
struct ComponentsUpdate {
    components_to_set: Option<BTreeMap<String, Option<String>>>,
    components_to_delete: Option<Vec<String>>,
}

pub fn draft_components_update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let update: ComponentsUpdate = ctx.input("spec")?;
        edit_draft(&ctx, |spec, catalog| {
            for name in update.components_to_delete.unwrap_or_default() {
                spec.image.components.remove(&name);
            }
            for (name, version) in update.components_to_set.unwrap_or_default() {
                let v = checked_component(catalog, &name, version.as_deref())?;
                spec.image.components.insert(name, v);
            }
            Ok(())
        })
        .await
    })
}

pub fn draft_removed_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_of(&catalog, &spec)))
    })
}

pub fn draft_removed_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        if !spec.image.removed_components.contains(&name) {
            return Err(ApiError::not_found("removed component", &name));
        }
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::component_info(&catalog, &name, None)))
    })
}

pub fn draft_removed_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_draft(&ctx, |spec, _| {
            if !spec.image.removed_components.contains(&name) {
                spec.image.removed_components.push(name);
                spec.image.removed_components.sort();
            }
            Ok(())
        })
        .await
    })
}

pub fn draft_removed_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_draft(&ctx, |spec, _| {
            let before = spec.image.removed_components.len();
            spec.image.removed_components.retain(|n| n != &name);
            if spec.image.removed_components.len() == before {
                return Err(ApiError::not_found("removed component", &name));
            }
            Ok(())
        })
        .await
    })
}

pub fn draft_effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&*ctx.state.depots.snapshot().await, &ctx)?;
        Ok(Out::Plain(effective(&ctx.state, spec).await?))
    })
}
