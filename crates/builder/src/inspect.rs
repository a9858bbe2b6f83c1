//! Reading an existing ESXi installer ISO: volume id, El Torito entries, `BOOT.CFG`
//! (kernel, modules in order, build), the image database from `IMGDB.TGZ` and the file
//! list. Everything read from the image is bounded: `BOOT.CFG` by size, `IMGDB.TGZ` by
//! [`ImgDbLimits`]. Problems that do not stop the reading (a module `BOOT.CFG` names that
//! the ISO lacks, an unreadable image database) are reported as findings.

use std::path::Path;

use esxlcm_iso::{BootPlatform, IsoError, IsoImage};
use serde::Serialize;

use crate::bootcfg::BootCfg;
use crate::efiboot::{self, EfiFile, MAX_EFI_IMAGE};
use crate::imgdb::{ImgDbLimits, read_imgdb};

/// The schema name of the JSON form (documented in docs/cli-json.md).
pub const SCHEMA: &str = "esxlcm.image-inspect/1";

/// The largest `BOOT.CFG` read.
const MAX_BOOT_CFG: u64 = 256 << 10;

#[derive(Debug, Clone, Serialize)]
pub struct IsoInspection {
    pub schema: &'static str,
    pub volume_id: String,
    pub boot_entries: Vec<BootEntryInfo>,
    /// `BOOT.CFG` at the root, when present and readable.
    pub boot_cfg: Option<BootCfg>,
    /// Whether `EFI/BOOT/BOOT.CFG` exists and says the same as `BOOT.CFG`.
    pub efi_boot_cfg: EfiBootCfg,
    /// The UEFI El Torito image's FAT filesystem, when there is a UEFI entry and it reads.
    pub efi_image: Option<EfiImageReport>,
    /// The partition tables that make the image boot from a USB disk.
    pub usb: UsbReport,
    pub image_db: Option<ImageDbInfo>,
    pub files: Vec<FileInfo>,
    pub total_file_bytes: u64,
    /// Things wrong with the image, one sentence each.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EfiBootCfg {
    Same,
    Different,
    Absent,
}

#[derive(Debug, Clone, Serialize)]
pub struct EfiImageReport {
    /// The ISO file the UEFI entry boots (`EFIBOOT.IMG`), when a file starts there.
    pub path: Option<String>,
    pub fat_type: String,
    pub size: u64,
    pub files: Vec<EfiFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsbReport {
    /// The MBR has boot code (BIOS boot from a disk).
    pub mbr_boot_code: bool,
    /// A GPT header follows the MBR.
    pub gpt: bool,
    pub mbr_partitions: Vec<MbrPartitionInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MbrPartitionInfo {
    pub number: u8,
    pub active: bool,
    /// The type byte as `0x..`.
    #[serde(rename = "type")]
    pub kind: String,
    pub start: u32,
    pub sectors: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootEntryInfo {
    /// `bios`, `uefi` or `0x..` for another platform byte.
    pub platform: String,
    pub bootable: bool,
    pub load_size: u16,
    pub lba: u32,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageDbInfo {
    pub profiles: Vec<ProfileInfo>,
    pub vibs: Vec<VibInfo>,
    pub bulletins: Vec<String>,
    pub other_files: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileInfo {
    pub name: String,
    pub creator: String,
    pub acceptance_level: String,
    pub vib_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VibInfo {
    pub id: String,
    pub name: String,
    pub version: String,
    pub vendor: String,
    pub acceptance_level: String,
}

/// The FAT filesystem of the first UEFI boot entry's image: the file starting at its block,
/// read whole (at most [`MAX_EFI_IMAGE`]) and listed; a problem when it is not what firmware
/// needs.
fn efi_image(iso: &IsoImage, problems: &mut Vec<String>) -> Option<EfiImageReport> {
    let entry = iso.boot_entries().iter().find(|e| e.platform == BootPlatform::Uefi)?;
    let Some(path) = entry.path.clone() else {
        problems.push(format!("the UEFI boot entry points at block {}, where no file starts", entry.lba));
        return None;
    };
    let bytes = match iso.read_file(&path, MAX_EFI_IMAGE) {
        Ok(bytes) => bytes,
        Err(e) => {
            problems.push(format!("the UEFI boot image {path} cannot be read: {e}"));
            return None;
        }
    };
    match efiboot::list_efi_image(&bytes) {
        Ok(info) => {
            if let Err(e) = efiboot::check_efi_image(&bytes) {
                problems.push(format!("the UEFI boot image {path}: {e}"));
            }
            Some(EfiImageReport { path: Some(path), fat_type: info.fat_type, size: info.size, files: info.files })
        }
        Err(e) => {
            problems.push(format!("the UEFI boot image {path}: {e}"));
            None
        }
    }
}

/// Inspect the ISO at `path`. Fails only when it is not a readable ISO image.
pub fn inspect_iso(path: &Path, limits: ImgDbLimits) -> Result<IsoInspection, IsoError> {
    let iso = IsoImage::open(path)?;
    Ok(inspect_image(&iso, limits))
}

/// Inspect an opened image.
pub fn inspect_image(iso: &IsoImage, limits: ImgDbLimits) -> IsoInspection {
    let mut problems = Vec::new();
    let files: Vec<FileInfo> = iso.files().iter().map(|f| FileInfo { path: f.path.clone(), size: f.size }).collect();
    let has = |p: &str| files.iter().any(|f| f.path.eq_ignore_ascii_case(p.trim_start_matches('/')));
    let boot_entries = iso
        .boot_entries()
        .iter()
        .map(|e| BootEntryInfo {
            platform: match e.platform {
                BootPlatform::Bios => "bios".into(),
                BootPlatform::Uefi => "uefi".into(),
                BootPlatform::Other(b) => format!("0x{b:02x}"),
            },
            bootable: e.bootable,
            load_size: e.load_size,
            lba: e.lba,
            path: e.path.clone(),
        })
        .collect::<Vec<_>>();
    if boot_entries.is_empty() {
        problems.push("the image has no El Torito boot entry; it does not boot from CD".into());
    }
    let read_cfg = |p: &str| -> Option<Result<String, String>> {
        if !has(p) {
            return None;
        }
        Some(
            iso.read_file(p, MAX_BOOT_CFG).map(|b| String::from_utf8_lossy(&b).into_owned()).map_err(|e| e.to_string()),
        )
    };
    let boot_cfg = match read_cfg("BOOT.CFG") {
        None => {
            problems.push("BOOT.CFG is missing; this is not an ESXi installer image".into());
            None
        }
        Some(Err(e)) => {
            problems.push(format!("BOOT.CFG cannot be read: {e}"));
            None
        }
        Some(Ok(text)) => match BootCfg::parse(&text) {
            Ok(cfg) => Some(cfg),
            Err(e) => {
                problems.push(format!("BOOT.CFG: {e}"));
                None
            }
        },
    };
    let efi_boot_cfg = match (read_cfg("EFI/BOOT/BOOT.CFG"), &boot_cfg) {
        (None, _) => EfiBootCfg::Absent,
        (Some(Ok(text)), Some(cfg)) if BootCfg::parse(&text).ok().as_ref() == Some(cfg) => EfiBootCfg::Same,
        _ => EfiBootCfg::Different,
    };
    if let Some(cfg) = &boot_cfg {
        for module in std::iter::once(&cfg.kernel).chain(&cfg.modules) {
            let p = cfg.iso_path(module);
            if !has(&p) {
                problems.push(format!("BOOT.CFG names {module}, but the image has no file {p}"));
            }
        }
    }
    let efi_image = efi_image(iso, &mut problems);
    let area = iso.system_area();
    let usb = UsbReport {
        mbr_boot_code: area.mbr_boot_code.is_some(),
        gpt: area.gpt,
        mbr_partitions: area
            .mbr_partitions
            .iter()
            .map(|p| MbrPartitionInfo {
                number: p.number,
                active: p.active,
                kind: format!("0x{:02x}", p.kind),
                start: p.start,
                sectors: p.sectors,
            })
            .collect(),
    };
    let image_db = if has("IMGDB.TGZ") {
        match iso
            .open_file("IMGDB.TGZ")
            .map_err(|e| e.to_string())
            .and_then(|r| read_imgdb(r, limits).map_err(|e| e.to_string()))
        {
            Ok(db) => Some({
                problems.extend(db.errors.iter().cloned());
                ImageDbInfo {
                    profiles: db
                        .profiles
                        .iter()
                        .map(|p| ProfileInfo {
                            name: p.name.clone(),
                            creator: p.creator.clone(),
                            acceptance_level: p.acceptance_level.clone(),
                            vib_count: p.vib_ids.len(),
                        })
                        .collect(),
                    vibs: {
                        let mut v: Vec<VibInfo> = db
                            .vibs
                            .iter()
                            .map(|v| VibInfo {
                                id: v.id(),
                                name: v.name.clone(),
                                version: v.version.to_string(),
                                vendor: v.vendor.clone(),
                                acceptance_level: v.acceptance_level.as_str().to_owned(),
                            })
                            .collect();
                        v.sort_by(|a, b| a.id.cmp(&b.id));
                        v
                    },
                    bulletins: {
                        let mut b: Vec<String> = db.bulletins.iter().map(|b| b.id.clone()).collect();
                        b.sort();
                        b
                    },
                    other_files: db.other_files,
                }
            }),
            Err(e) => {
                problems.push(e);
                None
            }
        }
    } else {
        problems.push("IMGDB.TGZ is missing: the installer has no image database".into());
        None
    };
    let total_file_bytes = files.iter().map(|f| f.size).sum();
    IsoInspection {
        schema: SCHEMA,
        volume_id: iso.volume_id().to_owned(),
        boot_entries,
        boot_cfg,
        efi_boot_cfg,
        efi_image,
        usb,
        image_db,
        files,
        total_file_bytes,
        problems,
    }
}
