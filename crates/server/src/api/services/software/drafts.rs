//! Drafts of an image, for every owner (cluster, standalone host, library): one editor per
//! draft (its creator), composed part by part or imported, validated with esxlcm_solver and
//! committed. A cluster's or host's commit is refused when another landed since the draft
//! began; the library commits in `library`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::PathBuf;

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use esxlcm_solver::SoftwareSpec;
use esxlcm_solver::spec::{AddOnSpec, BaseImageSpec, ImageSpec};
use esxlcm_version::Version;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::image::{
    all_notifications, component_of, components_of, effective_components, image_as_spec, invalid_with_errors,
    removed_component_of, removed_of, resolve, scan_spec,
};
use super::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{Commit, Draft, LibraryOrigin, ServerState};
use crate::api::services::depots::{is_upload_id, local_path};
use crate::api::services::image_wire;
use crate::api::state::ApiState;
use crate::api::typed::format_datetime;

/// Software spec documents (imports) are small; anything bigger is not one.
const MAX_SPEC_BYTES: u64 = 4 * 1024 * 1024;

fn parse_version(what: &str, text: &str) -> Result<Version, ApiError> {
    Version::parse(text).map_err(|e| ApiError::invalid_argument(format!("{what} version '{text}': {e}")))
}

pub fn concurrent(message: String) -> ApiError {
    ApiError::new(ErrorKind::ConcurrentChange, "com.esxlcm.draft.concurrent_change", message)
}

pub fn draft<'a>(s: &'a ServerState, owner: &Owner, draft_id: &str) -> Result<&'a Draft, ApiError> {
    owner.drafts(s)?.get(draft_id).ok_or_else(|| ApiError::not_found("draft", draft_id))
}

/// The draft for a change by `user`: one editor per draft, its owner.
pub fn draft_for_edit<'a>(
    s: &'a mut ServerState,
    owner: &Owner,
    draft_id: &str,
    user: &str,
) -> Result<&'a mut Draft, ApiError> {
    let d = owner.drafts_mut(s)?.get_mut(draft_id).ok_or_else(|| ApiError::not_found("draft", draft_id))?;
    if d.owner != user {
        return Err(concurrent(format!(
            "draft '{draft_id}' is being edited by '{}'; only its owner may change it",
            d.owner
        )));
    }
    Ok(d)
}

/// A new draft of `user`.
pub fn new_draft(user: &str, base_commit: Option<String>, spec: SoftwareSpec) -> Draft {
    Draft {
        owner: user.to_owned(),
        created: format_datetime(Utc::now()),
        base_commit,
        spec,
        valid: false,
        display_name: None,
        software_spec: None,
    }
}

/// Store a new draft: a user has one draft per owner (one in the whole library); an
/// existing one is replaced only when asked (`delete_existing_draft`).
pub fn insert_draft(s: &mut ServerState, owner: &Owner, d: Draft, replace: bool) -> Result<String, ApiError> {
    s.next_id += 1;
    let id = s.next_id.to_string();
    let drafts = owner.drafts_mut(s)?;
    let existing: Vec<String> = drafts.iter().filter(|(_, e)| e.owner == d.owner).map(|(id, _)| id.clone()).collect();
    if let Some(first) = existing.first() {
        if !replace {
            return Err(ApiError::new(
                ErrorKind::AlreadyExists,
                "com.esxlcm.draft.exists",
                format!("user '{}' already has draft '{first}' of {owner}; commit or delete it first", d.owner),
            ));
        }
        for e in &existing {
            drafts.remove(e);
        }
    }
    drafts.insert(id.clone(), d);
    Ok(id)
}

/// Change a draft of the caller's, persisted; the change makes it unvalidated.
async fn edit_draft(ctx: &Ctx, f: impl FnOnce(&mut Draft, &Catalog) -> Result<(), ApiError>) -> Result<Out, ApiError> {
    let owner = Owner::of(ctx)?;
    let draft_id: String = ctx.input("draft")?;
    let catalog = ctx.state.depots.catalog().await?;
    let user = ctx.caller.user.clone();
    ctx.state
        .depots
        .mutate(|s| {
            let d = draft_for_edit(s, &owner, &draft_id, &user)?;
            f(d, &catalog)?;
            d.valid = false;
            Ok(())
        })
        .await?;
    Ok(Out::Plain(Value::Null))
}

/// The image an operation edits: the main one, or the alternative image the call names
/// (`image` input of `alternative_images.*`).
fn image_in_mut<'a>(spec: &'a mut SoftwareSpec, image: Option<&str>) -> Result<&'a mut ImageSpec, ApiError> {
    match image {
        None => Ok(&mut spec.image),
        Some(id) => spec
            .alternative_images
            .get_mut(id)
            .map(|a| &mut a.image)
            .ok_or_else(|| ApiError::not_found("alternative image", id)),
    }
}

/// Change the main image (or the alternative image named) of a draft of the caller's.
pub(super) async fn edit_spec(
    ctx: &Ctx,
    f: impl FnOnce(&mut ImageSpec, &Catalog) -> Result<(), ApiError>,
) -> Result<Out, ApiError> {
    let image: Option<String> = ctx.input("image")?;
    edit_draft(ctx, |d, catalog| f(image_in_mut(&mut d.spec, image.as_deref())?, catalog)).await
}

pub fn draft_metadata(d: &Draft) -> Value {
    json!({"owner": d.owner, "status": if d.valid { "VALID" } else { "INVALID" }, "creation_time": d.created})
}

// ---- drafts of clusters and standalone hosts ----

pub fn drafts_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let user = ctx.caller.user.clone();
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                let h = owner.history(s)?;
                let spec = h.commit.as_ref().and_then(|c| h.commits.get(c)).map(|c| c.spec.clone()).unwrap_or_default();
                let d = new_draft(&user, h.commit.clone(), spec);
                insert_draft(s, &owner, d, false)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

#[derive(Deserialize, Default)]
struct DraftFilter {
    owners: Option<BTreeSet<String>>,
}

pub fn drafts_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let filter: DraftFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let s = ctx.state.depots.snapshot().await;
        let map: Map<String, Value> = owner
            .drafts(&s)?
            .iter()
            .filter(|(_, d)| filter.owners.as_ref().is_none_or(|o| o.contains(&d.owner)))
            .map(|(id, d)| (id.clone(), json!({"metadata": draft_metadata(d)})))
            .collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn drafts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let s = ctx.state.depots.snapshot().await;
        let d = draft(&s, &owner, &draft_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        let mut v = json!({"metadata": draft_metadata(d), "software": image_wire::software_info(&catalog, &d.spec)});
        if let (Some(name), Some(obj)) = (&d.display_name, v.as_object_mut()) {
            obj.insert("display_name".into(), Value::String(name.clone()));
        }
        Ok(Out::Plain(v))
    })
}

/// Every owner's drafts.
pub fn drafts_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let user = ctx.caller.user.clone();
        ctx.state
            .depots
            .mutate(|s| {
                draft_for_edit(s, &owner, &draft_id, &user)?;
                owner.drafts_mut(s)?.remove(&draft_id);
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

#[derive(Deserialize)]
pub struct ImportSpec {
    source_type: String,
    location: Option<String>,
    file_id: Option<String>,
    software_spec: Option<String>,
    pub display_name: Option<String>,
    pub delete_existing_draft: Option<bool>,
}

async fn read_spec_document(state: &ApiState, spec: &ImportSpec) -> Result<Vec<u8>, ApiError> {
    // Only regular files, and at most the cap actually read (a FIFO or /dev/zero never ends).
    let read_local = |path: PathBuf| -> Result<Vec<u8>, ApiError> {
        esxlcm_depot::input::read_capped(&path, MAX_SPEC_BYTES, "software spec")
            .map_err(|e| ApiError::invalid_argument(e.to_string()))
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
            let Some((_, reader)) = state.depots.open_upload(id).await? else {
                return Err(ApiError::invalid_argument(format!(
                    "no uploaded file '{id}': upload the software spec first (POST /vum-fileupload)"
                )));
            };
            // At most the cap actually read.
            let read = tokio::task::spawn_blocking(move || {
                let mut bytes = Vec::new();
                reader.take(MAX_SPEC_BYTES + 1).read_to_end(&mut bytes).map(|_| bytes)
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
            let bytes = read.map_err(|e| ApiError::invalid_argument(format!("software spec: upload {id}: {e}")))?;
            if bytes.len() as u64 > MAX_SPEC_BYTES {
                return Err(ApiError::invalid_argument(format!(
                    "software spec: upload {id} is larger than {MAX_SPEC_BYTES} bytes"
                )));
            }
            state.depots.consume_upload(id).await;
            Ok(bytes)
        }
        "PULL" => {
            let location =
                spec.location.as_deref().ok_or_else(|| ApiError::invalid_argument("PULL needs a location"))?;
            if let Some(path) = local_path(location) {
                return read_local(path);
            }
            let url =
                url::Url::parse(location).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
                    ApiError::invalid_argument("the location must be a path, a file: URL or an http(s) URL")
                })?;
            let data_dir = state.depots.data_dir().to_path_buf();
            // The blocking client runs a runtime of its own: made, used and dropped off the async threads.
            let fetched = tokio::task::spawn_blocking(move || {
                let client = crate::api::services::depots::http_client(&data_dir)
                    .map_err(|e| esxlcm_net::NetError::Setup { message: e.to_string() })?;
                client.fetch_to_vec(&url, MAX_SPEC_BYTES)
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
            fetched.map_err(|e| match e {
                esxlcm_net::NetError::TooLarge { .. } => {
                    ApiError::invalid_argument("the document is too big for a software spec")
                }
                other => ApiError::new(
                    ErrorKind::ResourceInaccessible,
                    "com.esxlcm.spec.fetch",
                    format!("fetching the software spec: {}", esxlcm_net::redact::redact_text(&other.to_string())),
                ),
            })
        }
        other => Err(ApiError::new(
            ErrorKind::Unsupported,
            "com.esxlcm.spec.recommendation",
            format!("{other}: image recommendations need Broadcom's online data and are not available"),
        )),
    }
}

/// A software spec document as esxlcm reads it: keys it does not know are refused.
pub fn parse_spec(bytes: &[u8]) -> Result<SoftwareSpec, ApiError> {
    let spec = SoftwareSpec::from_json(bytes)
        .map_err(|e| ApiError::invalid_argument(format!("not a usable software spec: {e}")))?;
    let unknown = spec.unknown_keys();
    if !unknown.is_empty() {
        return Err(ApiError::invalid_argument(format!(
            "the software spec has keys esxlcm does not know: {}",
            unknown.join(", ")
        )));
    }
    Ok(spec)
}

/// The `spec` input of an `import_software_spec` and the document it names.
pub async fn read_import(ctx: &Ctx) -> Result<(ImportSpec, SoftwareSpec), ApiError> {
    let spec_in: ImportSpec = ctx.input("spec")?;
    let bytes = read_spec_document(&ctx.state, &spec_in).await?;
    let spec = parse_spec(&bytes)?;
    Ok((spec_in, spec))
}

pub fn drafts_import(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let (spec_in, spec) = read_import(&ctx).await?;
        let user = ctx.caller.user.clone();
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                let mut d = new_draft(&user, owner.history(s)?.commit.clone(), spec);
                d.display_name = spec_in.display_name;
                insert_draft(s, &owner, d, false)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

/// Every owner's drafts.
pub fn drafts_validate(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let d = draft(&*ctx.state.depots.snapshot().await, &owner, &draft_id)?.clone();
        ctx.report(10, 100, "Resolving and validating the image");
        let (_, r) = resolve(&ctx.state, d.spec.clone()).await?;
        let valid = !r.has_errors();
        // Record the verdict only if the draft did not change meanwhile.
        ctx.state
            .depots
            .mutate(|s| {
                if let Some(cur) = owner.drafts_mut(s)?.get_mut(&draft_id)
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
pub struct CommitSpec {
    pub message: Option<String>,
    pub orchestrator: Option<Value>,
}

/// The caller's draft, validated for a commit: `invalid_argument` with the errors when it
/// does not validate.
pub async fn validated_draft(ctx: &Ctx, owner: &Owner, draft_id: &str) -> Result<Draft, ApiError> {
    let d = {
        let mut s = ServerState::clone(&*ctx.state.depots.snapshot().await);
        draft_for_edit(&mut s, owner, draft_id, &ctx.caller.user)?.clone()
    };
    ctx.report(10, 100, "Validating the draft");
    let (_, r) = resolve(&ctx.state, d.spec.clone()).await?;
    if r.has_errors() {
        return Err(invalid_with_errors(
            &r,
            "com.esxlcm.draft.invalid",
            format!("draft '{draft_id}' does not validate; nothing is committed"),
        ));
    }
    Ok(d)
}

/// Record `spec` as the owner's desired image, a new commit by `user`: the commit's id.
pub fn record_commit(
    s: &mut ServerState,
    owner: &Owner,
    user: &str,
    message: String,
    spec: SoftwareSpec,
    display_name: Option<String>,
    library: Option<LibraryOrigin>,
) -> Result<String, ApiError> {
    // Checked before the id is taken: a refused commit uses none.
    owner.history(s)?;
    s.next_id += 1;
    let commit_id = s.next_id.to_string();
    let h = owner.history_mut(s)?;
    let time = format_datetime(Utc::now());
    let commit = Commit { author: user.to_owned(), time, message, spec, display_name, library };
    h.commits.insert(commit_id.clone(), commit);
    h.commit = Some(commit_id.clone());
    Ok(commit_id)
}

pub fn drafts_commit(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let spec_in: CommitSpec = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let user = ctx.caller.user.clone();
        let d = validated_draft(&ctx, &owner, &draft_id).await?;
        ctx.report(80, 100, "Committing");
        let commit_id = ctx
            .state
            .depots
            .mutate(|s| {
                let cur = draft_for_edit(s, &owner, &draft_id, &user)?;
                if cur.spec != d.spec {
                    return Err(concurrent(format!("draft '{draft_id}' changed while it was being committed")));
                }
                let h = owner.history(s)?;
                if h.commit != d.base_commit {
                    return Err(concurrent(format!(
                        "{owner} has a new desired image (commit {}) since draft '{draft_id}' was created from {}; \
                         create a new draft",
                        h.commit.as_deref().unwrap_or("none"),
                        d.base_commit.as_deref().unwrap_or("no image"),
                    )));
                }
                let message = spec_in.message.unwrap_or_default();
                let commit_id = record_commit(s, &owner, &user, message, d.spec, d.display_name, None)?;
                owner.history_mut(s)?.drafts.remove(&draft_id);
                Ok(commit_id)
            })
            .await?;
        tracing::info!(image = %owner, commit = %commit_id, user = %user, "draft committed");
        Ok(Out::Plain(Value::String(commit_id)))
    })
}

pub fn drafts_scan(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let d = draft(&*ctx.state.depots.snapshot().await, &owner, &draft_id)?.clone();
        Ok(Out::Plain(scan_spec(&ctx, &owner, d.spec, None).await?))
    })
}

// ---- drafts.display_name ----

pub fn draft_display_name_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let s = ctx.state.depots.snapshot().await;
        let d = draft(&s, &owner, &draft_id)?;
        Ok(Out::Plain(json!({"display_name": d.display_name.clone().unwrap_or_default()})))
    })
}

#[derive(Deserialize)]
struct DisplayNameIn {
    display_name: String,
}

pub fn check_display_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_argument(format!(
            "'{name}' is not a usable display name (1–255 printable characters)"
        )));
    }
    Ok(())
}

pub fn draft_display_name_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: DisplayNameIn = ctx.input("spec")?;
        check_display_name(&input.display_name)?;
        edit_draft(&ctx, |d, _| {
            d.display_name = Some(input.display_name);
            Ok(())
        })
        .await
    })
}

// ---- drafts.software.* (every owner) ----

/// The draft's spec, or the alternative image the call names as a spec of its own.
pub(super) async fn draft_spec_of(ctx: &Ctx) -> Result<SoftwareSpec, ApiError> {
    let owner = Owner::of(ctx)?;
    let draft_id: String = ctx.input("draft")?;
    let image: Option<String> = ctx.input("image")?;
    let s = ctx.state.depots.snapshot().await;
    image_as_spec(&draft(&s, &owner, &draft_id)?.spec, image.as_deref())
}

pub fn draft_base_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
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
        edit_spec(&ctx, |image, catalog| {
            if catalog.base_image(&v).is_none() {
                return Err(ApiError::invalid_argument(format!("no depot has base image {v}")));
            }
            image.base_image = Some(BaseImageSpec { version: v, unknown: Default::default() });
            Ok(())
        })
        .await
    })
}

fn no_add_on() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "com.esxlcm.draft.no_add_on", "the draft has no add-on")
}

pub fn draft_add_on_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
        let a = spec.image.add_on.ok_or_else(no_add_on)?;
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
        edit_spec(&ctx, |image, catalog| {
            if catalog.addon(&input.name, &v).is_none() {
                return Err(ApiError::invalid_argument(format!("no depot has add-on {} {v}", input.name)));
            }
            image.add_on = Some(AddOnSpec { name: input.name, version: v, unknown: Default::default() });
            Ok(())
        })
        .await
    })
}

pub fn draft_add_on_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move { edit_spec(&ctx, |image, _| image.add_on.take().map(drop).ok_or_else(no_add_on)).await })
}

pub fn draft_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(components_of(&catalog, &spec)))
    })
}

pub fn draft_components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = draft_spec_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(component_of(&catalog, &spec, &name)))
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
        edit_spec(&ctx, |image, catalog| {
            let v = checked_component(catalog, &name, version.as_deref())?;
            image.components.insert(name, v);
            Ok(())
        })
        .await
    })
}

pub fn draft_components_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_spec(&ctx, |image, _| {
            image.components.remove(&name).map(drop).ok_or_else(|| ApiError::not_found("draft component", &name))
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
        edit_spec(&ctx, |image, catalog| {
            for name in update.components_to_delete.unwrap_or_default() {
                image.components.remove(&name);
            }
            for (name, version) in update.components_to_set.unwrap_or_default() {
                let v = checked_component(catalog, &name, version.as_deref())?;
                image.components.insert(name, v);
            }
            Ok(())
        })
        .await
    })
}

pub fn draft_removed_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_of(&catalog, &spec)))
    })
}

pub fn draft_removed_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = draft_spec_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_component_of(&catalog, &spec, &name)?))
    })
}

pub fn draft_removed_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_spec(&ctx, |image, _| {
            if !image.removed_components.contains(&name) {
                image.removed_components.push(name);
                image.removed_components.sort();
            }
            Ok(())
        })
        .await
    })
}

pub fn draft_removed_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        edit_spec(&ctx, |image, _| {
            let before = image.removed_components.len();
            image.removed_components.retain(|n| n != &name);
            if image.removed_components.len() == before {
                return Err(ApiError::not_found("removed component", &name));
            }
            Ok(())
        })
        .await
    })
}

#[derive(Deserialize, Default)]
pub struct EffectiveFilter {
    pub with_removed_components: Option<bool>,
}

/// `list` (the library's takes a filter `spec`: `with_removed_components`).
pub fn draft_effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: EffectiveFilter = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let spec = draft_spec_of(&ctx).await?;
        let with_removed = filter.with_removed_components.unwrap_or(false);
        Ok(Out::Plain(effective_components(&ctx.state, spec, with_removed).await?))
    })
}

pub fn draft_effective_with_removed_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
        Ok(Out::Plain(effective_components(&ctx.state, spec, true).await?))
    })
}
