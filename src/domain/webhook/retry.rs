//! When a failed delivery is tried again: exponential backoff with jitter, for a
//! retry period after which the delivery is dead.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

/// The retry schedule (from `[webhooks]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the second attempt.
    pub first_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// How long after the event a delivery is retried.
    pub period: Duration,
}

impl RetryPolicy {
    /// The delay after `failed` failed attempts (1 for the first failure):
    /// `first_delay × 2^(failed − 1)`, capped at `max_delay`, then scaled by a jitter
    /// factor between ½ and 1 (`jitter` in `[0, 1)`, drawn by the caller), so that
    /// deliveries failing together spread out instead of retrying in lockstep.
    pub fn delay(&self, failed: u32, jitter: f64) -> Duration {
        let exp = failed.saturating_sub(1).min(32);
        let base = self
            .first_delay
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max_delay);
        base.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// When the next attempt is, after `failed` failed attempts at `now`, for a delivery
    /// that expires at `expires_at`; `None`: no attempt is left (the delivery is dead).
    pub fn next_attempt(
        &self,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
        failed: u32,
        jitter: f64,
    ) -> Option<NaiveDateTime> {
        let delay = TimeDelta::from_std(self.delay(failed, jitter)).ok()?;
        let next = now.checked_add_signed(delay)?;
        (next <= expires_at).then_some(next)
    }

    /// When a delivery created at `created` stops being retried.
    pub fn expiry(&self, created: NaiveDateTime) -> NaiveDateTime {
        TimeDelta::from_std(self.period)
            .ok()
            .and_then(|p| created.checked_add_signed(p))
            .unwrap_or(NaiveDateTime::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            period: Duration::from_secs(86_400),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_takes_at_most_half() {
        let p = policy();
        assert_eq!(p.delay(1, 1.0), Duration::from_secs(5));
        assert_eq!(p.delay(2, 1.0), Duration::from_secs(10));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(20));
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(2500));
        assert_eq!(p.delay(11, 1.0), Duration::from_secs(3600));
        assert_eq!(p.delay(u32::MAX, 1.0), Duration::from_secs(3600));
        for failed in 1..40 {
            for jitter in [0.0, 0.3, 0.999] {
                let d = p.delay(failed, jitter);
                let full = p.delay(failed, 1.0);
                assert!(d >= full / 2 && d <= full, "{failed} {jitter}: {d:?}");
            }
            assert!(p.delay(failed + 1, 1.0) >= p.delay(failed, 1.0));
        }
        // Out-of-range jitter is clamped, never a longer delay.
        assert_eq!(p.delay(1, 7.0), Duration::from_secs(5));
    }

    #[test]
    fn a_day_of_retries_then_dead() {
        let p = policy();
        let created = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap();
        let expires = p.expiry(created);
        assert_eq!(expires - created, TimeDelta::days(1));
        let mut now = created;
        let mut attempts = 1;
        while let Some(next) = p.next_attempt(now, expires, attempts, 0.5) {
            assert!(next > now && next <= expires);
            now = next;
            attempts += 1;
        }
        // 5 s doubling to an hour, each delay ¾ of that (jitter 0.5): about 40
        // attempts in a day.
        assert!((35..45).contains(&attempts), "{attempts}");
        assert!(expires - now <= TimeDelta::hours(1));
    }
}
