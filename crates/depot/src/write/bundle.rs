//! Offline bundle ZIP (depot-format §3.2):
//!
//! ```text
//! vib20/<name>/<id>.vib    every VIB at its (validated) relative path, sorted by VIB ID
//! index.xml                one vendor: indexfile vendor-index.xml, empty relativePath
//! vendor-index.xml         one metadata entry per platform, url metadata.zip
//! metadata.zip             vmware.xml, vendor-index.xml copy, bulletins/, vibs/, ...
//! ```
//!
//! VIBs come first because the metadata records the size and sha-256 measured while they
//! were copied; readers go through the central directory, so member order is irrelevant
//! (real bundles vary, §2.1).

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use super::atomic;
use super::content::{Plan, metadata_zip_bytes, plan};
use super::copy::copy_vib;
use super::{DepotContent, METADATA_ZIP_FILE, VENDOR_INDEX_FILE, VibSource, WriteError, Written};
use crate::archive::DeterministicZip;

/// Name of the vendor list in a bundle; readers always start there (§3.2).
pub const BUNDLE_INDEX_FILE: &str = "index.xml";

/// Write an offline bundle to `dest` atomically. Without `overwrite` an existing file is
/// refused. On error nothing is left at `dest`.
pub fn write_bundle(
    content: &DepotContent,
    source: &dyn VibSource,
    dest: &Path,
    overwrite: bool,
) -> Result<Written, WriteError> {
    let plan = plan(content)?;
    atomic::write_file(dest, overwrite, |file: &mut File| {
        let (writer, written) = write_plan(&plan, source, BufWriter::new(file))?;
        writer.into_inner().map_err(|e| WriteError::io(dest, e.into_error()))?;
        Ok(written)
    })
}

/// Write an offline bundle into any seekable writer (memory, a socket-backed spool, ...).
/// Not atomic by itself: on error the writer holds a partial archive.
pub fn write_bundle_to<W: Write + Seek>(
    content: &DepotContent,
    source: &dyn VibSource,
    writer: W,
) -> Result<(W, Written), WriteError> {
    let plan = plan(content)?;
    write_plan(&plan, source, writer)
}

fn write_plan<W: Write + Seek>(plan: &Plan<'_>, source: &dyn VibSource, writer: W) -> Result<(W, Written), WriteError> {
    let content = plan.content;
    let mut zip = DeterministicZip::new(writer);
    let mut located = Vec::with_capacity(plan.vibs.len());
    let mut vib_bytes = 0u64;
    for planned in &plan.vibs {
        // The size only decides whether the member needs ZIP64; a bare descriptor's VIB is
        // assumed to be under 4 GiB (writing a larger one fails with the VIB's ID).
        let size_hint = planned.expected.as_ref().map_or(0, |e| e.size);
        let vib = copy_vib(planned, source, |reader| zip.add_reader(&planned.path, size_hint, reader).map(|_| ()))?;
        vib_bytes += vib.location.as_ref().map_or(0, |l| l.packed_size);
        located.push(vib);
    }
    let add = |zip: &mut DeterministicZip<W>, name: &str, bytes: &[u8]| {
        zip.add_bytes(name, bytes).map_err(|e| WriteError::member(name, e))
    };
    add(&mut zip, BUNDLE_INDEX_FILE, &content.vendor_list("").to_xml())?;
    add(&mut zip, VENDOR_INDEX_FILE, &content.vendor_index().to_xml())?;
    let vib_count = located.len();
    let metadata = plan.metadata(located);
    add(&mut zip, METADATA_ZIP_FILE, &metadata_zip_bytes(&metadata, &content.timestamp)?)?;
    let writer = zip.finish().map_err(|e| WriteError::member("(central directory)", e))?;
    Ok((writer, Written { metadata, vib_count, vib_bytes }))
}
