//! The watchdog (`runner-protocol.md` 5.7): PROCESSING jobs without an update for
//! `runners.stalled_vod_after` go back to PENDING without counting a failure (VOD,
//! studio, transcription, storyboard); live jobs are halted after
//! `runners.stalled_live_after`; COMPLETING jobs older than
//! `runners.stalled_completing_after` are errored with `Job completion was lost`.
//! What each type does is the domain's [`on_stall`].
//!
//! Safe with several server instances: each change is a compare-and-set on the job's
//! id, state and the `updated_at` the sweep read, so a job that got a heartbeat, or
//! that another instance already handled, is left alone. Time is the context's clock.

use std::future::Future;
use std::time::Duration;

use super::{OwnedGuard, apply};
use crate::db::{self, DbError};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{StallPolicy, Transition, on_stall, policy};
use crate::error::ServiceError;
use crate::service::Context;

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

/// Runs [`sweep`] every `runners.watchdog_interval` until `stop` completes; a sweep
/// under way then finishes first.
pub fn spawn(
    ctx: Context,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = ctx
            .settings
            .runners
            .watchdog_interval
            .max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut stop => return,
            }
            match sweep(&ctx).await {
                Ok(r) if r != SweepReport::default() => {
                    tracing::info!(requeued = r.requeued, failed = r.failed, "watchdog sweep");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "watchdog sweep failed"),
            }
        }
    })
}

fn types_with(stall: StallPolicy) -> Vec<JobType> {
    JobType::ALL
        .into_iter()
        .filter(|t| policy(*t).stall == stall)
        .collect()
}

/// One pass of the watchdog.
pub async fn sweep(ctx: &Context) -> Result<SweepReport, ServiceError> {
    let r = &ctx.settings.runners;
    let (vod_before, live_before, completing_before) = (
        ctx.clock.ago(r.stalled_vod_after),
        ctx.clock.ago(r.stalled_live_after),
        ctx.clock.ago(r.stalled_completing_after),
    );
    let (stalled, completing) = ctx
        .db
        .run(move |conn| {
            let requeue = types_with(StallPolicy::RequeueAfterVodWindow);
            let fail = types_with(StallPolicy::FailAfterLiveWindow);
            let mut stalled =
                db::jobs::stalled(conn, JobState::Processing, &requeue, vod_before, BATCH)?;
            stalled.extend(db::jobs::stalled(
                conn,
                JobState::Processing,
                &fail,
                live_before,
                BATCH,
            )?);
            let completing = db::jobs::stalled(
                conn,
                JobState::Completing,
                &JobType::ALL,
                completing_before,
                BATCH,
            )?;
            Ok::<_, DbError>((stalled, completing))
        })
        .await?;
    let mut report = SweepReport::default();
    let changes = stalled
        .into_iter()
        .map(|job| (on_stall(job.job_type()), job))
        .chain(
            completing
                .into_iter()
                .map(|job| (Transition::CompletionLost, job)),
        );
    for (t, job) in changes {
        let requeue = t == Transition::Abort;
        let guard = OwnedGuard::Unchanged(job.updated_at);
        if apply(ctx, &job, t, guard).await?.is_none() {
            continue;
        }
        if requeue {
            tracing::info!(job = %job.uuid, "stalled job requeued");
            report.requeued += 1;
        } else {
            tracing::warn!(job = %job.uuid, "stalled job errored");
            report.failed += 1;
        }
    }
    Ok(report)
}
