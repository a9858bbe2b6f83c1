//! Forging a ZIP's headers after it is written, for tests of hostile archives: the `zip`
//! crate writes only honest archives (true sizes, regular files), so the lies are patched in.

/// Sets the declared uncompressed size of `name` in its central and local headers.
pub fn forge_size(zip: Vec<u8>, name: &str, size: u32) -> Vec<u8> {
    patch_headers(zip, name, |zip, central, local| {
        zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
        zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    })
}

/// Sets the unix mode of `name` (made by Unix, mode in the high half of the external
/// attributes), e.g. `0o120777` for a symbolic link.
pub fn set_unix_mode(zip: Vec<u8>, name: &str, mode: u32) -> Vec<u8> {
    patch_headers(zip, name, |zip, central, _| {
        zip[central + 5] = 3;
        zip[central + 38..central + 42].copy_from_slice(&(mode << 16).to_le_bytes());
    })
}

/// Calls `patch` with the offsets of the central and local headers of `name` (which must
/// be in the archive).
pub fn patch_headers(mut zip: Vec<u8>, name: &str, patch: impl Fn(&mut Vec<u8>, usize, usize)) -> Vec<u8> {
    let le16 = |z: &[u8], at: usize| usize::from(u16::from_le_bytes([z[at], z[at + 1]]));
    let le32 = |z: &[u8], at: usize| u32::from_le_bytes([z[at], z[at + 1], z[at + 2], z[at + 3]]) as usize;
    let eocd = zip.windows(4).rposition(|w| w == [0x50, 0x4b, 0x05, 0x06]).unwrap();
    let mut at = le32(&zip, eocd + 16);
    let mut found = false;
    while zip[at..at + 4] == [0x50, 0x4b, 0x01, 0x02] {
        let (n, m, k) = (le16(&zip, at + 28), le16(&zip, at + 30), le16(&zip, at + 32));
        if &zip[at + 46..at + 46 + n] == name.as_bytes() {
            let local = le32(&zip, at + 42);
            patch(&mut zip, at, local);
            found = true;
        }
        at += 46 + n + m + k;
    }
    assert!(found, "no entry {name}");
    zip
}
