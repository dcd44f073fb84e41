//! The runner job lifecycle (`runner-protocol.md` 1.3–1.10, 2, 5).
//!
//! - [`create_jobs`] inserts jobs inside the caller's transaction (video submission).
//! - [`offer`]: `/jobs/request` and `/accept`.
//! - [`check_job_token`]: the shared job-token check of every job-scoped runner call.
//! - [`report`]: `update`, `abort`, `error`.
//! - [`complete`]: the `success` call.
//! - [`cancel`]: [`cancel_job`] and [`cancel_jobs_of_video`], for the admin API and
//!   video deletion.
//! - [`watchdog`]: requeues stalled jobs.
//! - [`handlers`]: per-type completion and side effects ([`handlers::JobTypeHandler`]).
//!
//! The transition rules live in [`crate::domain::lifecycle`]; every state change is a
//! compare-and-set in [`crate::db::jobs`], so concurrent runners, requests and server
//! instances can never apply two transitions to the same job state.

pub mod cancel;
pub mod complete;
pub mod downloads;
pub mod handlers;
pub mod offer;
pub mod report;
pub mod view;
pub mod vod;
pub mod watchdog;

use std::collections::BTreeMap;

pub use cancel::{cancel_job, cancel_jobs_of_video, cancel_video_jobs_in};

use crate::db::models::{NewRunnerJob, RunnerJobRow, RunnerRow};
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::hash_token;
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{self, PARENT_ERROR};
use crate::error::ServiceError;
use crate::service::runners;
use crate::state::AppState;

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
    /// Its UUID v4: generate it first with [`JobSpec::new_uuid`] to build the payload's
    /// input URLs (see [`crate::domain::payloads::input_url`]), which contain it.
    pub uuid: String,
    /// Job type.
    pub job_type: JobType,
    /// Sent to runners (section 3 shapes).
    pub payload: serde_json::Value,
    /// Kept server-side; must hold `videoUUID` for jobs that download video inputs.
    pub private_payload: serde_json::Value,
    /// Lower runs first.
    pub priority: i32,
    /// The video it works for.
    pub video_id: Option<i64>,
    /// The job it waits for.
    pub parent: Option<JobParent>,
}

impl JobSpec {
    /// A fresh job UUID (v4).
    pub fn new_uuid() -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// Inserts `specs` in order, inside the caller's transaction: a spec without parent
/// starts PENDING, one with a parent WAITING_FOR_PARENT_JOB. A [`JobParent::Spec`]
/// must name an earlier spec (parents first); otherwise nothing is inserted and
/// `Err(ServiceError::Invalid)` is returned, which rolls back the caller's
/// transaction.
///
/// Publishes nothing: after committing, the caller publishes
/// [`crate::service::events::Event::JobsAvailable`] if any returned job is PENDING.
pub fn create_jobs(
    conn: &mut DbConnection,
    specs: &[JobSpec],
) -> Result<Vec<RunnerJobRow>, ServiceError> {
    for (i, spec) in specs.iter().enumerate() {
        if matches!(spec.parent, Some(JobParent::Spec(p)) if p >= i) {
            return Err(ServiceError::Invalid(format!(
                "job {i} depends on job {:?}, which is not an earlier job",
                spec.parent
            )));
        }
    }
    let now = db::now();
    let mut rows: Vec<RunnerJobRow> = Vec::with_capacity(specs.len());
    for spec in specs {
        let parent_id = match spec.parent {
            None => None,
            Some(JobParent::Job(id)) => Some(id),
            Some(JobParent::Spec(i)) => rows.get(i).map(|r| r.id),
        };
        let row = db::jobs::insert(
            conn,
            &NewRunnerJob {
                uuid: spec.uuid.clone(),
                job_type: spec.job_type.as_str().to_owned(),
                state: lifecycle::initial_state(parent_id.is_some()).id(),
                payload: spec.payload.to_string(),
                private_payload: spec.private_payload.to_string(),
                priority: spec.priority,
                failures: 0,
                depends_on_job_id: parent_id,
                video_id: spec.video_id,
                created_at: now,
                updated_at: now,
            },
        )?;
        rows.push(row);
    }
    Ok(rows)
}

/// The tokens of a job-scoped runner call, already shape-checked.
#[derive(Debug, Clone)]
pub struct JobCredentials {
    /// The job's UUID (v4).
    pub job_uuid: String,
    /// `runnerToken` from the body.
    pub runner_token: String,
    /// `jobToken` from the body.
    pub job_token: String,
}

/// A job that passed the job-token check, with its runner.
#[derive(Debug, Clone)]
pub struct HeldJob {
    /// The job row as read.
    pub job: RunnerJobRow,
    /// Its type.
    pub job_type: JobType,
    /// Its state as read.
    pub state: JobState,
    /// The runner holding it.
    pub runner: RunnerRow,
    /// Hash of the job token the runner presented (equal to the stored one).
    pub token_hash: String,
}

/// The shared job-token check (1.10): the job must carry this job token and belong to
/// the runner with this runner token ([`ServiceError::UnknownRunnerJob`], 404 without
/// code, otherwise), and be in one of `allowed`
/// ([`ServiceError::JobNotProcessing`] otherwise). Refreshes the runner's contact.
pub async fn check_job_token(
    state: &AppState,
    creds: &JobCredentials,
    ip: &str,
    allowed: &[JobState],
) -> Result<HeldJob, ServiceError> {
    let held = find_held(state, creds).await?;
    runners::record_contact(
        &state.db,
        &held.runner,
        ip,
        None,
        state.settings.runners.last_contact_interval,
    )
    .await;
    if !allowed.contains(&held.state) {
        return Err(ServiceError::JobNotProcessing);
    }
    Ok(held)
}

async fn find_held(state: &AppState, creds: &JobCredentials) -> Result<HeldJob, ServiceError> {
    let token_hash = hash_token(&creds.job_token);
    let runner_hash = hash_token(&creds.runner_token);
    let (uuid, th) = (creds.job_uuid.clone(), token_hash.clone());
    let (job, runner) = state
        .db
        .run(move |conn| db::jobs::find_held(conn, &uuid, &th, &runner_hash))
        .await?
        .ok_or(ServiceError::UnknownRunnerJob)?;
    let (job_type, job_state) = parse_row(&job)?;
    Ok(HeldJob {
        job,
        job_type,
        state: job_state,
        runner,
        token_hash,
    })
}

/// The error a runner call gets after its compare-and-set found the job changed
/// meanwhile: what the job-token check answers now (404, or 400 with the code).
pub(crate) async fn lost_race(state: &AppState, creds: &JobCredentials) -> ServiceError {
    match find_held(state, creds).await {
        Ok(_) => ServiceError::JobNotProcessing,
        Err(e) => e,
    }
}

/// A stored row's type and state; a row this server cannot read is a bug (500).
pub(crate) fn parse_row(job: &RunnerJobRow) -> Result<(JobType, JobState), ServiceError> {
    let job_type = job
        .job_type
        .parse::<JobType>()
        .map_err(|e| ServiceError::Db(DbError::Task(e.to_string())))?;
    let state = JobState::from_id(job.state).ok_or_else(|| {
        ServiceError::Db(DbError::Task(format!(
            "job {} has unknown state {}",
            job.uuid, job.state
        )))
    })?;
    Ok((job_type, state))
}

/// Moves every descendant of `root_id` still waiting for its parent to `state`
/// (PARENT_ERRORED or PARENT_CANCELLED), level by level, inside the caller's
/// transaction. Returns the rows as they were before the change.
pub(crate) fn settle_descendants(
    conn: &mut DbConnection,
    root_id: i64,
    state: JobState,
) -> Result<Vec<RunnerJobRow>, DbError> {
    let error = (state == JobState::ParentErrored).then_some(PARENT_ERROR);
    let now = db::now();
    let mut settled = Vec::new();
    let mut frontier = vec![root_id];
    while !frontier.is_empty() {
        let children = db::jobs::waiting_children(conn, &frontier)?;
        frontier.clear();
        for child in children {
            if db::jobs::settle_child(conn, child.id, state, error, now)? == 1 {
                frontier.push(child.id);
                settled.push(child);
            }
        }
    }
    Ok(settled)
}

/// Fails a job for good (compare-and-set from `from` with `held`) and its waiting
/// descendants with PARENT_ERRORED, in one transaction; then runs the per-type side
/// effects. Returns whether this call made the change.
pub(crate) async fn fail_job(
    state: &AppState,
    job: &RunnerJobRow,
    from: JobState,
    held: FailGuard,
    failures: i32,
    message: String,
) -> Result<bool, ServiceError> {
    let id = job.id;
    let msg = message.clone();
    let children = state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let held = match &held {
                    FailGuard::Token(h) => db::jobs::Held::Token(h),
                    FailGuard::Unchanged(t) => db::jobs::Held::Unchanged(*t),
                    FailGuard::Any => db::jobs::Held::Any,
                };
                if db::jobs::fail(conn, id, from, held, failures, &msg, db::now())? == 0 {
                    return Ok(None);
                }
                settle_descendants(conn, id, JobState::ParentErrored).map(Some)
            })
        })
        .await?;
    let Some(children) = children else {
        return Ok(false);
    };
    handlers::ended(state, job, handlers::JobEnd::Errored(&message)).await;
    for child in &children {
        handlers::ended(state, child, handlers::JobEnd::ParentErrored).await;
    }
    Ok(true)
}

/// Owned form of [`db::jobs::Held`] for moving into a database task.
#[derive(Debug, Clone)]
pub(crate) enum FailGuard {
    Token(String),
    Unchanged(chrono::NaiveDateTime),
    Any,
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
