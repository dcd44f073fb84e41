//! What each job type does, in one closed `match` over its payload: what a `success`
//! stores, and what follows once a job ended. The rest of a type's behaviour is the domain's
//! [`crate::domain::lifecycle::policy`] (abort, retries, watchdog, required files,
//! whether its video's state follows it), applied here and by the lifecycle.
//!
//! Adding a job type the server can complete means one arm here (and its payloads and
//! policy in `domain`); a type without an arm does not compile.

use super::{RunnerUpload, UploadedFile, transcription, vod};
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::lifecycle::policy;
use crate::domain::payloads::JobPayload;
use crate::domain::runner_input::LiveChunkUpdate;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::renditions::{self, Mp4Kind};
use crate::service::transcription as service_transcription;
use crate::service::{storyboards, studio};

/// Why storing a runner's results failed; the message becomes the job's `error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompletionError(pub String);

/// The video a completing job belongs to.
pub fn video_of(job: &Job) -> Result<i64, CompletionError> {
    job.video_id
        .ok_or_else(|| CompletionError("the job belongs to no video".to_owned()))
}

/// Takes the uploaded file `payload[key]` out of `upload`.
pub fn take(upload: &mut RunnerUpload, key: &str) -> Result<UploadedFile, CompletionError> {
    upload
        .files
        .remove(key)
        .ok_or_else(|| CompletionError(format!("payload[{key}] is missing")))
}

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

/// Stores what a successful runner uploaded for `job` (COMPLETING; the files its
/// type requires are in `upload`). Files not moved into storage are deleted when
/// `upload` drops. Live jobs, which this server cannot complete yet, fail with a clear
/// message, so they end ERRORED instead of silently COMPLETED (the server creates no
/// such job yet).
pub async fn complete(
    ctx: &Context,
    job: &Job,
    upload: RunnerUpload,
) -> Result<(), CompletionError> {
    match &job.payload {
        JobPayload::VodWebVideo(p) => {
            vod::store_mp4(ctx, job, p.output.resolution, Mp4Kind::WebVideo, upload).await
        }
        JobPayload::VodAudioMerge(p) => {
            vod::store_mp4(ctx, job, p.output.resolution, Mp4Kind::MergedAudio, upload).await
        }
        JobPayload::VodHls(p) => vod::store_hls(ctx, job, p.output.resolution, upload).await,
        JobPayload::Transcription(_) => transcription::store_caption(ctx, job, upload).await,
        JobPayload::Studio(_) => studio::store_edit(ctx, job, upload).await,
        JobPayload::Storyboard(p) => storyboards::store(ctx, job, &p.sprites, upload).await,
        JobPayload::Live(_) => Err(CompletionError(format!(
            "this server cannot store results of {} jobs",
            job.job_type()
        ))),
    }
}

/// A validated live chunk update with its files (only live jobs take one; see
/// [`crate::domain::lifecycle::TypePolicy::live_chunks`]). This server stores no live
/// chunks yet: the answer's code makes the runner stop the live cleanly (3.4).
pub async fn live_chunk(
    _ctx: &Context,
    _job: &Job,
    _update: LiveChunkUpdate,
    _upload: RunnerUpload,
) -> Result<(), ServiceError> {
    Err(ServiceError::LiveNotSupported)
}

/// Side effects once jobs reached a final state (already committed): a transcription's
/// outcome is announced ([`crate::service::transcription::completed`] or
/// [`crate::service::transcription::failed`]); a studio edit's task files are deleted
/// and an edit that did not complete returns its video to `published`
/// ([`crate::service::studio::ended`]); the state of each video that follows
/// its jobs is recomputed, once per video. A failure is logged: the state changes
/// stand.
pub async fn ended(ctx: &Context, jobs: &[&Job]) {
    for job in jobs {
        match (job.job_type(), job.state) {
            (JobType::VideoTranscription, JobState::Completed) => {
                service_transcription::completed(ctx, job).await;
            }
            (JobType::VideoTranscription, JobState::Errored | JobState::ParentErrored) => {
                service_transcription::failed(ctx, job).await;
            }
            (JobType::VideoStudioTranscoding, state) if state.is_final() => {
                studio::ended(ctx, job).await;
            }
            _ => {}
        }
    }
    let mut videos: Vec<i64> = jobs
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
