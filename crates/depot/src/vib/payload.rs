//! Single-pass streaming digests of one VIB payload, and their comparison with the checksums a
//! descriptor declares (depot-format §4.4).
//!
//! [`digest_payload`] reads the stored payload bytes once. A [`HashingReader`] tees them into
//! the stored sha-256 while they feed the decompressors, whose output is hashed as it comes:
//!
//! | payload `type` | decompression | digests |
//! |---|---|---|
//! | `vgz`, `tgz` | gunzip (must start with gzip magic) | stored; decompressed sha-256, sha-1, size |
//! | `vzstd` | gunzip, then zstd | stored; `sha-256-gunzip1` (after the gzip layer); fully decompressed sha-256, sha-1, size |
//! | `boot`, anything else | gunzip only if the bytes start with gzip magic `1f 8b` | stored; decompressed ones when gunzip succeeded |
//!
//! The `boot`/unknown rule is deliberately lenient: such payloads are not declared as
//! compressed, so a gunzip failure there is not an error; the decompressed digests are simply
//! absent and [`PayloadDigests::gunzip_error`] says why. (Any decompressed checksum the
//! descriptor still declares then shows up as [`PayloadMismatch::NotComputed`].)
//!
//! Memory is bounded by fixed buffers (gzip's 32 KiB input buffer, one 64 KiB output buffer,
//! zstd's window, capped at 2^[`ZSTD_WINDOW_LOG_MAX`] bytes); nothing is collected. Every
//! decompressed stream is counted against the caller's limit, which fails with
//! [`PayloadError::LimitExceeded`] instead of inflating a bomb to the end.

use std::fmt;
use std::io::{self, Cursor, ErrorKind, Read};

use flate2::read::MultiGzDecoder;
use sha1::Sha1;

pub use crate::digest::{HashingReader, StreamLimitExceeded};
use sha2::{Digest, Sha256};

/// First two bytes of every gzip member.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest zstd window accepted (2^27 = 128 MiB, zstd's own default limit; VMware's
/// `level=18` payloads use 2^23). Bounds decoder memory for hostile frames.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// Size of the buffer decompressed output is read through.
const OUT_BUF_LEN: usize = 64 * 1024;

/// How a payload `type` attribute is treated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadKind {
    /// `vgz`: gzip of a visor tar.
    Vgz,
    /// `tgz`: gzip of a visor tar (community tools).
    Tgz,
    /// `vzstd`: gzip wrapper around a zstd stream of a visor tar (ESXi 9).
    Vzstd,
    /// `boot`: kernel/boot module, gzip or not.
    Boot,
    /// Any other type string, kept as given.
    Other(String),
}

impl PayloadKind {
    /// Maps a descriptor `type` attribute (case-insensitive, trimmed).
    pub fn parse(payload_type: &str) -> Self {
        let t = payload_type.trim();
        if t.eq_ignore_ascii_case("vgz") {
            Self::Vgz
        } else if t.eq_ignore_ascii_case("tgz") {
            Self::Tgz
        } else if t.eq_ignore_ascii_case("vzstd") {
            Self::Vzstd
        } else if t.eq_ignore_ascii_case("boot") {
            Self::Boot
        } else {
            Self::Other(payload_type.to_owned())
        }
    }

    /// The type string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Vgz => "vgz",
            Self::Tgz => "tgz",
            Self::Vzstd => "vzstd",
            Self::Boot => "boot",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Digests of one payload. All hex strings are lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadDigests {
    /// Bytes as stored in the ar member.
    pub stored_size: u64,
    /// sha-256 of the stored bytes (`checksum-type="sha-256"`).
    pub stored_sha256: String,
    /// sha-256 of the fully decompressed tar (`sha-256`, `verify-process="gunzip"`).
    pub gunzip_sha256: Option<String>,
    /// sha-1 of the fully decompressed tar (`sha-1`, `verify-process="gunzip"`).
    pub gunzip_sha1: Option<String>,
    /// Size of the fully decompressed tar (`uncompressed-size`).
    pub uncompressed_size: Option<u64>,
    /// `vzstd` only: sha-256 after removing one gzip layer (`sha-256-gunzip1`).
    pub gunzip1_sha256: Option<String>,
    /// `vzstd` only: size after removing one gzip layer (the zstd stream).
    pub gunzip1_size: Option<u64>,
    /// `boot`/unknown types that start with gzip magic but failed to gunzip: the reason the
    /// decompressed digests are absent.
    pub gunzip_error: Option<String>,
}

/// Errors computing payload digests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Reading the stored bytes failed (for example a truncated ar member).
    #[error("reading {payload_type} payload failed: {source}")]
    Read {
        /// Payload type.
        payload_type: String,
        /// The reader's error.
        #[source]
        source: io::Error,
    },

    /// A type declared as gzip-compressed does not start with gzip magic.
    #[error("{payload_type} payload is not gzip data: starts with {found:?}")]
    NotGzip {
        /// Payload type.
        payload_type: String,
        /// First bytes, hex.
        found: String,
    },

    /// The gzip stream is corrupt.
    #[error("{payload_type} payload: gunzip failed: {source}")]
    Gunzip {
        /// Payload type.
        payload_type: String,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// The zstd stream inside a `vzstd` payload is corrupt.
    #[error("{payload_type} payload: zstd decompression failed: {source}")]
    Zstd {
        /// Payload type.
        payload_type: String,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// Decompressed output exceeded the caller's limit.
    #[error("{payload_type} payload: {stage} output exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// Payload type.
        payload_type: String,
        /// Which stream: `"gunzip"` or `"zstd"`.
        stage: &'static str,
        /// The limit.
        limit: u64,
    },
}

/// Reads until `buf` is full or EOF.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Digests of a fully decompressed stream.
struct OutputDigests {
    sha256: String,
    sha1: String,
    size: u64,
}

enum OutputError {
    Io(io::Error),
    Limit,
}

/// Hashes (sha-256 and sha-1) and counts a decompressed stream through a fixed buffer.
fn hash_output<R: Read>(mut r: R, limit: u64) -> Result<OutputDigests, OutputError> {
    let mut sha256 = Sha256::new();
    let mut sha1 = Sha1::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; OUT_BUF_LEN];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(OutputError::Io(e)),
        };
        size += n as u64;
        if size > limit {
            return Err(OutputError::Limit);
        }
        let data = buf.get(..n).unwrap_or_default();
        sha256.update(data);
        sha1.update(data);
    }
    Ok(OutputDigests { sha256: hex::encode(sha256.finalize()), sha1: hex::encode(sha1.finalize()), size })
}

/// Computes the digests of one payload in a single pass over `reader` (the stored bytes).
///
/// `decompressed_limit` caps every decompressed stream (the gunzip output and, for `vzstd`,
/// the zstd output); exceeding it is [`PayloadError::LimitExceeded`]. Bytes after the end of
/// the compressed data are still hashed into the stored digest (gzip and zstd decoders read to
/// EOF, so trailing garbage in a declared-compressed payload is an error).
pub fn digest_payload<R: Read>(
    reader: R,
    payload_type: &str,
    decompressed_limit: u64,
) -> Result<PayloadDigests, PayloadError> {
    let kind = PayloadKind::parse(payload_type);
    let ptype = || kind.as_str().to_owned();
    let read_err = |source| PayloadError::Read { payload_type: ptype(), source };

    let mut stored = HashingReader::new(reader);
    let mut head = [0u8; 2];
    let got = read_full(&mut stored, &mut head).map_err(read_err)?;
    let head = head.get(..got).unwrap_or_default();
    let is_gzip = head == GZIP_MAGIC;
    let declared_gzip = matches!(kind, PayloadKind::Vgz | PayloadKind::Tgz | PayloadKind::Vzstd);
    if declared_gzip && !is_gzip {
        return Err(PayloadError::NotGzip { payload_type: ptype(), found: hex::encode(head) });
    }

    let mut digests = PayloadDigests::default();
    let mut input = Cursor::new(head).chain(&mut stored);

    if kind == PayloadKind::Vzstd {
        let gz = MultiGzDecoder::new(&mut input);
        let mut mid = HashingReader::with_limit(gz, decompressed_limit);
        let result = zstd_output(&mut mid, decompressed_limit);
        // The zstd decoder reads its input to EOF; drain anything it left anyway so that
        // `sha-256-gunzip1` covers the whole gunzipped stream.
        let result = result.and_then(|out| match io::copy(&mut mid, &mut io::sink()) {
            Ok(_) => Ok(out),
            Err(e) => Err(Stage::Gunzip(e)),
        });
        let (mid_limit, mid_failed) = (mid.limit_exceeded(), mid.inner_failed());
        let stored_failed = mid.get_ref().get_ref().get_ref().1.inner_failed();
        let (gunzip1_sha256, gunzip1_size) = mid.finish();
        match result {
            Ok(out) => {
                digests.gunzip_sha256 = Some(out.sha256);
                digests.gunzip_sha1 = Some(out.sha1);
                digests.uncompressed_size = Some(out.size);
                digests.gunzip1_sha256 = Some(gunzip1_sha256);
                digests.gunzip1_size = Some(gunzip1_size);
            }
            Err(stage) => {
                return Err(classify(stage, &kind, decompressed_limit, stored_failed, mid_limit, mid_failed));
            }
        }
    } else if is_gzip {
        let mut gz = MultiGzDecoder::new(&mut input);
        let result = hash_output(&mut gz, decompressed_limit);
        let stored_failed = gz.get_ref().get_ref().1.inner_failed();
        match result {
            Ok(out) => {
                digests.gunzip_sha256 = Some(out.sha256);
                digests.gunzip_sha1 = Some(out.sha1);
                digests.uncompressed_size = Some(out.size);
            }
            Err(OutputError::Limit) => {
                return Err(PayloadError::LimitExceeded {
                    payload_type: ptype(),
                    stage: "gunzip",
                    limit: decompressed_limit,
                });
            }
            Err(OutputError::Io(source)) if stored_failed => {
                return Err(read_err(source));
            }
            Err(OutputError::Io(source)) if declared_gzip => {
                return Err(PayloadError::Gunzip { payload_type: ptype(), source });
            }
            Err(OutputError::Io(source)) => {
                // Lenient: a boot/unknown payload that merely looks like gzip.
                digests.gunzip_error = Some(source.to_string());
            }
        }
    }

    io::copy(&mut input, &mut io::sink()).map_err(read_err)?;
    let (stored_sha256, stored_size) = stored.finish();
    digests.stored_sha256 = stored_sha256;
    digests.stored_size = stored_size;
    Ok(digests)
}

/// Where a `vzstd` pipeline failed.
enum Stage {
    /// Reading the zstd decoder's output failed (cause decided by [`classify`]).
    Zstd(io::Error),
    /// The zstd output exceeded the limit.
    ZstdLimit,
    /// Draining the gunzip layer failed.
    Gunzip(io::Error),
}

fn zstd_output<R: Read>(mid: R, limit: u64) -> Result<OutputDigests, Stage> {
    let mut decoder = zstd::stream::read::Decoder::new(mid).map_err(Stage::Zstd)?;
    decoder.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(Stage::Zstd)?;
    match hash_output(&mut decoder, limit) {
        Ok(out) => Ok(out),
        Err(OutputError::Limit) => Err(Stage::ZstdLimit),
        Err(OutputError::Io(e)) => Err(Stage::Zstd(e)),
    }
}

/// Attributes a `vzstd` pipeline failure to the layer that caused it.
fn classify(
    stage: Stage,
    kind: &PayloadKind,
    limit: u64,
    stored_failed: bool,
    mid_limit: bool,
    mid_failed: bool,
) -> PayloadError {
    let payload_type = kind.as_str().to_owned();
    let source = match stage {
        Stage::ZstdLimit => {
            return PayloadError::LimitExceeded { payload_type, stage: "zstd", limit };
        }
        Stage::Zstd(e) | Stage::Gunzip(e) => e,
    };
    if mid_limit {
        PayloadError::LimitExceeded { payload_type, stage: "gunzip", limit }
    } else if stored_failed {
        PayloadError::Read { payload_type, source }
    } else if mid_failed {
        PayloadError::Gunzip { payload_type, source }
    } else {
        PayloadError::Zstd { payload_type, source }
    }
}

/// A checksum declared in a descriptor (`<checksum checksum-type=".." verify-process="..">hex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedChecksum {
    /// `checksum-type`, e.g. `sha-256`, `sha-1`, `sha-256-gunzip1`.
    pub checksum_type: String,
    /// `verify-process`, e.g. `gunzip`; `None` when absent.
    pub verify_process: Option<String>,
    /// The hex value (compared case-insensitively).
    pub value: String,
}

impl ExpectedChecksum {
    /// Convenience constructor.
    pub fn new(checksum_type: &str, verify_process: Option<&str>, value: &str) -> Self {
        Self {
            checksum_type: checksum_type.to_owned(),
            verify_process: verify_process.map(str::to_owned),
            value: value.to_owned(),
        }
    }
}

/// The checksum kinds this module computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumKind {
    /// `sha-256` over the stored bytes.
    StoredSha256,
    /// `sha-256` with `verify-process="gunzip"`: the fully decompressed tar.
    GunzipSha256,
    /// `sha-1` with `verify-process="gunzip"`: the fully decompressed tar.
    GunzipSha1,
    /// `sha-256-gunzip1`: after removing one gzip layer.
    Gunzip1Sha256,
}

impl ChecksumKind {
    /// Recognises a declared checksum (type and verify-process case-insensitive; an empty
    /// verify-process counts as absent). `None` for unsupported combinations.
    pub fn of(checksum: &ExpectedChecksum) -> Option<Self> {
        let t = checksum.checksum_type.trim().to_ascii_lowercase();
        let vp =
            checksum.verify_process.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_ascii_lowercase);
        match (t.as_str(), vp.as_deref()) {
            ("sha-256", None) => Some(Self::StoredSha256),
            ("sha-256", Some("gunzip")) => Some(Self::GunzipSha256),
            ("sha-1", Some("gunzip")) => Some(Self::GunzipSha1),
            ("sha-256-gunzip1", None) => Some(Self::Gunzip1Sha256),
            _ => None,
        }
    }

    /// The computed value of this kind, if it was computed.
    pub fn actual(self, digests: &PayloadDigests) -> Option<&str> {
        match self {
            Self::StoredSha256 => Some(digests.stored_sha256.as_str()),
            Self::GunzipSha256 => digests.gunzip_sha256.as_deref(),
            Self::GunzipSha1 => digests.gunzip_sha1.as_deref(),
            Self::Gunzip1Sha256 => digests.gunzip1_sha256.as_deref(),
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::StoredSha256 => "sha-256",
            Self::GunzipSha256 => "sha-256 (verify-process=gunzip)",
            Self::GunzipSha1 => "sha-1 (verify-process=gunzip)",
            Self::Gunzip1Sha256 => "sha-256-gunzip1",
        })
    }
}

fn describe_unsupported(checksum_type: &str, verify_process: &Option<String>) -> String {
    match verify_process {
        Some(vp) => format!("{checksum_type:?} (verify-process={vp:?})"),
        None => format!("{checksum_type:?}"),
    }
}

/// One disagreement between a payload and its declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadMismatch {
    /// Stored size differs from `size`.
    #[error("payload size: declared {expected}, actual {actual}")]
    Size {
        /// Declared.
        expected: u64,
        /// Computed.
        actual: u64,
    },
    /// Decompressed size differs from `uncompressed-size`.
    #[error("uncompressed size: declared {expected}, actual {actual}")]
    UncompressedSize {
        /// Declared.
        expected: u64,
        /// Computed.
        actual: u64,
    },
    /// `uncompressed-size` declared but the payload was not decompressed.
    #[error("uncompressed size {expected} declared, but the payload was not decompressed")]
    UncompressedSizeNotComputed {
        /// Declared.
        expected: u64,
    },
    /// A checksum differs.
    #[error("{kind} checksum: declared {expected}, actual {actual}")]
    Checksum {
        /// Which checksum.
        kind: ChecksumKind,
        /// Declared (as given).
        expected: String,
        /// Computed (lowercase).
        actual: String,
    },
    /// A recognised checksum that does not apply to how this payload was decoded (e.g. a
    /// gunzip checksum on an uncompressed payload, `sha-256-gunzip1` on `vgz`).
    #[error("{kind} checksum {expected} declared, but it was not computed for this payload")]
    NotComputed {
        /// Which checksum.
        kind: ChecksumKind,
        /// Declared.
        expected: String,
    },
    /// A checksum type / verify-process this module does not know.
    #[error(
        "unsupported checksum {} = {value}",
        describe_unsupported(.checksum_type, .verify_process)
    )]
    Unsupported {
        /// `checksum-type` as given.
        checksum_type: String,
        /// `verify-process` as given.
        verify_process: Option<String>,
        /// Declared value.
        value: String,
    },
}

/// Compares computed digests with a payload's declared checksums and sizes. An empty result
/// means everything declared matched. Hex is compared case-insensitively; unknown checksum
/// types are reported as [`PayloadMismatch::Unsupported`], never skipped.
pub fn compare(
    digests: &PayloadDigests,
    expected: &[ExpectedChecksum],
    declared_size: Option<u64>,
    declared_uncompressed: Option<u64>,
) -> Vec<PayloadMismatch> {
    let mut out = Vec::new();
    if let Some(size) = declared_size
        && size != digests.stored_size
    {
        out.push(PayloadMismatch::Size { expected: size, actual: digests.stored_size });
    }
    if let Some(size) = declared_uncompressed {
        match digests.uncompressed_size {
            Some(actual) if actual == size => {}
            Some(actual) => out.push(PayloadMismatch::UncompressedSize { expected: size, actual }),
            None => out.push(PayloadMismatch::UncompressedSizeNotComputed { expected: size }),
        }
    }
    for checksum in expected {
        let Some(kind) = ChecksumKind::of(checksum) else {
            out.push(PayloadMismatch::Unsupported {
                checksum_type: checksum.checksum_type.clone(),
                verify_process: checksum.verify_process.clone(),
                value: checksum.value.clone(),
            });
            continue;
        };
        match kind.actual(digests) {
            Some(actual) if actual.eq_ignore_ascii_case(checksum.value.trim()) => {}
            Some(actual) => out.push(PayloadMismatch::Checksum {
                kind,
                expected: checksum.value.clone(),
                actual: actual.to_owned(),
            }),
            None => out.push(PayloadMismatch::NotComputed { kind, expected: checksum.value.clone() }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sha256(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn sha1(data: &[u8]) -> String {
        hex::encode(Sha1::digest(data))
    }

    const TAR: &[u8] = b"pretend this is a visor tar, repeated repeated repeated repeated";

    #[test]
    fn vgz_and_tgz() {
        let stored = gzip(TAR);
        for t in ["vgz", "tgz", "VGZ"] {
            let d = digest_payload(&stored[..], t, 1 << 20).unwrap();
            assert_eq!(d.stored_size, stored.len() as u64);
            assert_eq!(d.stored_sha256, sha256(&stored));
            assert_eq!(d.gunzip_sha256.as_deref(), Some(sha256(TAR).as_str()));
            assert_eq!(d.gunzip_sha1.as_deref(), Some(sha1(TAR).as_str()));
            assert_eq!(d.uncompressed_size, Some(TAR.len() as u64));
            assert_eq!(d.gunzip1_sha256, None);
        }
    }

    #[test]
    fn concatenated_gzip_members() {
        let mut stored = gzip(&TAR[..10]);
        stored.extend(gzip(&TAR[10..]));
        let d = digest_payload(&stored[..], "vgz", 1 << 20).unwrap();
        assert_eq!(d.gunzip_sha256.unwrap(), sha256(TAR));
    }

    #[test]
    fn vzstd() {
        let zst = zstd::encode_all(TAR, 3).unwrap();
        let stored = gzip(&zst);
        let d = digest_payload(&stored[..], "vzstd", 1 << 20).unwrap();
        assert_eq!(d.stored_sha256, sha256(&stored));
        assert_eq!(d.gunzip1_sha256.as_deref(), Some(sha256(&zst).as_str()));
        assert_eq!(d.gunzip1_size, Some(zst.len() as u64));
        assert_eq!(d.gunzip_sha256.as_deref(), Some(sha256(TAR).as_str()));
        assert_eq!(d.gunzip_sha1.as_deref(), Some(sha1(TAR).as_str()));
        assert_eq!(d.uncompressed_size, Some(TAR.len() as u64));
    }

    #[test]
    fn boot_and_unknown_are_lenient() {
        let plain = b"\x7fELF not compressed";
        for t in ["boot", "weird"] {
            let d = digest_payload(&plain[..], t, 10).unwrap();
            assert_eq!(d.stored_sha256, sha256(plain));
            assert_eq!(d.stored_size, plain.len() as u64);
            assert_eq!((d.gunzip_sha256, d.uncompressed_size), (None, None));
        }
        let gz = gzip(TAR);
        let d = digest_payload(&gz[..], "boot", 1 << 20).unwrap();
        assert_eq!(d.gunzip_sha256.unwrap(), sha256(TAR));
        // Gzip magic but not gzip: stored digest only, with the reason.
        let fake = b"\x1f\x8b but not really gzip at all";
        let d = digest_payload(&fake[..], "boot", 1 << 20).unwrap();
        assert_eq!(d.stored_sha256, sha256(fake));
        assert_eq!(d.stored_size, fake.len() as u64);
        assert!(d.gunzip_sha256.is_none());
        assert!(d.gunzip_error.is_some());
        // Empty payloads.
        let d = digest_payload(&b""[..], "boot", 0).unwrap();
        assert_eq!(d.stored_sha256, sha256(b""));
    }

    #[test]
    fn errors() {
        let err = digest_payload(TAR, "vgz", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::NotGzip { .. }), "{err}");
        assert_eq!(err.to_string(), "vgz payload is not gzip data: starts with \"7072\"");
        let mut corrupt = gzip(TAR);
        let n = corrupt.len();
        corrupt[n - 6] ^= 0xff; // CRC
        let err = digest_payload(&corrupt[..], "vgz", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::Gunzip { .. }), "{err}");
        // A gzip stream whose content is not zstd.
        let err = digest_payload(&gzip(TAR)[..], "vzstd", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::Zstd { .. }), "{err}");
        // Truncated input surfaces as a read/gunzip failure, never a success.
        let stored = gzip(TAR);
        let err = digest_payload(&stored[..stored.len() / 2], "vgz", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::Gunzip { .. }), "{err}");
    }

    #[test]
    fn read_errors_are_attributed_to_the_input() {
        struct Failing(Vec<u8>, usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Err(io::Error::other("network down"));
                }
                let n = buf.len().min(self.0.len() - self.1).min(7);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let stored = gzip(TAR);
        let half = stored[..stored.len() / 2].to_vec();
        let err = digest_payload(Failing(half.clone(), 0), "vgz", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::Read { .. }), "{err}");
        let zst = gzip(&zstd::encode_all(TAR, 3).unwrap());
        let half = zst[..zst.len() / 2].to_vec();
        let err = digest_payload(Failing(half, 0), "vzstd", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::Read { .. }), "{err}");
    }

    #[test]
    fn decompression_bomb_is_stopped() {
        let big = vec![0u8; 4 << 20];
        let stored = gzip(&big);
        let err = digest_payload(&stored[..], "vgz", 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "vgz payload: gunzip output exceeds the limit of 1048576 bytes");
        // Exactly at the limit is fine.
        assert!(digest_payload(&stored[..], "vgz", 4 << 20).is_ok());

        let zst = zstd::encode_all(&big[..], 3).unwrap();
        let stored = gzip(&zst);
        let err = digest_payload(&stored[..], "vzstd", 1 << 20).unwrap_err();
        assert!(matches!(err, PayloadError::LimitExceeded { stage: "zstd", .. }), "{err}");
        // A gzip layer bigger than the limit is stopped before zstd sees all of it.
        let err = digest_payload(&stored[..], "vzstd", 16).unwrap_err();
        assert!(matches!(err, PayloadError::LimitExceeded { stage: "gunzip", .. }), "{err}");
    }

    #[test]
    fn compare_reports_every_kind_of_mismatch() {
        let zst = zstd::encode_all(TAR, 3).unwrap();
        let stored = gzip(&zst);
        let d = digest_payload(&stored[..], "vzstd", 1 << 20).unwrap();
        let good = [
            ExpectedChecksum::new("sha-256", None, &d.stored_sha256.to_uppercase()),
            ExpectedChecksum::new("sha-256", Some("gunzip"), &sha256(TAR)),
            ExpectedChecksum::new("sha-1", Some("gunzip"), &sha1(TAR)),
            ExpectedChecksum::new("sha-256-gunzip1", None, &sha256(&zst)),
            ExpectedChecksum::new("SHA-256", Some(""), &d.stored_sha256),
        ];
        assert_eq!(compare(&d, &good, Some(stored.len() as u64), Some(TAR.len() as u64)), []);

        let bad = [
            ExpectedChecksum::new("sha-256", None, "00"),
            ExpectedChecksum::new("md5", None, "abc"),
            ExpectedChecksum::new("sha-1", None, "abc"),
        ];
        let m = compare(&d, &bad, Some(1), Some(2));
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[0], PayloadMismatch::Size { expected: 1, actual: stored.len() as u64 });
        assert!(matches!(m[1], PayloadMismatch::UncompressedSize { expected: 2, .. }));
        assert!(matches!(m[2], PayloadMismatch::Checksum { kind: ChecksumKind::StoredSha256, .. }));
        assert_eq!(m[3].to_string(), r#"unsupported checksum "md5" = abc"#);
        assert!(matches!(&m[4], PayloadMismatch::Unsupported { checksum_type, .. } if checksum_type == "sha-1"));

        let plain = digest_payload(&b"raw"[..], "boot", 10).unwrap();
        let m = compare(&plain, &[ExpectedChecksum::new("sha-1", Some("gunzip"), "ab")], None, Some(3));
        assert_eq!(
            m,
            [
                PayloadMismatch::UncompressedSizeNotComputed { expected: 3 },
                PayloadMismatch::NotComputed { kind: ChecksumKind::GunzipSha1, expected: "ab".into() }
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            t in proptest::sample::select(vec!["vgz", "tgz", "vzstd", "boot", "x"]),
        ) {
            let mut input = GZIP_MAGIC.to_vec();
            input.extend(&data);
            let _ = digest_payload(&input[..], t, 4096);
            let _ = digest_payload(&data[..], t, 4096);
        }
    }
}
