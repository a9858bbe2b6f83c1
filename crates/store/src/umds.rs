//! UMDS exports as a source (depot-format §1.5, peers §3): `vmware-umds -E --export-store`
//! writes host content as `hostupdate/<vendor code>/…`, each vendor directory holding that
//! vendor's vendor index (a `metaList` document), metadata zips and VIBs, sometimes with an
//! `index.xml` vendor list at the export's root or under `hostupdate/`.
//!
//! The layout is known only from third-party descriptions ([3P]), so reading is lenient:
//! any `.xml` file a few levels under a vendor directory whose root element is `metaList` is
//! a vendor index; anything else there is ignored (and logged at debug level).

use std::fs;
use std::io::Read as _;
use std::path::Path;

use esxlcm_depot::model::index::ESX_CONTENT_TYPE;
use esxlcm_depot::model::{VendorEntry, VendorIndex, VendorList};

/// Where an export's vendor list may be, relative to its root (HTTP(S) needs one).
pub const LIST_CANDIDATES: [&str; 2] = ["index.xml", "hostupdate/index.xml"];

/// How deep under `hostupdate/<vendor>/` vendor indexes are looked for.
const MAX_DEPTH: usize = 3;
/// Larger `.xml` files are not vendor indexes (those are a few KiB).
const MAX_INDEX: u64 = 4 << 20;

/// Find every vendor index under `<root>/hostupdate/<vendor>/` and make the vendor list
/// that names them, paths relative to `root`. The error says what is missing.
pub fn scan(root: &Path) -> Result<VendorList, String> {
    let hostupdate = root.join("hostupdate");
    let vendors = fs::read_dir(&hostupdate).map_err(|e| {
        format!(
            "no hostupdate/ directory ({e}): not a UMDS export (give the directory `vmware-umds -E \
             --export-store` wrote, the one holding hostupdate/)"
        )
    })?;
    let mut dirs: Vec<String> = vendors
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    let mut list = VendorList::default();
    for vendor in &dirs {
        let mut found = Vec::new();
        find_indexes(&hostupdate.join(vendor), &format!("hostupdate/{vendor}/"), 0, &mut found);
        found.sort();
        for (relative_path, index_file) in found {
            list.vendors.push(VendorEntry {
                name: vendor.clone(),
                code: vendor.clone(),
                index_file,
                patch_url: String::new(),
                relative_path,
                content_name: "esx".into(),
                content_type: ESX_CONTENT_TYPE.into(),
            });
        }
    }
    if list.vendors.is_empty() {
        return Err(format!(
            "no vendor index (an .xml file with a <metaList> root) under hostupdate/<vendor>/ \
             (looked in: {}); run a UMDS download before exporting",
            if dirs.is_empty() { "no vendor directories".to_owned() } else { dirs.join(", ") }
        ));
    }
    Ok(list)
}

/// Collect `(directory relative to the export root, file name)` of vendor indexes.
fn find_indexes(dir: &Path, relative: &str, depth: usize, out: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Ok(kind) = entry.file_type() else { continue };
        if name.starts_with('.') {
            continue;
        }
        if kind.is_dir() && depth < MAX_DEPTH {
            find_indexes(&entry.path(), &format!("{relative}{name}/"), depth + 1, out);
        } else if kind.is_file() && name.to_ascii_lowercase().ends_with(".xml") && is_vendor_index(&entry.path()) {
            out.push((relative.to_owned(), name));
        }
    }
}

fn is_vendor_index(path: &Path) -> bool {
    let mut bytes = Vec::new();
    let read = fs::File::open(path).and_then(|f| f.take(MAX_INDEX + 1).read_to_end(&mut bytes));
    if read.is_err() || bytes.len() as u64 > MAX_INDEX {
        return false;
    }
    match VendorIndex::parse(&bytes) {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(file = %path.display(), "not a vendor index: {e}");
            false
        }
    }
}

/// A vendor list read at `list_dir` (`""` or `hostupdate`), its paths made relative to the
/// export root, where the published tree puts its own vendor list.
pub fn rebase(list: VendorList, list_dir: &str) -> VendorList {
    let list_dir = list_dir.trim_end_matches('/');
    if list_dir.is_empty() {
        return list;
    }
    let vendors = list
        .vendors
        .into_iter()
        .map(|mut v| {
            let rel = v.relative_path.trim();
            v.relative_path = if rel.is_empty() {
                format!("{list_dir}/")
            } else {
                format!("{list_dir}/{}", rel.trim_start_matches("./"))
            };
            v
        })
        .collect();
    VendorList { vendors }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const INDEX: &str = "<metaList><metadata><productId>embeddedEsx</productId><version>8.0</version>\
                         <url>metadata.zip</url></metadata></metaList>";

    #[test]
    fn scan_finds_vendor_indexes_and_ignores_other_xml() {
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("hostupdate");
        fs::create_dir_all(h.join("vmw/esx")).unwrap();
        fs::create_dir_all(h.join("DEL")).unwrap();
        fs::create_dir_all(h.join("empty")).unwrap();
        fs::write(h.join("vmw/vmw-esx-index.xml"), INDEX).unwrap();
        fs::write(h.join("vmw/esx/esxio-index.xml"), INDEX).unwrap();
        fs::write(h.join("vmw/notes.xml"), "<other/>").unwrap();
        fs::write(h.join("vmw/broken.xml"), "<metaList><metadata>").unwrap();
        fs::write(h.join("DEL/DEL-index.xml"), INDEX).unwrap();
        let list = scan(dir.path()).unwrap();
        let paths: Vec<String> = list.vendors.iter().map(VendorEntry::index_path).collect();
        assert_eq!(
            paths,
            ["hostupdate/DEL/DEL-index.xml", "hostupdate/vmw/vmw-esx-index.xml", "hostupdate/vmw/esx/esxio-index.xml"]
        );
        assert_eq!(list.vendors[0].code, "DEL");
        assert!(list.vendors.iter().all(VendorEntry::is_esx));
    }

    #[test]
    fn scan_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan(dir.path()).unwrap_err().contains("no hostupdate/ directory"));
        fs::create_dir_all(dir.path().join("hostupdate/vmw")).unwrap();
        let e = scan(dir.path()).unwrap_err();
        assert!(e.contains("no vendor index") && e.contains("vmw"), "{e}");
    }

    #[test]
    fn rebase_prefixes_the_list_directory() {
        let entry = |rel: &str| VendorEntry {
            name: "v".into(),
            code: "v".into(),
            index_file: "i.xml".into(),
            patch_url: String::new(),
            relative_path: rel.into(),
            content_name: String::new(),
            content_type: String::new(),
        };
        let list = VendorList { vendors: vec![entry("vmw/"), entry("")] };
        let paths: Vec<String> =
            rebase(list.clone(), "hostupdate").vendors.iter().map(VendorEntry::index_path).collect();
        assert_eq!(paths, ["hostupdate/vmw/i.xml", "hostupdate/i.xml"]);
        assert_eq!(rebase(list.clone(), "hostupdate/").vendors[0].index_path(), "hostupdate/vmw/i.xml");
        assert_eq!(rebase(list.clone(), ""), list);
    }
}
