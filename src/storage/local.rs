//! Local-disk backend: objects are files under a root directory; writes go to a temp
//! file in this instance's staging folder (`<root>/.staging/<instance>`, see
//! [`super::staging`]) and are renamed into place, so readers never see a partial
//! object. Folders exist only while they hold an object: deleting the last object of
//! a folder removes the folder (and its emptied parents), as with a bucket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::staging::{Staging, SweepReport};
use super::{Location, StorageError, validate_key};

/// Objects as files under `root`.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    staging: Staging,
    public_base: String,
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        key: key.to_owned(),
        source,
    }
}

/// Attempts at placing a file whose folder a concurrent delete keeps removing.
const PLACE_ATTEMPTS: usize = 5;

impl LocalStorage {
    /// Opens (creating) the root, its staging area and this instance's staging
    /// folder. `public_base` is the URL prefix objects are served under, without a
    /// trailing slash.
    pub fn open(root: &Path, public_base: &str) -> Result<LocalStorage, StorageError> {
        std::fs::create_dir_all(root.join(".staging")).map_err(io(&root.display().to_string()))?;
        let root = root
            .canonicalize()
            .map_err(io(&root.display().to_string()))?;
        let staging = Staging::open(root.join(".staging")).map_err(io(".staging"))?;
        Ok(LocalStorage {
            staging,
            root,
            public_base: public_base.trim_end_matches('/').to_owned(),
        })
    }

    /// The storage root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn staging_dir(&self) -> &Path {
        self.staging.own()
    }

    pub(super) async fn sweep_staging(&self, max_age: Duration) -> SweepReport {
        let staging = self.staging.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = staging.heartbeat() {
                tracing::warn!(error = %e, "cannot refresh the staging folder");
            }
            staging.sweep(max_age)
        })
        .await
        .unwrap_or_default()
    }

    fn file(&self, key: &str) -> Result<PathBuf, StorageError> {
        Ok(self.root.join(validate_key(key)?))
    }

    /// Moves `tmp` to `dest`, creating its folder; retried when a concurrent delete
    /// removes the (then empty) folder between the two steps, or while it is being
    /// created (`create_dir_all` then reports `AlreadyExists` or `NotFound`).
    async fn place(&self, key: &str, tmp: &Path, dest: &Path) -> std::io::Result<()> {
        use std::io::ErrorKind::{AlreadyExists, NotFound};
        let mut attempt = 0;
        loop {
            attempt += 1;
            let placed = match dest.parent() {
                Some(parent) => tokio::fs::create_dir_all(parent).await,
                None => Ok(()),
            };
            let placed = match placed {
                Ok(()) => tokio::fs::rename(tmp, dest).await,
                Err(e) => Err(e),
            };
            match placed {
                Err(e)
                    if matches!(e.kind(), NotFound | AlreadyExists)
                        && attempt < PLACE_ATTEMPTS
                        && tokio::fs::try_exists(tmp).await.unwrap_or(false) =>
                {
                    tracing::debug!(key, "folder removed while placing an object; retrying");
                }
                other => return other,
            }
        }
    }

    pub(super) async fn put_file(&self, key: &str, src: &Path) -> Result<u64, StorageError> {
        let dest = self.file(key)?;
        let size = tokio::fs::metadata(src).await.map_err(io(key))?.len();
        match self.place(key, src, &dest).await {
            Ok(()) => return Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {}
            Err(e) => return Err(io(key)(e)),
        }
        // Another filesystem: copy to a temp file in staging, then rename it into place.
        let tmp = self
            .staging
            .own()
            .join(format!("put-{}", uuid::Uuid::new_v4()));
        let copied = async {
            tokio::fs::copy(src, &tmp).await?;
            tokio::fs::File::open(&tmp).await?.sync_all().await?;
            self.place(key, &tmp, &dest).await
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io(key)(e));
        }
        let _ = tokio::fs::remove_file(src).await;
        Ok(size)
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let dest = self.file(key)?;
        let tmp = self
            .staging
            .own()
            .join(format!("put-{}", uuid::Uuid::new_v4()));
        let written = async {
            tokio::fs::write(&tmp, &bytes).await?;
            self.place(key, &tmp, &dest).await
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

    /// Deletes the object, then each of its folders that this left empty.
    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.file(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(key)(e)),
        }
        self.prune_empty_folders(&path).await;
        Ok(())
    }

    /// Removes the empty folders above `path`, up to (not including) the root.
    /// `remove_dir` only removes an empty folder, so a folder another writer just
    /// filled stays; a writer whose folder vanished recreates it ([`Self::place`]).
    async fn prune_empty_folders(&self, path: &Path) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) {
                break;
            }
            if tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
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

    /// Opens the object for reading without following a symbolic link anywhere
    /// below the root (a link planted in storage reads as "not found"); only regular
    /// files are returned.
    pub(super) async fn open_no_follow(
        &self,
        key: &str,
    ) -> Result<(std::fs::File, PathBuf), StorageError> {
        let path = self.file(key)?;
        let (root, owned_key) = (self.root.clone(), key.to_owned());
        let opened = tokio::task::spawn_blocking(move || no_follow::open(&root, &owned_key))
            .await
            .map_err(|e| io(key)(std::io::Error::other(e)))?;
        match opened {
            Ok(Some(file)) => Ok((file, path)),
            Ok(None) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(io(key)(e)),
        }
    }

    pub(super) fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    pub(super) async fn health_check(&self) -> Result<(), StorageError> {
        let probe = self
            .staging
            .own()
            .join(format!("health-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(io("health check"))?;
        tokio::fs::remove_file(&probe)
            .await
            .map_err(io("health check"))
    }
}

/// Opening a file below a root without following symbolic links.
mod no_follow {
    use std::path::Path;

    /// Whether the error means "there is no plain file there" (missing, a link, a
    /// folder where a file was expected, or the reverse).
    fn is_absent(e: &std::io::Error) -> bool {
        use std::io::ErrorKind;
        if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) {
            return true;
        }
        #[cfg(unix)]
        {
            let code = e.raw_os_error();
            code == Some(rustix::io::Errno::LOOP.raw_os_error())
                || code == Some(rustix::io::Errno::NOTDIR.raw_os_error())
                || code == Some(rustix::io::Errno::ISDIR.raw_os_error())
        }
        #[cfg(not(unix))]
        false
    }

    /// Opens `root/key` walking one segment at a time with `O_NOFOLLOW` (so neither
    /// a folder nor the file may be a link, and nothing can be swapped for one
    /// between checks); `O_NONBLOCK` so that a planted FIFO cannot hang the call.
    /// `Ok(None)` when there is no regular file there.
    #[cfg(unix)]
    pub fn open(root: &Path, key: &str) -> std::io::Result<Option<std::fs::File>> {
        use rustix::fs::{Mode, OFlags, open, openat};
        let walk = || -> std::io::Result<std::fs::File> {
            let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let mut dir = open(root, dir_flags, Mode::empty())?;
            let mut segments = key.split('/').peekable();
            while let Some(segment) = segments.next() {
                if segments.peek().is_none() {
                    let flags =
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
                    return Ok(openat(&dir, segment, flags, Mode::empty())?.into());
                }
                dir = openat(&dir, segment, dir_flags | OFlags::NOFOLLOW, Mode::empty())?;
            }
            Err(std::io::ErrorKind::NotFound.into())
        };
        let file = match walk() {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(file.metadata()?.is_file().then_some(file))
    }

    /// Without `openat`: checks each segment with `symlink_metadata`, then opens.
    #[cfg(not(unix))]
    pub fn open(root: &Path, key: &str) -> std::io::Result<Option<std::fs::File>> {
        let mut path = root.to_path_buf();
        for segment in key.split('/') {
            path.push(segment);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Ok(None),
                Ok(_) => {}
                Err(e) if is_absent(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let file = std::fs::File::open(&path)?;
        Ok(file.metadata()?.is_file().then_some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PublicObject, Storage};
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
    async fn deleting_the_last_object_of_a_folder_removes_the_emptied_folders() {
        let (dir, s) = storage();
        s.put_bytes("videos/a/1", vec![1]).await.unwrap();
        s.put_bytes("videos/a/hls/2", vec![2]).await.unwrap();
        s.put_bytes("videos/b/1", vec![3]).await.unwrap();
        let root = dir.path().join("root");
        s.delete("videos/a/hls/2").await.unwrap();
        assert!(!root.join("videos/a/hls").exists());
        assert!(root.join("videos/a").is_dir(), "still holds videos/a/1");
        s.delete("videos/a/1").await.unwrap();
        assert!(!root.join("videos/a").exists());
        assert!(s.exists("videos/b/1").await.unwrap());
        s.delete("videos/b/1").await.unwrap();
        assert!(!root.join("videos").exists());
        assert!(root.is_dir() && root.join(".staging").is_dir());
        // Deleting what is not there prunes nothing and fails nothing.
        s.delete("videos/none/x").await.unwrap();
    }

    #[tokio::test]
    async fn puts_survive_a_concurrent_delete_emptying_their_folder() {
        let (_dir, s) = storage();
        for round in 0..200 {
            let key = format!("f/{round}/a");
            let other = format!("f/{round}/b");
            s.put_bytes(&other, vec![0]).await.unwrap();
            let (s1, s2) = (s.clone(), s.clone());
            let (k, o) = (key.clone(), other.clone());
            let put = tokio::spawn(async move { s1.put_bytes(&k, vec![1]).await });
            let del = tokio::spawn(async move { s2.delete(&o).await });
            put.await.unwrap().unwrap();
            del.await.unwrap().unwrap();
            assert_eq!(s.get_bytes(&key, 10).await.unwrap(), vec![1], "{round}");
        }
    }

    #[tokio::test]
    async fn public_opens_never_follow_links() {
        let (dir, s) = storage();
        let root = dir.path().join("root");
        s.put_bytes("v/1/ok.m3u8", b"#EXTM3U".to_vec())
            .await
            .unwrap();
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, b"secret").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("v/1/link.m3u8")).unwrap();
        std::os::unix::fs::symlink(root.join("v/1"), root.join("v/alias")).unwrap();
        std::fs::create_dir_all(root.join("v/1/dir.mp4")).unwrap();
        match s.open_public("v/1/ok.m3u8").await.unwrap() {
            PublicObject::LocalFile(_, path) => assert!(path.ends_with("v/1/ok.m3u8")),
            other => panic!("{other:?}"),
        }
        for key in [
            "v/1/link.m3u8",
            "v/alias/ok.m3u8",
            "v/1/dir.mp4",
            "v/1/none",
            "v/2/x",
        ] {
            assert!(
                matches!(s.open_public(key).await, Err(StorageError::NotFound(_))),
                "{key}"
            );
        }
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
