//! Local users: `config.json` in the data dir holds them with Argon2id password hashes and
//! one of two roles. The first administrator comes from `ESXLCM_ADMIN_USER` /
//! `ESXLCM_ADMIN_PASSWORD` on the first start (while the file names no administrator). An operator adds more users by
//! editing the file: a `password` given in clear text there is hashed and removed from the
//! file on the next start.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHash, PasswordHasher};
use serde::{Deserialize, Serialize};

use super::persist::{PersistError, write_atomic};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May call every read operation; mutating ones fail with Unauthorized.
    ReadOnly,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserEntry {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Clear text, only as typed in by an operator; hashed away on start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// TLS files to use instead of the generated certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerConfig {
    #[serde(default)]
    pub users: Vec<UserEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    /// ISOLINUX/EFI files for exporting installer ISOs (`clusters.software.export`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootloader_dir: Option<PathBuf>,
    /// CA certificates (PEM files) trusted for online depots, besides the system's roots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_ca_files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error(
        "no users are configured: set ESXLCM_ADMIN_USER and ESXLCM_ADMIN_PASSWORD for the first start, or add users to {0}"
    )]
    NoUsers(PathBuf),
    #[error("hashing the password of user '{user}': {reason}")]
    Hash { user: String, reason: String },
}

/// The first administrator, from the environment.
#[derive(Clone)]
pub struct InitialAdmin {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for InitialAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitialAdmin").field("user", &self.user).finish_non_exhaustive()
    }
}

impl InitialAdmin {
    pub fn from_env() -> Option<Self> {
        let user = std::env::var("ESXLCM_ADMIN_USER").ok().filter(|u| !u.is_empty())?;
        let password = std::env::var("ESXLCM_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty())?;
        Some(Self { user, password })
    }
}

pub fn hash_password(user: &str, password: &str) -> Result<String, UserError> {
    // Argon2id with the crate's default (OWASP) parameters and a random salt.
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash { user: user.to_owned(), reason: e.to_string() })
}

/// The users, loaded once at start.
#[derive(Debug)]
pub struct UserDb {
    users: Vec<UserEntry>,
    /// Verifying an unknown user costs the same as a known one, so timing does not tell
    /// which user names exist.
    dummy_hash: String,
}

impl UserDb {
    /// Load `config.json` (creating it with the initial admin if it has no users), hash any
    /// clear-text passwords and rewrite the file without them.
    pub fn load_or_init(config_path: &Path, admin: Option<InitialAdmin>) -> Result<(Self, ServerConfig), UserError> {
        let mut config = read_config(config_path)?;
        let mut changed = false;
        // The environment's administrator is added while no administrator exists yet.
        if !config.users.iter().any(|u| u.role == Role::Admin) {
            match admin {
                Some(admin) if !config.users.iter().any(|u| u.name == admin.user) => {
                    config.users.push(UserEntry {
                        password_hash: Some(hash_password(&admin.user, &admin.password)?),
                        name: admin.user,
                        role: Role::Admin,
                        password: None,
                    });
                    changed = true;
                }
                _ if config.users.is_empty() => return Err(UserError::NoUsers(config_path.to_path_buf())),
                _ => {}
            }
        }
        for u in &mut config.users {
            if let Some(clear) = u.password.take() {
                u.password_hash = Some(hash_password(&u.name, &clear)?);
                changed = true;
            }
            match u.password_hash.as_deref().map(PasswordHash::new) {
                Some(Ok(_)) => {}
                _ => {
                    return Err(UserError::Config {
                        path: config_path.to_path_buf(),
                        reason: format!("user '{}' has no valid password_hash (or password)", u.name),
                    });
                }
            }
        }
        if changed {
            let bytes = serde_json::to_vec_pretty(&config)
                .map_err(|e| UserError::Config { path: config_path.to_path_buf(), reason: e.to_string() })?;
            write_atomic(config_path, &bytes)?;
        }
        let dummy_hash = hash_password("-", "not a password")?;
        Ok((Self { users: config.users.clone(), dummy_hash }, config))
    }

    /// Check a user's password (Argon2id; call off the async threads).
    pub fn verify(&self, user: &str, password: &str) -> Option<Role> {
        let entry = self.users.iter().find(|u| u.name == user);
        let hash = entry.and_then(|u| u.password_hash.as_deref()).unwrap_or(&self.dummy_hash);
        let ok = PasswordHash::new(hash).is_ok_and(|h| verify_reusing_memory(password.as_bytes(), &h));
        entry.filter(|_| ok).map(|u| u.role)
    }
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept by the threads
    /// that check passwords: allocating it per check left each allocator arena holding
    /// tens of MiB after a flood of logins (issue #12 D1).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What `PasswordVerifier::verify_password` does (the hash's own algorithm, version and
/// parameters; a constant-time comparison), in this thread's reused memory.
fn verify_reusing_memory(password: &[u8], hash: &PasswordHash) -> bool {
    use subtle::ConstantTimeEq as _;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let Ok(params) = argon2::Params::try_from(hash) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm.as_str()) else { return false };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let hashed = BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..params.block_count()]).is_ok()
    });
    hashed && bool::from(out.ct_eq(expected))
}

fn read_config(path: &Path) -> Result<ServerConfig, UserError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| UserError::Config { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ServerConfig::default()),
        Err(e) => Err(PersistError::new(path, e).into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use argon2::PasswordVerifier as _;

    #[test]
    fn first_admin_then_clear_text_users_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert!(matches!(UserDb::load_or_init(&path, None), Err(UserError::NoUsers(_))));
        let admin = InitialAdmin { user: "root".into(), password: "s3cret".into() };
        let (db, _) = UserDb::load_or_init(&path, Some(admin)).unwrap();
        assert_eq!(db.verify("root", "s3cret"), Some(Role::Admin));
        assert_eq!(db.verify("root", "wrong"), None);
        assert_eq!(db.verify("nobody", "s3cret"), None);
        // Checks reuse this thread's memory: right and wrong answers stay right.
        assert_eq!(db.verify("root", "s3cret"), Some(Role::Admin));
        assert_eq!(db.verify("root", "s3cre"), None);
        let hash = hash_password("u", "pw").unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok(), "the library agrees");
        assert!(verify_reusing_memory(b"pw", &parsed) && !verify_reusing_memory(b"pW", &parsed));
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret"));

        let mut config: ServerConfig = serde_json::from_str(&text).unwrap();
        config.users.push(UserEntry {
            name: "viewer".into(),
            role: Role::ReadOnly,
            password_hash: None,
            password: Some("look".into()),
        });
        fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        let (db, _) = UserDb::load_or_init(&path, None).unwrap();
        assert_eq!(db.verify("viewer", "look"), Some(Role::ReadOnly));
        assert!(!fs::read_to_string(&path).unwrap().contains("\"look\""));
    }
}
