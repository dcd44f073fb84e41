//! `success` (1.8): PROCESSING → COMPLETING by compare-and-set, the type's completion
//! handler, then COMPLETED (children released, runners told) or ERRORED with the
//! handler's reason (children PARENT_ERRORED).

use std::time::Duration;

use super::handlers::{self, JobEnd, handler_for};
use super::{FailGuard, HeldJob, RunnerUpload, fail_job};
use crate::db::models::RunnerJobRow;
use crate::db::{self, DbError};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::required_success_files;
use crate::error::ServiceError;
use crate::service::events::Event;
use crate::state::AppState;

/// How long a `success` request waits for post-processing before answering 204
/// anyway (PeerTube's `SUCCESS_REQUEST_MAX_COMPLETION_WAIT`); completion carries on.
pub const SUCCESS_MAX_WAIT: Duration = Duration::from_secs(30);

/// Applies a `success`. The files the type requires must be in `upload`
/// ([`ServiceError::InvalidPayload`] otherwise). A second or racing `success` loses the
/// compare-and-set and gets [`ServiceError::JobNoLongerProcessing`] (409) with no other
/// effect. Post-processing runs in its own task, so a runner that disconnects cannot
/// interrupt it; this waits for it up to [`SUCCESS_MAX_WAIT`].
pub async fn success(
    state: &AppState,
    held: HeldJob,
    upload: RunnerUpload,
) -> Result<(), ServiceError> {
    if required_success_files(held.job_type)
        .iter()
        .any(|f| !upload.files.contains_key(*f))
    {
        return Err(ServiceError::InvalidPayload);
    }
    let (id, hash) = (held.job.id, held.token_hash.clone());
    let won = state
        .db
        .run(move |conn| db::jobs::begin_completion(conn, id, &hash, db::now()))
        .await?;
    if won == 0 {
        return Err(ServiceError::JobNoLongerProcessing);
    }
    let task = tokio::spawn(finish(state.clone(), held.job, held.job_type, upload));
    match tokio::time::timeout(SUCCESS_MAX_WAIT, task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "job completion task failed"),
        Err(_) => tracing::warn!("job completion takes long; answering the runner now"),
    }
    Ok(())
}

/// Runs the completion handler of a COMPLETING job and records the outcome.
async fn finish(state: AppState, job: RunnerJobRow, job_type: JobType, upload: RunnerUpload) {
    let outcome = handler_for(job_type).complete(&state, &job, upload).await;
    let recorded = match outcome {
        Ok(()) => match mark_completed(&state, job.id).await {
            Ok(()) => {
                handlers::ended(&state, &job, JobEnd::Completed).await;
                Ok(())
            }
            Err(e) => Err(e),
        },
        Err(e) => {
            tracing::warn!(job = %job.uuid, error = %e, "job post-processing failed");
            fail_job(
                &state,
                &job,
                JobState::Completing,
                FailGuard::Any,
                job.failures,
                e.0,
            )
            .await
            .map(|_| ())
        }
    };
    if let Err(e) = recorded {
        // The watchdog errors it after `stalled_completing_after`.
        tracing::error!(job = %job.uuid, error = %e, "could not record job completion");
    }
}

/// COMPLETING → COMPLETED and the children waiting for it → PENDING, in one
/// transaction; runners are told when a child became PENDING.
async fn mark_completed(state: &AppState, id: i64) -> Result<(), ServiceError> {
    let released = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let now = db::now();
                if db::jobs::complete(conn, id, now)? == 0 {
                    return Ok::<usize, DbError>(0);
                }
                db::jobs::release_children(conn, id, now)
            })
        })
        .await?;
    if released > 0 {
        state.events.publish(Event::JobsAvailable);
    }
    Ok(())
}
