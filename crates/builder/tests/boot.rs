//! Boot tests: installer ISOs built by the builder (`Image::write_iso`) from a generated
//! depot boot in QEMU (TCG) to a marker on the serial console, four ways:
//!
//! | Firmware | Medium | Loader the builder put on the image |
//! |---|---|---|
//! | SeaBIOS | CD (`-cdrom`) | Debian ISOLINUX (+ `LDLINUX.C32`), our `ISOLINUX.CFG` prints the marker |
//! | SeaBIOS | disk (the file as a USB stick written with `dd`) | Debian `isohdpfx.bin` in the MBR → the same ISOLINUX |
//! | OVMF | CD | Debian GRUB EFI (`grub-mkstandalone`, an embedded config printing the marker) in the `EFIBOOT.IMG` the builder made |
//! | OVMF | disk | the same, through the GPT's EFI system partition |
//!
//! The markers are printed by the loaders' configs, so they show only after the firmware
//! found the El Torito entry, the MBR boot code, the FAT image or the EFI partition the
//! builder wrote and ran the loader from it. ESXi's own loaders are not needed for that.
//! The BIOS images are written in the builder's default shape, with a (stand-in) UEFI loader
//! too: both El Torito entries, a GPT and a hybrid MBR, as a real installer is.
//!
//! A missing tool skips a test with a printed reason, or fails it when `CI` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use esxlcm_builder::{Bootloader, BootloaderFile, Image, ImageOptions, IsoBuilt, IsoOptions, NoProgress};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::write::write_bundle;
use esxlcm_iso::IsoImage;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, SoftwareSpec, resolve};
use esxlcm_test_support::qemu::{boot_until, have};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const GRUB_MODULES: &str = "/usr/lib/grub/x86_64-efi/normal.mod";
const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
/// SYSLINUX's multiboot module: stands in for ESXi's `mboot.c32`, which the builder requires
/// beside ISOLINUX; our `ISOLINUX.CFG` never starts it.
const MBOOT: &str = "/usr/lib/syslinux/modules/bios/mboot.c32";

fn uefi_tools(test: &str) -> bool {
    have("qemu-system-x86_64", test)
        && have(OVMF_CODE, test)
        && have(OVMF_VARS, test)
        && have("grub-mkstandalone", test)
        && have(GRUB_MODULES, test)
}

fn bios_tools(test: &str) -> bool {
    have("qemu-system-x86_64", test)
        && have(ISOLINUX, test)
        && have(ISOHDPFX, test)
        && have(LDLINUX, test)
        && have(MBOOT, test)
}

/// A GRUB EFI executable whose embedded config prints `marker` and waits.
fn grub_loader(dir: &Path, marker: &str) -> PathBuf {
    let cfg = dir.join("grub.cfg");
    std::fs::write(&cfg, format!("echo {marker}\nsleep 600\n")).unwrap();
    let out = dir.join("grubx64.efi");
    let status = Command::new("grub-mkstandalone")
        .args(["-O", "x86_64-efi", "--install-modules=normal echo sleep", "--locales=", "--fonts=", "--themes="])
        .arg("-o")
        .arg(&out)
        .arg(format!("boot/grub/grub.cfg={}", cfg.display()))
        .status()
        .unwrap();
    assert!(status.success(), "grub-mkstandalone failed");
    out
}

/// Debian's ISOLINUX with an `ISOLINUX.CFG` that prints `marker` on the serial line and then
/// tries a kernel that does not exist (ISOLINUX stays at its prompt), Debian's
/// `isohdpfx.bin` as MBR boot code, and a stand-in UEFI loader (`MZ` and zeros, as large as
/// a DOS header: the builder checks no more, and the BIOS boots never run it).
fn isolinux_bootloader(dir: &Path, marker: &str) -> Bootloader {
    let cfg = dir.join("isolinux.cfg");
    std::fs::write(
        &cfg,
        format!("SERIAL 0 115200\nSAY {marker}\nPROMPT 0\nTIMEOUT 0\nDEFAULT halt\nLABEL halt\n  KERNEL NOSUCH.B00\n"),
    )
    .unwrap();
    let efi = dir.join("standin.efi");
    let mut standin = b"MZ".to_vec();
    standin.resize(4096, 0);
    std::fs::write(&efi, standin).unwrap();
    let mut boot = Bootloader::default();
    boot.set(BootloaderFile::IsolinuxBin, ISOLINUX.into());
    boot.set(BootloaderFile::LdlinuxC32, LDLINUX.into());
    boot.set(BootloaderFile::MbootC32, MBOOT.into());
    boot.set(BootloaderFile::IsolinuxCfg, cfg);
    boot.set(BootloaderFile::BootX64Efi, efi);
    boot.set_mbr_boot_code(ISOHDPFX.into());
    boot
}

/// An ISO built from a generated depot with `bootloader`, in the default (USB-hybrid) shape.
fn build_iso(dir: &Path, bootloader: Bootloader) -> (PathBuf, IsoBuilt) {
    let depot = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(5) }).unwrap();
    let bundle = dir.join("depot.zip");
    write_bundle(depot.content(), &depot, &bundle, false).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let base = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).max().unwrap();
    let spec = SoftwareSpec { image: ImageSpec::of_base_image(base), ..SoftwareSpec::default() };
    let resolution = resolve(&spec.image, &catalog, &ResolveOptions::default());
    let image = Image::new(&catalog, &spec, &resolution, &ImageOptions::default()).unwrap();
    let iso = dir.join("installer.iso");
    let built =
        image.write_iso(&iso, false, &IsoOptions { bootloader, ..IsoOptions::default() }, &mut NoProgress).unwrap();
    (iso, built)
}

fn firmware(dir: &Path) -> Vec<String> {
    let vars = dir.join("vars.fd");
    std::fs::copy(OVMF_VARS, &vars).unwrap();
    vec![
        "-drive".into(),
        format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
        "-drive".into(),
        format!("if=pflash,format=raw,file={}", vars.display()),
    ]
}

fn cdrom(iso: &Path) -> Vec<String> {
    vec!["-cdrom".into(), iso.display().to_string()]
}

/// The ISO file as a raw disk (what `dd` to a USB stick gives); snapshot: never written.
fn usb_disk(iso: &Path) -> Vec<String> {
    vec!["-drive".into(), format!("file={},format=raw,if=ide,media=disk,snapshot=on", iso.display())]
}

fn uefi_boot(name: &str, media: fn(&Path) -> Vec<String>) {
    if !uefi_tools(name) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-UEFI-{}-{}", name.len(), std::process::id());
    let mut boot = Bootloader::default();
    boot.set(BootloaderFile::BootX64Efi, grub_loader(dir.path(), &marker));
    let (iso, built) = build_iso(dir.path(), boot);
    assert!(built.uefi_boot && !built.bios_boot);
    assert!(built.efi_image.as_ref().is_some_and(|e| e.made));
    assert!(built.usb.hybrid && built.usb.uefi && !built.usb.bios);
    assert!(built.rock_ridge);
    let mut args = firmware(dir.path());
    args.extend(media(&iso));
    let (found, console) = boot_until(&args, &marker);
    assert!(found, "{name}: marker {marker} not on the serial console; console:\n{console}");
}

fn bios_boot(name: &str, media: fn(&Path) -> Vec<String>) {
    if !bios_tools(name) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-BIOS-{}-{}", name.len(), std::process::id());
    let (iso, built) = build_iso(dir.path(), isolinux_bootloader(dir.path(), &marker));
    assert!(built.bios_boot && built.uefi_boot);
    assert!(built.usb.hybrid && built.usb.bios && built.usb.uefi);
    // ISOLINUX 6 compares Rock Ridge names exactly: with LDLINUX.C32 the builder leaves them out.
    assert!(!built.rock_ridge);
    let image = IsoImage::open(&iso).unwrap();
    let area = image.system_area();
    assert_eq!(area.mbr_boot_code.as_deref(), Some(&std::fs::read(ISOHDPFX).unwrap()[..]));
    assert!(area.gpt, "the default layout with a UEFI image has a GPT beside the hybrid MBR");
    let (found, console) = boot_until(media(&iso), &marker);
    assert!(found, "{name}: marker {marker} not on the serial console; console:\n{console}");
    assert!(console.contains("ISOLINUX"), "{name}: {console}");
    assert!(!console.contains("Failed to load ldlinux.c32"), "{name}: {console}");
}

#[test]
fn bios_cd_boots_isolinux_from_the_el_torito_entry() {
    bios_boot("bios_cd_boots_isolinux_from_the_el_torito_entry", cdrom);
}

#[test]
fn bios_usb_disk_boots_isolinux_through_the_hybrid_mbr() {
    bios_boot("bios_usb_disk_boots_isolinux_through_the_hybrid_mbr", usb_disk);
}

#[test]
fn uefi_cd_boots_the_made_efi_image() {
    uefi_boot("uefi_cd_boots_the_made_efi_image", cdrom);
}

#[test]
fn uefi_usb_disk_boots_the_efi_partition() {
    uefi_boot("uefi_usb_disk_boots_the_efi_partition", usb_disk);
}
