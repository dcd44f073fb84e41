//! The queue's depth over the last hour, for the dashboard's chart: how many jobs
//! waited (pending, or waiting for their parent) and how many ran (processing or
//! completing), sampled by this instance once a minute and kept in memory. The job
//! rows cannot tell it afterwards (a requeued job leaves no trace of its wait), so the
//! history starts with the process: an instance started ten minutes ago shows ten
//! minutes. Every instance samples the same shared tables, so any of them shows the
//! same curve once it has run for an hour.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{Duration, NaiveDateTime};

use crate::domain::job::JobState;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::dashboard::{self, QueueCounts};

/// How often [`spawn`] samples.
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How far back the history reaches.
const WINDOW_MINUTES: i64 = 60;

/// The queue at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// When it was read.
    pub at: NaiveDateTime,
    /// Jobs pending or waiting for their parent.
    pub waiting: i64,
    /// Jobs processing or completing.
    pub running: i64,
}

impl Depth {
    /// The depth `counts` describe, read at `at`.
    pub fn of(counts: &QueueCounts, at: NaiveDateTime) -> Self {
        Self {
            at,
            waiting: counts.in_state(JobState::Pending)
                + counts.in_state(JobState::WaitingForParentJob),
            running: counts.in_state(JobState::Processing) + counts.in_state(JobState::Completing),
        }
    }
}

/// The samples of the last hour, oldest first. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct QueueDepth(Arc<Mutex<VecDeque<Depth>>>);

impl QueueDepth {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Depth>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `sample` and forgets the samples more than an hour older than it (and any
    /// a clock set back left after it).
    pub fn record(&self, sample: Depth) {
        let oldest = sample.at - Duration::minutes(WINDOW_MINUTES);
        let mut samples = self.lock();
        samples.retain(|d| d.at >= oldest && d.at < sample.at);
        samples.push_back(sample);
    }

    /// The samples of the hour before `now`, oldest first, then `now` itself (the
    /// caller's current reading), so the curve always ends on what the page shows.
    pub fn last_hour(&self, now: Depth) -> Vec<Depth> {
        let oldest = now.at - Duration::minutes(WINDOW_MINUTES);
        let samples = self.lock();
        samples
            .iter()
            .filter(|d| d.at >= oldest && d.at < now.at)
            .copied()
            .chain(std::iter::once(now))
            .collect()
    }
}

/// Reads the queue's counts and records them.
pub async fn sample(ctx: &Context) -> Result<Depth, ServiceError> {
    let counts = dashboard::queue_counts(ctx).await?;
    let depth = Depth::of(&counts, ctx.now());
    ctx.queue_depth.record(depth);
    Ok(depth)
}

/// Samples at once, then every [`SAMPLE_EVERY`], until `stop` completes.
pub fn spawn(
    ctx: Context,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SAMPLE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut stop => return,
            }
            if let Err(e) = sample(&ctx).await {
                tracing::debug!(error = %e, "cannot sample the queue's depth");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::JobType;

    fn at(min: i64) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap_or_default()
            + Duration::minutes(min)
    }

    fn depth(min: i64, waiting: i64) -> Depth {
        Depth {
            at: at(min),
            waiting,
            running: 0,
        }
    }

    #[test]
    fn waiting_and_running_add_up_their_states() {
        let counts = QueueCounts {
            cells: vec![
                (JobState::Pending, JobType::VodHlsTranscoding, 3),
                (JobState::WaitingForParentJob, JobType::VodHlsTranscoding, 2),
                (JobState::Processing, JobType::VodWebVideoTranscoding, 1),
                (JobState::Completing, JobType::VodHlsTranscoding, 1),
                (JobState::Completed, JobType::VodHlsTranscoding, 9),
                (JobState::Errored, JobType::VodHlsTranscoding, 4),
            ],
        };
        let d = Depth::of(&counts, at(0));
        assert_eq!((d.waiting, d.running), (5, 2));
    }

    #[test]
    fn the_history_keeps_one_hour_and_ends_on_the_current_reading() {
        let history = QueueDepth::default();
        for min in 0..=90 {
            history.record(depth(min, min));
        }
        let curve = history.last_hour(depth(91, 1000));
        // Minutes 31..=90 are within the hour before 91, then the current reading.
        assert_eq!(curve.len(), 61);
        assert_eq!(curve.first().map(|d| d.waiting), Some(31));
        assert_eq!(curve.last().map(|d| d.waiting), Some(1000));
        assert_eq!(history.lock().len(), 61);
    }

    #[test]
    fn a_clock_set_back_drops_the_samples_from_its_future() {
        let history = QueueDepth::default();
        history.record(depth(10, 1));
        history.record(depth(20, 2));
        history.record(depth(15, 3));
        let curve = history.last_hour(depth(16, 4));
        let waiting: Vec<i64> = curve.iter().map(|d| d.waiting).collect();
        assert_eq!(waiting, vec![1, 3, 4]);
    }
}
