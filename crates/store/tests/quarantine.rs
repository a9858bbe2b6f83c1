//! A payload larger than its metadata declares (a VIB truncated-extended upstream) is read
//! only one byte past its declared size, quarantined once however often the sync retries,
//! and kept only as much as shows the defect; a bundle member that cannot be read whole
//! (a ZIP bomb, a corrupt deflate stream) is refused and quarantined the same way.

use std::io::Write as _;

use crate::common::{generate_tree, sync};
use esxlcm_store::Store;
use esxlcm_store::ops::LockWait;
use esxlcm_store::source::SourceConfig;
use esxlcm_store::sync::Outcome;

#[test]
fn an_oversized_vib_is_cut_at_its_declared_size_and_quarantined_once() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("up");
    generate_tree(2, &upstream);
    let vib = walk(&upstream).into_iter().find(|p| p.extension().is_some_and(|e| e == "vib")).unwrap();
    let declared = std::fs::metadata(&vib).unwrap().len();
    // 8 MiB of garbage after the real bytes: the metadata still declares the old size.
    let mut f = std::fs::File::options().append(true).open(&vib).unwrap();
    f.write_all(&vec![0x5a; 8 << 20]).unwrap();
    drop(f);

    let store = Store::open(&dir.path().join("store")).unwrap();
    let url = format!("file://{}/", upstream.display());
    store.add_source(&SourceConfig::new("up", &url).unwrap(), LockWait::NONE).unwrap();
    for attempt in 0..3 {
        let r = sync(&store, "up").unwrap();
        assert_eq!(r.outcome, Outcome::Rejected, "attempt {attempt}");
        assert_eq!(r.rejected.len(), 1);
        assert!(r.rejected[0].reason.contains("size"), "{}", r.rejected[0].reason);
    }
    let quarantined = store.quarantined().unwrap();
    assert_eq!(quarantined.len(), 1, "one record, however many retries: {quarantined:?}");
    let kept = store.root().join(&quarantined[0].file);
    assert_eq!(std::fs::metadata(&kept).unwrap().len(), declared + 1, "read one byte past the declared size");
    let files = std::fs::read_dir(store.root().join("quarantine")).unwrap().count();
    assert_eq!(files, 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A bundle's VIB members that cannot be read whole — one inflating past the size its ZIP
/// header declares (the declared part being the real VIB), one with a corrupt deflate
/// stream — are the bundle's defect: each is refused as its payload and quarantined (no
/// more than the declared size kept), the push refused and nothing published; not a
/// failure of the store.
#[test]
fn bundle_members_that_cannot_be_read_whole_are_refused_as_their_payloads() {
    use esxlcm_depot::archive::{ArchiveLimits, DeterministicZip, SafeZip};
    use esxlcm_test_support::zip_headers::{forge_size, patch_headers};

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.zip");
    crate::common::generate_bundle(2, &good);
    let bytes = std::fs::read(&good).unwrap();
    let mut zip = SafeZip::open(std::io::Cursor::new(&bytes[..]), ArchiveLimits::default()).unwrap();
    let names: Vec<String> = zip.names().iter().filter(|n| !n.ends_with('/')).cloned().collect();
    let mut members: Vec<(String, Vec<u8>)> =
        names.into_iter().map(|n| (n.clone(), zip.read_to_vec(&n, u64::MAX).unwrap())).collect();
    let vibs: Vec<usize> = (0..members.len()).filter(|&i| members[i].0.ends_with(".vib")).take(3).collect();
    let (bomb, corrupt) = (members[vibs[0]].0.clone(), members[vibs[1]].0.clone());
    let real_len = members[vibs[0]].1.len();
    members[vibs[0]].1.extend(vec![0u8; 32 << 20]);
    // The metadata names a third VIB the bundle does not hold.
    let missing = members.remove(vibs[2]).0;
    let mut out = DeterministicZip::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in &members {
        out.add_bytes(name, data).unwrap();
    }
    let hostile = forge_size(out.finish().unwrap().into_inner(), &bomb, u32::try_from(real_len).unwrap());
    // Garble the middle of the other VIB's compressed data.
    let hostile = patch_headers(hostile, &corrupt, |zip, central, local| {
        let le = |at: usize, n: usize| (0..n).fold(0usize, |v, i| v | usize::from(zip[at + i]) << (8 * i));
        let compressed = le(central + 20, 4);
        let data = local + 30 + le(local + 26, 2) + le(local + 28, 2);
        for b in &mut zip[data + compressed / 3..data + compressed / 3 + 16] {
            *b ^= 0xa5;
        }
    });
    let bundle = dir.path().join("hostile.zip");
    std::fs::write(&bundle, hostile).unwrap();

    let store = Store::open(&dir.path().join("store")).unwrap();
    let pushed = store
        .push(
            "oem",
            &bundle,
            &esxlcm_store::sync::SyncOptions::default(),
            LockWait::NONE,
            &esxlcm_store::sync::NoProgress,
        )
        .unwrap();
    assert_eq!(pushed.report.outcome, Outcome::Rejected);
    let by_path: std::collections::BTreeMap<&str, &esxlcm_store::sync::Rejected> =
        pushed.report.rejected.iter().map(|r| (r.path.as_str(), r)).collect();
    assert_eq!(by_path.keys().copied().collect::<Vec<_>>(), {
        let mut all = vec![bomb.as_str(), corrupt.as_str(), missing.as_str()];
        all.sort_unstable();
        all
    });
    let bombed = by_path[bomb.as_str()];
    assert_eq!(
        bombed.reason,
        format!(
            "the bundle's member cannot be read: member '{bomb}' inflates past its declared size of {real_len} \
             bytes (forged header or ZIP bomb)"
        )
    );
    assert_eq!(std::fs::metadata(&bombed.quarantine_file).unwrap().len(), real_len as u64, "nothing past it kept");
    let garbled = by_path[corrupt.as_str()];
    assert!(garbled.reason.starts_with("the bundle's member cannot be read: "), "{}", garbled.reason);
    assert!(garbled.quarantine_file.is_file());
    let absent = by_path[missing.as_str()];
    assert!(absent.reason.contains(&format!("no file '{missing}'")), "{}", absent.reason);
    assert!(store.source("oem").is_err(), "nothing published, no source left");
}
