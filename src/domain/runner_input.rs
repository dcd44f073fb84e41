//! What runners send, checked as PeerTube checks it: the `version` they run (and so
//! which job types they can take), `progress`, the names of live chunks, playlists and
//! studio task files, and the payload of a live `update` (`runner-protocol.md` 1.3,
//! 1.6, 2, 3.4, 6.6).

use super::job::JobType;

/// A semantic version `X.Y.Z` (pre-release suffix ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The last runner that sends no version.
    pub const LEGACY: Version = Version(0, 0, 21);
    /// First runner with `video-transcription`.
    pub const TRANSCRIPTION: Version = Version(0, 0, 17);

    /// Parses `X.Y.Z` with an optional `-suffix`; `None` when it is not one.
    pub fn parse(s: &str) -> Option<Version> {
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| {
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
        });
        let v = Version(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    }
}

/// What a runner can run, from the `version` it sends to `/jobs/request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerCapabilities {
    version: Version,
    sends_version: bool,
}

impl RunnerCapabilities {
    /// No version means runner ≤ 0.0.21 (6.6); an unparsable one is treated the same
    /// way, so a runner is never offered a type it may not know.
    pub fn from_version(version: Option<&str>) -> RunnerCapabilities {
        match version.and_then(Version::parse) {
            Some(v) => RunnerCapabilities {
                version: v,
                sends_version: true,
            },
            None => RunnerCapabilities {
                version: Version::LEGACY,
                sends_version: false,
            },
        }
    }

    /// Whether the runner knows `job_type`. Storyboards need a runner recent enough to
    /// send its version (they came in the same generation).
    pub fn runs(self, job_type: JobType) -> bool {
        match job_type {
            JobType::VideoTranscription => self.version >= Version::TRANSCRIPTION,
            JobType::GenerateVideoStoryboard => {
                self.sends_version && self.version > Version::LEGACY
            }
            _ => true,
        }
    }

    /// The types to offer when the runner sent no `jobTypes`.
    pub fn job_types(self) -> Vec<JobType> {
        JobType::ALL.into_iter().filter(|t| self.runs(*t)).collect()
    }
}

/// Parses `progress` as PeerTube's `isInt({min:0,max:100})` does: an optional sign,
/// decimal digits without leading zeros, in 0..=100. `"42.5"`, `"1e2"`, `""` fail.
pub fn parse_progress(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !well_formed || digits.len() > 3 {
        return None;
    }
    let v: i32 = s.parse().ok()?;
    (0..=100).contains(&v).then_some(v)
}

fn is_name_with_ext(s: &str, ext_ok: impl Fn(&str) -> bool) -> bool {
    let Some((stem, ext)) = s.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && ext_ok(ext)
}

/// `^[a-z0-9-]+\.ts$`: a live chunk name.
pub fn is_chunk_name(s: &str) -> bool {
    is_name_with_ext(s, |e| e == "ts")
}

/// `^[a-z0-9-]+\.m3u8$`: a live playlist name.
pub fn is_playlist_name(s: &str) -> bool {
    is_name_with_ext(s, |e| e == "m3u8")
}

/// `^[a-z0-9-]+\.[a-z0-9]{1,8}$`: a studio task file name.
pub fn is_task_file_name(s: &str) -> bool {
    is_name_with_ext(s, |e| {
        (1..=8).contains(&e.len())
            && e.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// A live `update` (3.4), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChunkUpdate {
    /// Add or remove the chunk.
    pub kind: LiveChunkKind,
    /// `0-000123.ts`.
    pub chunk_name: String,
    /// `0.m3u8`, when the runner sent the resolution playlist.
    pub playlist_name: Option<String>,
    /// Whether `payload[masterPlaylistFile]` came too.
    pub has_master_playlist: bool,
}

/// `payload[type]` of a live update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveChunkKind {
    /// `add-chunk`: `payload[videoChunkFile]` is required.
    Add,
    /// `remove-chunk`.
    Remove,
}

/// Which optional files came with a live update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveFiles {
    /// `payload[videoChunkFile]`.
    pub chunk: bool,
    /// `payload[resolutionPlaylistFile]`.
    pub resolution_playlist: bool,
    /// `payload[masterPlaylistFile]`.
    pub master_playlist: bool,
}

/// Validates a live update from its `payload[...]` text fields (looked up by key,
/// without the `payload[` `]` wrapper) and the files that came with it.
pub fn parse_live_update<'a>(
    field: impl Fn(&str) -> Option<&'a str>,
    files: LiveFiles,
) -> Option<LiveChunkUpdate> {
    let kind = match field("type")? {
        "add-chunk" => LiveChunkKind::Add,
        "remove-chunk" => LiveChunkKind::Remove,
        _ => return None,
    };
    let chunk_name = field("videoChunkFilename").filter(|n| is_chunk_name(n))?;
    if kind == LiveChunkKind::Add && !files.chunk {
        return None;
    }
    let playlist_name = match field("resolutionPlaylistFilename") {
        Some(n) if is_playlist_name(n) && files.resolution_playlist => Some(n.to_owned()),
        Some(_) => return None,
        None => None,
    };
    Some(LiveChunkUpdate {
        kind,
        chunk_name: chunk_name.to_owned(),
        playlist_name,
        has_master_playlist: files.master_playlist,
    })
}

/// Every file field `success` accepts (others are discarded unread).
pub const SUCCESS_FILE_FIELDS: [&str; 4] = [
    "videoFile",
    "resolutionPlaylistFile",
    "vttFile",
    "storyboardFile",
];
/// Every file field a live `update` accepts.
pub const UPDATE_FILE_FIELDS: [&str; 3] = [
    "videoChunkFile",
    "resolutionPlaylistFile",
    "masterPlaylistFile",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_suffixes_and_compare_numerically() {
        assert_eq!(Version::parse("0.0.21"), Some(Version(0, 0, 21)));
        assert_eq!(Version::parse("0.1.0-rc.45"), Some(Version(0, 1, 0)));
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.x"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert!(Version(0, 0, 100) > Version(0, 0, 21));
    }

    #[test]
    fn legacy_runners_get_no_storyboards_and_old_ones_no_transcription() {
        let legacy = RunnerCapabilities::from_version(None);
        assert!(!legacy.runs(JobType::GenerateVideoStoryboard));
        assert!(legacy.runs(JobType::VideoTranscription));
        assert_eq!(legacy.job_types().len(), 6);
        let old = RunnerCapabilities::from_version(Some("0.0.16"));
        assert!(!old.runs(JobType::VideoTranscription));
        assert!(!old.runs(JobType::GenerateVideoStoryboard));
        assert!(old.runs(JobType::VodHlsTranscoding));
        let newest = RunnerCapabilities::from_version(Some("0.1.2"));
        assert_eq!(newest.job_types(), JobType::ALL.to_vec());
        assert_eq!(RunnerCapabilities::from_version(Some("garbage")), legacy);
    }

    #[test]
    fn progress_is_an_integer_between_0_and_100() {
        assert_eq!(parse_progress("42"), Some(42));
        assert_eq!(parse_progress("0"), Some(0));
        assert_eq!(parse_progress("100"), Some(100));
        assert_eq!(parse_progress("+7"), Some(7));
        for bad in [
            "42.5",
            "101",
            "-1",
            "",
            "abc",
            "1e2",
            "007",
            " 4",
            "99999999999",
        ] {
            assert_eq!(parse_progress(bad), None, "{bad}");
        }
    }

    #[test]
    fn file_names_reject_traversal_and_odd_characters() {
        assert!(is_chunk_name("0-000123.ts"));
        assert!(is_playlist_name("0.m3u8"));
        assert!(is_task_file_name("intro-1.mp4"));
        for bad in [
            "../0.ts", "a/b.ts", ".ts", "A.ts", "0.ts.", "0.TS", "0 1.ts", "..%2f.ts", "0.ts\0",
        ] {
            assert!(!is_chunk_name(bad), "{bad}");
        }
        assert!(!is_playlist_name("../../master.m3u8"));
        assert!(!is_playlist_name("x.ts"));
        assert!(!is_task_file_name("intro.toolongext"));
        assert!(!is_task_file_name("..mp4"));
        assert!(!is_task_file_name("a.b.mp4"));
    }

    #[test]
    fn live_updates_need_valid_names_and_their_files() {
        let fields = |t: &'static str, c: &'static str, p: Option<&'static str>| {
            move |k: &str| match k {
                "type" => Some(t),
                "videoChunkFilename" => Some(c),
                "resolutionPlaylistFilename" => p,
                _ => None,
            }
        };
        let files = LiveFiles {
            chunk: true,
            resolution_playlist: true,
            master_playlist: false,
        };
        let ok = parse_live_update(fields("add-chunk", "0-000001.ts", Some("0.m3u8")), files);
        assert_eq!(
            ok.map(|u| (u.kind, u.playlist_name)),
            Some((LiveChunkKind::Add, Some("0.m3u8".to_owned())))
        );
        let no_chunk = LiveFiles {
            chunk: false,
            ..files
        };
        assert!(parse_live_update(fields("add-chunk", "0-000001.ts", None), no_chunk).is_none());
        assert!(parse_live_update(fields("remove-chunk", "0-000001.ts", None), no_chunk).is_some());
        assert!(parse_live_update(fields("add-chunk", "../x.ts", None), files).is_none());
        assert!(
            parse_live_update(fields("add-chunk", "0-1.ts", Some("../m.m3u8")), files).is_none()
        );
        let no_playlist = LiveFiles {
            resolution_playlist: false,
            ..files
        };
        assert!(
            parse_live_update(fields("add-chunk", "0-1.ts", Some("0.m3u8")), no_playlist).is_none()
        );
        assert!(parse_live_update(fields("drop", "0-1.ts", None), files).is_none());
    }
}
