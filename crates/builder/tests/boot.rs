//! UEFI boot tests: an installer ISO built by the builder from a generated depot, whose only
//! UEFI bootloader is a Debian GRUB EFI binary (`grub-mkstandalone`, an embedded config that
//! prints a marker), boots in QEMU with OVMF (Debian `ovmf`) to that marker on the serial
//! console — from the CD (the El Torito UEFI entry, the FAT `EFIBOOT.IMG` the builder made
//! around the loader) and from the same file attached as a disk (the GPT's EFI system
//! partition over that image), as a USB stick written with `dd` is.
//!
//! The marker is printed by the loader's config only after the firmware has found and run
//! `EFI/BOOT/BOOTX64.EFI` from the FAT image, so it proves the entries, the FAT image and
//! the partition tables are what firmware needs. ESXi's own loader is not needed for that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use esxlcm_builder::{Bootloader, BootloaderFile, Image, ImageOptions, IsoOptions, NoProgress};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::write::write_bundle;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{ResolveOptions, SoftwareSpec, resolve};
use esxlcm_test_support::qemu::{boot_until, have};

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const GRUB_MODULES: &str = "/usr/lib/grub/x86_64-efi/normal.mod";

fn tools(test: &str) -> bool {
    have("qemu-system-x86_64", test)
        && have(OVMF_CODE, test)
        && have(OVMF_VARS, test)
        && have("grub-mkstandalone", test)
        && have(GRUB_MODULES, test)
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

/// An ISO built from a generated depot with `loader` as the only bootloader file.
fn build_iso(dir: &Path, loader: &Path) -> PathBuf {
    let depot = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(5) }).unwrap();
    let bundle = dir.join("depot.zip");
    write_bundle(depot.content(), &depot, &bundle, false).unwrap();
    let catalog = Catalog::from_depots([Depot::open_path(&bundle, &OpenOptions::default()).unwrap()]).unwrap();
    let base = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).max().unwrap();
    let spec = SoftwareSpec { image: ImageSpec::of_base_image(base), ..SoftwareSpec::default() };
    let resolution = resolve(&spec.image, &catalog, &ResolveOptions::default());
    let image = Image::new(&catalog, &spec, &resolution, &ImageOptions::default()).unwrap();
    let mut boot = Bootloader::default();
    boot.set(BootloaderFile::BootX64Efi, loader.to_path_buf());
    let iso = dir.join("uefi.iso");
    let built = image
        .write_iso(&iso, false, &IsoOptions { bootloader: boot, ..IsoOptions::default() }, &mut NoProgress)
        .unwrap();
    assert!(built.uefi_boot && !built.bios_boot);
    assert!(built.efi_image.as_ref().is_some_and(|e| e.made));
    assert!(built.usb.hybrid && built.usb.uefi && !built.usb.bios);
    iso
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

fn uefi_boot(name: &str, media: impl Fn(&Path) -> Vec<String>) {
    if !tools(name) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-UEFI-{}-{}", name.len(), std::process::id());
    let loader = grub_loader(dir.path(), &marker);
    let iso = build_iso(dir.path(), &loader);
    let mut args = firmware(dir.path());
    args.extend(media(&iso));
    let (found, console) = boot_until(&args, &marker);
    assert!(found, "{name}: marker {marker} not on the serial console; console:\n{console}");
}

#[test]
fn uefi_cd_boots_the_made_efi_image() {
    uefi_boot("uefi_cd_boots_the_made_efi_image", |iso| vec!["-cdrom".into(), iso.display().to_string()]);
}

#[test]
fn uefi_usb_disk_boots_the_efi_partition() {
    // The ISO file as a raw disk (what `dd` to a USB stick gives); snapshot: never written.
    uefi_boot("uefi_usb_disk_boots_the_efi_partition", |iso| {
        vec!["-drive".into(), format!("file={},format=raw,if=ide,media=disk,snapshot=on", iso.display())]
    });
}
