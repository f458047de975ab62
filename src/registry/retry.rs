//! When to try a registry request again, and how long to wait: exponential back-off with
//! jitter (the `backon` crate), `Retry-After` honoured up to a cap, a limit on tries and on
//! total time. Only what is safe to repeat is retried: connection failures, timeouts, a body
//! cut short, 408, 429 and 5xx.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder as _, ExponentialBuilder};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How hard to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (`--retries N` makes it N + 1). At least 1.
    pub attempts: usize,
    /// No new try starts once this much time has passed since the first.
    pub total: Duration,
    /// The first wait; each later one doubles, up to `max_delay`, with jitter.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` obeyed; a longer one ends the retries.
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            total: Duration::from_secs(300),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` (1-based `attempt`) of something retried by hand:
    /// the registry's `Retry-After` when it sent one within the cap, else `min_delay`
    /// doubled for each earlier try, up to `max_delay` (no jitter).
    #[must_use]
    pub fn wait_after(&self, attempt: usize, failed: &Failed) -> Duration {
        if let Some(after) = failed.retry_after.filter(|d| *d <= self.retry_after_cap) {
            return after;
        }
        let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(u32::MAX).min(16);
        self.min_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }
}

/// Why one try failed, and whether another may succeed.
#[derive(Debug, Clone)]
pub struct Failed {
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// What went wrong, for the final message.
    pub reason: String,
    /// A retry may succeed.
    pub transient: bool,
    /// The registry's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl Failed {
    /// A failure no retry can fix.
    pub fn fatal(status: Option<u16>, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            transient: false,
            retry_after: None,
        }
    }

    /// A failure of the connection or the transfer (no status, or a body cut short).
    pub fn network(e: &reqwest::Error) -> Self {
        let reason = describe(e);
        // A certificate the client refuses will be refused again: no retry.
        let certificate = reason.contains("certificate") || reason.contains("UnknownIssuer") || reason.contains("CaUsedAsEndEntity");
        Self {
            status: e.status().map(|s| s.as_u16()),
            transient: !certificate && (e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()),
            reason,
            retry_after: None,
        }
    }

    /// A response with an error status; `body` is its (bounded) start.
    pub fn status(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let transient = status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error();
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, std::time::SystemTime::now()));
        Self {
            status: Some(status.as_u16()),
            reason: format!("{status}{}", error_detail(body)),
            transient,
            retry_after,
        }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): delay seconds, or an HTTP-date, which is
/// counted from `now` (a date already past is no wait). `None` when it is neither.
fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The registry's own words from a distribution-spec error body (`{"errors":[{code,message}]}`),
/// else its first line; control characters are left for the printer to escape.
fn error_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| {
                format!("{} {}", e.code.as_deref().unwrap_or(""), e.message.as_deref().unwrap_or(""))
                    .trim()
                    .to_string()
            })
            .filter(|p| !p.is_empty())
            .collect();
        if !parts.is_empty() {
            return format!(": {}", parts.join("; "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        String::new()
    } else {
        format!(": {}", first.chars().take(200).collect::<String>())
    }
}

/// An error and its causes, `: `-separated.
#[must_use]
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A reqwest error with its causes, and plain words for the TLS failures people meet.
fn describe(e: &reqwest::Error) -> String {
    let mut text = chain(e);
    if text.contains("CaUsedAsEndEntity") {
        text.push_str(" (the server presents a CA certificate as its own: give it a server certificate signed by that CA)");
    } else if text.contains("UnknownIssuer") {
        text.push_str(" (the server's certificate is not signed by a trusted CA: pass its CA with --ca-file)");
    }
    if e.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

/// Tries `op` until it succeeds, fails for good, or the policy is spent. Returns the value, or
/// the last failure with the number of tries made.
pub async fn run<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, (Failed, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failed>>,
{
    let start = Instant::now();
    let mut delays = ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.attempts.saturating_sub(1))
        .build();
    let mut tries = 0;
    loop {
        tries += 1;
        let failed = match op().await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if !failed.transient {
            return Err((failed, tries));
        }
        let Some(backoff) = delays.next() else {
            return Err((failed, tries));
        };
        let wait = match failed.retry_after {
            Some(after) if after > policy.retry_after_cap => return Err((failed, tries)),
            Some(after) => after.max(backoff),
            None => backoff,
        };
        if start.elapsed() + wait > policy.total {
            return Err((failed, tries));
        }
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Mon, 30 Nov 2026 12:00:00 GMT").unwrap();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Mon, 30 Nov 2026 12:00:42 GMT", now), Some(Duration::from_secs(42)));
        assert_eq!(retry_after("Mon, 30 Nov 2026 11:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-3", now), None);
    }

    fn quick(attempts: usize) -> RetryPolicy {
        RetryPolicy {
            attempts,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    fn transient() -> Failed {
        Failed {
            status: Some(503),
            reason: "503".into(),
            transient: true,
            retry_after: None,
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_up_to_the_limit_and_fatal_ones_not() {
        let mut calls = 0;
        let out = run(&quick(3), || {
            calls += 1;
            let n = calls;
            async move { if n < 3 { Err(transient()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(out.unwrap(), 3);
        let mut calls = 0;
        let out: Result<(), _> = run(&quick(3), || {
            calls += 1;
            async { Err(transient()) }
        })
        .await;
        assert_eq!((out.unwrap_err().1, calls), (3, 3));
        let out: Result<(), _> = run(&quick(5), || async { Err(Failed::fatal(Some(404), "404")) }).await;
        assert_eq!(out.unwrap_err().1, 1);
        // A Retry-After beyond the cap ends the retries at once.
        let long = Failed {
            retry_after: Some(Duration::from_secs(3600)),
            ..transient()
        };
        let out: Result<(), _> = run(&quick(5), || {
            let f = long.clone();
            async move { Err(f) }
        })
        .await;
        assert_eq!(out.unwrap_err().1, 1);
    }

    #[test]
    fn registry_error_bodies_give_their_codes() {
        let f = Failed::status(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        );
        assert_eq!(f.reason, "429 Too Many Requests: TOOMANYREQUESTS slow down");
        assert!(f.transient);
        assert!(!Failed::status(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"").transient);
    }
}
