//! The only module that talks to `hadris-iso` (pinned `=3.0.0-rc.2`, a release candidate
//! with a young API): it turns a validated [`IsoSpec`] into a hadris tree and options, plans
//! the exact size, and writes the image through a sequential, hashing sink.
//!
//! Layout choices, all fixed so the same spec gives the same bytes:
//! * ISO 9660 level 1 (8.3 names, single extents), Joliet and Rock Ridge (both optional); deep directories
//!   are refused, never relocated (the spec validation already limits depth).
//! * El Torito: the BIOS entry first (the default entry: no emulation, load size 4,
//!   boot-info-table), then the UEFI entry in its own section (platform 0xEF, no emulation),
//!   the catalog visible at `catalog_path`. This is what
//!   `mkisofs -b … -no-emul-boot -boot-load-size 4 -boot-info-table -eltorito-alt-boot -e …`
//!   writes for ESXi.
//! * Hybrid (USB-disk) images: a GPT with an EFI system partition over the UEFI image plus a
//!   hybrid MBR (BIOS and UEFI), or an MBR alone without a UEFI image; the MBR boot code,
//!   when given, gets the BIOS image's sector address at bytes 432..440 (`isohdpfx.bin`).
//! * Every date is `modified` (expiration left unspecified); no attribute comes from the host.
//!
//! hadris writes each block once, in ascending order, and reads file content in 64 KiB
//! chunks, so memory does not grow with file sizes. The sink buffers output in 1 MiB so
//! small directory and descriptor writes do not each cost a syscall, and asks for early
//! writeback every 64 MiB (`writeback.rs`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use hadris_fs::{Content, DateTime, Node, PathError, Tree};
use hadris_io::ErrorType;
use hadris_iso::{
    AppendedPartition, BootEntry, BootInfo, ElTorito, Hybrid, IsoDate, IsoId, IsoLevel, IsoOptions, NameCase,
    Relocation,
};
use hadris_storage::{BlockIndex, BlockSize};
use sha2::{Digest, Sha256};

use crate::writeback::{WRITEBACK_STEP, Writeback, with_writeback};
use crate::{IsoError, IsoSource, IsoSpec, WriteOptions};

const SECTOR: u64 = 2048;
/// BIOS no-emulation boot: four 512-byte sectors, as ISOLINUX and ESXi's media use.
const BIOS_LOAD_SECTORS: u16 = 4;
/// Output buffer: large enough to batch directory/descriptor blocks and 64 KiB file chunks.
const OUT_BUFFER: usize = 1 << 20;
/// `progress` is called at most once per this many bytes (and at the start and end).
const PROGRESS_STEP: u64 = 8 << 20;
/// Level 1 files have one extent, whose length is a 32-bit field.
const MAX_FILE: u64 = u32::MAX as u64;

/// A spec turned into hadris input, with its exact size.
pub(crate) struct Planned<'s> {
    spec: &'s IsoSpec,
    tree: Tree,
    options: IsoOptions,
    pub(crate) size: u64,
}

/// Validate `spec`, build the tree (stat'ing file sources, reading none) and plan it.
pub(crate) fn plan(spec: &IsoSpec, extensions: WriteOptions) -> Result<Planned<'_>, IsoError> {
    crate::spec::validate(spec)?;
    let mut tree = Tree::new();
    let mut uefi_content = None;
    for file in &spec.files {
        let content = match &file.source {
            IsoSource::Bytes(bytes) => Content::bytes(bytes.clone()),
            IsoSource::File(source_path) => hadris_fs::host::file(source_path).map_err(|e| IsoError::Source {
                path: file.path.clone(),
                source_path: source_path.clone(),
                source: io::Error::other(e.to_string()),
            })?,
        };
        if content.len() > MAX_FILE {
            return Err(IsoError::FileTooLarge { path: file.path.clone(), size: content.len() });
        }
        for (field, boot) in [("bios_boot", &spec.bios_boot), ("uefi_boot", &spec.uefi_boot)] {
            if boot.as_deref() == Some(file.path.as_str()) {
                check_boot_image(field, &file.path, content.len())?;
            }
        }
        if spec.uefi_boot.as_deref() == Some(file.path.as_str()) {
            uefi_content = Some(content.clone());
        }
        tree.insert(file.path.as_str(), Node::file(content)).map_err(|e| writer_error(spec, e))?;
    }
    let options = options(spec, extensions, uefi_content)?;
    let report = hadris_iso::plan(&tree, &options).map_err(|e| writer_error(spec, e))?;
    for warning in report.warnings() {
        tracing::warn!(%warning, "ISO layout warning");
    }
    Ok(Planned { spec, tree, options, size: report.size() })
}

fn check_boot_image(field: &'static str, path: &str, len: u64) -> Result<(), IsoError> {
    // The boot-info-table occupies bytes 8..64 of the BIOS image; El Torito needs some bytes.
    let min = if field == "bios_boot" { 64 } else { 1 };
    if len < min {
        return Err(IsoError::InvalidBoot {
            field,
            path: path.to_owned(),
            reason: format!("the boot image has {len} bytes, at least {min} are needed"),
        });
    }
    Ok(())
}

fn options(spec: &IsoSpec, extensions: WriteOptions, uefi_content: Option<Content>) -> Result<IsoOptions, IsoError> {
    let time = DateTime::from_unix_seconds(spec.modified)
        .map_err(|e| IsoError::InvalidTimestamp { modified: spec.modified, reason: e.to_string() })?;
    let mut options = IsoOptions::new()
        .with_id(IsoId::Volume, &spec.volume_id)
        .with_id(IsoId::Application, "ESXLCM")
        .with_level(IsoLevel::L1)
        .with_name_case(NameCase::Upper)
        .with_relocation(Relocation::Refuse)
        .with_time(time)
        .with_date(IsoDate::Created, time)
        .with_date(IsoDate::Modified, time)
        .with_date(IsoDate::Effective, time);
    if extensions.joliet {
        options = options.with_joliet();
    }
    if extensions.rock_ridge {
        options = options.with_rock_ridge();
    }
    if spec.bios_boot.is_some() || spec.uefi_boot.is_some() {
        let mut el_torito = ElTorito::new();
        if let Some(bios) = &spec.bios_boot {
            el_torito = el_torito
                .with_entry(BootEntry::bios(bios).with_load_size(BIOS_LOAD_SECTORS).with_boot_info(BootInfo::Table));
        }
        if let Some(uefi) = &spec.uefi_boot {
            el_torito = el_torito.with_entry(BootEntry::uefi(uefi));
        }
        options = options.with_el_torito(el_torito.with_catalog_path(&spec.catalog_path));
    }
    if let Some(hybrid) = &spec.hybrid {
        // The GPT's EFI system partition covers the UEFI El Torito image, so one FAT image
        // serves optical media and disks alike.
        let mut table = if spec.uefi_boot.is_some() { Hybrid::gpt_hybrid_mbr() } else { Hybrid::mbr() };
        if let Some(code) = &hybrid.mbr_boot_code {
            table = table.with_bootstrap(code);
        }
        // hadris lays the EFI system partition over a UEFI image only when it follows a
        // default (BIOS) entry; a UEFI-only image gets a copy of it as an appended partition
        // instead (the El Torito entry still boots the file).
        if spec.bios_boot.is_none()
            && let Some(content) = uefi_content
        {
            table = table.with_appended(AppendedPartition::esp(content));
        }
        options = options.with_hybrid(table);
    }
    Ok(options)
}

/// A hadris error, with the spec file it names (tree paths come back with a leading `/`).
fn writer_error(spec: &IsoSpec, err: PathError) -> IsoError {
    let path = err.path().map(|p| String::from_utf8_lossy(p).trim_start_matches('/').to_owned());
    if let (Some(path), Some(io_err)) = (&path, err.downcast_device::<io::Error>()) {
        let source = spec.files.iter().find(|f| &f.path == path).and_then(|f| match &f.source {
            IsoSource::File(p) => Some(p.clone()),
            IsoSource::Bytes(_) => None,
        });
        if let Some(source_path) = source {
            return IsoError::Source {
                path: path.clone(),
                source_path,
                source: io::Error::new(io_err.kind(), io_err.to_string()),
            };
        }
    }
    IsoError::Writer { path, detail: err.to_string() }
}

/// Write the planned image to `out` (positioned at 0, empty). Returns the SHA-256.
pub(crate) fn write(
    planned: &Planned<'_>,
    out: &mut File,
    dest: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<String, IsoError> {
    write_with_step(planned, out, dest, progress, WRITEBACK_STEP)
}

/// [`write`] asking for writeback every `step` bytes.
fn write_with_step(
    planned: &Planned<'_>,
    out: &mut File,
    dest: &Path,
    progress: &mut dyn FnMut(u64, u64),
    step: u64,
) -> Result<String, IsoError> {
    let total = planned.size;
    progress(0, total);
    with_writeback(out, step, dest, |out, writeback| {
        let mut sink = Sink {
            out: BufWriter::with_capacity(OUT_BUFFER, out),
            next_block: 0,
            hasher: Sha256::new(),
            done: 0,
            total,
            reported: 0,
            progress,
            writeback,
            failure: None,
        };
        let result = hadris_iso::sync::write(&mut sink, &planned.tree, &planned.options);
        if let Some(err) = sink.failure.take() {
            return Err(IsoError::io("write", dest, err));
        }
        result.map_err(|e| writer_error(planned.spec, e))?;
        // hadris writes every block up to the planned end; pad defensively if a trailing gap
        // was left unwritten, so the file always has the planned size.
        if sink.done < total {
            sink.pad_to(total).map_err(|e| IsoError::io("write", dest, e))?;
        }
        if sink.done != total {
            return Err(IsoError::SizeMismatch { planned: total, written: sink.done });
        }
        sink.out.flush().map_err(|e| IsoError::io("write", dest, e))?;
        (sink.progress)(total, total);
        Ok(hex::encode(sink.hasher.finalize()))
    })
}

/// A growable, write-once, ascending block device over a buffered file: it hashes what it
/// writes and reports progress. Gaps (blocks hadris skips) are written as zeros.
struct Sink<'a, 'p> {
    out: BufWriter<&'a mut File>,
    next_block: u64,
    hasher: Sha256,
    done: u64,
    total: u64,
    reported: u64,
    progress: &'p mut dyn FnMut(u64, u64),
    writeback: Writeback,
    /// The real I/O error; hadris only sees a generic device failure.
    failure: Option<io::Error>,
}

impl Sink<'_, '_> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.done += bytes.len() as u64;
        self.writeback.written(self.done);
        if self.done - self.reported >= PROGRESS_STEP {
            self.reported = self.done;
            (self.progress)(self.done, self.total);
        }
        Ok(())
    }

    fn pad_to(&mut self, end: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        while self.done < end {
            let n = (end - self.done).min(ZEROS.len() as u64) as usize;
            self.put(&ZEROS[..n])?;
        }
        self.next_block = self.done / SECTOR;
        Ok(())
    }

    fn fail(&mut self, err: io::Error) -> hadris_io::Error<io::Error> {
        let out = hadris_io::Error::device(io::Error::new(err.kind(), err.to_string()), "writing the image failed");
        self.failure = Some(err);
        out
    }
}

impl ErrorType for Sink<'_, '_> {
    type Error = io::Error;
}

impl hadris_storage::sync::BlockDevice for Sink<'_, '_> {
    fn block_size(&self) -> BlockSize {
        const SIZE: BlockSize = match BlockSize::new(SECTOR as u32) {
            Some(size) => size,
            None => panic!("2048 is a valid block size"),
        };
        SIZE
    }

    fn block_count(&self) -> u64 {
        self.next_block
    }

    fn max_block_count(&self) -> u64 {
        u64::MAX / SECTOR
    }

    fn writable(&self) -> bool {
        true
    }

    fn read_blocks(&mut self, _first: BlockIndex, _buf: &mut [u8]) -> Result<(), hadris_io::Error<io::Error>> {
        // Only session writers read back; a fresh image never does.
        Err(hadris_io::Error::new(hadris_io::ErrorKind::Unsupported, "the ISO output is write-only"))
    }

    fn write_blocks(&mut self, first: BlockIndex, buf: &[u8]) -> Result<(), hadris_io::Error<io::Error>> {
        let first = first.get();
        if first < self.next_block || !(buf.len() as u64).is_multiple_of(SECTOR) {
            let err = io::Error::other(format!(
                "the ISO writer wrote block {first} ({} bytes) after block {}: output must be sequential",
                buf.len(),
                self.next_block
            ));
            return Err(self.fail(err));
        }
        let written = self.pad_to(first * SECTOR).and_then(|()| self.put(buf));
        if let Err(err) = written {
            return Err(self.fail(err));
        }
        self.next_block = first + buf.len() as u64 / SECTOR;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), hadris_io::Error<io::Error>> {
        if let Err(err) = self.out.flush() {
            return Err(self.fail(err));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read;

    use super::*;
    use crate::{IsoFile, IsoSpec};

    /// Writeback requested after nearly every block changes nothing in the bytes: the image
    /// and its hash are those of a write that never asks.
    #[test]
    fn early_writeback_leaves_the_bytes_alone() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let spec = IsoSpec {
            volume_id: "WRITEBACK".into(),
            files: vec![
                IsoFile { path: "A.B00".into(), source: IsoSource::Bytes(payload.clone()) },
                IsoFile { path: "EFI/BOOT/BOOT.CFG".into(), source: IsoSource::Bytes(b"kernel=/a.b00\n".to_vec()) },
            ],
            bios_boot: None,
            uefi_boot: None,
            catalog_path: "BOOT.CAT".into(),
            hybrid: None,
            modified: 1_700_000_000,
        };
        let planned = plan(&spec, WriteOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut images = Vec::new();
        for step in [SECTOR, u64::MAX] {
            let path = dir.path().join(format!("{step}.iso"));
            let mut file = File::create(&path).unwrap();
            let sha = write_with_step(&planned, &mut file, &path, &mut |_, _| {}, step).unwrap();
            let mut bytes = Vec::new();
            File::open(&path).unwrap().read_to_end(&mut bytes).unwrap();
            assert_eq!(bytes.len() as u64, planned.size);
            assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
            images.push(bytes);
        }
        assert!(images[0] == images[1]);
    }
}
