//! Offline depots as tasks (PULL from a path, PUSH through the upload endpoint), polled
//! through cis.tasks, and the depot content computed from them, in both dialects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use crate::api_support::{ADMIN, VIEWER, rpc_error, start_on};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use reqwest::Method;
use serde_json::{Value, json};

fn bundle(dir: &Path, seed: u64) -> std::path::PathBuf {
    let path = dir.join(format!("bundle-{seed}.zip"));
    generate_to_bundle(&GeneratorConfig::tiny(seed), &path).unwrap();
    path
}

/// What the bundle holds, read directly: (base image versions, add-on names, component names).
fn expected(path: &Path) -> (Vec<String>, BTreeSet<String>, BTreeSet<String>) {
    let catalog = Catalog::from_depots([Depot::open_path(path, &OpenOptions::default()).unwrap()]).unwrap();
    let mut bases: Vec<_> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    bases.sort();
    let addons = catalog.release_units(ReleaseKind::Addon).filter_map(|u| u.name.clone()).collect();
    let comps = catalog.components().filter_map(|c| c.bulletin.component.as_ref().map(|s| s.name.clone())).collect();
    (bases.iter().map(ToString::to_string).collect(), addons, comps)
}

fn create_spec(fields: Value) -> Value {
    json!({"spec": {"STRUCTURE": {"com.vmware.esx.settings.depots.offline.create_spec": fields}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_pull_task_then_depot_content() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path(), 7);
    let (bases, addons, comps) = expected(&bundle);
    assert!(!bases.is_empty() && !addons.is_empty() && !comps.is_empty());
    let s = start_on(&dir.path().join("data")).await;
    let t = s.rpc_login(ADMIN.0, ADMIN.1).await;

    // The captured create$task shape, with a plain path as the location.
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depots.offline",
            "create$task",
            create_spec(json!({"authentication_spec": {"OPTIONAL": null}, "description": {"OPTIONAL": "tiny"},
                "source_type": "PULL", "location": {"OPTIONAL": bundle.to_str().unwrap()},
                "file_id": {"OPTIONAL": null}, "ownerdata": {"OPTIONAL": null}})),
        )
        .await;
    let task = r["result"]["output"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned();
    assert!(task.ends_with(":com.vmware.esx.settings.depots.offline"));
    let (info, progress) = s.rpc_wait_task(&t, &task).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(info["operation"], "create");
    assert_eq!(info["cancelable"], false);
    assert!(info["start_time"]["OPTIONAL"].as_str().unwrap().ends_with('Z'));
    assert!(info["end_time"]["OPTIONAL"].as_str().unwrap().ends_with('Z'));
    assert_eq!(info["user"], json!({"OPTIONAL": ADMIN.0}));
    let p = &info["progress"]["OPTIONAL"]["STRUCTURE"]["com.vmware.cis.task.progress"];
    assert_eq!((p["total"].as_i64(), p["completed"].as_i64()), (Some(100), Some(100)));
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress never goes back: {progress:?}");
    let depot =
        info["result"]["OPTIONAL"]["STRUCTURE"]["com.vmware.esx.settings.depots.offline.create_result"]["depot"]
            .as_str()
            .unwrap()
            .to_owned();

    // list / get.
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "list", json!({})).await;
    let entry = &r["result"]["output"][0]["STRUCTURE"]["map-entry"];
    assert_eq!(entry["key"], json!(depot));
    let summary = &entry["value"]["STRUCTURE"]["com.vmware.esx.settings.depots.offline.summary"];
    assert_eq!(summary["source_type"], "PULL");
    assert_eq!(summary["location"], json!({"OPTIONAL": bundle.to_str().unwrap()}));
    assert_eq!(summary["file_id"], json!({"OPTIONAL": null}), "union: PUSH fields unset for PULL");
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "get", json!({"depot": depot})).await;
    let got = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.depots.offline.info"];
    assert_eq!(got["description"], "tiny");
    assert!(got["create_time"].as_str().unwrap().ends_with('Z'));

    // Content of the depot.
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline.content", "get", json!({"depot": depot})).await;
    let info = &r["result"]["output"]["STRUCTURE"]["com.vmware.esx.settings.depots.offline.content.info"];
    let bundles = info["metadata_bundles"].as_array().unwrap();
    assert!(!bundles.is_empty(), "{r}");

    // depot_content over JSON-RPC: base images in version order.
    let r = s
        .rpc_s(&t, "com.vmware.esx.settings.depot_content.base_images", "list", json!({"filter": {"OPTIONAL": null}}))
        .await;
    let got: Vec<String> = r["result"]["output"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|b| {
            b["STRUCTURE"]["com.vmware.esx.settings.depot_content.base_images.summary"]["version"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(got, bases);

    // min_version filter.
    let last = bases.last().unwrap().clone();
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depot_content.base_images",
            "list",
            json!({"filter": {"OPTIONAL": {"STRUCTURE": {"com.vmware.esx.settings.depot_content.base_images.filter_spec":
                {"min_version": {"OPTIONAL": last}}}}}}),
        )
        .await;
    assert_eq!(r["result"]["output"].as_array().unwrap().len(), 1);

    // REST: add-ons and components, with filters as query parameters.
    let list: Value = s.get_json("/api/esx/settings/depot-content/add-ons", &t).await;
    let names: BTreeSet<String> =
        list.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, addons);

    let list: Value = s.get_json("/api/esx/settings/depot-content/components", &t).await;
    let names: BTreeSet<String> =
        list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, comps);
    let esxi = list.as_array().unwrap().iter().find(|c| c["name"] == "ESXi").unwrap();
    assert!(esxi["versions"].as_array().unwrap().len() >= 2, "ESXi has a version per base image: {esxi}");
    assert!(esxi["versions"][0]["release_date"].as_str().unwrap().ends_with('Z'));

    // A repeated question is answered from memory, encodings included: the same body in
    // REST, and in JSON-RPC the same output under each request's own id.
    let again: Value = s.get_json("/api/esx/settings/depot-content/components", &t).await;
    assert_eq!(again, list);
    let rpc_list = |id: &str| {
        json!({"jsonrpc": "2.0", "method": "invoke", "id": id, "params": {
            "serviceId": "com.vmware.esx.settings.depot_content.components", "operationId": "list",
            "input": {"STRUCTURE": {"operation-input": {}}},
            "ctx": {"securityCtx": {"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": t.clone()}}}})
    };
    let (first, second) = (s.rpc_raw(&rpc_list("first")).await, s.rpc_raw(&rpc_list("second")).await);
    assert_eq!((first["id"].as_str(), second["id"].as_str()), (Some("first"), Some("second")));
    assert_eq!(first["result"], second["result"]);
    assert_eq!(first["result"]["output"].as_array().map(Vec::len), Some(comps.len()), "{first}");
    // The vAPI encoding, not the REST body kept beside it.
    assert!(first["result"]["output"][0].get("STRUCTURE").is_some(), "{first}");

    let one = comps.iter().next().unwrap();
    let (status, filtered) = s
        .send(Method::GET, &format!("/api/esx/settings/depot-content/components?names={one}&bundle_types=BASE_IMAGE&bundle_types=INDEPENDENT&bundle_types=ADD_ON"), &t, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["name"], json!(one));

    // Only add-on components when asked for ADD_ON.
    let addon_only: Value = s.get_json("/api/esx/settings/depot-content/components?bundle_types=ADD_ON", &t).await;
    let n = addon_only.as_array().unwrap().len();
    assert!(n > 0 && n < comps.len(), "{n} of {}", comps.len());

    // versions.get of one component and base image, and NotFound / InvalidArgument.
    let v = esxi["versions"][0]["version"].as_str().unwrap();
    let (status, got) =
        s.send(Method::GET, &format!("/api/esx/settings/depot-content/components/ESXi/versions/{v}"), &t, None).await;
    assert_eq!(status, 200);
    assert!(got["display_version"].is_string());
    let (status, got) =
        s.send(Method::GET, &format!("/api/esx/settings/depot-content/base-images/versions/{last}"), &t, None).await;
    assert_eq!(status, 200);
    assert!(!got["components"].as_array().unwrap().is_empty());
    let (status, e) =
        s.send(Method::GET, "/api/esx/settings/depot-content/components/ESXi/versions/1.0-1", &t, None).await;
    assert_eq!(status, 404);
    assert_eq!(e["error_type"], "NOT_FOUND");
    let (status, e) =
        s.send(Method::GET, "/api/esx/settings/depot-content/base-images?min_version=8.0%201", &t, None).await;
    assert_eq!(status, 400, "{e}");

    // The same bundle again: the task fails with AlreadyExists naming the depot.
    let r = s
        .rpc_s(
            &t,
            "com.vmware.esx.settings.depots.offline",
            "create$task",
            create_spec(
                json!({"source_type": "PULL", "location": {"OPTIONAL": format!("file://{}", bundle.display())}}),
            ),
        )
        .await;
    let task = r["result"]["output"].as_str().unwrap().to_owned();
    let (info, _) = s.rpc_wait_task(&t, &task).await;
    assert_eq!(info["status"], "FAILED");
    assert_eq!(info["result"], json!({"OPTIONAL": null}));
    let err = &info["error"]["OPTIONAL"]["ERROR"]["com.vmware.vapi.std.errors.already_exists"];
    assert_eq!(
        err["data"]["OPTIONAL"]["STRUCTURE"]["com.vmware.esx.settings.depots.offline.create_result"]["depot"],
        json!(depot)
    );

    // delete (sync) → gone, and the content with it.
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "delete", json!({"depot": depot})).await;
    assert_eq!(r["result"], json!({"output": null}), "{r}");
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depots.offline", "get", json!({"depot": depot})).await;
    rpc_error(&r, "not_found");
    let r = s.rpc_s(&t, "com.vmware.esx.settings.depot_content.components", "list", json!({})).await;
    assert_eq!(r["result"]["output"], json!([]));
    assert!(!dir.path().join("data/store/published").join(&depot).exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_push_through_upload_over_rest() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path(), 11);
    let s = start_on(&dir.path().join("data")).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;

    // Read-only users may not upload.
    let v = s.rest_login(VIEWER.0, VIEWER.1).await;
    let r = s.rest(Method::POST, "/vum-fileupload", &v).body(std::fs::read(&bundle).unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 403);

    let r = s.rest(Method::POST, "/vum-fileupload", &t).body(std::fs::read(&bundle).unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let file_id: String = r.json().await.unwrap();

    // Task-only create without vmw-task is not an operation.
    let (status, _) = s
        .send(
            Method::POST,
            "/api/esx/settings/depots/offline",
            &t,
            Some(json!({"source_type": "PUSH", "file_id": file_id})),
        )
        .await;
    assert_eq!(status, 404);

    let (status, task) = s
        .send(
            Method::POST,
            "/api/esx/settings/depots/offline?vmw-task=true",
            &t,
            Some(json!({"source_type": "PUSH", "file_id": file_id, "description": "pushed"})),
        )
        .await;
    assert_eq!(status, 202);
    let task = task.as_str().unwrap().to_owned();
    let mut info = Value::Null;
    for _ in 0..500 {
        info = s.get_json(&format!("/api/cis/tasks/{task}"), &t).await;
        if info["status"] == "SUCCEEDED" || info["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(info["progress"]["completed"], 100);
    let depot = info["result"]["depot"].as_str().unwrap().to_owned();

    let got: Value = s.get_json(&format!("/api/esx/settings/depots/offline/{depot}"), &t).await;
    assert_eq!(got["source_type"], "PUSH");
    assert_eq!(got["file_id"], json!(file_id));
    assert!(got.get("location").is_none(), "unset optionals are omitted in REST: {got}");

    // cis.tasks.list finds it by service.
    let tasks: Value = s.get_json("/api/cis/tasks?services=com.vmware.esx.settings.depots.offline", &t).await;
    assert!(tasks.get(&task).is_some(), "{tasks}");

    // A used upload id cannot be used again; a made-up one neither.
    for id in [file_id.as_str(), "0123abcd"] {
        let (_, task) = s
            .send(
                Method::POST,
                "/api/esx/settings/depots/offline?vmw-task=true",
                &t,
                Some(json!({"source_type": "PUSH", "file_id": id})),
            )
            .await;
        let (info, _) = s.rpc_wait_task(&t, task.as_str().unwrap()).await;
        assert_eq!(info["status"], "FAILED");
        assert!(
            info["error"]["OPTIONAL"]["ERROR"]["com.vmware.vapi.std.errors.invalid_argument"].is_object(),
            "{info}"
        );
    }

    // Not a bundle: the task fails with InvalidArgument and nothing is stored.
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").unwrap();
    let (_, task) = s
        .send(
            Method::POST,
            "/api/esx/settings/depots/offline?vmw-task=true",
            &t,
            Some(json!({"source_type": "PULL", "location": junk.to_str().unwrap()})),
        )
        .await;
    let (info, _) = s.rpc_wait_task(&t, task.as_str().unwrap()).await;
    assert_eq!(info["status"], "FAILED");
    let listed: Value = s.get_json("/api/esx/settings/depots/offline", &t).await;
    assert_eq!(listed.as_object().unwrap().len(), 1);

    // delete as a REST task.
    let (status, task) =
        s.send(Method::DELETE, &format!("/api/esx/settings/depots/offline/{depot}?vmw-task=true"), &t, None).await;
    assert_eq!(status, 202);
    let (info, _) = s.rpc_wait_task(&t, task.as_str().unwrap()).await;
    assert_eq!(info["status"], "SUCCEEDED");
    let (status, _) = s.send(Method::GET, &format!("/api/esx/settings/depots/offline/{depot}"), &t, None).await;
    assert_eq!(status, 404);
    s.stop().await;
}

/// `pull_roots` in config.json bounds where a local PULL reads; a PULL URL naming the
/// service itself is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_read_only_below_pull_roots_and_never_from_the_service_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_on(&data).await;
    s.stop().await;
    let allowed = dir.path().join("bundles");
    std::fs::create_dir(&allowed).unwrap();
    let inside = bundle(&allowed, 3);
    let outside = bundle(dir.path(), 4);
    let config_path = data.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["pull_roots"] = json!([allowed]);
    std::fs::write(&config_path, config.to_string()).unwrap();

    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let pull = |location: String| json!({"source_type": "PULL", "location": location});
    let info = s.run_task(&t, "/api/esx/settings/depots/offline", Some(pull(outside.display().to_string()))).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    assert_eq!(info["error"]["error_type"], "UNAUTHORIZED", "{info}");
    assert!(info["error"]["messages"][0]["default_message"].as_str().unwrap().contains("pull_roots"), "{info}");
    let info = s.run_task(&t, "/api/esx/settings/depots/offline", Some(pull(inside.display().to_string()))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");

    let itself = format!("{}/depots/x/bundle.zip", s.url("").trim_end_matches('/'));
    let info = s.run_task(&t, "/api/esx/settings/depots/offline", Some(pull(itself))).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    assert!(
        info["error"]["messages"][0]["default_message"].as_str().unwrap().contains("points back at this service"),
        "{info}"
    );
    s.stop().await;
}
