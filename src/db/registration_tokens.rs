//! Registration token queries.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rows::{NewRegistrationTokenRow, RegistrationTokenRow};
use super::schema::{registration_tokens, runners};
use super::{DbConnection, DbError};
use crate::domain::ids::RegistrationToken;
use crate::domain::runner::StoredRegistrationToken;

/// Inserts a token and returns it.
pub fn insert(
    conn: &mut DbConnection,
    token: &RegistrationToken,
    now: NaiveDateTime,
) -> Result<StoredRegistrationToken, DbError> {
    let row: RegistrationTokenRow = diesel::insert_into(registration_tokens::table)
        .values(NewRegistrationTokenRow {
            token: token.as_str(),
            created_at: now,
            updated_at: now,
        })
        .returning(registration_tokens::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// Finds a token by its value.
pub fn find_by_token(
    conn: &mut DbConnection,
    token: &RegistrationToken,
) -> Result<Option<StoredRegistrationToken>, DbError> {
    Ok(registration_tokens::table
        .filter(registration_tokens::token.eq(token.as_str()))
        .first::<RegistrationTokenRow>(conn)
        .optional()?
        .map(StoredRegistrationToken::from))
}

/// Every token with the number of runners registered with it, newest first.
pub fn list_with_runner_counts(
    conn: &mut DbConnection,
) -> Result<Vec<(StoredRegistrationToken, i64)>, DbError> {
    let tokens: Vec<RegistrationTokenRow> = registration_tokens::table
        .order((
            registration_tokens::created_at.desc(),
            registration_tokens::id.desc(),
        ))
        .load(conn)?;
    let counts: Vec<(i64, i64)> = runners::table
        .group_by(runners::registration_token_id)
        .select((runners::registration_token_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(tokens
        .into_iter()
        .map(StoredRegistrationToken::from)
        .map(|t| {
            let n = counts
                .iter()
                .find(|(id, _)| *id == t.id)
                .map_or(0, |(_, n)| *n);
            (t, n)
        })
        .collect())
}

/// Deletes a token (its runners go with it). Returns the ids of the deleted runners,
/// or `None` when no such token exists.
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<Option<Vec<i64>>, DbError> {
    conn.transaction(|conn| {
        let runner_ids: Vec<i64> = runners::table
            .filter(runners::registration_token_id.eq(id))
            .select(runners::id)
            .load(conn)?;
        let deleted = diesel::delete(registration_tokens::table.find(id)).execute(conn)?;
        if deleted == 0 {
            return Ok(None);
        }
        // Explicit rather than relying on the cascade alone, so that the jobs' runner
        // reference is cleared the same way on both backends.
        diesel::delete(runners::table.filter(runners::registration_token_id.eq(id)))
            .execute(conn)?;
        Ok(Some(runner_ids))
    })
}
