//! Caption queries: one row per video and language (`UNIQUE (video_id, language)`),
//! recording the key of the stored WebVTT file, where it comes from and, for a
//! transcription's, the job that made it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::video_captions;
use super::{DbConnection, DbError};
use crate::domain::caption::{Caption, CaptionSource, Language, NewCaption};

type CaptionRow = (
    i64,
    i64,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    String,
    i64,
    Option<i64>,
);

fn caption(row: CaptionRow) -> Result<Caption, DbError> {
    let (id, video_id, language, storage_key, created_at, updated_at, source, size, job_id) = row;
    let corrupt = |e: &dyn std::fmt::Display| DbError::Corrupt(format!("caption {id}: {e}"));
    Ok(Caption {
        id,
        video_id,
        language: Language::parse(&language).map_err(|e| corrupt(&e))?,
        storage_key,
        source: CaptionSource::parse(&source)
            .ok_or_else(|| corrupt(&format!("unknown source `{source}`")))?,
        size,
        job_id,
        created_at,
        updated_at,
    })
}

fn captions(rows: Vec<CaptionRow>) -> Result<Vec<Caption>, DbError> {
    rows.into_iter().map(caption).collect()
}

/// The caption of `video_id` in `language`. Locks nothing.
pub fn find(
    conn: &mut DbConnection,
    video_id: i64,
    language: &Language,
) -> Result<Option<Caption>, DbError> {
    video_captions::table
        .filter(video_captions::video_id.eq(video_id))
        .filter(video_captions::language.eq(language.as_str()))
        .select(video_captions::all_columns)
        .first::<CaptionRow>(conn)
        .optional()?
        .map(caption)
        .transpose()
}

/// The caption the job `job_id` made, if it still exists. Locks nothing.
pub fn of_job(conn: &mut DbConnection, job_id: i64) -> Result<Option<Caption>, DbError> {
    video_captions::table
        .filter(video_captions::job_id.eq(job_id))
        .select(video_captions::all_columns)
        .first::<CaptionRow>(conn)
        .optional()?
        .map(caption)
        .transpose()
}

/// Every caption of the given videos, by video then language. Locks nothing.
pub fn of_videos(conn: &mut DbConnection, video_ids: &[i64]) -> Result<Vec<Caption>, DbError> {
    captions(
        video_captions::table
            .filter(video_captions::video_id.eq_any(video_ids))
            .order((
                video_captions::video_id.asc(),
                video_captions::language.asc(),
            ))
            .select(video_captions::all_columns)
            .load(conn)?,
    )
}

/// Records `new` as the caption of `video_id` in its language, replacing the one there
/// was (call inside a write transaction holding the video lock). Returns the caption
/// and the replaced one, whose object the caller deletes after the commit.
pub fn replace(
    conn: &mut DbConnection,
    video_id: i64,
    new: &NewCaption,
    now: NaiveDateTime,
) -> Result<(Caption, Option<Caption>), DbError> {
    let old = find(conn, video_id, &new.language)?;
    if let Some(old) = &old {
        diesel::delete(video_captions::table.find(old.id)).execute(conn)?;
    }
    let row: CaptionRow = diesel::insert_into(video_captions::table)
        .values((
            video_captions::video_id.eq(video_id),
            video_captions::language.eq(new.language.as_str()),
            video_captions::storage_key.eq(&new.storage_key),
            video_captions::source.eq(new.source.as_str()),
            video_captions::size.eq(new.size),
            video_captions::job_id.eq(new.job_id),
            video_captions::created_at.eq(old.as_ref().map_or(now, |o| o.created_at)),
            video_captions::updated_at.eq(now),
        ))
        .returning(video_captions::all_columns)
        .get_result(conn)?;
    Ok((caption(row)?, old))
}

/// Deletes the caption of `video_id` in `language` and returns it (its object is the
/// caller's to delete after the commit); `None` when there is none.
pub fn remove(
    conn: &mut DbConnection,
    video_id: i64,
    language: &Language,
) -> Result<Option<Caption>, DbError> {
    let Some(old) = find(conn, video_id, language)? else {
        return Ok(None);
    };
    diesel::delete(video_captions::table.find(old.id)).execute(conn)?;
    Ok(Some(old))
}
