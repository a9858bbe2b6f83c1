//! Bulletins and components (`bulletins/*.xml`, and the bulletins inside `vmware.xml`).
//!
//! A bulletin with `componentNameSpec` + `componentVersionSpec` is a vLCM component; one
//! without them is a legacy bulletin and stays one (depot-format §2.3).

use esxlcm_version::Version;
use serde::{Deserialize, Serialize};

use super::common::SoftwarePlatform;
use super::fields::{ModelError, expect_root, optional, required, version};
use crate::xml::{self, Element, XmlLimits};

const KNOWN: &[&str] = &[
    "id",
    "vendor",
    "summary",
    "severity",
    "category",
    "urgency",
    "releaseType",
    "description",
    "kbUrl",
    "contact",
    "componentNameSpec",
    "componentVersionSpec",
    "releaseDate",
    "platforms",
    "vibList",
];

/// The identity of a component: `name` + `version`, with display strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentSpec {
    pub name: String,
    pub ui_name: String,
    pub version: Version,
    pub ui_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulletin {
    pub id: String,
    pub vendor: String,
    pub summary: String,
    pub severity: String,
    pub category: String,
    pub urgency: String,
    pub release_type: String,
    pub description: String,
    pub kb_url: String,
    pub contact: String,
    /// Present for vLCM components, absent for legacy bulletins.
    pub component: Option<ComponentSpec>,
    pub release_date: String,
    pub platforms: Vec<SoftwarePlatform>,
    pub vib_ids: Vec<String>,
    #[serde(skip)]
    pub extra: Vec<Element>,
}

impl Bulletin {
    pub fn is_component(&self) -> bool {
        self.component.is_some()
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        Self::from_element(&root)
    }

    /// Reads `bulletins/*.xml` (with `vibList/vibID`) and the `vmware.xml` form (with
    /// `vibList/vib/vibID` legacy records): both give the member VIB IDs.
    pub fn from_element(root: &Element) -> Result<Self, ModelError> {
        expect_root(root, "bulletin")?;
        let p = "bulletin";
        let id = required(root, "id", p)?;
        let p = format!("bulletin[{id}]");
        let component = parse_component(root, &p)?;
        let vib_ids = root
            .find("vibList")
            .map(|list| {
                list.elements()
                    .filter_map(|e| match e.name.as_str() {
                        "vibID" => Some(e.text()),
                        "vib" => e.child_text("vibID"),
                        _ => None,
                    })
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            vendor: optional(root, "vendor"),
            summary: optional(root, "summary"),
            severity: optional(root, "severity"),
            category: optional(root, "category"),
            urgency: optional(root, "urgency"),
            release_type: optional(root, "releaseType"),
            description: optional(root, "description"),
            kb_url: optional(root, "kbUrl"),
            contact: optional(root, "contact"),
            component,
            release_date: optional(root, "releaseDate"),
            platforms: root
                .find("platforms")
                .map(|ps| ps.elements().map(SoftwarePlatform::from_element).collect())
                .unwrap_or_default(),
            vib_ids,
            extra: root.elements().filter(|e| !KNOWN.contains(&e.name.as_str())).cloned().collect(),
            id,
        })
    }

    /// The `bulletins/*.xml` form; `vib_list` replaces `vibList` for the `vmware.xml` form.
    pub(crate) fn to_element_with(&self, vib_list: Element) -> Element {
        let mut el = Element::new("bulletin")
            .text_child("id", &self.id)
            .text_child("vendor", &self.vendor)
            .text_child("summary", &self.summary)
            .text_child("severity", &self.severity)
            .text_child("category", &self.category)
            .text_child("urgency", &self.urgency)
            .text_child("releaseType", &self.release_type)
            .text_child("description", &self.description)
            .text_child("kbUrl", &self.kb_url)
            .text_child("contact", &self.contact);
        if let Some(c) = &self.component {
            el = el.child(Element::new("componentNameSpec").attr("name", &c.name).attr("uiString", &c.ui_name)).child(
                Element::new("componentVersionSpec")
                    .attr("uiString", &c.ui_version)
                    .attr("version", c.version.as_str()),
            );
        }
        let mut platforms = Element::new("platforms");
        for sp in &self.platforms {
            platforms.push(sp.to_element("softwarePlatform"));
        }
        el = el.text_child("releaseDate", &self.release_date).child(platforms).child(vib_list);
        for extra in &self.extra {
            el.push(extra.clone());
        }
        el
    }

    pub fn to_element(&self) -> Element {
        let mut list = Element::new("vibList");
        for id in &self.vib_ids {
            list.push(Element::new("vibID").with_text(id));
        }
        self.to_element_with(list)
    }

    pub fn to_xml(&self) -> Vec<u8> {
        self.to_element().to_bytes()
    }
}

fn parse_component(root: &Element, p: &str) -> Result<Option<ComponentSpec>, ModelError> {
    let name_spec = root.find("componentNameSpec");
    let version_spec = root.find("componentVersionSpec");
    match (name_spec, version_spec) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ModelError::Missing { path: format!("{p}/componentVersionSpec") }),
        (None, Some(_)) => Err(ModelError::Missing { path: format!("{p}/componentNameSpec") }),
        (Some(n), Some(v)) => {
            let name = n.get_attr("name").unwrap_or_default().trim().to_owned();
            if name.is_empty() {
                return Err(ModelError::Missing { path: format!("{p}/componentNameSpec/@name") });
            }
            let vtext = v.get_attr("version").unwrap_or_default().trim().to_owned();
            if vtext.is_empty() {
                return Err(ModelError::Missing { path: format!("{p}/componentVersionSpec/@version") });
            }
            Ok(Some(ComponentSpec {
                ui_name: n.get_attr("uiString").unwrap_or_default().to_owned(),
                version: version(&vtext, &format!("{p}/componentVersionSpec/@version"))?,
                ui_version: v.get_attr("uiString").unwrap_or_default().to_owned(),
                name,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_component_and_legacy_bulletins() {
        let comp = br#"<bulletin><id>VMware-Re-Driver_1.101.01-5vmw.800.1.0.20613240</id><vendor>VMware</vendor><summary>s</summary><severity>general</severity><category>enhancement</category><urgency>important</urgency><releaseType>extension</releaseType><description>d</description><kbUrl></kbUrl><contact>c</contact><componentNameSpec name="VMware-Re-Driver" uiString="Realtek"/><componentVersionSpec uiString="1.101.01-5vmw" version="1.101.01-5vmw.800.1.0.20613240"/><releaseDate>2025-11-21T02:22:28+00:00</releaseDate><platforms><softwarePlatform version="8.0.0" locale="" productLineID="embeddedEsx"/></platforms><vibList><vibID>vmw_bootbank_if-re_1.101.01-5vmw.800.1.0.20613240</vibID></vibList></bulletin>"#;
        let b = Bulletin::parse(comp).unwrap();
        let c = b.component.as_ref().unwrap();
        assert_eq!(c.name, "VMware-Re-Driver");
        assert_eq!(c.version.as_str(), "1.101.01-5vmw.800.1.0.20613240");
        assert_eq!(b.vib_ids, ["vmw_bootbank_if-re_1.101.01-5vmw.800.1.0.20613240"]);
        assert_eq!(Bulletin::parse(&b.to_xml()).unwrap(), b);

        let legacy =
            b"<bulletin><id>ghettoVCB</id><vibList><vib><vibID>x_bootbank_y_1-1</vibID></vib></vibList></bulletin>";
        let b = Bulletin::parse(legacy).unwrap();
        assert!(!b.is_component());
        assert_eq!(b.vib_ids, ["x_bootbank_y_1-1"]);
    }

    #[test]
    fn half_a_component_spec_is_an_error() {
        let doc = br#"<bulletin><id>x</id><componentNameSpec name="a" uiString=""/></bulletin>"#;
        let err = Bulletin::parse(doc).unwrap_err().to_string();
        assert_eq!(err, "bulletin[x]/componentVersionSpec: required field is missing or empty");
    }
}
