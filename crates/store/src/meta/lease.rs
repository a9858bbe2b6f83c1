//! Cluster-wide leases ([`Lease`]): one holder of a name (`sync:<source>`) at a time,
//! released when the guard drops and when its holder dies.
//!
//! * SQLite (one node, possibly several processes: `serve` and a CLI): an OS file lock
//!   (`flock`) on `leases/<hash>.lock` next to the database file. The kernel releases it
//!   when the holding process exits or is killed.
//! * PostgreSQL: a session advisory lock on a connection dedicated to the lease
//!   ([`super::postgres`]); the server releases it when that connection closes, which a
//!   killed replica's connection does.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// What keeps a lease held; dropping it releases the lease.
pub(crate) trait Held: Send {
    /// False when the backend knows the lease was lost (its database connection closed).
    fn is_held(&self) -> bool;
}

/// A held cluster-wide lease (an RAII guard): released when dropped, and by the backend
/// when its holder dies.
pub struct Lease {
    name: String,
    held: Box<dyn Held>,
}

impl Lease {
    pub(crate) fn new(name: &str, held: Box<dyn Held>) -> Self {
        Self { name: name.to_owned(), held }
    }

    /// The name it was taken under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the lease is still ours: false once the backend has lost it (the database
    /// connection that held it closed, so another replica may now hold it). A long task
    /// holding a lease checks this before it publishes.
    pub fn is_held(&self) -> bool {
        self.held.is_held()
    }
}

// A lease moves to the thread (or task) that does the work it guards.
const _: () = {
    const fn send<T: Send>() {}
    send::<Lease>();
};

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("name", &self.name).field("held", &self.is_held()).finish()
    }
}

/// A stable 64-bit key for a lease name (the first 8 bytes of its sha-256): the same on
/// every replica, every build and every platform (PostgreSQL advisory lock keys).
pub(crate) fn lease_key(name: &str) -> i64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The lock file of lease `name` under `dir`: named by a hash, so any name is a safe file
/// name.
pub(crate) fn lease_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.lock", hex::encode(&Sha256::digest(name.as_bytes())[..16])))
}

/// An open lock file holding its `flock`; closing it (drop, or the process dying) releases it.
struct FileLease {
    _file: File,
}

impl Held for FileLease {
    fn is_held(&self) -> bool {
        true
    }
}

/// Take lease `name` as a file lock under `dir` (made if missing): `None` when another
/// open file (this process or another) holds it.
pub(crate) fn try_file_lease(dir: &Path, name: &str) -> Result<Option<Lease>, StoreError> {
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let path = lease_file(dir, name);
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Ok(None),
        Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
    }
    // For whoever looks at the directory: which lease the file is (written only by its
    // holder, so never torn by a second writer).
    file.set_len(0).map_err(|e| StoreError::io(&path, e))?;
    writeln!(file, "{name}\npid {}", std::process::id()).map_err(|e| StoreError::io(&path, e))?;
    Ok(Some(Lease::new(name, Box::new(FileLease { _file: file }))))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        // Pinned: replicas of different builds must agree on the key of a name.
        assert_eq!(lease_key("sync:vmw"), lease_key("sync:vmw"));
        assert_ne!(lease_key("sync:vmw"), lease_key("sync:vmw2"));
        let digest = Sha256::digest(b"sync:vmw");
        assert_eq!(lease_key("sync:vmw").to_be_bytes(), digest[..8]);
        let dir = Path::new("/x");
        assert_eq!(lease_file(dir, "a/../b").parent(), Some(dir), "any name is one file name");
    }

    #[test]
    fn a_file_lease_has_one_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("leases");
        let held = try_file_lease(&leases, "sync:vmw").unwrap().expect("free");
        assert_eq!(held.name(), "sync:vmw");
        assert!(held.is_held());
        assert!(try_file_lease(&leases, "sync:vmw").unwrap().is_none(), "one holder");
        let other = try_file_lease(&leases, "sync:other").unwrap();
        assert!(other.is_some(), "names are independent");
        drop(held);
        assert!(try_file_lease(&leases, "sync:vmw").unwrap().is_some(), "released on drop");
        let text = fs::read_to_string(lease_file(&leases, "sync:vmw")).unwrap();
        assert!(text.starts_with("sync:vmw\n"), "{text}");
    }
}
