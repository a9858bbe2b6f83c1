//! Alternative images (`alternative_images` of a cluster's image, of its drafts and of
//! library drafts): complete images beside the main one, each with a display name and the
//! selection criteria (host UUIDs or hardware) that decide which hosts get it. Their parts
//! are read and edited by the shared image and draft handlers (they take the `image`
//! input); here: create, delete, list, get, display name and selection criteria.

use std::collections::BTreeMap;

use esxlcm_solver::spec::AlternativeImage;
use esxlcm_solver::{HostSelection, SoftwareSpec};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::drafts::{check_display_name, draft, draft_for_edit};
use super::image::committed;
use super::owner::Owner;
use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::services::depots::next_id;
use crate::api::services::image_wire;

fn alternative<'a>(spec: &'a SoftwareSpec, image: &str) -> Result<&'a AlternativeImage, ApiError> {
    spec.alternative_images.get(image).ok_or_else(|| ApiError::not_found("alternative image", image))
}

/// Change the alternative images of the caller's draft with `f`, given the `image` input;
/// the draft needs validating again.
async fn edit_alternatives(
    ctx: &Ctx,
    f: impl FnOnce(&mut BTreeMap<String, AlternativeImage>, &str) -> Result<(), ApiError>,
) -> Result<Out, ApiError> {
    let owner = Owner::of(ctx)?;
    let draft_id: String = ctx.input("draft")?;
    let image: String = ctx.input("image")?;
    let user = ctx.caller.user.clone();
    ctx.state
        .depots
        .mutate(|s| {
            let d = draft_for_edit(s, &owner, &draft_id, &user)?;
            f(&mut d.spec.alternative_images, &image)?;
            d.valid = false;
            Ok(())
        })
        .await?;
    Ok(Out::Plain(Value::Null))
}

/// Change an alternative image of the caller's draft; the draft needs validating again.
async fn edit_alternative(ctx: &Ctx, f: impl FnOnce(&mut AlternativeImage)) -> Result<Out, ApiError> {
    edit_alternatives(ctx, |images, image| {
        f(images.get_mut(image).ok_or_else(|| ApiError::not_found("alternative image", image))?);
        Ok(())
    })
    .await
}

/// The spec the call reads: the named draft's, else the owner's committed one.
async fn source(ctx: &Ctx) -> Result<SoftwareSpec, ApiError> {
    let owner = Owner::of(ctx)?;
    let s = ctx.state.depots.snapshot().await;
    match ctx.input::<Option<String>>("draft")? {
        Some(draft_id) => Ok(draft(&s, &owner, &draft_id)?.spec.clone()),
        None => Ok(committed(&s, &owner)?.1),
    }
}

#[derive(Deserialize)]
struct CreateSpec {
    display_name: String,
}

/// A new alternative image, a copy of the draft's main image (its base image cannot be
/// changed afterwards: the API has no `base_image.set` for alternatives); it needs
/// selection criteria before the draft validates.
pub fn create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let draft_id: String = ctx.input("draft")?;
        let spec: CreateSpec = ctx.input("spec")?;
        check_display_name(&spec.display_name)?;
        let user = ctx.caller.user.clone();
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                let id = next_id(s, "image");
                let d = draft_for_edit(s, &owner, &draft_id, &user)?;
                if d.spec.image.base_image.is_none() {
                    return Err(ApiError::invalid_argument(format!(
                        "draft '{draft_id}' has no base image yet: an alternative image starts as a copy of the main \
                         image, so set the main image's base image first"
                    )));
                }
                let alternative = AlternativeImage {
                    image: d.spec.image.clone(),
                    display_name: Some(spec.display_name),
                    selection_criteria: None,
                };
                d.spec.alternative_images.insert(id.clone(), alternative);
                d.valid = false;
                Ok(id)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        edit_alternatives(&ctx, |images, image| {
            images.remove(image).map(drop).ok_or_else(|| ApiError::not_found("alternative image", image))
        })
        .await
    })
}

pub fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = source(&ctx).await?;
        let map: Map<String, Value> = spec
            .alternative_images
            .iter()
            .map(|(id, a)| (id.clone(), json!({"display_name": a.display_name.clone().unwrap_or_default()})))
            .collect();
        Ok(Out::Plain(json!({"alternative_images": map})))
    })
}

pub fn get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let image: String = ctx.input("image")?;
        let spec = source(&ctx).await?;
        let catalog = ctx.state.depots.catalog().await?;
        Ok(Out::Plain(image_wire::alternative_image_info(&catalog, alternative(&spec, &image)?)))
    })
}

pub fn display_name_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let image: String = ctx.input("image")?;
        let spec = source(&ctx).await?;
        Ok(Out::Plain(json!({"display_name": alternative(&spec, &image)?.display_name.clone().unwrap_or_default()})))
    })
}

#[derive(Deserialize)]
struct DisplayNameIn {
    display_name: String,
}

pub fn display_name_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: DisplayNameIn = ctx.input("spec")?;
        check_display_name(&input.display_name)?;
        edit_alternative(&ctx, |a| a.display_name = Some(input.display_name)).await
    })
}

pub fn selection_criteria_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let image: String = ctx.input("image")?;
        let spec = source(&ctx).await?;
        Ok(Out::Plain(image_wire::selection_info(alternative(&spec, &image)?.selection_criteria.as_ref())))
    })
}

/// Checked as the solver reads it (HOST_UUID with UUIDs, or HOST_HARDWARE_SPEC naming
/// something): UNKNOWN or an empty selection is refused.
pub fn selection_criteria_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let criteria: Value = ctx.input("spec")?;
        HostSelection::parse(&criteria)
            .map_err(|e| ApiError::invalid_argument(format!("selection criteria not usable: {e}")))?;
        edit_alternative(&ctx, |a| a.selection_criteria = Some(criteria)).await
    })
}
