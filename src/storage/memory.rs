//! In-memory backend for fast tests: objects in a map, staging in a temporary folder
//! (uploads and copies for ffprobe are local files on every backend). A put hook lets
//! a test stall or fail chosen writes, to check what callers do meanwhile.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::object::{LocalCopy, ObjectMeta, ObjectReader};
use super::staging::{StagedFile, Staging, SweepReport};
use super::{StorageError, validate_key};

/// Called with the key before every put; an error fails the put.
pub type PutHook = Arc<dyn Fn(&str) -> BoxFuture<'static, std::io::Result<()>> + Send + Sync>;

#[derive(Debug, Clone)]
struct Object {
    bytes: Bytes,
    modified: SystemTime,
    version: u64,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Object>,
    versions: u64,
    put_hook: Option<PutHook>,
}

/// Objects in memory. Cheap to clone (clones share the objects).
#[derive(Clone)]
pub struct MemoryStorage {
    inner: Arc<Mutex<Inner>>,
    staging: Staging,
    public_base: String,
    /// Keeps the staging folder alive as long as a clone exists.
    _dir: Arc<tempfile::TempDir>,
}

impl std::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("staging", &self.staging)
            .finish_non_exhaustive()
    }
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        key: key.to_owned(),
        source,
    }
}

impl MemoryStorage {
    /// An empty store whose objects are public under `public_base`.
    pub fn new(public_base: &str) -> Result<MemoryStorage, StorageError> {
        let dir = tempfile::tempdir().map_err(io("staging"))?;
        let staging = Staging::open(dir.path().join(".staging")).map_err(io("staging"))?;
        Ok(MemoryStorage {
            inner: Arc::default(),
            staging,
            public_base: public_base.trim_end_matches('/').to_owned(),
            _dir: Arc::new(dir),
        })
    }

    /// Runs `hook` before every put from now on (a test stalls or fails writes).
    pub fn set_put_hook(&self, hook: PutHook) {
        self.lock().put_hook = Some(hook);
    }

    /// The keys stored, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn staging(&self) -> &Staging {
        &self.staging
    }

    pub(super) async fn sweep_staging(&self, max_age: Duration) -> SweepReport {
        let staging = self.staging.clone();
        tokio::task::spawn_blocking(move || staging.sweep(max_age))
            .await
            .unwrap_or_default()
    }

    async fn insert(&self, key: &str, bytes: Bytes) -> Result<u64, StorageError> {
        validate_key(key)?;
        let hook = self.lock().put_hook.clone();
        if let Some(hook) = hook {
            hook(key).await.map_err(io(key))?;
        }
        let size = bytes.len() as u64;
        let mut inner = self.lock();
        inner.versions += 1;
        let version = inner.versions;
        inner.objects.insert(
            key.to_owned(),
            Object {
                bytes,
                modified: SystemTime::now(),
                version,
            },
        );
        Ok(size)
    }

    pub(super) async fn put_file(&self, key: &str, src: StagedFile) -> Result<u64, StorageError> {
        validate_key(key)?;
        let bytes = tokio::fs::read(src.path()).await.map_err(io(key))?;
        let size = self.insert(key, bytes.into()).await?;
        src.remove().await.map_err(io(key))?;
        Ok(size)
    }

    pub(super) async fn put_stream<R>(&self, key: &str, reader: R) -> Result<u64, StorageError>
    where
        R: AsyncRead + Unpin + Send,
    {
        validate_key(key)?;
        let mut buf = Vec::new();
        let mut reader = reader;
        reader.read_to_end(&mut buf).await.map_err(io(key))?;
        self.insert(key, buf.into()).await
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.insert(key, bytes).await.map(|_| ())
    }

    fn get(&self, key: &str) -> Result<Option<(ObjectMeta, Bytes)>, StorageError> {
        validate_key(key)?;
        Ok(self.lock().objects.get(key).map(|o| {
            let meta = ObjectMeta {
                size: o.bytes.len() as u64,
                modified: Some(o.modified),
                etag: format!("m{:x}", o.version),
            };
            (meta, o.bytes.clone())
        }))
    }

    pub(super) async fn read(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let (meta, bytes) = self
            .get(key)?
            .ok_or_else(|| StorageError::NotFound(key.to_owned()))?;
        Ok(ObjectReader::memory(key, meta, bytes))
    }

    pub(super) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        Ok(self.get(key)?.map(|(meta, _)| meta))
    }

    /// A copy in staging, removed when the [`LocalCopy`] is dropped.
    pub(super) async fn materialize(&self, key: &str) -> Result<LocalCopy, StorageError> {
        let (_, bytes) = self
            .get(key)?
            .ok_or_else(|| StorageError::NotFound(key.to_owned()))?;
        let ext = key
            .rsplit_once('/')
            .map_or(key, |(_, name)| name)
            .rsplit_once('.')
            .map(|(_, ext)| format!(".{ext}"))
            .unwrap_or_default();
        let copy = self
            .staging
            .write_file("copy-", &ext, &bytes)
            .await
            .map_err(io(key))?;
        Ok(LocalCopy::downloaded(copy))
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.lock().objects.remove(key);
        Ok(())
    }

    pub(super) fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }
}
