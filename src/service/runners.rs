//! Runner registration, authentication and bookkeeping.

use std::time::Duration;

use chrono::NaiveDateTime;

use crate::db::{self, Db, DbConnection};
use crate::domain::ids::{RegistrationToken, RunnerToken};
use crate::domain::runner::{NewRunner, Runner};
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// What `POST /register` carries, parsed.
#[derive(Debug, Clone)]
pub struct Registration {
    /// `ptrrt-…` given by an operator.
    pub registration_token: RegistrationToken,
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// Runner id.
    pub id: i64,
    /// `ptrt-…`, shown once: only its hash is stored.
    pub runner_token: RunnerToken,
}

/// A runner as operators see it (PeerTube's admin list shape).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
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

impl From<Runner> for RunnerInfo {
    fn from(r: Runner) -> RunnerInfo {
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

/// Registers a runner at `now` (its first contact): the registration token must exist
/// and the name be free. All in one transaction; a concurrent registration of the
/// same name loses cleanly.
pub async fn register(
    db: &Db,
    input: Registration,
    now: NaiveDateTime,
) -> Result<Registered, ServiceError> {
    let runner_token = RunnerToken::generate();
    let token_hash = runner_token.hash();
    let registered = db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let reg = db::registration_tokens::find_by_token(conn, &input.registration_token)?
                    .ok_or(ServiceError::InvalidRegistrationToken)?;
                if db::runners::name_exists(conn, &input.name)? {
                    return Err(ServiceError::RunnerNameTaken);
                }
                let new = NewRunner {
                    registration_token_id: reg.id,
                    name: input.name,
                    description: input.description,
                    token_hash,
                    ip: input.ip,
                    version: input.version,
                };
                Ok(db::runners::insert(conn, &new, now)?)
            })
        })
        .await;
    match registered {
        Ok(runner) => Ok(Registered {
            id: runner.id,
            runner_token,
        }),
        // A concurrent insert of the same name, at insert or at commit time.
        Err(ServiceError::Db(e)) if e.is_unique_violation() => Err(ServiceError::RunnerNameTaken),
        Err(e) => Err(e),
    }
}

/// Finds the runner holding `runner_token`. [`ServiceError::UnknownRunnerToken`] only
/// when the lookup succeeded and found nothing.
pub async fn authenticate(db: &Db, runner_token: &RunnerToken) -> Result<Runner, ServiceError> {
    let hash = runner_token.hash();
    db.run(move |conn| db::runners::find_by_token_hash(conn, &hash))
        .await?
        .ok_or(ServiceError::UnknownRunnerToken)
}

/// The id of the runner holding `runner_token`, for its sockets (`/runners` namespace):
/// `UnknownRunnerToken` when no runner has it (a string no runner token can be, too
/// long or with control characters, included), another error when it cannot be
/// checked.
pub async fn authenticate_socket(db: &Db, runner_token: &str) -> Result<i64, ServiceError> {
    let token = RunnerToken::parse(runner_token).map_err(|_| ServiceError::UnknownRunnerToken)?;
    authenticate(db, &token).await.map(|runner| runner.id)
}

/// Unregisters the runner holding `runner_token`; its sockets are closed.
pub async fn unregister(
    db: &Db,
    events: &EventBus,
    runner_token: &RunnerToken,
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

/// Which of the runners `ids` still exist (for the socket hub's check of connected
/// runners).
pub async fn existing(db: &Db, ids: Vec<i64>) -> Result<Vec<i64>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(db
        .run(move |conn| db::runners::existing(conn, &ids))
        .await?)
}

/// When the contact of `runner` calling from `ip` (with `version`) must be written:
/// `Some(stale_before)` when the last one is older than `interval`, or the IP or
/// version changed.
pub(crate) fn contact_due(
    runner: &Runner,
    ip: &str,
    version: Option<&str>,
    interval: Duration,
    now: NaiveDateTime,
) -> Option<NaiveDateTime> {
    let stale_before = now - chrono::TimeDelta::from_std(interval).unwrap_or_default();
    let version_changed = version.is_some_and(|v| runner.version.as_deref() != Some(v));
    (runner.last_contact < stale_before || runner.ip != ip || version_changed)
        .then_some(stale_before)
}

/// Records that `runner` called from `ip` at `now`, at most once per `interval` (and
/// whenever its IP or version changed). Bookkeeping only: a failure is logged, not
/// returned.
pub async fn record_contact(
    db: &Db,
    runner: &Runner,
    ip: &str,
    version: Option<&str>,
    interval: Duration,
    now: NaiveDateTime,
) {
    if contact_due(runner, ip, version, interval, now).is_none() {
        return;
    }
    let (runner, ip, version) = (runner.clone(), ip.to_owned(), version.map(str::to_owned));
    let _ = db
        .run(move |conn| {
            record_contact_in(conn, &runner, &ip, version.as_deref(), interval, now);
            Ok::<_, crate::db::DbError>(())
        })
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "could not record runner contact"));
}

/// [`record_contact`] on a connection the caller holds (inside its own query).
pub fn record_contact_in(
    conn: &mut DbConnection,
    runner: &Runner,
    ip: &str,
    version: Option<&str>,
    interval: Duration,
    now: NaiveDateTime,
) {
    let Some(stale_before) = contact_due(runner, ip, version, interval, now) else {
        return;
    };
    if let Err(e) = db::runners::touch_contact(conn, runner.id, ip, version, now, stale_before) {
        tracing::warn!(runner_id = runner.id, error = %e, "could not record runner contact");
    }
}
