//! Where a video's own extra job is (its latest transcription, studio edit or
//! storyboard), as the video resource shows it: the nine runner job states folded into
//! the five an application acts on.

use serde::Serialize;

use crate::domain::job::JobState;

/// Where the latest transcription, studio edit or storyboard job of a video is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a runner (for storyboards, one newer than 0.0.21).
    Pending,
    /// A runner works on it, or its result is being stored.
    Running,
    /// Its result is stored: the caption, the storyboard, or the edit as the video's
    /// source (its renditions then follow the video's state).
    Completed,
    /// It failed for good (`error` says why); after a failed edit the video is as
    /// before.
    Failed,
    /// Cancelled; after a cancelled edit the video is as before.
    Cancelled,
}

impl From<JobState> for TaskState {
    fn from(s: JobState) -> TaskState {
        match s {
            JobState::Pending | JobState::WaitingForParentJob => TaskState::Pending,
            JobState::Processing | JobState::Completing => TaskState::Running,
            JobState::Completed => TaskState::Completed,
            JobState::Errored | JobState::ParentErrored => TaskState::Failed,
            JobState::Cancelled | JobState::ParentCancelled => TaskState::Cancelled,
        }
    }
}
