//! Hashing while reading: every byte that passes is counted and digested, so checks and
//! copies make one pass over streams of any size.

use std::io::{self, ErrorKind, Read};

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Size and digests of a whole stream, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    pub size: u64,
    pub sha256: String,
    pub sha1: Option<String>,
}

/// Marker error a [`HashingReader`] returns when its limit is exceeded.
#[derive(Debug, thiserror::Error)]
#[error("stream exceeds the limit of {limit} bytes")]
pub struct StreamLimitExceeded {
    /// The limit.
    pub limit: u64,
}

/// A [`Read`] adapter that sha-256-hashes (and optionally sha-1-hashes) and counts
/// everything read through it, optionally failing once more than a limit has passed, so a
/// lying source cannot make a caller copy an unbounded stream before its size check.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    sha256: Sha256,
    sha1: Option<Sha1>,
    count: u64,
    limit: Option<u64>,
    limit_exceeded: bool,
    inner_failed: bool,
}

impl<R: Read> HashingReader<R> {
    /// Hashes everything read from `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            sha256: Sha256::new(),
            sha1: None,
            count: 0,
            limit: None,
            limit_exceeded: false,
            inner_failed: false,
        }
    }

    /// Builder form of [`HashingReader::with_limit`].
    #[must_use]
    pub fn limited(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Also compute the sha-1 (for checksums declared as `sha-1`).
    #[must_use]
    pub fn with_sha1(mut self) -> Self {
        self.sha1 = Some(Sha1::new());
        self
    }

    /// Like [`HashingReader::new`], but a read that takes the total past `limit` fails with
    /// an [`io::Error`] wrapping [`StreamLimitExceeded`].
    pub fn with_limit(inner: R, limit: u64) -> Self {
        Self { limit: Some(limit), ..Self::new(inner) }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether the limit was exceeded.
    pub fn limit_exceeded(&self) -> bool {
        self.limit_exceeded
    }

    /// Whether the inner reader returned an error (other than `Interrupted`).
    pub fn inner_failed(&self) -> bool {
        self.inner_failed
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Finishes: the lowercase hex sha-256 of everything read, and the byte count.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.sha256.finalize()), self.count)
    }

    /// Finishes with every digest computed (sha-1 only after [`HashingReader::with_sha1`]).
    pub fn finish_all(self) -> StreamDigest {
        StreamDigest {
            size: self.count,
            sha256: hex::encode(self.sha256.finalize()),
            sha1: self.sha1.map(|h| hex::encode(h.finalize())),
        }
    }

    fn limit_error(limit: u64) -> io::Error {
        io::Error::other(StreamLimitExceeded { limit })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let (true, Some(limit)) = (self.limit_exceeded, self.limit) {
            return Err(Self::limit_error(limit));
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
        let data = buf.get(..n).unwrap_or_default();
        self.sha256.update(data);
        if let Some(h) = &mut self.sha1 {
            h.update(data);
        }
        self.count += n as u64;
        if let Some(limit) = self.limit
            && self.count > limit
        {
            self.limit_exceeded = true;
            return Err(Self::limit_error(limit));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_limits() {
        let mut r = HashingReader::new(&b"abc"[..]).with_sha1();
        io::copy(&mut r, &mut io::sink()).unwrap();
        let d = r.finish_all();
        assert_eq!(d.size, 3);
        assert_eq!(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.sha1.as_deref(), Some("a9993e364706816aba3e25717850c26c9cd0d89d"));
        let mut r = HashingReader::with_limit(&b"abcd"[..], 3);
        assert!(io::copy(&mut r, &mut io::sink()).is_err());
        assert!(r.limit_exceeded() && !r.inner_failed());
    }
}
