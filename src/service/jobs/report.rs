//! `update` (1.6), `abort` (1.5) and `error` (1.7), for a job that passed the
//! job-token check.

use super::handlers::handler_for;
use super::{FailGuard, HeldJob, JobCredentials, RunnerUpload, fail_job, lost_race};
use crate::db;
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{
    AbortOutcome, ErrorOutcome, LiveFiles, on_abort, on_error, parse_live_update, update_is_ignored,
};
use crate::error::ServiceError;
use crate::service::events::Event;
use crate::state::AppState;

/// Applies an `update`. On COMPLETING/COMPLETED it does nothing (the runner still gets
/// 204; uploaded files are deleted with `upload`). Otherwise the payload must fit the
/// type (only live jobs take one, [`ServiceError::InvalidPayload`] otherwise), then the
/// job's `updated_at` (the watchdog's heartbeat) is refreshed on every call, with
/// `progress` when given, and a live chunk goes to the live handler.
pub async fn update(
    state: &AppState,
    held: HeldJob,
    progress: Option<i32>,
    upload: RunnerUpload,
) -> Result<(), ServiceError> {
    if update_is_ignored(held.state) {
        return Ok(());
    }
    let live = if held.job_type == JobType::LiveRtmpHlsTranscoding {
        let files = LiveFiles {
            chunk: upload.files.contains_key("videoChunkFile"),
            resolution_playlist: upload.files.contains_key("resolutionPlaylistFile"),
            master_playlist: upload.files.contains_key("masterPlaylistFile"),
        };
        let update = parse_live_update(|k| upload.fields.get(k).map(String::as_str), files)
            .ok_or(ServiceError::InvalidPayload)?;
        Some(update)
    } else if !upload.fields.is_empty() {
        return Err(ServiceError::InvalidPayload);
    } else {
        None
    };
    let id = held.job.id;
    state
        .db
        .run(move |conn| db::jobs::touch(conn, id, progress, db::now()))
        .await?;
    match live {
        Some(update) => {
            handler_for(held.job_type)
                .live_update(state, &held.job, update, upload)
                .await
        }
        None => Ok(()),
    }
}

/// Applies an `abort`: back to PENDING without counting a failure and runners are
/// told; a live job is errored instead (PeerTube). `reason` is only logged.
pub async fn abort(
    state: &AppState,
    held: HeldJob,
    creds: &JobCredentials,
    reason: &str,
) -> Result<(), ServiceError> {
    tracing::info!(job = %held.job.uuid, runner = held.runner.id, reason, "job aborted by runner");
    match on_abort(held.job_type) {
        AbortOutcome::Requeue => {
            if requeue(state, &held, held.job.failures).await? {
                Ok(())
            } else {
                Err(lost_race(state, creds).await)
            }
        }
        AbortOutcome::Fail(message) => {
            let won = fail_job(
                state,
                &held.job,
                JobState::Processing,
                FailGuard::Token(held.token_hash.clone()),
                held.job.failures,
                message.to_owned(),
            )
            .await?;
            if won {
                Ok(())
            } else {
                Err(lost_race(state, creds).await)
            }
        }
    }
}

/// Applies an `error`: `failures + 1`, then back to PENDING (runners told) while the
/// type allows retries and `failures < transcoding.max_failures`, else ERRORED with
/// `message` and the waiting descendants PARENT_ERRORED.
pub async fn error(
    state: &AppState,
    held: HeldJob,
    creds: &JobCredentials,
    message: &str,
) -> Result<(), ServiceError> {
    let failures = held.job.failures.saturating_add(1);
    let max = state.settings.transcoding.max_failures;
    let won = match on_error(held.job_type, failures, max) {
        ErrorOutcome::Retry => requeue(state, &held, failures).await?,
        ErrorOutcome::Fail => {
            fail_job(
                state,
                &held.job,
                JobState::Processing,
                FailGuard::Token(held.token_hash.clone()),
                failures,
                message.to_owned(),
            )
            .await?
        }
    };
    if won {
        Ok(())
    } else {
        Err(lost_race(state, creds).await)
    }
}

/// PROCESSING → PENDING if the runner still holds the job; runners are told.
async fn requeue(state: &AppState, held: &HeldJob, failures: i32) -> Result<bool, ServiceError> {
    let (id, hash) = (held.job.id, held.token_hash.clone());
    let changed = state
        .db
        .run(move |conn| {
            db::jobs::requeue(conn, id, db::jobs::Held::Token(&hash), failures, db::now())
        })
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    state.events.publish(Event::JobsAvailable);
    Ok(true)
}
