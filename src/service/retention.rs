//! Retention of finished jobs (`[retention]`): with `finished_jobs_after` set, the jobs
//! of a video are deleted, all together, once every one of them ended longer ago than
//! that. The video keeps its row (state, error), its files and its outputs; its resource
//! then lists no jobs. A video with any job pending, waiting, running or completing
//! keeps them all, so no job a video still needs (to run, or to show why it is where it
//! is while something is still happening) goes. With `0s` (the default) jobs live as
//! long as their video: history is only deleted when the operator says so.
//!
//! Runs every `retention.interval` on each instance; several instances purging at once
//! is safe (`db::retention`). Time is the context's clock.

use std::future::Future;
use std::time::Duration;

use crate::db::{self, DbError};
use crate::error::ServiceError;
use crate::service::Context;

/// Videos looked at per query.
const BATCH: i64 = 200;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Videos whose jobs were deleted.
    pub videos: usize,
    /// Jobs deleted.
    pub jobs: usize,
}

/// One pass over every video: deletes the jobs of those whose jobs all ended longer
/// ago than `retention.finished_jobs_after` (nothing when it is zero).
pub async fn sweep(ctx: &Context) -> Result<PurgeReport, ServiceError> {
    let age = ctx.settings.retention.finished_jobs_after;
    let mut report = PurgeReport::default();
    if age.is_zero() {
        return Ok(report);
    }
    let before = ctx.clock.ago(age);
    let mut after = 0;
    loop {
        let videos = ctx
            .db
            .run(move |conn| db::retention::purgeable_videos(conn, before, after, BATCH))
            .await?;
        let Some(last) = videos.last().copied() else {
            return Ok(report);
        };
        after = last;
        let deleted = ctx
            .db
            .run(move |conn| {
                let mut deleted = Vec::new();
                for id in videos {
                    deleted.push(db::retention::purge_video_jobs(conn, id, before)?);
                }
                Ok::<_, DbError>(deleted)
            })
            .await?;
        for n in deleted.into_iter().filter(|n| *n > 0) {
            report.videos += 1;
            report.jobs += n;
        }
    }
}

/// Runs [`sweep`] every `retention.interval` (if enabled) until `stop` completes.
pub fn spawn(
    ctx: Context,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if ctx.settings.retention.finished_jobs_after.is_zero() {
            return;
        }
        let period = ctx
            .settings
            .retention
            .interval
            .max(Duration::from_millis(10));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut stop => return,
            }
            match sweep(&ctx).await {
                Ok(r) if r.jobs > 0 => {
                    tracing::info!(videos = r.videos, jobs = r.jobs, "finished jobs purged");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging finished jobs failed"),
            }
        }
    })
}
