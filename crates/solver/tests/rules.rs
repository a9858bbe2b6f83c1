//! One fixture per rule where it fires and one where it does not; explanations asserted in
//! full (snapshots under `tests/snapshots/`).
#![allow(clippy::unwrap_used)] // tests and their helpers fail loudly

use crate::common::*;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_solver::notification::ids;
use esxlcm_solver::spec::{HardwareSupportPackage, HardwareSupportSpec, ImageSpec, SolutionComponent, SolutionSpec};
use esxlcm_solver::{ComponentSource, Resolution, ResolveOptions, Severity, resolve};

const B7: &str = "7.0.3-0.0.100";
const B8: &str = "8.0.1-0.0.200";

/// Two base images (7.0.3 provides vmkapi 2.4, 8.0.1 also 2.5 and `esx-version` 8.0.1) and
/// component X at 1.9 (needs vmkapi 2.4) and 2.0 (needs vmkapi 2.5).
fn world() -> Fixture {
    let mut f = Fixture::new();
    let mut base7 = vib("esx-base", B7);
    base7.provides = vec![provide("vmkapi_2_4_0_0"), provide_v("esx-version", "7.0.3")];
    let mut base8 = vib("esx-base", B8);
    base8.provides = vec![provide("vmkapi_2_4_0_0"), provide("vmkapi_2_5_0_0"), provide_v("esx-version", "8.0.1")];
    let mut tools7 = vib("esx-tools", B7);
    tools7.depends = vec![dep_v("esx-base", "=", B7)];
    let mut x19 = vib("x-drv", "1.9-1");
    x19.depends = vec![dep("vmkapi_2_4_0_0")];
    let mut x20 = vib("x-drv", "2.0-1");
    x20.depends = vec![dep("vmkapi_2_5_0_0")];
    f.component("ESXi", B7, vec![base7, tools7])
        .component("ESXi", B8, vec![base8])
        .component("X", "1.9-1", vec![x19])
        .component("X", "2.0-1", vec![x20])
        .component("Net-Old", "1.0-1", vec![vib("net-old", "1.0-1")])
        .base_image(B7, &[("ESXi", B7), ("Net-Old", "1.0-1")])
        .base_image(B8, &[("ESXi", B8), ("Net-Old", "1.0-1")]);
    f
}

fn run(f: &Fixture, spec: &ImageSpec) -> Resolution {
    run_with(&f.catalog(), spec, &ResolveOptions::default())
}

fn run_with(catalog: &Catalog, spec: &ImageSpec, options: &ResolveOptions) -> Resolution {
    resolve(spec, catalog, options)
}

fn ids_of(r: &Resolution) -> Vec<(&str, Severity)> {
    r.notifications.iter().map(|n| (n.id.as_str(), n.severity)).collect()
}

fn text(r: &Resolution) -> String {
    r.notifications.iter().map(|n| n.to_text()).collect()
}

fn components(r: &Resolution) -> Vec<(String, String, ComponentSource)> {
    r.image.components.values().map(|c| (c.name.clone(), c.version.to_string(), c.source)).collect()
}

#[test]
fn a_plain_base_image_is_valid() {
    let r = run(&world(), &spec(B7, None, &[]));
    assert!(r.notifications.is_empty(), "{}", text(&r));
    assert_eq!(r.image.vibs.len(), 3);
    assert_eq!(r.image.acceptance_level(), Some(AcceptanceLevel::Certified));
}

#[test]
fn effective_image_follows_the_override_order() {
    let mut f = world();
    f.component("Oem-Drv", "1.0-1", vec![vib("oem-drv", "1.0-1")])
        .component("Net-Old", "1.1-1", vec![vib("net-old", "1.1-1")])
        .component("Hsp-Drv", "3.0-1", vec![vib("hsp-drv", "3.0-1")])
        .component("User-Drv", "1.0-1", vec![vib("user-drv", "1.0-1")])
        .component("Sol-Agent", "2.0-1", vec![vib("sol-agent", "2.0-1")])
        .addon("oem-addon", "1.0-1", &[("Oem-Drv", "1.0-1"), ("Net-Old", "1.1-1")], &[], &["8.0.1"])
        .unit(esxlcm_depot::model::ReleaseKind::Manifest, Some("hsp"), "3.0-1", &[("Hsp-Drv", "3.0-1")], &[], &["8.0"]);
    let mut s = spec(B8, Some(("oem-addon", "1.0-1")), &[("User-Drv", Some("1.0-1"))]);
    s.hardware_support = Some(HardwareSupportSpec {
        packages: [(
            "hsm".to_owned(),
            HardwareSupportPackage { pkg: "hsp".into(), version: "3.0-1".into(), unknown: Default::default() },
        )]
        .into(),
        unknown: Default::default(),
    });
    s.removed_components = vec!["Oem-Drv".into()];
    s.solutions = [(
        "sol".to_owned(),
        SolutionSpec {
            version: "2.0".into(),
            components: vec![SolutionComponent { component: "Sol-Agent".into(), unknown: Default::default() }],
            unknown: Default::default(),
        },
    )]
    .into();
    let r = run(&f, &s);
    assert_eq!(
        components(&r),
        [
            ("ESXi".to_owned(), B8.to_owned(), ComponentSource::BaseImage),
            ("Hsp-Drv".to_owned(), "3.0-1".to_owned(), ComponentSource::HardwareSupport),
            ("Net-Old".to_owned(), "1.1-1".to_owned(), ComponentSource::AddOn),
            ("Sol-Agent".to_owned(), "2.0-1".to_owned(), ComponentSource::Solution),
            ("User-Drv".to_owned(), "1.0-1".to_owned(), ComponentSource::User),
        ]
    );
    assert_eq!(r.image.removed_components, ["Oem-Drv"]);
    assert_eq!(r.image.add_on, Some(("oem-addon".to_owned(), v("1.0-1"))));
    // The solution unit is not in the depot: a warning, its component at its highest version.
    assert_eq!(ids_of(&r), [(ids::SOLUTION_MISSING, Severity::Warning)]);
}

#[test]
fn addon_removes_components_and_must_support_the_base_image() {
    let mut f = world();
    f.component("Oem-Net", "1.0-1", vec![vib("oem-net", "1.0-1")]).addon(
        "oem",
        "1.0-1",
        &[("Oem-Net", "1.0-1")],
        &["Net-Old"],
        &["8.0.1"],
    );
    let ok = run(&f, &spec(B8, Some(("oem", "1.0-1")), &[]));
    assert!(ok.notifications.is_empty(), "{}", text(&ok));
    assert!(!ok.image.components.contains_key("Net-Old"));
    assert_eq!(ok.image.components["Oem-Net"].source, ComponentSource::AddOn);

    let bad = run(&f, &spec(B7, Some(("oem", "1.0-1")), &[]));
    assert_eq!(ids_of(&bad), [(ids::ADDON_UNSUPPORTED_BASE_IMAGE, Severity::Error)]);
    insta::assert_snapshot!("addon_unsupported", text(&bad));

    let missing = run(&f, &spec(B8, Some(("oem", "2.0-1")), &[]));
    assert_eq!(ids_of(&missing), [(ids::ADDON_MISSING, Severity::Error)]);
    insta::assert_snapshot!("addon_missing", text(&missing));
}

#[test]
fn missing_base_image_and_component() {
    let f = world();
    let r = run(&f, &spec("8.0.9-0.0.1", None, &[]));
    assert_eq!(ids_of(&r), [(ids::BASE_IMAGE_MISSING, Severity::Error)]);
    insta::assert_snapshot!("base_image_missing", text(&r));

    let r = run(&f, &spec(B8, None, &[("X", Some("3.0-1")), ("Nope", Some("1.0"))]));
    assert_eq!(ids_of(&r), [(ids::COMPONENT_MISSING, Severity::Error), (ids::COMPONENT_MISSING, Severity::Error)]);
    insta::assert_snapshot!("component_missing", text(&r));
    let ok = run(&f, &spec(B8, None, &[("X", Some("2.0-1"))]));
    assert!(ok.notifications.is_empty(), "{}", text(&ok));
}

#[test]
fn downgrades_block_unless_allowed() {
    let mut f = world();
    f.component("Net-Old", "0.9-1", vec![vib("net-old", "0.9-1")]).component(
        "Net-Old",
        "1.2-1",
        vec![vib("net-old", "1.2-1")],
    );
    let catalog = f.catalog();
    let s = spec(B8, None, &[("Net-Old", Some("0.9-1"))]);
    let r = run_with(&catalog, &s, &ResolveOptions::default());
    assert_eq!(ids_of(&r), [(ids::COMPONENT_DOWNGRADE, Severity::Error)]);
    insta::assert_snapshot!("downgrade", text(&r));
    let allowed = run_with(&catalog, &s, &ResolveOptions { allow_downgrades: true, ..Default::default() });
    assert_eq!(ids_of(&allowed), [(ids::COMPONENT_DOWNGRADE, Severity::Warning)]);
    assert_eq!(allowed.image.components["Net-Old"].version, v("0.9-1"));
    let upgrade = run_with(&catalog, &spec(B8, None, &[("Net-Old", Some("1.2-1"))]), &ResolveOptions::default());
    assert!(upgrade.notifications.is_empty());
}

#[test]
fn removed_component_must_be_in_the_image() {
    let f = world();
    let mut s = spec(B8, None, &[]);
    s.removed_components = vec!["Net-Old".into()];
    let ok = run(&f, &s);
    assert!(ok.notifications.is_empty());
    assert!(!ok.image.components.contains_key("Net-Old"));
    s.removed_components = vec!["Net-Olf".into()];
    let r = run(&f, &s);
    assert_eq!(ids_of(&r), [(ids::REMOVED_COMPONENT_ABSENT, Severity::Warning)]);
    insta::assert_snapshot!("removed_absent", text(&r));
}

#[test]
fn unmet_dependency_is_explained_with_base_images_and_older_versions() {
    let f = world();
    let r = run(&f, &spec(B7, None, &[("X", Some("2.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::DEPENDENCY_UNMET, Severity::Error)]);
    insta::assert_snapshot!("unmet_vmkapi", text(&r));
    insta::assert_json_snapshot!("unmet_vmkapi_json", r.notifications);
    // Not fired: 8.0.1 provides it, and 1.9 needs only what 7.0.3 has.
    assert!(run(&f, &spec(B8, None, &[("X", Some("2.0-1"))])).notifications.is_empty());
    assert!(run(&f, &spec(B7, None, &[("X", Some("1.9-1"))])).notifications.is_empty());
}

#[test]
fn versioned_dependencies_honour_the_relation() {
    let mut f = world();
    let mut y = vib("y-drv", "1.0-1");
    y.depends = vec![dep_v("esx-version", ">=", "8.0.0")];
    let mut z = vib("z-drv", "1.0-1");
    z.depends = vec![dep_v("y-drv", "<<", "1.0-1")];
    f.component("Y", "1.0-1", vec![y]).component("Z", "1.0-1", vec![z]);
    let r = run(&f, &spec(B7, None, &[("Y", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::DEPENDENCY_UNMET, Severity::Error)]);
    insta::assert_snapshot!("unmet_versioned", text(&r));
    assert!(run(&f, &spec(B8, None, &[("Y", Some("1.0-1"))])).notifications.is_empty());
    // z needs y-drv << 1.0-1; the image has exactly 1.0-1, and Y depends on nothing broken.
    let r = run(&f, &spec(B8, None, &[("Y", Some("1.0-1")), ("Z", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::DEPENDENCY_UNMET, Severity::Error)]);
    insta::assert_snapshot!("unmet_relation", text(&r));
}

#[test]
fn dependents_are_named_through_the_graph() {
    let mut f = world();
    let mut lib = vib("x-lib", "2.0-1");
    lib.depends = vec![dep("vmkapi_2_5_0_0")];
    lib.provides = vec![provide_v("x-api", "2.0")];
    let mut app = vib("x-app", "1.0-1");
    app.depends = vec![dep_v("x-api", ">=", "2.0")];
    f.component("X-Lib", "2.0-1", vec![lib]).component("X-App", "1.0-1", vec![app]);
    let r = run(&f, &spec(B7, None, &[("X-Lib", Some("2.0-1")), ("X-App", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::DEPENDENCY_UNMET, Severity::Error)]);
    insta::assert_snapshot!("unmet_dependents", text(&r));
}

#[test]
fn conflicts_are_errors_unless_replaced() {
    let mut f = world();
    let mut a = vib("net-new", "2.0-1");
    a.conflicts = vec![dep("net-old")];
    f.component("Net-New", "2.0-1", vec![a.clone()]);
    let r = run(&f, &spec(B8, None, &[("Net-New", Some("2.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::CONFLICT, Severity::Error)]);
    insta::assert_snapshot!("conflict", text(&r));
    // Not fired when net-old is removed.
    let mut s = spec(B8, None, &[("Net-New", Some("2.0-1"))]);
    s.removed_components = vec!["Net-Old".into()];
    assert!(run(&f, &s).notifications.is_empty());

    // With `replaces`, the old VIB is dropped: an info, no conflict.
    let mut g = world();
    a.replaces = vec![dep("net-old")];
    g.component("Net-New", "2.0-1", vec![a]);
    let r = run(&g, &spec(B8, None, &[("Net-New", Some("2.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::VIB_REPLACED, Severity::Info)]);
    insta::assert_snapshot!("replaced", text(&r));
    assert!(!r.image.vibs.keys().any(|id| id.contains("net-old")));
    assert!(r.image.components.contains_key("Net-Old"));
}

#[test]
fn one_vib_per_name() {
    let mut f = world();
    f.component("Other-Net", "1.0-1", vec![vib("net-old", "1.5-1")]);
    let r = run(&f, &spec(B8, None, &[("Other-Net", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::VIB_DUPLICATE_NAME, Severity::Error)]);
    insta::assert_snapshot!("duplicate_name", text(&r));
    // The same VIB in two components is one VIB.
    let mut g = world();
    g.component_ids("Net-Copy", "1.0-1", vec![vib("net-old", "1.0-1").id()]);
    assert!(run(&g, &spec(B8, None, &[("Net-Copy", Some("1.0-1"))])).notifications.is_empty());
}

#[test]
fn acceptance_level_is_the_lowest_vibs() {
    let mut f = world();
    let mut c = vib("comm-drv", "1.0-1");
    c.acceptance_level = AcceptanceLevel::Community;
    c.vendor = "Fling".into();
    f.component("Comm", "1.0-1", vec![c]);
    let catalog = f.catalog();
    let s = spec(B8, None, &[("Comm", Some("1.0-1"))]);
    let partner = ResolveOptions { min_acceptance: Some(AcceptanceLevel::Partner), ..Default::default() };
    let r = run_with(&catalog, &s, &partner);
    assert_eq!(r.image.acceptance_level(), Some(AcceptanceLevel::Community));
    assert_eq!(ids_of(&r), [(ids::ACCEPTANCE_TOO_LOW, Severity::Error)]);
    insta::assert_snapshot!("acceptance", text(&r));
    let community = ResolveOptions { min_acceptance: Some(AcceptanceLevel::Community), ..Default::default() };
    assert!(run_with(&catalog, &s, &community).notifications.is_empty());
    assert!(run_with(&catalog, &spec(B8, None, &[]), &partner).notifications.is_empty());
}

#[test]
fn software_platform_must_match_the_base_image() {
    let mut f = world();
    let mut p = vib("p-drv", "1.0-1");
    p.software_platforms = vec![platform("8.0.*")];
    f.component("P", "1.0-1", vec![p]);
    let r = run(&f, &spec(B7, None, &[("P", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::PLATFORM_MISMATCH, Severity::Error)]);
    insta::assert_snapshot!("platform", text(&r));
    assert!(run(&f, &spec(B8, None, &[("P", Some("1.0-1"))])).notifications.is_empty());
}

#[test]
fn a_vib_missing_from_the_catalog_is_reported() {
    let mut f = world();
    f.component_ids("Ghost", "1.0-1", vec!["VMW_bootbank_ghost_1.0-1".into()]);
    let r = run(&f, &spec(B8, None, &[("Ghost", Some("1.0-1"))]));
    assert_eq!(ids_of(&r), [(ids::VIB_MISSING, Severity::Error)]);
    insta::assert_snapshot!("vib_missing", text(&r));
}

#[test]
fn null_components_take_the_highest_version_that_fits() {
    let f = world();
    let r = run(&f, &spec(B8, None, &[("X", None)]));
    assert_eq!(r.image.components["X"].version, v("2.0-1"));
    assert_eq!(ids_of(&r), [(ids::COMPONENT_RESOLVED, Severity::Info)]);
    let r = run(&f, &spec(B7, None, &[("X", None)]));
    assert_eq!(r.image.components["X"].version, v("1.9-1"));
    assert_eq!(ids_of(&r), [(ids::COMPONENT_RESOLVED, Severity::Info)]);
    insta::assert_snapshot!("null_resolved_lower", text(&r));
    let r = run(&f, &spec(B7, None, &[("Nope", None)]));
    assert_eq!(ids_of(&r), [(ids::COMPONENT_MISSING, Severity::Error)]);
}

/// On B7: Y 2.0 needs Z's `z-api 2`, which only Z 2.0 provides, but Z 2.0 needs vmkapi 2.5
/// (not in B7); Y 1.0 and Z 1.0 fit together; Z 1.5 fits alone but conflicts with Y 1.0.
/// Taking each highest alone (Y 2.0, Z 1.5) fails; the best assignment is Y 1.0 + Z 1.0.
fn pair_world() -> Fixture {
    let mut f = world();
    let mut y10 = vib("y-drv", "1.0-1");
    y10.depends = vec![dep("z-api")];
    y10.conflicts = vec![dep_v("z-drv", "=", "1.5-1")];
    let mut y20 = vib("y-drv", "2.0-1");
    y20.depends = vec![dep_v("z-api", ">=", "2.0")];
    let mut z10 = vib("z-drv", "1.0-1");
    z10.provides = vec![provide_v("z-api", "1.0")];
    let mut z15 = vib("z-drv", "1.5-1");
    z15.provides = vec![provide_v("z-api", "1.5")];
    let mut z20 = vib("z-drv", "2.0-1");
    z20.provides = vec![provide_v("z-api", "2.0")];
    z20.depends = vec![dep("vmkapi_2_5_0_0")];
    f.component("Y", "1.0-1", vec![y10])
        .component("Y", "2.0-1", vec![y20])
        .component("Z", "1.0-1", vec![z10])
        .component("Z", "1.5-1", vec![z15])
        .component("Z", "2.0-1", vec![z20]);
    f
}

#[test]
fn null_components_that_only_fit_together_at_lower_versions_are_found() {
    let f = pair_world();
    let r = run(&f, &spec(B7, None, &[("Y", None), ("Z", None)]));
    assert!(!r.has_errors(), "{}", text(&r));
    assert_eq!(r.image.components["Y"].version, v("1.0-1"));
    assert_eq!(r.image.components["Z"].version, v("1.0-1"));
    insta::assert_snapshot!("null_pair_found", text(&r));
    // On B8 every highest version fits.
    let r = run(&f, &spec(B8, None, &[("Y", None), ("Z", None)]));
    assert!(!r.has_errors(), "{}", text(&r));
    assert_eq!(
        (r.image.components["Y"].version.as_str(), r.image.components["Z"].version.as_str()),
        ("2.0-1", "2.0-1")
    );
}

#[test]
fn null_components_that_cannot_hold_together_are_named_smallest_set_first() {
    let mut f = pair_world();
    // W conflicts with every Y: W and Y cannot both be in the image; X and Z (each fine
    // with either) are not part of the smallest set.
    let mut w = vib("w-drv", "1.0-1");
    w.conflicts = vec![dep("y-drv")];
    f.component("W", "1.0-1", vec![w]);
    let r = run(&f, &spec(B7, None, &[("W", None), ("X", None), ("Y", None), ("Z", None)]));
    let unsat: Vec<_> = r.notifications.iter().filter(|n| n.id == ids::COMPONENTS_UNSATISFIABLE).collect();
    assert_eq!(unsat.len(), 1, "{}", text(&r));
    assert_eq!(unsat[0].severity, Severity::Error);
    assert_eq!(unsat[0].message.args, ["W", "Y"]);
    assert!(r.has_errors());
    insta::assert_snapshot!("null_unsatisfiable", text(&r));
    // One component that fits in no version is a set of one.
    let mut g = pair_world();
    let mut v1 = vib("v-drv", "1.0-1");
    v1.depends = vec![dep("vmkapi_9_9_9_9")];
    g.component("V", "1.0-1", vec![v1]);
    let r = run(&g, &spec(B7, None, &[("V", None), ("Y", None), ("Z", None)]));
    let unsat: Vec<_> = r.notifications.iter().filter(|n| n.id == ids::COMPONENTS_UNSATISFIABLE).collect();
    assert_eq!(unsat.len(), 1, "{}", text(&r));
    assert_eq!(unsat[0].message.args, ["V"]);
    assert_eq!(unsat[0].message.default_message, "no version of component V fits this image");
}

#[test]
fn an_image_needs_a_base_vib_and_a_kernel() {
    // Without payload lists only the base VIB is checked: removing ESXi takes it away.
    let f = world();
    let mut s = spec(B8, None, &[]);
    s.removed_components = vec!["ESXi".into()];
    let r = run(&f, &s);
    assert_eq!(ids_of(&r), [(ids::IMAGE_NOT_BOOTABLE, Severity::Warning)]);
    insta::assert_snapshot!("not_bootable", text(&r));
    // A base VIB whose payloads hold no `boot` one: no kernel.
    let mut g = Fixture::new();
    let mut base = vib("esx-base", B8);
    base.payloads = vec![esxlcm_depot::model::Payload { payload_type: "vgz".into(), ..kernel_payload() }];
    g.component("ESXi", B8, vec![base.clone()]).base_image(B8, &[("ESXi", B8)]);
    let r = run(&g, &spec(B8, None, &[]));
    assert_eq!(ids_of(&r), [(ids::IMAGE_NOT_BOOTABLE, Severity::Warning)]);
    assert!(r.notifications[0].message.default_message.contains("no bootable kernel module"), "{}", text(&r));
    // With the kernel: nothing to say.
    let mut h = Fixture::new();
    base.payloads.push(kernel_payload());
    h.component("ESXi", B8, vec![base]).base_image(B8, &[("ESXi", B8)]);
    assert!(run(&h, &spec(B8, None, &[])).notifications.is_empty());
}
