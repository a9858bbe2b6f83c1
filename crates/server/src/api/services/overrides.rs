//! `esx.settings.clusters.depot_overrides` and `esx.settings.hosts.depot_overrides`: the
//! depots a ROBO site's hosts use instead of the central ones (a branch `esxlcm serve`),
//! per cluster or standalone host. esxlcm records them for the hosts' tooling to read
//! (it does not remediate hosts); image composition keeps using the central depots.

use serde::Deserialize;
use serde_json::{Value, json};

use super::targets::{self, Target};
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::ServerState;
use esxlcm_net::redact::redact_url_str;

#[derive(Deserialize)]
struct Depot {
    location: String,
}

/// An http(s) URL with a host; the parsed form is what duplicates are compared by.
fn parse_location(location: &str) -> Result<url::Url, ApiError> {
    match url::Url::parse(location.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(u),
        _ => Err(ApiError::invalid_argument(format!(
            "a depot override must be an http or https URL of a depot (its index.xml or directory), not '{}'",
            redact_url_str(location)
        ))),
    }
}

fn same(a: &str, b: &url::Url) -> bool {
    url::Url::parse(a.trim()).is_ok_and(|a| &a == b)
}

fn overrides_mut(s: &mut ServerState, target: Target) -> &mut std::collections::BTreeMap<String, Vec<String>> {
    match target {
        Target::Cluster => &mut s.cluster_depot_overrides,
        Target::Host => &mut s.host_depot_overrides,
    }
}

fn list(s: &ServerState, target: Target, id: &str) -> Vec<String> {
    let map = match target {
        Target::Cluster => &s.cluster_depot_overrides,
        Target::Host => &s.host_depot_overrides,
    };
    map.get(id).cloned().unwrap_or_default()
}

async fn get(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let s = ctx.state.depots.snapshot().await;
    targets::check(&s, target, &id)?;
    let depots: Vec<Value> = list(&s, target, &id).into_iter().map(|l| json!({ "location": l })).collect();
    Ok(Out::Plain(json!({ "depots": depots })))
}

async fn add(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let depot: Depot = ctx.input("depot")?;
    let url = parse_location(&depot.location)?;
    let location = depot.location.trim().to_owned();
    ctx.state
        .depots
        .mutate(|s| {
            targets::check(s, target, &id)?;
            targets::prune(s);
            let entry = overrides_mut(s, target).entry(id.clone()).or_default();
            if entry.iter().any(|l| same(l, &url)) {
                return Err(ApiError::new(
                    ErrorKind::AlreadyExists,
                    "com.vmware.esxlcm.depot_override.exists",
                    format!("'{}' is already a depot override of {id}", redact_url_str(&location)),
                ));
            }
            entry.push(location);
            Ok(())
        })
        .await?;
    tracing::info!(target = %id, user = %ctx.caller.user, "depot override added");
    Ok(Out::Plain(Value::Null))
}

async fn remove(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let depot: Depot = ctx.input("depot")?;
    let url = parse_location(&depot.location)?;
    ctx.state
        .depots
        .mutate(|s| {
            targets::check(s, target, &id)?;
            targets::prune(s);
            let map = overrides_mut(s, target);
            let entry = map.get_mut(&id);
            let position = entry.as_ref().and_then(|e| e.iter().position(|l| same(l, &url)));
            match (entry, position) {
                (Some(e), Some(i)) => {
                    e.remove(i);
                    if e.is_empty() {
                        map.remove(&id);
                    }
                    Ok(())
                }
                _ => {
                    Err(ApiError::not_found(&format!("depot override of {id}"), &redact_url_str(depot.location.trim())))
                }
            }
        })
        .await?;
    Ok(Out::Plain(Value::Null))
}

pub fn clusters_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Target::Cluster))
}

pub fn clusters_add(ctx: Ctx) -> HandlerFuture {
    Box::pin(add(ctx, Target::Cluster))
}

pub fn clusters_remove(ctx: Ctx) -> HandlerFuture {
    Box::pin(remove(ctx, Target::Cluster))
}

pub fn hosts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Target::Host))
}

pub fn hosts_add(ctx: Ctx) -> HandlerFuture {
    Box::pin(add(ctx, Target::Host))
}

pub fn hosts_remove(ctx: Ctx) -> HandlerFuture {
    Box::pin(remove(ctx, Target::Host))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn locations_are_http_urls_compared_parsed() {
        assert!(parse_location("https://branch.example:8080/index.xml").is_ok());
        for bad in ["ftp://x/index.xml", "/srv/depot", "not a url", "http://"] {
            let e = parse_location(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        let u = parse_location("http://BRANCH.example/depot/index.xml").unwrap();
        assert!(same("http://branch.example/depot/index.xml", &u));
        assert!(!same("http://branch.example/other/index.xml", &u));
    }
}
