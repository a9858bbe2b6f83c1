//! Generator tests: real VIB files, realistic and self-consistent metadata, determinism.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Cursor;

use esxlcm_version::{Relation, Version};
use proptest::prelude::*;

use super::*;
use crate::archive::{ArchiveLimits, SafeZip};
use crate::metadata_zip::MetadataArchive;
use crate::model::{AcceptanceLevel, Constraint, ReleaseKind, ReleaseUnit};
use crate::vib::{ExpectedChecksum, PayloadPlan, compare, is_empty_signature, scan_vib_file};
use crate::write::write_bundle_to;

fn vib_map(content: &DepotContent) -> HashMap<String, &Vib> {
    content.vibs.iter().map(|v| (v.id(), v)).collect()
}

/// The VIBs of a set of components (name → version), via their bulletins.
fn image_vibs<'a>(content: &'a DepotContent, components: &BTreeMap<String, Version>) -> Vec<&'a Vib> {
    let vibs = vib_map(content);
    let mut out = Vec::new();
    for (name, version) in components {
        let bulletin = content
            .bulletins
            .iter()
            .find(|b| b.component.as_ref().is_some_and(|c| &c.name == name && &c.version == version))
            .unwrap_or_else(|| panic!("component {name} {version} has no bulletin"));
        out.extend(bulletin.vib_ids.iter().map(|id| vibs[id.as_str()]));
    }
    out
}

/// Every depends satisfied, no conflicts, one VIB per name (depot-format §8.2).
fn assert_consistent(label: &str, vibs: &[&Vib]) {
    let mut names = HashSet::new();
    for v in vibs {
        assert!(names.insert(v.name.as_str()), "{label}: two VIBs named {}", v.name);
    }
    let satisfied = |c: &Constraint| {
        vibs.iter().any(|v| {
            c.is_satisfied_by(&v.name, Some(&v.version))
                || v.provides.iter().any(|p| c.is_satisfied_by(&p.name, p.version.as_ref()))
        })
    };
    for v in vibs {
        for d in &v.depends {
            assert!(satisfied(d), "{label}: {} needs {d}", v.id());
        }
        for c in &v.conflicts {
            assert!(
                !vibs.iter().any(|o| o.id() != v.id() && c.is_satisfied_by(&o.name, Some(&o.version))),
                "{label}: {} conflicts with {c}",
                v.id()
            );
        }
    }
}

fn units(content: &DepotContent, kind: ReleaseKind) -> Vec<&ReleaseUnit> {
    content.release_units.iter().filter(|u| u.kind == kind).collect()
}

/// With a signer every VIB carries its signature, the metadata declares the signed bytes,
/// and the signature verifies against the signer's root and no other anchor.
#[test]
fn a_signer_signs_every_vib_and_the_metadata_declares_the_signed_bytes() {
    use crate::vib::signature::{TrustStore, VibVerdict, verify_vib};
    use esxlcm_test_support::vib_signing::{Spec, chain, descriptor_signer};

    let (root, mid, leaf) = chain(&Spec::ca(), &Spec::signer());
    let at = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(); // 2026-05-28
    let signer = VibSigner::new(descriptor_signer(Arc::new(leaf), vec![mid.cert.clone()], at));
    let config = GeneratorConfig {
        acceptance: AcceptanceLevel::Partner,
        signer: Some(signer.clone()),
        ..GeneratorConfig::tiny(4)
    };
    assert_eq!(config.clone(), config, "a config equals its clone, signer included");
    let other = VibSigner::new(|_: &[u8]| Vec::new());
    assert_ne!(GeneratorConfig { signer: Some(other), ..config.clone() }, config);
    let depot = generate(&config).unwrap();
    let unsigned = generate(&GeneratorConfig { signer: None, ..config.clone() }).unwrap();
    let root_only = TrustStore::from_pem(root.pem().as_bytes()).unwrap();
    let plan = PayloadPlan { type_of: &|_, _| Some("vgz".to_owned()), decompressed_limit: 1 << 20 };
    assert!(depot.content().vibs.len() > 20);
    for (vib, plain) in depot.content().vibs.iter().zip(&unsigned.content().vibs) {
        let id = vib.id();
        let bytes = depot.vib_bytes(&id).unwrap();
        assert_eq!(bytes, depot.vib_bytes(&id).unwrap(), "{id}: rebuilt byte for byte");
        let summary = scan_vib_file(&bytes[..], &plan).unwrap();
        let loc = vib.location.as_ref().unwrap();
        assert_eq!((summary.size, &summary.sha256_hex), (loc.packed_size, &loc.checksum.value), "{id}");
        let plain_loc = plain.location.as_ref().unwrap();
        assert!(loc.packed_size > plain_loc.packed_size, "{id}: the signature is in the file");
        let sig = summary.signature.unwrap_or_default();
        match verify_vib(&sig, &summary.descriptor, &root_only) {
            VibVerdict::Verified { anchor, .. } => assert_eq!(anchor.anchor, "CN=Test Root, O=esxlcm tests"),
            other => panic!("{id}: {other:?}"),
        }
        assert!(
            matches!(verify_vib(&sig, &summary.descriptor, TrustStore::builtin()), VibVerdict::Untrusted { .. }),
            "{id}: VMware's anchor alone does not trust a throwaway key"
        );
    }
}

#[test]
fn generated_vibs_are_real_and_their_checksums_correct() {
    let depot = generate(&GeneratorConfig::tiny(1)).unwrap();
    assert!(depot.content().vibs.len() > 20);
    let plan = PayloadPlan { type_of: &|_, _| Some("vgz".to_owned()), decompressed_limit: 1 << 20 };
    for vib in &depot.content().vibs {
        let id = vib.id();
        let bytes = depot.vib_bytes(&id).unwrap();
        let summary = scan_vib_file(&bytes[..], &plan).unwrap();
        let loc = vib.location.as_ref().unwrap();
        assert_eq!(summary.size, loc.packed_size, "{id}");
        assert_eq!(summary.sha256_hex, loc.checksum.value, "{id}");
        assert!(is_empty_signature(summary.signature.as_deref().unwrap_or(b"x")));
        assert_eq!(vib.acceptance_level, AcceptanceLevel::Community);
        // The descriptor is the VIB's metadata without its location.
        let mut descriptor = Vib::parse(&summary.descriptor).unwrap();
        assert!(descriptor.location.is_none());
        descriptor.location = vib.location.clone();
        assert_eq!(&descriptor, vib);
        // Payload declarations match the payload.
        assert_eq!(summary.payloads.len(), vib.payloads.len());
        for ((name, digests), declared) in summary.payloads.iter().zip(&vib.payloads) {
            assert_eq!(name, &declared.name);
            let expected: Vec<ExpectedChecksum> = declared
                .checksums
                .iter()
                .map(|c| ExpectedChecksum::new(&c.checksum_type, c.verify_process.as_deref(), &c.value))
                .collect();
            assert_eq!(expected.len(), 3);
            let m = compare(digests, &expected, Some(declared.size), declared.uncompressed_size);
            assert!(m.is_empty(), "{id}: {m:?}");
        }
    }
}

#[test]
fn same_config_same_depot() {
    let config = GeneratorConfig::tiny(42);
    let a = generate(&config).unwrap();
    let b = generate(&config).unwrap();
    assert_eq!(a.content(), b.content());
    let other = generate(&GeneratorConfig::tiny(43)).unwrap();
    assert_ne!(a.content(), other.content());
}

#[test]
fn base_images_look_like_esxi_8() {
    let config = GeneratorConfig { components_per_base_image: 40, ..GeneratorConfig::tiny(5) };
    let depot = generate(&config).unwrap();
    let c = depot.content();
    let bases = units(c, ReleaseKind::BaseImage);
    let versions: Vec<&str> = bases.iter().map(|u| u.version.as_str()).collect();
    assert_eq!(versions, ["8.0.1-0.0.21495797", "8.0.2-0.0.22380479", "8.0.3-0.35.24280767"]);
    assert_eq!(c.profiles.len(), 3);
    for (r, base) in bases.iter().enumerate() {
        assert_eq!(base.components.len(), 40);
        assert_eq!(base.components["ESXi"], base.version);
        let vibs = image_vibs(c, &base.components);
        let esx_base = vibs.iter().find(|v| v.name == "esx-base").unwrap();
        let caps: Vec<&str> =
            esx_base.provides.iter().map(|p| p.name.as_str()).filter(|n| n.starts_with("vmkapi_")).collect();
        let want: Vec<String> = (0..=r).map(|l| format!("vmkapi_2_{}_0_0", 11 + l)).collect();
        assert_eq!(caps, want);
        assert!(esx_base.provides.iter().any(|p| p.name == "esx-version" && p.version.as_ref() == Some(&base.version)));
        assert_consistent(&base.release_id, &vibs);
        // The profile lists exactly the base image's VIBs.
        let mut ids: Vec<String> = vibs.iter().map(|v| v.id()).collect();
        ids.sort();
        let build = base.version.as_str().rsplit('.').next().unwrap();
        let profile = c.profiles.iter().find(|p| p.name.contains(&format!("-{build}-"))).unwrap();
        assert_eq!(profile.vib_ids, ids);
    }

    // Components are shared between releases and also updated.
    let (first, last) = (&bases[0].components, &bases[2].components);
    let shared = first.iter().filter(|(n, v)| last.get(*n) == Some(v)).count();
    assert!(shared > 0 && shared < first.len(), "{shared}");

    let all = &c.vibs;
    let newest_only = all.iter().any(|v| v.depends.iter().any(|d| d.name == "vmkapi_2_13_0_0") && v.name != "esx-base");
    assert!(newest_only, "no VIB needs the newest vmkapi");
    let relation = |rel| all.iter().any(|v| v.depends.iter().any(|d| d.relation == Some(rel)));
    assert!(relation(Relation::Ge) && relation(Relation::Lt) && relation(Relation::Eq));
    assert!(all.iter().any(|v| !v.conflicts.is_empty()), "no conflicts");
    assert!(all.iter().any(|v| !v.replaces.is_empty()), "no replaces");
    // A renamed driver replaces and conflicts with the original name.
    let renamed = all.iter().find(|v| v.name.ends_with("-g2")).unwrap();
    let original = renamed.name.trim_end_matches("-g2");
    assert_eq!(renamed.replaces[0].name, original);
    assert_eq!(renamed.replaces[0].relation, Some(Relation::Lt));
    assert_eq!(renamed.conflicts[0].name, original);
}

#[test]
fn renames_form_chains() {
    let depot =
        generate(&GeneratorConfig { base_images: 6, components_per_base_image: 10, ..GeneratorConfig::tiny(1) })
            .unwrap();
    let vibs = &depot.content().vibs;
    let g3 = vibs.iter().find(|v| v.name.ends_with("-g3")).unwrap();
    let g2 = g3.replaces[0].name.clone();
    assert!(g2.ends_with("-g2"), "{g2}");
    let g2_vib = vibs.iter().find(|v| v.name == g2).unwrap();
    assert_eq!(g2_vib.conflicts[0].name, g2.trim_end_matches("-g2"));
    for base in units(depot.content(), ReleaseKind::BaseImage) {
        assert_consistent(&base.release_id, &image_vibs(depot.content(), &base.components));
    }
}

#[test]
fn addons_extend_their_base_images_consistently() {
    let config = GeneratorConfig { components_per_base_image: 30, addons: 3, ..GeneratorConfig::tiny(9) };
    let depot = generate(&config).unwrap();
    let c = depot.content();
    let bases = units(c, ReleaseKind::BaseImage);
    let addons = units(c, ReleaseKind::Addon);
    assert_eq!(addons.len(), 3);
    for addon in &addons {
        assert!(addon.name.as_deref().unwrap().ends_with("-addon"));
        assert!(addon.ui_name.is_some());
        assert!(!addon.components.is_empty());
        assert_eq!(addon.removed_components.len(), 1, "{}", addon.release_id);
        assert!(!addon.supported_base_images.is_empty());
        let mut supported = 0;
        for base in &bases {
            if !addon.supports_base_image(base.version.as_str()) {
                continue;
            }
            supported += 1;
            // Effective image (§6.2): base, add-on overrides, removals.
            let mut image = base.components.clone();
            image.extend(addon.components.clone());
            for r in &addon.removed_components {
                image.remove(r);
            }
            let label = format!("{} on {}", addon.release_id, base.release_id);
            assert_consistent(&label, &image_vibs(c, &image));
            // Without removing, the OEM replacement driver conflicts with the base driver.
            let mut unremoved = base.components.clone();
            unremoved.extend(addon.components.clone());
            let vibs = image_vibs(c, &unremoved);
            assert!(
                vibs.iter()
                    .any(|v| !v.conflicts.is_empty()
                        && v.conflicts.iter().any(|k| vibs.iter().any(|o| o.name == k.name))),
                "{label}: removal is not needed"
            );
        }
        assert!(supported >= 1, "{} supports no base image", addon.release_id);
    }
    let supported: HashSet<&str> =
        addons.iter().flat_map(|a| a.supported_base_images.iter().map(String::as_str)).collect();
    assert_eq!(supported, HashSet::from(["8.0.2", "8.0.3"]));
}

#[test]
fn hardware_support_packages_are_manifests_that_fit_their_base_images() {
    let config = GeneratorConfig { hardware_support: 4, ..GeneratorConfig::tiny(4) };
    let depot = generate(&config).unwrap();
    let c = depot.content();
    let manifests = units(c, ReleaseKind::Manifest);
    let hsps: Vec<(String, String, String)> =
        manifests.iter().map(|m| m.hardware_support.clone().expect("hardwareSupportInfo")).collect();
    assert_eq!(
        hsps,
        [
            ("del-hsm".into(), "del-hsp".into(), "1.0.0".into()),
            ("del-hsm".into(), "del-hsp".into(), "2.0.0".into()),
            ("hpe-hsm".into(), "hpe-hsp".into(), "1.0.0".into()),
            ("hpe-hsm".into(), "hpe-hsp".into(), "2.0.0".into()),
        ]
    );
    let bases = units(c, ReleaseKind::BaseImage);
    let newest = bases.iter().map(|b| &b.version).max().unwrap();
    for m in &manifests {
        assert!(m.supports_base_image(newest.as_str()), "{} supports the newest release", m.release_id);
        assert_eq!(m.components.len(), 1, "{}", m.release_id);
        for base in bases.iter().filter(|b| m.supports_base_image(b.version.as_str())) {
            let mut image = base.components.clone();
            image.extend(m.components.clone());
            assert_consistent(&format!("{} on {}", m.release_id, base.release_id), &image_vibs(c, &image));
        }
    }
    // Version 1.0.0 also supports the release before the newest; 2.0.0 does not.
    assert_eq!(manifests[0].supported_base_images, ["8.0.2", "8.0.3"]);
    assert_eq!(manifests[1].supported_base_images, ["8.0.3"]);
    // Through a written bundle and back, the manifests keep their hardware support info.
    let tmp = tempfile::tempdir().unwrap();
    generate_to_tree(&config, &tmp.path().join("t")).unwrap();
    let read = crate::source::Depot::open_path(&tmp.path().join("t"), &crate::source::OpenOptions::default()).unwrap();
    let back: Vec<_> = read
        .metadata
        .iter()
        .flat_map(|m| m.archive.release_units.iter())
        .filter(|u| u.kind == ReleaseKind::Manifest)
        .filter_map(|u| u.hardware_support.clone())
        .collect();
    assert_eq!(back.len(), 4);
    // Without the option, nothing changes.
    assert!(units(generate(&GeneratorConfig::tiny(4)).unwrap().content(), ReleaseKind::Manifest).is_empty());
    assert!(GeneratorConfig { hardware_support: 65, ..GeneratorConfig::tiny(4) }.validate().is_err());
}

#[test]
fn wrappers_and_config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let config = GeneratorConfig::tiny(3);
    let written = generate_to_bundle(&config, &tmp.path().join("b.zip")).unwrap();
    let depot = generate(&config).unwrap();
    assert_eq!(written.vib_count, depot.content().vibs.len());
    generate_to_tree(&config, &tmp.path().join("t")).unwrap();
    assert!(tmp.path().join("t/vmw/metadata.zip").is_file());
    assert!(matches!(
        generate_to_bundle(&config, &tmp.path().join("b.zip")),
        Err(GenerateError::Write(WriteError::Exists { .. }))
    ));

    for bad in [
        GeneratorConfig { vibs_per_component: (0, 2), ..config.clone() },
        GeneratorConfig { vibs_per_component: (3, 2), ..config.clone() },
        GeneratorConfig { payload_bytes: (10, 1), ..config.clone() },
        GeneratorConfig { update_percent: 101, ..config.clone() },
        GeneratorConfig { components_per_base_image: 0, ..config.clone() },
    ] {
        assert!(matches!(generate(&bad), Err(GenerateError::Config { .. })));
    }

    // No base images: add-ons and their components only.
    let only_addons = generate(&GeneratorConfig { base_images: 0, ..config.clone() }).unwrap();
    assert!(units(only_addons.content(), ReleaseKind::BaseImage).is_empty());
    assert_eq!(units(only_addons.content(), ReleaseKind::Addon).len(), 1);

    // Unknown VIBs are refused by the source.
    let mut stranger = depot.content().vibs[0].clone();
    stranger.name = "stranger".into();
    assert!(matches!(
        depot.open_vib(&stranger),
        Err(WriteError::Source { vib_id, .. }) if vib_id == stranger.id()
    ));
}

#[test]
fn generated_versions_follow_vmware_rules_at_the_limits() {
    let depot = generate(&GeneratorConfig {
        base_images: 64,
        components_per_base_image: 12,
        update_percent: 100,
        addons: 64,
        components_per_addon: 3,
        vibs_per_component: (1, 1),
        payload_bytes: (0, 16),
        image_profiles: false,
        ..GeneratorConfig::tiny(77)
    })
    .unwrap();
    let c = depot.content();
    let versions = c
        .vibs
        .iter()
        .map(|v| &v.version)
        .chain(c.bulletins.iter().filter_map(|b| b.component.as_ref().map(|s| &s.version)))
        .chain(c.release_units.iter().map(|u| &u.version));
    for v in versions {
        assert_eq!(v.lint(), [], "{v}");
    }
    assert!(matches!(
        generate(&GeneratorConfig { base_images: 65, ..GeneratorConfig::tiny(1) }),
        Err(GenerateError::Config { field: "base_images", .. })
    ));
}

#[test]
fn default_config_is_realistic_in_size() {
    let depot = generate(&GeneratorConfig::default()).unwrap();
    let c = depot.content();
    for base in units(c, ReleaseKind::BaseImage) {
        assert_eq!(base.components.len(), 150);
    }
    let components = c.bulletins.len();
    assert!((250..=500).contains(&components), "{components} components");
    assert!(c.vibs.len() > components, "{} VIBs", c.vibs.len());
}

/// `cargo test -p esxlcm-depot --release -- --ignored benchmark_scale` to see timing.
#[test]
#[ignore = "benchmark scale: several seconds in debug builds"]
fn benchmark_scale() {
    let start = std::time::Instant::now();
    let depot = generate(&GeneratorConfig::benchmark(1)).unwrap();
    let generated = start.elapsed();
    let c = depot.content();
    let (vibs, components) = (c.vibs.len(), c.bulletins.len());
    assert!((18_000..=22_000).contains(&vibs), "{vibs} VIBs");
    assert!((4_500..=5_500).contains(&components), "{components} components");
    let start = std::time::Instant::now();
    let (cursor, _) = write_bundle_to(c, &depot, Cursor::new(Vec::new())).unwrap();
    let bytes = cursor.into_inner().len();
    eprintln!(
        "benchmark depot: {vibs} VIBs, {components} components; generated in {generated:?}, \
         bundle of {bytes} bytes written in {:?}",
        start.elapsed()
    );
}

fn small_config() -> impl Strategy<Value = GeneratorConfig> {
    (
        any::<u64>(),
        0usize..4,
        1usize..12,
        0u8..=100,
        0usize..3,
        0usize..3,
        (1usize..3, 0usize..2),
        (0usize..300, 0usize..300),
        any::<bool>(),
    )
        .prop_map(
            |(seed, base_images, comps, update, addons, per_addon, (vmin, vextra), (pmin, pextra), profiles)| {
                GeneratorConfig {
                    seed,
                    base_images,
                    components_per_base_image: comps,
                    update_percent: update,
                    addons,
                    components_per_addon: per_addon,
                    vibs_per_component: (vmin, vmin + vextra),
                    payload_bytes: (pmin, pmin + pextra),
                    image_profiles: profiles,
                    ..GeneratorConfig::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn generated_depots_write_and_read_back_equal(config in small_config()) {
        let depot = generate(&config).unwrap();
        let (cursor, _) = write_bundle_to(depot.content(), &depot, Cursor::new(Vec::new())).unwrap();
        let bytes = cursor.into_inner();
        let mut zip = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).unwrap();
        let meta = zip.read_to_vec("metadata.zip", 1 << 30).unwrap();
        let read = MetadataArchive::read(Cursor::new(meta), ArchiveLimits::default()).unwrap();

        let mut want_b = depot.content().bulletins.clone();
        want_b.sort_by(|a, b| a.id.cmp(&b.id));
        let mut got_b = read.bulletins.clone();
        got_b.sort_by(|a, b| a.id.cmp(&b.id));
        prop_assert_eq!(got_b, want_b);

        let mut want_v = depot.content().vibs.clone();
        want_v.sort_by_key(|v| v.id());
        let mut got_v: Vec<Vib> = read.vibs.iter().map(|v| Vib::clone(v)).collect();
        got_v.sort_by_key(|v| v.id());
        prop_assert_eq!(got_v, want_v);

        let mut want_u = depot.content().release_units.clone();
        want_u.sort_by(|a, b| a.release_id.cmp(&b.release_id));
        let mut got_u = read.release_units.clone();
        got_u.sort_by(|a, b| a.release_id.cmp(&b.release_id));
        prop_assert_eq!(got_u, want_u);

        let mut want_p = depot.content().profiles.clone();
        want_p.sort_by(|a, b| a.name.cmp(&b.name));
        let mut got_p = read.profiles.clone();
        got_p.sort_by(|a, b| a.name.cmp(&b.name));
        prop_assert_eq!(got_p, want_p);

        // Every VIB member has the size and sha-256 the metadata says.
        for vib in &read.vibs {
            let loc = vib.location.as_ref().unwrap();
            let data = zip.read_to_vec(&loc.relative_path, 1 << 30).unwrap();
            prop_assert_eq!(data.len() as u64, loc.packed_size);
            prop_assert_eq!(&loc.checksum.value, &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
        }
    }
}

#[test]
fn boot_modules_give_esx_base_verifiable_boot_payloads() {
    let plain = generate(&GeneratorConfig::tiny(4)).unwrap();
    let config = GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(4) };
    let depot = generate(&config).unwrap();
    for vib in &plain.content().vibs {
        assert!(vib.payloads.iter().all(|p| p.payload_type == "vgz"), "{}", vib.id());
    }
    let type_of = |descriptor: &[u8], member: &str| {
        let vib = Vib::parse(descriptor).ok()?;
        vib.payloads.iter().find(|p| p.name == member).map(|p| p.payload_type.clone())
    };
    let plan = PayloadPlan { type_of: &type_of, decompressed_limit: 1 << 20 };
    let mut bases = 0;
    for vib in &depot.content().vibs {
        let types: Vec<&str> = vib.payloads.iter().map(|p| p.payload_type.as_str()).collect();
        if vib.name != "esx-base" {
            assert_eq!(types, ["vgz"], "{}", vib.id());
            continue;
        }
        bases += 1;
        assert_eq!(types, ["boot", "boot", "vgz"]);
        assert_eq!(vib.payloads[0].name, "b");
        assert_eq!(vib.payloads[1].name, "k");
        let bytes = depot.vib_bytes(&vib.id()).unwrap();
        let summary = scan_vib_file(&bytes[..], &plan).unwrap();
        let loc = vib.location.as_ref().unwrap();
        assert_eq!((summary.size, summary.sha256_hex.as_str()), (loc.packed_size, loc.checksum.value.as_str()));
        let names: Vec<&str> = summary.payloads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "k", "esx-base"]);
        for ((_, digests), declared) in summary.payloads.iter().zip(&vib.payloads) {
            let expected: Vec<ExpectedChecksum> = declared
                .checksums
                .iter()
                .map(|c| ExpectedChecksum::new(&c.checksum_type, c.verify_process.as_deref(), &c.value))
                .collect();
            let m = compare(digests, &expected, Some(declared.size), declared.uncompressed_size);
            assert!(m.is_empty(), "{}: {m:?}", declared.name);
        }
        assert_ne!(summary.payloads[0].1.stored_sha256, summary.payloads[1].1.stored_sha256);
    }
    assert_eq!(bases, config.base_images);
    // Regenerated bytes are stable.
    let again = generate(&config).unwrap();
    let id = depot.content().vibs.iter().find(|v| v.name == "esx-base").unwrap().id();
    assert_eq!(depot.vib_bytes(&id).unwrap(), again.vib_bytes(&id).unwrap());
}
