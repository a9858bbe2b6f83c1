//! ESXi depot formats: the index chain, metadata zips, VIB files and offline bundles.
//!
//! This crate does no network I/O of its own: online depots are read through the
//! [`source::Fetch`] trait, which the binary and the server implement.

pub mod archive;
pub mod catalog;
pub mod check;
pub mod digest;
pub mod generate;
pub mod input;
pub mod metadata_zip;
pub mod model;
pub mod selection;
pub mod source;
pub mod vib;
pub mod write;
pub mod xml;

pub use esxlcm_version::Version;
