//! `esx.settings.depots.umds`: the one UMDS depot, a URL of the depot tree UMDS (or
//! `esxlcm mirror`) exports, e.g. `https://umds.example/umds-patch-store/hostupdate/vmw/vmw-depot-index.xml`
//! (depot-format §1.5). It is an online depot in all but name: the store source `umds`,
//! synced by `depots.sync` like the online depots; its content joins depot content and
//! images, and `depots.umds.content` shows what its published snapshot holds.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DepotKind, DepotUpdateSpec, STORE_WAIT, UMDS_ID, store_error};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::DepotInfo;
use crate::api::typed::format_datetime;
use esxlcm_net::redact::redact_url_str;

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

async fn the_depot(ctx: &Ctx) -> Result<(esxlcm_store::source::Source, Option<i64>), ApiError> {
    ctx.state.depots.depot(UMDS_ID, DepotKind::Umds).await.map_err(|_| not_set())
}

pub fn get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let (source, _) = the_depot(&ctx).await?;
        let info = ctx.state.depots.info(UMDS_ID);
        Ok(Out::Plain(json!({
            "description": source.config.description,
            "enabled": source.config.enabled,
            "location": info.location.unwrap_or_else(|| source.config.display_url()),
            "owner": info.owner,
        })))
    })
}

/// `set`: the UMDS depot is this one now; a new location forgets what the old one synced.
pub fn set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: SetSpec = ctx.input("spec")?;
        check_location(&spec.location)?;
        let depots = &ctx.state.depots;
        let previous = the_depot(&ctx).await.ok();
        let same_place =
            previous.as_ref().is_some_and(|_| depots.info(UMDS_ID).location.as_deref() == Some(&spec.location));
        let description = spec.description.clone().unwrap_or_default();
        let enabled = spec.enabled.unwrap_or(true);
        if same_place {
            depots
                .blocking(move |store| {
                    store.configure_source(UMDS_ID, STORE_WAIT, |c| {
                        c.description = description;
                        c.enabled = enabled;
                    })
                })
                .await
                .map_err(store_error)?;
        } else {
            let config = super::online::api_source_config(&ctx, UMDS_ID, &spec.location, description, enabled)?;
            let replace = previous.is_some();
            depots
                .blocking(move |store| {
                    if replace {
                        store.remove_source(UMDS_ID, STORE_WAIT)?;
                    }
                    store.add_source(&config, STORE_WAIT)
                })
                .await
                .map_err(store_error)?;
        }
        let info = DepotInfo {
            owner: Some(ctx.caller.user.clone()),
            location: Some(spec.location),
            create_time: Some(format_datetime(Utc::now())),
            ..DepotInfo::default()
        };
        depots
            .mutate(|s| {
                s.depot_info.insert(UMDS_ID.to_owned(), info);
                Ok(())
            })
            .await?;
        depots.invalidate_catalog().await;
        tracing::info!(user = %ctx.caller.user, "UMDS depot set");
        Ok(Out::Plain(Value::Null))
    })
}

pub fn update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: DepotUpdateSpec = ctx.input("spec")?;
        the_depot(&ctx).await?;
        super::online::update_source(&ctx, UMDS_ID, spec).await?;
        Ok(Out::Plain(Value::Null))
    })
}

/// `delete` (and `delete$task`): forget the depot and what it synced.
pub fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        the_depot(&ctx).await?;
        super::online::remove_depot(&ctx, UMDS_ID).await?;
        ctx.report(100, 100, "Deleted");
        Ok(Out::Plain(Value::Null))
    })
}

/// `content.get`: what the published snapshot holds (`not_allowed_in_current_state` before
/// the first sync).
pub fn content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        the_depot(&ctx).await?;
        Ok(Out::Plain(ctx.state.depots.published_content(UMDS_ID, DepotKind::Umds, "the UMDS depot").await?))
    })
}
