//! A spec with alternative images: each resolved on its own, invalid IDs and criteria
//! reported, and the image a host gets chosen by its selection criteria.
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use crate::common::*;
use esxlcm_solver::notification::ids;
use esxlcm_solver::{HostIdentity, ResolveOptions, Severity, SoftwareSpec, resolve_spec};

const SPEC: &str = r#"{
  "base_image": {"version": "7.0.3-0.0.100"},
  "components": {"X": null},
  "alternative_images": {
    "r650": {
      "display_name": "Dell R650 hosts",
      "base_image": {"version": "8.0.1-0.0.200"},
      "components": {"X": null},
      "selection_criteria": {"selection_type": "HOST_HARDWARE_SPEC",
        "host_hardware_spec": {"vendor": "Dell Inc.", "models": ["PowerEdge R650"]}}
    },
    "lab-host": {
      "base_image": {"version": "8.0.1-0.0.200"},
      "selection_criteria": {"selection_type": "HOST_UUID", "host_uuids": ["uuid-lab-1"]}
    },
    "Bad_ID": {
      "base_image": {"version": "8.0.1-0.0.200"}
    }
  }
}"#;

fn world() -> Fixture {
    let mut f = Fixture::new();
    let mut base7 = vib("esx-base", "7.0.3-0.0.100");
    base7.provides = vec![provide("vmkapi_2_4_0_0")];
    let mut base8 = vib("esx-base", "8.0.1-0.0.200");
    base8.provides = vec![provide("vmkapi_2_4_0_0"), provide("vmkapi_2_5_0_0")];
    let mut x19 = vib("x-drv", "1.9-1");
    x19.depends = vec![dep("vmkapi_2_4_0_0")];
    let mut x20 = vib("x-drv", "2.0-1");
    x20.depends = vec![dep("vmkapi_2_5_0_0")];
    f.component("ESXi", "7.0.3-0.0.100", vec![base7])
        .component("ESXi", "8.0.1-0.0.200", vec![base8])
        .component("X", "1.9-1", vec![x19])
        .component("X", "2.0-1", vec![x20])
        .base_image("7.0.3-0.0.100", &[("ESXi", "7.0.3-0.0.100")])
        .base_image("8.0.1-0.0.200", &[("ESXi", "8.0.1-0.0.200")]);
    f
}

#[test]
fn each_alternative_image_resolves_on_its_own() {
    let spec = SoftwareSpec::from_json(SPEC.as_bytes()).unwrap();
    let r = resolve_spec(&spec, &world().catalog(), &ResolveOptions::default());
    assert!(!r.main.has_errors());
    assert_eq!(r.main.image.components["X"].version, v("1.9-1"));
    let r650 = &r.alternatives["r650"];
    assert!(!r650.has_errors());
    assert_eq!(r650.display_name.as_deref(), Some("Dell R650 hosts"));
    assert_eq!(r650.resolution.image.components["X"].version, v("2.0-1"));
    let bad = &r.alternatives["Bad_ID"];
    let errors: Vec<(&str, &str)> =
        bad.resolution.errors().map(|n| (n.id.as_str(), n.message.default_message.as_str())).collect();
    assert_eq!(
        errors,
        [
            (
                ids::ALTERNATIVE_IMAGE_INVALID,
                "alternative image Bad_ID: image ID \"Bad_ID\" may only hold letters, digits and '-'"
            ),
            (
                ids::ALTERNATIVE_IMAGE_INVALID,
                "alternative image Bad_ID: it has no selection_criteria: no host would get it"
            ),
        ]
    );
    assert!(bad.resolution.notifications.iter().all(|n| n.severity == Severity::Error));
    assert!(r.has_errors());
}

#[test]
fn hosts_get_the_image_their_criteria_select() {
    let spec = SoftwareSpec::from_json(SPEC.as_bytes()).unwrap();
    let r = resolve_spec(&spec, &world().catalog(), &ResolveOptions::default());
    let dell = HostIdentity { vendor: "Dell Inc.".into(), model: "PowerEdge R650".into(), ..HostIdentity::default() };
    assert_eq!(r.image_for(&dell), Ok(Some("r650")));
    let lab = HostIdentity { uuid: "UUID-LAB-1".into(), ..HostIdentity::default() };
    assert_eq!(r.image_for(&lab), Ok(Some("lab-host")));
    assert_eq!(r.image_for(&HostIdentity::default()), Ok(None));
    let both = HostIdentity { uuid: "uuid-lab-1".into(), ..dell };
    assert_eq!(r.image_for(&both), Err(vec!["lab-host".to_owned(), "r650".to_owned()]));
}

#[test]
fn compliance_checks_each_host_against_the_image_that_selects_it() {
    use esxlcm_solver::compliance::ComplianceStatus;
    use esxlcm_solver::host_state::HostState;
    let spec = SoftwareSpec::from_json(SPEC.as_bytes()).unwrap();
    let r = resolve_spec(&spec, &world().catalog(), &ResolveOptions::default());
    // A host with the R650 image's content (ESXi 8.0.1 and X 2.0).
    let state = |hardware: &str| {
        HostState::from_json(
            format!(
                r#"{{"base_image": {{"Version": "8.0.1-0.0.200"}},
                    "components": [{{"Name": "ESXi", "Version": "8.0.1-0.0.200"}}, {{"Name": "X", "Version": "2.0-1"}}],
                    "vibs": [{{"ID": "VMW_bootbank_esx-base_8.0.1-0.0.200", "Name": "esx-base", "Version": "8.0.1-0.0.200"}},
                             {{"ID": "VMW_bootbank_x-drv_2.0-1", "Name": "x-drv", "Version": "2.0-1"}}],
                    "hardware": {hardware}}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let dell = state(r#"{"vendor": "Dell Inc.", "model": "PowerEdge R650"}"#);
    let c = esxlcm_solver::alternatives::check_host(&r, Some(&dell));
    assert_eq!(c.alternative_image.as_deref(), Some("r650"));
    assert_eq!(c.status, ComplianceStatus::Compliant, "{:?}", c.notifications);
    // The same content on an unselected host is checked against the main image (7.0.3).
    let other = state(r#"{"vendor": "HPE", "model": "DL380"}"#);
    let c = esxlcm_solver::alternatives::check_host(&r, Some(&other));
    assert_eq!(c.alternative_image, None);
    assert_ne!(c.status, ComplianceStatus::Compliant);
    // Selected twice: INCOMPATIBLE, and the note names both images.
    let both = state(r#"{"vendor": "Dell Inc.", "model": "PowerEdge R650", "uuid": "uuid-lab-1"}"#);
    let c = esxlcm_solver::alternatives::check_host(&r, Some(&both));
    assert_eq!(c.status, ComplianceStatus::Incompatible);
    assert_eq!(c.notifications[0], "alternative images lab-host, r650 all select this host; the spec must select one");
}
