//! Directory trees as maps, and upstream depots changed the way real ones change.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every file under `dir`: relative path (with `/`) → bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Bring `upstream` to the content of `from` by rewriting only the files that differ, the
/// way a real depot changes (unchanged files keep their mtime and so their ETag). Returns
/// the changed paths.
pub fn update_upstream(from: &Path, upstream: &Path) -> Vec<String> {
    let mut changed = Vec::new();
    for (rel, bytes) in tree(from) {
        let dest = upstream.join(&rel);
        if fs::read(&dest).ok().as_deref() != Some(bytes.as_slice()) {
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::write(&dest, &bytes).unwrap();
            changed.push(rel);
        }
    }
    changed
}
