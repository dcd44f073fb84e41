//! The runner-job state machine and the rules around it, as pure functions: which
//! transitions exist, what abort and error do per job type, what a runner version can
//! run, and the shape checks on runner-provided values (progress, live chunk names,
//! studio task file names). `runner-protocol.md` sections 1.4–1.10 and 5.

use super::job::{JobState, JobType};

/// Why a job changes state. Each event allows a fixed set of source states; the
/// service applies it as a compare-and-set on that source state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A runner accepts a PENDING job.
    Accept,
    /// A PROCESSING job goes back to PENDING (abort, retryable error, watchdog).
    Requeue,
    /// A runner reports success: PROCESSING → COMPLETING.
    BeginCompletion,
    /// Post-processing finished: COMPLETING → COMPLETED.
    Complete,
    /// The job failed for good (from PROCESSING, or COMPLETING when post-processing
    /// failed or was lost).
    Fail,
    /// An operator or application cancels it.
    Cancel,
    /// Its parent completed: WAITING_FOR_PARENT_JOB → PENDING.
    ReleaseChild,
    /// Its parent failed for good: WAITING_FOR_PARENT_JOB → PARENT_ERRORED.
    ParentFailed,
    /// Its parent was cancelled: WAITING_FOR_PARENT_JOB → PARENT_CANCELLED.
    ParentCancelled,
}

impl Transition {
    /// The states this transition may start from.
    pub fn from_states(self) -> &'static [JobState] {
        use JobState::*;
        match self {
            Transition::Accept => &[Pending],
            Transition::Requeue | Transition::BeginCompletion => &[Processing],
            Transition::Complete => &[Completing],
            Transition::Fail => &[Processing, Completing],
            Transition::Cancel => &[Pending, Processing, WaitingForParentJob],
            Transition::ReleaseChild | Transition::ParentFailed | Transition::ParentCancelled => {
                &[WaitingForParentJob]
            }
        }
    }

    /// The state it leads to.
    pub fn to_state(self) -> JobState {
        match self {
            Transition::Accept => JobState::Processing,
            Transition::Requeue | Transition::ReleaseChild => JobState::Pending,
            Transition::BeginCompletion => JobState::Completing,
            Transition::Complete => JobState::Completed,
            Transition::Fail => JobState::Errored,
            Transition::Cancel => JobState::Cancelled,
            Transition::ParentFailed => JobState::ParentErrored,
            Transition::ParentCancelled => JobState::ParentCancelled,
        }
    }

    /// Whether a job in `state` can take this transition.
    pub fn allowed_from(self, state: JobState) -> bool {
        self.from_states().contains(&state)
    }
}

/// The first state of a new job.
pub fn initial_state(has_parent: bool) -> JobState {
    if has_parent {
        JobState::WaitingForParentJob
    } else {
        JobState::Pending
    }
}

/// Whether a runner may abort this type (back to PENDING). Live cannot: PeerTube turns
/// an abort into an error, and never retries live jobs.
pub fn supports_abort(job_type: JobType) -> bool {
    job_type != JobType::LiveRtmpHlsTranscoding
}

/// Message stored when a live job is aborted.
pub const ABORT_NOT_SUPPORTED: &str =
    "Job has been aborted but it is not supported by this job type";
/// Message stored when the watchdog errors a stalled live job.
pub const STALLED_JOB: &str = "Stalled runner job";
/// Message stored when a job stayed COMPLETING too long.
pub const COMPLETION_LOST: &str = "Job completion was lost";
/// Error stored on children of a job that failed for good.
pub const PARENT_ERROR: &str = "Parent error";

/// What an abort does to a PROCESSING job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortOutcome {
    /// Back to PENDING; no failure counted.
    Requeue,
    /// Errored with this message (live jobs).
    Fail(&'static str),
}

/// What an abort (runner shutdown, watchdog) does to a job of `job_type`.
pub fn on_abort(job_type: JobType) -> AbortOutcome {
    if supports_abort(job_type) {
        AbortOutcome::Requeue
    } else {
        AbortOutcome::Fail(ABORT_NOT_SUPPORTED)
    }
}

/// What a reported error does, given the failure count *including* this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorOutcome {
    /// Back to PENDING for another attempt.
    Retry,
    /// ERRORED for good; children become PARENT_ERRORED.
    Fail,
}

/// PeerTube 5.6: retry while the type supports abort and `failures < max_failures`.
pub fn on_error(job_type: JobType, failures: i32, max_failures: i32) -> ErrorOutcome {
    if supports_abort(job_type) && failures < max_failures {
        ErrorOutcome::Retry
    } else {
        ErrorOutcome::Fail
    }
}

/// What the watchdog does to a job that stopped sending updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallPolicy {
    /// Requeue after the VOD window (VOD, studio, transcription, storyboard).
    RequeueAfterVodWindow,
    /// Error after the live window.
    FailAfterLiveWindow,
}

/// The watchdog policy of a job type.
pub fn stall_policy(job_type: JobType) -> StallPolicy {
    if job_type == JobType::LiveRtmpHlsTranscoding {
        StallPolicy::FailAfterLiveWindow
    } else {
        StallPolicy::RequeueAfterVodWindow
    }
}

/// The allowed states of `update`: late updates on COMPLETING/COMPLETED are answered
/// 204 and ignored.
pub const UPDATE_STATES: [JobState; 3] = [
    JobState::Processing,
    JobState::Completing,
    JobState::Completed,
];
/// The allowed states of abort, error, success and the input downloads.
pub const PROCESSING_ONLY: [JobState; 1] = [JobState::Processing];

/// Whether an `update` in this state is acknowledged without effect.
pub fn update_is_ignored(state: JobState) -> bool {
    matches!(state, JobState::Completing | JobState::Completed)
}

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

/// Studio tasks every runner knows.
pub const SUPPORTED_STUDIO_TASKS: [&str; 4] = ["add-intro", "add-outro", "add-watermark", "cut"];

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

/// Whether every task of a studio payload (`{"tasks":[{"name":…}]}`) is one runners
/// support. Other types always pass.
pub fn studio_tasks_supported<'a>(mut task_names: impl Iterator<Item = Option<&'a str>>) -> bool {
    task_names.all(|n| n.is_some_and(|n| SUPPORTED_STUDIO_TASKS.contains(&n)))
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

/// The file fields a `success` must carry per type (1.8).
pub fn required_success_files(job_type: JobType) -> &'static [&'static str] {
    match job_type {
        JobType::VodHlsTranscoding => &["videoFile", "resolutionPlaylistFile"],
        JobType::VodWebVideoTranscoding
        | JobType::VodAudioMergeTranscoding
        | JobType::VideoStudioTranscoding => &["videoFile"],
        JobType::VideoTranscription => &["vttFile"],
        JobType::GenerateVideoStoryboard => &["storyboardFile"],
        JobType::LiveRtmpHlsTranscoding => &[],
    }
}

/// Every file field `success` accepts (others are discarded unread).
pub const SUCCESS_FILE_FIELDS: [&str; 4] = [
    "videoFile",
    "resolutionPlaylistFile",
    "vttFile",
    "storyboardFile",
];
/// Every file field `update` accepts.
pub const UPDATE_FILE_FIELDS: [&str; 3] = [
    "videoChunkFile",
    "resolutionPlaylistFile",
    "masterPlaylistFile",
];

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    #[test]
    fn transitions_start_only_from_their_source_states() {
        for s in JobState::ALL {
            assert_eq!(Transition::Accept.allowed_from(s), s == Pending);
            assert_eq!(Transition::Complete.allowed_from(s), s == Completing);
            assert_eq!(
                Transition::ReleaseChild.allowed_from(s),
                s == WaitingForParentJob
            );
            assert_eq!(Transition::BeginCompletion.allowed_from(s), s == Processing);
            assert_eq!(
                Transition::Cancel.allowed_from(s),
                matches!(s, Pending | Processing | WaitingForParentJob)
            );
            // Nothing leaves a final state.
            if s.is_final() {
                assert!(
                    [
                        Transition::Accept,
                        Transition::Requeue,
                        Transition::Fail,
                        Transition::Cancel,
                        Transition::Complete
                    ]
                    .iter()
                    .all(|t| !t.allowed_from(s)),
                    "{s:?}"
                );
            }
        }
        assert_eq!(Transition::Requeue.to_state(), Pending);
        assert_eq!(Transition::ParentFailed.to_state(), ParentErrored);
        assert_eq!(initial_state(true), WaitingForParentJob);
        assert_eq!(initial_state(false), Pending);
    }

    #[test]
    fn errors_retry_until_max_failures_and_live_never_retries() {
        let vod = JobType::VodHlsTranscoding;
        assert_eq!(on_error(vod, 1, 5), ErrorOutcome::Retry);
        assert_eq!(on_error(vod, 4, 5), ErrorOutcome::Retry);
        assert_eq!(on_error(vod, 5, 5), ErrorOutcome::Fail);
        assert_eq!(
            on_error(JobType::LiveRtmpHlsTranscoding, 1, 5),
            ErrorOutcome::Fail
        );
        assert_eq!(on_abort(vod), AbortOutcome::Requeue);
        assert_eq!(
            on_abort(JobType::LiveRtmpHlsTranscoding),
            AbortOutcome::Fail(ABORT_NOT_SUPPORTED)
        );
        assert_eq!(
            stall_policy(JobType::VideoTranscription),
            StallPolicy::RequeueAfterVodWindow
        );
        assert_eq!(
            stall_policy(JobType::LiveRtmpHlsTranscoding),
            StallPolicy::FailAfterLiveWindow
        );
        assert!(update_is_ignored(Completed) && update_is_ignored(Completing));
        assert!(!update_is_ignored(Processing));
    }

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
    fn studio_jobs_are_offered_only_with_known_tasks() {
        assert!(studio_tasks_supported(
            [Some("cut"), Some("add-watermark")].into_iter()
        ));
        assert!(!studio_tasks_supported(
            [Some("cut"), Some("blur")].into_iter()
        ));
        assert!(!studio_tasks_supported([None].into_iter()));
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

    #[test]
    fn success_requires_the_files_of_its_type() {
        assert_eq!(
            required_success_files(JobType::VodHlsTranscoding),
            ["videoFile", "resolutionPlaylistFile"]
        );
        assert!(required_success_files(JobType::LiveRtmpHlsTranscoding).is_empty());
        for t in JobType::ALL {
            assert!(
                required_success_files(t)
                    .iter()
                    .all(|f| SUCCESS_FILE_FIELDS.contains(f))
            );
        }
    }
}
