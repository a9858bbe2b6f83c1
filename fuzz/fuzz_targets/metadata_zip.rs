//! Fuzz `MetadataArchive::read` (a `metadata.zip`) on arbitrary bytes: ZIP parsing with
//! checked entry names and capped sizes, then every member's document parser. Errors are
//! fine; panics, hangs and unbounded allocations are not.
#![no_main]

use std::io::Cursor;

use esxlcm_depot::archive::ArchiveLimits;
use esxlcm_depot::metadata_zip::MetadataArchive;
use libfuzzer_sys::fuzz_target;

/// Small caps so that ZIP bombs stop quickly.
const LIMITS: ArchiveLimits =
    ArchiveLimits { max_entries: 1_000, max_document_bytes: 1 << 20, max_nested_archive_bytes: 4 << 20 };

fuzz_target!(|data: &[u8]| {
    match MetadataArchive::read(Cursor::new(data), LIMITS) {
        Ok(archive) => {
            for vib in &archive.vibs {
                let _ = vib.id();
            }
            // Writing back what was read must not fail on odd content either.
            let _ = archive.write(Cursor::new(Vec::new()), "2024-01-01T00:00:00+00:00");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
