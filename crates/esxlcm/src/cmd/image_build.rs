//! `esxlcm image build --spec SPEC.json --depot SOURCE… [--iso OUT.iso] [--bundle OUT.zip]
//! [--spec-out OUT.json] [--json]`: resolve a vLCM software spec like `image resolve`, refuse to build an
//! image with errors, then write the requested outputs with `esxlcm_builder` (streamed,
//! deterministic, atomic), with a progress bar when stderr is a terminal.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use esxlcm_builder::bootcfg::BootOptions;
use esxlcm_builder::{Bootloader, BootloaderFile, Image, ImageOptions, IsoOptions, NoProgress, Progress, Stage};
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_solver::{ResolveOptions, resolve};
use indicatif::{ProgressBar, ProgressStyle};

use super::{ContentError, Context, Status};
use crate::output::{self, count, human_size};

const AFTER_HELP: &str = "\
Resolves the spec against the depots exactly like `esxlcm image resolve`; when the image has
an error nothing is built and the errors are printed (exit status 1). Then writes each output
asked for (at least one):

  --spec-out OUT.json  the software spec as vLCM exports it (reads back as the same spec)
  --bundle OUT.zip  an offline bundle with exactly the image's content: base image, add-on,
                    components, their VIBs (byte for byte) and metadata, and an image profile;
                    it imports as a depot anywhere (ROBO sites, `esxcli software profile update`)
  --iso OUT.iso     an ESXi installer: BOOT.CFG and EFI/BOOT/BOOT.CFG, the boot modules taken
                    out of the VIBs (kernel = esx-base's first 'boot' payload), IMGDB.TGZ,
                    UPGRADE/ (METADATA.XML, PROFILE.XML, METADATA.ZIP) and the bootloader

Bootloader (ISO only): the binaries are not part of a depot's metadata, so they come from the
command line. --bootloader-iso FILE.iso takes them from an existing ISO, typically VMware's
installer of the same release. --bootloader-dir DIR takes whichever of ISOLINUX.BIN,
ISOLINUX.CFG, MBOOT.C32, MENU.C32, LDLINUX.C32, EFIBOOT.IMG and BOOTX64.EFI (also in
DIR/EFI/BOOT/) it finds, names matched in any case, so a copied ISO root works. The single-file options win
over the directory, and both over the ISO. BIOS boot needs ISOLINUX.BIN and MBOOT.C32, UEFI
boot EFIBOOT.IMG or BOOTX64.EFI; at least one of the two. ISOLINUX.CFG is generated when not
given. LDLINUX.C32 (ISOLINUX 5 and later load it; VMware's ISOLINUX does not) is copied to
the root and, since those loaders match Rock Ridge names case-sensitively, the image is then
written without Rock Ridge (ISO 9660 and Joliet names only). A given EFIBOOT.IMG must be a FAT filesystem holding a PE EFI/BOOT/BOOTX64.EFI (else
the build stops saying what is missing); given only BOOTX64.EFI, the builder makes EFIBOOT.IMG
itself (FAT, EFI/BOOT/BOOTX64.EFI and EFI/BOOT/BOOT.CFG). docs/image-build.md says where a
real base image's files come from.

USB: the ISO also boots when written to a USB stick with dd (a GPT whose EFI system partition
is EFIBOOT.IMG, plus a hybrid MBR); BIOS boot from USB needs MBR boot code, isohdpfx.bin
(--isohybrid-mbr, or found in --bootloader-dir or taken from --bootloader-iso's MBR).
--no-usb writes a CD/DVD-only image.

Scripted install: --kickstart ks.cfg copies the file to KS.CFG and adds ks=cdrom:/KS.CFG to
kernelopt in BOOT.CFG and EFI/BOOT/BOOT.CFG. The kickstart is checked first; a missing
vmaccepteula, an install without --firstdisk/--disk=, or a missing rootpw stops the build.
--kernel-opt KEY=VALUE (repeatable) adds kernel options, --title sets the boot menu title.

Outputs are deterministic: every timestamp is --timestamp, else SOURCE_DATE_EPOCH, else the
base image's release date, so the same inputs give the same bytes. Each output is written to
a temporary file next to it and renamed into place when complete; existing files are refused
unless --overwrite.

Examples:
  esxlcm image build --spec spec.json --depot ESXi-8.0U3-depot.zip --depot vendor.zip \\
      --bundle site-a.zip --spec-out site-a.json
  esxlcm image build --spec spec.json --depot ./depot --iso custom.iso \\
      --bootloader-iso VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso
  esxlcm image build --spec spec.json --depot ./depot --iso custom.iso \\
      --bootloader-dir /mnt/esxi-iso
  esxlcm image build --spec spec.json --depot ./depot --iso custom.iso \\
      --isolinux isolinux.bin --mboot mboot.c32 --efiboot efiboot.img
  esxlcm image build --spec spec.json --depot ./depot --iso ks.iso \\
      --bootloader-iso VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso \\
      --kickstart ks.cfg --kernel-opt netdevice=vmnic1 --title 'Site A installer'
  esxlcm image inspect custom.iso

--json writes one JSON object (schema esxlcm.image-build/1) describing what was written,
instead of text. `--json OUT.json`, the spelling of --spec-out before it had its name, still
works and warns; it will go.

Exit status: 0 everything was written, 1 the image has errors or the content is broken (a VIB
or payload contradicts its metadata), 2 usage errors, unreadable files or depots, network
errors.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BuildArgs {
    /// The software spec (JSON)
    #[arg(long, value_name = "SPEC.json")]
    pub spec: PathBuf,

    /// Depots to build from: bundle .zip, depot directory or URL (repeatable)
    #[arg(long = "depot", value_name = "SOURCE", required = true, num_args = 1..)]
    pub depots: Vec<String>,

    /// Write an ESXi installer ISO
    #[arg(long, value_name = "OUT.iso")]
    pub iso: Option<PathBuf>,

    /// Write an offline bundle of the image's content
    #[arg(long, value_name = "OUT.zip")]
    pub bundle: Option<PathBuf>,

    /// Write the software spec JSON
    #[arg(long, value_name = "OUT.json")]
    pub spec_out: Option<PathBuf>,

    /// Write one JSON object (schema esxlcm.image-build/1) instead of text. Deprecated:
    /// `--json OUT.json` is the old spelling of --spec-out (a warning says so)
    #[arg(long, value_name = "OUT.json", num_args = 0..=1)]
    pub json: Option<Option<PathBuf>>,

    /// Replace output files that exist (atomically)
    #[arg(long)]
    pub overwrite: bool,

    /// Unix seconds or an ISO-8601 date for every timestamp [default: the base image's release date]
    #[arg(long, value_name = "WHEN", env = "SOURCE_DATE_EPOCH", value_parser = parse_timestamp)]
    pub timestamp: Option<i64>,

    /// Name of the image profile [default: ESXi-<base image version>-custom]
    #[arg(long, value_name = "NAME")]
    pub profile_name: Option<String>,

    /// The lowest acceptance level the image may have
    #[arg(long, value_name = "LEVEL", ignore_case = true, value_parser = super::common::level_parser())]
    pub min_acceptance: Option<AcceptanceLevel>,

    /// Let spec components downgrade what the base image or add-on brings (a warning)
    #[arg(long)]
    pub allow_downgrades: bool,

    #[command(flatten)]
    pub iso_args: IsoArgs,
}

/// The ISO's bootloader and label.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "ISO options")]
pub struct IsoArgs {
    /// Take the bootloader files found in this directory (see below)
    #[arg(long, value_name = "DIR")]
    pub bootloader_dir: Option<PathBuf>,

    /// Take the bootloader files of this ISO (e.g. VMware's installer of the same release)
    #[arg(long, value_name = "FILE.iso")]
    pub bootloader_iso: Option<PathBuf>,

    /// ISOLINUX.BIN, the BIOS El Torito image
    #[arg(long, value_name = "FILE")]
    pub isolinux: Option<PathBuf>,

    /// ISOLINUX.CFG [default: generated, chaining mboot.c32 -c boot.cfg]
    #[arg(long, value_name = "FILE")]
    pub isolinux_cfg: Option<PathBuf>,

    /// MBOOT.C32, the ESXi multiboot loader ISOLINUX starts
    #[arg(long, value_name = "FILE")]
    pub mboot: Option<PathBuf>,

    /// MENU.C32, the ISOLINUX menu
    #[arg(long, value_name = "FILE")]
    pub menu: Option<PathBuf>,

    /// LDLINUX.C32, the core module ISOLINUX 5 and later load (SYSLINUX's, e.g. Debian's);
    /// the image is then written without Rock Ridge
    #[arg(long, value_name = "FILE")]
    pub ldlinux: Option<PathBuf>,

    /// EFIBOOT.IMG, the UEFI El Torito image (a FAT image)
    #[arg(long, value_name = "FILE")]
    pub efiboot: Option<PathBuf>,

    /// BOOTX64.EFI, copied to EFI/BOOT/ for USB copies of the ISO
    #[arg(long, value_name = "FILE")]
    pub bootx64: Option<PathBuf>,

    /// ISO volume id [default: ESXI-<base image version>]
    #[arg(long, value_name = "ID")]
    pub volume_id: Option<String>,

    /// MBR boot code for BIOS boot from a USB disk (SYSLINUX's isohdpfx.bin)
    /// [default: isohdpfx.bin in --bootloader-dir, or the MBR of --bootloader-iso]
    #[arg(long, value_name = "FILE")]
    pub isohybrid_mbr: Option<PathBuf>,

    /// Write a CD/DVD-only image: no MBR/GPT, so it does not boot when written to a USB disk
    #[arg(long)]
    pub no_usb: bool,

    /// A kickstart (ks.cfg) for a scripted install: checked, copied to KS.CFG, and
    /// ks=cdrom:/KS.CFG added to the kernel options
    #[arg(long, value_name = "ks.cfg")]
    pub kickstart: Option<PathBuf>,

    /// A kernel option added to BOOT.CFG's kernelopt (repeatable), e.g. netdevice=vmnic1
    #[arg(long = "kernel-opt", value_name = "KEY=VALUE", value_parser = parse_kernel_opt)]
    pub kernel_opts: Vec<(String, String)>,

    /// The boot menu title in BOOT.CFG [default: Loading ESXi installer]
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

/// `KEY=VALUE`: a non-empty key.
fn parse_kernel_opt(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("'{text}' is not KEY=VALUE")),
    }
}

/// Unix seconds, or an ISO-8601 date or date-time (UTC).
fn parse_timestamp(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return Ok(secs);
    }
    esxlcm_builder::time::parse_iso8601(t).ok_or_else(|| {
        format!("'{t}' is neither Unix seconds nor an ISO-8601 date (2024-06-25 or 2024-06-25T07:22:11)")
    })
}

impl IsoArgs {
    fn bootloader(&self) -> anyhow::Result<Bootloader> {
        let mut b = match &self.bootloader_dir {
            Some(dir) => Bootloader::from_dir(dir).with_context(|| format!("--bootloader-dir {}", dir.display()))?,
            None => Bootloader::default(),
        };
        let single = [
            (BootloaderFile::IsolinuxBin, &self.isolinux),
            (BootloaderFile::IsolinuxCfg, &self.isolinux_cfg),
            (BootloaderFile::MbootC32, &self.mboot),
            (BootloaderFile::MenuC32, &self.menu),
            (BootloaderFile::LdlinuxC32, &self.ldlinux),
            (BootloaderFile::EfibootImg, &self.efiboot),
            (BootloaderFile::BootX64Efi, &self.bootx64),
        ];
        for (which, path) in single {
            if let Some(p) = path {
                // Read later by the builder: refuse a FIFO or device now, before any work.
                esxlcm_depot::input::ensure_regular(p).with_context(|| format!("bootloader file {}", p.display()))?;
                b.set(which, p.clone());
            }
        }
        if let Some(p) = &self.isohybrid_mbr {
            esxlcm_depot::input::ensure_regular(p).with_context(|| format!("--isohybrid-mbr {}", p.display()))?;
            b.set_mbr_boot_code(p.clone());
        }
        if let Some(p) = &self.kickstart {
            esxlcm_depot::input::ensure_regular(p).with_context(|| format!("--kickstart {}", p.display()))?;
        }
        Ok(b)
    }
}

impl BuildArgs {
    /// `--spec-out`, or the deprecated `--json OUT.json` (warned about).
    fn spec_out(&self) -> anyhow::Result<Option<&PathBuf>> {
        match (&self.spec_out, &self.json) {
            (Some(_), Some(Some(_))) => {
                anyhow::bail!("--json OUT.json is the old spelling of --spec-out; give only --spec-out")
            }
            (Some(p), _) => Ok(Some(p)),
            (None, Some(Some(p))) => {
                tracing::warn!("`--json {}` is deprecated: use `--spec-out {}`", p.display(), p.display());
                Ok(Some(p))
            }
            (None, _) => Ok(None),
        }
    }

    /// `--json` given as a flag: the report as JSON.
    fn json_report(&self) -> bool {
        matches!(self.json, Some(None))
    }
}

pub fn run(args: &BuildArgs, ctx: &Context) -> anyhow::Result<Status> {
    let spec_out = args.spec_out()?;
    let outputs: Vec<&Path> =
        [args.iso.as_ref(), args.bundle.as_ref(), spec_out].into_iter().flatten().map(PathBuf::as_path).collect();
    if outputs.is_empty() {
        anyhow::bail!("nothing to build: give at least one of --iso OUT.iso, --bundle OUT.zip, --spec-out OUT.json");
    }
    if !args.overwrite {
        // Before any work: a build that would stop at its last output wastes the others.
        if let Some(existing) = outputs.iter().find(|p| std::fs::symlink_metadata(p).is_ok()) {
            anyhow::bail!("{} already exists; pass --overwrite to replace it", existing.display());
        }
    }
    if let Some(iso) = &args.iso_args.bootloader_iso {
        esxlcm_depot::input::ensure_regular(iso).with_context(|| format!("--bootloader-iso {}", iso.display()))?;
    }
    let bootloader = match &args.iso {
        Some(_) => Some(args.iso_args.bootloader()?),
        None => None,
    };
    let spec = super::image::read_spec(&args.spec)?;
    if !spec.alternative_images.is_empty() {
        tracing::warn!(
            "the spec has {}; only the main image is built",
            count(spec.alternative_images.len(), "alternative image", "alternative images")
        );
    }
    let catalog = super::image::open_catalog(&args.depots, ctx)?;
    let options = ResolveOptions { min_acceptance: args.min_acceptance, allow_downgrades: args.allow_downgrades };
    let resolution = resolve(&spec.image, &catalog, &options);
    if resolution.has_errors() {
        let mut err = std::io::stderr().lock();
        for n in resolution.errors() {
            err.write_all(n.to_text().as_bytes())?;
        }
        let errors = resolution.errors().count();
        return Err(ContentError(format!(
            "the image does not resolve ({}); nothing was built (esxlcm image resolve shows the whole image)",
            count(errors, "error", "errors")
        ))
        .into());
    }
    for n in resolution.notifications.iter().filter(|n| n.severity == esxlcm_solver::Severity::Warning) {
        tracing::warn!("{}", n.message.default_message);
    }
    let image_options = ImageOptions { timestamp: args.timestamp, profile_name: args.profile_name.clone() };
    let image = Image::new(&catalog, &spec, &resolution, &image_options)?;
    let mut progress: Box<dyn Progress> =
        if output::ui().progress { Box::new(BarProgress::new()) } else { Box::new(NoProgress) };
    let mut out = output::stdout();
    let mut report = serde_json::json!({
        "schema": "esxlcm.image-build/1",
        "spec_out": null,
        "bundle": null,
        "iso": null,
    });
    let mut lines = Vec::new();
    if let Some(path) = spec_out {
        let size = image.write_json(path, args.overwrite, progress.as_mut()).map_err(content_or_io)?;
        lines.push(format!("wrote software spec {} ({})", path.display(), human_size(size)));
        report["spec_out"] = serde_json::json!({ "path": path.display().to_string(), "bytes": size });
    }
    if let Some(path) = &args.bundle {
        let written = image.write_bundle(path, args.overwrite, progress.as_mut()).map_err(content_or_io)?;
        let components = written.metadata.bulletins.iter().filter(|b| b.is_component()).count();
        lines.push(format!(
            "wrote offline bundle {}: {}, {} ({})",
            path.display(),
            count(components, "component", "components"),
            count(written.vib_count, "VIB", "VIBs"),
            human_size(written.vib_bytes)
        ));
        report["bundle"] = serde_json::json!({
            "path": path.display().to_string(),
            "components": components,
            "vibs": written.vib_count,
            "vib_bytes": written.vib_bytes,
        });
    }
    if let (Some(path), Some(bootloader)) = (&args.iso, bootloader) {
        let iso_options = IsoOptions {
            bootloader,
            bootloader_iso: args.iso_args.bootloader_iso.clone(),
            volume_id: args.iso_args.volume_id.clone(),
            boot: BootOptions {
                title: args.iso_args.title.clone(),
                kernel_opts: args.iso_args.kernel_opts.clone(),
                kickstart: false,
            },
            kickstart: args.iso_args.kickstart.clone(),
            no_usb: args.iso_args.no_usb,
        };
        let built = image.write_iso(path, args.overwrite, &iso_options, progress.as_mut()).map_err(content_or_io)?;
        for s in &built.skipped_payloads {
            tracing::warn!(
                "VIB {}: payload '{}' of type '{}' is not a boot module type; it is not on the ISO",
                s.vib_id,
                s.payload,
                s.payload_type
            );
        }
        let boot = match (built.bios_boot, built.uefi_boot) {
            (true, true) => "BIOS and UEFI boot",
            (true, false) => "BIOS boot only",
            _ => "UEFI boot only",
        };
        let usb = match (built.usb.hybrid, built.usb.bios, built.usb.uefi) {
            (false, _, _) => "CD/DVD only",
            (true, true, true) => "USB disk: BIOS and UEFI",
            (true, true, false) => "USB disk: BIOS",
            (true, false, true) => "USB disk: UEFI (no MBR boot code for BIOS)",
            (true, false, false) => "USB disk: no boot code",
        };
        let efi = match &built.efi_image {
            Some(e) => format!(
                ", EFIBOOT.IMG {} ({}, {})",
                if e.made { "made" } else { "given" },
                e.fat_type,
                count(e.files.len(), "file", "files")
            ),
            None => String::new(),
        };
        lines.push(format!(
            "wrote installer ISO {}: volume {}, kernel {}, {}, {}{}, {}{} ({}), sha256 {}",
            path.display(),
            built.volume_id,
            built.kernel,
            count(built.modules.len(), "module", "modules"),
            boot,
            efi,
            usb,
            match (built.kickstart, built.rock_ridge) {
                (true, true) => ", kickstart KS.CFG",
                (true, false) => ", kickstart KS.CFG, no Rock Ridge (LDLINUX.C32)",
                (false, true) => "",
                (false, false) => ", no Rock Ridge (LDLINUX.C32)",
            },
            human_size(built.size),
            built.sha256
        ));
        report["iso"] = serde_json::json!({
            "path": path.display().to_string(),
            "volume_id": built.volume_id,
            "kernel": built.kernel,
            "modules": built.modules.len(),
            "bios_boot": built.bios_boot,
            "uefi_boot": built.uefi_boot,
            "efi_image": built.efi_image,
            "usb": built.usb,
            "kickstart": built.kickstart,
            "rock_ridge": built.rock_ridge,
            "kernelopt": built.kernelopt,
            "bytes": built.size,
            "sha256": built.sha256,
            "skipped_payloads": built.skipped_payloads.len(),
        });
    }
    drop(progress);
    if args.json_report() {
        output::write_json(&mut out, &report)?;
    } else {
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(Status::Success)
}

/// Content problems (a VIB that contradicts its metadata, no kernel) exit 1; I/O exits 2.
fn content_or_io(e: esxlcm_builder::BuildError) -> anyhow::Error {
    use esxlcm_builder::BuildError as B;
    use esxlcm_depot::write::WriteError as W;
    let content = match &e {
        B::Unresolved { .. }
        | B::NoKernel { .. }
        | B::ModuleNames { .. }
        | B::VibContent { .. }
        | B::Payload { .. }
        | B::VibArchive { .. } => true,
        B::Bundle(w) => matches!(**w, W::SizeMismatch { .. } | W::TooLong { .. } | W::ChecksumMismatch { .. }),
        _ => false,
    };
    if content { anyhow::Error::new(ContentError(e.to_string())) } else { anyhow::Error::new(e) }
}

/// A progress bar over the bytes of each build stage, on stderr.
struct BarProgress {
    bar: ProgressBar,
}

impl BarProgress {
    fn new() -> Self {
        let bar = output::bytes_bar("", None);
        let style = ProgressStyle::with_template("{msg:16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self { bar }
    }
}

impl Progress for BarProgress {
    fn start(&mut self, stage: Stage, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message(stage.label());
    }

    fn advance(&mut self, done: u64) {
        self.bar.set_position(done);
    }
}

impl Drop for BarProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
