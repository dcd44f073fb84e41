//! The one job query the socket hub needs (kept apart from the job engine's queries).

use diesel::prelude::*;

use super::schema::runner_jobs;
use super::{DbConnection, DbError};
use crate::domain::job::JobState;

/// Whether any job is PENDING. Reads only; uses no lock.
pub fn pending_job_exists(conn: &mut DbConnection) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        runner_jobs::table.filter(runner_jobs::state.eq(JobState::Pending)),
    ))
    .get_result(conn)?)
}
