//! Sessions: opaque random tokens (never logged), in memory, expiring after idle time and
//! after an absolute lifetime (however busy), at most [`MAX_SESSIONS`] at once (the least recently used goes first). Logins pass the
//! [`LoginGuard`]: a bounded number of password checks at once, and exponential backoff
//! per user name and per client address after repeated failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
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

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub created: DateTime<Utc>,
    pub last_accessed: DateTime<Utc>,
    last_used: Instant,
    started: Instant,
}

#[derive(Debug)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    max_sessions: usize,
    idle_timeout: Duration,
    max_lifetime: Duration,
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
            login,
        }
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
        let session =
            Session { user: user.to_owned(), role, created: now, last_accessed: now, last_used: started, started };
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| !self.expired(s));
        while map.len() >= self.max_sessions {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone()) else { break };
            if let Some(gone) = map.remove(&oldest) {
                tracing::info!(user = %gone.user, "session limit reached: the least recently used session ends");
            }
        }
        map.insert(token.clone(), session);
        Ok(token)
    }

    /// The session for a token, touched; `None` if unknown or expired. Returns the state
    /// as it was before this access (what `session.get` reports as last accessed).
    pub fn touch(&self, token: &str) -> Option<Session> {
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.get_mut(token)?;
        if self.expired(s) {
            map.remove(token);
            return None;
        }
        let before = s.clone();
        s.last_used = Instant::now();
        s.last_accessed = Utc::now();
        Some(before)
    }

    pub fn delete(&self, token: &str) -> bool {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(token).is_some()
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
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..self.limits.concurrent_checks.max(1) {
            let rx = std::sync::Arc::clone(&rx);
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
