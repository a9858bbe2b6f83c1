//! Sessions: opaque random tokens (never logged), expiring after idle time and after an
//! absolute lifetime (however busy), at most [`MAX_SESSIONS`] at once (the least recently
//! used goes first). Each replica keeps the sessions it serves in memory; with the store's
//! database attached ([`SessionStore::with_rows`]) every session is also a row (its id the
//! token's sha-256, never the token), so a session made on one replica is valid on every
//! other, a logout anywhere ends it everywhere within [`SESSION_RECHECK`], and idle clocks
//! follow activity on any replica (written back at most once per [`ACCESS_WRITE`]). Logins pass the
//! [`LoginGuard`]: a bounded number of password checks at once, and exponential backoff
//! per user name and per client address after repeated failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use esxlcm_store::Store;
use esxlcm_store::meta::DocumentChange;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

use super::random::random_hex;
use super::users::Role;

/// vCenter's default idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A stolen session id is useful for this long at most (`sessions.max_lifetime_hours` in
/// `config.json`).
pub const MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at once: each login makes one, so an unbounded map is a memory leak any
/// valid user (or script that never logs out) can drive.
pub const MAX_SESSIONS: usize = 1000;
/// How long a replica trusts its memory of a session before it checks the row again (a
/// logout on another replica ends the session here within this time).
pub const SESSION_RECHECK: Duration = Duration::from_secs(1);
/// How often a busy session's last access is written back to its row.
pub const ACCESS_WRITE: Duration = Duration::from_secs(60);
/// The kind of the session rows (id: the hex sha-256 of the token).
const ROWS: &str = "session";

/// A session as its row keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    user: String,
    role: Role,
    created: DateTime<Utc>,
    last_accessed: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub created: DateTime<Utc>,
    pub last_accessed: DateTime<Utc>,
    last_used: Instant,
    started: Instant,
    /// When its row was last read (or written).
    checked: Instant,
    /// When its last access was last written to its row.
    written: Instant,
}

/// The instant `at` was, on this machine's monotonic clock (`None`: before it can say).
fn instant_of(at: DateTime<Utc>) -> Option<Instant> {
    let age = (Utc::now() - at).to_std().unwrap_or(Duration::ZERO);
    Instant::now().checked_sub(age)
}

fn row_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    max_sessions: usize,
    idle_timeout: Duration,
    max_lifetime: Duration,
    /// Where every replica finds the sessions (`None`: this process only).
    rows: Option<Arc<Store>>,
    /// Throttles the password checks of logins.
    pub login: LoginGuard,
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::with_limits(MAX_SESSIONS, IDLE_TIMEOUT, LoginGuard::default())
    }
}

impl SessionStore {
    pub fn with_limits(max_sessions: usize, idle_timeout: Duration, login: LoginGuard) -> Self {
        Self {
            sessions: Mutex::default(),
            max_sessions: max_sessions.max(1),
            idle_timeout,
            max_lifetime: MAX_LIFETIME,
            rows: None,
            login,
        }
    }

    /// Keep every session as a row of `store`'s database too: valid on every replica.
    #[must_use]
    pub fn with_rows(mut self, store: Arc<Store>) -> Self {
        self.rows = Some(store);
        self
    }

    /// The absolute lifetime of sessions (default [`MAX_LIFETIME`]).
    #[must_use]
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    fn expired(&self, s: &Session) -> bool {
        s.last_used.elapsed() >= self.idle_timeout || s.started.elapsed() >= self.max_lifetime
    }

    pub fn create(&self, user: &str, role: Role) -> Result<String, getrandom::Error> {
        let token = random_hex(16)?;
        let now = Utc::now();
        let started = Instant::now();
        let session = Session {
            user: user.to_owned(),
            role,
            created: now,
            last_accessed: now,
            last_used: started,
            started,
            checked: started,
            written: started,
        };
        self.prune_rows();
        self.write_row(&token, &session);
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| !self.expired(s));
        self.make_room(&mut map);
        map.insert(token.clone(), session);
        Ok(token)
    }

    /// Evict the least recently used sessions of this replica's memory until one more fits.
    fn make_room(&self, map: &mut HashMap<String, Session>) {
        while map.len() >= self.max_sessions {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = map.remove(&oldest) {
                self.delete_row(&oldest);
                tracing::info!(user = %gone.user, "session limit reached: the least recently used session ends");
            }
        }
    }

    /// The session for a token, touched; `None` if unknown or expired. Returns the state
    /// as it was before this access (what `session.get` reports as last accessed).
    pub fn touch(&self, token: &str) -> Option<Session> {
        self.follow_rows(token)?;
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.get_mut(token)?;
        if self.expired(s) {
            map.remove(token);
            drop(map);
            self.delete_row(token);
            return None;
        }
        let before = s.clone();
        s.last_used = Instant::now();
        s.last_accessed = Utc::now();
        let write_back = (self.rows.is_some() && s.written.elapsed() >= ACCESS_WRITE).then(|| {
            s.written = Instant::now();
            s.clone()
        });
        drop(map);
        if let Some(s) = write_back {
            self.write_row(token, &s);
        }
        Some(before)
    }

    /// With rows: bring this replica's memory of `token` up to date with its row when the
    /// memory is missing or older than [`SESSION_RECHECK`]. `None` when the row says the
    /// session is gone (logged out, or never made on any replica).
    fn follow_rows(&self, token: &str) -> Option<()> {
        let Some(store) = &self.rows else { return Some(()) };
        {
            let map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.get(token).is_some_and(|s| s.checked.elapsed() < SESSION_RECHECK) {
                return Some(());
            }
        }
        let row = match store.document(ROWS, &row_id(token)) {
            Ok(Some(body)) => serde_json::from_str::<Row>(&body)
                .inspect_err(|e| tracing::warn!("an unreadable session row is ignored: {e}"))
                .ok(),
            Ok(None) => None,
            Err(e) => {
                // The database is away: what this replica knows stands meanwhile.
                tracing::warn!("reading a session row: {e}");
                return Some(());
            }
        };
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(row) = row else {
            map.remove(token);
            return None;
        };
        let now = Instant::now();
        if let Some(s) = map.get_mut(token) {
            // Activity on another replica counts for the idle clock here.
            if row.last_accessed > s.last_accessed {
                s.last_used = instant_of(row.last_accessed).unwrap_or(s.last_used).max(s.last_used);
                s.last_accessed = row.last_accessed;
            }
            s.role = row.role;
            s.checked = now;
            return Some(());
        }
        let (Some(started), Some(last_used)) = (instant_of(row.created), instant_of(row.last_accessed)) else {
            return None;
        };
        let session = Session {
            user: row.user,
            role: row.role,
            created: row.created,
            last_accessed: row.last_accessed,
            last_used,
            started,
            checked: now,
            written: now,
        };
        self.make_room(&mut map);
        map.insert(token.to_owned(), session);
        Some(())
    }

    fn write_row(&self, token: &str, s: &Session) {
        let Some(store) = &self.rows else { return };
        let row = Row { user: s.user.clone(), role: s.role, created: s.created, last_accessed: s.last_accessed };
        let body = match serde_json::to_string(&row) {
            Ok(b) => b,
            Err(e) => return tracing::error!("keeping a session: {e}"),
        };
        let change = DocumentChange { kind: ROWS.into(), id: row_id(token), body: Some(body) };
        if let Err(e) = store.write_documents(&[change]) {
            // The session still works on this replica (sticky sessions keep working).
            tracing::error!(user = %s.user, "keeping a session for the other replicas: {e}");
        }
    }

    fn delete_row(&self, token: &str) {
        let Some(store) = &self.rows else { return };
        let change = DocumentChange { kind: ROWS.into(), id: row_id(token), body: None };
        if let Err(e) = store.write_documents(&[change]) {
            tracing::error!("ending a session for the other replicas: {e}");
        }
    }

    /// Drop the rows of sessions past their idle time or lifetime, and the least recently
    /// accessed beyond [`MAX_SESSIONS`] (every replica's logins count).
    fn prune_rows(&self) {
        let Some(store) = &self.rows else { return };
        let rows = match store.documents_of(ROWS) {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!("reading the session rows: {e}"),
        };
        let now = Utc::now();
        let idle = chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let lifetime = chrono::Duration::from_std(self.max_lifetime).unwrap_or(chrono::Duration::MAX);
        let mut live = Vec::new();
        let mut gone = Vec::new();
        for (id, body) in rows {
            match serde_json::from_str::<Row>(&body) {
                Ok(r) if now - r.last_accessed < idle && now - r.created < lifetime => live.push((r.last_accessed, id)),
                _ => gone.push(id),
            }
        }
        live.sort();
        let over = live.len().saturating_sub(self.max_sessions);
        gone.extend(live.into_iter().take(over).map(|(_, id)| id));
        let changes: Vec<DocumentChange> =
            gone.into_iter().map(|id| DocumentChange { kind: ROWS.into(), id, body: None }).collect();
        if let Err(e) = store.write_documents(&changes) {
            tracing::warn!("dropping ended session rows: {e}");
        }
    }

    pub fn delete(&self, token: &str) -> bool {
        let known = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(token).is_some();
        let Some(store) = &self.rows else { return known };
        let stored = store.document(ROWS, &row_id(token)).ok().flatten().is_some();
        self.delete_row(token);
        known || stored
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a login is not checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures lately for this user name or address: retry after this long.
    Throttled(Duration),
    /// Every password-check slot stayed busy: retry after this long.
    Busy(Duration),
}

/// Keys of the failure table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// How logins are throttled.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Password checks at once (each Argon2id check takes 19 MiB and a core for a while).
    pub concurrent_checks: usize,
    /// How long a login waits for a check slot before it is told to come back.
    pub queue_wait: Duration,
    /// Failures allowed before backoff starts.
    pub free_failures: u32,
    /// The first backoff; each further failure doubles it, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A key's failures are forgotten after this long without another one.
    pub forget_after: Duration,
    /// Entries in the failure table at most (the stalest go first).
    pub max_tracked: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            concurrent_checks: cores.clamp(1, 4),
            queue_wait: Duration::from_secs(2),
            free_failures: 5,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            forget_after: Duration::from_secs(15 * 60),
            max_tracked: 10_000,
        }
    }
}

/// Bounds the password checks logins cost (D1 of issue #12: a flood of wrong logins ran
/// unbounded Argon2 checks, 19 MiB each).
pub struct LoginGuard {
    limits: LoginLimits,
    checks: Semaphore,
    failures: Mutex<HashMap<Who, Failures>>,
    /// The threads checks run on, started with the first login.
    threads: std::sync::OnceLock<Option<Mutex<std::sync::mpsc::Sender<Job>>>>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Default for LoginGuard {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

/// A password-check slot; the check runs while it is held.
#[derive(Debug)]
pub struct CheckPermit<'a>(#[allow(dead_code)] tokio::sync::SemaphorePermit<'a>);

impl std::fmt::Debug for LoginGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGuard").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            checks: Semaphore::new(limits.concurrent_checks.max(1)),
            limits,
            failures: Mutex::default(),
            threads: std::sync::OnceLock::new(),
        }
    }

    /// Run a password check (`f`, slow and memory-hungry) on one of the guard's own
    /// threads, as many as check slots. Not the blocking pool: each of its many threads
    /// kept an allocator arena holding a check's 19 MiB (200 wrong logins still grew the
    /// server by 800 MB with the slots bounded).
    pub async fn run<T: Send + 'static>(
        &self,
        _slot: &CheckPermit<'_>,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.threads.get_or_init(|| self.start_threads()) {
            Some(jobs) => {
                let sent = jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).send(job);
                if sent.is_err() {
                    return None;
                }
            }
            // No thread could be started: the blocking pool still works.
            None => drop(tokio::task::spawn_blocking(job)),
        }
        rx.await.ok()
    }

    fn start_threads(&self) -> Option<Mutex<std::sync::mpsc::Sender<Job>>> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..self.limits.concurrent_checks.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("password-check-{i}")).spawn(move || {
                loop {
                    let next = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    match next {
                        Ok(job) => job(),
                        Err(_) => return, // the guard is gone
                    }
                }
            });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!("cannot start a password-check thread: {e}"),
            }
        }
        (started > 0).then(|| Mutex::new(tx))
    }

    fn keys(user: &str, addr: Option<IpAddr>) -> Vec<Who> {
        let mut keys = vec![Who::User(user.to_owned())];
        keys.extend(addr.map(Who::Addr));
        keys
    }

    /// May `user` from `addr` have its password checked now? Waits (briefly) for a slot.
    pub async fn admit(&self, user: &str, addr: Option<IpAddr>) -> Result<CheckPermit<'_>, Refusal> {
        let now = Instant::now();
        {
            let map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let wait = Self::keys(user, addr)
                .iter()
                .filter_map(|k| map.get(k)?.blocked_until)
                .filter(|until| *until > now)
                .map(|until| until - now)
                .max();
            if let Some(wait) = wait {
                return Err(Refusal::Throttled(wait));
            }
        }
        match tokio::time::timeout(self.limits.queue_wait, self.checks.acquire()).await {
            Ok(Ok(permit)) => Ok(CheckPermit(permit)),
            // Closed never happens (the semaphore is never closed); treat it as busy.
            Ok(Err(_)) | Err(_) => Err(Refusal::Busy(self.limits.queue_wait.max(Duration::from_secs(1)))),
        }
    }

    /// A failed login: count it for the user name and the address; returns the backoff now
    /// in force (zero while under the free failures).
    pub fn failed(&self, user: &str, addr: Option<IpAddr>) -> Duration {
        let now = Instant::now();
        let l = &self.limits;
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, f| now.duration_since(f.last) < l.forget_after || f.blocked_until.is_some_and(|u| u > now));
        let mut longest = Duration::ZERO;
        for key in Self::keys(user, addr) {
            let f = map.entry(key).or_insert(Failures { count: 0, last: now, blocked_until: None });
            f.count = f.count.saturating_add(1);
            f.last = now;
            if f.count > l.free_failures {
                let doublings = (f.count - l.free_failures - 1).min(20);
                let backoff = l.base_backoff.saturating_mul(1 << doublings).min(l.max_backoff);
                f.blocked_until = Some(now + backoff);
                longest = longest.max(backoff);
            }
        }
        while map.len() > l.max_tracked {
            let Some(stalest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) else { break };
            map.remove(&stalest);
        }
        longest
    }

    /// A successful login clears the user's and the address's failures.
    pub fn succeeded(&self, user: &str, addr: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in Self::keys(user, addr) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_least_recently_used_session_goes_when_full_and_idle_ones_expire() {
        let store = SessionStore::with_limits(2, IDLE_TIMEOUT, LoginGuard::default());
        let a = store.create("a", Role::Admin).unwrap();
        let b = store.create("b", Role::Admin).unwrap();
        assert!(store.touch(&a).is_some()); // b is now the least recently used
        let c = store.create("c", Role::Admin).unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.touch(&b).is_none(), "evicted");
        assert!(store.touch(&a).is_some() && store.touch(&c).is_some());

        let short = SessionStore::with_limits(10, Duration::from_millis(1), LoginGuard::default());
        let t = short.create("a", Role::Admin).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.touch(&t).is_none(), "idle past the timeout");
        assert!(short.is_empty());

        // A lifetime far above any scheduling delay: the young session is taken whatever the
        // machine's load, and only the sleep past it ends it.
        let lifetime = Duration::from_millis(800);
        let capped = SessionStore::with_limits(10, IDLE_TIMEOUT, LoginGuard::default()).with_max_lifetime(lifetime);
        let t = capped.create("a", Role::Admin).unwrap();
        assert!(capped.touch(&t).is_some(), "busy and young");
        std::thread::sleep(lifetime + Duration::from_millis(100));
        assert!(capped.touch(&t).is_none(), "past the absolute lifetime, however busy");
    }

    #[test]
    fn with_rows_a_session_is_every_replicas_and_a_logout_ends_it_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("store")).unwrap());
        let replica = || SessionStore::default().with_rows(Arc::clone(&store));
        let (a, b) = (replica(), replica());
        let t = a.create("alice", Role::Admin).unwrap();
        let rows = store.documents_of(ROWS).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].0.contains(&t) && !rows[0].1.contains(&t), "the token itself is never stored");
        let seen = b.touch(&t).expect("valid on the other replica");
        assert_eq!((seen.user.as_str(), seen.role), ("alice", Role::Admin));
        assert!(b.touch("not-a-session").is_none());
        // Logged out on b: a knows within SESSION_RECHECK.
        assert!(b.delete(&t));
        assert!(b.touch(&t).is_none());
        std::thread::sleep(SESSION_RECHECK + Duration::from_millis(50));
        assert!(a.touch(&t).is_none(), "a logout on one replica ends the session on every one");
        assert!(store.documents_of(ROWS).unwrap().is_empty());

        // Idle sessions' rows go at the next login, on whichever replica.
        let short = || {
            SessionStore::with_limits(10, Duration::from_millis(1), LoginGuard::default()).with_rows(Arc::clone(&store))
        };
        short().create("bob", Role::ReadOnly).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let fresh = short().create("carol", Role::ReadOnly).unwrap();
        let left: Vec<String> = store.documents_of(ROWS).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, [row_id(&fresh)], "only carol's (made just now) is left");
    }

    #[tokio::test]
    async fn failures_back_off_exponentially_per_user_and_per_address() {
        let limits = LoginLimits {
            free_failures: 2,
            base_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(25),
            ..LoginLimits::default()
        };
        let guard = LoginGuard::new(limits);
        let addr: Option<IpAddr> = Some("192.0.2.7".parse().unwrap());
        assert_eq!(guard.failed("root", addr), Duration::ZERO);
        assert_eq!(guard.failed("root", addr), Duration::ZERO);
        assert!(guard.admit("root", addr).await.is_ok());
        assert_eq!(guard.failed("root", addr), Duration::from_secs(10));
        assert!(matches!(guard.admit("root", None).await, Err(Refusal::Throttled(_))), "same user elsewhere");
        assert!(matches!(guard.admit("other", addr).await, Err(Refusal::Throttled(_))), "same address");
        assert!(guard.admit("other", Some("192.0.2.8".parse().unwrap())).await.is_ok());
        assert_eq!(guard.failed("root", addr), Duration::from_secs(20));
        assert_eq!(guard.failed("root", addr), Duration::from_secs(25), "capped");
        guard.succeeded("root", addr);
        assert!(guard.admit("root", addr).await.is_ok());
    }

    #[tokio::test]
    async fn password_checks_are_bounded() {
        let guard = LoginGuard::new(LoginLimits {
            concurrent_checks: 1,
            queue_wait: Duration::from_millis(50),
            ..LoginLimits::default()
        });
        let held = guard.admit("a", None).await.unwrap();
        assert!(matches!(guard.admit("b", None).await, Err(Refusal::Busy(_))));
        assert_eq!(guard.run(&held, || 6 * 7).await, Some(42), "checks run on the guard's thread");
        drop(held);
        let slot = guard.admit("b", None).await.unwrap();
        assert_eq!(guard.run(&slot, || "again").await, Some("again"));
    }
}
