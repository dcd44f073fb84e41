//! Row structs, private to `db`, and their conversions to domain types. Field order
//! matches the column order in `schema.rs`, because rows are loaded with
//! `table::all_columns` (what `MultiConnection` supports). States, types and kinds are
//! read through `db::mapping`; UUIDs and JSON payloads are parsed here, so a row the
//! service cannot read is a [`DbError::Corrupt`], never a guess.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbError;
use super::schema::{registration_tokens, runner_jobs, runners, video_files, videos};
use crate::domain::ids::{JobUuid, RegistrationToken, TokenHash, VideoUuid};
use crate::domain::job::{Job, JobState, JobType, NewJob};
use crate::domain::payloads::{JobPayload, PrivatePayload};
use crate::domain::runner::{NewRunner, Runner, StoredRegistrationToken};
use crate::domain::video::{
    FileFacts, FileKind, NewVideo, Video, VideoFile, VideoOptions, VideoState,
};

fn corrupt(what: &str, id: i64, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("{what} {id}: {e}"))
}

#[derive(Debug, Queryable)]
pub(super) struct RegistrationTokenRow {
    id: i64,
    token: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<RegistrationTokenRow> for StoredRegistrationToken {
    fn from(r: RegistrationTokenRow) -> StoredRegistrationToken {
        StoredRegistrationToken {
            id: r.id,
            token: RegistrationToken::from_stored(r.token),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = registration_tokens)]
pub(super) struct NewRegistrationTokenRow<'a> {
    pub token: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Queryable)]
pub(super) struct RunnerRow {
    id: i64,
    registration_token_id: i64,
    name: String,
    description: Option<String>,
    _token_hash: String,
    ip: String,
    last_contact: NaiveDateTime,
    version: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<RunnerRow> for Runner {
    fn from(r: RunnerRow) -> Runner {
        Runner {
            id: r.id,
            registration_token_id: r.registration_token_id,
            name: r.name,
            description: r.description,
            ip: r.ip,
            last_contact: r.last_contact,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = runners)]
pub(super) struct NewRunnerRow<'a> {
    registration_token_id: i64,
    name: &'a str,
    description: Option<&'a str>,
    token_hash: &'a str,
    ip: &'a str,
    last_contact: NaiveDateTime,
    version: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl<'a> NewRunnerRow<'a> {
    pub(super) fn new(r: &'a NewRunner, now: NaiveDateTime) -> NewRunnerRow<'a> {
        NewRunnerRow {
            registration_token_id: r.registration_token_id,
            name: &r.name,
            description: r.description.as_deref(),
            token_hash: r.token_hash.as_str(),
            ip: &r.ip,
            last_contact: now,
            version: r.version.as_deref(),
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, Queryable)]
pub(super) struct JobRow {
    id: i64,
    uuid: String,
    #[diesel(deserialize_as = String)]
    job_type: JobType,
    #[diesel(deserialize_as = i32)]
    state: JobState,
    payload: String,
    private_payload: String,
    priority: i32,
    failures: i32,
    error: Option<String>,
    progress: Option<i32>,
    job_token_hash: Option<String>,
    runner_id: Option<i64>,
    depends_on_job_id: Option<i64>,
    video_id: Option<i64>,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<JobRow> for Job {
    type Error = DbError;

    fn try_from(r: JobRow) -> Result<Job, DbError> {
        let uuid = JobUuid::from_stored(&r.uuid).map_err(|e| corrupt("job", r.id, e))?;
        let payload =
            JobPayload::from_json(r.job_type, &r.payload).map_err(|e| corrupt("job", r.id, e))?;
        let private_payload = PrivatePayload::from_json(r.job_type, &r.private_payload)
            .map_err(|e| corrupt("job", r.id, e))?;
        Ok(Job {
            id: r.id,
            uuid,
            state: r.state,
            payload,
            private_payload,
            priority: r.priority,
            failures: r.failures,
            error: r.error,
            progress: r.progress,
            token_hash: r.job_token_hash.map(TokenHash::from_stored),
            runner_id: r.runner_id,
            parent_id: r.depends_on_job_id,
            video_id: r.video_id,
            started_at: r.started_at,
            finished_at: r.finished_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Converts loaded job rows.
pub(super) fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, DbError> {
    rows.into_iter().map(Job::try_from).collect()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = runner_jobs)]
pub(super) struct NewJobRow {
    uuid: String,
    job_type: JobType,
    state: JobState,
    payload: String,
    private_payload: String,
    priority: i32,
    failures: i32,
    depends_on_job_id: Option<i64>,
    video_id: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl NewJobRow {
    pub(super) fn new(job: &NewJob, state: JobState, now: NaiveDateTime) -> NewJobRow {
        NewJobRow {
            uuid: job.uuid.to_string(),
            job_type: job.job_type(),
            state,
            payload: job.payload.to_json(),
            private_payload: job.private_payload.to_json(),
            priority: job.priority,
            failures: 0,
            depends_on_job_id: job.parent_id,
            video_id: job.video_id,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, Queryable)]
pub(super) struct VideoRow {
    id: i64,
    uuid: String,
    #[diesel(deserialize_as = i32)]
    state: VideoState,
    name: Option<String>,
    directory: String,
    base_filename: String,
    duration: Option<f64>,
    thumbnail_key: Option<String>,
    language: Option<String>,
    error: Option<String>,
    options: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    callback_url: Option<String>,
}

impl TryFrom<VideoRow> for Video {
    type Error = DbError;

    fn try_from(r: VideoRow) -> Result<Video, DbError> {
        let uuid = VideoUuid::from_stored(&r.uuid).map_err(|e| corrupt("video", r.id, e))?;
        let options: VideoOptions =
            serde_json::from_str(&r.options).map_err(|e| corrupt("video", r.id, e))?;
        Ok(Video {
            id: r.id,
            uuid,
            state: r.state,
            name: r.name,
            directory: r.directory,
            base_filename: r.base_filename,
            duration: r.duration,
            thumbnail_key: r.thumbnail_key,
            language: r.language,
            error: r.error,
            options,
            callback_url: r.callback_url,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Converts loaded video rows.
pub(super) fn videos(rows: Vec<VideoRow>) -> Result<Vec<Video>, DbError> {
    rows.into_iter().map(Video::try_from).collect()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = videos)]
pub(super) struct NewVideoRow {
    uuid: String,
    state: VideoState,
    name: Option<String>,
    directory: String,
    base_filename: String,
    duration: Option<f64>,
    thumbnail_key: Option<String>,
    options: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl NewVideoRow {
    pub(super) fn new(v: &NewVideo, now: NaiveDateTime) -> NewVideoRow {
        NewVideoRow {
            uuid: v.uuid.to_string(),
            state: v.state,
            name: v.name.clone(),
            directory: v.directory.clone(),
            base_filename: v.base_filename.clone(),
            duration: v.duration,
            thumbnail_key: v.thumbnail_key.clone(),
            options: serde_json::to_string(&v.options).unwrap_or_else(|_| "{}".to_owned()),
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Debug, Queryable)]
pub(super) struct VideoFileRow {
    id: i64,
    video_id: i64,
    #[diesel(deserialize_as = String)]
    kind: FileKind,
    storage_key: String,
    playlist_key: Option<String>,
    resolution: i32,
    width: i32,
    height: i32,
    fps: f64,
    size: i64,
    bitrate: Option<i64>,
    codecs: Option<String>,
    metadata: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    format: Option<String>,
    announced_at: Option<NaiveDateTime>,
}

impl From<VideoFileRow> for VideoFile {
    fn from(r: VideoFileRow) -> VideoFile {
        VideoFile {
            id: r.id,
            video_id: r.video_id,
            facts: FileFacts {
                kind: r.kind,
                storage_key: r.storage_key,
                playlist_key: r.playlist_key,
                resolution: r.resolution,
                width: r.width,
                height: r.height,
                fps: r.fps,
                size: r.size,
                bitrate: r.bitrate,
                codecs: r.codecs,
                format: r.format,
                metadata: r.metadata,
            },
            announced_at: r.announced_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Converts loaded file rows.
pub(super) fn files(rows: Vec<VideoFileRow>) -> Vec<VideoFile> {
    rows.into_iter().map(VideoFile::from).collect()
}

#[derive(Debug, Insertable)]
#[diesel(table_name = video_files)]
pub(super) struct NewVideoFileRow<'a> {
    video_id: i64,
    kind: &'a str,
    storage_key: &'a str,
    playlist_key: Option<&'a str>,
    resolution: i32,
    width: i32,
    height: i32,
    fps: f64,
    size: i64,
    bitrate: Option<i64>,
    codecs: Option<&'a str>,
    metadata: Option<&'a str>,
    format: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl<'a> NewVideoFileRow<'a> {
    pub(super) fn new(video_id: i64, f: &'a FileFacts, now: NaiveDateTime) -> NewVideoFileRow<'a> {
        NewVideoFileRow {
            video_id,
            kind: f.kind.as_str(),
            storage_key: &f.storage_key,
            playlist_key: f.playlist_key.as_deref(),
            resolution: f.resolution,
            width: f.width,
            height: f.height,
            fps: f.fps,
            size: f.size,
            bitrate: f.bitrate,
            codecs: f.codecs.as_deref(),
            metadata: f.metadata.as_deref(),
            format: f.format.as_deref(),
            created_at: now,
            updated_at: now,
        }
    }
}
