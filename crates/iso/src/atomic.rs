//! Atomic output, as everywhere in esxlcm (see `esxlcm_depot::write::atomic`): the image is
//! written to a hidden temporary sibling, fsynced, renamed over the destination, and the
//! directory is fsynced. On error nothing appears at the destination. An existing
//! destination is replaced (an image build overwrites its previous output).

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::IsoError;

pub(crate) fn write_file<T>(dest: &Path, write: impl FnOnce(&mut File) -> Result<T, IsoError>) -> Result<T, IsoError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| IsoError::io("write", dest, std::io::Error::other("the destination has no file name")))?;
    fs::create_dir_all(&parent).map_err(|e| IsoError::io("create directory", &parent, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(|e| IsoError::io("create a temporary file in", &parent, e))?;
    let value = write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|e| IsoError::io("fsync", tmp.path(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .map_err(|e| IsoError::io("set permissions of", tmp.path(), e))?;
    }
    tmp.persist(dest).map_err(|e| IsoError::io("rename into place", dest, e.error))?;
    #[cfg(unix)]
    File::open(&parent).and_then(|d| d.sync_all()).map_err(|e| IsoError::io("fsync directory", &parent, e))?;
    Ok(value)
}
