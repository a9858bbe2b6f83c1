//! A payload larger than its metadata declares (a VIB truncated-extended upstream) is read
//! only one byte past its declared size, quarantined once however often the sync retries,
//! and kept only as much as shows the defect.

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
