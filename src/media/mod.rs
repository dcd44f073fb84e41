//! Media tools: ffprobe for facts about inputs and outputs, ffmpeg for thumbnails, and
//! the pure pieces around them (codec strings, HLS playlists). Every run is confined
//! to local files and a list of demuxers, and killed after a timeout.

pub mod codecs;
pub mod hls;
pub mod probe;
pub mod process;

use std::path::Path;
use std::time::Duration;

pub use probe::{MediaInfo, ParseError};
pub use process::ProcessError;

use crate::config::MediaSettings;

/// Why probing failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// ffprobe could not run or rejected the file.
    #[error(transparent)]
    Tool(#[from] ProcessError),
    /// ffprobe ran but found no usable media.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl ProbeError {
    /// Whether the input is at fault (not media, no streams, unreadable), as opposed to
    /// the server (tool missing, I/O).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ProbeError::Parse(_)
                | ProbeError::Tool(ProcessError::Failed { .. } | ProcessError::Timeout { .. })
        )
    }

    /// A short reason fit for API clients: never the tool's output, which names
    /// server paths (log the error itself for the details).
    pub fn client_reason(&self) -> &'static str {
        match self {
            ProbeError::Parse(ParseError::NoMediaStreams) => "no audio or video stream",
            ProbeError::Parse(ParseError::Json(_)) => "unrecognised format",
            ProbeError::Tool(ProcessError::Failed { .. }) => "unrecognised or damaged file",
            ProbeError::Tool(ProcessError::Timeout { .. }) => "reading it took too long",
            ProbeError::Tool(ProcessError::NotFound { .. }) => "a media tool is missing",
            ProbeError::Tool(ProcessError::Io { .. }) => "a media tool could not run",
        }
    }
}

/// The configured media tools.
#[derive(Debug, Clone)]
pub struct Media {
    settings: MediaSettings,
}

impl Media {
    /// Media tools as configured.
    pub fn new(settings: MediaSettings) -> Media {
        Media { settings }
    }

    /// Probes a local file.
    pub async fn probe(&self, path: &Path) -> Result<MediaInfo, ProbeError> {
        self.probe_with(path, probe::DEMUXER_WHITELIST).await
    }

    /// Probes an image (PNG, JPEG, WebP, GIF: [`probe::IMAGE_DEMUXERS`] only): studio
    /// watermarks and storyboards.
    pub async fn probe_image(&self, path: &Path) -> Result<MediaInfo, ProbeError> {
        self.probe_with(path, probe::IMAGE_DEMUXERS).await
    }

    async fn probe_with(&self, path: &Path, demuxers: &str) -> Result<MediaInfo, ProbeError> {
        let out = process::run(
            &self.settings.ffprobe,
            [
                "-v".as_ref(),
                "error".as_ref(),
                "-protocol_whitelist".as_ref(),
                "file".as_ref(),
                "-format_whitelist".as_ref(),
                demuxers.as_ref(),
                "-show_format".as_ref(),
                "-show_streams".as_ref(),
                "-of".as_ref(),
                "json".as_ref(),
                "-i".as_ref(),
                path.as_os_str(),
            ],
            self.settings.probe_timeout,
        )
        .await?;
        Ok(probe::parse(&out.stdout)?)
    }

    /// Writes a JPEG of the first frame of `src` (at most 1280 px wide, never upscaled)
    /// to `dst`.
    pub async fn thumbnail(&self, src: &Path, dst: &Path) -> Result<(), ProcessError> {
        process::run(
            &self.settings.ffmpeg,
            [
                "-nostdin".as_ref(),
                "-v".as_ref(),
                "error".as_ref(),
                "-protocol_whitelist".as_ref(),
                "file".as_ref(),
                "-format_whitelist".as_ref(),
                probe::DEMUXER_WHITELIST.as_ref(),
                "-i".as_ref(),
                src.as_os_str(),
                "-map".as_ref(),
                "0:v:0".as_ref(),
                "-frames:v".as_ref(),
                "1".as_ref(),
                "-vf".as_ref(),
                "scale='min(1280,iw)':-2".as_ref(),
                "-q:v".as_ref(),
                "3".as_ref(),
                "-f".as_ref(),
                "image2".as_ref(),
                "-y".as_ref(),
                dst.as_os_str(),
            ],
            self.settings.thumbnail_timeout,
        )
        .await
        .map(|_| ())
    }

    /// The timeout given to one tool run.
    pub fn probe_timeout(&self) -> Duration {
        self.settings.probe_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media() -> Media {
        Media::new(MediaSettings::default())
    }

    async fn sample(dir: &Path, name: &str, lavfi: &[&str]) -> std::path::PathBuf {
        let out = dir.join(name);
        let mut args = vec!["-nostdin", "-v", "error", "-y"];
        args.extend_from_slice(lavfi);
        args.push(out.to_str().unwrap());
        process::run("ffmpeg", args, Duration::from_secs(60))
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn probes_and_thumbnails_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = sample(
            dir.path(),
            "in.mp4",
            &[
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25",
                "-f",
                "lavfi",
                "-i",
                "sine",
                "-t",
                "1",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
            ],
        )
        .await;
        let info = media().probe(&src).await.unwrap();
        assert_eq!(info.resolution(), 240);
        assert!(info.has_audio());
        let jpg = dir.path().join("t.jpg");
        media().thumbnail(&src, &jpg).await.unwrap();
        let thumb = media().probe(&jpg).await;
        // JPEG is not an accepted upload container, which is the point of the whitelist.
        assert!(thumb.is_err());
        assert!(std::fs::read(&jpg).unwrap().starts_with(&[0xff, 0xd8]));
    }

    #[tokio::test]
    async fn non_media_and_playlists_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, b"this is not a video").unwrap();
        let err = media().probe(&junk).await.unwrap_err();
        assert!(err.is_bad_input(), "{err}");

        // An HLS playlist pointing at a local file must not be followed.
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, b"top secret").unwrap();
        let m3u8 = dir.path().join("evil.mp4");
        std::fs::write(
            &m3u8,
            format!("#EXTM3U\n#EXTINF:1,\nfile://{}\n", secret.display()),
        )
        .unwrap();
        let err = media().probe(&m3u8).await.unwrap_err();
        assert!(err.is_bad_input(), "{err}");
    }

    #[tokio::test]
    async fn a_missing_ffprobe_is_not_the_clients_fault() {
        let m = Media::new(MediaSettings {
            ffprobe: "no-such-ffprobe".into(),
            ..MediaSettings::default()
        });
        let err = m.probe(Path::new("/dev/null")).await.unwrap_err();
        assert!(!err.is_bad_input());
        assert!(err.to_string().contains("not found in PATH"), "{err}");
    }
}
