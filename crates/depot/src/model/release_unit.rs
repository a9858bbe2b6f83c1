//! Release units: base images, add-ons, hardware support manifests and solutions
//! (`baseimages/`, `addons/`, `manifests/`, `solutions/` in `metadata.zip`).
//!
//! No real file of these kinds has been seen (depot-format §2.6 [I]): they are read as
//! JSON with the expected camelCase keys, leniently, and the whole document is kept so
//! that writing it back loses nothing we did not understand.

use std::collections::BTreeMap;

use esxlcm_version::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::fields::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    BaseImage,
    Addon,
    Manifest,
    Solution,
}

impl ReleaseKind {
    /// The directory in `metadata.zip`.
    pub fn directory(self) -> &'static str {
        match self {
            Self::BaseImage => "baseimages",
            Self::Addon => "addons",
            Self::Manifest => "manifests",
            Self::Solution => "solutions",
        }
    }

    /// The `releaseType` value.
    pub fn release_type(self) -> &'static str {
        match self {
            Self::BaseImage => "baseImage",
            Self::Addon => "addon",
            Self::Manifest => "manifest",
            Self::Solution => "solution",
        }
    }

    pub fn from_directory(dir: &str) -> Option<Self> {
        [Self::BaseImage, Self::Addon, Self::Manifest, Self::Solution].into_iter().find(|k| k.directory() == dir)
    }
}

/// Inputs of [`ReleaseUnit::build`] (writers and the generator).
#[derive(Debug, Clone, Copy)]
pub struct ReleaseUnitSpec<'a> {
    pub kind: ReleaseKind,
    /// (name, display name); `None` for base images.
    pub name: Option<(&'a str, &'a str)>,
    pub version: &'a Version,
    pub ui_version: &'a str,
    pub vendor: &'a str,
    pub summary: &'a str,
    pub release_date: &'a str,
    pub components: &'a BTreeMap<String, Version>,
    pub removed: &'a [String],
    pub supported_base_images: &'a [String],
}

/// The fields every consumer needs, read out of the JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseUnit {
    pub kind: ReleaseKind,
    pub release_id: String,
    /// `nameSpec.name`: add-ons, manifests and solutions are identified by name.
    pub name: Option<String>,
    pub ui_name: Option<String>,
    pub version: Version,
    pub ui_version: String,
    pub vendor: String,
    pub summary: String,
    pub description: String,
    pub category: String,
    pub release_date: String,
    pub acceptance_level: String,
    /// Component name → version. Solutions list constraints; those stay in `document`.
    pub components: BTreeMap<String, Version>,
    pub removed_components: Vec<String>,
    /// Base image version prefixes an add-on or manifest supports.
    pub supported_base_images: Vec<String>,
    /// `hardwareSupportInfo` of a manifest: (manager name, package name, package version).
    pub hardware_support: Option<(String, String, String)>,
    /// The document as read (or as it will be written).
    #[serde(skip)]
    pub document: Value,
}

impl ReleaseUnit {
    pub fn parse(kind: ReleaseKind, bytes: &[u8]) -> Result<Self, ModelError> {
        let document: Value = serde_json::from_slice(bytes)
            .map_err(|e| ModelError::Json { path: kind.directory().to_owned(), reason: e.to_string() })?;
        Self::from_document(kind, document)
    }

    pub fn from_document(kind: ReleaseKind, document: Value) -> Result<Self, ModelError> {
        let p = kind.directory();
        let str_at = |ptr: &str| document.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_owned();
        let version_text = str_at("/versionSpec/version");
        if version_text.is_empty() {
            return Err(ModelError::Missing { path: format!("{p}/versionSpec/version") });
        }
        let version = super::fields::version(&version_text, &format!("{p}/versionSpec/version"))?;
        let name = document.pointer("/nameSpec/name").and_then(Value::as_str).map(str::to_owned);
        if kind != ReleaseKind::BaseImage && name.as_deref().unwrap_or_default().is_empty() {
            return Err(ModelError::Missing { path: format!("{p}/nameSpec/name") });
        }
        let mut components = BTreeMap::new();
        if let Some(map) = document.get("components").and_then(Value::as_object) {
            for (cname, v) in map {
                // Solutions map names to constraint lists; only plain versions are read here.
                if let Some(text) = v.as_str() {
                    components.insert(cname.clone(), super::fields::version(text, &format!("{p}/components/{cname}"))?);
                }
            }
        }
        let strings = |key: &str| -> Vec<String> {
            document
                .get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let hardware_support = document.get("hardwareSupportInfo").map(|h| {
            let s = |ptr: &str| h.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_owned();
            (s("/manager/name"), s("/package/name"), s("/package/version"))
        });
        let mut release_id = str_at("/releaseID");
        if release_id.is_empty() {
            release_id = match &name {
                Some(n) => format!("{n}:{version_text}"),
                None => format!("{}:{version_text}", kind.release_type()),
            };
        }
        Ok(Self {
            kind,
            release_id,
            ui_name: document.pointer("/nameSpec/uiString").and_then(Value::as_str).map(str::to_owned),
            name,
            ui_version: str_at("/versionSpec/uiString"),
            version,
            vendor: str_at("/vendor"),
            summary: str_at("/summary"),
            description: str_at("/description"),
            category: str_at("/category"),
            release_date: str_at("/releaseDate"),
            acceptance_level: str_at("/acceptanceLevel"),
            components,
            removed_components: strings("removedComponents"),
            supported_base_images: strings("supportedBaseImageVersions"),
            hardware_support,
            document,
        })
    }

    /// Does this add-on or manifest support a base image version? Entries are version
    /// prefixes (`8.0.3`, `8.0.3-0.35.24280767`), matched on whole dotted/dashed fields.
    pub fn supports_base_image(&self, base_image_version: &str) -> bool {
        self.supported_base_images.iter().any(|prefix| {
            base_image_version == prefix
                || base_image_version
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
        })
    }

    /// Build a unit from its fields; the JSON document is generated from them, so the
    /// result reads back equal.
    pub fn build(spec: &ReleaseUnitSpec<'_>) -> Result<Self, ModelError> {
        let ReleaseUnitSpec {
            kind,
            name,
            version,
            ui_version,
            vendor,
            summary,
            release_date,
            components,
            removed,
            supported_base_images,
        } = *spec;
        let mut doc = serde_json::Map::new();
        let release_id = match name {
            Some((n, _)) => format!("{n}:{version}"),
            None => format!("bi:{version}"),
        };
        doc.insert("releaseID".into(), release_id.into());
        doc.insert("releaseType".into(), kind.release_type().into());
        doc.insert("schemaVersion".into(), "1.0".into());
        doc.insert("vendor".into(), vendor.into());
        doc.insert("summary".into(), summary.into());
        doc.insert("description".into(), summary.into());
        doc.insert("category".into(), "enhancement".into());
        doc.insert("releaseDate".into(), release_date.into());
        doc.insert("acceptanceLevel".into(), "certified".into());
        doc.insert("versionSpec".into(), serde_json::json!({"version": version.as_str(), "uiString": ui_version}));
        if let Some((n, ui)) = name {
            doc.insert("nameSpec".into(), serde_json::json!({"name": n, "uiString": ui}));
        }
        let comps: serde_json::Map<String, Value> =
            components.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
        doc.insert("components".into(), Value::Object(comps));
        if kind != ReleaseKind::BaseImage {
            doc.insert("removedComponents".into(), removed.into());
            doc.insert("supportedBaseImageVersions".into(), supported_base_images.into());
        }
        Self::from_document(kind, Value::Object(doc))
    }

    /// Deterministic JSON (keys sorted by serde_json's map).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.document).unwrap_or_default()
    }
}
