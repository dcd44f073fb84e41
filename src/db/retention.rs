//! Retention of finished jobs: the jobs of a video are deleted together once every one
//! of them ended before a cutoff (see `service::retention`).
//!
//! Safe with several instances purging at once, and with writers adding jobs to a
//! video: the purge of a video locks the video's row, checks again that every job of
//! it ended before the cutoff, and deletes them in the same transaction. A writer that
//! adds jobs to an existing video must change the video's row in its transaction (as
//! submission does when it leaves `importing`), so one of the two waits for the other.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{runner_jobs, videos};
use super::{DbConnection, DbError, write_transaction};
use crate::domain::job::JobState;

fn final_state_ids() -> Vec<i32> {
    JobState::ALL
        .into_iter()
        .filter(|s| s.is_final())
        .map(i32::from)
        .collect()
}

/// Up to `limit` ids of videos above `after`, ascending, that have jobs and whose every
/// job ended before `before`. Reads only.
pub fn purgeable_videos(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    let other = diesel::alias!(runner_jobs as other);
    let unfinished = other
        .filter(other.field(runner_jobs::video_id).eq(runner_jobs::video_id))
        .filter(
            other
                .field(runner_jobs::finished_at)
                .is_null()
                .or(other.field(runner_jobs::finished_at).ge(before))
                .or(other.field(runner_jobs::state).ne_all(final_state_ids())),
        );
    let ids: Vec<Option<i64>> = runner_jobs::table
        .filter(runner_jobs::video_id.gt(after))
        .filter(diesel::dsl::not(diesel::dsl::exists(unfinished)))
        .select(runner_jobs::video_id)
        .distinct()
        .order(runner_jobs::video_id.asc())
        .limit(limit)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Deletes every job of video `video_id` if all of them ended before `before` (checked
/// again under the video's row lock); returns how many were deleted. The video and its
/// files are left alone.
pub fn purge_video_jobs(
    conn: &mut DbConnection,
    video_id: i64,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    write_transaction(conn, |conn| {
        let locked = diesel::update(videos::table.find(video_id))
            .set(videos::updated_at.eq(videos::updated_at))
            .execute(conn)?;
        if locked == 0 {
            return Ok(0);
        }
        let unfinished: bool = diesel::select(diesel::dsl::exists(
            runner_jobs::table
                .filter(runner_jobs::video_id.eq(video_id))
                .filter(
                    runner_jobs::finished_at
                        .is_null()
                        .or(runner_jobs::finished_at.ge(before))
                        .or(runner_jobs::state.ne_all(final_state_ids())),
                ),
        ))
        .get_result(conn)?;
        if unfinished {
            return Ok(0);
        }
        // Counted first: the jobs waiting for a deleted one go by cascade, which the
        // statement's own count leaves out on SQLite.
        let jobs = runner_jobs::table.filter(runner_jobs::video_id.eq(video_id));
        let count: i64 = jobs.count().get_result(conn)?;
        diesel::delete(jobs).execute(conn)?;
        Ok(usize::try_from(count).unwrap_or(0))
    })
}
