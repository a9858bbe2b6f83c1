//! A VIB's metadata: the `descriptor.xml` inside the `.vib`, and the `vibs/*.xml` copy in
//! `metadata.zip`, which adds where the file is and its checksum (depot-format §2.4, §4.2).

use esxlcm_version::Version;
use serde::{Deserialize, Serialize};

use super::common::{AcceptanceLevel, Checksum, Constraint, Provide, SoftwarePlatform};
use super::fields::{
    ModelError, bool_text, expect_root, optional, optional_bool, parse_bool, parse_u64, required, required_version,
};
use crate::xml::{self, Element, XmlLimits};

/// Elements of `<vib>` the model understands; anything else is kept in [`Vib::extra`].
const KNOWN: &[&str] = &[
    "type",
    "name",
    "version",
    "vendor",
    "summary",
    "description",
    "release-date",
    "urls",
    "relationships",
    "software-tags",
    "system-requires",
    "file-list",
    "acceptance-level",
    "live-install-allowed",
    "live-remove-allowed",
    "cimom-restart",
    "stateless-ready",
    "overlay",
    "payloads",
    "relative-path",
    "packed-size",
    "checksum",
    "source-url",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VibUrl {
    pub key: String,
    pub url: String,
}

/// `system-requires/maintenance-mode`, with the optional install/remove refinements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MaintenanceMode {
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<bool>,
}

/// `system-requires/hwplatform` (exact XML unverified, depot-format §4.2 [I]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HwPlatform {
    pub vendor: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub name: String,
    pub payload_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression_option: Option<String>,
    pub checksums: Vec<Checksum>,
}

/// Where a VIB file lives in a depot, as `metadata.zip` says (absent in `descriptor.xml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VibLocation {
    pub relative_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub packed_size: u64,
    pub checksum: Checksum,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vib {
    /// `vib@version`, the descriptor schema version (`5.0`).
    pub schema_version: String,
    pub vib_type: String,
    pub name: String,
    pub version: Version,
    pub vendor: String,
    pub summary: String,
    pub description: String,
    pub release_date: String,
    pub urls: Vec<VibUrl>,
    pub depends: Vec<Constraint>,
    pub conflicts: Vec<Constraint>,
    pub replaces: Vec<Constraint>,
    pub provides: Vec<Provide>,
    pub compatible_with: Vec<Constraint>,
    pub software_tags: Vec<String>,
    pub maintenance_mode: MaintenanceMode,
    pub software_platforms: Vec<SoftwarePlatform>,
    pub hardware_platforms: Vec<HwPlatform>,
    pub file_list: Vec<String>,
    pub acceptance_level: AcceptanceLevel,
    pub live_install_allowed: bool,
    pub live_remove_allowed: bool,
    pub cimom_restart: bool,
    pub stateless_ready: bool,
    pub overlay: bool,
    pub payloads: Vec<Payload>,
    /// Present in `metadata.zip` copies, absent in a `.vib`'s own descriptor.
    pub location: Option<VibLocation>,
    /// Elements this model does not know (`installdate`, future additions), kept verbatim.
    #[serde(skip)]
    pub extra: Vec<Element>,
}

impl Vib {
    /// A bootbank VIB with the descriptor defaults: no relationships, text, platforms or
    /// payloads; community acceptance (the descriptor default); not live-installable, so
    /// maintenance mode and a reboot are required. Fill the rest with struct update syntax.
    pub fn new(name: impl Into<String>, version: Version, vendor: impl Into<String>) -> Self {
        Self {
            schema_version: "5.0".into(),
            vib_type: "bootbank".into(),
            name: name.into(),
            version,
            vendor: vendor.into(),
            summary: String::new(),
            description: String::new(),
            release_date: String::new(),
            urls: Vec::new(),
            depends: Vec::new(),
            conflicts: Vec::new(),
            replaces: Vec::new(),
            provides: Vec::new(),
            compatible_with: Vec::new(),
            software_tags: Vec::new(),
            maintenance_mode: MaintenanceMode { required: true, install: None, remove: None },
            software_platforms: Vec::new(),
            hardware_platforms: Vec::new(),
            file_list: Vec::new(),
            acceptance_level: AcceptanceLevel::Community,
            live_install_allowed: false,
            live_remove_allowed: false,
            cimom_restart: false,
            stateless_ready: false,
            overlay: false,
            payloads: Vec::new(),
            location: None,
            extra: Vec::new(),
        }
    }

    /// `<vendor>_<type>_<name>_<version>`, case preserved (depot-format §4.6).
    pub fn id(&self) -> String {
        format!("{}_{}_{}_{}", self.vendor, self.vib_type, self.name, self.version)
    }

    /// Reboot is needed unless the VIB can be installed live.
    pub fn reboot_required(&self) -> bool {
        !self.live_install_allowed
    }

    /// The conventional depot path `vib20/<name>/<id>.vib`.
    pub fn default_relative_path(&self) -> String {
        format!("vib20/{}/{}.vib", self.name, self.id())
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let root = xml::parse(bytes, XmlLimits::default())?;
        Self::from_element(&root)
    }

    pub fn from_element(root: &Element) -> Result<Self, ModelError> {
        expect_root(root, "vib")?;
        let p = "vib";
        let acceptance_level = match root.child_text("acceptance-level") {
            Some(t) if !t.is_empty() => t.parse().map_err(|reason| ModelError::Invalid {
                path: format!("{p}/acceptance-level"),
                value: t.clone(),
                reason,
            })?,
            // VMware's descriptor template: community when absent.
            _ => AcceptanceLevel::Community,
        };
        let (depends, conflicts, replaces, provides, compatible_with) =
            parse_relationships(root.find("relationships"), &format!("{p}/relationships"))?;
        let (maintenance_mode, software_platforms, hardware_platforms) =
            parse_system_requires(root.find("system-requires"), &format!("{p}/system-requires"))?;
        Ok(Self {
            schema_version: root.get_attr("version").unwrap_or_default().to_owned(),
            vib_type: required(root, "type", p)?,
            name: required(root, "name", p)?,
            version: required_version(root, "version", p)?,
            vendor: required(root, "vendor", p)?,
            summary: optional(root, "summary"),
            description: optional(root, "description"),
            release_date: optional(root, "release-date"),
            urls: root
                .find("urls")
                .map(|u| {
                    u.find_all("url")
                        .map(|e| VibUrl { key: e.get_attr("key").unwrap_or_default().to_owned(), url: e.text() })
                        .collect()
                })
                .unwrap_or_default(),
            depends,
            conflicts,
            replaces,
            provides,
            compatible_with,
            software_tags: texts(root.find("software-tags"), "tag"),
            maintenance_mode,
            software_platforms,
            hardware_platforms,
            file_list: texts(root.find("file-list"), "file"),
            acceptance_level,
            live_install_allowed: optional_bool(root, "live-install-allowed", p, false)?,
            live_remove_allowed: optional_bool(root, "live-remove-allowed", p, false)?,
            cimom_restart: optional_bool(root, "cimom-restart", p, false)?,
            stateless_ready: optional_bool(root, "stateless-ready", p, false)?,
            overlay: optional_bool(root, "overlay", p, false)?,
            payloads: parse_payloads(root.find("payloads"), &format!("{p}/payloads"))?,
            location: parse_location(root, p)?,
            extra: root.elements().filter(|e| !KNOWN.contains(&e.name.as_str())).cloned().collect(),
        })
    }

    /// The `vibs/*.xml` form: descriptor elements in VMware's order, the location elements
    /// after `software-tags` as vibauthor and esximage place them, unknown elements last.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("vib").attr("version", non_empty(&self.schema_version, "5.0"));
        el = el
            .text_child("type", &self.vib_type)
            .text_child("name", &self.name)
            .text_child("version", self.version.as_str())
            .text_child("vendor", &self.vendor)
            .text_child("summary", &self.summary)
            .text_child("description", &self.description)
            .text_child("release-date", &self.release_date);
        let mut urls = Element::new("urls");
        for u in &self.urls {
            urls.push(Element::new("url").attr("key", &u.key).with_text(&u.url));
        }
        el = el.child(urls).child(self.relationships_element());
        let mut tags = Element::new("software-tags");
        for t in &self.software_tags {
            tags.push(Element::new("tag").with_text(t));
        }
        el = el.child(tags);
        if let Some(loc) = &self.location {
            el = el.text_child("relative-path", &loc.relative_path);
            if let Some(url) = &loc.source_url {
                el = el.text_child("source-url", url);
            }
            el = el.text_child("packed-size", loc.packed_size.to_string()).child(
                Element::new("checksum")
                    .attr("checksum-type", &loc.checksum.checksum_type)
                    .with_text(&loc.checksum.value),
            );
        }
        el = el.child(self.system_requires_element());
        let mut files = Element::new("file-list");
        for f in &self.file_list {
            files.push(Element::new("file").with_text(f));
        }
        el = el
            .child(files)
            .text_child("acceptance-level", self.acceptance_level.as_str())
            .text_child("live-install-allowed", bool_text(self.live_install_allowed))
            .text_child("live-remove-allowed", bool_text(self.live_remove_allowed))
            .text_child("cimom-restart", bool_text(self.cimom_restart))
            .text_child("stateless-ready", bool_text(self.stateless_ready))
            .text_child("overlay", bool_text(self.overlay));
        let mut payloads = Element::new("payloads");
        for pl in &self.payloads {
            payloads.push(payload_element(pl));
        }
        el = el.child(payloads);
        for extra in &self.extra {
            el.push(extra.clone());
        }
        el
    }

    pub fn to_xml(&self) -> Vec<u8> {
        self.to_element().to_bytes()
    }

    pub(crate) fn relationships_element(&self) -> Element {
        let list = |name: &str, cs: &[Constraint]| {
            let mut e = Element::new(name);
            for c in cs {
                e.push(c.to_element());
            }
            e
        };
        let mut provides = Element::new("provides");
        for p in &self.provides {
            provides.push(p.to_element());
        }
        Element::new("relationships")
            .child(list("depends", &self.depends))
            .child(list("conflicts", &self.conflicts))
            .child(list("replaces", &self.replaces))
            .child(provides)
            .child(list("compatibleWith", &self.compatible_with))
    }

    fn system_requires_element(&self) -> Element {
        let mut mm = Element::new("maintenance-mode");
        if let Some(i) = self.maintenance_mode.install {
            mm = mm.attr("install", bool_text(i));
        }
        if let Some(r) = self.maintenance_mode.remove {
            mm = mm.attr("remove", bool_text(r));
        }
        let mut el = Element::new("system-requires").child(mm.with_text(bool_text(self.maintenance_mode.required)));
        for sp in &self.software_platforms {
            el.push(sp.to_element("softwarePlatform"));
        }
        for hw in &self.hardware_platforms {
            el.push(Element::new("hwplatform").attr("vendor", &hw.vendor).attr("model", &hw.model));
        }
        el
    }
}

fn non_empty<'a>(s: &'a str, default: &'a str) -> &'a str {
    if s.is_empty() { default } else { s }
}

fn texts(parent: Option<&Element>, name: &str) -> Vec<String> {
    parent.map(|p| p.find_all(name).map(Element::text).collect()).unwrap_or_default()
}

type Relationships = (Vec<Constraint>, Vec<Constraint>, Vec<Constraint>, Vec<Provide>, Vec<Constraint>);

pub(crate) fn parse_relationships(el: Option<&Element>, path: &str) -> Result<Relationships, ModelError> {
    let Some(el) = el else {
        return Ok(Default::default());
    };
    let constraints = |name: &str| -> Result<Vec<Constraint>, ModelError> {
        let Some(list) = el.find(name) else {
            return Ok(Vec::new());
        };
        list.elements()
            .enumerate()
            .map(|(i, c)| Constraint::from_element(c, &format!("{path}/{name}/{}[{i}]", c.name)))
            .collect()
    };
    // The element name inside <provides> is not confirmed by a sample: accept any child.
    let provides = match el.find("provides") {
        Some(list) => list
            .elements()
            .enumerate()
            .map(|(i, c)| Provide::from_element(c, &format!("{path}/provides/{}[{i}]", c.name)))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    Ok((
        constraints("depends")?,
        constraints("conflicts")?,
        constraints("replaces")?,
        provides,
        constraints("compatibleWith")?,
    ))
}

fn parse_system_requires(
    el: Option<&Element>,
    path: &str,
) -> Result<(MaintenanceMode, Vec<SoftwarePlatform>, Vec<HwPlatform>), ModelError> {
    let Some(el) = el else {
        return Ok((MaintenanceMode { required: true, install: None, remove: None }, Vec::new(), Vec::new()));
    };
    let mm = match el.find("maintenance-mode") {
        Some(m) => {
            let p = format!("{path}/maintenance-mode");
            let attr = |name: &str| -> Result<Option<bool>, ModelError> {
                m.get_attr(name).map(|v| parse_bool(v, &format!("{p}/@{name}"))).transpose()
            };
            let text = m.text();
            MaintenanceMode {
                required: if text.is_empty() { true } else { parse_bool(&text, &p)? },
                install: attr("install")?,
                remove: attr("remove")?,
            }
        }
        None => MaintenanceMode { required: true, install: None, remove: None },
    };
    let platforms = el.find_all("softwarePlatform").map(SoftwarePlatform::from_element).collect();
    let hw = el
        .find_all("hwplatform")
        .map(|h| HwPlatform {
            vendor: h.get_attr("vendor").unwrap_or_default().to_owned(),
            model: h.get_attr("model").unwrap_or_default().to_owned(),
        })
        .collect();
    Ok((mm, platforms, hw))
}

fn parse_payloads(el: Option<&Element>, path: &str) -> Result<Vec<Payload>, ModelError> {
    let Some(el) = el else { return Ok(Vec::new()) };
    el.find_all("payload")
        .enumerate()
        .map(|(i, pl)| {
            let p = format!("{path}/payload[{i}]");
            let name = pl.get_attr("name").unwrap_or_default().to_owned();
            if name.is_empty() {
                return Err(ModelError::Missing { path: format!("{p}/@name") });
            }
            let size_text = pl.get_attr("size").unwrap_or_default();
            let uncompressed_size = pl
                .get_attr("uncompressed-size")
                .map(|v| parse_u64(v, &format!("{p}/@uncompressed-size")))
                .transpose()?;
            Ok(Payload {
                name,
                payload_type: pl.get_attr("type").unwrap_or_default().to_owned(),
                size: parse_u64(size_text, &format!("{p}/@size"))?,
                uncompressed_size,
                compression_option: pl.get_attr("compression-option").map(str::to_owned),
                checksums: pl.find_all("checksum").map(checksum_from_element).collect(),
            })
        })
        .collect()
}

fn checksum_from_element(c: &Element) -> Checksum {
    Checksum {
        checksum_type: c.get_attr("checksum-type").unwrap_or_default().to_owned(),
        verify_process: c.get_attr("verify-process").map(str::to_owned),
        value: c.text(),
    }
}

fn payload_element(pl: &Payload) -> Element {
    let mut el = Element::new("payload");
    if let Some(opt) = &pl.compression_option {
        el = el.attr("compression-option", opt);
    }
    el = el.attr("name", &pl.name).attr("size", pl.size.to_string()).attr("type", &pl.payload_type);
    if let Some(u) = pl.uncompressed_size {
        el = el.attr("uncompressed-size", u.to_string());
    }
    for c in &pl.checksums {
        let mut ce = Element::new("checksum").attr("checksum-type", &c.checksum_type);
        if let Some(vp) = &c.verify_process {
            ce = ce.attr("verify-process", vp);
        }
        el.push(ce.with_text(&c.value));
    }
    el
}

fn parse_location(root: &Element, p: &str) -> Result<Option<VibLocation>, ModelError> {
    let Some(relative_path) = root.child_text("relative-path") else {
        return Ok(None);
    };
    let packed_size = match root.child_text("packed-size") {
        Some(t) => parse_u64(&t, &format!("{p}/packed-size"))?,
        None => {
            return Err(ModelError::Missing { path: format!("{p}/packed-size") });
        }
    };
    let checksum = root
        .find_all("checksum")
        .map(checksum_from_element)
        .next()
        .ok_or_else(|| ModelError::Missing { path: format!("{p}/checksum") })?;
    Ok(Some(VibLocation {
        relative_path,
        source_url: root.child_text("source-url").filter(|s| !s.is_empty()),
        packed_size,
        checksum,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationships_flags_and_unknown_elements() {
        let doc = br#"<vib version="5.0"><type>bootbank</type><name>n</name><version>1.0-1</version><vendor>V</vendor><relationships><depends><constraint name="esx-version" relation="&gt;=" version="6.0.0"/></depends><conflicts><constraint name="old"/></conflicts><replaces/><provides><provide name="cap" version="2.0"/></provides><compatibleWith/></relationships><installdate>2026-04-04</installdate><system-requires><maintenance-mode install="false">true</maintenance-mode><softwarePlatform locale="" productLineID="embeddedEsx" version="8.0"/></system-requires><acceptance-level>VMwareAccepted</acceptance-level><live-install-allowed>True</live-install-allowed></vib>"#;
        let vib = Vib::parse(doc).unwrap();
        assert_eq!(vib.id(), "V_bootbank_n_1.0-1");
        assert_eq!(vib.depends[0].to_string(), "esx-version >= 6.0.0");
        assert_eq!(vib.provides[0].version.as_ref().unwrap().as_str(), "2.0");
        assert_eq!(vib.acceptance_level, AcceptanceLevel::Accepted);
        assert!(vib.live_install_allowed && !vib.reboot_required());
        assert_eq!(vib.maintenance_mode, MaintenanceMode { required: true, install: Some(false), remove: None });
        assert_eq!(vib.extra.len(), 1, "installdate is kept");
        assert_eq!(Vib::parse(&vib.to_xml()).unwrap(), vib);
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&[u8], &str); 4] = [
            (b"<vib><type>b</type><name>n</name><vendor>v</vendor></vib>", "vib/version: required field is missing or empty"),
            (
                br#"<vib><type>b</type><name>n</name><version>1</version><vendor>v</vendor><payloads><payload name="p" size="12x"/></payloads></vib>"#,
                "vib/payloads/payload[0]/@size: invalid value '12x': expected a non-negative whole number",
            ),
            (
                br#"<vib><type>b</type><name>n</name><version>1</version><vendor>v</vendor><relationships><depends><constraint name="x" relation="<" version="1"/></depends></relationships></vib>"#,
                "vib/relationships/depends/constraint[0]/@relation: invalid value '<'",
            ),
            (b"<bulletin/>", "expected root element <vib>, found <bulletin>"),
        ];
        for (doc, want) in cases {
            let err = Vib::parse(doc).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}");
        }
    }
}
