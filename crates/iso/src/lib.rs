//! ESXi installer ISO images: a deterministic writer and a bounded reader.
//!
//! **Writing** ([`write_iso`]): an [`IsoSpec`] lists every file by its ISO path
//! (upper-case 8.3 names, `/`-separated), the BIOS and UEFI El Torito images and the boot
//! catalog path. The image carries ISO 9660 level 1, Joliet and Rock Ridge trees with the same
//! names, the BIOS entry with load size 4 and a boot-info-table, the UEFI entry (platform
//! 0xEF) in its own section — the layout of
//! `mkisofs -relaxed-filenames -J -R -b ISOLINUX.BIN -c BOOT.CAT -no-emul-boot
//! -boot-load-size 4 -boot-info-table -eltorito-alt-boot -e EFIBOOT.IMG -no-emul-boot`
//! (depot-format §7.1). Every timestamp is [`IsoSpec::modified`], so the same spec gives
//! the same bytes; [`plan_size`] gives the exact size first. File sources are streamed, the
//! output is written atomically and hashed on the way.
//!
//! The layout engine is `hadris-iso`, used only by the private `hadris` module.
//!
//! **Reading** ([`IsoImage`]): our own small ISO 9660 / Rock Ridge `NM` / Joliet / El Torito
//! reader for untrusted images: bounded, never panicking, streaming file contents.

mod atomic;
mod error;
mod hadris;
mod read;
mod spec;
mod writeback;

use std::path::{Path, PathBuf};

pub use error::IsoError;
pub use read::{BootEntry, BootPlatform, IsoEntry, IsoImage, MbrPartition, SystemArea};

/// What to put into an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoSpec {
    /// The volume identifier, e.g. `ESXI-8.0.3`: 1 to 32 of `A-Z 0-9 _ - .`.
    pub volume_id: String,
    /// Every file; directories are implied by the paths.
    pub files: Vec<IsoFile>,
    /// Path of the no-emulation BIOS boot image (e.g. `ISOLINUX.BIN`): the default El Torito
    /// entry, load size 4, boot-info-table patched into the written copy.
    pub bios_boot: Option<String>,
    /// Path of the UEFI boot image (e.g. `EFIBOOT.IMG`, a FAT image): a section entry with
    /// platform 0xEF, no emulation, loading the whole image.
    pub uefi_boot: Option<String>,
    /// Where the boot catalog appears (e.g. `BOOT.CAT`); unused without boot images.
    pub catalog_path: String,
    /// A partition table in the system area so the same file boots when written to a USB
    /// stick or disk (`dd`), as `xorriso -as mkisofs -isohybrid-mbr … -isohybrid-gpt-basdat`
    /// makes it. `None`: the system area stays zero (CD/DVD only).
    pub hybrid: Option<IsoHybrid>,
    /// Unix seconds written into every timestamp (1970 to 2155).
    pub modified: i64,
}

/// The USB-disk ("isohybrid") layout of an image.
///
/// * With a UEFI boot image: a GPT (an EFI system partition over exactly the bytes of the
///   UEFI El Torito image, "ISO9660" basic-data partitions before and after it, a backup GPT
///   after the data) and a hybrid MBR mirroring the ISO data partition (marked active) and the
///   EFI partition (type 0xEF), so BIOS and UEFI firmware both find their way in.
/// * Without one: an MBR with one active partition over the whole image.
///
/// `mbr_boot_code` is the BIOS boot code of the MBR (at most [`MBR_BOOT_CODE_MAX`] bytes),
/// e.g. SYSLINUX's `isohdpfx.bin`: it loads the BIOS El Torito image from the 512-byte sector
/// address the writer stores at MBR bytes 432..440. Without it a disk boots in UEFI only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsoHybrid {
    pub mbr_boot_code: Option<Vec<u8>>,
}

/// The most MBR boot code an image takes: bytes 432..440 hold the BIOS boot image's address,
/// 440..446 the disk signature, 446..510 the partition table.
pub const MBR_BOOT_CODE_MAX: usize = 432;

/// One file of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoFile {
    /// The path as it appears in the image, e.g. `EFI/BOOT/BOOT.CFG`: `/`-separated, no
    /// leading `/`, upper-case 8.3 names of `A-Z 0-9 _`, at most 7 directories deep.
    /// ISO 9660 (with `;1`), Joliet and Rock Ridge carry this same name.
    pub path: String,
    pub source: IsoSource,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsoSource {
    Bytes(Vec<u8>),
    /// Streamed while the image is written; its size is taken when the spec is planned and
    /// must not change before the write ends.
    File(PathBuf),
}

/// The result of [`write_iso`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenIso {
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole image.
    pub sha256: String,
}

/// Which name extensions an image carries beside its ISO 9660 names. The default, both on,
/// is what [`write_iso`] writes and what ESXi media carry.
///
/// Turning Rock Ridge off exists for boot loaders that compare Rock Ridge names
/// case-sensitively: SYSLINUX/ISOLINUX 5 and later look up `ldlinux.c32` and `isolinux.cfg`
/// in lower case and, when an image has Rock Ridge, do not fall back to the (case-insensitive)
/// ISO 9660 name, so an upper-case `LDLINUX.C32` is not found. ESXi's own ISOLINUX (3.x)
/// reads ISO 9660 names only and boots either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub joliet: bool,
    pub rock_ridge: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { joliet: true, rock_ridge: true }
    }
}

/// The exact size in bytes of the image [`write_iso`] would write, without reading any file
/// content (file sources are only measured). Validates the spec like `write_iso`.
pub fn plan_size(spec: &IsoSpec) -> Result<u64, IsoError> {
    plan_size_with(spec, WriteOptions::default())
}

/// [`plan_size`] for [`write_iso_with`].
pub fn plan_size_with(spec: &IsoSpec, options: WriteOptions) -> Result<u64, IsoError> {
    Ok(hadris::plan(spec, options)?.size)
}

/// Write the image for `spec` to `dest`, atomically (a temporary sibling, fsynced, renamed
/// over `dest`). `progress(done, total)` is called at the start, every few MiB and at the end.
pub fn write_iso(spec: &IsoSpec, dest: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<WrittenIso, IsoError> {
    write_iso_with(spec, WriteOptions::default(), dest, progress)
}

/// [`write_iso`] with a choice of name extensions.
pub fn write_iso_with(
    spec: &IsoSpec,
    options: WriteOptions,
    dest: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WrittenIso, IsoError> {
    let planned = hadris::plan(spec, options)?;
    let size = planned.size;
    tracing::debug!(dest = %dest.display(), size, files = spec.files.len(), "writing ISO image");
    let sha256 = atomic::write_file(dest, |file| hadris::write(&planned, file, dest, progress))?;
    Ok(WrittenIso { size, sha256 })
}
