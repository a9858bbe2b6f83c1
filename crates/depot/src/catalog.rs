//! A catalog merges many depots into one view (depot-format §0): one entry per VIB ID,
//! per component (name, version), per legacy bulletin and per release unit, remembering
//! every depot that carries each. Disagreement about one VIB ID is a reported conflict,
//! never a silent pick.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, OnceLock};

use esxlcm_version::Version;
use serde::Serialize;

use crate::model::{AcceptanceLevel, Bulletin, ImageProfile, ReleaseKind, ReleaseUnit, Vib};
use crate::source::{Depot, SourceError};

/// Where one VIB file can be read: a depot and the path inside it.
#[derive(Debug, Clone, Serialize)]
pub struct VibOrigin {
    pub depot: usize,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct CatalogVib {
    pub vib: Arc<Vib>,
    pub origins: Vec<VibOrigin>,
}

#[derive(Debug, Clone)]
pub struct CatalogBulletin {
    pub bulletin: Bulletin,
    pub depots: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct CatalogReleaseUnit {
    pub unit: ReleaseUnit,
    pub depots: Vec<usize>,
}

/// Two depots say different things about the same identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogConflict {
    /// `vib`, `component`, `bulletin` or the release unit kind.
    pub kind: String,
    pub id: String,
    pub first: String,
    pub second: String,
    /// Which field differs, for the message.
    pub field: String,
}

impl std::fmt::Display for CatalogConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} differs between {} and {} ({} differs); one ID must always mean the same content",
            self.kind, self.id, self.first, self.second, self.field
        )
    }
}

/// Filters for browsing. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Case-insensitive vendor (bulletin vendor for components, VIB vendor for VIBs).
    pub vendor: Option<String>,
    /// Keep entries whose acceptance level is at least this.
    pub min_acceptance: Option<AcceptanceLevel>,
    pub category: Option<String>,
    /// ISO-8601 prefixes compared as text (`2024`, `2024-06-25`).
    pub released_after: Option<String>,
    pub released_before: Option<String>,
    /// A platform version such as `8.0.3`: keep entries whose platforms match it.
    pub platform: Option<String>,
}

/// Name (VIB name or provided capability) → (base image version, VIB), base images in order.
type ProviderIndex = BTreeMap<String, Vec<(Version, Arc<Vib>)>>;

#[derive(Default)]
pub struct Catalog {
    depots: Vec<Arc<Depot>>,
    vibs: BTreeMap<String, CatalogVib>,
    /// Component name → version → entry, so that versions of one name are in order.
    components: BTreeMap<String, BTreeMap<Version, CatalogBulletin>>,
    bulletins: BTreeMap<String, CatalogBulletin>,
    release_units: BTreeMap<(ReleaseKind, String), CatalogReleaseUnit>,
    profiles: Vec<ImageProfile>,
    conflicts: Vec<CatalogConflict>,
    /// Built on first use, dropped whenever a depot is added.
    providers: OnceLock<ProviderIndex>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_depots(depots: impl IntoIterator<Item = Depot>) -> Result<Self, SourceError> {
        let mut catalog = Self::new();
        for d in depots {
            catalog.add(d)?;
        }
        Ok(catalog)
    }

    /// Merge a depot in. Conflicts are recorded (see [`Catalog::conflicts`]); the first
    /// depot's content stays the catalog's.
    pub fn add(&mut self, depot: Depot) -> Result<usize, SourceError> {
        self.providers = OnceLock::new();
        let index = self.depots.len();
        let label = depot.label.clone();
        for (meta, vib) in depot.all_vibs() {
            let path = depot.vib_path(meta, vib)?;
            let id = vib.id();
            match self.vibs.get_mut(&id) {
                None => {
                    self.vibs
                        .insert(id, CatalogVib { vib: vib.clone(), origins: vec![VibOrigin { depot: index, path }] });
                }
                Some(existing) => {
                    if let Some(field) = vib_difference(&existing.vib, vib) {
                        // The first record may come from this same depot (two metadata zips).
                        let first = self.depots.get(existing.origins[0].depot).map_or(&label, |d| &d.label).clone();
                        self.conflicts.push(CatalogConflict {
                            kind: "VIB".into(),
                            id,
                            first,
                            second: label.clone(),
                            field,
                        });
                    } else if !existing.origins.iter().any(|o| o.depot == index && o.path == path) {
                        existing.origins.push(VibOrigin { depot: index, path });
                    }
                }
            }
        }
        for meta in &depot.metadata {
            for b in &meta.archive.bulletins {
                self.add_bulletin(b, index, &label);
            }
            for u in &meta.archive.release_units {
                let key = (u.kind, u.release_id.clone());
                match self.release_units.get_mut(&key) {
                    None => {
                        self.release_units.insert(key, CatalogReleaseUnit { unit: u.clone(), depots: vec![index] });
                    }
                    Some(existing) if existing.unit.document == u.document => existing.depots.push(index),
                    Some(existing) => {
                        let first = existing.depots[0];
                        let first = self.depot_label(first, &label);
                        self.conflicts.push(CatalogConflict {
                            kind: u.kind.release_type().into(),
                            id: u.release_id.clone(),
                            first,
                            second: label.clone(),
                            field: "document".into(),
                        });
                    }
                }
            }
            for p in &meta.archive.profiles {
                if !self.profiles.iter().any(|q| q.name == p.name && q.element == p.element) {
                    self.profiles.push(p.clone());
                }
            }
        }
        self.depots.push(Arc::new(depot));
        Ok(index)
    }

    /// A depot's label; the depot being added is not in `depots` yet.
    fn depot_label(&self, i: usize, adding: &str) -> String {
        self.depots.get(i).map_or_else(|| adding.to_owned(), |d| d.label.clone())
    }

    fn add_bulletin(&mut self, b: &Bulletin, index: usize, label: &str) {
        let (map_key_component, existing) = match &b.component {
            Some(spec) => {
                let key = (spec.name.clone(), spec.version.clone());
                let existing = self.components.get_mut(&spec.name).and_then(|m| m.get_mut(&spec.version));
                (Some(key), existing)
            }
            None => (None, self.bulletins.get_mut(&b.id)),
        };
        match existing {
            Some(e) => {
                if let Some(field) = bulletin_difference(&e.bulletin, b) {
                    let first = e.depots[0];
                    let kind = if b.is_component() { "component" } else { "bulletin" };
                    let id = match &b.component {
                        Some(c) => format!("{}:{}", c.name, c.version),
                        None => b.id.clone(),
                    };
                    let first = self.depot_label(first, label);
                    self.conflicts.push(CatalogConflict {
                        kind: kind.into(),
                        id,
                        first,
                        second: label.to_owned(),
                        field,
                    });
                } else if !e.depots.contains(&index) {
                    e.depots.push(index);
                }
            }
            None => {
                let entry = CatalogBulletin { bulletin: b.clone(), depots: vec![index] };
                match map_key_component {
                    Some((name, version)) => {
                        self.components.entry(name).or_default().insert(version, entry);
                    }
                    None => {
                        self.bulletins.insert(b.id.clone(), entry);
                    }
                }
            }
        }
    }

    pub fn depots(&self) -> &[Arc<Depot>] {
        &self.depots
    }

    pub fn conflicts(&self) -> &[CatalogConflict] {
        &self.conflicts
    }

    pub fn vib(&self, id: &str) -> Option<&CatalogVib> {
        self.vibs.get(id)
    }

    pub fn vibs(&self) -> impl Iterator<Item = &CatalogVib> {
        self.vibs.values()
    }

    /// Components (bulletins with component specs), by name then version order.
    pub fn components(&self) -> impl Iterator<Item = &CatalogBulletin> {
        self.components.values().flat_map(BTreeMap::values)
    }

    pub fn component(&self, name: &str, version: &Version) -> Option<&CatalogBulletin> {
        self.components.get(name).and_then(|m| m.get(version))
    }

    /// All versions of one component, lowest first.
    pub fn component_versions(&self, name: &str) -> Vec<&CatalogBulletin> {
        self.components.get(name).map(|m| m.values().collect()).unwrap_or_default()
    }

    /// Legacy bulletins (no component specs).
    pub fn legacy_bulletins(&self) -> impl Iterator<Item = &CatalogBulletin> {
        self.bulletins.values()
    }

    pub fn release_units(&self, kind: ReleaseKind) -> impl Iterator<Item = &ReleaseUnit> {
        self.release_units.values().filter(move |u| u.unit.kind == kind).map(|u| &u.unit)
    }

    /// The VIBs of every base image that are named `name` or provide it, with the base
    /// image version, lowest base image first: "which release would give me this
    /// capability". Indexed once per catalog, so explaining many unmet dependencies stays
    /// cheap.
    pub fn base_image_providers(&self, name: &str) -> &[(Version, Arc<Vib>)] {
        let index = self.providers.get_or_init(|| {
            let mut index = ProviderIndex::new();
            let mut units: Vec<&ReleaseUnit> = self.release_units(ReleaseKind::BaseImage).collect();
            units.sort_by(|a, b| a.version.cmp(&b.version));
            for unit in units {
                let vibs = unit
                    .components
                    .iter()
                    .filter_map(|(n, v)| self.component(n, v))
                    .flat_map(|b| b.bulletin.vib_ids.iter())
                    .filter_map(|id| self.vibs.get(id));
                for entry in vibs {
                    let vib = &entry.vib;
                    let names = std::iter::once(vib.name.as_str()).chain(vib.provides.iter().map(|p| p.name.as_str()));
                    for n in names {
                        index.entry(n.to_owned()).or_default().push((unit.version.clone(), Arc::clone(vib)));
                    }
                }
            }
            index
        });
        index.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every release unit, by kind then release ID.
    pub fn all_release_units(&self) -> impl Iterator<Item = &ReleaseUnit> {
        self.release_units.values().map(|u| &u.unit)
    }

    pub fn base_image(&self, version: &Version) -> Option<&ReleaseUnit> {
        self.release_units(ReleaseKind::BaseImage).find(|u| &u.version == version)
    }

    pub fn addon(&self, name: &str, version: &Version) -> Option<&ReleaseUnit> {
        self.release_units(ReleaseKind::Addon).find(|u| u.name.as_deref() == Some(name) && &u.version == version)
    }

    pub fn profiles(&self) -> &[ImageProfile] {
        &self.profiles
    }

    /// The lowest acceptance level among a bulletin's VIBs (unknown VIBs are ignored).
    pub fn acceptance_of(&self, b: &Bulletin) -> Option<AcceptanceLevel> {
        b.vib_ids.iter().filter_map(|id| self.vibs.get(id)).map(|v| v.vib.acceptance_level).min()
    }

    /// Components and legacy bulletins that pass `filter`, in catalog order.
    pub fn filter_bulletins<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = &'a CatalogBulletin> + 'a {
        self.components().chain(self.bulletins.values()).filter(move |e| self.bulletin_matches(&e.bulletin, filter))
    }

    fn bulletin_matches(&self, b: &Bulletin, f: &Filter) -> bool {
        f.vendor.as_ref().is_none_or(|v| b.vendor.eq_ignore_ascii_case(v))
            && f.category.as_ref().is_none_or(|c| b.category.eq_ignore_ascii_case(c))
            && f.min_acceptance.is_none_or(|min| self.acceptance_of(b).is_some_and(|a| a >= min))
            && date_in_range(&b.release_date, f)
            && f.platform
                .as_ref()
                .is_none_or(|p| b.platforms.is_empty() || b.platforms.iter().any(|sp| platform_matches(&sp.version, p)))
    }

    /// VIBs that pass `filter`.
    pub fn filter_vibs<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = &'a CatalogVib> + 'a {
        self.vibs.values().filter(move |e| {
            let v = &e.vib;
            filter.vendor.as_ref().is_none_or(|x| v.vendor.eq_ignore_ascii_case(x))
                && filter.min_acceptance.is_none_or(|min| v.acceptance_level >= min)
                && date_in_range(&v.release_date, filter)
                && filter.platform.as_ref().is_none_or(|p| {
                    v.software_platforms.is_empty()
                        || v.software_platforms.iter().any(|sp| platform_matches(&sp.version, p))
                })
        })
    }

    /// Stream a VIB's bytes from the first depot that carries it.
    pub fn open_vib(&self, id: &str) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let entry = self
            .vibs
            .get(id)
            .ok_or_else(|| SourceError::Vib { location: "catalog".into(), message: format!("no VIB with ID {id}") })?;
        let mut last = None;
        for origin in &entry.origins {
            let Some(depot) = self.depots.get(origin.depot) else {
                continue;
            };
            match depot.container.open(&origin.path) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => e.into(),
            None => {
                SourceError::Vib { location: "catalog".into(), message: format!("VIB {id} has no readable origin") }
            }
        })
    }
}

/// Platform patterns are lenient (depot-format §1.3 [I]): one we cannot parse matches.
fn platform_matches(pattern: &str, platform: &str) -> bool {
    esxlcm_version::PlatformPattern::parse(pattern).map_or(true, |p| p.matches(platform))
}

fn date_in_range(date: &str, f: &Filter) -> bool {
    f.released_after.as_ref().is_none_or(|a| date >= a.as_str())
        && f.released_before.as_ref().is_none_or(|b| date < b.as_str())
}

/// The first field that differs between two records of one VIB ID, ignoring where the
/// file lives (two depots may place it differently) but not what it is.
fn vib_difference(a: &Vib, b: &Vib) -> Option<String> {
    if let (Some(la), Some(lb)) = (&a.location, &b.location) {
        if la.packed_size != lb.packed_size {
            return Some("packed size".into());
        }
        if !la.checksum.matches_hex(&lb.checksum.value) && la.checksum.checksum_type == lb.checksum.checksum_type {
            return Some("file checksum".into());
        }
    }
    let mut a = a.clone();
    let mut b = b.clone();
    a.location = None;
    b.location = None;
    // Descriptive text may be re-serialised differently by writers; payloads, relations
    // and acceptance are what make two VIBs different.
    if a.payloads != b.payloads {
        return Some("payloads".into());
    }
    if a.acceptance_level != b.acceptance_level {
        return Some("acceptance level".into());
    }
    if (&a.depends, &a.conflicts, &a.replaces, &a.provides) != (&b.depends, &b.conflicts, &b.replaces, &b.provides) {
        return Some("relationships".into());
    }
    None
}

fn bulletin_difference(a: &Bulletin, b: &Bulletin) -> Option<String> {
    let mut x = a.vib_ids.clone();
    let mut y = b.vib_ids.clone();
    x.sort();
    y.sort();
    if x != y {
        return Some("VIB list".into());
    }
    None
}
