//! What `storage.serve_path` serves: the published outputs of videos, decided by their
//! rows, never by a key's shape. An object is served only when the video whose
//! folder holds it records it as an HLS or web-video file or playlist, its
//! thumbnail, master playlist, a caption or its storyboard. Sources (uploaded or
//! named by `filePath`), intermediate files, and anything else a folder may hold
//! are not served, whatever the URL. With S3 storage nothing is served unless
//! `storage.s3.output_urls = "proxy"`: output URLs then point at the bucket.

use crate::db;
use crate::error::ServiceError;
use crate::service::Context;
use crate::storage::{Audience, Delivery, StorageError, validate_key};

/// The published object `key`, ready to send, or [`ServiceError::NotFound`] (also
/// for keys that are not valid, not published, or reached through a symbolic link).
pub async fn deliver(state: &Context, key: &str) -> Result<Delivery, ServiceError> {
    const NOT_FOUND: ServiceError = ServiceError::NotFound("File");
    if !state.storage.serves_published() {
        return Err(NOT_FOUND);
    }
    let key = validate_key(key).map_err(|_| NOT_FOUND)?.to_owned();
    let lookup = key.clone();
    let published = state
        .db
        .run(move |conn| {
            let Some(video) = db::outputs::video_holding(conn, &lookup)? else {
                return Ok(false);
            };
            db::outputs::is_published(conn, &video, &lookup)
        })
        .await?;
    if !published {
        return Err(NOT_FOUND);
    }
    state
        .storage
        .deliver(&key, Audience::Public)
        .await
        .map_err(|e| match e {
            StorageError::NotFound(_) | StorageError::InvalidKey(_) => NOT_FOUND,
            other => other.into(),
        })
}
