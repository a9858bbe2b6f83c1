//! Conformance of a written ESXi-shaped image, checked with tools that do not share our code:
//! xorriso (El Torito report, extraction), isoinfo (descriptors, Joliet and Rock Ridge trees),
//! a hand recomputation of the boot-info-table; then our own reader against the same image.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{bytes, have, run};
use esxlcm_iso::{BootPlatform, IsoFile, IsoImage, IsoSource, IsoSpec, plan_size, write_iso};
use sha2::{Digest, Sha256};

const MODIFIED: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

/// The ESXi-shaped fixture: spec plus the expected content of every file.
struct Fixture {
    _dir: tempfile::TempDir,
    spec: IsoSpec,
    expected: BTreeMap<String, Vec<u8>>,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = BTreeMap::new();
    let mut files = Vec::new();
    let mut add = |path: &str, content: Vec<u8>, from_file: bool| {
        let source = if from_file {
            let host = dir.path().join(path.replace('/', "_"));
            std::fs::write(&host, &content).unwrap();
            IsoSource::File(host)
        } else {
            IsoSource::Bytes(content.clone())
        };
        files.push(IsoFile { path: path.into(), source });
        expected.insert(path.to_owned(), content);
    };
    let boot_cfg = b"bootstate=0\ntitle=Loading ESXi installer\ntimeout=5\nprefix=\nkernel=/b.b00\n\
kernelopt=runweasel cdromBoot\nmodules=/s.v00 --- /imgdb.tgz\nbuild=8.0.3-0.35.24280767\nupdated=0\n";
    // A stand-in for ISOLINUX.BIN (the boot test uses the real one): 24 KiB + an odd tail,
    // so the boot-info-table checksum covers a partial last word.
    add("ISOLINUX.BIN", bytes(1, 24 * 1024 + 3), false);
    add("ISOLINUX.CFG", b"DEFAULT menu.c32\nTIMEOUT 80\n".to_vec(), false);
    add("EFIBOOT.IMG", bytes(2, 1 << 20), true);
    add("BOOT.CFG", boot_cfg.to_vec(), false);
    add("EFI/BOOT/BOOT.CFG", boot_cfg.to_vec(), false);
    add("EFI/BOOT/BOOTX64.EFI", bytes(3, 70_001), false);
    add("B.B00", bytes(4, 1_500_000), true);
    add("S.V00", bytes(5, 2 << 20), true);
    add("IMGDB.TGZ", bytes(6, 300_000), false);
    add("UPGRADE/METADATA.XML", b"<esxVersion>8.0.3</esxVersion><build>24280767</build>\n".to_vec(), false);
    add("UPGRADE/EMPTY.TXT", Vec::new(), false);
    let spec = IsoSpec {
        volume_id: "ESXI-8.0.3".into(),
        files,
        bios_boot: Some("ISOLINUX.BIN".into()),
        uefi_boot: Some("EFIBOOT.IMG".into()),
        catalog_path: "BOOT.CAT".into(),
        hybrid: None,
        modified: MODIFIED,
    };
    let out = dir.path().join("esxi.iso");
    Fixture { _dir: dir, spec, expected, out }
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Write the fixture, checking size, progress, determinism and hash on the way.
fn written() -> Fixture {
    let f = fixture();
    let planned = plan_size(&f.spec).unwrap();
    let mut calls = Vec::new();
    let w = write_iso(&f.spec, &f.out, &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!(w.size, planned, "plan_size and the written size differ");
    assert_eq!(std::fs::metadata(&f.out).unwrap().len(), planned);
    assert_eq!(w.sha256, sha256_file(&f.out));
    assert_eq!(calls.first(), Some(&(0, planned)));
    assert_eq!(calls.last(), Some(&(planned, planned)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1), "{calls:?}");

    let again = f.out.with_file_name("again.iso");
    let w2 = write_iso(&f.spec, &again, &mut |_, _| {}).unwrap();
    assert_eq!(w2.sha256, w.sha256, "two writes of the same spec differ");
    // Overwriting in place gives the same bytes and leaves no temporary file behind.
    write_iso(&f.spec, &again, &mut |_, _| {}).unwrap();
    assert_eq!(sha256_file(&again), w.sha256);
    let leftovers: Vec<_> = std::fs::read_dir(f.out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    f
}

#[test]
fn xorriso_reports_both_el_torito_entries() {
    if !have("xorriso", "xorriso_reports_both_el_torito_entries") {
        return;
    }
    let f = written();
    let report = run(Command::new("xorriso").arg("-indev").arg(&f.out).args(["-report_el_torito", "as_mkisofs"]));
    for line in [
        "-V 'ESXI-8.0.3'",
        "-c '/BOOT.CAT'",
        "-b '/ISOLINUX.BIN'",
        "-boot-load-size 4",
        "-boot-info-table",
        "-eltorito-alt-boot",
        "-e '/EFIBOOT.IMG'",
    ] {
        assert!(report.lines().any(|l| l == line), "{line:?} missing from\n{report}");
    }
    insta::assert_snapshot!("xorriso_report_el_torito", report);
}

#[test]
fn xorriso_extracts_every_file_byte_identical() {
    if !have("xorriso", "xorriso_extracts_every_file_byte_identical") {
        return;
    }
    let f = written();
    let dir = f.out.with_file_name("extract");
    let out = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(&f.out)
        .args(["-extract", "/"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
                found.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let catalog = found.remove("BOOT.CAT").expect("BOOT.CAT extracted");
    assert_eq!(catalog.len(), 2048);
    let isolinux = found.get("ISOLINUX.BIN").unwrap().clone();
    let source = &f.expected["ISOLINUX.BIN"];
    // Only the boot-info-table bytes 8..64 may differ from the source.
    assert_eq!(isolinux.len(), source.len());
    assert_eq!(isolinux[..8], source[..8]);
    assert_eq!(isolinux[64..], source[64..]);
    found.insert("ISOLINUX.BIN".into(), source.clone());
    assert_eq!(found.keys().collect::<Vec<_>>(), f.expected.keys().collect::<Vec<_>>());
    for (path, content) in &f.expected {
        assert!(found[path] == *content, "{path} differs after extraction");
    }
}

#[test]
fn isoinfo_sees_joliet_rock_ridge_and_the_names() {
    if !have("isoinfo", "isoinfo_sees_joliet_rock_ridge_and_the_names") {
        return;
    }
    let f = written();
    let info = |args: &[&str]| run(Command::new("isoinfo").args(args).arg("-i").arg(&f.out));
    let d = info(&["-d"]);
    for want in [
        "Volume id: ESXI-8.0.3",
        "Logical block size is: 2048",
        "El Torito VD version 1 found",
        "Joliet with UCS level 3 found",
        "Rock Ridge signatures version 1 found",
        "Bootid 88 (bootable)",
        "Boot media 0 (No Emulation Boot)",
        "Nsect 4",
    ] {
        assert!(d.contains(want), "{want:?} missing from isoinfo -d:\n{d}");
    }

    let mut want: Vec<String> = f.expected.keys().map(|p| format!("/{p}")).collect();
    want.push("/BOOT.CAT".into());
    want.sort();
    // Joliet: every file path (plus the directories).
    let joliet: Vec<String> = info(&["-J", "-f"]).lines().map(str::to_owned).collect();
    for path in &want {
        assert!(joliet.contains(path), "Joliet lacks {path}: {joliet:?}");
    }
    // Rock Ridge and plain ISO 9660 listings: names (ISO with ";1") and sizes.
    let sizes = |listing: &str, suffix: &str| -> BTreeMap<String, u64> {
        let mut dir = String::new();
        let mut out = BTreeMap::new();
        for line in listing.lines() {
            if let Some(d) = line.strip_prefix("Directory listing of ") {
                dir = d.trim().to_owned();
            } else if line.starts_with('-') || line.starts_with("----------") {
                let name = line.rsplit("]  ").next().unwrap().trim();
                let size: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
                let name = name.strip_suffix(suffix).unwrap_or_else(|| panic!("{name} lacks {suffix:?}"));
                out.insert(format!("{dir}{name}"), size);
            }
        }
        out
    };
    let mut want_sizes: BTreeMap<String, u64> =
        f.expected.iter().map(|(p, c)| (format!("/{p}"), c.len() as u64)).collect();
    want_sizes.insert("/BOOT.CAT".into(), 2048);
    assert_eq!(sizes(&info(&["-R", "-l"]), ""), want_sizes, "Rock Ridge listing");
    let plain: BTreeMap<String, u64> =
        want_sizes.iter().map(|(p, s)| (if p.contains('.') { p.clone() } else { format!("{p}.") }, *s)).collect();
    assert_eq!(sizes(&info(&["-l"]), ";1"), plain, "ISO 9660 listing");
}

#[test]
fn boot_info_table_recomputed_by_hand() {
    let f = written();
    let image = std::fs::read(&f.out).unwrap();
    let source = &f.expected["ISOLINUX.BIN"];
    // Find the BIOS image through the El Torito structures, not through any file listing:
    // boot record (sector 17) -> catalog -> default entry.
    let brvd = &image[17 * 2048..18 * 2048];
    assert_eq!(&brvd[..7], b"\x00CD001\x01");
    assert_eq!(&brvd[7..30], b"EL TORITO SPECIFICATION");
    let catalog = le32(brvd, 0x47) as usize * 2048;
    let default = &image[catalog + 32..catalog + 64];
    assert_eq!(default[0], 0x88, "default entry bootable");
    assert_eq!(u16::from_le_bytes([default[6], default[7]]), 4, "load size");
    let lba = le32(default, 8);
    let start = lba as usize * 2048;
    let file = &image[start..start + source.len()];
    // The table: PVD LBA, file LBA, file length, checksum of 32-bit words from byte 64 (the
    // last partial word zero-padded), then 40 reserved zero bytes.
    let mut sum = 0u32;
    for chunk in file[64..].chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        sum = sum.wrapping_add(u32::from_le_bytes(word));
    }
    assert_eq!(le32(file, 8), 16, "bi_pvd");
    assert_eq!(le32(file, 12), lba, "bi_file");
    assert_eq!(le32(file, 16), source.len() as u32, "bi_length");
    assert_eq!(le32(file, 20), sum, "bi_csum");
    assert!(file[24..64].iter().all(|&b| b == 0), "bi_reserved");
    assert_eq!(file[..8], source[..8]);
    assert_eq!(file[64..], source[64..]);
    // The rest of the image is untouched source data for the UEFI image too.
    let section = &image[catalog + 64..catalog + 128];
    assert_eq!(section[0], 0x91, "final section header");
    assert_eq!(section[1], 0xEF, "UEFI platform");
    let efi = le32(&section[32..], 8) as usize * 2048;
    assert_eq!(image[efi..efi + (1 << 20)], f.expected["EFIBOOT.IMG"][..]);
}

#[test]
fn our_reader_agrees() {
    let f = written();
    let iso = IsoImage::open(&f.out).unwrap();
    assert_eq!(iso.volume_id(), "ESXI-8.0.3");
    let listed: Vec<(&str, u64)> = iso.files().iter().map(|e| (e.path.as_str(), e.size)).collect();
    let mut want: Vec<(&str, u64)> = f.expected.iter().map(|(p, c)| (p.as_str(), c.len() as u64)).collect();
    want.push(("BOOT.CAT", 2048));
    want.sort();
    assert_eq!(listed, want);
    for (path, content) in &f.expected {
        let got = iso.read_file(path, 10 << 20).unwrap();
        if path == "ISOLINUX.BIN" {
            assert_eq!(got[64..], content[64..]);
        } else {
            assert!(got == *content, "{path} differs");
        }
        let mut streamed = Vec::new();
        iso.open_file(&format!("/{}", path.to_lowercase())).unwrap().read_to_end(&mut streamed).unwrap();
        assert!(streamed == got, "{path}: streamed read differs");
    }
    let boot = iso.boot_entries();
    assert_eq!(boot.len(), 2, "{boot:?}");
    assert_eq!(boot[0].platform, BootPlatform::Bios);
    assert!(boot[0].bootable);
    assert_eq!(boot[0].load_size, 4);
    assert_eq!(boot[0].path.as_deref(), Some("ISOLINUX.BIN"));
    assert_eq!(boot[1].platform, BootPlatform::Uefi);
    assert!(boot[1].bootable);
    assert_eq!(boot[1].load_size, 2048, "1 MiB in 512-byte sectors");
    assert_eq!(boot[1].path.as_deref(), Some("EFIBOOT.IMG"));
    let isolinux = iso.files().iter().find(|e| e.path == "ISOLINUX.BIN").unwrap();
    assert_eq!(boot[0].lba, isolinux.lba);
    assert!(matches!(iso.read_file("S.V00", 1000), Err(esxlcm_iso::IsoError::TooLarge { .. })));
    assert!(matches!(iso.read_file("NOPE.TXT", 1000), Err(esxlcm_iso::IsoError::NotFound { .. })));
}
