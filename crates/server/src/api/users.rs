//! Local users: rows of the store's database (SQLite, or PostgreSQL shared by every
//! replica), each with an Argon2id password hash and one of two roles. The first
//! administrator comes from `ESXLCM_ADMIN_USER` / `ESXLCM_ADMIN_PASSWORD` while the database
//! has no administrator. `esxlcm users` manages them ([`add_user`], [`set_password`],
//! [`set_role`], [`remove_user`], [`list_users`]), each change one transaction under the
//! `users` lease, so two editors (or replicas) never lose each other's change or remove the
//! last administrator between them. A running server sees a change at the next login, and
//! at the next call within [`USERS_RECHECK`].
//!
//! `users` written into `config.json` (older versions kept them there; an operator may
//! still type one in, even with a clear-text `password`) are moved into the database when
//! the server starts or the file changes: hashed, upserted, and removed from the file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use argon2::{Argon2, PasswordHash, PasswordHasher};
use esxlcm_store::Store;
use esxlcm_store::meta::DocumentChange;
use esxlcm_store::ops::LockWait;
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
        "no users are configured: set ESXLCM_ADMIN_USER and ESXLCM_ADMIN_PASSWORD for the first start, or add one with `esxlcm users add` (or in {0})"
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
    #[error("the users in the store's database: {0}")]
    Store(#[from] esxlcm_store::StoreError),
    #[error("the store's database row of user '{name}' is unreadable: {reason}")]
    Row { name: String, reason: String },
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

/// The kind of the users' rows in the store's database (id: the user name).
const USERS: &str = "user";
/// Held across every read-check-write of the users.
const USERS_LEASE: &str = "users";
/// How long an editor waits for another's change to finish.
const USERS_WAIT: LockWait = LockWait(Duration::from_secs(30));
/// How long the users read are trusted for a call's role check before they are read
/// again (a login always reads them).
pub const USERS_RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Loaded {
    users: Vec<UserEntry>,
    read_at: Instant,
    /// `config.json` as last looked at (its users are moved into the database).
    config: Stamp,
}

/// The users, read from the database at start, at every login, and for role checks once
/// per [`USERS_RECHECK`].
pub struct UserDb {
    store: Arc<Store>,
    config_path: PathBuf,
    loaded: RwLock<Loaded>,
    recheck: Duration,
    /// Verifying an unknown user costs the same as a known one, so timing does not tell
    /// which user names exist.
    dummy_hash: String,
}

impl std::fmt::Debug for UserDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserDb").field("store", &self.store.location().to_string()).finish_non_exhaustive()
    }
}

impl UserDb {
    /// Read `config.json` (moving any `users` in it into the database), add the initial
    /// administrator while the database has none, and read the users.
    pub fn load_or_init(
        store: Arc<Store>,
        config_path: &Path,
        admin: Option<InitialAdmin>,
    ) -> Result<(Self, ServerConfig), UserError> {
        let config = {
            let _lock = lock_config(config_path)?;
            move_file_users(&store, config_path)?
        };
        edit(&store, |users| {
            if users.iter().any(|u| u.role == Role::Admin) {
                return Ok(());
            }
            match admin {
                Some(admin) if !users.iter().any(|u| u.name == admin.user) => {
                    users.push(UserEntry {
                        password_hash: Some(hash_password(&admin.user, &admin.password)?),
                        name: admin.user,
                        role: Role::Admin,
                        password: None,
                    });
                    Ok(())
                }
                _ if users.is_empty() => Err(UserError::NoUsers(config_path.to_path_buf())),
                _ => Ok(()),
            }
        })?;
        let dummy_hash = hash_password("-", "not a password")?;
        let loaded = Loaded { users: read_users(&store)?, read_at: Instant::now(), config: stamp(config_path) };
        let db = Self {
            store,
            config_path: config_path.to_path_buf(),
            loaded: RwLock::new(loaded),
            recheck: USERS_RECHECK,
            dummy_hash,
        };
        Ok((db, config))
    }

    /// Read the users again after `recheck` instead of [`USERS_RECHECK`] (tests: zero).
    #[must_use]
    pub fn with_recheck(mut self, recheck: Duration) -> Self {
        self.recheck = recheck;
        self
    }

    /// Move users typed into a changed `config.json` into the database, and read the users
    /// again when `always` or when they are older than the recheck time. A failure keeps
    /// the users as they were, with a warning.
    fn refresh(&self, always: bool) {
        let now = stamp(&self.config_path);
        let (config_changed, stale) = {
            let loaded = self.loaded.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            (loaded.config != now, always || loaded.read_at.elapsed() >= self.recheck)
        };
        if config_changed {
            let moved =
                lock_config(&self.config_path).and_then(|_lock| move_file_users(&self.store, &self.config_path));
            if let Err(e) = moved {
                tracing::warn!("users in {} not taken: {e}", self.config_path.display());
            }
        }
        if !(config_changed || stale) {
            return;
        }
        let read = read_users(&self.store);
        let mut loaded = self.loaded.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Not again until the file changes once more.
        loaded.config = stamp(&self.config_path);
        match read {
            Ok(users) => {
                loaded.users = users;
                loaded.read_at = Instant::now();
            }
            Err(e) => tracing::warn!("users not read again, the previous ones stay in force: {e}"),
        }
    }

    /// Check a user's password (Argon2id; call off the async threads).
    pub fn verify(&self, user: &str, password: &str) -> Option<Role> {
        self.refresh(true);
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
        self.refresh(false);
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.role)
    }
}

/// Read `config.json`; move the `users` it lists into the database (clear-text passwords
/// hashed; a user already there takes the file's role and password) and rewrite the file
/// without them. Returns the rest of the file. Call with the config lock held.
fn move_file_users(store: &Store, config_path: &Path) -> Result<ServerConfig, UserError> {
    let mut config = read_config(config_path)?;
    if config.users.is_empty() {
        return Ok(config);
    }
    let mut typed = std::mem::take(&mut config.users);
    for u in &mut typed {
        check_name(&u.name)
            .map_err(|e| UserError::Config { path: config_path.to_path_buf(), reason: e.to_string() })?;
        if let Some(clear) = u.password.take() {
            u.password_hash = Some(hash_password(&u.name, &clear)?);
        }
        if u.password_hash.as_deref().is_none_or(|h| PasswordHash::new(h).is_err()) {
            return Err(UserError::Config {
                path: config_path.to_path_buf(),
                reason: format!("user '{}' has no valid password_hash (or password)", u.name),
            });
        }
    }
    let count = typed.len();
    edit(store, |users| {
        for t in typed {
            users.retain(|u| u.name != t.name);
            users.push(t);
        }
        Ok(())
    })?;
    write_config(config_path, &config)?;
    tracing::info!(path = %config_path.display(), users = count, "moved users from config.json into the store's database");
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

/// Every user row, by name.
fn read_users(store: &Store) -> Result<Vec<UserEntry>, UserError> {
    let mut users = Vec::new();
    for (id, body) in store.documents_of(USERS)? {
        let entry: UserEntry =
            serde_json::from_str(&body).map_err(|e| UserError::Row { name: id.clone(), reason: e.to_string() })?;
        if entry.name != id {
            return Err(UserError::Row { name: id, reason: format!("the row names '{}'", entry.name) });
        }
        users.push(entry);
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(users)
}

/// Read the users, change them, and write what changed in one transaction, under the
/// users lease.
fn edit<T>(store: &Store, f: impl FnOnce(&mut Vec<UserEntry>) -> Result<T, UserError>) -> Result<T, UserError> {
    let _lease = store.lease_waiting(USERS_LEASE, USERS_WAIT)?;
    let before = read_users(store)?;
    let mut users = before.clone();
    let out = f(&mut users)?;
    let mut changes = Vec::new();
    for u in &users {
        let body =
            serde_json::to_string(u).map_err(|e| UserError::Row { name: u.name.clone(), reason: e.to_string() })?;
        let old = before.iter().find(|b| b.name == u.name).and_then(|b| serde_json::to_string(b).ok());
        if old.as_deref() != Some(body.as_str()) {
            changes.push(DocumentChange { kind: USERS.into(), id: u.name.clone(), body: Some(body) });
        }
    }
    for b in before.iter().filter(|b| !users.iter().any(|u| u.name == b.name)) {
        changes.push(DocumentChange { kind: USERS.into(), id: b.name.clone(), body: None });
    }
    store.write_documents(&changes)?;
    Ok(out)
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

fn find_mut<'a>(users: &'a mut [UserEntry], name: &str) -> Result<&'a mut UserEntry, UserError> {
    users.iter_mut().find(|u| u.name == name).ok_or_else(|| UserError::UnknownUser(name.to_owned()))
}

/// Would the change leave no administrator?
fn is_last_admin(users: &[UserEntry], name: &str) -> bool {
    users.iter().filter(|u| u.role == Role::Admin).all(|u| u.name == name)
}

pub fn list_users(store: &Store) -> Result<Vec<UserSummary>, UserError> {
    Ok(read_users(store)?.into_iter().map(|u| UserSummary { name: u.name, role: u.role }).collect())
}

pub fn add_user(store: &Store, name: &str, role: Role, password: &str) -> Result<(), UserError> {
    check_name(name)?;
    check_password(password)?;
    // Hashed before the lease is taken: Argon2 takes a while.
    let hash = hash_password(name, password)?;
    edit(store, |users| {
        if users.iter().any(|u| u.name == name) {
            return Err(UserError::UserExists(name.to_owned()));
        }
        users.push(UserEntry { name: name.to_owned(), role, password_hash: Some(hash), password: None });
        Ok(())
    })
}

pub fn set_password(store: &Store, name: &str, password: &str) -> Result<(), UserError> {
    check_password(password)?;
    let hash = hash_password(name, password)?;
    edit(store, |users| {
        let user = find_mut(users, name)?;
        user.password_hash = Some(hash);
        user.password = None;
        Ok(())
    })
}

/// Returns the previous role.
pub fn set_role(store: &Store, name: &str, role: Role) -> Result<Role, UserError> {
    edit(store, |users| {
        if role != Role::Admin && find_mut(users, name)?.role == Role::Admin && is_last_admin(users, name) {
            return Err(UserError::LastAdmin(name.to_owned()));
        }
        let user = find_mut(users, name)?;
        Ok(std::mem::replace(&mut user.role, role))
    })
}

pub fn remove_user(store: &Store, name: &str) -> Result<(), UserError> {
    edit(store, |users| {
        if find_mut(users, name)?.role == Role::Admin && is_last_admin(users, name) {
            return Err(UserError::LastAdmin(name.to_owned()));
        }
        users.retain(|u| u.name != name);
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

    fn store(dir: &Path) -> Arc<Store> {
        Arc::new(Store::open(&dir.join("store")).unwrap())
    }

    #[test]
    fn first_admin_then_users_typed_into_config_json_move_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let st = store(dir.path());
        assert!(matches!(UserDb::load_or_init(Arc::clone(&st), &path, None), Err(UserError::NoUsers(_))));
        let admin = InitialAdmin { user: "root".into(), password: "s3cret".into() };
        let (db, _) = UserDb::load_or_init(Arc::clone(&st), &path, Some(admin)).unwrap();
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
        let rows = st.documents_of(USERS).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].1.contains("s3cret") && rows[0].1.contains("$argon2id$"), "{}", rows[0].1);

        // An operator types a user, with a clear-text password, into config.json next to a
        // setting: the running server takes it at the next login; the file keeps the setting.
        let typed = serde_json::json!({"users": [{"name": "viewer", "role": "read_only", "password": "look"}],
                                       "bootloader_dir": "/srv/boot"});
        fs::write(&path, typed.to_string()).unwrap();
        assert_eq!(db.verify("viewer", "look"), Some(Role::ReadOnly));
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("look") && !text.contains("viewer") && text.contains("/srv/boot"), "{text}");
        assert_eq!(list_users(&st).unwrap().len(), 2);
        // A broken user in the file is refused by name, and nothing of it is taken.
        fs::write(&path, br#"{"users": [{"name": "x", "role": "admin"}]}"#).unwrap();
        let err = UserDb::load_or_init(Arc::clone(&st), &path, None).unwrap_err().to_string();
        assert!(err.contains("'x' has no valid password_hash"), "{err}");
        assert_eq!(list_users(&st).unwrap().len(), 2);
    }

    fn with_admin() -> (tempfile::TempDir, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let st = store(dir.path());
        add_user(&st, "root", Role::Admin, "correct horse").unwrap();
        (dir, st)
    }

    #[test]
    fn users_are_added_listed_and_duplicates_refused() {
        let (dir, st) = with_admin();
        add_user(&st, "viewer", Role::ReadOnly, "look at it").unwrap();
        assert!(matches!(add_user(&st, "viewer", Role::Admin, "another one"), Err(UserError::UserExists(_))));
        assert!(matches!(add_user(&st, "a:b", Role::Admin, "long enough"), Err(UserError::BadName { .. })));
        assert!(matches!(add_user(&st, "", Role::Admin, "long enough"), Err(UserError::BadName { .. })));
        assert!(matches!(add_user(&st, "short", Role::Admin, "1234567"), Err(UserError::BadPassword(_))));
        let users = list_users(&st).unwrap();
        assert_eq!(
            users,
            [
                UserSummary { name: "root".into(), role: Role::Admin },
                UserSummary { name: "viewer".into(), role: Role::ReadOnly }
            ]
        );
        let rows = format!("{:?}", st.documents_of(USERS).unwrap());
        assert!(!rows.contains("look at it") && !rows.contains("correct horse"), "only hashes are written");
        let (db, _) = UserDb::load_or_init(Arc::clone(&st), &dir.path().join("config.json"), None).unwrap();
        assert_eq!(db.verify("viewer", "look at it"), Some(Role::ReadOnly));
    }

    #[test]
    fn the_last_admin_stays() {
        let (_dir, st) = with_admin();
        assert!(matches!(remove_user(&st, "root"), Err(UserError::LastAdmin(_))));
        assert!(matches!(set_role(&st, "root", Role::ReadOnly), Err(UserError::LastAdmin(_))));
        assert!(matches!(remove_user(&st, "nobody"), Err(UserError::UnknownUser(_))));
        add_user(&st, "second", Role::Admin, "another admin").unwrap();
        assert_eq!(set_role(&st, "root", Role::ReadOnly).unwrap(), Role::Admin);
        assert!(matches!(remove_user(&st, "second"), Err(UserError::LastAdmin(_))));
        remove_user(&st, "root").unwrap();
        assert_eq!(list_users(&st).unwrap().len(), 1);
    }

    #[test]
    fn two_editors_at_once_never_remove_the_last_admin_between_them() {
        let (_dir, st) = with_admin();
        add_user(&st, "second", Role::Admin, "another admin").unwrap();
        let results = std::thread::scope(|s| {
            let a = s.spawn(|| remove_user(&st, "root"));
            let b = s.spawn(|| remove_user(&st, "second"));
            [a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(UserError::LastAdmin(_)))));
        assert_eq!(list_users(&st).unwrap().iter().filter(|u| u.role == Role::Admin).count(), 1);
    }

    #[test]
    fn passwords_change_and_a_running_server_sees_it() {
        let (dir, st) = with_admin();
        let path = dir.path().join("config.json");
        fs::write(&path, br#"{"future_key": {"kept": true}}"#).unwrap();
        let (db, _) = UserDb::load_or_init(Arc::clone(&st), &path, None).unwrap();
        let db = db.with_recheck(Duration::ZERO);
        assert_eq!(db.verify("root", "correct horse"), Some(Role::Admin));
        set_password(&st, "root", "battery staple").unwrap();
        assert_eq!(db.verify("root", "correct horse"), None, "read again at login");
        assert_eq!(db.verify("root", "battery staple"), Some(Role::Admin));
        assert!(matches!(set_password(&st, "nobody", "whatever!"), Err(UserError::UnknownUser(_))));
        add_user(&st, "late", Role::ReadOnly, "came later").unwrap();
        assert_eq!(db.role_of("late"), Some(Role::ReadOnly));
        remove_user(&st, "late").unwrap();
        assert_eq!(db.role_of("late"), None);
        assert!(fs::read_to_string(&path).unwrap().contains("future_key"), "unknown keys are kept");
        // A broken file keeps the users in force.
        fs::write(&path, b"{not json").unwrap();
        assert_eq!(db.role_of("root"), Some(Role::Admin));
    }
}
