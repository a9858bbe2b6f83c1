//! The bytes of a generated VIB: a real `ar` file (depot-format §4) holding the
//! descriptor, a `sig.pkcs7` (empty: community acceptance needs no signature; or the
//! config's signer's signature of the descriptor) and one
//! `vgz` payload: gzip of a small "visor tar" whose content comes from the payload seed
//! (with `boot_modules`, `esx-base` has two `boot` payloads of seeded bytes before it).
//! Everything is a pure function of the VIB's metadata, the seed (and the signer, which
//! must be deterministic), so a VIB can be
//! rebuilt byte for byte whenever it is read.

use std::io::Write;

use flate2::{Compression, GzBuilder};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::rng::{Filler, payload_seed};
use crate::model::{Checksum, Payload, Vib};
use crate::vib::{ArError, ArWriter};

const BLOCK: usize = 512;

/// Octal, zero-padded to `width - 1` digits, NUL-terminated (tar numeric fields).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len();
    let text = format!("{value:0w$o}", w = width - 1);
    let bytes = text.as_bytes();
    // Values that do not fit keep their low digits; generated sizes are far below 8 GiB.
    let start = bytes.len().saturating_sub(width - 1);
    for (dst, src) in field.iter_mut().zip(bytes.iter().skip(start)) {
        *dst = *src;
    }
    if let Some(last) = field.last_mut() {
        *last = 0;
    }
}

fn put(field: &mut [u8], text: &str) {
    for (dst, src) in field.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
}

/// One 512-byte header in the visor variant of ustar (magic `visor  \0`, §4.4).
fn header(name: &str, mode: u32, size: u64, directory: bool) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put(&mut h[0..99], name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = if directory { b'5' } else { b'0' };
    put(&mut h[257..265], "visor  \0");
    put(&mut h[265..297], "root");
    put(&mut h[297..329], "root");
    // Checksum: sum of all bytes with the checksum field read as spaces.
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    put(&mut h[148..156], &text);
    h
}

fn push_file(tar: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    tar.extend_from_slice(&header(name, mode, data.len() as u64, false));
    tar.extend_from_slice(data);
    let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
    tar.resize(tar.len() + pad, 0);
}

/// The visor tar of a VIB: its directories, then its `file_list` — the first file a
/// sticky-bit config file (preserved by ESXi), the rest binary filler from the seed.
fn visor_tar(seed: u64, vib: &Vib, bytes: (usize, usize)) -> Vec<u8> {
    let mut rng = Filler::new(payload_seed(seed, &vib.id()));
    let total = rng.range(bytes.0, bytes.1);
    let mut tar = Vec::with_capacity(total + 8 * BLOCK);
    let mut dirs: Vec<String> = Vec::new();
    for file in &vib.file_list {
        let mut prefix = String::new();
        for part in file.split('/').take(file.split('/').count().saturating_sub(1)) {
            prefix.push_str(part);
            prefix.push('/');
            if !dirs.contains(&prefix) {
                dirs.push(prefix.clone());
            }
        }
    }
    for dir in &dirs {
        tar.extend_from_slice(&header(dir, 0o755, 0, true));
    }
    let binaries = vib.file_list.len().saturating_sub(1).max(1);
    for (i, file) in vib.file_list.iter().enumerate() {
        if i == 0 {
            let text = format!(
                "# {} {} configuration\nenabled = true\nlevel = {}\n",
                vib.name,
                vib.version,
                rng.next_u64() % 10
            );
            push_file(&mut tar, file, 0o1644, text.as_bytes());
        } else {
            let mut data = vec![0u8; total / binaries];
            rng.fill(&mut data);
            push_file(&mut tar, file, 0o755, &data);
        }
    }
    tar.resize(tar.len() + 2 * BLOCK, 0);
    tar
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    // Fixed header fields (mtime 0, OS Unix): identical output on every platform. Level 1:
    // the filler is random, so harder levels only cost time (several times as much).
    let mut gz = GzBuilder::new().operating_system(3).write(Vec::with_capacity(data.len() + 64), Compression::fast());
    gz.write_all(data)?;
    gz.finish()
}

/// The payload member name: the first eight letters and digits of the VIB name, as
/// VMware shortens them (`vmkusb-n`), always a valid ar member name.
pub(crate) fn payload_name(vib_name: &str) -> String {
    let name: String = vib_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(8).collect();
    if name.is_empty() { "payload1".into() } else { name }
}

/// The stored payload of `vib` (gzip of its visor tar) and the tar itself.
pub(crate) fn payload_bytes(seed: u64, vib: &Vib, bytes: (usize, usize)) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let tar = visor_tar(seed, vib, bytes);
    let gz = gzip(&tar)?;
    Ok((gz, tar))
}

/// The descriptor record of a payload, with correct checksums: sha-256 of the stored
/// gzip, sha-256 and sha-1 of the gunzipped tar.
pub(crate) fn payload_record(vib_name: &str, gz: &[u8], tar: &[u8]) -> Payload {
    Payload {
        name: payload_name(vib_name),
        payload_type: "vgz".into(),
        size: gz.len() as u64,
        uncompressed_size: Some(tar.len() as u64),
        compression_option: None,
        checksums: vec![
            Checksum {
                checksum_type: "sha-256".into(),
                verify_process: Some("gunzip".into()),
                value: hex::encode(Sha256::digest(tar)),
            },
            Checksum::sha256(hex::encode(Sha256::digest(gz))),
            Checksum {
                checksum_type: "sha-1".into(),
                verify_process: Some("gunzip".into()),
                value: hex::encode(Sha1::digest(tar)),
            },
        ],
    }
}

/// Names of the `boot` payloads [`GeneratorConfig::boot_modules`](super::GeneratorConfig)
/// adds to `esx-base`: the kernel and a second boot module, as real base images have
/// (`b.b00`, `k.b00`, depot-format §7.2).
pub(crate) const BOOT_PAYLOADS: &[&str] = &["b", "k"];

/// A `boot` payload: gzip of filler bytes from the seed, the VIB ID and the payload name.
pub(crate) fn boot_payload_bytes(
    seed: u64,
    vib_id: &str,
    name: &str,
    bytes: (usize, usize),
) -> std::io::Result<Vec<u8>> {
    let mut rng = Filler::new(payload_seed(seed, &format!("{vib_id}/{name}")));
    let mut data = vec![0u8; rng.range(bytes.0, bytes.1)];
    rng.fill(&mut data);
    gzip(&data)
}

/// The descriptor record of a `boot` payload: its stored size and sha-256.
pub(crate) fn boot_payload_record(name: &str, gz: &[u8]) -> Payload {
    Payload {
        name: name.to_owned(),
        payload_type: "boot".into(),
        size: gz.len() as u64,
        uncompressed_size: None,
        compression_option: None,
        checksums: vec![Checksum::sha256(hex::encode(Sha256::digest(gz)))],
    }
}

/// The `.vib` file: `descriptor.xml` (the VIB without its depot location), `sig.pkcs7`
/// (empty, or what `signer` makes of the descriptor), the payloads (the bytes of each of
/// `vib.payloads`, in that order).
pub(crate) fn vib_file(vib: &Vib, payloads: &[&[u8]], signer: Option<&super::VibSigner>) -> Result<Vec<u8>, ArError> {
    let mut descriptor = vib.clone();
    descriptor.location = None;
    let descriptor = descriptor.to_xml();
    let total: usize = payloads.iter().map(|p| p.len()).sum();
    let mut ar = ArWriter::new(Vec::with_capacity(descriptor.len() + total + 256));
    ar.append_bytes("descriptor.xml", &descriptor)?;
    let signature = signer.map(|s| s.sign(&descriptor)).unwrap_or_default();
    ar.append_bytes("sig.pkcs7", &signature)?;
    for (i, payload) in payloads.iter().enumerate() {
        let name = vib.payloads.get(i).map_or_else(|| payload_name(&vib.name), |p| p.name.clone());
        ar.append_bytes(&name, payload)?;
    }
    ar.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_have_valid_checksums() {
        let h = header("etc/vmware/x.conf", 0o1644, 42, false);
        let stored = std::str::from_utf8(&h[148..154]).unwrap();
        let mut copy = h;
        copy[148..156].fill(b' ');
        let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
        assert_eq!(u64::from_str_radix(stored, 8).unwrap(), sum);
        assert_eq!(&h[257..265], b"visor  \0");
        assert_eq!(std::str::from_utf8(&h[124..135]).unwrap(), "00000000052");
        assert_eq!(payload_name("vmkusb-nic-fling"), "vmkusb-n");
    }
}
