//! The image database: the image profile, and `IMGDB.TGZ`, the tar.gz of the host's
//! `/var/db/esximg` tree (depot-format §7.1, §7.3) that the installer copies to the
//! bootbank.
//!
//! Written deterministically: members sorted by path, directories before their files,
//! owner `root`/`0`, fixed modes, every mtime the build's timestamp, a gzip header
//! without a name or time. Read back with limits: the number of members, each member's
//! size and the decompressed total are capped, so a hostile ISO cannot exhaust memory.
//!
//! Layout \[I: the directories are those of a host, §7.3; the file names inside them are
//! esxlcm's own, since installers find documents by directory\]:
//!
//! ```text
//! var/db/esximg/profiles/<profile name>.xml
//! var/db/esximg/vibs/<VIB name>--<16 hex of the ID's sha-256>.xml   metadata VIB XML + installdate
//! var/db/esximg/bulletins/<bulletin ID>.xml
//! ```

use std::io::{self, Read};

use esxlcm_depot::model::{AcceptanceLevel, Bulletin, ImageProfile, Vib};
use esxlcm_depot::xml::Element;
use flate2::read::MultiGzDecoder;
use flate2::{Compression, GzBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// Root of the database inside the archive.
pub const DB_ROOT: &str = "var/db/esximg";

/// What an image profile needs.
#[derive(Debug, Clone)]
pub struct ProfileInfo<'a> {
    pub name: &'a str,
    pub creator: &'a str,
    pub description: &'a str,
    pub acceptance: AcceptanceLevel,
    /// ISO-8601 creation and modification time.
    pub timestamp: &'a str,
    pub vib_ids: Vec<String>,
}

/// The image profile of a built image (`imageProfile`, element names as expected in
/// depot-format §2.5 \[I\]); its ID is derived from the name and VIB list, so it is stable.
pub fn image_profile(info: &ProfileInfo<'_>) -> Result<ImageProfile, BuildError> {
    let mut ids = info.vib_ids.clone();
    ids.sort();
    let mut h = Sha256::new();
    h.update(info.name.as_bytes());
    for id in &ids {
        h.update(b"\n");
        h.update(id.as_bytes());
    }
    let profile_id = hex::encode(h.finalize()).get(..32).unwrap_or_default().to_owned();
    let mut list = Element::new("vibList");
    for id in &ids {
        list.push(Element::new("vib").child(Element::new("vibID").with_text(id)));
    }
    let el = Element::new("imageProfile")
        .text_child("name", info.name)
        .text_child("creator", info.creator)
        .text_child("profileID", profile_id)
        .text_child("creationTime", info.timestamp)
        .text_child("modifiedTime", info.timestamp)
        .text_child("description", info.description)
        .text_child("readonly", "false")
        .text_child("acceptancelevel", info.acceptance.as_str())
        .child(list);
    ImageProfile::parse(&el.to_bytes()).map_err(|source| BuildError::Model { what: "image profile", source })
}

/// A VIB's file name in the database.
pub fn vib_file_name(vib: &Vib) -> String {
    let digest = hex::encode(Sha256::digest(vib.id().as_bytes()));
    format!("{}--{}.xml", vib.name, digest.get(..16).unwrap_or_default())
}

/// A name usable as one path component.
fn component(name: &str) -> String {
    let s: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    if s.is_empty() || s == "." || s == ".." { "_".into() } else { s }
}

/// `IMGDB.TGZ` in memory (documents only: small next to any payload).
pub fn write_imgdb(
    profile: &ImageProfile,
    vibs: &[&Vib],
    bulletins: &[&Bulletin],
    timestamp_text: &str,
    mtime: i64,
) -> Result<Vec<u8>, BuildError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push((format!("{DB_ROOT}/profiles/{}.xml", component(&profile.name)), profile.to_xml()));
    for vib in vibs {
        let mut host = Vib::clone(vib);
        host.extra.retain(|e| e.name != "installdate");
        host.extra.push(Element::new("installdate").with_text(timestamp_text));
        files.push((format!("{DB_ROOT}/vibs/{}", component(&vib_file_name(vib))), host.to_xml()));
    }
    for b in bulletins {
        files.push((format!("{DB_ROOT}/bulletins/{}.xml", component(&b.id)), b.to_xml()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    let err = |source| BuildError::Archive { what: "IMGDB.TGZ", source };
    let mtime = u64::try_from(mtime).unwrap_or(0);
    let gz = GzBuilder::new().operating_system(3).write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs: Vec<String> = Vec::new();
    for (path, _) in &files {
        let mut prefix = String::new();
        for part in path.split('/').take(path.split('/').count().saturating_sub(1)) {
            prefix.push_str(part);
            prefix.push('/');
            if !dirs.contains(&prefix) {
                dirs.push(prefix.clone());
            }
        }
    }
    // One sorted list: each directory right before its contents.
    let mut entries: Vec<(&str, Option<&[u8]>)> = dirs.iter().map(|d| (d.as_str(), None)).collect();
    entries.extend(files.iter().map(|(p, b)| (p.as_str(), Some(b.as_slice()))));
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (path, bytes) in entries {
        match bytes {
            None => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
                tar.append_data(&mut h, path, io::empty()).map_err(err)?;
            }
            Some(bytes) => {
                let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64, mtime);
                tar.append_data(&mut h, path, bytes).map_err(err)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(err)?;
    gz.finish().map_err(err)
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    // Ignore the results: these names always fit the ustar fields.
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h
}

/// Caps for reading an untrusted `IMGDB.TGZ`.
#[derive(Debug, Clone, Copy)]
pub struct ImgDbLimits {
    pub max_entries: usize,
    pub max_entry_bytes: u64,
    pub max_total_bytes: u64,
}

impl Default for ImgDbLimits {
    fn default() -> Self {
        Self { max_entries: 100_000, max_entry_bytes: 16 << 20, max_total_bytes: 1 << 30 }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImgDbError {
    #[error("IMGDB.TGZ has more than {limit} members")]
    TooManyEntries { limit: usize },
    #[error("IMGDB.TGZ member '{path}' is {size} bytes; the limit is {limit}")]
    EntryTooLarge { path: String, size: u64, limit: u64 },
    #[error("IMGDB.TGZ decompresses to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("IMGDB.TGZ is not a readable tar.gz: {0}")]
    Archive(#[source] io::Error),
    #[error("IMGDB.TGZ member '{path}': {reason}")]
    Document { path: String, reason: String },
}

/// What an image database holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageDb {
    #[serde(skip)]
    pub profiles: Vec<ImageProfile>,
    #[serde(skip)]
    pub vibs: Vec<Vib>,
    #[serde(skip)]
    pub bulletins: Vec<Bulletin>,
    /// Members that are not a profile, VIB or bulletin document (kept for display).
    pub other_files: Vec<String>,
    /// Documents that did not parse, one message each naming the member; the others are
    /// still read.
    pub errors: Vec<String>,
}

/// Counts decompressed bytes and stops past a limit.
struct Capped<R> {
    inner: R,
    read: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("decompressed size limit exceeded"));
        }
        Ok(n)
    }
}

/// Read an image database tar.gz with limits; documents are parsed by the directory they
/// are in (`profiles/`, `vibs/`, `bulletins/`, anywhere in the path). Archive damage and
/// exceeded limits are errors; a document that does not parse is recorded in
/// [`ImageDb::errors`] and the rest is still read.
pub fn read_imgdb(reader: impl Read, limits: ImgDbLimits) -> Result<ImageDb, ImgDbError> {
    let capped = Capped { inner: MultiGzDecoder::new(reader), read: 0, limit: limits.max_total_bytes, exceeded: false };
    let mut archive = tar::Archive::new(capped);
    let mut db = ImageDb::default();
    let result = read_entries(&mut archive, limits, &mut db);
    if archive.into_inner().exceeded {
        return Err(ImgDbError::TooLarge { limit: limits.max_total_bytes });
    }
    result?;
    Ok(db)
}

fn read_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    limits: ImgDbLimits,
    db: &mut ImageDb,
) -> Result<(), ImgDbError> {
    let mut count = 0usize;
    // Raw entries: the tar crate would read GNU long names and PAX headers whole, whatever
    // their size; here they are members like the others, held to the same limits.
    let (mut gnu_path, mut pax_path): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    for entry in archive.entries().map_err(ImgDbError::Archive)?.raw(true) {
        let mut entry = entry.map_err(ImgDbError::Archive)?;
        count += 1;
        if count > limits.max_entries {
            return Err(ImgDbError::TooManyEntries { limit: limits.max_entries });
        }
        let kind = entry.header().entry_type();
        let size = entry.header().size().map_err(ImgDbError::Archive)?;
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if !extension && !kind.is_file() {
            gnu_path = None;
            pax_path = None;
            continue;
        }
        // The name of this member (an extension header names itself).
        let own_path = || String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if size > limits.max_entry_bytes {
            let path = match (&gnu_path, &pax_path) {
                (Some(p), _) | (None, Some(p)) if !extension => String::from_utf8_lossy(p).into_owned(),
                _ => own_path(),
            };
            return Err(ImgDbError::EntryTooLarge { path, size, limit: limits.max_entry_bytes });
        }
        if extension {
            let bytes = read_member(&mut entry, size, limits)?;
            if kind.is_gnu_longname() {
                // As the tar crate does: one trailing NUL ends the name.
                gnu_path = Some(bytes.strip_suffix(&[0]).unwrap_or(&bytes).to_vec());
            } else if kind.is_pax_local_extensions() {
                pax_path = tar::PaxExtensions::new(&bytes)
                    .filter_map(Result::ok)
                    .find(|e| e.key_bytes() == b"path")
                    .map(|e| e.value_bytes().to_vec());
            }
            continue;
        }
        // A GNU long name wins over a PAX path, which wins over the header's name (as in tar).
        let path = match gnu_path.take().or(pax_path.take()) {
            Some(p) => String::from_utf8_lossy(&p).into_owned(),
            None => own_path(),
        };
        let dir = path.trim_end_matches('/').rsplit('/').nth(1).unwrap_or_default().to_owned();
        if !matches!(dir.as_str(), "profiles" | "vibs" | "bulletins") {
            db.other_files.push(path);
            continue;
        }
        let bytes = read_member(&mut entry, size, limits)?;
        let parsed = match dir.as_str() {
            "profiles" => ImageProfile::parse(&bytes).map(|p| db.profiles.push(p)),
            "vibs" => Vib::parse(&bytes).map(|v| db.vibs.push(v)),
            _ => Bulletin::parse(&bytes).map(|b| db.bulletins.push(b)),
        };
        if let Err(e) = parsed {
            db.errors.push(ImgDbError::Document { path, reason: e.to_string() }.to_string());
        }
    }
    Ok(())
}

/// A member's content, `size` checked against the limit by the caller.
fn read_member(entry: &mut impl Read, size: u64, limits: ImgDbLimits) -> Result<Vec<u8>, ImgDbError> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.take(limits.max_entry_bytes).read_to_end(&mut bytes).map_err(ImgDbError::Archive)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Untrusted bytes, raw or gzipped, give a result or an error, never a panic.
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = read_imgdb(&bytes[..], ImgDbLimits::default());
            let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
            gz.write_all(&bytes).unwrap();
            let _ = read_imgdb(&gz.finish().unwrap()[..], ImgDbLimits::default());
        }
    }

    fn sample() -> (ImageProfile, Vec<Vib>) {
        let vibs = vec![
            Vib::new("esx-base", "8.0.3-0.35.24280767".parse().unwrap(), "VMW"),
            Vib::new("nvme", "1.2-1vmw".parse().unwrap(), "VMW"),
        ];
        let profile = image_profile(&ProfileInfo {
            name: "ESXi-8.0.3-custom",
            creator: "esxlcm",
            description: "test",
            acceptance: AcceptanceLevel::Community,
            timestamp: "2024-06-25T00:00:00",
            vib_ids: vibs.iter().map(Vib::id).rev().collect(),
        })
        .unwrap();
        (profile, vibs)
    }

    #[test]
    fn profile_reads_back_with_sorted_vibs_and_a_stable_id() {
        let (profile, vibs) = sample();
        assert_eq!(profile.name, "ESXi-8.0.3-custom");
        assert_eq!(profile.acceptance_level, "community");
        assert_eq!(profile.vib_ids, vibs.iter().map(Vib::id).collect::<Vec<_>>());
        assert_eq!(profile.profile_id.len(), 32);
        assert_eq!(sample().0.profile_id, profile.profile_id);
    }

    #[test]
    fn imgdb_is_deterministic_and_reads_back() {
        let (profile, vibs) = sample();
        let refs: Vec<&Vib> = vibs.iter().collect();
        let mut b = Bulletin::parse(
            b"<bulletin><id>ESXi_8.0.3</id><vendor>VMware</vendor><vibList><vibID>x</vibID></vibList></bulletin>",
        )
        .unwrap();
        b.vib_ids = vibs.iter().map(Vib::id).collect();
        let a = write_imgdb(&profile, &refs, &[&b], "2024-06-25T00:00:00", 1_719_273_600).unwrap();
        let again = write_imgdb(&profile, &refs, &[&b], "2024-06-25T00:00:00", 1_719_273_600).unwrap();
        assert_eq!(a, again, "same input, same bytes");
        let later = write_imgdb(&profile, &refs, &[&b], "2024-06-25T00:00:00", 1_719_273_601).unwrap();
        assert_ne!(a, later, "the timestamp is the mtime");

        let mut archive = tar::Archive::new(MultiGzDecoder::new(&a[..]));
        let mut listing = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.mtime().unwrap(), h.uid().unwrap()), (1_719_273_600, 0));
            listing.push(String::from_utf8(e.path_bytes().to_vec()).unwrap());
        }
        let vib0 = vib_file_name(&vibs[0]);
        assert_eq!(
            listing[..5],
            ["var/", "var/db/", "var/db/esximg/", "var/db/esximg/bulletins/", "var/db/esximg/bulletins/ESXi_8.0.3.xml"]
        );
        assert!(listing.contains(&format!("var/db/esximg/vibs/{vib0}")), "{listing:?}");
        assert!(listing.contains(&"var/db/esximg/profiles/ESXi-8.0.3-custom.xml".to_owned()));
        let mut sorted = listing.clone();
        sorted.sort();
        assert_eq!(listing, sorted);

        let db = read_imgdb(&a[..], ImgDbLimits::default()).unwrap();
        assert_eq!(db.profiles, [profile]);
        assert_eq!(db.bulletins.len(), 1);
        assert_eq!(db.vibs.len(), 2);
        assert_eq!(db.vibs[0].id(), vibs[0].id());
        assert_eq!(db.vibs[0].extra[0].name, "installdate");
        assert!(db.other_files.is_empty() && db.errors.is_empty());
    }

    #[test]
    fn hostile_archives_are_refused_with_clear_errors() {
        let (profile, vibs) = sample();
        let refs: Vec<&Vib> = vibs.iter().collect();
        let good = write_imgdb(&profile, &refs, &[], "2024-06-25T00:00:00", 0).unwrap();
        let few = ImgDbLimits { max_entries: 3, ..ImgDbLimits::default() };
        assert!(matches!(read_imgdb(&good[..], few), Err(ImgDbError::TooManyEntries { limit: 3 })));
        let small = ImgDbLimits { max_entry_bytes: 10, ..ImgDbLimits::default() };
        let err = read_imgdb(&good[..], small).unwrap_err().to_string();
        assert!(err.contains("the limit is 10"), "{err}");
        let tiny_total = ImgDbLimits { max_total_bytes: 1000, ..ImgDbLimits::default() };
        assert!(matches!(read_imgdb(&good[..], tiny_total), Err(ImgDbError::TooLarge { limit: 1000 })));
        let err = read_imgdb(&b"not gzip at all"[..], ImgDbLimits::default()).unwrap_err().to_string();
        assert!(err.starts_with("IMGDB.TGZ is not a readable tar.gz"), "{err}");

        // A document that does not parse names its member.
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 5, 0);
        tar.append_data(&mut h, "var/db/esximg/vibs/bad.xml", &b"<vib>"[..]).unwrap();
        let raw = tar.into_inner().unwrap();
        let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
        gz.write_all(&raw).unwrap();
        let bad = gz.finish().unwrap();
        let db = read_imgdb(&bad[..], ImgDbLimits::default()).unwrap();
        assert!(db.vibs.is_empty());
        assert_eq!(db.errors.len(), 1);
        assert!(db.errors[0].starts_with("IMGDB.TGZ member 'var/db/esximg/vibs/bad.xml':"), "{:?}", db.errors);
    }

    fn tgz(tar: &[u8]) -> Vec<u8> {
        let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
        gz.write_all(tar).unwrap();
        gz.finish().unwrap()
    }

    /// GNU long names and PAX headers are members too: the tar crate would read them whole
    /// whatever their size, past the per-member limit.
    #[test]
    fn long_name_and_pax_headers_are_held_to_the_member_limit() {
        let (profile, _) = sample();
        let long = format!("var/db/esximg/profiles/{}.xml", "p".repeat(3000));
        let mut tar = tar::Builder::new(Vec::new());
        let doc = profile.to_xml();
        let mut h = header(tar::EntryType::Regular, 0o644, doc.len() as u64, 0);
        tar.append_data(&mut h, &long, &doc[..]).unwrap();
        let gnu = tgz(&tar.into_inner().unwrap());
        let db = read_imgdb(&gnu[..], ImgDbLimits::default()).unwrap();
        assert_eq!(db.profiles, std::slice::from_ref(&profile), "a long name still reads");
        let small = ImgDbLimits { max_entry_bytes: 2048, ..ImgDbLimits::default() };
        let err = read_imgdb(&gnu[..], small).unwrap_err().to_string();
        assert!(err.starts_with("IMGDB.TGZ member '././@LongLink' is 3028 bytes; the limit is 2048"), "{err}");

        let mut tar = tar::Builder::new(Vec::new());
        let record = format!("path={long}\n");
        let record = format!("{} {record}", record.len() + 5); // 5: the 4-digit length and the space
        let mut h = header(tar::EntryType::XHeader, 0o644, record.len() as u64, 0);
        tar.append_data(&mut h, "PaxHeaders/x", record.as_bytes()).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, doc.len() as u64, 0);
        tar.append_data(&mut h, "short.xml", &doc[..]).unwrap();
        let pax = tgz(&tar.into_inner().unwrap());
        let db = read_imgdb(&pax[..], ImgDbLimits::default()).unwrap();
        assert_eq!(db.profiles, [profile], "the PAX path names the member");
        let err = read_imgdb(&pax[..], small).unwrap_err().to_string();
        assert!(err.starts_with("IMGDB.TGZ member 'PaxHeaders/x' is 3038 bytes"), "{err}");
    }
}
