//! Which storage folder a video owns, and what a new video may not overlap.
//!
//! A video owns its folder (`videos.directory`) and everything under it: deleting it
//! removes the objects its rows record there. So that no deletion can reach another
//! video's objects, a new video is refused when
//! - its folder equals, is inside, or contains another video's folder, or
//! - its source (named by `filePath`) is inside another video's folder, or
//! - its folder contains another video's source.
//!
//! [`claim`] checks this and inserts the video in the caller's transaction while it
//! holds the folder lock ([`lock`]), so two concurrent submissions with nested folders
//! cannot both pass the check: on PostgreSQL a transaction-scoped advisory lock
//! serialises the claims (READ COMMITTED would otherwise let both see the other's
//! folder free); on SQLite the write transaction (`BEGIN IMMEDIATE`) already does.
//!
//! Keys are ASCII and compared byte by byte (the columns use the "C" collation on
//! PostgreSQL; SQLite's default is binary), so "inside folder `d`" is the key range
//! `[d + "/", d + "0")`, served by an index.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::{video_files, videos};
use super::{DbConnection, DbError};
use crate::domain::video::{FileKind, NewVideo, Video};

/// Advisory lock key held (per transaction) while a video claims its folder.
const FOLDER_LOCK: i64 = 0x0070_7263_5f64_6972;

/// Why a video cannot have the folder it asks for. Each names the other video's
/// folder or source key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderConflict {
    /// Another video has this very folder.
    #[error("Another video already uses the folder `{0}`")]
    Same(String),
    /// The folder is inside another video's folder.
    #[error("The destination is inside the folder `{0}` of another video")]
    Inside(String),
    /// The folder contains another video's folder.
    #[error("The destination contains the folder `{0}` of another video")]
    Contains(String),
    /// The source is inside another video's folder.
    #[error("filePath is inside the folder `{0}` of another video")]
    SourceInside(String),
    /// The folder contains another video's source.
    #[error("The destination contains `{0}`, the source of another video")]
    ContainsSource(String),
}

/// The folders strictly above `key`: `a/b/c` → `a`, `a/b`.
fn ancestors(key: &str) -> Vec<&str> {
    key.match_indices('/').map(|(i, _)| &key[..i]).collect()
}

/// The bounds of the keys inside folder `dir`: `[dir/, dir0)`.
fn inside_range(dir: &str) -> (String, String) {
    (format!("{dir}/"), format!("{dir}0"))
}

/// Takes the folder lock until the transaction ends (PostgreSQL); a no-op on SQLite,
/// whose write transaction is exclusive already. Call inside a write transaction.
pub fn lock(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgresql(c) = conn {
        c.batch_execute(&format!("SELECT pg_advisory_xact_lock({FOLDER_LOCK})"))?;
    }
    Ok(())
}

/// The first way a new video with folder `directory` (and source `stored_source`,
/// when it names an existing object rather than an upload) would overlap an existing
/// video. Reliable only under [`lock`].
pub fn conflict(
    conn: &mut DbConnection,
    directory: &str,
    stored_source: Option<&str>,
) -> Result<Option<FolderConflict>, DbError> {
    let mut around = ancestors(directory);
    around.push(directory);
    let enclosing: Option<String> = videos::table
        .filter(videos::directory.eq_any(&around))
        .select(videos::directory)
        .first(conn)
        .optional()?;
    if let Some(other) = enclosing {
        return Ok(Some(if other == directory {
            FolderConflict::Same(other)
        } else {
            FolderConflict::Inside(other)
        }));
    }
    let (low, high) = inside_range(directory);
    let inner: Option<String> = videos::table
        .filter(videos::directory.ge(&low).and(videos::directory.lt(&high)))
        .select(videos::directory)
        .first(conn)
        .optional()?;
    if let Some(other) = inner {
        return Ok(Some(FolderConflict::Contains(other)));
    }
    if let Some(source) = stored_source {
        let holder: Option<String> = videos::table
            .filter(videos::directory.eq_any(ancestors(source)))
            .select(videos::directory)
            .first(conn)
            .optional()?;
        if let Some(other) = holder {
            return Ok(Some(FolderConflict::SourceInside(other)));
        }
    }
    let source_inside: Option<String> = video_files::table
        .filter(video_files::kind.eq(FileKind::Source))
        .filter(
            video_files::storage_key
                .ge(&low)
                .and(video_files::storage_key.lt(&high)),
        )
        .select(video_files::storage_key)
        .first(conn)
        .optional()?;
    Ok(source_inside.map(FolderConflict::ContainsSource))
}

/// Inserts `video` if its folder (and stored source) overlap no other video's, under
/// the folder lock; call inside a write transaction. The unique index on
/// `videos.directory` backs the equal-folder case.
pub fn claim(
    conn: &mut DbConnection,
    video: &NewVideo,
    stored_source: Option<&str>,
    now: chrono::NaiveDateTime,
) -> Result<Result<Video, FolderConflict>, DbError> {
    lock(conn)?;
    if let Some(conflict) = conflict(conn, &video.directory, stored_source)? {
        return Ok(Err(conflict));
    }
    match super::videos::insert(conn, video, now) {
        Ok(row) => Ok(Ok(row)),
        Err(e) if e.is_unique_violation() => Ok(Err(FolderConflict::Same(video.directory.clone()))),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_the_folders_above_a_key() {
        assert_eq!(ancestors("a/b/c"), vec!["a", "a/b"]);
        assert!(ancestors("a").is_empty());
    }

    #[test]
    fn the_inside_range_holds_exactly_the_keys_under_the_folder() {
        let (low, high) = inside_range("v/a_b");
        let inside = |k: &str| k >= low.as_str() && k < high.as_str();
        for k in ["v/a_b/x", "v/a_b/x/y", "v/a_b/"] {
            assert!(inside(k), "{k}");
        }
        for k in [
            "v/a_b",
            "v/a_b-c/x",
            "v/a_b.c",
            "v/a_b0",
            "v/a_bc/x",
            "v/a/b",
            "v/a_c",
        ] {
            assert!(!inside(k), "{k}");
        }
    }
}
