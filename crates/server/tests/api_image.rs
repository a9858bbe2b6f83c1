//! The image workflow of a cluster over REST (HTTPS): our inventory, an offline depot, a
//! draft composed, validated (a real dependency error, explained), fixed and committed,
//! one editor per draft, concurrent commits refused, export as JSON and ZIP (downloaded;
//! the ZIP imports as a depot again), and a compliance scan with one compliant, one
//! non-compliant and one incompatible host. Also: state survives a restart, and the
//! inventory answers in JSON-RPC too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support;

use crate::api_support::{ADMIN, start_on};
use crate::image_support::{
    EDITOR, ImageServer, export_spec_json, host_state, image_server, import_depot, import_draft,
};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::notification::ids;
use esxlcm_solver::{ResolveOptions, resolve};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_image_workflow_over_rest() {
    let ImageServer { dir, data, catalog, p, s, t, viewer } = image_server().await;
    let t2 = s.rest_login(EDITOR.0, EDITOR.1).await;

    // Inventory: a cluster and three hosts, vCenter-style ids.
    let (st, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "prod"}))).await;
    assert_eq!(st, 201, "{cluster}");
    let cluster = cluster.as_str().unwrap().to_owned();
    assert!(cluster.starts_with("domain-c"), "{cluster}");
    let (st, e) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "prod"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("ALREADY_EXISTS")));
    let (st, _) = s.send(Method::POST, "/api/esxlcm/clusters", &viewer, Some(json!({"name": "ro"}))).await;
    assert_eq!(st, 403);
    let mut hosts = Vec::new();
    for name in ["esx-01", "esx-02", "esx-03"] {
        let (st, h) =
            s.send(Method::POST, "/api/esxlcm/hosts", &t, Some(json!({"name": name, "cluster": cluster}))).await;
        assert_eq!(st, 201, "{h}");
        assert!(h.as_str().unwrap().starts_with("host-"));
        hosts.push(h.as_str().unwrap().to_owned());
    }
    let (st, e) =
        s.send(Method::POST, "/api/esxlcm/hosts", &t, Some(json!({"name": "x", "cluster": "domain-c999"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")));
    let (st, c) = s.send(Method::GET, &format!("/api/esxlcm/clusters/{cluster}"), &viewer, None).await;
    assert_eq!(st, 200);
    assert_eq!(c["hosts"], json!(hosts));
    let (st, e) = s.send(Method::DELETE, &format!("/api/esxlcm/clusters/{cluster}"), &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("RESOURCE_IN_USE")));

    // No desired image yet.
    let sw = format!("/api/esx/settings/clusters/{cluster}/software");
    let (st, e) = s.send(Method::GET, &sw, &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");

    // A draft: base image, add-on and a component that do not fit together.
    let (st, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!(st, 201, "{draft}");
    let draft = draft.as_str().unwrap().to_owned();
    let (st, e) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("ALREADY_EXISTS")));
    let d = format!("{sw}/drafts/{draft}");
    let (st, e) = s.send(Method::GET, &format!("{d}/software/base-image"), &t, None).await;
    assert_eq!(st, 404, "{e}");
    let (st, _) =
        s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(json!({"version": p.low.to_string()}))).await;
    assert_eq!(st, 204);
    let (st, e) = s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(json!({"version": "1.0-1"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")));
    let addon_body = json!({"name": p.addon.0, "version": p.addon.1.to_string()});
    let (st, _) = s.send(Method::PUT, &format!("{d}/software/add-on"), &t, Some(addon_body)).await;
    assert_eq!(st, 204);
    let comp_path = format!("{d}/software/components/{}", p.component.0);
    let (st, _) = s.send(Method::PUT, &comp_path, &t, Some(json!(p.component.1.to_string()))).await;
    assert_eq!(st, 204);
    let (st, c) = s.send(Method::GET, &comp_path, &viewer, None).await;
    assert_eq!((st, c["version"].as_str()), (200, Some(p.component.1.as_str())), "{c}");
    assert!(c["details"]["vendor"].is_string(), "{c}");

    // One editor per draft: another administrator may look, not change.
    let (st, e) = s.send(Method::DELETE, &format!("{d}/software/add-on"), &t2, None).await;
    assert_eq!((st, e["error_type"].as_str()), (409, Some("CONCURRENT_CHANGE")), "{e}");
    let (st, _) = s.send(Method::GET, &format!("{d}/software/add-on"), &t2, None).await;
    assert_eq!(st, 200);

    // Validation finds the real problems, explained.
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let errors = info["result"]["notifications"]["errors"].as_array().unwrap();
    let unmet = errors.iter().find(|n| n["id"] == ids::DEPENDENCY_UNMET).unwrap_or_else(|| panic!("{errors:#?}"));
    let text = unmet["message"]["default_message"].as_str().unwrap();
    assert!(text.contains(&p.component.0) && text.contains("Because:"), "{text}");
    assert_eq!(unmet["type"], "ERROR");
    assert!(unmet["resolution"]["default_message"].as_str().unwrap().contains("base image"), "{unmet}");
    assert!(errors.iter().any(|n| n["id"] == ids::ADDON_UNSUPPORTED_BASE_IMAGE), "{errors:#?}");
    let (_, got) = s.send(Method::GET, &d, &t, None).await;
    assert_eq!(got["metadata"]["status"], "INVALID");
    assert_eq!(got["metadata"]["owner"], ADMIN.0);
    assert_eq!(got["software"]["base_image"]["version"], p.low.to_string());

    // Committing an invalid draft is refused with the reasons.
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "too early"}))).await;
    assert_eq!(info["status"], "FAILED");
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    assert!(info["error"]["messages"].as_array().unwrap().len() > 1);

    // Fixed: the newest base image.
    let (st, _) = s
        .send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(json!({"version": p.high.to_string()})))
        .await;
    assert_eq!(st, 204);
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["result"]["notifications"]["errors"], json!([]), "{info}");
    let (_, got) = s.send(Method::GET, &d, &t, None).await;
    assert_eq!(got["metadata"]["status"], "VALID");
    let (_, list) = s.send(Method::GET, &format!("{sw}/drafts"), &viewer, None).await;
    assert!(list.get(&draft).is_some(), "{list}");
    let (_, eff) = s.send(Method::GET, &format!("{d}/software/effective-components"), &t, None).await;
    assert_eq!(eff[&p.component.0]["details"]["source"], "USER", "{eff}");

    // A second administrator's draft, imported, started from the same (empty) history.
    let draft2 = import_draft(&s, &t2, &sw, &p.high).await;
    let (st, e) = s
        .send(
            Method::POST,
            &format!("{sw}/drafts?action=import-software-spec"),
            &t,
            Some(json!({"source_type": "JSON_STRING", "software_spec": "{\"add_on\": {}}"})),
        )
        .await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");

    // Commit: author, message and id are kept; the draft is gone.
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "U3 with Dell"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let commit = info["result"].as_str().unwrap().to_owned();
    let (_, ci) = s.send(Method::GET, &format!("{sw}/commits/{commit}"), &viewer, None).await;
    assert_eq!((ci["author"].as_str(), ci["description"].as_str()), (Some(ADMIN.0), Some("U3 with Dell")), "{ci}");
    let (st, _) = s.send(Method::GET, &d, &t, None).await;
    assert_eq!(st, 404);

    // The other draft began before that commit: refused.
    let info = s.run_task(&t2, &format!("{sw}/drafts/{draft2}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "FAILED");
    assert_eq!(info["error"]["error_type"], "CONCURRENT_CHANGE", "{info}");
    let (st, _) = s.send(Method::DELETE, &format!("{sw}/drafts/{draft2}"), &t2, None).await;
    assert_eq!(st, 204);

    // The desired image.
    let (st, got) = s.send(Method::GET, &sw, &viewer, None).await;
    assert_eq!(st, 200, "{got}");
    assert_eq!(got["base_image"]["version"], p.high.to_string());
    assert!(got["base_image"]["details"]["display_version"].is_string());
    assert_eq!(got["add_on"]["name"], p.addon.0);
    assert_eq!(got["components"][&p.component.0]["version"], p.component.1.to_string());
    let (_, eff) = s.send(Method::GET, &format!("{sw}/effective-components"), &viewer, None).await;
    let eff_map = eff.as_object().unwrap();
    assert_eq!(eff[&p.component.0]["details"]["source"], "USER");
    assert!(!eff[&p.component.0]["details"]["overridden_components"].as_array().unwrap().is_empty(), "{eff}");
    assert!(eff_map.values().any(|c| c["details"]["source"] == "BASE_IMAGE"));
    assert!(eff_map.values().any(|c| c["details"]["source"] == "ADD_ON"));
    let (_, comps) = s.send(Method::GET, &format!("{sw}/components"), &viewer, None).await;
    assert_eq!(comps.as_object().unwrap().len(), 1, "{comps}");

    // Export JSON and ZIP, download both.
    let (st, e) = s.send(Method::POST, &format!("{sw}?action=export"), &viewer, Some(json!({}))).await;
    assert_eq!(st, 400, "{e}");
    let body = json!({"export_software_spec": true, "export_offline_bundle": true, "export_iso_image": false});
    let (st, urls) = s.send(Method::POST, &format!("{sw}?action=export"), &t, Some(body)).await;
    assert_eq!(st, 200, "{urls}");
    let spec_url = urls["SOFTWARE_SPEC"].as_str().unwrap();
    let zip_url = urls["OFFLINE_BUNDLE"].as_str().unwrap();
    assert!(spec_url.starts_with(&s.base), "{spec_url}");
    let r = s.client.get(spec_url).send().await.unwrap();
    assert_eq!(r.status(), 401, "downloads need a session");
    let r = s.client.get(spec_url).header("vmware-api-session-id", &viewer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let exported: Value = r.json().await.unwrap();
    assert_eq!(exported["base_image"]["version"], p.high.to_string());
    assert_eq!(exported["components"][&p.component.0], p.component.1.to_string());
    let bytes = s.client.get(zip_url).header("vmware-api-session-id", &t).send().await.unwrap().bytes().await.unwrap();
    let zip = dir.path().join("exported.zip");
    std::fs::write(&zip, &bytes).unwrap();
    let again = Catalog::from_depots([Depot::open_path(&zip, &OpenOptions::default()).unwrap()]).unwrap();
    let spec = p.fitting_spec();
    let r = resolve(&spec, &again, &ResolveOptions::default());
    assert!(!r.has_errors(), "{:#?}", r.notifications);
    let info = s
        .run_task(
            &t,
            "/api/esx/settings/depots/offline",
            Some(json!({"source_type": "PULL", "location": zip.to_str().unwrap()})),
        )
        .await;
    assert_eq!(info["status"], "SUCCEEDED", "the exported bundle imports as a depot: {info}");
    let (st, e) = s
        .send(
            Method::POST,
            &format!("{sw}?action=export"),
            &t,
            Some(json!({"export_software_spec": false, "export_offline_bundle": false, "export_iso_image": true})),
        )
        .await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("UNSUPPORTED")), "{e}");
    assert!(e["messages"][0]["default_message"].as_str().unwrap().contains("bootloader_dir"));

    // Host states: compliant, older base image (non-compliant), newer component (incompatible).
    let (_, eff) = s.send(Method::GET, &format!("{sw}/effective-components"), &t, None).await;
    let image = resolve(&spec, &catalog, &ResolveOptions::default()).image;
    let vibs: Vec<Value> =
        image.vibs.values().map(|v| json!({"ID": v.id(), "Name": v.name, "Version": v.version.to_string()})).collect();
    let good = host_state(&p.high, &p.addon, &eff, &vibs);
    let older = host_state(&p.low, &p.addon, &eff, &vibs);
    let mut newer = good.clone();
    for c in newer["components"].as_array_mut().unwrap() {
        if c["Name"] == p.component.0.as_str() {
            c["Version"] = json!("999.0.0-1");
        }
    }
    for (h, state) in hosts.iter().zip([&good, &older, &newer]) {
        let (st, e) = s.send(Method::PUT, &format!("/api/esxlcm/hosts/{h}/state"), &t, Some(state.clone())).await;
        assert_eq!(st, 204, "{e}");
    }
    let (st, e) =
        s.send(Method::PUT, &format!("/api/esxlcm/hosts/{}/state", hosts[0]), &t, Some(json!({"vibs": []}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let (_, h) = s.send(Method::GET, &format!("/api/esxlcm/hosts/{}", hosts[1]), &t, None).await;
    assert_eq!(h["base_image"], p.low.to_string());

    let (st, _) = s.send(Method::GET, &format!("{sw}/compliance"), &t, None).await;
    assert_eq!(st, 404);
    let info = s.run_task(&t, &format!("{sw}?action=scan"), None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let r = &info["result"];
    assert_eq!(r["compliant_hosts"], json!([hosts[0]]), "{r}");
    assert_eq!(r["non_compliant_hosts"], json!([hosts[1]]));
    assert_eq!(r["incompatible_hosts"], json!([hosts[2]]));
    assert_eq!(r["status"], "INCOMPATIBLE");
    assert_eq!(r["commit"], commit.as_str());
    assert_eq!(r["host_info"][&hosts[0]]["name"], "esx-01");
    assert_eq!(r["hosts"][&hosts[1]]["base_image"]["status"], "NON_COMPLIANT");
    assert_eq!(r["hosts"][&hosts[2]]["components"][&p.component.0]["status"], "INCOMPATIBLE");
    assert!(!r["hosts"][&hosts[2]]["notifications"]["errors"].as_array().unwrap().is_empty());
    let (st, stored) = s.send(Method::GET, &format!("{sw}/compliance"), &viewer, None).await;
    assert_eq!(st, 200);
    assert_eq!(stored["incompatible_hosts"], r["incompatible_hosts"]);

    // Everything survives a restart.
    s.stop().await;
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let (st, got) = s.send(Method::GET, &sw, &t, None).await;
    assert_eq!((st, got["base_image"]["version"].as_str()), (200, Some(p.high.as_str())));
    let (_, stored) = s.send(Method::GET, &format!("{sw}/compliance"), &t, None).await;
    assert_eq!(stored["compliant_hosts"], json!([hosts[0]]));

    // The inventory speaks JSON-RPC too.
    let rpc = s.rpc_login(ADMIN.0, ADMIN.1).await;
    let r = s.rpc_s(&rpc, "com.esxlcm.inventory.clusters", "get", json!({"cluster": cluster})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.esxlcm.inventory.clusters.info"];
    assert_eq!(info["name"], "prod", "{r}");
    let r = s
        .rpc_s(&rpc, "com.vmware.esx.settings.clusters.software.drafts", "create", json!({"cluster": "domain-c424242"}))
        .await;
    api_support::rpc_error(&r, "not_found");
    s.stop().await;
}

/// With `bootloader_dir` in config.json, `export` builds an installer ISO too; it downloads
/// and reads back as an ESXi installer of the committed image (imported with PULL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_iso_with_configured_bootloader() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("boot.zip");
    generate_to_bundle(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(11) }, &bundle).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let base = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).max().unwrap();
    // Stand-in bootloader files: the builder copies them, nothing boots here.
    let boot = dir.path().join("bootloader");
    std::fs::create_dir_all(&boot).unwrap();
    for (name, size) in [("ISOLINUX.BIN", 4096), ("MBOOT.C32", 3000), ("MENU.C32", 1500), ("BOOTX64.EFI", 65536)] {
        // The EFI loader only has to look like a PE file: the builder makes EFIBOOT.IMG around it.
        let mut bytes = vec![0x5a; size];
        bytes[..2].copy_from_slice(b"MZ");
        std::fs::write(boot.join(name), bytes).unwrap();
    }
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let config = json!({"users": [{"name": ADMIN.0, "role": "admin", "password": ADMIN.1}], "bootloader_dir": boot});
    std::fs::write(data.join("config.json"), config.to_string()).unwrap();
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    import_depot(&s, &t, &bundle).await;
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "edge"}))).await;
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());
    // The spec imported from a file (PULL).
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, json!({"base_image": {"version": base.to_string()}}).to_string()).unwrap();
    let (st, draft) = s
        .send(
            Method::POST,
            &format!("{sw}/drafts?action=import-software-spec"),
            &t,
            Some(json!({"source_type": "PULL", "location": spec_file.to_str().unwrap()})),
        )
        .await;
    assert_eq!(st, 200, "{draft}");
    let info = s.run_task(&t, &format!("{sw}/drafts/{}?action=commit", draft.as_str().unwrap()), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");

    let body = json!({"export_software_spec": false, "export_offline_bundle": false, "export_iso_image": true});
    let (st, urls) = s.send(Method::POST, &format!("{sw}?action=export"), &t, Some(body)).await;
    assert_eq!(st, 200, "{urls}");
    assert_eq!(urls.as_object().unwrap().len(), 1);
    let resp = s.client.get(urls["ISO_IMAGE"].as_str().unwrap()).header("vmware-api-session-id", &t).send().await;
    let bytes = resp.unwrap().bytes().await.unwrap();
    let iso = dir.path().join("image.iso");
    std::fs::write(&iso, &bytes).unwrap();
    let inspected = esxlcm_builder::inspect::inspect_iso(&iso, Default::default()).unwrap();
    assert!(inspected.problems.is_empty(), "{:?}", inspected.problems);
    assert!(inspected.boot_cfg.is_some());
    assert!(inspected.volume_id.starts_with("ESXI-"), "{}", inspected.volume_id);
    s.stop().await;
}

/// A cluster image with an alternative image, built in a draft (the same code as library
/// drafts): a copy of the main image without the user component, selected by hardware;
/// after the commit it is listed, resolved and exported on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_alternative_images() {
    let ImageServer { dir, p, s, t, viewer, .. } = image_server().await;
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "edge"}))).await;
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());
    let (_, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    for (path, body) in [
        ("software/base-image", json!({"version": p.high.to_string()})),
        ("software/add-on", json!({"name": p.addon.0, "version": p.addon.1.to_string()})),
        (&format!("software/components/{}", p.component.0), json!(p.component.1.to_string())),
        ("display-name", json!({"display_name": "edge image"})),
    ] {
        let (st, e) = s.send(Method::PUT, &format!("{d}/{path}"), &t, Some(body)).await;
        assert_eq!(st, 204, "{path}: {e}");
    }
    let alts = format!("{d}/software/alternative-images");
    let (st, image) = s.send(Method::POST, &alts, &t, Some(json!({"display_name": "dell"}))).await;
    assert_eq!(st, 201, "{image}");
    let image = image.as_str().unwrap().to_owned();
    let a = format!("{alts}/{image}");
    let (st, _) = s.send(Method::DELETE, &format!("{a}/software/components/{}", p.component.0), &t, None).await;
    assert_eq!(st, 204);
    let dell = json!({"selection_type": "HOST_HARDWARE_SPEC", "host_hardware_spec": {"vendor": "Dell Inc."}});
    let (st, e) = s.send(Method::PUT, &format!("{a}/selection-criteria"), &t, Some(dell)).await;
    assert_eq!(st, 204, "{e}");
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "with dell"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");

    let (_, name) = s.send(Method::GET, &format!("{sw}/display-name"), &viewer, None).await;
    assert_eq!(name["display_name"], "edge image");
    let (_, got) = s.send(Method::GET, &sw, &viewer, None).await;
    assert_eq!(got["alternative_images"][&image]["display_name"], "dell", "{got}");
    assert_eq!(got["alternative_images"][&image]["selection_criteria"]["host_hardware_spec"]["vendor"], "Dell Inc.");
    let (_, list) = s.send(Method::GET, &format!("{sw}/alternative-images"), &viewer, None).await;
    assert_eq!(list["alternative_images"][&image]["display_name"], "dell", "{list}");
    let alt = format!("{sw}/alternative-images/{image}/software");
    let (_, comps) = s.send(Method::GET, &format!("{alt}/components"), &viewer, None).await;
    assert_eq!(comps, json!({}));
    let (_, comps) = s.send(Method::GET, &format!("{sw}/components"), &viewer, None).await;
    assert!(comps.get(&p.component.0).is_some(), "{comps}");
    let (st, eff) = s.send(Method::GET, &format!("{alt}/effective-components"), &viewer, None).await;
    assert_eq!(st, 200, "{eff}");
    assert!(eff.as_object().unwrap().values().any(|c| c["details"]["source"] == "ADD_ON"), "{eff}");
    let exported = export_spec_json(&s, &t, &alt, &viewer).await;
    assert_eq!(exported["base_image"]["version"], p.high.to_string());
    assert!(exported["components"].get(&p.component.0).is_none(), "{exported}");

    // The cluster's export: with its alternative images unless only the default is asked for.
    for only_default in [false, true] {
        let body = json!({"export_software_spec": true, "export_offline_bundle": true, "export_iso_image": false,
            "export_only_default_image": only_default});
        let (st, urls) = s.send(Method::POST, &format!("{sw}?action=export"), &t, Some(body)).await;
        assert_eq!(st, 200, "{urls}");
        let get =
            |kind: &str| s.client.get(urls[kind].as_str().unwrap()).header("vmware-api-session-id", &viewer).send();
        let exported: Value = get("SOFTWARE_SPEC").await.unwrap().json().await.unwrap();
        assert_eq!(exported["alternative_images"].get(&image).is_some(), !only_default, "{exported}");
        let zip = dir.path().join(format!("export-{only_default}.zip"));
        std::fs::write(&zip, get("OFFLINE_BUNDLE").await.unwrap().bytes().await.unwrap()).unwrap();
        let depot = Depot::open_path(&zip, &OpenOptions::default()).unwrap();
        let profiles: Vec<String> =
            depot.metadata.iter().flat_map(|m| m.archive.profiles.iter().map(|p| p.name.clone())).collect();
        if only_default {
            assert_eq!(profiles.len(), 1, "{profiles:?}");
        } else {
            assert_eq!(profiles.len(), 2, "{profiles:?}");
            assert!(profiles.iter().any(|n| n.ends_with(&format!("-custom-{image}"))), "{profiles:?}");
        }
        // The bundle holds every image's components; the default image's user component too.
        let catalog = Catalog::from_depots([depot]).unwrap();
        assert!(!catalog.component_versions(&p.component.0).is_empty());
    }
    s.stop().await;
}

/// Solutions change the desired image directly: each set, update or delete is validated
/// and committed (the task's result is the commit); a broken one commits nothing. The
/// default image is the main image without its alternatives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solutions_are_committed_and_the_default_image_is_the_main_one() {
    let ImageServer { dir: _dir, p, s, t, viewer, .. } = image_server().await;
    let (_, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "vsan"}))).await;
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());
    let vsan = json!({"version": "8.0.3", "components": [{"component": p.component.0}]});
    // No desired image yet: nothing to change.
    let info = s.rest_task(Method::PUT, &format!("{sw}/solutions/vsan"), &t, Some(vsan.clone())).await;
    assert_eq!(info["error"]["error_type"], "NOT_ALLOWED_IN_CURRENT_STATE", "{info}");

    let (_, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    for (path, body) in [
        ("software/base-image", json!({"version": p.high.to_string()})),
        ("software/add-on", json!({"name": p.addon.0, "version": p.addon.1.to_string()})),
        ("display-name", json!({"display_name": "vsan image"})),
    ] {
        let (st, e) = s.send(Method::PUT, &format!("{d}/{path}"), &t, Some(body)).await;
        assert_eq!(st, 204, "{path}: {e}");
    }
    let body = json!({"display_name": "lab hosts"});
    let (_, image) = s.send(Method::POST, &format!("{d}/software/alternative-images"), &t, Some(body)).await;
    let image = image.as_str().unwrap().to_owned();
    let uuids = json!({"selection_type": "HOST_UUID", "host_uuids": ["4c4c4544-0000-0000-0000-000000000001"]});
    let alt = format!("{d}/software/alternative-images/{image}/selection-criteria");
    let (st, e) = s.send(Method::PUT, &alt, &t, Some(uuids)).await;
    assert_eq!(st, 204, "{e}");
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let first = info["result"].as_str().unwrap().to_owned();

    // The default image: the main image, without the alternatives.
    let all = s.get_json(&sw, &viewer).await;
    assert!(all["alternative_images"].get(&image).is_some(), "{all}");
    let default = s.get_json(&format!("{sw}?image=default"), &viewer).await;
    let mut main = all.clone();
    main.as_object_mut().unwrap().remove("alternative_images");
    assert_eq!(default, main);

    // Set: a new commit, the solution's component comes from the solution.
    let (st, _) = s.send(Method::PUT, &format!("{sw}/solutions/vsan?vmw-task=true"), &viewer, Some(vsan.clone())).await;
    assert_eq!(st, 403);
    let info = s.rest_task(Method::PUT, &format!("{sw}/solutions/vsan"), &t, Some(vsan.clone())).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let second = info["result"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(s.get_json(&format!("{sw}/solutions/vsan"), &viewer).await, vsan);
    let c = s.get_json(&format!("{sw}/commits/{second}"), &viewer).await;
    assert_eq!((c["author"].as_str(), c["description"].as_str()), (Some(ADMIN.0), Some("solution 'vsan' set")));
    let eff = s.get_json(&format!("{sw}/effective-components"), &viewer).await;
    assert_eq!(eff[&p.component.0]["details"]["source"], "SOLUTION", "{eff}");
    let (_, name) = s.send(Method::GET, &format!("{sw}/display-name"), &viewer, None).await;
    assert_eq!(name["display_name"], "vsan image", "the commit keeps the image's name");

    // A solution whose component no depot has: refused with the solver's error, nothing committed.
    let broken = json!({"version": "1.0", "components": [{"component": "no-such-component"}]});
    let info = s.rest_task(Method::PUT, &format!("{sw}/solutions/nsx"), &t, Some(broken)).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    assert!(info["error"].to_string().contains("no-such-component"), "{info}");
    let (_, solutions) = s.send(Method::GET, &format!("{sw}/solutions"), &viewer, None).await;
    assert_eq!(solutions.as_object().unwrap().keys().collect::<Vec<_>>(), ["vsan"]);

    // Update: several at once, the others stay.
    let nsx = json!({"version": "4.2", "components": []});
    let info =
        s.rest_task(Method::PATCH, &format!("{sw}/solutions"), &t, Some(json!({"solutions": {"nsx": nsx}}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, solutions) = s.send(Method::GET, &format!("{sw}/solutions"), &viewer, None).await;
    assert_eq!(solutions, json!({"nsx": nsx, "vsan": vsan}));

    // Delete, then delete again: not found.
    let info = s.rest_task(Method::DELETE, &format!("{sw}/solutions/vsan"), &t, None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (st, e) = s.send(Method::GET, &format!("{sw}/solutions/vsan"), &viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    let info = s.rest_task(Method::DELETE, &format!("{sw}/solutions/vsan"), &t, None).await;
    assert_eq!(info["error"]["error_type"], "NOT_FOUND", "{info}");

    // A standalone host's image, the same way.
    let (_, host) = s.send(Method::POST, "/api/esxlcm/hosts", &t, Some(json!({"name": "edge-9"}))).await;
    let hsw = format!("/api/esx/settings/hosts/{}/software", host.as_str().unwrap());
    let (_, draft) = s.send(Method::POST, &format!("{hsw}/drafts"), &t, None).await;
    let hd = format!("{hsw}/drafts/{}", draft.as_str().unwrap());
    let (st, e) = s
        .send(Method::PUT, &format!("{hd}/software/base-image"), &t, Some(json!({"version": p.high.to_string()})))
        .await;
    assert_eq!(st, 204, "{e}");
    let info = s.run_task(&t, &format!("{hd}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let info = s.rest_task(Method::PUT, &format!("{hsw}/solutions/nsx"), &t, Some(nsx.clone())).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(s.get_json(&format!("{hsw}/solutions/nsx"), &viewer).await, nsx);
    let info = s.rest_task(Method::DELETE, &format!("{hsw}/solutions/nsx"), &t, None).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(s.get_json(&format!("{hsw}/solutions"), &viewer).await, json!({}));
    s.stop().await;
}
