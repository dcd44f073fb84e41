//! Captions of a video: stored from a transcription job's result or uploaded by the
//! application, listed in the video resource, served under `storage.serve_path` as
//! `text/vtt`, deleted one by one or with their video.
//!
//! Storing one ([`store`]): the file is checked (size, UTF-8, `WEBVTT` signature),
//! written under a key of its own (`domain::caption::key`: every version has a new
//! one), then one write transaction locks the video and records it, replacing the
//! caption of that language; after the commit the replaced version's object is
//! deleted. No two writers ever touch the same key, so an upload, a deletion and a
//! transcription finishing at the same time leave one consistent caption (or none),
//! never a row whose object was overwritten or removed. A machine caption never
//! replaces an uploaded one: the application's correction wins.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db;
use crate::domain::caption::{self, Caption, CaptionSource, Language, NewCaption, check_vtt};
use crate::domain::ids::VideoUuid;
use crate::domain::video::{Video, VideoState};
use crate::error::ServiceError;
use crate::service::{Context, timefmt};
use crate::storage::{StagedFile, Storage};

/// A caption in the video resource.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptionView {
    /// BCP 47 tag.
    pub language: Language,
    /// The WebVTT file (served as `text/vtt`).
    pub url: String,
    /// `auto` (a transcription) or `uploaded`.
    pub source: CaptionSource,
    /// Bytes.
    pub size: i64,
    /// First stored.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// Last replaced.
    #[serde(with = "timefmt")]
    pub updated_at: NaiveDateTime,
}

impl CaptionView {
    /// The view of `c`, with its public URL.
    pub fn new(storage: &Storage, c: &Caption) -> CaptionView {
        CaptionView {
            language: c.language.clone(),
            url: storage.url(&c.storage_key),
            source: c.source,
            size: c.size,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `GET …/captions`: `{total, data}`, by language.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CaptionList {
    /// How many.
    pub total: usize,
    /// The captions.
    pub data: Vec<CaptionView>,
}

/// Parses a caption language and checks it against `captions.languages`.
pub fn language(ctx: &Context, tag: &str) -> Result<Language, ServiceError> {
    let language = Language::parse(tag).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let allowed = &ctx.settings.captions.languages;
    if !allowed.is_empty() && !allowed.iter().any(|a| a == language.as_str()) {
        return Err(ServiceError::Invalid(format!(
            "`{language}` is not one of the languages this server accepts (captions.languages: {})",
            allowed.join(", ")
        )));
    }
    Ok(language)
}

/// Reads a staged caption file and checks it ([`check_vtt`], `captions.max_bytes`).
async fn checked(ctx: &Context, file: &StagedFile) -> Result<u64, ServiceError> {
    use tokio::io::AsyncReadExt;
    let limit = ctx.settings.captions.max_bytes;
    let mut bytes = Vec::new();
    let read = async {
        tokio::fs::File::open(file.path())
            .await?
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
    }
    .await;
    if let Err(e) = read {
        tracing::error!(error = %e, "cannot read an uploaded caption");
        return Err(ServiceError::Invalid(
            "cannot read the uploaded caption".to_owned(),
        ));
    }
    let size = bytes.len() as u64;
    if size > limit {
        return Err(ServiceError::InvalidCaption(
            caption::InvalidVtt::TooLarge { limit }.to_string(),
        ));
    }
    check_vtt(&bytes).map_err(|e| ServiceError::InvalidCaption(e.to_string()))?;
    Ok(size)
}

/// Where a caption to store comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The result of the transcription job with this id.
    Job(i64),
    /// The application's upload.
    Upload,
}

fn random_rev() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// Stores `file` (staged, consumed) as the caption of video `video_id` in `language`
/// (see the module documentation). A transcription's result ([`Origin::Job`]) also
/// sets the video's language, and never replaces an uploaded caption
/// ([`ServiceError::Conflict`], nothing kept). [`ServiceError::InvalidCaption`] when
/// the file is not acceptable, [`ServiceError::NotFound`] when the video is gone
/// (also when it is deleted meanwhile: what was written is removed). Returns the
/// caption and whether it replaced one.
pub async fn store(
    ctx: &Context,
    video_id: i64,
    language: Language,
    origin: Origin,
    file: StagedFile,
) -> Result<(Caption, bool), ServiceError> {
    let video = ctx
        .db
        .run(move |conn| db::videos::find(conn, video_id))
        .await?
        .ok_or(ServiceError::NotFound("Video"))?;
    let size = checked(ctx, &file).await?;
    let key = caption::key(
        &video.directory,
        &video.base_filename,
        &language,
        &random_rev(),
    );
    if let Err(e) = ctx.storage.put_file(&key, file).await {
        remove(&ctx.storage, &key).await;
        return Err(e.into());
    }
    let (source, job_id) = match origin {
        Origin::Job(id) => (CaptionSource::Auto, Some(id)),
        Origin::Upload => (CaptionSource::Uploaded, None),
    };
    let new = NewCaption {
        language,
        storage_key: key.clone(),
        source,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        job_id,
    };
    let now = ctx.now();
    let recorded = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, video_id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                if source == CaptionSource::Auto {
                    if let Some(kept) = db::captions::find(conn, video_id, &new.language)?
                        && kept.source == CaptionSource::Uploaded
                    {
                        return Err(ServiceError::Conflict(format!(
                            "the video has an uploaded caption in `{}`, which a transcription \
                             never replaces (delete it, then ask for a transcription again)",
                            kept.language
                        )));
                    }
                    db::videos::set_language(conn, video_id, new.language.as_str(), now)?;
                }
                Ok::<_, ServiceError>(db::captions::replace(conn, video_id, &new, now)?)
            })
        })
        .await;
    match recorded {
        Ok((caption, replaced)) => {
            let was_replaced = replaced.is_some();
            if let Some(old) = replaced.filter(|o| o.storage_key != caption.storage_key) {
                remove(&ctx.storage, &old.storage_key).await;
            }
            Ok((caption, was_replaced))
        }
        Err(e) => {
            remove(&ctx.storage, &key).await;
            Err(e)
        }
    }
}

async fn remove(storage: &Storage, key: &str) {
    if let Err(e) = storage.delete(key).await {
        tracing::error!(key, error = %e, "cannot delete a caption file");
    }
}

/// The video `uuid`, which must have finished importing.
async fn video_ready(ctx: &Context, uuid: VideoUuid) -> Result<Video, ServiceError> {
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
    Ok(video)
}

/// `PUT /api/v1/videos/{uuid}/captions/{lang}`: stores the application's caption in
/// `language` (replacing any caption in that language, a transcription's too).
/// Returns it, and whether it replaced one.
pub async fn upload(
    ctx: &Context,
    uuid: VideoUuid,
    language: &str,
    file: StagedFile,
) -> Result<(CaptionView, bool), ServiceError> {
    let language = self::language(ctx, language)?;
    let video = video_ready(ctx, uuid).await?;
    let (caption, replaced) = store(ctx, video.id, language, Origin::Upload, file).await?;
    Ok((CaptionView::new(&ctx.storage, &caption), replaced))
}

/// `DELETE /api/v1/videos/{uuid}/captions/{lang}`: removes the row, then (after the
/// commit) its object, and nothing else. [`ServiceError::NotFound`] (`Caption`) when
/// the video has no caption in that language.
pub async fn delete(ctx: &Context, uuid: VideoUuid, language: &str) -> Result<(), ServiceError> {
    let language = Language::parse(language).map_err(|_| ServiceError::NotFound("Caption"))?;
    let now = ctx.now();
    let removed = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video =
                    db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
                db::videos::lock(conn, video.id, now)?;
                db::captions::remove(conn, video.id, &language)?
                    .ok_or(ServiceError::NotFound("Caption"))
            })
        })
        .await?;
    remove(&ctx.storage, &removed.storage_key).await;
    Ok(())
}

/// `GET /api/v1/videos/{uuid}/captions`.
pub async fn list(ctx: &Context, uuid: VideoUuid) -> Result<CaptionList, ServiceError> {
    let captions = ctx
        .db
        .run(move |conn| {
            let video =
                db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
            Ok::<_, ServiceError>(db::captions::of_videos(conn, &[video.id])?)
        })
        .await?;
    let data: Vec<CaptionView> = captions
        .iter()
        .map(|c| CaptionView::new(&ctx.storage, c))
        .collect();
    Ok(CaptionList {
        total: data.len(),
        data,
    })
}
