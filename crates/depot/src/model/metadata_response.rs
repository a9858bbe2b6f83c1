//! `vmware.xml`: the aggregated `metadataResponse` document of a metadata zip
//! (depot-format §2.2). It repeats every bulletin with full legacy VIB records.

use super::bulletin::Bulletin;
use super::fields::{ModelError, bool_text, expect_root};
use super::vib::Vib;
use crate::xml::{self, Element, XmlLimits};

/// What we read from `vmware.xml`: its bulletins (with member VIB IDs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponse {
    pub version: String,
    pub timestamp: String,
    pub bulletins: Vec<Bulletin>,
}

impl MetadataResponse {
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        expect_root(&root, "metadataResponse")?;
        Ok(Self {
            version: root.child_text("version").unwrap_or_default(),
            timestamp: root.child_text("timestamp").unwrap_or_default(),
            bulletins: root.find_all("bulletin").map(Bulletin::from_element).collect::<Result<_, _>>()?,
        })
    }

    /// Write `vmware.xml` for these bulletins; `lookup` finds the member VIBs.
    pub fn write<'a>(timestamp: &str, bulletins: &[Bulletin], lookup: impl Fn(&str) -> Option<&'a Vib>) -> Vec<u8> {
        let mut root = Element::new("metadataResponse").text_child("version", "3.0").text_child("timestamp", timestamp);
        for b in bulletins {
            let mut list = Element::new("vibList");
            for id in &b.vib_ids {
                match lookup(id) {
                    Some(vib) => list.push(legacy_record(vib)),
                    None => list.push(Element::new("vibID").with_text(id)),
                }
            }
            root.push(b.to_element_with(list));
        }
        root.to_bytes_pretty()
    }
}

/// The Update-Manager view of a VIB (`vibVersion` 1.4.5).
fn legacy_record(vib: &Vib) -> Element {
    let mut reqs = Element::new("systemReqs").text_child("maintenanceMode", bool_text(vib.maintenance_mode.required));
    for sp in &vib.software_platforms {
        reqs.push(sp.to_element("swPlatform"));
    }
    let mut tags = Element::new("softwareTags");
    for t in &vib.software_tags {
        tags.push(Element::new("tag").with_text(t));
    }
    let mut el = Element::new("vib")
        .text_child("vibVersion", "1.4.5")
        .text_child("vibID", vib.id())
        .text_child("name", &vib.name)
        .text_child("version", vib.version.as_str())
        .text_child("vendor", &vib.vendor)
        .text_child("vibType", &vib.vib_type)
        .text_child("summary", &vib.summary)
        .child(reqs)
        .child(vib.relationships_element())
        .child(
            Element::new("postInstall")
                .text_child("rebootRequired", bool_text(vib.reboot_required()))
                .text_child("hostdRestart", "false"),
        )
        .child(tags);
    if let Some(loc) = &vib.location {
        el = el.child(
            Element::new("vibFile")
                .text_child("sourceUrl", loc.source_url.clone().unwrap_or_default())
                .text_child("relativePath", &loc.relative_path)
                .text_child("packedSize", loc.packed_size.to_string())
                .child(
                    Element::new("checksum")
                        .text_child("checksumType", &loc.checksum.checksum_type)
                        .text_child("checksum", &loc.checksum.value),
                ),
        );
    }
    el
}
