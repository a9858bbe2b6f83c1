//! Hand-built catalogs for solver tests: VIBs, components, base images and add-ons as
//! model objects, merged into a [`Catalog`] through an in-memory depot (no files: the
//! solver reads metadata only).
#![allow(dead_code)] // each test binary uses a different part
#![allow(clippy::unwrap_used)] // fixtures fail loudly

use std::collections::BTreeMap;
use std::sync::Arc;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::metadata_zip::MetadataArchive;
use esxlcm_depot::model::{
    AcceptanceLevel, Bulletin, Checksum, ComponentSpec, Constraint, Provide, ReleaseKind, ReleaseUnit, ReleaseUnitSpec,
    SoftwarePlatform, Vib, VibLocation,
};
use esxlcm_depot::source::{Depot, DirContainer, LoadedMetadata, SourceKind};
use esxlcm_solver::spec::ImageSpec;
use esxlcm_version::{Relation, Version};

pub fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// A certified VMW VIB with no relationships and no platform restriction.
pub fn vib(name: &str, version: &str) -> Vib {
    let mut vib = Vib {
        release_date: "2024-06-25".into(),
        maintenance_mode: esxlcm_depot::model::MaintenanceMode::default(),
        acceptance_level: AcceptanceLevel::Certified,
        stateless_ready: true,
        ..Vib::new(name, v(version), "VMW")
    };
    vib.location = Some(VibLocation {
        relative_path: vib.default_relative_path(),
        source_url: None,
        packed_size: 0,
        checksum: Checksum::sha256(""),
    });
    vib
}

/// A `boot` payload: what makes a base VIB carry the kernel (depot-format §8.2).
pub fn kernel_payload() -> esxlcm_depot::model::Payload {
    esxlcm_depot::model::Payload {
        name: "b".into(),
        payload_type: "boot".into(),
        size: 0,
        uncompressed_size: None,
        compression_option: None,
        checksums: Vec::new(),
    }
}

pub fn dep(name: &str) -> Constraint {
    Constraint::any(name)
}

pub fn dep_v(name: &str, relation: &str, version: &str) -> Constraint {
    Constraint::versioned(name, Relation::parse(relation).unwrap(), v(version))
}

pub fn provide(name: &str) -> Provide {
    Provide { name: name.into(), version: None }
}

pub fn provide_v(name: &str, version: &str) -> Provide {
    Provide { name: name.into(), version: Some(v(version)) }
}

pub fn platform(version: &str) -> SoftwarePlatform {
    SoftwarePlatform { version: version.into(), locale: String::new(), product_line_id: "embeddedEsx".into() }
}

/// The content of one in-memory depot.
#[derive(Default)]
pub struct Fixture {
    pub vibs: Vec<Vib>,
    pub bulletins: Vec<Bulletin>,
    pub units: Vec<ReleaseUnit>,
}

impl Fixture {
    pub fn new() -> Self {
        Self::default()
    }

    /// A component of these VIBs (VIB IDs only: pass VIBs with `vibs` to keep them out of
    /// the catalog).
    pub fn component(&mut self, name: &str, version: &str, vibs: Vec<Vib>) -> &mut Self {
        let ids = vibs.iter().map(Vib::id).collect();
        self.vibs.extend(vibs);
        self.component_ids(name, version, ids)
    }

    pub fn component_ids(&mut self, name: &str, version: &str, vib_ids: Vec<String>) -> &mut Self {
        self.bulletins.push(Bulletin {
            id: format!("{name}_{version}"),
            vendor: "VMware, Inc.".into(),
            summary: format!("{name} component"),
            severity: "general".into(),
            category: "enhancement".into(),
            urgency: "important".into(),
            release_type: "extension".into(),
            description: String::new(),
            kb_url: String::new(),
            contact: String::new(),
            component: Some(ComponentSpec {
                name: name.into(),
                ui_name: format!("{name} (UI)"),
                version: v(version),
                ui_version: version.into(),
            }),
            release_date: "2024-06-25".into(),
            platforms: Vec::new(),
            vib_ids,
            extra: Vec::new(),
        });
        self
    }

    pub fn base_image(&mut self, version: &str, components: &[(&str, &str)]) -> &mut Self {
        self.unit(ReleaseKind::BaseImage, None, version, components, &[], &[])
    }

    pub fn addon(
        &mut self,
        name: &str,
        version: &str,
        components: &[(&str, &str)],
        removed: &[&str],
        supported: &[&str],
    ) -> &mut Self {
        self.unit(ReleaseKind::Addon, Some(name), version, components, removed, supported)
    }

    pub fn unit(
        &mut self,
        kind: ReleaseKind,
        name: Option<&str>,
        version: &str,
        components: &[(&str, &str)],
        removed: &[&str],
        supported: &[&str],
    ) -> &mut Self {
        let comps: BTreeMap<String, Version> = components.iter().map(|(n, x)| ((*n).to_owned(), v(x))).collect();
        let removed: Vec<String> = removed.iter().map(|s| (*s).to_owned()).collect();
        let supported: Vec<String> = supported.iter().map(|s| (*s).to_owned()).collect();
        let version = v(version);
        self.units.push(
            ReleaseUnit::build(&ReleaseUnitSpec {
                kind,
                name: name.map(|n| (n, n)),
                version: &version,
                ui_version: version.as_str(),
                vendor: "VMware, Inc.",
                summary: "test unit",
                release_date: "2024-06-25",
                components: &comps,
                removed: &removed,
                supported_base_images: &supported,
            })
            .unwrap(),
        );
        self
    }

    /// This content as a depot (metadata only; its VIB files do not exist).
    pub fn depot(&self) -> Depot {
        let archive = MetadataArchive {
            bulletins: self.bulletins.clone(),
            vibs: self.vibs.iter().cloned().map(Arc::new).collect(),
            release_units: self.units.clone(),
            ..MetadataArchive::default()
        };
        Depot {
            label: "fixture".into(),
            kind: SourceKind::Directory,
            vendor_list: None,
            vendor_list_path: String::new(),
            vendors: Vec::new(),
            metadata: vec![LoadedMetadata {
                path: "metadata.zip".into(),
                base_dir: String::new(),
                vendor_code: "vmw".into(),
                entries: Vec::new(),
                archive,
            }],
            loose_vibs: Vec::new(),
            notes: Vec::new(),
            container: Arc::new(DirContainer::new("/nonexistent-fixture-depot")),
        }
    }

    pub fn catalog(&self) -> Catalog {
        Catalog::from_depots([self.depot()]).unwrap()
    }
}

/// A spec of a base image, an optional add-on and components.
pub fn spec(base: &str, addon: Option<(&str, &str)>, components: &[(&str, Option<&str>)]) -> ImageSpec {
    let mut spec = ImageSpec::of_base_image(v(base));
    if let Some((name, version)) = addon {
        spec = spec.with_add_on(name, v(version));
    }
    spec.components = components.iter().map(|(n, x)| ((*n).to_owned(), x.map(v))).collect();
    spec
}
