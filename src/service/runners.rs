//! Runner registration, authentication and bookkeeping.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::models::{NewRunner, RunnerRow};
use crate::db::{self, Db};
use crate::domain::ids::{RUNNER_TOKEN_PREFIX, generate_token, hash_token};
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// What `POST /register` carries, already shape-checked.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `ptrrt-…` given by an operator.
    pub registration_token: String,
    /// Unique runner name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Runner package version (newest runners send it).
    pub version: Option<String>,
    /// Client IP.
    pub ip: String,
}

/// The answer to a successful registration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// Runner id.
    pub id: i64,
    /// `ptrt-…`, shown once: only its hash is stored.
    pub runner_token: String,
}

/// A runner as operators see it (PeerTube's admin list shape).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerInfo {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Last client IP.
    pub ip: String,
    /// Last contact (UTC).
    #[serde(with = "crate::service::timefmt")]
    pub last_contact: NaiveDateTime,
    /// Runner version, if it sent one.
    pub version: Option<String>,
    /// Registration token id.
    pub registration_token_id: i64,
    /// Registration time.
    #[serde(with = "crate::service::timefmt")]
    pub created_at: NaiveDateTime,
    /// Last change.
    #[serde(with = "crate::service::timefmt")]
    pub updated_at: NaiveDateTime,
}

impl From<RunnerRow> for RunnerInfo {
    fn from(r: RunnerRow) -> RunnerInfo {
        RunnerInfo {
            id: r.id,
            name: r.name,
            description: r.description,
            ip: r.ip,
            last_contact: r.last_contact,
            version: r.version,
            registration_token_id: r.registration_token_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Registers a runner: the registration token must exist and the name be free. All in
/// one transaction; a concurrent registration of the same name loses cleanly.
pub async fn register(db: &Db, input: Registration) -> Result<Registered, ServiceError> {
    let runner_token = generate_token(RUNNER_TOKEN_PREFIX);
    let token_hash = hash_token(&runner_token);
    let row = db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let Some(reg) =
                    db::registration_tokens::find_by_token(conn, &input.registration_token)?
                else {
                    return Ok(Err(ServiceError::InvalidRegistrationToken));
                };
                if db::runners::name_exists(conn, &input.name)? {
                    return Ok(Err(ServiceError::RunnerNameTaken));
                }
                let now = db::now();
                let inserted = db::runners::insert(
                    conn,
                    &NewRunner {
                        registration_token_id: reg.id,
                        name: &input.name,
                        description: input.description.as_deref(),
                        token_hash: &token_hash,
                        ip: &input.ip,
                        last_contact: now,
                        version: input.version.as_deref(),
                        created_at: now,
                        updated_at: now,
                    },
                );
                match inserted {
                    Ok(row) => Ok(Ok(row)),
                    Err(e) if e.is_unique_violation() => Ok(Err(ServiceError::RunnerNameTaken)),
                    Err(e) => Err(e),
                }
            })
        })
        .await;
    match row {
        Ok(Ok(row)) => Ok(Registered {
            id: row.id,
            runner_token,
        }),
        Ok(Err(e)) => Err(e),
        // A concurrent insert may also surface at commit time.
        Err(e) if e.is_unique_violation() => Err(ServiceError::RunnerNameTaken),
        Err(e) => Err(e.into()),
    }
}

/// Finds the runner holding `runner_token`. [`ServiceError::UnknownRunnerToken`] only
/// when the lookup succeeded and found nothing.
pub async fn authenticate(db: &Db, runner_token: &str) -> Result<RunnerRow, ServiceError> {
    let hash = hash_token(runner_token);
    db.run(move |conn| db::runners::find_by_token_hash(conn, &hash))
        .await?
        .ok_or(ServiceError::UnknownRunnerToken)
}

/// The id of the runner holding `runner_token`, for its sockets (`/runners` namespace):
/// `UnknownRunnerToken` when no runner has it, another error when it cannot be checked.
pub async fn authenticate_socket(db: &Db, runner_token: &str) -> Result<i64, ServiceError> {
    authenticate(db, runner_token).await.map(|runner| runner.id)
}

/// Unregisters the runner holding `runner_token`; its sockets are closed.
pub async fn unregister(
    db: &Db,
    events: &EventBus,
    runner_token: &str,
) -> Result<(), ServiceError> {
    let runner = authenticate(db, runner_token).await?;
    let id = runner.id;
    db.run(move |conn| db::runners::delete(conn, id)).await?;
    events.publish(Event::RunnerRemoved { runner_id: id });
    Ok(())
}

/// Every runner, newest first.
pub async fn list(db: &Db) -> Result<Vec<RunnerInfo>, ServiceError> {
    Ok(db
        .run(db::runners::list)
        .await?
        .into_iter()
        .map(RunnerInfo::from)
        .collect())
}

/// Deletes a runner by id; its jobs keep no runner and its sockets are closed.
pub async fn delete(db: &Db, events: &EventBus, id: i64) -> Result<(), ServiceError> {
    if !db.run(move |conn| db::runners::delete(conn, id)).await? {
        return Err(ServiceError::NotFound("Runner"));
    }
    events.publish(Event::RunnerRemoved { runner_id: id });
    Ok(())
}

/// Records that `runner` called from `ip`, at most once per `interval` (and whenever
/// its IP or version changed). Bookkeeping only: a failure is logged, not returned.
pub async fn record_contact(
    db: &Db,
    runner: &RunnerRow,
    ip: &str,
    version: Option<&str>,
    interval: Duration,
) {
    let now = db::now();
    let stale_before = now - chrono::TimeDelta::from_std(interval).unwrap_or_default();
    let version_changed = version.is_some_and(|v| runner.version.as_deref() != Some(v));
    if runner.last_contact >= stale_before && runner.ip == ip && !version_changed {
        return;
    }
    let (id, ip, version) = (runner.id, ip.to_owned(), version.map(str::to_owned));
    if let Err(e) = db
        .run(move |conn| {
            db::runners::touch_contact(conn, id, &ip, version.as_deref(), now, stale_before)
        })
        .await
    {
        tracing::warn!(runner_id = runner.id, error = %e, "could not record runner contact");
    }
}
