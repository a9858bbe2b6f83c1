//! Resolving depot-relative paths safely (depot-format §1.1).
//!
//! A metadata zip URL and a VIB `relativePath` are relative to the directory of the
//! vendor index that referenced them. A path that climbs out of the depot root is
//! refused, whatever the container: a ZIP, a directory or a URL.

/// Join `base_dir` (a depot-relative directory, `""` for the root, ending in `/` or empty)
/// with `relative` and normalise. `None` when the result escapes the root or is absolute.
pub fn join(base_dir: &str, relative: &str) -> Option<String> {
    let relative = relative.trim();
    if relative.starts_with('/') || relative.contains('\\') || relative.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in base_dir.split('/').chain(relative.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// The directory part of a depot-relative file path, with a trailing `/` (or empty).
pub fn dir_of(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path[..=i].to_owned(),
        None => String::new(),
    }
}

/// Is this an absolute URL (allowed for metadata `url` and VIB `sourceUrl`)?
pub fn is_absolute_url(s: &str) -> bool {
    let s = s.trim().to_ascii_lowercase();
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("file:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_refuses_escapes() {
        assert_eq!(join("", "vib20/a/b.vib").as_deref(), Some("vib20/a/b.vib"));
        assert_eq!(join("esx/vmw/", "vib20/x.vib").as_deref(), Some("esx/vmw/vib20/x.vib"));
        assert_eq!(join("esx/vmw/", "../other/x.vib").as_deref(), Some("esx/other/x.vib"));
        assert_eq!(join("", "./a.vib").as_deref(), Some("a.vib"));
        assert_eq!(join("", "../a.vib"), None);
        assert_eq!(join("a/", "../../a.vib"), None);
        assert_eq!(join("", "/etc/passwd"), None);
        assert_eq!(join("", "C:\\x"), None);
        assert_eq!(join("", ""), None);
        assert_eq!(dir_of("esx/vmw/index.xml"), "esx/vmw/");
        assert_eq!(dir_of("index.xml"), "");
    }
}
