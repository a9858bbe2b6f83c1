//! Value types shared by VIBs, bulletins and release units.

use std::fmt;
use std::str::FromStr;

use esxlcm_version::{Relation, Version};
use serde::{Deserialize, Serialize};

use super::fields::{ModelError, version};
use crate::xml::Element;

/// Acceptance level, ordered so that `Community < Partner < Accepted < Certified`
/// (depot-format §8.1): an image's level is its lowest VIB's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptanceLevel {
    Community,
    Partner,
    Accepted,
    Certified,
}

impl AcceptanceLevel {
    pub const ALL: [Self; 4] = [Self::Certified, Self::Accepted, Self::Partner, Self::Community];

    /// The descriptor spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Community => "community",
            Self::Partner => "partner",
            Self::Accepted => "accepted",
            Self::Certified => "certified",
        }
    }

    /// The name vSphere shows (`VMwareCertified`, ...).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Community => "CommunitySupported",
            Self::Partner => "PartnerSupported",
            Self::Accepted => "VMwareAccepted",
            Self::Certified => "VMwareCertified",
        }
    }

    /// Levels above community must carry a signature.
    pub fn requires_signature(self) -> bool {
        self != Self::Community
    }
}

impl fmt::Display for AcceptanceLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AcceptanceLevel {
    type Err = String;

    /// Accepts descriptor spellings and display names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "certified" | "vmwarecertified" | "vmware_certified" => Ok(Self::Certified),
            "accepted" | "vmwareaccepted" | "vmware_accepted" => Ok(Self::Accepted),
            "partner" | "partnersupported" | "partner_supported" => Ok(Self::Partner),
            "community" | "communitysupported" | "community_supported" => Ok(Self::Community),
            _ => Err(format!("unknown acceptance level '{s}'; expected certified, accepted, partner or community")),
        }
    }
}

/// A checksum as written in descriptors and metadata; `value` is hex as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checksum {
    pub checksum_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_process: Option<String>,
    pub value: String,
}

impl Checksum {
    pub fn sha256(value: impl Into<String>) -> Self {
        Self { checksum_type: "sha-256".into(), verify_process: None, value: value.into() }
    }

    /// Hex comparison is case-insensitive (depot-format §9).
    pub fn matches_hex(&self, hex: &str) -> bool {
        self.value.trim().eq_ignore_ascii_case(hex.trim())
    }
}

/// `softwarePlatform` / `swPlatform`: a product line and version pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SoftwarePlatform {
    pub version: String,
    pub locale: String,
    pub product_line_id: String,
}

impl SoftwarePlatform {
    pub(crate) fn from_element(el: &Element) -> Self {
        Self {
            version: el.get_attr("version").unwrap_or_default().to_owned(),
            locale: el.get_attr("locale").unwrap_or_default().to_owned(),
            product_line_id: el.get_attr("productLineID").unwrap_or_default().to_owned(),
        }
    }

    /// Attribute order as esximage writes it.
    pub(crate) fn to_element(&self, name: &str) -> Element {
        Element::new(name)
            .attr("locale", &self.locale)
            .attr("productLineID", &self.product_line_id)
            .attr("version", &self.version)
    }
}

/// A `depends`/`conflicts`/`replaces`/`compatibleWith` constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<Relation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
}

impl Constraint {
    pub fn any(name: impl Into<String>) -> Self {
        Self { name: name.into(), relation: None, version: None }
    }

    pub fn versioned(name: impl Into<String>, relation: Relation, version: Version) -> Self {
        Self { name: name.into(), relation: Some(relation), version: Some(version) }
    }

    /// Does a VIB or provide of this name at `candidate` (None: unversioned) satisfy it?
    /// An unversioned provide satisfies only unversioned constraints.
    pub fn is_satisfied_by(&self, name: &str, candidate: Option<&Version>) -> bool {
        if self.name != name {
            return false;
        }
        match (&self.relation, &self.version, candidate) {
            (Some(rel), Some(bound), Some(v)) => rel.matches(v, bound),
            (Some(_), Some(_), None) => false,
            _ => true,
        }
    }

    pub(crate) fn from_element(el: &Element, path: &str) -> Result<Self, ModelError> {
        let name = el.get_attr("name").unwrap_or_default().trim().to_owned();
        if name.is_empty() {
            return Err(ModelError::Missing { path: format!("{path}/@name") });
        }
        let relation = match el.get_attr("relation").map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(Relation::parse(text).map_err(|e| ModelError::Invalid {
                path: format!("{path}/@relation"),
                value: text.to_owned(),
                reason: e.to_string(),
            })?),
        };
        let version = match el.get_attr("version").map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(version(text, &format!("{path}/@version"))?),
        };
        if relation.is_some() != version.is_some() {
            return Err(ModelError::Invalid {
                path: path.to_owned(),
                value: name,
                reason: "a constraint needs both 'relation' and 'version', or neither".into(),
            });
        }
        Ok(Self { name, relation, version })
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut el = Element::new("constraint").attr("name", &self.name);
        if let (Some(rel), Some(v)) = (&self.relation, &self.version) {
            el = el.attr("relation", rel.as_str()).attr("version", v.as_str());
        }
        el
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.relation, &self.version) {
            (Some(rel), Some(v)) => write!(f, "{} {} {}", self.name, rel.as_str(), v),
            _ => f.write_str(&self.name),
        }
    }
}

/// A `provides` entry: a virtual name (e.g. `vmkapi_2_13_0_0`), optionally versioned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provide {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
}

impl Provide {
    pub(crate) fn from_element(el: &Element, path: &str) -> Result<Self, ModelError> {
        let name = el.get_attr("name").unwrap_or_default().trim().to_owned();
        if name.is_empty() {
            return Err(ModelError::Missing { path: format!("{path}/@name") });
        }
        let version = match el.get_attr("version").map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(version(text, &format!("{path}/@version"))?),
        };
        Ok(Self { name, version })
    }

    pub(crate) fn to_element(&self) -> Element {
        let el = Element::new("provide").attr("name", &self.name);
        match &self.version {
            Some(v) => el.attr("version", v.as_str()),
            None => el,
        }
    }
}
