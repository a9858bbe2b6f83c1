//! `esx.settings.depots.online`: online depots are `online` sources of the store, synced
//! by `depots.sync` (and their schedule) with the store's sync: conditional GET, resumed
//! downloads, every payload verified, snapshots, quarantine.

use chrono::Utc;
use esxlcm_store::StoreError;
use esxlcm_store::source::{Source, SourceConfig};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{DepotKind, DepotUpdateSpec, STORE_WAIT, next_id, store_error};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::DepotInfo;
use crate::api::typed::format_datetime;
use esxlcm_net::redact::redact_url_str;

/// The API's view of an online (or UMDS) depot.
pub(super) fn online_plain(source: &Source, info: &DepotInfo) -> Value {
    let c = &source.config;
    json!({
        "description": c.description,
        "location": info.location.clone().unwrap_or_else(|| c.display_url()),
        "enabled": c.enabled,
        "system_defined": false,
        "owner": info.owner,
        "ownerdata": info.ownerdata,
    })
}

pub fn online_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move { Ok(Out::Plain(ctx.state.depots.listing(DepotKind::Online, online_plain).await?)) })
}

pub fn online_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let depots = &ctx.state.depots;
        let (source, _) = depots.depot(&id, DepotKind::Online).await?;
        Ok(Out::Plain(online_plain(&source, &depots.info(&id))))
    })
}

#[derive(Deserialize)]
struct OnlineCreateSpec {
    description: Option<String>,
    location: String,
    enabled: Option<bool>,
    ownerdata: Option<String>,
}

pub(super) fn check_online_location(location: &str) -> Result<(), ApiError> {
    match url::Url::parse(location) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::invalid_argument(format!(
            "the location of an online depot must be an http or https URL of its index.xml, not '{}'",
            redact_url_str(location)
        ))),
    }
}

/// The store configuration of a depot made through the API: prefetched payloads, the
/// API's trusted roots, the API's sync schedule.
pub(super) fn api_source_config(
    ctx: &Ctx,
    name: &str,
    location: &str,
    description: String,
    enabled: bool,
) -> Result<SourceConfig, ApiError> {
    let mut config = SourceConfig::new(name, location).map_err(store_error)?;
    config.description = description;
    config.enabled = enabled;
    let roots = super::trusted_roots_file(ctx.state.depots.data_dir());
    config.ca_file = roots.is_file().then_some(roots);
    config.trust_advice = Some(super::TRUST_CA_ADVICE.to_owned());
    config.schedule = super::sync::api_schedule(&ctx.state.depots.published_state());
    Ok(config)
}

pub fn online_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: OnlineCreateSpec = ctx.input("spec")?;
        check_online_location(&spec.location)?;
        let depots = &ctx.state.depots;
        let existing = depots.depots().await?;
        let same = existing.iter().find(|(s, kind, _)| {
            *kind == DepotKind::Online
                && (s.config.url == spec.location
                    || depots.info(&s.config.name).location.as_deref() == Some(&spec.location))
        });
        if let Some((s, _, _)) = same {
            return Err(ApiError::new(
                ErrorKind::AlreadyExists,
                "com.vmware.esxlcm.depot.exists",
                format!("an online depot with this location already exists: {}", s.config.name),
            ));
        }
        // Ids are never reused; one taken by a source added with `esxlcm mirror` is skipped.
        let id = loop {
            let id = depots.mutate(|s| Ok(next_id(s, "online"))).await?;
            let config = api_source_config(
                &ctx,
                &id,
                &spec.location,
                spec.description.clone().unwrap_or_default(),
                spec.enabled.unwrap_or(true),
            )?;
            match depots.blocking(move |store| store.add_source(&config, STORE_WAIT)).await {
                Ok(_) => break id,
                Err(StoreError::SourceExists(_)) => continue,
                Err(e) => return Err(store_error(e)),
            }
        };
        let info = DepotInfo {
            owner: Some(ctx.caller.user.clone()),
            ownerdata: spec.ownerdata,
            location: Some(spec.location),
            create_time: Some(format_datetime(Utc::now())),
            ..DepotInfo::default()
        };
        depots
            .mutate(|s| {
                s.depot_info.insert(id.clone(), info);
                Ok(())
            })
            .await?;
        depots.invalidate_catalog().await;
        tracing::info!(depot = %id, user = %ctx.caller.user, "online depot created");
        Ok(Out::Plain(Value::String(id)))
    })
}

/// Apply an `update` spec to a depot's store configuration.
pub(super) async fn update_source(ctx: &Ctx, id: &str, spec: DepotUpdateSpec) -> Result<(), ApiError> {
    let name = id.to_owned();
    ctx.state
        .depots
        .blocking(move |store| {
            store.configure_source(&name, STORE_WAIT, |c| {
                let (mut enabled, mut description) = (c.enabled, std::mem::take(&mut c.description));
                spec.apply(&mut enabled, &mut description);
                c.enabled = enabled;
                c.description = description;
            })
        })
        .await
        .map_err(store_error)?;
    // A disabled depot leaves the catalog, an enabled one comes back.
    ctx.state.depots.invalidate_catalog().await;
    Ok(())
}

pub fn online_update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let spec: DepotUpdateSpec = ctx.input("spec")?;
        ctx.state.depots.depot(&id, DepotKind::Online).await?;
        update_source(&ctx, &id, spec).await?;
        Ok(Out::Plain(Value::Null))
    })
}

/// Remove a depot's source (its snapshots; payloads go at the next gc) and its record.
pub(super) async fn remove_depot(ctx: &Ctx, id: &str) -> Result<(), ApiError> {
    let depots = &ctx.state.depots;
    let name = id.to_owned();
    depots.blocking(move |store| store.remove_source(&name, STORE_WAIT)).await.map_err(store_error)?;
    depots
        .mutate(|s| {
            s.depot_info.remove(id);
            Ok(())
        })
        .await?;
    depots.invalidate_catalog().await;
    tracing::info!(depot = %id, user = %ctx.caller.user, "depot removed");
    Ok(())
}

pub fn online_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        ctx.state.depots.depot(&id, DepotKind::Online).await?;
        remove_depot(&ctx, &id).await?;
        Ok(Out::Plain(Value::Null))
    })
}

#[derive(Deserialize, Default)]
struct FlushSpec {
    #[allow(dead_code)]
    force: Option<bool>,
}

/// `depots.online.flush$task`: forget what the depot synced (its snapshots); it leaves
/// image composition until the next sync.
pub fn online_flush(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let _spec: Option<FlushSpec> = ctx.input("spec")?;
        let depots = &ctx.state.depots;
        depots.depot(&id, DepotKind::Online).await?;
        let name = id.clone();
        depots.blocking(move |store| store.flush_source(&name, STORE_WAIT)).await.map_err(store_error)?;
        depots.invalidate_catalog().await;
        ctx.report(100, 100, "Flushed");
        Ok(Out::Plain(Value::Null))
    })
}

/// The error for a depot whose content is asked before it was synced.
/// `depots.online.content.get`: what the published snapshot holds, per vendor and metadata zip.
pub fn online_content_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("depot")?;
        let what = format!("online depot {id}");
        Ok(Out::Plain(ctx.state.depots.published_content(&id, DepotKind::Online, &what).await?))
    })
}
