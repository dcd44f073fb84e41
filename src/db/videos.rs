//! Video, video file and streaming playlist queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{self, NewVideoFileRow, NewVideoRow, VideoFileRow, VideoRow};
use super::schema::{streaming_playlists, video_files, videos};
use super::{DbConnection, DbError};
use crate::domain::ids::VideoUuid;
use crate::domain::video::{
    FileFacts, FileKind, NewVideo, Video, VideoFile, VideoOptions, VideoState,
};

/// Inserts a video. Most callers want [`super::folders::claim`], which checks that
/// its folder is free first.
pub fn insert(
    conn: &mut DbConnection,
    video: &NewVideo,
    now: NaiveDateTime,
) -> Result<Video, DbError> {
    let row: VideoRow = diesel::insert_into(videos::table)
        .values(NewVideoRow::new(video, now))
        .returning(videos::all_columns)
        .get_result(conn)?;
    Video::try_from(row)
}

/// Finds a video by its public UUID.
pub fn find_by_uuid(conn: &mut DbConnection, uuid: VideoUuid) -> Result<Option<Video>, DbError> {
    videos::table
        .filter(videos::uuid.eq(uuid.to_string()))
        .first::<VideoRow>(conn)
        .optional()?
        .map(Video::try_from)
        .transpose()
}

/// Finds a video by id.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<Video>, DbError> {
    videos::table
        .find(id)
        .first::<VideoRow>(conn)
        .optional()?
        .map(Video::try_from)
        .transpose()
}

/// A page of videos, newest first, optionally only in one state. Returns the page and
/// the total count.
pub fn list(
    conn: &mut DbConnection,
    state: Option<VideoState>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Video>, i64), DbError> {
    let mut query = videos::table.into_boxed();
    let mut count = videos::table.into_boxed();
    if let Some(state) = state {
        query = query.filter(videos::state.eq(state));
        count = count.filter(videos::state.eq(state));
    }
    let rows: Vec<VideoRow> = query
        .order((videos::created_at.desc(), videos::id.desc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let total = count.count().get_result(conn)?;
    Ok((rows::videos(rows)?, total))
}

/// Deletes a video row; files, playlist, captions and jobs go with it (cascade).
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(videos::table.find(id)).execute(conn)? > 0)
}

/// Writes `updated_at` of the video, which takes its row lock until the transaction
/// ends (PostgreSQL) or needs the write lock (SQLite, already held by
/// `write_transaction`). Serialises concurrent completions of one video's jobs.
/// Returns false when the video does not exist.
pub fn lock(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<bool, DbError> {
    Ok(diesel::update(videos::table.find(id))
        .set(videos::updated_at.eq(now))
        .execute(conn)?
        > 0)
}

/// Sets state and error.
pub fn set_state(
    conn: &mut DbConnection,
    id: i64,
    state: VideoState,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(videos::table.find(id))
        .set((
            videos::state.eq(state),
            videos::error.eq(error),
            videos::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets the video's language (the one its transcription detected).
pub fn set_language(
    conn: &mut DbConnection,
    id: i64,
    language: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(videos::table.find(id))
        .set((videos::language.eq(language), videos::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// Stores a file row, replacing the one of the same video, kind and resolution (a
/// re-run of a job overwrites its rendition).
pub fn replace_file(
    conn: &mut DbConnection,
    video_id: i64,
    file: &FileFacts,
    now: NaiveDateTime,
) -> Result<VideoFile, DbError> {
    diesel::delete(
        video_files::table
            .filter(video_files::video_id.eq(video_id))
            .filter(video_files::kind.eq(file.kind))
            .filter(video_files::resolution.eq(file.resolution)),
    )
    .execute(conn)?;
    insert_file(conn, video_id, file, now)
}

/// Inserts a file row.
pub fn insert_file(
    conn: &mut DbConnection,
    video_id: i64,
    file: &FileFacts,
    now: NaiveDateTime,
) -> Result<VideoFile, DbError> {
    let row: VideoFileRow = diesel::insert_into(video_files::table)
        .values(NewVideoFileRow::new(video_id, file, now))
        .returning(video_files::all_columns)
        .get_result(conn)?;
    Ok(VideoFile::from(row))
}

/// Deletes the file row of a video that records `storage_key` (undoing a
/// rendition); returns how many rows went.
pub fn remove_file(
    conn: &mut DbConnection,
    video_id: i64,
    storage_key: &str,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        video_files::table
            .filter(video_files::video_id.eq(video_id))
            .filter(video_files::storage_key.eq(storage_key)),
    )
    .execute(conn)?)
}

/// Every file of a video, by kind then descending resolution.
pub fn files(conn: &mut DbConnection, video_id: i64) -> Result<Vec<VideoFile>, DbError> {
    files_of(conn, &[video_id])
}

/// Every file of the given videos, by video, kind, then descending resolution.
pub fn files_of(conn: &mut DbConnection, video_ids: &[i64]) -> Result<Vec<VideoFile>, DbError> {
    Ok(rows::files(
        video_files::table
            .filter(video_files::video_id.eq_any(video_ids))
            .order((
                video_files::video_id.asc(),
                video_files::kind.asc(),
                video_files::resolution.desc(),
            ))
            .load(conn)?,
    ))
}

/// Deletes the file rows of `kind` of a video and returns their keys.
pub fn remove_files_of_kind(
    conn: &mut DbConnection,
    video_id: i64,
    kind: FileKind,
) -> Result<Vec<String>, DbError> {
    let filter = video_files::table
        .filter(video_files::video_id.eq(video_id))
        .filter(video_files::kind.eq(kind));
    let keys: Vec<String> = filter.select(video_files::storage_key).load(conn)?;
    diesel::delete(filter).execute(conn)?;
    Ok(keys)
}

/// The key of the video's HLS master playlist, if it has one.
pub fn master_playlist(conn: &mut DbConnection, video_id: i64) -> Result<Option<String>, DbError> {
    Ok(streaming_playlists::table
        .filter(streaming_playlists::video_id.eq(video_id))
        .select(streaming_playlists::master_key)
        .first(conn)
        .optional()?)
}

/// Records the master playlist key of a video (once).
pub fn ensure_streaming_playlist(
    conn: &mut DbConnection,
    video_id: i64,
    master_key: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    if master_playlist(conn, video_id)?.is_none() {
        diesel::insert_into(streaming_playlists::table)
            .values((
                streaming_playlists::video_id.eq(video_id),
                streaming_playlists::master_key.eq(master_key),
                streaming_playlists::created_at.eq(now),
                streaming_playlists::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(
            streaming_playlists::table.filter(streaming_playlists::video_id.eq(video_id)),
        )
        .set(streaming_playlists::updated_at.eq(now))
        .execute(conn)?;
    }
    Ok(())
}

/// UUIDs of the videos still `importing` that were created before `cutoff`.
pub fn importing_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
) -> Result<Vec<VideoUuid>, DbError> {
    let uuids: Vec<String> = videos::table
        .filter(videos::state.eq(VideoState::Importing))
        .filter(videos::created_at.lt(cutoff))
        .select(videos::uuid)
        .limit(1000)
        .load(conn)?;
    uuids
        .iter()
        .map(|u| VideoUuid::from_stored(u).map_err(|e| DbError::Corrupt(format!("video {u}: {e}"))))
        .collect()
}

/// Moves a video out of the `importing` state (a compare-and-set): false when the
/// video no longer exists or left that state already.
pub fn leave_importing(
    conn: &mut DbConnection,
    id: i64,
    state: VideoState,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        videos::table
            .find(id)
            .filter(videos::state.eq(VideoState::Importing)),
    )
    .set((videos::state.eq(state), videos::updated_at.eq(now)))
    .execute(conn)?
        > 0)
}

/// Records a studio edit's result (the caller holds the video lock): the current
/// source row becomes `replaced-source` when the video owned it (deleted once the
/// edit's renditions are published) or goes when it did not (the application's
/// object, never deleted by us); `source` is inserted as the new source; the video
/// takes `options`, `duration` and `state`.
pub fn apply_edit(
    conn: &mut DbConnection,
    video: &Video,
    source: &FileFacts,
    options: &VideoOptions,
    duration: Option<f64>,
    state: VideoState,
    now: NaiveDateTime,
) -> Result<VideoFile, DbError> {
    let current = video_files::table
        .filter(video_files::video_id.eq(video.id))
        .filter(video_files::kind.eq(FileKind::Source));
    if video.options.source_owned {
        diesel::update(current)
            .set((
                video_files::kind.eq(FileKind::ReplacedSource),
                video_files::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::delete(current).execute(conn)?;
    }
    let file = insert_file(conn, video.id, source, now)?;
    diesel::update(videos::table.find(video.id))
        .set((
            videos::options.eq(serde_json::to_string(options).unwrap_or_else(|_| "{}".to_owned())),
            videos::duration.eq(duration),
            videos::state.eq(state),
            videos::error.eq(None::<String>),
            videos::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(file)
}

/// Switches a video to its studio edit's renditions (the caller holds the video
/// lock): the published renditions (`hls`, `web-video`) are deleted and those made
/// for the edit (`next-hls`, `next-web-video`) take their kinds; `switch_at` is
/// cleared. Returns the keys (media files and playlists) of the deleted rows that no
/// other row records, for the caller to delete once the master playlist no longer
/// lists them.
pub fn switch_edition(
    conn: &mut DbConnection,
    video: &Video,
    now: NaiveDateTime,
) -> Result<Vec<String>, DbError> {
    let old = video_files::table
        .filter(video_files::video_id.eq(video.id))
        .filter(video_files::kind.eq_any([FileKind::Hls.as_str(), FileKind::WebVideo.as_str()]));
    let rows: Vec<(String, Option<String>)> = old
        .clone()
        .select((video_files::storage_key, video_files::playlist_key))
        .load(conn)?;
    diesel::delete(old).execute(conn)?;
    for (from, to) in [
        (FileKind::NextHls, FileKind::Hls),
        (FileKind::NextWebVideo, FileKind::WebVideo),
    ] {
        diesel::update(
            video_files::table
                .filter(video_files::video_id.eq(video.id))
                .filter(video_files::kind.eq(from)),
        )
        .set((video_files::kind.eq(to), video_files::updated_at.eq(now)))
        .execute(conn)?;
    }
    let mut options = video.options.clone();
    options.switch_at = None;
    diesel::update(videos::table.find(video.id))
        .set((
            videos::options.eq(serde_json::to_string(&options).unwrap_or_else(|_| "{}".to_owned())),
            videos::updated_at.eq(now),
        ))
        .execute(conn)?;
    let mut keys: Vec<String> = rows
        .into_iter()
        .flat_map(|(key, playlist)| std::iter::once(key).chain(playlist))
        .collect();
    let recorded: Vec<String> = video_files::table
        .filter(video_files::storage_key.eq_any(&keys))
        .select(video_files::storage_key)
        .load(conn)?;
    let recorded_playlists: Vec<Option<String>> = video_files::table
        .filter(video_files::playlist_key.eq_any(&keys))
        .select(video_files::playlist_key)
        .load(conn)?;
    keys.retain(|k| !recorded.contains(k) && !recorded_playlists.contains(&Some(k.clone())));
    Ok(keys)
}
