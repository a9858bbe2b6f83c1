//! esxlcm_solver results in the API's shapes (plain JSON, checked against the schema on
//! the way out): `software_info`, effective components, notifications, compliance.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use esxlcm_depot::catalog::Catalog;
use esxlcm_solver::alternatives::HostSelection;
use esxlcm_solver::compliance::{self, ComplianceStatus, HostCompliance};
use esxlcm_solver::spec::{AlternativeImage, ImageSpec};
use esxlcm_solver::{ComponentSource, EffectiveImage, Notification, Severity, SoftwareSpec};
use esxlcm_version::Version;
use serde_json::{Map, Value, json};

use super::depot_content::release_date;
use crate::api::typed::format_datetime;

pub fn source_name(s: ComponentSource) -> &'static str {
    match s {
        ComponentSource::BaseImage => "BASE_IMAGE",
        ComponentSource::AddOn => "ADD_ON",
        ComponentSource::HardwareSupport => "HARDWARE_SUPPORT_PACKAGE",
        ComponentSource::User => "USER",
        ComponentSource::Solution => "SOLUTION",
    }
}

/// An enum the solver serializes in the API's spelling (`NON_COMPLIANT`).
fn enum_text<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn message(id: &str, text: &str, args: &[String]) -> Value {
    json!({"id": id, "default_message": text, "args": args})
}

/// One solver finding as the API's `notification`. The API has no field for the chain of
/// causes, so it follows the message text: the explanation must reach the user.
pub fn notification(n: &Notification, time: DateTime<Utc>) -> Value {
    let mut text = n.message.default_message.clone();
    if !n.explanation.is_empty() {
        text.push_str(". Because: ");
        text.push_str(&n.explanation.join("; "));
    }
    let kind = match n.severity {
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        Severity::Info => "INFO",
    };
    let mut v = json!({
        "type": kind,
        "id": n.id,
        "time": format_datetime(time),
        "message": message(&n.message.id, &text, &n.message.args),
        "originator": "esxlcm",
    });
    if let (Some(r), Some(obj)) = (&n.resolution, v.as_object_mut()) {
        obj.insert("resolution".into(), message(&r.id, &r.default_message, &r.args));
    }
    v
}

/// The API's `notifications`: findings split by severity.
pub fn notifications<'a>(list: impl IntoIterator<Item = &'a Notification>) -> Value {
    let now = Utc::now();
    let (mut info, mut warnings, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for n in list {
        let v = notification(n, now);
        match n.severity {
            Severity::Error => errors.push(v),
            Severity::Warning => warnings.push(v),
            Severity::Info => info.push(v),
        }
    }
    json!({"info": info, "warnings": warnings, "errors": errors})
}

fn component_details(catalog: &Catalog, name: &str, version: Option<&Version>) -> Option<Value> {
    let b = match version {
        Some(v) => catalog.component(name, v)?,
        None => *catalog.component_versions(name).last()?,
    };
    let c = b.bulletin.component.as_ref()?;
    let mut d = json!({"display_name": c.ui_name, "vendor": b.bulletin.vendor});
    if version.is_some()
        && let Some(obj) = d.as_object_mut()
    {
        obj.insert("display_version".into(), Value::String(c.ui_version.clone()));
    }
    Some(d)
}

/// `component_info`: the version (absent for "system chooses") and what the depots say.
pub fn component_info(catalog: &Catalog, name: &str, version: Option<&Version>) -> Value {
    let mut v = Map::new();
    if let Some(ver) = version {
        v.insert("version".into(), Value::String(ver.to_string()));
    }
    if let Some(d) = component_details(catalog, name, version) {
        v.insert("details".into(), d);
    }
    Value::Object(v)
}

pub fn base_image_info(catalog: &Catalog, version: Option<&Version>) -> Value {
    let Some(version) = version else { return json!({"version": ""}) };
    let mut v = json!({"version": version.to_string()});
    if let (Some(u), Some(obj)) = (catalog.base_image(version), v.as_object_mut()) {
        obj.insert(
            "details".into(),
            json!({
                "display_name": u.ui_name.clone().unwrap_or_else(|| "ESXi".to_owned()),
                "display_version": u.ui_version,
                "release_date": release_date(&u.release_date),
            }),
        );
    }
    v
}

pub fn add_on_info(catalog: &Catalog, name: &str, version: &Version) -> Value {
    let mut v = json!({"name": name, "version": version.to_string()});
    if let (Some(u), Some(obj)) = (catalog.addon(name, version), v.as_object_mut()) {
        obj.insert(
            "details".into(),
            json!({
                "display_name": u.ui_name.clone().unwrap_or_else(|| name.to_owned()),
                "vendor": u.vendor,
                "display_version": u.ui_version,
            }),
        );
    }
    v
}

/// `map<id, solution_info>` of the solutions a spec names.
pub fn solution_infos(spec: &SoftwareSpec) -> Map<String, Value> {
    spec.image
        .solutions
        .iter()
        .map(|(name, s)| {
            let comps: Vec<Value> = s.components.iter().map(|c| json!({"component": c.component})).collect();
            (name.clone(), json!({"version": s.version, "components": comps}))
        })
        .collect()
}

/// `hardware_support_info` of an image: manager → the package and version it names.
pub fn hardware_support_info(image: &ImageSpec) -> Value {
    let packages: Map<String, Value> = image
        .hardware_support
        .iter()
        .flat_map(|h| h.packages.iter())
        .map(|(manager, p)| (manager.clone(), json!({"pkg": p.pkg, "version": p.version})))
        .collect();
    json!({"packages": packages})
}

/// `software_info` of a spec (a draft may have no base image yet: its version is then empty).
pub fn software_info(catalog: &Catalog, spec: &SoftwareSpec) -> Value {
    let image = &spec.image;
    let components: Map<String, Value> = image
        .components
        .iter()
        .map(|(name, version)| (name.clone(), component_info(catalog, name, version.as_ref())))
        .collect();
    let mut v = json!({
        "base_image": base_image_info(catalog, image.base_image.as_ref().map(|b| &b.version)),
        "components": components,
        "solutions": solution_infos(spec),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(a) = &image.add_on {
            obj.insert("add_on".into(), add_on_info(catalog, &a.name, &a.version));
        }
        if image.hardware_support.as_ref().is_some_and(|h| !h.packages.is_empty()) {
            obj.insert("hardware_support".into(), hardware_support_info(image));
        }
        if !image.removed_components.is_empty() {
            let removed: Map<String, Value> =
                image.removed_components.iter().map(|n| (n.clone(), component_info(catalog, n, None))).collect();
            obj.insert("removed_components".into(), Value::Object(removed));
        }
        if !spec.alternative_images.is_empty() {
            let alternatives: Map<String, Value> = spec
                .alternative_images
                .iter()
                .map(|(id, a)| (id.clone(), alternative_image_info(catalog, a)))
                .collect();
            obj.insert("alternative_images".into(), Value::Object(alternatives));
        }
    }
    v
}

/// `image_selection_info` of stored `selection_criteria`: UNKNOWN when unset or unreadable
/// (validation says why); a hardware selection without a vendor shows an empty vendor.
pub fn selection_info(criteria: Option<&Value>) -> Value {
    match criteria.map(HostSelection::parse) {
        Some(Ok(HostSelection::HostUuid { host_uuids })) => {
            json!({"selection_type": "HOST_UUID", "host_uuids": host_uuids})
        }
        Some(Ok(HostSelection::HostHardwareSpec { host_hardware_spec: hw })) => json!({
            "selection_type": "HOST_HARDWARE_SPEC",
            "host_hardware_spec": {
                "vendor": hw.vendor.unwrap_or_default(),
                "models": hw.models, "families": hw.families, "oem_strings": hw.oem_strings,
            },
        }),
        _ => json!({"selection_type": "UNKNOWN"}),
    }
}

/// `alternative_image_info`: the image as `software_info`, its name and selection.
pub fn alternative_image_info(catalog: &Catalog, a: &AlternativeImage) -> Value {
    let spec = SoftwareSpec { image: a.image.clone(), ..SoftwareSpec::default() };
    let mut v = software_info(catalog, &spec);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("display_name".into(), Value::String(a.display_name.clone().unwrap_or_default()));
        obj.insert("selection_criteria".into(), selection_info(a.selection_criteria.as_ref()));
    }
    v
}

/// `map<id, effective_component_info>`: each component of the resolved image with its
/// source and the lower layers' versions it overrides.
pub fn effective_components(catalog: &Catalog, image: &EffectiveImage) -> Value {
    // The versions the base image and the add-on bring, to name what a higher layer overrides.
    let mut layers: Vec<(ComponentSource, BTreeMap<String, Version>)> = Vec::new();
    if let Some(u) = catalog.base_image(&image.base_image) {
        layers.push((ComponentSource::BaseImage, u.components.iter().map(|(n, v)| (n.clone(), v.clone())).collect()));
    }
    if let Some(u) = image.add_on.as_ref().and_then(|(n, v)| catalog.addon(n, v)) {
        layers.push((ComponentSource::AddOn, u.components.iter().map(|(n, v)| (n.clone(), v.clone())).collect()));
    }
    let map: Map<String, Value> = image
        .components
        .iter()
        .map(|(name, c)| {
            let overridden: Vec<Value> = layers
                .iter()
                .filter(|(source, _)| *source < c.source)
                .filter_map(|(source, comps)| comps.get(name).map(|v| (source, v)))
                .map(|(source, v)| {
                    let display = catalog
                        .component(name, v)
                        .and_then(|b| b.bulletin.component.as_ref().map(|s| s.ui_version.clone()))
                        .unwrap_or_else(|| v.to_string());
                    let text = format!("{name} {v} of the {} is overridden by {}", source_name(*source), c.version);
                    json!({
                        "version": v.to_string(),
                        "display_version": display,
                        "source": source_name(*source),
                        "note": message("com.esxlcm.image.component_overridden", &text, &[]),
                    })
                })
                .collect();
            let vendor = catalog.component(name, &c.version).map(|b| b.bulletin.vendor.clone()).unwrap_or_default();
            let details = json!({
                "display_name": c.display_name,
                "display_version": c.display_version,
                "vendor": vendor,
                "source": source_name(c.source),
                "overridden_components": overridden,
            });
            (name.clone(), json!({"version": c.version.to_string(), "details": details}))
        })
        .collect();
    Value::Object(map)
}

/// The components a spec removes, as `effective_component_info` with source USER_REMOVED:
/// the version the add-on (else the base image) would have brought.
pub fn removed_effective_components(catalog: &Catalog, spec: &SoftwareSpec) -> Map<String, Value> {
    let image = &spec.image;
    let from_base = image.base_image.as_ref().and_then(|b| catalog.base_image(&b.version));
    let from_add_on = image.add_on.as_ref().and_then(|a| catalog.addon(&a.name, &a.version));
    image
        .removed_components
        .iter()
        .filter_map(|name| {
            let version = from_add_on
                .and_then(|u| u.components.get(name))
                .or_else(|| from_base.and_then(|u| u.components.get(name)))?;
            let b = catalog.component(name, version);
            let c = b.and_then(|b| b.bulletin.component.as_ref());
            let details = json!({
                "display_name": c.map_or_else(|| name.clone(), |c| c.ui_name.clone()),
                "display_version": c.map_or_else(|| version.to_string(), |c| c.ui_version.clone()),
                "vendor": b.map(|b| b.bulletin.vendor.clone()).unwrap_or_default(),
                "source": "USER_REMOVED",
                "overridden_components": [],
            });
            Some((name.clone(), json!({"version": version.to_string(), "details": details})))
        })
        .collect()
}

fn version_info(v: &compliance::VersionInfo) -> Value {
    json!({"version": v.version.to_string()})
}

fn text_notes(status: ComplianceStatus, notes: &[String], time: &str) -> Value {
    let list: Vec<Value> = notes
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let id = format!("com.esxlcm.compliance.note.{i}");
            let kind = if status == ComplianceStatus::Incompatible { "ERROR" } else { "INFO" };
            json!({"type": kind, "id": id, "time": time, "message": message(&id, t, &[])})
        })
        .collect();
    if status == ComplianceStatus::Incompatible { json!({"errors": list}) } else { json!({"info": list}) }
}

fn component_compliance(c: &compliance::ComponentCompliance, removed: bool) -> Value {
    let mut v = json!({"status": enum_text(c.status), "notifications": {}});
    if let Some(obj) = v.as_object_mut() {
        if let Some(cur) = &c.current {
            obj.insert("current".into(), version_info(cur));
        }
        if let Some(t) = &c.target {
            obj.insert("target".into(), version_info(t));
        }
        if removed {
            obj.insert("target_source".into(), Value::String("USER_REMOVED".into()));
        } else if let Some(s) = c.target_source {
            obj.insert("target_source".into(), Value::String(source_name(s).into()));
        }
    }
    v
}

/// `host_compliance` of one host.
pub fn host_compliance(h: &HostCompliance, time: &str, commit: Option<&str>) -> Value {
    let base = &h.base_image;
    let base_v = json!({
        "status": enum_text(base.status),
        // The API requires a current base image; a host that reports none shows it empty.
        "current": base.current.as_ref().map_or_else(|| json!({"version": ""}), version_info),
        "target": version_info(&base.target),
        "notifications": {},
    });
    let mut add_on = json!({"status": enum_text(h.add_on.status), "notifications": {}});
    if let Some(obj) = add_on.as_object_mut() {
        if let Some(c) = &h.add_on.current {
            obj.insert("current".into(), json!({"name": c.name, "version": c.version.to_string()}));
        }
        if let Some(t) = &h.add_on.target {
            obj.insert("target".into(), json!({"name": t.name, "version": t.version.to_string()}));
        }
    }
    let components: Map<String, Value> =
        h.components.iter().map(|(n, c)| (n.clone(), component_compliance(c, false))).collect();
    let removed: Map<String, Value> =
        h.removed_components.iter().map(|(n, c)| (n.clone(), component_compliance(c, true))).collect();
    json!({
        "impact": enum_text(h.impact),
        "status": enum_text(h.status),
        "notifications": text_notes(h.status, &h.notifications, time),
        "scan_time": time,
        "commit": commit,
        "base_image": base_v,
        "add_on": add_on,
        "components": components,
        "solutions": {},
        "removed_components": removed,
    })
}

/// `cluster_compliance` from per-host results (`names`: host id → name).
pub fn cluster_compliance(
    hosts: BTreeMap<String, HostCompliance>,
    names: &BTreeMap<String, String>,
    commit: Option<&str>,
) -> Value {
    let time = format_datetime(Utc::now());
    let c = compliance::aggregate_cluster(hosts);
    let host_map: Map<String, Value> =
        c.hosts.iter().map(|(id, h)| (id.clone(), host_compliance(h, &time, commit))).collect();
    let info: Map<String, Value> =
        names.iter().map(|(id, name)| (id.clone(), json!({"name": name, "is_vsan_witness": false}))).collect();
    json!({
        "impact": enum_text(c.impact),
        "status": enum_text(c.status),
        "notifications": {},
        "scan_time": time,
        "commit": commit,
        "compliant_hosts": c.compliant_hosts,
        "non_compliant_hosts": c.non_compliant_hosts,
        "incompatible_hosts": c.incompatible_hosts,
        "unavailable_hosts": c.unavailable_hosts,
        "hosts": host_map,
        "host_info": info,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::api::schema::{Registry, Ty};
    use crate::api::typed::from_plain;

    #[test]
    fn notifications_carry_the_explanation_and_pass_the_schema() {
        let err = Notification::new("x.unmet", Severity::Error, "VIB a requires b", vec!["a".into()])
            .with_explanation(vec!["component A needs b".into(), "the image has no b".into()])
            .with_resolution("use base image 2", Vec::new());
        let warn = Notification::new("x.boot", Severity::Warning, "not bootable", Vec::new());
        let v = notifications([&err, &warn]);
        let e = &v["errors"][0];
        assert_eq!(e["type"], "ERROR");
        assert_eq!(
            e["message"]["default_message"],
            "VIB a requires b. Because: component A needs b; the image has no b"
        );
        assert_eq!(e["message"]["args"], json!(["a"]));
        assert_eq!(e["resolution"]["id"], "x.unmet.resolution");
        assert_eq!(v["warnings"][0]["id"], "x.boot");
        assert_eq!(v["info"], json!([]));
        let reg = Registry::load().unwrap();
        from_plain(&reg, &v, &Ty::Struct("com.vmware.esx.settings.notifications".into()), "$").unwrap();
    }
}
