//! The RunnerJob JSON object (`runner-protocol.md` 1.9) and the `/jobs/request` offer.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::domain::ids::{JobToken, JobUuid};
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::payloads::JobPayload;
use crate::domain::runner::Runner;
use crate::service::jobs::queue::index::PreparedOffer;
use crate::service::timefmt;

/// `parent` of a RunnerJob.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParentView {
    /// Internal id.
    pub id: i64,
    /// UUID.
    pub uuid: JobUuid,
    /// Type.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// State (`{id, label}`).
    pub state: JobState,
}

/// `runner` of a RunnerJob.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerJobView {
    /// UUID.
    pub uuid: JobUuid,
    /// Type.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// State (`{id, label}`).
    pub state: JobState,
    /// 0..100 or `null`.
    pub progress: Option<i32>,
    /// Priority.
    pub priority: i32,
    /// Failed attempts.
    pub failures: i32,
    /// Last error or `null`.
    pub error: Option<String>,
    /// What the runner processes.
    pub payload: JobPayload,
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
    pub job_token: Option<JobToken>,
}

impl RunnerJobView {
    /// The view of `job` with its parent and runner.
    pub fn new(job: Job, parent: Option<&Job>, runner: Option<&Runner>) -> RunnerJobView {
        RunnerJobView {
            uuid: job.uuid,
            job_type: job.job_type(),
            state: job.state,
            progress: job.progress,
            priority: job.priority,
            failures: job.failures,
            error: job.error,
            payload: job.payload,
            started_at: job.started_at,
            finished_at: job.finished_at,
            created_at: job.created_at,
            updated_at: job.updated_at,
            parent: parent.map(|p| ParentView {
                id: p.id,
                uuid: p.uuid,
                job_type: p.job_type(),
                state: p.state,
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

/// One entry of `availableJobs`, as the document describes it (the offer index
/// serializes [`PreparedOffer`]s of this shape once, when a job enters it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    /// UUID.
    pub uuid: JobUuid,
    /// Type.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// What the runner would process.
    pub payload: JobPayload,
}

/// The `/jobs/request` answer: each entry `{uuid, type, payload}`, serialized when the
/// job entered the offer index.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableJobs {
    /// At most 10 offers.
    #[schema(value_type = Vec<OfferView>)]
    pub available_jobs: Vec<PreparedOffer>,
}
