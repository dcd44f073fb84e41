//! Per-type behaviour of jobs: what a `success` stores, what happens around a job that
//! ends without success, and live chunk updates. One [`JobTypeHandler`] per job type,
//! chosen by [`handler_for`].

use futures_util::future::BoxFuture;

use super::RunnerUpload;
use super::vod;
use crate::db::models::RunnerJobRow;
use crate::domain::job::JobType;
use crate::domain::lifecycle::LiveChunkUpdate;
use crate::error::ServiceError;
use crate::state::AppState;

/// How a job ended (for side effects such as the video's state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd<'a> {
    /// It completed and its results are stored.
    Completed,
    /// It failed for good with this message.
    Errored(&'a str),
    /// It was cancelled.
    Cancelled,
    /// Its parent failed for good.
    ParentErrored,
    /// Its parent was cancelled.
    ParentCancelled,
}

/// Why storing a runner's results failed; the message becomes the job's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompletionError(pub String);

impl From<ServiceError> for CompletionError {
    /// The job's `error` is shown through the video API: it says what went wrong in
    /// the service's own words; the details of storage, database and tool failures
    /// (paths, tool output) go to the log only.
    fn from(e: ServiceError) -> CompletionError {
        let public = match &e {
            ServiceError::Storage(_) => "the output could not be stored",
            ServiceError::Db(_) => "the database failed while recording the output",
            ServiceError::Media(m) if m.is_bad_input() => {
                return CompletionError(format!(
                    "the uploaded file is not readable media ({})",
                    m.client_reason()
                ));
            }
            ServiceError::Media(_) => "the server's media tools failed on the output",
            _ => return CompletionError(e.to_string()),
        };
        tracing::error!(error = %e, "storing a job's output failed");
        CompletionError(public.to_owned())
    }
}

/// Behaviour of one job type.
pub trait JobTypeHandler: Send + Sync {
    /// The type it handles.
    fn job_type(&self) -> JobType;

    /// Stores what a successful runner uploaded (the job is COMPLETING). The required
    /// files of the type are present. Files it does not move into storage are deleted
    /// when `upload` drops.
    fn complete<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a RunnerJobRow,
        upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>>;

    /// Side effects after the job reached a final state (already committed).
    fn ended<'a>(
        &'a self,
        _state: &'a AppState,
        _job: &'a RunnerJobRow,
        _end: JobEnd<'a>,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async { Ok(()) })
    }

    /// A validated live chunk update with its files. Only live jobs take payloads in
    /// `update`; for every other type this is [`ServiceError::InvalidPayload`].
    fn live_update<'a>(
        &'a self,
        _state: &'a AppState,
        _job: &'a RunnerJobRow,
        _update: LiveChunkUpdate,
        _upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async { Err(ServiceError::InvalidPayload) })
    }
}

/// A type whose results this server cannot store yet: its completion fails with a
/// clear error, so the job ends ERRORED instead of silently COMPLETED. The server
/// creates no job of these types (live, studio, transcription, storyboard) until their
/// handler exists.
#[derive(Debug)]
pub struct NotImplemented(JobType);

impl JobTypeHandler for NotImplemented {
    fn job_type(&self) -> JobType {
        self.0
    }

    fn complete<'a>(
        &'a self,
        _state: &'a AppState,
        _job: &'a RunnerJobRow,
        _upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>> {
        Box::pin(async move {
            Err(CompletionError(format!(
                "this server cannot store results of {} jobs",
                self.0
            )))
        })
    }

    fn live_update<'a>(
        &'a self,
        _state: &'a AppState,
        _job: &'a RunnerJobRow,
        _update: LiveChunkUpdate,
        _upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        Box::pin(async { Err(ServiceError::LiveNotSupported) })
    }
}

static LIVE: NotImplemented = NotImplemented(JobType::LiveRtmpHlsTranscoding);
static STUDIO: NotImplemented = NotImplemented(JobType::VideoStudioTranscoding);
static TRANSCRIPTION: NotImplemented = NotImplemented(JobType::VideoTranscription);
static STORYBOARD: NotImplemented = NotImplemented(JobType::GenerateVideoStoryboard);

/// The handler of `job_type`.
pub fn handler_for(job_type: JobType) -> &'static dyn JobTypeHandler {
    match job_type {
        JobType::VodWebVideoTranscoding => &vod::WEB_VIDEO,
        JobType::VodHlsTranscoding => &vod::Hls,
        JobType::VodAudioMergeTranscoding => &vod::AUDIO_MERGE,
        JobType::LiveRtmpHlsTranscoding => &LIVE,
        JobType::VideoStudioTranscoding => &STUDIO,
        JobType::VideoTranscription => &TRANSCRIPTION,
        JobType::GenerateVideoStoryboard => &STORYBOARD,
    }
}

/// Runs the `ended` side effects of `job`'s handler; a failure is logged (the state
/// change is already committed and must stand).
pub async fn ended(state: &AppState, job: &RunnerJobRow, end: JobEnd<'_>) {
    let Ok(job_type) = job.job_type.parse::<JobType>() else {
        return;
    };
    if let Err(e) = handler_for(job_type).ended(state, job, end).await {
        tracing::warn!(job = %job.uuid, error = %e, "job end side effects failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_own_handler() {
        for t in JobType::ALL {
            assert_eq!(handler_for(t).job_type(), t);
        }
    }
}
