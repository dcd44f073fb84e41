//! Job timings, recorded by the job service once a transition is committed:
//!
//! - `prc_job_wait_duration_seconds{type}`: how long a job was PENDING before a runner
//!   accepted it (since it last became PENDING: created, released by its parent, or put
//!   back after an abort, an error or a stall);
//! - `prc_job_run_duration_seconds{type, outcome}`: from the accept to the end of jobs
//!   that ran (`outcome` `completed`, `errored` or `cancelled`); a job tried several
//!   times counts its last attempt;
//! - `prc_jobs_ended_total{type, state}`: jobs that reached a final state, whether they
//!   ran or not (`parent_errored` and `parent_cancelled` never run).
//!
//! Durations come from the rows' timestamps, which the service's clock writes.

use chrono::NaiveDateTime;
use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::domain::job::{Job, JobState, JobType};

/// Upper bounds of the wait buckets, seconds: half a second to a day.
pub const WAIT_BUCKETS: [f64; 15] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
    86400.0,
];

/// Upper bounds of the run buckets, seconds: five seconds to a day.
pub const RUN_BUCKETS: [f64; 14] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
    86400.0,
];

/// The `state` label value of a job state (PeerTube's names, snake case).
pub fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Pending => "pending",
        JobState::Processing => "processing",
        JobState::Completed => "completed",
        JobState::Errored => "errored",
        JobState::WaitingForParentJob => "waiting_for_parent_job",
        JobState::Cancelled => "cancelled",
        JobState::ParentErrored => "parent_errored",
        JobState::ParentCancelled => "parent_cancelled",
        JobState::Completing => "completing",
    }
}

/// `{type}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeLabel(pub JobType);

impl EncodeLabelSet for TypeLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("type", self.0.as_str())].encode(encoder)
    }
}

/// `{type, state}`, also `{type, outcome}` (the final state a run ended in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeStateLabels {
    /// The job type.
    pub job_type: JobType,
    /// The state.
    pub state: JobState,
    /// The name of the state's label (`state` or `outcome`).
    pub key: &'static str,
}

impl EncodeLabelSet for TypeStateLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [
            ("type", self.job_type.as_str()),
            (self.key, state_name(self.state)),
        ]
        .encode(encoder)
    }
}

/// `d` in seconds; never negative (instances' clocks may disagree by a little).
fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1e6
}

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

fn run_histogram() -> Histogram {
    Histogram::new(RUN_BUCKETS)
}

/// The job families.
#[derive(Debug, Clone)]
pub struct JobMetrics {
    wait: Family<TypeLabel, Histogram, fn() -> Histogram>,
    run: Family<TypeStateLabels, Histogram, fn() -> Histogram>,
    ended: Family<TypeStateLabels, Counter>,
}

impl JobMetrics {
    pub(super) fn register(registry: &mut Registry) -> JobMetrics {
        let wait = Family::new_with_constructor(wait_histogram as fn() -> Histogram);
        let run = Family::new_with_constructor(run_histogram as fn() -> Histogram);
        let ended = Family::default();
        registry.register_with_unit(
            "job_wait_duration",
            "Time jobs were pending before a runner accepted them, by type",
            Unit::Seconds,
            wait.clone(),
        );
        registry.register_with_unit(
            "job_run_duration",
            "Time from a runner's accept to the end of the jobs that ran, by type and final \
             state (completed, errored, cancelled)",
            Unit::Seconds,
            run.clone(),
        );
        registry.register(
            "jobs_ended",
            "Jobs that reached a final state on this instance, by type and state",
            ended.clone(),
        );
        JobMetrics { wait, run, ended }
    }

    /// A runner accepted, at `now`, a job of `job_type` pending since `since`.
    pub fn accepted(&self, job_type: JobType, since: NaiveDateTime, now: NaiveDateTime) {
        self.wait
            .get_or_create(&TypeLabel(job_type))
            .observe(seconds(now - since));
    }

    /// A job whose change was committed, as it is now: in a final state it counts as
    /// ended and, if it ran (it was accepted, so it has a start time), its run is
    /// recorded. A job in another state is ignored.
    pub fn changed(&self, job: &Job) {
        if !job.state.is_final() {
            return;
        }
        let labels = TypeStateLabels {
            job_type: job.job_type(),
            state: job.state,
            key: "state",
        };
        self.ended.get_or_create(&labels).inc();
        if let (Some(start), Some(end)) = (job.started_at, job.finished_at) {
            let labels = TypeStateLabels {
                key: "outcome",
                ..labels
            };
            self.run
                .get_or_create(&labels)
                .observe(seconds(end - start));
        }
    }
}
