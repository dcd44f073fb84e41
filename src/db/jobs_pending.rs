//! Reads of PENDING jobs: what the offer index (`service::jobs::queue`) is loaded and
//! refreshed from, and the socket hub's "is anything pending" (kept apart from the job
//! engine's queries). Nothing here locks or writes.

use diesel::prelude::*;

use super::schema::runner_jobs;
use super::{DbConnection, DbError};
use crate::domain::ids::JobUuid;
use crate::domain::job::{JobState, JobType};
use crate::domain::payloads::JobPayload;

/// Whether any job is PENDING. Reads only; uses no lock.
pub fn pending_job_exists(conn: &mut DbConnection) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        runner_jobs::table.filter(runner_jobs::state.eq(JobState::Pending)),
    ))
    .get_result(conn)?)
}

/// A PENDING job as offered to runners.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Internal id.
    pub id: i64,
    /// UUID.
    pub uuid: JobUuid,
    /// Lower runs first.
    pub priority: i32,
    /// What the runner receives (its variant is the type).
    pub payload: JobPayload,
}

type OfferRow = (i64, String, String, i32, String);

fn offer(row: OfferRow) -> Result<Offer, DbError> {
    let (id, uuid, job_type, priority, payload) = row;
    let bad = |e: &dyn std::fmt::Display| DbError::Corrupt(format!("job {id}: {e}"));
    let job_type: JobType = JobType::try_from(job_type).map_err(|e| bad(&e))?;
    Ok(Offer {
        id,
        uuid: JobUuid::from_stored(&uuid).map_err(|e| bad(&e))?,
        priority,
        payload: JobPayload::from_json(job_type, &payload).map_err(|e| bad(&e))?,
    })
}

/// The readable offers among `rows`; a row this service cannot read is skipped (and
/// logged), never offered.
fn readable(rows: Vec<OfferRow>) -> Vec<Offer> {
    rows.into_iter()
        .filter_map(|row| {
            offer(row)
                .inspect_err(|e| tracing::error!(error = %e, "a pending job cannot be read"))
                .ok()
        })
        .collect()
}

/// The first PENDING jobs of one type.
#[derive(Debug, Clone, Default)]
pub struct PendingHead {
    /// The readable ones, by priority then id.
    pub offers: Vec<Offer>,
    /// `(priority, id)` of the last row read, readable or not.
    pub last_key: Option<(i32, i64)>,
    /// Fewer rows than asked: every pending job of the type is here.
    pub complete: bool,
}

/// Reads the first `limit` PENDING jobs of `job_type` by priority then id: one range of
/// the `(state, job_type, priority, id)` index, however many jobs the table holds.
pub fn pending_head(
    conn: &mut DbConnection,
    job_type: JobType,
    limit: usize,
) -> Result<PendingHead, DbError> {
    let rows: Vec<OfferRow> = runner_jobs::table
        .filter(runner_jobs::state.eq(JobState::Pending))
        .filter(runner_jobs::job_type.eq(job_type))
        .order((runner_jobs::priority.asc(), runner_jobs::id.asc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select((
            runner_jobs::id,
            runner_jobs::uuid,
            runner_jobs::job_type,
            runner_jobs::priority,
            runner_jobs::payload,
        ))
        .load(conn)?;
    Ok(PendingHead {
        complete: rows.len() < limit,
        last_key: rows.last().map(|r| (r.3, r.0)),
        offers: readable(rows),
    })
}

/// Those of the jobs `ids` that are PENDING now (readable ones only). One lookup by
/// primary key each.
pub fn pending_among(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<Offer>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<OfferRow> = runner_jobs::table
        .filter(runner_jobs::id.eq_any(ids))
        .filter(runner_jobs::state.eq(JobState::Pending))
        .select((
            runner_jobs::id,
            runner_jobs::uuid,
            runner_jobs::job_type,
            runner_jobs::priority,
            runner_jobs::payload,
        ))
        .load(conn)?;
    Ok(readable(rows))
}
