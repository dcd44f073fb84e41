//! Uploading a local file: one `PutObject` up to the part size, a multipart upload
//! above it. Every request body is read from the file at its offset as it is sent,
//! so memory stays flat whatever the size (a few read buffers per part in flight).
//! A multipart upload that fails, or whose caller goes away, is aborted, so that no
//! unfinished upload keeps its parts stored.

use std::path::Path;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures_util::{StreamExt, TryStreamExt};

use super::super::StorageError;
use super::S3Storage;
use super::error::storage_error;

/// S3's limit on the parts of one upload.
const MAX_PARTS: u64 = 10_000;

fn read_error(key: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io {
        key: key.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The part size for `size` bytes: `configured`, or larger when that would need more
/// than [`MAX_PARTS`] parts.
pub(super) fn part_size(size: u64, configured: u64) -> u64 {
    configured.max(size.div_ceil(MAX_PARTS))
}

/// Stores the file at `path` (`size` bytes) as `object` (the full key, prefix
/// included); `key` names it in errors.
pub(super) async fn upload_file(
    s: &S3Storage,
    key: &str,
    object: &str,
    path: &Path,
    size: u64,
) -> Result<(), StorageError> {
    let content_type = crate::storage::content_type(key);
    if size <= s.part_size {
        let body = ByteStream::read_from()
            .path(path)
            .build()
            .await
            .map_err(|e| read_error(key, e))?;
        s.client
            .put_object()
            .bucket(&s.bucket)
            .key(object)
            .content_type(content_type)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .body(body)
            .send()
            .await
            .map_err(|e| storage_error(key, &e))?;
        return Ok(());
    }
    let created = s
        .client
        .create_multipart_upload()
        .bucket(&s.bucket)
        .key(object)
        .content_type(content_type)
        .send()
        .await
        .map_err(|e| storage_error(key, &e))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| StorageError::ObjectStore {
            key: key.to_owned(),
            reason: "the store started a multipart upload without an upload id".to_owned(),
        })?
        .to_owned();
    let mut guard = AbortOnDrop {
        storage: Some(s.clone()),
        object: object.to_owned(),
        upload_id: upload_id.clone(),
    };
    let part = part_size(size, s.part_size);
    let count = size.div_ceil(part);
    let uploaded: Result<Vec<CompletedPart>, StorageError> = futures_util::stream::iter(0..count)
        .map(|index| {
            let (offset, upload_id) = (index * part, upload_id.as_str());
            let len = part.min(size - offset);
            async move {
                let body = ByteStream::read_from()
                    .path(path)
                    .offset(offset)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| read_error(key, e))?;
                let number = i32::try_from(index + 1).unwrap_or(i32::MAX);
                let sent = s
                    .client
                    .upload_part()
                    .bucket(&s.bucket)
                    .key(object)
                    .upload_id(upload_id)
                    .part_number(number)
                    .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| storage_error(key, &e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_owned))
                    .build())
            }
        })
        .buffered(s.upload_concurrency)
        .try_collect()
        .await;
    let parts = match uploaded {
        Ok(parts) => parts,
        Err(e) => {
            guard.abort().await;
            return Err(e);
        }
    };
    let completed = s
        .client
        .complete_multipart_upload()
        .bucket(&s.bucket)
        .key(object)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    match completed {
        Ok(_) => {
            guard.disarm();
            Ok(())
        }
        Err(e) => {
            guard.abort().await;
            Err(storage_error(key, &e))
        }
    }
}

/// Aborts an unfinished multipart upload: now ([`AbortOnDrop::abort`]), or in the
/// background when dropped armed (the caller's future went away).
struct AbortOnDrop {
    storage: Option<S3Storage>,
    object: String,
    upload_id: String,
}

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.storage = None;
    }

    async fn abort(&mut self) {
        if let Some(s) = self.storage.take() {
            abort(&s, &self.object, &self.upload_id).await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(s) = self.storage.take() else {
            return;
        };
        let (object, upload_id) = (
            std::mem::take(&mut self.object),
            std::mem::take(&mut self.upload_id),
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { abort(&s, &object, &upload_id).await });
        }
    }
}

async fn abort(s: &S3Storage, object: &str, upload_id: &str) {
    if let Err(e) = s
        .client
        .abort_multipart_upload()
        .bucket(&s.bucket)
        .key(object)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(
            object,
            error = %super::error::Failure::of(&e).explain(),
            "cannot abort an unfinished multipart upload (a lifecycle rule removes such uploads)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_only_past_ten_thousand() {
        let mib = 1024 * 1024;
        assert_eq!(part_size(100 * mib, 16 * mib), 16 * mib);
        assert_eq!(part_size(12 * 1024 * mib, 16 * mib), 16 * mib);
        let huge = 200 * 1024 * mib;
        let p = part_size(huge, 16 * mib);
        assert!(p > 16 * mib && huge.div_ceil(p) <= MAX_PARTS);
    }
}
