//! Property: random small file sets round-trip through `write_iso_with` and `IsoImage`
//! (paths, sizes, contents), under every choice of name extensions — so the reader's Rock
//! Ridge, Joliet and plain ISO 9660 name paths are all exercised — and the written size is
//! always the planned one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;

use esxlcm_iso::{IsoFile, IsoImage, IsoSource, IsoSpec, WriteOptions, plan_size_with, write_iso_with};
use proptest::prelude::*;

fn dir_name() -> impl Strategy<Value = String> {
    "[A-Z0-9_]{1,8}"
}

fn file_name() -> impl Strategy<Value = String> {
    ("[A-Z0-9_]{1,8}", proptest::option::of("[A-Z0-9_]{1,3}"))
        .prop_map(|(stem, ext)| ext.map_or(stem.clone(), |ext| format!("{stem}.{ext}")))
}

fn file_set() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
    let path = (proptest::collection::vec(dir_name(), 0..3), file_name()).prop_map(|(dirs, file)| {
        let mut parts = dirs;
        parts.push(file);
        parts.join("/")
    });
    let content = prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..3000),
        1 => (0usize..70_000, any::<u8>()).prop_map(|(len, b)| vec![b; len]),
    ];
    proptest::collection::btree_map(path, content, 1..12).prop_map(|mut files| {
        // Drop files whose path another file needs as a directory.
        let dirs: Vec<String> = files
            .keys()
            .flat_map(|p| p.match_indices('/').map(|(i, _)| p[..i].to_owned()).collect::<Vec<_>>())
            .collect();
        files.retain(|p, _| !dirs.contains(p));
        files
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn files_round_trip(files in file_set(), joliet in any::<bool>(), rock_ridge in any::<bool>(), file_source in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let spec = IsoSpec {
            volume_id: "PROP".into(),
            files: files
                .iter()
                .enumerate()
                .map(|(i, (path, content))| {
                    let source = if file_source && i % 2 == 0 {
                        let host = dir.path().join(format!("src{i}"));
                        std::fs::write(&host, content).unwrap();
                        IsoSource::File(host)
                    } else {
                        IsoSource::Bytes(content.clone())
                    };
                    IsoFile { path: path.clone(), source }
                })
                .collect(),
            bios_boot: None,
            uefi_boot: None,
            catalog_path: "BOOT.CAT".into(),
            hybrid: None,
            modified: 1_234_567_890,
        };
        let options = WriteOptions { joliet, rock_ridge };
        let out = dir.path().join("p.iso");
        let written = write_iso_with(&spec, options, &out, &mut |_, _| {}).unwrap();
        prop_assert_eq!(written.size, plan_size_with(&spec, options).unwrap());
        prop_assert_eq!(written.size, std::fs::metadata(&out).unwrap().len());

        let iso = IsoImage::open(&out).unwrap();
        prop_assert_eq!(iso.volume_id(), "PROP");
        prop_assert!(iso.boot_entries().is_empty());
        let listed: Vec<(String, u64)> = iso.files().iter().map(|e| (e.path.clone(), e.size)).collect();
        let want: Vec<(String, u64)> = files.iter().map(|(p, c)| (p.clone(), c.len() as u64)).collect();
        prop_assert_eq!(listed, want);
        for (path, content) in &files {
            let mut got = Vec::new();
            iso.open_file(path).unwrap().read_to_end(&mut got).unwrap();
            prop_assert!(&got == content, "{} differs", path);
        }
    }
}
