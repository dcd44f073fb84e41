//! Object storage for sources and outputs. Keys are `/`-separated relative names
//! (`videos/<uuid>/hls/abc-720.m3u8`) that can never escape the storage root; the
//! interface assumes nothing a bucket would not offer (no directories, no renames of
//! stored objects), so an S3 backend drops in as another [`Storage`] variant.
//!
//! Large files go in with [`Storage::put_file`] from a local temporary file (uploads are
//! streamed to [`Storage::staging_dir`] first, which on local disk lives next to the final
//! place so the put is an atomic rename; [`staging`] explains how what a crash leaves
//! there is swept). Runner downloads go through [`Storage::locate`]: a local path the
//! HTTP layer streams with Range support, or a URL to redirect to. Public serving goes
//! through [`Storage::open_public`], which never follows a symbolic link.
//!
//! Deletion is per object only: nothing deletes a folder's content wholesale, so an
//! object is only ever removed by whoever recorded it.

mod key;
mod local;
pub mod staging;

use std::path::{Path, PathBuf};

pub use key::{KeyError, validate_key};
pub use local::LocalStorage;
pub use staging::SweepReport;

/// Where a stored object can be read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on this machine, streamed by the HTTP layer (Range supported).
    LocalFile(PathBuf),
    /// A URL to redirect clients to (object storage).
    Redirect(String),
}

/// A stored object opened for public serving.
#[derive(Debug)]
pub enum PublicObject {
    /// A local regular file, opened (its path names it for content types).
    LocalFile(std::fs::File, PathBuf),
    /// A URL to redirect clients to (object storage).
    Redirect(String),
}

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
    /// The backend failed.
    #[error("storage I/O failed for `{key}`: {source}")]
    Io {
        /// The key (or path) concerned.
        key: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The configured storage backend. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Storage {
    /// Local disk under a root directory.
    Local(LocalStorage),
}

impl Storage {
    /// A directory for temporary files that [`Storage::put_file`] moves without copying.
    pub fn staging_dir(&self) -> &Path {
        match self {
            Storage::Local(s) => s.staging_dir(),
        }
    }

    /// Stores the file at `src` under `key`, atomically replacing any previous object,
    /// and returns its size. `src` is moved when it can be (same filesystem), else
    /// copied; it no longer exists afterwards either way.
    pub async fn put_file(&self, key: &str, src: &Path) -> Result<u64, StorageError> {
        match self {
            Storage::Local(s) => s.put_file(key, src).await,
        }
    }

    /// Stores a small object from memory, atomically.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        match self {
            Storage::Local(s) => s.put_bytes(key, bytes).await,
        }
    }

    /// Reads a small object whole, refusing objects over `limit` bytes.
    pub async fn get_bytes(&self, key: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        match self {
            Storage::Local(s) => s.get_bytes(key, limit).await,
        }
    }

    /// The object's size, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self {
            Storage::Local(s) => s.size(key).await,
        }
    }

    /// Whether the object exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.size(key).await?.is_some())
    }

    /// Deletes one object; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self {
            Storage::Local(s) => s.delete(key).await,
        }
    }

    /// Opens an object for public serving. On local disk a symbolic link anywhere
    /// in its path, or anything but a regular file, is [`StorageError::NotFound`].
    pub async fn open_public(&self, key: &str) -> Result<PublicObject, StorageError> {
        match self {
            Storage::Local(s) => {
                let (file, path) = s.open_no_follow(key).await?;
                Ok(PublicObject::LocalFile(file, path))
            }
        }
    }

    /// Refreshes this instance's staging heartbeat and removes what stopped
    /// instances left in staging for longer than `max_age` ([`staging`]).
    pub async fn sweep_staging(&self, max_age: std::time::Duration) -> SweepReport {
        match self {
            Storage::Local(s) => s.sweep_staging(max_age).await,
        }
    }

    /// Where to read the object from, checking it exists.
    pub async fn locate(&self, key: &str) -> Result<Location, StorageError> {
        match self {
            Storage::Local(s) => s.locate(key).await,
        }
    }

    /// A local file with the object's content, for tools such as ffprobe. For local
    /// storage this is the stored file itself.
    pub async fn local_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        match self {
            Storage::Local(s) => s.path_of(key).await,
        }
    }

    /// The public URL of an object (for API responses).
    pub fn url(&self, key: &str) -> String {
        match self {
            Storage::Local(s) => s.url(key),
        }
    }

    /// Checks that the backend can be written.
    pub async fn health_check(&self) -> Result<(), StorageError> {
        match self {
            Storage::Local(s) => s.health_check().await,
        }
    }
}
