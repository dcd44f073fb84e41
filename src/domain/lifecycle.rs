//! The runner-job state machine as one table, and what each job type does around it
//! (`runner-protocol.md` 1.4–1.10, 5).
//!
//! - [`Transition`] names every way a job changes state; [`Transition::rule`] is the
//!   table: the states it starts from, the state it leads to, and its side effects
//!   (the runner assigned or released, the token dropped, `failures + 1`, the error
//!   recorded, `finished_at`, and what happens to the jobs waiting for it). The database
//!   applies a rule as one compare-and-set (`db::jobs::transition`), the only way a
//!   job's state ever changes.
//! - [`policy`] is the per-type policy, one closed `match` over [`JobType`]: whether
//!   abort and errors requeue, what the watchdog does, which files `success` needs,
//!   whether the video's state follows the job.
//! - [`on_abort`], [`on_error`] and [`on_stall`] turn a runner's report (or its
//!   silence) into the transition to apply; [`RunnerCall`] says which states each
//!   job-scoped runner call accepts.

use super::ids::TokenHash;
use super::job::{JobState, JobType};

/// Message stored when a job that cannot be aborted (live) is aborted.
pub const ABORT_NOT_SUPPORTED: &str =
    "Job has been aborted but it is not supported by this job type";
/// Message stored when the watchdog stops a stalled job that cannot be requeued.
pub const STALLED_JOB: &str = "Stalled runner job";
/// Message stored when a job stayed COMPLETING too long.
pub const COMPLETION_LOST: &str = "Job completion was lost";
/// Error stored on the jobs waiting for a job that failed for good.
pub const PARENT_ERROR: &str = "Parent error";

/// A change of a job's state, with what the change needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A runner takes a PENDING job, with a new job token.
    Accept {
        /// The runner.
        runner_id: i64,
        /// Hash of the job token it receives.
        token_hash: TokenHash,
    },
    /// Back to PENDING without counting a failure (a runner's abort, a stalled job).
    Abort,
    /// Back to PENDING after a reported error, counting it.
    Retry,
    /// A runner reports success: the server stores the results.
    BeginCompletion,
    /// The results are stored.
    Complete,
    /// A reported error ends the job (no attempt left, or a type without retries).
    Fail {
        /// The runner's message.
        message: String,
    },
    /// The job is stopped for good without counting a failure (a live job aborted or
    /// stalled).
    Halt {
        /// Why.
        message: &'static str,
    },
    /// Storing the results failed.
    CompletionFailed {
        /// Why, in the service's words.
        message: String,
    },
    /// The job stayed COMPLETING too long (the process storing it died).
    CompletionLost,
    /// An operator or application cancels it.
    Cancel,
    /// Its parent completed.
    ReleaseChild,
    /// Its parent failed for good.
    ParentFailed,
    /// Its parent was cancelled.
    ParentCancelled,
    /// An operator or application retries a job that failed for good: it is offered
    /// again, with a fresh budget of attempts.
    Reopen,
    /// Its parent is retried ([`Transition::Reopen`]): it waits for it again.
    ParentReopened,
}

/// What a transition does to the runner holding the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Unchanged.
    Keep,
    /// The accepting runner holds it: runner, token and `started_at` set.
    Assign,
    /// Nobody holds it: runner, token and `started_at` cleared.
    Release,
    /// The token is cleared (so the runner's next call gets 404); the runner stays
    /// recorded as the one that last held it.
    DropToken,
}

/// What happens to the jobs waiting for one that took a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cascade {
    /// Its direct children become PENDING ([`Transition::ReleaseChild`]).
    Release,
    /// Its waiting descendants become PARENT_ERRORED ([`Transition::ParentFailed`]).
    Fail,
    /// Its waiting descendants become PARENT_CANCELLED
    /// ([`Transition::ParentCancelled`]).
    Cancel,
    /// Its descendants that failed with it wait for it again
    /// ([`Transition::ParentReopened`]).
    Reopen,
}

impl Cascade {
    /// The transition the children take.
    pub fn transition(self) -> Transition {
        match self {
            Cascade::Release => Transition::ReleaseChild,
            Cascade::Fail => Transition::ParentFailed,
            Cascade::Cancel => Transition::ParentCancelled,
            Cascade::Reopen => Transition::ParentReopened,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The states the transition may start from.
    pub from: &'static [JobState],
    /// The state it leads to.
    pub to: JobState,
    /// The runner holding the job.
    pub holder: Holder,
    /// `progress` is cleared.
    pub clear_progress: bool,
    /// `failures + 1`.
    pub count_failure: bool,
    /// `error` is set to [`Transition::message`] (cleared when it has none).
    pub set_error: bool,
    /// `finished_at` is set.
    pub finish: bool,
    /// What the jobs waiting for this one do.
    pub cascade: Option<Cascade>,
    /// The job leaves a final state: `failures` back to 0, `error` and `finished_at`
    /// cleared (a retry). Only these transitions start from a final state.
    pub reopen: bool,
}

use JobState::*;

const PROCESSING: &[JobState] = &[Processing];
const COMPLETING: &[JobState] = &[Completing];
const WAITING: &[JobState] = &[WaitingForParentJob];
const ERRORED: &[JobState] = &[Errored];
const PARENT_ERRORED: &[JobState] = &[ParentErrored];

impl Transition {
    /// The table.
    pub fn rule(&self) -> Rule {
        let base = Rule {
            from: PROCESSING,
            to: Pending,
            holder: Holder::Keep,
            clear_progress: false,
            count_failure: false,
            set_error: false,
            finish: false,
            cascade: None,
            reopen: false,
        };
        let failed = Rule {
            to: Errored,
            holder: Holder::DropToken,
            clear_progress: true,
            set_error: true,
            finish: true,
            cascade: Some(Cascade::Fail),
            ..base
        };
        match self {
            Transition::Accept { .. } => Rule {
                from: &[Pending],
                to: Processing,
                holder: Holder::Assign,
                clear_progress: true,
                ..base
            },
            Transition::Abort => Rule {
                holder: Holder::Release,
                clear_progress: true,
                ..base
            },
            Transition::Retry => Rule {
                holder: Holder::Release,
                clear_progress: true,
                count_failure: true,
                ..base
            },
            Transition::BeginCompletion => Rule {
                to: Completing,
                ..base
            },
            Transition::Complete => Rule {
                from: COMPLETING,
                to: Completed,
                clear_progress: true,
                finish: true,
                cascade: Some(Cascade::Release),
                ..base
            },
            Transition::Fail { .. } => Rule {
                count_failure: true,
                ..failed
            },
            Transition::Halt { .. } => failed,
            Transition::CompletionFailed { .. } => Rule {
                from: COMPLETING,
                ..failed
            },
            Transition::CompletionLost => Rule {
                from: COMPLETING,
                count_failure: true,
                ..failed
            },
            Transition::Cancel => Rule {
                from: &[Pending, Processing, WaitingForParentJob],
                to: Cancelled,
                holder: Holder::DropToken,
                clear_progress: true,
                finish: true,
                cascade: Some(Cascade::Cancel),
                ..base
            },
            Transition::ReleaseChild => Rule {
                from: WAITING,
                ..base
            },
            Transition::ParentFailed => Rule {
                from: WAITING,
                to: ParentErrored,
                set_error: true,
                finish: true,
                cascade: Some(Cascade::Fail),
                ..base
            },
            Transition::ParentCancelled => Rule {
                from: WAITING,
                to: ParentCancelled,
                set_error: true,
                finish: true,
                cascade: Some(Cascade::Cancel),
                ..base
            },
            Transition::Reopen => Rule {
                from: ERRORED,
                holder: Holder::Release,
                clear_progress: true,
                cascade: Some(Cascade::Reopen),
                reopen: true,
                ..base
            },
            Transition::ParentReopened => Rule {
                from: PARENT_ERRORED,
                to: WaitingForParentJob,
                cascade: Some(Cascade::Reopen),
                reopen: true,
                ..base
            },
        }
    }

    /// The `error` the job gets when [`Rule::set_error`].
    pub fn message(&self) -> Option<&str> {
        match self {
            Transition::Fail { message } | Transition::CompletionFailed { message } => {
                Some(message)
            }
            Transition::Halt { message } => Some(message),
            Transition::CompletionLost => Some(COMPLETION_LOST),
            Transition::ParentFailed => Some(PARENT_ERROR),
            _ => None,
        }
    }

    /// Whether a job in `state` can take this transition.
    pub fn allowed_from(&self, state: JobState) -> bool {
        self.rule().from.contains(&state)
    }
}

/// The first state of a new job.
pub fn initial_state(has_parent: bool) -> JobState {
    if has_parent {
        WaitingForParentJob
    } else {
        Pending
    }
}

/// What the watchdog does to a job that stopped sending updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallPolicy {
    /// Requeue after `runners.stalled_vod_after` (VOD, studio, transcription,
    /// storyboard).
    RequeueAfterVodWindow,
    /// Halt after `runners.stalled_live_after` (live).
    FailAfterLiveWindow,
}

/// How a job type behaves around the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypePolicy {
    /// A runner's abort (or the watchdog) puts the job back to PENDING; otherwise it
    /// halts it ([`ABORT_NOT_SUPPORTED`]).
    pub abortable: bool,
    /// A reported error is retried while attempts remain.
    pub retries_errors: bool,
    /// What the watchdog does when the job goes silent.
    pub stall: StallPolicy,
    /// The file fields `success` must carry (1.8).
    pub success_files: &'static [&'static str],
    /// The `payload[...]` text fields `success` must carry (1.8).
    pub success_fields: &'static [&'static str],
    /// `update` carries live chunks (3.4); other types take no payload in updates.
    pub live_chunks: bool,
    /// The state of the job's video is recomputed whenever the job ends.
    pub video_follows_jobs: bool,
}

/// The policy of `job_type`.
pub fn policy(job_type: JobType) -> TypePolicy {
    let vod = TypePolicy {
        abortable: true,
        retries_errors: true,
        stall: StallPolicy::RequeueAfterVodWindow,
        success_files: &["videoFile"],
        success_fields: &[],
        live_chunks: false,
        video_follows_jobs: true,
    };
    match job_type {
        JobType::VodWebVideoTranscoding | JobType::VodAudioMergeTranscoding => vod,
        JobType::VodHlsTranscoding => TypePolicy {
            success_files: &["videoFile", "resolutionPlaylistFile"],
            ..vod
        },
        JobType::LiveRtmpHlsTranscoding => TypePolicy {
            abortable: false,
            retries_errors: false,
            stall: StallPolicy::FailAfterLiveWindow,
            success_files: &[],
            success_fields: &[],
            live_chunks: true,
            video_follows_jobs: false,
        },
        JobType::VideoStudioTranscoding => TypePolicy {
            video_follows_jobs: false,
            ..vod
        },
        JobType::VideoTranscription => TypePolicy {
            success_files: &["vttFile"],
            success_fields: &["inputLanguage"],
            video_follows_jobs: false,
            ..vod
        },
        JobType::GenerateVideoStoryboard => TypePolicy {
            success_files: &["storyboardFile"],
            video_follows_jobs: false,
            ..vod
        },
    }
}

/// What an abort (by the runner) does to a PROCESSING job of `job_type`.
pub fn on_abort(job_type: JobType) -> Transition {
    if policy(job_type).abortable {
        Transition::Abort
    } else {
        Transition::Halt {
            message: ABORT_NOT_SUPPORTED,
        }
    }
}

/// What a reported error does to a job that failed `failures` times before this one
/// (PeerTube 5.6: retry while the type allows it and `failures + 1 < max_failures`).
pub fn on_error(
    job_type: JobType,
    failures: i32,
    max_failures: i32,
    message: String,
) -> Transition {
    if policy(job_type).retries_errors && failures.saturating_add(1) < max_failures {
        Transition::Retry
    } else {
        Transition::Fail { message }
    }
}

/// What the watchdog does to a PROCESSING job of `job_type` that went silent.
pub fn on_stall(job_type: JobType) -> Transition {
    match policy(job_type).stall {
        StallPolicy::RequeueAfterVodWindow => Transition::Abort,
        StallPolicy::FailAfterLiveWindow => Transition::Halt {
            message: STALLED_JOB,
        },
    }
}

/// The job-scoped runner calls (1.5–1.8, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerCall {
    /// `update`.
    Update,
    /// `abort`.
    Abort,
    /// `error`.
    Error,
    /// `success`.
    Success,
    /// An input download.
    Download,
}

impl RunnerCall {
    /// The states the call accepts once its tokens match (another state gets 400
    /// `runner_job_not_in_processing_state`).
    pub fn allowed_states(self) -> &'static [JobState] {
        match self {
            RunnerCall::Update => &[Processing, Completing, Completed],
            RunnerCall::Abort | RunnerCall::Error | RunnerCall::Success | RunnerCall::Download => {
                PROCESSING
            }
        }
    }
}

/// Whether an `update` in this state is acknowledged (204) without effect: the runner
/// is late, the job is completing or completed.
pub fn update_is_ignored(state: JobState) -> bool {
    matches!(state, Completing | Completed)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
