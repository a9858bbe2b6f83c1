//! Where a depot's files live: a ZIP (offline bundle), a directory, or a base URL.
//!
//! Every path handed in is depot-relative and already checked by [`super::path::join`].
//! Readers are owned and independent, so several VIBs can be streamed at once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::DeflateDecoder;
use url::Url;
use zip::CompressionMethod;

use super::fetch::{Fetch, FetchError};
use crate::archive::{ArchiveError, ArchiveLimits, SafeZip};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("{container}: no file '{path}'")]
    NotFound { container: String, path: String },
    #[error("{container}: '{path}': {source}")]
    Io { container: String, path: String, source: io::Error },
    #[error("{container}: {source}")]
    Archive { container: String, source: ArchiveError },
    #[error("{container}: '{path}' is stored with {method}, which is not supported (only stored and deflate)")]
    UnsupportedCompression { container: String, path: String, method: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// A depot's files by depot-relative path.
pub trait Container: Send + Sync {
    /// A short label for messages: the bundle path, directory or URL.
    fn label(&self) -> String;
    /// Open a file for streaming.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContainerError>;
    /// Does the file exist? Online containers answer `None` (unknown without a request).
    fn exists(&self, path: &str) -> Option<bool>;
    /// Every file, when the container can list them (ZIPs and directories).
    fn list(&self) -> Option<Vec<String>>;
    /// Read a small document whole, capped at `limit` bytes.
    fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, ContainerError> {
        let mut out = Vec::new();
        self.open(path)?.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(|source| ContainerError::Io {
            container: self.label(),
            path: path.to_owned(),
            source,
        })?;
        if out.len() as u64 > limit {
            return Err(ContainerError::Io {
                container: self.label(),
                path: path.to_owned(),
                source: io::Error::other(format!("larger than the {limit}-byte limit for a document")),
            });
        }
        Ok(out)
    }
}

/// One member of a ZIP, located once so that it can be streamed without the archive.
#[derive(Debug, Clone)]
struct ZipMember {
    name: String,
    header_start: u64,
    compressed_size: u64,
    size: u64,
    method: CompressionMethod,
}

/// An offline bundle on disk. Members are read with positioned reads of a shared file
/// handle, so readers need no lock and no borrow of the archive.
pub struct ZipContainer {
    label: String,
    file: Arc<File>,
    members: Vec<ZipMember>,
    /// Name → position in `members`: a bundle may hold tens of thousands of VIBs.
    by_name: HashMap<String, usize>,
    /// Keeps an unwrapped inner bundle alive for as long as the container.
    _spool: Option<tempfile::TempPath>,
}

impl ZipContainer {
    pub fn open(path: &Path, limits: ArchiveLimits) -> Result<Self, ContainerError> {
        let label = path.display().to_string();
        let file = crate::input::open_regular(path).map_err(|e| ContainerError::Io {
            container: label.clone(),
            path: String::new(),
            source: e.into_io(),
        })?;
        Self::from_file(label, file, limits, None)
    }

    pub(crate) fn from_file(
        label: String,
        file: File,
        limits: ArchiveLimits,
        spool: Option<tempfile::TempPath>,
    ) -> Result<Self, ContainerError> {
        let reader = file.try_clone().map_err(|source| ContainerError::Io {
            container: label.clone(),
            path: String::new(),
            source,
        })?;
        let mut zip = zip::ZipArchive::new(reader)
            .map_err(|e| ContainerError::Archive { container: label.clone(), source: e.into() })?;
        // SafeZip's checks (entry count, unsafe names) run on a second view of the same file.
        let check = file.try_clone().map_err(|source| ContainerError::Io {
            container: label.clone(),
            path: String::new(),
            source,
        })?;
        let safe = SafeZip::open(check, limits)
            .map_err(|source| ContainerError::Archive { container: label.clone(), source })?;
        let mut members = Vec::with_capacity(safe.names().len());
        for (i, name) in safe.names().iter().enumerate() {
            let entry = zip
                .by_index_raw(i)
                .map_err(|e| ContainerError::Archive { container: label.clone(), source: e.into() })?;
            if entry.is_dir() {
                continue;
            }
            members.push(ZipMember {
                name: name.clone(),
                header_start: entry.header_start(),
                compressed_size: entry.compressed_size(),
                size: entry.size(),
                method: entry.compression(),
            });
        }
        let by_name = members.iter().enumerate().map(|(i, m)| (m.name.clone(), i)).collect();
        Ok(Self { label, file: Arc::new(file), members, by_name, _spool: spool })
    }

    fn member(&self, path: &str) -> Option<&ZipMember> {
        self.by_name.get(path).and_then(|&i| self.members.get(i))
    }

    /// Declared uncompressed size of a member.
    pub fn size_of(&self, path: &str) -> Option<u64> {
        self.member(path).map(|m| m.size)
    }

    fn io_err(&self, path: &str, source: io::Error) -> ContainerError {
        ContainerError::Io { container: self.label.clone(), path: path.to_owned(), source }
    }
}

impl Container for ZipContainer {
    fn label(&self) -> String {
        self.label.clone()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContainerError> {
        let m = self
            .member(path)
            .ok_or_else(|| ContainerError::NotFound { container: self.label.clone(), path: path.to_owned() })?;
        // Local file header: 30 fixed bytes, then name and extra field of their own lengths.
        let mut header = [0u8; 30];
        self.file.read_exact_at(&mut header, m.header_start).map_err(|e| self.io_err(path, e))?;
        if header[..4] != [0x50, 0x4b, 0x03, 0x04] {
            return Err(self.io_err(path, io::Error::other("bad local file header signature")));
        }
        let name_len = u64::from(u16::from_le_bytes([header[26], header[27]]));
        let extra_len = u64::from(u16::from_le_bytes([header[28], header[29]]));
        let data_start = m.header_start + 30 + name_len + extra_len;
        let raw = PositionedReader { file: Arc::clone(&self.file), pos: data_start }.take(m.compressed_size);
        // Held to the declared size: a forged header cannot make us inflate more, and a
        // member that is longer (or shorter) than its header says fails the read that finds it.
        let declared = |inner: Box<dyn Read + Send>| -> Box<dyn Read + Send + '_> {
            Box::new(DeclaredSize { inner, name: m.name.clone(), declared: m.size, remaining: m.size })
        };
        match m.method {
            CompressionMethod::Stored => Ok(declared(Box::new(raw))),
            CompressionMethod::Deflated => Ok(declared(Box::new(DeflateDecoder::new(raw)))),
            other => Err(ContainerError::UnsupportedCompression {
                container: self.label.clone(),
                path: path.to_owned(),
                method: format!("{other:?}"),
            }),
        }
    }

    fn exists(&self, path: &str) -> Option<bool> {
        Some(self.member(path).is_some())
    }

    fn list(&self) -> Option<Vec<String>> {
        Some(self.members.iter().map(|m| m.name.clone()).collect())
    }
}

/// A ZIP member's data held to its declared (uncompressed) size: reads stop there, and
/// the read that reaches it looks one byte further. More data is a forged header or a ZIP
/// bomb, less a truncated member: either fails that read (`InvalidData`, naming the
/// member), so a reader that reads to the end never takes such a member for whole.
struct DeclaredSize {
    inner: Box<dyn Read + Send>,
    name: String,
    declared: u64,
    remaining: u64,
}

impl Read for DeclaredSize {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "member '{}' inflates past its declared size of {} bytes (forged header or ZIP bomb)",
                        self.name, self.declared
                    ),
                ));
            }
            return Ok(0);
        }
        let cap = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..cap])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "member '{}' ends after {} bytes, short of its declared size of {} bytes (truncated or forged)",
                    self.name,
                    self.declared - self.remaining,
                    self.declared
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// `Read` over a shared file at an own offset (pread), so readers are independent.
struct PositionedReader {
    file: Arc<File>,
    pos: u64,
}

impl Read for PositionedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// An unpacked depot in a local directory.
pub struct DirContainer {
    root: PathBuf,
}

impl DirContainer {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Container for DirContainer {
    fn label(&self) -> String {
        self.root.display().to_string()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContainerError> {
        // A FIFO or device in the tree would block or never end: regular files only.
        match crate::input::open_regular(&self.root.join(path)).map_err(crate::input::InputError::into_io) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContainerError::NotFound { container: self.label(), path: path.to_owned() })
            }
            Err(source) => Err(ContainerError::Io { container: self.label(), path: path.to_owned(), source }),
        }
    }

    fn exists(&self, path: &str) -> Option<bool> {
        Some(self.root.join(path).is_file())
    }

    fn list(&self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        Some(out)
    }
}

/// An online depot: paths are resolved against a base URL (ending in `/`).
pub struct UrlContainer {
    base: Url,
    fetch: Arc<dyn Fetch>,
}

impl UrlContainer {
    pub fn new(base: Url, fetch: Arc<dyn Fetch>) -> Self {
        Self { base, fetch }
    }

    pub fn url_of(&self, path: &str) -> Result<Url, ContainerError> {
        self.base.join(path).map_err(|e| {
            ContainerError::Fetch(FetchError::Failed { url: format!("{}{path}", self.base), message: e.to_string() })
        })
    }
}

impl Container for UrlContainer {
    fn label(&self) -> String {
        self.base.to_string()
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send + '_>, ContainerError> {
        let url = self.url_of(path)?;
        Ok(self.fetch.open(&url)?)
    }

    fn exists(&self, _path: &str) -> Option<bool> {
        None
    }

    fn list(&self) -> Option<Vec<String>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::DeterministicZip;
    use esxlcm_test_support::zip_headers::forge_size;

    /// A bundle file holding `a.xml` (deflated) and `b.vib` (stored), its headers patched
    /// by `forge`.
    fn container(dir: &Path, forge: impl Fn(Vec<u8>) -> Vec<u8>) -> ZipContainer {
        let mut zip = DeterministicZip::new(io::Cursor::new(Vec::new()));
        zip.add_bytes("a.xml", &[b'x'; 5000]).unwrap();
        zip.add_reader("b.vib", 3000, &mut &[7u8; 3000][..]).unwrap();
        let path = dir.join("bundle.zip");
        std::fs::write(&path, forge(zip.finish().unwrap().into_inner())).unwrap();
        ZipContainer::open(&path, ArchiveLimits::default()).unwrap()
    }

    fn read_all(c: &ZipContainer, path: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        c.open(path).unwrap().read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn members_are_held_to_their_declared_size() {
        let dir = tempfile::tempdir().unwrap();
        let honest = container(dir.path(), |z| z);
        assert_eq!(read_all(&honest, "a.xml").unwrap(), vec![b'x'; 5000]);
        assert_eq!(read_all(&honest, "b.vib").unwrap(), vec![7u8; 3000]);
        assert_eq!(honest.read_small("a.xml", 5000).unwrap().len(), 5000);

        // Declared smaller than it inflates: the read reaching the declared end fails.
        for name in ["a.xml", "b.vib"] {
            let forged = container(dir.path(), |z| forge_size(z, name, 100));
            let err = read_all(&forged, name).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert_eq!(
                err.to_string(),
                format!("member '{name}' inflates past its declared size of 100 bytes (forged header or ZIP bomb)")
            );
            let err = forged.read_small(name, 1 << 20).unwrap_err().to_string();
            assert!(err.contains(&format!("member '{name}' inflates past")), "{err}");
            // A reader that stops at the declared size sees only that much.
            let mut head = Vec::new();
            forged.open(name).unwrap().take(100).read_to_end(&mut head).unwrap();
            assert_eq!(head.len(), 100);
        }
        // Declared larger than it is: the read that runs out fails.
        let forged = container(dir.path(), |z| forge_size(z, "a.xml", 9000));
        let err = read_all(&forged, "a.xml").unwrap_err().to_string();
        assert_eq!(
            err,
            "member 'a.xml' ends after 5000 bytes, short of its declared size of 9000 bytes (truncated or forged)"
        );
        assert_eq!(read_all(&forged, "b.vib").unwrap().len(), 3000, "the other member is untouched");
    }
}
