//! Fuzz the `IMGDB.TGZ` reader of the image builder (what `esxlcm image inspect` reads from
//! an untrusted ISO): gzip, tar headers (GNU long names, PAX), the member limits, and the
//! profile, VIB and bulletin documents inside. The first byte selects the input kind: odd,
//! the rest is a tar that the target gzips first (so mutations reach the tar and XML
//! parsers instead of breaking the deflate stream); even, the rest is read as is. What
//! reads is written back as an image database and must read back whole. Errors are fine;
//! panics, hangs and unbounded allocations are not.
#![no_main]

use std::io::Write;

use esxlcm_builder::imgdb::{ImgDbLimits, read_imgdb, write_imgdb};
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;

const LIMITS: ImgDbLimits = ImgDbLimits { max_entries: 1_000, max_entry_bytes: 1 << 20, max_total_bytes: 16 << 20 };

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let gzipped;
    let input = if selector & 1 == 1 {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        if gz.write_all(rest).is_err() {
            return;
        }
        let Ok(bytes) = gz.finish() else {
            return;
        };
        gzipped = bytes;
        &gzipped[..]
    } else {
        rest
    };
    let db = match read_imgdb(input, LIMITS) {
        Ok(db) => db,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let Some(profile) = db.profiles.first() else {
        return;
    };
    // The writer on what an untrusted image held: names are made path-safe, documents
    // re-serialised; the result must read back with one profile and no broken document.
    let vibs: Vec<_> = db.vibs.iter().collect();
    let bulletins: Vec<_> = db.bulletins.iter().collect();
    let written = match write_imgdb(profile, &vibs, &bulletins, "2024-01-02T03:04:05", 1_704_164_645) {
        Ok(w) => w,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let big = ImgDbLimits { max_entries: 100_000, max_entry_bytes: 64 << 20, max_total_bytes: 1 << 30 };
    let again = read_imgdb(&written[..], big);
    let again = match again {
        Ok(a) => a,
        Err(e) => panic!("a written image database does not read back: {e}"),
    };
    assert_eq!(again.profiles.len(), 1, "the profile is lost");
    assert!(again.errors.is_empty(), "written documents do not parse: {:?}", again.errors);
    assert!(again.other_files.is_empty(), "stray members: {:?}", again.other_files);
});
