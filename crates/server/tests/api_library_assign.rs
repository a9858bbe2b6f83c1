//! vSphere 9's library specs assigned to entities and the inventory-wide calls: a library
//! spec becomes the desired image of clusters and a standalone host (a commit recording the
//! spec, `software_spec_metadata`, `assigned_entities`); an unresolvable spec fails each
//! entity with the solver's reason; the inventory scans, extracts installed images and
//! summarises compliance from the stored scans; folders and datacenters are refused; the
//! inventory operations esxlcm does not serve stay not found. JSON-RPC answers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use crate::api_support::{VIEWER, rpc_error, start_on};
use crate::image_support::{ImageServer, host_state, image_server};
use esxlcm_solver::notification::ids;
use esxlcm_solver::{ResolveOptions, resolve};
use esxlcm_version::Version;
use reqwest::Method;
use serde_json::{Value, json};

const LIB: &str = "/api/esx/settings/repository/software";
const INV: &str = "/api/esx/settings/inventory";

/// A library spec named `name` committed from the JSON document `spec`: its id.
async fn library_spec(x: &ImageServer, name: &str, spec: &Value) -> String {
    let body = json!({"source_type": "JSON_STRING", "software_spec": spec.to_string(), "display_name": name});
    let (st, d) = x.s.send(Method::POST, &format!("{LIB}/drafts?action=import-software-spec"), &x.t, Some(body)).await;
    assert_eq!(st, 200, "{d}");
    let info =
        x.s.run_task(&x.t, &format!("{LIB}/drafts/{}?action=commit", d.as_str().unwrap()), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    info["result"].as_str().unwrap().to_owned()
}

/// The picks' fitting image as a software spec document.
fn fitting(x: &ImageServer) -> Value {
    let p = &x.p;
    json!({
        "base_image": {"version": p.high.to_string()},
        "add_on": {"name": p.addon.0, "version": p.addon.1.to_string()},
        "components": {p.component.0.clone(): p.component.1.to_string()},
    })
}

async fn create(x: &ImageServer, what: &str, body: Value) -> String {
    let (st, id) = x.s.send(Method::POST, &format!("/api/esxlcm/{what}"), &x.t, Some(body)).await;
    assert_eq!(st, 201, "{id}");
    id.as_str().unwrap().to_owned()
}

/// A cluster named `name` with hosts `hosts`: its id and the host ids.
async fn cluster(x: &ImageServer, name: &str, hosts: &[&str]) -> (String, Vec<String>) {
    let c = create(x, "clusters", json!({"name": name})).await;
    let mut ids = Vec::new();
    for h in hosts {
        ids.push(create(x, "hosts", json!({"name": h, "cluster": c})).await);
    }
    (c, ids)
}

/// `inventory?action=<action>` as a task by `session`: the task's last info.
async fn inventory(x: &ImageServer, session: &str, action: &str, body: Value) -> Value {
    x.s.run_task(session, &format!("{INV}?action={action}"), Some(body)).await
}

fn entities(kind: &str, ids: &[&str]) -> Value {
    let field = match kind {
        "CLUSTER" => "clusters",
        "HOST" => "hosts",
        "FOLDER" => "folders",
        _ => "datacenters",
    };
    json!({"type": kind, field: ids})
}

/// The esxcli state of a host running exactly the picks' fitting image (as `sw` resolves it).
async fn good_state(x: &ImageServer, sw: &str) -> Value {
    good_state_on(x, &x.p.high, sw).await
}

/// [`good_state`] with base image `base` reported instead.
async fn good_state_on(x: &ImageServer, base: &Version, sw: &str) -> Value {
    let image = resolve(&x.p.fitting_spec(), &x.catalog, &ResolveOptions::default()).image;
    let vibs: Vec<Value> =
        image.vibs.values().map(|v| json!({"ID": v.id(), "Name": v.name, "Version": v.version.to_string()})).collect();
    let (st, eff) = x.s.send(Method::GET, &format!("{sw}/effective-components"), &x.t, None).await;
    assert_eq!(st, 200, "{eff}");
    host_state(base, &x.p.addon, &eff, &vibs)
}

async fn post_state(x: &ImageServer, host: &str, state: &Value) {
    let (st, e) = x.s.send(Method::PUT, &format!("/api/esxlcm/hosts/{host}/state"), &x.t, Some(state.clone())).await;
    assert_eq!(st, 204, "{e}");
}

fn texts(notes: &Value, kind: &str) -> Vec<String> {
    notes[kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"]["default_message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_spec_assigned_scanned_and_summarised_over_rest() {
    let x = image_server().await;
    let (s, t, viewer) = (&x.s, &x.t, &x.viewer);
    let gold = library_spec(&x, "gold", &fitting(&x)).await;
    let (prod, prod_hosts) = cluster(&x, "prod", &["esx1", "esx2"]).await;
    let (dev, dev_hosts) = cluster(&x, "dev", &["esx3"]).await;
    let (lab, _) = cluster(&x, "lab", &[]).await;
    let edge = create(&x, "hosts", json!({"name": "edge"})).await;
    let meta = |kind: &str, id: &str| format!("/api/esx/settings/{kind}/{id}/software/software-spec-metadata");

    // Nothing assigned yet: no metadata.
    let (st, e) = s.send(Method::GET, &meta("clusters", &prod), viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");

    // Administrators only; unknown ids and folders refused before anything changes.
    let (st, e) = s
        .send(
            Method::POST,
            &format!("{INV}?action=assign-entities&vmw-task=true"),
            viewer,
            Some(json!({"software_spec_id": gold, "entities": entities("CLUSTER", &[&prod])})),
        )
        .await;
    assert_eq!((st, e["error_type"].as_str()), (403, Some("UNAUTHORIZED")), "{e}");
    let body = json!({"software_spec_id": gold, "entities": entities("FOLDER", &["group-v1"])});
    let info = inventory(&x, t, "assign-entities", body).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    assert!(info["error"]["messages"][0]["default_message"].as_str().unwrap().contains("no folders"), "{info}");
    let body = json!({"software_spec_id": gold, "entities": entities("DATACENTER", &["datacenter-1"])});
    let info = inventory(&x, t, "assign-entities", body).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    let body = json!({"software_spec_id": gold, "entities": entities("CLUSTER", &[&prod, "domain-c999"])});
    let info = inventory(&x, t, "assign-entities", body).await;
    assert_eq!(info["error"]["error_type"], "NOT_FOUND", "{info}");
    let body = json!({"software_spec_id": "spec-999", "entities": entities("CLUSTER", &[&prod])});
    let info = inventory(&x, t, "assign-entities", body).await;
    assert_eq!(info["error"]["error_type"], "NOT_FOUND", "{info}");
    let (_, c) = s.send(Method::GET, &format!("/api/esxlcm/clusters/{prod}"), t, None).await;
    assert_eq!(c["commit"], Value::Null, "a refused call commits nothing: {c}");

    // Two clusters, then the standalone host with an orchestrator.
    let body = json!({"software_spec_id": gold, "entities": entities("CLUSTER", &[&prod, &dev])});
    let info = inventory(&x, t, "assign-entities", body).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"];
    assert_eq!(r["host_results"], json!({}), "{r}");
    for c in [&prod, &dev] {
        assert_eq!(r["cluster_results"][c]["status"], "COMPLETED", "{r}");
        assert!(texts(&r["cluster_results"][c]["notifications"], "info")[0].contains(&gold), "{r}");
    }
    let body = json!({"software_spec_id": gold, "entities": entities("HOST", &[&edge, &prod_hosts[0]]),
                      "orchestrator": {"owner": "ci", "owner_data": "pipeline 7"}});
    let info = inventory(&x, t, "assign-entities", body).await;
    let r = &info["result"];
    assert_eq!(r["host_results"][&edge]["status"], "COMPLETED", "{r}");
    // A host in a cluster has the cluster's image: that entity fails, the other proceeds.
    assert_eq!(r["host_results"][&prod_hosts[0]]["status"], "FAILED", "{r}");
    assert!(texts(&r["host_results"][&prod_hosts[0]]["notifications"], "errors")[0].contains(&prod), "{r}");

    // Each has a commit of the spec, which the metadata names.
    for (kind, id) in [("clusters", &prod), ("clusters", &dev), ("hosts", &edge)] {
        let sw = format!("/api/esx/settings/{kind}/{id}/software");
        let (st, sw_info) = s.send(Method::GET, &sw, viewer, None).await;
        assert_eq!(st, 200, "{sw_info}");
        assert_eq!(sw_info["base_image"]["version"], x.p.high.to_string());
        assert_eq!(sw_info["components"][&x.p.component.0]["version"], x.p.component.1.to_string());
        let (st, m) = s.send(Method::GET, &meta(kind, id), viewer, None).await;
        assert_eq!(st, 200, "{m}");
        assert_eq!((m["software_spec_id"].as_str(), m["display_name"].as_str()), (Some(gold.as_str()), Some("gold")));
        assert_eq!(m["notifications"]["warnings"], json!([]), "{m}");
    }
    let (_, m) = s.send(Method::GET, &meta("hosts", &edge), viewer, None).await;
    assert_eq!(m["orchestrator_info"], json!({"owner": "ci", "owner_data": "pipeline 7"}), "{m}");
    let (_, c) = s.send(Method::GET, &format!("/api/esxlcm/clusters/{prod}"), t, None).await;
    let commit = c["commit"].as_str().unwrap();
    let (_, ci) =
        s.send(Method::GET, &format!("/api/esx/settings/clusters/{prod}/software/commits/{commit}"), t, None).await;
    assert!(ci["description"].as_str().unwrap().contains(&gold), "{ci}");
    let (st, e) = s.send(Method::GET, &meta("hosts", &prod_hosts[0]), viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("UNSUPPORTED")), "{e}");
    let (_, lib) = s.send(Method::GET, &format!("{LIB}/{gold}"), viewer, None).await;
    let ids =
        |v: &Value| v.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(ids(&lib["assigned_entities"]["clusters"]), BTreeSet::from([prod.clone(), dev.clone()]), "{lib}");
    assert_eq!(ids(&lib["assigned_entities"]["hosts"]), BTreeSet::from([edge.clone()]), "{lib}");

    // Hosts report: esx1 and esx3 run the image, esx2 an older base image; edge posted nothing.
    let good = good_state(&x, &format!("/api/esx/settings/clusters/{prod}/software")).await;
    let older = good_state_on(&x, &x.p.low, &format!("/api/esx/settings/clusters/{prod}/software")).await;
    post_state(&x, &prod_hosts[0], &good).await;
    post_state(&x, &prod_hosts[1], &older).await;
    post_state(&x, &dev_hosts[0], &good).await;

    // Summaries before any scan: the spec, no compliance; a cluster without a library image is left out.
    let sum_c = format!("{INV}/reports/summary/clusters?type=CLUSTER&clusters={prod}&clusters={dev}&clusters={lab}");
    let (st, sum) = s.send(Method::GET, &sum_c, viewer, None).await;
    assert_eq!(st, 200, "{sum}");
    let list = sum["cluster_summaries"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{sum}");
    assert!(list.iter().all(|c| c["software_spec_info"] == json!({"id": gold, "display_name": "gold"})), "{sum}");
    assert!(list.iter().all(|c| c.get("compliance_summary").is_none_or(Value::is_null)), "{sum}");
    // The type's union rule: CLUSTER names its clusters.
    let (st, e) = s.send(Method::GET, &format!("{INV}/reports/summary/clusters?type=CLUSTER"), viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("clusters must be set"), "{e}");

    // Scan both clusters: per-cluster results, stored.
    let info = inventory(&x, t, "scan", json!({"entities": entities("CLUSTER", &[&prod, &dev])})).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"]["cluster_results"];
    assert_eq!(
        (r[&prod]["status"].as_str(), r[&dev]["status"].as_str()),
        (Some("COMPLETED"), Some("COMPLETED")),
        "{r}"
    );
    let prod_note = texts(&r[&prod]["notifications"], "warnings").join(" ");
    assert!(prod_note.contains("NON_COMPLIANT") && prod_note.contains(&prod_hosts[1]), "{prod_note}");
    assert!(texts(&r[&dev]["notifications"], "info").join(" ").contains("is COMPLIANT"), "{r}");
    let (_, comp) =
        s.send(Method::GET, &format!("/api/esx/settings/clusters/{prod}/software/compliance"), viewer, None).await;
    assert_eq!(comp["status"], "NON_COMPLIANT", "{comp}");
    assert_eq!(comp["non_compliant_hosts"], json!([prod_hosts[1]]), "{comp}");

    let (_, sum) = s.send(Method::GET, &sum_c, viewer, None).await;
    let by_id = |sum: &Value, key: &str, list: &str, id: &str| {
        sum[list].as_array().unwrap().iter().find(|c| c[key] == id).cloned().unwrap_or_else(|| panic!("{id}: {sum}"))
    };
    let p = by_id(&sum, "cluster", "cluster_summaries", &prod);
    assert_eq!(p["compliance_summary"]["compliance_status"], "NON_COMPLIANT", "{p}");
    assert_eq!(p["compliance_summary"]["task_status"], "SUCCEEDED", "{p}");
    assert_eq!(p["compliance_summary"]["last_compliance_time"], comp["scan_time"], "{p}");
    assert!(p.get("apply_summary").is_none_or(Value::is_null), "{p}");
    let d = by_id(&sum, "cluster", "cluster_summaries", &dev);
    assert_eq!(d["compliance_summary"]["compliance_status"], "COMPLIANT", "{d}");
    let (st, e) = s
        .send(Method::GET, &format!("{INV}/reports/summary/clusters?type=FOLDER&folders=group-v1"), viewer, None)
        .await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let (st, e) = s
        .send(Method::GET, &format!("{INV}/reports/summary/clusters?type=CLUSTER&clusters=domain-c999"), viewer, None)
        .await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");

    // A what-if scan against another library spec is not stored.
    let silver = library_spec(&x, "silver", &json!({"base_image": {"version": x.p.low.to_string()}})).await;
    let body = json!({"software_spec": silver, "entities": entities("CLUSTER", &[&dev])});
    let info = inventory(&x, t, "scan", body).await;
    let r = &info["result"]["cluster_results"][&dev];
    assert_eq!(r["status"], "COMPLETED", "{info}");
    let what_if = texts(&r["notifications"], "warnings").join(" ");
    assert!(what_if.contains(&silver) && !what_if.contains("is COMPLIANT"), "a host newer than silver: {r}");
    let (_, after) =
        s.send(Method::GET, &format!("/api/esx/settings/clusters/{dev}/software/compliance"), viewer, None).await;
    assert_eq!(after["status"], "COMPLIANT", "the stored scan is still against the desired image: {after}");

    // Hosts: the standalone host's own scan (no state: unavailable), a clustered host's part of its cluster's.
    let sum_h = format!("{INV}/reports/summary/hosts?type=HOST&hosts={edge}&hosts={}", prod_hosts[1]);
    let (_, sum) = s.send(Method::GET, &sum_h, viewer, None).await;
    let e = by_id(&sum, "host", "host_summaries", &edge);
    assert!(e.get("compliance_summary").is_none_or(Value::is_null), "edge was not scanned yet: {e}");
    assert_eq!(e["software_spec_info"]["id"], gold.as_str());
    let info = inventory(&x, t, "scan", json!({"entities": entities("HOST", &[&edge])})).await;
    assert_eq!(info["result"]["host_results"][&edge]["status"], "COMPLETED", "{info}");
    let (st, sum) = s.send(Method::GET, &sum_h, viewer, None).await;
    assert_eq!(st, 200, "{sum}");
    let e = by_id(&sum, "host", "host_summaries", &edge);
    assert_eq!(e["compliance_summary"]["compliance_status"], "UNAVAILABLE", "{e}");
    let h2 = by_id(&sum, "host", "host_summaries", &prod_hosts[1]);
    assert_eq!(h2["compliance_summary"]["compliance_status"], "NON_COMPLIANT", "{h2}");
    assert_eq!(h2["software_spec_info"]["id"], gold.as_str());

    // Installed images: the cluster's hosts differ; edge has no state.
    let info = inventory(&x, t, "extract-installed-image", json!({"entities": entities("CLUSTER", &[&prod])})).await;
    let r = &info["result"]["cluster_results"][&prod];
    assert_eq!((r["status"].as_str(), r["uniform_image"].as_bool()), (Some("COMPLETED"), Some(false)), "{info}");
    assert!(texts(&r["notifications"], "warnings").join(" ").contains("2 different images"), "{r}");
    let (st, stored) =
        s.send(Method::GET, &format!("/api/esx/settings/clusters/{prod}/installed-images"), viewer, None).await;
    assert_eq!((st, stored["status"].as_str()), (200, Some("SUCCESS")), "{stored}");
    let info =
        inventory(&x, t, "extract-installed-image", json!({"entities": entities("HOST", &[&edge, &dev_hosts[0]])}))
            .await;
    let r = &info["result"]["host_results"];
    assert_eq!(r[&edge]["status"], "FAILED", "{info}");
    assert_eq!(
        (r[&dev_hosts[0]]["status"].as_str(), r[&dev_hosts[0]]["uniform_image"].as_bool()),
        (Some("COMPLETED"), Some(true)),
        "{r}"
    );

    // A library spec changed since it was assigned: the metadata warns.
    let (st, _) = s.send(Method::POST, &format!("{LIB}/{gold}?action=edit"), t, Some(json!({}))).await;
    assert_eq!(st, 200);
    let (_, drafts) = s.send(Method::GET, &format!("{LIB}/drafts"), t, None).await;
    let draft = drafts.as_object().unwrap().keys().next().unwrap().clone();
    let (st, _) = s
        .send(Method::PUT, &format!("{LIB}/drafts/{draft}/display-name"), t, Some(json!({"display_name": "gold 2"})))
        .await;
    assert_eq!(st, 204);
    let info = s.run_task(t, &format!("{LIB}/drafts/{draft}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, m) = s.send(Method::GET, &meta("clusters", &prod), viewer, None).await;
    assert_eq!(m["display_name"], "gold", "the name as assigned: {m}");
    assert!(texts(&m["notifications"], "warnings")[0].contains("changed"), "{m}");

    // The inventory operations esxlcm does not serve stay not found.
    for action in ["apply", "stage", "check", "transition"] {
        let (st, e) = s.send(Method::POST, &format!("{INV}?action={action}&vmw-task=true"), t, Some(json!({}))).await;
        assert_eq!((st, e["error_type"].as_str()), (404, Some("OPERATION_NOT_FOUND")), "{action}: {e}");
    }
    let (st, _) = s
        .send(Method::GET, &format!("{INV}/reports/transition-summary/clusters?type=CLUSTER&clusters={prod}"), t, None)
        .await;
    assert_eq!(st, 404);
    x.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unresolvable_library_spec_fails_each_entity() {
    let x = image_server().await;
    let gold = library_spec(&x, "gold", &fitting(&x)).await;
    let (prod, _) = cluster(&x, "prod", &["esx1"]).await;
    let edge = create(&x, "hosts", json!({"name": "edge"})).await;
    let body = json!({"software_spec_id": gold, "entities": entities("CLUSTER", &[&prod])});
    assert_eq!(
        inventory(&x, &x.t, "assign-entities", body).await["result"]["cluster_results"][&prod]["status"],
        "COMPLETED"
    );
    let (_, before) = x.s.send(Method::GET, &format!("/api/esxlcm/clusters/{prod}"), &x.t, None).await;

    // The spec as stored now needs what the oldest base image lacks (the depot it was
    // validated against changed under it).
    let ImageServer { dir, data, catalog, p, s, .. } = x;
    s.stop().await;
    crate::api_support::edit_state(&data, |state| {
        let spec = &mut state["library"]["specs"][&gold]["spec"];
        spec["base_image"]["version"] = json!(p.low.to_string());
        spec.as_object_mut().unwrap().remove("add_on");
    });
    let s = start_on(&data).await;
    let t = s.rest_login(crate::api_support::ADMIN.0, crate::api_support::ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let x = ImageServer { dir, data, catalog, p, s, t, viewer };

    let body = json!({"software_spec_id": gold, "entities": entities("CLUSTER", &[&prod])});
    let info = inventory(&x, &x.t, "assign-entities", body).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"]["cluster_results"][&prod];
    assert_eq!(r["status"], "FAILED", "{info}");
    let errors = r["notifications"]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|n| n["id"] == ids::DEPENDENCY_UNMET), "{errors:#?}");
    let body = json!({"software_spec_id": gold, "entities": entities("HOST", &[&edge])});
    let info = inventory(&x, &x.t, "assign-entities", body).await;
    assert_eq!(info["result"]["host_results"][&edge]["status"], "FAILED", "{info}");
    let (_, after) = x.s.send(Method::GET, &format!("/api/esxlcm/clusters/{prod}"), &x.t, None).await;
    assert_eq!(before["commit"], after["commit"], "nothing committed");
    let (st, _) = x.s.send(Method::GET, &format!("/api/esx/settings/hosts/{edge}/software"), &x.t, None).await;
    assert_eq!(st, 400, "the host still has no image");
    x.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_calls_over_json_rpc() {
    let x = image_server().await;
    let gold = library_spec(&x, "gold", &fitting(&x)).await;
    let (prod, _) = cluster(&x, "prod", &["esx1"]).await;
    let rt = x.s.rpc_login(crate::api_support::ADMIN.0, crate::api_support::ADMIN.1).await;
    let entity_spec = |kind: &str, clusters: Value| {
        json!({"STRUCTURE": {"com.vmware.esx.settings.inventory.entity_spec": {
            "type": kind, "clusters": {"OPTIONAL": clusters}, "hosts": {"OPTIONAL": null},
            "folders": {"OPTIONAL": null}, "datacenters": {"OPTIONAL": null}}}})
    };
    let assign = |entities: Value| {
        json!({"input_spec": {"STRUCTURE": {"com.vmware.esx.settings.inventory.assign_entities_spec": {
            "software_spec_id": gold, "entities": entities, "orchestrator": {"OPTIONAL": null}}}}})
    };
    let svc = "com.vmware.esx.settings.inventory";
    let r = x.s.rpc_s(&rt, svc, "assign_entities$task", assign(entity_spec("CLUSTER", json!([prod])))).await;
    let task = r["result"]["output"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let (info, _) = x.s.rpc_wait_task(&rt, &task).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let result = info["result"].to_string();
    assert!(result.contains("assign_entities_result") && result.contains("COMPLETED"), "{result}");
    assert!(result.contains(&prod), "{result}");
    // Not a synchronous operation.
    let r = x.s.rpc_s(&rt, svc, "assign_entities", assign(entity_spec("CLUSTER", json!([prod])))).await;
    rpc_error(&r, "operation_not_found");

    let r = x
        .s
        .rpc_s(&rt, "com.vmware.esx.settings.clusters.software.software_spec_metadata", "get", json!({"cluster": prod}))
        .await;
    let m = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.software_spec_metadata"];
    assert_eq!(
        (m["software_spec_id"].as_str(), m["display_name"].as_str()),
        (Some(gold.as_str()), Some("gold")),
        "{r}"
    );
    let r = x.s.rpc_s(&rt, svc, "apply$task", json!({})).await;
    rpc_error(&r, "operation_not_found");
    x.s.stop().await;
}
