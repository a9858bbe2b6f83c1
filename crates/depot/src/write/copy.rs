//! Streaming a VIB from a [`VibSource`] into an output while digesting it, so that a
//! writer never holds a whole VIB and never publishes bytes its metadata contradicts.

use std::io::{self, ErrorKind, Read};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::content::PlannedVib;
use super::{VibSource, WriteError};
use crate::model::{Checksum, Vib, VibLocation};

/// Size and digests of everything read through a [`DigestReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VibDigest {
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    /// Lowercase hex; only when requested.
    pub sha1: Option<String>,
}

/// Hashes (sha-256, optionally sha-1) and counts what passes through it. With a limit, a
/// read that takes the total past it fails, so a lying source cannot make us copy an
/// unbounded stream before the size check.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    sha256: Sha256,
    sha1: Option<Sha1>,
    count: u64,
    limit: Option<u64>,
    over_limit: bool,
    inner_failed: bool,
}

impl<R: Read> DigestReader<R> {
    pub fn new(inner: R, with_sha1: bool, limit: Option<u64>) -> Self {
        Self {
            inner,
            sha256: Sha256::new(),
            sha1: with_sha1.then(Sha1::new),
            count: 0,
            limit,
            over_limit: false,
            inner_failed: false,
        }
    }

    /// Whether more bytes than the limit arrived.
    pub fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// Whether the wrapped reader failed (as opposed to whoever consumes this one).
    pub fn inner_failed(&self) -> bool {
        self.inner_failed
    }

    pub fn finish(self) -> VibDigest {
        VibDigest {
            size: self.count,
            sha256: hex::encode(self.sha256.finalize()),
            sha1: self.sha1.map(|h| hex::encode(h.finalize())),
        }
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.over_limit {
            return Err(io::Error::other("more bytes than the declared size"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                if e.kind() != ErrorKind::Interrupted {
                    self.inner_failed = true;
                }
                return Err(e);
            }
        };
        self.count += n as u64;
        if self.limit.is_some_and(|limit| self.count > limit) {
            self.over_limit = true;
            return Err(io::Error::other("more bytes than the declared size"));
        }
        let data = buf.get(..n).unwrap_or_default();
        self.sha256.update(data);
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        Ok(n)
    }
}

/// Copy one VIB through `sink` (which must read to EOF) and return its metadata with the
/// true location. Fails, naming the VIB, when the bytes contradict a declared location.
pub(crate) fn copy_vib(
    planned: &PlannedVib<'_>,
    source: &dyn VibSource,
    sink: impl FnOnce(&mut dyn Read) -> io::Result<()>,
) -> Result<Vib, WriteError> {
    let expected = planned.expected.as_ref();
    let reader = source.open_vib(planned.vib)?;
    let mut digesting = DigestReader::new(reader, expected.is_some_and(|e| e.sha1), expected.map(|e| e.size));
    if let Err(source) = sink(&mut digesting) {
        let vib_id = planned.id.clone();
        return Err(if digesting.over_limit() {
            WriteError::TooLong { vib_id, expected: expected.map_or(0, |e| e.size) }
        } else if digesting.inner_failed() {
            WriteError::VibRead { vib_id, source }
        } else {
            WriteError::VibWrite { vib_id, path: planned.path.clone(), source }
        });
    }
    let digest = digesting.finish();
    if let Some(e) = expected {
        if digest.size != e.size {
            return Err(WriteError::SizeMismatch { vib_id: planned.id.clone(), expected: e.size, actual: digest.size });
        }
        let actual = if e.sha1 { digest.sha1.clone().unwrap_or_default() } else { digest.sha256.clone() };
        if actual != e.value {
            return Err(WriteError::ChecksumMismatch {
                vib_id: planned.id.clone(),
                checksum_type: e.checksum_type.clone(),
                expected: e.value.clone(),
                actual,
            });
        }
    }
    let mut vib = planned.vib.clone();
    vib.location = Some(VibLocation {
        relative_path: planned.path.clone(),
        source_url: planned.vib.location.as_ref().and_then(|l| l.source_url.clone()),
        packed_size: digest.size,
        checksum: Checksum::sha256(digest.sha256),
    });
    Ok(vib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_limits() {
        let mut r = DigestReader::new(&b"abc"[..], true, None);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let d = r.finish();
        assert_eq!(d.size, 3);
        assert_eq!(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.sha1.as_deref(), Some("a9993e364706816aba3e25717850c26c9cd0d89d"));

        let mut r = DigestReader::new(&b"abcd"[..], false, Some(3));
        assert!(io::copy(&mut r, &mut io::sink()).is_err());
        assert!(r.over_limit());
        assert!(!r.inner_failed());
    }
}
