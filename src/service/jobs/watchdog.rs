//! The watchdog (`runner-protocol.md` 5.7): PROCESSING jobs without an update for
//! `runners.stalled_vod_after` go back to PENDING without counting a failure (VOD,
//! studio, transcription, storyboard); live jobs are errored after
//! `runners.stalled_live_after`; COMPLETING jobs older than
//! `runners.stalled_completing_after` are errored with `Job completion was lost`.
//!
//! Safe with several server instances: each change is a compare-and-set on the job's
//! id, state and the `updated_at` the sweep read, so a job that got a heartbeat, or
//! that another instance already handled, is left alone.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

use super::{FailGuard, fail_job};
use crate::db::models::RunnerJobRow;
use crate::db::{self, DbError};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{COMPLETION_LOST, STALLED_JOB, StallPolicy, stall_policy};
use crate::error::ServiceError;
use crate::service::events::Event;
use crate::shutdown::ShutdownListener;
use crate::state::AppState;

/// Most jobs of each kind handled per sweep (the next sweep takes the rest).
const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Stalled jobs put back to PENDING.
    pub requeued: usize,
    /// Stalled live jobs and lost completions errored.
    pub failed: usize,
}

/// Runs [`sweep`] every `runners.watchdog_interval` until a shutdown is requested; a
/// sweep under way then finishes first.
pub fn spawn(state: AppState, mut shutdown: ShutdownListener) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = state
            .settings
            .runners
            .watchdog_interval
            .max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.requested() => return,
            }
            match sweep(&state).await {
                Ok(r) if r != SweepReport::default() => {
                    tracing::info!(requeued = r.requeued, failed = r.failed, "watchdog sweep");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "watchdog sweep failed"),
            }
        }
    })
}

fn types_with(policy: StallPolicy) -> Vec<&'static str> {
    JobType::ALL
        .into_iter()
        .filter(|t| stall_policy(*t) == policy)
        .map(JobType::as_str)
        .collect()
}

fn ago(now: NaiveDateTime, d: Duration) -> NaiveDateTime {
    now - TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// One pass of the watchdog.
pub async fn sweep(state: &AppState) -> Result<SweepReport, ServiceError> {
    let r = &state.settings.runners;
    let now = db::now();
    let (vod_before, live_before, completing_before) = (
        ago(now, r.stalled_vod_after),
        ago(now, r.stalled_live_after),
        ago(now, r.stalled_completing_after),
    );
    let (vod, live, completing) = state
        .db
        .run(move |conn| {
            let all: Vec<&str> = JobType::ALL.into_iter().map(JobType::as_str).collect();
            let requeue = types_with(StallPolicy::RequeueAfterVodWindow);
            let fail = types_with(StallPolicy::FailAfterLiveWindow);
            Ok::<_, DbError>((
                db::jobs::stalled(conn, JobState::Processing, &requeue, vod_before, BATCH)?,
                db::jobs::stalled(conn, JobState::Processing, &fail, live_before, BATCH)?,
                db::jobs::stalled(conn, JobState::Completing, &all, completing_before, BATCH)?,
            ))
        })
        .await?;
    let mut report = SweepReport::default();
    for job in vod {
        if requeue_unchanged(state, &job).await? {
            tracing::info!(job = %job.uuid, "stalled job requeued");
            report.requeued += 1;
        }
    }
    let failures = live
        .into_iter()
        .map(|j| (j, JobState::Processing, STALLED_JOB, 0))
        .chain(
            completing
                .into_iter()
                .map(|j| (j, JobState::Completing, COMPLETION_LOST, 1)),
        );
    for (job, from, message, extra_failure) in failures {
        let guard = FailGuard::Unchanged(job.updated_at);
        let failures = job.failures.saturating_add(extra_failure);
        if fail_job(state, &job, from, guard, failures, message.to_owned()).await? {
            tracing::warn!(job = %job.uuid, message, "stalled job errored");
            report.failed += 1;
        }
    }
    if report.requeued > 0 {
        state.events.publish(Event::JobsAvailable);
    }
    Ok(report)
}

async fn requeue_unchanged(state: &AppState, job: &RunnerJobRow) -> Result<bool, ServiceError> {
    let (id, seen, failures) = (job.id, job.updated_at, job.failures);
    let changed = state
        .db
        .run(move |conn| {
            db::jobs::requeue(
                conn,
                id,
                db::jobs::Held::Unchanged(seen),
                failures,
                db::now(),
            )
        })
        .await?;
    Ok(changed == 1)
}
