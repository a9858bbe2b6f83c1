//! The one error type of this crate: every variant says which file, field or on-disk
//! structure it is about.

use std::io;
use std::path::PathBuf;

/// An error writing or reading an ISO image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IsoError {
    // --- the spec -------------------------------------------------------------------------
    /// The volume identifier is empty, too long or has a character ISO 9660 readers reject.
    #[error("invalid volume id {volume_id:?}: {reason}")]
    InvalidVolumeId { volume_id: String, reason: String },

    /// A file path (or the catalog path) is not an upper-case 8.3 ISO 9660 path.
    #[error("invalid ISO path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    /// Two files of the spec have the same path.
    #[error("duplicate ISO path {path:?}")]
    DuplicatePath { path: String },

    /// A path is used both as a file and as a directory.
    #[error("ISO path {path:?} is a file, but {other:?} needs it to be a directory")]
    FileDirectoryConflict { path: String, other: String },

    /// A boot field (`bios_boot`, `uefi_boot`, `catalog_path`) does not fit the files.
    #[error("{field} {path:?}: {reason}")]
    InvalidBoot { field: &'static str, path: String, reason: String },

    /// The USB-disk (hybrid) layout does not fit the boot images or its MBR boot code is too big.
    #[error("hybrid (USB-disk) layout: {reason}")]
    InvalidHybrid { reason: String },

    /// A file is too large for a single-extent ISO 9660 level 1 image (4 GiB - 1).
    #[error("file {path:?} is {size} bytes; ISO 9660 level 1 files must be below 4 GiB")]
    FileTooLarge { path: String, size: u64 },

    /// `modified` cannot be stored as an ISO 9660 date (years 1970..=2155 are accepted here).
    #[error("timestamp {modified} (unix seconds) cannot be stored in ISO 9660 dates: {reason}")]
    InvalidTimestamp { modified: i64, reason: String },

    // --- writing --------------------------------------------------------------------------
    /// A file source could not be opened or read.
    #[error("cannot read the content of {path:?} from {}", source_path.display())]
    Source {
        path: String,
        source_path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The ISO writer library refused the layout or failed while writing.
    #[error("ISO writer failed{}: {detail}", path.as_deref().map(|p| format!(" on {p:?}")).unwrap_or_default())]
    Writer { path: Option<String>, detail: String },

    /// The written image did not have the planned size (a bug, never expected).
    #[error("the image has {written} bytes but {planned} were planned")]
    SizeMismatch { planned: u64, written: u64 },

    /// An I/O error on the output or the image being read.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    // --- reading --------------------------------------------------------------------------
    /// The bytes are not an ISO 9660 image, or a structure in it is damaged.
    #[error("corrupt ISO image: {structure}: {detail}")]
    Corrupt { structure: &'static str, detail: String },

    /// A structure refers to bytes past the end of the image.
    #[error("corrupt ISO image: {structure} at byte {offset} (+{len}) lies past the image end ({image_len} bytes)")]
    OutOfBounds { structure: String, offset: u64, len: u64, image_len: u64 },

    /// A reader bound was hit (directory depth, record count, name length ...).
    #[error("ISO image exceeds a reader limit: {what} (limit {limit})")]
    LimitExceeded { what: &'static str, limit: u64 },

    /// A feature this reader does not support (interleaved files, block sizes other than 2048).
    #[error("unsupported ISO image: {0}")]
    Unsupported(String),

    /// No regular file of the image has that path.
    #[error("no file {path:?} in the ISO image")]
    NotFound { path: String },

    /// `read_file` was asked for a file larger than its limit.
    #[error("file {path:?} is {size} bytes, more than the limit of {limit}")]
    TooLarge { path: String, size: u64, limit: u64 },
}

impl IsoError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { op, path: path.into(), source }
    }

    pub(crate) fn corrupt(structure: &'static str, detail: impl Into<String>) -> Self {
        Self::Corrupt { structure, detail: detail.into() }
    }

    pub(crate) fn invalid_path(path: &str, reason: impl Into<String>) -> Self {
        Self::InvalidPath { path: path.to_owned(), reason: reason.into() }
    }
}
