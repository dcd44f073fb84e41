//! Retrying what failed for good (beyond PeerTube): an errored job is offered again
//! with a fresh budget of `transcoding.max_failures` attempts, and the jobs that
//! failed with it (PARENT_ERRORED, at every level) wait for it again. It is the
//! lifecycle's [`Transition::Reopen`] (with its cascade), applied by
//! [`db::jobs::transition`] like every other change: a retry racing another change of
//! the same job loses cleanly.

use super::after_change;
use crate::db::jobs::Guard;
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::lifecycle::{Transition, policy};
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::renditions;

/// Why a job cannot be retried, when it cannot.
fn not_retryable(job: &Job) -> Option<ServiceError> {
    if !policy(job.job_type()).retries_errors {
        return Some(ServiceError::NotRetryable(format!(
            "{} jobs cannot be retried",
            job.job_type()
        )));
    }
    // Its task files were deleted when it ended and the video went back to published
    // (`service::studio::ended`): only a new request can edit it.
    if job.job_type() == JobType::VideoStudioTranscoding && job.state == JobState::Errored {
        return Some(ServiceError::NotRetryable(
            "A failed studio edit cannot be retried (its task files went with it): \
             request the edit again"
                .to_owned(),
        ));
    }
    (job.state != JobState::Errored).then(|| {
        ServiceError::NotRetryable(format!(
            "Cannot retry this job that is not in \"errored\" state (it is \"{}\")",
            job.state.label()
        ))
    })
}

/// Reopens `job` (ERRORED) and its descendants; `None` when it changed meanwhile.
fn reopen_in(
    conn: &mut DbConnection,
    job: &Job,
    now: chrono::NaiveDateTime,
) -> Result<Option<Vec<Job>>, DbError> {
    Ok(
        db::jobs::transition(conn, job, &Transition::Reopen, Guard::State, now)?.map(|t| {
            let mut jobs = vec![t.job];
            jobs.extend(t.cascaded);
            jobs
        }),
    )
}

/// What follows a committed retry: runners are told, the video's state is recomputed
/// (a failed video goes back to transcoding, or playable).
async fn after_retry(ctx: &Context, reopened: &[Job]) {
    after_change(ctx, reopened.iter(), &[]).await;
    let mut videos: Vec<i64> = reopened
        .iter()
        .filter(|j| policy(j.job_type()).video_follows_jobs)
        .filter_map(|j| j.video_id)
        .collect();
    videos.sort_unstable();
    videos.dedup();
    for video_id in videos {
        if let Err(e) = renditions::refresh_state(ctx, video_id).await {
            tracing::warn!(video_id, error = %e, "cannot recompute a video's state");
        }
    }
}

/// Retries the job `job_uuid`, which must be ERRORED and of a type that retries
/// errors (not live): back to PENDING with no failure counted, its PARENT_ERRORED
/// descendants back to WAITING_FOR_PARENT_JOB. [`ServiceError::UnknownRunnerJob`] if
/// there is no such job, [`ServiceError::NotRetryable`] otherwise.
pub async fn retry_job(ctx: &Context, job_uuid: JobUuid) -> Result<(), ServiceError> {
    let now = ctx.now();
    let reopened = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let job = db::jobs::find_by_uuid(conn, job_uuid)?
                    .ok_or(ServiceError::UnknownRunnerJob)?;
                if let Some(e) = not_retryable(&job) {
                    return Err(e);
                }
                reopen_in(conn, &job, now)?.ok_or_else(|| {
                    ServiceError::NotRetryable("The job changed meanwhile".to_owned())
                })
            })
        })
        .await?;
    tracing::info!(job = %job_uuid, jobs = reopened.len(), "job retried");
    after_retry(ctx, &reopened).await;
    Ok(())
}

/// Retries what failed of the video `uuid`: each of its ERRORED jobs (the ones whose
/// type retries errors) and the jobs that failed with them, in one transaction.
/// Returns how many jobs were reopened. [`ServiceError::NotFound`] for an unknown
/// video, [`ServiceError::NotRetryable`] when none of its jobs failed.
pub async fn retry_video(ctx: &Context, uuid: VideoUuid) -> Result<usize, ServiceError> {
    let now = ctx.now();
    let reopened = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video =
                    db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
                let mut reopened = Vec::new();
                for job in db::jobs::of_video_in_states(conn, video.id, &[JobState::Errored])? {
                    if not_retryable(&job).is_none()
                        && let Some(jobs) = reopen_in(conn, &job, now)?
                    {
                        reopened.extend(jobs);
                    }
                }
                if reopened.is_empty() {
                    return Err(ServiceError::NotRetryable(
                        "Nothing to retry: no job of this video failed".to_owned(),
                    ));
                }
                Ok(reopened)
            })
        })
        .await?;
    tracing::info!(video = %uuid, jobs = reopened.len(), "video retried");
    after_retry(ctx, &reopened).await;
    Ok(reopened.len())
}
