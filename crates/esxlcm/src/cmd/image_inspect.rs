//! `esxlcm image inspect FILE.iso`: what an ESXi installer ISO holds — volume id, El Torito
//! entries, BOOT.CFG (kernel, modules in order, build), the image database in IMGDB.TGZ
//! (profile, VIBs with versions), the UEFI image's FAT files, the USB-disk partition tables
//! and the file list. The reading is `esxlcm_builder::inspect`
//! (bounded, for untrusted images); this module renders it as text or JSON
//! (`esxlcm.image-inspect/1`, docs/cli-json.md).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use esxlcm_builder::imgdb::ImgDbLimits;
use esxlcm_builder::inspect::{EfiBootCfg, IsoInspection, inspect_iso};

use super::{ContentError, Context, Status};
use crate::output::{self, Table, count, human_size};

const AFTER_HELP: &str = "\
Reads any ISO 9660 image (Joliet and Rock Ridge names when present) and, for an ESXi
installer, its BOOT.CFG and the image database in IMGDB.TGZ. The image is untrusted: sizes,
member counts and the decompressed size of IMGDB.TGZ are capped, and every module BOOT.CFG
names is checked to be on the image.

Examples:
  esxlcm image inspect VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso
  esxlcm image inspect custom.iso --json | jq '.image_db.vibs[] | {name, version}'

Exit status: 0 a readable installer image with no problem found, 1 problems found (no
BOOT.CFG, a module missing, an unreadable IMGDB.TGZ, not an ISO image), 2 unreadable file.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct InspectIsoArgs {
    /// The ISO image
    #[arg(value_name = "FILE.iso")]
    pub file: PathBuf,

    /// Write one JSON object (schema esxlcm.image-inspect/1) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InspectIsoArgs, _ctx: &Context) -> anyhow::Result<Status> {
    // A FIFO or device would block or never end in the ISO reader.
    esxlcm_depot::input::ensure_regular(&args.file)
        .with_context(|| format!("cannot read ISO image {}", args.file.display()))?;
    let inspection = inspect_iso(&args.file, ImgDbLimits::default()).map_err(|e| {
        let file = args.file.display();
        if matches!(e, esxlcm_iso::IsoError::Io { .. }) {
            anyhow::Error::new(e).context(format!("cannot read ISO image {file}"))
        } else {
            anyhow::Error::new(ContentError(format!("{file} is not a readable ISO image: {e}")))
        }
    })?;
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &inspection)?;
    } else {
        write_text(&mut out, &inspection).context("writing the report")?;
    }
    out.flush()?;
    Ok(if inspection.problems.is_empty() { Status::Success } else { Status::Findings })
}

/// The text report.
pub(crate) fn write_text(out: &mut dyn Write, r: &IsoInspection) -> std::io::Result<()> {
    writeln!(out, "Volume: {}", r.volume_id)?;
    if r.boot_entries.is_empty() {
        writeln!(out, "El Torito: none (not bootable)")?;
    } else {
        writeln!(out, "El Torito:")?;
        for e in &r.boot_entries {
            writeln!(
                out,
                "  {} {}, {} sectors at LBA {}{}",
                e.platform,
                if e.bootable { "bootable" } else { "not bootable" },
                e.load_size,
                e.lba,
                e.path.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
            )?;
        }
    }
    match &r.boot_cfg {
        Some(cfg) => {
            let efi = match r.efi_boot_cfg {
                EfiBootCfg::Same => "EFI/BOOT/BOOT.CFG is the same",
                EfiBootCfg::Different => "EFI/BOOT/BOOT.CFG differs",
                EfiBootCfg::Absent => "no EFI/BOOT/BOOT.CFG",
            };
            writeln!(out, "BOOT.CFG: build {}, title '{}' ({efi})", cfg.build, cfg.title)?;
            writeln!(out, "  kernel: {} {}", cfg.kernel, cfg.kernelopt)?;
            writeln!(out, "  modules ({}):", cfg.modules.len())?;
            for line in cfg.modules.chunks(8) {
                writeln!(out, "    {}", line.join(" "))?;
            }
        }
        None => writeln!(out, "BOOT.CFG: none")?,
    }
    if let Some(efi) = &r.efi_image {
        writeln!(
            out,
            "EFI boot image{}: {}, {}",
            efi.path.as_ref().map(|p| format!(" {p}")).unwrap_or_default(),
            efi.fat_type,
            human_size(efi.size)
        )?;
        for f in &efi.files {
            writeln!(out, "  {} ({} bytes)", f.path, f.size)?;
        }
    }
    let usb = &r.usb;
    if usb.mbr_partitions.is_empty() {
        writeln!(out, "USB disk: no partition table (CD/DVD only)")?;
    } else {
        let efi_partition = usb.mbr_partitions.iter().any(|p| p.kind == "0xef") || usb.gpt;
        writeln!(
            out,
            "USB disk: {} MBR partition(s){}; BIOS boot code {}, {}",
            usb.mbr_partitions.len(),
            if usb.gpt { " and a GPT" } else { "" },
            if usb.mbr_boot_code { "present" } else { "absent" },
            if efi_partition { "EFI partition present" } else { "no EFI partition" }
        )?;
        for p in &usb.mbr_partitions {
            writeln!(
                out,
                "  {} type {}{}, sectors {}..{}",
                p.number,
                p.kind,
                if p.active { " active" } else { "" },
                p.start,
                u64::from(p.start) + u64::from(p.sectors)
            )?;
        }
    }
    if let Some(db) = &r.image_db {
        for p in &db.profiles {
            writeln!(
                out,
                "Image profile: {} (creator {}, acceptance {}, {})",
                p.name,
                p.creator,
                p.acceptance_level,
                count(p.vib_count, "VIB", "VIBs")
            )?;
        }
        writeln!(out, "VIBs in IMGDB.TGZ ({}):", db.vibs.len())?;
        let mut table = Table::new(["NAME", "VERSION", "VENDOR", "ACCEPTANCE"]);
        for v in &db.vibs {
            table.row([v.name.clone(), v.version.clone(), v.vendor.clone(), v.acceptance_level.clone()]);
        }
        table.write(out, "  ")?;
        writeln!(out, "Bulletins in IMGDB.TGZ: {}", db.bulletins.len())?;
    }
    writeln!(out, "Files ({}, {}):", r.files.len(), human_size(r.total_file_bytes))?;
    let mut table = Table::new(["PATH", "SIZE"]);
    for f in &r.files {
        table.row([f.path.clone(), f.size.to_string()]);
    }
    table.write(out, "  ")?;
    if r.problems.is_empty() {
        writeln!(out, "No problems found.")?;
    } else {
        writeln!(out, "Problems ({}):", r.problems.len())?;
        for p in &r.problems {
            writeln!(out, "  {p}")?;
        }
    }
    Ok(())
}
