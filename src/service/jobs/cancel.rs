//! Cancelling jobs (admin API, video deletion; `runner-protocol.md` 5.8). The runner
//! is not told: its next call gets 404 `Unknown runner job` because the token is gone.

use chrono::NaiveDateTime;

use super::after_change;
use crate::db::jobs::Guard;
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::JobUuid;
use crate::domain::job::{Job, JobState};
use crate::domain::lifecycle::Transition;
use crate::error::ServiceError;
use crate::service::Context;

/// Cancels the job `job_uuid` (PENDING, PROCESSING or WAITING_FOR_PARENT_JOB) and
/// moves its waiting descendants to PARENT_CANCELLED, in one transaction, then runs
/// the consequences. [`ServiceError::UnknownRunnerJob`] if there is no such job,
/// [`ServiceError::NotCancellable`] if it already ended.
pub async fn cancel_job(ctx: &Context, job_uuid: JobUuid) -> Result<(), ServiceError> {
    let now = ctx.now();
    let cancelled = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let job = db::jobs::find_by_uuid(conn, job_uuid)?
                    .ok_or(ServiceError::UnknownRunnerJob)?;
                cancel_in(conn, job, now)?.ok_or(ServiceError::NotCancellable)
            })
        })
        .await?;
    after_cancel(ctx, &cancelled).await;
    Ok(())
}

/// Deletes the job `job_uuid` (PeerTube's admin `DELETE /jobs/{jobUUID}`): cancelled
/// first when it can be (its waiting descendants become PARENT_CANCELLED), then removed
/// with every job depending on it, in one transaction; then the consequences run and
/// its video's state is recomputed without it. [`ServiceError::UnknownRunnerJob`] if
/// there is no such job.
pub async fn delete_job(ctx: &Context, job_uuid: JobUuid) -> Result<(), ServiceError> {
    let now = ctx.now();
    let (job, cancelled) = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let job = db::jobs::find_by_uuid(conn, job_uuid)?
                    .ok_or(ServiceError::UnknownRunnerJob)?;
                let cancelled = cancel_in(conn, job.clone(), now)?.unwrap_or_default();
                if !db::admin::delete_job(conn, job.id)? {
                    return Err(ServiceError::UnknownRunnerJob);
                }
                Ok((job, cancelled))
            })
        })
        .await?;
    tracing::info!(job = %job.uuid, job_type = %job.job_type(), "job deleted");
    after_cancel(ctx, &cancelled).await;
    super::per_type::ended(ctx, &[&job]).await;
    Ok(())
}

/// Cancels every unfinished job of video `video_id` (with their descendants) in one
/// transaction, then runs the consequences. Returns how many jobs ended.
pub async fn cancel_jobs_of_video(ctx: &Context, video_id: i64) -> Result<usize, ServiceError> {
    let now = ctx.now();
    let cancelled = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| cancel_video_jobs_in(conn, video_id, now))
        })
        .await?;
    after_cancel(ctx, &cancelled).await;
    Ok(cancelled.len())
}

/// [`cancel_jobs_of_video`] inside the caller's transaction (for example a video
/// deletion). The caller runs [`after_cancel`] on the result after committing.
pub fn cancel_video_jobs_in(
    conn: &mut DbConnection,
    video_id: i64,
    now: NaiveDateTime,
) -> Result<Vec<Job>, DbError> {
    let from = Transition::Cancel.rule().from;
    let mut cancelled = Vec::new();
    for job in db::jobs::of_video_in_states(conn, video_id, from)? {
        // A descendant cancelled earlier in this loop no longer matches its state.
        if let Some(ended) = cancel_in(conn, job, now)? {
            cancelled.extend(ended);
        }
    }
    Ok(cancelled)
}

/// The consequences of a committed cancel (the per-type side effects of the jobs
/// that ended).
pub async fn after_cancel(ctx: &Context, cancelled: &[Job]) {
    // A job cancelled itself (not through its parent) may have been PENDING.
    let maybe_pending: Vec<i64> = cancelled
        .iter()
        .filter(|j| j.state == JobState::Cancelled)
        .map(|j| j.id)
        .collect();
    after_change(ctx, cancelled.iter(), &maybe_pending).await;
}

/// The cancel transition from the state read, re-read and retried if another writer
/// changed it first; `None` once the job is in a state that cannot be cancelled.
/// Returns the job and its descendants as they are now.
pub(crate) fn cancel_in(
    conn: &mut DbConnection,
    mut job: Job,
    now: NaiveDateTime,
) -> Result<Option<Vec<Job>>, DbError> {
    for _ in 0..5 {
        if !Transition::Cancel.allowed_from(job.state) {
            return Ok(None);
        }
        if let Some(changed) =
            db::jobs::transition(conn, &job, &Transition::Cancel, Guard::State, now)?
        {
            let mut ended = vec![changed.job];
            ended.extend(changed.cascaded);
            return Ok(Some(ended));
        }
        match db::jobs::find(conn, job.id)? {
            Some(fresh) => job = fresh,
            None => return Ok(None),
        }
    }
    Ok(None)
}
