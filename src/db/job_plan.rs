//! Inserting a video's planned jobs inside the caller's transaction.
//!
//! Temporary: the same shape as `service::jobs::create_jobs` of the job-lifecycle work
//! (specs in order, parents first; a parent-less job PENDING, a child
//! WAITING_FOR_PARENT_JOB with `depends_on_job_id`), so submission switches to it by
//! changing one import once that work is merged.

use diesel::prelude::*;

use super::models::{NewRunnerJob, RunnerJobRow};
use super::schema::runner_jobs;
use super::{DbConnection, DbError};
use crate::domain::job::{JobState, JobType};

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
    /// Its UUID v4, generated before the payload (whose URLs contain it).
    pub uuid: String,
    /// Job type.
    pub job_type: JobType,
    /// Sent to runners.
    pub payload: serde_json::Value,
    /// Kept server-side; holds `videoUUID`.
    pub private_payload: serde_json::Value,
    /// Lower runs first.
    pub priority: i32,
    /// The video it works for.
    pub video_id: Option<i64>,
    /// The job it waits for.
    pub parent: Option<JobParent>,
}

/// Inserts `specs` in order inside the caller's transaction and returns the rows. A
/// [`JobParent::Spec`] must name an earlier spec; otherwise nothing is inserted.
pub fn create_jobs(
    conn: &mut DbConnection,
    specs: &[JobSpec],
) -> Result<Vec<RunnerJobRow>, DbError> {
    for (i, spec) in specs.iter().enumerate() {
        if matches!(spec.parent, Some(JobParent::Spec(p)) if p >= i) {
            return Err(DbError::Query(diesel::result::Error::QueryBuilderError(
                format!("job {i} depends on a job that is not an earlier one").into(),
            )));
        }
    }
    let now = super::now();
    let mut rows: Vec<RunnerJobRow> = Vec::with_capacity(specs.len());
    for spec in specs {
        let parent_id = match spec.parent {
            None => None,
            Some(JobParent::Job(id)) => Some(id),
            Some(JobParent::Spec(i)) => rows.get(i).map(|r| r.id),
        };
        let state = if parent_id.is_some() {
            JobState::WaitingForParentJob
        } else {
            JobState::Pending
        };
        let row = diesel::insert_into(runner_jobs::table)
            .values(&NewRunnerJob {
                uuid: spec.uuid.clone(),
                job_type: spec.job_type.as_str().to_owned(),
                state: state.id(),
                payload: spec.payload.to_string(),
                private_payload: spec.private_payload.to_string(),
                priority: spec.priority,
                failures: 0,
                depends_on_job_id: parent_id,
                video_id: spec.video_id,
                created_at: now,
                updated_at: now,
            })
            .returning(runner_jobs::all_columns)
            .get_result(conn)?;
        rows.push(row);
    }
    Ok(rows)
}
