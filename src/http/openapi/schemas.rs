//! Schemas the derive cannot read off a type: the domain types with a hand-written
//! wire form (job and video states, job types, UUIDs, tokens, payloads), each given
//! the schema of a small mirror of that form; the problem document; and the request
//! bodies, which handlers read field by field (`http::extract::Fields`).

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::caption::{CaptionSource, Language};
use crate::domain::ids::{JobToken, JobUuid, RegistrationToken, RunnerToken, VideoUuid};
use crate::domain::job::{JobState, JobType};
use crate::domain::payloads::{JobPayload, PrivatePayload};
use crate::domain::video::{VideoOptions, VideoState};
use crate::domain::webhook::{DeliveryState, EventType};
use crate::service::admin::RunnerJobAdminView;
use crate::service::jobs::view::RunnerJobView;

/// Gives `$ty` the schema of `$mirror` under the name `$name`.
macro_rules! schema_as {
    ($ty:ty, $mirror:ty, $name:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                <$mirror as PartialSchema>::schema()
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$mirror as ToSchema>::schemas(schemas);
            }
        }
    };
}

/// `RunnerJobState`: `{id, label}` (`runner-protocol.md` 5.1).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
struct JobStateWire {
    /// 1 pending, 2 processing, 3 completed, 4 errored, 5 waiting for parent job, 6
    /// cancelled, 7 parent errored, 8 parent cancelled, 9 completing.
    #[schema(minimum = 1, maximum = 9)]
    id: i32,
    /// PeerTube's label (`Pending`, `Waiting for parent job to finish`, …).
    label: String,
}
schema_as!(JobState, JobStateWire, "RunnerJobState");

/// `RunnerJobType`.
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code, reason = "a schema, never built")]
enum JobTypeWire {
    VodWebVideoTranscoding,
    VodHlsTranscoding,
    VodAudioMergeTranscoding,
    LiveRtmpHlsTranscoding,
    VideoStudioTranscoding,
    VideoTranscription,
    GenerateVideoStoryboard,
}
schema_as!(JobType, JobTypeWire, "RunnerJobType");

/// A video's state: `{id, name, label}`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
struct VideoStateWire {
    /// Stored id (PeerTube's `VideoState` where one exists; 10 is `playable`).
    id: i32,
    /// Machine name, also the `?state=` filter of the list.
    #[schema(example = "published")]
    name: VideoStateName,
    /// For people.
    label: String,
}

/// The machine names of video states.
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code, reason = "a schema, never built")]
enum VideoStateName {
    Published,
    Transcoding,
    Importing,
    WaitingForLive,
    LiveEnded,
    Failed,
    Editing,
    Playable,
}
schema_as!(VideoState, VideoStateWire, "VideoState");

/// Output options of a video.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
struct VideoOptionsWire {
    /// HLS renditions are made.
    hls: bool,
    /// MP4 renditions are made.
    web_videos: bool,
    /// The rungs planned.
    resolutions: Vec<u32>,
    /// The source was uploaded (the video owns it) rather than named by `filePath`.
    source_owned: bool,
    /// Studio edits applied (absent: none); outputs of edit n are named `<base>-e<n>-…`.
    edition: Option<u32>,
    /// While an edit's renditions are not published yet: the resolution of the one
    /// whose arrival switches the video to them.
    switch_at: Option<u32>,
}
schema_as!(VideoOptions, VideoOptionsWire, "VideoOptions");

/// The type of a webhook event (Standard Webhooks' dotted names).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
enum EventTypeWire {
    #[serde(rename = "video.created")]
    VideoCreated,
    #[serde(rename = "video.rendition.ready")]
    VideoRenditionReady,
    #[serde(rename = "video.playable")]
    VideoPlayable,
    #[serde(rename = "video.published")]
    VideoPublished,
    #[serde(rename = "video.failed")]
    VideoFailed,
    #[serde(rename = "video.deleted")]
    VideoDeleted,
    #[serde(rename = "transcription.completed")]
    TranscriptionCompleted,
    #[serde(rename = "transcription.failed")]
    TranscriptionFailed,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "video.edited")]
    VideoEdited,
    #[serde(rename = "storyboard.ready")]
    StoryboardReady,
}
schema_as!(EventType, EventTypeWire, "WebhookEventType");

/// Where a webhook delivery is.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "a schema, never built")]
enum DeliveryStateWire {
    Pending,
    Delivered,
    Dead,
}
schema_as!(DeliveryState, DeliveryStateWire, "DeliveryState");

/// Where a caption comes from.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "a schema, never built")]
enum CaptionSourceWire {
    Auto,
    Uploaded,
}
schema_as!(CaptionSource, CaptionSourceWire, "CaptionSource");

impl PartialSchema for Language {
    fn schema() -> RefOr<Schema> {
        token_schema("A BCP 47 language tag (`en`, `pt-BR`)")
    }
}
impl ToSchema for Language {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Language")
    }
}

/// A UUID (v4) on the wire.
fn uuid_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

impl PartialSchema for JobUuid {
    fn schema() -> RefOr<Schema> {
        uuid_schema()
    }
}
impl ToSchema for JobUuid {}

impl PartialSchema for VideoUuid {
    fn schema() -> RefOr<Schema> {
        uuid_schema()
    }
}
impl ToSchema for VideoUuid {}

/// An opaque token string.
fn token_schema(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .into()
}

impl PartialSchema for RunnerToken {
    fn schema() -> RefOr<Schema> {
        token_schema("Runner token (`ptrt-…`), shown once at registration")
    }
}
impl ToSchema for RunnerToken {}

impl PartialSchema for JobToken {
    fn schema() -> RefOr<Schema> {
        token_schema("Job token (`ptrjt-…`) of the runner holding the job")
    }
}
impl ToSchema for JobToken {}

impl PartialSchema for RegistrationToken {
    fn schema() -> RefOr<Schema> {
        token_schema("Registration token (`ptrrt-…`)")
    }
}
impl ToSchema for RegistrationToken {}

/// A free-form JSON object.
fn object_schema(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(description))
        .into()
}

impl PartialSchema for JobPayload {
    fn schema() -> RefOr<Schema> {
        object_schema(
            "What the runner processes: the payload of the job's type, exactly as \
             PeerTube sends it (`input` URLs, `output` resolution and fps, studio \
             `tasks`, …)",
        )
    }
}
impl ToSchema for JobPayload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RunnerJobPayload")
    }
}

impl PartialSchema for PrivatePayload {
    fn schema() -> RefOr<Schema> {
        object_schema("What the server keeps beside the job (`videoUUID`, …)")
    }
}
impl ToSchema for PrivatePayload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RunnerJobPrivatePayload")
    }
}

/// `RunnerJobAdmin`: the RunnerJob object and its `privatePayload`, as one object
/// (so that a document checker can refuse unknown members).
impl PartialSchema for RunnerJobAdminView {
    fn schema() -> RefOr<Schema> {
        let mut job = match RunnerJobView::schema() {
            RefOr::T(Schema::Object(job)) => job,
            other => return other,
        };
        job.properties.insert(
            "privatePayload".to_owned(),
            RefOr::Ref(schema::Ref::from_schema_name(PrivatePayload::name())),
        );
        job.required.push("privatePayload".to_owned());
        job.description =
            Some("A RunnerJob with its private payload (`RunnerJobAdmin`)".to_owned());
        RefOr::T(Schema::Object(job))
    }
}
impl ToSchema for RunnerJobAdminView {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RunnerJobAdmin")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            PrivatePayload::name().into_owned(),
            PrivatePayload::schema(),
        ));
        <RunnerJobView as ToSchema>::schemas(schemas);
    }
}

/// An RFC 7807 problem document, PeerTube's shape (`runner-protocol.md` 1.11).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct Problem {
    /// `about:blank`, or the documentation link of PeerTube's code.
    #[schema(rename = "type")]
    kind: String,
    /// The HTTP reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for people (may change: branch on `code`).
    detail: String,
    /// A copy of `detail` (PeerTube's legacy member).
    error: String,
    /// Machine-readable code: PeerTube's on the runner API (`unknown_runner_token`,
    /// `runner_job_not_in_pending_state`, `runner_job_not_in_processing_state`,
    /// only there), always one on the video and admin APIs (`invalid_request`,
    /// `video_not_found`, `missing_admin_key`, …).
    #[schema(nullable = false)]
    code: Option<String>,
    /// The request path (validation errors).
    #[schema(nullable = false)]
    instance: Option<String>,
    /// One entry per invalid field (validation errors).
    #[schema(rename = "invalid-params", nullable = false)]
    invalid_params: Option<std::collections::BTreeMap<String, InvalidParam>>,
}

/// One invalid field of a validation error (express-validator's shape).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct InvalidParam {
    /// Always `field`.
    #[schema(rename = "type")]
    kind: String,
    /// What was sent (cut to 64 characters).
    value: serde_json::Value,
    /// Why it is refused.
    msg: String,
    /// The field name.
    path: String,
    /// `body`, `params` or `query`.
    location: String,
}

/// `POST /register` (JSON or form-urlencoded).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct RegisterBody {
    /// `ptrrt-…` from an operator.
    registration_token: String,
    /// Unique runner name (1 to 100 characters).
    name: String,
    /// 1 to 1000 characters.
    description: Option<String>,
    /// Runner package version (newest runners; a malformed one is ignored).
    version: Option<String>,
}

/// A body with the runner's token only (`unregister`, `accept`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct RunnerTokenBody {
    /// `ptrt-…`.
    runner_token: String,
}

/// `POST /jobs/request`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct RequestBody {
    /// `ptrt-…`.
    runner_token: String,
    /// Only these types (unknown names match nothing).
    job_types: Option<Vec<String>>,
    /// Runner package version (decides which types are offered without `jobTypes`).
    version: Option<String>,
}

/// The tokens of a job-scoped call (input downloads).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct JobTokensBody {
    /// `ptrt-…`.
    runner_token: String,
    /// `ptrjt-…` from `accept`.
    job_token: String,
}

/// `POST /jobs/{jobUUID}/abort`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct AbortBody {
    /// `ptrt-…`.
    runner_token: String,
    /// `ptrjt-…`.
    job_token: String,
    /// Why (1 to 5000 characters).
    reason: String,
}

/// `POST /jobs/{jobUUID}/error`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct ErrorBody {
    /// `ptrt-…`.
    runner_token: String,
    /// `ptrjt-…`.
    job_token: String,
    /// What failed (1 to 5000 characters).
    message: String,
}

/// `update` and `success` as runners send them: multipart text fields first, then
/// files; every value a string; nested members as literal `payload[key]` names.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct RunnerForm {
    /// `ptrt-…`.
    #[schema(rename = "runnerToken")]
    runner_token: String,
    /// `ptrjt-…`.
    #[schema(rename = "jobToken")]
    job_token: String,
    /// `update`: an integer 0..100, as text.
    progress: Option<String>,
    /// `success`: the MP4 (web video, audio merge, studio) or fragmented MP4 (HLS).
    #[schema(rename = "payload[videoFile]", format = Binary)]
    video_file: Option<String>,
    /// `success` of HLS: the media playlist; live `update`: the resolution playlist.
    #[schema(rename = "payload[resolutionPlaylistFile]", format = Binary)]
    resolution_playlist_file: Option<String>,
    /// `success` of a transcription: the VTT file.
    #[schema(rename = "payload[vttFile]", format = Binary)]
    vtt_file: Option<String>,
    /// `success` of a storyboard: the sprite sheet.
    #[schema(rename = "payload[storyboardFile]", format = Binary)]
    storyboard_file: Option<String>,
    /// `success` of a transcription: the detected language.
    #[schema(rename = "payload[inputLanguage]")]
    input_language: Option<String>,
}

/// `update` and `success` as JSON (PeerTube takes it too): the same fields, `payload`
/// an object (no file can be sent this way).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct RunnerJson {
    /// `ptrt-…`.
    runner_token: String,
    /// `ptrjt-…`.
    job_token: String,
    /// `update`: an integer 0..100.
    progress: Option<u8>,
    /// Must be absent or empty for every type but live (and for a `success` that needs
    /// files, which JSON cannot carry: 400 `Payload is invalid`).
    payload: Option<serde_json::Value>,
}

/// `POST /api/v1/videos` as multipart (the file streamed to disk).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct VideoUpload {
    /// The video or audio file.
    #[schema(format = Binary)]
    video_file: String,
    /// Display name (at most 255 characters).
    name: Option<String>,
    /// Prefix of output names (`[A-Za-z0-9._-]`, default: the video UUID).
    base_filename: Option<String>,
    /// Storage folder of the outputs (default `videos/<uuid>`).
    destination: Option<String>,
    /// `true`/`false`: override `transcoding.hls`.
    hls: Option<String>,
    /// `true`/`false`: override `transcoding.web_videos`.
    web_videos: Option<String>,
    /// Rungs to produce, e.g. `360,720`.
    resolutions: Option<String>,
}

/// `POST /api/v1/videos/{uuid}/studio/edit` as multipart (PeerTube's field names; `i`
/// from 0, tasks applied in that order).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct StudioEditUpload {
    /// `cut`, `add-intro`, `add-outro` or `add-watermark`.
    #[schema(rename = "tasks[i][name]")]
    name: String,
    /// `cut`: first second kept (whole seconds).
    #[schema(rename = "tasks[i][options][start]")]
    start: Option<String>,
    /// `cut`: second the kept part ends at (whole seconds, at most the duration).
    #[schema(rename = "tasks[i][options][end]")]
    end: Option<String>,
    /// `add-intro`/`add-outro`: a video file; `add-watermark`: an image.
    #[schema(rename = "tasks[i][options][file]", format = Binary)]
    file: Option<String>,
}

/// A task of [`StudioEditJson`] (no files: cuts only).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct StudioJsonTask {
    /// `cut`.
    name: String,
    /// `{"start"?: int, "end"?: int}`, whole seconds.
    options: serde_json::Value,
}

/// `POST /api/v1/videos/{uuid}/studio/edit` as JSON (tasks without files).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct StudioEditJson {
    /// 1 to 10 tasks, applied in order.
    tasks: Vec<StudioJsonTask>,
}

/// `POST /api/v1/videos` as JSON, naming an object already in storage.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct VideoFromStorage {
    /// Key relative to `storage.root` (plain: no `..`, no leading `/` or `.`).
    file_path: String,
    /// Display name.
    name: Option<String>,
    /// Prefix of output names.
    base_filename: Option<String>,
    /// Storage folder of the outputs.
    destination: Option<String>,
    /// Override `transcoding.hls`.
    hls: Option<bool>,
    /// Override `transcoding.web_videos`.
    web_videos: Option<bool>,
    /// Rungs to produce.
    resolutions: Option<Vec<u32>>,
}

/// `GET /healthz`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct Healthy {
    /// `ok`.
    status: String,
}

/// `GET /readyz`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct Ready {
    /// `ready`.
    status: String,
    /// `ok`.
    database: String,
    /// `ok`.
    storage: String,
    /// The link to the other instances (informative: it does not decide readiness).
    fanout: FanoutStatus,
}

/// `GET /readyz` when something is down: a problem document (code `unavailable`)
/// naming what.
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct NotReady {
    /// `about:blank`.
    #[schema(rename = "type")]
    kind: String,
    /// `Service Unavailable`.
    title: String,
    /// 503.
    status: u16,
    /// What is down, for people.
    detail: String,
    /// A copy of `detail`.
    error: String,
    /// `unavailable`.
    code: String,
    /// `ok` or `unavailable`.
    database: String,
    /// `ok`, or what storage answered (a missing bucket, refused credentials, …).
    storage: String,
}

/// The cross-instance fan-out as `/readyz` shows it: `{"backend": "none"}` for a
/// single instance, else the relay's backend and state.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct FanoutStatus {
    /// `none`, `postgres`, `redis` or `redis-sentinel`.
    backend: String,
    /// `connecting`, `connected` or `reconnecting` (absent for `none`).
    #[schema(required = false)]
    state: Option<FanoutState>,
    /// When it entered this state (absent for `none`).
    #[schema(required = false)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the last connection failed or was lost (absent for `none`).
    #[schema(required = false)]
    last_error: Option<String>,
}

/// The relay's state.
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code, reason = "a schema, never built")]
pub enum FanoutState {
    /// Not connected yet since the process started.
    Connecting,
    /// Subscribed to the channel: events cross.
    Connected,
    /// The connection was lost or refused; retrying with backoff.
    Reconnecting,
}

/// `POST /api/v1/transcriptions`: a stored object to transcribe, as a new video.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "a schema, never built")]
pub struct TranscriptionOfStored {
    /// Key relative to `storage.root`.
    file_path: String,
    /// Display name.
    name: Option<String>,
    /// Storage folder of the outputs.
    destination: Option<String>,
    /// Prefix of output names.
    base_filename: Option<String>,
}

/// `PUT …/captions/{lang}` as multipart (PeerTube's field name).
#[derive(ToSchema)]
#[allow(dead_code, reason = "a schema, never built")]
pub struct CaptionUpload {
    /// The WebVTT file.
    #[schema(format = Binary)]
    captionfile: String,
}
