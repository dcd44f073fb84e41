//! Local-disk backend: objects are files under a root directory; writes go to a temp
//! file in `<root>/.staging` and are renamed into place, so readers never see a partial
//! object.

use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

use super::{Location, StorageError, validate_key};

/// Objects as files under `root`.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    staging: PathBuf,
    public_base: String,
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        key: key.to_owned(),
        source,
    }
}

impl LocalStorage {
    /// Opens (creating) the root and its staging directory. `public_base` is the URL
    /// prefix objects are served under, without a trailing slash.
    pub fn open(root: &Path, public_base: &str) -> Result<LocalStorage, StorageError> {
        let staging = root.join(".staging");
        std::fs::create_dir_all(&staging).map_err(io(&root.display().to_string()))?;
        let root = root
            .canonicalize()
            .map_err(io(&root.display().to_string()))?;
        Ok(LocalStorage {
            staging: root.join(".staging"),
            root,
            public_base: public_base.trim_end_matches('/').to_owned(),
        })
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn staging_dir(&self) -> &Path {
        &self.staging
    }

    fn file(&self, key: &str) -> Result<PathBuf, StorageError> {
        Ok(self.root.join(validate_key(key)?))
    }

    async fn prepare_parent(&self, key: &str, path: &Path) -> Result<(), StorageError> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io(key))?;
        }
        Ok(())
    }

    pub(super) async fn put_file(&self, key: &str, src: &Path) -> Result<u64, StorageError> {
        let dest = self.file(key)?;
        self.prepare_parent(key, &dest).await?;
        let size = tokio::fs::metadata(src).await.map_err(io(key))?.len();
        if tokio::fs::rename(src, &dest).await.is_err() {
            // Another filesystem: copy to a temp file beside the destination, then rename.
            let tmp = self.staging.join(format!("put-{}", uuid::Uuid::new_v4()));
            let copied = async {
                tokio::fs::copy(src, &tmp).await?;
                tokio::fs::File::open(&tmp).await?.sync_all().await?;
                tokio::fs::rename(&tmp, &dest).await
            }
            .await;
            if let Err(e) = copied {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(io(key)(e));
            }
            let _ = tokio::fs::remove_file(src).await;
        }
        Ok(size)
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let dest = self.file(key)?;
        self.prepare_parent(key, &dest).await?;
        let tmp = self.staging.join(format!("put-{}", uuid::Uuid::new_v4()));
        let written = async {
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &dest).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io(key)(e));
        }
        Ok(())
    }

    pub(super) async fn get_bytes(&self, key: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        let path = self.file(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(key.to_owned()));
            }
            Err(e) => return Err(io(key)(e)),
        };
        let mut buf = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut buf)
            .await
            .map_err(io(key))?;
        if buf.len() as u64 > limit {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                limit,
            });
        }
        Ok(buf)
    }

    pub(super) async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.file(key)?).await {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(key)(e)),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.file(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(key)(e)),
        }
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        let dir = self.file(prefix.trim_end_matches('/'))?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(prefix)(e)),
        }
    }

    pub(super) async fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        let path = self.file(key)?;
        match self.size(key).await? {
            Some(_) => Ok(path),
            None => Err(StorageError::NotFound(key.to_owned())),
        }
    }

    pub(super) async fn locate(&self, key: &str) -> Result<Location, StorageError> {
        self.path_of(key).await.map(Location::LocalFile)
    }

    pub(super) fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    pub(super) async fn health_check(&self) -> Result<(), StorageError> {
        let probe = self
            .staging
            .join(format!("health-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(io("health check"))?;
        tokio::fs::remove_file(&probe)
            .await
            .map_err(io("health check"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Storage;
    use super::*;

    fn storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::open(&dir.path().join("root"), "http://h/static/").unwrap();
        (dir, Storage::Local(s))
    }

    #[tokio::test]
    async fn put_file_moves_the_staged_file_into_place() {
        let (_dir, s) = storage();
        let staged = s.staging_dir().join("upload");
        tokio::fs::write(&staged, b"hello").await.unwrap();
        assert_eq!(s.put_file("v/1/a.mp4", &staged).await.unwrap(), 5);
        assert!(!staged.exists());
        assert_eq!(s.get_bytes("v/1/a.mp4", 100).await.unwrap(), b"hello");
        assert_eq!(s.size("v/1/a.mp4").await.unwrap(), Some(5));
        assert_eq!(s.url("v/1/a.mp4"), "http://h/static/v/1/a.mp4");
        match s.locate("v/1/a.mp4").await.unwrap() {
            Location::LocalFile(p) => assert!(p.ends_with("root/v/1/a.mp4")),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn put_file_copies_across_filesystems_too() {
        let (_dir, s) = storage();
        let other = tempfile::NamedTempFile::new_in("/dev/shm")
            .or_else(|_| tempfile::NamedTempFile::new())
            .unwrap();
        std::fs::write(other.path(), b"xyz").unwrap();
        let path = other.into_temp_path().keep().unwrap();
        assert_eq!(s.put_file("x/b", &path).await.unwrap(), 3);
        assert!(!path.exists());
        assert_eq!(s.get_bytes("x/b", 10).await.unwrap(), b"xyz");
    }

    #[tokio::test]
    async fn put_bytes_replaces_atomically_and_delete_is_idempotent() {
        let (_dir, s) = storage();
        s.put_bytes("m/master.m3u8", b"one".to_vec()).await.unwrap();
        s.put_bytes("m/master.m3u8", b"two".to_vec()).await.unwrap();
        assert_eq!(s.get_bytes("m/master.m3u8", 10).await.unwrap(), b"two");
        s.delete("m/master.m3u8").await.unwrap();
        s.delete("m/master.m3u8").await.unwrap();
        assert!(!s.exists("m/master.m3u8").await.unwrap());
        assert!(matches!(
            s.get_bytes("m/master.m3u8", 10).await,
            Err(StorageError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn delete_prefix_removes_a_whole_video_folder() {
        let (_dir, s) = storage();
        s.put_bytes("videos/a/1", vec![1]).await.unwrap();
        s.put_bytes("videos/a/hls/2", vec![2]).await.unwrap();
        s.put_bytes("videos/b/1", vec![3]).await.unwrap();
        s.delete_prefix("videos/a").await.unwrap();
        assert!(!s.exists("videos/a/hls/2").await.unwrap());
        assert!(s.exists("videos/b/1").await.unwrap());
        s.delete_prefix("videos/a").await.unwrap();
    }

    #[tokio::test]
    async fn limits_and_bad_keys_are_reported() {
        let (_dir, s) = storage();
        s.put_bytes("big", vec![0; 11]).await.unwrap();
        assert!(matches!(
            s.get_bytes("big", 10).await,
            Err(StorageError::TooLarge { .. })
        ));
        assert!(matches!(
            s.put_bytes("../escape", vec![]).await,
            Err(StorageError::InvalidKey(_))
        ));
        assert!(matches!(
            s.locate(".staging/x").await,
            Err(StorageError::InvalidKey(_))
        ));
        s.health_check().await.unwrap();
    }
}
