//! The staging area of local storage, `<root>/.staging`: where uploads are streamed,
//! thumbnails made and copies prepared before they are renamed into place.
//!
//! Each running instance works in its own folder, `.staging/<instance>/`, and keeps
//! that folder's modification time fresh (a heartbeat every [`heartbeat_period`]).
//! A sweep, at startup and on every heartbeat, removes what a crash left behind:
//!
//! - in the folder of another instance whose heartbeat is older than `max_age` (a
//!   stopped or killed instance), every file older than `max_age`, then the folder once
//!   it is empty;
//! - a file directly in `.staging` (left by an older version) older than `max_age`.
//!
//! The instance's own folder is never swept, nor the folder of an instance whose
//! heartbeat is fresh, whatever the age of the files in it: an upload that pauses
//! for hours keeps its file. Ages are modification times, so a file still being
//! written is never old; a stopped instance's folder stops being refreshed.
//!
//! Files are made with [`Staging::create_file`] and held as [`StagedFile`]s, which
//! remove themselves when dropped unless storage took them. Every file operation here
//! runs on tokio's blocking pool, never on an async worker.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Heartbeats (and sweeps) happen at most this far apart.
const MAX_HEARTBEAT: Duration = Duration::from_secs(60);
/// ... and at least this far apart.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// How often an instance refreshes its folder and sweeps: a quarter of `max_age`
/// (so three heartbeats can be missed before the folder looks stale), at most a
/// minute.
pub fn heartbeat_period(max_age: Duration) -> Duration {
    (max_age / 4).clamp(MIN_HEARTBEAT, MAX_HEARTBEAT)
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Files removed.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Folders of stopped instances removed.
    pub folders: u64,
}

impl SweepReport {
    fn add(&mut self, other: SweepReport) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.folders += other.folders;
    }
}

/// The staging area and this instance's folder in it.
#[derive(Debug, Clone)]
pub struct Staging {
    area: PathBuf,
    own: PathBuf,
}

impl Staging {
    /// Creates `area` and a new folder for this instance inside it.
    pub fn open(area: PathBuf) -> io::Result<Staging> {
        let own = area.join(uuid::Uuid::new_v4().simple().to_string());
        std::fs::create_dir_all(&own)?;
        Ok(Staging { area, own })
    }

    /// The `.staging` directory.
    pub fn area(&self) -> &Path {
        &self.area
    }

    /// This instance's folder, where its temporary files go.
    pub fn own(&self) -> &Path {
        &self.own
    }

    /// Creates a new empty file `<prefix><random><suffix>` in this instance's folder
    /// (never an existing one), open for writing.
    pub async fn create_file(
        &self,
        prefix: &str,
        suffix: &str,
    ) -> io::Result<(StagedFile, tokio::fs::File)> {
        let name = format!("{prefix}{}{suffix}", uuid::Uuid::new_v4().simple());
        let path = self.own.join(name);
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let file = match options.open(&path).await {
            Ok(file) => file,
            // Someone removed the folder (it comes back with the next heartbeat).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tokio::fs::create_dir_all(&self.own).await?;
                options.open(&path).await?
            }
            Err(e) => return Err(e),
        };
        Ok((StagedFile { path: Some(path) }, file))
    }

    /// Creates a new file like [`Staging::create_file`] holding `bytes`, written through
    /// and synced to disk before it is returned. A `tokio::fs::File` dropped right
    /// after `write_all` may still be writing on the blocking pool, so a rename or a
    /// read that follows could see a short file; this waits for the write to land.
    pub async fn write_file(
        &self,
        prefix: &str,
        suffix: &str,
        bytes: &[u8],
    ) -> io::Result<StagedFile> {
        use tokio::io::AsyncWriteExt;
        let (staged, mut file) = self.create_file(prefix, suffix).await?;
        file.write_all(bytes).await?;
        file.flush().await?;
        file.sync_all().await?;
        Ok(staged)
    }

    /// Refreshes this instance's heartbeat (recreating its folder if someone removed
    /// it).
    pub fn heartbeat(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.own)?;
        std::fs::File::open(&self.own)?.set_modified(SystemTime::now())
    }

    /// Removes this instance's folder and what is still in it. Only when nothing can
    /// be writing there any more: at the end of a graceful shutdown, once every
    /// request is done (a file of a request cut at the deadline is no longer in use).
    /// Blocking.
    pub fn remove_own(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.own) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes what stopped instances left behind (see the module documentation).
    /// Blocking. Errors on single entries are logged and skipped.
    pub fn sweep(&self, max_age: Duration) -> SweepReport {
        let now = SystemTime::now();
        let mut report = SweepReport::default();
        let entries = match std::fs::read_dir(&self.area) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dir = %self.area.display(), error = %e, "cannot list the staging area");
                return report;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == self.own {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !is_stale(&meta, now, max_age) {
                continue;
            }
            if meta.is_dir() {
                report.add(sweep_stopped_folder(&path, now, max_age));
            } else {
                report.add(remove_file(&path, &meta));
            }
        }
        report
    }
}

/// A file in this instance's staging folder (an upload, a thumbnail, a download for
/// ffprobe), removed when dropped unless storage took it ([`StagedFile::into_path`]).
#[derive(Debug)]
pub struct StagedFile {
    /// `None` once taken.
    path: Option<PathBuf>,
}

impl StagedFile {
    /// Where the file is (a local path: staging is on local disk for every backend,
    /// since ffprobe and ffmpeg need seekable files).
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Its current size.
    pub async fn len(&self) -> io::Result<u64> {
        Ok(tokio::fs::metadata(self.path()).await?.len())
    }

    /// Removes the file now (rather than on drop, in the background).
    pub async fn remove(mut self) -> io::Result<()> {
        match self.path.take() {
            Some(path) => match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Hands the file over: it is no longer removed on drop. For backends that move
    /// it into place.
    pub(super) fn into_path(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        let remove = move || {
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a staging file");
            }
        };
        // Off the async workers when there is a runtime (unlink can block on a busy
        // disk); inline otherwise.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Whether `meta` was last modified more than `max_age` before `now` (a time in the
/// future, from another machine's clock, is fresh).
fn is_stale(meta: &std::fs::Metadata, now: SystemTime, max_age: Duration) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age > max_age)
}

fn remove_file(path: &Path, meta: &std::fs::Metadata) -> SweepReport {
    match std::fs::remove_file(path) {
        Ok(()) => SweepReport {
            files: 1,
            bytes: meta.len(),
            folders: 0,
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => SweepReport::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale staging file");
            SweepReport::default()
        }
    }
}

/// The stale files of a stopped instance's folder, then the folder if empty.
fn sweep_stopped_folder(dir: &Path, now: SystemTime, max_age: Duration) -> SweepReport {
    let mut report = SweepReport::default();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                report.add(sweep_stopped_folder(&path, now, max_age));
            } else if is_stale(&meta, now, max_age) {
                report.add(remove_file(&path, &meta));
            }
        }
    }
    // Fails (and is left for a later sweep) while a fresh file remains.
    if std::fs::remove_dir(dir).is_ok() {
        report.folders += 1;
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let f = std::fs::File::open(path).unwrap();
        f.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn heartbeats_are_a_quarter_of_the_age_within_bounds() {
        assert_eq!(
            heartbeat_period(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            heartbeat_period(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(heartbeat_period(Duration::ZERO), MIN_HEARTBEAT);
    }

    #[test]
    fn only_what_stopped_instances_left_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let area = dir.path().join(".staging");
        let max_age = Duration::from_secs(600);
        let old = Duration::from_secs(3600);

        let me = Staging::open(area.clone()).unwrap();
        // My own files, even old ones (a paused upload), stay.
        let mine = me.own().join("upload-paused");
        std::fs::write(&mine, b"12345").unwrap();
        age(&mine, old);
        age(me.own(), old);

        // A running instance: fresh heartbeat, old file (paused upload): stays.
        let alive = Staging::open(area.clone()).unwrap();
        let alive_file = alive.own().join("upload-a");
        std::fs::write(&alive_file, b"x").unwrap();
        age(&alive_file, old);
        alive.heartbeat().unwrap();

        // A killed instance: stale heartbeat; its old file goes, a fresh one stays
        // until it is old too.
        let dead = Staging::open(area.clone()).unwrap();
        let dead_old = dead.own().join("upload-old");
        let dead_new = dead.own().join("thumb-new.jpg");
        std::fs::write(&dead_old, vec![0u8; 1000]).unwrap();
        std::fs::write(&dead_new, b"y").unwrap();
        age(&dead_old, old);
        age(dead.own(), old);

        // Files of the flat layout: by their own age.
        let legacy_old = area.join("upload-legacy");
        let legacy_new = area.join("upload-recent");
        std::fs::write(&legacy_old, vec![0u8; 10]).unwrap();
        std::fs::write(&legacy_new, b"z").unwrap();
        age(&legacy_old, old);

        let report = me.sweep(max_age);
        assert_eq!(
            report,
            SweepReport {
                files: 2,
                bytes: 1010,
                folders: 0
            }
        );
        assert!(mine.exists() && alive_file.exists() && dead_new.exists());
        assert!(legacy_new.exists());
        assert!(!dead_old.exists() && !legacy_old.exists());

        // Once the last file is old, the stopped instance's folder goes too.
        age(&dead_new, old);
        age(dead.own(), old);
        let report = me.sweep(max_age);
        assert_eq!((report.files, report.folders), (1, 1));
        assert!(!dead.own().exists());
        assert!(me.own().exists() && alive.own().exists());
    }

    #[tokio::test]
    async fn staged_files_are_new_and_removed_unless_taken() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::open(dir.path().join(".staging")).unwrap();
        let a = staging.write_file("upload-", ".mp4", b"abc").await.unwrap();
        assert!(a.path().starts_with(staging.own()));
        assert!(a.path().to_str().unwrap().ends_with(".mp4"));
        assert_eq!(a.len().await.unwrap(), 3);
        let (b, _) = staging.create_file("upload-", "").await.unwrap();
        assert_ne!(a.path(), b.path());
        let (a_path, b_path) = (a.path().to_owned(), b.path().to_owned());
        a.remove().await.unwrap();
        assert!(!a_path.exists());
        let taken = b.into_path();
        assert!(taken.exists(), "taken files stay");
        let (c, _) = staging.create_file("thumb-", ".jpg").await.unwrap();
        let c_path = c.path().to_owned();
        drop(c);
        for _ in 0..100 {
            if !c_path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!c_path.exists(), "dropped files are removed");
        assert_eq!(b_path, taken);
    }

    #[tokio::test]
    async fn a_staged_file_recreates_a_removed_folder() {
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::open(dir.path().join(".staging")).unwrap();
        std::fs::remove_dir(staging.own()).unwrap();
        let (file, _) = staging.create_file("upload-", "").await.unwrap();
        assert!(file.path().exists());
    }

    #[test]
    fn a_removed_own_folder_comes_back_with_the_next_heartbeat() {
        let dir = tempfile::tempdir().unwrap();
        let me = Staging::open(dir.path().join(".staging")).unwrap();
        std::fs::remove_dir(me.own()).unwrap();
        me.heartbeat().unwrap();
        assert!(me.own().is_dir());
    }
}
