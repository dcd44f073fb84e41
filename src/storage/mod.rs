//! Object storage for sources and outputs, behind one interface of keys, streams and
//! ranges. Keys are `/`-separated relative names (`videos/<uuid>/abc-720.m3u8`) that
//! can never escape the storage root; the interface assumes nothing a bucket would not
//! offer (no folders, no renames of stored objects, no local paths), so an S3 backend
//! drops in as another [`Storage`] variant without touching callers.
//!
//! - Writes: [`Storage::put_file`] from a file staged on local disk (uploads are
//!   streamed to [`staging`] first, because ffprobe needs a seekable file; on local
//!   disk staging lives under the root, so the put is an atomic rename; an object
//!   store uploads it in parts), [`Storage::put_stream`] from any reader,
//!   [`Storage::put_bytes`] for small objects. A reader never sees a partial object.
//! - Reads: [`Storage::open`] gives the object's metadata (size, modification time,
//!   entity tag) before any byte is read, then a stream of all or a range of its
//!   bytes; [`Storage::deliver`] is how to hand it to an HTTP client (that stream, or
//!   a redirect to a presigned URL for runners of an S3 backend configured so);
//!   [`Storage::materialize`] a local file for ffprobe and ffmpeg. Local disk never
//!   follows a symbolic link.
//! - URLs: [`Storage::url`] is an object's URL for applications (under `/static`, a
//!   public base URL, or presigned); [`Storage::serves_published`] whether `/static`
//!   serves outputs at all (with S3 only when configured to proxy them).
//! - Deletion is per object only: nothing deletes a folder's content wholesale, so an
//!   object is only ever removed by whoever recorded it.
//!
//! [`Storage`] is an enum rather than `Arc<dyn ObjectStore>`: the set of backends is
//! closed and known at build time, its methods stay plain `async fn`s (generic
//! `put_stream` included, which a trait object could not offer), and no boxed future
//! or vtable sits on the hot path of `/static`. A backend is a variant and one arm per
//! method, all in this file.

mod key;
mod local;
mod media_type;
mod memory;
mod object;
pub mod s3;
pub mod staging;

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncRead;

pub use key::{KeyError, validate_key};
pub use local::LocalStorage;
pub use media_type::content_type;
pub use memory::{MemoryStorage, PutHook};
pub use object::{ByteStream, Delivery, LocalCopy, ObjectMeta, ObjectReader};
pub use s3::{S3Storage, S3Urls};
pub use staging::{StagedFile, Staging, SweepReport};

/// What storage reports.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is not acceptable (client error).
    #[error(transparent)]
    InvalidKey(#[from] KeyError),
    /// No object has this key.
    #[error("no stored object `{0}`")]
    NotFound(String),
    /// The object is larger than the caller allows.
    #[error("stored object `{key}` is larger than {limit} bytes")]
    TooLarge {
        /// The key.
        key: String,
        /// The limit.
        limit: u64,
    },
    /// A read asked for bytes the object does not have.
    #[error("the range is outside the object ({size} bytes)")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// The backend failed.
    #[error("storage I/O failed for `{key}`: {source}")]
    Io {
        /// The key (or path) concerned.
        key: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The object store refused or failed a request on an object.
    #[error("object storage failed for `{key}`: {reason}")]
    ObjectStore {
        /// The key concerned.
        key: String,
        /// What the store answered, and what to check.
        reason: String,
    },
    /// The bucket cannot be used (missing, wrong credentials, unreachable).
    #[error("cannot use bucket `{bucket}` at {endpoint}: {reason}")]
    Unusable {
        /// The bucket.
        bucket: String,
        /// The endpoint (or `AWS S3`).
        endpoint: String,
        /// What failed, and what to check.
        reason: String,
    },
}

/// Who an object is delivered to ([`Storage::deliver`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A runner downloading a job input.
    Runner,
    /// Anyone reading a published output under `/static`.
    Public,
}

/// The configured storage backend. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Local disk under a root directory.
    Local(LocalStorage),
    /// In memory, for tests.
    Memory(MemoryStorage),
    /// An S3-compatible bucket.
    S3(S3Storage),
}

impl Storage {
    /// This instance's staging area: where uploads are streamed and temporary files
    /// made, on local disk for every backend.
    pub fn staging(&self) -> &Staging {
        match self {
            Storage::Local(s) => s.staging(),
            Storage::Memory(s) => s.staging(),
            Storage::S3(s) => s.staging(),
        }
    }

    /// This instance's staging folder ([`Staging::own`]).
    pub fn staging_dir(&self) -> &Path {
        self.staging().own()
    }

    /// Stores the staged file under `key`, atomically replacing any previous object,
    /// and returns its size. The staged file is consumed (moved into place or
    /// uploaded, then removed); on failure it is removed too.
    pub async fn put_file(&self, key: &str, file: StagedFile) -> Result<u64, StorageError> {
        match self {
            Storage::Local(s) => s.put_file(key, file).await,
            Storage::Memory(s) => s.put_file(key, file).await,
            Storage::S3(s) => s.put_file(key, file).await,
        }
    }

    /// Stores what `reader` yields until its end under `key`, atomically, and
    /// returns the size.
    pub async fn put_stream<R>(&self, key: &str, reader: R) -> Result<u64, StorageError>
    where
        R: AsyncRead + Unpin + Send,
    {
        match self {
            Storage::Local(s) => s.put_stream(key, reader).await,
            Storage::Memory(s) => s.put_stream(key, reader).await,
            Storage::S3(s) => s.put_stream(key, reader).await,
        }
    }

    /// Stores a small object from memory, atomically.
    pub async fn put_bytes(&self, key: &str, bytes: impl Into<Bytes>) -> Result<(), StorageError> {
        let bytes = bytes.into();
        match self {
            Storage::Local(s) => s.put_bytes(key, bytes).await,
            Storage::Memory(s) => s.put_bytes(key, bytes).await,
            Storage::S3(s) => s.put_bytes(key, bytes).await,
        }
    }

    /// Opens an object for reading ([`StorageError::NotFound`] when there is none; on
    /// local disk also when a symbolic link is anywhere in its path, or it is not a
    /// regular file).
    pub async fn open(&self, key: &str) -> Result<ObjectReader, StorageError> {
        match self {
            Storage::Local(s) => s.read(key).await,
            Storage::Memory(s) => s.read(key).await,
            Storage::S3(s) => s.read(key).await,
        }
    }

    /// The object's metadata and its bytes, or those of `range` (end excluded).
    pub async fn get_range(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ObjectMeta, ByteStream), StorageError> {
        let reader = self.open(key).await?;
        let meta = reader.meta().clone();
        Ok((meta, reader.stream(range).await?))
    }

    /// Reads a small object whole, refusing objects over `limit` bytes.
    pub async fn get_bytes(&self, key: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        let reader = self.open(key).await?;
        if reader.meta().size > limit {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                limit,
            });
        }
        object::collect(key, reader.stream(None).await?, limit).await
    }

    /// The object's metadata, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        match self {
            Storage::Local(s) => s.head(key).await,
            Storage::Memory(s) => s.head(key).await,
            Storage::S3(s) => s.head(key).await,
        }
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.head(key).await?.map(|m| m.size))
    }

    /// Whether the object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.head(key).await?.is_some())
    }

    /// Deletes one object; a missing object is not an error. On local disk the
    /// folders it leaves empty go too.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self {
            Storage::Local(s) => s.delete(key).await,
            Storage::Memory(s) => s.delete(key).await,
            Storage::S3(s) => s.delete(key).await,
        }
    }

    /// How to hand the object to `audience`: a stream from this process, or (for a
    /// runner, from an S3 backend with `runner_downloads = "redirect"`) a presigned
    /// URL to redirect to. [`StorageError::NotFound`] when there is no object.
    pub async fn deliver(&self, key: &str, audience: Audience) -> Result<Delivery, StorageError> {
        match self {
            Storage::S3(s) => s.deliver(key, audience).await,
            Storage::Local(_) | Storage::Memory(_) => Ok(Delivery::Stream(self.open(key).await?)),
        }
    }

    /// Whether `storage.serve_path` (`/static`) serves published outputs: always on
    /// local disk; with S3 only when `output_urls = "proxy"` (otherwise their URLs
    /// point at the bucket).
    pub fn serves_published(&self) -> bool {
        match self {
            Storage::Local(_) | Storage::Memory(_) => true,
            Storage::S3(s) => s.serves_published(),
        }
    }

    /// The object as a local file for tools such as ffprobe, kept while the returned
    /// value lives: on local disk the stored file itself (checked as [`Self::open`]
    /// does), elsewhere a copy downloaded into staging.
    pub async fn materialize(&self, key: &str) -> Result<LocalCopy, StorageError> {
        match self {
            Storage::Local(s) => s.materialize(key).await,
            Storage::Memory(s) => s.materialize(key).await,
            Storage::S3(s) => s.materialize(key).await,
        }
    }

    /// The durable URL of the object, one that does not expire (webhook and event
    /// bodies, and the resource unless [`Self::presigns`]): under
    /// `storage.serve_path` or `storage.public_base_url`, or the bucket's public base.
    /// With presigned S3 outputs it is this server's `/static` URL, which redirects to
    /// a fresh presigned URL.
    pub fn url(&self, key: &str) -> String {
        match self {
            Storage::Local(s) => s.url(key),
            Storage::Memory(s) => s.url(key),
            Storage::S3(s) => s.url(key),
        }
    }

    /// Whether the video resource gives presigned URLs ([`Self::fresh_url`]) rather
    /// than the durable ones.
    pub fn presigns(&self) -> bool {
        match self {
            Storage::S3(s) => s.presigns(),
            _ => false,
        }
    }

    /// The URL the video resource gives for the object: presigned, valid for
    /// `storage.s3.presign_lifetime`, on an S3 backend configured so; else
    /// [`Self::url`].
    pub async fn fresh_url(&self, key: &str) -> Result<String, StorageError> {
        match self {
            Storage::S3(s) => s.fresh_url(key).await,
            _ => Ok(self.url(key)),
        }
    }

    /// Readiness: the backend can be used now (local: staging is writable; S3: the
    /// bucket answers to the credentials, and staging is writable).
    pub async fn health_check(&self) -> Result<(), StorageError> {
        match self {
            Storage::Local(s) => s.health_check().await,
            Storage::Memory(_) => Ok(()),
            Storage::S3(s) => s.health_check().await,
        }
    }

    /// At startup, before anything is served: [`Storage::health_check`], and on S3 a
    /// test object written, read and deleted, so that a missing bucket or credentials
    /// that cannot write fail the start rather than the first upload.
    pub async fn startup_check(&self) -> Result<(), StorageError> {
        match self {
            Storage::S3(s) => s.startup_check().await,
            _ => self.health_check().await,
        }
    }

    /// Refreshes this instance's staging heartbeat and removes what stopped
    /// instances left in staging for longer than `max_age` ([`staging`]).
    pub async fn sweep_staging(&self, max_age: Duration) -> SweepReport {
        match self {
            Storage::Local(s) => s.sweep_staging(max_age).await,
            Storage::Memory(s) => s.sweep_staging(max_age).await,
            Storage::S3(s) => s.sweep_staging(max_age).await,
        }
    }
}

#[cfg(test)]
mod contract_tests;
