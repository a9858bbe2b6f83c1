//! The effective image: what a software spec resolves to — every component with its
//! version and where that version came from, and the VIBs those components expand to.
//! Built by [`crate::resolve()`]; read by validation, compliance and the image builder.

use std::collections::BTreeMap;
use std::sync::Arc;

use esxlcm_depot::model::Vib;
use esxlcm_version::Version;
use serde::Serialize;

/// Where a component's version came from, in the override order of depot-format §6.2
/// (vLCM's effective-components view shows the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComponentSource {
    BaseImage,
    AddOn,
    HardwareSupport,
    User,
    Solution,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageComponent {
    pub name: String,
    pub version: Version,
    pub display_name: String,
    pub display_version: String,
    pub source: ComponentSource,
    /// VIB IDs of this component (its bulletin's `vibList`).
    pub vib_ids: Vec<String>,
}

/// One resolved image.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveImage {
    pub base_image: Version,
    /// Add-on name and version.
    pub add_on: Option<(String, Version)>,
    /// Hardware support packages: (manager, package, version).
    pub hardware_support: Vec<(String, String, String)>,
    /// Component name → component, in name order.
    pub components: BTreeMap<String, ImageComponent>,
    /// Components the spec or add-on removed (names), for display.
    pub removed_components: Vec<String>,
    /// VIB ID → VIB, every VIB of every component.
    #[serde(skip)]
    pub vibs: BTreeMap<String, Arc<Vib>>,
}

impl EffectiveImage {
    /// The image's acceptance level: its lowest VIB's (depot-format §8.1).
    pub fn acceptance_level(&self) -> Option<esxlcm_depot::model::AcceptanceLevel> {
        self.vibs.values().map(|v| v.acceptance_level).min()
    }
}

/// How findings name where a component's version came from.
pub(crate) fn source_text(source: ComponentSource) -> &'static str {
    match source {
        ComponentSource::BaseImage => "base image",
        ComponentSource::AddOn => "add-on",
        ComponentSource::HardwareSupport => "hardware support package",
        ComponentSource::User => "spec",
        ComponentSource::Solution => "solution",
    }
}
