//! `success` (1.8): PROCESSING → COMPLETING by compare-and-set, the type's completion
//! ([`super::per_type::complete`]), then COMPLETED (children released, runners told)
//! or ERRORED with the reason (children PARENT_ERRORED).

use std::time::Duration;

use super::{HeldJob, JobCredentials, OwnedGuard, RunnerUpload, apply, hold, per_type};
use crate::domain::job::Job;
use crate::domain::lifecycle::{RunnerCall, Transition, policy};
use crate::error::ServiceError;
use crate::service::Context;

/// How long a `success` request waits for post-processing before answering 204
/// anyway (PeerTube's `SUCCESS_REQUEST_MAX_COMPLETION_WAIT`); completion carries on.
pub const SUCCESS_MAX_WAIT: Duration = Duration::from_secs(30);

/// A `success` whose tokens passed the check: the job and the file fields to read.
#[derive(Debug)]
pub struct SuccessAdmission {
    /// The job, PROCESSING.
    pub held: HeldJob,
    /// The file fields its type takes (others are discarded unread).
    pub file_fields: &'static [&'static str],
}

/// Step 1 of `success`: the job-token check (PROCESSING only), before any file is
/// read.
pub async fn admit(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
) -> Result<SuccessAdmission, ServiceError> {
    let held = hold(ctx, creds, ip, RunnerCall::Success).await?;
    let file_fields = policy(held.job.job_type()).success_files;
    Ok(SuccessAdmission { held, file_fields })
}

/// Step 2: applies the `success`. The files and text fields the type requires must be
/// in `upload`
/// ([`ServiceError::InvalidPayload`] otherwise). A second or racing `success` loses the
/// compare-and-set and gets [`ServiceError::JobNoLongerProcessing`] (409) with no other
/// effect. Post-processing runs in its own task, so a runner that disconnects cannot
/// interrupt it; this waits for it up to [`SUCCESS_MAX_WAIT`].
pub async fn success(
    ctx: &Context,
    held: HeldJob,
    upload: RunnerUpload,
) -> Result<(), ServiceError> {
    let p = policy(held.job.job_type());
    let missing_file = p
        .success_files
        .iter()
        .any(|f| !upload.files.contains_key(*f));
    let missing_field = p
        .success_fields
        .iter()
        .any(|f| upload.fields.get(*f).is_none_or(|v| v.is_empty()));
    if missing_file || missing_field {
        return Err(ServiceError::InvalidPayload);
    }
    let guard = OwnedGuard::Token(held.token_hash.clone());
    let Some(completing) = apply(ctx, &held.job, Transition::BeginCompletion, guard).await? else {
        return Err(ServiceError::JobNoLongerProcessing);
    };
    let task = tokio::spawn(finish(ctx.clone(), completing.job, upload));
    match tokio::time::timeout(SUCCESS_MAX_WAIT, task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "job completion task failed"),
        Err(_) => tracing::warn!("job completion takes long; answering the runner now"),
    }
    Ok(())
}

/// Stores the results of a COMPLETING job and records the outcome.
async fn finish(ctx: Context, job: Job, upload: RunnerUpload) {
    let t = match per_type::complete(&ctx, &job, upload).await {
        Ok(()) => Transition::Complete,
        Err(e) => {
            tracing::warn!(job = %job.uuid, error = %e, "job post-processing failed");
            Transition::CompletionFailed { message: e.0 }
        }
    };
    if let Err(e) = apply(&ctx, &job, t, OwnedGuard::State).await {
        // The watchdog errors it after `stalled_completing_after`.
        tracing::error!(job = %job.uuid, error = %e, "could not record job completion");
    }
}
