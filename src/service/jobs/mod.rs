//! The runner job lifecycle (`runner-protocol.md` 1.3–1.10, 2, 5).
//!
//! - [`create_jobs`] inserts jobs inside the caller's transaction (video submission).
//! - [`offer`]: `/jobs/request` and `/accept`.
//! - [`report`]: `update`, `abort`, `error`; [`complete`]: `success`;
//!   [`downloads`]: input downloads. Each starts with the shared job-token check
//!   ([`JobCredentials`], the states each call allows being the domain's
//!   [`RunnerCall::allowed_states`]).
//! - [`cancel`]: [`cancel_job`] and [`cancel_jobs_of_video`], for the admin API and
//!   video deletion.
//! - [`watchdog`]: stalled jobs.
//! - [`per_type`]: what each job type does on success and once ended, in one closed
//!   `match` ([`vod`] and [`transcription`] store the results).
//!
//! Every state change is `apply`: the transition table of
//! [`crate::domain::lifecycle`] applied as one compare-and-set by
//! [`db::jobs::transition`], then, after the commit, runners told when a job became
//! PENDING, the metrics of the jobs that ended (and, on accept, of the wait) and the
//! per-type side effects of the jobs that ended. Concurrent runners,
//! requests and server instances can never apply two transitions to the same state.

pub mod cancel;
pub mod complete;
pub mod downloads;
pub mod offer;
pub mod per_type;
pub mod queue;
pub mod report;
pub mod retry;
pub mod transcription;
pub mod view;
pub mod vod;
pub mod watchdog;

use std::collections::BTreeMap;

pub use cancel::{cancel_job, cancel_jobs_of_video, cancel_video_jobs_in, delete_job};
pub use retry::{retry_job, retry_video};

use crate::db::jobs::{Guard, Transitioned};
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::{JobToken, JobUuid, RunnerToken, TokenHash};
use crate::domain::job::{Job, JobState, NewJob};
use crate::domain::lifecycle::{RunnerCall, Transition};
use crate::domain::payloads::{JobPayload, PrivatePayload};
use crate::domain::runner::Runner;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::events::{self, Event};
use crate::service::runners;
use crate::service::webhooks::{Emitted, Outbox};

/// Where a new job's parent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobParent {
    /// An earlier spec of the same [`create_jobs`] call (its index).
    Spec(usize),
    /// A job that already exists (its id).
    Job(i64),
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Its UUID: generate it first ([`JobUuid::generate`]) to build the payload's input
    /// URLs (see [`crate::domain::payloads::input_url`]), which contain it.
    pub uuid: JobUuid,
    /// Sent to runners; its variant is the job's type.
    pub payload: JobPayload,
    /// Kept server-side; of the same type.
    pub private_payload: PrivatePayload,
    /// Lower runs first.
    pub priority: i32,
    /// The video it works for.
    pub video_id: Option<i64>,
    /// The job it waits for.
    pub parent: Option<JobParent>,
}

/// Inserts `specs` in order, inside the caller's transaction: a spec without parent
/// starts PENDING, one with a parent WAITING_FOR_PARENT_JOB. A [`JobParent::Spec`]
/// must name an earlier spec (parents first) and both payloads of a spec must be of
/// the same type; otherwise nothing is inserted and [`ServiceError::Invalid`] is
/// returned, which rolls back the caller's transaction.
///
/// Publishes nothing: after committing, the caller hands the returned jobs to
/// [`publish_changes`].
pub fn create_jobs(
    conn: &mut DbConnection,
    specs: &[JobSpec],
    now: chrono::NaiveDateTime,
) -> Result<Vec<Job>, ServiceError> {
    for (i, spec) in specs.iter().enumerate() {
        if matches!(spec.parent, Some(JobParent::Spec(p)) if p >= i) {
            return Err(ServiceError::Invalid(format!(
                "job {i} depends on job {:?}, which is not an earlier job",
                spec.parent
            )));
        }
    }
    let mut jobs: Vec<Job> = Vec::with_capacity(specs.len());
    for spec in specs {
        let parent_id = match spec.parent {
            None => None,
            Some(JobParent::Job(id)) => Some(id),
            Some(JobParent::Spec(i)) => jobs.get(i).map(|j| j.id),
        };
        let new = NewJob {
            uuid: spec.uuid,
            payload: spec.payload.clone(),
            private_payload: spec.private_payload.clone(),
            priority: spec.priority,
            parent_id,
            video_id: spec.video_id,
        };
        new.check()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        jobs.push(db::jobs::insert(conn, &new, now)?);
    }
    Ok(jobs)
}

/// The credentials of a job-scoped runner call (1.10), parsed: the job's UUID from
/// the path, the runner and job tokens from the body.
#[derive(Debug, Clone)]
pub struct JobCredentials {
    /// `jobUUID`.
    pub job_uuid: JobUuid,
    /// `runnerToken`.
    pub runner_token: RunnerToken,
    /// `jobToken`.
    pub job_token: JobToken,
}

/// A job that passed the job-token check, with its runner.
#[derive(Debug, Clone)]
pub struct HeldJob {
    /// The job as read.
    pub job: Job,
    /// The runner holding it.
    pub runner: Runner,
    /// Hash of the job token the runner presented (equal to the stored one).
    pub token_hash: TokenHash,
}

/// The shared job-token check (1.10) of `call`: the job must carry this job token and
/// belong to the runner with this runner token ([`ServiceError::UnknownRunnerJob`],
/// 404 without code, otherwise), and be in a state the call allows
/// ([`ServiceError::JobNotProcessing`] otherwise). Refreshes the runner's contact.
pub(crate) async fn hold(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
    call: RunnerCall,
) -> Result<HeldJob, ServiceError> {
    let held = find_held(ctx, creds).await?;
    runners::record_contact(
        &ctx.db,
        &held.runner,
        ip,
        None,
        ctx.settings.runners.last_contact_interval,
        ctx.now(),
    )
    .await;
    if !call.allowed_states().contains(&held.job.state) {
        return Err(ServiceError::JobNotProcessing);
    }
    Ok(held)
}

async fn find_held(ctx: &Context, creds: &JobCredentials) -> Result<HeldJob, ServiceError> {
    let token_hash = creds.job_token.hash();
    let runner_hash = creds.runner_token.hash();
    let (uuid, th) = (creds.job_uuid, token_hash.clone());
    let (job, runner) = ctx
        .db
        .run(move |conn| db::jobs::find_held(conn, uuid, &th, &runner_hash))
        .await?
        .ok_or(ServiceError::UnknownRunnerJob)?;
    Ok(HeldJob {
        job,
        runner,
        token_hash,
    })
}

/// The error a runner call gets after its compare-and-set found the job changed
/// meanwhile: what the job-token check answers now (404, or 400 with the code).
pub(crate) async fn lost_race(ctx: &Context, creds: &JobCredentials) -> ServiceError {
    match find_held(ctx, creds).await {
        Ok(_) => ServiceError::JobNotProcessing,
        Err(e) => e,
    }
}

/// Applies `t` to `job` (as read) through [`db::jobs::transition`], then the
/// consequences of what changed ([`after_change`]). `None` when someone else changed
/// the job first.
pub(crate) async fn apply(
    ctx: &Context,
    job: &Job,
    t: Transition,
    guard: OwnedGuard,
) -> Result<Option<Transitioned>, ServiceError> {
    let (job_owned, now) = (job.clone(), ctx.now());
    // A job failing for good (or a transcription completing) is an event, recorded
    // with the change.
    let announced = Outbox::announces(job.job_type(), t.rule().to);
    let outbox = Outbox::of(ctx);
    let (changed, emitted) = ctx
        .db
        .run(move |conn| {
            if !announced {
                let changed = db::jobs::transition(conn, &job_owned, &t, guard.as_guard(), now)?;
                return Ok((changed, Emitted::default()));
            }
            db::write_transaction(conn, |conn| {
                let changed = db::jobs::transition(conn, &job_owned, &t, guard.as_guard(), now)?;
                let emitted = match &changed {
                    Some(c) => outbox.job_ended(conn, &c.job, now)?,
                    None => Emitted::default(),
                };
                Ok::<_, DbError>((changed, emitted))
            })
        })
        .await?;
    emitted.publish(&ctx.events);
    if let Some(changed) = &changed {
        let left: &[i64] = if job.state == JobState::Pending {
            &[job.id]
        } else {
            &[]
        };
        after_change(
            ctx,
            std::iter::once(&changed.job).chain(&changed.cascaded),
            left,
        )
        .await;
    }
    Ok(changed)
}

/// What follows committed state changes (`jobs` as they are now; `left_pending`: those
/// of them that were PENDING before): the offer index and runners are told about the
/// jobs that entered or left PENDING ([`publish_changes`]), the jobs are counted in the
/// metrics, and the jobs that ended get their per-type side effects (once per video).
pub(crate) async fn after_change<'a>(
    ctx: &Context,
    jobs: impl Iterator<Item = &'a Job>,
    left_pending: &[i64],
) {
    let mut moved: Vec<&Job> = Vec::new();
    let mut ended: Vec<&Job> = Vec::new();
    for job in jobs {
        ctx.metrics.jobs.changed(job);
        if job.state == JobState::Pending || left_pending.contains(&job.id) {
            moved.push(job);
        }
        if job.state.is_final() {
            ended.push(job);
        }
    }
    publish_changes(ctx, moved);
    per_type::ended(ctx, &ended).await;
}

/// Committed changes that made `jobs` (as they are now) enter or leave PENDING: this
/// instance's offer index applies them at once, [`Event::JobsChanged`] tells every
/// instance's index (through the fan-out), and [`Event::JobsAvailable`] the runners
/// when one is PENDING now.
pub fn publish_changes<'a>(ctx: &Context, jobs: impl IntoIterator<Item = &'a Job>) {
    let jobs: Vec<&Job> = jobs.into_iter().collect();
    if jobs.is_empty() {
        return;
    }
    ctx.queue.note(jobs.iter().copied());
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    for event in events::jobs_changed(&ids) {
        ctx.events.publish(event);
    }
    if jobs.iter().any(|j| j.state == JobState::Pending) {
        ctx.events.publish(Event::JobsAvailable);
    }
}

/// Owned form of [`Guard`], to move into a database task.
#[derive(Debug, Clone)]
pub(crate) enum OwnedGuard {
    Token(TokenHash),
    Unchanged(chrono::NaiveDateTime),
    State,
}

impl OwnedGuard {
    fn as_guard(&self) -> Guard<'_> {
        match self {
            OwnedGuard::Token(h) => Guard::Token(h),
            OwnedGuard::Unchanged(t) => Guard::Unchanged(*t),
            OwnedGuard::State => Guard::State,
        }
    }
}

/// A file a runner uploaded, in a staging file that is deleted when this value is
/// dropped unless a handler moved it into storage.
#[derive(Debug)]
pub struct UploadedFile {
    /// The staged file (removed on drop).
    pub file: crate::storage::StagedFile,
    /// Bytes written.
    pub size: u64,
}

/// What a runner sent with `success` or a live `update`: `payload[key]` text fields
/// and files, keyed by `key` (without the `payload[` `]` wrapper).
#[derive(Debug, Default)]
pub struct RunnerUpload {
    /// Text fields.
    pub fields: BTreeMap<String, String>,
    /// Files.
    pub files: BTreeMap<String, UploadedFile>,
}
