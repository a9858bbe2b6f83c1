//! Boot test of the iso crate on its own: a BIOS-only USB-disk image (no UEFI image, so the
//! system area is an MBR alone, not the GPT + hybrid MBR the builder writes by default)
//! boots in QEMU (SeaBIOS, TCG) through Debian's `isohdpfx.bin` to ISOLINUX, which prints a
//! marker from our `ISOLINUX.CFG` on the serial line.
//!
//! The four boots of what the image builder writes (BIOS and UEFI, CD and USB disk) are in
//! `crates/builder/tests/boot.rs`; this one covers the layout the builder tests do not.
//!
//! ISOLINUX 6 looks for `ldlinux.c32` and `isolinux.cfg` in lower case: it matches ISO 9660
//! names case-insensitively, but Rock Ridge names with `strcmp` and without falling back to
//! the ISO 9660 name. So this image is written without Rock Ridge
//! (`WriteOptions { rock_ridge: false, .. }`), as the builder does when given `LDLINUX.C32`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use esxlcm_iso::{IsoFile, IsoHybrid, IsoImage, IsoSource, IsoSpec, WriteOptions, write_iso_with};
use esxlcm_test_support::qemu::{BOOT_TIMEOUT, boot_until, have};

const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";

/// The image with an isohybrid MBR (Debian's `isohdpfx.bin`), attached as a hard disk as a
/// USB stick written with `dd` is: SeaBIOS runs the MBR, which loads ISOLINUX.BIN from the
/// sector address the writer stored, and ISOLINUX reads our config.
#[test]
fn isohybrid_mbr_alone_boots_a_bios_only_image_as_a_disk() {
    let name = "isohybrid_mbr_alone_boots_a_bios_only_image_as_a_disk";
    if !(have("qemu-system-x86_64", name) && have(ISOLINUX, name) && have(LDLINUX, name) && have(ISOHDPFX, name)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-USB-BIOS-{}", std::process::id());
    // Print the marker, then try a kernel that does not exist: ISOLINUX stays at its prompt.
    let cfg =
        format!("SERIAL 0 115200\nSAY {marker}\nPROMPT 0\nTIMEOUT 0\nDEFAULT halt\nLABEL halt\n  KERNEL NOSUCH.B00\n");
    let spec = IsoSpec {
        volume_id: "ESXLCM-BOOT".into(),
        files: vec![
            IsoFile { path: "ISOLINUX.BIN".into(), source: IsoSource::File(ISOLINUX.into()) },
            IsoFile { path: "LDLINUX.C32".into(), source: IsoSource::File(LDLINUX.into()) },
            IsoFile { path: "ISOLINUX.CFG".into(), source: IsoSource::Bytes(cfg.into_bytes()) },
            IsoFile { path: "EFI/BOOT/BOOT.CFG".into(), source: IsoSource::Bytes(b"kernel=/b.b00\n".to_vec()) },
        ],
        bios_boot: Some("ISOLINUX.BIN".into()),
        uefi_boot: None,
        catalog_path: "BOOT.CAT".into(),
        hybrid: Some(IsoHybrid { mbr_boot_code: Some(std::fs::read(ISOHDPFX).unwrap()) }),
        modified: 1_700_000_000,
    };
    let iso = dir.path().join("boot.iso");
    write_iso_with(&spec, WriteOptions { joliet: true, rock_ridge: false }, &iso, &mut |_, _| {}).unwrap();

    let image = IsoImage::open(&iso).unwrap();
    // Our reader falls back to Joliet names when there is no Rock Ridge.
    assert!(image.files().iter().any(|f| f.path == "LDLINUX.C32"));
    let area = image.system_area();
    assert_eq!(area.mbr_boot_code.as_deref(), Some(&std::fs::read(ISOHDPFX).unwrap()[..]));
    assert!(!area.gpt, "without a UEFI image the table is an MBR alone");
    assert_eq!(area.mbr_partitions.len(), 1);
    assert!(area.mbr_partitions[0].active);
    // sfdisk (util-linux) reads the same table when installed.
    if let Ok(out) = Command::new("sfdisk").arg("-d").arg(&iso).output() {
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(dump.contains("label: dos") && dump.contains("bootable"), "sfdisk -d:\n{dump}");
    }
    let drive = format!("file={},format=raw,if=ide,media=disk,snapshot=on", iso.display());
    let (found, text) = boot_until(["-drive", drive.as_str()], &marker);
    assert!(found, "marker {marker} not on the serial line within {BOOT_TIMEOUT:?}; console:\n{text}");
    assert!(text.contains("ISOLINUX") || text.contains("SYSLINUX"), "{text}");
    assert!(!text.contains("Failed to load ldlinux.c32"), "{text}");
}
