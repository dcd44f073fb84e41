//! The time services read: the system clock in production, a manual clock in tests.
//!
//! Every timestamp the job engine writes (heartbeats, accept and finish times, runner
//! contact) and every cutoff it computes (the watchdog's stall windows, abandoned
//! submissions) comes from the service context's [`Clock`], so a test advances time
//! with [`Clock::advance`] instead of sleeping. Times are UTC at microsecond precision,
//! the resolution both database backends store. Depends on nothing else in the crate.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DurationRound, NaiveDateTime, TimeDelta};

/// A source of the current UTC time. Cheap to clone; clones of a manual clock share
/// their time.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that only moves when told to (tests).
    Manual(Arc<Mutex<NaiveDateTime>>),
}

/// The system time, truncated to microseconds.
pub fn system_now() -> NaiveDateTime {
    truncate(chrono::Utc::now().naive_utc())
}

fn truncate(t: NaiveDateTime) -> NaiveDateTime {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

impl Clock {
    /// A manual clock set to the current system time.
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(system_now())))
    }

    /// The current time.
    pub fn now(&self) -> NaiveDateTime {
        match self {
            Clock::System => system_now(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a manual clock forward by `by`; the system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
            *t = truncate(*t + TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX));
        }
    }

    /// The time `d` before now (the earliest representable time if `d` is huge).
    pub fn ago(&self, d: Duration) -> NaiveDateTime {
        let now = self.now();
        TimeDelta::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(NaiveDateTime::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = Clock::manual();
        let other = clock.clone();
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), t0);
        other.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - t0, TimeDelta::seconds(90));
        assert_eq!(clock.ago(Duration::from_secs(90)), t0);
        assert_eq!(clock.ago(Duration::MAX), NaiveDateTime::MIN);
    }

    #[test]
    fn the_system_clock_has_microsecond_precision() {
        let t = Clock::System.now();
        assert_eq!(t.and_utc().timestamp_subsec_nanos() % 1000, 0);
    }
}
