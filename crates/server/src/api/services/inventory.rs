//! esxlcm's own inventory (`com.esxlcm.inventory.*`, REST under `/api/esxlcm/…`): there is no
//! vCenter, so clusters and hosts are declared here, and each host's installed state is
//! posted as the esxcli JSON `esxlcm_solver::host_state` reads. Ids look like vCenter's
//! (`domain-c<n>`, `host-<n>`) so they fit where the vSphere API expects them.

use chrono::Utc;
use esxlcm_solver::host_state::HostState;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{Cluster, Host, ImageHistory, ServerState};
use crate::api::services::depots::next_id;
use crate::api::typed::format_datetime;

#[derive(Deserialize)]
struct ClusterSpec {
    name: String,
}

#[derive(Deserialize)]
struct HostSpec {
    name: String,
    cluster: Option<String>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_argument(format!("'{name}' is not a usable name (1–255 printable characters)")));
    }
    Ok(())
}

fn exists(what: &str, name: &str, id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::AlreadyExists,
        "com.esxlcm.inventory.exists",
        format!("a {what} named '{name}' already exists: {id}"),
    )
}

/// The cluster, or `not_found`.
pub fn cluster<'a>(s: &'a ServerState, id: &str) -> Result<&'a Cluster, ApiError> {
    s.clusters.get(id).ok_or_else(|| ApiError::not_found("cluster", id))
}

pub fn cluster_mut<'a>(s: &'a mut ServerState, id: &str) -> Result<&'a mut Cluster, ApiError> {
    s.clusters.get_mut(id).ok_or_else(|| ApiError::not_found("cluster", id))
}

fn cluster_info(s: &ServerState, id: &str, c: &Cluster) -> Value {
    let hosts: Vec<&String> =
        s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(id)).map(|(h, _)| h).collect();
    json!({"name": c.name, "hosts": hosts, "commit": c.image.commit})
}

/// The installed base image version of a posted state, for listings.
fn installed_base_image(h: &Host) -> Option<String> {
    h.state
        .as_ref()
        .and_then(|v| HostState::from_value(v).ok())
        .and_then(|s| s.base_image)
        .map(|b| b.version.to_string())
}

fn host_info(h: &Host) -> Value {
    json!({"name": h.name, "cluster": h.cluster, "state_time": h.state_time, "base_image": installed_base_image(h)})
}

pub fn clusters_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: ClusterSpec = ctx.input("spec")?;
        check_name(&spec.name)?;
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                if let Some((id, _)) = s.clusters.iter().find(|(_, c)| c.name == spec.name) {
                    return Err(exists("cluster", &spec.name, id));
                }
                s.next_id += 1;
                let id = format!("domain-c{}", s.next_id);
                let cluster = Cluster { name: spec.name, image: ImageHistory::default() };
                s.clusters.insert(id.clone(), cluster);
                Ok(id)
            })
            .await?;
        tracing::info!(cluster = %id, user = %ctx.caller.user, "cluster created");
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn clusters_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        let map: Map<String, Value> = s.clusters.iter().map(|(id, c)| (id.clone(), cluster_info(&s, id, c))).collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn clusters_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("cluster")?;
        let s = ctx.state.depots.snapshot().await;
        Ok(Out::Plain(cluster_info(&s, &id, cluster(&s, &id)?)))
    })
}

pub fn clusters_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("cluster")?;
        ctx.state
            .depots
            .mutate(|s| {
                cluster(s, &id)?;
                let members: Vec<&String> =
                    s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(id.as_str())).map(|(h, _)| h).collect();
                if !members.is_empty() {
                    return Err(ApiError::new(
                        ErrorKind::ResourceInUse,
                        "com.esxlcm.inventory.cluster_in_use",
                        format!(
                            "cluster '{id}' still has hosts ({}); delete or move them first",
                            members.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                // Its depot overrides, policies and enablement go with it.
                s.remove_cluster(&id);
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

pub fn hosts_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: HostSpec = ctx.input("spec")?;
        check_name(&spec.name)?;
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                if let Some((id, _)) = s.hosts.iter().find(|(_, h)| h.name == spec.name) {
                    return Err(exists("host", &spec.name, id));
                }
                if let Some(c) = &spec.cluster {
                    cluster(s, c)?;
                }
                let id = next_id(s, "host");
                let host = Host {
                    name: spec.name,
                    cluster: spec.cluster,
                    state: None,
                    state_time: None,
                    image: ImageHistory::default(),
                };
                s.hosts.insert(id.clone(), host);
                Ok(id)
            })
            .await?;
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn hosts_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        let map: Map<String, Value> = s.hosts.iter().map(|(id, h)| (id.clone(), host_info(h))).collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

pub fn hosts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("host")?;
        let s = ctx.state.depots.snapshot().await;
        let h = s.hosts.get(&id).ok_or_else(|| ApiError::not_found("host", &id))?;
        Ok(Out::Plain(host_info(h)))
    })
}

pub fn hosts_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("host")?;
        ctx.state
            .depots
            // Its depot overrides, policies and enablement go with it, in the same mutation.
            .mutate(|s| s.remove_host(&id).map(drop).ok_or_else(|| ApiError::not_found("host", &id)))
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}

/// Plain opaque JSON drops `null` members; the host-state reader needs `base_image` present.
fn normalize_state(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        obj.entry("base_image").or_insert(Value::Null);
    }
    v
}

pub fn host_state_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("host")?;
        let state = normalize_state(ctx.input::<Value>("state")?);
        // Refuse what compliance could not read, with the path of the problem.
        HostState::from_value(&state)
            .map_err(|e| ApiError::invalid_argument(format!("host state of '{id}' is not usable: {e}")))?;
        ctx.state
            .depots
            .mutate(|s| {
                let h = s.hosts.get_mut(&id).ok_or_else(|| ApiError::not_found("host", &id))?;
                h.state = Some(state);
                h.state_time = Some(format_datetime(Utc::now()));
                Ok(())
            })
            .await?;
        Ok(Out::Plain(Value::Null))
    })
}
