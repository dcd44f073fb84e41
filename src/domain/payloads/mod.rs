//! Job payloads exactly as runners expect them (`runner-protocol.md` 3), and the
//! private payloads the server keeps beside them (PeerTube's shapes).
//!
//! A payload is stored as JSON text in its own column next to the job type and read
//! back as the variant of that type ([`JobPayload::from_json`]), so nothing above the
//! database re-parses JSON. Key names and casing are the wire format: camelCase,
//! `separatedAudioFileUrl` always an array, and the `horitonzalMarginRatio` spelling of
//! studio watermarks. The optional `*CustomUpload` targets of the newest runner (3.8)
//! are read and written when present; this server never sets them.
//!
//! Input URLs have PeerTube's `/files/videos/{videoUUID}/max-quality` shape (section
//! 2), which the newest runner parses to cache a video's input across jobs (keyed by
//! the `{videoUUID}` segment). After a studio edit the source is another file, so the
//! segment names the edition too ([`InputVideo`]): a runner still holding the source
//! before the edit in its cache never uses it for the jobs of the edit.

mod private;

use serde::{Deserialize, Serialize};

pub use private::{
    HlsPrivatePayload, LivePrivatePayload, PrivatePayload, StudioPrivatePayload,
    VideoPrivatePayload, VodPrivatePayload,
};

use super::ids::{JobUuid, VideoUuid};
use super::job::JobType;
use super::planning::{PlannedJob, PlannedKind};
use super::video::Video;

/// The video as its input URLs name it: its UUID, then `~e<n>` once the n-th studio
/// edit made another file its source (nothing before the first edit, so URLs keep
/// PeerTube's exact shape). The download routes read the UUID and serve the current
/// source ([`super::ids::VideoRef::parse`] drops the edition); the edition only keeps
/// the newest runner's per-video input cache from mixing two sources of one video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputVideo {
    /// The video.
    pub uuid: VideoUuid,
    /// Studio edits applied (its `options.edition`).
    pub edition: u32,
}

impl InputVideo {
    /// How the input URLs of `video`'s jobs name it now.
    pub fn of(video: &Video) -> Self {
        Self {
            uuid: video.uuid,
            edition: video.options.edition,
        }
    }
}

impl From<VideoUuid> for InputVideo {
    /// A video never edited.
    fn from(uuid: VideoUuid) -> Self {
        Self { uuid, edition: 0 }
    }
}

impl std::fmt::Display for InputVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.edition {
            0 => write!(f, "{}", self.uuid),
            n => write!(f, "{}~e{n}", self.uuid),
        }
    }
}

/// Which input a URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFile<'a> {
    /// `…/max-quality`: the best video file (audio if there is none).
    MaxQuality,
    /// `…/max-quality/audio`: the best audio file (video if there is none).
    MaxQualityAudio,
    /// `…/previews/max-quality`: the preview image.
    Preview,
    /// `…/studio/task-files/{name}`: an intro, outro or watermark.
    StudioTaskFile(&'a str),
}

/// The absolute URL of `file` of video `video` for job `job` on the server's public
/// origin (no query string: runners drop it).
pub fn input_url(public_url: &str, job: JobUuid, video: InputVideo, file: InputFile<'_>) -> String {
    let base = format!(
        "{}/api/v1/runners/jobs/{job}/files/videos/{video}",
        public_url.trim_end_matches('/')
    );
    match file {
        InputFile::MaxQuality => format!("{base}/max-quality"),
        InputFile::MaxQualityAudio => format!("{base}/max-quality/audio"),
        InputFile::Preview => format!("{base}/previews/max-quality"),
        InputFile::StudioTaskFile(name) => format!("{base}/studio/task-files/{name}"),
    }
}

/// Where the newest runner uploads a file itself before `success`/`update` (3.8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomUpload {
    /// Target URL (query string kept).
    pub url: String,
    /// `PUT` (the default) or `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// The input of jobs that read the video: `videoFileUrl` and the split audio file
/// (runner ≥ 0.0.21; always an array, empty when the audio is not split).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoInput {
    /// `…/max-quality`.
    pub video_file_url: String,
    /// `[]` or `[…/max-quality/audio]`.
    #[serde(default)]
    pub separated_audio_file_url: Vec<String>,
}

/// `output` of a web-video or audio-merge job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mp4Output {
    /// Shorter side of the output.
    pub resolution: u32,
    /// Frames per second.
    pub fps: u32,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_file_custom_upload: Option<CustomUpload>,
}

/// `vod-web-video-transcoding` (3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VodWebVideoPayload {
    /// The video to transcode.
    pub input: VideoInput,
    /// The MP4 to make.
    pub output: Mp4Output,
}

/// `output` of an HLS job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HlsOutput {
    /// Shorter side (0 with `fps` 0: an audio-only rendition).
    pub resolution: u32,
    /// Frames per second.
    pub fps: u32,
    /// Whether audio and video are split into separate renditions.
    pub separated_audio: bool,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_file_custom_upload: Option<CustomUpload>,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_playlist_file_custom_upload: Option<CustomUpload>,
}

/// `vod-hls-transcoding` (3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VodHlsPayload {
    /// The video to transcode.
    pub input: VideoInput,
    /// The rendition to make.
    pub output: HlsOutput,
}

/// `input` of an audio merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioMergeInput {
    /// The audio.
    pub audio_file_url: String,
    /// The still image.
    pub preview_file_url: String,
}

/// `vod-audio-merge-transcoding` (3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VodAudioMergePayload {
    /// Audio and image.
    pub input: AudioMergeInput,
    /// The MP4 to make.
    pub output: Mp4Output,
}

/// `input` of a live job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveInput {
    /// Any ffmpeg-readable URL the runner can reach.
    pub rtmp_url: String,
}

/// One live rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRendition {
    /// Shorter side.
    pub resolution: u32,
    /// Frames per second.
    pub fps: u32,
}

/// `output` of a live job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveOutput {
    /// The renditions.
    pub to_transcode: Vec<LiveRendition>,
    /// Seconds per segment.
    pub segment_duration: u32,
    /// Segments kept in the playlists.
    pub segment_list_size: u32,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_playlist_file_custom_upload: Option<CustomUpload>,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_playlist_file_custom_upload: Option<CustomUpload>,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_chunk_file_custom_upload: Option<CustomUpload>,
}

/// `live-rtmp-hls-transcoding` (3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivePayload {
    /// The stream.
    pub input: LiveInput,
    /// The renditions and playlist shape.
    pub output: LiveOutput,
}

/// `options` of a `cut` task (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CutOptions {
    /// Start of the kept part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// End of the kept part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

/// `options` of an intro or outro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOptions {
    /// `…/studio/task-files/<name>`.
    pub file: String,
}

/// `options` of a watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WatermarkOptions {
    /// `…/studio/task-files/<name>`.
    pub file: String,
    /// Watermark width over video width.
    pub watermark_size_ratio: f64,
    /// Horizontal margin over video width (PeerTube's misspelled key).
    #[serde(rename = "horitonzalMarginRatio")]
    pub horizontal_margin_ratio: f64,
    /// Vertical margin over video height.
    pub vertical_margin_ratio: f64,
}

/// A studio task: `{"name": …, "options": {…}}`. Only the tasks every runner supports
/// exist, so a studio job can always be offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "options", rename_all = "kebab-case")]
pub enum StudioTask {
    /// Keep `start..end`.
    Cut(CutOptions),
    /// Prepend a video.
    AddIntro(FileOptions),
    /// Append a video.
    AddOutro(FileOptions),
    /// Overlay an image.
    AddWatermark(WatermarkOptions),
}

impl StudioTask {
    /// The task file's URL, for tasks that have one.
    pub fn file_url(&self) -> Option<&str> {
        match self {
            StudioTask::Cut(_) => None,
            StudioTask::AddIntro(o) | StudioTask::AddOutro(o) => Some(&o.file),
            StudioTask::AddWatermark(o) => Some(&o.file),
        }
    }
}

/// `output` of a studio job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StudioOutput {
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_file_custom_upload: Option<CustomUpload>,
}

/// `video-studio-transcoding` (3.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudioPayload {
    /// The video to edit.
    pub input: VideoInput,
    /// Applied in order.
    pub tasks: Vec<StudioTask>,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<StudioOutput>,
}

/// `input` of jobs that read one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInput {
    /// The file.
    pub video_file_url: String,
}

/// `output` of a transcription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionOutput {
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtt_file_custom_upload: Option<CustomUpload>,
}

/// `video-transcription` (3.6, runner ≥ 0.0.17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionPayload {
    /// `…/max-quality/audio`.
    pub input: FileInput,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<TranscriptionOutput>,
}

/// Width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The sprite geometry of a storyboard (computed by the server so every runner makes
/// the same image).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sprites {
    /// One sprite.
    pub size: Size,
    /// Sprites per row and column.
    pub count: Size,
    /// Seconds between sprites.
    pub duration: f64,
}

/// `output` of a storyboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryboardOutput {
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storyboard_file_custom_upload: Option<CustomUpload>,
}

/// `generate-video-storyboard` (3.7, newest runners only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardPayload {
    /// `…/max-quality`.
    pub input: FileInput,
    /// The sprite sheet's geometry.
    pub sprites: Sprites,
    /// Newest runners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<StoryboardOutput>,
}

/// A stored payload that does not fit its job type.
#[derive(Debug, thiserror::Error)]
#[error("invalid {job_type} payload: {source}")]
pub struct InvalidPayload {
    /// The type it was read as.
    pub job_type: JobType,
    /// What serde said.
    pub source: serde_json::Error,
}

/// What runners receive, one variant per job type. Serialized as the bare payload
/// object (the type travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum JobPayload {
    /// `vod-web-video-transcoding`.
    VodWebVideo(VodWebVideoPayload),
    /// `vod-hls-transcoding`.
    VodHls(VodHlsPayload),
    /// `vod-audio-merge-transcoding`.
    VodAudioMerge(VodAudioMergePayload),
    /// `live-rtmp-hls-transcoding`.
    Live(LivePayload),
    /// `video-studio-transcoding`.
    Studio(StudioPayload),
    /// `video-transcription`.
    Transcription(TranscriptionPayload),
    /// `generate-video-storyboard`.
    Storyboard(StoryboardPayload),
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    job_type: JobType,
    json: &str,
) -> Result<T, InvalidPayload> {
    serde_json::from_str(json).map_err(|source| InvalidPayload { job_type, source })
}

impl JobPayload {
    /// The job type this payload is for.
    pub fn job_type(&self) -> JobType {
        match self {
            JobPayload::VodWebVideo(_) => JobType::VodWebVideoTranscoding,
            JobPayload::VodHls(_) => JobType::VodHlsTranscoding,
            JobPayload::VodAudioMerge(_) => JobType::VodAudioMergeTranscoding,
            JobPayload::Live(_) => JobType::LiveRtmpHlsTranscoding,
            JobPayload::Studio(_) => JobType::VideoStudioTranscoding,
            JobPayload::Transcription(_) => JobType::VideoTranscription,
            JobPayload::Storyboard(_) => JobType::GenerateVideoStoryboard,
        }
    }

    /// Reads a stored payload as the variant of `job_type`.
    pub fn from_json(job_type: JobType, json: &str) -> Result<JobPayload, InvalidPayload> {
        Ok(match job_type {
            JobType::VodWebVideoTranscoding => JobPayload::VodWebVideo(parse(job_type, json)?),
            JobType::VodHlsTranscoding => JobPayload::VodHls(parse(job_type, json)?),
            JobType::VodAudioMergeTranscoding => JobPayload::VodAudioMerge(parse(job_type, json)?),
            JobType::LiveRtmpHlsTranscoding => JobPayload::Live(parse(job_type, json)?),
            JobType::VideoStudioTranscoding => JobPayload::Studio(parse(job_type, json)?),
            JobType::VideoTranscription => JobPayload::Transcription(parse(job_type, json)?),
            JobType::GenerateVideoStoryboard => JobPayload::Storyboard(parse(job_type, json)?),
        })
    }

    /// The JSON text stored and sent.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The output resolution and frame rate, for the jobs that make one rendition.
    pub fn output_rung(&self) -> Option<(u32, u32)> {
        match self {
            JobPayload::VodWebVideo(p) => Some((p.output.resolution, p.output.fps)),
            JobPayload::VodAudioMerge(p) => Some((p.output.resolution, p.output.fps)),
            JobPayload::VodHls(p) => Some((p.output.resolution, p.output.fps)),
            _ => None,
        }
    }

    /// The base names of the studio task files this job may download (none for other
    /// types).
    pub fn task_file_names(&self) -> Vec<&str> {
        match self {
            JobPayload::Studio(p) => p
                .tasks
                .iter()
                .filter_map(StudioTask::file_url)
                .filter_map(|url| url.rsplit('/').next())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The runner job type of a planned job.
pub fn job_type(kind: PlannedKind) -> JobType {
    match kind {
        PlannedKind::WebVideo => JobType::VodWebVideoTranscoding,
        PlannedKind::Hls => JobType::VodHlsTranscoding,
        PlannedKind::AudioMerge => JobType::VodAudioMergeTranscoding,
    }
}

/// The payload runners receive for the planned `job`.
///
/// The audio merge reads its audio from `/max-quality/audio` rather than PeerTube's
/// `/max-quality`: the newest runner caches inputs per video and URL kind, and the
/// HLS jobs that follow the merge must download the merged video from `/max-quality`,
/// not a cached copy of the audio-only source.
pub fn payload(
    job: &PlannedJob,
    public_url: &str,
    job_uuid: JobUuid,
    video: InputVideo,
) -> JobPayload {
    let url = |file| input_url(public_url, job_uuid, video, file);
    let (resolution, fps) = (job.rung.resolution, job.rung.fps);
    let video_input = || VideoInput {
        video_file_url: url(InputFile::MaxQuality),
        separated_audio_file_url: Vec::new(),
    };
    let mp4 = Mp4Output {
        resolution,
        fps,
        video_file_custom_upload: None,
    };
    match job.kind {
        PlannedKind::WebVideo => JobPayload::VodWebVideo(VodWebVideoPayload {
            input: video_input(),
            output: mp4,
        }),
        PlannedKind::Hls => JobPayload::VodHls(VodHlsPayload {
            input: video_input(),
            output: HlsOutput {
                resolution,
                fps,
                separated_audio: false,
                video_file_custom_upload: None,
                resolution_playlist_file_custom_upload: None,
            },
        }),
        PlannedKind::AudioMerge => JobPayload::VodAudioMerge(VodAudioMergePayload {
            input: AudioMergeInput {
                audio_file_url: url(InputFile::MaxQualityAudio),
                preview_file_url: url(InputFile::Preview),
            },
            output: mp4,
        }),
    }
}

/// The server-side payload of the planned `job`, shaped as PeerTube's.
pub fn private_payload(job: &PlannedJob, video: VideoUuid) -> PrivatePayload {
    let vod = VodPrivatePayload {
        video_uuid: video,
        is_new_video: true,
    };
    match job.kind {
        PlannedKind::Hls => PrivatePayload::VodHls(HlsPrivatePayload {
            video_uuid: video,
            is_new_video: true,
            delete_web_video_files: false,
        }),
        PlannedKind::WebVideo => PrivatePayload::VodWebVideo(vod),
        PlannedKind::AudioMerge => PrivatePayload::VodAudioMerge(vod),
    }
}

/// Priority of transcription jobs (PeerTube's `JOB_PRIORITY.TRANSCRIPTION`): after a
/// video's required transcoding (100), before its optional renditions (10 000).
pub const TRANSCRIPTION_PRIORITY: i32 = 200;

/// The payload of a transcription of video `video` (3.6): its best audio
/// (`…/max-quality/audio`, as PeerTube), no `output` (this server sets no custom
/// upload target).
pub fn transcription_payload(public_url: &str, job: JobUuid, video: InputVideo) -> JobPayload {
    JobPayload::Transcription(TranscriptionPayload {
        input: FileInput {
            video_file_url: input_url(public_url, job, video, InputFile::MaxQualityAudio),
        },
        output: None,
    })
}

/// The private payload of a transcription of video `video` (`{"videoUUID": …}`).
pub fn transcription_private_payload(video: VideoUuid) -> PrivatePayload {
    PrivatePayload::Transcription(VideoPrivatePayload { video_uuid: video })
}

#[cfg(test)]
mod tests;
