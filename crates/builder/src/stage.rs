//! Staging boot payloads: each VIB that carries boot modules is streamed once from its
//! depot (local or remote), its `ar` members are walked, and the wanted payloads are
//! copied to files in a staging directory while being hashed. Sizes and sha-256 are
//! checked against the descriptor, the whole VIB against its metadata, so an ISO never
//! carries bytes its image database contradicts. Memory stays flat whatever the size.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::Vib;
use esxlcm_depot::vib::{ArReader, HashingReader};

use crate::error::BuildError;
use crate::modules::{BootModule, ModulePlan};
use crate::progress::{Counter, Progress, ProgressReader, Stage};

/// Extract every module of `plan` into `dir` (one file per module, named by its 8.3 name).
/// Returns module file name → staged path.
pub fn stage_payloads(
    catalog: &Catalog,
    plan: &ModulePlan,
    vibs: &BTreeMap<String, std::sync::Arc<Vib>>,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let mut by_vib: BTreeMap<&str, Vec<&BootModule>> = BTreeMap::new();
    for m in plan.all() {
        by_vib.entry(m.vib_id.as_str()).or_default().push(m);
    }
    let total: u64 =
        by_vib.keys().filter_map(|id| vibs.get(*id).and_then(|v| v.location.as_ref()).map(|l| l.packed_size)).sum();
    progress.start(Stage::Payloads, total);
    let counter = RefCell::new(Counter { progress, done: 0 });
    let mut staged = BTreeMap::new();
    for (vib_id, modules) in by_vib {
        let vib = vibs.get(vib_id).ok_or_else(|| BuildError::VibContent {
            vib_id: vib_id.to_owned(),
            what: "it is not among the image's VIBs".into(),
        })?;
        stage_vib(catalog, vib, vib_id, &modules, dir, &counter, &mut staged)?;
    }
    Ok(staged)
}

fn stage_vib(
    catalog: &Catalog,
    vib: &Vib,
    vib_id: &str,
    modules: &[&BootModule],
    dir: &Path,
    counter: &RefCell<Counter<'_>>,
    staged: &mut BTreeMap<String, PathBuf>,
) -> Result<(), BuildError> {
    let content = |what: String| BuildError::VibContent { vib_id: vib_id.to_owned(), what };
    let reader = catalog
        .open_vib(vib_id)
        .map_err(|source| BuildError::VibOpen { vib_id: vib_id.to_owned(), source: Box::new(source) })?;
    let mut hashing = HashingReader::new(ProgressReader { inner: reader, progress: counter });
    if let Some(loc) = &vib.location {
        hashing = hashing.limited(loc.packed_size);
    }
    {
        let mut ar = ArReader::new(&mut hashing)
            .map_err(|source| BuildError::VibArchive { vib_id: vib_id.to_owned(), source })?;
        loop {
            let member =
                ar.next_member().map_err(|source| BuildError::VibArchive { vib_id: vib_id.to_owned(), source })?;
            let Some(mut member) = member else { break };
            let name = member.name().to_owned();
            let Some(module) = modules.iter().find(|m| m.payload == name) else { continue };
            if staged.contains_key(&module.file_name) {
                continue; // a repeated member name: the first one counts
            }
            let path = dir.join(&module.file_name);
            let digest = copy_member(&mut member, &path).map_err(|source| BuildError::Stage {
                vib_id: vib_id.to_owned(),
                payload: name.clone(),
                path: path.clone(),
                source,
            })?;
            let payload_err =
                |what: String| BuildError::Payload { vib_id: vib_id.to_owned(), payload: name.clone(), what };
            if digest.1 != module.size {
                return Err(payload_err(format!(
                    "the VIB holds {} bytes, its descriptor says {}",
                    digest.1, module.size
                )));
            }
            if let Some(expected) = &module.sha256
                && &digest.0 != expected
            {
                return Err(payload_err(format!("sha-256 is {}, its descriptor says {expected}", digest.0)));
            }
            staged.insert(module.file_name.clone(), path);
        }
    }
    if let Some(missing) = modules.iter().find(|m| !staged.contains_key(&m.file_name)) {
        return Err(BuildError::Payload {
            vib_id: vib_id.to_owned(),
            payload: missing.payload.clone(),
            what: "the descriptor lists it, the VIB file has no such member".into(),
        });
    }
    // The rest of the file still counts for the VIB's checksum.
    copy_chunks(&mut hashing, |_| Ok(())).map_err(|e| content(format!("reading it failed: {e}")))?;
    let over = hashing.limit_exceeded();
    let (sha256, size) = hashing.finish();
    if let Some(loc) = &vib.location {
        if over || size != loc.packed_size {
            return Err(content(format!("the file is not the {} bytes its metadata says", loc.packed_size)));
        }
        let ty = loc.checksum.checksum_type.trim().to_ascii_lowercase();
        let expected = loc.checksum.value.trim().to_ascii_lowercase();
        if (ty == "sha-256" || ty == "sha256") && sha256 != expected {
            return Err(content(format!("sha-256 of the file is {sha256}, its metadata says {expected}")));
        }
    }
    Ok(())
}

/// Bytes per read and write while staging. `io::copy`'s 8 KiB made one `pread` and one
/// `write` per 8 KiB (230,000 system calls for a 1 GiB image).
const STAGE_BUFFER: usize = 1 << 20;

/// Copy one member to a new file; returns (sha-256, size). Not fsynced: the file is only
/// read back by this build and removed after it (the ISO itself is fsynced), so most of it
/// never has to reach the disk.
fn copy_member(member: &mut impl Read, path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::options().write(true).create_new(true).open(path)?;
    let mut hashing = HashingReader::new(member);
    copy_chunks(&mut hashing, |chunk| file.write_all(chunk))?;
    Ok(hashing.finish())
}

/// Read `reader` to its end in [`STAGE_BUFFER`] chunks, handing each to `sink`.
fn copy_chunks(reader: &mut impl Read, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut buf = vec![0u8; STAGE_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(buf.get(..n).unwrap_or_default())?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
