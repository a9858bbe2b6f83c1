//! Local users: `config.json` in the data dir holds them with Argon2id password hashes and
//! one of two roles. The first administrator comes from `ESXLCM_ADMIN_USER` /
//! `ESXLCM_ADMIN_PASSWORD` on the first start (while the file names no administrator).
//! `esxlcm users` manages them ([`add_user`], [`set_password`], [`set_role`],
//! [`remove_user`], [`list_users`]: the file rewritten atomically under `config.json.lock`).
//! A running server sees a change at the next login or call: [`UserDb`] re-reads the file
//! when its modification time or size changes. A `password` typed into the file in clear
//! text is still hashed and removed from it when the file is read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

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

impl Role {
    /// As written in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::Admin => "admin",
        }
    }
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
    /// Directories an offline depot PULL may read local files (paths, `file:` URLs) from;
    /// absent: any the server can read; `[]`: none (URLs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_roots: Option<Vec<PathBuf>>,
    /// Session timeouts (defaults: 30 minutes idle, 12 hours in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionConfig>,
    /// Keys this version does not know: kept when the file is rewritten.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `sessions` in `config.json`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct SessionConfig {
    /// A session ends after this many minutes without a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_minutes: Option<u64>,
    /// A session ends this many hours after its login, however busy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_hours: Option<u64>,
}

impl SessionConfig {
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout_minutes.filter(|m| *m > 0).map(|m| Duration::from_secs(m.saturating_mul(60)))
    }

    pub fn max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime_hours.filter(|h| *h > 0).map(|h| Duration::from_secs(h.saturating_mul(3600)))
    }
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
    #[error("no user named '{0}'")]
    UnknownUser(String),
    #[error("a user named '{0}' already exists")]
    UserExists(String),
    #[error("'{name}' is not a usable user name: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("the password is not usable: {0}")]
    BadPassword(&'static str),
    #[error("'{0}' is the last administrator: add another administrator first")]
    LastAdmin(String),
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

/// What identifies a version of `config.json` cheaply: its time and size, and its inode
/// (a rewrite renames a new file over it, so two rewrites within the clock's granularity
/// still differ).
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

#[derive(Debug)]
struct Loaded {
    users: Vec<UserEntry>,
    stamp: Stamp,
}

/// The users, loaded at start and again whenever `config.json` changes.
#[derive(Debug)]
pub struct UserDb {
    path: PathBuf,
    loaded: RwLock<Loaded>,
    /// Verifying an unknown user costs the same as a known one, so timing does not tell
    /// which user names exist.
    dummy_hash: String,
}

impl UserDb {
    /// Load `config.json` (creating it with the initial admin if it has no users), hash any
    /// clear-text passwords and rewrite the file without them.
    pub fn load_or_init(config_path: &Path, admin: Option<InitialAdmin>) -> Result<(Self, ServerConfig), UserError> {
        let config = {
            let _lock = lock_config(config_path)?;
            normalise(config_path, admin)?
        };
        let dummy_hash = hash_password("-", "not a password")?;
        let loaded = Loaded { users: config.users.clone(), stamp: stamp(config_path) };
        Ok((Self { path: config_path.to_path_buf(), loaded: RwLock::new(loaded), dummy_hash }, config))
    }

    /// Re-read `config.json` if it changed since it was read (one `stat` otherwise). A
    /// file that no longer loads keeps the users as they were, with a warning.
    fn refresh(&self) {
        let now = stamp(&self.path);
        if self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner).stamp == now {
            return;
        }
        let reloaded = lock_config(&self.path).and_then(|_lock| normalise(&self.path, None));
        let mut loaded = self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match reloaded {
            Ok(config) => {
                tracing::info!(path = %self.path.display(), users = config.users.len(), "users reloaded");
                *loaded = Loaded { users: config.users, stamp: stamp(&self.path) };
            }
            Err(e) => {
                tracing::warn!("users not reloaded, the previous ones stay in force: {e}");
                // Not again until the file changes once more.
                loaded.stamp = now;
            }
        }
    }

    /// Check a user's password (Argon2id; call off the async threads).
    pub fn verify(&self, user: &str, password: &str) -> Option<Role> {
        self.refresh();
        let entry = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| (u.role, u.password_hash.clone()));
        let hash = entry.as_ref().and_then(|(_, h)| h.as_deref()).unwrap_or(&self.dummy_hash);
        let ok = PasswordHash::new(hash).is_ok_and(|h| verify_reusing_memory(password.as_bytes(), &h));
        entry.filter(|_| ok).map(|(role, _)| role)
    }

    /// The user's role now (`None` once removed): sessions follow `esxlcm users` changes.
    pub fn role_of(&self, user: &str) -> Option<Role> {
        self.refresh();
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.role)
    }
}

/// Read the file, add the environment's administrator while none exists, hash clear-text
/// passwords (rewriting the file without them) and check every user has a hash. Call with
/// the config lock held.
fn normalise(config_path: &Path, admin: Option<InitialAdmin>) -> Result<ServerConfig, UserError> {
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
        write_config(config_path, &config)?;
    }
    Ok(config)
}

fn write_config(path: &Path, config: &ServerConfig) -> Result<(), UserError> {
    let bytes = serde_json::to_vec_pretty(config)
        .map_err(|e| UserError::Config { path: path.to_path_buf(), reason: e.to_string() })?;
    write_atomic(path, &bytes)?;
    Ok(())
}

/// Held while `config.json` is read and rewritten: `esxlcm users` and a server reloading
/// the file do not lose each other's changes.
fn lock_config(config_path: &Path) -> Result<fs::File, UserError> {
    let mut name = config_path.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| PersistError::new(dir, e))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| PersistError::new(&path, e))?;
    file.lock().map_err(|e| PersistError::new(&path, e))?;
    Ok(file)
}

/// A user as `esxlcm users list` shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    pub name: String,
    pub role: Role,
}

/// Longest password taken: Argon2 hashes any length, but a megabyte "password" is a typo
/// (a file piped in by mistake).
const MAX_PASSWORD: usize = 1024;
const MIN_PASSWORD: usize = 8;

fn check_name(name: &str) -> Result<(), UserError> {
    let bad = |reason| Err(UserError::BadName { name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 255 {
        return bad("1 to 255 characters");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("no spaces or control characters");
    }
    // HTTP Basic splits user and password at the first colon.
    if name.contains(':') {
        return bad("no ':' (HTTP Basic logins could not name it)");
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), UserError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(UserError::BadPassword("at least 8 characters"));
    }
    if password.len() > MAX_PASSWORD {
        return Err(UserError::BadPassword("at most 1024 bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err(UserError::BadPassword("no control characters"));
    }
    Ok(())
}

/// Read, change and rewrite `config.json` under its lock.
fn edit<T>(config_path: &Path, f: impl FnOnce(&mut ServerConfig) -> Result<T, UserError>) -> Result<T, UserError> {
    let _lock = lock_config(config_path)?;
    let mut config = read_config(config_path)?;
    let out = f(&mut config)?;
    write_config(config_path, &config)?;
    Ok(out)
}

fn find_mut<'a>(config: &'a mut ServerConfig, name: &str) -> Result<&'a mut UserEntry, UserError> {
    config.users.iter_mut().find(|u| u.name == name).ok_or_else(|| UserError::UnknownUser(name.to_owned()))
}

/// Would the change leave no administrator?
fn is_last_admin(config: &ServerConfig, name: &str) -> bool {
    config.users.iter().filter(|u| u.role == Role::Admin).all(|u| u.name == name)
}

pub fn list_users(config_path: &Path) -> Result<Vec<UserSummary>, UserError> {
    Ok(read_config(config_path)?.users.into_iter().map(|u| UserSummary { name: u.name, role: u.role }).collect())
}

pub fn add_user(config_path: &Path, name: &str, role: Role, password: &str) -> Result<(), UserError> {
    check_name(name)?;
    check_password(password)?;
    edit(config_path, |config| {
        if config.users.iter().any(|u| u.name == name) {
            return Err(UserError::UserExists(name.to_owned()));
        }
        config.users.push(UserEntry {
            name: name.to_owned(),
            role,
            password_hash: Some(hash_password(name, password)?),
            password: None,
        });
        Ok(())
    })
}

pub fn set_password(config_path: &Path, name: &str, password: &str) -> Result<(), UserError> {
    check_password(password)?;
    edit(config_path, |config| {
        let user = find_mut(config, name)?;
        user.password_hash = Some(hash_password(name, password)?);
        user.password = None;
        Ok(())
    })
}

/// Returns the previous role.
pub fn set_role(config_path: &Path, name: &str, role: Role) -> Result<Role, UserError> {
    edit(config_path, |config| {
        if role != Role::Admin && is_last_admin(config, name) && find_mut(config, name)?.role == Role::Admin {
            return Err(UserError::LastAdmin(name.to_owned()));
        }
        let user = find_mut(config, name)?;
        Ok(std::mem::replace(&mut user.role, role))
    })
}

pub fn remove_user(config_path: &Path, name: &str) -> Result<(), UserError> {
    edit(config_path, |config| {
        if find_mut(config, name)?.role == Role::Admin && is_last_admin(config, name) {
            return Err(UserError::LastAdmin(name.to_owned()));
        }
        config.users.retain(|u| u.name != name);
        Ok(())
    })
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

    fn with_admin() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        add_user(&path, "root", Role::Admin, "correct horse").unwrap();
        (dir, path)
    }

    #[test]
    fn users_are_added_listed_and_duplicates_refused() {
        let (_dir, path) = with_admin();
        add_user(&path, "viewer", Role::ReadOnly, "look at it").unwrap();
        assert!(matches!(add_user(&path, "viewer", Role::Admin, "another one"), Err(UserError::UserExists(_))));
        assert!(matches!(add_user(&path, "a:b", Role::Admin, "long enough"), Err(UserError::BadName { .. })));
        assert!(matches!(add_user(&path, "", Role::Admin, "long enough"), Err(UserError::BadName { .. })));
        assert!(matches!(add_user(&path, "short", Role::Admin, "1234567"), Err(UserError::BadPassword(_))));
        let users = list_users(&path).unwrap();
        assert_eq!(
            users,
            [
                UserSummary { name: "root".into(), role: Role::Admin },
                UserSummary { name: "viewer".into(), role: Role::ReadOnly }
            ]
        );
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("look at it") && !text.contains("correct horse"), "only hashes are written");
        let (db, _) = UserDb::load_or_init(&path, None).unwrap();
        assert_eq!(db.verify("viewer", "look at it"), Some(Role::ReadOnly));
    }

    #[test]
    fn the_last_admin_stays() {
        let (_dir, path) = with_admin();
        assert!(matches!(remove_user(&path, "root"), Err(UserError::LastAdmin(_))));
        assert!(matches!(set_role(&path, "root", Role::ReadOnly), Err(UserError::LastAdmin(_))));
        assert!(matches!(remove_user(&path, "nobody"), Err(UserError::UnknownUser(_))));
        add_user(&path, "second", Role::Admin, "another admin").unwrap();
        assert_eq!(set_role(&path, "root", Role::ReadOnly).unwrap(), Role::Admin);
        assert!(matches!(remove_user(&path, "second"), Err(UserError::LastAdmin(_))));
        remove_user(&path, "root").unwrap();
        assert_eq!(list_users(&path).unwrap().len(), 1);
    }

    #[test]
    fn passwords_change_and_a_running_server_sees_it() {
        let (_dir, path) = with_admin();
        let mut config = read_config(&path).unwrap();
        config.other.insert("future_key".into(), serde_json::json!({"kept": true}));
        write_config(&path, &config).unwrap();
        let (db, _) = UserDb::load_or_init(&path, None).unwrap();
        assert_eq!(db.verify("root", "correct horse"), Some(Role::Admin));
        set_password(&path, "root", "battery staple").unwrap();
        assert_eq!(db.verify("root", "correct horse"), None, "reloaded on change");
        assert_eq!(db.verify("root", "battery staple"), Some(Role::Admin));
        assert!(matches!(set_password(&path, "nobody", "whatever!"), Err(UserError::UnknownUser(_))));
        add_user(&path, "late", Role::ReadOnly, "came later").unwrap();
        assert_eq!(db.role_of("late"), Some(Role::ReadOnly));
        remove_user(&path, "late").unwrap();
        assert_eq!(db.role_of("late"), None);
        assert!(fs::read_to_string(&path).unwrap().contains("future_key"), "unknown keys are kept");
        // A broken file keeps the users in force.
        fs::write(&path, b"{not json").unwrap();
        assert_eq!(db.role_of("root"), Some(Role::Admin));
    }
}
