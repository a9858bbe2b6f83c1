//! Shared by the image tests (`api_image`, `api_hosts`, `api_repository`): a generated
//! depot with picks that make a real dependency error, esxcli-shaped host states (REST
//! calls and tasks are `api_support`'s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::Path;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_solver::notification::ids;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, resolve};
use esxlcm_version::Version;
use serde_json::{Value, json};

use crate::api_support::{ADMIN, TestServer, VIEWER};

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

/// What the test composes from the generated depot: the oldest and newest base images, an
/// add-on for the newest only, and a component whose newest version needs what the oldest
/// base image lacks (a real dependency error) but fits the newest with the add-on.
pub struct Picks {
    pub low: Version,
    pub high: Version,
    pub addon: (String, Version),
    pub component: (String, Version),
}

impl Picks {
    /// The image that fits: the newest base image, the add-on and the component.
    pub fn fitting_spec(&self) -> ImageSpec {
        let mut spec =
            ImageSpec::of_base_image(self.high.clone()).with_add_on(self.addon.0.clone(), self.addon.1.clone());
        spec.components.insert(self.component.0.clone(), Some(self.component.1.clone()));
        spec
    }
}

pub fn pick(catalog: &Catalog) -> Picks {
    let mut bases: Vec<Version> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    bases.sort();
    let (low, high) = (bases[0].clone(), bases.last().unwrap().clone());
    let addon = catalog
        .release_units(ReleaseKind::Addon)
        .find(|a| a.supports_base_image(high.as_str()) && !a.supports_base_image(low.as_str()))
        .expect("an add-on for the newest base image only");
    let addon = (addon.name.clone().unwrap(), addon.version.clone());
    let names: Vec<String> =
        catalog.components().filter_map(|c| c.bulletin.component.as_ref().map(|s| s.name.clone())).collect();
    let component = names
        .iter()
        .find_map(|name| {
            let newest = catalog.component_versions(name).last()?.bulletin.component.as_ref()?.version.clone();
            let mut bad = ImageSpec::of_base_image(low.clone());
            bad.components.insert(name.clone(), Some(newest.clone()));
            let r = resolve(&bad, catalog, &ResolveOptions::default());
            let unmet = r.errors().any(|n| n.id == ids::DEPENDENCY_UNMET);
            let mut good = ImageSpec::of_base_image(high.clone()).with_add_on(addon.0.clone(), addon.1.clone());
            good.components.insert(name.clone(), Some(newest.clone()));
            let fits = !resolve(&good, catalog, &ResolveOptions::default()).has_errors();
            (unmet && fits).then(|| (name.clone(), newest))
        })
        .expect("a component whose newest version the oldest base image cannot satisfy");
    Picks { low, high, addon, component }
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

/// A generated depot (seed 7) with its catalog and picks, in `dir`.
pub fn tiny_depot(dir: &Path) -> (std::path::PathBuf, Catalog, Picks) {
    let bundle = dir.join("tiny.zip");
    generate_to_bundle(&GeneratorConfig::tiny(7), &bundle).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let p = pick(&catalog);
    (bundle, catalog, p)
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
