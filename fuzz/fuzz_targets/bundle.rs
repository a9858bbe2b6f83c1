//! Fuzz opening an offline bundle (or a bare VIB) from a file: ZIP container, zip-in-zip
//! unwrapping, the index chain, metadata zips, and VIB path resolution, then read the
//! start of each VIB through the container. Errors are fine; panics, hangs and unbounded
//! allocations are not.
#![no_main]

use std::io::{Read, Write};

use esxlcm_depot::archive::ArchiveLimits;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::source::{Depot, OpenOptions};
use libfuzzer_sys::fuzz_target;

const LIMITS: ArchiveLimits =
    ArchiveLimits { max_entries: 1_000, max_document_bytes: 1 << 20, max_nested_archive_bytes: 4 << 20 };

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).and_then(|()| file.flush()).is_err() {
        return;
    }
    let options = OpenOptions { limits: LIMITS, ..OpenOptions::default() };
    let depot = match Depot::open_path(file.path(), &options) {
        Ok(d) => d,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let mut paths = Vec::new();
    for (meta, vib) in depot.all_vibs() {
        if let Ok(path) = depot.vib_path(meta, vib) {
            paths.push(path);
        }
    }
    for path in paths.iter().take(8) {
        if let Ok(reader) = depot.container.open(path) {
            let mut buf = Vec::new();
            let _ = reader.take(64 << 10).read_to_end(&mut buf);
        }
    }
    let _ = Catalog::from_depots([depot]);
});
