//! The admin API's listings (PeerTube's `listForApi`): pages of runners, registration
//! tokens and jobs, each with the total the filter matches. Ties are broken by id
//! ascending, as PeerTube does. Every query here only reads and locks nothing.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::rows::{self, JobRow, RegistrationTokenRow, RunnerRow};
use super::schema::{registration_tokens, runner_jobs, runners};
use super::{DbConnection, DbError};
use crate::domain::job::Job;
use crate::domain::listing::{
    CreatedAt, Direction, JobFilter, JobSearch, JobSortField, Page, Sort,
};
use crate::domain::runner::{Runner, StoredRegistrationToken};

diesel::define_sql_function! {
    /// SQL `lower()` of a nullable text (both backends have it).
    #[sql_name = "lower"]
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

/// `%text%` for `LIKE … ESCAPE '\'`, the text lower-cased and its wildcards escaped.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page of runners sorted by creation time, and how many runners there are.
pub fn runners_page(
    conn: &mut DbConnection,
    page: Page,
    sort: Sort<CreatedAt>,
) -> Result<(Vec<Runner>, i64), DbError> {
    let query = runners::table.into_boxed();
    let query = match sort.direction {
        Direction::Asc => query.order((runners::created_at.asc(), runners::id.asc())),
        Direction::Desc => query.order((runners::created_at.desc(), runners::id.asc())),
    };
    let rows: Vec<RunnerRow> = query.offset(page.start).limit(page.count).load(conn)?;
    let total = runners::table.count().get_result(conn)?;
    Ok((rows.into_iter().map(Runner::from).collect(), total))
}

/// A page of registration tokens sorted by creation time, each with the number of
/// runners registered with it, and how many tokens there are.
pub fn registration_tokens_page(
    conn: &mut DbConnection,
    page: Page,
    sort: Sort<CreatedAt>,
) -> Result<(Vec<(StoredRegistrationToken, i64)>, i64), DbError> {
    let query = registration_tokens::table.into_boxed();
    let query = match sort.direction {
        Direction::Asc => query.order((
            registration_tokens::created_at.asc(),
            registration_tokens::id.asc(),
        )),
        Direction::Desc => query.order((
            registration_tokens::created_at.desc(),
            registration_tokens::id.asc(),
        )),
    };
    let rows: Vec<RegistrationTokenRow> = query.offset(page.start).limit(page.count).load(conn)?;
    let rows: Vec<StoredRegistrationToken> = rows
        .into_iter()
        .map(StoredRegistrationToken::from)
        .collect();
    let ids: Vec<i64> = rows.iter().map(|t| t.id).collect();
    let counts: Vec<(i64, i64)> = runners::table
        .filter(runners::registration_token_id.eq_any(&ids))
        .group_by(runners::registration_token_id)
        .select((runners::registration_token_id, diesel::dsl::count_star()))
        .load(conn)?;
    let total = registration_tokens::table.count().get_result(conn)?;
    let tokens = rows
        .into_iter()
        .map(|t| {
            let n = counts
                .iter()
                .find(|(id, _)| *id == t.id)
                .map_or(0, |(_, n)| *n);
            (t, n)
        })
        .collect();
    Ok((tokens, total))
}

/// A job of the admin list with the runner holding it (or that last held it) and its
/// parent.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedJob {
    /// The job.
    pub job: Job,
    /// Its runner, if any.
    pub runner: Option<Runner>,
    /// The job it depends on, if any.
    pub parent: Option<Job>,
}

/// Applies a [`JobFilter`] to a boxed `runner_jobs LEFT JOIN runners` query (the same
/// conditions for the page and for its total).
macro_rules! filtered_jobs {
    ($filter:expr) => {{
        let filter: &JobFilter = $filter;
        let mut query = runner_jobs::table.left_join(runners::table).into_boxed();
        if !filter.states.is_empty() {
            let states: Vec<i32> = filter.states.iter().map(|s| s.id()).collect();
            query = query.filter(runner_jobs::state.eq_any(states));
        }
        if !filter.types.is_empty() {
            let types: Vec<&'static str> = filter.types.iter().map(|t| t.as_str()).collect();
            query = query.filter(runner_jobs::job_type.eq_any(types));
        }
        match &filter.search {
            None => {}
            Some(JobSearch::Uuid(uuid)) => {
                query = query.filter(runner_jobs::uuid.eq(uuid.to_string()));
            }
            Some(JobSearch::Text(text)) => {
                let pattern = contains_pattern(text);
                query = query.filter(
                    lower(runner_jobs::job_type.nullable())
                        .like(pattern.clone())
                        .escape('\\')
                        .or(lower(runners::name.nullable()).like(pattern).escape('\\')),
                );
            }
        }
        query
    }};
}

/// A page of jobs matching `filter` in `sort` order, with their runners and parents,
/// and how many jobs match.
pub fn jobs_page(
    conn: &mut DbConnection,
    filter: &JobFilter,
    sort: Sort<JobSortField>,
    page: Page,
) -> Result<(Vec<ListedJob>, i64), DbError> {
    use JobSortField as F;
    let query = filtered_jobs!(filter);
    let query = match (sort.field, sort.direction) {
        (F::UpdatedAt, Direction::Asc) => query.order(runner_jobs::updated_at.asc()),
        (F::UpdatedAt, Direction::Desc) => query.order(runner_jobs::updated_at.desc()),
        (F::CreatedAt, Direction::Asc) => query.order(runner_jobs::created_at.asc()),
        (F::CreatedAt, Direction::Desc) => query.order(runner_jobs::created_at.desc()),
        (F::Priority, Direction::Asc) => query.order(runner_jobs::priority.asc()),
        (F::Priority, Direction::Desc) => query.order(runner_jobs::priority.desc()),
        (F::State, Direction::Asc) => query.order(runner_jobs::state.asc()),
        (F::State, Direction::Desc) => query.order(runner_jobs::state.desc()),
        // NULLs last ascending and first descending on both backends (PostgreSQL's
        // default; SQLite's is the other way round).
        (F::Progress, Direction::Asc) => query.order((
            runner_jobs::progress.is_null().asc(),
            runner_jobs::progress.asc(),
        )),
        (F::Progress, Direction::Desc) => query.order((
            runner_jobs::progress.is_null().desc(),
            runner_jobs::progress.desc(),
        )),
    };
    let rows: Vec<(JobRow, Option<RunnerRow>)> = query
        .then_order_by(runner_jobs::id.asc())
        .select((runner_jobs::all_columns, runners::all_columns.nullable()))
        .offset(page.start)
        .limit(page.count)
        .load(conn)?;
    let total: i64 = filtered_jobs!(filter).count().get_result(conn)?;
    let rows = rows
        .into_iter()
        .map(|(job, runner)| Ok((Job::try_from(job)?, runner.map(Runner::from))))
        .collect::<Result<Vec<_>, DbError>>()?;
    let parent_ids: Vec<i64> = rows.iter().filter_map(|(j, _)| j.parent_id).collect();
    let parents = rows::jobs(
        runner_jobs::table
            .filter(runner_jobs::id.eq_any(&parent_ids))
            .load(conn)?,
    )?;
    let listed = rows
        .into_iter()
        .map(|(job, runner)| {
            let parent = job
                .parent_id
                .and_then(|id| parents.iter().find(|p| p.id == id).cloned());
            ListedJob {
                job,
                runner,
                parent,
            }
        })
        .collect();
    Ok((listed, total))
}

/// Deletes a job; the jobs depending on it, at every level, go with it (ON DELETE
/// CASCADE). Returns whether it existed.
pub fn delete_job(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(runner_jobs::table.find(id)).execute(conn)? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_match_literally_and_in_any_case() {
        assert_eq!(contains_pattern("HLS"), "%hls%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
