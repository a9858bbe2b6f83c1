//! Sessions: opaque random tokens (never logged), in memory, expiring after idle time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::users::Role;

/// vCenter's default idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub created: DateTime<Utc>,
    pub last_accessed: DateTime<Utc>,
    last_used: Instant,
}

#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
}

/// 32 hex digits of OS randomness.
pub fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(hex::encode(buf))
}

impl SessionStore {
    pub fn create(&self, user: &str, role: Role) -> Result<String, getrandom::Error> {
        let token = random_hex(16)?;
        let now = Utc::now();
        let session =
            Session { user: user.to_owned(), role, created: now, last_accessed: now, last_used: Instant::now() };
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, s| s.last_used.elapsed() < IDLE_TIMEOUT);
        map.insert(token.clone(), session);
        Ok(token)
    }

    /// The session for a token, touched; `None` if unknown or expired. Returns the state
    /// as it was before this access (what `session.get` reports as last accessed).
    pub fn touch(&self, token: &str) -> Option<Session> {
        let mut map = self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = map.get_mut(token)?;
        if s.last_used.elapsed() >= IDLE_TIMEOUT {
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
}
