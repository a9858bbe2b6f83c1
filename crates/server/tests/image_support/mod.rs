//! Shared by the image tests (`api_image`, `api_hosts`, `api_repository`): a generated
//! depot with picks that make a real dependency error, esxcli-shaped host states (REST
//! calls and tasks are `api_support`'s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;

use esxlcm_depot::catalog::Catalog;
use esxlcm_version::Version;
use serde_json::{Value, json};

use crate::api_support::{ADMIN, TestServer, VIEWER};

#[path = "picks.rs"]
mod picks;
pub use picks::{Picks, tiny_depot};

pub const EDITOR: (&str, &str) = ("editor@vsphere.local", "Ed1tor!pass");

/// A data dir whose config has two administrators and a read-only user.
pub fn config_two_admins(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let users = json!({"users": [
        {"name": ADMIN.0, "role": "admin", "password": ADMIN.1},
        {"name": EDITOR.0, "role": "admin", "password": EDITOR.1},
        {"name": VIEWER.0, "role": "read_only", "password": VIEWER.1},
    ]});
    std::fs::write(data.join("config.json"), users.to_string()).unwrap();
}

/// An esxcli-shaped host state: the given base image and add-on, the image's components
/// (as `effective-components` lists them) and VIBs.
pub fn host_state(base: &Version, addon: &(String, Version), components: &Value, vibs: &[Value]) -> Value {
    let comps: Vec<Value> = components
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, c)| json!({"Name": name, "Version": c["version"]}))
        .collect();
    json!({
        "base_image": {"Version": base.to_string()},
        "add_on": {"Name": addon.0, "Version": addon.1.to_string()},
        "components": comps,
        "vibs": vibs,
    })
}

/// Import a bundle as an offline depot (PULL), waiting for the task.
pub async fn import_depot(s: &TestServer, token: &str, bundle: &Path) {
    let body = json!({"source_type": "PULL", "location": bundle.to_str().unwrap()});
    let info = s.run_task(token, "/api/esx/settings/depots/offline", Some(body)).await;
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
}

/// A draft of `sw` (a cluster's or standalone host's `…/software`) imported by `session`
/// from a JSON spec of just the base image `base`: its id.
pub async fn import_draft(s: &TestServer, session: &str, sw: &str, base: &Version) -> String {
    let imported = json!({"base_image": {"version": base.to_string()}}).to_string();
    let (st, draft) = s
        .send(
            reqwest::Method::POST,
            &format!("{sw}/drafts?action=import-software-spec"),
            session,
            Some(json!({"source_type": "JSON_STRING", "software_spec": imported})),
        )
        .await;
    assert_eq!(st, 200, "{draft}");
    draft.as_str().unwrap().to_owned()
}

/// `POST {sw}?action=export` of the spec alone by `session`, the URL downloaded by `reader`:
/// the exported spec.
pub async fn export_spec_json(s: &TestServer, session: &str, sw: &str, reader: &str) -> Value {
    let body = json!({"export_software_spec": true, "export_offline_bundle": false, "export_iso_image": false});
    let (st, urls) = s.send(reqwest::Method::POST, &format!("{sw}?action=export"), session, Some(body)).await;
    assert_eq!(st, 200, "{urls}");
    let r = s.client.get(urls["SOFTWARE_SPEC"].as_str().unwrap()).header("vmware-api-session-id", reader).send();
    r.await.unwrap().json().await.unwrap()
}

/// A started image test: the temp dir (kept alive), the data dir, the generated depot's
/// catalog and picks, the server with the depot imported, and the sessions of the first
/// administrator (`t`) and of the read-only user.
pub struct ImageServer {
    pub dir: tempfile::TempDir,
    pub data: std::path::PathBuf,
    pub catalog: Catalog,
    pub p: Picks,
    pub s: TestServer,
    pub t: String,
    pub viewer: String,
}

/// [`tiny_depot`] in a temp dir, a server on a [`config_two_admins`] data dir, the admin
/// and viewer logged in over REST, and the depot imported.
pub async fn image_server() -> ImageServer {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, catalog, p) = tiny_depot(dir.path());
    let data = dir.path().join("data");
    config_two_admins(&data);
    let s = crate::api_support::start_on(&data).await;
    let t = s.rest_login(ADMIN.0, ADMIN.1).await;
    let viewer = s.rest_login(VIEWER.0, VIEWER.1).await;
    import_depot(&s, &t, &bundle).await;
    ImageServer { dir, data, catalog, p, s, t, viewer }
}
