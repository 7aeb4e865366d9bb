//! Retrying calls that failed for reasons that go away by themselves.
//!
//! Only UNAVAILABLE (server restarting, connection dropped), RESOURCE_EXHAUSTED
//! (rate-limited) and DEADLINE_EXCEEDED (slow server) are retried; everything else is an
//! answer, and asking again would get the same one.

use std::future::Future;
use std::time::Duration;

use tonic::{Code, Status};

/// Exponential backoff with jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total tries, including the first (1 = no retries).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    /// 8 tries over about 20 s: long enough for a server restart or a rate limit to
    /// pass, short enough that a dead server is reported while the user still waits.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(8),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The pause before try number `attempt + 1` (`attempt` ≥ 1), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(60) as i32);
        self.initial_backoff.mul_f64(exp).min(self.max_backoff)
    }
}

/// Whether a status code is worth retrying.
pub fn is_retryable_code(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded
    )
}

/// Whether a status is worth retrying. tonic reports its own client-side deadline as
/// CANCELLED "Timeout expired"; that is a deadline too.
pub fn is_retryable_status(status: &Status) -> bool {
    is_retryable_code(status.code())
        || (status.code() == Code::Cancelled && status.message() == "Timeout expired")
}

/// Runs `call` until it succeeds, fails with a non-retryable status, or the policy's
/// attempts are used up. Returns the outcome and the number of tries made.
pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, mut call: F) -> (Result<T, Status>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return (Ok(v), attempt),
            Err(s) if attempt < policy.max_attempts.max(1) && is_retryable_status(&s) => {
                tokio::time::sleep(jitter(policy.backoff(attempt))).await;
                attempt += 1;
            }
            Err(s) => return (Err(s), attempt),
        }
    }
}

/// ±20 % so that many concurrent downloads hitting a rate limit don't retry in lockstep.
/// The randomness needn't be good: the clock's nanoseconds and a counter will do.
fn jitter(d: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos() as u64)
        .unwrap_or(0);
    let mix = (nanos ^ COUNTER.fetch_add(0x9E37_79B9, Ordering::Relaxed))
        .wrapping_mul(0x2545_F491_4F6C_DD1D);
    let unit = (mix >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    d.mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            multiplier: 2.0,
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(400));
        assert_eq!(p.backoff(3), Duration::from_millis(800));
        assert_eq!(p.backoff(10), Duration::from_secs(8));
        assert_eq!(p.backoff(1000), Duration::from_secs(8));
    }

    #[test]
    fn jitter_stays_within_20_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(
                j >= Duration::from_millis(800) && j <= Duration::from_millis(1200),
                "{j:?}"
            );
        }
    }

    #[test]
    fn retryable_codes() {
        assert!(is_retryable_status(&Status::unavailable("x")));
        assert!(is_retryable_status(&Status::resource_exhausted("x")));
        assert!(is_retryable_status(&Status::deadline_exceeded("x")));
        assert!(is_retryable_status(&Status::cancelled("Timeout expired")));
        assert!(!is_retryable_status(&Status::cancelled("user")));
        assert!(!is_retryable_status(&Status::not_found("x")));
        assert!(!is_retryable_status(&Status::invalid_argument("x")));
        assert!(!is_retryable_status(&Status::permission_denied("x")));
    }

    #[tokio::test]
    async fn retries_transient_then_succeeds() {
        let n = AtomicU32::new(0);
        let (r, attempts) = with_retry(&fast(5), || async {
            if n.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Status::unavailable("down"))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(attempts, 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let n = AtomicU32::new(0);
        let (r, attempts) = with_retry(&fast(4), || async {
            n.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Status::resource_exhausted("slow down"))
        })
        .await;
        assert_eq!(r.unwrap_err().code(), Code::ResourceExhausted);
        assert_eq!((attempts, n.load(Ordering::SeqCst)), (4, 4));
    }

    #[tokio::test]
    async fn does_not_retry_answers() {
        let n = AtomicU32::new(0);
        let (r, attempts) = with_retry(&fast(5), || async {
            n.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Status::not_found("nope"))
        })
        .await;
        assert_eq!(r.unwrap_err().code(), Code::NotFound);
        assert_eq!(attempts, 1);
    }
}
