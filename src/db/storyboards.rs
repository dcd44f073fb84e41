//! Storyboard queries: one storyboard per video (the table's `video_id` is unique).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::storyboards;
use super::{DbConnection, DbError};
use crate::domain::payloads::{Size, Sprites};

/// A stored storyboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Storyboard {
    /// Storage key of the sprite sheet (its WebVTT track beside it,
    /// [`crate::domain::video::keys::storyboard_track_of`]).
    pub storage_key: String,
    /// Its geometry.
    pub sprites: Sprites,
    /// When it was stored.
    pub updated_at: NaiveDateTime,
}

type Row = (i64, String, i32, i32, i32, i32, f64, NaiveDateTime);

fn storyboard((_, storage_key, w, h, cw, ch, duration, updated_at): Row) -> Storyboard {
    let n = |v: i32| u32::try_from(v).unwrap_or(0);
    Storyboard {
        storage_key,
        sprites: Sprites {
            size: Size {
                width: n(w),
                height: n(h),
            },
            count: Size {
                width: n(cw),
                height: n(ch),
            },
            duration,
        },
        updated_at,
    }
}

fn columns() -> (
    storyboards::video_id,
    storyboards::storage_key,
    storyboards::sprite_width,
    storyboards::sprite_height,
    storyboards::sprite_count_width,
    storyboards::sprite_count_height,
    storyboards::sprite_duration,
    storyboards::updated_at,
) {
    (
        storyboards::video_id,
        storyboards::storage_key,
        storyboards::sprite_width,
        storyboards::sprite_height,
        storyboards::sprite_count_width,
        storyboards::sprite_count_height,
        storyboards::sprite_duration,
        storyboards::updated_at,
    )
}

/// The storyboards of the given videos, by video id.
pub fn of_videos(
    conn: &mut DbConnection,
    video_ids: &[i64],
) -> Result<Vec<(i64, Storyboard)>, DbError> {
    let rows: Vec<Row> = storyboards::table
        .filter(storyboards::video_id.eq_any(video_ids))
        .select(columns())
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.0, storyboard(r))).collect())
}

/// Records the storyboard of a video, replacing its earlier one (the caller holds
/// the video lock).
pub fn replace(
    conn: &mut DbConnection,
    video_id: i64,
    storage_key: &str,
    sprites: &Sprites,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let i = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    diesel::delete(storyboards::table.filter(storyboards::video_id.eq(video_id))).execute(conn)?;
    diesel::insert_into(storyboards::table)
        .values((
            storyboards::video_id.eq(video_id),
            storyboards::storage_key.eq(storage_key),
            storyboards::sprite_width.eq(i(sprites.size.width)),
            storyboards::sprite_height.eq(i(sprites.size.height)),
            storyboards::sprite_count_width.eq(i(sprites.count.width)),
            storyboards::sprite_count_height.eq(i(sprites.count.height)),
            storyboards::sprite_duration.eq(sprites.duration),
            storyboards::created_at.eq(now),
            storyboards::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the storyboard row of a video (the caller holds the video lock); returns
/// the keys it recorded (sprite sheet and track) for the caller to delete.
pub fn remove(conn: &mut DbConnection, video_id: i64) -> Result<Vec<String>, DbError> {
    let filter = storyboards::table.filter(storyboards::video_id.eq(video_id));
    let images: Vec<String> = filter.select(storyboards::storage_key).load(conn)?;
    diesel::delete(filter).execute(conn)?;
    Ok(images
        .into_iter()
        .flat_map(|k| [crate::domain::video::keys::storyboard_track_of(&k), k])
        .collect())
}
