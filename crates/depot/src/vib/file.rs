//! One streaming pass over a whole `.vib` file: its size and sha-256, the exact
//! `descriptor.xml` bytes, `sig.pkcs7`, and the digests of every payload.
//!
//! Memory stays flat whatever the payload size: payloads are hashed as they stream by.

use std::io::{self, Read};

use super::ar::{ArError, ArReader};
use super::payload::{HashingReader, PayloadDigests, PayloadError, digest_payload};

/// Caps for one VIB's members read into memory.
const MAX_DESCRIPTOR_BYTES: u64 = 16 << 20;
const MAX_SIGNATURE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VibFileError {
    #[error(transparent)]
    Ar(#[from] ArError),
    #[error("the first member is '{found}', expected 'descriptor.xml'")]
    NoDescriptor { found: String },
    #[error("member '{member}' is {size} bytes; the limit is {limit}")]
    MemberTooLarge { member: String, size: u64, limit: u64 },
    #[error("payload '{member}': {source}")]
    Payload { member: String, source: PayloadError },
    #[error("reading the VIB: {0}")]
    Io(#[from] io::Error),
    #[error("the VIB file is empty")]
    Empty,
}

/// What one pass over a `.vib` found.
#[derive(Debug, Clone, Default)]
pub struct VibFileSummary {
    pub size: u64,
    pub sha256_hex: String,
    /// `descriptor.xml` exactly as stored (the signed bytes).
    pub descriptor: Vec<u8>,
    /// `sig.pkcs7` as stored (`None` when the member is missing, empty vec when empty).
    pub signature: Option<Vec<u8>>,
    /// (member name, digests) for every member after the descriptor and signature.
    pub payloads: Vec<(String, PayloadDigests)>,
}

/// How to treat payload members.
pub struct PayloadPlan<'a> {
    /// Payload type by member name, from the descriptor; `None` when hashing is skipped.
    pub type_of: &'a dyn Fn(&[u8], &str) -> Option<String>,
    /// Cap on any decompressed stream.
    pub decompressed_limit: u64,
}

/// Read a VIB without looking into payloads beyond the stored bytes.
pub fn read_vib_file(reader: impl Read) -> Result<VibFileSummary, VibFileError> {
    let plan = PayloadPlan { type_of: &|_, _| None, decompressed_limit: 0 };
    scan_vib_file(reader, &plan)
}

/// Read a VIB; for each payload the plan names a type for, compute its digests (with
/// decompression). `type_of` gets the descriptor bytes and the member name.
pub fn scan_vib_file(reader: impl Read, plan: &PayloadPlan<'_>) -> Result<VibFileSummary, VibFileError> {
    let mut hashing = HashingReader::new(reader);
    let mut summary = VibFileSummary::default();
    {
        let mut ar = ArReader::new(&mut hashing)?;
        let mut index = 0usize;
        while let Some(mut member) = ar.next_member()? {
            let name = member.name().to_owned();
            let size = member.size();
            match (index, name.as_str()) {
                (0, "descriptor.xml") => {
                    summary.descriptor = read_capped(&mut member, &name, size, MAX_DESCRIPTOR_BYTES)?;
                }
                (0, _) => return Err(VibFileError::NoDescriptor { found: name }),
                (_, "sig.pkcs7") => {
                    summary.signature = Some(read_capped(&mut member, &name, size, MAX_SIGNATURE_BYTES)?);
                }
                _ => {
                    let digests = match (plan.type_of)(&summary.descriptor, &name) {
                        Some(ptype) => digest_payload(&mut member, &ptype, plan.decompressed_limit)
                            .map_err(|source| VibFileError::Payload { member: name.clone(), source })?,
                        None => stored_digests(&mut member)?,
                    };
                    summary.payloads.push((name, digests));
                }
            }
            index += 1;
        }
        if index == 0 {
            return Err(VibFileError::Empty);
        }
    }
    // Anything after the last member still belongs to the file's checksum.
    io::copy(&mut hashing, &mut io::sink())?;
    let (sha, size) = hashing.finish();
    summary.sha256_hex = sha;
    summary.size = size;
    Ok(summary)
}

/// Only the stored bytes' sha-256 and size, without decompressing.
fn stored_digests(member: &mut impl Read) -> io::Result<PayloadDigests> {
    let mut hashing = HashingReader::new(member);
    io::copy(&mut hashing, &mut io::sink())?;
    let (stored_sha256, stored_size) = hashing.finish();
    Ok(PayloadDigests { stored_size, stored_sha256, ..PayloadDigests::default() })
}

fn read_capped(r: &mut impl Read, member: &str, size: u64, limit: u64) -> Result<Vec<u8>, VibFileError> {
    if size > limit {
        return Err(VibFileError::MemberTooLarge { member: member.to_owned(), size, limit });
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.read_to_end(&mut out)?;
    Ok(out)
}
