//! Job payloads exactly as runners expect them (`runner-protocol.md` 3.1–3.3), with
//! absolute input URLs in PeerTube's `/files/videos/{videoUUID}/max-quality` shape
//! (section 2), which the newest runner parses to cache a video's input across jobs.

use serde_json::{Value, json};

use super::job::JobType;
use super::planning::{PlannedJob, PlannedKind};

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

/// The absolute URL of `file` of video `video_uuid` for job `job_uuid` on the server's
/// public origin (no query string: runners drop it).
pub fn input_url(
    public_url: &str,
    job_uuid: &str,
    video_uuid: &str,
    file: InputFile<'_>,
) -> String {
    let base = format!(
        "{}/api/v1/runners/jobs/{job_uuid}/files/videos/{video_uuid}",
        public_url.trim_end_matches('/')
    );
    match file {
        InputFile::MaxQuality => format!("{base}/max-quality"),
        InputFile::MaxQualityAudio => format!("{base}/max-quality/audio"),
        InputFile::Preview => format!("{base}/previews/max-quality"),
        InputFile::StudioTaskFile(name) => format!("{base}/studio/task-files/{name}"),
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

/// The payload runners receive for `job`.
///
/// The audio merge reads its audio from `/max-quality/audio` rather than PeerTube's
/// `/max-quality`: the newest runner caches inputs per video and URL kind, and the
/// HLS jobs that follow the merge must download the merged video from `/max-quality`,
/// not a cached copy of the audio-only source.
pub fn payload(job: &PlannedJob, public_url: &str, job_uuid: &str, video_uuid: &str) -> Value {
    let url = |file| input_url(public_url, job_uuid, video_uuid, file);
    let (resolution, fps) = (job.rung.resolution, job.rung.fps);
    match job.kind {
        PlannedKind::WebVideo => json!({
            "input": {"videoFileUrl": url(InputFile::MaxQuality), "separatedAudioFileUrl": []},
            "output": {"resolution": resolution, "fps": fps},
        }),
        PlannedKind::Hls => json!({
            "input": {"videoFileUrl": url(InputFile::MaxQuality), "separatedAudioFileUrl": []},
            "output": {"resolution": resolution, "fps": fps, "separatedAudio": false},
        }),
        PlannedKind::AudioMerge => json!({
            "input": {
                "audioFileUrl": url(InputFile::MaxQualityAudio),
                "previewFileUrl": url(InputFile::Preview),
            },
            "output": {"resolution": resolution, "fps": fps},
        }),
    }
}

/// The server-side payload of `job`, shaped as PeerTube's.
pub fn private_payload(job: &PlannedJob, video_uuid: &str) -> Value {
    match job.kind {
        PlannedKind::Hls => json!({
            "videoUUID": video_uuid,
            "isNewVideo": true,
            "deleteWebVideoFiles": false,
        }),
        PlannedKind::WebVideo | PlannedKind::AudioMerge => json!({
            "videoUUID": video_uuid,
            "isNewVideo": true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::planning::{PRIORITY_REQUIRED, Rung};

    fn job(kind: PlannedKind, resolution: u32, fps: u32) -> PlannedJob {
        PlannedJob {
            kind,
            rung: Rung { resolution, fps },
            priority: PRIORITY_REQUIRED,
            parent: None,
        }
    }

    #[test]
    fn payloads_match_the_protocol_shapes() {
        let (origin, j, v) = ("https://t.example/", "job-1", "vid-1");
        let max = "https://t.example/api/v1/runners/jobs/job-1/files/videos/vid-1/max-quality";
        assert_eq!(
            payload(&job(PlannedKind::Hls, 720, 30), origin, j, v),
            json!({"input": {"videoFileUrl": max, "separatedAudioFileUrl": []},
                   "output": {"resolution": 720, "fps": 30, "separatedAudio": false}})
        );
        assert_eq!(
            payload(&job(PlannedKind::WebVideo, 480, 25), origin, j, v),
            json!({"input": {"videoFileUrl": max, "separatedAudioFileUrl": []},
                   "output": {"resolution": 480, "fps": 25}})
        );
        assert_eq!(
            payload(&job(PlannedKind::AudioMerge, 480, 25), origin, j, v),
            json!({"input": {"audioFileUrl": format!("{max}/audio"),
                             "previewFileUrl": "https://t.example/api/v1/runners/jobs/job-1/files/videos/vid-1/previews/max-quality"},
                   "output": {"resolution": 480, "fps": 25}})
        );
        assert_eq!(
            private_payload(&job(PlannedKind::Hls, 720, 30), v)["videoUUID"],
            "vid-1"
        );
        assert_eq!(job_type(PlannedKind::Hls).as_str(), "vod-hls-transcoding");
    }

    #[test]
    fn urls_have_peertubes_shape() {
        assert_eq!(
            input_url("https://h/", "j", "v", InputFile::MaxQuality),
            "https://h/api/v1/runners/jobs/j/files/videos/v/max-quality"
        );
        assert_eq!(
            input_url("https://h", "j", "v", InputFile::MaxQualityAudio),
            "https://h/api/v1/runners/jobs/j/files/videos/v/max-quality/audio"
        );
        assert_eq!(
            input_url(
                "https://h",
                "j",
                "v",
                InputFile::StudioTaskFile("intro.mp4")
            ),
            "https://h/api/v1/runners/jobs/j/files/videos/v/studio/task-files/intro.mp4"
        );
    }
}
