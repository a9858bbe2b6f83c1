//! Atomic output: a depot or bundle is either absent or complete, never half-written, even
//! across a crash.
//!
//! * A file is written to a hidden temporary sibling (same directory, so the same
//!   filesystem), fsynced, renamed over the destination, and the directory is fsynced so
//!   the rename itself is durable.
//! * A directory tree is built in a hidden temporary sibling directory; every file is
//!   fsynced as it is written and every directory before the rename. An existing
//!   destination is refused unless `overwrite` is set; then it is first renamed aside, the
//!   new tree renamed in, and the old one removed. Between the two renames the destination
//!   is briefly absent — never a mix of old and new.
//!
//! A crash can leave a hidden `.<name>.*.tmp` sibling behind; it is never the destination.
//! Output is made world-readable (0644 files, 0755 directories) since depots are served.

use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

use tempfile::{Builder, TempDir};

use super::WriteError;

/// The directory `dest` lives in (`.` for a bare file name), created if missing.
fn parent_of(dest: &Path) -> Result<PathBuf, WriteError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| WriteError::io(&parent, e))?;
    Ok(parent)
}

fn file_name(dest: &Path) -> Result<String, WriteError> {
    dest.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| WriteError::io(dest, io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name")))
}

/// Make a directory entry durable: fsync the directory itself (a no-op where directories
/// cannot be opened for syncing).
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WriteError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), WriteError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| WriteError::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), WriteError> {
    Ok(())
}

/// Write `dest` atomically: `write` fills a temporary sibling, which is fsynced and renamed
/// into place only if `write` succeeds. On any error nothing appears at `dest` (and an
/// existing file there is untouched). Without `overwrite`, an existing `dest` is an error.
pub fn write_file<T>(
    dest: &Path,
    overwrite: bool,
    write: impl FnOnce(&mut File) -> Result<T, WriteError>,
) -> Result<T, WriteError> {
    let parent = parent_of(dest)?;
    let name = file_name(dest)?;
    if !overwrite && fs::symlink_metadata(dest).is_ok() {
        return Err(WriteError::Exists { path: dest.to_path_buf() });
    }
    let mut tmp = Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&parent)
        .map_err(|e| WriteError::io(&parent, e))?;
    let value = write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|e| WriteError::io(tmp.path(), e))?;
    set_mode(tmp.path(), 0o644)?;
    let persisted = if overwrite {
        tmp.persist(dest)
    } else {
        // Link-based: fails instead of replacing a file that appeared meanwhile.
        tmp.persist_noclobber(dest)
    };
    if let Err(e) = persisted {
        return Err(if e.error.kind() == io::ErrorKind::AlreadyExists {
            WriteError::Exists { path: dest.to_path_buf() }
        } else {
            WriteError::io(dest, e.error)
        });
    }
    sync_dir(&parent)?;
    Ok(value)
}

/// A directory tree being built next to its destination; see the module docs.
#[derive(Debug)]
pub struct StagedDir {
    dir: TempDir,
    dest: PathBuf,
    parent: PathBuf,
    name: String,
    overwrite: bool,
}

impl StagedDir {
    /// Start staging `dest`. Fails early when `dest` exists and `overwrite` is not set.
    pub fn new(dest: &Path, overwrite: bool) -> Result<Self, WriteError> {
        let parent = parent_of(dest)?;
        let name = file_name(dest)?;
        if !overwrite && fs::symlink_metadata(dest).is_ok() {
            return Err(WriteError::Exists { path: dest.to_path_buf() });
        }
        let dir = Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempdir_in(&parent)
            .map_err(|e| WriteError::io(&parent, e))?;
        Ok(Self { dir, dest: dest.to_path_buf(), parent, name, overwrite })
    }

    /// The staging directory (not the destination).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Create the file `rel` (a `/`-separated relative path in normal form) in the staged
    /// tree, let `write` fill it, and fsync it.
    pub fn write_file<T>(
        &self,
        rel: &str,
        write: impl FnOnce(&mut File) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        let path = self.dir.path().join(rel);
        let rel_path = Path::new(rel);
        if rel.is_empty() || !rel_path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(WriteError::io(
                &path,
                io::Error::new(io::ErrorKind::InvalidInput, "not a plain relative path inside the staged directory"),
            ));
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| WriteError::io(dir, e))?;
        }
        let mut file =
            File::options().write(true).create_new(true).open(&path).map_err(|e| WriteError::io(&path, e))?;
        let value = write(&mut file)?;
        file.sync_all().map_err(|e| WriteError::io(&path, e))?;
        Ok(value)
    }

    /// Make the staged tree durable and move it into place.
    pub fn commit(mut self) -> Result<(), WriteError> {
        finish_dirs(self.dir.path())?;
        match fs::symlink_metadata(&self.dest) {
            Ok(_) if !self.overwrite => {
                return Err(WriteError::Exists { path: self.dest.clone() });
            }
            Ok(_) => {
                let holder = Builder::new()
                    .prefix(&format!(".{}.", self.name))
                    .suffix(".old.tmp")
                    .tempdir_in(&self.parent)
                    .map_err(|e| WriteError::io(&self.parent, e))?;
                let aside = holder.path().join("old");
                fs::rename(&self.dest, &aside).map_err(|e| WriteError::io(&self.dest, e))?;
                if let Err(e) = fs::rename(self.dir.path(), &self.dest) {
                    // Put the old depot back; the staged tree is removed with `self.dir`.
                    let _ = fs::rename(&aside, &self.dest);
                    return Err(WriteError::io(&self.dest, e));
                }
                self.dir.disable_cleanup(true);
                sync_dir(&self.parent)?;
                if let Err(e) = holder.close() {
                    tracing::warn!(
                        path = %aside.display(),
                        error = %e,
                        "the replaced depot could not be removed"
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::rename(self.dir.path(), &self.dest).map_err(|e| WriteError::io(&self.dest, e))?;
                self.dir.disable_cleanup(true);
                sync_dir(&self.parent)?;
            }
            Err(e) => return Err(WriteError::io(&self.dest, e)),
        }
        Ok(())
    }
}

/// fsync and open up every directory of a staged tree, deepest first (files were synced
/// as they were written).
fn finish_dirs(dir: &Path) -> Result<(), WriteError> {
    let entries = fs::read_dir(dir).map_err(|e| WriteError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WriteError::io(dir, e))?;
        let file_type = entry.file_type().map_err(|e| WriteError::io(entry.path(), e))?;
        if file_type.is_dir() {
            finish_dirs(&entry.path())?;
        }
    }
    set_mode(dir, 0o755)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn file_appears_only_on_success() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("out.zip");
        let err = write_file(&dest, false, |f| {
            f.write_all(b"partial").unwrap();
            Err::<(), _>(WriteError::NoPlatforms)
        })
        .unwrap_err();
        assert!(matches!(err, WriteError::NoPlatforms));
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "temp file left");

        write_file(&dest, false, |f| {
            f.write_all(b"one").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        let err = write_file(&dest, false, |_| Ok(())).unwrap_err();
        assert!(matches!(err, WriteError::Exists { .. }), "{err}");
        write_file(&dest, true, |f| {
            f.write_all(b"two").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"two");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn tree_replaces_only_with_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("depot");
        let staged = StagedDir::new(&dest, false).unwrap();
        staged
            .write_file("a/b.txt", |f| {
                f.write_all(b"1").unwrap();
                Ok(())
            })
            .unwrap();
        assert!(!dest.exists());
        staged.commit().unwrap();
        assert_eq!(fs::read(dest.join("a/b.txt")).unwrap(), b"1");

        assert!(matches!(StagedDir::new(&dest, false), Err(WriteError::Exists { .. })));
        let staged = StagedDir::new(&dest, true).unwrap();
        staged
            .write_file("c.txt", |f| {
                f.write_all(b"2").unwrap();
                Ok(())
            })
            .unwrap();
        assert!(staged.write_file("../x", |_| Ok(())).is_err());
        // Still the old tree until commit.
        assert!(dest.join("a/b.txt").exists());
        staged.commit().unwrap();
        assert!(!dest.join("a").exists());
        assert_eq!(fs::read(dest.join("c.txt")).unwrap(), b"2");
        // Only the destination is left: no staging or old-tree directories.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

        // Dropping a staged tree without commit leaves nothing.
        let other = tmp.path().join("other");
        let staged = StagedDir::new(&other, false).unwrap();
        staged.write_file("x", |_| Ok(())).unwrap();
        drop(staged);
        assert!(!other.exists());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }
}
