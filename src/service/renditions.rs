//! Video-side completion of VOD jobs: store a runner's output under the video's folder
//! with a stable name, record the rendition with what ffprobe says of it, rebuild the
//! master playlist, and move the video's state.
//!
//! Concurrency: everything after the storage puts runs in one write transaction that
//! first locks the video row (`db::videos::lock`), and the master playlist is written
//! while that lock is held, from the rows committed so far. Two siblings completing at
//! the same instant are therefore serialised and the second master lists both. A re-run
//! of a job overwrites its own files and row (idempotent).

use std::path::Path;

use crate::db::{self, DbConnection};
use crate::domain::video::{FileFacts, FileKind, Video, VideoState, derive_vod_state, keys};
use crate::error::ServiceError;
use crate::media::MediaInfo;
use crate::media::hls::{self, Variant};
use crate::service::Context;
use crate::storage::Storage;

/// Largest media playlist accepted from a runner.
const MAX_PLAYLIST_BYTES: u64 = 16 * 1024 * 1024;

async fn load_video(ctx: &Context, video_id: i64) -> Result<Video, ServiceError> {
    ctx.db
        .run(move |conn| db::videos::find(conn, video_id))
        .await?
        .ok_or(ServiceError::NotFound("Video"))
}

/// Probes a runner's output; a file that is not media is the runner's fault, said
/// without ffprobe's words (they name server paths: logged instead).
async fn probe_output(ctx: &Context, path: &Path) -> Result<MediaInfo, ServiceError> {
    ctx.media.probe(path).await.map_err(|e| {
        if e.is_bad_input() {
            tracing::warn!(error = %e, "a runner uploaded a file that is not media");
            ServiceError::Invalid(format!(
                "the uploaded video file is not readable media ({})",
                e.client_reason()
            ))
        } else {
            ServiceError::Media(e)
        }
    })
}

/// What is known of a stored output, to record it.
struct StoredOutput<'a> {
    kind: FileKind,
    storage_key: String,
    playlist_key: Option<String>,
    info: &'a MediaInfo,
    size: u64,
    /// Peak bits per second when measured (HLS byte ranges).
    peak_bitrate: Option<u64>,
}

impl StoredOutput<'_> {
    fn facts(self) -> FileFacts {
        let info = self.info;
        let (width, height, fps) = match &info.video {
            Some(v) if !v.is_still_image => (v.width as i32, v.height as i32, v.fps.unwrap_or(0.0)),
            _ => (0, 0, 0.0),
        };
        let bitrate = self.peak_bitrate.or(info.bit_rate).or_else(|| {
            info.duration
                .filter(|d| *d > 0.0)
                .map(|d| (self.size as f64 * 8.0 / d).ceil() as u64)
        });
        FileFacts {
            kind: self.kind,
            storage_key: self.storage_key,
            playlist_key: self.playlist_key,
            resolution: i32::try_from(info.resolution()).unwrap_or(0),
            width,
            height,
            fps,
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            bitrate: bitrate.and_then(|b| i64::try_from(b).ok()),
            codecs: info.codecs_string(),
            format: Some(info.format_name.clone()),
            metadata: Some(info.raw.to_string()),
        }
    }
}

/// Stores an HLS rendition: the runner's fragmented MP4 and its media playlist (checked
/// to reference only that file, then renamed to the stored name), records it and
/// rebuilds `master.m3u8`. `resolution` is the job's requested resolution (the name of
/// the outputs); `video_file` and `playlist_file` are local temporary files, consumed.
pub async fn store_hls(
    ctx: &Context,
    video_id: i64,
    resolution: i32,
    video_file: &Path,
    playlist_file: &Path,
) -> Result<(), ServiceError> {
    let video = load_video(ctx, video_id).await?;
    let info = probe_output(ctx, video_file).await?;
    let playlist_text = tokio::fs::read(playlist_file).await.map_err(|e| {
        tracing::error!(error = %e, "cannot read an uploaded playlist");
        ServiceError::Invalid("cannot read the uploaded playlist".to_owned())
    })?;
    if playlist_text.len() as u64 > MAX_PLAYLIST_BYTES {
        return Err(ServiceError::Invalid(
            "the uploaded playlist is too large".to_owned(),
        ));
    }
    let playlist_text = String::from_utf8(playlist_text)
        .map_err(|_| ServiceError::Invalid("the uploaded playlist is not UTF-8 text".to_owned()))?;
    let mp4_key = keys::hls_video(&video.directory, &video.base_filename, resolution);
    let playlist_key = keys::hls_playlist(&video.directory, &video.base_filename, resolution);
    let rewritten = hls::rewrite_media_playlist(&playlist_text, keys::file_name(&mp4_key))
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;

    let size = ctx.storage.put_file(&mp4_key, video_file).await?;
    ctx.storage
        .put_bytes(&playlist_key, rewritten.text.into_bytes())
        .await?;
    let facts = StoredOutput {
        kind: FileKind::Hls,
        storage_key: mp4_key,
        playlist_key: Some(playlist_key),
        info: &info,
        size,
        peak_bitrate: rewritten.peak_bandwidth,
    }
    .facts();
    let stored = [
        facts.storage_key.clone(),
        facts.playlist_key.clone().unwrap_or_default(),
    ];
    if let Err(e) = record_and_rebuild(ctx, video, facts).await {
        remove_unrecorded(&ctx.storage, &stored).await;
        return Err(e);
    }
    refresh_state(ctx, video_id).await?;
    Ok(())
}

/// Deletes objects whose row could not be recorded (the video was deleted meanwhile,
/// or the database failed), so that nothing outlives its video.
async fn remove_unrecorded(storage: &Storage, keys: &[String]) {
    for key in keys.iter().filter(|k| !k.is_empty()) {
        if let Err(e) = storage.delete(key).await {
            tracing::error!(key, error = %e, "cannot remove an unrecorded rendition");
        }
    }
}

/// What an MP4 output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mp4Kind {
    /// A web-video rendition.
    WebVideo,
    /// The audio merged with its cover: a web-video rendition when the video has web
    /// videos, else an intermediate file (see [`FileKind::Intermediate`]).
    MergedAudio,
}

/// Stores a web-video rendition and records it. `video_file` is consumed.
pub async fn store_web_video(
    ctx: &Context,
    video_id: i64,
    resolution: i32,
    video_file: &Path,
) -> Result<(), ServiceError> {
    store_mp4(ctx, video_id, resolution, video_file, Mp4Kind::WebVideo).await
}

/// Stores an MP4 output and records it. `video_file` is consumed.
pub async fn store_mp4(
    ctx: &Context,
    video_id: i64,
    resolution: i32,
    video_file: &Path,
    kind: Mp4Kind,
) -> Result<(), ServiceError> {
    let video = load_video(ctx, video_id).await?;
    let info = probe_output(ctx, video_file).await?;
    let (kind, key) = match kind {
        Mp4Kind::MergedAudio if !video.options.web_videos => (
            FileKind::Intermediate,
            keys::intermediate(&video.directory, &video.base_filename, resolution),
        ),
        _ => (
            FileKind::WebVideo,
            keys::web_video(&video.directory, &video.base_filename, resolution),
        ),
    };
    let size = ctx.storage.put_file(&key, video_file).await?;
    let facts = StoredOutput {
        kind,
        storage_key: key,
        playlist_key: None,
        info: &info,
        size,
        peak_bitrate: None,
    }
    .facts();
    let stored = [facts.storage_key.clone()];
    if let Err(e) = record_and_rebuild(ctx, video, facts).await {
        remove_unrecorded(&ctx.storage, &stored).await;
        return Err(e);
    }
    refresh_state(ctx, video_id).await?;
    Ok(())
}

/// Records `row` and, for HLS, rewrites the master playlist, all under the video lock.
async fn record_and_rebuild(
    ctx: &Context,
    video: Video,
    facts: FileFacts,
) -> Result<(), ServiceError> {
    let storage = ctx.storage.clone();
    let handle = tokio::runtime::Handle::current();
    let is_hls = facts.kind == FileKind::Hls;
    let now = ctx.now();
    ctx.db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, video.id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                db::videos::replace_file(conn, video.id, &facts, now)?;
                if is_hls {
                    write_master(conn, &handle, &storage, &video, now)?;
                }
                Ok(())
            })
        })
        .await
}

/// Rebuilds `master.m3u8` from the committed HLS rows (call with the video locked).
fn write_master(
    conn: &mut DbConnection,
    handle: &tokio::runtime::Handle,
    storage: &Storage,
    video: &Video,
    now: chrono::NaiveDateTime,
) -> Result<(), ServiceError> {
    let master_key = keys::master(&video.directory);
    let files = db::videos::files(conn, video.id)?;
    let variants: Vec<Variant> = files
        .iter()
        .filter(|f| f.kind == FileKind::Hls)
        .filter_map(|f| {
            let playlist = f.playlist_key.as_deref()?;
            Some(Variant {
                uri: keys::file_name(playlist).to_owned(),
                bandwidth: f.bitrate.and_then(|b| u64::try_from(b).ok()).unwrap_or(1),
                average_bandwidth: None,
                resolution: (f.width > 0 && f.height > 0)
                    .then_some((f.width as u32, f.height as u32)),
                frame_rate: (f.fps > 0.0).then_some(f.fps),
                codecs: f.codecs.clone(),
            })
        })
        .collect();
    db::videos::ensure_streaming_playlist(conn, video.id, &master_key, now)?;
    let text = hls::master_playlist(&variants);
    handle.block_on(storage.put_bytes(&master_key, text.into_bytes()))?;
    Ok(())
}

/// Recomputes a VOD video's state from its jobs and published renditions
/// (idempotent; call after any job of the video completes, fails for good or is
/// cancelled). Once every job has ended, the intermediate files no job needs any more
/// are deleted. Lives, studio edits in progress, submissions still storing their
/// source and deleted videos are left alone. Returns the state now stored.
pub async fn refresh_state(
    ctx: &Context,
    video_id: i64,
) -> Result<Option<VideoState>, ServiceError> {
    let now = ctx.now();
    let (next, unneeded) = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let Some(video) = db::videos::find(conn, video_id)? else {
                    return Ok((None, Vec::new()));
                };
                let current = video.state;
                if !matches!(
                    current,
                    VideoState::ToTranscode
                        | VideoState::Playable
                        | VideoState::Published
                        | VideoState::TranscodingFailed
                ) {
                    return Ok((Some(current), Vec::new()));
                }
                let jobs = db::jobs::states_of_video(conn, video_id)?;
                let has_rendition = db::videos::files(conn, video_id)?
                    .iter()
                    .any(|f| f.kind.is_published());
                let next = derive_vod_state(&jobs, has_rendition);
                if next != current {
                    let error = match next {
                        VideoState::TranscodingFailed => {
                            db::jobs::last_error_of_video(conn, video_id)?
                                .or_else(|| Some("Every job was cancelled".to_owned()))
                        }
                        _ => None,
                    };
                    db::videos::set_state(conn, video_id, next, error.as_deref(), now)?;
                    tracing::info!(video_id, state = next.name(), "video state changed");
                }
                // A job that ended never runs again: nothing will read these.
                let unneeded = if jobs.iter().all(|s| s.is_final()) {
                    db::videos::remove_files_of_kind(conn, video_id, FileKind::Intermediate)?
                } else {
                    Vec::new()
                };
                Ok::<_, ServiceError>((Some(next), unneeded))
            })
        })
        .await?;
    for key in &unneeded {
        if let Err(e) = ctx.storage.delete(key).await {
            tracing::error!(key, error = %e, "cannot delete an intermediate file");
        }
    }
    Ok(next)
}
