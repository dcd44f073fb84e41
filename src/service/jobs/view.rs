//! The RunnerJob JSON object (`runner-protocol.md` 1.9) and the `/jobs/request` offer.
//! Payloads are stored as JSON text and embedded as they are, never re-parsed.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::db::models::{RunnerJobRow, RunnerRow};
use crate::domain::job::JobState;
use crate::service::timefmt;

/// `{id, label}` of a job state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView {
    /// PeerTube's integer.
    pub id: i32,
    /// PeerTube's label.
    pub label: &'static str,
}

impl StateView {
    /// The view of a stored state integer (`label` empty if unknown).
    pub fn of(id: i32) -> StateView {
        StateView {
            id,
            label: JobState::from_id(id).map_or("", JobState::label),
        }
    }
}

/// `parent` of a RunnerJob.
#[derive(Debug, Clone, Serialize)]
pub struct ParentView {
    /// Internal id.
    pub id: i64,
    /// UUID.
    pub uuid: String,
    /// Type string.
    #[serde(rename = "type")]
    pub job_type: String,
    /// State.
    pub state: StateView,
}

/// `runner` of a RunnerJob.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerView {
    /// Runner id.
    pub id: i64,
    /// Runner name.
    pub name: String,
    /// Description (`null` when none).
    pub description: Option<String>,
}

/// A RunnerJob as PeerTube's `toFormattedJSON` writes it: `startedAt`, `finishedAt`,
/// `parent` (and `jobToken`) omitted when empty; `progress`, `error`, `runner` `null`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerJobView {
    /// UUID.
    pub uuid: String,
    /// Type string.
    #[serde(rename = "type")]
    pub job_type: String,
    /// State.
    pub state: StateView,
    /// 0..100 or `null`.
    pub progress: Option<i32>,
    /// Priority.
    pub priority: i32,
    /// Failed attempts.
    pub failures: i32,
    /// Last error or `null`.
    pub error: Option<String>,
    /// The payload as stored.
    pub payload: Box<RawValue>,
    /// When accepted.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "timefmt::option::serialize"
    )]
    pub started_at: Option<NaiveDateTime>,
    /// When finished.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "timefmt::option::serialize"
    )]
    pub finished_at: Option<NaiveDateTime>,
    /// Creation time.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// Last change.
    #[serde(with = "timefmt")]
    pub updated_at: NaiveDateTime,
    /// Parent job, omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentView>,
    /// Runner or `null`.
    pub runner: Option<RunnerView>,
    /// The new job token (accept response only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_token: Option<String>,
}

/// Embeds stored JSON text; text that is not JSON (a bug) becomes `{}`.
pub fn raw_json(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_else(|e| {
        tracing::error!(error = %e, "stored payload is not JSON");
        RawValue::from_string("{}".to_owned()).unwrap_or_default()
    })
}

impl RunnerJobView {
    /// The view of `job` with its parent and runner rows.
    pub fn new(
        job: RunnerJobRow,
        parent: Option<&RunnerJobRow>,
        runner: Option<&RunnerRow>,
    ) -> RunnerJobView {
        RunnerJobView {
            uuid: job.uuid,
            job_type: job.job_type,
            state: StateView::of(job.state),
            progress: job.progress,
            priority: job.priority,
            failures: job.failures,
            error: job.error,
            payload: raw_json(job.payload),
            started_at: job.started_at,
            finished_at: job.finished_at,
            created_at: job.created_at,
            updated_at: job.updated_at,
            parent: parent.map(|p| ParentView {
                id: p.id,
                uuid: p.uuid.clone(),
                job_type: p.job_type.clone(),
                state: StateView::of(p.state),
            }),
            runner: runner.map(|r| RunnerView {
                id: r.id,
                name: r.name.clone(),
                description: r.description.clone(),
            }),
            job_token: None,
        }
    }
}

/// One entry of `availableJobs`.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    /// UUID.
    pub uuid: String,
    /// Type string.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The payload as stored.
    pub payload: Box<RawValue>,
}

/// The `/jobs/request` answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableJobs {
    /// At most 10 offers.
    pub available_jobs: Vec<Offer>,
}
