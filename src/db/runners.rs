//! Runner queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{NewRunnerRow, RunnerRow};
use super::schema::runners;
use super::{DbConnection, DbError};
use crate::domain::ids::TokenHash;
use crate::domain::runner::{NewRunner, Runner};

/// Inserts a runner (its contact, creation and change times `now`). A duplicate name
/// or token hash is a unique violation ([`DbError::is_unique_violation`]).
pub fn insert(
    conn: &mut DbConnection,
    runner: &NewRunner,
    now: NaiveDateTime,
) -> Result<Runner, DbError> {
    let row: RunnerRow = diesel::insert_into(runners::table)
        .values(NewRunnerRow::new(runner, now))
        .returning(runners::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// Finds a runner by the hash of its token.
pub fn find_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &TokenHash,
) -> Result<Option<Runner>, DbError> {
    Ok(runners::table
        .filter(runners::token_hash.eq(token_hash.as_str()))
        .first::<RunnerRow>(conn)
        .optional()?
        .map(Runner::from))
}

/// Whether a runner with this name exists.
pub fn name_exists(conn: &mut DbConnection, name: &str) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        runners::table.filter(runners::name.eq(name)),
    ))
    .get_result(conn)?)
}

/// Every runner, newest first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Runner>, DbError> {
    Ok(runners::table
        .order((runners::created_at.desc(), runners::id.desc()))
        .load::<RunnerRow>(conn)?
        .into_iter()
        .map(Runner::from)
        .collect())
}

/// Finds a runner by id.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<Runner>, DbError> {
    Ok(runners::table
        .find(id)
        .first::<RunnerRow>(conn)
        .optional()?
        .map(Runner::from))
}

/// Deletes a runner; returns whether it existed. Its jobs keep `runner_id = NULL`.
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(runners::table.find(id)).execute(conn)? > 0)
}

/// Which of the runners `ids` exist (in no particular order).
pub fn existing(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<i64>, DbError> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded lists: SQLite allows 32766 bound parameters, PostgreSQL 65535.
    for chunk in ids.chunks(1000) {
        found.extend(
            runners::table
                .filter(runners::id.eq_any(chunk))
                .select(runners::id)
                .load::<i64>(conn)?,
        );
    }
    Ok(found)
}

/// Records a contact from `ip` if the last one is older than `stale_before`, and a
/// changed version when given. Returns whether a row was written.
pub fn touch_contact(
    conn: &mut DbConnection,
    id: i64,
    ip: &str,
    version: Option<&str>,
    now: NaiveDateTime,
    stale_before: NaiveDateTime,
) -> Result<bool, DbError> {
    let mut written = diesel::update(
        runners::table.find(id).filter(
            runners::last_contact
                .lt(stale_before)
                .or(runners::ip.ne(ip)),
        ),
    )
    .set((runners::last_contact.eq(now), runners::ip.eq(ip)))
    .execute(conn)?
        > 0;
    if let Some(version) = version {
        written |= diesel::update(
            runners::table
                .find(id)
                .filter(runners::version.is_null().or(runners::version.ne(version))),
        )
        .set((runners::version.eq(version), runners::updated_at.eq(now)))
        .execute(conn)?
            > 0;
    }
    Ok(written)
}
