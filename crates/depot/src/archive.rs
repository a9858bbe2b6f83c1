//! Bounded, path-safe access to ZIP archives (offline bundles and metadata zips), and a
//! deterministic ZIP writer.
//!
//! Every archive comes from someone else: entry names may try to escape (`../`, `/etc`),
//! sizes may be forged and a small file may inflate to gigabytes. Each entry name is
//! checked before use and every read is capped by the limits below.

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
    #[error("entry '{name}' has a name that is not valid UTF-8")]
    BadName { name: String },
    #[error("entry '{name}' is {size} bytes uncompressed; the limit for this kind of member is {limit}")]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("entry '{name}' inflates past its declared size of {declared} bytes (forged header or ZIP bomb)")]
    SizeMismatch { name: String, declared: u64 },
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
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i)?;
            let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let name = entry.name().map_err(|_| ArchiveError::BadName { name: raw.clone() })?.into_owned();
            if entry.enclosed_name().is_none() || !is_safe_name(&name) {
                return Err(ArchiveError::UnsafePath { name });
            }
            names.push(name.trim_start_matches("./").to_owned());
        }
        let index = names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
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
            if guarded.inner.read(&mut probe).map_err(|source| ArchiveError::Io { name: name.to_owned(), source })? > 0
            {
                return Err(ArchiveError::SizeMismatch { name: name.to_owned(), declared });
            }
        }
        Ok(value)
    }
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
mod tests {
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
}
