//! Choosing part of a catalog to write out as a depot: "these components (and what they
//! need from the catalog's release units)" or everything.

use std::collections::BTreeSet;
use std::io::Read;

use crate::catalog::Catalog;
use crate::model::{Bulletin, ReleaseUnit, Vib};
use crate::write::{DepotContent, Platform, VibSource, WriteError};

/// What to take from a catalog.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Component name → optional version; `None` takes every version. Empty with
    /// `all == false` selects nothing but the named legacy bulletins.
    pub components: Vec<(String, Option<String>)>,
    pub bulletins: Vec<String>,
    /// Everything the catalog holds.
    pub all: bool,
}

impl Selection {
    pub fn everything() -> Self {
        Self { all: true, ..Self::default() }
    }

    fn takes(&self, b: &Bulletin) -> bool {
        if self.all {
            return true;
        }
        match &b.component {
            Some(c) => self
                .components
                .iter()
                .any(|(name, version)| name == &c.name && version.as_ref().is_none_or(|v| c.version.as_str() == v)),
            None => self.bulletins.iter().any(|id| id == &b.id),
        }
    }
}

impl Catalog {
    /// The selected bulletins, the VIBs they list, and the release units and profiles
    /// whose members are all selected. The platforms are those of the source depots.
    pub fn select(&self, selection: &Selection, vendor_name: &str, vendor_code: &str, timestamp: &str) -> DepotContent {
        let bulletins: Vec<Bulletin> = self
            .components()
            .chain(self.legacy_bulletins())
            .map(|e| &e.bulletin)
            .filter(|b| selection.takes(b))
            .cloned()
            .collect();
        let vib_ids: BTreeSet<&str> = bulletins.iter().flat_map(|b| b.vib_ids.iter().map(String::as_str)).collect();
        let mut vibs: Vec<Vib> = vib_ids.iter().filter_map(|id| self.vib(id)).map(|v| Vib::clone(&v.vib)).collect();
        if selection.all {
            // VIBs no bulletin lists are content too (a bare .vib source).
            for v in self.vibs() {
                if !vib_ids.contains(v.vib.id().as_str()) {
                    vibs.push(Vib::clone(&v.vib));
                }
            }
        }
        let components: BTreeSet<(String, String)> = bulletins
            .iter()
            .filter_map(|b| b.component.as_ref())
            .map(|c| (c.name.clone(), c.version.to_string()))
            .collect();
        let release_units: Vec<ReleaseUnit> = self
            .all_release_units()
            .filter(|u| {
                selection.all || u.components.iter().all(|(n, v)| components.contains(&(n.clone(), v.to_string())))
            })
            .cloned()
            .collect();
        let vib_set: BTreeSet<String> = vibs.iter().map(Vib::id).collect();
        let profiles = self
            .profiles()
            .iter()
            .filter(|p| selection.all || p.vib_ids.iter().all(|id| vib_set.contains(id)))
            .cloned()
            .collect();
        let mut platforms: Vec<Platform> = self
            .depots()
            .iter()
            .flat_map(|d| d.metadata.iter().flat_map(|m| m.entries.iter()))
            .map(|e| Platform { product_id: e.product_id.clone(), version: e.version.clone() })
            .collect();
        platforms.sort();
        platforms.dedup();
        if platforms.is_empty() {
            platforms.push(Platform::embedded_esx(""));
        }
        DepotContent {
            vendor_name: vendor_name.to_owned(),
            vendor_code: vendor_code.to_owned(),
            platforms,
            bulletins,
            vibs,
            profiles,
            release_units,
            timestamp: timestamp.to_owned(),
        }
    }
}

impl VibSource for Catalog {
    fn open_vib(&self, vib: &Vib) -> Result<Box<dyn Read + '_>, WriteError> {
        let id = vib.id();
        let reader = Catalog::open_vib(self, &id).map_err(|e| WriteError::from_source(id, e))?;
        Ok(reader)
    }
}
