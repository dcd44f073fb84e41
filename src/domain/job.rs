//! Runner job states and types, with PeerTube's numeric values, labels and strings.

use std::fmt;
use std::str::FromStr;

/// `RunnerJobState`, stored as PeerTube's integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Offered to runners.
    Pending = 1,
    /// Accepted by a runner that holds its job token.
    Processing = 2,
    /// Finished and post-processed.
    Completed = 3,
    /// Failed for good.
    Errored = 4,
    /// Waits for its parent job to complete.
    WaitingForParentJob = 5,
    /// Cancelled by an operator or an application.
    Cancelled = 6,
    /// Its parent failed for good.
    ParentErrored = 7,
    /// Its parent was cancelled.
    ParentCancelled = 8,
    /// A runner reported success; the server is storing the results.
    Completing = 9,
}

impl JobState {
    /// Every state, in numeric order.
    pub const ALL: [JobState; 9] = [
        JobState::Pending,
        JobState::Processing,
        JobState::Completed,
        JobState::Errored,
        JobState::WaitingForParentJob,
        JobState::Cancelled,
        JobState::ParentErrored,
        JobState::ParentCancelled,
        JobState::Completing,
    ];

    /// The stored and wire integer.
    pub fn id(self) -> i32 {
        self as i32
    }

    /// The state for a stored integer.
    pub fn from_id(id: i32) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// PeerTube's admin label.
    pub fn label(self) -> &'static str {
        match self {
            JobState::Pending => "Pending",
            JobState::Processing => "Processing",
            JobState::Completed => "Completed",
            JobState::Errored => "Errored",
            JobState::WaitingForParentJob => "Waiting for parent job to finish",
            JobState::Cancelled => "Cancelled",
            JobState::ParentErrored => "Parent job failed",
            JobState::ParentCancelled => "Parent job cancelled",
            JobState::Completing => "Completing",
        }
    }

    /// Whether the job can still change without an operator (not a final state).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Errored
                | JobState::Cancelled
                | JobState::ParentErrored
                | JobState::ParentCancelled
        )
    }
}

/// `RunnerJobType`, stored and sent as PeerTube's kebab-case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobType {
    /// MP4 ("web video") rendition.
    VodWebVideoTranscoding,
    /// Fragmented MP4 + media playlist rendition.
    VodHlsTranscoding,
    /// Still image + audio into a video.
    VodAudioMergeTranscoding,
    /// Live RTMP input to HLS chunks.
    LiveRtmpHlsTranscoding,
    /// Cut, intro, outro, watermark.
    VideoStudioTranscoding,
    /// Speech to VTT captions (runner ≥ 0.0.17).
    VideoTranscription,
    /// Sprite sheet (newest runners only).
    GenerateVideoStoryboard,
}

impl JobType {
    /// Every type.
    pub const ALL: [JobType; 7] = [
        JobType::VodWebVideoTranscoding,
        JobType::VodHlsTranscoding,
        JobType::VodAudioMergeTranscoding,
        JobType::LiveRtmpHlsTranscoding,
        JobType::VideoStudioTranscoding,
        JobType::VideoTranscription,
        JobType::GenerateVideoStoryboard,
    ];

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::VodWebVideoTranscoding => "vod-web-video-transcoding",
            JobType::VodHlsTranscoding => "vod-hls-transcoding",
            JobType::VodAudioMergeTranscoding => "vod-audio-merge-transcoding",
            JobType::LiveRtmpHlsTranscoding => "live-rtmp-hls-transcoding",
            JobType::VideoStudioTranscoding => "video-studio-transcoding",
            JobType::VideoTranscription => "video-transcription",
            JobType::GenerateVideoStoryboard => "generate-video-storyboard",
        }
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown job type string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runner job type `{0}`")]
pub struct UnknownJobType(pub String);

impl FromStr for JobType {
    type Err = UnknownJobType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownJobType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_ids() {
        for s in JobState::ALL {
            assert_eq!(JobState::from_id(s.id()), Some(s));
        }
        assert_eq!(JobState::Pending.id(), 1);
        assert_eq!(JobState::Completing.id(), 9);
        assert_eq!(JobState::from_id(0), None);
        assert_eq!(JobState::from_id(10), None);
    }

    #[test]
    fn types_round_trip_through_their_strings() {
        for t in JobType::ALL {
            assert_eq!(t.as_str().parse::<JobType>(), Ok(t));
        }
        assert!("vod-hls".parse::<JobType>().is_err());
    }
}
