//! How the rows of `django-peertube-runner-connector` (`reference-library.md` 1) read
//! as this service's: identifiers, times, states, and which file is what. Pure: the
//! reader (`db::django`) hands over the columns as the library stored them.

use chrono::NaiveDateTime;
use uuid::Uuid;

use super::job::JobState;
use super::video::VideoState;

/// Where the library's tables start by default (its app label and `_`).
pub const DEFAULT_TABLE_PREFIX: &str = "django_peertube_runner_connector_";

/// A stored UUID in its canonical form (lowercase, hyphenated): PostgreSQL gives the
/// hyphenated form, SQLite's `char(32)` the 32 hex digits without hyphens.
pub fn uuid(stored: &str) -> Option<String> {
    let u = Uuid::try_parse(stored.trim()).ok()?;
    Some(u.hyphenated().to_string())
}

/// A stored time, UTC: `YYYY-MM-DD HH:MM:SS[.ffffff]`, a `T` instead of the space, and
/// a trailing UTC offset (`+00:00`, `+00`, `Z`) all accepted; other offsets are
/// converted to UTC.
pub fn time(stored: &str) -> Option<NaiveDateTime> {
    let s = stored.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&s.replacen(' ', "T", 1)) {
        return Some(t.naive_utc());
    }
    let with_offset = |s: &str| {
        chrono::DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
            .ok()
            .map(|t| t.naive_utc())
    };
    if let Some(t) = with_offset(s) {
        return Some(t);
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// The library's video state as this service's: it only ever writes 1 (published),
/// 2 (to transcode) and 7 (transcoding failed); other values have no meaning here.
pub fn video_state(stored: i32) -> Option<VideoState> {
    match stored {
        1 => Some(VideoState::Published),
        2 => Some(VideoState::ToTranscode),
        7 => Some(VideoState::TranscodingFailed),
        _ => None,
    }
}

/// Whether a library job in this state had work left (pending, processing, waiting
/// for its parent, completing): such jobs are not carried over.
pub fn job_unfinished(stored: i32) -> bool {
    JobState::from_id(stored).is_some_and(|s| !s.is_final())
}

/// The media playlist of a stored HLS rendition, derived as the library derives it
/// (§5.4 step 4): a trailing `-fragmented.mp4` (any case) becomes `.m3u8`; any other
/// name (a collision-suffixed `…-fragmented_Ab12Cd3.mp4`) gets `.m3u8` appended.
pub fn hls_playlist_key(file_key: &str) -> String {
    const SUFFIX: &str = "-fragmented.mp4";
    let cut = file_key.len().saturating_sub(SUFFIX.len());
    match file_key.get(cut..) {
        Some(tail) if tail.eq_ignore_ascii_case(SUFFIX) => format!("{}.m3u8", &file_key[..cut]),
        _ => format!("{file_key}.m3u8"),
    }
}

/// Whether a file not linked to the HLS playlist is an MP4 rendition ("web video")
/// rather than the source: an `.mp4` inside the video's folder named
/// `<prefix>-<resolution>.mp4` (PeerTube's and the library's web-video naming), whose
/// resolution is a ladder rung and the file's own.
pub fn is_web_video(directory: &str, key: &str, extname: &str, resolution: i32) -> bool {
    const RUNGS: [i32; 8] = [144, 240, 360, 480, 720, 1080, 1440, 2160];
    if !extname.eq_ignore_ascii_case(".mp4") || !RUNGS.contains(&resolution) {
        return false;
    }
    let Some(name) = key
        .strip_prefix(directory)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    let Some(stem) = name
        .get(..name.len().saturating_sub(4))
        .filter(|_| name.to_ascii_lowercase().ends_with(".mp4"))
    else {
        return false;
    };
    !name.contains('/')
        && stem
            .rsplit_once('-')
            .is_some_and(|(prefix, res)| !prefix.is_empty() && res == resolution.to_string())
}

/// The frame rate of a library file: `-1` (audio, its default) and 0 mean unknown.
pub fn fps(stored: i32) -> f64 {
    if stored > 0 { f64::from(stored) } else { 0.0 }
}

/// Bits per second of a file as the library put it in the master playlist
/// (`get_bandwidth_bits`): `size * 8 / duration`, or the size without a duration.
pub fn bandwidth(size: i64, duration: Option<i32>) -> i64 {
    match duration {
        Some(d) if d > 0 => size.saturating_mul(8) / i64::from(d),
        _ => size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_read_with_or_without_hyphens() {
        let canonical = "0b2c6f5e-7f4a-4d3b-9c1e-2a3b4c5d6e7f";
        assert_eq!(uuid(canonical).as_deref(), Some(canonical));
        assert_eq!(
            uuid("0B2C6F5E7F4A4D3B9C1E2A3B4C5D6E7F").as_deref(),
            Some(canonical)
        );
        assert_eq!(uuid("not-a-uuid"), None);
    }

    #[test]
    fn times_are_read_in_the_forms_both_backends_store() {
        let t = NaiveDateTime::parse_from_str("2024-11-13 10:00:00.123456", "%Y-%m-%d %H:%M:%S%.f")
            .ok();
        assert_eq!(time("2024-11-13 10:00:00.123456"), t);
        assert_eq!(time("2024-11-13T10:00:00.123456"), t);
        assert_eq!(time("2024-11-13 10:00:00.123456+00:00"), t);
        assert_eq!(time("2024-11-13 12:00:00.123456+02"), t);
        assert_eq!(time("2024-11-13T10:00:00.123456Z"), t);
        assert!(time("2024-11-13 10:00:00").is_some());
        assert_eq!(time("yesterday"), None);
    }

    #[test]
    fn only_the_states_the_library_writes_are_mapped() {
        assert_eq!(video_state(1), Some(VideoState::Published));
        assert_eq!(video_state(2), Some(VideoState::ToTranscode));
        assert_eq!(video_state(7), Some(VideoState::TranscodingFailed));
        assert_eq!(video_state(3), None);
        assert!(job_unfinished(1) && job_unfinished(2) && job_unfinished(5) && job_unfinished(9));
        assert!(!job_unfinished(3) && !job_unfinished(4) && !job_unfinished(6));
    }

    #[test]
    fn playlists_are_named_as_the_library_names_them() {
        assert_eq!(
            hls_playlist_key("v/abc-480-fragmented.mp4"),
            "v/abc-480.m3u8"
        );
        assert_eq!(
            hls_playlist_key("v/abc-480-FRAGMENTED.MP4"),
            "v/abc-480.m3u8"
        );
        assert_eq!(
            hls_playlist_key("v/abc-480-fragmented_Ab12Cd3.mp4"),
            "v/abc-480-fragmented_Ab12Cd3.mp4.m3u8"
        );
    }

    #[test]
    fn web_videos_are_mp4_renditions_named_by_resolution_in_the_folder() {
        assert!(is_web_video("v", "v/abc-720.mp4", ".mp4", 720));
        assert!(
            !is_web_video("v", "v/abc-720.mp4", ".mp4", 540),
            "not the file's resolution"
        );
        assert!(!is_web_video("v", "v/base_video.mp4", ".mp4", 720));
        assert!(
            !is_web_video("v", "other/abc-720.mp4", ".mp4", 720),
            "outside the folder"
        );
        assert!(!is_web_video("v", "v/abc-720.mkv", ".mkv", 720));
        assert!(!is_web_video("v", "v/sub/abc-720.mp4", ".mp4", 720));
    }

    #[test]
    fn bandwidth_and_fps_follow_the_library() {
        assert_eq!(bandwidth(1000, Some(10)), 800);
        assert_eq!(bandwidth(1000, None), 1000);
        assert_eq!(bandwidth(1000, Some(0)), 1000);
        assert_eq!(fps(-1), 0.0);
        assert_eq!(fps(30), 30.0);
    }
}
