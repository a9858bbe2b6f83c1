//! Property: any VIB or bulletin the model can hold survives to_xml → parse unchanged,
//! whatever characters its text fields hold (XML escaping is the writer's job), and the
//! XML tree parser never panics on arbitrary input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use esxlcm_depot::model::{
    AcceptanceLevel, Bulletin, Checksum, ComponentSpec, Constraint, MaintenanceMode, Payload, Provide,
    SoftwarePlatform, Vib, VibLocation,
};
use esxlcm_depot::xml::{self, XmlLimits};
use esxlcm_version::{Relation, Version};
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,12}"
}

/// Free text, including XML-special characters; no leading/trailing whitespace, because
/// text is trimmed on read (writers pretty-print freely).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9<>&'\" ]{0,20}".prop_map(|s| s.trim().to_owned())
}

fn version() -> impl Strategy<Value = Version> {
    "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(-[0-9]{1,2}[a-z]{0,3}(\\.[0-9]{1,4}){0,3})?"
        .prop_map(|s| Version::parse(&s).unwrap())
}

fn constraint() -> impl Strategy<Value = Constraint> {
    (word(), proptest::option::of((proptest::sample::select(Relation::ALL.to_vec()), version()))).prop_map(|(n, rv)| {
        match rv {
            Some((r, v)) => Constraint::versioned(n, r, v),
            None => Constraint::any(n),
        }
    })
}

fn checksum() -> impl Strategy<Value = Checksum> {
    (
        proptest::sample::select(vec!["sha-256", "sha-1", "sha-256-gunzip1"]),
        proptest::option::of(Just("gunzip")),
        "[0-9a-f]{8,64}",
    )
        .prop_map(|(t, vp, v)| Checksum { checksum_type: t.into(), verify_process: vp.map(Into::into), value: v })
}

prop_compose! {
    fn payload()(name in "[a-z0-9-]{1,8}", t in proptest::sample::select(vec!["vgz", "tgz", "vzstd", "boot"]),
                 size in any::<u32>(), unc in proptest::option::of(any::<u32>()), sums in proptest::collection::vec(checksum(), 0..4))
                -> Payload {
        Payload { name, payload_type: t.into(), size: size.into(), uncompressed_size: unc.map(Into::into), compression_option: None, checksums: sums }
    }
}

prop_compose! {
    fn vib()(name in word(), vendor in word(), v in version(), summary in text(), description in text(),
             depends in proptest::collection::vec(constraint(), 0..4), conflicts in proptest::collection::vec(constraint(), 0..2),
             replaces in proptest::collection::vec(constraint(), 0..2),
             provides in proptest::collection::vec((word(), proptest::option::of(version())), 0..3),
             tags in proptest::collection::vec(text(), 0..3), files in proptest::collection::vec(word(), 0..3),
             level in proptest::sample::select(AcceptanceLevel::ALL.to_vec()), flags in any::<[bool; 6]>(),
             payloads in proptest::collection::vec(payload(), 0..3), platform in proptest::option::of("[0-9]\\.[0-9*]"),
             located in any::<bool>(), size in any::<u32>())
            -> Vib {
        let location = located.then(|| VibLocation {
            relative_path: format!("vib20/{name}/x.vib"), source_url: None, packed_size: size.into(), checksum: Checksum::sha256("ab"),
        });
        Vib {
            schema_version: "5.0".into(), vib_type: "bootbank".into(), name, version: v, vendor, summary, description,
            release_date: "2024-06-25T00:00:00".into(), urls: Vec::new(), depends, conflicts, replaces,
            provides: provides.into_iter().map(|(name, version)| Provide { name, version }).collect(),
            compatible_with: Vec::new(), software_tags: tags, maintenance_mode: MaintenanceMode { required: flags[5], install: None, remove: None },
            software_platforms: platform.into_iter().map(|p| SoftwarePlatform { version: p, locale: String::new(), product_line_id: "embeddedEsx".into() }).collect(),
            hardware_platforms: Vec::new(), file_list: files, acceptance_level: level,
            live_install_allowed: flags[0], live_remove_allowed: flags[1], cimom_restart: flags[2], stateless_ready: flags[3], overlay: flags[4],
            payloads, location, extra: Vec::new(),
        }
    }
}

proptest! {
    #[test]
    fn vib_round_trips(v in vib()) {
        let again = Vib::parse(&v.to_xml()).unwrap();
        prop_assert_eq!(again, v);
    }

    #[test]
    fn bulletin_round_trips(id in word(), vendor in text(), summary in text(), comp in proptest::option::of((word(), text(), version(), text())),
                            ids in proptest::collection::vec(word(), 0..5)) {
        let b = Bulletin {
            id, vendor, summary, severity: "general".into(), category: "enhancement".into(), urgency: "important".into(),
            release_type: "extension".into(), description: String::new(), kb_url: String::new(), contact: String::new(),
            component: comp.map(|(name, ui_name, version, ui_version)| ComponentSpec { name, ui_name, version, ui_version }),
            release_date: "2025-01-01T00:00:00+00:00".into(), platforms: Vec::new(), vib_ids: ids, extra: Vec::new(),
        };
        prop_assert_eq!(Bulletin::parse(&b.to_xml()).unwrap(), b);
    }

    #[test]
    fn xml_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::parse(&bytes, XmlLimits::default());
    }

    #[test]
    fn xml_parser_never_panics_on_tag_soup(s in "(<[a-z]{1,3}( [a-z]=\"[^\"]{0,3}\")?/?>|</[a-z]{1,3}>|&[a-z#0-9]{0,4};|[a-z ]{0,4}){0,30}") {
        if let Ok(tree) = xml::parse(s.as_bytes(), XmlLimits::default()) {
            // Whatever parses must write and parse again to the same tree.
            prop_assert_eq!(xml::parse(&tree.to_bytes(), XmlLimits::default()).unwrap(), tree);
        }
    }
}
