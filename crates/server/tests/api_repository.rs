//! The image library (`esx.settings.repository.software`) over REST: a library draft is
//! composed (a real dependency error, fixed), named and committed as a spec; specs are
//! listed, checked for matches, renamed, edited (a concurrent edit refused), copied,
//! exported and deleted (refused while a draft edits it). State survives a restart and
//! JSON-RPC answers too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, start_on};
use crate::image_support::{EDITOR, ImageServer, image_server};
use esxlcm_solver::notification::ids;
use reqwest::Method;
use serde_json::{Value, json};

const LIB: &str = "/api/esx/settings/repository/software";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_library_workflow_over_rest() {
    let ImageServer { dir: _dir, data, p, s, t, viewer, .. } = image_server().await;
    let t2 = s.rest_login(EDITOR.0, EDITOR.1).await;

    let (st, list) = s.send(Method::GET, LIB, &viewer, None).await;
    assert_eq!((st, list), (200, json!({"records": []})));

    // One library draft per user; `delete_existing_draft` replaces it.
    let drafts = format!("{LIB}/drafts");
    let (st, first) = s.send(Method::POST, &drafts, &t, Some(json!({}))).await;
    assert_eq!(st, 201, "{first}");
    let (st, e) = s.send(Method::POST, &drafts, &t, Some(json!({}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("ALREADY_EXISTS")), "{e}");
    let (st, draft) = s.send(Method::POST, &drafts, &t, Some(json!({"delete_existing_draft": true}))).await;
    assert_eq!(st, 201, "{draft}");
    let draft = draft.as_str().unwrap().to_owned();
    let (st, _) = s.send(Method::GET, &format!("{drafts}/{}", first.as_str().unwrap()), &t, None).await;
    assert_eq!(st, 404);

    // Composed with a dependency error, refused, fixed.
    let d = format!("{drafts}/{draft}");
    let (st, _) =
        s.send(Method::PUT, &format!("{d}/base-image"), &t, Some(json!({"version": p.low.to_string()}))).await;
    assert_eq!(st, 204);
    let add_on = json!({"name": p.addon.0, "version": p.addon.1.to_string()});
    let (st, _) = s.send(Method::PUT, &format!("{d}/add-on"), &t, Some(add_on)).await;
    assert_eq!(st, 204);
    let comp = format!("{d}/components/{}", p.component.0);
    let (st, _) = s.send(Method::PUT, &comp, &t, Some(json!(p.component.1.to_string()))).await;
    assert_eq!(st, 204);
    let (st, e) = s.send(Method::DELETE, &format!("{d}/add-on"), &t2, None).await;
    assert_eq!((st, e["error_type"].as_str()), (409, Some("CONCURRENT_CHANGE")), "{e}");
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    let errors = info["result"]["notifications"]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|n| n["id"] == ids::DEPENDENCY_UNMET), "{errors:#?}");
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    let (st, _) =
        s.send(Method::PUT, &format!("{d}/base-image"), &t, Some(json!({"version": p.high.to_string()}))).await;
    assert_eq!(st, 204);
    // Valid, but a library spec needs a name.
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["error"]["error_type"], "INVALID_ARGUMENT", "{info}");
    assert!(info["error"]["messages"][0]["default_message"].as_str().unwrap().contains("display name"), "{info}");
    let (st, _) = s.send(Method::PUT, &format!("{d}/display-name"), &t, Some(json!({"display_name": "gold"}))).await;
    assert_eq!(st, 204);
    let (_, got) = s.send(Method::GET, &d, &viewer, None).await;
    assert_eq!(got["display_name"], "gold", "{got}");
    assert_eq!(got["software_info"]["base_image"]["version"], p.high.to_string());
    let (_, list) = s.send(Method::GET, &format!("{drafts}?owners={}", EDITOR.0), &viewer, None).await;
    assert_eq!(list, json!({}));
    let (_, list) = s.send(Method::GET, &format!("{drafts}?owners={}", ADMIN.0), &viewer, None).await;
    assert_eq!(list[&draft]["metadata"]["owner"], ADMIN.0, "{list}");
    let (_, eff) = s.send(Method::GET, &format!("{d}/effective-components"), &viewer, None).await;
    assert_eq!(eff[&p.component.0]["details"]["source"], "USER", "{eff}");

    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "first"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let gold = info["result"].as_str().unwrap().to_owned();
    assert_eq!(got["software_spec"], gold.as_str(), "the draft named the spec id its commit creates");
    let (st, _) = s.send(Method::GET, &d, &t, None).await;
    assert_eq!(st, 404, "a committed draft is gone");

    // The library lists and describes it.
    let (_, list) = s.send(Method::GET, LIB, &viewer, None).await;
    let records = list["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{list}");
    assert_eq!((records[0]["id"].as_str(), records[0]["display_name"].as_str()), (Some(gold.as_str()), Some("gold")));
    assert_eq!(records[0]["type"], "SINGLE");
    assert_eq!(records[0]["software_spec"]["base_image"]["version"], p.high.to_string());
    assert_eq!(records[0]["software_spec"]["components"][&p.component.0], p.component.1.to_string());
    let (st, info) = s.send(Method::GET, &format!("{LIB}/{gold}"), &viewer, None).await;
    assert_eq!(st, 200, "{info}");
    assert_eq!(info["software_info"]["add_on"]["name"], p.addon.0);
    assert_eq!(info["assigned_entities"], json!({"clusters": [], "hosts": []}));
    let (_, eff) = s.send(Method::GET, &format!("{LIB}/{gold}/effective-components"), &viewer, None).await;
    assert!(eff.as_object().unwrap().values().any(|c| c["details"]["source"] == "ADD_ON"), "{eff}");

    // Matches by name and by content.
    let content = records[0]["software_spec"].clone();
    let check = format!("{LIB}?action=check-repository");
    let (st, m) = s.send(Method::POST, &check, &viewer, Some(json!({"display_name": "gold"}))).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["matches"][0]["match_types"], json!(["NAME_MATCH"]), "{m}");
    let (_, m) = s.send(Method::POST, &check, &viewer, Some(json!({"software_spec": content}))).await;
    assert_eq!(m["matches"][0]["match_types"], json!(["SOFTWARE_SPEC_MATCH"]), "{m}");
    assert_eq!(m["matches"][0]["record"]["id"], gold.as_str());
    let (_, m) = s.send(Method::POST, &check, &viewer, Some(json!({"display_name": "lead"}))).await;
    assert_eq!(m["matches"], json!([]));

    // Two editors of the same spec: the second commit is refused.
    let (st, e1) = s.send(Method::POST, &format!("{LIB}/{gold}?action=edit"), &t, Some(json!({}))).await;
    assert_eq!(st, 200, "{e1}");
    let (_, e2) = s.send(Method::POST, &format!("{LIB}/{gold}?action=edit"), &t2, Some(json!({}))).await;
    let e1 = format!("{drafts}/{}", e1.as_str().unwrap());
    let e2 = format!("{drafts}/{}", e2.as_str().unwrap());
    let (_, got) = s.send(Method::GET, &e1, &t, None).await;
    assert_eq!((got["software_spec"].as_str(), got["display_name"].as_str()), (Some(gold.as_str()), Some("gold")));
    let (st, _) = s.send(Method::PUT, &format!("{e1}/display-name"), &t, Some(json!({"display_name": "gold 2"}))).await;
    assert_eq!(st, 204);
    let (st, e) = s.send(Method::DELETE, &format!("{LIB}/{gold}"), &t, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("RESOURCE_IN_USE")), "{e}");
    let info = s.run_task(&t, &format!("{e1}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(info["result"], gold.as_str(), "an edit commits to the same spec");
    let (_, info) = s.send(Method::GET, &format!("{LIB}/{gold}"), &viewer, None).await;
    assert_eq!(info["display_name"], "gold 2");
    let info = s.run_task(&t2, &format!("{e2}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["error"]["error_type"], "CONCURRENT_CHANGE", "{info}");
    let (st, _) = s.send(Method::DELETE, &e2, &t2, None).await;
    assert_eq!(st, 204);

    // Renamed; names stay unique.
    let (st, e) = s.send(Method::PATCH, &format!("{LIB}/{gold}"), &t, Some(json!({"display_name": "platinum"}))).await;
    assert_eq!(st, 204, "{e}");
    let (_, info) = s.send(Method::GET, &format!("{LIB}/{gold}"), &viewer, None).await;
    assert_eq!(info["display_name"], "platinum");
    let (_, copy) = s.send(Method::POST, &format!("{LIB}/{gold}?action=copy"), &t2, Some(json!({}))).await;
    let c = format!("{drafts}/{}", copy.as_str().unwrap());
    let (_, got) = s.send(Method::GET, &c, &t2, None).await;
    assert_eq!(got["display_name"], "platinum (copy)", "{got}");
    let info = s.run_task(&t2, &format!("{c}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let copied = info["result"].as_str().unwrap().to_owned();
    assert_ne!(copied, gold);
    let (st, e) =
        s.send(Method::PATCH, &format!("{LIB}/{copied}"), &t, Some(json!({"display_name": "platinum"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let (_, list) = s.send(Method::GET, &format!("{LIB}?display_names=platinum"), &viewer, None).await;
    assert_eq!(list["records"].as_array().unwrap().len(), 1, "{list}");

    // Imported into the library.
    let imported = json!({"base_image": {"version": p.low.to_string()}}).to_string();
    let body = json!({"source_type": "JSON_STRING", "software_spec": imported, "display_name": "legacy"});
    let (st, imp) = s.send(Method::POST, &format!("{drafts}?action=import-software-spec"), &t, Some(body)).await;
    assert_eq!(st, 200, "{imp}");
    let info = s.run_task(&t, &format!("{drafts}/{}?action=commit", imp.as_str().unwrap()), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let legacy = info["result"].as_str().unwrap().to_owned();

    // Export a library spec.
    let body = json!({"export_software_spec": true, "export_offline_bundle": false, "export_iso_image": false,
        "export_only_default_image": true});
    let (st, urls) = s.send(Method::POST, &format!("{LIB}/{legacy}?action=export"), &t, Some(body)).await;
    assert_eq!(st, 200, "{urls}");
    let r = s.client.get(urls["SOFTWARE_SPEC"].as_str().unwrap()).header("vmware-api-session-id", &viewer).send();
    let exported: Value = r.await.unwrap().json().await.unwrap();
    assert_eq!(exported["base_image"]["version"], p.low.to_string());

    // Deleted; the rest survives a restart and answers in JSON-RPC.
    let (st, _) = s.send(Method::DELETE, &format!("{LIB}/{legacy}"), &viewer, None).await;
    assert_eq!(st, 403);
    let (st, _) = s.send(Method::DELETE, &format!("{LIB}/{legacy}"), &t, None).await;
    assert_eq!(st, 204);
    let (st, _) = s.send(Method::GET, &format!("{LIB}/{legacy}"), &t, None).await;
    assert_eq!(st, 404);
    s.stop().await;
    let s = start_on(&data).await;
    let rpc = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s.rpc_s(&rpc, "com.vmware.esx.settings.repository.software", "get", json!({"software_spec": gold})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.repository.software.info"];
    assert_eq!(info["display_name"], "platinum", "{r}");
    s.stop().await;
}

/// A library spec with an alternative image: created as a copy of the main image, its own
/// components, refused by validation until it has selection criteria, then committed as a
/// COMPOSITE spec whose alternative resolves on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_spec_with_an_alternative_image() {
    let ImageServer { dir: _dir, p, s, t, viewer, .. } = image_server().await;

    let (_, draft) = s.send(Method::POST, &format!("{LIB}/drafts"), &t, Some(json!({}))).await;
    let d = format!("{LIB}/drafts/{}", draft.as_str().unwrap());
    let alts = format!("{d}/alternative-images");
    let (st, e) = s.send(Method::POST, &alts, &t, Some(json!({"display_name": "dell"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "no base image yet: {e}");
    for (path, body) in [
        ("base-image", json!({"version": p.high.to_string()})),
        ("add-on", json!({"name": p.addon.0, "version": p.addon.1.to_string()})),
        ("display-name", json!({"display_name": "multi"})),
    ] {
        let (st, e) = s.send(Method::PUT, &format!("{d}/{path}"), &t, Some(body)).await;
        assert_eq!(st, 204, "{path}: {e}");
    }
    let (st, _) = s
        .send(Method::PUT, &format!("{d}/components/{}", p.component.0), &t, Some(json!(p.component.1.to_string())))
        .await;
    assert_eq!(st, 204);

    let (st, image) = s.send(Method::POST, &alts, &t, Some(json!({"display_name": "dell"}))).await;
    assert_eq!(st, 201, "{image}");
    let image = image.as_str().unwrap().to_owned();
    let a = format!("{alts}/{image}");
    let (_, list) = s.send(Method::GET, &alts, &viewer, None).await;
    assert_eq!(list["alternative_images"][&image]["display_name"], "dell", "{list}");
    let (_, got) = s.send(Method::GET, &a, &viewer, None).await;
    assert_eq!(got["selection_criteria"]["selection_type"], "UNKNOWN", "{got}");
    assert_eq!(got["base_image"]["version"], p.high.to_string());
    assert_eq!(got["components"][&p.component.0]["version"], p.component.1.to_string(), "a copy of the main image");

    // Its own components: the main image keeps the one the alternative drops.
    let (st, e) = s.send(Method::DELETE, &format!("{a}/components/{}", p.component.0), &t, None).await;
    assert_eq!(st, 204, "{e}");
    let (_, comps) = s.send(Method::GET, &format!("{a}/components"), &viewer, None).await;
    assert_eq!(comps, json!({}));
    let (_, comps) = s.send(Method::GET, &format!("{d}/components"), &viewer, None).await;
    assert!(comps.get(&p.component.0).is_some(), "{comps}");
    let (_, eff) = s.send(Method::GET, &format!("{a}/effective-components"), &viewer, None).await;
    assert!(eff.as_object().unwrap().values().all(|c| c["details"]["source"] != "USER"), "{eff}");

    // No selection criteria: no host would get it.
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    let errors = info["result"]["notifications"]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|n| n["id"] == ids::ALTERNATIVE_IMAGE_INVALID), "{errors:#?}");
    let criteria = format!("{a}/selection-criteria");
    let (st, e) = s.send(Method::PUT, &criteria, &t, Some(json!({"selection_type": "UNKNOWN"}))).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let dell = json!({"selection_type": "HOST_HARDWARE_SPEC",
        "host_hardware_spec": {"vendor": "Dell Inc.", "models": ["PowerEdge R650"]}});
    let (st, e) = s.send(Method::PUT, &criteria, &t, Some(dell)).await;
    assert_eq!(st, 204, "{e}");
    let (_, got) = s.send(Method::GET, &criteria, &viewer, None).await;
    assert_eq!(got["host_hardware_spec"]["models"], json!(["PowerEdge R650"]), "{got}");
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["result"]["notifications"]["errors"], json!([]), "{info}");

    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let spec = info["result"].as_str().unwrap().to_owned();
    let (_, got) = s.send(Method::GET, &format!("{LIB}/{spec}"), &viewer, None).await;
    assert_eq!(got["type"], "COMPOSITE", "{got}");
    assert_eq!(got["software_info"]["alternative_images"][&image]["display_name"], "dell");
    let stored = &got["software_spec"]["alternative_images"][&image];
    assert_eq!(stored["selection_criteria"]["selection_type"], "HOST_HARDWARE_SPEC", "{got}");
    let path = format!("{LIB}/{spec}/alternative-images/{image}/effective-components");
    let (st, eff) = s.send(Method::GET, &path, &viewer, None).await;
    assert_eq!(st, 200, "{eff}");
    assert!(eff.as_object().unwrap().values().any(|c| c["details"]["source"] == "ADD_ON"), "{eff}");
    assert!(eff.get(&p.component.0).is_none_or(|c| c["details"]["source"] != "USER"), "{eff}");

    // Removed again in an edit.
    let (_, edit) = s.send(Method::POST, &format!("{LIB}/{spec}?action=edit"), &t, Some(json!({}))).await;
    let e = format!("{LIB}/drafts/{}", edit.as_str().unwrap());
    let (st, _) = s.send(Method::DELETE, &format!("{e}/alternative-images/{image}"), &t, None).await;
    assert_eq!(st, 204);
    let info = s.run_task(&t, &format!("{e}?action=commit"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, got) = s.send(Method::GET, &format!("{LIB}/{spec}"), &viewer, None).await;
    assert_eq!(got["type"], "SINGLE", "{got}");
    s.stop().await;
}
