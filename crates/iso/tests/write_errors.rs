//! Write failures are typed, name the file, and leave the destination as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use esxlcm_iso::{IsoError, IsoFile, IsoSource, IsoSpec, plan_size, write_iso};

fn spec(files: Vec<IsoFile>) -> IsoSpec {
    IsoSpec {
        volume_id: "ERR".into(),
        files,
        bios_boot: None,
        uefi_boot: None,
        catalog_path: "BOOT.CAT".into(),
        hybrid: None,
        modified: 0,
    }
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn missing_source_names_the_file_and_keeps_the_old_image() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.iso");
    std::fs::write(&dest, b"previous image").unwrap();
    let missing = dir.path().join("nope.bin");
    let s = spec(vec![
        IsoFile { path: "A.TXT".into(), source: IsoSource::Bytes(b"a".to_vec()) },
        IsoFile { path: "MOD/B.B00".into(), source: IsoSource::File(missing.clone()) },
    ]);
    for err in [plan_size(&s).unwrap_err(), write_iso(&s, &dest, &mut |_, _| {}).unwrap_err()] {
        match &err {
            IsoError::Source { path, source_path, .. } => {
                assert_eq!(path, "MOD/B.B00");
                assert_eq!(source_path, &missing);
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("MOD/B.B00"), "{err}");
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous image");
    assert_eq!(leftovers(dir.path()), ["out.iso"]);
}

#[test]
fn invalid_specs_are_refused_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.iso");
    let file = |p: &str| IsoFile { path: p.into(), source: IsoSource::Bytes(vec![1; 10]) };
    let mut bad_boot = spec(vec![file("ISOLINUX.BIN")]);
    bad_boot.bios_boot = Some("ISOLINUX.BIN".into());
    let mut bad_volume = spec(vec![file("A.TXT")]);
    bad_volume.volume_id = "lower".into();
    let cases: Vec<(IsoSpec, &str)> = vec![
        (spec(vec![file("a.txt")]), "upper-case"),
        (spec(vec![file("A.TXT"), file("A.TXT")]), "duplicate"),
        (spec(vec![file("A/B/C/D/E/F/G/H/I.TXT")]), "at most 7"),
        (bad_boot, "at least 64 are needed"),
        (bad_volume, "invalid volume id"),
    ];
    for (s, want) in cases {
        let err = write_iso(&s, &dest, &mut |_, _| {}).unwrap_err();
        assert!(err.to_string().contains(want), "{err} lacks {want:?}");
        assert!(!dest.exists());
        assert!(leftovers(dir.path()).is_empty());
    }
}

#[test]
fn empty_image_and_files_only_image() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("empty.iso");
    let w = write_iso(&spec(Vec::new()), &dest, &mut |_, _| {}).unwrap();
    assert_eq!(w.size, plan_size(&spec(Vec::new())).unwrap());
    let iso = esxlcm_iso::IsoImage::open(&dest).unwrap();
    assert!(iso.files().is_empty());
    assert!(iso.boot_entries().is_empty());
}
