//! Validation of an [`IsoSpec`] before anything is laid out: names, depth, duplicates,
//! boot fields and the timestamp. The writer library would mangle or relocate what it cannot
//! store; we refuse instead, so the image holds exactly the names the caller asked for, in the
//! primary (ISO 9660 level 1), Joliet and Rock Ridge trees alike.

use std::collections::{BTreeMap, BTreeSet};

use crate::{IsoError, IsoHybrid, IsoSpec, MBR_BOOT_CODE_MAX};

/// ECMA-119 6.8.2.1: at most eight directory levels, the root being the first.
pub(crate) const MAX_DIRS: usize = 7;
/// ECMA-119 6.8.2.1: a path (without the root's separator) has at most 255 bytes.
pub(crate) const MAX_PATH_LEN: usize = 255;
/// The volume identifier field of the primary volume descriptor.
pub(crate) const MAX_VOLUME_ID: usize = 32;
/// 2155-12-31T23:59:59Z: directory records store the year as 1900 + one byte.
pub(crate) const MAX_MODIFIED: i64 = 5_869_583_999;

/// d-characters (ECMA-119 7.4.1): what level 1 names may contain.
fn is_d_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// The volume id: d-characters plus `-` and `.` (which ESXi's own volume ids such as
/// `ESXI-8.0U3-24022510-STANDARD` use, and every reader accepts), 1 to 32 of them.
pub(crate) fn validate_volume_id(volume_id: &str) -> Result<(), IsoError> {
    let fail = |reason: String| Err(IsoError::InvalidVolumeId { volume_id: volume_id.to_owned(), reason });
    if volume_id.is_empty() {
        return fail("it is empty".into());
    }
    if volume_id.len() > MAX_VOLUME_ID {
        return fail(format!("it has {} bytes, at most {MAX_VOLUME_ID} fit", volume_id.len()));
    }
    if let Some(c) = volume_id.chars().find(|&c| !(is_d_char(c) || c == '-' || c == '.')) {
        return fail(format!("{c:?} is not allowed (use A-Z, 0-9, '_', '-' and '.')"));
    }
    Ok(())
}

pub(crate) fn validate_modified(modified: i64) -> Result<(), IsoError> {
    if !(0..=MAX_MODIFIED).contains(&modified) {
        return Err(IsoError::InvalidTimestamp {
            modified,
            reason: "it must lie between 1970-01-01 and 2155-12-31 (UTC)".into(),
        });
    }
    Ok(())
}

/// One component: a directory is 1 to 8 d-characters; a file is an 8.3 name (1 to 8, then
/// optionally `.` and up to 3 more).
fn validate_component(path: &str, component: &str, is_dir: bool) -> Result<(), IsoError> {
    let what = if is_dir { "directory" } else { "file" };
    if component.is_empty() {
        return Err(IsoError::invalid_path(path, "empty path component (leading, trailing or double '/')"));
    }
    if let Some(c) = component.chars().find(|&c| !(is_d_char(c) || c == '.')) {
        let hint = if c.is_ascii_lowercase() { " (names must be upper-case)" } else { "" };
        return Err(IsoError::invalid_path(
            path,
            format!("{what} name {component:?} has {c:?}{hint}; ISO 9660 names use A-Z, 0-9 and '_'"),
        ));
    }
    let (stem, ext) = match component.split_once('.') {
        Some((_, _)) if is_dir => {
            return Err(IsoError::invalid_path(path, format!("directory name {component:?} must not contain '.'")));
        }
        Some((stem, ext)) => (stem, Some(ext)),
        None => (component, None),
    };
    if stem.is_empty() || stem.len() > 8 {
        return Err(IsoError::invalid_path(
            path,
            format!("{what} name {component:?} must have 1 to 8 characters before any '.' (8.3 names)"),
        ));
    }
    if let Some(ext) = ext {
        if ext.contains('.') {
            return Err(IsoError::invalid_path(path, format!("file name {component:?} has more than one '.'")));
        }
        if ext.is_empty() || ext.len() > 3 {
            return Err(IsoError::invalid_path(
                path,
                format!("file name {component:?} must have 1 to 3 characters after the '.' (8.3 names)"),
            ));
        }
    }
    Ok(())
}

/// A whole file path: `/`-separated, relative, at most 7 directories deep and 255 bytes.
pub(crate) fn validate_path(path: &str) -> Result<(), IsoError> {
    if path.starts_with('/') {
        return Err(IsoError::invalid_path(path, "paths are relative to the image root; drop the leading '/'"));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(IsoError::invalid_path(path, format!("{} bytes, at most {MAX_PATH_LEN}", path.len())));
    }
    let components: Vec<&str> = path.split('/').collect();
    if components.len() > MAX_DIRS + 1 {
        return Err(IsoError::invalid_path(
            path,
            format!("{} directories deep; ISO 9660 allows at most {MAX_DIRS} below the root", components.len() - 1),
        ));
    }
    let (file, dirs) = components.split_last().unwrap_or((&"", &[]));
    for dir in dirs {
        validate_component(path, dir, true)?;
    }
    validate_component(path, file, false)
}

/// A hybrid layout needs something to boot, and boot code that fits the MBR and has a BIOS
/// image to load.
fn validate_hybrid(spec: &IsoSpec, hybrid: &IsoHybrid) -> Result<(), IsoError> {
    let fail = |reason: String| Err(IsoError::InvalidHybrid { reason });
    if spec.bios_boot.is_none() && spec.uefi_boot.is_none() {
        return fail("a USB-disk (hybrid) layout needs a BIOS or UEFI boot image".into());
    }
    if let Some(code) = &hybrid.mbr_boot_code {
        if code.len() > MBR_BOOT_CODE_MAX {
            return fail(format!(
                "the MBR boot code has {} bytes, at most {MBR_BOOT_CODE_MAX} fit before the boot image address \
                 (isohdpfx.bin has 432)",
                code.len()
            ));
        }
        if spec.bios_boot.is_none() {
            return fail("MBR boot code is given but there is no BIOS boot image for it to load".into());
        }
    }
    Ok(())
}

/// Everything about a spec that can be checked without touching its sources.
pub(crate) fn validate(spec: &IsoSpec) -> Result<(), IsoError> {
    validate_volume_id(&spec.volume_id)?;
    validate_modified(spec.modified)?;
    let mut files = BTreeSet::new();
    // Directory path -> a file path that needs it (for the conflict message).
    let mut dirs: BTreeMap<&str, &str> = BTreeMap::new();
    for file in &spec.files {
        validate_path(&file.path)?;
        if !files.insert(file.path.as_str()) {
            return Err(IsoError::DuplicatePath { path: file.path.clone() });
        }
        for (i, _) in file.path.match_indices('/') {
            dirs.entry(&file.path[..i]).or_insert(&file.path);
        }
    }
    for (dir, other) in &dirs {
        if files.contains(dir) {
            return Err(IsoError::FileDirectoryConflict { path: (*dir).to_owned(), other: (*other).to_owned() });
        }
    }
    for (field, boot) in [("bios_boot", &spec.bios_boot), ("uefi_boot", &spec.uefi_boot)] {
        if let Some(boot) = boot
            && !files.contains(boot.as_str())
        {
            return Err(IsoError::InvalidBoot {
                field,
                path: boot.clone(),
                reason: "no file of the spec has this path".into(),
            });
        }
    }
    if let Some(hybrid) = &spec.hybrid {
        validate_hybrid(spec, hybrid)?;
    }
    if spec.bios_boot.is_some() || spec.uefi_boot.is_some() {
        let catalog = &spec.catalog_path;
        validate_path(catalog).map_err(|e| match e {
            IsoError::InvalidPath { reason, .. } => {
                IsoError::InvalidBoot { field: "catalog_path", path: catalog.clone(), reason }
            }
            other => other,
        })?;
        if files.contains(catalog.as_str()) || dirs.contains_key(catalog.as_str()) {
            return Err(IsoError::InvalidBoot {
                field: "catalog_path",
                path: catalog.clone(),
                reason: "a file or directory of the spec already has this path".into(),
            });
        }
        if let Some((parent, _)) = catalog.rsplit_once('/')
            && !dirs.contains_key(parent)
        {
            return Err(IsoError::InvalidBoot {
                field: "catalog_path",
                path: catalog.clone(),
                reason: format!("its directory {parent:?} holds no file of the spec"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{IsoFile, IsoSource};

    fn spec(paths: &[&str]) -> IsoSpec {
        IsoSpec {
            volume_id: "ESXI-8.0.3".into(),
            files: paths
                .iter()
                .map(|p| IsoFile { path: (*p).to_owned(), source: IsoSource::Bytes(vec![1; 100]) })
                .collect(),
            bios_boot: None,
            uefi_boot: None,
            catalog_path: "BOOT.CAT".into(),
            hybrid: None,
            modified: 1_700_000_000,
        }
    }

    fn reason(err: IsoError) -> String {
        err.to_string()
    }

    #[test]
    fn esxi_names_are_valid() {
        for p in [
            "ISOLINUX.BIN",
            "EFI/BOOT/BOOT.CFG",
            "EFI/BOOT/BOOTX64.EFI",
            "B.B00",
            "UPGRADE/METADATA.XML",
            "README",
            "A/B/C/D/E/F/G/FILE.TXT",
            "X_1.Y_2",
        ] {
            validate_path(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        let cases = [
            ("boot.cfg", "upper-case"),
            ("/BOOT.CFG", "leading '/'"),
            ("EFI//BOOT.CFG", "empty path component"),
            ("EFI/", "empty path component"),
            ("", "empty path component"),
            ("TOOLONGNAME.CFG", "1 to 8 characters"),
            ("NAME.LONG", "1 to 3 characters after"),
            ("NAME.", "1 to 3 characters after"),
            (".CFG", "1 to 8 characters"),
            ("A.B.C", "more than one '.'"),
            ("DIR.X/FILE", "must not contain '.'"),
            ("SP CE.TXT", "' '"),
            ("DASH-1.TXT", "'-'"),
            ("Ü.TXT", "'Ü'"),
            ("A/B/C/D/E/F/G/H/FILE.TXT", "at most 7"),
        ];
        for (path, want) in cases {
            let msg = reason(validate_path(path).unwrap_err());
            assert!(msg.contains(want), "{path:?}: {msg:?} lacks {want:?}");
            assert!(msg.contains(&format!("{path:?}")), "{msg} does not name the path");
        }
        let long = format!("{}/F.TXT", ["ABCDEFGH"; 7].join("/"));
        assert!(validate_path(&long).is_ok(), "{} bytes", long.len());
    }

    #[test]
    fn volume_ids() {
        for ok in ["ESXI-8.0.3", "ESXI-8.0U3-24022510-STANDARD", "A", &"X".repeat(32)] {
            validate_volume_id(ok).unwrap();
        }
        for (bad, want) in [("", "empty"), (&"X".repeat(33) as &str, "33 bytes"), ("esxi", "'e'"), ("A B", "' '")] {
            let msg = reason(validate_volume_id(bad).unwrap_err());
            assert!(msg.contains(want), "{bad:?}: {msg}");
        }
    }

    #[test]
    fn timestamps() {
        validate_modified(0).unwrap();
        validate_modified(MAX_MODIFIED).unwrap();
        assert!(validate_modified(-1).is_err());
        assert!(validate_modified(MAX_MODIFIED + 1).is_err());
    }

    #[test]
    fn duplicates_and_conflicts() {
        let err = validate(&spec(&["A.TXT", "B.TXT", "A.TXT"])).unwrap_err();
        assert!(matches!(&err, IsoError::DuplicatePath { path } if path == "A.TXT"), "{err}");
        let err = validate(&spec(&["EFI", "EFI/BOOT/BOOT.CFG"])).unwrap_err();
        assert!(
            matches!(&err, IsoError::FileDirectoryConflict { path, other } if path == "EFI" && other == "EFI/BOOT/BOOT.CFG"),
            "{err}"
        );
        let err = validate(&spec(&["EFI/BOOT/BOOT.CFG", "EFI/BOOT"])).unwrap_err();
        assert!(matches!(&err, IsoError::FileDirectoryConflict { path, .. } if path == "EFI/BOOT"), "{err}");
        validate(&spec(&["EFI/BOOT/BOOT.CFG", "EFI/BOOT.CFG", "BOOT.CFG"])).unwrap();
    }

    #[test]
    fn boot_fields() {
        let mut s = spec(&["ISOLINUX.BIN", "EFIBOOT.IMG", "EFI/BOOT/BOOTX64.EFI"]);
        s.bios_boot = Some("ISOLINUX.BIN".into());
        s.uefi_boot = Some("EFIBOOT.IMG".into());
        validate(&s).unwrap();

        s.uefi_boot = Some("MISSING.IMG".into());
        let err = validate(&s).unwrap_err();
        assert!(matches!(&err, IsoError::InvalidBoot { field: "uefi_boot", .. }), "{err}");
        s.uefi_boot = Some("EFIBOOT.IMG".into());

        s.catalog_path = "EFIBOOT.IMG".into();
        let err = validate(&s).unwrap_err();
        assert!(matches!(&err, IsoError::InvalidBoot { field: "catalog_path", .. }), "{err}");
        s.catalog_path = "boot.cat".into();
        let err = validate(&s).unwrap_err();
        assert!(matches!(&err, IsoError::InvalidBoot { field: "catalog_path", .. }), "{err}");
        s.catalog_path = "NODIR/BOOT.CAT".into();
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("holds no file"), "{err}");
        s.catalog_path = "EFI/BOOT.CAT".into();
        validate(&s).unwrap();
        s.catalog_path = "EFI/BOOT".into();
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("already has this path"), "{err}");
    }

    #[test]
    fn hybrid_fields() {
        let mut s = spec(&["ISOLINUX.BIN", "EFIBOOT.IMG"]);
        s.hybrid = Some(IsoHybrid { mbr_boot_code: Some(vec![0; 432]) });
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("needs a BIOS or UEFI boot image"), "{err}");
        s.uefi_boot = Some("EFIBOOT.IMG".into());
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("no BIOS boot image"), "{err}");
        s.bios_boot = Some("ISOLINUX.BIN".into());
        validate(&s).unwrap();
        s.hybrid = Some(IsoHybrid { mbr_boot_code: Some(vec![0; 433]) });
        let err = validate(&s).unwrap_err();
        assert!(err.to_string().contains("433 bytes, at most 432"), "{err}");
        s.hybrid = Some(IsoHybrid::default());
        s.bios_boot = None;
        validate(&s).unwrap();
    }
}
