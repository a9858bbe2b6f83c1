//! Online depots made real: a generated depot tree served on loopback HTTP, registered
//! through the API, synced as a task, seen in depot content and online content, composed
//! into a cluster image that exports (VIBs fetched from the depot on demand); the synced
//! metadata survives a restart without the network; a depot that cannot be reached fails
//! the sync naming it (token redacted) and why; flush and the sync schedule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_support::{ADMIN, VIEWER, component_names, serve_depot_task, start_on, tree_depot};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_version::Version;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_depot_sync_content_image_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let (expected, comps) = tree_depot(&tree, 11);
    let high: Version = expected.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).max().unwrap();
    assert!(!comps.is_empty());

    let (port, stop_depot, depot_task) = serve_depot_task(&tree).await;
    let data = dir.path().join("data");
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    let online = "/api/esx/settings/depots/online";

    let location = format!("http://127.0.0.1:{port}/index.xml");
    let (st, id) =
        s.send(Method::POST, online, &t, Some(json!({"location": location, "description": "loopback"}))).await;
    assert_eq!(st, 201, "{id}");
    let id = id.as_str().unwrap().to_owned();

    // Nothing fetched yet: no content, and the catalog is empty.
    let (st, e) = s.send(Method::GET, &format!("{online}/{id}/content"), &viewer, None).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("NOT_ALLOWED_IN_CURRENT_STATE")), "{e}");
    let (_, list) = s.send(Method::GET, "/api/esx/settings/depot-content/components", &viewer, None).await;
    assert_eq!(list, json!([]));

    // Only administrators sync.
    let (st, _) = s.send(Method::POST, "/api/esx/settings/depots?action=sync&vmw-task=true", &viewer, None).await;
    assert_eq!(st, 403);
    let (info, progress) =
        s.rest_task_progress(Method::POST, "/api/esx/settings/depots?action=sync", &t, Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    assert_eq!(info["operation"], "sync");
    assert_eq!(info["progress"]["completed"], 100, "{info}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");

    // Its components, base images and add-ons are depot content now.
    let (st, list) = s.send(Method::GET, "/api/esx/settings/depot-content/components", &viewer, None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(component_names(&list), comps);
    let (_, bases) = s.send(Method::GET, "/api/esx/settings/depot-content/base-images", &viewer, None).await;
    assert!(bases.as_array().unwrap().iter().any(|b| b["version"] == high.to_string()), "{bases}");
    let (st, content) = s.send(Method::GET, &format!("{online}/{id}/content"), &viewer, None).await;
    assert_eq!(st, 200, "{content}");
    let bundles = content["metadata_bundles"].as_object().unwrap();
    assert!(!bundles.is_empty(), "{content}");
    assert!(
        bundles.values().flat_map(|v| v.as_array().unwrap()).any(|m| !m["base_images"].as_array().unwrap().is_empty())
    );

    // A cluster image from the online depot: draft, validate, commit, export (VIBs fetched
    // from the depot server now, since only metadata was synced).
    let (st, cluster) = s.send(Method::POST, "/api/esxlcm/clusters", &t, Some(json!({"name": "edge"}))).await;
    assert_eq!(st, 201, "{cluster}");
    let sw = format!("/api/esx/settings/clusters/{}/software", cluster.as_str().unwrap());
    let (st, draft) = s.send(Method::POST, &format!("{sw}/drafts"), &t, None).await;
    assert_eq!(st, 201, "{draft}");
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    let (st, e) =
        s.send(Method::PUT, &format!("{d}/software/base-image"), &t, Some(json!({"version": high.to_string()}))).await;
    assert_eq!(st, 204, "{e}");
    let info = s.run_task(&t, &format!("{d}?action=validate"), None).await;
    assert_eq!(info["result"]["notifications"]["errors"], json!([]), "{info}");
    let info = s.run_task(&t, &format!("{d}?action=commit"), Some(json!({"message": "online"}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let body = json!({"export_software_spec": false, "export_offline_bundle": true, "export_iso_image": false});
    let (st, urls) = s.send(Method::POST, &format!("{sw}?action=export"), &t, Some(body)).await;
    assert_eq!(st, 200, "{urls}");
    let zip_url = urls["OFFLINE_BUNDLE"].as_str().unwrap();
    let bytes = s.client.get(zip_url).header("vmware-api-session-id", &t).send().await.unwrap().bytes().await.unwrap();
    let zip = dir.path().join("exported.zip");
    std::fs::write(&zip, &bytes).unwrap();
    let exported = Catalog::from_depots([Depot::open_path(&zip, &OpenOptions::default()).unwrap()]).unwrap();
    assert!(exported.base_image(&high).is_some());
    assert!(exported.vibs().count() > 0);

    // An unreachable depot (its URL carrying a token and a password) fails the sync,
    // named without its secrets; the synced depot keeps its content.
    let token = "aB3dE5fG7hI9jK1lM3nO5pQ7";
    let bad = format!("http://user:s3cret@127.0.0.1:1/{token}/main/index.xml");
    let (st, bad_id) = s.send(Method::POST, online, &t, Some(json!({"location": bad}))).await;
    assert_eq!(st, 201, "{bad_id}");
    let bad_id = bad_id.as_str().unwrap().to_owned();
    let info = s.run_task(&t, "/api/esx/settings/depots?action=sync", None).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    assert_eq!(info["error"]["error_type"], "RESOURCE_INACCESSIBLE", "{info}");
    let message = info["error"]["messages"][0]["default_message"].as_str().unwrap().to_owned();
    assert!(message.contains(&bad_id) && message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("Connection refused") || message.contains("could not connect"), "{message}");
    assert!(!message.contains(token) && !message.contains("s3cret"), "{message}");
    let (_, list) = s.send(Method::GET, "/api/esx/settings/depot-content/components", &viewer, None).await;
    assert_eq!(component_names(&list), comps);
    let (st, _) = s.send(Method::DELETE, &format!("{online}/{bad_id}"), &t, None).await;
    assert_eq!(st, 204);

    // The sync schedule: stored, checked.
    let sched = "/api/esx/settings/depots/sync-schedule";
    let (st, got) = s.send(Method::GET, sched, &viewer, None).await;
    assert_eq!((st, &got["enabled"]), (200, &json!(false)), "{got}");
    let weekly = json!({"enabled": true, "email_addresses": [],
        "schedule": {"type": "WEEKLY", "minute": 30, "hour": 2, "day_of_week": "SUNDAY"}});
    let (st, e) = s.send(Method::PUT, sched, &t, Some(weekly.clone())).await;
    assert_eq!(st, 204, "{e}");
    let (_, got) = s.send(Method::GET, sched, &viewer, None).await;
    assert_eq!(got["schedule"]["day_of_week"], "SUNDAY", "{got}");
    assert_eq!(got["enabled"], true);
    let no_hour = json!({"enabled": true, "email_addresses": [], "schedule": {"type": "DAILY", "minute": 5}});
    let (st, e) = s.send(Method::PUT, sched, &t, Some(no_hour)).await;
    assert_eq!((st, e["error_type"].as_str()), (400, Some("INVALID_ARGUMENT")), "{e}");
    let (st, _) = s.send(Method::PUT, sched, &viewer, Some(weekly.clone())).await;
    assert_eq!(st, 403);

    // The depot server goes away: after a restart the synced metadata still serves.
    stop_depot.send(()).unwrap();
    depot_task.await.unwrap();
    s.stop().await;
    let s = start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let (st, list) = s.send(Method::GET, "/api/esx/settings/depot-content/components", &t, None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(component_names(&list), comps);
    let (_, got) = s.send(Method::GET, sched, &t, None).await;
    assert_eq!(got["schedule"]["type"], "WEEKLY");

    // Flush forgets the content until the next sync.
    let info = s.run_task(&t, &format!("{online}/{id}?action=flush"), Some(json!({}))).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, list) = s.send(Method::GET, "/api/esx/settings/depot-content/components", &t, None).await;
    assert_eq!(list, json!([]));
    let (st, _) = s.send(Method::GET, &format!("{online}/{id}/content"), &t, None).await;
    assert_eq!(st, 400);
    assert!(!data.join(format!("store/published/{}", id)).exists(), "flush unpublishes the depot");
    s.stop().await;
}

/// A depot URL whose host does not answer HTTP at all fails alone, with the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_of_a_depot_without_metadata_fails_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (port, stop, task) = serve_depot_task(&empty).await;
    let s = start_on(&dir.path().join("data")).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let location = format!("http://127.0.0.1:{port}/depot/index.xml");
    let (st, id) =
        s.send(Method::POST, "/api/esx/settings/depots/online", &t, Some(json!({"location": location}))).await;
    assert_eq!(st, 201);
    let info = s.run_task(&t, "/api/esx/settings/depots?action=sync", None).await;
    assert_eq!(info["status"], "FAILED", "{info}");
    let message = info["error"]["messages"][0]["default_message"].as_str().unwrap();
    assert!(message.contains(id.as_str().unwrap()) && message.contains(&location), "{message}");
    assert!(message.contains("no vendor list"), "{message}");
    stop.send(()).unwrap();
    task.await.unwrap();
    s.stop().await;
}
