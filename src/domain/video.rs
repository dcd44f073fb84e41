//! Video states and how a video's state follows from its jobs.

use super::job::JobState;

/// A video's processing state, stored as an integer. Ids follow PeerTube's
/// `VideoState` where one exists (1, 2, 3, 4, 5, 7, 9); `Playable` is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoState {
    /// Every job finished; all renditions that could be made exist.
    Published = 1,
    /// Jobs are queued or running and no rendition is ready yet.
    ToTranscode = 2,
    /// The submission is storing the source: the video holds its folder, its jobs do
    /// not exist yet. A video left in this state by a crash can be deleted.
    Importing = 3,
    /// A live waiting for its stream.
    WaitingForLive = 4,
    /// A live that ended.
    LiveEnded = 5,
    /// A job failed for good; `error` says why.
    TranscodingFailed = 7,
    /// A studio edit is running.
    ToEdit = 9,
    /// At least one rendition is ready; other jobs are still running.
    Playable = 10,
}

impl VideoState {
    /// Every state.
    pub const ALL: [VideoState; 8] = [
        VideoState::Published,
        VideoState::ToTranscode,
        VideoState::Importing,
        VideoState::WaitingForLive,
        VideoState::LiveEnded,
        VideoState::TranscodingFailed,
        VideoState::ToEdit,
        VideoState::Playable,
    ];

    /// Stored integer.
    pub fn id(self) -> i32 {
        self as i32
    }

    /// State for a stored integer.
    pub fn from_id(id: i32) -> Option<VideoState> {
        VideoState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Machine name used by the video API (`?state=` filter too).
    pub fn name(self) -> &'static str {
        match self {
            VideoState::Published => "published",
            VideoState::ToTranscode => "transcoding",
            VideoState::Importing => "importing",
            VideoState::WaitingForLive => "waiting-for-live",
            VideoState::LiveEnded => "live-ended",
            VideoState::TranscodingFailed => "failed",
            VideoState::ToEdit => "editing",
            VideoState::Playable => "playable",
        }
    }

    /// State for a machine name.
    pub fn from_name(name: &str) -> Option<VideoState> {
        VideoState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            VideoState::Published => "Published",
            VideoState::ToTranscode => "To transcode",
            VideoState::Importing => "Storing the source",
            VideoState::WaitingForLive => "Waiting for live stream",
            VideoState::LiveEnded => "Live ended",
            VideoState::TranscodingFailed => "Transcoding failed",
            VideoState::ToEdit => "To edit",
            VideoState::Playable => "Playable, transcoding continues",
        }
    }
}

/// The state a VOD video is in given its jobs' states and whether any rendition is
/// stored. A final failure wins; then "all done"; then "something playable".
pub fn derive_vod_state(jobs: &[JobState], has_rendition: bool) -> VideoState {
    if jobs
        .iter()
        .any(|s| matches!(s, JobState::Errored | JobState::ParentErrored))
    {
        return VideoState::TranscodingFailed;
    }
    if jobs.iter().all(|s| s.is_final()) {
        return if has_rendition || jobs.contains(&JobState::Completed) {
            VideoState::Published
        } else {
            // Every job was cancelled before producing anything.
            VideoState::TranscodingFailed
        };
    }
    if has_rendition {
        VideoState::Playable
    } else {
        VideoState::ToTranscode
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    #[test]
    fn ids_and_names_round_trip() {
        for s in VideoState::ALL {
            assert_eq!(VideoState::from_id(s.id()), Some(s));
            assert_eq!(VideoState::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn state_follows_the_jobs() {
        assert_eq!(
            derive_vod_state(&[Pending, WaitingForParentJob], false),
            VideoState::ToTranscode
        );
        assert_eq!(
            derive_vod_state(&[Completed, Pending], true),
            VideoState::Playable
        );
        assert_eq!(
            derive_vod_state(&[Completed, Completing], true),
            VideoState::Playable
        );
        assert_eq!(
            derive_vod_state(&[Completed, Completed], true),
            VideoState::Published
        );
        assert_eq!(
            derive_vod_state(&[Completed, Errored], true),
            VideoState::TranscodingFailed
        );
        assert_eq!(
            derive_vod_state(&[Errored, ParentErrored], false),
            VideoState::TranscodingFailed
        );
        assert_eq!(
            derive_vod_state(&[Completed, Cancelled], true),
            VideoState::Published
        );
        assert_eq!(
            derive_vod_state(&[Cancelled, ParentCancelled], false),
            VideoState::TranscodingFailed
        );
    }
}

/// What a stored video file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The uploaded (or studio-edited) original.
    Source,
    /// An MP4 rendition.
    WebVideo,
    /// A fragmented MP4 with its HLS media playlist.
    Hls,
    /// An MP4 made only as the input of other jobs (the audio merged with its cover
    /// when web videos are off): never published, deleted once every job of the
    /// video ended.
    Intermediate,
}

impl FileKind {
    /// Stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Source => "source",
            FileKind::WebVideo => "web-video",
            FileKind::Hls => "hls",
            FileKind::Intermediate => "intermediate",
        }
    }

    /// Whether files of this kind are published (listed and served).
    pub fn is_published(self) -> bool {
        matches!(self, FileKind::WebVideo | FileKind::Hls)
    }

    /// Kind for a stored string.
    pub fn parse(s: &str) -> Option<FileKind> {
        [
            FileKind::Source,
            FileKind::WebVideo,
            FileKind::Hls,
            FileKind::Intermediate,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Storage keys of a video's outputs, all under its folder.
pub mod keys {
    /// `<dir>/<base>-<res>-fragmented.mp4`
    pub fn hls_video(dir: &str, base: &str, resolution: i32) -> String {
        format!("{dir}/{base}-{resolution}-fragmented.mp4")
    }

    /// `<dir>/<base>-<res>.m3u8`
    pub fn hls_playlist(dir: &str, base: &str, resolution: i32) -> String {
        format!("{dir}/{base}-{resolution}.m3u8")
    }

    /// `<dir>/master.m3u8`
    pub fn master(dir: &str) -> String {
        format!("{dir}/master.m3u8")
    }

    /// `<dir>/<base>-<res>.mp4`
    pub fn web_video(dir: &str, base: &str, resolution: i32) -> String {
        format!("{dir}/{base}-{resolution}.mp4")
    }

    /// `<dir>/<base>-<res>-merged.mp4`: the audio merged with its cover, an input of
    /// other jobs only.
    pub fn intermediate(dir: &str, base: &str, resolution: i32) -> String {
        format!("{dir}/{base}-{resolution}-merged.mp4")
    }

    /// `<dir>/<base>-source.<ext>`: an uploaded source.
    pub fn source(dir: &str, base: &str, ext: &str) -> String {
        format!("{dir}/{base}-source.{ext}")
    }

    /// `<dir>/thumbnail.jpg`
    pub fn thumbnail(dir: &str) -> String {
        format!("{dir}/thumbnail.jpg")
    }

    /// `<dir>/studio/<file>`: intro, outro and watermark files of studio tasks.
    pub fn studio_task_file(dir: &str, file: &str) -> String {
        format!("{dir}/studio/{file}")
    }

    /// The last path segment of a key.
    pub fn file_name(key: &str) -> &str {
        key.rsplit('/').next().unwrap_or(key)
    }
}
