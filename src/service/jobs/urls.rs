//! Absolute input-file URLs put in job payloads (`runner-protocol.md` 2). They keep
//! PeerTube's shape, which the newest runner parses to cache inputs per video, and
//! carry no query string (runners drop it).

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

/// The URL of `file` of video `video_uuid` for job `job_uuid`, on `public_url` (the
/// server's public origin without a trailing slash).
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

#[cfg(test)]
mod tests {
    use super::*;

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
