//! When to try a GET again, and how long to wait first.
//!
//! Only requests that got no answer (connect errors, timeouts) or an answer that says "later"
//! (429, 502, 503, 504) are retried; GETs are idempotent, so this is safe. A body that fails
//! halfway is not retried here: the mirror resumes it with `Range` on its next run, and a
//! depot read fails with a message that says what broke.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How often and how long to retry one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: no retries).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each one after, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// All waiting for one request together. A server asking (Retry-After) for more than
    /// what is left ends the retries at once: waiting longer than this is worse than failing
    /// with a message that says when to try again.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    /// 3 retries after 0.5 s, 1 s, 2 s; a server may ask for up to 30 s in all.
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_total_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The wait before retry number `retries_done + 1`, or `None` to give up. `asked` is the
    /// server's Retry-After, which replaces the backoff; `waited` is what earlier retries waited.
    pub fn next_wait(&self, retries_done: u32, asked: Option<Duration>, waited: Duration) -> Option<Duration> {
        if retries_done >= self.max_retries {
            return None;
        }
        let backoff = self
            .initial_backoff
            .checked_mul(2u32.saturating_pow(retries_done))
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        let wait = asked.unwrap_or(backoff);
        (waited.saturating_add(wait) <= self.max_total_wait).then_some(wait)
    }
}

/// Statuses that mean "try again later".
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The server's Retry-After (RFC 9110 §10.2.3): delay seconds, or an HTTP date (a date in
/// the past means now). `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3),
            max_total_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_stops_after_the_last_retry() {
        let p = policy();
        let waits: Vec<Option<Duration>> = (0..5).map(|n| p.next_wait(n, None, Duration::ZERO)).collect();
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(waits, vec![secs(1), secs(2), secs(3), secs(3), None]);
        assert_eq!(RetryPolicy::none().next_wait(0, None, Duration::ZERO), None);
    }

    #[test]
    fn retry_after_replaces_the_backoff_within_the_total_budget() {
        let p = policy();
        assert_eq!(p.next_wait(0, Some(Duration::from_secs(7)), Duration::ZERO), Some(Duration::from_secs(7)));
        assert_eq!(p.next_wait(1, Some(Duration::from_secs(7)), Duration::from_secs(4)), None, "7 + 4 > 10");
        assert_eq!(p.next_wait(2, None, Duration::from_secs(8)), None, "3 + 8 > 10");
        assert_eq!(p.next_wait(0, Some(Duration::ZERO), Duration::ZERO), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&h, now)
        };
        assert_eq!(with("120"), Some(Duration::from_secs(120)));
        assert_eq!(with("Sun, 06 Nov 1994 08:50:07 GMT"), Some(Duration::from_secs(30)));
        assert_eq!(with("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO), "a past date means now");
        assert_eq!(with("soon"), None);
        assert_eq!(with("-5"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_statuses_that_mean_later_are_retried() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 304, 400, 401, 404, 500, 501] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
