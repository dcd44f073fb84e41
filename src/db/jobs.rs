//! Runner job queries: the job queue.
//!
//! A job's state changes in one place only, [`transition`]: it applies a row of the
//! lifecycle table (`domain::lifecycle`) as a single conditional
//! `UPDATE … WHERE id = ? AND state = ?` (plus the job-token hash or the `updated_at`
//! the caller saw), a compare-and-set that works the same on PostgreSQL and SQLite;
//! then, in the same transaction, it moves the jobs waiting for it as the rule's
//! cascade says. Whether a row came back says whether the caller won; nobody ever
//! overwrites a transition someone else made. No query here takes a row lock.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{self, JobRow, NewJobRow, RunnerRow};
use super::schema::{runner_jobs, runners};
use super::{DbConnection, DbError};
use crate::domain::ids::{JobUuid, TokenHash};
use crate::domain::job::{Job, JobState, JobType, NewJob};
use crate::domain::lifecycle::{self, Holder, Rule, Transition};
use crate::domain::runner::Runner;

/// The stored forms of `states`, for `IN (…)` (a list is bound as one array on
/// PostgreSQL, which takes the stored type).
fn state_ids(states: &[JobState]) -> Vec<i32> {
    states.iter().map(|s| i32::from(*s)).collect()
}

/// The stored forms of `types`, for `IN (…)`.
fn type_names(types: &[JobType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

/// Inserts a job (PENDING, or WAITING_FOR_PARENT_JOB when it has a parent) and
/// returns it. Changes: one new row.
pub fn insert(conn: &mut DbConnection, job: &NewJob, now: NaiveDateTime) -> Result<Job, DbError> {
    let state = lifecycle::initial_state(job.parent_id.is_some());
    let row: JobRow = diesel::insert_into(runner_jobs::table)
        .values(NewJobRow::new(job, state, now))
        .returning(runner_jobs::all_columns)
        .get_result(conn)?;
    Job::try_from(row)
}

/// Reads a job by UUID. Locks nothing.
pub fn find_by_uuid(conn: &mut DbConnection, uuid: JobUuid) -> Result<Option<Job>, DbError> {
    runner_jobs::table
        .filter(runner_jobs::uuid.eq(uuid.to_string()))
        .first::<JobRow>(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// Reads only the state of the job `uuid` (the accept pre-check, on the hot path of
/// racing runners). Locks nothing.
pub fn state_by_uuid(conn: &mut DbConnection, uuid: JobUuid) -> Result<Option<JobState>, DbError> {
    let state: Option<i32> = runner_jobs::table
        .filter(runner_jobs::uuid.eq(uuid.to_string()))
        .select(runner_jobs::state)
        .first(conn)
        .optional()?;
    state
        .map(|s| JobState::try_from(s).map_err(|e| DbError::Corrupt(e.to_string())))
        .transpose()
}

/// Reads a job by id. Locks nothing.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<Job>, DbError> {
    runner_jobs::table
        .find(id)
        .first::<JobRow>(conn)
        .optional()?
        .map(Job::try_from)
        .transpose()
}

/// The job-token check (1.10): the job `uuid` whose current token hash is `job_token`,
/// held by the runner whose token hash is `runner_token`. One join; locks nothing.
pub fn find_held(
    conn: &mut DbConnection,
    uuid: JobUuid,
    job_token: &TokenHash,
    runner_token: &TokenHash,
) -> Result<Option<(Job, Runner)>, DbError> {
    let found: Option<(JobRow, RunnerRow)> = runner_jobs::table
        .inner_join(runners::table)
        .filter(runner_jobs::uuid.eq(uuid.to_string()))
        .filter(runner_jobs::job_token_hash.eq(job_token.as_str()))
        .filter(runners::token_hash.eq(runner_token.as_str()))
        .select((runner_jobs::all_columns, runners::all_columns))
        .first(conn)
        .optional()?;
    found
        .map(|(job, runner)| Ok((Job::try_from(job)?, Runner::from(runner))))
        .transpose()
}

/// Heartbeat of a PROCESSING job: sets `updated_at` (and `progress` when given); the
/// state does not change. Returns false when the job left PROCESSING meanwhile.
pub fn touch(
    conn: &mut DbConnection,
    id: i64,
    progress: Option<i32>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let target = runner_jobs::table
        .find(id)
        .filter(runner_jobs::state.eq(JobState::Processing));
    let changed = match progress {
        Some(p) => diesel::update(target)
            .set((runner_jobs::progress.eq(p), runner_jobs::updated_at.eq(now)))
            .execute(conn)?,
        None => diesel::update(target)
            .set(runner_jobs::updated_at.eq(now))
            .execute(conn)?,
    };
    Ok(changed > 0)
}

/// Which row a transition means, besides its id and the state the caller read.
#[derive(Debug, Clone, Copy)]
pub enum Guard<'a> {
    /// It still carries this job-token hash (runner calls: the runner still holds it).
    Token(&'a TokenHash),
    /// Its `updated_at` is still the one read (the watchdog: no heartbeat since).
    Unchanged(NaiveDateTime),
    /// The state alone (server-side decisions: accept, cancel, completion).
    State,
}

/// What a successful [`transition`] changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitioned {
    /// The job, as it is now.
    pub job: Job,
    /// The jobs the cascade moved (children released, or descendants settled), as they
    /// are now.
    pub cascaded: Vec<Job>,
}

impl Transitioned {
    /// Whether the change made any job PENDING (runners should be told).
    pub fn made_pending(&self) -> bool {
        std::iter::once(&self.job)
            .chain(&self.cascaded)
            .any(|j| j.state == JobState::Pending)
    }
}

/// The columns a rule changes. `None` leaves a column alone; `Some(None)` sets NULL.
#[derive(AsChangeset)]
#[diesel(table_name = runner_jobs)]
struct Changes {
    state: JobState,
    failures: Option<i32>,
    error: Option<Option<String>>,
    job_token_hash: Option<Option<String>>,
    runner_id: Option<Option<i64>>,
    progress: Option<Option<i32>>,
    started_at: Option<Option<NaiveDateTime>>,
    finished_at: Option<Option<NaiveDateTime>>,
    updated_at: NaiveDateTime,
}

impl Changes {
    /// The changes of `t` (whose rule is `rule`) to a job that had `failures`.
    fn of(t: &Transition, rule: &Rule, failures: i32, now: NaiveDateTime) -> Changes {
        let (token, runner, started) = match (rule.holder, t) {
            (
                Holder::Assign,
                Transition::Accept {
                    runner_id,
                    token_hash,
                },
            ) => (
                Some(Some(token_hash.as_str().to_owned())),
                Some(Some(*runner_id)),
                Some(Some(now)),
            ),
            (Holder::Release, _) => (Some(None), Some(None), Some(None)),
            (Holder::DropToken, _) => (Some(None), None, None),
            (Holder::Keep | Holder::Assign, _) => (None, None, None),
        };
        let (failures, error, finished_at) = if rule.reopen {
            (Some(0), Some(None), Some(None))
        } else {
            (
                rule.count_failure.then(|| failures.saturating_add(1)),
                rule.set_error.then(|| t.message().map(str::to_owned)),
                rule.finish.then_some(Some(now)),
            )
        };
        Changes {
            state: rule.to,
            failures,
            error,
            job_token_hash: token,
            runner_id: runner,
            progress: rule.clear_progress.then_some(None),
            started_at: started,
            finished_at,
            updated_at: now,
        }
    }
}

/// Applies `t` to `job` (as the caller read it): one compare-and-set on the job's id,
/// the state read (which must be one `t` starts from) and `guard`, then the rule's
/// cascade on the jobs waiting for it, level by level, all in one transaction.
/// `None` when the job is not in that state any more (or `guard` no longer holds):
/// someone else changed it first, and nothing was written.
pub fn transition(
    conn: &mut DbConnection,
    job: &Job,
    t: &Transition,
    guard: Guard<'_>,
    now: NaiveDateTime,
) -> Result<Option<Transitioned>, DbError> {
    let rule = t.rule();
    if !rule.from.contains(&job.state) {
        return Ok(None);
    }
    let changes = Changes::of(t, &rule, job.failures, now);
    let Some(cascade) = rule.cascade else {
        return Ok(
            compare_and_set(conn, job, guard, changes)?.map(|job| Transitioned {
                job,
                cascaded: Vec::new(),
            }),
        );
    };
    conn.transaction(|conn| {
        let Some(changed) = compare_and_set(conn, job, guard, changes)? else {
            return Ok(None);
        };
        let mut cascaded = Vec::new();
        let mut frontier = vec![changed.id];
        let mut step = Some(cascade);
        while let (Some(c), false) = (step, frontier.is_empty()) {
            let child_t = c.transition();
            let child_rule = child_t.rule();
            let moved: Vec<JobRow> = diesel::update(
                runner_jobs::table
                    .filter(runner_jobs::depends_on_job_id.eq_any(&frontier))
                    .filter(runner_jobs::state.eq_any(state_ids(child_rule.from))),
            )
            .set(Changes::of(&child_t, &child_rule, 0, now))
            .returning(runner_jobs::all_columns)
            .get_results(conn)?;
            let moved = rows::jobs(moved)?;
            frontier = moved.iter().map(|j| j.id).collect();
            cascaded.extend(moved);
            step = child_rule.cascade;
        }
        Ok(Some(Transitioned {
            job: changed,
            cascaded,
        }))
    })
}

/// `UPDATE runner_jobs SET changes WHERE id = job.id AND state = job.state AND guard
/// RETURNING *`; each guard is a different diesel query type, hence the three arms.
fn compare_and_set(
    conn: &mut DbConnection,
    job: &Job,
    guard: Guard<'_>,
    changes: Changes,
) -> Result<Option<Job>, DbError> {
    let target = runner_jobs::table
        .find(job.id)
        .filter(runner_jobs::state.eq(job.state));
    let row: Option<JobRow> = match guard {
        Guard::Token(h) => {
            diesel::update(target.filter(runner_jobs::job_token_hash.eq(h.as_str())))
                .set(changes)
                .returning(runner_jobs::all_columns)
                .get_result(conn)
                .optional()?
        }
        Guard::Unchanged(t) => diesel::update(target.filter(runner_jobs::updated_at.eq(t)))
            .set(changes)
            .returning(runner_jobs::all_columns)
            .get_result(conn)
            .optional()?,
        Guard::State => diesel::update(target)
            .set(changes)
            .returning(runner_jobs::all_columns)
            .get_result(conn)
            .optional()?,
    };
    row.map(Job::try_from).transpose()
}

/// Reads the jobs of a video in any of `states`, oldest first. Locks nothing.
pub fn of_video_in_states(
    conn: &mut DbConnection,
    video_id: i64,
    states: &[JobState],
) -> Result<Vec<Job>, DbError> {
    rows::jobs(
        runner_jobs::table
            .filter(runner_jobs::video_id.eq(video_id))
            .filter(runner_jobs::state.eq_any(state_ids(states)))
            .order(runner_jobs::id.asc())
            .load(conn)?,
    )
}

/// Every job of the given videos, in creation order. Locks nothing.
pub fn of_videos(conn: &mut DbConnection, video_ids: &[i64]) -> Result<Vec<Job>, DbError> {
    rows::jobs(
        runner_jobs::table
            .filter(runner_jobs::video_id.eq_any(video_ids))
            .order(runner_jobs::id.asc())
            .load(conn)?,
    )
}

/// The states of the jobs of a video that are of one of `types`. Locks nothing.
pub fn states_of_video(
    conn: &mut DbConnection,
    video_id: i64,
    types: &[JobType],
) -> Result<Vec<JobState>, DbError> {
    let states: Vec<i32> = runner_jobs::table
        .filter(runner_jobs::video_id.eq(video_id))
        .filter(runner_jobs::job_type.eq_any(type_names(types)))
        .select(runner_jobs::state)
        .load(conn)?;
    states
        .into_iter()
        .map(|s| JobState::try_from(s).map_err(|e| DbError::Corrupt(e.to_string())))
        .collect()
}

/// The most recent error message among a video's errored jobs of one of `types`.
/// Locks nothing.
pub fn last_error_of_video(
    conn: &mut DbConnection,
    video_id: i64,
    types: &[JobType],
) -> Result<Option<String>, DbError> {
    Ok(runner_jobs::table
        .filter(runner_jobs::video_id.eq(video_id))
        .filter(runner_jobs::job_type.eq_any(type_names(types)))
        .filter(runner_jobs::error.is_not_null())
        .filter(runner_jobs::state.eq(JobState::Errored))
        .order(runner_jobs::updated_at.desc())
        .select(runner_jobs::error)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Reads up to `limit` jobs in `state` of the given types whose `updated_at` is older
/// than `before` (the watchdog's candidates). Locks nothing: each is then changed by a
/// [`transition`] guarded by the `updated_at` read.
pub fn stalled(
    conn: &mut DbConnection,
    state: JobState,
    types: &[JobType],
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Job>, DbError> {
    rows::jobs(
        runner_jobs::table
            .filter(runner_jobs::state.eq(state))
            .filter(runner_jobs::job_type.eq_any(type_names(types)))
            .filter(runner_jobs::updated_at.lt(before))
            .order(runner_jobs::updated_at.asc())
            .limit(limit)
            .load(conn)?,
    )
}
