//! Builds the depot's metadata: base-image releases, their components and VIBs, add-ons
//! and image profiles. See the parent module for the shape of what is generated.
//!
//! A base image has `components_per_base_image` *slots*. Slot 0 is the `ESXi` component;
//! every other slot is a driver lineage. In each release a slot either keeps its previous
//! component (shared between base images, as in real depots) or gets a new version.
//! Every tenth slot is renamed every second release (a replace/conflict chain); every
//! fifth provides a versioned API its neighbour depends on. Work is linear in the number
//! of slots × releases plus VIBs: no quadratic passes, so 20,000 VIBs stay fast.

use std::collections::{BTreeMap, HashMap, HashSet};

use esxlcm_version::{Relation, Severity, Version};
use sha2::{Digest, Sha256};

use super::names::{
    COMPONENT_VENDORS, DRIVER_WORDS, ESXI_VIBS, OEM_WORDS, OEMS, REAL_8_0_U3, REAL_ESXI_VENDOR, Release,
    SECONDARY_SUFFIXES, releases, vmkapi,
};
use super::rng::Stream;
use super::vibfile::{BOOT_PAYLOADS, boot_payload_bytes, boot_payload_record, payload_bytes, payload_record, vib_file};
use super::{GenerateError, GeneratorConfig};
use crate::model::{
    AcceptanceLevel, Bulletin, Checksum, ComponentSpec, Constraint, ImageProfile, Provide, ReleaseKind, ReleaseUnit,
    ReleaseUnitSpec, SoftwarePlatform, Vib, VibLocation,
};
use crate::write::{DepotContent, Platform};
use crate::xml::Element;

/// The VMware vendor code of base-image VIBs.
const VMW: &str = "VMW";

/// A generated version; it must also pass VMware's authoring rules (§5.1), since a
/// generated depot should lint clean (warnings such as a missing release are fine for
/// constraint bounds like `8.0.1`).
fn ver(text: String) -> Result<Version, GenerateError> {
    let version = Version::parse(&text).map_err(|source| GenerateError::Version { text, source })?;
    match version.lint().into_iter().find(|l| l.severity() == Severity::Error) {
        Some(lint) => Err(GenerateError::VersionLint { lint }),
        None => Ok(version),
    }
}

fn platform() -> SoftwarePlatform {
    SoftwarePlatform { version: "8.0".into(), locale: String::new(), product_line_id: "embeddedEsx".into() }
}

/// A component version as it stands in one release.
#[derive(Debug, Clone)]
struct Current {
    generation: usize,
    component: String,
    version: Version,
    major: u32,
    minor: u32,
    patch: u32,
    vib_names: Vec<String>,
    vib_ids: Vec<String>,
}

/// One lineage of a base image.
#[derive(Debug)]
struct Slot {
    index: usize,
    word: String,
    vendor: &'static str,
    vib_count: usize,
    major: u32,
    minor: u32,
    renames: bool,
    updates: u32,
    /// (component name, VIB names) per generation (renames start a new generation).
    families: HashMap<usize, (String, Vec<String>)>,
    /// State at each release, by release index.
    history: Vec<Current>,
}

impl Slot {
    fn is_provider(&self) -> bool {
        self.index > 0 && self.index.is_multiple_of(5)
    }

    fn is_consumer(&self) -> bool {
        self.index > 1 && self.index % 5 == 1
    }

    fn api_name(&self) -> String {
        format!("{}-api", self.word)
    }
}

/// What kind of files a VIB ships (decides its file list).
#[derive(Debug, Clone, Copy)]
enum Files {
    Driver,
    Service,
}

fn file_list(name: &str, kind: Files) -> Vec<String> {
    let m = name.replace('-', "_");
    match kind {
        Files::Driver => vec![format!("etc/vmware/ihv.map.d/{m}_pci.map"), format!("usr/lib/vmware/vmkmod/{m}")],
        Files::Service => {
            vec![format!("etc/vmware/{m}/{m}.conf"), format!("opt/{m}/bin/{m}"), format!("opt/{m}/lib/lib{m}.so")]
        }
    }
}

/// Inputs of one VIB.
struct VibSpec {
    name: String,
    vendor: String,
    version: Version,
    summary: String,
    release_date: String,
    depends: Vec<Constraint>,
    conflicts: Vec<Constraint>,
    replaces: Vec<Constraint>,
    provides: Vec<Provide>,
    tags: Vec<String>,
    files: Files,
}

/// Inputs of one component (bulletin).
struct ComponentInfo<'a> {
    name: &'a str,
    ui_name: String,
    version: &'a Version,
    ui_version: String,
    vendor: &'a str,
    summary: String,
    category: &'a str,
    release_type: &'a str,
    release: &'a Release,
    vib_ids: Vec<String>,
}

pub(crate) struct Builder<'a> {
    config: &'a GeneratorConfig,
    releases: Vec<Release>,
    vib_names: HashSet<String>,
    component_names: HashSet<String>,
    content: DepotContent,
}

/// Take `wanted`, or `wanted-2`, `wanted-3`, ... if taken: names stay unique whatever the
/// tables and counts, deterministically.
fn claim(set: &mut HashSet<String>, wanted: String) -> String {
    if set.insert(wanted.clone()) {
        return wanted;
    }
    let mut k = 2usize;
    loop {
        let alt = format!("{wanted}-{k}");
        if set.insert(alt.clone()) {
            return alt;
        }
        k += 1;
    }
}

fn secondary_suffix(k: usize) -> String {
    match SECONDARY_SUFFIXES.get(k - 1) {
        Some(s) => (*s).to_owned(),
        None => format!("x{k}"),
    }
}

fn community(unit: ReleaseUnit) -> Result<ReleaseUnit, GenerateError> {
    // Generated VIBs are community-level (unsigned), so their release units say so too.
    let kind = unit.kind;
    let mut doc = unit.document;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("acceptanceLevel".into(), AcceptanceLevel::Community.as_str().into());
    }
    ReleaseUnit::from_document(kind, doc).map_err(|source| GenerateError::Model { what: "release unit".into(), source })
}

pub(crate) fn build(config: &GeneratorConfig) -> Result<DepotContent, GenerateError> {
    // Add-ons need a target release even in a depot without base images.
    let releases = releases(config.base_images.max(1));
    let mut b = Builder {
        config,
        releases,
        vib_names: HashSet::new(),
        component_names: HashSet::new(),
        content: DepotContent {
            vendor_name: config.vendor_name.clone(),
            vendor_code: config.vendor_code.clone(),
            platforms: vec![Platform::embedded_esx("8.0")],
            bulletins: Vec::new(),
            vibs: Vec::new(),
            profiles: Vec::new(),
            release_units: Vec::new(),
            timestamp: config.timestamp.clone(),
        },
    };
    let slot_count = if config.base_images == 0 { 0 } else { config.components_per_base_image };
    let mut slots: Vec<Slot> = (0..slot_count).map(|s| b.new_slot(s)).collect();
    for r in 0..config.base_images {
        let mut image = BTreeMap::new();
        let mut image_vibs = Vec::new();
        for s in 0..slots.len() {
            let current = if s == 0 { b.esxi(&mut slots[0], r)? } else { b.driver(&mut slots, s, r)? };
            image.insert(current.component.clone(), current.version.clone());
            image_vibs.extend(current.vib_ids.iter().cloned());
        }
        b.base_image(r, &image)?;
        if config.image_profiles {
            b.profile(r, image_vibs)?;
        }
    }
    for i in 0..config.addons {
        b.addon(i, &slots)?;
    }
    for i in 0..config.hardware_support {
        b.hardware_support_package(i)?;
    }
    Ok(b.content)
}

impl Builder<'_> {
    fn seed(&self) -> u64 {
        self.config.seed
    }

    fn new_slot(&self, index: usize) -> Slot {
        let mut st = Stream::new(self.seed(), "slot", index as u64, 0);
        let word = match index {
            0 => "esx".to_owned(),
            s => DRIVER_WORDS.get(s - 1).map_or_else(|| format!("drv{s}"), |w| (*w).to_owned()),
        };
        let vendor = COMPONENT_VENDORS.get(st.range(0, COMPONENT_VENDORS.len() - 1)).copied().unwrap_or("VMware");
        let (lo, hi) = self.config.vibs_per_component;
        Slot {
            index,
            word,
            vendor,
            vib_count: st.range(lo, hi),
            major: st.range(1, 12) as u32,
            minor: st.range(0, 30) as u32,
            renames: index > 0 && index % 10 == 9,
            updates: 0,
            families: HashMap::new(),
            history: Vec::new(),
        }
    }

    /// Build, checksum and record one VIB; returns its ID.
    fn emit_vib(&mut self, spec: VibSpec) -> Result<String, GenerateError> {
        let description = format!("{} (generated)", spec.summary);
        let mut vib = Vib {
            file_list: file_list(&spec.name, spec.files),
            description,
            summary: spec.summary,
            release_date: spec.release_date,
            depends: spec.depends,
            conflicts: spec.conflicts,
            replaces: spec.replaces,
            provides: spec.provides,
            software_tags: spec.tags,
            software_platforms: vec![platform()],
            stateless_ready: true,
            acceptance_level: self.config.acceptance,
            ..Vib::new(spec.name, spec.version, spec.vendor)
        };
        let id = vib.id();
        let (gz, tar) = payload_bytes(self.seed(), &vib, self.config.payload_bytes)
            .map_err(|source| GenerateError::Payload { vib_id: id.clone(), source })?;
        let mut stored: Vec<Vec<u8>> = Vec::new();
        if let Some((_, payloads)) =
            REAL_8_0_U3.iter().find(|(name, _)| self.config.real_esxi_payloads && *name == vib.name)
        {
            for (name, payload_type) in *payloads {
                let bytes = boot_payload_bytes(self.seed(), &id, name, self.config.payload_bytes)
                    .map_err(|source| GenerateError::Payload { vib_id: id.clone(), source })?;
                let mut record = boot_payload_record(name, &bytes);
                record.payload_type = (*payload_type).to_owned();
                vib.payloads.push(record);
                stored.push(bytes);
            }
            let parts: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
            return self.finish_vib(vib, &parts, id);
        }
        if self.config.boot_modules && vib.name == ESXI_VIBS[0] {
            for name in BOOT_PAYLOADS {
                let boot = boot_payload_bytes(self.seed(), &id, name, self.config.payload_bytes)
                    .map_err(|source| GenerateError::Payload { vib_id: id.clone(), source })?;
                vib.payloads.push(boot_payload_record(name, &boot));
                stored.push(boot);
            }
        }
        vib.payloads.push(payload_record(&vib.name, &gz, &tar));
        stored.push(gz);
        let parts: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
        self.finish_vib(vib, &parts, id)
    }

    /// The `.vib` file of `vib` with these payload bytes: its location and checksum, and the
    /// VIB into the content.
    fn finish_vib(&mut self, mut vib: Vib, parts: &[&[u8]], id: String) -> Result<String, GenerateError> {
        let bytes = vib_file(&vib, parts, self.config.signer.as_ref())
            .map_err(|source| GenerateError::Vib { vib_id: id.clone(), source })?;
        vib.location = Some(VibLocation {
            relative_path: vib.default_relative_path(),
            source_url: None,
            packed_size: bytes.len() as u64,
            checksum: Checksum::sha256(hex::encode(Sha256::digest(&bytes))),
        });
        self.content.vibs.push(vib);
        Ok(id)
    }

    fn emit_component(&mut self, c: ComponentInfo<'_>) {
        self.content.bulletins.push(Bulletin {
            id: format!("{}_{}", c.name, c.version),
            vendor: c.vendor.to_owned(),
            summary: c.summary.clone(),
            severity: "general".into(),
            category: c.category.into(),
            urgency: "important".into(),
            release_type: c.release_type.into(),
            description: format!("{} (generated)", c.summary),
            kb_url: String::new(),
            contact: String::new(),
            component: Some(ComponentSpec {
                name: c.name.to_owned(),
                ui_name: c.ui_name,
                version: c.version.clone(),
                ui_version: c.ui_version,
            }),
            release_date: format!("{}T00:00:00+00:00", c.release.date),
            platforms: vec![platform()],
            vib_ids: c.vib_ids,
            extra: Vec::new(),
        });
    }

    /// The `ESXi` component: new in every release, `esx-base` first, providing every
    /// vmkapi level up to this release's and `esx-version`.
    fn esxi(&mut self, slot: &mut Slot, r: usize) -> Result<Current, GenerateError> {
        let rel = self.releases[r].clone();
        let version = ver(rel.version.clone())?;
        let names: Vec<String> = if self.config.real_esxi_payloads {
            REAL_8_0_U3.iter().map(|(name, _)| (*name).to_owned()).collect()
        } else {
            (0..slot.vib_count.max(1))
                .map(|k| ESXI_VIBS.get(k).map_or_else(|| format!("esx-core{k}"), |n| (*n).to_owned()))
                .collect()
        };
        if r == 0 {
            for n in &names {
                self.vib_names.insert(n.clone());
            }
            self.component_names.insert("ESXi".into());
        }
        let mut ids = Vec::with_capacity(names.len());
        for (k, name) in names.iter().enumerate() {
            let mut spec = VibSpec {
                name: name.clone(),
                vendor: if self.config.real_esxi_payloads { REAL_ESXI_VENDOR.into() } else { VMW.into() },
                version: version.clone(),
                summary: format!("ESXi {name}"),
                release_date: format!("{}T00:00:00", rel.date),
                depends: Vec::new(),
                conflicts: Vec::new(),
                replaces: Vec::new(),
                provides: Vec::new(),
                tags: vec!["sdkname:esx".into()],
                files: Files::Service,
            };
            if k == 0 {
                spec.provides = (0..=r).map(|level| Provide { name: vmkapi(level), version: None }).collect();
                spec.provides.push(Provide { name: "esx-version".into(), version: Some(version.clone()) });
            } else {
                spec.depends = vec![Constraint::versioned("esx-base", Relation::Eq, version.clone())];
            }
            ids.push(self.emit_vib(spec)?);
        }
        self.emit_component(ComponentInfo {
            name: "ESXi",
            ui_name: "ESXi".into(),
            version: &version,
            ui_version: rel.ui_version(),
            vendor: "VMware, Inc.",
            summary: format!("ESXi {}", rel.ui_version()),
            category: "bugfix",
            release_type: "rollup",
            release: &rel,
            vib_ids: ids.clone(),
        });
        let current = Current {
            generation: 0,
            component: "ESXi".into(),
            version,
            major: 8,
            minor: 0,
            patch: rel.update,
            vib_names: names,
            vib_ids: ids,
        };
        slot.history.push(current.clone());
        Ok(current)
    }

    /// A driver slot in release `r`: kept, or a new version (always new when renamed).
    fn driver(&mut self, slots: &mut [Slot], s: usize, r: usize) -> Result<Current, GenerateError> {
        let rel = self.releases[r].clone();
        let mut st = Stream::new(self.seed(), "driver", s as u64, r as u64);
        // The API this slot's driver builds against: the neighbour's, as it stands now.
        let needs = match (slots.get(s), s.checked_sub(1).and_then(|p| slots.get(p))) {
            (Some(me), Some(provider)) if me.is_consumer() && provider.is_provider() => {
                provider.history.get(r).map(|c| (provider.api_name(), c.major, c.minor, c.patch))
            }
            _ => None,
        };
        let update_percent = self.config.update_percent;
        let Some(slot) = slots.get_mut(s) else {
            return Err(GenerateError::Config {
                field: "components_per_base_image",
                reason: format!("slot {s} does not exist"),
            });
        };
        let generation = if slot.renames { r / 2 } else { 0 };
        let previous = slot.history.last().cloned();
        if let Some(prev) = &previous
            && prev.generation == generation
            && !st.percent(update_percent)
        {
            slot.history.push(prev.clone());
            return Ok(prev.clone());
        }
        let patch = slot.updates;
        slot.updates += 1;
        let (component, names) = match slot.families.get(&generation) {
            Some(f) => f.clone(),
            None => {
                let short =
                    if generation == 0 { slot.word.clone() } else { format!("{}-g{}", slot.word, generation + 1) };
                let component = claim(&mut self.component_names, format!("{}-{short}", slot.vendor));
                let names: Vec<String> = (0..slot.vib_count)
                    .map(|k| {
                        let wanted = if k == 0 { short.clone() } else { format!("{short}-{}", secondary_suffix(k)) };
                        claim(&mut self.vib_names, wanted)
                    })
                    .collect();
                slot.families.insert(generation, (component.clone(), names.clone()));
                (component, names)
            }
        };
        let (major, minor) = (slot.major, slot.minor);
        let version = ver(format!("{major}.{minor}.{patch}.0-1vmw.{}", rel.tail()))?;
        // Most drivers need the newest vmkapi, so they only install on this release or later.
        let level = if st.percent(60) { r } else { st.range(0, r) };
        let mut depends = vec![Constraint::any(vmkapi(level))];
        if st.percent(30) {
            let min = &self.releases[level].short;
            depends.push(Constraint::versioned("esx-version", Relation::Ge, ver(min.clone())?));
        }
        if let Some((api, a, b, c)) = &needs {
            depends.push(Constraint::versioned(api.clone(), Relation::Ge, ver(format!("{a}.{b}.{c}"))?));
        }
        let provides = if slot.is_provider() {
            vec![Provide { name: slot.api_name(), version: Some(ver(format!("{major}.{minor}.{patch}"))?) }]
        } else {
            Vec::new()
        };
        // A renamed driver replaces and conflicts with its predecessor: a chain across
        // generations (g3 -> g2 -> g1).
        let (conflicts, replaces) = match &previous {
            Some(prev) if prev.generation != generation => {
                let old = prev.vib_names.first().cloned().unwrap_or_default();
                (vec![Constraint::any(old.clone())], vec![Constraint::versioned(old, Relation::Lt, version.clone())])
            }
            _ => (Vec::new(), Vec::new()),
        };
        let pci = format!("PCIID {:08x}", st.next_u64() as u32);
        let vendor_name = slot.vendor;
        let word = slot.word.clone();
        let ids =
            self.emit_family(&names, &version, major, VMW, &rel, (depends, conflicts, replaces, provides), pci)?;
        self.emit_component(ComponentInfo {
            name: &component,
            ui_name: format!("{vendor_name} {word} driver"),
            version: &version,
            ui_version: format!("{major}.{minor}.{patch}.0-1vmw"),
            vendor: "VMware, Inc.",
            summary: format!("{vendor_name} {word} driver for ESXi"),
            category: "enhancement",
            release_type: "extension",
            release: &rel,
            vib_ids: ids.clone(),
        });
        let current = Current { generation, component, version, major, minor, patch, vib_names: names, vib_ids: ids };
        if let Some(slot) = slots.get_mut(s) {
            slot.history.push(current.clone());
        }
        Ok(current)
    }

    /// The VIBs of one driver-like component: the primary gets the relationships, each
    /// secondary depends on the primary within its major version (`>=` and `<<`).
    #[allow(clippy::too_many_arguments)]
    fn emit_family(
        &mut self,
        names: &[String],
        version: &Version,
        major: u32,
        vendor: &str,
        rel: &Release,
        relationships: (Vec<Constraint>, Vec<Constraint>, Vec<Constraint>, Vec<Provide>),
        pci: String,
    ) -> Result<Vec<String>, GenerateError> {
        let (depends, conflicts, replaces, provides) = relationships;
        let mut ids = Vec::with_capacity(names.len());
        let next_major = ver(format!("{}.0", major + 1))?;
        for (k, name) in names.iter().enumerate() {
            let primary = k == 0;
            let spec = VibSpec {
                name: name.clone(),
                vendor: vendor.to_owned(),
                version: version.clone(),
                summary: format!("{name} for ESXi"),
                release_date: format!("{}T00:00:00", rel.date),
                depends: if primary {
                    depends.clone()
                } else {
                    let first = names.first().cloned().unwrap_or_default();
                    vec![
                        Constraint::versioned(first.clone(), Relation::Ge, version.clone()),
                        Constraint::versioned(first, Relation::Lt, next_major.clone()),
                    ]
                },
                conflicts: if primary { conflicts.clone() } else { Vec::new() },
                replaces: if primary { replaces.clone() } else { Vec::new() },
                provides: if primary { provides.clone() } else { Vec::new() },
                tags: if primary {
                    vec![
                        "driver".into(),
                        "module".into(),
                        pci.clone(),
                        "sdkname:esx".into(),
                        format!("sdkversion:{}-{}", rel.short, rel.build),
                    ]
                } else {
                    vec!["module".into()]
                },
                files: if primary { Files::Driver } else { Files::Service },
            };
            ids.push(self.emit_vib(spec)?);
        }
        Ok(ids)
    }

    fn base_image(&mut self, r: usize, components: &BTreeMap<String, Version>) -> Result<(), GenerateError> {
        let rel = &self.releases[r];
        let version = ver(rel.version.clone())?;
        let unit = ReleaseUnit::build(&ReleaseUnitSpec {
            kind: ReleaseKind::BaseImage,
            name: None,
            version: &version,
            ui_version: &rel.ui_version(),
            vendor: "VMware, Inc.",
            summary: &format!("ESXi {}", rel.ui_version()),
            release_date: &format!("{}T00:00:00+00:00", rel.date),
            components,
            removed: &[],
            supported_base_images: &[],
        })
        .map_err(|source| GenerateError::Model { what: format!("base image {version}"), source })?;
        self.content.release_units.push(community(unit)?);
        Ok(())
    }

    /// `ESXi-8.0U3-24280767-standard`: every VIB of the base image.
    fn profile(&mut self, r: usize, mut vib_ids: Vec<String>) -> Result<(), GenerateError> {
        let rel = &self.releases[r];
        let name = if rel.patch == 0 {
            format!("ESXi-8.0U{}-{}-standard", rel.update, rel.build)
        } else {
            format!("ESXi-8.0U{}p{}-{}-standard", rel.update, rel.patch, rel.build)
        };
        vib_ids.sort();
        let mut list = Element::new("vibList");
        for id in &vib_ids {
            list.push(Element::new("vib").text_child("vibID", id));
        }
        let when = format!("{}T00:00:00+00:00", rel.date);
        let element = Element::new("imageProfile")
            .text_child("name", &name)
            .text_child("creator", &self.config.vendor_name)
            .text_child("profileID", format!("{}:{name}", self.config.vendor_code))
            .text_child("creationTime", &when)
            .text_child("modifiedTime", &when)
            .text_child("description", format!("ESXi {} (generated)", rel.ui_version()))
            .text_child("readonly", "true")
            .text_child("acceptancelevel", AcceptanceLevel::Community.as_str())
            .child(list);
        // Parsed from its own bytes, so the profile equals what a reader gets back.
        let profile = ImageProfile::parse(&element.to_bytes())
            .map_err(|source| GenerateError::Model { what: format!("image profile {name}"), source })?;
        self.content.profiles.push(profile);
        Ok(())
    }

    /// OEM add-on `i`: its own management components, a newer build of one base driver,
    /// and an OEM driver that takes the place of a removed base component (replacing and
    /// conflicting with its VIBs). Supports its target release and the next one.
    fn addon(&mut self, i: usize, slots: &[Slot]) -> Result<(), GenerateError> {
        let b = self.config.base_images;
        let t = if b >= 2 { b - 1 - (i % 2) } else { 0 };
        let rel = self.releases[t].clone();
        let mut supported = vec![rel.short.clone()];
        if let Some(next) = self.releases.get(t + 1).filter(|_| t + 1 < b)
            && next.short != rel.short
        {
            supported.push(next.short.clone());
        }
        let (code, display) = OEMS[i % OEMS.len()];
        let round = i / OEMS.len();
        let code = if round == 0 { code.to_owned() } else { format!("{code}{}", round + 1) };
        let lower = code.to_ascii_lowercase();
        let mut st = Stream::new(self.seed(), "addon", i as u64, 0);
        let mut components = BTreeMap::new();
        let mut removed = Vec::new();
        let (lo, hi) = self.config.vibs_per_component;

        for k in 0..self.config.components_per_addon {
            let word = OEM_WORDS[(k + i) % OEM_WORDS.len()];
            let word = match k / OEM_WORDS.len() {
                0 => word.to_owned(),
                n => format!("{word}{}", n + 1),
            };
            let component = claim(&mut self.component_names, format!("{code}-{word}"));
            let vib_count = st.range(lo, hi);
            let names: Vec<String> = (0..vib_count)
                .map(|v| {
                    let wanted = if v == 0 {
                        format!("{lower}-{word}")
                    } else {
                        format!("{lower}-{word}-{}", secondary_suffix(v))
                    };
                    claim(&mut self.vib_names, wanted)
                })
                .collect();
            let (major, minor) = (st.range(1, 9) as u32, st.range(0, 20) as u32);
            let version = ver(format!("{major}.{minor}.{k}-1OEM.{}", rel.tail()))?;
            let depends = vec![
                Constraint::any(rel.vmkapi()),
                Constraint::versioned("esx-version", Relation::Ge, ver(rel.short.clone())?),
            ];
            let pci = format!("PCIID {:08x}", st.next_u64() as u32);
            let ids = self.emit_family(
                &names,
                &version,
                major,
                &code,
                &rel,
                (depends, Vec::new(), Vec::new(), Vec::new()),
                pci,
            )?;
            self.emit_component(ComponentInfo {
                name: &component,
                ui_name: format!("{display} {word}"),
                version: &version,
                ui_version: format!("{major}.{minor}.{k}"),
                vendor: display,
                summary: format!("{display} {word} for ESXi"),
                category: "enhancement",
                release_type: "extension",
                release: &rel,
                vib_ids: ids,
            });
            components.insert(component, version);
        }

        let at = |s: usize| slots.get(s).and_then(|slot| slot.history.get(t));
        // A newer build of a base driver (slots 2, 7, 12, ... are never removed or renamed).
        let updatable: Vec<usize> = (2..slots.len()).step_by(5).collect();
        if let Some(cur) = updatable.get(i % updatable.len().max(1)).and_then(|&s| at(s)) {
            let version = ver(format!("{}.{}.{}.{}-1OEM.{}", cur.major, cur.minor, cur.patch + 1, i + 1, rel.tail()))?;
            let depends = vec![Constraint::any(rel.vmkapi())];
            let pci = format!("PCIID {:08x}", st.next_u64() as u32);
            let ids = self.emit_family(
                &cur.vib_names,
                &version,
                cur.major,
                VMW,
                &rel,
                (depends, Vec::new(), Vec::new(), Vec::new()),
                pci,
            )?;
            self.emit_component(ComponentInfo {
                name: &cur.component,
                ui_name: format!("{} ({display} build)", cur.component),
                version: &version,
                ui_version: format!("{}.{}.{}.{}", cur.major, cur.minor, cur.patch + 1, i + 1),
                vendor: display,
                summary: format!("{} qualified by {display}", cur.component),
                category: "bugfix",
                release_type: "extension",
                release: &rel,
                vib_ids: ids,
            });
            components.insert(cur.component.clone(), version);
        }
        // Remove a base component and ship an OEM driver in its place (slots 3, 8, ...
        // are never depended on).
        let removable: Vec<usize> = (3..slots.len()).step_by(5).collect();
        if let Some(cur) = removable.get(i % removable.len().max(1)).and_then(|&s| at(s)) {
            removed.push(cur.component.clone());
            let word = cur.vib_names.first().cloned().unwrap_or_default();
            let component = claim(&mut self.component_names, format!("{code}-{word}"));
            let name = claim(&mut self.vib_names, format!("{lower}-{word}"));
            let version = ver(format!("{}.{}.0-1OEM.{}", cur.major + 1, i, rel.tail()))?;
            let depends = vec![Constraint::any(rel.vmkapi())];
            let conflicts = cur.vib_names.iter().cloned().map(Constraint::any).collect();
            let replaces = cur.vib_names.iter().cloned().map(Constraint::any).collect();
            let pci = format!("PCIID {:08x}", st.next_u64() as u32);
            let ids = self.emit_family(
                &[name],
                &version,
                cur.major + 1,
                &code,
                &rel,
                (depends, conflicts, replaces, Vec::new()),
                pci,
            )?;
            self.emit_component(ComponentInfo {
                name: &component,
                ui_name: format!("{display} {word} driver"),
                version: &version,
                ui_version: format!("{}.{}.0", cur.major + 1, i),
                vendor: display,
                summary: format!("{display} {word} driver (replaces {})", cur.component),
                category: "enhancement",
                release_type: "extension",
                release: &rel,
                vib_ids: ids,
            });
            components.insert(component, version);
        }

        let name = format!("{code}-addon");
        let version = ver(format!("{}.0.0.{}-1", rel.mmu, i + 1))?;
        let unit = ReleaseUnit::build(&ReleaseUnitSpec {
            kind: ReleaseKind::Addon,
            name: Some((&name, &format!("{display} Add-on for ESXi"))),
            version: &version,
            ui_version: &format!("{}.0.0.{}-1", rel.mmu, i + 1),
            vendor: display,
            summary: &format!("{display} customization for ESXi {}", rel.short),
            release_date: &format!("{}T00:00:00+00:00", rel.date),
            components: &components,
            removed: &removed,
            supported_base_images: &supported,
        })
        .map_err(|source| GenerateError::Model { what: format!("add-on {name}"), source })?;
        self.content.release_units.push(community(unit)?);
        Ok(())
    }
}

impl Builder<'_> {
    /// Hardware support package `i`: a manifest of OEM `(i / 2)`'s manager `<code>-hsm`
    /// with package `<code>-hsp`, version `1.0.0` (even `i`, for the second-newest release
    /// and the next) or `2.0.0` (odd `i`, the newest release only), higher versions for
    /// further rounds. It carries one firmware driver component `<code>-fw` of that
    /// version.
    fn hardware_support_package(&mut self, i: usize) -> Result<(), GenerateError> {
        let b = self.config.base_images;
        let oem = (i / 2) % OEMS.len();
        let n = i % 2 + 2 * (i / (2 * OEMS.len()));
        let t = if b >= 2 && n.is_multiple_of(2) { b - 2 } else { b - 1 };
        let rel = self.releases[t].clone();
        let mut supported = vec![rel.short.clone()];
        if let Some(next) = self.releases.get(t + 1)
            && next.short != rel.short
        {
            supported.push(next.short.clone());
        }
        let (code, display) = OEMS[oem];
        let lower = code.to_ascii_lowercase();
        let (manager, package) = (format!("{lower}-hsm"), format!("{lower}-hsp"));
        let package_version = format!("{}.0.0", n + 1);
        let component = format!("{code}-fw");
        self.component_names.insert(component.clone());
        let vib = format!("{lower}-fw-driver");
        self.vib_names.insert(vib.clone());
        let major = n as u32 + 1;
        let version = ver(format!("{major}.0.0-1OEM.{}", rel.tail()))?;
        let mut st = Stream::new(self.seed(), "hsp", i as u64, 0);
        let pci = format!("PCIID {:08x}", st.next_u64() as u32);
        let ids = self.emit_family(
            &[vib],
            &version,
            major,
            code,
            &rel,
            (vec![Constraint::any(rel.vmkapi())], Vec::new(), Vec::new(), Vec::new()),
            pci,
        )?;
        self.emit_component(ComponentInfo {
            name: &component,
            ui_name: format!("{display} firmware driver"),
            version: &version,
            ui_version: format!("{major}.0.0"),
            vendor: display,
            summary: format!("{display} firmware driver for ESXi {}", rel.short),
            category: "enhancement",
            release_type: "extension",
            release: &rel,
            vib_ids: ids,
        });
        let components = BTreeMap::from([(component, version)]);
        let manifest_version = ver(format!("{}.{}-1", rel.mmu, n + 1))?;
        let name = format!("{lower}-hsp");
        let unit = ReleaseUnit::build(&ReleaseUnitSpec {
            kind: ReleaseKind::Manifest,
            name: Some((&name, &format!("{display} Hardware Support Package"))),
            version: &manifest_version,
            ui_version: &package_version,
            vendor: display,
            summary: &format!("{display} hardware support package {package_version} for ESXi {}", rel.short),
            release_date: &format!("{}T00:00:00+00:00", rel.date),
            components: &components,
            removed: &[],
            supported_base_images: &supported,
        })
        .map_err(|source| GenerateError::Model { what: format!("manifest {name}"), source })?;
        // The manager and package as vLCM's hardware support integration names them.
        let mut doc = unit.document;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert(
                "hardwareSupportInfo".into(),
                serde_json::json!({
                    "manager": {"name": manager},
                    "package": {"name": package, "version": package_version},
                }),
            );
        }
        let unit = ReleaseUnit::from_document(ReleaseKind::Manifest, doc)
            .map_err(|source| GenerateError::Model { what: format!("manifest {name}"), source })?;
        self.content.release_units.push(community(unit)?);
        Ok(())
    }
}
