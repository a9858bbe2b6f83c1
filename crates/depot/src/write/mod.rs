//! Depot writers: an offline bundle ZIP ([`bundle`], depot-format §3.2) and an online depot
//! tree ([`tree`], §1), both from one [`DepotContent`] plus a [`VibSource`] that streams each
//! VIB's bytes.
//!
//! Every writer:
//! * validates the content first (safe relative paths, no duplicate IDs, no bulletin naming a
//!   VIB that is not there), so bad input fails before anything touches the disk;
//! * streams each VIB from the source into the output while computing its sha-256 and size
//!   ([`copy`]), and fails with the VIB's ID when they contradict its metadata — memory does
//!   not grow with VIB size;
//! * writes metadata that carries the true location, size and sha-256 of every VIB (a bare
//!   descriptor gets `vib20/<name>/<id>.vib`);
//! * is deterministic: same content, same bytes (everything sorted by identity, fixed ZIP
//!   timestamps, the metadata `timestamp` taken from the content, never from the clock);
//! * is atomic ([`atomic`]): output appears complete or not at all.

pub mod atomic;
pub mod bundle;
mod content;
pub mod copy;
pub mod tree;

use std::error::Error as StdError;
use std::io::{self, Read};
use std::path::PathBuf;

pub use bundle::{write_bundle, write_bundle_to};
pub use content::{DepotContent, METADATA_ZIP_FILE, Platform, VENDOR_INDEX_FILE};
pub use tree::{TREE_INDEX_FILES, vendor_directory, write_tree};

use crate::metadata_zip::MetadataArchive;
use crate::model::Vib;

/// Streams the bytes of one VIB file. The catalog implements it over its depots; the
/// generator implements it by regenerating each VIB from its seed.
pub trait VibSource {
    /// Open `vib` for reading. Errors should name the VIB ([`WriteError::from_source`] does).
    fn open_vib(&self, vib: &Vib) -> Result<Box<dyn Read + '_>, WriteError>;
}

/// What a writer produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The metadata as written, with every VIB's true location.
    pub metadata: MetadataArchive,
    /// Number of VIB files written.
    pub vib_count: usize,
    /// Total bytes of all VIB files.
    pub vib_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} already exists; refusing to replace it without the overwrite flag", path.display())]
    Exists { path: PathBuf },
    #[error("VIB {vib_id}: relative path '{path}' is unsafe: {reason}")]
    UnsafePath { vib_id: String, path: String, reason: &'static str },
    #[error("VIBs {first} and {second} would both be written to '{path}'")]
    PathCollision { first: String, second: String, path: String },
    /// Two VIBs, bulletins, image profiles or release units share an identity.
    #[error("{kind} {id} appears more than once in the depot content")]
    Duplicate { kind: &'static str, id: String },
    #[error("bulletin {bulletin} lists VIB {vib_id}, which is not in the depot content")]
    MissingVib { bulletin: String, vib_id: String },
    #[error(
        "VIB {vib_id}: its metadata declares checksum type '{checksum_type}'; only sha-256 and sha-1 can be verified"
    )]
    UnsupportedChecksum { vib_id: String, checksum_type: String },
    #[error("VIB {vib_id}: the source delivered {actual} bytes, its metadata says {expected}")]
    SizeMismatch { vib_id: String, expected: u64, actual: u64 },
    #[error("VIB {vib_id}: the source delivered more than the {expected} bytes its metadata says")]
    TooLong { vib_id: String, expected: u64 },
    #[error("VIB {vib_id}: {checksum_type} of the bytes from the source is {actual}, its metadata says {expected}")]
    ChecksumMismatch { vib_id: String, checksum_type: String, expected: String, actual: String },
    #[error("VIB {vib_id}: reading it from the source failed: {source}")]
    VibRead {
        vib_id: String,
        #[source]
        source: io::Error,
    },
    #[error("VIB {vib_id}: writing it to '{path}' failed: {source}")]
    VibWrite {
        vib_id: String,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("VIB {vib_id}: the source cannot provide it: {source}")]
    Source {
        vib_id: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("vendor code '{code}' cannot name the vendor directory of a depot tree: {reason}")]
    InvalidVendorCode { code: String, reason: &'static str },
    #[error("the depot content lists no platforms; the vendor index needs at least one")]
    NoPlatforms,
    #[error("writing '{member}': {source}")]
    Member {
        member: String,
        #[source]
        source: io::Error,
    },
}

impl WriteError {
    /// Wrap a [`VibSource`] implementation's own error, naming the VIB.
    pub fn from_source(vib_id: impl Into<String>, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Source { vib_id: vib_id.into(), source: source.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn member(member: &str, source: io::Error) -> Self {
        Self::Member { member: member.to_owned(), source }
    }
}

#[cfg(test)]
mod tests;
