//! Online depot tree (depot-format §1), ready to be served by any static HTTP server:
//!
//! ```text
//! <dest>/index.xml                      vendor list (what PowerCLI and offline readers open)
//! <dest>/vmw-depot-index.xml            the same bytes (what vLCM / VMware's depots use)
//! <dest>/<code>/vendor-index.xml        vendor index; <code> = vendor code, lowercased
//! <dest>/<code>/metadata.zip            the metadata, url relative to the vendor index
//! <dest>/<code>/vib20/<name>/<id>.vib   VIBs, relativePath relative to the vendor index
//! ```
//!
//! The vendor entry's `relativePath` is `<code>/`, like UMDS's per-vendor directories
//! (§1.5), so several vendors' trees can later share one root without clashing.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::atomic::StagedDir;
use super::content::plan;
use super::copy::copy_vib;
use super::{DepotContent, METADATA_ZIP_FILE, VENDOR_INDEX_FILE, VibSource, WriteError, Written};

/// The vendor list is written under both names (offline readers open `index.xml`,
/// VMware's online depots are rooted at `vmw-depot-index.xml`).
pub const TREE_INDEX_FILES: [&str; 2] = ["index.xml", "vmw-depot-index.xml"];

/// The vendor directory of a tree, with its trailing `/`: the vendor code, lowercased.
/// Codes that cannot be a portable directory name are refused rather than mangled, so
/// the directory always reads as the code.
pub fn vendor_directory(code: &str) -> Result<String, WriteError> {
    let dir = code.trim().to_ascii_lowercase();
    let reject = |reason| Err(WriteError::InvalidVendorCode { code: code.to_owned(), reason });
    if dir.is_empty() {
        return reject("it is empty");
    }
    if !dir.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return reject("only letters, digits, '-', '_' and '.' are allowed");
    }
    if dir.starts_with('.') {
        return reject("it must not start with '.'");
    }
    if TREE_INDEX_FILES.contains(&dir.as_str()) {
        return reject("it is the name of the depot index");
    }
    Ok(format!("{dir}/"))
}

/// Write an online depot tree at `dest` atomically (see the module docs for the layout).
/// Without `overwrite` an existing `dest` is refused; with it, the old tree is replaced
/// only once the new one is complete.
pub fn write_tree(
    content: &DepotContent,
    source: &dyn VibSource,
    dest: &Path,
    overwrite: bool,
) -> Result<Written, WriteError> {
    let plan = plan(content)?;
    let vendor_dir = vendor_directory(&content.vendor_code)?;
    let staged = StagedDir::new(dest, overwrite)?;
    let write_bytes = |rel: &str, bytes: &[u8]| {
        staged.write_file(rel, |file| file.write_all(bytes).map_err(|e| WriteError::member(rel, e)))
    };

    let mut located = Vec::with_capacity(plan.vibs.len());
    let mut vib_bytes = 0u64;
    for planned in &plan.vibs {
        let rel = format!("{vendor_dir}{}", planned.path);
        let vib = staged.write_file(&rel, |file: &mut File| {
            copy_vib(planned, source, |reader| {
                let mut out = BufWriter::new(file);
                io::copy(reader, &mut out)?;
                out.flush()
            })
        })?;
        vib_bytes += vib.location.as_ref().map_or(0, |l| l.packed_size);
        located.push(vib);
    }

    let vendor_list = content.vendor_list(&vendor_dir).to_xml();
    for name in TREE_INDEX_FILES {
        write_bytes(name, &vendor_list)?;
    }
    write_bytes(&format!("{vendor_dir}{VENDOR_INDEX_FILE}"), &content.vendor_index().to_xml())?;
    let vib_count = located.len();
    let metadata = plan.metadata(located);
    let metadata_rel = format!("{vendor_dir}{METADATA_ZIP_FILE}");
    staged.write_file(&metadata_rel, |file| {
        let out = metadata
            .write(BufWriter::new(file), &content.timestamp)
            .map_err(|e| WriteError::member(&metadata_rel, e))?;
        out.into_inner().map_err(|e| WriteError::member(&metadata_rel, e.into_error()))?;
        Ok(())
    })?;
    staged.commit()?;
    Ok(Written { metadata, vib_count, vib_bytes })
}
