//! What the hosts' posted states say is installed: the cluster's installed image
//! (extracted, stored, hosts that differ or have no state reported), one host's software
//! and installed components, and the impact of applying the committed image per host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use crate::api_support::rpc_error;
use crate::image_support::{ImageServer, host_state, image_server};
use esxlcm_solver::{ResolveOptions, resolve};
use reqwest::Method;
use serde_json::{Value, json};

const II: &str = "com.vmware.esx.settings.clusters.installed_images";

/// A cluster with `names` hosts (ids in order) and its committed image (the picks' fitting
/// spec): the cluster id, the host ids, the commit, and the esxcli state of a host that
/// runs exactly that image.
async fn cluster_with_image(x: &ImageServer, names: &[&str]) -> (String, Vec<String>, String, Value) {
    let (s, t) = (&x.s, &x.t);
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", t, Some(json!({"name": "prod"}))).await;
    let cluster = cluster.as_str().unwrap().to_owned();
    let mut hosts = Vec::new();
    for name in names {
        let body = json!({"name": name, "cluster": cluster});
        let (st, h) = s.send(Method::POST, "/api/esxlcm/hosts", t, Some(body)).await;
        assert_eq!(st, 201, "{h}");
        hosts.push(h.as_str().unwrap().to_owned());
    }
    let (commit, good) = commit_image(x, &format!("/api/esx/settings/clusters/{cluster}/software")).await;
    (cluster, hosts, commit, good)
}

/// Commit the picks' fitting spec as the image at `sw` (a cluster's or standalone host's
/// `.../software`): the commit, and the esxcli state of a host that runs exactly that image.
async fn commit_image(x: &ImageServer, sw: &str) -> (String, Value) {
    let (s, t, p) = (&x.s, &x.t, &x.p);
    let spec = json!({
        "base_image": {"version": p.high.to_string()},
        "add_on": {"name": p.addon.0, "version": p.addon.1.to_string()},
        "components": {p.component.0.clone(): p.component.1.to_string()},
    });
    let body = json!({"source_type": "JSON_STRING", "software_spec": spec.to_string()});
    let (st, draft) = s.send(Method::POST, &format!("{sw}/drafts?action=import-software-spec"), t, Some(body)).await;
    assert_eq!(st, 200, "{draft}");
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    let info = s.run_task(t, &format!("{d}?action=commit"), Some(json!({"message": "U3"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let commit = info["result"].as_str().unwrap().to_owned();
    let image = resolve(&p.fitting_spec(), &x.catalog, &ResolveOptions::default()).image;
    let vibs: Vec<Value> =
        image.vibs.values().map(|v| json!({"ID": v.id(), "Name": v.name, "Version": v.version.to_string()})).collect();
    let (_, eff) = s.send(Method::GET, &format!("{sw}/effective-components"), t, None).await;
    (commit, host_state(&p.high, &p.addon, &eff, &vibs))
}

/// `good` with one more component (and its VIB) than the image has.
fn with_extra_component(good: &Value) -> Value {
    let mut extra = good.clone();
    extra["components"].as_array_mut().unwrap().push(json!({"Name": "Extra-Driver", "Version": "1.0-1"}));
    extra["vibs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"ID": "ACME_bootbank_extra_1.0-1", "Name": "extra", "Version": "1.0-1"}));
    extra
}

fn impact_ids(v: &Value) -> BTreeSet<String> {
    v.as_array().unwrap().iter().map(|i| i["message"]["id"].as_str().unwrap().to_owned()).collect()
}

async fn post_state(x: &ImageServer, host: &str, state: &Value) {
    let (st, e) = x.s.send(Method::PUT, &format!("/api/esxlcm/hosts/{host}/state"), &x.t, Some(state.clone())).await;
    assert_eq!(st, 204, "{e}");
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_images_are_extracted_from_posted_states() {
    let x = image_server().await;
    let (s, t, viewer, p) = (&x.s, &x.t, &x.viewer, &x.p);
    let (cluster, hosts, _, good) = cluster_with_image(&x, &["esx-1", "esx-2", "esx-3"]).await;
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    let ii = format!("/api/esx/settings/clusters/{cluster}/installed-images");

    // Nothing extracted yet; unknown clusters are not found.
    let (st, e) = s.send(Method::GET, &ii, viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    let (st, e) = s.send(Method::GET, "/api/esx/settings/clusters/domain-c999/installed-images", viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    let info = s.run_task(t, "/api/esx/settings/clusters/domain-c999/installed-images?action=extract", None).await;
    assert_eq!((info["status"].as_str(), info["error"]["error_type"].as_str()), (Some("FAILED"), Some("NOT_FOUND")));

    // Two hosts with the same state, one without any: one image, the third host reported.
    // Both also run a driver that neither the base image nor the add-on brings.
    let mut good = good;
    good["components"].as_array_mut().unwrap().push(json!({"Name": "Extra-Driver", "Version": "1.0-1"}));
    post_state(&x, h1, &good).await;
    post_state(&x, h2, &good).await;
    let info = s.run_task(t, &format!("{ii}?action=extract"), None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"];
    assert_eq!(r["status"], "SUCCESS", "{r}");
    assert_eq!(set(&r["successful_hosts"]), BTreeSet::from([h1.clone(), h2.clone()]));
    assert_eq!(set(&r["failed_hosts"]), BTreeSet::from([h3.clone()]));
    assert_eq!(r["unsupported_hosts"], json!([]));
    assert_eq!(r["uniform_image"], false, "a host could not be read: not known to be uniform");
    let list = r["image_categories"]["host_image_list"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{r}");
    assert_eq!(set(&list[0]["host_list"]), BTreeSet::from([h1.clone(), h2.clone()]));
    assert_eq!(r["image_categories"]["is_highest_and_widely_used_image_equal"], true);
    let sw = &list[0]["software_info"];
    assert_eq!(sw["base_image"]["version"], p.high.to_string());
    assert_eq!(sw["add_on"]["name"], p.addon.0.as_str());
    assert_eq!(sw["add_on"]["version"], p.addon.1.to_string());
    // Components: what the base image and add-on do not bring (at the installed version).
    assert_eq!(sw["components"]["Extra-Driver"]["version"], "1.0-1", "{sw}");
    assert_eq!(sw["components"].as_object().unwrap().len(), 1, "{sw}");
    assert!(sw.get("removed_components").is_none(), "{sw}");
    let errors = &r["host_notifications"][h3.as_str()]["errors"];
    assert!(errors[0]["message"]["default_message"].as_str().unwrap().contains("no installed state"), "{r}");
    assert_eq!(r["host_notifications"][h1.as_str()]["errors"], json!([]));
    assert_eq!(r["host_info"][h3.as_str()]["name"], "esx-3");
    assert_eq!(r["notifications"]["EXTRACT_INSTALLED_IMAGE"]["errors"].as_array().unwrap().len(), 1, "{r}");
    // The depots do not know Extra-Driver, so which VIBs are orphaned cannot be told: said so.
    assert_eq!(r["orphaned_vibs"], json!({}), "a map, empty: {r}");
    let info_notes = r["notifications"]["EXTRACT_INSTALLED_IMAGE"]["info"].to_string();
    assert!(info_notes.contains(&format!("not reported for {h1}, {h2}")), "{info_notes}");
    // Stored for `get`.
    let (st, got) = s.send(Method::GET, &ii, viewer, None).await;
    assert_eq!(st, 200, "{got}");
    // The task's result and `get` are the same document, typed alike (empty maps as {}).
    assert_eq!(&got, r);

    // The third host runs an older base image: two images over JSON-RPC, the odd host warned.
    // Its state lacks Extra-Driver and has a VIB no installed component brings.
    let mut older = good.clone();
    older["base_image"]["Version"] = json!(p.low.to_string());
    older["components"].as_array_mut().unwrap().pop();
    let orphan = json!({"ID": "ACME_bootbank_orphan_1.0-1", "Name": "orphan", "Version": "1.0-1"});
    older["vibs"].as_array_mut().unwrap().push(orphan);
    post_state(&x, h3, &older).await;
    let rt = s.rpc_login(crate::api_support::ADMIN.0, crate::api_support::ADMIN.1).await;
    let r = s.rpc_s(&rt, II, "extract$task", json!({"cluster": cluster})).await;
    let task = r["result"]["output"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    let (info, _) = s.rpc_wait_task(&rt, &task).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = s.rpc_s(&rt, II, "get", json!({"cluster": cluster})).await;
    let out = &r["result"]["output"]["STRUCTURE"][format!("{II}.installed_image_info")];
    assert_eq!(out["status"], "SUCCESS", "{r}");
    assert_eq!(out["uniform_image"], false);
    assert_eq!(out["failed_hosts"], json!([]));
    let cats = &out["image_categories"]["STRUCTURE"][format!("{II}.image_categories")];
    assert_eq!(cats["host_image_list"]["OPTIONAL"].as_array().unwrap().len(), 2, "{cats}");
    let widest = &cats["most_widely_used_image"]["OPTIONAL"]["STRUCTURE"][format!("{II}.installed_image")];
    assert_eq!(set(&widest["host_list"]), BTreeSet::from([h1.clone(), h2.clone()]));
    let text = r.to_string();
    assert!(text.contains("com.esxlcm.installed_image.not_uniform"), "{text}");
    assert!(text.contains(&format!("host {h3} runs another image")), "{text}");

    let (_, got) = s.send(Method::GET, &ii, viewer, None).await;
    assert_eq!(got["orphaned_vibs"], json!({"ACME_bootbank_orphan_1.0-1": [h3]}), "{got}");
    assert_eq!(got["image_categories"]["is_highest_and_widely_used_image_equal"], true);

    // Unknown cluster over JSON-RPC: not found.
    let r = s.rpc_s(&rt, II, "get", json!({"cluster": "domain-c999"})).await;
    rpc_error(&r, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_software_and_installed_components_from_the_posted_state() {
    let x = image_server().await;
    let (s, viewer, p) = (&x.s, &x.viewer, &x.p);
    let (_, hosts, _, good) = cluster_with_image(&x, &["esx-1", "esx-2"]).await;
    let (h1, h2) = (&hosts[0], &hosts[1]);
    let mut state = good.clone();
    state["components"].as_array_mut().unwrap()[0]["DisplayName"] = json!("Shown Name");
    post_state(&x, h1, &state).await;

    // Installed components: exactly the posted ones, at their versions (REST).
    let (st, comps) =
        s.send(Method::GET, &format!("/api/esx/hosts/{h1}/software/installed-components"), viewer, None).await;
    assert_eq!(st, 200, "{comps}");
    let posted: BTreeSet<(String, String)> = state["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["Name"].as_str().unwrap().to_owned(), c["Version"].as_str().unwrap().to_owned()))
        .collect();
    let got: BTreeSet<(String, String)> = comps
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, c)| (n.clone(), c["version"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(got, posted);
    let first = state["components"][0]["Name"].as_str().unwrap();
    assert_eq!(comps[first]["display_name"], "Shown Name", "the host's own display name wins");
    // No state posted: unavailable; unknown host: not found.
    let (st, e) =
        s.send(Method::GET, &format!("/api/esx/hosts/{h2}/software/installed-components"), viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (503, Some("SERVICE_UNAVAILABLE")), "{e}");
    let (st, e) = s.send(Method::GET, "/api/esx/hosts/host-999/software/installed-components", viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");

    // The host's software (REST, fields as query parameters, and JSON-RPC).
    let (st, sw) = s.send(Method::GET, &format!("/api/esx/software?auth_type=EXISTING&host={h1}"), viewer, None).await;
    assert_eq!(st, 200, "{sw}");
    let info = &sw["software_info"];
    assert_eq!(info["base_image"]["version"], p.high.to_string());
    assert_eq!(info["add_on"]["name"], p.addon.0.as_str());
    let (st, body_form) =
        s.send(Method::GET, "/api/esx/software", viewer, Some(json!({"auth_type": "EXISTING", "host": h1}))).await;
    assert_eq!((st, &body_form), (200, &sw));
    let (st, e) = s
        .send(
            Method::GET,
            "/api/esx/software",
            viewer,
            Some(json!({"auth_type": "USERNAME_PASSWORD", "host_credential": {
                "host_name": "esx-1", "user_name": "root", "password": "pw"}})),
        )
        .await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let rt = s.rpc_login(crate::api_support::VIEWER.0, crate::api_support::VIEWER.1).await;
    let spec = |host: &str| {
        json!({"spec": {"STRUCTURE": {"com.vmware.esx.hosts.software.connection_spec": {
            "auth_type": "EXISTING", "host": {"OPTIONAL": host}, "host_credential": {"OPTIONAL": null}}}}})
    };
    let r = s.rpc_s(&rt, "com.vmware.esx.hosts.software", "get", spec(h1)).await;
    let out = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.hosts.software.info"];
    let base = &out["software_info"]["STRUCTURE"]["com.vmware.esx.hosts.software_info"]["base_image"];
    assert_eq!(base["STRUCTURE"]["com.vmware.esx.hosts.base_image_info"]["version"], p.high.to_string(), "{r}");
    let r = s.rpc_s(&rt, "com.vmware.esx.hosts.software", "get", spec("host-999")).await;
    rpc_error(&r, "not_found");
    let r = s.rpc_s(&rt, "com.vmware.esx.hosts.software.installed_components", "list", json!({"host": h1})).await;
    assert_eq!(r["result"]["output"].as_array().unwrap().len(), posted.len(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_impact_per_host_from_compliance() {
    let x = image_server().await;
    let (s, t, viewer) = (&x.s, &x.t, &x.viewer);
    let (cluster, hosts, commit, good) = cluster_with_image(&x, &["esx-1", "esx-2", "esx-3"]).await;
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    let ai = format!("/api/esx/settings/clusters/{cluster}/software/reports/apply-impact");

    // h1 runs the image; h2 has an extra component whose VIB must go (its flags unknown:
    // reboot and maintenance mode assumed); h3 posted nothing.
    post_state(&x, h1, &good).await;
    post_state(&x, h2, &with_extra_component(&good)).await;

    let (st, r) = s.send(Method::GET, &ai, viewer, None).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["commit"], commit.as_str());
    assert_eq!(r["host_impact"][h1.as_str()], json!([]), "a compliant host: no impact");
    let ids = impact_ids;
    let h2_ids = ids(&r["host_impact"][h2.as_str()]);
    for id in ["reboot", "maintenance_mode", "changes"] {
        assert!(h2_ids.contains(&format!("com.esxlcm.apply_impact.{id}")), "{id}: {r}");
    }
    let h2_text = r["host_impact"][h2.as_str()].to_string();
    assert!(h2_text.contains("Extra-Driver"), "{h2_text}");
    assert_eq!(ids(&r["host_impact"][h3.as_str()]), BTreeSet::from(["com.esxlcm.apply_impact.unknown".to_owned()]));
    let cluster_text = r["impact"].to_string();
    assert!(cluster_text.contains(&format!("1 host(s) will be rebooted: {h2}")), "{cluster_text}");
    assert_eq!(r["host_info"][h2.as_str()]["name"], "esx-2");

    // Only the hosts asked for; a host outside the cluster is not found.
    let (st, r) = s.send(Method::GET, &format!("{ai}?hosts={h1}"), viewer, None).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["host_impact"].as_object().unwrap().keys().collect::<Vec<_>>(), vec![h1]);
    assert_eq!(r["impact"], json!([]));
    let (st, e) = s.send(Method::GET, &format!("{ai}?hosts=host-999"), viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    let (st, e) =
        s.send(Method::GET, "/api/esx/settings/clusters/domain-c999/software/reports/apply-impact", t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");

    // JSON-RPC: the same report.
    let rt = s.rpc_login(crate::api_support::VIEWER.0, crate::api_support::VIEWER.1).await;
    let r = s
        .rpc_s(
            &rt,
            "com.vmware.esx.settings.clusters.software.reports.apply_impact",
            "get",
            json!({"cluster": cluster, "spec": {"OPTIONAL": null}}),
        )
        .await;
    let out = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.clusters.software.reports.apply_impact.cluster_impact"];
    assert_eq!(out["commit"], commit.as_str(), "{r}");
    assert!(out["impact"].to_string().contains("will be rebooted"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_impact_needs_a_committed_image() {
    let x = image_server().await;
    let (_, cluster) = x.s.send(Method::POST, "/api/esxlcm/clusters", &x.t, Some(json!({"name": "empty"}))).await;
    let path = format!("/api/esx/settings/clusters/{}/software/reports/apply-impact", cluster.as_str().unwrap());
    let (st, e) = x.s.send(Method::GET, &path, &x.viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("no desired image"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_impact_of_a_standalone_host() {
    let x = image_server().await;
    let (s, t, viewer) = (&x.s, &x.t, &x.viewer);
    let (st, host) = s.send(Method::POST, "/api/esxlcm/hosts", t, Some(json!({"name": "edge-1"}))).await;
    assert_eq!(st, 201, "{host}");
    let host = host.as_str().unwrap().to_owned();
    let ai = format!("/api/esx/settings/hosts/{host}/software/reports/apply-impact");

    // No commit yet: nothing to report.
    let (st, e) = s.send(Method::GET, &ai, viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("no desired image"), "{e}");

    let (commit, good) = commit_image(&x, &format!("/api/esx/settings/hosts/{host}/software")).await;
    let (st, r) = s.send(Method::GET, &ai, viewer, None).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!((r["commit"].as_str(), r["host_info"]["name"].as_str()), (Some(commit.as_str()), Some("edge-1")));
    assert_eq!(impact_ids(&r["impact"]), BTreeSet::from(["com.esxlcm.apply_impact.unknown".to_owned()]), "{r}");

    post_state(&x, &host, &good).await;
    let (_, r) = s.send(Method::GET, &ai, viewer, None).await;
    assert_eq!(r["impact"], json!([]), "runs the image: no impact");

    post_state(&x, &host, &with_extra_component(&good)).await;
    let rt = s.rpc_login(crate::api_support::VIEWER.0, crate::api_support::VIEWER.1).await;
    let r =
        s.rpc_s(&rt, "com.vmware.esx.settings.hosts.software.reports.apply_impact", "get", json!({"host": host})).await;
    let out =
        &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.hosts.software.reports.apply_impact.host_impact"];
    assert_eq!(out["commit"], commit.as_str(), "{r}");
    let text = out["impact"].to_string();
    for id in ["reboot", "maintenance_mode", "changes"] {
        assert!(text.contains(&format!("com.esxlcm.apply_impact.{id}")), "{id}: {r}");
    }
    assert!(text.contains("Extra-Driver"), "{text}");

    // A host in a cluster has the cluster's image: unsupported here, with the way out.
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", t, Some(json!({"name": "robo"}))).await;
    let body = json!({"name": "esx-9", "cluster": cluster});
    let (_, member) = s.send(Method::POST, "/api/esxlcm/hosts", t, Some(body)).await;
    let path = format!("/api/esx/settings/hosts/{}/software/reports/apply-impact", member.as_str().unwrap());
    let (st, e) = s.send(Method::GET, &path, viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("UNSUPPORTED")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("clusters/"), "{e}");
    let (st, e) =
        s.send(Method::GET, "/api/esx/settings/hosts/host-999/software/reports/apply-impact", viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
}
