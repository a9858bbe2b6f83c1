//! Image profiles (`profiles/*.xml`): a named, vendor-owned list of VIB IDs.
//!
//! No real file has been seen (depot-format §2.5 [I]); element names are matched
//! case-insensitively and the element is kept whole, so writing back loses nothing.

use serde::{Deserialize, Serialize};

use super::fields::ModelError;
use crate::xml::{self, Element, XmlLimits};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageProfile {
    pub name: String,
    pub creator: String,
    pub profile_id: String,
    pub description: String,
    pub acceptance_level: String,
    pub vib_ids: Vec<String>,
    #[serde(skip)]
    pub element: Element,
}

impl ImageProfile {
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        if !root.name.eq_ignore_ascii_case("imageprofile") {
            return Err(ModelError::UnexpectedRoot { expected: "imageProfile", found: root.name });
        }
        let text = |name: &str| {
            root.elements().find(|e| e.name.eq_ignore_ascii_case(name)).map(Element::text).unwrap_or_default()
        };
        let name = text("name");
        if name.is_empty() {
            return Err(ModelError::Missing { path: "imageProfile/name".into() });
        }
        let vib_ids = root
            .elements()
            .find(|e| e.name.eq_ignore_ascii_case("viblist"))
            .map(|list| {
                list.elements()
                    .filter_map(|e| {
                        if e.name.eq_ignore_ascii_case("vibid") {
                            Some(e.text())
                        } else {
                            e.elements().find(|c| c.name.eq_ignore_ascii_case("vibid")).map(Element::text)
                        }
                    })
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            name,
            creator: text("creator"),
            profile_id: text("profileID"),
            description: text("description"),
            acceptance_level: text("acceptancelevel"),
            vib_ids,
            element: root,
        })
    }

    pub fn to_xml(&self) -> Vec<u8> {
        self.element.to_bytes()
    }
}
