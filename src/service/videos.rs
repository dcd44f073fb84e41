//! The video resource of the private API: one video with its source, produced files
//! and captions (with public URLs), its transcription and jobs; pages of them;
//! deletion.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::storyboards::Storyboard;
use crate::db::{self, DbError};
use crate::domain::caption::Caption;
use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::lifecycle::policy;
use crate::domain::progress::{JobShare, video_progress};
use crate::domain::video::{FileKind, Video, VideoFile, VideoOptions, VideoState, keys};
use crate::error::ServiceError;
use crate::service::captions::CaptionView;
use crate::service::storyboards::{self, StoryboardView};
use crate::service::studio::{self, EditView};
use crate::service::transcription::{self, TranscriptionView};
use crate::service::webhooks::{Notice, Outbox};
use crate::service::{Context, jobs, timefmt};
use crate::storage::Storage;

/// Largest page of the video list.
pub const MAX_PAGE: i64 = 100;

/// The source file.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// Storage key.
    pub key: String,
    /// Bytes.
    pub size: i64,
    /// Container (ffprobe `format_name`).
    pub format: Option<String>,
    /// Displayed width (0 for audio).
    pub width: i32,
    /// Displayed height (0 for audio).
    pub height: i32,
    /// Shorter side (0 for audio).
    pub resolution: i32,
    /// Frames per second (0 when unknown or audio).
    pub fps: f64,
    /// Overall bits per second.
    pub bitrate: Option<i64>,
    /// RFC 6381 codecs, when known.
    pub codecs: Option<String>,
}

/// A produced file.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenditionView {
    /// Shorter side (0: audio only).
    pub resolution: i32,
    /// Displayed width.
    pub width: i32,
    /// Displayed height.
    pub height: i32,
    /// Frames per second.
    pub fps: f64,
    /// Bytes.
    pub size: i64,
    /// Peak bits per second.
    pub bitrate: Option<i64>,
    /// RFC 6381 codecs.
    pub codecs: Option<String>,
    /// The MP4 (web video) or fragmented MP4 (HLS).
    pub file_url: String,
    /// The HLS media playlist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playlist_url: Option<String>,
}

/// HLS outputs.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HlsView {
    /// `master.m3u8`.
    pub master_playlist_url: String,
    /// Renditions, highest first.
    pub renditions: Vec<RenditionView>,
}

/// A job of the video.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Job UUID.
    pub uuid: JobUuid,
    /// Runner job type.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// Output resolution, when the job has one.
    pub resolution: Option<u32>,
    /// Output frame rate, when the job has one.
    pub fps: Option<u32>,
    /// State (`{id, label}`, PeerTube's shape).
    pub state: JobState,
    /// 0..100 while processing.
    pub progress: Option<i32>,
    /// Last error.
    pub error: Option<String>,
    /// Lower runs first.
    pub priority: i32,
    /// Failed attempts so far.
    pub failures: i32,
    /// UUID of the job it waits for.
    pub depends_on: Option<JobUuid>,
    /// Creation time.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// Accepted at.
    #[serde(with = "timefmt::option")]
    pub started_at: Option<NaiveDateTime>,
    /// Finished at.
    #[serde(with = "timefmt::option")]
    pub finished_at: Option<NaiveDateTime>,
}

/// The video resource.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VideoView {
    /// Public UUID.
    pub uuid: VideoUuid,
    /// Display name.
    pub name: Option<String>,
    /// State (`{id, name, label}`).
    pub state: VideoState,
    /// Why it failed.
    pub error: Option<String>,
    /// 0–100: its transcoding jobs' progress, weighted by rendition size
    /// ([`crate::domain::progress`]); 100 once every job completed.
    pub progress: u8,
    /// Where its own events are sent (`callbackUrl` at submission).
    pub callback_url: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Storage folder of the outputs.
    pub directory: String,
    /// Prefix of output names.
    pub base_filename: String,
    /// Output options in effect.
    pub options: VideoOptions,
    /// The source.
    pub source: Option<SourceView>,
    /// Thumbnail JPEG.
    pub thumbnail_url: Option<String>,
    /// HLS outputs, once one rendition exists.
    pub hls: Option<HlsView>,
    /// MP4 renditions, highest first.
    pub web_videos: Vec<RenditionView>,
    /// The spoken language, as its latest transcription detected it.
    pub language: Option<String>,
    /// Captions, by language.
    pub captions: Vec<CaptionView>,
    /// Its latest transcription (none asked: `null`).
    pub transcription: Option<TranscriptionView>,
    /// Its latest studio edit (none asked: `null`).
    pub studio: Option<EditView>,
    /// Its storyboard (seek previews) and latest storyboard job (neither: `null`).
    pub storyboard: Option<StoryboardView>,
    /// Jobs in creation order.
    pub jobs: Vec<JobView>,
    /// Creation time.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// Last change.
    #[serde(with = "timefmt")]
    pub updated_at: NaiveDateTime,
}

/// A page of videos.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VideoPage {
    /// Videos matching the filter.
    pub total: i64,
    /// This page, newest first.
    pub data: Vec<VideoView>,
}

/// A produced file as the resource lists it.
pub fn rendition(storage: &Storage, f: &VideoFile) -> RenditionView {
    RenditionView {
        resolution: f.resolution,
        width: f.width,
        height: f.height,
        fps: f.fps,
        size: f.size,
        bitrate: f.bitrate,
        codecs: f.codecs.clone(),
        file_url: storage.url(&f.storage_key),
        playlist_url: f.playlist_key.as_deref().map(|k| storage.url(k)),
    }
}

fn job_view(job: &Job, uuids: &HashMap<i64, JobUuid>) -> JobView {
    let rung = job.payload.output_rung();
    JobView {
        uuid: job.uuid,
        job_type: job.job_type(),
        resolution: rung.map(|r| r.0),
        fps: rung.map(|r| r.1),
        state: job.state,
        progress: job.progress,
        error: job.error.clone(),
        priority: job.priority,
        failures: job.failures,
        depends_on: job.parent_id.and_then(|id| uuids.get(&id).copied()),
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
    }
}

/// A video's progress from its jobs (those its state follows, with an output rung).
pub fn progress(jobs: &[Job]) -> u8 {
    let shares: Vec<JobShare> = jobs
        .iter()
        .filter(|j| policy(j.job_type()).video_follows_jobs)
        .filter_map(|j| {
            let (resolution, fps) = j.payload.output_rung()?;
            Some(JobShare {
                resolution,
                fps,
                state: j.state,
                progress: j.progress,
            })
        })
        .collect();
    video_progress(&shares)
}

/// Builds the resource from a video's rows.
pub fn view(
    storage: &Storage,
    video: Video,
    files: &[VideoFile],
    jobs: &[Job],
    captions: &[Caption],
    storyboard: Option<&Storyboard>,
) -> VideoView {
    let source = files
        .iter()
        .find(|f| f.kind == FileKind::Source)
        .map(|f| SourceView {
            key: f.storage_key.clone(),
            size: f.size,
            format: f.format.clone(),
            width: f.width,
            height: f.height,
            resolution: f.resolution,
            fps: f.fps,
            bitrate: f.bitrate,
            codecs: f.codecs.clone(),
        });
    let of_kind = |kind: FileKind| -> Vec<RenditionView> {
        files
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| rendition(storage, f))
            .collect()
    };
    let hls_renditions = of_kind(FileKind::Hls);
    let hls = (!hls_renditions.is_empty()).then(|| HlsView {
        master_playlist_url: storage.url(&keys::master(&video.directory)),
        renditions: hls_renditions,
    });
    let uuids: HashMap<i64, JobUuid> = jobs.iter().map(|j| (j.id, j.uuid)).collect();
    let studio = studio::summary(&video, jobs);
    let storyboard = storyboards::summary(storage, &video, storyboard, jobs);
    VideoView {
        uuid: video.uuid,
        name: video.name,
        state: video.state,
        error: video.error,
        progress: progress(jobs),
        callback_url: video.callback_url,
        duration: video.duration,
        directory: video.directory,
        base_filename: video.base_filename,
        options: video.options,
        source,
        thumbnail_url: video.thumbnail_key.as_deref().map(|k| storage.url(k)),
        hls,
        web_videos: of_kind(FileKind::WebVideo),
        language: video.language,
        captions: captions
            .iter()
            .map(|c| CaptionView::new(storage, c))
            .collect(),
        transcription: transcription::summary(storage, jobs, captions),
        studio,
        storyboard,
        jobs: jobs.iter().map(|j| job_view(j, &uuids)).collect(),
        created_at: video.created_at,
        updated_at: video.updated_at,
    }
}

/// The video `uuid`, or [`ServiceError::NotFound`].
pub async fn get(ctx: &Context, uuid: VideoUuid) -> Result<VideoView, ServiceError> {
    let (video, files, jobs, captions, storyboard) = ctx
        .db
        .run(move |conn| {
            let video =
                db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
            let files = db::videos::files(conn, video.id)?;
            let jobs = db::jobs::of_videos(conn, &[video.id])?;
            let captions = db::captions::of_videos(conn, &[video.id])?;
            let storyboard = db::storyboards::of_videos(conn, &[video.id])?
                .into_iter()
                .next()
                .map(|(_, s)| s);
            Ok::<_, ServiceError>((video, files, jobs, captions, storyboard))
        })
        .await?;
    fresh_links(
        &ctx.storage,
        view(
            &ctx.storage,
            video,
            &files,
            &jobs,
            &captions,
            storyboard.as_ref(),
        ),
    )
    .await
}

/// The resource as the video API gives it: on an S3 backend that presigns, every
/// link replaced by a presigned URL (the durable links [`view`] gives, which webhook
/// and event bodies keep, redirect to fresh ones).
async fn fresh_links(storage: &Storage, mut v: VideoView) -> Result<VideoView, ServiceError> {
    if !storage.presigns() {
        return Ok(v);
    }
    let base = storage.url("");
    let fresh = async |url: &mut String| -> Result<(), ServiceError> {
        if let Some(key) = url.strip_prefix(&base) {
            *url = storage.fresh_url(key).await?;
        }
        Ok(())
    };
    if let Some(url) = &mut v.thumbnail_url {
        fresh(url).await?;
    }
    let renditions = v.hls.iter_mut().flat_map(|h| h.renditions.iter_mut());
    for r in renditions.chain(v.web_videos.iter_mut()) {
        fresh(&mut r.file_url).await?;
        if let Some(url) = &mut r.playlist_url {
            fresh(url).await?;
        }
    }
    if let Some(h) = &mut v.hls {
        fresh(&mut h.master_playlist_url).await?;
    }
    for c in &mut v.captions {
        fresh(&mut c.url).await?;
    }
    if let Some(url) = v
        .transcription
        .as_mut()
        .and_then(|t| t.caption_url.as_mut())
    {
        fresh(url).await?;
    }
    if let Some(s) = &mut v.storyboard {
        for url in [&mut s.url, &mut s.track_url].into_iter().flatten() {
            fresh(url).await?;
        }
    }
    Ok(v)
}

/// A page of videos, newest first, optionally only those in `filter` state.
pub async fn list(
    ctx: &Context,
    filter: Option<VideoState>,
    start: i64,
    count: i64,
) -> Result<VideoPage, ServiceError> {
    let (videos, total, files, jobs, captions, storyboards) = ctx
        .db
        .run(move |conn| {
            let (videos, total) =
                db::videos::list(conn, filter, start.max(0), count.clamp(0, MAX_PAGE))?;
            let ids: Vec<i64> = videos.iter().map(|v| v.id).collect();
            let files = db::videos::files_of(conn, &ids)?;
            let jobs = db::jobs::of_videos(conn, &ids)?;
            let captions = db::captions::of_videos(conn, &ids)?;
            let storyboards = db::storyboards::of_videos(conn, &ids)?;
            Ok::<_, DbError>((videos, total, files, jobs, captions, storyboards))
        })
        .await?;
    let storyboards: HashMap<i64, Storyboard> = storyboards.into_iter().collect();
    let mut files_by: HashMap<i64, Vec<VideoFile>> = HashMap::new();
    for f in files {
        files_by.entry(f.video_id).or_default().push(f);
    }
    let mut jobs_by: HashMap<i64, Vec<Job>> = HashMap::new();
    for j in jobs {
        jobs_by
            .entry(j.video_id.unwrap_or_default())
            .or_default()
            .push(j);
    }
    let mut captions_by: HashMap<i64, Vec<Caption>> = HashMap::new();
    for c in captions {
        captions_by.entry(c.video_id).or_default().push(c);
    }
    let mut data = Vec::with_capacity(videos.len());
    for v in videos {
        let id = v.id;
        let (f, j) = (files_by.remove(&v.id), jobs_by.remove(&v.id));
        let c = captions_by.remove(&v.id);
        let resource = view(
            &ctx.storage,
            v,
            f.as_deref().unwrap_or_default(),
            j.as_deref().unwrap_or_default(),
            c.as_deref().unwrap_or_default(),
            storyboards.get(&id),
        );
        data.push(fresh_links(&ctx.storage, resource).await?);
    }
    Ok(VideoPage { total, data })
}

/// Deletes the video `uuid`:
/// 1. its unfinished jobs are cancelled (a runner holding one gets an error on its
///    next call);
/// 2. the objects its rows record are deleted, one by one
///    ([`db::outputs::owned_keys`]): never a folder wholesale, never a source named by
///    the application (`filePath`), never an object another video records;
/// 3. its rows go (jobs with them), and the objects they record are deleted again:
///    a job completing meanwhile may have written some after step 2 (a master
///    playlist written after the video's deletion is removed by its writer,
///    [`crate::service::renditions::rebuild_master`]).
///
/// The rows stay until the objects are gone, so the folder cannot be claimed by a new
/// video (whose objects the deletion could otherwise reach) in between; a crash in
/// between leaves a video that a second `DELETE` finishes removing.
pub async fn delete(ctx: &Context, uuid: VideoUuid) -> Result<(), ServiceError> {
    let now = ctx.now();
    let (video, keys, cancelled) = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video =
                    db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
                // Pending, waiting and running jobs are cancelled (descendants too).
                let cancelled = jobs::cancel_video_jobs_in(conn, video.id, now)?;
                let keys = db::outputs::owned_keys(conn, &video)?;
                Ok::<_, ServiceError>((video, keys, cancelled))
            })
        })
        .await?;
    remove_objects(&ctx.storage, &keys).await;
    // A submission a crash left `importing` was never acknowledged: nobody was told of
    // it, nobody is told of its removal.
    let announced = video.state != VideoState::Importing;
    let (id, outbox) = (video.id, Outbox::of(ctx));
    let (last, emitted) = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                // Recorded first: the event carries the resource as it was.
                let notices: &[Notice<'_>] = if announced { &[Notice::Deleted] } else { &[] };
                let emitted = outbox.record(conn, id, notices, now)?;
                // Every job row goes with the video (ON DELETE CASCADE).
                let keys = db::outputs::owned_keys(conn, &video)?;
                // A concurrent deletion (another request, another instance's cleanup)
                // removed it first: it reports the deletion, this one finds nothing.
                if !db::videos::delete(conn, id)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                Ok::<_, ServiceError>((keys, emitted))
            })
        })
        .await?;
    emitted.publish(&ctx.events);
    // Again, every key: a completion may have written an object (a new rendition, a
    // re-run's, the master playlist rebuilt after its commit) after the first pass.
    remove_objects(&ctx.storage, &last).await;
    jobs::cancel::after_cancel(ctx, &cancelled).await;
    Ok(())
}

async fn remove_objects(storage: &Storage, keys: &[String]) {
    for key in keys {
        if let Err(e) = storage.delete(key).await {
            tracing::error!(key, error = %e, "cannot delete an object of a deleted video");
        }
    }
}
