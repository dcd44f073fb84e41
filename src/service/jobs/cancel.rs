//! Cancelling jobs (admin API, video deletion; `runner-protocol.md` 5.8). The runner
//! is not told: its next call gets 404 `Unknown runner job` because the token is gone.

use super::handlers::{self, JobEnd};
use super::settle_descendants;
use crate::db::models::RunnerJobRow;
use crate::db::{self, DbConnection, DbError};
use crate::domain::job::JobState;
use crate::domain::lifecycle::Transition;
use crate::error::ServiceError;
use crate::state::AppState;

/// A job a cancel ended: CANCELLED itself, or PARENT_CANCELLED as a descendant.
#[derive(Debug, Clone)]
pub struct CancelledJob {
    /// The row as it was before the cancel.
    pub job: RunnerJobRow,
    /// Its new state.
    pub state: JobState,
}

/// Cancels the job `job_uuid` (PENDING, PROCESSING or WAITING_FOR_PARENT_JOB) and
/// moves its waiting descendants to PARENT_CANCELLED, in one transaction, then runs
/// the per-type side effects. [`ServiceError::UnknownRunnerJob`] if there is no such
/// job, [`ServiceError::NotCancellable`] if it already ended.
pub async fn cancel_job(state: &AppState, job_uuid: &str) -> Result<(), ServiceError> {
    let uuid = job_uuid.to_owned();
    let cancelled = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let Some(job) = db::jobs::find_by_uuid(conn, &uuid)? else {
                    return Ok::<_, DbError>(Err(ServiceError::UnknownRunnerJob));
                };
                Ok(cancel_in(conn, job)?.ok_or(ServiceError::NotCancellable))
            })
        })
        .await??;
    after_cancel(state, &cancelled).await;
    Ok(())
}

/// Cancels every unfinished job of video `video_id` (with their descendants) in one
/// transaction, then runs the side effects. Returns how many jobs ended.
pub async fn cancel_jobs_of_video(state: &AppState, video_id: i64) -> Result<usize, ServiceError> {
    let cancelled = state
        .db
        .run(move |conn| db::write_transaction(conn, |conn| cancel_video_jobs_in(conn, video_id)))
        .await?;
    after_cancel(state, &cancelled).await;
    Ok(cancelled.len())
}

/// [`cancel_jobs_of_video`] inside the caller's transaction (for example a video
/// deletion). The caller runs [`after_cancel`] on the result after committing.
pub fn cancel_video_jobs_in(
    conn: &mut DbConnection,
    video_id: i64,
) -> Result<Vec<CancelledJob>, DbError> {
    let states = Transition::Cancel
        .from_states()
        .iter()
        .map(|s| s.id())
        .collect::<Vec<_>>();
    let mut cancelled = Vec::new();
    for job in db::jobs::of_video_in_states(conn, video_id, &states)? {
        // A descendant cancelled earlier in this loop no longer matches its state.
        if let Some(ended) = cancel_in(conn, job)? {
            cancelled.extend(ended);
        }
    }
    Ok(cancelled)
}

/// Runs the per-type side effects of cancelled jobs (after the commit).
pub async fn after_cancel(state: &AppState, cancelled: &[CancelledJob]) {
    for c in cancelled {
        let end = if c.state == JobState::Cancelled {
            JobEnd::Cancelled
        } else {
            JobEnd::ParentCancelled
        };
        handlers::ended(state, &c.job, end).await;
    }
}

/// Compare-and-set to CANCELLED from the state read, re-read and retried if another
/// writer changed it first; `None` once the job is in a state that cannot be
/// cancelled.
fn cancel_in(
    conn: &mut DbConnection,
    mut job: RunnerJobRow,
) -> Result<Option<Vec<CancelledJob>>, DbError> {
    for _ in 0..5 {
        let Some(current) = JobState::from_id(job.state) else {
            return Ok(None);
        };
        if !Transition::Cancel.allowed_from(current) {
            return Ok(None);
        }
        if db::jobs::cancel(conn, job.id, current, db::now())? == 1 {
            let id = job.id;
            let mut ended = vec![CancelledJob {
                job,
                state: JobState::Cancelled,
            }];
            ended.extend(
                settle_descendants(conn, id, JobState::ParentCancelled)?
                    .into_iter()
                    .map(|job| CancelledJob {
                        job,
                        state: JobState::ParentCancelled,
                    }),
            );
            return Ok(Some(ended));
        }
        match db::jobs::find(conn, job.id)? {
            Some(fresh) => job = fresh,
            None => return Ok(None),
        }
    }
    Ok(None)
}
