//! The vLCM desired-state software spec (depot-format §6.1), as vLCM exports it and as
//! PowerCLI's `New-IsoImage -SoftwareSpec` reads it.
//!
//! Unknown keys are kept and reported by their JSON path, never silently dropped: a typo
//! such as `"base_imge"` must not turn into an image without a base image.

use std::collections::BTreeMap;

use esxlcm_version::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;

type Unknown = BTreeMap<String, Value>;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("software spec is not valid JSON or has a wrong type at {path}: {message}")]
    Json { path: String, message: String },
    #[error("software spec has no base_image.version; every image needs a base image")]
    MissingBaseImage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseImageSpec {
    pub version: Version,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddOnSpec {
    pub name: String,
    pub version: Version,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolutionComponent {
    pub component: String,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolutionSpec {
    pub version: String,
    #[serde(default)]
    pub components: Vec<SolutionComponent>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareSupportPackage {
    pub pkg: String,
    #[serde(default)]
    pub version: String,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HardwareSupportSpec {
    #[serde(default)]
    pub packages: BTreeMap<String, HardwareSupportPackage>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The image part shared by the spec and its alternative images.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<BaseImageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_on: Option<AddOnSpec>,
    /// Component name → version, or `None`: "pick the version from the constraints".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, Option<Version>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub solutions: BTreeMap<String, SolutionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_support: Option<HardwareSupportSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_components: Vec<String>,
}

impl ImageSpec {
    /// An image of just a base image.
    pub fn of_base_image(version: Version) -> Self {
        Self { base_image: Some(BaseImageSpec { version, unknown: Unknown::new() }), ..Self::default() }
    }

    /// Builder: the add-on.
    #[must_use]
    pub fn with_add_on(mut self, name: impl Into<String>, version: Version) -> Self {
        self.add_on = Some(AddOnSpec { name: name.into(), version, unknown: Unknown::new() });
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlternativeImage {
    #[serde(flatten)]
    pub image: ImageSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_criteria: Option<Value>,
}

/// A whole software spec document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SoftwareSpec {
    #[serde(flatten)]
    pub image: ImageSpec,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alternative_images: BTreeMap<String, AlternativeImage>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

impl SoftwareSpec {
    /// Parse a spec; `null` for an optional key means absent (§6.1: writers may emit it).
    pub fn from_json(bytes: &[u8]) -> Result<Self, SpecError> {
        let mut value: Value =
            serde_json::from_slice(bytes).map_err(|e| SpecError::Json { path: "$".into(), message: e.to_string() })?;
        strip_nulls(&mut value);
        let spec: Self =
            serde_json::from_value(value).map_err(|e| SpecError::Json { path: "$".into(), message: e.to_string() })?;
        if spec.image.base_image.is_none() {
            return Err(SpecError::MissingBaseImage);
        }
        Ok(spec)
    }

    /// Pretty JSON with keys in a stable order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// JSON paths of every key this model does not know (`$.base_imge`,
    /// `$.add_on.vendor`), for a warning that names them.
    pub fn unknown_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = self.unknown.keys().map(|k| format!("$.{k}")).collect();
        image_unknown(&self.image, "$", &mut out);
        for (id, alt) in &self.alternative_images {
            image_unknown(&alt.image, &format!("$.alternative_images.{id}"), &mut out);
        }
        out
    }
}

fn image_unknown(image: &ImageSpec, at: &str, out: &mut Vec<String>) {
    let mut push = |prefix: String, unknown: &Unknown| out.extend(unknown.keys().map(|k| format!("{prefix}.{k}")));
    if let Some(b) = &image.base_image {
        push(format!("{at}.base_image"), &b.unknown);
    }
    if let Some(a) = &image.add_on {
        push(format!("{at}.add_on"), &a.unknown);
    }
    for (name, s) in &image.solutions {
        push(format!("{at}.solutions.{name}"), &s.unknown);
        for (i, c) in s.components.iter().enumerate() {
            push(format!("{at}.solutions.{name}.components[{i}]"), &c.unknown);
        }
    }
    if let Some(hw) = &image.hardware_support {
        push(format!("{at}.hardware_support"), &hw.unknown);
        for (name, p) in &hw.packages {
            push(format!("{at}.hardware_support.packages.{name}"), &p.unknown);
        }
    }
}

/// Drop `null` members of objects, except component versions, where null means
/// "resolve for me".
fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        for (key, v) in map.iter_mut() {
            if key != "components" {
                strip_nulls(v);
            }
        }
        map.retain(|k, v| k == "components" || !v.is_null());
        if let Some(Value::Object(alts)) = map.get_mut("alternative_images") {
            for alt in alts.values_mut() {
                strip_nulls(alt);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUIDE_EXAMPLE: &str = r#"{
        "base_image": { "version": "7.0.2-0.0.17867351" },
        "add_on": { "name": "testaddonv1", "version": "1.0.0-1" },
        "components": { "Intel-i40en": "1.12.3.0-1OEM.700.1.0.15843807", "Some-Comp": null }
    }"#;

    #[test]
    fn reads_the_documented_example_and_round_trips() {
        let spec = SoftwareSpec::from_json(GUIDE_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(spec.image.base_image.as_ref().unwrap().version.as_str(), "7.0.2-0.0.17867351");
        assert_eq!(spec.image.components.get("Some-Comp"), Some(&None));
        assert!(spec.unknown_keys().is_empty());
        assert_eq!(SoftwareSpec::from_json(&spec.to_json()).unwrap(), spec);
    }

    #[test]
    fn unknown_keys_are_named_and_kept() {
        let doc = r#"{"base_image": {"version": "8.0.3-0.35.24280767", "build": 1},
                      "base_imge": {}, "add_on": null, "removed_components": ["a"],
                      "alternative_images": {"img-1": {"base_image": {"version": "8.0.2-0.0.1", "x": true}, "display_name": "n"}}}"#;
        let spec = SoftwareSpec::from_json(doc.as_bytes()).unwrap();
        assert_eq!(
            spec.unknown_keys(),
            ["$.base_imge", "$.base_image.build", "$.alternative_images.img-1.base_image.x"]
        );
        let again = SoftwareSpec::from_json(&spec.to_json()).unwrap();
        assert_eq!(again.unknown_keys(), spec.unknown_keys());
    }

    #[test]
    fn a_spec_without_base_image_is_refused() {
        let err = SoftwareSpec::from_json(br#"{"components": {}}"#).unwrap_err();
        assert_eq!(err.to_string(), "software spec has no base_image.version; every image needs a base image");
        assert!(SoftwareSpec::from_json(b"[1]").is_err());
    }
}
