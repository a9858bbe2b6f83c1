//! The installer ISO (depot-format §7.1):
//!
//! ```text
//! BOOT.CFG, EFI/BOOT/BOOT.CFG   mboot configuration (bootcfg)
//! B.B00, K.B00, S.V00, …        the boot modules, extracted from the VIBs (modules, stage)
//! IMGDB.TGZ                     the image database (imgdb), the last module
//! UPGRADE/METADATA.XML          esxVersion and build [I: element names from §7.1]
//! UPGRADE/PROFILE.XML           the image profile
//! UPGRADE/METADATA.ZIP          the depot metadata of the image's content
//! ISOLINUX.BIN, MBOOT.C32, MENU.C32, ISOLINUX.CFG, BOOT.CAT   BIOS El Torito boot
//! LDLINUX.C32                   with ISOLINUX 5+ (then no Rock Ridge, see IsoBuilt)
//! EFIBOOT.IMG, EFI/BOOT/BOOTX64.EFI                          UEFI El Torito boot
//! KS.CFG                        the kickstart, when given (kickstart)
//! ```
//!
//! `EFIBOOT.IMG` is either given (and checked: a FAT filesystem with a PE
//! `EFI/BOOT/BOOTX64.EFI`, see `efiboot`) or made here from the EFI loader, holding
//! `EFI/BOOT/BOOTX64.EFI` and `EFI/BOOT/BOOT.CFG`. The image is USB-bootable unless asked
//! not to be: a GPT whose EFI system partition is `EFIBOOT.IMG` plus a hybrid MBR, with MBR
//! boot code (`isohdpfx.bin`) for BIOS when one is given.
//!
//! The bootloader binaries are not VIB payloads esxlcm knows how to find, so they come
//! from the caller ([`Bootloader`]); `ISOLINUX.CFG` is generated when not given. Boot
//! payloads are staged in a hidden directory next to the output (streamed and verified,
//! see `stage`) and removed afterwards, whatever happens.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use esxlcm_depot::metadata_zip::MetadataArchive;
use esxlcm_depot::model::{Bulletin, Vib};
use esxlcm_depot::xml::Element;
use esxlcm_iso::{IsoFile, IsoSource, IsoSpec};
use serde::Serialize;

use crate::bootcfg::{BootCfg, BootOptions, isolinux_cfg};
use crate::efiboot::{self, EfiFile, EfiImageError, EfiSource};
use crate::error::BuildError;
use crate::kickstart::{self, KICKSTART_ISO_PATH, MAX_KICKSTART};
use crate::modules::{ModulePlan, SkippedPayload, plan_modules};
use crate::progress::{Progress, Stage};
use crate::{Image, imgdb, stage};

/// The image database module, always the last one.
pub const IMGDB_MODULE: &str = "imgdb.tgz";

/// A bootloader file of an installer ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BootloaderFile {
    IsolinuxBin,
    IsolinuxCfg,
    MbootC32,
    MenuC32,
    /// SYSLINUX 5 and later: the core module ISOLINUX.BIN loads from the image. Its presence
    /// marks the BIOS loader as ISOLINUX 5+, which changes how the image is written (see
    /// [`IsoBuilt::rock_ridge`]).
    LdlinuxC32,
    EfibootImg,
    BootX64Efi,
}

impl BootloaderFile {
    pub const ALL: [Self; 7] = [
        Self::IsolinuxBin,
        Self::IsolinuxCfg,
        Self::MbootC32,
        Self::MenuC32,
        Self::LdlinuxC32,
        Self::EfibootImg,
        Self::BootX64Efi,
    ];

    /// Where it goes on the ISO.
    pub fn iso_path(self) -> &'static str {
        match self {
            Self::IsolinuxBin => "ISOLINUX.BIN",
            Self::IsolinuxCfg => "ISOLINUX.CFG",
            Self::MbootC32 => "MBOOT.C32",
            Self::MenuC32 => "MENU.C32",
            Self::LdlinuxC32 => "LDLINUX.C32",
            Self::EfibootImg => "EFIBOOT.IMG",
            Self::BootX64Efi => "EFI/BOOT/BOOTX64.EFI",
        }
    }

    /// Its file name (matched case-insensitively in a bootloader directory).
    pub fn file_name(self) -> &'static str {
        self.iso_path().rsplit('/').next().unwrap_or_default()
    }
}

/// The file name of SYSLINUX's isohybrid MBR boot code, looked for in a bootloader directory.
pub const MBR_BOOT_CODE_FILE: &str = "isohdpfx.bin";

/// Where the bootloader files come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bootloader {
    files: BTreeMap<BootloaderFile, PathBuf>,
    /// MBR boot code for BIOS boot from a USB disk (`isohdpfx.bin`, at most 432 bytes).
    mbr_boot_code: Option<PathBuf>,
}

impl Bootloader {
    /// The bootloader files found in `dir` (names matched case-insensitively, so a copy of
    /// an ESXi ISO's root works), `BOOTX64.EFI` also in `dir/EFI/BOOT/`. Files that are
    /// absent are simply not set.
    pub fn from_dir(dir: &Path) -> Result<Self, BuildError> {
        let mut found = Self::default();
        for sub in [dir.to_path_buf(), dir.join("EFI").join("BOOT"), dir.join("efi").join("boot")] {
            let Ok(entries) = std::fs::read_dir(&sub) else {
                if sub == dir {
                    // The top directory must be readable; the EFI subdirectories are optional.
                    std::fs::read_dir(dir).map_err(|e| BuildError::io(dir, e))?;
                }
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|e| BuildError::io(&sub, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if sub == dir && name.eq_ignore_ascii_case(MBR_BOOT_CODE_FILE) {
                    found.mbr_boot_code.get_or_insert_with(|| entry.path());
                }
                if let Some(which) = BootloaderFile::ALL.into_iter().find(|f| f.file_name().eq_ignore_ascii_case(&name))
                {
                    found.files.entry(which).or_insert_with(|| entry.path());
                }
            }
        }
        Ok(found)
    }

    /// The bootloader files of an existing ISO (a VMware installer of the same release),
    /// extracted into `into`, which is created. Files the ISO lacks are not set.
    pub fn from_iso(iso: &Path, into: &Path) -> Result<Self, BuildError> {
        let image = esxlcm_iso::IsoImage::open(iso)
            .map_err(|source| BuildError::Iso { path: iso.to_path_buf(), source: Box::new(source) })?;
        std::fs::create_dir_all(into).map_err(|e| BuildError::io(into, e))?;
        let mut found = Self::default();
        for which in BootloaderFile::ALL {
            let Some(entry) = image.files().iter().find(|f| f.path.eq_ignore_ascii_case(which.iso_path())) else {
                continue;
            };
            let dest = into.join(which.file_name());
            let io_err = |e| BuildError::io(&dest, e);
            let mut reader = image
                .open_file(&entry.path)
                .map_err(|source| BuildError::Iso { path: iso.to_path_buf(), source: Box::new(source) })?;
            let mut file = std::fs::File::create(&dest).map_err(io_err)?;
            std::io::copy(&mut reader, &mut file).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
            found.files.insert(which, dest);
        }
        if let Some(code) = &image.system_area().mbr_boot_code {
            let dest = into.join(MBR_BOOT_CODE_FILE);
            std::fs::write(&dest, code).map_err(|e| BuildError::io(&dest, e))?;
            found.mbr_boot_code = Some(dest);
        }
        Ok(found)
    }

    /// Set the MBR boot code file (`isohdpfx.bin`).
    pub fn set_mbr_boot_code(&mut self, path: PathBuf) {
        self.mbr_boot_code = Some(path);
    }

    pub fn mbr_boot_code(&self) -> Option<&Path> {
        self.mbr_boot_code.as_deref()
    }

    /// Set (or replace) one file.
    pub fn set(&mut self, which: BootloaderFile, path: PathBuf) {
        self.files.insert(which, path);
    }

    pub fn get(&self, which: BootloaderFile) -> Option<&Path> {
        self.files.get(&which).map(PathBuf::as_path)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.mbr_boot_code.is_none()
    }
}

/// ISO choices.
#[derive(Debug, Clone, Default)]
pub struct IsoOptions {
    /// Bootloader files; they win over those of `bootloader_iso`.
    pub bootloader: Bootloader,
    /// Take the bootloader files this ISO has and `bootloader` does not (extracted into
    /// the staging directory).
    pub bootloader_iso: Option<PathBuf>,
    /// Default: `ESXI-<base image version>`, upper case, at most 32 characters.
    pub volume_id: Option<String>,
    /// Title and kernel options of `BOOT.CFG` (`kickstart` is set from [`Self::kickstart`]).
    pub boot: BootOptions,
    /// A kickstart file: linted, copied to `KS.CFG`, `ks=cdrom:/KS.CFG` added to `kernelopt`.
    pub kickstart: Option<PathBuf>,
    /// Write a CD/DVD-only image (no MBR/GPT in the system area).
    pub no_usb: bool,
}

/// The EFI boot image of a built ISO.
#[derive(Debug, Clone, Serialize)]
pub struct EfiImageBuilt {
    /// Made by the builder from the EFI loader (else given and checked).
    pub made: bool,
    pub fat_type: String,
    pub size: u64,
    pub files: Vec<EfiFile>,
}

/// How the ISO boots when written to a USB disk.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UsbBoot {
    /// A partition table is in the system area.
    pub hybrid: bool,
    /// MBR boot code chains to the BIOS El Torito image.
    pub bios: bool,
    /// The GPT has an EFI system partition over `EFIBOOT.IMG`.
    pub uefi: bool,
}

/// What [`Image::write_iso`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct IsoBuilt {
    pub size: u64,
    pub sha256: String,
    pub volume_id: String,
    pub kernel: String,
    /// `boot.cfg` modules in order, `imgdb.tgz` last.
    pub modules: Vec<String>,
    pub bios_boot: bool,
    pub uefi_boot: bool,
    pub efi_image: Option<EfiImageBuilt>,
    pub usb: UsbBoot,
    /// `KS.CFG` is on the image and `kernelopt` points at it.
    pub kickstart: bool,
    /// The image carries Rock Ridge names (beside ISO 9660 and Joliet). Off when
    /// `LDLINUX.C32` is among the bootloader files: ISOLINUX 5 and later look up
    /// `ldlinux.c32` and `isolinux.cfg` in lower case and, on an image with Rock Ridge,
    /// compare Rock Ridge names exactly instead of falling back to the case-insensitive
    /// ISO 9660 name, so they would not find our upper-case files and the BIOS boot would
    /// stop. ESXi's own ISOLINUX (3.x, no `LDLINUX.C32`) reads ISO 9660 names only.
    pub rock_ridge: bool,
    pub kernelopt: String,
    pub files: usize,
    pub skipped_payloads: Vec<SkippedPayload>,
}

/// The default volume id for a base image version.
pub fn default_volume_id(base_image: &str) -> String {
    let id: String = format!("ESXI-{base_image}")
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
        .take(32)
        .collect();
    id
}

/// `UPGRADE/METADATA.XML` \[I: only `esxVersion` and `build` are known to be read\].
pub fn upgrade_metadata_xml(base_image: &str, profile_name: &str) -> Vec<u8> {
    let (version, release) = base_image.split_once('-').unwrap_or((base_image, ""));
    let build = release.rsplit('.').next().unwrap_or_default();
    Element::new("metadata")
        .text_child("esxVersion", version)
        .text_child("build", build)
        .text_child("profile", profile_name)
        .to_bytes_pretty()
}

impl Image<'_> {
    /// The boot modules of this image.
    pub fn module_plan(&self) -> Result<ModulePlan, BuildError> {
        plan_modules(self.vibs())
    }

    /// `BOOT.CFG` for a module plan (`imgdb.tgz` appended) with a build's boot options.
    pub fn boot_cfg(&self, plan: &ModulePlan, options: &BootOptions) -> BootCfg {
        let modules = plan.modules.iter().map(|m| m.file_name.as_str()).chain([IMGDB_MODULE]);
        BootCfg::installer(&plan.kernel.file_name, modules, &self.build_string()).with_options(options)
    }

    /// `IMGDB.TGZ`: the profile, the image's VIBs and the bulletins of its components.
    pub fn imgdb(&self) -> Result<Vec<u8>, BuildError> {
        let vibs: Vec<&Vib> = self.vibs().collect();
        let bulletins: Vec<&Bulletin> = self
            .image
            .components
            .values()
            .filter_map(|c| self.catalog.component(&c.name, &c.version))
            .map(|b| &b.bulletin)
            .collect();
        imgdb::write_imgdb(&self.profile, &vibs, &bulletins, &self.timestamp_text, self.timestamp)
    }

    /// `UPGRADE/METADATA.ZIP`: the metadata of the image's content (as in the bundle).
    pub fn metadata_zip(&self) -> Result<Vec<u8>, BuildError> {
        let c = &self.content;
        let mut bulletins = c.bulletins.clone();
        bulletins.sort_by(|a, b| a.id.cmp(&b.id));
        let mut vibs: Vec<Vib> = c.vibs.clone();
        vibs.sort_by_key(Vib::id);
        let mut release_units = c.release_units.clone();
        release_units.sort_by(|a, b| (a.kind, &a.release_id).cmp(&(b.kind, &b.release_id)));
        let archive = MetadataArchive {
            vendor_index: Some(c.vendor_index()),
            bulletins,
            vibs: vibs.into_iter().map(std::sync::Arc::new).collect(),
            profiles: c.profiles.clone(),
            release_units,
            ..MetadataArchive::default()
        };
        let cursor = archive
            .write(Cursor::new(Vec::new()), &c.timestamp)
            .map_err(|source| BuildError::Archive { what: "UPGRADE/METADATA.ZIP", source })?;
        Ok(cursor.into_inner())
    }

    /// Write the installer ISO to `dest` (atomically; without `overwrite` an existing file
    /// is refused before any work).
    pub fn write_iso(
        &self,
        dest: &Path,
        overwrite: bool,
        options: &IsoOptions,
        progress: &mut dyn Progress,
    ) -> Result<IsoBuilt, BuildError> {
        if !overwrite && std::fs::symlink_metadata(dest).is_ok() {
            return Err(BuildError::Exists { path: dest.to_path_buf() });
        }
        let plan = self.module_plan()?;
        let staging = staging_dir(dest)?;
        let mut boot = options.bootloader.clone();
        if let Some(iso) = &options.bootloader_iso {
            let from = Bootloader::from_iso(iso, &staging.path().join("bootloader"))?;
            for (which, path) in from.files {
                boot.files.entry(which).or_insert(path);
            }
            if boot.mbr_boot_code.is_none() {
                boot.mbr_boot_code = from.mbr_boot_code;
            }
        }
        let mut boot_options = options.boot.clone();
        boot_options.kickstart = options.kickstart.is_some();
        boot_options.validate().map_err(|what| BuildError::BootOptions { what })?;
        let kickstart = match &options.kickstart {
            Some(path) => Some(read_kickstart(path)?),
            None => None,
        };
        let mut files: Vec<IsoFile> = Vec::new();
        let bios = boot.get(BootloaderFile::IsolinuxBin).is_some();
        let uefi = boot.get(BootloaderFile::EfibootImg).is_some() || boot.get(BootloaderFile::BootX64Efi).is_some();
        if !bios && !uefi {
            return Err(BuildError::NoBootloader);
        }
        if bios && boot.get(BootloaderFile::MbootC32).is_none() {
            return Err(BuildError::Bootloader {
                what: "ISOLINUX.BIN is given but MBOOT.C32, which ISOLINUX.CFG chains to, is not".into(),
            });
        }
        for which in BootloaderFile::ALL {
            if let Some(path) = boot.get(which) {
                let meta = std::fs::metadata(path).map_err(|e| BuildError::io(path, e))?;
                if !meta.is_file() {
                    return Err(BuildError::Bootloader {
                        what: format!("{} for {} is not a regular file", path.display(), which.iso_path()),
                    });
                }
                if which != BootloaderFile::EfibootImg {
                    files.push(IsoFile { path: which.iso_path().into(), source: IsoSource::File(path.to_path_buf()) });
                }
            }
        }
        if bios && boot.get(BootloaderFile::IsolinuxCfg).is_none() {
            let with_menu = boot.get(BootloaderFile::MenuC32).is_some();
            let cfg = isolinux_cfg(&self.profile.name, with_menu);
            files.push(IsoFile { path: "ISOLINUX.CFG".into(), source: IsoSource::Bytes(cfg.into_bytes()) });
        }
        let cfg = self.boot_cfg(&plan, &boot_options);
        let cfg_text = cfg.render().into_bytes();
        let efi_image = if uefi { Some(efi_boot_image(&boot, &cfg_text, self.timestamp)?) } else { None };
        if let Some((bytes, _)) = &efi_image {
            files.push(IsoFile {
                path: BootloaderFile::EfibootImg.iso_path().into(),
                source: IsoSource::Bytes(bytes.clone()),
            });
        }
        if let Some(ks) = kickstart {
            files.push(IsoFile { path: KICKSTART_ISO_PATH.into(), source: IsoSource::Bytes(ks) });
        }
        files.push(IsoFile { path: "BOOT.CFG".into(), source: IsoSource::Bytes(cfg_text.clone()) });
        files.push(IsoFile { path: "EFI/BOOT/BOOT.CFG".into(), source: IsoSource::Bytes(cfg_text) });
        files.push(IsoFile { path: IMGDB_MODULE.to_ascii_uppercase(), source: IsoSource::Bytes(self.imgdb()?) });
        let upgrade = upgrade_metadata_xml(&self.build_string(), &self.profile.name);
        files.push(IsoFile { path: "UPGRADE/METADATA.XML".into(), source: IsoSource::Bytes(upgrade) });
        files.push(IsoFile { path: "UPGRADE/PROFILE.XML".into(), source: IsoSource::Bytes(self.profile.to_xml()) });
        files.push(IsoFile { path: "UPGRADE/METADATA.ZIP".into(), source: IsoSource::Bytes(self.metadata_zip()?) });

        let staged = stage::stage_payloads(self.catalog, &plan, &self.image.vibs, staging.path(), progress)?;
        for m in plan.all() {
            let path = staged.get(&m.file_name).cloned().ok_or_else(|| BuildError::Payload {
                vib_id: m.vib_id.clone(),
                payload: m.payload.clone(),
                what: "it was not staged".into(),
            })?;
            files.push(IsoFile { path: m.iso_path(), source: IsoSource::File(path) });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let volume_id = options.volume_id.clone().unwrap_or_else(|| default_volume_id(&self.build_string()));
        let mbr_boot_code = match (bios, boot.mbr_boot_code()) {
            (true, Some(path)) => Some(read_mbr_boot_code(path)?),
            _ => None,
        };
        let usb = UsbBoot {
            hybrid: !options.no_usb,
            bios: !options.no_usb && mbr_boot_code.is_some(),
            uefi: !options.no_usb && uefi,
        };
        let spec = IsoSpec {
            volume_id: volume_id.clone(),
            files,
            bios_boot: bios.then(|| BootloaderFile::IsolinuxBin.iso_path().to_owned()),
            uefi_boot: uefi.then(|| BootloaderFile::EfibootImg.iso_path().to_owned()),
            catalog_path: "BOOT.CAT".into(),
            hybrid: (!options.no_usb).then_some(esxlcm_iso::IsoHybrid { mbr_boot_code }),
            modified: self.timestamp,
        };
        let iso_err = |source| BuildError::Iso { path: dest.to_path_buf(), source: Box::new(source) };
        let rock_ridge = boot.get(BootloaderFile::LdlinuxC32).is_none();
        let extensions = esxlcm_iso::WriteOptions { joliet: true, rock_ridge };
        let total = esxlcm_iso::plan_size_with(&spec, extensions).map_err(iso_err)?;
        progress.start(Stage::Iso, total);
        let file_count = spec.files.len();
        let written = esxlcm_iso::write_iso_with(&spec, extensions, dest, &mut |done, _| progress.advance(done))
            .map_err(iso_err)?;
        if let Err(e) = staging.close() {
            tracing::warn!(error = %e, "the payload staging directory could not be removed");
        }
        tracing::info!(dest = %dest.display(), size = written.size, "wrote installer ISO");
        Ok(IsoBuilt {
            size: written.size,
            sha256: written.sha256,
            volume_id,
            kernel: cfg.kernel.clone(),
            modules: cfg.modules.clone(),
            bios_boot: bios,
            uefi_boot: uefi,
            efi_image: efi_image.map(|(_, built)| built),
            usb,
            kickstart: options.kickstart.is_some(),
            rock_ridge,
            kernelopt: cfg.kernelopt.clone(),
            files: file_count,
            skipped_payloads: plan.skipped,
        })
    }
}

/// The EFI boot image: the given `EFIBOOT.IMG`, checked, or one made from the EFI loader
/// holding `EFI/BOOT/BOOTX64.EFI` and `EFI/BOOT/BOOT.CFG` (for loaders that read `boot.cfg`
/// from their own directory, as esx-boot's mboot does).
fn efi_boot_image(boot: &Bootloader, boot_cfg: &[u8], timestamp: i64) -> Result<(Vec<u8>, EfiImageBuilt), BuildError> {
    if let Some(path) = boot.get(BootloaderFile::EfibootImg) {
        let bytes = read_capped(path, efiboot::MAX_EFI_IMAGE)
            .map_err(|source| BuildError::EfiImage { path: path.to_path_buf(), source })?;
        let info = efiboot::check_efi_image(&bytes)
            .map_err(|source| BuildError::EfiImage { path: path.to_path_buf(), source })?;
        let built = EfiImageBuilt { made: false, fat_type: info.fat_type, size: info.size, files: info.files };
        return Ok((bytes, built));
    }
    let loader = boot.get(BootloaderFile::BootX64Efi).ok_or(BuildError::NoBootloader)?;
    let err = |source| BuildError::EfiImage { path: loader.to_path_buf(), source };
    let bytes = read_capped(loader, efiboot::MAX_EFI_IMAGE).map_err(err)?;
    if !bytes.starts_with(b"MZ") {
        return Err(err(EfiImageError::BadLoader {
            what: "not a PE/COFF executable (it does not start with MZ)".into(),
        }));
    }
    let sources = vec![
        EfiSource { path: efiboot::EFI_LOADER.into(), size: bytes.len() as u64, reader: Box::new(&bytes[..]) },
        EfiSource { path: "EFI/BOOT/BOOT.CFG".into(), size: boot_cfg.len() as u64, reader: Box::new(boot_cfg) },
    ];
    let image = efiboot::make_efi_image(sources, timestamp).map_err(err)?;
    let info = efiboot::check_efi_image(&image).map_err(err)?;
    let built = EfiImageBuilt { made: true, fat_type: info.fat_type, size: info.size, files: info.files };
    Ok((image, built))
}

/// A whole file of at most `limit` bytes (larger ones are refused before reading them).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, EfiImageError> {
    let unreadable =
        |e: std::io::Error| EfiImageError::Unreadable { path: path.display().to_string(), detail: e.to_string() };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(limit + 1);
        return Err(EfiImageError::TooLarge { size, limit });
    }
    Ok(bytes)
}

/// The kickstart's bytes, after the lint found nothing that stops an install.
fn read_kickstart(path: &Path) -> Result<Vec<u8>, BuildError> {
    let file = std::fs::File::open(path).map_err(|e| BuildError::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_KICKSTART + 1).read_to_end(&mut bytes).map_err(|e| BuildError::io(path, e))?;
    let problems = if bytes.len() as u64 > MAX_KICKSTART {
        vec![format!("it is larger than {MAX_KICKSTART} bytes")]
    } else {
        match std::str::from_utf8(&bytes) {
            Ok(text) => kickstart::lint(text).iter().map(ToString::to_string).collect(),
            Err(e) => vec![format!("it is not UTF-8 text ({e})")],
        }
    };
    if !problems.is_empty() {
        return Err(BuildError::Kickstart { path: path.to_path_buf(), problems });
    }
    Ok(bytes)
}

/// The MBR boot code file (`isohdpfx.bin`): at most 432 bytes.
fn read_mbr_boot_code(path: &Path) -> Result<Vec<u8>, BuildError> {
    let file = std::fs::File::open(path).map_err(|e| BuildError::io(path, e))?;
    let mut bytes = Vec::new();
    let max = esxlcm_iso::MBR_BOOT_CODE_MAX as u64;
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| BuildError::io(path, e))?;
    if bytes.len() as u64 > max || bytes.is_empty() {
        return Err(BuildError::Bootloader {
            what: format!(
                "{} is not MBR boot code: it must have 1 to {max} bytes (SYSLINUX's isohdpfx.bin has 432)",
                path.display()
            ),
        });
    }
    Ok(bytes)
}

/// A hidden directory next to `dest` (same filesystem, where the ISO's space is), removed
/// when dropped.
fn staging_dir(dest: &Path) -> Result<tempfile::TempDir, BuildError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| BuildError::io(&parent, e))?;
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}.stage."))
        .tempdir_in(&parent)
        .map_err(|e| BuildError::io(&parent, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_and_upgrade_metadata() {
        assert_eq!(default_volume_id("8.0.3-0.35.24280767"), "ESXI-8.0.3-0.35.24280767");
        assert_eq!(default_volume_id("8.0.3-0.35.24280767+very-long-suffix").len(), 32);
        let xml = String::from_utf8(upgrade_metadata_xml("8.0.3-0.35.24280767", "P")).unwrap();
        assert!(xml.contains("<esxVersion>8.0.3</esxVersion>"), "{xml}");
        assert!(xml.contains("<build>24280767</build>"), "{xml}");
    }

    #[test]
    fn bootloader_dir_matches_names_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("isolinux.bin"), b"x").unwrap();
        std::fs::write(dir.path().join("MBOOT.C32"), b"x").unwrap();
        std::fs::create_dir_all(dir.path().join("EFI/BOOT")).unwrap();
        std::fs::write(dir.path().join("EFI/BOOT/BOOTX64.EFI"), b"x").unwrap();
        std::fs::write(dir.path().join("unrelated.txt"), b"x").unwrap();
        let b = Bootloader::from_dir(dir.path()).unwrap();
        assert_eq!(b.get(BootloaderFile::IsolinuxBin), Some(dir.path().join("isolinux.bin").as_path()));
        assert!(b.get(BootloaderFile::MbootC32).is_some());
        assert!(b.get(BootloaderFile::BootX64Efi).is_some());
        assert!(b.get(BootloaderFile::EfibootImg).is_none());
        assert!(Bootloader::from_dir(&dir.path().join("missing")).is_err());
    }
}
