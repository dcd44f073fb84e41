//! The objects a video's rows record: every one it owns (what deleting the video
//! removes) and the published ones (what `storage.serve_path` serves).

use diesel::prelude::*;

use super::schema::{storyboards, streaming_playlists, video_captions, video_files, videos};
use super::{DbConnection, DbError};
use crate::domain::payloads::{PrivatePayload, StudioTask};
use crate::domain::video::{FileKind, Video, keys};

/// Every key the rows of `video` record as its own: its files (the source only when
/// `options.source_owned`, i.e. it was uploaded) and their playlists, its thumbnail,
/// master playlist, captions and storyboard. A key another video's rows also record (older
/// data could share a source) is left out: it is not this video's alone.
pub fn owned_keys(conn: &mut DbConnection, video: &Video) -> Result<Vec<String>, DbError> {
    let mut keys: Vec<String> = Vec::new();
    for file in super::videos::files(conn, video.id)? {
        let file = file.facts;
        if file.kind != FileKind::Source || video.options.source_owned {
            keys.push(file.storage_key);
        }
        keys.extend(file.playlist_key);
    }
    keys.extend(video.thumbnail_key.clone());
    keys.extend(
        streaming_playlists::table
            .filter(streaming_playlists::video_id.eq(video.id))
            .select(streaming_playlists::master_key)
            .load::<String>(conn)?,
    );
    keys.extend(
        video_captions::table
            .filter(video_captions::video_id.eq(video.id))
            .select(video_captions::storage_key)
            .load::<String>(conn)?,
    );
    for image in storyboards::table
        .filter(storyboards::video_id.eq(video.id))
        .select(storyboards::storage_key)
        .load::<String>(conn)?
    {
        keys.push(keys::storyboard_track_of(&image));
        keys.push(image);
    }
    // The task files of its studio jobs (deleted when a job ends; a job cancelled
    // with its video leaves them here).
    for job in super::jobs::of_videos(conn, &[video.id])? {
        if let PrivatePayload::Studio(p) = &job.private_payload {
            keys.extend(
                p.original_tasks
                    .iter()
                    .filter_map(StudioTask::file_url)
                    .map(str::to_owned),
            );
        }
    }
    keys.sort();
    keys.dedup();
    let shared: Vec<String> = video_files::table
        .filter(video_files::video_id.ne(video.id))
        .filter(video_files::storage_key.eq_any(&keys))
        .select(video_files::storage_key)
        .load(conn)?;
    keys.retain(|k| !shared.contains(k));
    Ok(keys)
}

/// The video whose folder holds `key`: folders do not nest (`db::folders`), so there
/// is at most one; should older rows nest, the innermost folder wins.
pub fn video_holding(conn: &mut DbConnection, key: &str) -> Result<Option<Video>, DbError> {
    let folders: Vec<&str> = key.match_indices('/').map(|(i, _)| &key[..i]).collect();
    let mut found = super::rows::videos(
        videos::table
            .filter(videos::directory.eq_any(&folders))
            .load(conn)?,
    )?;
    found.sort_by_key(|v| std::cmp::Reverse(v.directory.len()));
    Ok(found.into_iter().next())
}

/// Whether `key` is a published output of `video`: an HLS or web-video file or media
/// playlist, its thumbnail, master playlist, a caption or its storyboard. Sources and
/// intermediate files are not.
pub fn is_published(conn: &mut DbConnection, video: &Video, key: &str) -> Result<bool, DbError> {
    if video.thumbnail_key.as_deref() == Some(key) {
        return Ok(true);
    }
    let published: Vec<&str> = FileKind::ALL
        .into_iter()
        .filter(|k| k.is_published())
        .map(FileKind::as_str)
        .collect();
    let files: i64 = video_files::table
        .filter(video_files::video_id.eq(video.id))
        .filter(video_files::kind.eq_any(published))
        .filter(
            video_files::storage_key
                .eq(key)
                .or(video_files::playlist_key.eq(key)),
        )
        .count()
        .get_result(conn)?;
    if files > 0 {
        return Ok(true);
    }
    let master: i64 = streaming_playlists::table
        .filter(streaming_playlists::video_id.eq(video.id))
        .filter(streaming_playlists::master_key.eq(key))
        .count()
        .get_result(conn)?;
    if master > 0 {
        return Ok(true);
    }
    let captions: i64 = video_captions::table
        .filter(video_captions::video_id.eq(video.id))
        .filter(video_captions::storage_key.eq(key))
        .count()
        .get_result(conn)?;
    if captions > 0 {
        return Ok(true);
    }
    let images: Vec<String> = storyboards::table
        .filter(storyboards::video_id.eq(video.id))
        .select(storyboards::storage_key)
        .load(conn)?;
    Ok(images
        .iter()
        .any(|image| image == key || keys::storyboard_track_of(image) == key))
}
