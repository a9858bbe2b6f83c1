//! Host compliance against the fixtures in `testdata/host-state/` (see its README), cluster
//! aggregation, and properties of the comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use esxlcm_depot::model::Vib;
use esxlcm_solver::compliance::{
    ClusterCompliance, ComplianceImpact, ComplianceStatus, ComponentChange, HostCompliance, aggregate_cluster,
    check_host,
};
use esxlcm_solver::host_state::{HostState, HostStateError};
use esxlcm_solver::{ComponentSource, EffectiveImage, ImageComponent};
use esxlcm_version::Version;
use proptest::prelude::*;
use serde_json::json;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

/// A minimal VIB descriptor. `mm` is the `<maintenance-mode>` element.
fn vib(vendor: &str, vib_type: &str, name: &str, version: &str, live_install: bool, mm: &str) -> Arc<Vib> {
    let xml = format!(
        "<vib version=\"5.0\"><type>{vib_type}</type><name>{name}</name><version>{version}</version>\
         <vendor>{vendor}</vendor><system-requires>{mm}</system-requires>\
         <live-install-allowed>{live_install}</live-install-allowed>\
         <live-remove-allowed>{live_install}</live-remove-allowed></vib>"
    );
    Arc::new(Vib::parse(xml.as_bytes()).unwrap())
}

fn add(
    image: &mut EffectiveImage,
    name: &str,
    display: &str,
    version: &str,
    source: ComponentSource,
    vibs: &[Arc<Vib>],
) {
    image.components.insert(
        name.to_owned(),
        ImageComponent {
            name: name.to_owned(),
            version: v(version),
            display_name: display.to_owned(),
            display_version: version.split('-').next().unwrap().to_owned(),
            source,
            vib_ids: vibs.iter().map(|v| v.id()).collect(),
        },
    );
    for vib in vibs {
        image.vibs.insert(vib.id(), vib.clone());
    }
}

fn empty_image(base: &str) -> EffectiveImage {
    EffectiveImage {
        base_image: v(base),
        add_on: None,
        hardware_support: Vec::new(),
        components: BTreeMap::new(),
        removed_components: Vec::new(),
        vibs: BTreeMap::new(),
    }
}

const MM: &str = "<maintenance-mode>true</maintenance-mode>";
const NO_MM: &str = "<maintenance-mode>false</maintenance-mode>";
const MM_ON_INSTALL: &str = "<maintenance-mode install=\"true\">false</maintenance-mode>";

/// The image the fixtures describe (testdata/host-state/README.md).
fn image() -> EffectiveImage {
    let mut image = empty_image("8.0.3-0.35.24280767");
    image.add_on = Some(("DEL-ESXi".to_owned(), v("803.24280767-A01")));
    add(
        &mut image,
        "ESXi",
        "ESXi",
        "8.0.3-0.35.24280767",
        ComponentSource::BaseImage,
        &[vib("VMware", "bootbank", "esx-base", "8.0.3-0.35.24280767", false, MM)],
    );
    add(
        &mut image,
        "Intel-i40en",
        "Intel(R) Ethernet Controllers X710",
        "2.5.0.0-1OEM.800.1.0.20613240",
        ComponentSource::AddOn,
        &[vib("INT", "bootbank", "i40en", "2.5.0.0-1OEM.800.1.0.20613240", false, MM)],
    );
    add(
        &mut image,
        "VMware-VM-Tools",
        "VMware Tools",
        "12.4.0.23259341-23395432",
        ComponentSource::BaseImage,
        &[vib("VMware", "locker", "tools-light", "12.4.0.23259341-23395432", true, NO_MM)],
    );
    add(
        &mut image,
        "DEL-Agent",
        "Dell iSM",
        "4.0.0-1",
        ComponentSource::User,
        &[vib("DEL", "bootbank", "dellagent", "4.0.0-1", true, MM_ON_INSTALL)],
    );
    image
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/host-state").join(name)
}

fn read(name: &str) -> Result<HostState, HostStateError> {
    HostState::from_json(&std::fs::read(fixture_path(name)).unwrap())
}

fn host(name: &str) -> HostState {
    read(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn check(name: &str) -> HostCompliance {
    check_host(&image(), Some(&host(name)))
}

fn change(result: &HostCompliance, component: &str) -> (ComplianceStatus, ComponentChange) {
    let c = &result.components[component];
    (c.status, c.change)
}

#[test]
fn compliant_host() {
    let h = host("compliant.json");
    assert_eq!(h.unknown_fields, ["base_image.QuickPatchCompatibleVersions"]);
    assert_eq!(h.components.len(), 4);
    assert_eq!(h.vibs[0].platforms, ["host", "embeddedEsx"]);
    let r = check_host(&image(), Some(&h));
    assert_eq!(r.status, ComplianceStatus::Compliant);
    assert_eq!(r.impact, ComplianceImpact::NoImpact);
    assert_eq!(r.base_image.status, ComplianceStatus::Compliant);
    assert_eq!(r.add_on.status, ComplianceStatus::Compliant);
    assert!(r.hardware_support.is_empty());
    for (name, c) in &r.components {
        assert_eq!((c.status, c.change), (ComplianceStatus::Compliant, ComponentChange::None), "{name}");
    }
    assert!(r.impact_details.vibs_to_install.is_empty());
    assert!(r.impact_details.vibs_to_remove.is_empty());
    assert!(!r.impact_details.reboot_required);
    assert!(!r.impact_details.maintenance_mode_required);
    assert!(r.notifications.is_empty());
}

#[test]
fn missing_component_is_to_install_with_maintenance_mode() {
    let r = check("missing-component.json");
    assert_eq!(r.status, ComplianceStatus::NonCompliant);
    assert_eq!(change(&r, "DEL-Agent"), (ComplianceStatus::NonCompliant, ComponentChange::Install));
    assert_eq!(r.components["DEL-Agent"].current, None);
    assert_eq!(r.components["DEL-Agent"].target_source, Some(ComponentSource::User));
    assert_eq!(r.components_with(ComponentChange::Install), ["DEL-Agent"]);
    assert_eq!(r.impact, ComplianceImpact::MaintenanceModeRequired);
    assert!(!r.impact_details.reboot_required);
    assert!(r.impact_details.maintenance_mode_required);
    assert_eq!(r.impact_details.vibs_to_install, ["DEL_bootbank_dellagent_4.0.0-1"]);
    assert!(r.impact_details.vibs_to_remove.is_empty());
}

#[test]
fn older_component_is_to_upgrade_live() {
    let r = check("older-component.json");
    assert_eq!(r.status, ComplianceStatus::NonCompliant);
    assert_eq!(change(&r, "VMware-VM-Tools"), (ComplianceStatus::NonCompliant, ComponentChange::Upgrade));
    assert_eq!(r.components["VMware-VM-Tools"].current.as_ref().unwrap().version.as_str(), "12.3.0.22234872-22247810");
    assert_eq!(r.components_with(ComponentChange::None), ["DEL-Agent", "ESXi", "Intel-i40en"]);
    assert_eq!(r.impact, ComplianceImpact::NoImpact);
    assert_eq!(r.impact_details.vibs_to_install, ["VMware_locker_tools-light_12.4.0.23259341-23395432"]);
    assert_eq!(r.impact_details.vibs_to_remove, ["VMware_locker_tools-light_12.3.0.22234872-22247810"]);
    assert!(r.impact_details.notes.is_empty());
}

#[test]
fn newer_component_is_a_downgrade_and_incompatible() {
    let r = check("newer-component.json");
    assert_eq!(r.status, ComplianceStatus::Incompatible);
    assert_eq!(change(&r, "Intel-i40en"), (ComplianceStatus::Incompatible, ComponentChange::Downgrade));
    assert_eq!(r.impact, ComplianceImpact::RebootRequired);
    assert!(r.impact_details.reboot_required && r.impact_details.maintenance_mode_required);
    assert_eq!(r.impact_details.vibs_to_install, ["INT_bootbank_i40en_2.5.0.0-1OEM.800.1.0.20613240"]);
    assert_eq!(r.impact_details.vibs_to_remove, ["INT_bootbank_i40en_2.6.0.0-1OEM.800.1.0.20613240"]);
    assert!(
        r.notifications.iter().any(|n| n.contains("Intel-i40en") && n.contains("downgrade")),
        "{:?}",
        r.notifications
    );
}

#[test]
fn extra_component_is_to_remove_and_assumes_reboot() {
    let r = check("extra-component.json");
    assert_eq!(r.status, ComplianceStatus::NonCompliant);
    assert_eq!(change(&r, "XYZ-ExtraDriver"), (ComplianceStatus::NonCompliant, ComponentChange::Remove));
    let c = &r.components["XYZ-ExtraDriver"];
    assert_eq!((c.target.as_ref(), c.target_source), (None, None));
    assert_eq!(r.components_with(ComponentChange::Remove), ["XYZ-ExtraDriver"]);
    assert_eq!(r.impact, ComplianceImpact::RebootRequired);
    assert!(r.impact_details.vibs_to_install.is_empty());
    assert_eq!(r.impact_details.vibs_to_remove, ["XYZ_bootbank_extradrv_1.0.0-1"]);
    assert_eq!(r.impact_details.notes.len(), 2, "{:?}", r.impact_details.notes);
}

#[test]
fn older_base_image_is_to_upgrade_with_reboot() {
    let r = check("older-base-image.json");
    assert_eq!(r.status, ComplianceStatus::NonCompliant);
    assert_eq!(r.base_image.status, ComplianceStatus::NonCompliant);
    assert_eq!(r.base_image.current.as_ref().unwrap().version.as_str(), "8.0.2-0.0.22380479");
    assert_eq!(r.base_image.current.as_ref().unwrap().display_version.as_deref(), Some("8.0 U2"));
    assert_eq!(r.base_image.target.version.as_str(), "8.0.3-0.35.24280767");
    assert_eq!(change(&r, "ESXi"), (ComplianceStatus::NonCompliant, ComponentChange::Upgrade));
    assert_eq!(r.impact, ComplianceImpact::RebootRequired);
    assert_eq!(r.impact_details.vibs_to_install, ["VMware_bootbank_esx-base_8.0.3-0.35.24280767"]);
    assert_eq!(r.impact_details.vibs_to_remove, ["VMware_bootbank_esx-base_8.0.2-0.0.22380479"]);
    assert!(r.impact_details.notes.is_empty());
}

#[test]
fn components_the_image_removes_are_reported_separately() {
    let mut img = image();
    img.removed_components = vec!["XYZ-ExtraDriver".to_owned(), "HPE-Agent".to_owned()];
    let r = check_host(&img, Some(&host("extra-component.json")));
    assert_eq!(r.status, ComplianceStatus::NonCompliant);
    assert!(!r.components.contains_key("XYZ-ExtraDriver"));
    let removed = &r.removed_components["XYZ-ExtraDriver"];
    assert_eq!((removed.status, removed.change), (ComplianceStatus::NonCompliant, ComponentChange::Remove));
    assert_eq!(removed.current.as_ref().unwrap().version.as_str(), "1.0.0-1");
    let absent = &r.removed_components["HPE-Agent"];
    assert_eq!((absent.status, absent.change), (ComplianceStatus::Compliant, ComponentChange::None));
    assert_eq!(r.impact_details.vibs_to_remove, ["XYZ_bootbank_extradrv_1.0.0-1"]);

    let r = check_host(&img, Some(&host("compliant.json")));
    assert_eq!(r.status, ComplianceStatus::Compliant);
    assert!(r.removed_components.values().all(|c| c.status == ComplianceStatus::Compliant));
}

#[test]
fn newer_base_image_on_host_is_incompatible() {
    let mut h = host("compliant.json");
    h.base_image.as_mut().unwrap().version = v("8.0.3-0.40.24585291");
    let r = check_host(&image(), Some(&h));
    assert_eq!(r.base_image.status, ComplianceStatus::Incompatible);
    assert_eq!(r.status, ComplianceStatus::Incompatible);
    assert_eq!(r.impact, ComplianceImpact::NoImpact);
}

#[test]
fn add_on_differences() {
    let mut h = host("compliant.json");
    h.add_on = None;
    let r = check_host(&image(), Some(&h));
    assert_eq!((r.add_on.status, r.status), (ComplianceStatus::NonCompliant, ComplianceStatus::NonCompliant));

    let mut h = host("compliant.json");
    h.add_on.as_mut().unwrap().version = v("803.24280767-A02");
    let r = check_host(&image(), Some(&h));
    assert_eq!((r.add_on.status, r.status), (ComplianceStatus::Incompatible, ComplianceStatus::Incompatible));

    let mut h = host("compliant.json");
    h.add_on.as_mut().unwrap().name = "HPE-Custom".to_owned();
    let r = check_host(&image(), Some(&h));
    assert_eq!(r.add_on.status, ComplianceStatus::NonCompliant);
    assert_eq!(r.add_on.current.as_ref().unwrap().name, "HPE-Custom");
}

#[test]
fn host_without_base_image_record_is_unavailable_when_nothing_else_differs() {
    let mut h = host("compliant.json");
    h.base_image = None;
    let r = check_host(&image(), Some(&h));
    assert_eq!((r.base_image.status, r.status), (ComplianceStatus::Unavailable, ComplianceStatus::Unavailable));
}

#[test]
fn missing_host_state_is_unavailable() {
    let r = check_host(&image(), None);
    assert_eq!(r.status, ComplianceStatus::Unavailable);
    assert_eq!(r.impact, ComplianceImpact::Unknown);
    assert_eq!(r.base_image.status, ComplianceStatus::Unavailable);
    assert_eq!(r.components.len(), 4);
    assert!(r.components.values().all(|c| c.status == ComplianceStatus::Unavailable && c.target.is_some()));
}

#[test]
fn vib_to_install_missing_from_the_vib_map_has_unknown_impact() {
    let mut img = image();
    img.vibs.remove("DEL_bootbank_dellagent_4.0.0-1");
    let r = check_host(&img, Some(&host("missing-component.json")));
    assert_eq!(r.impact, ComplianceImpact::Unknown);
    assert_eq!(r.impact_details.vibs_to_install, ["DEL_bootbank_dellagent_4.0.0-1"]);
    assert_eq!(r.impact_details.notes.len(), 1);
}

/// Lower-case/snake-case keys, a VIB without `ID` (matched by name/version/vendor), no
/// add-on, and hardware support packages.
#[test]
fn lenient_keys_and_hardware_support() {
    let h = host("lenient-keys.json");
    assert!(h.unknown_fields.is_empty(), "{:?}", h.unknown_fields);
    assert_eq!(h.vibs[0].id, None);
    let hw = h.hardware.as_ref().unwrap();
    assert_eq!(hw.model.as_deref(), Some("PowerEdge R650"));

    let mut img = empty_image("8.0.3-0.35.24280767");
    add(
        &mut img,
        "ESXi",
        "ESXi",
        "8.0.3-0.35.24280767",
        ComponentSource::BaseImage,
        &[vib("VMware", "bootbank", "esx-base", "8.0.3-0.35.24280767", false, MM)],
    );
    img.hardware_support.push(("Dell-HSM".to_owned(), "DellHSP".to_owned(), "1.0".to_owned()));
    let r = check_host(&img, Some(&h));
    assert_eq!(r.status, ComplianceStatus::Compliant, "{r:#?}");
    assert_eq!(r.hardware_support["Dell-HSM"].status, ComplianceStatus::Compliant);

    img.hardware_support[0].2 = "2.0".to_owned();
    let r = check_host(&img, Some(&h));
    assert_eq!(
        (r.hardware_support["Dell-HSM"].status, r.status),
        (ComplianceStatus::NonCompliant, ComplianceStatus::NonCompliant)
    );

    let mut no_hw = h.clone();
    no_hw.hardware = None;
    let r = check_host(&img, Some(&no_hw));
    assert_eq!(
        (r.hardware_support["Dell-HSM"].status, r.status),
        (ComplianceStatus::Unavailable, ComplianceStatus::Unavailable)
    );
}

#[test]
fn malformed_documents_name_the_field() {
    let cases = [
        ("malformed-missing-version.json", "components[1]: required field `Version` is missing"),
        ("malformed-wrong-type.json", "vibs: expected array, found object"),
        ("malformed-missing-components.json", "$: required field `components` is missing"),
    ];
    for (file, message) in cases {
        assert_eq!(read(file).unwrap_err().to_string(), message, "{file}");
    }
    match read("malformed-bad-version.json").unwrap_err() {
        HostStateError::InvalidVersion { path, value, .. } => {
            assert_eq!((path.as_str(), value.as_str()), ("base_image.Version", "8.0.3 build 24280767"));
        }
        other => panic!("{other}"),
    }
    assert!(matches!(read("malformed-not-json.json").unwrap_err(), HostStateError::Json(_)));
    let err = HostState::from_json(br#"{"base_image": null, "components": [{"Name": 7, "Version": "1"}], "vibs": []}"#);
    assert_eq!(err.unwrap().components[0].name, "7");
    let err =
        HostState::from_json(br#"{"base_image": null, "components": [{"Name": ["x"], "Version": "1"}], "vibs": []}"#)
            .unwrap_err();
    assert_eq!(err.to_string(), "components[0].Name: expected string, found array");
    let err = HostState::from_json(br#"{"base_image": null, "components": [{"Name": "a", "Version": "1"}, {"name": "a", "version": "2"}], "vibs": []}"#)
        .unwrap_err();
    assert!(matches!(err, HostStateError::DuplicateComponent { ref path, .. } if path == "components[1]"), "{err}");
}

#[test]
fn results_serialize_in_snake_case_with_api_enum_values() {
    let r = check("older-component.json");
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["status"], "NON_COMPLIANT");
    assert_eq!(j["impact"], "NO_IMPACT");
    assert_eq!(j["base_image"]["target"]["version"], "8.0.3-0.35.24280767");
    assert_eq!(j["components"]["VMware-VM-Tools"]["change"], "UPGRADE");
    assert_eq!(j["components"]["VMware-VM-Tools"]["target_source"], "BASE_IMAGE");
    assert_eq!(j["impact_details"]["vibs_to_remove"][0], "VMware_locker_tools-light_12.3.0.22234872-22247810");
    let cluster = aggregate_cluster(BTreeMap::from([("host-1".to_owned(), r)]));
    let j = serde_json::to_value(&cluster).unwrap();
    assert_eq!(j["non_compliant_hosts"], json!(["host-1"]));
    assert_eq!(j["hosts"]["host-1"]["status"], "NON_COMPLIANT");
}

fn with(status: ComplianceStatus, impact: ComplianceImpact) -> HostCompliance {
    let mut h = check("compliant.json");
    h.status = status;
    h.impact = impact;
    h
}

/// Host (status, impact) pairs → expected cluster status and impact.
type Row = (&'static [(ComplianceStatus, ComplianceImpact)], ComplianceStatus, ComplianceImpact);

#[test]
fn cluster_aggregation_table() {
    use ComplianceImpact::{MaintenanceModeRequired as Mm, NoImpact as No, RebootRequired as Reboot, Unknown as Unk};
    use ComplianceStatus::{Compliant as C, Incompatible as I, NonCompliant as N, Unavailable as U};
    let table: &[Row] = &[
        (&[], C, No),
        (&[(C, No)], C, No),
        (&[(C, No), (C, No)], C, No),
        (&[(C, No), (N, Mm)], N, Mm),
        (&[(C, No), (U, Unk)], U, Unk),
        (&[(N, Mm), (U, Unk)], N, Mm),
        (&[(N, Reboot), (N, Mm)], N, Reboot),
        (&[(I, Reboot), (N, Mm), (U, Unk), (C, No)], I, Reboot),
        (&[(I, No), (C, No)], I, No),
        (&[(U, Unk), (U, Unk)], U, Unk),
    ];
    for (hosts, status, impact) in table {
        let map: BTreeMap<String, HostCompliance> =
            hosts.iter().enumerate().map(|(i, (s, imp))| (format!("host-{i}"), with(*s, *imp))).collect();
        let c: ClusterCompliance = aggregate_cluster(map);
        assert_eq!((c.status, c.impact), (*status, *impact), "{hosts:?}");
        let count = |s: ComplianceStatus| hosts.iter().filter(|(hs, _)| *hs == s).count();
        assert_eq!(c.compliant_hosts.len(), count(C));
        assert_eq!(c.non_compliant_hosts.len(), count(N));
        assert_eq!(c.incompatible_hosts.len(), count(I));
        assert_eq!(c.unavailable_hosts.len(), count(U));
        assert_eq!(c.hosts.len(), hosts.len());
    }
}

/// An image of `n` components `Comp-<i>` at `<major>.<minor>.0-1`, one VIB each, and the
/// host-state document of a host that has exactly that installed.
fn image_and_host(versions: &[(u8, u8)]) -> (EffectiveImage, serde_json::Value) {
    let mut img = empty_image("8.0.3-0.35.24280767");
    let mut components = Vec::new();
    let mut vibs = Vec::new();
    for (i, (major, minor)) in versions.iter().enumerate() {
        let version = format!("{major}.{minor}.0-1");
        let name = format!("Comp-{i}");
        let vib = vib("Acme", "bootbank", &format!("drv{i}"), &version, i % 2 == 0, NO_MM);
        components.push(json!({"Name": name, "Version": version, "DisplayName": name}));
        vibs.push(json!({"ID": vib.id(), "Name": vib.name, "Version": version, "Vendor": "Acme"}));
        add(&mut img, &name, &name, &version, ComponentSource::User, &[vib]);
    }
    let doc = json!({
        "base_image": {"Version": "8.0.3-0.35.24280767"},
        "add_on": null,
        "components": components,
        "vibs": vibs,
    });
    (img, doc)
}

proptest! {
    #[test]
    fn host_equal_to_image_is_compliant(versions in prop::collection::vec((0u8..20, 0u8..50), 0..8)) {
        let (img, doc) = image_and_host(&versions);
        let h = HostState::from_value(&doc).unwrap();
        let r = check_host(&img, Some(&h));
        prop_assert_eq!(r.status, ComplianceStatus::Compliant);
        prop_assert_eq!(r.impact, ComplianceImpact::NoImpact);
        prop_assert!(r.impact_details.vibs_to_install.is_empty() && r.impact_details.vibs_to_remove.is_empty());
    }

    #[test]
    fn lowering_one_installed_version_yields_upgrade(
        versions in prop::collection::vec((0u8..20, 1u8..50), 1..8),
        pick in any::<prop::sample::Index>(),
        lower_by in 1u8..50,
    ) {
        let (img, mut doc) = image_and_host(&versions);
        let i = pick.index(versions.len());
        let (major, minor) = versions[i];
        let lowered = format!("{major}.{}.0-1", minor - lower_by.min(minor));
        doc["components"][i]["Version"] = json!(lowered);
        doc["vibs"][i]["Version"] = json!(lowered);
        doc["vibs"][i]["ID"] = json!(format!("Acme_bootbank_drv{i}_{lowered}"));
        doc["vibs"][i]["LiveRemoveAllowed"] = json!(true);
        doc["vibs"][i]["MaintenanceModeRequired"] = json!(false);
        let h = HostState::from_value(&doc).unwrap();
        let r = check_host(&img, Some(&h));
        let name = format!("Comp-{i}");
        prop_assert_eq!(change(&r, &name), (ComplianceStatus::NonCompliant, ComponentChange::Upgrade));
        prop_assert_eq!(r.status, ComplianceStatus::NonCompliant);
        prop_assert_eq!(r.components_with(ComponentChange::Upgrade), vec![name.as_str()]);
        prop_assert_eq!(r.impact_details.vibs_to_install.len(), 1);
        prop_assert_eq!(r.impact_details.vibs_to_remove.len(), 1);
        // Odd-numbered components' VIBs are not live-installable.
        let expected = if i % 2 == 1 { ComplianceImpact::RebootRequired } else { ComplianceImpact::NoImpact };
        prop_assert_eq!(r.impact, expected);
    }
}
