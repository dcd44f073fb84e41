//! Row structs. Field order matches the column order in `schema.rs`, because rows are
//! loaded with `table::all_columns` (what `MultiConnection` supports).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    registration_tokens, runner_jobs, runners, streaming_playlists, video_files, videos,
};

/// A registration token row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RegistrationTokenRow {
    /// Primary key, shown to operators.
    pub id: i64,
    /// `ptrrt-…`, in clear.
    pub token: String,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

/// A new registration token.
#[derive(Debug, Insertable)]
#[diesel(table_name = registration_tokens)]
pub struct NewRegistrationToken<'a> {
    /// `ptrrt-…`.
    pub token: &'a str,
    /// Creation time (UTC).
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// A runner row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RunnerRow {
    /// Primary key, the `id` runners receive at registration.
    pub id: i64,
    /// The registration token it registered with.
    pub registration_token_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// SHA-256 of the runner token.
    pub token_hash: String,
    /// Last seen client IP.
    pub ip: String,
    /// Last API call (throttled).
    pub last_contact: NaiveDateTime,
    /// Runner package version, when the runner sends one.
    pub version: Option<String>,
    /// Registration time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new runner.
#[derive(Debug, Insertable)]
#[diesel(table_name = runners)]
pub struct NewRunner<'a> {
    /// The registration token used.
    pub registration_token_id: i64,
    /// Unique name.
    pub name: &'a str,
    /// Free text.
    pub description: Option<&'a str>,
    /// SHA-256 of the runner token.
    pub token_hash: &'a str,
    /// Client IP at registration.
    pub ip: &'a str,
    /// Registration time.
    pub last_contact: NaiveDateTime,
    /// Runner package version.
    pub version: Option<&'a str>,
    /// Registration time.
    pub created_at: NaiveDateTime,
    /// Registration time.
    pub updated_at: NaiveDateTime,
}

/// A runner job row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RunnerJobRow {
    /// Internal id (exposed as `parent.id`).
    pub id: i64,
    /// Public UUID v4.
    pub uuid: String,
    /// `RunnerJobType` string.
    pub job_type: String,
    /// `RunnerJobState` integer.
    pub state: i32,
    /// JSON sent to runners.
    pub payload: String,
    /// JSON kept server-side.
    pub private_payload: String,
    /// Lower runs first.
    pub priority: i32,
    /// Failed attempts so far.
    pub failures: i32,
    /// Last error message.
    pub error: Option<String>,
    /// 0..100.
    pub progress: Option<i32>,
    /// SHA-256 of the current job token.
    pub job_token_hash: Option<String>,
    /// Runner holding (or last holding) the job.
    pub runner_id: Option<i64>,
    /// Parent job.
    pub depends_on_job_id: Option<i64>,
    /// Video the job works for.
    pub video_id: Option<i64>,
    /// Accepted at.
    pub started_at: Option<NaiveDateTime>,
    /// Finished at.
    pub finished_at: Option<NaiveDateTime>,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Last change; the watchdog's heartbeat.
    pub updated_at: NaiveDateTime,
}

/// A new runner job.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = runner_jobs)]
pub struct NewRunnerJob {
    /// Public UUID v4.
    pub uuid: String,
    /// `RunnerJobType` string.
    pub job_type: String,
    /// `RunnerJobState` integer (PENDING or WAITING_FOR_PARENT_JOB).
    pub state: i32,
    /// JSON sent to runners.
    pub payload: String,
    /// JSON kept server-side.
    pub private_payload: String,
    /// Lower runs first.
    pub priority: i32,
    /// Always 0 for a new job.
    pub failures: i32,
    /// Parent job.
    pub depends_on_job_id: Option<i64>,
    /// Video the job works for.
    pub video_id: Option<i64>,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// A video row.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct VideoRow {
    /// Internal id.
    pub id: i64,
    /// Public UUID v4.
    pub uuid: String,
    /// `VideoState` integer.
    pub state: i32,
    /// Display name.
    pub name: Option<String>,
    /// Storage folder of every output.
    pub directory: String,
    /// Prefix of output names.
    pub base_filename: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Storage key of the thumbnail JPEG.
    pub thumbnail_key: Option<String>,
    /// Detected or given language.
    pub language: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Per-request output options (JSON).
    pub options: String,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new video.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = videos)]
pub struct NewVideo {
    /// Public UUID v4.
    pub uuid: String,
    /// `VideoState` integer.
    pub state: i32,
    /// Display name.
    pub name: Option<String>,
    /// Storage folder of every output.
    pub directory: String,
    /// Prefix of output names.
    pub base_filename: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Storage key of the thumbnail JPEG.
    pub thumbnail_key: Option<String>,
    /// Per-request output options (JSON).
    pub options: String,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// A stored file of a video: its source or a rendition.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct VideoFileRow {
    /// Internal id.
    pub id: i64,
    /// Owning video.
    pub video_id: i64,
    /// `source`, `web-video` or `hls` (see `domain::video::FileKind`).
    pub kind: String,
    /// Storage key of the media file.
    pub storage_key: String,
    /// Storage key of the HLS media playlist.
    pub playlist_key: Option<String>,
    /// Shorter displayed side, 0 for audio.
    pub resolution: i32,
    /// Displayed width.
    pub width: i32,
    /// Displayed height.
    pub height: i32,
    /// Frames per second (0 when unknown or audio).
    pub fps: f64,
    /// Bytes.
    pub size: i64,
    /// Peak bits per second.
    pub bitrate: Option<i64>,
    /// RFC 6381 codecs.
    pub codecs: Option<String>,
    /// ffprobe JSON.
    pub metadata: Option<String>,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new stored file.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = video_files)]
pub struct NewVideoFile {
    /// Owning video.
    pub video_id: i64,
    /// `source`, `web-video` or `hls`.
    pub kind: String,
    /// Storage key of the media file.
    pub storage_key: String,
    /// Storage key of the HLS media playlist.
    pub playlist_key: Option<String>,
    /// Shorter displayed side, 0 for audio.
    pub resolution: i32,
    /// Displayed width.
    pub width: i32,
    /// Displayed height.
    pub height: i32,
    /// Frames per second.
    pub fps: f64,
    /// Bytes.
    pub size: i64,
    /// Peak bits per second.
    pub bitrate: Option<i64>,
    /// RFC 6381 codecs.
    pub codecs: Option<String>,
    /// ffprobe JSON.
    pub metadata: Option<String>,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Same as `created_at`.
    pub updated_at: NaiveDateTime,
}

/// A video's HLS master playlist.
#[derive(Debug, Clone, PartialEq, Queryable, Insertable)]
#[diesel(table_name = streaming_playlists)]
pub struct StreamingPlaylistRow {
    /// Internal id.
    pub id: i64,
    /// Owning video.
    pub video_id: i64,
    /// Storage key of `master.m3u8`.
    pub master_key: String,
    /// Created at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}
