//! What a depot holds, in the shape of `depots.{online,offline,umds}.content`: per vendor
//! and metadata zip, its base images, add-ons, hardware support packages and independent
//! components, read from the depot's published snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::Depot;
use esxlcm_store::Store;
use serde_json::{Value, json};

use crate::api::errors::{ApiError, ErrorKind};

/// `content.info` of snapshot `snapshot` of depot `label`, read from the store's rows and
/// blobs off the async threads.
pub async fn of_snapshot(store: Arc<Store>, snapshot: i64, label: String) -> Result<Value, ApiError> {
    tokio::task::spawn_blocking(move || {
        store.snapshot_depot(snapshot, &label).map(|depot| content_info(&depot)).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::new(ErrorKind::ResourceInaccessible, "com.vmware.esxlcm.depot.unreadable", e))
}

fn versions_json(pairs: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Array(pairs.into_iter().map(|(v, d)| json!({"version": v, "display_version": d})).collect())
}

type AddonVersions = (String, String, Vec<(String, String)>);

/// `depots.offline.content.info` of one bundle: per vendor, what each metadata zip holds.
pub fn content_info(depot: &Depot) -> Value {
    let mut bundles: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for meta in &depot.metadata {
        let a = &meta.archive;
        let mut in_units: std::collections::BTreeSet<(String, String)> = Default::default();
        let mut base_images = Vec::new();
        // name → (display name, vendor, [(version, display version)])
        let mut addons: BTreeMap<String, AddonVersions> = BTreeMap::new();
        // manager → package → versions, from the manifests' hardwareSupportInfo.
        let mut hsps: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for u in &a.release_units {
            for (n, v) in &u.components {
                in_units.insert((n.clone(), v.to_string()));
            }
            match u.kind {
                ReleaseKind::BaseImage => base_images.push(json!({
                    "version": u.version.to_string(),
                    "display_name": u.ui_name.clone().unwrap_or_else(|| "ESXi".into()),
                    "display_version": u.ui_version,
                })),
                ReleaseKind::Addon => {
                    let name = u.name.clone().unwrap_or_default();
                    let e = addons
                        .entry(name.clone())
                        .or_insert_with(|| (u.ui_name.clone().unwrap_or(name), u.vendor.clone(), Vec::new()));
                    e.2.push((u.version.to_string(), u.ui_version.clone()));
                }
                ReleaseKind::Manifest => {
                    if let Some((m, p, v)) = &u.hardware_support {
                        hsps.entry(m.clone()).or_default().entry(p.clone()).or_default().push(v.clone());
                    }
                }
                _ => {}
            }
        }
        let mut independent: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        for b in &a.bulletins {
            let Some(c) = &b.component else { continue };
            if in_units.contains(&(c.name.clone(), c.version.to_string())) {
                continue;
            }
            let e = independent.entry(c.name.clone()).or_insert_with(|| (c.ui_name.clone(), Vec::new()));
            e.1.push((c.version.to_string(), c.ui_version.clone()));
        }
        let file_name = meta.path.rsplit('/').next().unwrap_or(&meta.path).to_owned();
        let addons: serde_json::Map<String, Value> = addons
            .into_iter()
            .map(|(n, (display, vendor, vs))| {
                (n, json!({"display_name": display, "vendor": vendor, "versions": versions_json(vs)}))
            })
            .collect();
        let independent: serde_json::Map<String, Value> = independent
            .into_iter()
            .map(|(n, (display, vs))| (n, json!({"display_name": display, "versions": versions_json(vs)})))
            .collect();
        // esxlcm knows a manager by name only: the name is its display name.
        let hardware_support: serde_json::Map<String, Value> = hsps
            .into_iter()
            .map(|(m, pkgs)| {
                let packages: serde_json::Map<String, Value> = pkgs
                    .into_iter()
                    .map(|(p, vs)| {
                        let versions: Vec<Value> = vs.into_iter().map(|v| json!({"version": v})).collect();
                        (p, json!({"versions": versions}))
                    })
                    .collect();
                (m.clone(), json!({"display_name": m, "packages": packages}))
            })
            .collect();
        bundles.entry(meta.vendor_code.clone()).or_default().push(json!({
            "file_name": file_name,
            "base_images": base_images,
            "addons": addons,
            "hardware_support": hardware_support,
            "independent_components": independent,
        }));
    }
    json!({ "metadata_bundles": bundles })
}
