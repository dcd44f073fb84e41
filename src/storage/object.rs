//! What reading a stored object gives: its metadata (for conditional requests), a
//! stream of its bytes or of a range of them, and local copies for tools that need a
//! file.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::StorageError;
use super::staging::StagedFile;

/// The bytes of an object, in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Read size of streamed files.
const CHUNK: usize = 64 * 1024;

/// What is known of a stored object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Bytes.
    pub size: u64,
    /// Last write, when the backend knows it.
    pub modified: Option<SystemTime>,
    /// An opaque version that changes whenever the object is rewritten (a strong
    /// entity tag, without quotes): local disk derives it from the file's inode, size
    /// and modification time; an object store has its own.
    pub etag: String,
}

/// An object opened for reading: its metadata is known, its bytes are read only by
/// [`ObjectReader::stream`] (so that a conditional request or a `HEAD` costs no
/// transfer). The object read is the one whose metadata this holds, even if it is
/// replaced meanwhile.
#[derive(Debug)]
pub struct ObjectReader {
    key: String,
    meta: ObjectMeta,
    body: Body,
}

#[derive(Debug)]
enum Body {
    /// An open local file (replacing the object renames a new file in: this one
    /// stays readable).
    File(tokio::fs::File),
    /// An in-memory object.
    Memory(Bytes),
    /// An object in a bucket, read when streamed.
    Remote(super::s3::RemoteObject),
}

impl ObjectReader {
    pub(super) fn file(key: &str, meta: ObjectMeta, file: tokio::fs::File) -> ObjectReader {
        ObjectReader {
            key: key.to_owned(),
            meta,
            body: Body::File(file),
        }
    }

    pub(super) fn memory(key: &str, meta: ObjectMeta, bytes: Bytes) -> ObjectReader {
        ObjectReader {
            key: key.to_owned(),
            meta,
            body: Body::Memory(bytes),
        }
    }

    pub(super) fn remote(
        key: &str,
        meta: ObjectMeta,
        remote: super::s3::RemoteObject,
    ) -> ObjectReader {
        ObjectReader {
            key: key.to_owned(),
            meta,
            body: Body::Remote(remote),
        }
    }

    /// The object's key (its extension tells its media type).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Size, modification time and entity tag.
    pub fn meta(&self) -> &ObjectMeta {
        &self.meta
    }

    /// The object's bytes, or those of `range` (`start..end`, end excluded, within the
    /// object: [`StorageError::RangeNotSatisfiable`] otherwise).
    pub async fn stream(self, range: Option<Range<u64>>) -> Result<ByteStream, StorageError> {
        let size = self.meta.size;
        let range = match range {
            Some(r) if r.start < r.end && r.end <= size => r,
            Some(_) => return Err(StorageError::RangeNotSatisfiable { size }),
            None => 0..size,
        };
        match self.body {
            Body::File(mut file) => {
                if range.start > 0 {
                    file.seek(std::io::SeekFrom::Start(range.start))
                        .await
                        .map_err(|source| StorageError::Io {
                            key: self.key.clone(),
                            source,
                        })?;
                }
                let limited = file.take(range.end - range.start);
                Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(
                    limited, CHUNK,
                )))
            }
            Body::Remote(remote) => {
                let part = (range != (0..size)).then_some(range);
                remote.stream(&self.key, part).await
            }
            Body::Memory(bytes) => {
                let slice = bytes.slice(
                    usize::try_from(range.start).unwrap_or(usize::MAX)
                        ..usize::try_from(range.end).unwrap_or(usize::MAX),
                );
                Ok(Box::pin(futures_util::stream::iter(
                    (!slice.is_empty()).then_some(Ok(slice)),
                )))
            }
        }
    }
}

/// How to hand an object to an HTTP client.
#[derive(Debug)]
pub enum Delivery {
    /// Stream it from this process.
    Stream(ObjectReader),
    /// Redirect the client to this URL (a presigned URL, for runners of an S3 backend
    /// configured so). Local disk never redirects.
    Redirect(String),
}

/// A stored object as a local file, for tools that need a path (ffprobe, ffmpeg).
/// On local disk it is the stored file itself (read it, never write it); other
/// backends download a copy into staging, removed when this is dropped.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    /// The downloaded copy, when there is one.
    _copy: Option<StagedFile>,
}

impl LocalCopy {
    pub(super) fn stored(path: PathBuf) -> LocalCopy {
        LocalCopy { path, _copy: None }
    }

    pub(super) fn downloaded(copy: StagedFile) -> LocalCopy {
        LocalCopy {
            path: copy.path().to_owned(),
            _copy: Some(copy),
        }
    }

    /// The file to read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads a whole stream into memory, refusing more than `limit` bytes.
pub(super) async fn collect(
    key: &str,
    mut stream: ByteStream,
    limit: u64,
) -> Result<Vec<u8>, StorageError> {
    use futures_util::StreamExt;
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| StorageError::Io {
            key: key.to_owned(),
            source,
        })?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                limit,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}
