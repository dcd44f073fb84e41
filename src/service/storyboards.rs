//! Storyboards: `generate-video-storyboard` jobs (`runner-protocol.md` 3.7), a sprite
//! sheet of seek previews made by a runner newer than 0.0.21 (0.0.21 is never offered
//! one: `domain::runner_input::RunnerCaps::runs`), with the geometry the server
//! computes ([`crate::domain::storyboard::sprites`], PeerTube's formula).
//!
//! Asked for when the source is probed (submission and studio edit, with
//! `transcoding.storyboards`) and, for an existing video, by [`request`]
//! (`POST /api/v1/videos/{uuid}/storyboard`). Its success ([`store`]) checks the JPEG,
//! stores it as `<dir>/storyboard.jpg` with a WebVTT thumbnails track beside it
//! (`storyboard.vtt`, one `#xywh=` cue per sprite, as video.js and hls.js thumbnail
//! plugins read), replaces the video's storyboard row and records `storyboard.ready`
//! in the same transaction. The video's state never follows it.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::{self, storyboards::Storyboard};
use crate::domain::ids::JobUuid;
use crate::domain::ids::VideoUuid;
use crate::domain::job::{Job, JobType};
use crate::domain::payloads::{
    FileInput, InputFile, InputVideo, JobPayload, PrivatePayload, Sprites, StoryboardPayload,
    VideoPrivatePayload, input_url,
};
use crate::domain::storyboard::{self, sprite_total, thumbnails_track};
use crate::domain::video::{FileFacts, FileKind, Video, VideoState, keys};
use crate::error::ServiceError;
use crate::service::jobs::per_type::{self, CompletionError};
use crate::service::jobs::{JobSpec, RunnerUpload, create_jobs};
use crate::service::task_state::TaskState;
use crate::service::webhooks::{Notice, Outbox};
use crate::service::{Context, timefmt};
use crate::storage::Storage;

/// Priority of storyboard jobs (PeerTube's `JOB_PRIORITY.STORYBOARD`).
pub const STORYBOARD_PRIORITY: i32 = 95;
/// Largest sprite sheet accepted from a runner.
const MAX_IMAGE_BYTES: u64 = 64 * 1024 * 1024;

/// The storyboard job of `video` whose source is `source` (width, height and the
/// video's duration give the geometry), or `None` when it gets none (no picture,
/// shorter than 3 s).
pub fn job_spec(public_url: &str, video: &Video, source: &FileFacts) -> Option<JobSpec> {
    let sprites = storyboard::sprites(
        u32::try_from(source.width).ok()?,
        u32::try_from(source.height).ok()?,
        video.duration?,
    )?;
    let uuid = JobUuid::generate();
    Some(JobSpec {
        uuid,
        payload: JobPayload::Storyboard(StoryboardPayload {
            input: FileInput {
                video_file_url: input_url(
                    public_url,
                    uuid,
                    InputVideo::of(video),
                    InputFile::MaxQuality,
                ),
            },
            sprites,
            output: None,
        }),
        private_payload: PrivatePayload::Storyboard(VideoPrivatePayload {
            video_uuid: video.uuid,
        }),
        priority: STORYBOARD_PRIORITY,
        video_id: Some(video.id),
        parent: None,
    })
}

/// `POST /api/v1/videos/{uuid}/storyboard`: creates a storyboard job for an existing
/// video (its result replaces the video's storyboard).
/// [`ServiceError::Invalid`] when the video gets none (audio only, shorter than 3 s),
/// [`ServiceError::Conflict`] when one is pending or running, or while the video is
/// stored or edited.
pub async fn request(ctx: &Context, uuid: VideoUuid) -> Result<(), ServiceError> {
    let public_url = ctx.public_url().to_owned();
    let now = ctx.now();
    let jobs = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video =
                    db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
                if matches!(video.state, VideoState::Importing | VideoState::ToEdit) {
                    return Err(ServiceError::Conflict(format!(
                        "The video is {}; ask again once it is done",
                        video.state.name()
                    )));
                }
                // The video lock serialises concurrent requests.
                if !db::videos::lock(conn, video.id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                let running = db::jobs::of_videos(conn, &[video.id])?.iter().any(|j| {
                    j.job_type() == JobType::GenerateVideoStoryboard && !j.state.is_final()
                });
                if running {
                    return Err(ServiceError::Conflict(
                        "A storyboard of this video is already pending or running".to_owned(),
                    ));
                }
                let files = db::videos::files(conn, video.id)?;
                let spec = files
                    .iter()
                    .find(|f| f.kind == FileKind::Source)
                    .and_then(|source| job_spec(&public_url, &video, source))
                    .ok_or_else(|| {
                        ServiceError::Invalid(
                            "This video gets no storyboard: it has no moving picture or lasts \
                             less than 3 s"
                                .to_owned(),
                        )
                    })?;
                create_jobs(conn, &[spec], now)
            })
        })
        .await?;
    crate::service::jobs::publish_changes(ctx, &jobs);
    Ok(())
}

/// The storyboard job's `success`: see the module documentation.
pub async fn store(
    ctx: &Context,
    job: &Job,
    sprites: &Sprites,
    mut upload: RunnerUpload,
) -> Result<(), CompletionError> {
    let video_id = per_type::video_of(job)?;
    let image = per_type::take(&mut upload, "storyboardFile")?;
    if image.size == 0 || image.size > MAX_IMAGE_BYTES {
        return Err(CompletionError(format!(
            "the storyboard must hold 1 to {MAX_IMAGE_BYTES} bytes"
        )));
    }
    let info = ctx
        .media
        .probe_image(image.file.path())
        .await
        .map_err(|e| {
            if e.is_bad_input() {
                CompletionError(format!(
                    "the storyboard is not a readable image ({})",
                    e.client_reason()
                ))
            } else {
                ServiceError::Media(e).into()
            }
        })?;
    if !info.video.as_ref().is_some_and(|v| v.is_still_image) {
        return Err(CompletionError("the storyboard is not an image".to_owned()));
    }
    let video = ctx
        .db
        .run(move |conn| db::videos::find(conn, video_id))
        .await
        .map_err(ServiceError::from)?
        .ok_or(ServiceError::NotFound("Video"))?;
    let duration = video.duration.unwrap_or(0.0);
    let key = keys::storyboard(&video.directory);
    let track_key = keys::storyboard_track_of(&key);
    let track = thumbnails_track(sprites, duration, keys::file_name(&key));
    let written = [key.clone(), track_key.clone()];
    let stored = async {
        ctx.storage.put_file(&key, image.file).await?;
        ctx.storage
            .put_bytes(&track_key, track.into_bytes())
            .await?;
        Ok::<_, ServiceError>(())
    }
    .await;
    let (sprites, now, outbox) = (*sprites, ctx.now(), Outbox::of(ctx));
    let recorded = match stored {
        Ok(()) => {
            let key = key.clone();
            ctx.db
                .run(move |conn| {
                    db::write_transaction(conn, |conn| {
                        if !db::videos::lock(conn, video_id, now)? {
                            return Err(ServiceError::NotFound("Video"));
                        }
                        db::storyboards::replace(conn, video_id, &key, &sprites, now)?;
                        Ok(outbox.record(conn, video_id, &[Notice::StoryboardReady], now)?)
                    })
                })
                .await
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(emitted) => {
            emitted.publish(&ctx.events);
            Ok(())
        }
        Err(e) => {
            // Same keys as a storyboard stored before: a failure leaves none rather
            // than a sheet that does not match its row.
            for k in &written {
                if let Err(d) = ctx.storage.delete(k).await {
                    tracing::error!(key = k, error = %d, "cannot remove an unrecorded storyboard");
                }
            }
            Err(e.into())
        }
    }
}

/// The `storyboard` member of the video resource, shaped like an entry of PeerTube's
/// `GET /api/v1/videos/{id}/storyboards` (`storyboardPath`, `totalWidth`,
/// `totalHeight`, `spriteWidth`, `spriteHeight`, `spriteDuration`) plus the track and
/// the latest job.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoryboardView {
    /// The sprite sheet (JPEG), once stored.
    pub url: Option<String>,
    /// The WebVTT thumbnails track (`#xywh=` cues) over it.
    pub track_url: Option<String>,
    /// Sheet width, pixels.
    pub total_width: Option<u32>,
    /// Sheet height, pixels.
    pub total_height: Option<u32>,
    /// One sprite's width.
    pub sprite_width: Option<u32>,
    /// One sprite's height.
    pub sprite_height: Option<u32>,
    /// Seconds each sprite stands for.
    pub sprite_duration: Option<f64>,
    /// Sprites in the sheet.
    pub sprite_count: Option<u32>,
    /// The latest storyboard job.
    pub job_uuid: Option<JobUuid>,
    /// Where it is.
    pub state: Option<TaskState>,
    /// Why it failed for good.
    pub error: Option<String>,
    /// When the sheet was stored.
    #[serde(with = "timefmt::option")]
    pub updated_at: Option<NaiveDateTime>,
}

/// The `storyboard` member: the stored one and the latest job, if any.
pub fn summary(
    storage: &Storage,
    video: &Video,
    stored: Option<&Storyboard>,
    jobs: &[Job],
) -> Option<StoryboardView> {
    let job = jobs
        .iter()
        .filter(|j| j.job_type() == JobType::GenerateVideoStoryboard)
        .max_by_key(|j| j.id);
    if stored.is_none() && job.is_none() {
        return None;
    }
    let s = stored.map(|s| &s.sprites);
    Some(StoryboardView {
        url: stored.map(|s| storage.url(&s.storage_key)),
        track_url: stored.map(|s| storage.url(&keys::storyboard_track_of(&s.storage_key))),
        total_width: s.map(|s| s.size.width * s.count.width),
        total_height: s.map(|s| s.size.height * s.count.height),
        sprite_width: s.map(|s| s.size.width),
        sprite_height: s.map(|s| s.size.height),
        sprite_duration: s.map(|s| s.duration),
        sprite_count: s.map(|s| sprite_total(s, video.duration.unwrap_or(0.0))),
        job_uuid: job.map(|j| j.uuid),
        state: job.map(|j| j.state.into()),
        error: job.and_then(|j| j.error.clone()),
        updated_at: stored.map(|s| s.updated_at),
    })
}
