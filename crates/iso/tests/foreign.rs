//! Our reader on images written by other tools: xorriso (Rock Ridge + Joliet) and genisoimage
//! (Rock Ridge with a relocated deep directory; Joliet only; plain ISO 9660), each listing
//! and content compared with the source tree, and the El Torito entries of a BIOS + UEFI image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{bytes, have, run};
use esxlcm_iso::{BootPlatform, IsoImage};

/// A tree with mixed-case long names and a directory nine levels deep (ISO 9660 allows 8, so
/// Rock Ridge writers relocate it).
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut add = |rel: &str, content: Vec<u8>| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &content).unwrap();
        files.insert(rel.to_owned(), content);
    };
    add("ISOLINUX.BIN", bytes(1, 8192));
    add("EFIBOOT.IMG", bytes(2, 64 * 1024));
    add("boot.cfg", b"kernel=/b.b00\n".to_vec());
    add("Mixed Case Long Name.txt", bytes(3, 5000));
    add("efi/boot/bootx64.efi", bytes(4, 3000));
    add("a/b/c/d/e/f/g/h/i/deep.txt", b"deep".to_vec());
    add("big.bin", bytes(5, 1_300_000));
    files
}

fn listing(iso: &IsoImage) -> Vec<(String, u64)> {
    iso.files().iter().map(|e| (e.path.clone(), e.size)).collect()
}

fn expect(files: &BTreeMap<String, Vec<u8>>, names: impl Fn(&str) -> String) -> Vec<(String, u64)> {
    let mut want: Vec<(String, u64)> = files.iter().map(|(p, c)| (names(p), c.len() as u64)).collect();
    want.sort();
    want
}

fn check_contents(iso: &IsoImage, files: &BTreeMap<String, Vec<u8>>, names: impl Fn(&str) -> String) {
    for (path, content) in files {
        let got = iso.read_file(&names(path), 1 << 24).unwrap();
        if path == "ISOLINUX.BIN" {
            assert_eq!(got[64..], content[64..], "boot-info-table aside, {path} is unchanged");
        } else {
            assert!(got == *content, "{path} differs");
        }
    }
}

#[test]
fn xorriso_rock_ridge_and_joliet_image() {
    if !have("xorriso", "xorriso_rock_ridge_and_joliet_image") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files = tree(&src);
    let iso_path = dir.path().join("x.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-J", "-R", "-V", "XORRISO_TEST"])
        .args(["-b", "ISOLINUX.BIN", "-c", "BOOT.CAT", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .args(["-eltorito-alt-boot", "-e", "EFIBOOT.IMG", "-no-emul-boot", "-o"])
        .arg(&iso_path)
        .arg(&src));
    let iso = IsoImage::open(&iso_path).unwrap();
    assert_eq!(iso.volume_id(), "XORRISO_TEST");
    let mut want = expect(&files, str::to_owned);
    want.push(("BOOT.CAT".into(), 2048));
    want.sort();
    assert_eq!(listing(&iso), want, "Rock Ridge names");
    check_contents(&iso, &files, str::to_owned);
    let boot = iso.boot_entries();
    assert_eq!(boot.len(), 2, "{boot:?}");
    assert_eq!((boot[0].platform, boot[0].load_size), (BootPlatform::Bios, 4));
    assert_eq!(boot[0].path.as_deref(), Some("ISOLINUX.BIN"));
    assert_eq!(boot[1].platform, BootPlatform::Uefi);
    assert_eq!(boot[1].path.as_deref(), Some("EFIBOOT.IMG"));
}

#[test]
fn genisoimage_relocation_joliet_and_plain_images() {
    if !have("genisoimage", "genisoimage_relocation_joliet_and_plain_images") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let files = tree(&src);
    let make = |name: &str, args: &[&str]| {
        let out = dir.path().join(name);
        run(Command::new("genisoimage").args(["-quiet", "-V", "GENISO"]).args(args).arg("-o").arg(&out).arg(&src));
        IsoImage::open(&out).unwrap()
    };

    // Rock Ridge: the deep directory is relocated (rr_moved, CL/RE/PL) but listed in place.
    let rr = make("rr.iso", &["-R"]);
    assert_eq!(listing(&rr), expect(&files, str::to_owned), "Rock Ridge with relocation");
    check_contents(&rr, &files, str::to_owned);

    // Joliet only (genisoimage needs relaxed depth to write the deep tree without Rock Ridge).
    let joliet = make("joliet.iso", &["-J", "-D"]);
    assert_eq!(listing(&joliet), expect(&files, str::to_owned), "Joliet names");
    check_contents(&joliet, &files, str::to_owned);

    // Plain ISO 9660 level 1: upper-case 8.3 names made by genisoimage; compare sizes by the
    // mangled names isoinfo reports, and contents through our reader.
    let plain = make("plain.iso", &["-D"]);
    let isoinfo = have("isoinfo", "genisoimage_relocation_joliet_and_plain_images");
    let names = listing(&plain);
    assert_eq!(names.len(), files.len());
    let mut sizes: Vec<u64> = names.iter().map(|(_, s)| *s).collect();
    let mut want_sizes: Vec<u64> = files.values().map(|c| c.len() as u64).collect();
    sizes.sort_unstable();
    want_sizes.sort_unstable();
    assert_eq!(sizes, want_sizes);
    assert!(names.iter().any(|(n, _)| n == "A/B/C/D/E/F/G/H/I/DEEP.TXT"), "{names:?}");
    assert!(names.iter().all(|(n, _)| !n.contains(';')), "{names:?}");
    if isoinfo {
        let out = run(Command::new("isoinfo").args(["-f", "-i"]).arg(dir.path().join("plain.iso")));
        for (name, _) in &names {
            assert!(
                out.lines().any(|l| l.trim_end_matches(";1").trim_end_matches('.') == format!("/{name}")),
                "{name}"
            );
        }
    }
    assert_eq!(plain.read_file("efi/boot/bootx64.efi", 1 << 20).unwrap(), files["efi/boot/bootx64.efi"]);
}
