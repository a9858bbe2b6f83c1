//! What is installed on hosts, from their posted esxcli states (there is no live host to
//! ask): `clusters.installed_images` (the cluster's installed image(s), extracted and
//! stored), `esx.hosts.software` and `esx.hosts.software.installed_components` (one host's
//! software), and `clusters.software.reports.apply_impact` and
//! `hosts.software.reports.apply_impact` (what applying the committed image would do to
//! each host, from esxlcm_solver's compliance check).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use esxlcm_depot::catalog::Catalog;
use esxlcm_solver::SpecResolution;
use esxlcm_solver::compliance::{ComplianceImpact, ComplianceStatus, ComponentChange, HostCompliance};
use esxlcm_solver::host_state::HostState;
use esxlcm_version::Version;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::depot_content::release_date;
use super::image_wire::message;
use super::software::image::{committed, resolve};
use super::software::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{Host, ServerState};
use crate::api::state::ApiState;
use crate::api::typed::format_datetime;

/// One installed part (base image, add-on or component) with its display fields: the
/// host's own, else the depots', else the name and version.
#[derive(Debug, Clone)]
struct Part {
    version: Version,
    display_name: String,
    display_version: String,
    vendor: String,
    release_date: String,
}

/// A host's installed image in the shape of a software spec: the base image, the add-on,
/// the components the base image and add-on do not bring at the installed version, and
/// the base image's and add-on's components that are not installed (removed).
#[derive(Debug, Clone)]
struct Installed {
    base: Part,
    add_on: Option<(String, Part)>,
    components: BTreeMap<String, Part>,
    removed: BTreeMap<String, Option<Version>>,
    hardware: BTreeMap<String, (String, String)>,
}

/// What makes two installed images the same (display fields do not).
type ImageKey =
    (Version, Option<(String, Version)>, Vec<(String, Version)>, Vec<String>, Vec<(String, String, String)>);

impl Installed {
    fn key(&self) -> ImageKey {
        (
            self.base.version.clone(),
            self.add_on.as_ref().map(|(n, p)| (n.clone(), p.version.clone())),
            self.components.iter().map(|(n, p)| (n.clone(), p.version.clone())).collect(),
            self.removed.keys().cloned().collect(),
            self.hardware.iter().map(|(m, (p, v))| (m.clone(), p.clone(), v.clone())).collect(),
        )
    }
}

fn or_text(host: Option<&String>, depot: Option<&str>, fallback: &str) -> String {
    host.cloned().or_else(|| depot.map(str::to_owned)).unwrap_or_else(|| fallback.to_owned())
}

fn component_part(catalog: &Catalog, c: &esxlcm_solver::host_state::InstalledComponent) -> Part {
    let b = catalog.component(&c.name, &c.version);
    let spec = b.and_then(|b| b.bulletin.component.as_ref());
    Part {
        version: c.version.clone(),
        display_name: or_text(c.display_name.as_ref(), spec.map(|s| s.ui_name.as_str()), &c.name),
        display_version: or_text(c.display_version.as_ref(), spec.map(|s| s.ui_version.as_str()), c.version.as_str()),
        vendor: or_text(c.vendor.as_ref(), b.map(|b| b.bulletin.vendor.as_str()), ""),
        release_date: release_date(&or_text(c.release_date.as_ref(), b.map(|b| b.bulletin.release_date.as_str()), "")),
    }
}

/// The installed image of a posted state; `None` when the host reports no base image
/// (ESXi before 7.0 has none: it cannot be described as an image).
fn derive(catalog: &Catalog, state: &HostState) -> Option<Installed> {
    let b = state.base_image.as_ref()?;
    let unit = catalog.base_image(&b.version);
    let base = Part {
        version: b.version.clone(),
        display_name: or_text(b.display_name.as_ref(), unit.and_then(|u| u.ui_name.as_deref()), "ESXi"),
        display_version: or_text(b.display_version.as_ref(), unit.map(|u| u.ui_version.as_str()), b.version.as_str()),
        vendor: or_text(b.vendor.as_ref(), unit.map(|u| u.vendor.as_str()), ""),
        release_date: release_date(&or_text(b.release_date.as_ref(), unit.map(|u| u.release_date.as_str()), "")),
    };
    // What the base image and add-on bring: name → version (unknown when only the host's
    // own list of base image component names is known).
    let mut provided: BTreeMap<String, Option<Version>> = match unit {
        Some(u) => u.components.iter().map(|(n, v)| (n.clone(), Some(v.clone()))).collect(),
        None => b.components.iter().map(|n| (n.clone(), None)).collect(),
    };
    let add_on = state.add_on.as_ref().map(|a| {
        let unit = catalog.addon(&a.name, &a.version);
        let removed = unit.map_or(&a.removed_components, |u| &u.removed_components);
        for n in removed {
            provided.remove(n);
        }
        if let Some(u) = unit {
            provided.extend(u.components.iter().map(|(n, v)| (n.clone(), Some(v.clone()))));
        }
        let part = Part {
            version: a.version.clone(),
            display_name: or_text(a.display_name.as_ref(), unit.and_then(|u| u.ui_name.as_deref()), &a.name),
            display_version: or_text(
                a.display_version.as_ref(),
                unit.map(|u| u.ui_version.as_str()),
                a.version.as_str(),
            ),
            vendor: or_text(a.vendor.as_ref(), unit.map(|u| u.vendor.as_str()), ""),
            release_date: release_date(&or_text(a.release_date.as_ref(), unit.map(|u| u.release_date.as_str()), "")),
        };
        (a.name.clone(), part)
    });
    let components = state
        .components
        .iter()
        .filter(|c| match provided.get(&c.name) {
            None => true,
            Some(Some(v)) => *v != c.version,
            Some(None) => false,
        })
        .map(|c| (c.name.clone(), component_part(catalog, c)))
        .collect();
    let removed = provided
        .into_iter()
        .filter(|(n, _)| state.component(n).is_none())
        .collect::<BTreeMap<String, Option<Version>>>();
    let hardware = state
        .hardware
        .iter()
        .flat_map(|h| h.hardware_support.iter())
        .map(|(m, p)| (m.clone(), (p.pkg.clone(), p.version.clone())))
        .collect();
    Some(Installed { base, add_on, components, removed, hardware })
}

fn hardware_wire(i: &Installed) -> Option<Value> {
    (!i.hardware.is_empty()).then(|| {
        let packages: Map<String, Value> =
            i.hardware.iter().map(|(m, (p, v))| (m.clone(), json!({"pkg": p, "version": v}))).collect();
        json!({"packages": packages})
    })
}

/// `com.vmware.esx.settings.software_info` of an installed image.
fn settings_software_info(i: &Installed) -> Value {
    let b = &i.base;
    let components: Map<String, Value> = i
        .components
        .iter()
        .map(|(n, p)| {
            let details =
                json!({"display_name": p.display_name, "vendor": p.vendor, "display_version": p.display_version});
            (n.clone(), json!({"version": p.version.to_string(), "details": details}))
        })
        .collect();
    let mut v = json!({
        "base_image": {
            "version": b.version.to_string(),
            "details": {"display_name": b.display_name, "display_version": b.display_version, "release_date": b.release_date},
        },
        "components": components,
        "solutions": {},
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some((name, a)) = &i.add_on {
            let details =
                json!({"display_name": a.display_name, "vendor": a.vendor, "display_version": a.display_version});
            obj.insert("add_on".into(), json!({"name": name, "version": a.version.to_string(), "details": details}));
        }
        if !i.removed.is_empty() {
            let removed: Map<String, Value> = i
                .removed
                .iter()
                .map(|(n, ver)| {
                    (n.clone(), ver.as_ref().map_or_else(|| json!({}), |v| json!({"version": v.to_string()})))
                })
                .collect();
            obj.insert("removed_components".into(), Value::Object(removed));
        }
        if let Some(hw) = hardware_wire(i) {
            obj.insert("hardware_support".into(), hw);
        }
    }
    v
}

/// `com.vmware.esx.hosts.software_info` of an installed image.
fn hosts_software_info(i: &Installed) -> Value {
    let b = &i.base;
    let comp = |p: &Part| json!({"version": p.version.to_string(), "display_name": p.display_name, "display_version": p.display_version, "vendor": p.vendor});
    let components: Map<String, Value> = i.components.iter().map(|(n, p)| (n.clone(), comp(p))).collect();
    let mut v = json!({
        "base_image": {
            "version": b.version.to_string(), "display_name": b.display_name,
            "display_version": b.display_version, "release_date": b.release_date,
        },
        "components": components,
        "solutions": {},
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some((name, a)) = &i.add_on {
            obj.insert(
                "add_on".into(),
                json!({"name": name, "version": a.version.to_string(), "display_name": a.display_name,
                       "vendor": a.vendor, "display_version": a.display_version}),
            );
        }
        if !i.removed.is_empty() {
            // The API's component_info needs a version: the one the base image or add-on
            // would have brought, empty when the depots do not know it.
            let removed: Map<String, Value> = i
                .removed
                .iter()
                .map(|(n, ver)| {
                    let ver = ver.as_ref().map(ToString::to_string).unwrap_or_default();
                    (n.clone(), json!({"version": ver, "display_name": n, "display_version": ver, "vendor": ""}))
                })
                .collect();
            obj.insert("removed_components".into(), Value::Object(removed));
        }
        if let Some(hw) = hardware_wire(i) {
            obj.insert("hardware_support".into(), hw);
        }
    }
    v
}

/// A `com.vmware.esx.settings.notification`.
pub(crate) fn note(kind: &str, id: &str, text: &str, time: &str) -> Value {
    json!({"type": kind, "id": id, "time": time, "message": message(id, text, &[]), "originator": "esxlcm"})
}

/// How one host's extraction went.
enum Outcome {
    Extracted(Box<Installed>),
    /// No state posted, or a stored one that no longer reads.
    Failed(String),
    /// The host reports no base image.
    Unsupported(String),
}

fn host_outcome(catalog: &Catalog, id: &str, h: &Host) -> (Outcome, Option<HostState>) {
    let Some(v) = &h.state else {
        let why = format!(
            "no installed state was posted for host {id} ({}): PUT /api/esxlcm/hosts/{id}/state with its esxcli output",
            h.name
        );
        return (Outcome::Failed(why), None);
    };
    let state = match HostState::from_value(v) {
        Ok(s) => s,
        Err(e) => return (Outcome::Failed(format!("the posted state of host {id} does not read: {e}")), None),
    };
    match derive(catalog, &state) {
        Some(i) => (Outcome::Extracted(Box::new(i)), Some(state)),
        None => {
            let why = format!(
                "host {id} ({}) reports no base image (ESXi before 7.0): its software cannot be described as an image",
                h.name
            );
            (Outcome::Unsupported(why), Some(state))
        }
    }
}

/// The VIB ids of the installed components, when the depots know every one of them.
fn component_vibs(catalog: &Catalog, state: &HostState) -> Option<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for c in &state.components {
        ids.extend(catalog.component(&c.name, &c.version)?.bulletin.vib_ids.iter().cloned());
    }
    Some(ids)
}

/// `installed_image_info` of `members`, the hosts of `what` (a cluster, or one host).
fn extract(catalog: &Catalog, members: &[(&String, &Host)], what: &str) -> Value {
    let time = format_datetime(Utc::now());
    let (mut successful, mut failed, mut unsupported) = (Vec::new(), Vec::new(), Vec::new());
    let mut host_notes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut groups: Vec<(ImageKey, Installed, Vec<String>)> = Vec::new();
    let mut orphaned: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut extract_notes, mut eligibility_notes) = (Vec::new(), Vec::new());
    let mut unknown_vibs = Vec::new();
    for (id, h) in members {
        let (outcome, state) = host_outcome(catalog, id, h);
        let notes = host_notes.entry((*id).clone()).or_default();
        match outcome {
            Outcome::Extracted(i) => {
                successful.push((*id).clone());
                let key = i.key();
                match groups.iter_mut().find(|(k, _, _)| *k == key) {
                    Some((_, _, hosts)) => hosts.push((*id).clone()),
                    None => groups.push((key, *i, vec![(*id).clone()])),
                }
            }
            Outcome::Failed(why) => {
                failed.push((*id).clone());
                notes.push(note("ERROR", "com.esxlcm.installed_image.no_state", &why, &time));
                extract_notes.push(note("ERROR", "com.esxlcm.installed_image.host_failed", &why, &time));
            }
            Outcome::Unsupported(why) => {
                unsupported.push((*id).clone());
                notes.push(note("ERROR", "com.esxlcm.installed_image.no_base_image", &why, &time));
                eligibility_notes.push(note("ERROR", "com.esxlcm.installed_image.host_unsupported", &why, &time));
            }
        }
        if let Some(state) = state {
            match component_vibs(catalog, &state) {
                Some(known) => {
                    for vib in state.vibs.iter().map(|v| v.key()).filter(|k| !known.contains(k)) {
                        orphaned.entry(vib).or_default().push((*id).clone());
                    }
                }
                None => unknown_vibs.push((*id).clone()),
            }
        }
    }
    if !unknown_vibs.is_empty() {
        let text = format!(
            "orphaned VIBs are not reported for {}: the depots do not know all of their installed components",
            unknown_vibs.join(", ")
        );
        extract_notes.push(note("INFO", "com.esxlcm.installed_image.vibs_unchecked", &text, &time));
    }
    // Most widely used: most hosts, then the higher version; highest: base image, then add-on.
    let version_of = |g: &(ImageKey, Installed, Vec<String>)| (g.0.0.clone(), g.0.1.as_ref().map(|a| a.1.clone()));
    let widest = (0..groups.len())
        .max_by(|&a, &b| (groups[a].2.len(), version_of(&groups[a])).cmp(&(groups[b].2.len(), version_of(&groups[b]))));
    let highest = (0..groups.len()).max_by(|&a, &b| version_of(&groups[a]).cmp(&version_of(&groups[b])));
    if groups.len() > 1
        && let Some(w) = widest
    {
        let text = format!("the hosts run {} different images", groups.len());
        extract_notes.push(note("WARNING", "com.esxlcm.installed_image.not_uniform", &text, &time));
        for (i, (_, _, hosts)) in groups.iter().enumerate().filter(|(i, _)| *i != w) {
            for h in hosts {
                let text = format!("host {h} runs another image than the most widely used one (image {})", i + 1);
                host_notes.entry(h.clone()).or_default().push(note(
                    "WARNING",
                    "com.esxlcm.installed_image.differs",
                    &text,
                    &time,
                ));
            }
        }
    }
    if members.is_empty() {
        let text = format!("{what} has no hosts");
        extract_notes.push(note("ERROR", "com.esxlcm.installed_image.no_hosts", &text, &time));
    }
    let image = |g: &(ImageKey, Installed, Vec<String>)| json!({"software_info": settings_software_info(&g.1), "host_list": g.2});
    let mut categories = json!({
        "is_highest_and_widely_used_image_equal": widest.is_some() && widest == highest,
        "host_image_list": groups.iter().map(image).collect::<Vec<_>>(),
    });
    if let (Some(obj), Some(w), Some(hi)) = (categories.as_object_mut(), widest, highest) {
        obj.insert("most_widely_used_image".into(), image(&groups[w]));
        obj.insert("highest_versioned_image".into(), image(&groups[hi]));
    }
    let status = if members.is_empty() {
        "UNAVAILABLE"
    } else if !successful.is_empty() {
        "SUCCESS"
    } else if failed.is_empty() {
        "ELIGIBILITY_CHECK_FAILURE"
    } else {
        "EXTRACT_INSTALLED_IMAGE_FAILURE"
    };
    let by_kind = |list: &[Value]| {
        let pick = |k: &str| list.iter().filter(|n| n["type"] == k).cloned().collect::<Vec<_>>();
        json!({"info": pick("INFO"), "warnings": pick("WARNING"), "errors": pick("ERROR")})
    };
    let host_notifications: Map<String, Value> = host_notes.iter().map(|(h, l)| (h.clone(), by_kind(l))).collect();
    let host_info: Map<String, Value> =
        members.iter().map(|(id, h)| ((*id).clone(), json!({"name": h.name, "is_vsan_witness": false}))).collect();
    json!({
        "completion_time": format_datetime(Utc::now()),
        // Uniform only when every host was read and all run the same image.
        "uniform_image": groups.len() == 1 && failed.is_empty() && unsupported.is_empty(),
        "status": status,
        "successful_hosts": successful,
        "failed_hosts": failed,
        "unsupported_hosts": unsupported,
        "image_categories": categories,
        "host_notifications": host_notifications,
        "host_info": host_info,
        "orphaned_vibs": orphaned,
        "notifications": {
            "EXTRACT_INSTALLED_IMAGE": by_kind(&extract_notes),
            "ELIGIBILITY_CHECK": by_kind(&eligibility_notes),
        },
    })
}

/// The installed image of a cluster's hosts, extracted from their posted states and
/// stored for `installed_images.get` (`clusters.installed_images.extract`,
/// `inventory.extract_installed_image`).
pub async fn extract_cluster(state: &ApiState, cluster: &str) -> Result<Value, ApiError> {
    let catalog = state.depots.catalog().await?;
    let s = state.depots.snapshot().await;
    super::inventory::cluster(&s, cluster)?;
    let members: Vec<(&String, &Host)> =
        s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(cluster)).collect();
    let info = extract(&catalog, &members, &format!("cluster {cluster}"));
    drop(s);
    let stored = info.clone();
    state
        .depots
        .mutate(|s| {
            // The cluster may have gone while the states were read.
            super::inventory::cluster(s, cluster)?;
            s.installed_images.insert(cluster.to_owned(), stored);
            Ok(())
        })
        .await?;
    tracing::info!(cluster = %cluster, status = %info["status"], "installed image extracted");
    Ok(info)
}

/// The installed image of one host, as [`extract_cluster`] reads a cluster's hosts; not
/// stored (no `hosts.installed_images` service answers it later).
pub async fn extract_host(state: &ApiState, host: &str) -> Result<Value, ApiError> {
    let catalog = state.depots.catalog().await?;
    let s = state.depots.snapshot().await;
    let member = s.hosts.get_key_value(host).ok_or_else(|| ApiError::not_found("host", host))?;
    Ok(extract(&catalog, &[member], &format!("host {host}")))
}

/// `clusters.installed_images.extract$task`: computed from the posted states and stored.
pub fn images_extract(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster: String = ctx.input("cluster")?;
        ctx.report(10, 100, "Reading the hosts' installed states");
        Ok(Out::Plain(extract_cluster(&ctx.state, &cluster).await?))
    })
}

/// `clusters.installed_images.get`: the last extraction.
pub fn images_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster: String = ctx.input("cluster")?;
        let s = ctx.state.depots.snapshot().await;
        super::inventory::cluster(&s, &cluster)?;
        s.installed_images.get(&cluster).cloned().map(Out::Plain).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                "com.esxlcm.installed_image.not_extracted",
                format!("the installed image of cluster '{cluster}' has not been extracted yet (extract$task)"),
            )
        })
    })
}

/// The posted state of a host: `not_found` for an unknown host, `service_unavailable`
/// while none was posted (as for a host vCenter cannot reach).
fn posted_state(s: &ServerState, id: &str) -> Result<HostState, ApiError> {
    let h = s.hosts.get(id).ok_or_else(|| ApiError::not_found("host", id))?;
    let v = h.state.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorKind::ServiceUnavailable,
            "com.esxlcm.host.no_state",
            format!("no installed state was posted for host '{id}' (PUT /api/esxlcm/hosts/{id}/state)"),
        )
    })?;
    HostState::from_value(v).map_err(|e| {
        ApiError::new(
            ErrorKind::Error,
            "com.esxlcm.host.bad_state",
            format!("the posted state of host '{id}' does not read: {e}"),
        )
    })
}

#[derive(Deserialize)]
struct ConnectionSpec {
    auth_type: String,
    host: Option<String>,
}

/// `esx.hosts.software.get`: an ESXi host's own API. `auth_type` EXISTING names a host of
/// esxlcm's inventory; USERNAME_PASSWORD would mean connecting to a host, which esxlcm
/// never does.
pub fn host_software_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: ConnectionSpec = ctx.input("spec")?;
        let id = match (spec.auth_type.as_str(), spec.host) {
            ("EXISTING", Some(h)) => h,
            _ => {
                return Err(ApiError::invalid_argument(
                    "esxlcm does not connect to hosts: use auth_type EXISTING with the id of a host of its inventory \
                     (its state posted to /api/esxlcm/hosts/{host}/state)",
                ));
            }
        };
        let catalog = ctx.state.depots.catalog().await?;
        let s = ctx.state.depots.snapshot().await;
        let state = posted_state(&s, &id)?;
        let installed = derive(&catalog, &state).ok_or_else(|| {
            ApiError::new(
                ErrorKind::Error,
                "com.esxlcm.host.no_base_image",
                format!(
                    "host '{id}' reports no base image (ESXi before 7.0): its software cannot be described as an image"
                ),
            )
        })?;
        let time = format_datetime(Utc::now());
        let warnings: Vec<Value> = (!state.unknown_fields.is_empty())
            .then(|| {
                let text =
                    format!("the posted state has fields esxlcm does not read: {}", state.unknown_fields.join(", "));
                let id = "com.esxlcm.host.unknown_fields";
                json!({"id": id, "time": time, "message": message(id, &text, &[])})
            })
            .into_iter()
            .collect();
        Ok(Out::Plain(json!({
            "notifications": {"info": [], "warnings": warnings, "errors": []},
            "software_info": hosts_software_info(&installed),
        })))
    })
}

/// `esx.hosts.software.installed_components.list`: every component the host reports.
pub fn installed_components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("host")?;
        let catalog = ctx.state.depots.catalog().await?;
        let s = ctx.state.depots.snapshot().await;
        let state = posted_state(&s, &id)?;
        let map: Map<String, Value> = state
            .components
            .iter()
            .map(|c| {
                let p = component_part(&catalog, c);
                let mut v = json!({"display_name": p.display_name, "version": p.version.to_string(), "display_version": p.display_version});
                // Platforms are known only from the depots' bulletin of that version.
                if let (Some(b), Some(obj)) = (catalog.component(&c.name, &c.version), v.as_object_mut())
                    && !b.bulletin.platforms.is_empty()
                {
                    let platforms: BTreeSet<String> =
                        b.bulletin.platforms.iter().map(|p| p.product_line_id.clone()).collect();
                    obj.insert("platforms".into(), json!(platforms));
                }
                (c.name.clone(), v)
            })
            .collect();
        Ok(Out::Plain(Value::Object(map)))
    })
}

#[derive(Deserialize, Default)]
struct ApplyImpactSpec {
    hosts: Option<BTreeSet<String>>,
}

fn impact(id: &str, text: &str) -> Value {
    json!({"message": message(&format!("com.esxlcm.apply_impact.{id}"), text, &[])})
}

/// What applying the image would do to one host, from its compliance.
fn host_impacts(c: &HostCompliance, has_state: bool) -> Vec<Value> {
    let mut out = Vec::new();
    if !has_state {
        out.push(impact("unknown", "The impact is unknown: no installed state was posted for the host"));
        return out;
    }
    if c.status == ComplianceStatus::Incompatible {
        let why = if c.notifications.is_empty() { String::new() } else { format!(": {}", c.notifications.join("; ")) };
        out.push(impact("incompatible", &format!("The image cannot be applied to the host{why}")));
        return out;
    }
    if c.status == ComplianceStatus::Compliant {
        return out;
    }
    let mut changes = Vec::new();
    if c.base_image.status == ComplianceStatus::NonCompliant {
        let from = c.base_image.current.as_ref().map_or_else(|| "none".to_owned(), |v| v.version.to_string());
        changes.push(format!("base image {from} → {}", c.base_image.target.version));
    }
    if c.add_on.status == ComplianceStatus::NonCompliant {
        changes.push("add-on changed".to_owned());
    }
    for (label, change) in [
        ("to install", ComponentChange::Install),
        ("to upgrade", ComponentChange::Upgrade),
        ("to remove", ComponentChange::Remove),
    ] {
        let names = c.components_with(change);
        if !names.is_empty() {
            changes.push(format!("components {label}: {}", names.join(", ")));
        }
    }
    let removed: Vec<&str> = c
        .removed_components
        .iter()
        .filter(|(_, r)| r.status == ComplianceStatus::NonCompliant)
        .map(|(n, _)| n.as_str())
        .collect();
    if !removed.is_empty() {
        changes.push(format!("removed components to uninstall: {}", removed.join(", ")));
    }
    if !changes.is_empty() {
        out.push(impact("changes", &format!("The host's software changes: {}", changes.join("; "))));
    }
    let d = &c.impact_details;
    if d.maintenance_mode_required || d.reboot_required {
        out.push(impact("maintenance_mode", "The host will enter maintenance mode"));
    }
    if d.reboot_required {
        out.push(impact("reboot", "The host will be rebooted"));
    }
    if c.impact == ComplianceImpact::Unknown {
        out.push(impact("impact_unknown", "The impact of some changes is unknown"));
    }
    out.extend(d.notes.iter().map(|n| impact("note", n)));
    out
}

/// The committed image of a cluster or standalone host, resolved against the depots: what
/// apply impact is computed against. No commit yet is `NotFound` (the reference's error
/// for "nothing to report").
async fn committed_resolution(ctx: &Ctx, owner: &Owner) -> Result<(String, SpecResolution), ApiError> {
    let (commit, software) = {
        let s = ctx.state.depots.snapshot().await;
        committed(&s, owner).map_err(|e| {
            if e.kind == ErrorKind::NotAllowedInCurrentState {
                let id = e.messages.first().map_or("com.esxlcm.no_image", |m| m.id.as_str());
                ApiError::new(
                    ErrorKind::NotFound,
                    id,
                    format!("{owner} has no desired image to apply yet (commit a draft first)"),
                )
            } else {
                e
            }
        })?
    };
    let (_, r) = resolve(&ctx.state, software).await?;
    if r.main.has_errors() {
        return Err(ApiError::new(
            ErrorKind::Error,
            "com.esxlcm.image.invalid",
            format!("the desired image of {owner} does not resolve against the depots"),
        ));
    }
    Ok((commit, r))
}

/// `clusters.software.reports.apply_impact.get`: each host checked against the committed
/// image with esxlcm_solver, as a scan does (computed now, not taken from the last scan).
pub fn apply_impact_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let cluster: String = ctx.input("cluster")?;
        let spec: Option<ApplyImpactSpec> = ctx.input("spec")?;
        let (commit, r) = committed_resolution(&ctx, &Owner::Cluster(cluster.clone())).await?;
        let s = ctx.state.depots.snapshot().await;
        let members: BTreeMap<&String, &Host> =
            s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(cluster.as_str())).collect();
        let wanted: Vec<(&String, &Host)> = match spec.and_then(|s| s.hosts) {
            None => members.into_iter().collect(),
            Some(ids) => ids
                .iter()
                .map(|id| {
                    members.get_key_value(id).map(|(k, v)| (*k, *v)).ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::NotFound,
                            "com.esxlcm.host.not_in_cluster",
                            format!("host '{id}' is not a host of cluster '{cluster}'"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut host_impact = Map::new();
        let mut host_info = Map::new();
        let (mut reboot, mut maintenance, mut unknown, mut incompatible) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, h) in wanted {
            let state = h.state.as_ref().and_then(|v| HostState::from_value(v).ok());
            let c = esxlcm_solver::alternatives::check_host(&r, state.as_ref());
            if state.is_none() {
                unknown.push(id.as_str());
            } else if c.status == ComplianceStatus::Incompatible {
                incompatible.push(id.as_str());
            } else if c.status != ComplianceStatus::Compliant {
                if c.impact_details.reboot_required {
                    reboot.push(id.as_str());
                }
                if c.impact_details.reboot_required || c.impact_details.maintenance_mode_required {
                    maintenance.push(id.as_str());
                }
            }
            host_impact.insert(id.clone(), Value::Array(host_impacts(&c, state.is_some())));
            host_info.insert(id.clone(), host_info_of(h));
        }
        let mut cluster_impact = Vec::new();
        for (list, id, what) in [
            (&maintenance, "maintenance_mode", "will enter maintenance mode"),
            (&reboot, "reboot", "will be rebooted"),
            (&incompatible, "incompatible", "cannot take the image"),
            (&unknown, "unknown", "have an unknown impact (no installed state posted)"),
        ] {
            if !list.is_empty() {
                cluster_impact.push(impact(id, &format!("{} host(s) {what}: {}", list.len(), list.join(", "))));
            }
        }
        Ok(Out::Plain(json!({
            "impact": cluster_impact,
            "host_impact": host_impact,
            "commit": commit,
            "host_info": host_info,
        })))
    })
}

/// `hosts.software.reports.apply_impact.get`: a standalone host against its own committed
/// image, as for one host of a cluster.
pub fn host_apply_impact_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let host: String = ctx.input("host")?;
        let (commit, r) = committed_resolution(&ctx, &Owner::Host(host.clone())).await?;
        let s = ctx.state.depots.snapshot().await;
        let h = s.hosts.get(&host).ok_or_else(|| ApiError::not_found("host", &host))?;
        let state = h.state.as_ref().and_then(|v| HostState::from_value(v).ok());
        let c = esxlcm_solver::alternatives::check_host(&r, state.as_ref());
        Ok(Out::Plain(json!({
            "impact": host_impacts(&c, state.is_some()),
            "commit": commit,
            "host_info": host_info_of(h),
        })))
    })
}

fn host_info_of(h: &Host) -> Value {
    json!({"name": h.name, "is_vsan_witness": false})
}
