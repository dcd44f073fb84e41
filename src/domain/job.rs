//! Runner jobs: their states and types (with PeerTube's numeric values, labels and
//! strings), the job as the service knows it, and a job to create.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::{JobUuid, TokenHash};
use super::payloads::{JobPayload, PrivatePayload};

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

    /// Whether the job reached a final state: nothing moves it any more (completed,
    /// errored, cancelled, or ended with its parent).
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

/// PeerTube's wire form of a state: `{"id": 2, "label": "Processing"}`.
impl Serialize for JobState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("JobState", 2)?;
        st.serialize_field("id", &self.id())?;
        st.serialize_field("label", self.label())?;
        st.end()
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

impl Serialize for JobType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JobType, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A runner job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Internal id (PeerTube shows it as `parent.id`).
    pub id: i64,
    /// Public UUID.
    pub uuid: JobUuid,
    /// Where it is in its lifecycle.
    pub state: JobState,
    /// What runners receive; its variant is the job's type.
    pub payload: JobPayload,
    /// What the server keeps for itself (same type as the payload).
    pub private_payload: PrivatePayload,
    /// Lower runs first.
    pub priority: i32,
    /// Failed attempts so far.
    pub failures: i32,
    /// Why it failed (or why its parent did).
    pub error: Option<String>,
    /// 0..100 while a runner works on it.
    pub progress: Option<i32>,
    /// Hash of the job token of the runner holding it.
    pub token_hash: Option<TokenHash>,
    /// The runner holding (or that last held) it.
    pub runner_id: Option<i64>,
    /// The job it waits for.
    pub parent_id: Option<i64>,
    /// The video it works for.
    pub video_id: Option<i64>,
    /// When a runner accepted it.
    pub started_at: Option<NaiveDateTime>,
    /// When it reached a final state.
    pub finished_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change; the watchdog's heartbeat.
    pub updated_at: NaiveDateTime,
}

impl Job {
    /// Its type (the variant of its payload).
    pub fn job_type(&self) -> JobType {
        self.payload.job_type()
    }
}

/// A job to create. Its first state follows from whether it has a parent
/// ([`super::lifecycle::initial_state`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Its UUID: generated first, since the payload's input URLs contain it.
    pub uuid: JobUuid,
    /// What runners receive.
    pub payload: JobPayload,
    /// What the server keeps.
    pub private_payload: PrivatePayload,
    /// Lower runs first.
    pub priority: i32,
    /// The job it waits for.
    pub parent_id: Option<i64>,
    /// The video it works for.
    pub video_id: Option<i64>,
}

/// The payload and the private payload of a job are of different types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {payload} payload cannot go with a {private} private payload")]
pub struct PayloadMismatch {
    /// The payload's type.
    pub payload: JobType,
    /// The private payload's type.
    pub private: JobType,
}

impl NewJob {
    /// Checks that both payloads are of the same job type.
    pub fn check(&self) -> Result<(), PayloadMismatch> {
        let (payload, private) = (self.payload.job_type(), self.private_payload.job_type());
        if payload == private {
            Ok(())
        } else {
            Err(PayloadMismatch { payload, private })
        }
    }

    /// Its type.
    pub fn job_type(&self) -> JobType {
        self.payload.job_type()
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
        assert_eq!(
            serde_json::to_string(&JobType::VodHlsTranscoding)
                .ok()
                .as_deref(),
            Some("\"vod-hls-transcoding\"")
        );
    }

    #[test]
    fn states_serialize_as_peertube_objects_and_final_means_final() {
        assert_eq!(
            serde_json::to_value(JobState::Processing).ok(),
            Some(serde_json::json!({"id": 2, "label": "Processing"}))
        );
        let finals: Vec<JobState> = JobState::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [
                JobState::Completed,
                JobState::Errored,
                JobState::Cancelled,
                JobState::ParentErrored,
                JobState::ParentCancelled
            ]
        );
    }
}
