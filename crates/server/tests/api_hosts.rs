//! The image workflow of a standalone host over REST: a host without a cluster gets its
//! own desired image (draft, base image, add-on, component, a real dependency error,
//! fixed, committed, a concurrent commit refused, exported as JSON), and scans of its
//! posted state say compliant, non-compliant and incompatible. A host in a cluster is
//! refused with the cluster named. JSON-RPC answers the same operations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, rpc_error, start_on};
use crate::image_support::{EDITOR, ImageServer, export_spec_json, host_state, image_server, import_draft};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_solver::notification::ids;
use esxlcm_solver::{ResolveOptions, resolve};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_host_image_workflow_over_rest() {
    let ImageServer { dir: _dir, data, catalog, p, s, t, viewer } = image_server().await;
    let t2 = s.rest_login(EDITOR.0, EDITOR.1).await;

    // A cluster with one host, and a standalone host.
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "prod"}))).await;
    let cluster = cluster.as_str().unwrap().to_owned();
    let body = json!({"name": "esx-c1", "cluster": cluster});
    let (_, member) = s.send(Method::POST, "/api/esxlcm/hosts", &t, Some(body)).await;
    let member = member.as_str().unwrap().to_owned();
    let (st, host) = s.send(Method::POST, "/api/esxlcm/hosts", &t, Some(json!({"name": "esx-solo"}))).await;
    assert_eq!(st, 201, "{host}");
    let host = host.as_str().unwrap().to_owned();

    // A host in a cluster has no image of its own: the error names the cluster.
    let msw = format!("/api/esx/settings/hosts/{member}/software");
    for (method, path) in [(Method::GET, msw.clone()), (Method::POST, format!("{msw}/drafts"))] {
        let (st, e) = s.send(method, &path, &t, None).await;
        assert_eq!((st, e["error_type"].as_str()), (400, Some("UNSUPPORTED")), "{e}");
        let text = e["messages"][0]["default_message"].as_str().unwrap();
        assert!(text.contains(&cluster) && text.contains("prod"), "{text}");
    }
    let (st, e) = s.send(Method::GET, "/api/esx/settings/hosts/host-424242/software", &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");

    // No desired image yet.
    let sw = format!("/api/esx/settings/hosts/{host}/software");
    let (st, e) = s.send(Method::GET, &sw, &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains(&host), "{e}");

    // A draft whose base image, add-on and component do not fit together.
    let (st, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!(st, 201, "{draft}");
    let draft = draft.as_str().unwrap().to_owned();
    let (st, e) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("ALREADY_EXISTS")), "{e}");
    let d = format!("{sw}/drafts/{draft}");
    let low = json!({"version": p.low.to_string()});
    let (st, e) = s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(low)).await;
    assert_eq!(st, 204, "{e}");
    let add_on = json!({"name": p.addon.0, "version": p.addon.1.to_string()});
    let (st, e) = s.send(Method::PUT, &format!("{d}/software/add-on"), &t, Some(add_on)).await;
    assert_eq!(st, 204, "{e}");
    let comp_path = format!("{d}/software/components/{}", p.component.0);
    let (st, e) = s.send(Method::PUT, &comp_path, &t, Some(json!(p.component.1.to_string()))).await;
    assert_eq!(st, 204, "{e}");
    let (st, c) = s.send(Method::GET, &comp_path, &viewer, None).await;
    assert_eq!((st, c["version"].as_str()), (200, Some(p.component.1.as_str())), "{c}");
    let (st, e) =
        s.send(Method::PUT, &format!("{d}/display-name"), &t, Some(json!({"display_name": "solo image"}))).await;
    assert_eq!(st, 204, "{e}");
    let (_, name) = s.send(Method::GET, &format!("{d}/display-name"), &viewer, None).await;
    assert_eq!(name["display_name"], "solo image");
    // One editor per draft.
    let (st, e) = s.send(Method::DELETE, &format!("{d}/software/add-on"), &t2, None).await;
    assert_eq!((st, e["error_type"].as_str()), (409, Some("CONCURRENT_CHANGE")), "{e}");

    // Validation finds the dependency error; a commit is refused with it.
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let errors = info["result"]["notifications"]["errors"].as_array().unwrap();
    let unmet = errors.iter().find(|n| n["id"] == ids::DEPENDENCY_UNMET).unwrap_or_else(|| panic!("{errors:#?}"));
    assert!(unmet["message"]["default_message"].as_str().unwrap().contains(&p.component.0), "{unmet}");
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "too early"}))).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");

    // Fixed with the newest base image.
    let high = json!({"version": p.high.to_string()});
    let (st, _) = s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(high)).await;
    assert_eq!(st, 204);
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["result"]["notifications"]["errors"], json!([]), "{info}");
    let (_, got) = s.send(Method::GET, &d, &viewer, None).await;
    assert_eq!(got["metadata"]["status"], "VALID", "{got}");
    assert_eq!(got["display_name"], "solo image");
    assert_eq!(got["software"]["add_on"]["name"], p.addon.0);

    // A second administrator's draft, imported before the commit below.
    let draft2 = import_draft(&s, &t2, &sw, &p.high).await;
    let (_, list) = s.send(Method::GET, &format!("{sw}/drafts"), &viewer, None).await;
    assert_eq!(list.as_object().unwrap().len(), 2, "{list}");

    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "solo U3"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let commit = info["result"].as_str().unwrap().to_owned();
    let (_, ci) = s.send(Method::GET, &format!("{sw}/commits/{commit}"), &viewer, None).await;
    assert_eq!((ci["author"].as_str(), ci["description"].as_str()), (Some(ADMIN.0), Some("solo U3")), "{ci}");
    assert_eq!(ci["apply_status"], "NOT_APPLIED");
    let (_, name) = s.send(Method::GET, &format!("{sw}/display-name"), &viewer, None).await;
    assert_eq!(name["display_name"], "solo image");
    let info = s.run_task(&t2, &format!("{sw}/drafts/{draft2}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["error"]["error_type"], "CONCURRENT_CHANGE", "{info}");
    assert!(info["error"]["messages"][0]["default_message"].as_str().unwrap().contains(&commit), "{info}");
    let (st, _) = s.send(Method::DELETE, &format!("{sw}/drafts/{draft2}"), &t2, None).await;
    assert_eq!(st, 204);
    // The clustered host's cluster is untouched.
    let (st, _) = s.send(Method::GET, &format!("/api/esx/settings/clusters/{cluster}/software"), &t, None).await;
    assert_eq!(st, 400);

    // The desired image and its parts.
    let (st, got) = s.send(Method::GET, &sw, &viewer, None).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["base_image"]["version"], p.high.to_string());
    let (_, b) = s.send(Method::GET, &format!("{sw}/base-image"), &viewer, None).await;
    assert_eq!(b["version"], p.high.to_string());
    let (_, a) = s.send(Method::GET, &format!("{sw}/add-on"), &viewer, None).await;
    assert_eq!(a["version"], p.addon.1.to_string());
    let (_, comps) = s.send(Method::GET, &format!("{sw}/components"), &viewer, None).await;
    assert_eq!(comps[&p.component.0]["version"], p.component.1.to_string(), "{comps}");
    let (_, eff) = s.send(Method::GET, &format!("{sw}/effective-components"), &viewer, None).await;
    assert_eq!(eff[&p.component.0]["details"]["source"], "USER", "{eff}");
    assert!(eff.as_object().unwrap().values().any(|c| c["details"]["source"] == "BASE_IMAGE"));
    let (_, sols) = s.send(Method::GET, &format!("{sw}/solutions"), &viewer, None).await;
    assert_eq!(sols, json!({}));

    // A removed component shows in the effective list only when asked for.
    let spec = p.fitting_spec();
    let base_unit = catalog.release_units(ReleaseKind::BaseImage).find(|u| u.version == p.high).unwrap();
    let removable = base_unit
        .components
        .keys()
        .find(|name| {
            let mut without = spec.clone();
            without.removed_components.push((*name).clone());
            *name != &p.component.0 && !resolve(&without, &catalog, &ResolveOptions::default()).has_errors()
        })
        .expect("a base-image component the image can do without")
        .clone();
    let (_, draft3) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    let d3 = format!("{sw}/drafts/{}", draft3.as_str().unwrap());
    let (st, e) = s.send(Method::PUT, &format!("{d3}/software/removed-components/{removable}"), &t, None).await;
    assert_eq!(st, 204, "{e}");
    let (_, eff) = s.send(Method::GET, &format!("{d3}/software/effective-components"), &viewer, None).await;
    assert!(eff.get(&removable).is_none(), "{eff}");
    let (st, eff) = s
        .send(Method::GET, &format!("{d3}/software/effective-components?with-removed-components"), &viewer, None)
        .await;
    assert_eq!(st, 200, "{eff}");
    assert_eq!(eff[&removable]["details"]["source"], "USER_REMOVED", "{eff}");
    let (st, _) = s.send(Method::DELETE, &d3, &t, None).await;
    assert_eq!(st, 204);

    // Export the spec as JSON and download it.
    let exported = export_spec_json(&s, &t, &sw, &viewer).await;
    assert_eq!(exported["base_image"]["version"], p.high.to_string());
    assert_eq!(exported["components"][&p.component.0], p.component.1.to_string());

    // Scans of the posted state: compliant, then an older base image, then a newer component.
    let (st, _) = s.send(Method::GET, &format!("{sw}/compliance"), &t, None).await;
    assert_eq!(st, 404);
    let image = resolve(&spec, &catalog, &ResolveOptions::default()).image;
    let vibs: Vec<Value> =
        image.vibs.values().map(|v| json!({"ID": v.id(), "Name": v.name, "Version": v.version.to_string()})).collect();
    let (_, eff) = s.send(Method::GET, &format!("{sw}/effective-components"), &t, None).await;
    let good = host_state(&p.high, &p.addon, &eff, &vibs);
    let older = host_state(&p.low, &p.addon, &eff, &vibs);
    let mut newer = good.clone();
    for c in newer["components"].as_array_mut().unwrap() {
        if c["Name"] == p.component.0.as_str() {
            c["Version"] = json!("999.0.0-1");
        }
    }
    for (state, status) in [(&good, "COMPLIANT"), (&older, "NON_COMPLIANT"), (&newer, "INCOMPATIBLE")] {
        let (st, e) = s.send(Method::PUT, &format!("/api/esxlcm/hosts/{host}/state"), &t, Some(state.clone())).await;
        assert_eq!(st, 204, "{e}");
        let info = s.run_task(&t, &format!("{sw}?action=scan"), None).await;
        assert_eq!(info["status"], "SUCCEEDED", "{info}");
        let r = &info["result"];
        assert_eq!(r["status"], status, "{r}");
        assert_eq!(r["commit"], commit.as_str());
        let (_, stored) = s.send(Method::GET, &format!("{sw}/compliance"), &viewer, None).await;
        assert_eq!(stored["status"], status);
    }
    let (_, stored) = s.send(Method::GET, &format!("{sw}/compliance"), &viewer, None).await;
    assert_eq!(stored["components"][&p.component.0]["status"], "INCOMPATIBLE", "{stored}");
    // The old base image state, checked against a draft (not stored).
    let (_, draft4) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    let (st, _) = s.send(Method::PUT, &format!("/api/esxlcm/hosts/{host}/state"), &t, Some(older)).await;
    assert_eq!(st, 204);
    let info = s.run_task(&viewer, &format!("{sw}/drafts/{}?action=scan", draft4.as_str().unwrap()), None).await;
    assert_eq!(info["result"]["base_image"]["status"], "NON_COMPLIANT", "{info}");
    let (_, stored) = s.send(Method::GET, &format!("{sw}/compliance"), &viewer, None).await;
    assert_eq!(stored["status"], "INCOMPATIBLE");

    // The host's image survives a restart and answers in JSON-RPC.
    s.stop().await;
    let s = start_on(&data).await;
    let rpc = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s.rpc_s(&rpc, "com.vmware.esx.settings.hosts.software", "get", json!({"host": host})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.software_info"];
    assert_eq!(info["base_image"]["STRUCTURE"]["com.vmware.esx.settings.base_image_info"]["version"], p.high.as_str());
    let r = s.rpc_s(&rpc, "com.vmware.esx.settings.hosts.software.drafts", "list", json!({"host": member})).await;
    rpc_error(&r, "unsupported");
    s.stop().await;
}
