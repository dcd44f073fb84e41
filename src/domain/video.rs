//! Videos: their states (and how a VOD video's state follows from its jobs), the
//! video and its stored files as the service knows them, and the keys of its outputs.

use chrono::NaiveDateTime;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::ids::VideoUuid;
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

/// The video API's form of a state: `{"id": 10, "name": "playable", "label": …}`.
impl Serialize for VideoState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("VideoState", 3)?;
        st.serialize_field("id", &self.id())?;
        st.serialize_field("name", self.name())?;
        st.serialize_field("label", self.label())?;
        st.end()
    }
}

/// Output options of a video, as requested (or configured) at submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoOptions {
    /// HLS renditions.
    pub hls: bool,
    /// MP4 renditions.
    pub web_videos: bool,
    /// The rungs planned.
    #[serde(default)]
    pub resolutions: Vec<u32>,
    /// The source was uploaded (the video owns it) rather than named by `filePath`.
    #[serde(default)]
    pub source_owned: bool,
    /// Studio edits applied so far: the outputs of edition `n > 0` are named after
    /// [`Video::output_base`], beside those of the edition before, until the switch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub edition: u32,
    /// While the renditions of the latest edition are not published yet: the
    /// resolution of the rendition whose arrival switches the video to them (its top
    /// HLS rendition, or its top web video without HLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_at: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A video as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// Internal id.
    pub id: i64,
    /// Public UUID.
    pub uuid: VideoUuid,
    /// Where it is in its processing.
    pub state: VideoState,
    /// Display name.
    pub name: Option<String>,
    /// Storage folder of every output (the video owns it).
    pub directory: String,
    /// Prefix of output names.
    pub base_filename: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Storage key of the thumbnail JPEG.
    pub thumbnail_key: Option<String>,
    /// Detected or given language.
    pub language: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Output options.
    pub options: VideoOptions,
    /// Where this video's own events are sent (`callbackUrl` at submission).
    pub callback_url: Option<String>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Video {
    /// The prefix of the names of the current edition's outputs: `base_filename`, then
    /// `<base_filename>-e<n>` after the n-th studio edit (so that the renditions of an
    /// edit never overwrite those still published).
    pub fn output_base(&self) -> String {
        match self.options.edition {
            0 => self.base_filename.clone(),
            n => format!("{}-e{n}", self.base_filename),
        }
    }
}

/// A video to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVideo {
    /// Public UUID.
    pub uuid: VideoUuid,
    /// First state.
    pub state: VideoState,
    /// Display name.
    pub name: Option<String>,
    /// Storage folder of every output.
    pub directory: String,
    /// Prefix of output names.
    pub base_filename: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Storage key of the thumbnail JPEG.
    pub thumbnail_key: Option<String>,
    /// Output options.
    pub options: VideoOptions,
}

/// What a stored file of a video is made of (shared by stored and new files).
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    /// What the file is.
    pub kind: FileKind,
    /// Storage key of the media file.
    pub storage_key: String,
    /// Storage key of the HLS media playlist.
    pub playlist_key: Option<String>,
    /// Shorter displayed side, 0 for audio.
    pub resolution: i32,
    /// Displayed width.
    pub width: i32,
    /// Displayed height.
    pub height: i32,
    /// Frames per second (0 when unknown or audio).
    pub fps: f64,
    /// Bytes.
    pub size: i64,
    /// Peak bits per second.
    pub bitrate: Option<i64>,
    /// RFC 6381 codecs.
    pub codecs: Option<String>,
    /// The container, as ffprobe names it (`mov,mp4,m4a,3gp,3g2,mj2`).
    pub format: Option<String>,
    /// What ffprobe said of the file (its JSON output), for diagnostics.
    pub metadata: Option<String>,
}

/// A stored file of a video: its source, a rendition or an intermediate file.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFile {
    /// Internal id.
    pub id: i64,
    /// Owning video.
    pub video_id: i64,
    /// What it is.
    pub facts: FileFacts,
    /// When its `video.rendition.ready` event was recorded (`None`: not yet).
    pub announced_at: Option<NaiveDateTime>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl std::ops::Deref for VideoFile {
    type Target = FileFacts;

    fn deref(&self) -> &FileFacts {
        &self.facts
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
        for k in FileKind::ALL {
            assert_eq!(FileKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(
            serde_json::to_value(VideoState::Playable).ok(),
            Some(serde_json::json!({"id": 10, "name": "playable",
                                    "label": "Playable, transcoding continues"}))
        );
    }

    #[test]
    fn options_read_older_rows_without_the_newer_members() {
        let o: Result<VideoOptions, _> =
            serde_json::from_str(r#"{"hls": true, "webVideos": false}"#);
        assert_eq!(
            o.ok(),
            Some(VideoOptions {
                hls: true,
                web_videos: false,
                resolutions: Vec::new(),
                source_owned: false,
                edition: 0,
                switch_at: None,
            })
        );
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
    /// An HLS rendition of a studio edit made before the switch to the edit
    /// ([`VideoOptions::switch_at`]): not published until then, an `Hls` after.
    NextHls,
    /// A web-video rendition of a studio edit made before the switch: a `WebVideo`
    /// after it.
    NextWebVideo,
    /// The source a studio edit replaced (the video owned it): kept until the edit's
    /// renditions are all published, then deleted.
    ReplacedSource,
}

impl FileKind {
    /// Stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Source => "source",
            FileKind::WebVideo => "web-video",
            FileKind::Hls => "hls",
            FileKind::Intermediate => "intermediate",
            FileKind::NextHls => "next-hls",
            FileKind::NextWebVideo => "next-web-video",
            FileKind::ReplacedSource => "replaced-source",
        }
    }

    /// The kind a studio edit's rendition is recorded as before the switch.
    pub fn before_switch(self) -> FileKind {
        match self {
            FileKind::Hls => FileKind::NextHls,
            FileKind::WebVideo => FileKind::NextWebVideo,
            other => other,
        }
    }

    /// Whether files of this kind are published (listed and served).
    pub fn is_published(self) -> bool {
        matches!(self, FileKind::WebVideo | FileKind::Hls)
    }

    /// Every kind.
    pub const ALL: [FileKind; 7] = [
        FileKind::Source,
        FileKind::WebVideo,
        FileKind::Hls,
        FileKind::Intermediate,
        FileKind::NextHls,
        FileKind::NextWebVideo,
        FileKind::ReplacedSource,
    ];

    /// Kind for a stored string.
    pub fn parse(s: &str) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.as_str() == s)
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

    /// `<dir>/<base>-e<n>-source.mp4`: the source made by the n-th studio edit.
    pub fn edited_source(dir: &str, base: &str, edition: u32) -> String {
        format!("{dir}/{base}-e{edition}-source.mp4")
    }

    /// `<dir>/storyboard.jpg`: the sprite sheet of seek previews.
    pub fn storyboard(dir: &str) -> String {
        format!("{dir}/storyboard.jpg")
    }

    /// The WebVTT track of the sprite sheet stored at `image`: the same name with
    /// `.vtt`.
    pub fn storyboard_track_of(image: &str) -> String {
        let stem = image.strip_suffix(".jpg").unwrap_or(image);
        format!("{stem}.vtt")
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
