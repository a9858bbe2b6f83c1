//! Boot test: an image written around Debian's ISOLINUX boots in QEMU (SeaBIOS, no KVM) far
//! enough that a marker from our `ISOLINUX.CFG` appears on the serial line.
//!
//! The names are upper-case, as on ESXi media (`ISOLINUX.BIN`, `LDLINUX.C32`, `ISOLINUX.CFG`).
//! ISOLINUX 6 looks for `ldlinux.c32` and `isolinux.cfg` in lower case: it matches ISO 9660
//! names case-insensitively, but Rock Ridge names with `strcmp` and without falling back to
//! the ISO 9660 name. So this image is written without Rock Ridge
//! (`WriteOptions { rock_ridge: false, .. }`); ESXi's own ISOLINUX 3.x reads ISO 9660 names
//! only and boots either way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::have;
use esxlcm_iso::{IsoFile, IsoHybrid, IsoImage, IsoSource, IsoSpec, WriteOptions, write_iso_with};

const ISOLINUX: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const LDLINUX: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
// Emulated (TCG) boots crawl when the machine is busy (a CI run building fuzz targets
// beside it took more than 60 s once): the bound only ends a boot that hangs; a good one
// returns as soon as the marker shows.
const TIMEOUT: Duration = Duration::from_secs(300);

const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";

/// An image around Debian's ISOLINUX whose config prints `marker`; with `hybrid`, also a
/// USB-disk layout whose MBR boot code is `isohdpfx.bin`.
fn isolinux_image(dir: &std::path::Path, marker: &str, hybrid: bool) -> std::path::PathBuf {
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
        hybrid: hybrid.then(|| IsoHybrid { mbr_boot_code: Some(std::fs::read(ISOHDPFX).unwrap()) }),
        modified: 1_700_000_000,
    };
    let iso = dir.join("boot.iso");
    write_iso_with(&spec, WriteOptions { joliet: true, rock_ridge: false }, &iso, &mut |_, _| {}).unwrap();
    iso
}

fn boot(args: &[&std::ffi::OsStr], marker: &str) -> (bool, String) {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-nographic", "-no-reboot", "-m", "256", "-serial", "mon:stdio"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Read the serial console on a thread so the wait below can time out.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut console = Vec::new();
    let found = loop {
        if without_escapes(&String::from_utf8_lossy(&console)).contains(marker) {
            break true;
        }
        let Some(left) = TIMEOUT.checked_sub(start.elapsed()) else { break false };
        match rx.recv_timeout(left) {
            Ok(bytes) => console.extend_from_slice(&bytes),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (found, String::from_utf8_lossy(&console).replace('\r', ""))
}

#[test]
fn isolinux_boots_in_qemu_and_reads_our_config() {
    let name = "isolinux_boots_in_qemu_and_reads_our_config";
    if !(have("qemu-system-x86_64", name) && have(ISOLINUX, name) && have(LDLINUX, name)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-ISO-BOOT-{}", std::process::id());
    let iso = isolinux_image(dir.path(), &marker, false);
    // Our reader falls back to Joliet names when there is no Rock Ridge.
    let image = IsoImage::open(&iso).unwrap();
    assert!(image.files().iter().any(|f| f.path == "LDLINUX.C32"));
    assert_eq!(image.system_area(), &esxlcm_iso::SystemArea::default());

    let (found, text) = boot(&["-cdrom".as_ref(), iso.as_os_str()], &marker);
    assert!(found, "marker {marker} not on the serial line within {TIMEOUT:?}; console:\n{text}");
    assert!(text.contains("ISOLINUX"), "{text}");
    assert!(!text.contains("Failed to load ldlinux.c32"), "{text}");
}

/// The same image with an isohybrid MBR (Debian's `isohdpfx.bin`), attached as a hard disk
/// as a USB stick written with `dd` is: SeaBIOS runs the MBR, which loads ISOLINUX.BIN
/// from the sector address the writer stored, and ISOLINUX reads our config.
#[test]
fn isohybrid_mbr_boots_the_image_as_a_disk() {
    let name = "isohybrid_mbr_boots_the_image_as_a_disk";
    if !(have("qemu-system-x86_64", name) && have(ISOLINUX, name) && have(LDLINUX, name) && have(ISOHDPFX, name)) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("ESXLCM-USB-BIOS-{}", std::process::id());
    let iso = isolinux_image(dir.path(), &marker, true);
    let image = IsoImage::open(&iso).unwrap();
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
    let (found, text) = boot(&["-drive".as_ref(), drive.as_ref()], &marker);
    assert!(found, "marker {marker} not on the serial line within {TIMEOUT:?}; console:\n{text}");
    assert!(text.contains("ISOLINUX") || text.contains("SYSLINUX"), "{text}");
}

/// The console text without ANSI escape sequences: SeaBIOS mirrors the VGA screen onto the
/// serial line with cursor moves (`ESC [ 17 ; 14 H`), which can land inside ISOLINUX's own
/// serial output of the marker.
fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in @..~.
            while let Some(&p) = chars.peek() {
                chars.next();
                if ('@'..='~').contains(&p) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn escapes_are_removed_from_the_console_text() {
    assert_eq!(without_escapes("ESXLCM-ISO-BOO\u{1b}[17;14H\u{1b}[17;15HT-1"), "ESXLCM-ISO-BOOT-1");
    assert_eq!(without_escapes("\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS"), "SeaBIOS");
}
