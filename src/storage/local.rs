//! Local-disk backend: objects are files under a root directory; writes go to a temp
//! file in this instance's staging folder (`<root>/.staging/<instance>`, see
//! [`super::staging`]) and are renamed into place, so readers never see a partial
//! object. Folders exist only while they hold an object: deleting the last object of
//! a folder removes the folder (and its emptied parents), as with a bucket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::object::{LocalCopy, ObjectMeta, ObjectReader};
use super::staging::{StagedFile, Staging, SweepReport};
use super::{StorageError, validate_key};

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
/// Write buffer of streamed puts.
const WRITE_BUFFER: usize = 256 * 1024;

/// The metadata of a stored file: its entity tag changes with every write, since a
/// write renames a new file (a new inode) into place.
fn meta_of(m: &std::fs::Metadata) -> ObjectMeta {
    let modified = m.modified().ok();
    let nanos = modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let inode = 0u64;
    ObjectMeta {
        size: m.len(),
        modified,
        etag: format!("{inode:x}-{:x}-{nanos:x}", m.len()),
    }
}

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

    pub(super) fn staging(&self) -> &Staging {
        &self.staging
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

    /// Renames the staged file into place (copies it first when staging is on another
    /// filesystem).
    pub(super) async fn put_file(&self, key: &str, src: StagedFile) -> Result<u64, StorageError> {
        let dest = self.file(key)?;
        let size = src.len().await.map_err(io(key))?;
        match self.place(key, src.path(), &dest).await {
            Ok(()) => {
                src.into_path();
                return Ok(size);
            }
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {}
            Err(e) => return Err(io(key)(e)),
        }
        // Another filesystem: copy to a temp file in staging, then rename it into place.
        let (tmp, _) = self
            .staging
            .create_file("put-", "")
            .await
            .map_err(io(key))?;
        let copied = async {
            tokio::fs::copy(src.path(), tmp.path()).await?;
            tokio::fs::File::open(tmp.path()).await?.sync_all().await?;
            self.place(key, tmp.path(), &dest).await
        }
        .await;
        copied.map_err(io(key))?;
        tmp.into_path();
        Ok(size)
    }

    /// Streams `reader` to a staging file, then renames it into place.
    pub(super) async fn put_stream<R>(&self, key: &str, reader: R) -> Result<u64, StorageError>
    where
        R: AsyncRead + Unpin + Send,
    {
        self.file(key)?;
        let (tmp, file) = self
            .staging
            .create_file("put-", "")
            .await
            .map_err(io(key))?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut reader = reader;
        tokio::io::copy(&mut reader, &mut out)
            .await
            .map_err(io(key))?;
        out.flush().await.map_err(io(key))?;
        out.into_inner().sync_all().await.map_err(io(key))?;
        self.put_file(key, tmp).await
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let dest = self.file(key)?;
        let tmp = self
            .staging
            .write_file("put-", "", &bytes)
            .await
            .map_err(io(key))?;
        self.place(key, tmp.path(), &dest).await.map_err(io(key))?;
        tmp.into_path();
        Ok(())
    }

    /// Opens the object without following a symbolic link anywhere below the root
    /// (a link planted in storage reads as "not found"); only regular files are
    /// objects.
    pub(super) async fn read(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let (file, meta) = self.open_std(key).await?;
        Ok(ObjectReader::file(
            key,
            meta,
            tokio::fs::File::from_std(file),
        ))
    }

    async fn open_std(&self, key: &str) -> Result<(std::fs::File, ObjectMeta), StorageError> {
        validate_key(key)?;
        let (root, owned_key) = (self.root.clone(), key.to_owned());
        let opened = tokio::task::spawn_blocking(move || {
            let Some(file) = no_follow::open(&root, &owned_key)? else {
                return Ok(None);
            };
            let meta = meta_of(&file.metadata()?);
            Ok::<_, std::io::Error>(Some((file, meta)))
        })
        .await
        .map_err(|e| io(key)(std::io::Error::other(e)))?;
        match opened {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(StorageError::NotFound(key.to_owned())),
            Err(e) => Err(io(key)(e)),
        }
    }

    pub(super) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        match self.open_std(key).await {
            Ok((_, meta)) => Ok(Some(meta)),
            Err(StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The stored file itself, once checked to be a regular file reached without a
    /// symbolic link.
    pub(super) async fn materialize(&self, key: &str) -> Result<LocalCopy, StorageError> {
        let path = self.file(key)?;
        self.open_std(key).await?;
        Ok(LocalCopy::stored(path))
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

    pub(super) fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    pub(super) async fn health_check(&self) -> Result<(), StorageError> {
        let probe = self
            .staging
            .write_file("health-", "", b"ok")
            .await
            .map_err(io("health check"))?;
        probe.remove().await.map_err(io("health check"))
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
    use super::super::Storage;
    use super::*;

    fn storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::open(&dir.path().join("root"), "http://h/static/").unwrap();
        (dir, Storage::Local(s))
    }

    #[tokio::test]
    async fn put_file_moves_the_staged_file_into_place() {
        let (dir, s) = storage();
        let staged = s
            .staging()
            .write_file("upload-", "", b"hello")
            .await
            .unwrap();
        let staged_path = staged.path().to_owned();
        assert_eq!(s.put_file("v/1/a.mp4", staged).await.unwrap(), 5);
        assert!(!staged_path.exists());
        assert_eq!(s.get_bytes("v/1/a.mp4", 100).await.unwrap(), b"hello");
        assert_eq!(s.url("v/1/a.mp4"), "http://h/static/v/1/a.mp4");
        let copy = s.materialize("v/1/a.mp4").await.unwrap();
        assert_eq!(
            copy.path(),
            dir.path().join("root/v/1/a.mp4").canonicalize().unwrap()
        );
    }

    #[tokio::test]
    async fn put_file_copies_across_filesystems_too() {
        let (_dir, s) = storage();
        let other = tempfile::Builder::new()
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let staging = Staging::open(other.path().join(".staging")).unwrap();
        let staged = staging.write_file("x", "", b"xyz").await.unwrap();
        let path = staged.path().to_owned();
        assert_eq!(s.put_file("x/b", staged).await.unwrap(), 3);
        assert_eq!(s.get_bytes("x/b", 10).await.unwrap(), b"xyz");
        for _ in 0..100 {
            if !path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!path.exists());
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
    async fn reads_never_follow_links() {
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
        assert_eq!(s.open("v/1/ok.m3u8").await.unwrap().meta().size, 7);
        for key in [
            "v/1/link.m3u8",
            "v/alias/ok.m3u8",
            "v/1/dir.mp4",
            "v/1/none",
            "v/2/x",
        ] {
            assert!(
                matches!(s.open(key).await, Err(StorageError::NotFound(_))),
                "{key}"
            );
            assert!(
                matches!(s.materialize(key).await, Err(StorageError::NotFound(_))),
                "{key}"
            );
            assert!(!s.exists(key).await.unwrap(), "{key}");
        }
    }

    #[tokio::test]
    async fn an_open_object_reads_as_it_was_when_replaced_and_changes_its_etag() {
        let (_dir, s) = storage();
        s.put_bytes("m/master.m3u8", b"one".to_vec()).await.unwrap();
        let reader = s.open("m/master.m3u8").await.unwrap();
        let before = reader.meta().clone();
        s.put_bytes("m/master.m3u8", b"two!".to_vec())
            .await
            .unwrap();
        let after = s.head("m/master.m3u8").await.unwrap().unwrap();
        assert_ne!(before.etag, after.etag);
        assert_eq!(after.size, 4);
        let old = super::super::object::collect("k", reader.stream(None).await.unwrap(), 10)
            .await
            .unwrap();
        assert_eq!(old, b"one");
    }
}
