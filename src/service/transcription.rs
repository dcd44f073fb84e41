//! Transcription: `video-transcription` jobs (`runner-protocol.md` 3.6), the runner's
//! Whisper turning a video's speech into a WebVTT caption and its detected language.
//!
//! Asked for three ways, each checking server-side that the media has an audio stream
//! (the runner would otherwise fail five times, trap 19) and refusing with `no_audio`:
//! - at submission, `transcription: true` ([`crate::service::submit`] adds
//!   [`job_spec`] to the video's jobs; independent of the transcoding jobs);
//! - for an existing video, [`request`] (`POST /api/v1/videos/{uuid}/transcription`),
//!   at most one pending or running per video;
//! - for an object in storage that is not a video of this service, [`transcribe_stored`]
//!   (`POST /api/v1/transcriptions`): a video without renditions is created around it
//!   (state `published`, its source the application's object, never deleted by us),
//!   which holds the caption.
//!
//! The job runs at PeerTube's priority (200) and retries as other jobs do; its success
//! stores the caption (`service::jobs::transcription`). A video's state never follows
//! its transcription; the outcome is the `transcription` member of the video resource
//! ([`summary`]), and the two moments applications hear of are [`completed`] and
//! [`failed`], each called once, after the commit, for every transcription job that
//! ends that way.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db;
use crate::domain::caption::{Caption, Language};
use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::job::{Job, JobType};
use crate::domain::payloads::{
    InputVideo, TRANSCRIPTION_PRIORITY, transcription_payload, transcription_private_payload,
};
use crate::domain::video::{FileKind, NewVideo, Video, VideoOptions, VideoState};
use crate::error::ServiceError;
use crate::media::{MediaInfo, probe};
use crate::service::jobs::{JobSpec, create_jobs};
use crate::service::submit::{
    DEFAULT_FOLDERS, check_naming, folder_conflict, probe_error, source_facts_of,
};
use crate::service::task_state::TaskState;
use crate::service::{Context, timefmt};
use crate::storage::{Storage, StorageError, validate_key};

/// The spec of a transcription job for `video` (no parent: it reads the source).
pub fn job_spec(public_url: &str, video: &Video) -> JobSpec {
    let uuid = JobUuid::generate();
    JobSpec {
        uuid,
        payload: transcription_payload(public_url, uuid, InputVideo::of(video)),
        private_payload: transcription_private_payload(video.uuid),
        priority: TRANSCRIPTION_PRIORITY,
        video_id: Some(video.id),
        parent: None,
    }
}

/// Whether the source of video `video_id` (what `/max-quality/audio` serves) has an
/// audio stream: from the ffprobe output recorded at submission, else by probing it.
async fn source_has_audio(ctx: &Context, video_id: i64) -> Result<bool, ServiceError> {
    let files = ctx
        .db
        .run(move |conn| db::videos::files(conn, video_id))
        .await?;
    let source = files
        .into_iter()
        .find(|f| f.kind == FileKind::Source)
        .ok_or_else(|| {
            ServiceError::Conflict("The video has no source file to transcribe".to_owned())
        })?;
    if let Some(info) = source
        .metadata
        .as_deref()
        .and_then(|m| probe::parse(m.as_bytes()).ok())
    {
        return Ok(info.has_audio());
    }
    let copy = ctx.storage.materialize(&source.storage_key).await?;
    let info = ctx.media.probe(copy.path()).await.map_err(probe_error)?;
    Ok(info.has_audio())
}

/// `POST /api/v1/videos/{uuid}/transcription`: creates a transcription job for the
/// video (its result replaces an earlier machine caption of the detected language,
/// never an uploaded one). [`ServiceError::NoAudio`] when its source has no audio,
/// [`ServiceError::TranscriptionInProgress`] when one is pending or running,
/// [`ServiceError::Conflict`] while the video is still being stored.
pub async fn request(ctx: &Context, uuid: VideoUuid) -> Result<(), ServiceError> {
    let video = ctx
        .db
        .run(move |conn| db::videos::find_by_uuid(conn, uuid))
        .await?
        .ok_or(ServiceError::NotFound("Video"))?;
    if video.state == VideoState::Importing {
        return Err(ServiceError::Conflict(
            "The video is still being stored; retry once it is created".to_owned(),
        ));
    }
    if !source_has_audio(ctx, video.id).await? {
        return Err(ServiceError::NoAudio);
    }
    let spec = job_spec(ctx.public_url(), &video);
    let (id, now) = (video.id, ctx.now());
    let jobs = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                // The video lock serialises concurrent requests (PostgreSQL's READ
                // COMMITTED would let two both see no transcription running).
                if !db::videos::lock(conn, id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                let running = db::jobs::of_videos(conn, &[id])?
                    .iter()
                    .any(|j| j.job_type() == JobType::VideoTranscription && !j.state.is_final());
                if running {
                    return Err(ServiceError::TranscriptionInProgress);
                }
                create_jobs(conn, &[spec], now)
            })
        })
        .await?;
    crate::service::jobs::publish_changes(ctx, &jobs);
    Ok(())
}

/// A transcription of an object already in storage (the Django library's `video_url`
/// case, by storage key).
#[derive(Debug, Clone)]
pub struct StoredTranscription {
    /// The object's key (the application's: never deleted by us).
    pub key: String,
    /// Display name.
    pub name: Option<String>,
    /// Folder of the caption; default `videos/<uuid>`.
    pub destination: Option<String>,
    /// Prefix of the caption's name; default the new video's UUID.
    pub base_filename: Option<String>,
}

/// `POST /api/v1/transcriptions`: probes the object `req.key` (readable media with an
/// audio stream, else [`ServiceError::InvalidMedia`] / [`ServiceError::NoAudio`]),
/// then, in one transaction, claims the folder (the rules of `db::folders`), records a
/// video without renditions (`published`, its source the object, not owned) and its
/// transcription job. Nothing is written to storage before the job's result.
pub async fn transcribe_stored(
    ctx: &Context,
    req: StoredTranscription,
) -> Result<Video, ServiceError> {
    check_naming(
        req.name.as_deref(),
        req.destination.as_deref(),
        req.base_filename.as_deref(),
    )?;
    let key = validate_key(&req.key)
        .map_err(|e| ServiceError::Invalid(format!("filePath: {e}")))?
        .to_owned();
    let uuid = VideoUuid::generate();
    let directory = req
        .destination
        .unwrap_or_else(|| format!("{DEFAULT_FOLDERS}/{uuid}"));
    let (dir, stored) = (directory.clone(), key.clone());
    if let Some(c) = ctx
        .db
        .run(move |conn| db::folders::conflict(conn, &dir, Some(&stored)))
        .await?
    {
        return Err(folder_conflict(&c));
    }
    let info = probe_stored(ctx, &key).await?;
    if !info.has_audio() {
        return Err(ServiceError::NoAudio);
    }
    let size = ctx.storage.size(&key).await?.unwrap_or(0);
    let new_video = NewVideo {
        uuid,
        state: VideoState::Published,
        name: req.name,
        directory,
        base_filename: req.base_filename.unwrap_or_else(|| uuid.to_string()),
        duration: info.duration,
        thumbnail_key: None,
        options: VideoOptions {
            hls: false,
            web_videos: false,
            resolutions: Vec::new(),
            source_owned: false,
            edition: 0,
            switch_at: None,
        },
    };
    let source = source_facts_of(&info, key.clone(), size);
    let (public_url, now) = (ctx.public_url().to_owned(), ctx.now());
    let (video, jobs) = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video = db::folders::claim(conn, &new_video, Some(&key), now)?
                    .map_err(|c| folder_conflict(&c))?;
                db::videos::insert_file(conn, video.id, &source, now)?;
                let jobs = create_jobs(conn, &[job_spec(&public_url, &video)], now)?;
                Ok::<_, ServiceError>((video, jobs))
            })
        })
        .await?;
    crate::service::jobs::publish_changes(ctx, &jobs);
    Ok(video)
}

async fn probe_stored(ctx: &Context, key: &str) -> Result<MediaInfo, ServiceError> {
    let copy = ctx.storage.materialize(key).await.map_err(|e| match e {
        StorageError::NotFound(_) => {
            ServiceError::Invalid(format!("filePath: no stored object `{key}`"))
        }
        other => other.into(),
    })?;
    ctx.media.probe(copy.path()).await.map_err(probe_error)
}

/// What [`completed`] and [`failed`] know of a transcription that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionOutcome {
    /// The video.
    pub video_uuid: VideoUuid,
    /// The job.
    pub job_uuid: JobUuid,
    /// The caption it stored (completed, and still there).
    pub caption: Option<Caption>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A transcription job COMPLETED: its caption is stored and recorded. The one place
/// a transcription ends well (the `transcription.completed` moment); called once per
/// job, after the commit.
pub async fn completed(ctx: &Context, job: &Job) {
    let job_id = job.id;
    let caption = ctx
        .db
        .run(move |conn| db::captions::of_job(conn, job_id))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(job = %job.uuid, error = %e, "cannot read a transcription's caption");
            None
        });
    let outcome = TranscriptionOutcome {
        video_uuid: job.private_payload.video_uuid(),
        job_uuid: job.uuid,
        caption,
        error: None,
    };
    tracing::info!(
        video = %outcome.video_uuid,
        job = %outcome.job_uuid,
        language = outcome.caption.as_ref().map(|c| c.language.as_str()),
        "transcription completed"
    );
}

/// A transcription job failed for good (ERRORED: no attempt left, or its result could
/// not be stored). The one place a transcription ends badly (the
/// `transcription.failed` moment); called once per job, after the commit.
pub async fn failed(_ctx: &Context, job: &Job) {
    let outcome = TranscriptionOutcome {
        video_uuid: job.private_payload.video_uuid(),
        job_uuid: job.uuid,
        caption: None,
        error: job.error.clone(),
    };
    tracing::warn!(
        video = %outcome.video_uuid,
        job = %outcome.job_uuid,
        error = outcome.error.as_deref(),
        "transcription failed"
    );
}

/// The `transcription` member of the video resource: its latest transcription.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionView {
    /// The job.
    pub job_uuid: JobUuid,
    /// Where it is.
    pub state: TaskState,
    /// Failed attempts so far (retried up to `transcoding.max_failures`).
    pub failures: i32,
    /// Why it failed for good.
    pub error: Option<String>,
    /// The language it detected, once its caption is stored (and while it exists).
    pub language: Option<Language>,
    /// That caption.
    pub caption_url: Option<String>,
    /// When it was asked for.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// When it ended.
    #[serde(with = "timefmt::option")]
    pub finished_at: Option<NaiveDateTime>,
}

/// The latest transcription among a video's `jobs`, with the caption it made.
pub fn summary(storage: &Storage, jobs: &[Job], captions: &[Caption]) -> Option<TranscriptionView> {
    let job = jobs
        .iter()
        .filter(|j| j.job_type() == JobType::VideoTranscription)
        .max_by_key(|j| j.id)?;
    let caption = captions.iter().find(|c| c.job_id == Some(job.id));
    Some(TranscriptionView {
        job_uuid: job.uuid,
        state: job.state.into(),
        failures: job.failures,
        error: job.error.clone(),
        language: caption.map(|c| c.language.clone()),
        caption_url: caption.map(|c| storage.url(&c.storage_key)),
        created_at: job.created_at,
        finished_at: job.finished_at,
    })
}
