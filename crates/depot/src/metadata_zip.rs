//! `metadata.zip`: every document of one metadata archive, read by directory (member
//! names are opaque, depot-format §2.1) and written deterministically.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};

use crate::archive::{ArchiveError, ArchiveLimits, DeterministicZip, SafeZip};
use crate::model::{Bulletin, ImageProfile, MetadataResponse, ModelError, ReleaseKind, ReleaseUnit, VendorIndex, Vib};

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("member '{member}': {source}")]
    Document { member: String, source: ModelError },
}

/// Everything one metadata zip says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataArchive {
    pub vendor_index: Option<VendorIndex>,
    /// Bulletins and components: from `bulletins/`, or from `vmware.xml` when that
    /// directory is absent.
    pub bulletins: Vec<Bulletin>,
    pub vibs: Vec<Vib>,
    pub profiles: Vec<ImageProfile>,
    pub release_units: Vec<ReleaseUnit>,
    /// `vmware.xml` as read; only read when `bulletins/` is absent.
    pub response: Option<MetadataResponse>,
    /// Members this reader did not recognise, and the member each VIB came from.
    pub unknown_members: Vec<String>,
    pub vib_members: Vec<String>,
}

impl MetadataArchive {
    pub fn read<R: Read + Seek>(reader: R, limits: ArchiveLimits) -> Result<Self, MetadataError> {
        let mut zip = SafeZip::open(reader, limits)?;
        let mut out = Self::default();
        let mut names: Vec<String> = zip.names().to_vec();
        // Member order varies between writers; read in name order for stable results.
        names.sort();
        // vmware.xml repeats every bulletin with full VIB records and is by far the largest
        // member; it is only needed when the per-bulletin files are missing.
        let has_bulletin_files = names.iter().any(|n| n.starts_with("bulletins/") && n.ends_with(".xml"));
        let mut response_bulletins = None;
        for name in names {
            if name.ends_with('/') {
                continue;
            }
            let doc = |zip: &mut SafeZip<R>| zip.read_to_vec(&name, limits.max_document_bytes);
            let wrap = |source: ModelError| MetadataError::Document { member: name.clone(), source };
            let (dir, file) = name.rsplit_once('/').unwrap_or(("", name.as_str()));
            match (dir, file) {
                ("", "vmware.xml") if has_bulletin_files => {}
                ("", "vmware.xml") => {
                    let resp = MetadataResponse::parse(&doc(&mut zip)?).map_err(wrap)?;
                    response_bulletins = Some(resp.bulletins.clone());
                    out.response = Some(resp);
                }
                ("", "vendor-index.xml") => {
                    out.vendor_index = Some(VendorIndex::parse(&doc(&mut zip)?).map_err(wrap)?);
                }
                ("bulletins", f) if f.ends_with(".xml") => {
                    out.bulletins.push(Bulletin::parse(&doc(&mut zip)?).map_err(wrap)?);
                }
                ("vibs", f) if f.ends_with(".xml") => {
                    out.vibs.push(Vib::parse(&doc(&mut zip)?).map_err(wrap)?);
                    out.vib_members.push(name.clone());
                }
                ("profiles", _) => {
                    out.profiles.push(ImageProfile::parse(&doc(&mut zip)?).map_err(wrap)?);
                }
                (d, _) if ReleaseKind::from_directory(d).is_some() => {
                    if let Some(kind) = ReleaseKind::from_directory(d) {
                        out.release_units.push(ReleaseUnit::parse(kind, &doc(&mut zip)?).map_err(wrap)?);
                    }
                }
                _ => out.unknown_members.push(name.clone()),
            }
        }
        if out.bulletins.is_empty()
            && let Some(bulletins) = response_bulletins
        {
            out.bulletins = bulletins;
        }
        Ok(out)
    }

    /// Write a metadata zip: `vmware.xml`, `vendor-index.xml`, one file per document.
    /// Member names are derived from identities, so output is deterministic.
    pub fn write<W: Write + Seek>(&self, writer: W, timestamp: &str) -> io::Result<W> {
        let mut zip = DeterministicZip::new(writer);
        let by_id: BTreeMap<String, &Vib> = self.vibs.iter().map(|v| (v.id(), v)).collect();
        zip.add_bytes("vmware.xml", &MetadataResponse::write(timestamp, &self.bulletins, |id| by_id.get(id).copied()))?;
        if let Some(index) = &self.vendor_index {
            zip.add_bytes("vendor-index.xml", &index.to_xml())?;
        }
        let mut bulletins: Vec<&Bulletin> = self.bulletins.iter().collect();
        bulletins.sort_by(|a, b| a.id.cmp(&b.id));
        for b in bulletins {
            zip.add_bytes(&format!("bulletins/{}.xml", file_safe(&b.id)), &b.to_xml())?;
        }
        for (i, (id, vib)) in by_id.iter().enumerate() {
            let _ = id;
            zip.add_bytes(&format!("vibs/{}-{i}.xml", file_safe(&vib.name)), &vib.to_xml())?;
        }
        let mut profiles: Vec<&ImageProfile> = self.profiles.iter().collect();
        profiles.sort_by(|a, b| a.name.cmp(&b.name));
        for (i, p) in profiles.iter().enumerate() {
            zip.add_bytes(&format!("profiles/{}-{i}.xml", file_safe(&p.name)), &p.to_xml())?;
        }
        let mut units: Vec<&ReleaseUnit> = self.release_units.iter().collect();
        units.sort_by(|a, b| (a.kind, &a.release_id).cmp(&(b.kind, &b.release_id)));
        for u in units {
            zip.add_bytes(&format!("{}/{}.json", u.kind.directory(), file_safe(&u.release_id)), &u.to_json())?;
        }
        zip.finish()
    }
}

/// Identities may hold characters a file name should not (`:` in release IDs).
fn file_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    const VIB: &[u8] = br#"<vib version="5.0"><type>bootbank</type><name>drv</name><version>1.0-1</version><vendor>ACME</vendor><relationships><depends><constraint name="vmkapi_2_1_0_0"/></depends><provides><provide name="drv-api" version="1.0"/></provides></relationships><acceptance-level>partner</acceptance-level><payloads><payload name="drv" type="vgz" size="10"><checksum checksum-type="sha-256">ab</checksum></payload></payloads><relative-path>vib20/drv/ACME_bootbank_drv_1.0-1.vib</relative-path><packed-size>100</packed-size><checksum checksum-type="sha-256">cd</checksum></vib>"#;
    const BULLETIN: &[u8] = br#"<bulletin><id>ACME-drv_1.0-1</id><vendor>ACME</vendor><componentNameSpec name="ACME-drv" uiString="Driver"/><componentVersionSpec version="1.0-1" uiString="1.0"/><vibList><vibID>ACME_bootbank_drv_1.0-1</vibID></vibList></bulletin>"#;

    fn archive() -> MetadataArchive {
        MetadataArchive {
            bulletins: vec![Bulletin::parse(BULLETIN).unwrap()],
            vibs: vec![Vib::parse(VIB).unwrap()],
            ..MetadataArchive::default()
        }
    }

    #[test]
    fn write_read_round_trip_is_deterministic() {
        let a = archive();
        let bytes = a.write(Cursor::new(Vec::new()), "2026-01-01T00:00:00").unwrap().into_inner();
        let again = a.write(Cursor::new(Vec::new()), "2026-01-01T00:00:00").unwrap().into_inner();
        assert_eq!(bytes, again);
        let read = MetadataArchive::read(Cursor::new(bytes), ArchiveLimits::default()).unwrap();
        assert_eq!(read.bulletins, a.bulletins);
        assert_eq!(read.vibs, a.vibs);
        assert!(read.response.is_none(), "vmware.xml is skipped when bulletins/ exists");
    }

    #[test]
    fn falls_back_to_vmware_xml_without_bulletin_files() {
        let a = archive();
        let vib = &a.vibs[0];
        let xml = MetadataResponse::write("t", &a.bulletins, |id| (id == vib.id()).then_some(vib));
        let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
        zip.add_bytes("vmware.xml", &xml).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let read = MetadataArchive::read(Cursor::new(bytes), ArchiveLimits::default()).unwrap();
        assert_eq!(read.bulletins, a.bulletins);
        assert!(read.response.is_some());
    }

    #[test]
    fn a_bad_member_is_named() {
        let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
        zip.add_bytes("vibs/x-1.xml", b"<vib><name>x</name></vib>").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = MetadataArchive::read(Cursor::new(bytes), ArchiveLimits::default()).unwrap_err();
        assert_eq!(err.to_string(), "member 'vibs/x-1.xml': vib/type: required field is missing or empty");
    }
}
