//! Runner job queries: the job queue.
//!
//! Every state change is a single conditional `UPDATE … WHERE id = ? AND state = ?`
//! (plus the job-token hash or the `updated_at` the caller saw): a compare-and-set that
//! works the same on PostgreSQL and SQLite. The number of changed rows says whether
//! the caller won; nobody ever overwrites a transition someone else made. No query here
//! takes a row lock; multi-step changes run inside `db::write_transaction`, which on
//! SQLite holds the database write lock for the whole transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{NewRunnerJob, RunnerJobRow, RunnerRow};
use super::schema::{runner_jobs, runners};
use super::{DbConnection, DbError};
use crate::domain::job::JobState;

const PENDING: i32 = JobState::Pending as i32;
const PROCESSING: i32 = JobState::Processing as i32;
const WAITING: i32 = JobState::WaitingForParentJob as i32;
const COMPLETING: i32 = JobState::Completing as i32;

/// One offered job: `(id, uuid, type, priority, payload JSON)`.
pub type OfferRow = (i64, String, String, i32, String);

/// Inserts a job and returns its row. Changes: one new row.
pub fn insert(conn: &mut DbConnection, job: &NewRunnerJob) -> Result<RunnerJobRow, DbError> {
    Ok(diesel::insert_into(runner_jobs::table)
        .values(job)
        .returning(runner_jobs::all_columns)
        .get_result(conn)?)
}

/// Reads a job by UUID. Locks nothing.
pub fn find_by_uuid(conn: &mut DbConnection, uuid: &str) -> Result<Option<RunnerJobRow>, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::uuid.eq(uuid))
        .first(conn)
        .optional()?)
}

/// Reads a job by id. Locks nothing.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<RunnerJobRow>, DbError> {
    Ok(runner_jobs::table.find(id).first(conn).optional()?)
}

/// Which job types an offer query may return.
#[derive(Debug, Clone, Copy)]
pub enum TypeFilter<'a> {
    /// Every type (no `job_type` condition, so the statement is prepared once).
    All,
    /// Every type but one (legacy runners: no storyboards); also prepared once.
    AllBut(&'a str),
    /// These types (`job_type IN (…)`).
    Only(&'a [&'a str]),
}

/// Reads up to `limit` PENDING jobs matching `types`, by priority then id, starting
/// after `(priority, id)` when given (keyset paging). Walks the `(state, priority, id)`
/// index; locks nothing.
pub fn pending_offers(
    conn: &mut DbConnection,
    types: TypeFilter<'_>,
    after: Option<(i32, i64)>,
    limit: i64,
) -> Result<Vec<OfferRow>, DbError> {
    let (p, id) = after.unwrap_or((i32::MIN, i64::MIN));
    let base = runner_jobs::table
        .filter(runner_jobs::state.eq(PENDING))
        .filter(
            runner_jobs::priority
                .gt(p)
                .or(runner_jobs::priority.eq(p).and(runner_jobs::id.gt(id))),
        )
        .order((runner_jobs::priority.asc(), runner_jobs::id.asc()))
        .limit(limit)
        .select((
            runner_jobs::id,
            runner_jobs::uuid,
            runner_jobs::job_type,
            runner_jobs::priority,
            runner_jobs::payload,
        ));
    Ok(match types {
        TypeFilter::All => base.load(conn)?,
        TypeFilter::AllBut(t) => base.filter(runner_jobs::job_type.ne(t)).load(conn)?,
        TypeFilter::Only(list) => base.filter(runner_jobs::job_type.eq_any(list)).load(conn)?,
    })
}

/// Accept: PENDING → PROCESSING for `runner_id` with a new job-token hash, if and only
/// if the job is still PENDING. Returns the changed row count (1 = this runner won).
pub fn accept(
    conn: &mut DbConnection,
    uuid: &str,
    runner_id: i64,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .filter(runner_jobs::uuid.eq(uuid))
            .filter(runner_jobs::state.eq(PENDING)),
    )
    .set((
        runner_jobs::state.eq(PROCESSING),
        runner_jobs::job_token_hash.eq(token_hash),
        runner_jobs::runner_id.eq(runner_id),
        runner_jobs::progress.eq(None::<i32>),
        runner_jobs::started_at.eq(now),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// The job-token check (1.10): the job `uuid` whose current token hash is
/// `job_token_hash`, held by the runner whose token hash is `runner_token_hash`. One
/// join; locks nothing.
pub fn find_held(
    conn: &mut DbConnection,
    uuid: &str,
    job_token_hash: &str,
    runner_token_hash: &str,
) -> Result<Option<(RunnerJobRow, RunnerRow)>, DbError> {
    Ok(runner_jobs::table
        .inner_join(runners::table)
        .filter(runner_jobs::uuid.eq(uuid))
        .filter(runner_jobs::job_token_hash.eq(job_token_hash))
        .filter(runners::token_hash.eq(runner_token_hash))
        .select((runner_jobs::all_columns, runners::all_columns))
        .first(conn)
        .optional()?)
}

/// Heartbeat of a PROCESSING job: sets `updated_at` (and `progress` when given).
/// Returns the changed row count (0 when the job left PROCESSING meanwhile).
pub fn touch(
    conn: &mut DbConnection,
    id: i64,
    progress: Option<i32>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let target = runner_jobs::table
        .find(id)
        .filter(runner_jobs::state.eq(PROCESSING));
    Ok(match progress {
        Some(p) => diesel::update(target)
            .set((runner_jobs::progress.eq(p), runner_jobs::updated_at.eq(now)))
            .execute(conn)?,
        None => diesel::update(target)
            .set(runner_jobs::updated_at.eq(now))
            .execute(conn)?,
    })
}

/// Which PROCESSING/COMPLETING row a caller means: the one still holding the runner's
/// token, or the one the watchdog saw with this `updated_at`.
#[derive(Debug, Clone, Copy)]
pub enum Held<'a> {
    /// Still carries this job-token hash (runner calls).
    Token(&'a str),
    /// Unchanged since the watchdog read it (`updated_at` equal).
    Unchanged(NaiveDateTime),
    /// Whatever holds it (server-side decisions such as a failed completion).
    Any,
}

/// `UPDATE target SET changes`, restricted to the row `held` names. A macro because
/// each restriction is a different diesel query type.
macro_rules! update_held {
    ($conn:expr, $target:expr, $held:expr, $changes:expr) => {
        match $held {
            Held::Token(h) => diesel::update($target.filter(runner_jobs::job_token_hash.eq(h)))
                .set($changes)
                .execute($conn)?,
            Held::Unchanged(t) => diesel::update($target.filter(runner_jobs::updated_at.eq(t)))
                .set($changes)
                .execute($conn)?,
            Held::Any => diesel::update($target).set($changes).execute($conn)?,
        }
    };
}

/// Requeue: PROCESSING → PENDING with token, runner, progress and start cleared and
/// `failures` set, if the row is still PROCESSING and `held`. Returns the changed row
/// count.
pub fn requeue(
    conn: &mut DbConnection,
    id: i64,
    held: Held<'_>,
    failures: i32,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let target = runner_jobs::table
        .find(id)
        .filter(runner_jobs::state.eq(PROCESSING));
    let changes = (
        runner_jobs::state.eq(PENDING),
        runner_jobs::failures.eq(failures),
        runner_jobs::job_token_hash.eq(None::<String>),
        runner_jobs::runner_id.eq(None::<i64>),
        runner_jobs::progress.eq(None::<i32>),
        runner_jobs::started_at.eq(None::<NaiveDateTime>),
        runner_jobs::updated_at.eq(now),
    );
    Ok(update_held!(conn, target, held, changes))
}

/// Fail: `from` (PROCESSING or COMPLETING) → ERRORED with `message`, `failures` set,
/// token and progress cleared, `finished_at` set, if the row is still in `from` and
/// `held`. Returns the changed row count.
pub fn fail(
    conn: &mut DbConnection,
    id: i64,
    from: JobState,
    held: Held<'_>,
    failures: i32,
    message: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    let target = runner_jobs::table
        .find(id)
        .filter(runner_jobs::state.eq(from.id()));
    let changes = (
        runner_jobs::state.eq(JobState::Errored.id()),
        runner_jobs::failures.eq(failures),
        runner_jobs::error.eq(message),
        runner_jobs::job_token_hash.eq(None::<String>),
        runner_jobs::progress.eq(None::<i32>),
        runner_jobs::finished_at.eq(now),
        runner_jobs::updated_at.eq(now),
    );
    Ok(update_held!(conn, target, held, changes))
}

/// Success, step 1: PROCESSING → COMPLETING if the row is still PROCESSING with this
/// token. Returns the changed row count (0 = another `success` won, or the job moved).
pub fn begin_completion(
    conn: &mut DbConnection,
    id: i64,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .find(id)
            .filter(runner_jobs::state.eq(PROCESSING))
            .filter(runner_jobs::job_token_hash.eq(token_hash)),
    )
    .set((
        runner_jobs::state.eq(COMPLETING),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Success, step 2: COMPLETING → COMPLETED with progress cleared and `finished_at`
/// set. The token is kept, so a late `update` still gets its harmless 204. Returns the
/// changed row count.
pub fn complete(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .find(id)
            .filter(runner_jobs::state.eq(COMPLETING)),
    )
    .set((
        runner_jobs::state.eq(JobState::Completed.id()),
        runner_jobs::progress.eq(None::<i32>),
        runner_jobs::finished_at.eq(now),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Moves the direct children of `parent_id` that wait for it to PENDING. Only rows in
/// WAITING_FOR_PARENT_JOB change. Returns the changed row count.
pub fn release_children(
    conn: &mut DbConnection,
    parent_id: i64,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .filter(runner_jobs::depends_on_job_id.eq(parent_id))
            .filter(runner_jobs::state.eq(WAITING)),
    )
    .set((
        runner_jobs::state.eq(PENDING),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Reads the children of any of `parent_ids` still in WAITING_FOR_PARENT_JOB. Locks
/// nothing.
pub fn waiting_children(
    conn: &mut DbConnection,
    parent_ids: &[i64],
) -> Result<Vec<RunnerJobRow>, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::depends_on_job_id.eq_any(parent_ids))
        .filter(runner_jobs::state.eq(WAITING))
        .order(runner_jobs::id.asc())
        .load(conn)?)
}

/// Moves one waiting child to `state` (PARENT_ERRORED or PARENT_CANCELLED) with an
/// optional error, if it is still WAITING_FOR_PARENT_JOB. Returns the changed row
/// count.
pub fn settle_child(
    conn: &mut DbConnection,
    id: i64,
    state: JobState,
    error: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .find(id)
            .filter(runner_jobs::state.eq(WAITING)),
    )
    .set((
        runner_jobs::state.eq(state.id()),
        runner_jobs::error.eq(error),
        runner_jobs::finished_at.eq(now),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Cancel: PENDING, PROCESSING or WAITING_FOR_PARENT_JOB → CANCELLED, token and
/// progress cleared, if the row is still in `from`. Returns the changed row count.
pub fn cancel(
    conn: &mut DbConnection,
    id: i64,
    from: JobState,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        runner_jobs::table
            .find(id)
            .filter(runner_jobs::state.eq(from.id())),
    )
    .set((
        runner_jobs::state.eq(JobState::Cancelled.id()),
        runner_jobs::job_token_hash.eq(None::<String>),
        runner_jobs::progress.eq(None::<i32>),
        runner_jobs::finished_at.eq(now),
        runner_jobs::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Reads the jobs of a video in any of `states`, oldest first. Locks nothing.
pub fn of_video_in_states(
    conn: &mut DbConnection,
    video_id: i64,
    states: &[i32],
) -> Result<Vec<RunnerJobRow>, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::video_id.eq(video_id))
        .filter(runner_jobs::state.eq_any(states))
        .order(runner_jobs::id.asc())
        .load(conn)?)
}

/// Reads up to `limit` jobs in `state` of the given types whose `updated_at` is older
/// than `before` (the watchdog's candidates). Locks nothing: each is then changed by a
/// compare-and-set on its `updated_at`.
pub fn stalled(
    conn: &mut DbConnection,
    state: JobState,
    types: &[&str],
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<RunnerJobRow>, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::state.eq(state.id()))
        .filter(runner_jobs::job_type.eq_any(types))
        .filter(runner_jobs::updated_at.lt(before))
        .order(runner_jobs::updated_at.asc())
        .limit(limit)
        .load(conn)?)
}
