//! The in-memory index of PENDING jobs (pure data, no I/O): per job type, a window of
//! the first pending jobs by `(priority, id)`, each with its `/jobs/request` entry
//! serialized once. [`super`] keeps it in step with the database.
//!
//! A window holds every pending job of its type up to its `bound` (the last key the
//! database returned when it was read), or every pending job of its type when it is
//! `complete` (the read returned fewer rows than asked). Changes keep that true: a job
//! that becomes pending enters a window when its key is below the bound (or the window
//! is complete), one that leaves is removed, a window that grows past twice its size
//! drops its tail (and lowers its bound). Offers merged across windows stop at the
//! lowest bound of an incomplete window involved, so what is offered is always the true
//! head of the queue, possibly shorter than asked while a window is being refilled.
//!
//! Local changes are *noted* ([`PendingIndex::note_pending`], [`PendingIndex::note_gone`])
//! the moment they commit. A database read started before such a change and applied
//! after it must not undo it: [`PendingIndex::begin_read`] opens a read, and what it
//! returns about a job noted since is ignored (the note is newer).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::ids::JobUuid;
use crate::domain::job::JobType;
use crate::domain::payloads::JobPayload;

/// Jobs a window is read with, per type.
pub const WINDOW: usize = 64;
/// A window of an incomplete type is refilled when it holds fewer jobs than this.
pub const LOW_WATER: usize = WINDOW / 2;

/// Order of the queue: lower priority first, then older (lower id).
pub type Key = (i32, i64);

/// One `availableJobs` entry, serialized once: `{"uuid":…,"type":…,"payload":…}`.
#[derive(Debug, Clone)]
pub struct PreparedOffer {
    /// Internal id.
    pub id: i64,
    /// UUID.
    pub uuid: JobUuid,
    /// Lower runs first.
    pub priority: i32,
    /// Type.
    pub job_type: JobType,
    json: Arc<RawValue>,
}

#[derive(Serialize)]
struct OfferJson<'a> {
    uuid: JobUuid,
    #[serde(rename = "type")]
    job_type: JobType,
    payload: &'a JobPayload,
}

impl PreparedOffer {
    /// The entry for a pending job; `None` if its payload cannot be serialized.
    pub fn new(
        id: i64,
        uuid: JobUuid,
        priority: i32,
        payload: &JobPayload,
    ) -> Option<PreparedOffer> {
        let job_type = payload.job_type();
        let text = serde_json::to_string(&OfferJson {
            uuid,
            job_type,
            payload,
        })
        .ok()?;
        let json: Arc<RawValue> = RawValue::from_string(text).ok()?.into();
        Some(PreparedOffer {
            id,
            uuid,
            priority,
            job_type,
            json,
        })
    }

    /// Its place in the queue.
    pub fn key(&self) -> Key {
        (self.priority, self.id)
    }
}

impl Serialize for PreparedOffer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json.as_ref().serialize(s)
    }
}

/// What a read of one type's window returned.
#[derive(Debug, Clone, Default)]
pub struct WindowRead {
    /// The readable pending jobs, in queue order.
    pub offers: Vec<PreparedOffer>,
    /// The key of the last row read, readable or not (`None`: no row).
    pub last_key: Option<Key>,
    /// Fewer rows than asked came back: these are all the pending jobs of the type.
    pub complete: bool,
}

#[derive(Debug, Default)]
struct Window {
    jobs: BTreeMap<Key, PreparedOffer>,
    /// `None`: complete (holds every pending job of the type).
    bound: Option<Key>,
    /// Never read yet: offers of this type cannot be trusted.
    unread: bool,
}

impl Window {
    /// Incomplete and ran low: to refill.
    fn is_low(&self) -> bool {
        self.unread || (self.bound.is_some() && self.jobs.len() < LOW_WATER)
    }

    fn admits(&self, key: Key) -> bool {
        !self.unread && self.bound.is_none_or(|b| key <= b)
    }

    /// The key beyond which this window may miss jobs.
    fn limit(&self) -> Option<Key> {
        if self.unread {
            Some((i32::MIN, i64::MIN))
        } else {
            self.bound
        }
    }
}

/// The index (see the module documentation).
#[derive(Debug)]
pub struct PendingIndex {
    windows: Vec<Window>,
    by_id: HashMap<i64, Place>,
    by_uuid: HashSet<JobUuid>,
    noted: HashSet<i64>,
}

/// Where an indexed job is.
#[derive(Debug, Clone, Copy)]
struct Place {
    window: usize,
    key: Key,
    uuid: JobUuid,
}

impl Default for PendingIndex {
    fn default() -> Self {
        PendingIndex {
            windows: JobType::ALL
                .iter()
                .map(|_| Window {
                    unread: true,
                    ..Window::default()
                })
                .collect(),
            by_id: HashMap::new(),
            by_uuid: HashSet::new(),
            noted: HashSet::new(),
        }
    }
}

fn slot(t: JobType) -> usize {
    JobType::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

impl PendingIndex {
    /// Up to `max` offers of `types`, in queue order.
    pub fn offers(&self, types: &[JobType], max: usize) -> Vec<PreparedOffer> {
        let windows: Vec<&Window> = types.iter().map(|t| &self.windows[slot(*t)]).collect();
        let limit = windows.iter().filter_map(|w| w.limit()).min();
        let mut heads: Vec<_> = windows.iter().map(|w| w.jobs.iter().peekable()).collect();
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let next = heads
                .iter_mut()
                .enumerate()
                .filter_map(|(i, h)| h.peek().map(|(k, _)| (**k, i)))
                .min();
            let Some((key, i)) = next else { break };
            if limit.is_some_and(|l| key > l) {
                break;
            }
            if let Some((_, offer)) = heads[i].next() {
                out.push(offer.clone());
            }
        }
        out
    }

    /// Whether the job `uuid` is pending as far as the index knows.
    pub fn contains(&self, uuid: &JobUuid) -> bool {
        self.by_uuid.contains(uuid)
    }

    /// How many pending jobs the windows hold.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the windows hold no job.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The types whose window is incomplete and ran low (to refill).
    pub fn low_windows(&self) -> Vec<JobType> {
        JobType::ALL
            .iter()
            .zip(&self.windows)
            .filter(|(_, w)| w.is_low())
            .map(|(t, _)| *t)
            .collect()
    }

    /// Whether the window of one of `types` is incomplete and ran low (the request
    /// path's check: no allocation).
    pub fn any_low(&self, types: &[JobType]) -> bool {
        types.iter().any(|t| self.windows[slot(*t)].is_low())
    }

    /// A database read starts: later notes win over what it returns.
    pub fn begin_read(&mut self) {
        self.noted.clear();
    }

    /// A committed local change made this job pending.
    pub fn note_pending(&mut self, offer: PreparedOffer) {
        self.noted.insert(offer.id);
        self.upsert(offer);
    }

    /// A committed local change took this job out of PENDING.
    pub fn note_gone(&mut self, id: i64) {
        self.noted.insert(id);
        self.remove(id);
    }

    /// Applies a read of the jobs `asked`: `pending` are those of them that are pending
    /// now, the others are not (or are gone). Jobs noted since the read began are left
    /// as the notes made them.
    pub fn apply_jobs(&mut self, asked: &[i64], pending: Vec<PreparedOffer>) {
        let mut still: HashMap<i64, PreparedOffer> =
            pending.into_iter().map(|o| (o.id, o)).collect();
        for id in asked {
            if self.noted.contains(id) {
                continue;
            }
            match still.remove(id) {
                Some(offer) => self.upsert(offer),
                None => self.remove(*id),
            }
        }
    }

    /// Replaces the window of `t` with what a read returned (notes since it began
    /// kept).
    pub fn apply_window(&mut self, t: JobType, read: WindowRead) {
        let s = slot(t);
        let kept: Vec<PreparedOffer> = self.windows[s]
            .jobs
            .values()
            .filter(|o| self.noted.contains(&o.id))
            .cloned()
            .collect();
        let old: Vec<i64> = self.windows[s].jobs.values().map(|o| o.id).collect();
        for id in old {
            self.unlink(id);
        }
        let w = &mut self.windows[s];
        w.jobs.clear();
        w.unread = false;
        w.bound = if read.complete {
            None
        } else {
            Some(read.last_key.unwrap_or((i32::MIN, i64::MIN)))
        };
        for offer in read.offers {
            if !self.noted.contains(&offer.id) {
                self.upsert(offer);
            }
        }
        for offer in kept {
            self.upsert(offer);
        }
    }

    fn upsert(&mut self, offer: PreparedOffer) {
        self.remove(offer.id);
        let s = slot(offer.job_type);
        let key = offer.key();
        if !self.windows[s].admits(key) {
            return;
        }
        self.by_id.insert(
            offer.id,
            Place {
                window: s,
                key,
                uuid: offer.uuid,
            },
        );
        self.by_uuid.insert(offer.uuid);
        let w = &mut self.windows[s];
        w.jobs.insert(key, offer);
        if w.jobs.len() > 2 * WINDOW {
            let tail: Vec<Key> = w.jobs.keys().skip(WINDOW).copied().collect();
            let dropped: Vec<i64> = tail
                .iter()
                .filter_map(|k| w.jobs.remove(k).map(|o| o.id))
                .collect();
            w.bound = w.jobs.keys().next_back().copied();
            for id in dropped {
                self.unlink(id);
            }
        }
    }

    fn remove(&mut self, id: i64) {
        if let Some(place) = self.by_id.get(&id).copied() {
            self.windows[place.window].jobs.remove(&place.key);
            self.unlink(id);
        }
    }

    /// Forgets `id` in the lookup maps (its window entry is handled by the caller).
    fn unlink(&mut self, id: i64) {
        if let Some(place) = self.by_id.remove(&id) {
            self.by_uuid.remove(&place.uuid);
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
