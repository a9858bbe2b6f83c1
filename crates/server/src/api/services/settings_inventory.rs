//! vSphere 9's inventory-wide services (`esx.settings.inventory`,
//! `esx.settings.inventory.reports.summary`) over esxlcm's own inventory: many clusters or
//! standalone hosts in one call, each handled by the same code as its per-cluster or
//! per-host operation (draft commits, `scan`, `installed_images.extract`). esxlcm has no
//! folders or datacenters, so those entity types are `invalid_argument`; apply, stage and
//! check are not served (esxlcm does not remediate).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::image_wire;
use super::installed::{extract_cluster, extract_host, note};
use super::inventory::cluster;
use super::software::drafts::{concurrent, record_commit};
use super::software::image::{all_notifications, resolve, scan_committed, scan_spec};
use super::software::library;
use super::software::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{ImageHistory, LibraryOrigin, ServerState};
use crate::api::typed::format_datetime;

/// `invalid_argument` for an inventory type esxlcm does not have.
fn no_such_type(kind: &str) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidArgument,
        "com.esxlcm.inventory.no_folders",
        format!(
            "esxlcm's inventory has no folders or datacenters (type {kind}): name clusters (type CLUSTER) or \
             hosts (type HOST)"
        ),
    )
}

/// `inventory.entity_spec`: the union rules (CLUSTER needs `clusters`, …) are the schema's.
#[derive(Deserialize)]
struct EntitySpec {
    #[serde(rename = "type")]
    kind: String,
    clusters: Option<BTreeSet<String>>,
    hosts: Option<BTreeSet<String>>,
}

/// The clusters or the hosts a call names, all known.
struct Targets {
    clusters: bool,
    ids: Vec<String>,
}

impl Targets {
    /// Every id is checked first: an unknown one is `not_found` (the operations' errors list
    /// it) and nothing is done, rather than a FAILED entry after changing the others.
    fn of(spec: EntitySpec, s: &ServerState) -> Result<Self, ApiError> {
        match spec.kind.as_str() {
            "CLUSTER" => {
                let ids: Vec<String> = spec.clusters.unwrap_or_default().into_iter().collect();
                for id in &ids {
                    cluster(s, id)?;
                }
                Ok(Self { clusters: true, ids })
            }
            "HOST" => {
                let ids: Vec<String> = spec.hosts.unwrap_or_default().into_iter().collect();
                if let Some(id) = ids.iter().find(|id| !s.hosts.contains_key(*id)) {
                    return Err(ApiError::not_found("host", id));
                }
                Ok(Self { clusters: false, ids })
            }
            other => Err(no_such_type(other)),
        }
    }

    fn owner(&self, id: &str) -> Owner {
        if self.clusters { Owner::Cluster(id.to_owned()) } else { Owner::Host(id.to_owned()) }
    }

    /// A `*_entities_result`: the per-entity results under clusters or hosts.
    fn results(&self, per: BTreeMap<String, Value>) -> Value {
        let (clusters, hosts) = if self.clusters { (per, BTreeMap::new()) } else { (BTreeMap::new(), per) };
        json!({"datacenter_results": {}, "folder_results": {}, "cluster_results": clusters, "host_results": hosts})
    }
}

/// An error as a `notifications` struct, one ERROR per message.
fn error_notes(e: &ApiError, time: &str) -> Value {
    let errors: Vec<Value> = e.messages.iter().map(|m| note("ERROR", &m.id, &m.default_message, time)).collect();
    json!({"info": [], "warnings": [], "errors": errors})
}

/// Append `n` to the `kind` list (`info`, `warnings`, `errors`) of a `notifications` value.
fn push_note(notes: &mut Value, kind: &str, n: Value) {
    if let Some(obj) = notes.as_object_mut() {
        match obj.get_mut(kind).and_then(Value::as_array_mut) {
            Some(list) => list.push(n),
            None => {
                obj.insert(kind.to_owned(), Value::Array(vec![n]));
            }
        }
    }
}

/// `notifications` values merged list by list.
fn merge_notes<'a>(parts: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut out = json!({"info": [], "warnings": [], "errors": []});
    for part in parts {
        for kind in ["info", "warnings", "errors"] {
            for n in part.get(kind).and_then(Value::as_array).into_iter().flatten() {
                push_note(&mut out, kind, n.clone());
            }
        }
    }
    out
}

/// A context for the per-entity work: the same caller, no inputs, and no progress (the
/// inventory call reports its own, entity by entity).
fn inner_ctx(ctx: &Ctx) -> Ctx {
    Ctx {
        state: std::sync::Arc::clone(&ctx.state),
        caller: ctx.caller.clone(),
        input: serde_json::Map::new(),
        progress: None,
        origin: ctx.origin.clone(),
    }
}

fn report_entity(ctx: &Ctx, done: usize, total: usize, what: &str) {
    let total = i64::try_from(total.max(1)).unwrap_or(i64::MAX);
    let done = i64::try_from(done).unwrap_or(total);
    ctx.report(10 + 85 * done / total, 100, what);
}

// ---- inventory.assign_entities ----

#[derive(Deserialize)]
struct AssignSpec {
    software_spec_id: String,
    entities: EntitySpec,
    orchestrator: Option<Value>,
}

/// `inventory.assign_entities$task`: the library spec becomes each entity's desired image,
/// a new commit as a draft commit makes, validated once (the spec is the same for all).
pub fn assign_entities(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: AssignSpec = ctx.input("input_spec")?;
        let spec_id = input.software_spec_id;
        let (lib, targets) = {
            let s = ctx.state.depots.snapshot().await;
            (library::spec(&s, &spec_id)?.clone(), Targets::of(input.entities, &s)?)
        };
        ctx.report(10, 100, "Validating the software spec");
        let (_, r) = resolve(&ctx.state, lib.spec.clone()).await?;
        let found = image_wire::notifications(all_notifications(&r));
        let time = format_datetime(Utc::now());
        if r.has_errors() {
            // Nothing is committed: every entity fails with the solver's findings.
            let failed = json!({"status": "FAILED", "notifications": found});
            let per = targets.ids.iter().map(|id| (id.clone(), failed.clone())).collect();
            tracing::info!(software_spec = %spec_id, "software spec does not validate; not assigned");
            return Ok(Out::Plain(targets.results(per)));
        }
        ctx.report(60, 100, "Committing");
        let origin = LibraryOrigin {
            software_spec_id: spec_id.clone(),
            display_name: lib.display_name.clone(),
            revision: lib.revision.clone(),
            orchestrator: input.orchestrator.or_else(|| lib.orchestrator.clone()),
        };
        let user = ctx.caller.user.clone();
        let per = ctx
            .state
            .depots
            .mutate(|s| {
                // Assign only what was validated.
                if s.library.specs.get(&spec_id).map(|l| &l.revision) != Some(&lib.revision) {
                    return Err(concurrent(format!(
                        "software spec '{spec_id}' changed or was deleted while it was being assigned; try again"
                    )));
                }
                let mut per = BTreeMap::new();
                for id in &targets.ids {
                    let owner = targets.owner(id);
                    let message = format!("software spec '{}' ({spec_id}) assigned", lib.display_name);
                    let name = Some(lib.display_name.clone());
                    let result =
                        match record_commit(s, &owner, &user, message, lib.spec.clone(), name, Some(origin.clone())) {
                            Ok(commit) => {
                                let mut notes = found.clone();
                                let text = format!(
                                    "software spec '{spec_id}' is the desired image of {owner} (commit {commit})"
                                );
                                push_note(
                                    &mut notes,
                                    "info",
                                    note("INFO", "com.esxlcm.inventory.assigned", &text, &time),
                                );
                                json!({"status": "COMPLETED", "notifications": notes})
                            }
                            // E.g. a host in a cluster: its image is the cluster's.
                            Err(e) => json!({"status": "FAILED", "notifications": error_notes(&e, &time)}),
                        };
                    per.insert(id.clone(), result);
                }
                Ok(per)
            })
            .await?;
        tracing::info!(software_spec = %spec_id, user = %user, entities = ?targets.ids, "software spec assigned");
        Ok(Out::Plain(targets.results(per)))
    })
}

// ---- inventory.scan ----

#[derive(Deserialize)]
struct ScanSpec {
    software_spec: Option<String>,
    entities: EntitySpec,
}

/// What one entity's scan found, as notifications: its compliance and, for a cluster, its
/// hosts by status.
fn scan_notes(owner: &Owner, scan: &Value, against: &str, time: &str) -> Value {
    let status = scan["status"].as_str().unwrap_or("UNAVAILABLE");
    let mut text = format!("{owner} is {status} with {against}");
    for (field, label) in [
        ("non_compliant_hosts", "non-compliant"),
        ("incompatible_hosts", "incompatible"),
        ("unavailable_hosts", "unavailable"),
    ] {
        let hosts: Vec<&str> = scan[field].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if !hosts.is_empty() {
            text.push_str(&format!("; {label}: {}", hosts.join(", ")));
        }
    }
    let (kind, list) = if status == "COMPLIANT" { ("INFO", "info") } else { ("WARNING", "warnings") };
    let mut notes = merge_notes([&scan["notifications"]]);
    push_note(&mut notes, list, note(kind, "com.esxlcm.inventory.scan", &text, time));
    notes
}

/// `inventory.scan$task`: each entity scanned as its own `scan` does (stored for
/// `compliance.get`); with `software_spec`, against that library spec instead, a what-if
/// check not stored (the stored compliance is against the desired image).
pub fn scan(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: ScanSpec = ctx.input("spec")?;
        let (targets, lib) = {
            let s = ctx.state.depots.snapshot().await;
            let lib = match &input.software_spec {
                Some(id) => Some((id.clone(), library::spec(&s, id)?.clone())),
                None => None,
            };
            (Targets::of(input.entities, &s)?, lib)
        };
        let inner = inner_ctx(&ctx);
        let mut per = BTreeMap::new();
        for (i, id) in targets.ids.iter().enumerate() {
            report_entity(&ctx, i, targets.ids.len(), &format!("Scanning {id}"));
            let owner = targets.owner(id);
            let (outcome, against) = match &lib {
                None => (scan_committed(&inner, &owner).await, "its desired image".to_owned()),
                Some((lid, l)) => (
                    scan_spec(&inner, &owner, l.spec.clone(), None).await,
                    format!("software spec '{lid}' ({})", l.display_name),
                ),
            };
            let time = format_datetime(Utc::now());
            let result = match outcome {
                Ok(v) => json!({"status": "COMPLETED", "notifications": scan_notes(&owner, &v, &against, &time)}),
                Err(e) => json!({"status": "FAILED", "notifications": error_notes(&e, &time)}),
            };
            per.insert(id.clone(), result);
        }
        Ok(Out::Plain(targets.results(per)))
    })
}

// ---- inventory.extract_installed_image ----

#[derive(Deserialize)]
struct ExtractSpec {
    entities: EntitySpec,
}

/// `inventory.extract_installed_image$task`: a cluster's as `installed_images.extract`
/// (stored); a host's from its own posted state (nothing serves it later, so not stored).
pub fn extract_installed_image(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: ExtractSpec = ctx.input("input_spec")?;
        let targets = Targets::of(input.entities, &*ctx.state.depots.snapshot().await)?;
        let mut per = BTreeMap::new();
        for (i, id) in targets.ids.iter().enumerate() {
            report_entity(&ctx, i, targets.ids.len(), &format!("Reading the installed image of {id}"));
            let outcome = if targets.clusters {
                extract_cluster(&ctx.state, id).await
            } else {
                extract_host(&ctx.state, id).await
            };
            let result = match outcome {
                Ok(info) => {
                    let n = &info["notifications"];
                    json!({
                        "status": if info["status"] == "SUCCESS" { "COMPLETED" } else { "FAILED" },
                        "uniform_image": info["uniform_image"].as_bool().unwrap_or(false),
                        "notifications": merge_notes([&n["EXTRACT_INSTALLED_IMAGE"], &n["ELIGIBILITY_CHECK"]]),
                    })
                }
                Err(e) => json!({
                    "status": "FAILED", "uniform_image": false,
                    "notifications": error_notes(&e, &format_datetime(Utc::now())),
                }),
            };
            per.insert(id.clone(), result);
        }
        Ok(Out::Plain(targets.results(per)))
    })
}

// ---- inventory.reports.summary ----

#[derive(Deserialize)]
struct GetParams {
    #[serde(rename = "type")]
    kind: String,
    clusters: Option<BTreeSet<String>>,
    hosts: Option<BTreeSet<String>>,
}

/// The library spec the current commit came from.
fn origin_of(h: &ImageHistory) -> Option<(&String, &LibraryOrigin)> {
    let id = h.commit.as_ref()?;
    Some((id, h.commits.get(id)?.library.as_ref()?))
}

/// `compliance_result` from a stored `cluster_compliance` or `host_compliance`; a scan of
/// an older commit says so.
fn compliance_result(scan: &Value, commit: &str) -> Value {
    let mut notes = merge_notes([&scan["notifications"]]);
    if scan["commit"].as_str() != Some(commit) {
        let text = format!(
            "the last scan checked commit {}; the desired image is now commit {commit}: scan again",
            scan["commit"].as_str().unwrap_or("none")
        );
        let time = scan["scan_time"].as_str().unwrap_or_default();
        push_note(&mut notes, "warnings", note("WARNING", "com.esxlcm.inventory.scan_outdated", &text, time));
    }
    json!({
        "task_status": "SUCCEEDED",
        "compliance_status": scan["status"],
        "last_compliance_time": scan["scan_time"],
        "notifications": notes,
    })
}

/// One entity's summary: the library spec of its current commit, the last scan; `None`
/// when the image did not come from a library spec (`software_spec_info` is required, and
/// there is no spec to name).
fn summary(key: &str, id: &str, h: &ImageHistory, scan: Option<&Value>) -> Option<Value> {
    let (commit, origin) = origin_of(h)?;
    let mut v =
        json!({key: id, "software_spec_info": {"id": origin.software_spec_id, "display_name": origin.display_name}});
    if let (Some(scan), Some(obj)) = (scan, v.as_object_mut()) {
        obj.insert("compliance_summary".into(), compliance_result(scan, commit));
    }
    Some(v)
}

/// `inventory.reports.summary.clusters.get`: clusters whose desired image is a library
/// spec; precheck, stage and apply are unset (esxlcm does not remediate).
pub fn summary_clusters(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let params: GetParams = ctx.input("spec")?;
        if params.kind != "CLUSTER" {
            return Err(no_such_type(&params.kind));
        }
        let s = ctx.state.depots.snapshot().await;
        let mut list = Vec::new();
        for id in params.clusters.unwrap_or_default() {
            let c = cluster(&s, &id)?;
            list.extend(summary("cluster", &id, &c.image, c.image.last_scan.as_ref()));
        }
        Ok(Out::Plain(json!({"cluster_summaries": list})))
    })
}

/// `inventory.reports.summary.hosts.get`: a standalone host's own image and scan; a host in
/// a cluster has the cluster's spec and its part of the cluster's last scan.
pub fn summary_hosts(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let params: GetParams = ctx.input("spec")?;
        if params.kind != "HOST" {
            return Err(no_such_type(&params.kind));
        }
        let s = ctx.state.depots.snapshot().await;
        let mut list = Vec::new();
        for id in params.hosts.unwrap_or_default() {
            let h = s.hosts.get(&id).ok_or_else(|| ApiError::not_found("host", &id))?;
            let item = match &h.cluster {
                None => summary("host", &id, &h.image, h.image.last_scan.as_ref()),
                Some(c) => {
                    let image = &cluster(&s, c)?.image;
                    let scan = image.last_scan.as_ref().map(|v| &v["hosts"][&id]).filter(|v| v.is_object());
                    summary("host", &id, image, scan)
                }
            };
            list.extend(item);
        }
        Ok(Out::Plain(json!({"host_summaries": list})))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn notifications_merge_list_by_list() {
        let a = json!({"info": [{"id": "a"}], "warnings": []});
        let b = json!({"errors": [{"id": "b"}]});
        let m = merge_notes([&a, &b, &Value::Null]);
        assert_eq!(m, json!({"info": [{"id": "a"}], "warnings": [], "errors": [{"id": "b"}]}));
    }

    #[test]
    fn an_outdated_scan_is_flagged() {
        let scan =
            json!({"status": "COMPLIANT", "scan_time": "2026-01-01T00:00:00.000Z", "commit": "4", "notifications": {}});
        let r = compliance_result(&scan, "4");
        assert_eq!(
            (r["compliance_status"].as_str(), r["notifications"]["warnings"].as_array().map(Vec::len)),
            (Some("COMPLIANT"), Some(0))
        );
        let r = compliance_result(&scan, "9");
        assert_eq!(r["notifications"]["warnings"][0]["id"], "com.esxlcm.inventory.scan_outdated");
    }
}
