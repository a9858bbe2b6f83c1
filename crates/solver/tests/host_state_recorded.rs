//! The recorded esxcli outputs in `testdata/host-state/esxcli/` (see its README: which are
//! real, from where) are read unchanged: govc's `host.esxcli -json` wrapping, the JSON
//! formatter's key spellings, `hardware platform get` as the host's identity.

use std::path::PathBuf;

use esxlcm_solver::host_state::{HostState, PlatformInfo, parse_vib_list};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/host-state/esxcli")
}

fn read(rel: &str) -> Value {
    let path = dir().join(rel);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The replay set of one host as the collector assembles it.
fn esxi_801() -> Value {
    json!({
        "base_image": read("esxi-8.0.1/software-baseimage-get.json"),
        "add_on": null,
        "components": read("esxi-8.0.1/software-component-list.json"),
        "vibs": read("esxi-8.0.1/software-vib-list.json"),
        "hardware_platform": read("esxi-8.0.1/hardware-platform-get.json"),
        "system_version": read("esxi-8.0.1/system-version-get.json"),
    })
}

#[test]
fn govc_vib_get_dump_is_read_unchanged() {
    let doc = json!({
        "base_image": null,
        "components": [],
        "vibs": read("govc-software-vib-get.json"),
    });
    let state = HostState::from_value(&doc).unwrap();
    assert_eq!(state.vibs.len(), 2);
    let ui = &state.vibs[0];
    assert_eq!(ui.id.as_deref(), Some("VMware_bootbank_esx-ui_2.12.0-21482143"));
    assert_eq!(ui.version.to_string(), "2.12.0-21482143");
    assert_eq!((ui.live_install_allowed, ui.live_remove_allowed), (Some(true), Some(true)));
    assert_eq!(ui.maintenance_mode_required, Some(false));
    let gpio = &state.vibs[1];
    assert_eq!(gpio.maintenance_mode_required, Some(true));
    assert_eq!(gpio.platforms, ["host"]);
    // `software vib get` has more fields than compliance reads; they are reported, not refused.
    assert!(state.unknown_fields.iter().any(|f| f == "vibs[1].Tags"), "{:?}", state.unknown_fields);
    assert!(state.unknown_fields.iter().all(|f| f.starts_with("vibs[")), "{:?}", state.unknown_fields);
}

#[test]
fn the_esxi_801_replay_set_is_a_host_state() {
    let state = HostState::from_value(&esxi_801()).unwrap();
    assert_eq!(state.base_image.as_ref().unwrap().version.to_string(), "8.0.1-0.0.21495797");
    assert_eq!(state.components[0].name, "ESXi");
    assert_eq!(state.vibs.len(), 2);
    let hw = state.hardware.as_ref().unwrap();
    assert_eq!(hw.vendor.as_deref(), Some("VMware, Inc."));
    assert_eq!(hw.model.as_deref(), Some("VMware20,1"));
    // SMBIOS byte order: the serial number VMware prints carries the same UUID.
    assert_eq!(hw.uuid.as_deref(), Some("423300ff-d6dc-ba71-0a6a-f91c57132599"));
    let serial = state.platform.as_ref().unwrap().serial_number.clone().unwrap();
    let hex: String = serial.trim_start_matches("VMware-").chars().filter(char::is_ascii_hexdigit).collect();
    assert_eq!(hex, hw.uuid.as_deref().unwrap().replace('-', ""));
    assert_eq!(state.platform.as_ref().unwrap().ipmi_supported, Some(false));
    let version = state.system_version.as_ref().unwrap();
    assert_eq!(version.build.as_deref(), Some("Releasebuild-21495797"));
    assert!(state.unknown_fields.is_empty(), "{:?}", state.unknown_fields);
    // The identity alternative images select on.
    assert_eq!(hw.identity().vendor, "VMware, Inc.");
}

#[test]
fn vib_list_and_vib_get_of_one_host_agree() {
    let list = parse_vib_list(&read("esxi-8.0.1/software-vib-list.json"), &mut Vec::new()).unwrap();
    let doc = json!({"base_image": null, "components": [], "vibs": read("govc-software-vib-get.json")});
    let get = HostState::from_value(&doc).unwrap().vibs;
    let ids = |v: &[esxlcm_solver::host_state::InstalledVib]| v.iter().map(|v| v.key()).collect::<Vec<_>>();
    assert_eq!(ids(&list), ids(&get));
}

#[test]
fn our_hardware_block_wins_over_the_platform_and_keeps_hardware_support() {
    let mut doc = esxi_801();
    doc["hardware"] = json!({"vendor": "Dell Inc.", "family": "PowerEdge",
        "hardware_support": {"com.dell.OMIVV": {"pkg": "DellHSP", "version": "1.0"}}});
    let state = HostState::from_value(&doc).unwrap();
    let hw = state.hardware.unwrap();
    assert_eq!(hw.vendor.as_deref(), Some("Dell Inc."));
    assert_eq!(hw.model.as_deref(), Some("VMware20,1"), "filled in from the platform");
    assert_eq!(hw.family.as_deref(), Some("PowerEdge"));
    assert_eq!(hw.hardware_support.len(), 1);
}

#[test]
fn esxi_70_prints_the_base_image_as_one_line() {
    let mut doc = esxi_801();
    doc["base_image"] = json!("ESXi:7.0.1-0.0.16850804");
    let b = HostState::from_value(&doc).unwrap().base_image.unwrap();
    assert_eq!((b.display_name.as_deref(), b.version.to_string().as_str()), (Some("ESXi"), "7.0.1-0.0.16850804"));
    doc["base_image"] = json!("ESXi:not a version");
    let e = HostState::from_value(&doc).unwrap_err().to_string();
    assert!(e.starts_with("base_image: invalid version"), "{e}");
}

#[test]
fn govc_wrappings_of_get_commands_are_unwrapped() {
    let mut doc = esxi_801();
    doc["hardware_platform"] = json!({"values": [{"VendorName": ["Dell Inc."], "ProductName": ["PowerEdge R650"],
        "UUID": ["4c4c4544-0042-3510-8052-b4c04f4a4d33"], "IPMISupported": ["true"]}]});
    doc["add_on"] = json!({"values": []});
    let state = HostState::from_value(&doc).unwrap();
    assert!(state.add_on.is_none());
    let hw = state.hardware.unwrap();
    assert_eq!(hw.model.as_deref(), Some("PowerEdge R650"));
    assert_eq!(hw.uuid.as_deref(), Some("4c4c4544-0042-3510-8052-b4c04f4a4d33"));
    doc["system_version"] = json!({"values": [{"Version": ["8.0.1"]}, {"Version": ["8.0.2"]}]});
    let e = HostState::from_value(&doc).unwrap_err().to_string();
    assert_eq!(e, "system_version.values: expected one entry, found object");
}

#[test]
fn platform_uuids_in_every_form() {
    let p = |u: &str| PlatformInfo { uuid: Some(u.to_owned()), ..Default::default() }.canonical_uuid();
    assert_eq!(
        p("0x44 0x45 0x4c 0x4c 0x42 0x0 0x10 0x35 0x80 0x52 0xb4 0xc0 0x4f 0x4a 0x4d 0x33").as_deref(),
        Some("4c4c4544-0042-3510-8052-b4c04f4a4d33")
    );
    assert_eq!(p("4C4C4544-0042-3510-8052-B4C04F4A4D33").as_deref(), Some("4c4c4544-0042-3510-8052-b4c04f4a4d33"));
    assert_eq!(p("  ").as_deref(), None);
    assert_eq!(p("0x1 0x2").as_deref(), Some("0x1 0x2"));
}
