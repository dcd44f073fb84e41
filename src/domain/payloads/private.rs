//! The private payloads the server keeps beside a job's payload, never sent to
//! runners (PeerTube's shapes), one variant per job type.

use serde::{Deserialize, Serialize};

use super::super::ids::VideoUuid;
use super::super::job::JobType;
use super::{InvalidPayload, StudioTask, parse};

/// The private payload of VOD jobs (PeerTube's shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VodPrivatePayload {
    /// The video it works for.
    #[serde(rename = "videoUUID")]
    pub video_uuid: VideoUuid,
    /// Part of a new video's first transcoding.
    #[serde(default)]
    pub is_new_video: bool,
}

/// The private payload of HLS jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsPrivatePayload {
    /// The video it works for.
    #[serde(rename = "videoUUID")]
    pub video_uuid: VideoUuid,
    /// Part of a new video's first transcoding.
    #[serde(default)]
    pub is_new_video: bool,
    /// Whether the video's MP4 renditions are deleted once HLS exists.
    #[serde(default)]
    pub delete_web_video_files: bool,
}

/// The private payload of a live job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivePrivatePayload {
    /// The live video.
    #[serde(rename = "videoUUID")]
    pub video_uuid: VideoUuid,
    /// The server's own name of the master playlist.
    pub master_playlist_name: String,
    /// Storage folder of the chunks.
    pub output_directory: String,
    /// The live session.
    pub session_id: String,
}

/// The private payload of a studio job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudioPrivatePayload {
    /// The edited video.
    #[serde(rename = "videoUUID")]
    pub video_uuid: VideoUuid,
    /// The tasks as requested (their files as stored, before URLs were made).
    pub original_tasks: Vec<StudioTask>,
}

/// The private payload of jobs that only name their video (transcription,
/// storyboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoPrivatePayload {
    /// The video it works for.
    #[serde(rename = "videoUUID")]
    pub video_uuid: VideoUuid,
}

/// What the server keeps beside a job, one variant per job type; never sent to runners.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PrivatePayload {
    /// `vod-web-video-transcoding`.
    VodWebVideo(VodPrivatePayload),
    /// `vod-hls-transcoding`.
    VodHls(HlsPrivatePayload),
    /// `vod-audio-merge-transcoding`.
    VodAudioMerge(VodPrivatePayload),
    /// `live-rtmp-hls-transcoding`.
    Live(LivePrivatePayload),
    /// `video-studio-transcoding`.
    Studio(StudioPrivatePayload),
    /// `video-transcription`.
    Transcription(VideoPrivatePayload),
    /// `generate-video-storyboard`.
    Storyboard(VideoPrivatePayload),
}

impl PrivatePayload {
    /// The job type this private payload is for.
    pub fn job_type(&self) -> JobType {
        match self {
            PrivatePayload::VodWebVideo(_) => JobType::VodWebVideoTranscoding,
            PrivatePayload::VodHls(_) => JobType::VodHlsTranscoding,
            PrivatePayload::VodAudioMerge(_) => JobType::VodAudioMergeTranscoding,
            PrivatePayload::Live(_) => JobType::LiveRtmpHlsTranscoding,
            PrivatePayload::Studio(_) => JobType::VideoStudioTranscoding,
            PrivatePayload::Transcription(_) => JobType::VideoTranscription,
            PrivatePayload::Storyboard(_) => JobType::GenerateVideoStoryboard,
        }
    }

    /// Reads a stored private payload as the variant of `job_type`.
    pub fn from_json(job_type: JobType, json: &str) -> Result<PrivatePayload, InvalidPayload> {
        Ok(match job_type {
            JobType::VodWebVideoTranscoding => PrivatePayload::VodWebVideo(parse(job_type, json)?),
            JobType::VodHlsTranscoding => PrivatePayload::VodHls(parse(job_type, json)?),
            JobType::VodAudioMergeTranscoding => {
                PrivatePayload::VodAudioMerge(parse(job_type, json)?)
            }
            JobType::LiveRtmpHlsTranscoding => PrivatePayload::Live(parse(job_type, json)?),
            JobType::VideoStudioTranscoding => PrivatePayload::Studio(parse(job_type, json)?),
            JobType::VideoTranscription => PrivatePayload::Transcription(parse(job_type, json)?),
            JobType::GenerateVideoStoryboard => PrivatePayload::Storyboard(parse(job_type, json)?),
        })
    }

    /// The JSON text stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The video the job works for.
    pub fn video_uuid(&self) -> VideoUuid {
        match self {
            PrivatePayload::VodWebVideo(p) | PrivatePayload::VodAudioMerge(p) => p.video_uuid,
            PrivatePayload::VodHls(p) => p.video_uuid,
            PrivatePayload::Live(p) => p.video_uuid,
            PrivatePayload::Studio(p) => p.video_uuid,
            PrivatePayload::Transcription(p) | PrivatePayload::Storyboard(p) => p.video_uuid,
        }
    }
}
