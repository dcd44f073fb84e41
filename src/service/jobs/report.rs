//! `update` (1.6), `abort` (1.5) and `error` (1.7).

use super::{HeldJob, JobCredentials, OwnedGuard, RunnerUpload, apply, hold, lost_race, per_type};
use crate::db::{self, DbError};
use crate::domain::lifecycle::{RunnerCall, on_abort, on_error, policy, update_is_ignored};
use crate::domain::runner_input::{LiveFiles, UPDATE_FILE_FIELDS, parse_live_update};
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::events::Event;
use crate::service::videos;

/// What an `update` whose tokens passed the check does.
#[derive(Debug)]
pub enum UpdateAdmission {
    /// The job is completing or completed: the runner is late. Answered 204, nothing
    /// read or changed.
    Ignored,
    /// The job is PROCESSING.
    Accepted {
        /// The job.
        held: Box<HeldJob>,
        /// The file fields its type takes in updates (only live jobs take any; others'
        /// are discarded unread).
        file_fields: &'static [&'static str],
    },
}

/// Step 1 of `update`: the job-token check (PROCESSING, COMPLETING, COMPLETED), before
/// any file is read.
pub async fn admit_update(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
) -> Result<UpdateAdmission, ServiceError> {
    let held = hold(ctx, creds, ip, RunnerCall::Update).await?;
    if update_is_ignored(held.job.state) {
        return Ok(UpdateAdmission::Ignored);
    }
    let file_fields: &[&str] = if policy(held.job.job_type()).live_chunks {
        &UPDATE_FILE_FIELDS
    } else {
        &[]
    };
    Ok(UpdateAdmission::Accepted {
        held: Box::new(held),
        file_fields,
    })
}

/// Step 2 of `update`: the payload must fit the type (only live jobs take one,
/// [`ServiceError::InvalidPayload`] otherwise); the job's `updated_at` (the watchdog's
/// heartbeat) is refreshed on every call, with `progress` when given; a live chunk
/// goes to [`per_type::live_chunk`].
pub async fn update(
    ctx: &Context,
    held: Box<HeldJob>,
    progress: Option<i32>,
    upload: RunnerUpload,
) -> Result<(), ServiceError> {
    let live = if policy(held.job.job_type()).live_chunks {
        let files = LiveFiles {
            chunk: upload.files.contains_key("videoChunkFile"),
            resolution_playlist: upload.files.contains_key("resolutionPlaylistFile"),
            master_playlist: upload.files.contains_key("masterPlaylistFile"),
        };
        let update = parse_live_update(|k| upload.fields.get(k).map(String::as_str), files)
            .ok_or(ServiceError::InvalidPayload)?;
        Some(update)
    } else if !upload.fields.is_empty() {
        return Err(ServiceError::InvalidPayload);
    } else {
        None
    };
    let (id, now, video_id) = (held.job.id, ctx.now(), held.job.video_id);
    let progressed = ctx
        .db
        .run(move |conn| {
            let touched = db::jobs::touch(conn, id, progress, now)?;
            // The video's progress, for its live event streams.
            let (Some(_), Some(video_id), true) = (progress, video_id, touched) else {
                return Ok(None);
            };
            let Some(video) = db::videos::find(conn, video_id)? else {
                return Ok(None);
            };
            let jobs = db::jobs::of_videos(conn, &[video_id])?;
            Ok::<_, DbError>(Some((video.uuid, videos::progress(&jobs))))
        })
        .await?;
    if let (Some((video, video_progress)), Some(job_progress)) = (progressed, progress) {
        ctx.events.publish(Event::Progress {
            video,
            job: held.job.uuid,
            job_progress,
            progress: video_progress,
        });
    }
    match live {
        Some(update) => per_type::live_chunk(ctx, &held.job, update, upload).await,
        None => Ok(()),
    }
}

/// Applies an `abort` (PROCESSING only): back to PENDING without counting a failure
/// and runners are told; a type that cannot be aborted (live) is halted instead.
/// `reason` is only logged.
pub async fn abort(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    let held = hold(ctx, creds, ip, RunnerCall::Abort).await?;
    tracing::info!(job = %held.job.uuid, runner = held.runner.id, reason, "job aborted by runner");
    let t = on_abort(held.job.job_type());
    let guard = OwnedGuard::Token(held.token_hash.clone());
    match apply(ctx, &held.job, t, guard).await? {
        Some(_) => Ok(()),
        None => Err(lost_race(ctx, creds).await),
    }
}

/// Applies an `error` (PROCESSING only): `failures + 1`, then back to PENDING (runners
/// told) while the type retries and attempts remain under `transcoding.max_failures`,
/// else ERRORED with `message` and the waiting descendants PARENT_ERRORED.
pub async fn error(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
    message: &str,
) -> Result<(), ServiceError> {
    let held = hold(ctx, creds, ip, RunnerCall::Error).await?;
    let max = ctx.settings.transcoding.max_failures;
    let t = on_error(
        held.job.job_type(),
        held.job.failures,
        max,
        message.to_owned(),
    );
    let guard = OwnedGuard::Token(held.token_hash.clone());
    match apply(ctx, &held.job, t, guard).await? {
        Some(_) => Ok(()),
        None => Err(lost_race(ctx, creds).await),
    }
}
