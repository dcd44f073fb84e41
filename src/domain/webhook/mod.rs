//! What applications are told, and the rules of telling them: the event types, the
//! states of a delivery, the retry schedule ([`retry`]) and which addresses a webhook
//! may be sent to ([`targets`]).

pub mod retry;
pub mod signature;
pub mod targets;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::ids::VideoUuid;

/// What happened, as the `type` of an event (Standard Webhooks' dotted names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// The video was accepted: its source and jobs are stored, transcoding starts.
    #[serde(rename = "video.created")]
    VideoCreated,
    /// One rendition (HLS or MP4) is stored and listed; once per rendition.
    #[serde(rename = "video.rendition.ready")]
    VideoRenditionReady,
    /// The first rendition is ready: the video can be played.
    #[serde(rename = "video.playable")]
    VideoPlayable,
    /// Every job ended and every rendition that could be made exists.
    #[serde(rename = "video.published")]
    VideoPublished,
    /// A job failed for good (or every job was cancelled); `data.reason` says why.
    #[serde(rename = "video.failed")]
    VideoFailed,
    /// The video was deleted.
    #[serde(rename = "video.deleted")]
    VideoDeleted,
    /// A transcription job stored its captions.
    #[serde(rename = "transcription.completed")]
    TranscriptionCompleted,
    /// A transcription job failed for good.
    #[serde(rename = "transcription.failed")]
    TranscriptionFailed,
    /// A job failed for good, after its retries.
    #[serde(rename = "job.failed")]
    JobFailed,
    /// A studio edit's result became the video's source; its renditions are planned
    /// again (the video resource's `studio` says which edit).
    #[serde(rename = "video.edited")]
    VideoEdited,
    /// A storyboard (sprite sheet and thumbnails track) is stored and listed.
    #[serde(rename = "storyboard.ready")]
    StoryboardReady,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 11] = [
        EventType::VideoCreated,
        EventType::VideoRenditionReady,
        EventType::VideoPlayable,
        EventType::VideoPublished,
        EventType::VideoFailed,
        EventType::VideoDeleted,
        EventType::TranscriptionCompleted,
        EventType::TranscriptionFailed,
        EventType::JobFailed,
        EventType::VideoEdited,
        EventType::StoryboardReady,
    ];

    /// The wire and stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::VideoCreated => "video.created",
            EventType::VideoRenditionReady => "video.rendition.ready",
            EventType::VideoPlayable => "video.playable",
            EventType::VideoPublished => "video.published",
            EventType::VideoFailed => "video.failed",
            EventType::VideoDeleted => "video.deleted",
            EventType::TranscriptionCompleted => "transcription.completed",
            EventType::TranscriptionFailed => "transcription.failed",
            EventType::JobFailed => "job.failed",
            EventType::VideoEdited => "video.edited",
            EventType::StoryboardReady => "storyboard.ready",
        }
    }

    /// The type of a name.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = String;

    fn from_str(s: &str) -> Result<EventType, String> {
        EventType::parse(s).ok_or_else(|| {
            format!(
                "unknown event `{s}`: one of {}",
                EventType::ALL.map(EventType::as_str).join(", ")
            )
        })
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt (or being attempted).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Given up: retried for the whole retry period, or refused for good.
    Dead,
}

impl DeliveryState {
    /// Every state.
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Dead,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// The state of a name.
    pub fn parse(name: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One event for one target, as the outbox stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Internal id (what `redeliver` takes).
    pub id: i64,
    /// The event's id: `webhook-id`, the same for every target and attempt.
    pub event_id: String,
    /// What happened.
    pub event: EventType,
    /// The video it is about.
    pub video_uuid: Option<VideoUuid>,
    /// The configured endpoint's name; `None`: the video's own `callbackUrl`.
    pub endpoint: Option<String>,
    /// Where it is sent.
    pub url: String,
    /// The exact body (signed as is).
    pub payload: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts started so far.
    pub attempts: i32,
    /// When it is due (while attempted: the end of the lease).
    pub next_attempt_at: NaiveDateTime,
    /// The lease of the worker attempting it, if one does.
    pub lease: Option<String>,
    /// Retried until then.
    pub expires_at: NaiveDateTime,
    /// HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When a 2xx was received.
    pub delivered_at: Option<NaiveDateTime>,
    /// When the event happened.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A delivery to store (pending, due at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The event's id.
    pub event_id: String,
    /// What happened.
    pub event: EventType,
    /// The video it is about.
    pub video_uuid: Option<VideoUuid>,
    /// The endpoint's name; `None`: the video's `callbackUrl`.
    pub endpoint: Option<String>,
    /// Where it is sent.
    pub url: String,
    /// The exact body.
    pub payload: String,
    /// Retried until then.
    pub expires_at: NaiveDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_value(t).ok(),
                Some(serde_json::json!(t.as_str()))
            );
            assert_eq!(t.as_str().parse::<EventType>().ok(), Some(t));
        }
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        let err = "video.done".parse::<EventType>().unwrap_err();
        assert!(err.contains("video.published"), "{err}");
    }
}
