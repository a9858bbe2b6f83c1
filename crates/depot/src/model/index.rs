//! The two index documents of a depot: the vendor list (`index.xml`,
//! `vmw-depot-index.xml`) and a vendor index (`vendor-index.xml`, `vmw-esx-index.xml`).

use serde::{Deserialize, Serialize};

use super::fields::{ModelError, expect_root, optional, required};
use crate::xml::{self, Element, XmlLimits};

/// `content/type` of ESXi vendors; other products share the format (depot-format §1.2).
pub const ESX_CONTENT_TYPE: &str = "http://www.vmware.com/depotmanagement/esx";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorEntry {
    pub name: String,
    pub code: String,
    pub index_file: String,
    pub patch_url: String,
    pub relative_path: String,
    pub content_name: String,
    pub content_type: String,
}

impl VendorEntry {
    /// Entries without a content type are taken as ESXi (lenient); others are skipped.
    pub fn is_esx(&self) -> bool {
        self.content_type.is_empty() || self.content_type == ESX_CONTENT_TYPE
    }

    /// Path of the vendor index relative to the vendor list's directory. A missing
    /// trailing `/` on `relativePath` is tolerated.
    pub fn index_path(&self) -> String {
        let dir = self.relative_path.trim();
        if dir.is_empty() || dir.ends_with('/') {
            format!("{dir}{}", self.index_file)
        } else {
            format!("{dir}/{}", self.index_file)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VendorList {
    pub vendors: Vec<VendorEntry>,
}

impl VendorList {
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        expect_root(&root, "vendorList")?;
        let vendors = root
            .find_all("vendor")
            .enumerate()
            .map(|(i, v)| {
                let p = format!("vendorList/vendor[{i}]");
                let content = v.find("content");
                Ok(VendorEntry {
                    name: optional(v, "name"),
                    code: optional(v, "code"),
                    index_file: required(v, "indexfile", &p)?,
                    patch_url: optional(v, "patchUrl"),
                    relative_path: optional(v, "relativePath"),
                    content_name: content.map(|c| optional(c, "name")).unwrap_or_default(),
                    content_type: content.map(|c| optional(c, "type")).unwrap_or_default(),
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(Self { vendors })
    }

    pub fn to_xml(&self) -> Vec<u8> {
        let mut root = Element::new("vendorList");
        for v in &self.vendors {
            root.push(
                Element::new("vendor")
                    .text_child("name", &v.name)
                    .text_child("code", &v.code)
                    .text_child("indexfile", &v.index_file)
                    .text_child("patchUrl", &v.patch_url)
                    .text_child("relativePath", &v.relative_path)
                    .child(
                        Element::new("content").text_child("name", &v.content_name).text_child("type", &v.content_type),
                    ),
            );
        }
        root.to_bytes_pretty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataEntry {
    pub product_id: String,
    /// Platform version pattern (`8.0`, `6.*`, `5.5.0`, empty for any).
    pub version: String,
    pub locale: String,
    pub patch_url: Option<String>,
    /// Metadata zip, relative to the vendor index's directory (or absolute).
    pub url: String,
    pub channel_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VendorIndex {
    pub metadata: Vec<MetadataEntry>,
}

impl VendorIndex {
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        expect_root(&root, "metaList")?;
        let metadata = root
            .find_all("metadata")
            .enumerate()
            .map(|(i, m)| {
                let p = format!("metaList/metadata[{i}]");
                Ok(MetadataEntry {
                    product_id: optional(m, "productId"),
                    version: optional(m, "version"),
                    locale: optional(m, "locale"),
                    patch_url: m.child_text("patchUrl"),
                    url: required(m, "url", &p)?,
                    channel_name: optional(m, "channelName"),
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(Self { metadata })
    }

    /// Distinct metadata zip URLs, in first-seen order (one zip may serve many platforms).
    pub fn metadata_urls(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for m in &self.metadata {
            if !seen.contains(&m.url.as_str()) {
                seen.push(m.url.as_str());
            }
        }
        seen
    }

    pub fn to_xml(&self) -> Vec<u8> {
        let mut root = Element::new("metaList");
        for m in &self.metadata {
            let mut e = Element::new("metadata")
                .text_child("productId", &m.product_id)
                .text_child("version", &m.version)
                .text_child("locale", &m.locale);
            if let Some(p) = &m.patch_url {
                e = e.text_child("patchUrl", p);
            }
            root.push(e.text_child("url", &m.url).text_child("channelName", &m.channel_name));
        }
        root.to_bytes_pretty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_index_with_two_platforms_for_one_zip() {
        let doc = b"<metaList><metadata><productId>embeddedEsx</productId><version>6.0.0</version><locale></locale><patchUrl></patchUrl><url>V-metadata.zip</url><channelName>default</channelName></metadata><metadata><productId>embeddedEsx</productId><version>5.5.0</version><url>V-metadata.zip</url></metadata></metaList>";
        let idx = VendorIndex::parse(doc).unwrap();
        assert_eq!(idx.metadata.len(), 2);
        assert_eq!(idx.metadata_urls(), ["V-metadata.zip"]);
        assert_eq!(VendorIndex::parse(&idx.to_xml()).unwrap(), idx);
    }

    #[test]
    fn vendor_list_paths_and_content_type() {
        let doc = b"<vendorList><vendor><name>VMware</name><code>VMW</code><indexfile>vmw-esx-index.xml</indexfile><relativePath>esx/vmw</relativePath><content><name>VMware ESX</name><type>http://www.vmware.com/depotmanagement/esx</type></content></vendor><!-- c --><vendor><name>W</name><indexfile>w.xml</indexfile><content><type>http://example/ws</type></content></vendor></vendorList>";
        let list = VendorList::parse(doc).unwrap();
        assert_eq!(list.vendors[0].index_path(), "esx/vmw/vmw-esx-index.xml");
        assert!(list.vendors[0].is_esx());
        assert!(!list.vendors[1].is_esx());
        assert_eq!(VendorList::parse(&list.to_xml()).unwrap(), list);
        let err = VendorList::parse(b"<vendorList><vendor><name>x</name></vendor></vendorList>").unwrap_err();
        assert_eq!(err.to_string(), "vendorList/vendor[0]/indexfile: required field is missing or empty");
    }
}
