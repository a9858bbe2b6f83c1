//! Fuzz the streaming `ar` reader and the payload digester on arbitrary bytes.
//!
//! Every member is read through `ArReader`; alternate members are either read fully or left
//! unread (exercising the skip path), and each member is also run through `digest_payload` with
//! a small decompression limit, under a payload type chosen from the input. Errors are fine;
//! panics, hangs and unbounded allocations are not.
#![no_main]

use std::io::Read;

use esxlcm_depot::vib::ar::ArReader;
use esxlcm_depot::vib::payload::digest_payload;
use libfuzzer_sys::fuzz_target;

/// Small enough that decompression bombs stop quickly.
const DECOMPRESSED_LIMIT: u64 = 1 << 20;
/// Member cap lower than the default to keep iterations fast.
const MAX_MEMBERS: usize = 64;
const TYPES: [&str; 5] = ["vgz", "tgz", "vzstd", "boot", "unknown"];

fuzz_target!(|data: &[u8]| {
    // First byte picks how payloads are treated; the rest is the archive.
    let Some((&selector, archive)) = data.split_first() else {
        return;
    };
    let Ok(mut reader) = ArReader::with_max_members(archive, MAX_MEMBERS) else {
        return;
    };
    let mut index = 0usize;
    while let Ok(Some(mut member)) = reader.next_member() {
        let _ = (member.name(), member.size(), member.index());
        let payload_type = TYPES[(usize::from(selector) + index) % TYPES.len()];
        match (usize::from(selector) + index) % 3 {
            0 => {
                let mut sink = Vec::new();
                let _ = (&mut member).take(1 << 20).read_to_end(&mut sink);
            }
            1 => {
                let _ = digest_payload(&mut member, payload_type, DECOMPRESSED_LIMIT);
            }
            _ => {} // leave unread: next_member must skip it
        }
        index += 1;
    }
});
