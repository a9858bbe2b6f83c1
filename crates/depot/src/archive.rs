//! Bounded, path-safe access to ZIP archives (offline bundles and metadata zips), and a
//! deterministic ZIP writer.
//!
//! Every archive comes from someone else: entry names may try to escape (`../`, `/etc`),
//! sizes may be forged and a small file may inflate to gigabytes, an entry may be a symbolic
//! link (`/etc/passwd` as its content) and one name may appear twice. Each entry is checked
//! when the archive is opened (name, type, uniqueness) and every read is capped by the limits
//! below.

use std::collections::HashMap;
use std::io::{self, Read, Seek, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Caps for reading one archive; defaults are generous for real depots.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    /// Largest metadata member read into memory (XML/JSON documents).
    pub max_document_bytes: u64,
    /// Largest nested archive (`metadata.zip`) read into memory.
    pub max_nested_archive_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self { max_entries: 200_000, max_document_bytes: 64 << 20, max_nested_archive_bytes: 1 << 30 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a readable ZIP archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("archive has {count} entries; the limit is {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("entry '{name}' has an unsafe path (absolute, or escaping with '..')")]
    UnsafePath { name: String },
    #[error("entry '{name}' is a symbolic link (to '{target}'); archives are read as plain files only")]
    Symlink { name: String, target: String },
    #[error("entry '{name}' is not a regular file or directory (unix file type {mode:#o})")]
    SpecialFile { name: String, mode: u32 },
    #[error("entry '{name}' appears more than once; readers disagree on which copy counts")]
    DuplicateName { name: String },
    #[error("entry '{name}' has a name that is not valid UTF-8")]
    BadName { name: String },
    #[error("entry '{name}' is {size} bytes uncompressed; the limit for this kind of member is {limit}")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("entry '{name}' inflates past its declared size of {declared} bytes (forged header or ZIP bomb)")]
    SizeMismatch { name: String, declared: u64 },
    #[error("entry '{name}' inflates to {actual} bytes, short of its declared size of {declared} bytes")]
    Truncated { name: String, declared: u64, actual: u64 },
    #[error("entry '{name}': {source}")]
    Io { name: String, source: io::Error },
    #[error("no entry named '{name}'")]
    Missing { name: String },
}

/// An opened archive whose entry names have all been checked.
pub struct SafeZip<R: Read + Seek> {
    zip: ZipArchive<R>,
    names: Vec<String>,
    /// Name → entry index; metadata zips hold tens of thousands of members.
    index: HashMap<String, usize>,
    limits: ArchiveLimits,
}

impl<R: Read + Seek> SafeZip<R> {
    pub fn open(reader: R, limits: ArchiveLimits) -> Result<Self, ArchiveError> {
        let mut zip = ZipArchive::new(reader)?;
        if zip.len() > limits.max_entries {
            return Err(ArchiveError::TooManyEntries { count: zip.len(), limit: limits.max_entries });
        }
        let mut names = Vec::with_capacity(zip.len());
        let mut index = HashMap::with_capacity(zip.len());
        let mut symlinks = Vec::new();
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i)?;
            let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let name = entry.name().map_err(|_| ArchiveError::BadName { name: raw.clone() })?.into_owned();
            if entry.enclosed_name().is_none() || !is_safe_name(&name) {
                return Err(ArchiveError::UnsafePath { name });
            }
            let name = name.trim_start_matches("./").to_owned();
            // Only the file type bits; many writers set no unix mode at all (type 0).
            match entry.unix_mode().map_or(0, |m| m & S_IFMT) {
                0 | S_IFREG | S_IFDIR => {}
                S_IFLNK => symlinks.push((i, name.clone())),
                mode => return Err(ArchiveError::SpecialFile { name, mode }),
            }
            // `./a` and `a` are one member to every reader here.
            if index.insert(name.clone(), i).is_some() {
                return Err(ArchiveError::DuplicateName { name });
            }
            names.push(name);
        }
        // The ZIP reader keeps one entry per raw name, so a repeated name shows only in its count.
        if zip.has_duplicate_names() {
            let start = zip.central_directory_start();
            let name = first_repeated_name(zip.into_inner(), start, limits.max_entries)
                .unwrap_or_else(|| "(a name the central directory repeats)".to_owned());
            return Err(ArchiveError::DuplicateName { name });
        }
        if let Some((i, name)) = symlinks.into_iter().next() {
            // The link's content is its target; a short, capped read names it in the error.
            let mut target = Vec::new();
            let _ = zip.by_index(i).and_then(|e| Ok(e.take(256).read_to_end(&mut target)?));
            return Err(ArchiveError::Symlink { name, target: String::from_utf8_lossy(&target).into_owned() });
        }
        Ok(Self { zip, names, index, limits })
    }

    /// Entry names (files and directories), in archive order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn limits(&self) -> ArchiveLimits {
        self.limits
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name.trim_start_matches("./")).copied()
    }

    /// Declared uncompressed size of an entry.
    pub fn size_of(&mut self, name: &str) -> Result<u64, ArchiveError> {
        let i = self.index_of(name).ok_or_else(|| ArchiveError::Missing { name: name.to_owned() })?;
        Ok(self.zip.by_index_raw(i)?.size())
    }

    /// Read a whole entry into memory, refusing anything over `limit` bytes, whatever
    /// its header claims.
    pub fn read_to_vec(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::new();
        self.with_entry(name, |r| {
            r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
            Ok(())
        })?;
        if out.len() as u64 > limit {
            return Err(ArchiveError::TooLarge { name: name.to_owned(), size: out.len() as u64, limit });
        }
        Ok(out)
    }

    /// Inflate an entry without keeping it, to check that it holds exactly its declared
    /// size; for members nobody parses, which clients downstream may still read. An entry
    /// declared larger than `limit` is refused without inflating it. Memory stays constant.
    pub fn check_size(&mut self, name: &str, limit: u64) -> Result<u64, ArchiveError> {
        let declared = self.size_of(name)?;
        if declared > limit {
            return Err(ArchiveError::TooLarge { name: name.to_owned(), size: declared, limit });
        }
        let actual = self.with_entry(name, |r| io::copy(r, &mut io::sink()))?;
        if actual < declared {
            return Err(ArchiveError::Truncated { name: name.to_owned(), declared, actual });
        }
        Ok(actual)
    }

    /// Stream an entry through `f`. The reader stops at the declared size: inflating past
    /// it is reported as [`ArchiveError::SizeMismatch`].
    pub fn with_entry<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut dyn Read) -> io::Result<T>,
    ) -> Result<T, ArchiveError> {
        let i = self.index_of(name).ok_or_else(|| ArchiveError::Missing { name: name.to_owned() })?;
        let entry = self.zip.by_index(i)?;
        let declared = entry.size();
        let mut guarded = SizeGuard { inner: entry, remaining: declared };
        let value = f(&mut guarded).map_err(|source| ArchiveError::Io { name: name.to_owned(), source })?;
        if guarded.remaining == 0 {
            let mut probe = [0u8; 1];
            match guarded.inner.read(&mut probe) {
                Ok(0) => {}
                Ok(_) => return Err(ArchiveError::SizeMismatch { name: name.to_owned(), declared }),
                // The ZIP reader counts too and fails the read that goes past the declared size.
                Err(e) if e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("declared") => {
                    return Err(ArchiveError::SizeMismatch { name: name.to_owned(), declared });
                }
                Err(source) => return Err(ArchiveError::Io { name: name.to_owned(), source }),
            }
        }
        Ok(value)
    }
}

/// ZIP file type bits of a unix mode (`external_attr >> 16`).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// The first name the central directory at `start` lists twice, read from the raw headers
/// (the ZIP reader keeps one entry per name). Reads at most `max_entries + 1` headers.
fn first_repeated_name<R: Read + Seek>(mut reader: R, start: u64, max_entries: usize) -> Option<String> {
    reader.seek(io::SeekFrom::Start(start)).ok()?;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..=max_entries {
        let mut header = [0u8; 46];
        reader.read_exact(&mut header).ok()?;
        if header[..4] != [0x50, 0x4b, 0x01, 0x02] {
            return None;
        }
        let len = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let mut name = vec![0u8; usize::from(len(28))];
        reader.read_exact(&mut name).ok()?;
        reader.seek(io::SeekFrom::Current(i64::from(len(30)) + i64::from(len(32)))).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
    None
}

/// Relative, forward-slash, no `..` component, no drive letter: a name that can only ever
/// land inside the directory it is extracted to.
fn is_safe_name(name: &str) -> bool {
    !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains('\0')
        && name.get(1..2).is_none_or(|c| c != ":")
        && !name.split('/').any(|part| part == "..")
}

/// Caps a reader at the entry's declared size.
struct SizeGuard<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for SizeGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let cap = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..cap])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A ZIP writer whose output depends only on what is written: fixed timestamps, fixed
/// permissions, deflate, entries in the order given.
pub struct DeterministicZip<W: Write + Seek> {
    zip: ZipWriter<W>,
}

impl<W: Write + Seek> DeterministicZip<W> {
    pub fn new(writer: W) -> Self {
        Self { zip: ZipWriter::new(writer) }
    }

    fn options(stored: bool) -> SimpleFileOptions {
        let method = if stored { CompressionMethod::Stored } else { CompressionMethod::Deflated };
        SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(false)
    }

    /// Add a member from memory.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.zip.start_file(name, Self::options(false)).map_err(io::Error::other)?;
        self.zip.write_all(bytes)
    }

    /// Stream a member without compressing it. `size` decides whether ZIP64 is needed.
    /// VIBs are stored: their payloads are gzip or zstd already, so deflating them again
    /// costs most of the write time and saves almost nothing; readers handle both.
    pub fn add_reader(&mut self, name: &str, size: u64, reader: &mut dyn Read) -> io::Result<u64> {
        let options = Self::options(true).large_file(size >= u64::from(u32::MAX));
        self.zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(reader, &mut self.zip)
    }

    pub fn finish(self) -> io::Result<W> {
        self.zip.finish().map_err(io::Error::other)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut z = DeterministicZip::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            z.add_bytes(name, data).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn deterministic_output() {
        let a = zip_with(&[("a.xml", b"<a/>"), ("dir/b", b"bbb")]);
        let b = zip_with(&[("a.xml", b"<a/>"), ("dir/b", b"bbb")]);
        assert_eq!(a, b);
        let mut z = SafeZip::open(Cursor::new(a), ArchiveLimits::default()).unwrap();
        assert_eq!(z.names(), ["a.xml", "dir/b"]);
        assert_eq!(z.read_to_vec("dir/b", 10).unwrap(), b"bbb");
    }

    #[test]
    fn refuses_escaping_and_absolute_names() {
        for bad in ["../evil.vib", "/etc/passwd", "a/../../b"] {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file(bad, SimpleFileOptions::default()).unwrap();
            w.write_all(b"x").unwrap();
            let bytes = w.finish().unwrap().into_inner();
            let Some(err) = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).err() else {
                panic!("{bad} was accepted")
            };
            assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn caps_member_size_and_entry_count() {
        let big = vec![0u8; 10_000];
        let bytes = zip_with(&[("bomb.xml", &big)]);
        let mut z = SafeZip::open(Cursor::new(bytes.clone()), ArchiveLimits::default()).unwrap();
        let err = z.read_to_vec("bomb.xml", 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry 'bomb.xml' is 101 bytes uncompressed; the limit for this kind of member is 100"
        );
        let limits = ArchiveLimits { max_entries: 0, ..ArchiveLimits::default() };
        assert!(matches!(SafeZip::open(Cursor::new(bytes), limits), Err(ArchiveError::TooManyEntries { .. })));
    }

    /// `zip` with `from` renamed to `to` (same length) in every header: the ZIP writer
    /// refuses to write a name twice, so duplicates are made by renaming afterwards.
    pub(crate) fn rename(mut zip: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let (from, to) = (from.as_bytes(), to.as_bytes());
        let mut i = 0;
        while i + from.len() <= zip.len() {
            if &zip[i..i + from.len()] == from {
                zip[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
        zip
    }

    pub(crate) use esxlcm_test_support::zip_headers::{forge_size, set_unix_mode};

    #[test]
    fn refuses_symlink_members() {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("index.xml", SimpleFileOptions::default()).unwrap();
        w.write_all(b"<vendorList/>").unwrap();
        w.add_symlink("vib20/x/passwd.vib", "/etc/passwd", SimpleFileOptions::default()).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let err = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "entry 'vib20/x/passwd.vib' is a symbolic link (to '/etc/passwd'); archives are read as plain files only"
        );
    }

    #[test]
    fn refuses_other_special_members() {
        // A FIFO (unix mode 0o010644 in the external attributes), as a hostile writer sets it.
        let bytes = set_unix_mode(zip_with(&[("pipe", b"")]), "pipe", 0o010_644);
        let err = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).err().unwrap();
        assert!(matches!(&err, ArchiveError::SpecialFile { name, mode: 0o010_000 } if name == "pipe"), "{err}");
    }

    #[test]
    fn refuses_duplicate_names() {
        let bytes =
            rename(zip_with(&[("vib20/a.vib", b"bogus"), ("vib20/b.vib", b"genuine")]), "vib20/b.vib", "vib20/a.vib");
        let err = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).err().unwrap();
        assert_eq!(
            err.to_string(),
            "entry 'vib20/a.vib' appears more than once; readers disagree on which copy counts"
        );
        // `./a` and `a` are the same member to every reader here.
        let bytes = zip_with(&[("./a.xml", b"one"), ("a.xml", b"two")]);
        let err = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).err().unwrap();
        assert!(matches!(&err, ArchiveError::DuplicateName { name } if name == "a.xml"), "{err}");
    }

    #[test]
    fn check_size_counts_what_inflates() {
        let bytes = zip_with(&[("vmware.xml", &[b'x'; 5000]), ("ok.xml", b"fine")]);
        let mut z = SafeZip::open(Cursor::new(forge_size(bytes.clone(), "vmware.xml", 1000)), ArchiveLimits::default())
            .unwrap();
        assert_eq!(z.check_size("ok.xml", 100).unwrap(), 4);
        let err = z.check_size("vmware.xml", 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "entry 'vmware.xml' inflates past its declared size of 1000 bytes (forged header or ZIP bomb)"
        );
        let mut z = SafeZip::open(Cursor::new(forge_size(bytes.clone(), "vmware.xml", 9000)), ArchiveLimits::default())
            .unwrap();
        let err = z.check_size("vmware.xml", 1 << 20).unwrap_err();
        assert!(matches!(err, ArchiveError::Truncated { declared: 9000, actual: 5000, .. }), "{err}");
        let mut z = SafeZip::open(Cursor::new(bytes), ArchiveLimits::default()).unwrap();
        let err = z.check_size("vmware.xml", 4999).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { size: 5000, limit: 4999, .. }), "{err}");
    }
}
