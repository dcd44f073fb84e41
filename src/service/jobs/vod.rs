//! `vod-web-video-transcoding`, `vod-hls-transcoding` and `vod-audio-merge-transcoding`:
//! thin adapters over
//! [`crate::service::renditions`], which stores the files under the video's folder,
//! rewrites the HLS media playlist, rebuilds the master playlist and moves the video's
//! state.

use futures_util::future::BoxFuture;

use super::RunnerUpload;
use super::handlers::{CompletionError, JobEnd, JobTypeHandler};
use crate::db::models::RunnerJobRow;
use crate::domain::job::JobType;
use crate::error::ServiceError;
use crate::service::renditions;
use crate::state::AppState;

/// A job whose output is one MP4:
/// - `vod-web-video-transcoding` ([`WEB_VIDEO`]): a web-video rendition;
/// - `vod-audio-merge-transcoding` ([`AUDIO_MERGE`]): the audio source with its cover
///   image as a still video (PeerTube's "optimize" step for audio uploads), the
///   `max-quality` input of the HLS children (`service::inputs`). With web videos on
///   it is the top web-video rendition; with web videos off it is an intermediate
///   file: never listed or served, deleted once every job of the video ended
///   (`renditions::refresh_state`), as PeerTube deletes web-video files then.
#[derive(Debug)]
pub struct Mp4Output(JobType);

/// `vod-web-video-transcoding`.
pub static WEB_VIDEO: Mp4Output = Mp4Output(JobType::VodWebVideoTranscoding);
/// `vod-audio-merge-transcoding`.
pub static AUDIO_MERGE: Mp4Output = Mp4Output(JobType::VodAudioMergeTranscoding);

/// `vod-hls-transcoding`: a fragmented MP4 and its media playlist.
#[derive(Debug)]
pub struct Hls;

/// The video and the requested `output.resolution` of a VOD job.
fn target(job: &RunnerJobRow) -> Result<(i64, i32), CompletionError> {
    let video_id = job
        .video_id
        .ok_or_else(|| CompletionError("the job belongs to no video".to_owned()))?;
    let payload: serde_json::Value = serde_json::from_str(&job.payload)
        .map_err(|e| CompletionError(format!("stored payload is not JSON: {e}")))?;
    let resolution = payload["output"]["resolution"]
        .as_i64()
        .and_then(|r| i32::try_from(r).ok())
        .ok_or_else(|| CompletionError("the job payload has no output.resolution".to_owned()))?;
    Ok((video_id, resolution))
}

fn take(upload: &mut RunnerUpload, key: &str) -> Result<super::UploadedFile, CompletionError> {
    upload
        .files
        .remove(key)
        .ok_or_else(|| CompletionError(format!("payload[{key}] is missing")))
}

/// The video's state follows its jobs: recompute it when one ends without success.
fn refresh<'a>(
    state: &'a AppState,
    job: &'a RunnerJobRow,
) -> BoxFuture<'a, Result<(), ServiceError>> {
    Box::pin(async move {
        if let Some(video_id) = job.video_id {
            renditions::refresh_state(state, video_id).await?;
        }
        Ok(())
    })
}

impl JobTypeHandler for Mp4Output {
    fn job_type(&self) -> JobType {
        self.0
    }

    fn complete<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a RunnerJobRow,
        mut upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>> {
        Box::pin(async move {
            let (video_id, resolution) = target(job)?;
            let video = take(&mut upload, "videoFile")?;
            let kind = match self.0 {
                JobType::VodAudioMergeTranscoding => renditions::Mp4Kind::MergedAudio,
                _ => renditions::Mp4Kind::WebVideo,
            };
            renditions::store_mp4(state, video_id, resolution, video.file, kind).await?;
            Ok(())
        })
    }

    fn ended<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a RunnerJobRow,
        _end: JobEnd<'a>,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        refresh(state, job)
    }
}

impl JobTypeHandler for Hls {
    fn job_type(&self) -> JobType {
        JobType::VodHlsTranscoding
    }

    fn complete<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a RunnerJobRow,
        mut upload: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>> {
        Box::pin(async move {
            let (video_id, resolution) = target(job)?;
            let video = take(&mut upload, "videoFile")?;
            let playlist = take(&mut upload, "resolutionPlaylistFile")?;
            renditions::store_hls(state, video_id, resolution, video.file, playlist.file).await?;
            Ok(())
        })
    }

    fn ended<'a>(
        &'a self,
        state: &'a AppState,
        job: &'a RunnerJobRow,
        _end: JobEnd<'a>,
    ) -> BoxFuture<'a, Result<(), ServiceError>> {
        refresh(state, job)
    }
}
