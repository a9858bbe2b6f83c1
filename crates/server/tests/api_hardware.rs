//! Hardware support packages over the API: what the depots' manifests offer
//! (`hardware_support.managers…`, REST and JSON-RPC), set in a cluster draft (checked
//! against the manifests), validated, committed and read back from the committed image;
//! in an alternative image and in a library draft too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, rpc_error, start_on};
use crate::image_support::import_depot;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use reqwest::Method;
use serde_json::{Value, json};

const HSM: &str = "/api/esx/settings/hardware-support/managers";

fn error_type(v: &Value) -> Option<&str> {
    v["error_type"].as_str()
}

fn message(v: &Value) -> &str {
    v["messages"][0]["default_message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_support_packages_from_manifests_to_committed_images() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("hsp.zip");
    generate_to_bundle(&GeneratorConfig { hardware_support: 2, ..GeneratorConfig::tiny(7) }, &bundle).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let mut bases: Vec<_> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    bases.sort();
    let (low, high) = (bases[0].to_string(), bases.last().unwrap().to_string());

    let s = start_on(&dir.path().join("data")).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    // No depot yet: no managers, and an unknown manager is not found.
    assert_eq!(s.get_json(HSM, &viewer).await, json!([]));
    let (st, e) = s.send(Method::GET, &format!("{HSM}/del-hsm/packages"), &viewer, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    import_depot(&s, &t, &bundle).await;

    // The depot's content names the managers and packages of its manifests.
    let depots = s.get_json("/api/esx/settings/depots/offline", &viewer).await;
    let depot = depots.as_object().unwrap().keys().next().unwrap().clone();
    let content = s.get_json(&format!("/api/esx/settings/depots/offline/{depot}/content"), &viewer).await;
    let bundle_info = &content["metadata_bundles"]["vmw"][0];
    assert_eq!(
        bundle_info["hardware_support"],
        json!({"del-hsm": {"display_name": "del-hsm",
            "packages": {"del-hsp": {"versions": [{"version": "1.0.0"}, {"version": "2.0.0"}]}}}}),
        "{content}"
    );
    assert!(bundle_info["independent_components"].get("DEL-fw").is_none(), "{content}");

    // What the manifests offer.
    let managers = s.get_json(HSM, &viewer).await;
    assert_eq!(managers.as_array().unwrap().len(), 1, "{managers}");
    assert_eq!(managers[0]["manager"], "del-hsm");
    assert_eq!(managers[0]["vendor"], "Dell");
    let pkgs = s.get_json(&format!("{HSM}/del-hsm/packages"), &viewer).await;
    let versions: Vec<&str> = pkgs.as_array().unwrap().iter().map(|p| p["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.0.0", "2.0.0"], "{pkgs}");
    assert_eq!(pkgs[1]["supported_releases"], json!(["8.0.3"]));
    // The filter keeps the packages that support a base image (tiny(7) has 8.0.1 … 8.0.3).
    let only = s.get_json(&format!("{HSM}/del-hsm/packages?base_image_version={low}"), &viewer).await;
    assert_eq!(only, json!([]), "8.0.1 has no hardware support package");
    let on_high = s.get_json(&format!("{HSM}/del-hsm/packages?base_image_version={high}"), &viewer).await;
    assert_eq!(on_high.as_array().unwrap().len(), 2, "{on_high}");
    let v2 = s.get_json(&format!("{HSM}/del-hsm/packages/del-hsp/versions/2.0.0"), &viewer).await;
    assert_eq!(v2["pkg"], "del-hsp");
    let fw = v2["components"].as_array().unwrap();
    assert_eq!(fw.len(), 1, "{v2}");
    assert_eq!(fw[0]["name"], "DEL-fw");
    assert_eq!(fw[0]["display_name"], "Dell firmware driver");
    let (st, e) = s.send(Method::GET, &format!("{HSM}/del-hsm/packages/del-hsp/versions/9.0.0"), &viewer, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");
    let (st, e) = s
        .send(Method::GET, &format!("{HSM}/del-hsm/packages/del-hsp/versions/2.0.0?base_image_version={low}"), &t, None)
        .await;
    assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
    assert!(message(&e).contains("supports 8.0.3"), "{e}");

    // The same over JSON-RPC.
    let session = s.rpc_login(VIEWER.0, VIEWER.1).await;
    let r = s.rpc_s(&session, "com.vmware.esx.settings.hardware_support.managers", "list", json!({})).await;
    let m = "com.vmware.esx.settings.hardware_support.managers.hardware_support_manager_info";
    assert_eq!(r["result"]["output"][0]["STRUCTURE"][m]["manager"], "del-hsm", "{r}");
    let r = s
        .rpc_s(
            &session,
            "com.vmware.esx.settings.hardware_support.managers.packages",
            "list",
            json!({"manager": "nope", "filter": {"OPTIONAL": null}}),
        )
        .await;
    rpc_error(&r, "not_found");

    // A cluster draft with the package: checked against the manifests.
    let (st, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "dell"}))).await;
    assert_eq!(st, 201, "{cluster}");
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());
    let (st, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!(st, 201, "{draft}");
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    let hw = format!("{d}/software/hardware-support");
    let (st, e) = s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(json!({"version": high}))).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&hw, &viewer).await, json!({"packages": {}}));
    for (packages, wanted) in [
        (json!({"hpe-hsm": {"pkg": "hpe-hsp", "version": "1.0.0"}}), "managers: del-hsm"),
        (json!({"del-hsm": {"pkg": "del-fw", "version": "1.0.0"}}), "its packages: del-hsp"),
        (json!({"del-hsm": {"pkg": "del-hsp", "version": "3.0.0"}}), "its versions: 1.0.0, 2.0.0"),
    ] {
        let (st, e) = s.send(Method::PUT, &hw, &t, Some(json!({"packages": packages}))).await;
        assert_eq!((st, error_type(&e)), (400, Some("INVALID_ARGUMENT")), "{e}");
        assert!(message(&e).contains(wanted), "{e}");
    }
    let (st, _) = s.send(Method::PUT, &hw, &viewer, Some(json!({"packages": {}}))).await;
    assert_eq!(st, 403);
    let package = json!({"packages": {"del-hsm": {"pkg": "del-hsp", "version": "2.0.0"}}});
    let (st, e) = s.send(Method::PUT, &hw, &t, Some(package.clone())).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&hw, &viewer).await, package);
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["result"]["notifications"]["errors"], json!([]), "{info}");
    let eff = s.get_json(&format!("{d}/software/effective-components"), &viewer).await;
    assert_eq!(eff["DEL-fw"]["details"]["source"], "HARDWARE_SUPPORT_PACKAGE", "{eff}");

    // An alternative image of the draft with the older package; delete empties it.
    let alts = format!("{d}/software/alternative-images");
    let (st, image) = s.send(Method::POST, &alts, &t, Some(json!({"display_name": "old firmware"}))).await;
    assert_eq!(st, 201, "{image}");
    let image = image.as_str().unwrap().to_owned();
    let alt_hw = format!("{alts}/{image}/software/hardware-support");
    assert_eq!(s.get_json(&alt_hw, &viewer).await, package, "copied from the main image");
    let older = json!({"packages": {"del-hsm": {"pkg": "del-hsp", "version": "1.0.0"}}});
    let (st, e) = s.send(Method::PUT, &alt_hw, &t, Some(older.clone())).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&alt_hw, &viewer).await, older);
    assert_eq!(s.get_json(&hw, &viewer).await, package, "the main image is unchanged");
    let older_hosts = json!({"selection_type": "HOST_HARDWARE_SPEC", "host_hardware_spec": {"vendor": "Dell Inc."}});
    let (st, e) = s.send(Method::PUT, &format!("{alts}/{image}/selection-criteria"), &t, Some(older_hosts)).await;
    assert_eq!(st, 204, "{e}");

    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "with HSP"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(s.get_json(&format!("{sw}/hardware-support"), &viewer).await, package);
    let got = s.get_json(&sw, &viewer).await;
    assert_eq!(got["hardware_support"], package, "{got}");
    assert_eq!(got["alternative_images"][&image]["hardware_support"], older, "{got}");
    let committed_alt = format!("{sw}/alternative-images/{image}/software/hardware-support");
    assert_eq!(s.get_json(&committed_alt, &viewer).await, older);

    // A new draft starts from the commit; deleting removes the packages, twice is not found.
    let (_, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    let hw = format!("{sw}/drafts/{}/software/hardware-support", draft.as_str().unwrap());
    assert_eq!(s.get_json(&hw, &viewer).await, package);
    let (st, e) = s.send(Method::DELETE, &hw, &t, None).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&hw, &viewer).await, json!({"packages": {}}));
    let (st, e) = s.send(Method::DELETE, &hw, &t, None).await;
    assert_eq!((st, error_type(&e)), (404, Some("NOT_FOUND")), "{e}");

    // The image library's drafts, through the same code.
    let lib = "/api/esx/settings/repository/software/drafts";
    let (st, ld) = s.send(Method::POST, lib, &t, Some(json!({}))).await;
    assert_eq!(st, 201, "{ld}");
    let ld = format!("{lib}/{}", ld.as_str().unwrap());
    let (st, e) = s.send(Method::PUT, &format!("{ld}/hardware-support"), &t, Some(older.clone())).await;
    assert_eq!(st, 204, "{e}");
    assert_eq!(s.get_json(&format!("{ld}/hardware-support"), &viewer).await, older);
    let (st, e) = s.send(Method::DELETE, &format!("{ld}/hardware-support"), &t, None).await;
    assert_eq!(st, 204, "{e}");
    s.stop().await;
}
