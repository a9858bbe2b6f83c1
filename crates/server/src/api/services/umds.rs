//! `esx.settings.depots.umds`: the one UMDS depot, a URL of the depot tree UMDS (or
//! `esxlcm mirror`) exports, e.g. `https://umds.example/umds-patch-store/hostupdate/vmw/vmw-depot-index.xml`
//! (depot-format §1.5). It is an online depot in all but name: `depots.sync` fetches its
//! index chain into the same kind of cache, its content joins depot content and images,
//! and `depots.umds.content` shows what the last sync found.

use serde::Deserialize;
use serde_json::{Value, json};

use super::depots::{DepotUpdateSpec, remove_cache};
use crate::api::dispatch::{Ctx, HandlerFuture, Out};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::fetch::redact_url_str;
use crate::api::persist::{OnlineSync, ServerState, UmdsDepot};

/// The UMDS depot's id among the sync targets and in its cache directory's name (online
/// depots are `online-<n>`).
pub const UMDS_ID: &str = "umds";

/// Where a sync of `id` at `location` records its result: the online depot's or the UMDS
/// depot's, if it still has that location.
pub(crate) fn synced_slot<'a>(s: &'a mut ServerState, id: &str, location: &str) -> Option<&'a mut Option<OnlineSync>> {
    if id == UMDS_ID {
        s.umds_depot.as_mut().filter(|d| d.location == location).map(|d| &mut d.synced)
    } else {
        s.online_depots.get_mut(id).filter(|d| d.location == location).map(|d| &mut d.synced)
    }
}

#[derive(Deserialize)]
struct SetSpec {
    description: Option<String>,
    enabled: Option<bool>,
    location: String,
}

fn not_set() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "com.vmware.esxlcm.umds.not_set",
        "no UMDS depot is set: set one with esx.settings.depots.umds.set (PUT /api/esx/settings/depots/umds)",
    )
}

fn check_location(location: &str) -> Result<(), ApiError> {
    match url::Url::parse(location) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(ApiError::invalid_argument(format!(
            "the UMDS depot location must be an http or https URL of the exported depot (its index.xml or \
             vmw-depot-index.xml, or their directory), not '{}'",
            redact_url_str(location)
        ))),
    }
}

pub fn get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        let d = s.umds_depot.as_ref().ok_or_else(not_set)?;
        Ok(Out::Plain(json!({
            "description": d.description, "enabled": d.enabled, "location": d.location, "owner": d.owner,
        })))
    })
}

/// `set`: the UMDS depot is this one now; a new location forgets what the old one synced.
pub fn set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: SetSpec = ctx.input("spec")?;
        check_location(&spec.location)?;
        let owner = ctx.caller.user.clone();
        let depots = &ctx.state.depots;
        let dropped = depots
            .mutate(|s| {
                let previous = s.umds_depot.take();
                let (kept, dropped) = match previous {
                    Some(p) if p.location == spec.location => (p.synced, None),
                    Some(p) => (None, p.synced),
                    None => (None, None),
                };
                s.umds_depot = Some(UmdsDepot {
                    description: spec.description.unwrap_or_default(),
                    location: spec.location,
                    enabled: spec.enabled.unwrap_or(true),
                    owner: Some(owner),
                    synced: kept,
                });
                Ok(dropped)
            })
            .await?;
        depots.invalidate_catalog().await;
        if let Some(old) = dropped {
            remove_cache(&depots.data_dir().join(old.cache));
        }
        tracing::info!(user = %ctx.caller.user, "UMDS depot set");
        Ok(Out::Plain(Value::Null))
    })
}

pub fn update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: DepotUpdateSpec = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        depots
            .mutate(|s| {
                let d = s.umds_depot.as_mut().ok_or_else(not_set)?;
                spec.apply(&mut d.enabled, &mut d.description);
                Ok(())
            })
            .await?;
        // Disabled, it leaves the catalog; enabled, it comes back.
        depots.invalidate_catalog().await;
        Ok(Out::Plain(Value::Null))
    })
}

/// `delete` (and `delete$task`): forget the depot and its synced metadata.
pub fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let depots = &ctx.state.depots;
        let removed = depots.mutate(|s| s.umds_depot.take().ok_or_else(not_set)).await?;
        depots.invalidate_catalog().await;
        if let Some(sync) = removed.synced {
            remove_cache(&depots.data_dir().join(sync.cache));
        }
        ctx.report(100, 100, "Deleted");
        Ok(Out::Plain(Value::Null))
    })
}

/// `content.get`: what the last sync found (`not_allowed_in_current_state` before one).
pub fn content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let depots = &ctx.state.depots;
        let s = depots.snapshot().await;
        let d = s.umds_depot.as_ref().ok_or_else(not_set)?;
        let sync = d.synced.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotAllowedInCurrentState,
                "com.vmware.esxlcm.depot.not_synced",
                "the UMDS depot has not been synced yet: run esx.settings.depots.sync",
            )
        })?;
        Ok(Out::Plain(depots.synced_content(&d.location, sync).await?))
    })
}
