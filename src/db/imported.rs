//! Writes of `import-django`: rows carried over from the Django library keep their
//! times (and runners their token, as its hash), so they cannot go through the
//! inserts of registration and submission, which stamp `now`. Lookups here are what
//! the import compares an incoming row with.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{NewVideoFileRow, NewVideoRow};
use super::schema::{registration_tokens, runner_jobs, runners, video_files, videos};
use super::{DbConnection, DbError};
use crate::domain::ids::TokenHash;
use crate::domain::video::{FileFacts, NewVideo, VideoState};

/// A runner here, as the import compares it: id, name, token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerKey {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Hash of its token.
    pub token_hash: String,
}

/// The id of the registration token `token`, if it exists.
pub fn registration_token_id(conn: &mut DbConnection, token: &str) -> Result<Option<i64>, DbError> {
    Ok(registration_tokens::table
        .filter(registration_tokens::token.eq(token))
        .select(registration_tokens::id)
        .first(conn)
        .optional()?)
}

/// Inserts a registration token with its own times; returns its id.
pub fn insert_registration_token(
    conn: &mut DbConnection,
    token: &str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(registration_tokens::table)
        .values((
            registration_tokens::token.eq(token),
            registration_tokens::created_at.eq(created_at),
            registration_tokens::updated_at.eq(updated_at),
        ))
        .returning(registration_tokens::id)
        .get_result(conn)?)
}

/// The runners whose name is `name` or whose token hash is `hash`.
pub fn runners_matching(
    conn: &mut DbConnection,
    name: &str,
    hash: &TokenHash,
) -> Result<Vec<RunnerKey>, DbError> {
    let rows: Vec<(i64, String, String)> = runners::table
        .filter(
            runners::name
                .eq(name)
                .or(runners::token_hash.eq(hash.as_str())),
        )
        .select((runners::id, runners::name, runners::token_hash))
        .order(runners::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, token_hash)| RunnerKey {
            id,
            name,
            token_hash,
        })
        .collect())
}

/// A runner carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRunner<'a> {
    /// Its registration token here.
    pub registration_token_id: i64,
    /// Unique name.
    pub name: &'a str,
    /// Free text.
    pub description: Option<&'a str>,
    /// Hash of the token it already has.
    pub token_hash: &'a TokenHash,
    /// Last client IP.
    pub ip: &'a str,
    /// Last contact.
    pub last_contact: NaiveDateTime,
    /// Registration time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// Inserts a runner carried over; returns its id.
pub fn insert_runner(conn: &mut DbConnection, r: &ImportedRunner<'_>) -> Result<i64, DbError> {
    Ok(diesel::insert_into(runners::table)
        .values((
            runners::registration_token_id.eq(r.registration_token_id),
            runners::name.eq(r.name),
            runners::description.eq(r.description),
            runners::token_hash.eq(r.token_hash.as_str()),
            runners::ip.eq(r.ip),
            runners::last_contact.eq(r.last_contact),
            runners::created_at.eq(r.created_at),
            runners::updated_at.eq(r.updated_at),
        ))
        .returning(runners::id)
        .get_result(conn)?)
}

/// The id and folder of the video `uuid`, if it exists.
pub fn video_by_uuid(
    conn: &mut DbConnection,
    uuid: &str,
) -> Result<Option<(i64, String)>, DbError> {
    Ok(videos::table
        .filter(videos::uuid.eq(uuid))
        .select((videos::id, videos::directory))
        .first(conn)
        .optional()?)
}

/// How many jobs the video has here.
pub fn job_count(conn: &mut DbConnection, video_id: i64) -> Result<i64, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::video_id.eq(video_id))
        .count()
        .get_result(conn)?)
}

/// Inserts a video carried over with its own times and error; returns its id. The
/// caller checked its folder (`db::folders::conflict`) under the folder lock.
pub fn insert_video(
    conn: &mut DbConnection,
    video: &NewVideo,
    error: Option<&str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
) -> Result<i64, DbError> {
    let id: i64 = diesel::insert_into(videos::table)
        .values(NewVideoRow::new(video, created_at))
        .returning(videos::id)
        .get_result(conn)?;
    diesel::update(videos::table.find(id))
        .set((videos::error.eq(error), videos::updated_at.eq(updated_at)))
        .execute(conn)?;
    Ok(id)
}

/// Inserts a file carried over, created at `created_at` and already announced (its
/// `video.rendition.ready` was never this service's to send).
pub fn insert_file(
    conn: &mut DbConnection,
    video_id: i64,
    file: &FileFacts,
    created_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(video_files::table)
        .values(NewVideoFileRow::new(video_id, file, created_at))
        .execute(conn)?;
    diesel::update(
        video_files::table
            .filter(video_files::video_id.eq(video_id))
            .filter(video_files::storage_key.eq(&file.storage_key)),
    )
    .set(video_files::announced_at.eq(Some(created_at)))
    .execute(conn)?;
    Ok(())
}

/// Sets a video's state, clears its error (re-planned jobs now decide its outcome).
pub fn restart(
    conn: &mut DbConnection,
    video_id: i64,
    state: VideoState,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(videos::table.find(video_id))
        .set((
            videos::state.eq(state),
            videos::error.eq(None::<String>),
            videos::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
