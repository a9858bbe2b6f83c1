//! `metadata.zip`: every document of one metadata archive, read by directory (member
//! names are opaque, depot-format §2.1) and written deterministically.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

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
    /// Shared with catalogs built from this archive, which would otherwise copy each one.
    pub vibs: Vec<Arc<Vib>>,
    pub profiles: Vec<ImageProfile>,
    pub release_units: Vec<ReleaseUnit>,
    /// `vmware.xml` as read; only read when `bulletins/` is absent.
    pub response: Option<MetadataResponse>,
    /// Members this reader did not recognise, and the member each VIB came from.
    pub unknown_members: Vec<String>,
    pub vib_members: Vec<String>,
}

/// What a member holds, decided by its directory (names are opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MemberKind {
    Response,
    VendorIndex,
    Bulletin,
    Vib,
    Profile,
    Release(ReleaseKind),
}

/// One parsed member.
enum Parsed {
    Response(MetadataResponse),
    VendorIndex(VendorIndex),
    Bulletin(Bulletin),
    Vib(Vib),
    Profile(ImageProfile),
    Release(ReleaseUnit),
}

fn classify(name: &str, has_bulletin_files: bool) -> Option<MemberKind> {
    let (dir, file) = name.rsplit_once('/').unwrap_or(("", name));
    match (dir, file) {
        // vmware.xml repeats every bulletin with full VIB records and is by far the largest
        // member; it is only needed when the per-bulletin files are missing.
        ("", "vmware.xml") if has_bulletin_files => None,
        ("", "vmware.xml") => Some(MemberKind::Response),
        ("", "vendor-index.xml") => Some(MemberKind::VendorIndex),
        ("bulletins", f) if f.ends_with(".xml") => Some(MemberKind::Bulletin),
        ("vibs", f) if f.ends_with(".xml") => Some(MemberKind::Vib),
        ("profiles", _) => Some(MemberKind::Profile),
        (d, _) => ReleaseKind::from_directory(d).map(MemberKind::Release),
    }
}

fn parse_member(kind: MemberKind, bytes: &[u8]) -> Result<Parsed, ModelError> {
    Ok(match kind {
        MemberKind::Response => Parsed::Response(MetadataResponse::parse(bytes)?),
        MemberKind::VendorIndex => Parsed::VendorIndex(VendorIndex::parse(bytes)?),
        MemberKind::Bulletin => Parsed::Bulletin(Bulletin::parse(bytes)?),
        MemberKind::Vib => Parsed::Vib(Vib::parse(bytes)?),
        MemberKind::Profile => Parsed::Profile(ImageProfile::parse(bytes)?),
        MemberKind::Release(k) => Parsed::Release(ReleaseUnit::parse(k, bytes)?),
    })
}

/// Documents are parsed on this many threads while the archive is inflated on the
/// calling one; the machines this runs on have few cores.
const PARSE_THREADS: usize = 2;

impl MetadataArchive {
    /// Read every document. Inflating is sequential; parsing runs in parallel, and the
    /// result (and the first error, by member name) does not depend on thread timing.
    pub fn read<R: Read + Seek>(reader: R, limits: ArchiveLimits) -> Result<Self, MetadataError> {
        let mut zip = SafeZip::open(reader, limits)?;
        let mut out = Self::default();
        let mut names: Vec<String> = zip.names().iter().filter(|n| !n.ends_with('/')).cloned().collect();
        // Member order varies between writers; read in name order for stable results.
        names.sort();
        let has_bulletin_files = names.iter().any(|n| n.starts_with("bulletins/") && n.ends_with(".xml"));
        let mut work = Vec::new();
        let mut unparsed = Vec::new();
        for name in names {
            match classify(&name, has_bulletin_files) {
                Some(kind) => work.push((name, kind)),
                None if name == "vmware.xml" => unparsed.push(name),
                None => {
                    unparsed.push(name.clone());
                    out.unknown_members.push(name);
                }
            }
        }
        // Members esxlcm skips are still served to ESXi and vLCM, which do read them: each
        // must inflate to exactly its declared size (no bomb behind a small header).
        for name in &unparsed {
            zip.check_size(name, limits.max_nested_archive_bytes)?;
        }
        let results = parse_all(&mut zip, &work, limits)?;
        let mut response_bulletins = None;
        for ((name, _), parsed) in work.iter().zip(results) {
            let parsed = parsed.map_err(|source| MetadataError::Document { member: name.clone(), source })?;
            match parsed {
                Parsed::Response(resp) => {
                    response_bulletins = Some(resp.bulletins.clone());
                    out.response = Some(resp);
                }
                Parsed::VendorIndex(v) => out.vendor_index = Some(v),
                Parsed::Bulletin(b) => out.bulletins.push(b),
                Parsed::Vib(v) => {
                    out.vibs.push(Arc::new(v));
                    out.vib_members.push(name.clone());
                }
                Parsed::Profile(p) => out.profiles.push(p),
                Parsed::Release(u) => out.release_units.push(u),
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
        let by_id: BTreeMap<String, &Vib> = self.vibs.iter().map(|v| (v.id(), v.as_ref())).collect();
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

/// Inflate members in order on this thread and parse them on [`PARSE_THREADS`] workers,
/// through a bounded queue so that memory holds only a few documents at a time.
fn parse_all<R: Read + Seek>(
    zip: &mut SafeZip<R>,
    work: &[(String, MemberKind)],
    limits: ArchiveLimits,
) -> Result<Vec<Result<Parsed, ModelError>>, MetadataError> {
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, MemberKind, Vec<u8>)>(64);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<Parsed, ModelError>)>();
    let read_result = thread::scope(|scope| {
        for _ in 0..PARSE_THREADS {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || {
                loop {
                    // Hold the lock only to take one job.
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, kind, bytes)) = job else { return };
                    if done_tx.send((i, parse_member(kind, &bytes))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        for (i, (name, kind)) in work.iter().enumerate() {
            let bytes = zip.read_to_vec(name, limits.max_document_bytes)?;
            if job_tx.send((i, *kind, bytes)).is_err() {
                break;
            }
        }
        drop(job_tx);
        Ok::<(), MetadataError>(())
    });
    read_result?;
    let mut results: Vec<Option<Result<Parsed, ModelError>>> = work.iter().map(|_| None).collect();
    for (i, parsed) in done_rx {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(parsed);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ModelError::Missing { path: "(member was not parsed)".into() })))
        .collect())
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
            vibs: vec![Arc::new(Vib::parse(VIB).unwrap())],
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

    /// A metadata zip whose `vmware.xml` (not parsed: `bulletins/` exists) declares 1,000
    /// bytes and inflates to `inflated`, written as a stream so the test holds only the
    /// compressed bytes.
    fn bomb_metadata(inflated: u64) -> Vec<u8> {
        use std::io::Write as _;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("bulletins/ACME-drv.xml", options).unwrap();
        zip.write_all(BULLETIN).unwrap();
        zip.start_file("vibs/drv-1.xml", options).unwrap();
        zip.write_all(VIB).unwrap();
        zip.start_file("vmware.xml", options).unwrap();
        let chunk = vec![b' '; 1 << 20];
        let mut left = inflated;
        while left > 0 {
            let n = left.min(chunk.len() as u64);
            zip.write_all(&chunk[..n as usize]).unwrap();
            left -= n;
        }
        let bytes = zip.finish().unwrap().into_inner();
        crate::archive::tests::forge_size(bytes, "vmware.xml", 1000)
    }

    #[test]
    fn an_unparsed_member_that_inflates_past_its_declared_size_is_refused() {
        // 64 MiB keeps the test fast (writing is the slow part); reading stops at 1,001 bytes
        // whatever the size.
        let bytes = bomb_metadata(64 << 20);
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let started = std::time::Instant::now();
        let err = MetadataArchive::read(Cursor::new(bytes), ArchiveLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry 'vmware.xml' inflates past its declared size of 1000 bytes (forged header or ZIP bomb)"
        );
        // Stopped just past the declared size, not after inflating everything.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn unknown_members_are_size_checked_too() {
        let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
        zip.add_bytes("vibs/drv-1.xml", VIB).unwrap();
        zip.add_bytes("notes/readme.txt", &[b'n'; 4096]).unwrap();
        let bytes = crate::archive::tests::forge_size(zip.finish().unwrap().into_inner(), "notes/readme.txt", 10);
        let err = MetadataArchive::read(Cursor::new(bytes), ArchiveLimits::default()).unwrap_err();
        assert!(
            matches!(&err, MetadataError::Archive(ArchiveError::SizeMismatch { name, declared: 10 }) if name == "notes/readme.txt"),
            "{err}"
        );
    }
}
