//! The webhook outbox (`webhook_deliveries`) and the per-video webhook columns.
//!
//! A delivery row is inserted in the transaction of the state change that causes its
//! event ([`insert`]), then taken by a delivery worker of any instance with [`claim`]:
//! a lease (a random token, and `next_attempt_at` pushed to the end of the lease) set
//! by a compare-and-set on the row's state and `next_attempt_at`, on PostgreSQL after
//! locking the candidates with `FOR UPDATE SKIP LOCKED` so concurrent workers take
//! different rows. The attempt's outcome is written only while the worker still holds
//! the lease ([`delivered`], [`failed`]); a worker that died leaves a lease that ends,
//! and the row is due again. A target gets a video's events in order: a row is not
//! taken while an earlier row of the same video and target is still pending.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::schema::{video_files, videos, webhook_deliveries as d};
use super::{DbConnection, DbError};
use crate::domain::ids::VideoUuid;
use crate::domain::video::VideoFile;
use crate::domain::webhook::{Delivery, DeliveryState, EventType, NewDelivery};

#[derive(Debug, Queryable, QueryableByName)]
#[diesel(table_name = d)]
struct DeliveryRow {
    id: i64,
    event_id: String,
    event: String,
    video_uuid: Option<String>,
    endpoint: String,
    url: String,
    payload: String,
    state: String,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    lease: Option<String>,
    expires_at: NaiveDateTime,
    last_status: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = DbError;

    fn try_from(r: DeliveryRow) -> Result<Delivery, DbError> {
        let bad = |e: &dyn std::fmt::Display| DbError::Corrupt(format!("delivery {}: {e}", r.id));
        Ok(Delivery {
            id: r.id,
            event: EventType::try_from(r.event.clone()).map_err(|e| bad(&e))?,
            state: DeliveryState::try_from(r.state.clone()).map_err(|e| bad(&e))?,
            video_uuid: r
                .video_uuid
                .as_deref()
                .map(VideoUuid::from_stored)
                .transpose()
                .map_err(|e| bad(&e))?,
            event_id: r.event_id,
            endpoint: (!r.endpoint.is_empty()).then_some(r.endpoint),
            url: r.url,
            payload: r.payload,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            lease: r.lease,
            expires_at: r.expires_at,
            last_status: r.last_status,
            last_error: r.last_error,
            delivered_at: r.delivered_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn deliveries(rows: Vec<DeliveryRow>) -> Result<Vec<Delivery>, DbError> {
    rows.into_iter().map(Delivery::try_from).collect()
}

/// Stores a pending delivery, due at once. Changes: one new row.
pub fn insert(
    conn: &mut DbConnection,
    new: &NewDelivery,
    now: NaiveDateTime,
) -> Result<Delivery, DbError> {
    let row: DeliveryRow = diesel::insert_into(d::table)
        .values((
            d::event_id.eq(&new.event_id),
            d::event.eq(new.event),
            d::video_uuid.eq(new.video_uuid.map(|u| u.to_string())),
            d::endpoint.eq(new.endpoint.as_deref().unwrap_or_default()),
            d::url.eq(&new.url),
            d::payload.eq(&new.payload),
            d::state.eq(DeliveryState::Pending),
            d::attempts.eq(0),
            d::next_attempt_at.eq(now),
            d::expires_at.eq(new.expires_at),
            d::created_at.eq(now),
            d::updated_at.eq(now),
        ))
        .returning(d::all_columns)
        .get_result(conn)?;
    Delivery::try_from(row)
}

/// Due rows that no earlier pending row of the same video and target holds back.
const DUE: &str = "SELECT d.* FROM webhook_deliveries d \
     WHERE d.state = 'pending' AND d.next_attempt_at <= {now} \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.state = 'pending' \
         AND e.endpoint = d.endpoint AND e.video_uuid = d.video_uuid AND e.id < d.id) \
     ORDER BY d.next_attempt_at, d.id LIMIT {limit}";

/// Takes up to `limit` due deliveries for the worker holding `lease` until
/// `lease_until`: each one's `attempts + 1`, `lease` set and `next_attempt_at` moved to
/// `lease_until`, by a compare-and-set on its state and the `next_attempt_at` read.
/// PostgreSQL locks the candidates first (`FOR UPDATE SKIP LOCKED`, in one
/// transaction), so concurrent workers read different rows; on SQLite, whose writers
/// are serialised, a worker whose compare-and-set finds the row taken skips it.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease: &str,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    match conn {
        DbConnection::Postgresql(pg) => {
            let sql = DUE.replace("{now}", "$1").replace("{limit}", "$2")
                + " FOR UPDATE OF d SKIP LOCKED";
            pg.transaction(|pg| {
                let due: Vec<DeliveryRow> = diesel::sql_query(sql)
                    .bind::<Timestamp, _>(now)
                    .bind::<BigInt, _>(limit)
                    .load(pg)?;
                let mut taken = Vec::with_capacity(due.len());
                for row in due {
                    let target = d::table
                        .find(row.id)
                        .filter(d::state.eq(DeliveryState::Pending))
                        .filter(d::next_attempt_at.eq(row.next_attempt_at));
                    let won: Option<DeliveryRow> = diesel::update(target)
                        .set((
                            d::attempts.eq(d::attempts + 1),
                            d::lease.eq(lease),
                            d::next_attempt_at.eq(lease_until),
                            d::updated_at.eq(now),
                        ))
                        .returning(d::all_columns)
                        .get_result(pg)
                        .optional()?;
                    taken.extend(won);
                }
                Ok::<_, diesel::result::Error>(taken)
            })
            .map_err(DbError::from)
            .and_then(deliveries)
        }
        DbConnection::Sqlite(lite) => {
            let sql = DUE.replace("{now}", "?").replace("{limit}", "?");
            let due: Vec<DeliveryRow> = diesel::sql_query(sql)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(lite)?;
            let mut taken = Vec::with_capacity(due.len());
            for row in due {
                let target = d::table
                    .find(row.id)
                    .filter(d::state.eq(DeliveryState::Pending))
                    .filter(d::next_attempt_at.eq(row.next_attempt_at));
                let won: Option<DeliveryRow> = diesel::update(target)
                    .set((
                        d::attempts.eq(d::attempts + 1),
                        d::lease.eq(lease),
                        d::next_attempt_at.eq(lease_until),
                        d::updated_at.eq(now),
                    ))
                    .returning(d::all_columns)
                    .get_result(lite)
                    .optional()?;
                taken.extend(won);
            }
            deliveries(taken)
        }
    }
}

/// Records a 2xx answer to the attempt holding `lease`: the row is delivered. False
/// when the lease was lost (it ended and another worker took the row).
pub fn delivered(
    conn: &mut DbConnection,
    id: i64,
    lease: &str,
    url: &str,
    status: i32,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(d::table.find(id).filter(d::lease.eq(lease)))
        .set((
            d::state.eq(DeliveryState::Delivered),
            d::lease.eq(None::<String>),
            d::url.eq(url),
            d::last_status.eq(Some(status)),
            d::last_error.eq(None::<String>),
            d::delivered_at.eq(Some(now)),
            d::updated_at.eq(now),
        ))
        .execute(conn)?
        > 0)
}

/// A failed attempt, as [`failed`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// Where it was sent.
    pub url: &'a str,
    /// The answer's status, if one came.
    pub status: Option<i32>,
    /// Why it failed.
    pub error: &'a str,
    /// When to try again; `None`: never (the delivery is dead).
    pub next: Option<NaiveDateTime>,
}

/// Records a failed attempt holding `lease`: due again at `failure.next`, or dead.
/// False when the lease was lost.
pub fn failed(
    conn: &mut DbConnection,
    id: i64,
    lease: &str,
    failure: Failure<'_>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let state = match failure.next {
        Some(_) => DeliveryState::Pending,
        None => DeliveryState::Dead,
    };
    Ok(diesel::update(d::table.find(id).filter(d::lease.eq(lease)))
        .set((
            d::state.eq(state),
            d::lease.eq(None::<String>),
            d::url.eq(failure.url),
            d::next_attempt_at.eq(failure.next.unwrap_or(now)),
            d::last_status.eq(failure.status),
            d::last_error.eq(Some(failure.error)),
            d::updated_at.eq(now),
        ))
        .execute(conn)?
        > 0)
}

/// Reads one delivery. Locks nothing.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<Delivery>, DbError> {
    d::table
        .find(id)
        .first::<DeliveryRow>(conn)
        .optional()?
        .map(Delivery::try_from)
        .transpose()
}

/// Which deliveries [`list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Of this video.
    pub video: Option<VideoUuid>,
    /// Of this event type.
    pub event: Option<EventType>,
    /// In this state.
    pub state: Option<DeliveryState>,
    /// Of this event id.
    pub event_id: Option<String>,
}

/// A page of deliveries, newest first, and how many match. Locks nothing.
pub fn list(
    conn: &mut DbConnection,
    filter: &DeliveryFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Delivery>, i64), DbError> {
    let mut query = d::table.into_boxed();
    let mut count = d::table.into_boxed();
    if let Some(v) = filter.video {
        query = query.filter(d::video_uuid.eq(v.to_string()));
        count = count.filter(d::video_uuid.eq(v.to_string()));
    }
    if let Some(e) = filter.event {
        query = query.filter(d::event.eq(e));
        count = count.filter(d::event.eq(e));
    }
    if let Some(s) = filter.state {
        query = query.filter(d::state.eq(s));
        count = count.filter(d::state.eq(s));
    }
    if let Some(id) = &filter.event_id {
        query = query.filter(d::event_id.eq(id.clone()));
        count = count.filter(d::event_id.eq(id.clone()));
    }
    let rows: Vec<DeliveryRow> = query
        .order(d::id.desc())
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    let total = count.count().get_result(conn)?;
    Ok((deliveries(rows)?, total))
}

/// Deletes delivered and dead rows last changed before `before`; returns how many.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(
        d::table
            .filter(d::state.ne(DeliveryState::Pending))
            .filter(d::updated_at.lt(before)),
    )
    .execute(conn)?)
}

/// Records where a video's own events go.
pub fn set_callback_url(conn: &mut DbConnection, video_id: i64, url: &str) -> Result<(), DbError> {
    diesel::update(videos::table.find(video_id))
        .set(videos::callback_url.eq(Some(url)))
        .execute(conn)?;
    Ok(())
}

/// Marks `files` announced (their `video.rendition.ready` is recorded).
pub fn mark_announced(
    conn: &mut DbConnection,
    files: &[VideoFile],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    if files.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = files.iter().map(|f| f.id).collect();
    diesel::update(video_files::table.filter(video_files::id.eq_any(ids)))
        .set(video_files::announced_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}
