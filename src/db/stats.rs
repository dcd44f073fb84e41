//! The counts `/metrics` reads at scrape time.

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{runner_jobs, runners};
use super::{DbConnection, DbError};
use crate::domain::job::{JobState, JobType};

/// Jobs in each unfinished state, by state and type: one grouped query over the rows
/// in those states only, found through the `(state, priority, id)` index, so its cost
/// follows the queue (pending and running jobs), not the history (finished jobs,
/// which only accumulate). Locks nothing. Rows of a type this version does not know
/// are left out (and logged).
pub fn unfinished_job_counts(
    conn: &mut DbConnection,
) -> Result<Vec<(JobState, JobType, i64)>, DbError> {
    let states: Vec<i32> = JobState::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .map(JobState::id)
        .collect();
    let rows: Vec<(i32, String, i64)> = runner_jobs::table
        .filter(runner_jobs::state.eq_any(states))
        .group_by((runner_jobs::state, runner_jobs::job_type))
        .select((runner_jobs::state, runner_jobs::job_type, count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(state, job_type, n)| {
            let state = JobState::from_id(state)?;
            match JobType::try_from(job_type) {
                Ok(t) => Some((state, t, n)),
                Err(e) => {
                    tracing::warn!(error = %e, "jobs of an unknown type are not counted");
                    None
                }
            }
        })
        .collect())
}

/// Runners registered. Locks nothing.
pub fn runner_count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(runners::table.select(count_star()).first(conn)?)
}

/// Jobs in every state, by state and type (the dashboard's queue counts): one grouped
/// query answered from the `(state, job_type, priority, id)` index without reading the
/// rows. Locks nothing. Rows of an unknown type are left out.
pub fn job_counts(conn: &mut DbConnection) -> Result<Vec<(JobState, JobType, i64)>, DbError> {
    let rows: Vec<(i32, String, i64)> = runner_jobs::table
        .group_by((runner_jobs::state, runner_jobs::job_type))
        .select((runner_jobs::state, runner_jobs::job_type, count_star()))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(state, job_type, n)| {
            Some((
                JobState::from_id(state)?,
                JobType::try_from(job_type).ok()?,
                n,
            ))
        })
        .collect())
}

/// When each job that finished at or after `since` finished, oldest first (the
/// dashboard's throughput chart). Locks nothing.
pub fn finished_since(
    conn: &mut DbConnection,
    since: chrono::NaiveDateTime,
) -> Result<Vec<(chrono::NaiveDateTime, JobState)>, DbError> {
    let rows: Vec<(Option<chrono::NaiveDateTime>, i32)> = runner_jobs::table
        .filter(runner_jobs::finished_at.ge(since))
        .order(runner_jobs::finished_at.asc())
        .select((runner_jobs::finished_at, runner_jobs::state))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, state)| Some((at?, JobState::from_id(state)?)))
        .collect())
}
