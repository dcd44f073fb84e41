//! Studio edits: `video-studio-transcoding` jobs (`runner-protocol.md` 3.5), a runner
//! cutting a video, adding an intro or an outro, or overlaying a watermark, in the
//! order asked.
//!
//! - [`request`] (`POST /api/v1/videos/{uuid}/studio/edit`): checks the tasks
//!   ([`crate::domain::studio`]: 1 to 10 known tasks, cut bounds inside the video,
//!   intro and outro files probed as media with a moving picture, watermark files as
//!   images), stores the task files under `<dir>/studio/` (served to the job's runner
//!   by the token-checked `…/studio/task-files/{name}` route), then in one transaction
//!   moves the published video to `editing` and creates the job. A failure deletes
//!   the files it stored.
//! - [`store_edit`] (the job's `success`): the edited MP4 becomes the video's source
//!   (`<dir>/<base>-e<n>-source.mp4`; the source before is kept, as
//!   `replaced-source`, until the edit's renditions are all published, then deleted
//!   by `renditions::refresh_state`), its thumbnail is made again, and the ladder is
//!   planned again in the same transaction as the source switch (which also cancels
//!   the video's unfinished storyboard jobs and drops its storyboard, made of the
//!   source before; with `transcoding.storyboards` a new one is planned). The new renditions
//!   are named after edition `n` and recorded as `next-…` until the edit's top one
//!   arrives: that commit switches the video to them (the master playlist is rebuilt
//!   from them, the old renditions deleted), so a client sees the old ladder or the
//!   new one, never a mix.
//! - [`ended`]: once the job ended, its task files are deleted; an edit that failed
//!   for good or was cancelled returns the video to `published`, untouched.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::db::{self, DbError};
use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::payloads::{
    FileOptions, InputFile, InputVideo, JobPayload, PrivatePayload, StudioPayload,
    StudioPrivatePayload, StudioTask, VideoInput, WatermarkOptions, input_url,
};
use crate::domain::planning::{self, Outputs};
use crate::domain::studio::{self, MAX_TASKS, MIN_TASKS, TASK_NAMES};
use crate::domain::video::{FileKind, Video, VideoState, keys};
use crate::error::ServiceError;
use crate::media::MediaInfo;
use crate::service::jobs::cancel::{after_cancel, cancel_in};
use crate::service::jobs::per_type::{self, CompletionError};
use crate::service::jobs::{JobSpec, RunnerUpload, create_jobs};
use crate::service::storyboards;
use crate::service::submit::{
    OutputOptions, job_specs, ladder_rules, make_thumbnail, probe_error, source_facts,
    source_facts_of,
};
use crate::service::task_state::TaskState;
use crate::service::webhooks::{Notice, Outbox};
use crate::service::{Context, timefmt};
use crate::storage::StagedFile;

/// Priority of studio jobs: as a video's required transcoding (100; PeerTube gives its
/// studio runner jobs the priority of the user's transcoding).
pub const STUDIO_PRIORITY: i32 = 100;

/// A task as the client sent it, before checks.
#[derive(Debug)]
pub struct RequestedTask {
    /// `tasks[i][name]`.
    pub name: String,
    /// `tasks[i][options][start]` (cut).
    pub start: Option<String>,
    /// `tasks[i][options][end]` (cut).
    pub end: Option<String>,
    /// `tasks[i][options][file]` (intro, outro, watermark), staged.
    pub file: Option<StagedFile>,
}

/// A checked task, its file (if any) staged and probed.
struct CheckedTask {
    task: StudioTask,
    file: Option<(StagedFile, String)>,
}

fn invalid(i: usize, msg: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(format!("tasks[{i}]: {msg}"))
}

/// The extension a task file is stored under, from what ffprobe found in it.
fn extension(info: &MediaInfo, image: bool) -> &'static str {
    let format = info.format_name.as_str();
    if image {
        return match format {
            f if f.contains("png") => "png",
            f if f.contains("webp") => "webp",
            f if f.contains("gif") => "gif",
            _ => "jpg",
        };
    }
    match format {
        f if f.contains("webm") || f.contains("matroska") => "mkv",
        f if f.contains("mp4") || f.contains("mov") => "mp4",
        _ => "bin",
    }
}

/// Checks one task (its file probed: an intro or outro must hold a moving picture,
/// a watermark be one image).
async fn check_task(
    ctx: &Context,
    i: usize,
    task: RequestedTask,
    duration: f64,
) -> Result<CheckedTask, ServiceError> {
    if !TASK_NAMES.contains(&task.name.as_str()) {
        return Err(invalid(
            i,
            format!(
                "unknown task `{}` (known: {})",
                task.name.chars().take(64).collect::<String>(),
                TASK_NAMES.join(", ")
            ),
        ));
    }
    if task.name == "cut" {
        if task.file.is_some() {
            return Err(invalid(i, "cut takes no file"));
        }
        let options = studio::cut(task.start.as_deref(), task.end.as_deref(), duration)
            .map_err(|e| invalid(i, e))?;
        return Ok(CheckedTask {
            task: StudioTask::Cut(options),
            file: None,
        });
    }
    if task.start.is_some() || task.end.is_some() {
        return Err(invalid(i, format!("{} takes no start or end", task.name)));
    }
    let Some(file) = task.file else {
        return Err(invalid(
            i,
            format!("{} needs a file in `tasks[{i}][options][file]`", task.name),
        ));
    };
    if file.len().await.unwrap_or(0) == 0 {
        return Err(ServiceError::InvalidMedia(format!(
            "tasks[{i}]: the file is empty"
        )));
    }
    let watermark = task.name == "add-watermark";
    let probed = if watermark {
        ctx.media.probe_image(file.path()).await
    } else {
        ctx.media.probe(file.path()).await
    };
    let info = probed.map_err(|e| match probe_error(e) {
        ServiceError::InvalidMedia(m) if watermark => ServiceError::InvalidMedia(format!(
            "tasks[{i}]: a watermark must be an image (PNG, JPEG, WebP, GIF): {m}"
        )),
        ServiceError::InvalidMedia(m) => ServiceError::InvalidMedia(format!("tasks[{i}]: {m}")),
        other => other,
    })?;
    let still = info.video.as_ref().is_some_and(|v| v.is_still_image);
    let moving = info.video.as_ref().is_some_and(|v| !v.is_still_image);
    if watermark && !(still && info.audio.is_none()) {
        return Err(ServiceError::InvalidMedia(format!(
            "tasks[{i}]: a watermark must be an image (PNG, JPEG, WebP, GIF)"
        )));
    }
    if !watermark && !moving {
        return Err(ServiceError::InvalidMedia(format!(
            "tasks[{i}]: the {} file does not contain a video stream",
            task.name
        )));
    }
    let ext = extension(&info, watermark).to_owned();
    let placeholder = String::new();
    let task = match task.name.as_str() {
        "add-intro" => StudioTask::AddIntro(FileOptions { file: placeholder }),
        "add-outro" => StudioTask::AddOutro(FileOptions { file: placeholder }),
        _ => StudioTask::AddWatermark(WatermarkOptions {
            file: placeholder,
            watermark_size_ratio: studio::WATERMARK_SIZE_RATIO,
            horizontal_margin_ratio: studio::WATERMARK_HORIZONTAL_MARGIN_RATIO,
            vertical_margin_ratio: studio::WATERMARK_VERTICAL_MARGIN_RATIO,
        }),
    };
    Ok(CheckedTask {
        task,
        file: Some((file, ext)),
    })
}

/// Sets the `file` of a task that has one.
fn with_file(task: &StudioTask, file: String) -> StudioTask {
    match task {
        StudioTask::Cut(o) => StudioTask::Cut(*o),
        StudioTask::AddIntro(_) => StudioTask::AddIntro(FileOptions { file }),
        StudioTask::AddOutro(_) => StudioTask::AddOutro(FileOptions { file }),
        StudioTask::AddWatermark(o) => {
            StudioTask::AddWatermark(WatermarkOptions { file, ..o.clone() })
        }
    }
}

/// Whether `video` can be edited now: published (every job ended, none failed), its
/// source a video with a known duration.
fn check_editable(video: &Video) -> Result<f64, ServiceError> {
    if video.state != VideoState::Published {
        return Err(ServiceError::Conflict(format!(
            "Only a published video can be edited (this one is {})",
            video.state.name()
        )));
    }
    if !(video.options.hls || video.options.web_videos) {
        return Err(ServiceError::Conflict(
            "This video has no renditions to edit".to_owned(),
        ));
    }
    video
        .duration
        .filter(|d| *d > 0.0)
        .ok_or_else(|| ServiceError::Conflict("The video's duration is unknown".to_owned()))
}

/// `POST /api/v1/videos/{uuid}/studio/edit`: see the module documentation.
/// [`ServiceError::Invalid`] for bad tasks, [`ServiceError::InvalidMedia`] for bad
/// task files, [`ServiceError::Conflict`] when the video is not published (an edit
/// already running, transcoding, failed) or is audio only.
pub async fn request(
    ctx: &Context,
    uuid: VideoUuid,
    tasks: Vec<RequestedTask>,
) -> Result<(), ServiceError> {
    let (video, files) = ctx
        .db
        .run(move |conn| {
            let video =
                db::videos::find_by_uuid(conn, uuid)?.ok_or(ServiceError::NotFound("Video"))?;
            let files = db::videos::files(conn, video.id)?;
            Ok::<_, ServiceError>((video, files))
        })
        .await?;
    let duration = check_editable(&video)?;
    if !files
        .iter()
        .any(|f| f.kind == FileKind::Source && f.width > 0)
    {
        return Err(ServiceError::Conflict(
            "An audio-only video cannot be edited".to_owned(),
        ));
    }
    if !(MIN_TASKS..=MAX_TASKS).contains(&tasks.len()) {
        return Err(ServiceError::Invalid(format!(
            "tasks: give {MIN_TASKS} to {MAX_TASKS} tasks (got {})",
            tasks.len()
        )));
    }
    let mut checked = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.into_iter().enumerate() {
        checked.push(check_task(ctx, i, task, duration).await?);
    }

    let job = JobUuid::generate();
    let mut written: Vec<String> = Vec::new();
    let result = store_request(ctx, &video, job, checked, &mut written).await;
    if result.is_err() {
        for key in &written {
            if let Err(e) = ctx.storage.delete(key).await {
                tracing::error!(key, error = %e, "cannot remove a task file of a refused edit");
            }
        }
    }
    result
}

/// Stores the task files (each key pushed to `written` before its put), then moves
/// the video to `editing` and creates the job in one transaction.
async fn store_request(
    ctx: &Context,
    video: &Video,
    job: JobUuid,
    checked: Vec<CheckedTask>,
    written: &mut Vec<String>,
) -> Result<(), ServiceError> {
    let mut sent = Vec::with_capacity(checked.len());
    let mut stored = Vec::with_capacity(checked.len());
    for (i, CheckedTask { task, file }) in checked.into_iter().enumerate() {
        let Some((file, ext)) = file else {
            sent.push(task.clone());
            stored.push(task);
            continue;
        };
        let name = studio::task_file_name(job, i, &ext);
        let key = keys::studio_task_file(&video.directory, &name);
        written.push(key.clone());
        ctx.storage.put_file(&key, file).await?;
        let url = input_url(
            ctx.public_url(),
            job,
            InputVideo::of(video),
            InputFile::StudioTaskFile(&name),
        );
        sent.push(with_file(&task, url));
        stored.push(with_file(&task, key));
    }
    let spec = JobSpec {
        uuid: job,
        payload: JobPayload::Studio(StudioPayload {
            input: VideoInput {
                video_file_url: input_url(
                    ctx.public_url(),
                    job,
                    InputVideo::of(video),
                    InputFile::MaxQuality,
                ),
                separated_audio_file_url: Vec::new(),
            },
            tasks: sent,
            output: None,
        }),
        private_payload: PrivatePayload::Studio(StudioPrivatePayload {
            video_uuid: video.uuid,
            original_tasks: stored,
        }),
        priority: STUDIO_PRIORITY,
        video_id: Some(video.id),
        parent: None,
    };
    let (id, now) = (video.id, ctx.now());
    let jobs = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                // Checked again under the lock: two edits asked at once, or a
                // retry meanwhile.
                let current = db::videos::find(conn, id)?.ok_or(ServiceError::NotFound("Video"))?;
                check_editable(&current)?;
                db::videos::set_state(conn, id, VideoState::ToEdit, None, now)?;
                create_jobs(conn, &[spec], now)
            })
        })
        .await?;
    crate::service::jobs::publish_changes(ctx, &jobs);
    Ok(())
}

/// The studio job's `success`: see the module documentation.
pub async fn store_edit(
    ctx: &Context,
    job: &Job,
    mut upload: RunnerUpload,
) -> Result<(), CompletionError> {
    let video_id = per_type::video_of(job)?;
    let edited = per_type::take(&mut upload, "videoFile")?;
    let video = ctx
        .db
        .run(move |conn| db::videos::find(conn, video_id))
        .await
        .map_err(ServiceError::from)?
        .ok_or(ServiceError::NotFound("Video"))?;
    let info = ctx.media.probe(edited.file.path()).await.map_err(|e| {
        if e.is_bad_input() {
            CompletionError(format!(
                "the edited video is not readable media ({})",
                e.client_reason()
            ))
        } else {
            ServiceError::Media(e).into()
        }
    })?;
    if info.is_audio_only() {
        return Err(CompletionError(
            "the edited video has no moving picture".to_owned(),
        ));
    }
    let thumbnail = make_thumbnail(ctx, edited.file.path()).await?;

    let t = &ctx.settings.transcoding;
    let outputs = Outputs {
        hls: video.options.hls,
        web_videos: video.options.web_videos,
    };
    let rules = ladder_rules(
        t,
        &OutputOptions {
            hls: Some(outputs.hls),
            web_videos: Some(outputs.web_videos),
            resolutions: Some(video.options.resolutions.clone()).filter(|r| !r.is_empty()),
        },
    );
    let plan = planning::plan_jobs(&source_facts(&info), &rules, outputs)
        .map_err(|e| CompletionError(format!("the edited video cannot be planned: {e}")))?;
    let top_kind = if outputs.hls {
        planning::PlannedKind::Hls
    } else {
        planning::PlannedKind::WebVideo
    };
    let switch_at = plan
        .iter()
        .filter(|j| j.kind == top_kind)
        .map(|j| j.rung.resolution)
        .max();

    let edition = video.options.edition + 1;
    let key = keys::edited_source(&video.directory, &video.base_filename, edition);
    let size = ctx
        .storage
        .put_file(&key, edited.file)
        .await
        .map_err(ServiceError::from)?;
    let mut options = video.options.clone();
    options.edition = edition;
    options.switch_at = switch_at;
    options.source_owned = true;
    let source = source_facts_of(&info, key.clone(), size);
    let mut edited_video = video.clone();
    edited_video.options = options.clone();
    edited_video.duration = info.duration;
    let mut specs = job_specs(&plan, ctx.public_url(), &edited_video);
    if t.storyboards {
        specs.extend(storyboards::job_spec(
            ctx.public_url(),
            &edited_video,
            &source,
        ));
    }
    let (now, outbox, duration) = (ctx.now(), Outbox::of(ctx), info.duration);
    let applied = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, video_id, now)? {
                    return Err(ServiceError::NotFound("Video"));
                }
                let current =
                    db::videos::find(conn, video_id)?.ok_or(ServiceError::NotFound("Video"))?;
                if current.state != VideoState::ToEdit {
                    return Err(ServiceError::Conflict(format!(
                        "the video is {} now, not being edited",
                        current.state.name()
                    )));
                }
                db::videos::apply_edit(
                    conn,
                    &current,
                    &source,
                    &options,
                    duration,
                    VideoState::Playable,
                    now,
                )?;
                // A storyboard of the source before (stored, or still to make) does
                // not describe the edit.
                let mut cancelled = Vec::new();
                for pending in db::jobs::of_videos(conn, &[video_id])?
                    .into_iter()
                    .filter(|j| j.job_type() == JobType::GenerateVideoStoryboard)
                {
                    cancelled.extend(cancel_in(conn, pending, now)?.unwrap_or_default());
                }
                let stale = db::storyboards::remove(conn, video_id)?;
                let jobs = create_jobs(conn, &specs, now)?;
                let emitted = outbox.record(conn, video_id, &[Notice::Edited], now)?;
                Ok::<_, ServiceError>((jobs, emitted, cancelled, stale))
            })
        })
        .await;
    let (jobs, emitted, cancelled, stale) = match applied {
        Ok(done) => done,
        Err(e) => {
            if let Err(d) = ctx.storage.delete(&key).await {
                tracing::error!(key, error = %d, "cannot remove the source of a failed edit");
            }
            return Err(e.into());
        }
    };
    emitted.publish(&ctx.events);
    after_cancel(ctx, &cancelled).await;
    for key in &stale {
        if let Err(e) = ctx.storage.delete(key).await {
            tracing::warn!(key, error = %e, "cannot remove the storyboard of an edited video");
        }
    }
    if let Some(thumb) = &video.thumbnail_key
        && let Err(e) = ctx.storage.put_file(thumb, thumbnail).await
    {
        tracing::warn!(video = %video.uuid, error = %e, "cannot replace the thumbnail of an edited video");
    }
    tracing::info!(video = %video.uuid, edition, jobs = jobs.len(), "studio edit applied; ladder planned again");
    crate::service::jobs::publish_changes(
        ctx,
        jobs.iter().filter(|j| j.state == JobState::Pending),
    );
    Ok(())
}

/// A studio job reached a final state (committed): its task files are deleted (only
/// the keys its private payload records, all under the video's `studio/` folder), and
/// an edit that did not complete returns its video from `editing` to `published`.
pub async fn ended(ctx: &Context, job: &Job) {
    if let PrivatePayload::Studio(p) = &job.private_payload {
        for key in p.original_tasks.iter().filter_map(StudioTask::file_url) {
            if let Err(e) = ctx.storage.delete(key).await {
                tracing::warn!(key, error = %e, "cannot remove a studio task file");
            }
        }
    }
    if job.state == JobState::Completed {
        return;
    }
    let (Some(video_id), now) = (job.video_id, ctx.now()) else {
        return;
    };
    let restored = ctx
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                if !db::videos::lock(conn, video_id, now)? {
                    return Ok(false);
                }
                let Some(video) = db::videos::find(conn, video_id)? else {
                    return Ok(false);
                };
                if video.state != VideoState::ToEdit {
                    return Ok(false);
                }
                db::videos::set_state(conn, video_id, VideoState::Published, None, now)?;
                Ok::<_, DbError>(true)
            })
        })
        .await;
    match restored {
        Ok(true) => {
            tracing::warn!(job = %job.uuid, state = ?job.state, "studio edit ended without a result; video left as it was")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(job = %job.uuid, error = %e, "cannot restore the state of a video whose edit failed")
        }
    }
}

/// The `studio` member of the video resource: its latest edit.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditView {
    /// The job.
    pub job_uuid: JobUuid,
    /// Where it is.
    pub state: TaskState,
    /// Percent done, as the runner reports it.
    pub progress: Option<i32>,
    /// The task names, in order.
    pub tasks: Vec<&'static str>,
    /// Failed attempts so far.
    pub failures: i32,
    /// Why it failed for good.
    pub error: Option<String>,
    /// Studio edits applied to the video so far.
    pub edition: u32,
    /// When it was asked for.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// When it ended.
    #[serde(with = "timefmt::option")]
    pub finished_at: Option<NaiveDateTime>,
}

fn task_name(task: &StudioTask) -> &'static str {
    match task {
        StudioTask::Cut(_) => "cut",
        StudioTask::AddIntro(_) => "add-intro",
        StudioTask::AddOutro(_) => "add-outro",
        StudioTask::AddWatermark(_) => "add-watermark",
    }
}

/// The latest studio edit among a video's `jobs`.
pub fn summary(video: &Video, jobs: &[Job]) -> Option<EditView> {
    let job = jobs
        .iter()
        .filter(|j| j.job_type() == JobType::VideoStudioTranscoding)
        .max_by_key(|j| j.id)?;
    let tasks = match &job.payload {
        JobPayload::Studio(p) => p.tasks.iter().map(task_name).collect(),
        _ => Vec::new(),
    };
    Some(EditView {
        job_uuid: job.uuid,
        state: job.state.into(),
        progress: job.progress,
        tasks,
        failures: job.failures,
        error: job.error.clone(),
        edition: video.options.edition,
        created_at: job.created_at,
        finished_at: job.finished_at,
    })
}
