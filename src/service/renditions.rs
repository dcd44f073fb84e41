//! Video-side completion of VOD jobs: store a runner's output under the video's folder
//! with a stable name, record the rendition with what ffprobe says of it, rebuild the
//! master playlist, and move the video's state.
//!
//! Order (no storage I/O inside a database transaction): the rendition's objects are
//! written first; one write transaction then locks the video row
//! (`db::videos::lock`) and records the rendition (and the master playlist's row);
//! after the commit, [`rebuild_master`] writes `master.m3u8` from the committed rows.
//! A failure deletes what was written and recorded. A re-run of a job overwrites its
//! own files and row (idempotent).
//!
//! Concurrency: the master is rebuilt by whoever commits a rendition, then read back
//! from the rows: a rebuild ends only once the rows, read after its write, still give
//! the text it wrote. Two siblings completing at the same instant (on one instance or
//! two) therefore leave a master listing both, whatever the order of their writes:
//! the last write is always followed by a check against rows that include every
//! commit made before it.

use crate::db::{self, DbError};
use crate::domain::job::JobType;
use crate::domain::lifecycle::policy;
use crate::domain::video::{
    FileFacts, FileKind, Video, VideoFile, VideoState, derive_vod_state, keys,
};
use crate::error::ServiceError;
use crate::media::MediaInfo;
use crate::media::hls::{self, Variant};
use crate::service::Context;
use crate::service::webhooks::{Emitted, Notice, Outbox};
use crate::storage::{StagedFile, Storage};

/// Largest media playlist accepted from a runner.
const MAX_PLAYLIST_BYTES: u64 = 16 * 1024 * 1024;
/// Rebuilds of one master playlist before giving up (each further round needs yet
/// another rendition committed between a write and its check).
const MAX_REBUILDS: usize = 32;

async fn load_video(state: &Context, video_id: i64) -> Result<Video, ServiceError> {
    state
        .db
        .run(move |conn| db::videos::find(conn, video_id))
        .await?
        .ok_or(ServiceError::NotFound("Video"))
}

/// Probes a runner's output; a file that is not media is the runner's fault, said
/// without ffprobe's words (they name server paths: logged instead).
async fn probe_output(state: &Context, file: &StagedFile) -> Result<MediaInfo, ServiceError> {
    state.media.probe(file.path()).await.map_err(|e| {
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
/// the outputs); `video_file` and `playlist_file` are staged uploads, consumed.
pub async fn store_hls(
    state: &Context,
    video_id: i64,
    resolution: i32,
    video_file: StagedFile,
    playlist_file: StagedFile,
) -> Result<(), ServiceError> {
    let video = load_video(state, video_id).await?;
    let info = probe_output(state, &video_file).await?;
    let playlist_text = read_playlist(playlist_file).await?;
    let base = video.output_base();
    let mp4_key = keys::hls_video(&video.directory, &base, resolution);
    let playlist_key = keys::hls_playlist(&video.directory, &base, resolution);
    let rewritten = hls::rewrite_media_playlist(&playlist_text, keys::file_name(&mp4_key))
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;

    let written = [mp4_key.clone(), playlist_key.clone()];
    let stored = async {
        let size = state.storage.put_file(&mp4_key, video_file).await?;
        state
            .storage
            .put_bytes(&playlist_key, rewritten.text.into_bytes())
            .await?;
        Ok::<_, ServiceError>(size)
    }
    .await;
    let size = match stored {
        Ok(size) => size,
        Err(e) => {
            remove_unrecorded(&state.storage, &written).await;
            return Err(e);
        }
    };
    let facts = StoredOutput {
        kind: edition_kind(&video, FileKind::Hls),
        storage_key: mp4_key,
        playlist_key: Some(playlist_key),
        info: &info,
        size,
        peak_bitrate: rewritten.peak_bandwidth,
    }
    .facts();
    let replaced = record(state, &video, facts, &written).await?;
    if let Err(e) = rebuild_master(state, video_id).await {
        tracing::error!(video_id, error = %e, "cannot write the master playlist; undoing the rendition");
        unrecord(state, video_id, &written).await;
        return Err(e);
    }
    remove_replaced(state, &replaced).await;
    refresh_state(state, video_id).await?;
    Ok(())
}

/// The kind a new rendition of `kind` is recorded as: before the switch to a studio
/// edit's renditions ([`crate::domain::video::VideoOptions::switch_at`]) its
/// `next-…` kind, so that clients keep seeing the renditions of the edition before.
fn edition_kind(video: &Video, kind: FileKind) -> FileKind {
    if video.options.switch_at.is_some() {
        kind.before_switch()
    } else {
        kind
    }
}

/// Whether recording `facts` switches `video` to its studio edit's renditions: it is
/// the edit's top rendition of the kind the master playlist (or, without HLS, the
/// web videos) is made of.
fn switches(video: &Video, facts: &FileFacts) -> bool {
    let kind = if video.options.hls {
        FileKind::NextHls
    } else {
        FileKind::NextWebVideo
    };
    facts.kind == kind
        && video
            .options
            .switch_at
            .is_some_and(|at| i64::from(facts.resolution) >= i64::from(at))
}

/// Deletes the objects of the renditions a switch replaced (their rows are gone and
/// the master playlist no longer lists them).
pub(crate) async fn remove_replaced(state: &Context, keys: &[String]) {
    for key in keys {
        if let Err(e) = state.storage.delete(key).await {
            tracing::error!(key, error = %e, "cannot remove a replaced rendition");
        }
    }
}

/// Reads a runner's media playlist (UTF-8, at most [`MAX_PLAYLIST_BYTES`]).
async fn read_playlist(file: StagedFile) -> Result<String, ServiceError> {
    use tokio::io::AsyncReadExt;
    let mut text = Vec::new();
    let read = async {
        tokio::fs::File::open(file.path())
            .await?
            .take(MAX_PLAYLIST_BYTES + 1)
            .read_to_end(&mut text)
            .await
    }
    .await;
    if let Err(e) = read {
        tracing::error!(error = %e, "cannot read an uploaded playlist");
        return Err(ServiceError::Invalid(
            "cannot read the uploaded playlist".to_owned(),
        ));
    }
    if text.len() as u64 > MAX_PLAYLIST_BYTES {
        return Err(ServiceError::Invalid(
            "the uploaded playlist is too large".to_owned(),
        ));
    }
    String::from_utf8(text)
        .map_err(|_| ServiceError::Invalid("the uploaded playlist is not UTF-8 text".to_owned()))
}

/// Deletes objects whose row could not be recorded (the video was deleted meanwhile,
/// or the database failed), so that nothing outlives its video.
async fn remove_unrecorded(storage: &Storage, keys: &[String]) {
    for key in keys {
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
    state: &Context,
    video_id: i64,
    resolution: i32,
    video_file: StagedFile,
) -> Result<(), ServiceError> {
    store_mp4(state, video_id, resolution, video_file, Mp4Kind::WebVideo).await
}

/// Stores an MP4 output and records it. `video_file` is consumed.
pub async fn store_mp4(
    state: &Context,
    video_id: i64,
    resolution: i32,
    video_file: StagedFile,
    kind: Mp4Kind,
) -> Result<(), ServiceError> {
    let video = load_video(state, video_id).await?;
    let info = probe_output(state, &video_file).await?;
    let base = video.output_base();
    let (kind, key) = match kind {
        Mp4Kind::MergedAudio if !video.options.web_videos => (
            FileKind::Intermediate,
            keys::intermediate(&video.directory, &base, resolution),
        ),
        _ => (
            edition_kind(&video, FileKind::WebVideo),
            keys::web_video(&video.directory, &base, resolution),
        ),
    };
    let written = [key.clone()];
    let size = match state.storage.put_file(&key, video_file).await {
        Ok(size) => size,
        Err(e) => {
            remove_unrecorded(&state.storage, &written).await;
            return Err(e.into());
        }
    };
    let facts = StoredOutput {
        kind,
        storage_key: key,
        playlist_key: None,
        info: &info,
        size,
        peak_bitrate: None,
    }
    .facts();
    let replaced = record(state, &video, facts, &written).await?;
    if !replaced.is_empty()
        && let Err(e) = rebuild_master(state, video_id).await
    {
        tracing::error!(video_id, error = %e, "cannot write the master playlist after a switch");
    }
    remove_replaced(state, &replaced).await;
    refresh_state(state, video_id).await?;
    Ok(())
}

/// Records `row` (and, for HLS, the master playlist's row) in one transaction under
/// the video lock; on failure deletes the objects `written`. When the row is a studio
/// edit's top rendition, the same transaction switches the video to the edit's
/// renditions ([`db::videos::switch_edition`]) and the keys of the replaced ones are
/// returned, to delete once the master playlist is rebuilt.
async fn record(
    state: &Context,
    video: &Video,
    facts: FileFacts,
    written: &[String],
) -> Result<Vec<String>, ServiceError> {
    let is_hls = matches!(facts.kind, FileKind::Hls | FileKind::NextHls);
    let (id, master_key, now) = (video.id, keys::master(&video.directory), state.now());
    let recorded = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, id, now)? {
                    return Ok(None);
                }
                // Read under the lock: a switch may have happened since the caller
                // read the video.
                let Some(current) = db::videos::find(conn, id)? else {
                    return Ok(None);
                };
                let mut facts = facts;
                if current.options.switch_at.is_none() {
                    facts.kind = match facts.kind {
                        FileKind::NextHls => FileKind::Hls,
                        FileKind::NextWebVideo => FileKind::WebVideo,
                        other => other,
                    };
                }
                db::videos::replace_file(conn, id, &facts, now)?;
                if is_hls {
                    db::videos::ensure_streaming_playlist(conn, id, &master_key, now)?;
                }
                if switches(&current, &facts) {
                    tracing::info!(video_id = id, "switching to the studio edit's renditions");
                    return Ok(Some(db::videos::switch_edition(conn, &current, now)?));
                }
                Ok::<_, DbError>(Some(Vec::new()))
            })
        })
        .await;
    let failure = match recorded {
        Ok(Some(replaced)) => return Ok(replaced),
        Ok(None) => ServiceError::NotFound("Video"),
        Err(e) => e.into(),
    };
    remove_unrecorded(&state.storage, written).await;
    Err(failure)
}

/// Undoes a recorded rendition whose master playlist could not be written: its row
/// (if still the one with these keys), then its objects, then a last rebuild.
async fn unrecord(state: &Context, video_id: i64, written: &[String]) {
    let key = written.first().cloned().unwrap_or_default();
    let removed = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| db::videos::remove_file(conn, video_id, &key))
        })
        .await;
    if let Err(e) = removed {
        tracing::error!(video_id, error = %e, "cannot remove the row of an undone rendition");
        return;
    }
    remove_unrecorded(&state.storage, written).await;
    if let Err(e) = rebuild_master(state, video_id).await {
        tracing::error!(video_id, error = %e, "cannot rebuild the master playlist");
    }
}

/// The master playlist the committed rows describe: its key and text, or `None`
/// when the video (or its HLS playlist row) no longer exists.
async fn committed_master(
    state: &Context,
    video_id: i64,
) -> Result<Option<(String, String)>, ServiceError> {
    Ok(state
        .db
        .run(move |conn| {
            let Some(master_key) = db::videos::master_playlist(conn, video_id)? else {
                return Ok(None);
            };
            let files = db::videos::files(conn, video_id)?;
            Ok::<_, DbError>(Some((master_key, master_text(&files))))
        })
        .await?)
}

/// `master.m3u8` listing the HLS renditions among `files`.
fn master_text(files: &[VideoFile]) -> String {
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
    hls::master_playlist(&variants)
}

/// Writes `master.m3u8` from the committed rows until the rows, read again after the
/// write, still give what was written (see the module documentation). Should the
/// video be deleted meanwhile, the master written after its deletion is removed
/// (unless another video now owns that folder: that one's master is rebuilt).
pub async fn rebuild_master(state: &Context, video_id: i64) -> Result<(), ServiceError> {
    let mut written: Option<(String, String)> = None;
    for _ in 0..MAX_REBUILDS {
        let current = committed_master(state, video_id).await?;
        match (current, &written) {
            (Some(now), Some(before)) if &now == before => return Ok(()),
            (None, None) => return Ok(()),
            (None, Some((key, _))) => {
                remove_orphan_master(state, key).await;
                return Ok(());
            }
            (Some((key, text)), _) => {
                state.storage.put_bytes(&key, text.clone()).await?;
                written = Some((key, text));
            }
        }
    }
    Err(ServiceError::Db(DbError::Task(format!(
        "the master playlist of video {video_id} kept changing over {MAX_REBUILDS} rebuilds"
    ))))
}

/// A master playlist written for a video deleted meanwhile.
async fn remove_orphan_master(state: &Context, key: &str) {
    let lookup = key.to_owned();
    match state
        .db
        .run(move |conn| db::outputs::video_holding(conn, &lookup))
        .await
    {
        Ok(None) => {
            if let Err(e) = state.storage.delete(key).await {
                tracing::error!(key, error = %e, "cannot remove the master playlist of a deleted video");
            }
        }
        // The folder is another video's now: restore its master.
        Ok(Some(other)) => {
            if let Err(e) = Box::pin(rebuild_master(state, other.id)).await {
                tracing::error!(key, error = %e, "cannot rebuild a master playlist");
            }
        }
        Err(e) => tracing::error!(key, error = %e, "cannot check who owns a master playlist"),
    }
}

/// The events of a state change from `current` to `next` (the same state: none).
/// A video that becomes published without having been playable was playable first.
fn state_notices(
    current: VideoState,
    next: VideoState,
    has_rendition: bool,
    error: Option<&str>,
) -> Vec<Notice<'_>> {
    match (current, next) {
        (a, b) if a == b => Vec::new(),
        (VideoState::ToTranscode, VideoState::Playable) => vec![Notice::Playable],
        (VideoState::ToTranscode, VideoState::Published) if has_rendition => {
            vec![Notice::Playable, Notice::Published]
        }
        (_, VideoState::Published) => vec![Notice::Published],
        (_, VideoState::TranscodingFailed) => {
            vec![Notice::Failed(error.unwrap_or("Transcoding failed"))]
        }
        _ => Vec::new(),
    }
}

/// Recomputes a VOD video's state from its jobs (those of the types whose
/// [`policy`] says the video follows them) and published renditions
/// (idempotent; call after any job of the video completes, fails for good or is
/// cancelled, or a failed one is retried), and records the events of what changed in
/// the same transaction: a `video.rendition.ready` for each rendition not announced yet
/// (so an HLS rendition is announced once its master playlist lists it), then
/// `video.playable`, `video.published` or `video.failed`. Once every job has ended and
/// the video did not fail, the intermediate files no job needs any more are deleted.
/// Lives, studio edits in progress, submissions still storing their source and deleted
/// videos are left alone. Returns the state now stored.
pub async fn refresh_state(
    state: &Context,
    video_id: i64,
) -> Result<Option<VideoState>, ServiceError> {
    let (now, outbox) = (state.now(), Outbox::of(state));
    let following: Vec<JobType> = JobType::ALL
        .into_iter()
        .filter(|t| policy(*t).video_follows_jobs)
        .collect();
    let (next, unneeded, emitted, switched) = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let mut switched = false;
                let Some(video) = db::videos::find(conn, video_id)? else {
                    return Ok((None, Vec::new(), Emitted::default(), false));
                };
                let current = video.state;
                if !matches!(
                    current,
                    VideoState::ToTranscode
                        | VideoState::Playable
                        | VideoState::Published
                        | VideoState::TranscodingFailed
                ) {
                    return Ok((Some(current), Vec::new(), Emitted::default(), false));
                }
                // Only the jobs the video's state follows: a transcription (or any
                // job of a type that does not follow) never moves it.
                let jobs = db::jobs::states_of_video(conn, video_id, &following)?;
                // A studio edit whose top rendition never came (its job cancelled)
                // switches once every job ended well.
                let mut replaced = Vec::new();
                let ended_well = jobs.iter().all(|s| s.is_final())
                    && derive_vod_state(&jobs, true) == VideoState::Published;
                if video.options.switch_at.is_some() && ended_well {
                    replaced = db::videos::switch_edition(conn, &video, now)?;
                    switched = true;
                }
                let files = db::videos::files(conn, video_id)?;
                let has_rendition = files.iter().any(|f| f.kind.is_published());
                let next = derive_vod_state(&jobs, has_rendition);
                let mut error = None;
                if next != current {
                    error = match next {
                        VideoState::TranscodingFailed => {
                            db::jobs::last_error_of_video(conn, video_id, &following)?
                                .or_else(|| Some("Every job was cancelled".to_owned()))
                        }
                        _ => None,
                    };
                    db::videos::set_state(conn, video_id, next, error.as_deref(), now)?;
                    tracing::info!(video_id, state = next.name(), "video state changed");
                }
                let unannounced: Vec<VideoFile> = files
                    .into_iter()
                    .filter(|f| f.kind.is_published() && f.announced_at.is_none())
                    .collect();
                db::webhooks::mark_announced(conn, &unannounced, now)?;
                let mut notices: Vec<Notice<'_>> =
                    unannounced.iter().map(Notice::RenditionReady).collect();
                notices.extend(state_notices(
                    current,
                    next,
                    has_rendition,
                    error.as_deref(),
                ));
                let emitted = outbox.record(conn, video_id, &notices, now)?;
                // Once every job ended nothing reads these, unless the video failed:
                // a retry (`service::jobs::retry`) runs its failed jobs again, on
                // these inputs.
                // Likewise the source a studio edit replaced, and an edit whose top
                // rendition never came (its job cancelled) switches now.
                let unneeded =
                    if jobs.iter().all(|s| s.is_final()) && next != VideoState::TranscodingFailed {
                        let mut keys = std::mem::take(&mut replaced);
                        keys.extend(db::videos::remove_files_of_kind(
                            conn,
                            video_id,
                            FileKind::Intermediate,
                        )?);
                        keys.extend(db::videos::remove_files_of_kind(
                            conn,
                            video_id,
                            FileKind::ReplacedSource,
                        )?);
                        keys
                    } else {
                        Vec::new()
                    };
                Ok::<_, DbError>((Some(next), unneeded, emitted, switched))
            })
        })
        .await?;
    emitted.publish(&state.events);
    if switched && let Err(e) = rebuild_master(state, video_id).await {
        tracing::error!(video_id, error = %e, "cannot write the master playlist after a switch");
    }
    for key in &unneeded {
        if let Err(e) = state.storage.delete(key).await {
            tracing::error!(key, error = %e, "cannot delete an intermediate file");
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::webhook::EventType;
    use VideoState::*;

    fn types(current: VideoState, next: VideoState, has_rendition: bool) -> Vec<EventType> {
        state_notices(current, next, has_rendition, Some("why"))
            .iter()
            .map(Notice::event_type)
            .collect()
    }

    #[test]
    fn each_state_change_has_its_events() {
        assert_eq!(types(ToTranscode, ToTranscode, false), []);
        assert_eq!(types(Playable, Playable, true), []);
        assert_eq!(
            types(ToTranscode, Playable, true),
            [EventType::VideoPlayable]
        );
        assert_eq!(
            types(Playable, Published, true),
            [EventType::VideoPublished]
        );
        // Published without ever being playable: playable first.
        assert_eq!(
            types(ToTranscode, Published, true),
            [EventType::VideoPlayable, EventType::VideoPublished]
        );
        assert_eq!(
            types(ToTranscode, Published, false),
            [EventType::VideoPublished]
        );
        assert_eq!(
            types(Playable, TranscodingFailed, true),
            [EventType::VideoFailed]
        );
        assert_eq!(
            types(Published, TranscodingFailed, true),
            [EventType::VideoFailed]
        );
        let failed = state_notices(ToTranscode, TranscodingFailed, false, Some("boom"));
        assert!(matches!(failed[..], [Notice::Failed("boom")]));
    }
}
