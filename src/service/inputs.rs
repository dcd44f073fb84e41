//! Which stored file a runner downloads for a job input (`runner-protocol.md` 2).

use crate::db;
use crate::domain::ids::VideoUuid;
use crate::domain::video::{FileKind, keys};
use crate::error::ServiceError;
use crate::service::Context;
use crate::storage::{Audience, Delivery, StorageError};

/// The input a download URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    /// `/max-quality`: the best video file: the source (for an audio-only source, the
    /// MP4 its audio-merge job made, once it exists).
    MaxQuality,
    /// `/max-quality/audio`: the best audio file: the source too (no split audio here).
    MaxQualityAudio,
    /// `/previews/max-quality`: the preview image (the thumbnail).
    Preview,
    /// `/studio/task-files/{name}`: an intro, outro or watermark file (name checked by
    /// the caller against the job's tasks).
    StudioTaskFile(String),
}

/// The input `kind` of video `video_uuid`, ready to send ([`ServiceError::NotFound`]
/// when it is not stored).
pub async fn deliver(
    ctx: &Context,
    video_uuid: VideoUuid,
    kind: InputKind,
) -> Result<Delivery, ServiceError> {
    let (video, files) = ctx
        .db
        .run(move |conn| {
            let video = db::videos::find_by_uuid(conn, video_uuid)?
                .ok_or(ServiceError::NotFound("Video"))?;
            let files = db::videos::files(conn, video.id)?;
            Ok::<_, ServiceError>((video, files))
        })
        .await?;
    let source = files.iter().find(|f| f.kind == FileKind::Source);
    // An audio-only source merged with its cover (audio-merge job): the jobs after the
    // merge transcode the merged MP4 (a web video, or an intermediate file when web
    // videos are off), the best file with a picture.
    let merged = files
        .iter()
        .filter(|f| matches!(f.kind, FileKind::WebVideo | FileKind::Intermediate) && f.width > 0)
        .max_by_key(|f| f.resolution);
    let best = match (source, merged) {
        (Some(s), Some(m)) if kind == InputKind::MaxQuality && s.width == 0 => Some(m),
        (Some(s), _) => Some(s),
        (None, _) => files.iter().max_by_key(|f| f.resolution),
    };
    let key = match kind {
        InputKind::MaxQuality | InputKind::MaxQualityAudio => {
            best.map(|f| f.storage_key.clone())
                .ok_or(ServiceError::NotFound("Video file"))?
        }
        InputKind::Preview => video
            .thumbnail_key
            .ok_or(ServiceError::NotFound("Preview"))?,
        InputKind::StudioTaskFile(name) => keys::studio_task_file(&video.directory, &name),
    };
    ctx.storage
        .deliver(&key, Audience::Runner)
        .await
        .map_err(|e| match e {
            StorageError::NotFound(_) | StorageError::InvalidKey(_) => {
                ServiceError::NotFound("Video file")
            }
            other => other.into(),
        })
}
