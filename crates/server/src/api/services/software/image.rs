//! The committed image of a cluster or standalone host (`clusters.software`,
//! `hosts.software`): its parts, effective components, commits, and compliance scans of the
//! hosts' posted states.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use esxlcm_solver::host_state::HostState;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, SoftwareSpec, SpecResolution, resolve_spec};
use serde_json::{Map, Value, json};

use super::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind, Message};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::ServerState;
use crate::api::services::image_wire;
use crate::api::state::ApiState;
use crate::api::typed::format_datetime;

/// The committed spec of an owner (its desired image) and the commit's id.
pub fn committed(s: &ServerState, owner: &Owner) -> Result<(String, SoftwareSpec), ApiError> {
    let h = owner.history(s)?;
    let id = h.commit.clone().ok_or_else(|| owner.no_image())?;
    let commit = h.commits.get(&id).ok_or_else(|| ApiError::internal(format!("commit {id} is missing")))?;
    Ok((id, commit.spec.clone()))
}

/// The committed spec, or the alternative image the call names (`image`) as a spec of its own.
pub(super) async fn committed_of(ctx: &Ctx) -> Result<SoftwareSpec, ApiError> {
    let owner = Owner::of(ctx)?;
    let image: Option<String> = ctx.input("image")?;
    image_as_spec(&committed(&*ctx.state.depots.snapshot().await, &owner)?.1, image.as_deref())
}

/// The alternative image `id` of a spec.
pub fn image_in<'a>(spec: &'a SoftwareSpec, id: &str) -> Result<&'a ImageSpec, ApiError> {
    spec.alternative_images.get(id).map(|a| &a.image).ok_or_else(|| ApiError::not_found("alternative image", id))
}

/// `spec` itself, or its alternative image `image` as a spec of its own (resolved,
/// listed and exported like a main image).
pub fn image_as_spec(spec: &SoftwareSpec, image: Option<&str>) -> Result<SoftwareSpec, ApiError> {
    match image {
        None => Ok(spec.clone()),
        Some(id) => Ok(SoftwareSpec { image: image_in(spec, id)?.clone(), ..SoftwareSpec::default() }),
    }
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
pub fn all_notifications(r: &SpecResolution) -> Vec<&esxlcm_solver::Notification> {
    r.main.notifications.iter().chain(r.alternatives.values().flat_map(|a| a.resolution.notifications.iter())).collect()
}

/// `InvalidArgument` under `id` with `message`, then every error of the spec (main image and
/// alternatives): a change that does not validate, refused.
pub fn invalid_with_errors(r: &SpecResolution, id: &str, message: String) -> ApiError {
    let mut e = ApiError::new(ErrorKind::InvalidArgument, id, message);
    e.messages.extend(
        all_notifications(r)
            .into_iter()
            .filter(|n| n.is_error())
            .map(|n| Message::new(&n.id, n.message.default_message.clone())),
    );
    e
}

/// `NotAllowedInCurrentState` with the main image's errors.
fn unresolvable(r: &SpecResolution, what: &str) -> ApiError {
    let mut e = ApiError::new(ErrorKind::NotAllowedInCurrentState, "com.esxlcm.image.invalid", what);
    e.messages.extend(r.main.errors().map(|n| Message::new(&n.id, n.message.default_message.clone())));
    e
}

pub fn components_of(catalog: &Catalog, spec: &SoftwareSpec) -> Value {
    let map: Map<String, Value> = spec
        .image
        .components
        .iter()
        .map(|(n, v)| (n.clone(), image_wire::component_info(catalog, n, v.as_ref())))
        .collect();
    Value::Object(map)
}

pub fn removed_of(catalog: &Catalog, spec: &SoftwareSpec) -> Value {
    let map: Map<String, Value> = spec
        .image
        .removed_components
        .iter()
        .map(|n| (n.clone(), image_wire::component_info(catalog, n, None)))
        .collect();
    Value::Object(map)
}

/// `component_info?` of one component the spec names (unset when it names none).
pub fn component_of(catalog: &Catalog, spec: &SoftwareSpec, name: &str) -> Value {
    spec.image.components.get(name).map_or(Value::Null, |v| image_wire::component_info(catalog, name, v.as_ref()))
}

pub fn removed_component_of(catalog: &Catalog, spec: &SoftwareSpec, name: &str) -> Result<Value, ApiError> {
    if !spec.image.removed_components.iter().any(|n| n == name) {
        return Err(ApiError::not_found("removed component", name));
    }
    Ok(image_wire::component_info(catalog, name, None))
}

/// The resolved image's components (`map<id, effective_component_info>`).
pub async fn effective(state: &ApiState, spec: SoftwareSpec) -> Result<Value, ApiError> {
    let (catalog, r) = resolve(state, spec).await?;
    if r.main.has_errors() {
        return Err(unresolvable(&r, "the image does not resolve against the depots"));
    }
    Ok(image_wire::effective_components(&catalog, &r.main.image))
}

/// [`effective`], and with `with_removed` also the components the spec removes
/// (source USER_REMOVED).
pub async fn effective_components(state: &ApiState, spec: SoftwareSpec, with_removed: bool) -> Result<Value, ApiError> {
    let mut v = effective(state, spec.clone()).await?;
    if with_removed && let Some(map) = v.as_object_mut() {
        let catalog = state.depots.catalog().await?;
        map.extend(image_wire::removed_effective_components(&catalog, &spec));
    }
    Ok(v)
}

// ---- handlers: `clusters.software` and `hosts.software` ----

pub fn software_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::software_info(&catalog, &spec)))
    })
}

/// `clusters.software.get_default_image`: the main image alone, the one hosts that no
/// alternative image's selection criteria pick get.
pub fn default_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &owner)?;
        let main = SoftwareSpec { image: spec.image, ..SoftwareSpec::default() };
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::software_info(&catalog, &main)))
    })
}

pub fn base_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::base_image_info(&catalog, spec.image.base_image.as_ref().map(|b| &b.version))))
    })
}

pub fn add_on_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &owner)?;
        let a = spec.image.add_on.ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "com.esxlcm.image.no_add_on",
                format!("the image of {owner} has no add-on"),
            )
        })?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::add_on_info(&catalog, &a.name, &a.version)))
    })
}

pub fn components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(components_of(&catalog, &spec)))
    })
}

pub fn components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(component_of(&catalog, &spec, &name)))
    })
}

pub fn removed_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_of(&catalog, &spec)))
    })
}

pub fn removed_components_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("component")?;
        let spec = committed_of(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(removed_component_of(&catalog, &spec, &name)?))
    })
}

pub fn effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        Ok(Out::Plain(effective(&ctx.state, spec).await?))
    })
}

pub fn effective_with_removed_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        Ok(Out::Plain(effective_components(&ctx.state, spec, true).await?))
    })
}

pub fn solutions_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        Ok(Out::Plain(Value::Object(image_wire::solution_infos(&spec))))
    })
}

pub fn solutions_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("solution")?;
        let spec = committed_of(&ctx).await?;
        image_wire::solution_infos(&spec)
            .remove(&name)
            .map(Out::Plain)
            .ok_or_else(|| ApiError::not_found("solution", &name))
    })
}

pub fn commits_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let commit_id: String = ctx.input("commit")?;
        let s = ctx.state.depots.snapshot().await;
        let c = owner.history(&s)?.commits.get(&commit_id).ok_or_else(|| ApiError::not_found("commit", &commit_id))?;
        // esxlcm never remediates hosts, so no commit is ever applied.
        Ok(Out::Plain(json!({
            "author": c.author, "commit_time": c.time, "description": c.message, "apply_status": "NOT_APPLIED",
        })))
    })
}

/// `hosts.software.get_display_name`: the display name the committed draft carried.
pub fn display_name_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let s = ctx.state.depots.snapshot().await;
        let h = owner.history(&s)?;
        let id = h.commit.as_ref().ok_or_else(|| owner.no_image())?;
        let name = h.commits.get(id).and_then(|c| c.display_name.clone()).unwrap_or_default();
        Ok(Out::Plain(json!({"display_name": name})))
    })
}

pub fn compliance_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let s = ctx.state.depots.snapshot().await;
        let scan = owner.history(&s)?.last_scan.clone().ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "com.esxlcm.image.not_scanned",
                format!("{owner} has not been scanned yet (scan$task)"),
            )
        })?;
        Ok(Out::Plain(scan))
    })
}

/// Check `spec` against the posted states: every host of a cluster (`cluster_compliance`)
/// or the standalone host itself (`host_compliance`).
pub async fn scan_spec(ctx: &Ctx, owner: &Owner, spec: SoftwareSpec, commit: Option<&str>) -> Result<Value, ApiError> {
    ctx.report(10, 100, "Resolving the image");
    let (_, r) = resolve(&ctx.state, spec).await?;
    if r.main.has_errors() {
        return Err(unresolvable(
            &r,
            "the image does not resolve against the depots; hosts cannot be checked against it",
        ));
    }
    ctx.report(50, 100, "Checking hosts");
    let s = ctx.state.depots.snapshot().await;
    owner.history(&s)?;
    let members: Vec<(&String, &crate::api::persist::Host)> = match owner {
        Owner::Cluster(c) => s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(c.as_str())).collect(),
        Owner::Host(id) => s.hosts.get_key_value(id).into_iter().collect(),
        Owner::Library => return Err(ApiError::internal("library specs have no hosts to scan")),
    };
    let mut results = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (id, h) in members {
        // A stored state was checked when posted; one that no longer reads is unavailable.
        let state = h.state.as_ref().and_then(|v| HostState::from_value(v).ok());
        results.insert(id.clone(), esxlcm_solver::alternatives::check_host(&r, state.as_ref()));
        names.insert(id.clone(), h.name.clone());
    }
    match owner {
        Owner::Host(id) => {
            let h = results.remove(id).ok_or_else(|| ApiError::not_found("host", id))?;
            Ok(image_wire::host_compliance(&h, &format_datetime(Utc::now()), commit))
        }
        _ => Ok(image_wire::cluster_compliance(results, &names, commit)),
    }
}

/// Scan an owner's hosts against its committed image and store the result for
/// `compliance.get` (`clusters.software.scan`, `hosts.software.scan`, `inventory.scan`).
pub async fn scan_committed(ctx: &Ctx, owner: &Owner) -> Result<Value, ApiError> {
    let (commit, spec) = committed(&*ctx.state.depots.snapshot().await, owner)?;
    let result = scan_spec(ctx, owner, spec, Some(&commit)).await?;
    let stored = result.clone();
    ctx.state
        .depots
        .mutate(|s| {
            owner.history_mut(s)?.last_scan = Some(stored);
            Ok(())
        })
        .await?;
    Ok(result)
}

pub fn scan(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        Ok(Out::Plain(scan_committed(&ctx, &owner).await?))
    })
}
