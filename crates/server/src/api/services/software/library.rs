//! `esx.settings.repository.software`: the image library, named software specs not tied to
//! a cluster or host (the image builder's side). A spec is created or changed only by
//! committing a library draft (`drafts.create`, `import_software_spec`, or `edit`/`copy`
//! of an existing spec); drafts are composed, validated and committed with the shared
//! draft code (`Owner::Library`). `inventory.assign_entities` makes a spec a cluster's or
//! standalone host's desired image (a commit recording the spec): `assigned_entities` and
//! `software_spec_metadata` read it from the current commits.

use std::collections::BTreeSet;

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::drafts::{
    CommitSpec, EffectiveFilter, check_display_name, concurrent, draft, draft_for_edit, draft_metadata, insert_draft,
    new_draft, parse_spec, read_import, validated_draft,
};
use super::export::export_spec;
use super::image::{effective_components, image_as_spec};
use super::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{Draft, ImageHistory, LibrarySpec, ServerState};
use crate::api::services::image_wire;
use crate::api::typed::format_datetime;

pub(crate) fn spec<'a>(s: &'a ServerState, id: &str) -> Result<&'a LibrarySpec, ApiError> {
    s.library.specs.get(id).ok_or_else(|| ApiError::not_found("software spec", id))
}

/// The clusters and standalone hosts whose desired image was assigned from spec `id`.
fn assigned_entities(s: &ServerState, id: &str) -> Value {
    let from = |h: &ImageHistory| {
        h.commit
            .as_ref()
            .and_then(|c| h.commits.get(c))
            .and_then(|c| c.library.as_ref())
            .is_some_and(|o| o.software_spec_id == id)
    };
    let clusters: Vec<Value> =
        s.clusters.iter().filter(|(_, c)| from(&c.image)).map(|(cid, c)| json!({"id": cid, "name": c.name})).collect();
    let hosts: Vec<Value> = s
        .hosts
        .iter()
        .filter(|(_, h)| h.cluster.is_none() && from(&h.image))
        .map(|(hid, h)| json!({"id": hid, "name": h.name}))
        .collect();
    json!({"clusters": clusters, "hosts": hosts})
}

/// `record` / `info` of a library spec (`info` is the record without its id).
fn record(catalog: &Catalog, s: &ServerState, id: &str, l: &LibrarySpec) -> Value {
    let kind = if l.spec.alternative_images.is_empty() { "SINGLE" } else { "COMPOSITE" };
    let mut v = json!({
        "id": id,
        "display_name": l.display_name,
        "type": kind,
        "software_info": image_wire::software_info(catalog, &l.spec),
        "software_spec": serde_json::to_value(&l.spec).unwrap_or(Value::Null),
        "assigned_entities": assigned_entities(s, id),
        "editable": true,
        "creation_time": l.created,
        "modified_time": l.modified,
    });
    if let (Some(o), Some(obj)) = (&l.orchestrator, v.as_object_mut()) {
        obj.insert("orchestrator_info".into(), o.clone());
    }
    v
}

/// Display names are unique in the library.
fn check_unique_name(s: &ServerState, name: &str, except: Option<&str>) -> Result<(), ApiError> {
    check_display_name(name)?;
    match s.library.specs.iter().find(|(id, l)| l.display_name == name && Some(id.as_str()) != except) {
        Some((id, _)) => Err(ApiError::invalid_argument(format!(
            "the library already has a software spec named '{name}' ({id}); choose another name"
        ))),
        None => Ok(()),
    }
}

#[derive(Deserialize, Default)]
struct ListFilter {
    owners: Option<BTreeSet<String>>,
    display_names: Option<BTreeSet<String>>,
}

pub fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: ListFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let s = ctx.state.depots.snapshot().await;
        let catalog = ctx.state.depots.catalog().await?;
        let owner_of = |l: &LibrarySpec| {
            l.orchestrator.as_ref().and_then(|o| o.get("owner")).and_then(Value::as_str).map(str::to_owned)
        };
        let mut specs: Vec<(&String, &LibrarySpec)> = s
            .library
            .specs
            .iter()
            .filter(|(_, l)| filter.display_names.as_ref().is_none_or(|n| n.contains(&l.display_name)))
            .filter(|(_, l)| filter.owners.as_ref().is_none_or(|o| owner_of(l).is_some_and(|x| o.contains(&x))))
            .collect();
        specs.sort_by(|a, b| (&a.1.display_name, a.0).cmp(&(&b.1.display_name, b.0)));
        let records: Vec<Value> = specs.into_iter().map(|(id, l)| record(&catalog, &s, id, l)).collect();
        Ok(Out::Plain(json!({"records": records})))
    })
}

pub fn get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        let s = ctx.state.depots.snapshot().await;
        let catalog = ctx.state.depots.catalog().await?;
        let mut v = record(&catalog, &s, &id, spec(&s, &id)?);
        if let Some(obj) = v.as_object_mut() {
            obj.remove("id");
        }
        Ok(Out::Plain(v))
    })
}

pub fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        ctx.state
            .depots
            .mutate(|s| {
                spec(s, &id)?;
                let editing: Vec<&String> = s
                    .library
                    .drafts
                    .iter()
                    .filter(|(_, d)| d.software_spec.as_deref() == Some(&id))
                    .map(|(d, _)| d)
                    .collect();
                if !editing.is_empty() {
                    return Err(ApiError::new(
                        ErrorKind::ResourceInUse,
                        "com.esxlcm.library.spec_in_use",
                        format!(
                            "software spec '{id}' is being edited in draft(s) {}; commit or delete them first",
                            editing.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                s.library.specs.remove(&id);
                Ok(())
            })
            .await?;
        tracing::info!(software_spec = %id, user = %ctx.caller.user, "library spec deleted");
        Ok(Out::Plain(Value::Null))
    })
}

#[derive(Deserialize)]
struct UpdateSpec {
    display_name: Option<String>,
    orchestrator: Option<Value>,
}

pub fn update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        let update: UpdateSpec = ctx.input("spec")?;
        ctx.state
            .depots
            .mutate(|s| {
                spec(s, &id)?;
                if let Some(name) = &update.display_name {
                    check_unique_name(s, name, Some(&id))?;
                }
                let l = s.library.specs.get_mut(&id).ok_or_else(|| ApiError::not_found("software spec", &id))?;
                if let Some(name) = update.display_name {
                    l.display_name = name;
                }
                if let Some(o) = update.orchestrator {
                    l.orchestrator = Some(o);
                }
                l.modified = format_datetime(Utc::now());
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

pub fn export(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        let l = spec(&*ctx.state.depots.snapshot().await, &id)?.clone();
        export_spec(&ctx, &format!("library spec '{id}'"), l.spec).await
    })
}

#[derive(Deserialize, Default)]
struct DraftOptions {
    delete_existing_draft: Option<bool>,
}

/// A library draft of `user` starting from spec `id`: `edit` changes it, `copy` makes a new one.
async fn draft_from(ctx: &Ctx, copy: bool) -> Result<Out, ApiError> {
    let id: String = ctx.input("software_spec")?;
    let options: DraftOptions = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
    let user = ctx.caller.user.clone();
    let draft_id = ctx
        .state
        .depots
        .mutate(|s| {
            let l = spec(s, &id)?;
            let d = if copy {
                let mut d = new_draft(&user, None, l.spec.clone());
                d.display_name = Some(format!("{} (copy)", l.display_name));
                d
            } else {
                let mut d = new_draft(&user, Some(l.revision.clone()), l.spec.clone());
                d.display_name = Some(l.display_name.clone());
                d.software_spec = Some(id.clone());
                d
            };
            insert_draft(s, &Owner::Library, d, options.delete_existing_draft.unwrap_or(false))
        })
        .await?;
    Ok(Out::Plain(Value::String(draft_id)))
}

pub fn edit(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move { draft_from(&ctx, false).await })
}

pub fn copy(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move { draft_from(&ctx, true).await })
}

#[derive(Deserialize)]
struct CheckSpec {
    display_name: Option<String>,
    software_spec: Option<Value>,
}

/// Which library specs have the given name and/or the same content.
pub fn check_repository(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let check: CheckSpec = ctx.input("spec")?;
        let wanted = match &check.software_spec {
            Some(v) => Some(parse_spec(v.to_string().as_bytes())?),
            None => None,
        };
        let s = ctx.state.depots.snapshot().await;
        let catalog = ctx.state.depots.catalog().await?;
        let matches: Vec<Value> = s
            .library
            .specs
            .iter()
            .filter_map(|(id, l)| {
                let mut kinds = Vec::new();
                if check.display_name.as_ref() == Some(&l.display_name) {
                    kinds.push("NAME_MATCH");
                }
                if wanted.as_ref() == Some(&l.spec) {
                    kinds.push("SOFTWARE_SPEC_MATCH");
                }
                (!kinds.is_empty()).then(|| json!({"match_types": kinds, "record": record(&catalog, &s, id, l)}))
            })
            .collect();
        Ok(Out::Plain(json!({"matches": matches})))
    })
}

pub fn effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        let filter: EffectiveFilter = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let l = spec(&*ctx.state.depots.snapshot().await, &id)?.clone();
        let with_removed = filter.with_removed_components.unwrap_or(false);
        Ok(Out::Plain(effective_components(&ctx.state, l.spec, with_removed).await?))
    })
}

/// `alternative_images.effective_components.list` of a library spec.
pub fn alternative_effective_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("software_spec")?;
        let image: String = ctx.input("image")?;
        let filter: EffectiveFilter = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let l = spec(&*ctx.state.depots.snapshot().await, &id)?.clone();
        let alt = image_as_spec(&l.spec, Some(&image))?;
        let with_removed = filter.with_removed_components.unwrap_or(false);
        Ok(Out::Plain(effective_components(&ctx.state, alt, with_removed).await?))
    })
}

// ---- repository.software.drafts ----

/// `drafts.info`; a draft of a new spec names the id its commit will create.
fn draft_info(catalog: &Catalog, id: &str, d: &Draft) -> Value {
    json!({
        "metadata": draft_metadata(d),
        "display_name": d.display_name.clone().unwrap_or_default(),
        "software_spec": d.software_spec.clone().unwrap_or_else(|| new_spec_id(id)),
        "software_info": image_wire::software_info(catalog, &d.spec),
    })
}

/// The id a new spec committed from draft `draft_id` gets.
fn new_spec_id(draft_id: &str) -> String {
    format!("spec-{draft_id}")
}

pub fn drafts_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let options: DraftOptions = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let user = ctx.caller.user.clone();
        let replace = options.delete_existing_draft.unwrap_or(false);
        let id = ctx
            .state
            .depots
            .mutate(|s| insert_draft(s, &Owner::Library, new_draft(&user, None, Default::default()), replace))
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn drafts_import(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let (spec_in, software) = read_import(&ctx).await?;
        let name = spec_in.display_name.clone().unwrap_or_default();
        check_display_name(&name)?;
        let user = ctx.caller.user.clone();
        let replace = spec_in.delete_existing_draft.unwrap_or(false);
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                let mut d = new_draft(&user, None, software);
                d.display_name = Some(name);
                insert_draft(s, &Owner::Library, d, replace)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

#[derive(Deserialize, Default)]
struct DraftsFilter {
    software_spec_ids: Option<BTreeSet<String>>,
    owners: Option<BTreeSet<String>>,
}

pub fn drafts_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: DraftsFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let s = ctx.state.depots.snapshot().await;
        let catalog = ctx.state.depots.catalog().await?;
        let map: Map<String, Value> = s
            .library
            .drafts
            .iter()
            .filter(|(_, d)| filter.owners.as_ref().is_none_or(|o| o.contains(&d.owner)))
            .filter(|(_, d)| {
                filter
                    .software_spec_ids
                    .as_ref()
                    .is_none_or(|ids| d.software_spec.as_ref().is_some_and(|x| ids.contains(x)))
            })
            .map(|(id, d)| (id.clone(), draft_info(&catalog, id, d)))
            .collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn drafts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let draft_id: String = ctx.input("draft")?;
        let s = ctx.state.depots.snapshot().await;
        let d = draft(&s, &Owner::Library, &draft_id)?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(draft_info(&catalog, &draft_id, d)))
    })
}

/// Create or update the library spec; the result is its id.
pub fn drafts_commit(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let draft_id: String = ctx.input("draft")?;
        let spec_in: CommitSpec = ctx.input::<Option<_>>("spec")?.unwrap_or_default();
        let user = ctx.caller.user.clone();
        let d = validated_draft(&ctx, &Owner::Library, &draft_id).await?;
        let name = d.display_name.clone().ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "draft '{draft_id}' has no display name; set one (drafts/{draft_id}/display-name) before committing"
            ))
        })?;
        ctx.report(80, 100, "Committing");
        let spec_id = d.software_spec.clone().unwrap_or_else(|| new_spec_id(&draft_id));
        ctx.state
            .depots
            .mutate(|s| {
                let cur = draft_for_edit(s, &Owner::Library, &draft_id, &user)?;
                if cur.spec != d.spec || cur.display_name != d.display_name {
                    return Err(concurrent(format!("draft '{draft_id}' changed while it was being committed")));
                }
                let current = s.library.specs.get(&spec_id).map(|l| l.revision.clone());
                if current != d.base_commit {
                    return Err(concurrent(match current {
                        Some(_) => format!(
                            "software spec '{spec_id}' was changed since draft '{draft_id}' began; create a new draft"
                        ),
                        None => format!("software spec '{spec_id}' was deleted since draft '{draft_id}' began"),
                    }));
                }
                check_unique_name(s, &name, Some(&spec_id))?;
                s.next_id += 1;
                let revision = s.next_id.to_string();
                let now = format_datetime(Utc::now());
                let previous = s.library.specs.remove(&spec_id);
                let l = LibrarySpec {
                    display_name: name,
                    author: previous.as_ref().map_or_else(|| user.clone(), |p| p.author.clone()),
                    created: previous.as_ref().map_or_else(|| now.clone(), |p| p.created.clone()),
                    modified: now,
                    revision,
                    spec: d.spec,
                    orchestrator: spec_in.orchestrator.or(previous.and_then(|p| p.orchestrator)),
                };
                s.library.specs.insert(spec_id.clone(), l);
                s.library.drafts.remove(&draft_id);
                Ok(())
            })
            .await?;
        tracing::info!(software_spec = %spec_id, user = %user, message = ?spec_in.message, "library spec committed");
        Ok(Out::Plain(Value::String(spec_id)))
    })
}

// ---- clusters.software.software_spec_metadata, hosts.software.software_spec_metadata ----

/// The library spec the current commit was assigned from (`inventory.assign_entities`);
/// `not_found` when there is no commit or it did not come from the library. A spec changed
/// or deleted since is a warning: the desired image stays the one assigned.
pub fn spec_metadata_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let s = ctx.state.depots.snapshot().await;
        let h = owner.history(&s)?;
        let origin =
            h.commit.as_ref().and_then(|c| h.commits.get(c)).and_then(|c| c.library.as_ref()).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NotFound,
                    "com.esxlcm.image.no_software_spec",
                    format!(
                        "the desired image of {owner} was not assigned from a library software spec (inventory \
                     assign-entities)"
                    ),
                )
            })?;
        let id = &origin.software_spec_id;
        let warning = match s.library.specs.get(id) {
            None => Some(format!("software spec '{id}' was deleted from the library since it was assigned")),
            Some(l) if l.revision != origin.revision => Some(format!(
                "software spec '{id}' was changed since it was assigned; the desired image is the one assigned"
            )),
            Some(_) => None,
        };
        let warnings: Vec<Value> = warning
            .map(|text| {
                let time = format_datetime(Utc::now());
                json!({"type": "WARNING", "id": "com.esxlcm.image.software_spec_changed", "time": time,
                       "message": image_wire::message("com.esxlcm.image.software_spec_changed", &text, &[])})
            })
            .into_iter()
            .collect();
        Ok(Out::Plain(json!({
            "display_name": origin.display_name,
            "software_spec_id": id,
            "orchestrator_info": origin.orchestrator.clone().unwrap_or_else(|| json!({})),
            "notifications": {"info": [], "warnings": warnings, "errors": []},
        })))
    })
}
