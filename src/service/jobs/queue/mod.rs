//! The offer index: `/jobs/request` answered from memory, without a database round
//! trip, while the database stays the source of truth.
//!
//! What it holds: per job type, the first [`index::WINDOW`] PENDING jobs by priority
//! then id, each with its `availableJobs` entry serialized once ([`index`]). A request
//! merges the windows of the types the runner may take; the accept that follows is
//! still the database's compare-and-set, so an offer the index got wrong costs the
//! runner one lost race (`409 runner_job_not_in_pending_state`), never a job.
//!
//! How it stays exact (the consistency model):
//! 1. Every committed change that makes a job PENDING or takes one out of PENDING
//!    publishes [`Event::JobsChanged`] with the jobs' ids (ids only, never rows), on
//!    this instance's [`crate::service::events::EventBus`], which a fan-out relays to
//!    every other instance. The index's task re-reads those jobs from the database (one
//!    query per batch of events) and applies what it reads. Since each change publishes
//!    after it commits, the last re-read of a job happens after its last change: the
//!    index converges on the database, whatever order events arrive in.
//! 2. The instance that made a change also applies it at once ([`PendingQueue::note`]):
//!    the winner of an accept is never re-offered here, a job just created is offered
//!    to the next request. A re-read that began before such a note cannot undo it.
//! 3. Before each `available-jobs` broadcast the socket notifier waits for
//!    [`PendingQueue::settle`]: the task has applied every event received so far, so a
//!    runner told about a job (one created on another instance too) is offered it.
//! 4. Staleness is bounded: every `queue.refresh_interval` (and whenever the task
//!    lagged behind the bus) the windows are re-read whole from the database, so an
//!    event that was lost (a relay that was down, a job changed by a process without
//!    the bus) is corrected within that interval: a job the database says is gone is
//!    never offered for longer. A window that ran low is refilled at once, and when a
//!    request found it short meanwhile, `jobs-available` is published again after the
//!    refill, so runners that got fewer offers than there are jobs ask again.
//! 5. If the database cannot be read, the index keeps serving what it has and retries;
//!    accepts still go to the database.

pub mod index;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::db::jobs_pending::{self, Offer};
use crate::db::{DbConnection, DbError};
use crate::domain::ids::JobUuid;
use crate::domain::job::{Job, JobState, JobType};
use crate::service::Context;
use crate::service::events::Event;
use index::{PendingIndex, PreparedOffer, WINDOW, WindowRead};

/// Most jobs re-read in one query.
const READ_CHUNK: usize = 500;

type SettleRequest = oneshot::Sender<()>;

/// A handle to the index; cheap to clone. [`spawn`] starts the task that keeps it.
#[derive(Debug, Clone)]
pub struct PendingQueue {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    index: RwLock<PendingIndex>,
    settle_tx: mpsc::UnboundedSender<SettleRequest>,
    settle_rx: Mutex<Option<mpsc::UnboundedReceiver<SettleRequest>>>,
    refill: Notify,
    /// A request got fewer offers than it asked for while a window it read was
    /// incomplete (jobs beyond it in the database): once refilled, runners are told
    /// again, or they would wait for the next re-announce.
    starved: AtomicBool,
}

impl Default for PendingQueue {
    fn default() -> Self {
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        PendingQueue {
            shared: Arc::new(Shared {
                index: RwLock::new(PendingIndex::default()),
                settle_tx,
                settle_rx: Mutex::new(Some(settle_rx)),
                refill: Notify::new(),
                starved: AtomicBool::new(false),
            }),
        }
    }
}

fn prepared(o: &Offer) -> Option<PreparedOffer> {
    let p = PreparedOffer::new(o.id, o.uuid, o.priority, &o.payload);
    if p.is_none() {
        tracing::error!(job = o.id, "a pending job's offer cannot be serialized");
    }
    p
}

impl PendingQueue {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, PendingIndex> {
        self.shared
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, PendingIndex> {
        self.shared
            .index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to `max` offers among `types`, lowest priority first, then oldest.
    pub fn offers(&self, types: &[JobType], max: usize) -> Vec<PreparedOffer> {
        let (offers, low) = {
            let index = self.read();
            (index.offers(types, max), index.any_low(types))
        };
        if low {
            if offers.len() < max {
                self.shared.starved.store(true, Ordering::Relaxed);
            }
            self.shared.refill.notify_one();
        }
        offers
    }

    /// Whether the job `uuid` is pending as far as the index knows (a hint: the
    /// database decides).
    pub fn contains(&self, uuid: &JobUuid) -> bool {
        self.read().contains(uuid)
    }

    /// How many pending jobs the index holds (at most a window per type).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the index holds no pending job.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Applies committed changes made by this instance at once: each of `jobs` (as it
    /// is now) is offered if PENDING, no longer offered otherwise.
    pub fn note<'a>(&self, jobs: impl IntoIterator<Item = &'a Job>) {
        let mut index = self.write();
        for job in jobs {
            if job.state == JobState::Pending {
                let offer = PreparedOffer::new(job.id, job.uuid, job.priority, &job.payload);
                match offer {
                    Some(offer) => index.note_pending(offer),
                    None => index.note_gone(job.id),
                }
            } else {
                index.note_gone(job.id);
            }
        }
    }

    /// Stops offering job `id`: this instance saw that it is not PENDING (an accept
    /// that lost its compare-and-set). Nothing changed in the database, so nothing is
    /// published.
    pub fn forget(&self, id: i64) {
        self.write().note_gone(id);
    }

    /// Resolves once the task has applied every event published before the call (at
    /// once when the task is not running).
    pub async fn settle(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.settle_tx.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What the task still has to read.
#[derive(Debug, Default)]
struct Work {
    jobs: BTreeSet<i64>,
    everything: bool,
}

impl Work {
    fn add(&mut self, event: Result<Event, RecvError>) -> bool {
        match event {
            Ok(Event::JobsChanged { job_ids }) => self.jobs.extend(job_ids),
            Ok(
                Event::JobsAvailable
                | Event::RunnerRemoved { .. }
                | Event::VideoEvent { .. }
                | Event::Progress { .. }
                | Event::DeliveriesDue,
            ) => {}
            // The link to the other instances was down: their changes may be lost.
            Ok(Event::Resync) => {
                tracing::info!("the fan-out is back: reloading the offer index");
                self.everything = true;
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "the offer index lagged behind the event bus: reloading"
                );
                self.everything = true;
            }
            Err(RecvError::Closed) => return false,
        }
        true
    }
}

/// Starts the task keeping `ctx.queue` in step with the database (see the module
/// documentation) on the current Tokio runtime: a first full read, then events, the
/// periodic refresh and refills, until `stop` resolves or the bus closes.
pub fn spawn(ctx: Context, stop: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
    let mut events = ctx.events.subscribe();
    let settle_rx = ctx
        .queue
        .shared
        .settle_rx
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    tokio::spawn(async move {
        let Some(mut settle_rx) = settle_rx else {
            tracing::error!("the offer index task was started twice");
            return;
        };
        tokio::pin!(stop);
        let period = ctx
            .settings
            .queue
            .refresh_interval
            .max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut work = Work {
            everything: true,
            ..Work::default()
        };
        loop {
            let mut replies: Vec<SettleRequest> = Vec::new();
            tokio::select! {
                () = &mut stop => return,
                event = events.recv() => {
                    if !work.add(event) {
                        return;
                    }
                }
                Some(reply) = settle_rx.recv() => replies.push(reply),
                _ = ticks.tick() => work.everything = true,
                () = ctx.queue.shared.refill.notified() => {}
            }
            // Everything already published is handled in this round.
            loop {
                match events.try_recv() {
                    Ok(event) => {
                        work.add(Ok(event));
                    }
                    Err(TryRecvError::Lagged(n)) => {
                        work.add(Err(RecvError::Lagged(n)));
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
            }
            while let Ok(reply) = settle_rx.try_recv() {
                replies.push(reply);
            }
            round(&ctx, &mut work).await;
            for reply in replies {
                let _ = reply.send(());
            }
        }
    })
}

/// One round: the reads `work` asks for, then refills of windows that ran low.
async fn round(ctx: &Context, work: &mut Work) {
    let queue = &ctx.queue;
    if work.everything {
        match read_windows(ctx, JobType::ALL.to_vec()).await {
            Ok(()) => *work = Work::default(),
            Err(e) => tracing::warn!(error = %e, "cannot reload the offer index"),
        }
    } else if !work.jobs.is_empty() {
        let ids: Vec<i64> = std::mem::take(&mut work.jobs).into_iter().collect();
        queue.write().begin_read();
        let asked = ids.clone();
        let read = ctx
            .db
            .run(move |conn| {
                let mut pending = Vec::new();
                for chunk in asked.chunks(READ_CHUNK) {
                    pending.extend(jobs_pending::pending_among(conn, chunk)?);
                }
                Ok::<_, DbError>(pending)
            })
            .await;
        match read {
            Ok(pending) => {
                let offers = pending.iter().filter_map(prepared).collect();
                queue.write().apply_jobs(&ids, offers);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot refresh pending jobs; will retry");
                work.jobs.extend(ids);
            }
        }
    }
    let low = queue.read().low_windows();
    if !low.is_empty() && !work.everything {
        match read_windows(ctx, low).await {
            Ok(()) => {
                if queue.shared.starved.swap(false, Ordering::Relaxed) && !queue.is_empty() {
                    ctx.events.publish(Event::JobsAvailable);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot refill the offer index"),
        }
    }
}

/// Reads every window from the database (at startup, before the first request).
pub async fn load(ctx: &Context) -> Result<(), DbError> {
    read_windows(ctx, JobType::ALL.to_vec()).await
}

/// Re-reads the windows of `types` whole.
async fn read_windows(ctx: &Context, types: Vec<JobType>) -> Result<(), DbError> {
    ctx.queue.write().begin_read();
    let reads = ctx
        .db
        .run(move |conn: &mut DbConnection| {
            types
                .into_iter()
                .map(|t| Ok((t, jobs_pending::pending_head(conn, t, WINDOW)?)))
                .collect::<Result<Vec<_>, DbError>>()
        })
        .await?;
    let mut index = ctx.queue.write();
    for (t, head) in reads {
        index.apply_window(
            t,
            WindowRead {
                offers: head.offers.iter().filter_map(prepared).collect(),
                last_key: head.last_key,
                complete: head.complete,
            },
        );
    }
    Ok(())
}
