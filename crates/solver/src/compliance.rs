//! Host and cluster compliance: how a host's installed state ([`HostState`]) differs from an
//! [`EffectiveImage`], and what remediating it would cost.
//!
//! The result types follow the vSphere Automation API's `com.vmware.esx.settings`
//! compliance structures (`HostCompliance`, `BaseImageCompliance`, `AddOnCompliance`,
//! `HardwareSupportPackageCompliance`, `ComponentCompliance`, `ClusterCompliance`;
//! shared/reference/vlcm-api.md "Compliance" and vlcm-types.json), in snake_case, with the
//! API's enum values: `compliance_status` = COMPLIANT / NON_COMPLIANT / INCOMPATIBLE /
//! UNAVAILABLE and `compliance_impact` = NO_IMPACT / MAINTENANCE_MODE_REQUIRED /
//! REBOOT_REQUIRED / PARTIAL_MAINTENANCE_MODE_REQUIRED / UNKNOWN. Fields the API has but we
//! cannot fill offline (scan time, commit, stage status, DPU compliance) are left out.
//!
//! The API's `component_compliance.status` only says *whether* a component complies; what
//! remediation would do to it — the vSphere Client's "to install" / "to upgrade" /
//! "to downgrade" / "to remove" — has no API enum, so [`ComponentChange`] is ours.
//!
//! Rules (the reference files list the enums but not their documentation; these follow the
//! vSphere Automation API reference for `ComplianceStatus` and vLCM's documented behaviour,
//! marked \[I\] where inferred):
//!
//! * COMPLIANT: the host matches the image exactly (same version of everything, same VIBs).
//! * NON_COMPLIANT: remediation would change the host (install, upgrade, remove).
//! * INCOMPATIBLE: the image cannot be applied as is — vLCM does not downgrade: a base image,
//!   add-on or component older than the installed one makes the host incompatible.
//! * UNAVAILABLE: the host's state is unknown (no host state was given), or a part of it
//!   is unknown (no base image / hardware-support record) and nothing else is wrong \[I\].
//! * A host's status is the worst of its parts, and a cluster's the worst of its hosts, in
//!   the order INCOMPATIBLE > NON_COMPLIANT > UNAVAILABLE > COMPLIANT ([`ComplianceStatus::worst`];
//!   the API's `ClusterCompliance` partitions hosts into compliant / non_compliant /
//!   incompatible / unavailable sets and reports one aggregated `status` \[I: precedence\]).
//! * Impact: computed from the VIBs to install and remove (image VIB IDs vs the host's).
//!   Installing a VIB needs a reboot unless `live-install-allowed`; removing one unless
//!   `live-remove-allowed`. Maintenance mode: `maintenance-mode@install` / `@remove`, falling
//!   back to the element's value; a reboot always implies maintenance mode (vLCM enters
//!   maintenance mode before rebooting a host). REBOOT_REQUIRED > MAINTENANCE_MODE_REQUIRED >
//!   UNKNOWN > NO_IMPACT; UNKNOWN when a VIB to install is not in the image's VIB map.
//!   A VIB to remove whose flags the host did not report is assumed to need a reboot and
//!   maintenance mode, with a note.

use std::collections::{BTreeMap, BTreeSet};

use esxlcm_version::Version;
use serde::Serialize;

use crate::host_state::{HostState, InstalledVib};
use crate::image::{ComponentSource, EffectiveImage};

/// The API's `compliance_status`, declared from best to worst so that `Ord` is severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceStatus {
    Compliant,
    Unavailable,
    NonCompliant,
    Incompatible,
}

impl ComplianceStatus {
    /// The aggregate of several statuses: INCOMPATIBLE if any is, else NON_COMPLIANT if any
    /// is, else UNAVAILABLE if any is, else COMPLIANT (also for none at all).
    pub fn worst(statuses: impl IntoIterator<Item = Self>) -> Self {
        statuses.into_iter().max().unwrap_or(Self::Compliant)
    }
}

/// The API's `compliance_impact`. PARTIAL_MAINTENANCE_MODE_REQUIRED is never produced here
/// (it depends on vSAN/cluster services this check does not see).
/// Declared from least to most disruptive so that `Ord` is severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceImpact {
    NoImpact,
    Unknown,
    PartialMaintenanceModeRequired,
    MaintenanceModeRequired,
    RebootRequired,
}

impl ComplianceImpact {
    /// REBOOT_REQUIRED > MAINTENANCE_MODE_REQUIRED > PARTIAL_MAINTENANCE_MODE_REQUIRED >
    /// UNKNOWN > NO_IMPACT (also for none at all).
    pub fn worst(impacts: impl IntoIterator<Item = Self>) -> Self {
        impacts.into_iter().max().unwrap_or(Self::NoImpact)
    }
}

/// What remediation would do to one component (the vSphere Client's wording; not an API enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComponentChange {
    /// Installed at the image's version.
    None,
    /// In the image, not on the host ("to install").
    Install,
    /// On the host at an older version ("to upgrade").
    Upgrade,
    /// On the host at a newer version; vLCM does not downgrade, so the host is INCOMPATIBLE.
    Downgrade,
    /// On the host, not in the image ("to remove").
    Remove,
}

/// A version with its display fields: the shape of the API's `component_info` and
/// `base_image_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: Version,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_version: Option<String>,
}

/// The API's `component_compliance`, plus [`ComponentChange`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentCompliance {
    pub status: ComplianceStatus,
    pub change: ComponentChange,
    pub current: Option<ComponentInfo>,
    pub target: Option<ComponentInfo>,
    pub target_source: Option<ComponentSource>,
}

/// The API's `component_info`.
pub type ComponentInfo = VersionInfo;
/// The API's `base_image_info`.
pub type BaseImageInfo = VersionInfo;

/// The API's `base_image_compliance`; `current` is absent when the host state has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseImageCompliance {
    pub status: ComplianceStatus,
    pub current: Option<BaseImageInfo>,
    pub target: BaseImageInfo,
}

/// The API's `add_on_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddOnInfo {
    pub name: String,
    pub version: Version,
}

/// The API's `add_on_compliance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddOnCompliance {
    pub status: ComplianceStatus,
    pub current: Option<AddOnInfo>,
    pub target: Option<AddOnInfo>,
}

/// The API's `hardware_support_package_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HardwareSupportPackageInfo {
    pub pkg: String,
    pub version: String,
}

/// The API's `hardware_support_package_compliance` (without firmware module details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HardwareSupportPackageCompliance {
    pub status: ComplianceStatus,
    pub current: Option<HardwareSupportPackageInfo>,
    pub target: Option<HardwareSupportPackageInfo>,
}

/// What remediation would cost, and the VIB-level changes behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImpactDetails {
    pub reboot_required: bool,
    pub maintenance_mode_required: bool,
    /// Image VIB IDs not installed on the host, sorted.
    pub vibs_to_install: Vec<String>,
    /// Installed VIB IDs not in the image, sorted.
    pub vibs_to_remove: Vec<String>,
    /// Assumptions made (missing flags, unknown VIBs).
    pub notes: Vec<String>,
}

/// The API's `host_compliance`, for what an offline check can know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCompliance {
    pub status: ComplianceStatus,
    /// The alternative image the host was checked against (by its selection criteria);
    /// `None` for the spec's main image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_image: Option<String>,
    pub impact: ComplianceImpact,
    pub impact_details: ImpactDetails,
    pub base_image: BaseImageCompliance,
    pub add_on: AddOnCompliance,
    /// HSM name → package compliance.
    pub hardware_support: BTreeMap<String, HardwareSupportPackageCompliance>,
    /// Component name → compliance: every image component and every installed component
    /// the image does not name (those are "to remove").
    pub components: BTreeMap<String, ComponentCompliance>,
    /// The image's `removed_components` (the API's `removed_components`, source
    /// USER_REMOVED): REMOVE/NON_COMPLIANT when still installed, else COMPLIANT. These
    /// components are not repeated in `components`.
    pub removed_components: BTreeMap<String, ComponentCompliance>,
    /// Human-readable reasons for a status other than COMPLIANT.
    pub notifications: Vec<String>,
}

impl HostCompliance {
    /// Names of the components with the given change.
    pub fn components_with(&self, change: ComponentChange) -> Vec<&str> {
        self.components.iter().filter(|(_, c)| c.change == change).map(|(n, _)| n.as_str()).collect()
    }
}

/// The API's `cluster_compliance`: hosts partitioned by status, and the aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterCompliance {
    pub status: ComplianceStatus,
    pub impact: ComplianceImpact,
    pub compliant_hosts: BTreeSet<String>,
    pub non_compliant_hosts: BTreeSet<String>,
    pub incompatible_hosts: BTreeSet<String>,
    pub unavailable_hosts: BTreeSet<String>,
    pub hosts: BTreeMap<String, HostCompliance>,
}

fn compare(current: &Version, target: &Version) -> (ComplianceStatus, ComponentChange) {
    match current.cmp(target) {
        std::cmp::Ordering::Equal => (ComplianceStatus::Compliant, ComponentChange::None),
        std::cmp::Ordering::Less => (ComplianceStatus::NonCompliant, ComponentChange::Upgrade),
        std::cmp::Ordering::Greater => (ComplianceStatus::Incompatible, ComponentChange::Downgrade),
    }
}

/// Checks one host against an image. `None` means the host's state is not known: the
/// result is UNAVAILABLE with impact UNKNOWN, listing the image's targets.
pub fn check_host(image: &EffectiveImage, host: Option<&HostState>) -> HostCompliance {
    match host {
        Some(host) => check_known_host(image, host),
        None => unavailable_host(image),
    }
}

fn target_base_image(image: &EffectiveImage) -> BaseImageInfo {
    BaseImageInfo { version: image.base_image.clone(), display_name: None, display_version: None }
}

fn target_add_on(image: &EffectiveImage) -> Option<AddOnInfo> {
    image.add_on.as_ref().map(|(name, version)| AddOnInfo { name: name.clone(), version: version.clone() })
}

fn target_hsps(image: &EffectiveImage) -> BTreeMap<String, HardwareSupportPackageInfo> {
    image
        .hardware_support
        .iter()
        .map(|(manager, pkg, version)| {
            (manager.clone(), HardwareSupportPackageInfo { pkg: pkg.clone(), version: version.clone() })
        })
        .collect()
}

fn target_component(c: &crate::image::ImageComponent) -> ComponentInfo {
    ComponentInfo {
        version: c.version.clone(),
        display_name: Some(c.display_name.clone()),
        display_version: Some(c.display_version.clone()),
    }
}

fn unavailable_host(image: &EffectiveImage) -> HostCompliance {
    let u = ComplianceStatus::Unavailable;
    HostCompliance {
        status: u,
        alternative_image: None,
        impact: ComplianceImpact::Unknown,
        impact_details: ImpactDetails {
            reboot_required: false,
            maintenance_mode_required: false,
            vibs_to_install: Vec::new(),
            vibs_to_remove: Vec::new(),
            notes: Vec::new(),
        },
        base_image: BaseImageCompliance { status: u, current: None, target: target_base_image(image) },
        add_on: AddOnCompliance { status: u, current: None, target: target_add_on(image) },
        hardware_support: target_hsps(image)
            .into_iter()
            .map(|(m, t)| (m, HardwareSupportPackageCompliance { status: u, current: None, target: Some(t) }))
            .collect(),
        components: image
            .components
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    ComponentCompliance {
                        status: u,
                        change: ComponentChange::None,
                        current: None,
                        target: Some(target_component(c)),
                        target_source: Some(c.source),
                    },
                )
            })
            .collect(),
        removed_components: image
            .removed_components
            .iter()
            .map(|name| {
                let c = ComponentCompliance {
                    status: u,
                    change: ComponentChange::None,
                    current: None,
                    target: None,
                    target_source: None,
                };
                (name.clone(), c)
            })
            .collect(),
        notifications: vec!["host state is not available".to_owned()],
    }
}

fn check_known_host(image: &EffectiveImage, host: &HostState) -> HostCompliance {
    let mut notes = Vec::new();

    // Base image.
    let target = target_base_image(image);
    let base_image = match &host.base_image {
        None => {
            notes.push("host reports no base image".to_owned());
            BaseImageCompliance { status: ComplianceStatus::Unavailable, current: None, target }
        }
        Some(b) => {
            let (status, change) = compare(&b.version, &target.version);
            if change == ComponentChange::Downgrade {
                notes.push(format!(
                    "base image {} is older than the installed {}; downgrades are not supported",
                    target.version, b.version
                ));
            }
            let current = BaseImageInfo {
                version: b.version.clone(),
                display_name: b.display_name.clone(),
                display_version: b.display_version.clone(),
            };
            BaseImageCompliance { status, current: Some(current), target }
        }
    };

    // Add-on.
    let current = host.add_on.as_ref().map(|a| AddOnInfo { name: a.name.clone(), version: a.version.clone() });
    let target = target_add_on(image);
    let status = match (&current, &target) {
        (None, None) => ComplianceStatus::Compliant,
        (Some(c), Some(t)) if c.name == t.name => {
            let (status, change) = compare(&c.version, &t.version);
            if change == ComponentChange::Downgrade {
                notes.push(format!(
                    "add-on {} {} is older than the installed {}; downgrades are not supported",
                    t.name, t.version, c.version
                ));
            }
            status
        }
        _ => ComplianceStatus::NonCompliant,
    };
    let add_on = AddOnCompliance { status, current, target };

    // Hardware support packages.
    let targets = target_hsps(image);
    let installed = host.hardware.as_ref().map(|h| &h.hardware_support);
    let mut hardware_support = BTreeMap::new();
    let managers: BTreeSet<&String> = targets.keys().chain(installed.into_iter().flat_map(|m| m.keys())).collect();
    for manager in managers {
        let target = targets.get(manager).cloned();
        let current = installed
            .and_then(|m| m.get(manager))
            .map(|h| HardwareSupportPackageInfo { pkg: h.pkg.clone(), version: h.version.clone() });
        let status = if installed.is_none() {
            notes.push(format!("host reports no hardware support packages; {manager} not checked"));
            ComplianceStatus::Unavailable
        } else if current == target {
            ComplianceStatus::Compliant
        } else {
            ComplianceStatus::NonCompliant
        };
        hardware_support.insert(manager.clone(), HardwareSupportPackageCompliance { status, current, target });
    }

    // Components.
    let mut components = BTreeMap::new();
    for (name, c) in &image.components {
        let target = Some(target_component(c));
        let cc = match host.component(name) {
            None => ComponentCompliance {
                status: ComplianceStatus::NonCompliant,
                change: ComponentChange::Install,
                current: None,
                target,
                target_source: Some(c.source),
            },
            Some(inst) => {
                let (status, change) = compare(&inst.version, &c.version);
                if change == ComponentChange::Downgrade {
                    notes.push(format!(
                        "component {name} {} is older than the installed {}; downgrades are not supported",
                        c.version, inst.version
                    ));
                }
                ComponentCompliance {
                    status,
                    change,
                    current: Some(ComponentInfo {
                        version: inst.version.clone(),
                        display_name: inst.display_name.clone(),
                        display_version: inst.display_version.clone(),
                    }),
                    target,
                    target_source: Some(c.source),
                }
            }
        };
        components.insert(name.clone(), cc);
    }
    let mut removed_components: BTreeMap<String, ComponentCompliance> = image
        .removed_components
        .iter()
        .map(|name| {
            let c = ComponentCompliance {
                status: ComplianceStatus::Compliant,
                change: ComponentChange::None,
                current: None,
                target: None,
                target_source: None,
            };
            (name.clone(), c)
        })
        .collect();
    for inst in &host.components {
        if !image.components.contains_key(&inst.name) {
            let map =
                if removed_components.contains_key(&inst.name) { &mut removed_components } else { &mut components };
            map.insert(
                inst.name.clone(),
                ComponentCompliance {
                    status: ComplianceStatus::NonCompliant,
                    change: ComponentChange::Remove,
                    current: Some(ComponentInfo {
                        version: inst.version.clone(),
                        display_name: inst.display_name.clone(),
                        display_version: inst.display_version.clone(),
                    }),
                    target: None,
                    target_source: None,
                },
            );
        }
    }

    let (impact, impact_details) = vib_impact(image, host);

    let vib_status = if impact_details.vibs_to_install.is_empty() && impact_details.vibs_to_remove.is_empty() {
        ComplianceStatus::Compliant
    } else {
        ComplianceStatus::NonCompliant
    };
    let status = ComplianceStatus::worst(
        [base_image.status, add_on.status, vib_status]
            .into_iter()
            .chain(hardware_support.values().map(|h| h.status))
            .chain(components.values().chain(removed_components.values()).map(|c| c.status)),
    );
    HostCompliance {
        status,
        alternative_image: None,
        impact,
        impact_details,
        base_image,
        add_on,
        hardware_support,
        components,
        removed_components,
        notifications: notes,
    }
}

/// The image's VIB IDs: every component's `vib_ids` plus the VIB map's keys.
fn image_vib_ids(image: &EffectiveImage) -> BTreeSet<String> {
    image.components.values().flat_map(|c| c.vib_ids.iter().cloned()).chain(image.vibs.keys().cloned()).collect()
}

/// The ID an installed VIB is compared by: its `ID`, or — when the host did not report one —
/// the ID of the image VIB with the same name, version and (if reported) vendor, or else
/// [`InstalledVib::key`].
fn host_vib_id(image: &EffectiveImage, vib: &InstalledVib) -> String {
    if let Some(id) = &vib.id {
        return id.clone();
    }
    image
        .vibs
        .iter()
        .find(|(_, v)| {
            v.name == vib.name
                && v.version == vib.version
                && vib.vendor.as_ref().is_none_or(|vendor| *vendor == v.vendor)
        })
        .map_or_else(|| vib.key(), |(id, _)| id.clone())
}

fn vib_impact(image: &EffectiveImage, host: &HostState) -> (ComplianceImpact, ImpactDetails) {
    let desired = image_vib_ids(image);
    let installed: BTreeMap<String, &InstalledVib> = host.vibs.iter().map(|v| (host_vib_id(image, v), v)).collect();
    let mut details = ImpactDetails {
        reboot_required: false,
        maintenance_mode_required: false,
        vibs_to_install: desired.iter().filter(|id| !installed.contains_key(*id)).cloned().collect(),
        vibs_to_remove: installed.keys().filter(|id| !desired.contains(*id)).cloned().collect(),
        notes: Vec::new(),
    };
    let mut unknown = false;
    for id in &details.vibs_to_install {
        match image.vibs.get(id) {
            Some(vib) => {
                details.reboot_required |= vib.reboot_required();
                details.maintenance_mode_required |=
                    vib.maintenance_mode.install.unwrap_or(vib.maintenance_mode.required);
            }
            None => {
                unknown = true;
                details.notes.push(format!("VIB {id} to install is not in the image's VIB set; its impact is unknown"));
            }
        }
    }
    for id in &details.vibs_to_remove {
        let Some(vib) = installed.get(id) else { continue };
        match vib.live_remove_allowed {
            Some(live) => details.reboot_required |= !live,
            None => {
                details.reboot_required = true;
                details
                    .notes
                    .push(format!("VIB {id} to remove: host did not report LiveRemoveAllowed; reboot assumed"));
            }
        }
        match vib.maintenance_mode_required {
            Some(mm) => details.maintenance_mode_required |= mm,
            None => {
                details.maintenance_mode_required = true;
                details.notes.push(format!(
                    "VIB {id} to remove: host did not report MaintenanceModeRequired; maintenance mode assumed"
                ));
            }
        }
    }
    // vLCM puts a host in maintenance mode before rebooting it.
    details.maintenance_mode_required |= details.reboot_required;
    let impact = if details.reboot_required {
        ComplianceImpact::RebootRequired
    } else if details.maintenance_mode_required {
        ComplianceImpact::MaintenanceModeRequired
    } else if unknown {
        ComplianceImpact::Unknown
    } else {
        ComplianceImpact::NoImpact
    };
    (impact, details)
}

/// Aggregates host results into a cluster result: hosts partitioned by status, the
/// cluster's status by [`ComplianceStatus::worst`] and impact by [`ComplianceImpact::worst`].
pub fn aggregate_cluster(hosts: BTreeMap<String, HostCompliance>) -> ClusterCompliance {
    let mut sets: [BTreeSet<String>; 4] = Default::default();
    for (id, h) in &hosts {
        let i = match h.status {
            ComplianceStatus::Compliant => 0,
            ComplianceStatus::NonCompliant => 1,
            ComplianceStatus::Incompatible => 2,
            ComplianceStatus::Unavailable => 3,
        };
        sets[i].insert(id.clone());
    }
    let [compliant_hosts, non_compliant_hosts, incompatible_hosts, unavailable_hosts] = sets;
    ClusterCompliance {
        status: ComplianceStatus::worst(hosts.values().map(|h| h.status)),
        impact: ComplianceImpact::worst(hosts.values().map(|h| h.impact)),
        compliant_hosts,
        non_compliant_hosts,
        incompatible_hosts,
        unavailable_hosts,
        hosts,
    }
}
