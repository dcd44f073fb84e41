//! Video submission: probe the source, make its thumbnail, plan its renditions, then
//! store it in three steps:
//! 1. claim: one transaction checks that the video's folder overlaps no other video's
//!    (`db::folders`) and records the video (state `importing`) with the keys it is
//!    about to write, so that nothing is written into a folder another video owns;
//! 2. the source and thumbnail objects are written;
//! 3. one transaction creates the jobs (with `transcription`, a `video-transcription`
//!    job too, independent of them) and moves the video to `transcoding`; runners
//!    are told only then, so no runner asks for an object before it exists.
//!
//! All-or-nothing: on any failure after the claim the objects written are deleted,
//! then the video row (uploads live in a self-deleting staging file until step 2).
//! The storing part runs in its own task, so a client that disconnects mid-way cannot
//! leave half a video behind. Nothing is written before every check passed.

use std::path::Path;

use crate::config::TranscodingSettings;
use crate::db::folders::FolderConflict;
use crate::db::{self, DbError};
use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::job::{Job, JobState};
use crate::domain::payloads::{self, InputVideo};
use crate::domain::planning::{self, FpsRules, LadderRules, Outputs, PlannedJob, SourceFacts};
use crate::domain::video::{FileFacts, FileKind, NewVideo, Video, VideoOptions, VideoState, keys};
use crate::error::ServiceError;
use crate::media::{MediaInfo, ProbeError};
use crate::service::Context;
use crate::service::jobs::{JobParent, JobSpec, create_jobs};
use crate::service::webhooks::{Emitted, Notice, Outbox};
use crate::service::{storyboards, transcription};
use crate::storage::{LocalCopy, StagedFile, StorageError, validate_key};

/// The parent of default folders (`videos/<uuid>`).
pub(crate) const DEFAULT_FOLDERS: &str = "videos";

/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Rungs a request may ask for.
pub const LADDER: [u32; 8] = [144, 240, 360, 480, 720, 1080, 1440, 2160];

/// Per-request output options; `None` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// HLS renditions.
    pub hls: Option<bool>,
    /// MP4 renditions.
    pub web_videos: Option<bool>,
    /// The rungs to produce, instead of the configured ones (values of [`LADDER`]).
    pub resolutions: Option<Vec<u32>>,
}

/// Where the source is.
#[derive(Debug)]
pub enum SourceInput {
    /// An upload streamed to a staging file (deleted unless stored).
    Upload {
        /// The staged file.
        file: StagedFile,
        /// The client's file name, for the extension.
        file_name: Option<String>,
    },
    /// An object already in storage (the application's: never deleted by us).
    Stored {
        /// Its key.
        key: String,
    },
}

/// A video to create.
#[derive(Debug)]
pub struct Submission {
    /// The source.
    pub source: SourceInput,
    /// Display name.
    pub name: Option<String>,
    /// Prefix of output file names; default: the video's UUID.
    pub base_filename: Option<String>,
    /// Storage folder of the outputs; default: `videos/<uuid>`.
    pub destination: Option<String>,
    /// Output options.
    pub options: OutputOptions,
    /// Where this video's own events are sent, signed with `webhooks.secret`.
    pub callback_url: Option<String>,
    /// Also transcribe the source (a `video-transcription` job beside the transcoding;
    /// a source without audio is then refused).
    pub transcription: bool,
}

/// The planning rules of the configuration with a request's overrides applied.
pub fn ladder_rules(t: &TranscodingSettings, options: &OutputOptions) -> LadderRules {
    LadderRules {
        enabled: options
            .resolutions
            .clone()
            .unwrap_or_else(|| t.resolutions.enabled()),
        always_transcode_original_resolution: t.always_transcode_original_resolution,
        fps: FpsRules {
            min: t.fps.min,
            standard: t.fps.standard.clone(),
            hd_standard: t.fps.hd_standard.clone(),
            audio_merge: t.fps.audio_merge,
            average: t.fps.average,
            max: t.fps.max,
            keep_origin_fps_resolution_min: t.fps.keep_origin_fps_resolution_min,
        },
    }
}

fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(msg.into())
}

fn check_request(sub: &Submission) -> Result<(), ServiceError> {
    check_naming(
        sub.name.as_deref(),
        sub.destination.as_deref(),
        sub.base_filename.as_deref(),
    )?;
    if let Some(list) = &sub.options.resolutions
        && let Some(bad) = list.iter().find(|r| !LADDER.contains(r))
    {
        return Err(invalid(format!(
            "resolutions: {bad} is not one of {LADDER:?}"
        )));
    }
    Ok(())
}

/// Checks a new video's display name, folder and output name prefix.
pub(crate) fn check_naming(
    name: Option<&str>,
    destination: Option<&str>,
    base_filename: Option<&str>,
) -> Result<(), ServiceError> {
    if let Some(name) = name {
        if name.chars().any(char::is_control) {
            return Err(invalid("name: control characters are not allowed"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(format!(
                "name: at most {MAX_NAME_CHARS} characters"
            )));
        }
    }
    if let Some(dest) = destination {
        validate_key(dest).map_err(|e| invalid(format!("destination: {e}")))?;
        if dest == DEFAULT_FOLDERS {
            return Err(invalid(format!(
                "destination: `{DEFAULT_FOLDERS}` holds the default folders \
                 ({DEFAULT_FOLDERS}/<uuid>) and cannot be a video's folder"
            )));
        }
    }
    if let Some(base) = base_filename {
        let ok = !base.is_empty()
            && base.len() <= 100
            && !base.starts_with('.')
            && base
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(invalid(
                "baseFilename: 1 to 100 letters, digits, `-`, `_` or `.`, not starting with `.`",
            ));
        }
    }
    Ok(())
}

/// Probe errors: the input's fault is a 400 that says so (without ffprobe's words,
/// which name server paths: they go to the log), a missing tool a 503.
pub(crate) fn probe_error(e: ProbeError) -> ServiceError {
    if e.is_bad_input() {
        tracing::info!(error = %e, "submitted file refused by ffprobe/ffmpeg");
        ServiceError::InvalidMedia(format!(
            "The file is not a readable video or audio file ({})",
            e.client_reason()
        ))
    } else {
        ServiceError::Media(e)
    }
}

/// A folder overlap, as the client sees it.
pub(crate) fn folder_conflict(c: &FolderConflict) -> ServiceError {
    ServiceError::FolderConflict(c.to_string())
}

/// The source's extension: the client's when it is plain, else from the container.
fn source_extension(file_name: Option<&str>, info: &MediaInfo) -> String {
    let from_name = file_name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|e| (1..=8).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric()));
    from_name.unwrap_or_else(
        || match info.format_name.split(',').next().unwrap_or_default() {
            "mov" => "mp4".to_owned(),
            "matroska" => "mkv".to_owned(),
            other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                other.to_owned()
            }
            _ => "bin".to_owned(),
        },
    )
}

/// The facts planning needs.
pub fn source_facts(info: &MediaInfo) -> SourceFacts {
    let audio_only = info.is_audio_only();
    SourceFacts {
        resolution: info.resolution(),
        fps: info
            .video
            .as_ref()
            .filter(|v| !v.is_still_image)
            .and_then(|v| v.fps),
        audio_only,
        has_cover: audio_only && info.video.is_some(),
    }
}

/// A `callbackUrl` must be signable and reach an allowed target.
async fn check_callback(state: &Context, url: &str) -> Result<(), ServiceError> {
    let hooks = &state.settings.webhooks;
    if hooks.secret.is_none() {
        return Err(invalid(
            "callbackUrl: this server has no webhooks.secret to sign callbacks with",
        ));
    }
    crate::service::webhooks::send::check_target(&hooks.target_policy(), url)
        .await
        .map_err(|e| invalid(format!("callbackUrl: {e}")))
}

/// Creates a video from `sub` and returns it. See the module documentation.
pub async fn submit(state: &Context, sub: Submission) -> Result<Video, ServiceError> {
    check_request(&sub)?;
    if let Some(url) = &sub.callback_url {
        check_callback(state, url).await?;
    }
    let t = &state.settings.transcoding;
    let outputs = Outputs {
        hls: sub.options.hls.unwrap_or(t.hls),
        web_videos: sub.options.web_videos.unwrap_or(t.web_videos),
    };
    let rules = ladder_rules(t, &sub.options);
    let uuid = VideoUuid::generate();
    let directory = sub
        .destination
        .clone()
        .unwrap_or_else(|| format!("{DEFAULT_FOLDERS}/{uuid}"));
    let base = sub
        .base_filename
        .clone()
        .unwrap_or_else(|| uuid.to_string());

    // A stored source is read where it is (local disk) or from a copy (object store).
    let stored_copy: Option<LocalCopy> = match &sub.source {
        SourceInput::Upload { file, .. } => {
            if file.len().await.map_err(|e| staging_io("upload", e))? == 0 {
                return Err(ServiceError::InvalidMedia(
                    "The uploaded file is empty".to_owned(),
                ));
            }
            None
        }
        SourceInput::Stored { key } => {
            validate_key(key).map_err(|e| invalid(format!("filePath: {e}")))?;
            Some(state.storage.materialize(key).await.map_err(|e| match e {
                StorageError::NotFound(_) => invalid(format!("filePath: no stored object `{key}`")),
                other => other.into(),
            })?)
        }
    };
    let source_path = match (&sub.source, &stored_copy) {
        (SourceInput::Upload { file, .. }, _) => file.path(),
        (SourceInput::Stored { .. }, Some(copy)) => copy.path(),
        (SourceInput::Stored { key }, None) => {
            return Err(invalid(format!("filePath: no stored object `{key}`")));
        }
    };
    // Early answer before the (slow) probe; the claim checks again under the lock.
    let (dir, stored) = (directory.clone(), stored_key(&sub.source));
    if let Some(c) = state
        .db
        .run(move |conn| db::folders::conflict(conn, &dir, stored.as_deref()))
        .await?
    {
        return Err(folder_conflict(&c));
    }

    let info = state.media.probe(source_path).await.map_err(probe_error)?;
    if info.is_audio_only() && !info.has_audio() {
        return Err(ServiceError::InvalidMedia(
            "The file has no audio and no moving picture (a still image is not a video)".to_owned(),
        ));
    }
    if sub.transcription && !info.has_audio() {
        return Err(ServiceError::NoAudio);
    }
    let facts = source_facts(&info);
    let plan = planning::plan_jobs(&facts, &rules, outputs).map_err(|e| invalid(e.to_string()))?;

    let thumbnail = match info.video {
        Some(_) => Some(make_thumbnail(state, source_path).await?),
        None => None,
    };
    drop(stored_copy);
    let options = VideoOptions {
        hls: outputs.hls,
        web_videos: outputs.web_videos,
        resolutions: rules.enabled.clone(),
        source_owned: matches!(sub.source, SourceInput::Upload { .. }),
        edition: 0,
        switch_at: None,
    };
    let prepared = Prepared {
        uuid,
        directory,
        base,
        name: sub.name,
        source: sub.source,
        thumbnail,
        info,
        plan,
        options,
        callback_url: sub.callback_url,
        transcription: sub.transcription,
    };
    // Detached from the request: it finishes (or cleans up) even if the client leaves.
    let task_state = state.clone();
    let video = tokio::spawn(async move {
        let (video, jobs) = store(&task_state, prepared).await?;
        crate::service::jobs::publish_changes(
            &task_state,
            jobs.iter().filter(|j| j.state == JobState::Pending),
        );
        Ok::<_, ServiceError>(video)
    })
    .await
    .map_err(|e| ServiceError::Db(DbError::Task(e.to_string())))??;
    Ok(video)
}

/// The key of a source named by `filePath` (an object the video does not own).
fn stored_key(source: &SourceInput) -> Option<String> {
    match source {
        SourceInput::Stored { key } => Some(key.clone()),
        SourceInput::Upload { .. } => None,
    }
}

pub(crate) fn staging_io(what: &str, source: std::io::Error) -> ServiceError {
    ServiceError::Storage(StorageError::Io {
        key: what.to_owned(),
        source,
    })
}

pub(crate) async fn make_thumbnail(
    state: &Context,
    source: &Path,
) -> Result<StagedFile, ServiceError> {
    let (tmp, file) = state
        .storage
        .staging()
        .create_file("thumb-", ".jpg")
        .await
        .map_err(|e| staging_io("thumbnail", e))?;
    drop(file);
    state
        .media
        .thumbnail(source, tmp.path())
        .await
        .map_err(|e| probe_error(ProbeError::Tool(e)))?;
    Ok(tmp)
}

/// Everything decided before anything is written.
struct Prepared {
    uuid: VideoUuid,
    directory: String,
    base: String,
    name: Option<String>,
    source: SourceInput,
    thumbnail: Option<StagedFile>,
    info: MediaInfo,
    plan: Vec<PlannedJob>,
    options: VideoOptions,
    callback_url: Option<String>,
    transcription: bool,
}

/// Claims the folder, stores the objects, creates the jobs (see the module
/// documentation); on a failure after the claim deletes what it wrote, then the video.
async fn store(state: &Context, p: Prepared) -> Result<(Video, Vec<Job>), ServiceError> {
    let source_key = match &p.source {
        SourceInput::Upload { file_name, .. } => keys::source(
            &p.directory,
            &p.base,
            &source_extension(file_name.as_deref(), &p.info),
        ),
        SourceInput::Stored { key } => key.clone(),
    };
    let stored = stored_key(&p.source);
    let source_size = match &p.source {
        SourceInput::Upload { file, .. } => {
            file.len().await.map_err(|e| staging_io("upload", e))?
        }
        SourceInput::Stored { .. } => state.storage.size(&source_key).await?.unwrap_or(0),
    };
    let now = state.now();
    let new_video = NewVideo {
        uuid: p.uuid,
        state: VideoState::Importing,
        name: p.name,
        directory: p.directory.clone(),
        base_filename: p.base,
        duration: p.info.duration,
        thumbnail_key: p.thumbnail.as_ref().map(|_| keys::thumbnail(&p.directory)),
        options: p.options,
    };
    let source_file = source_facts_of(&p.info, source_key.clone(), source_size);
    let storyboard_source = source_file.clone();
    let callback_url = p.callback_url;
    let video = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let video = db::folders::claim(conn, &new_video, stored.as_deref(), now)?
                    .map_err(|c| folder_conflict(&c))?;
                db::videos::insert_file(conn, video.id, &source_file, now)?;
                if let Some(url) = &callback_url {
                    db::webhooks::set_callback_url(conn, video.id, url)?;
                }
                Ok::<_, ServiceError>(video)
            })
        })
        .await?;

    let mut written: Vec<String> = Vec::new();
    let result = write_and_plan(
        state,
        &video,
        p.source,
        source_key,
        p.thumbnail,
        JobPlan {
            transcoding: &p.plan,
            transcription: p.transcription,
            storyboard_of: state
                .settings
                .transcoding
                .storyboards
                .then_some(&storyboard_source),
        },
        &mut written,
    )
    .await;
    if result.is_err() {
        for key in &written {
            if let Err(e) = state.storage.delete(key).await {
                tracing::error!(key, error = %e, "cannot remove an object of a failed submission");
            }
        }
        let id = video.id;
        if let Err(e) = state.db.run(move |conn| db::videos::delete(conn, id)).await {
            tracing::error!(video = %video.uuid, error = %e, "cannot remove the video of a failed submission");
        }
    }
    result
}

/// The jobs a submission creates.
struct JobPlan<'a> {
    transcoding: &'a [PlannedJob],
    transcription: bool,
    /// With `transcoding.storyboards`: the source a storyboard is made of.
    storyboard_of: Option<&'a FileFacts>,
}

/// Steps 2 and 3 of [`store`]: writes the objects (recording each key in `written`
/// before its put, so a put that fails half-way is cleaned up too), then creates the
/// jobs and leaves `importing`.
async fn write_and_plan(
    state: &Context,
    video: &Video,
    source: SourceInput,
    source_key: String,
    thumbnail: Option<StagedFile>,
    jobs: JobPlan<'_>,
    written: &mut Vec<String>,
) -> Result<(Video, Vec<Job>), ServiceError> {
    if let SourceInput::Upload { file, .. } = source {
        written.push(source_key.clone());
        state.storage.put_file(&source_key, file).await?;
    }
    if let (Some(tmp), Some(key)) = (thumbnail, &video.thumbnail_key) {
        written.push(key.clone());
        state.storage.put_file(key, tmp).await?;
    }
    let mut specs = job_specs(jobs.transcoding, state.public_url(), video);
    if jobs.transcription {
        specs.push(transcription::job_spec(state.public_url(), video));
    }
    if let Some(source) = jobs.storyboard_of {
        specs.extend(storyboards::job_spec(state.public_url(), video, source));
    }
    let (id, now, outbox) = (video.id, state.now(), Outbox::of(state));
    let (video, jobs, emitted): (Video, Vec<Job>, Emitted) = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                // Deleted meanwhile: its objects must go too (the caller does it).
                if !db::videos::leave_importing(conn, id, VideoState::ToTranscode, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                let jobs = create_jobs(conn, &specs, now)?;
                let emitted = outbox.record(conn, id, &[Notice::Created], now)?;
                let video = db::videos::find(conn, id)?.ok_or(ServiceError::NotFound("Video"))?;
                Ok((video, jobs, emitted))
            })
        })
        .await?;
    emitted.publish(&state.events);
    Ok((video, jobs))
}

/// The job specs of `plan` for `video` (UUIDs generated here, before insertion,
/// because the payload URLs contain them).
pub fn job_specs(plan: &[PlannedJob], public_url: &str, video: &Video) -> Vec<JobSpec> {
    plan.iter()
        .map(|job| {
            let uuid = JobUuid::generate();
            JobSpec {
                payload: payloads::payload(job, public_url, uuid, InputVideo::of(video)),
                private_payload: payloads::private_payload(job, video.uuid),
                uuid,
                priority: job.priority,
                video_id: Some(video.id),
                parent: job.parent.map(JobParent::Spec),
            }
        })
        .collect()
}

pub(crate) fn source_facts_of(info: &MediaInfo, key: String, size: u64) -> FileFacts {
    let (width, height, fps) = match info.video.as_ref().filter(|v| !v.is_still_image) {
        Some(v) => (v.width as i32, v.height as i32, v.fps.unwrap_or(0.0)),
        None => (0, 0, 0.0),
    };
    FileFacts {
        kind: FileKind::Source,
        storage_key: key,
        playlist_key: None,
        resolution: i32::try_from(info.resolution()).unwrap_or(0),
        width,
        height,
        fps,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        bitrate: info.bit_rate.and_then(|b| i64::try_from(b).ok()),
        codecs: info.codecs_string(),
        format: Some(info.format_name.clone()),
        metadata: Some(info.raw.to_string()),
    }
}
