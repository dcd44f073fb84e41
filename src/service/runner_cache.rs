//! Runner tokens remembered in memory, so `/jobs/request` (a poll that finds the same
//! offers again and again) needs no database round trip to know its caller.
//!
//! - Only positive answers are kept: a token the database does not know is looked up
//!   every time, so `unknown_runner_token` (which makes a runner unregister for good)
//!   is only ever the database's answer, and a runner registered on another instance
//!   works at once.
//! - An entry is trusted for `queue.refresh_interval`, then read again.
//! - A removed runner ([`Event::RunnerRemoved`], from this instance or through the
//!   fan-out from another) is forgotten before the next lookup: each lookup first
//!   applies the events published since the last one. A removal the bus never carried
//!   (the CLI on another process, a lost fan-out message) is seen within the interval.
//!   Accept and every job-scoped call still check the runner in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::broadcast::{self, error::TryRecvError};

use crate::domain::ids::TokenHash;
use crate::domain::runner::Runner;
use crate::service::events::{Event, EventBus};

/// The cache; cheap to clone.
#[derive(Debug, Clone)]
pub struct RunnerCache {
    inner: Arc<Mutex<Inner>>,
    ttl: Duration,
}

#[derive(Debug)]
struct Inner {
    runners: HashMap<TokenHash, (Runner, Instant)>,
    events: broadcast::Receiver<Event>,
    /// Bumped by every removal applied: an entry read from the database before a
    /// removal must not be stored after it.
    removals: u64,
}

impl Inner {
    fn catch_up(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(Event::RunnerRemoved { runner_id }) => {
                    self.runners.retain(|_, (r, _)| r.id != runner_id);
                    self.removals += 1;
                }
                // Missed events (of this bus, or of the other instances while the
                // fan-out was down): any entry may be stale.
                Ok(Event::Resync) | Err(TryRecvError::Lagged(_)) => {
                    self.runners.clear();
                    self.removals += 1;
                }
                Ok(_) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }
}

impl RunnerCache {
    /// A cache following `events`, trusting an entry for `ttl`.
    pub fn new(events: &EventBus, ttl: Duration) -> RunnerCache {
        RunnerCache {
            inner: Arc::new(Mutex::new(Inner {
                runners: HashMap::new(),
                events: events.subscribe(),
                removals: 0,
            })),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The runner holding the token of hash `hash`, if it is known and fresh; otherwise
    /// the generation to hand to [`RunnerCache::store`] after reading the database.
    pub fn get(&self, hash: &TokenHash) -> Result<Runner, u64> {
        let mut inner = self.lock();
        inner.catch_up();
        match inner.runners.get(hash) {
            Some((runner, at)) if at.elapsed() < self.ttl => Ok(runner.clone()),
            _ => Err(inner.removals),
        }
    }

    /// Remembers `runner`, read from the database after [`RunnerCache::get`] returned
    /// `generation`, unless a runner was removed meanwhile.
    pub fn store(&self, hash: TokenHash, runner: Runner, generation: u64) {
        let mut inner = self.lock();
        inner.catch_up();
        if inner.removals == generation {
            inner.runners.insert(hash, (runner, Instant::now()));
        }
    }

    /// Changes the remembered copy of a runner (its contact, as just written).
    pub fn update(&self, hash: &TokenHash, f: impl FnOnce(&mut Runner)) {
        if let Some((runner, _)) = self.lock().runners.get_mut(hash) {
            f(runner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn runner(id: i64) -> Runner {
        Runner {
            id,
            registration_token_id: 1,
            name: format!("r{id}"),
            description: None,
            ip: "127.0.0.1".to_owned(),
            last_contact: NaiveDateTime::default(),
            version: None,
            created_at: NaiveDateTime::default(),
            updated_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn a_removed_runner_is_forgotten_before_the_next_lookup() {
        let bus = EventBus::new(8);
        let cache = RunnerCache::new(&bus, Duration::from_secs(60));
        let (a, b) = (TokenHash::of("a"), TokenHash::of("b"));
        let generation = cache.get(&a).unwrap_err();
        cache.store(a.clone(), runner(1), generation);
        cache.store(b.clone(), runner(2), generation);
        assert_eq!(cache.get(&a).map(|r| r.id), Ok(1));
        bus.publish(Event::RunnerRemoved { runner_id: 1 });
        assert!(cache.get(&a).is_err());
        assert_eq!(cache.get(&b).map(|r| r.id), Ok(2));
    }

    #[test]
    fn a_read_that_raced_a_removal_is_not_stored() {
        let bus = EventBus::new(8);
        let cache = RunnerCache::new(&bus, Duration::from_secs(60));
        let a = TokenHash::of("a");
        let generation = cache.get(&a).unwrap_err();
        // The database answered, then the runner was removed, then the answer came back.
        bus.publish(Event::RunnerRemoved { runner_id: 1 });
        cache.store(a.clone(), runner(1), generation);
        assert!(cache.get(&a).is_err());
    }

    #[test]
    fn entries_expire_and_a_lagging_cache_starts_over() {
        let bus = EventBus::new(2);
        let cache = RunnerCache::new(&bus, Duration::ZERO);
        let a = TokenHash::of("a");
        cache.store(a.clone(), runner(1), 0);
        assert!(cache.get(&a).is_err(), "expired at once");
        let cache = RunnerCache::new(&bus, Duration::from_secs(60));
        cache.store(a.clone(), runner(1), 0);
        for _ in 0..5 {
            bus.publish(Event::JobsAvailable);
        }
        assert!(cache.get(&a).is_err(), "lagged: cleared");
    }
}
