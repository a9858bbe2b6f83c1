//! Streaming a VIB from a [`VibSource`] into an output while digesting it, so that a
//! writer never holds a whole VIB and never publishes bytes its metadata contradicts.

use std::io::{self, Read};

use crate::digest::HashingReader;

use super::content::PlannedVib;
use super::{VibSource, WriteError};
use crate::model::{Checksum, Vib, VibLocation};

/// Copy one VIB through `sink` (which must read to EOF) and return its metadata with the
/// true location. Fails, naming the VIB, when the bytes contradict a declared location.
pub(crate) fn copy_vib(
    planned: &PlannedVib<'_>,
    source: &dyn VibSource,
    sink: impl FnOnce(&mut dyn Read) -> io::Result<()>,
) -> Result<Vib, WriteError> {
    let expected = planned.expected.as_ref();
    let reader = source.open_vib(planned.vib)?;
    let mut digesting = HashingReader::new(reader);
    if expected.is_some_and(|e| e.sha1) {
        digesting = digesting.with_sha1();
    }
    if let Some(e) = expected {
        digesting = digesting.limited(e.size);
    }
    if let Err(source) = sink(&mut digesting) {
        let vib_id = planned.id.clone();
        return Err(if digesting.limit_exceeded() {
            WriteError::TooLong { vib_id, expected: expected.map_or(0, |e| e.size) }
        } else if digesting.inner_failed() {
            WriteError::VibRead { vib_id, source }
        } else {
            WriteError::VibWrite { vib_id, path: planned.path.clone(), source }
        });
    }
    let digest = digesting.finish_all();
    if let Some(e) = expected {
        if digest.size != e.size {
            return Err(WriteError::SizeMismatch { vib_id: planned.id.clone(), expected: e.size, actual: digest.size });
        }
        let actual = if e.sha1 { digest.sha1.clone().unwrap_or_default() } else { digest.sha256.clone() };
        if actual != e.value {
            return Err(WriteError::ChecksumMismatch {
                vib_id: planned.id.clone(),
                checksum_type: e.checksum_type.clone(),
                expected: e.value.clone(),
                actual,
            });
        }
    }
    let mut vib = planned.vib.clone();
    vib.location = Some(VibLocation {
        relative_path: planned.path.clone(),
        source_url: planned.vib.location.as_ref().and_then(|l| l.source_url.clone()),
        packed_size: digest.size,
        checksum: Checksum::sha256(digest.sha256),
    });
    Ok(vib)
}
