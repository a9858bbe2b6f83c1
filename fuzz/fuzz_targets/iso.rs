//! Fuzz the ISO 9660 reader on arbitrary bytes: volume descriptors, the directory tree with
//! Rock Ridge (NM, CE, CL, RE) and Joliet names, multi-extent files and the El Torito
//! catalog, then read every listed file (whole, with a limit, and streamed). Errors are fine;
//! panics, hangs and unbounded allocations are not.
#![no_main]

use std::io::Read;

use esxlcm_iso::IsoImage;
use libfuzzer_sys::fuzz_target;

/// Files larger than this are read only through the streaming reader, in part.
const READ_LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let iso = match IsoImage::from_bytes(data.to_vec()) {
        Ok(iso) => iso,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = iso.volume_id();
    for entry in iso.boot_entries() {
        let _ = (entry.platform, entry.bootable, entry.load_size, entry.lba, &entry.path);
    }
    for entry in iso.files().iter().take(64) {
        // A damaged tree may list a path twice; then a lookup finds the first of them.
        let unique = iso.files().iter().filter(|e| e.path == entry.path).count() == 1;
        if let Ok(bytes) = iso.read_file(&entry.path, READ_LIMIT) {
            assert!(!unique || bytes.len() as u64 == entry.size, "read_file returned another size");
        }
        if let Ok(reader) = iso.open_file(&entry.path) {
            let mut sink = Vec::new();
            let _ = reader.take(READ_LIMIT).read_to_end(&mut sink);
        }
    }
});
