//! Opening input files named by a path (a bundle, a VIB, a spec, a host state, a member of a
//! depot directory), for the library and the CLI alike.
//!
//! A path may name anything: `/dev/zero` never ends, a FIFO blocks the open until a writer
//! comes (forever, for a hostile one), and `/proc` files report size 0 however much they
//! hold. So only regular files are opened, and whole-file reads are capped by the bytes
//! actually read, never by what the metadata says.

use std::fs::{self, File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{} is not a regular file (it is {kind}); only regular files are read", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is larger than the {limit}-byte limit for {what}", path.display())]
    TooLarge { path: PathBuf, limit: u64, what: &'static str },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl InputError {
    /// As an [`io::Error`] for errors that already name the path: the not-found kind is
    /// kept, and a non-regular file says only what it is.
    pub fn into_io(self) -> io::Error {
        match self {
            Self::Io { source, .. } => source,
            Self::NotRegular { kind, .. } => {
                io::Error::new(io::ErrorKind::InvalidInput, format!("not a regular file (it is {kind})"))
            }
            too_large @ Self::TooLarge { .. } => io::Error::new(io::ErrorKind::InvalidData, too_large.to_string()),
        }
    }
}

/// What a non-regular file is, for messages.
fn kind_of(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}

/// Refuse anything but a regular file (symbolic links are followed), without opening it.
pub fn ensure_regular(path: &Path) -> Result<(), InputError> {
    let meta = fs::metadata(path).map_err(|source| InputError::Io { path: path.to_owned(), source })?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(InputError::NotRegular { path: path.to_owned(), kind: kind_of(meta.file_type()) })
    }
}

/// Open a regular file for reading. The type is checked before opening (opening a FIFO
/// blocks) and again on the open handle, in case the path was swapped in between; a swap to
/// a FIFO in that window can still block the open, which only a local attacker racing the
/// process can cause.
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    ensure_regular(path)?;
    let file = File::open(path).map_err(|source| InputError::Io { path: path.to_owned(), source })?;
    let meta = file.metadata().map_err(|source| InputError::Io { path: path.to_owned(), source })?;
    if !meta.is_file() {
        return Err(InputError::NotRegular { path: path.to_owned(), kind: kind_of(meta.file_type()) });
    }
    Ok(file)
}

/// Read a whole regular file, refusing it once more than `limit` bytes have been read
/// (`what` names the document in the error: "a software spec").
pub fn read_capped(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let file = open_regular(path)?;
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|source| InputError::Io { path: path.to_owned(), source })?;
    if out.len() as u64 > limit {
        return Err(InputError::TooLarge { path: path.to_owned(), limit, what });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success());
    }

    #[test]
    fn refuses_fifos_directories_and_devices_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("spec.json");
        mkfifo(&fifo);
        let err = read_capped(&fifo, 100, "a spec").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is not a regular file (it is a FIFO); only regular files are read", fifo.display())
        );
        let err = open_regular(dir.path()).unwrap_err();
        assert!(matches!(err, InputError::NotRegular { kind: "a directory", .. }), "{err}");
        let err = read_capped(Path::new("/dev/zero"), 100, "a spec").unwrap_err();
        assert!(matches!(err, InputError::NotRegular { kind: "a character device", .. }), "{err}");
        assert_eq!(err.into_io().to_string(), "not a regular file (it is a character device)");
    }

    #[test]
    fn caps_what_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        fs::write(&path, vec![b' '; 101]).unwrap();
        let err = read_capped(&path, 100, "a software spec").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is larger than the 100-byte limit for a software spec", path.display())
        );
        assert_eq!(read_capped(&path, 101, "a software spec").unwrap().len(), 101);
        // /proc files report size 0 whatever they hold: only the bytes read count.
        if Path::new("/proc/self/status").is_file() {
            let err = read_capped(Path::new("/proc/self/status"), 10, "a host state").unwrap_err();
            assert!(matches!(err, InputError::TooLarge { limit: 10, .. }), "{err}");
        }
        let err = read_capped(&dir.path().join("missing"), 10, "a spec").unwrap_err();
        assert_eq!(err.into_io().kind(), io::ErrorKind::NotFound);
    }
}
