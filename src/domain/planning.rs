//! Rendition planning: which resolutions and frame rates a source is transcoded to, and
//! the jobs that produce them (`reference-library.md` 4.5, `runner-protocol.md` 5.2).
//!
//! The ladder follows the Django library with its bugs fixed:
//! - the top rendition's frame rate is `output_fps(resolution = top, fps = input fps)`
//!   (the library swapped the arguments and always asked for 24 fps);
//! - a source below every enabled rung still gets one rendition at its own resolution
//!   (the library raised `ValueError` after writing the video);
//! - `always_transcode_original_resolution` makes the source's own resolution the top;
//! - a source whose frame rate is unknown is planned at `fps.average`;
//! - a frame rate below `fps.min` is raised to it (PeerTube raises an error).
//!
//! Nothing is ever upscaled: every rung is at most the source's shorter side.
//! Planning is pure and total except for one refusal ([`PlanError`]), decided before
//! anything is written.

/// Output resolution of audio-only sources merged with a still image
/// (PeerTube's `DEFAULT_AUDIO_RESOLUTION`).
pub const AUDIO_RESOLUTION: u32 = 480;
/// Priority of the jobs that make a video playable (the parent and the top HLS
/// rendition); PeerTube's `JOB_PRIORITY.REQUIRED_TRANSCODING`. Lower runs first.
pub const PRIORITY_REQUIRED: i32 = 100;
/// Priority of the lower rungs, so that other videos become playable before extra
/// renditions are made; PeerTube's `JOB_PRIORITY.OPTIONAL_TRANSCODING`.
pub const PRIORITY_OPTIONAL: i32 = 10_000;

/// Frame-rate rules (`TRANSCODING_FPS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpsRules {
    /// Lowest output frame rate.
    pub min: u32,
    /// Snapping list below `keep_origin_fps_resolution_min`.
    pub standard: Vec<u32>,
    /// Snapping list above `max`.
    pub hd_standard: Vec<u32>,
    /// Frame rate assumed for audio-only sources.
    pub audio_merge: u32,
    /// Above this, low resolutions snap to `standard`; also the default for sources
    /// whose frame rate is unknown.
    pub average: u32,
    /// Above this, frame rates snap to `hd_standard`.
    pub max: u32,
    /// Resolutions from this one up keep the source frame rate (up to `max`).
    pub keep_origin_fps_resolution_min: u32,
}

/// Everything planning needs from the configuration (and the request's overrides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderRules {
    /// Enabled rungs (any order).
    pub enabled: Vec<u32>,
    /// Make the source's own resolution the top rendition.
    pub always_transcode_original_resolution: bool,
    /// Frame-rate rules.
    pub fps: FpsRules,
}

/// What planning needs to know of the source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceFacts {
    /// The shorter displayed side; 0 without a moving picture.
    pub resolution: u32,
    /// Frames per second, when known.
    pub fps: Option<f64>,
    /// No moving picture (audio, possibly with cover art).
    pub audio_only: bool,
    /// Audio-only with a cover image that can serve as the still picture.
    pub has_cover: bool,
}

/// One rendition: resolution (shorter side) and frame rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Shorter side in pixels (0: audio only).
    pub resolution: u32,
    /// Frames per second (0: audio only).
    pub fps: u32,
}

/// The renditions of a source: the top one, then the lower ones ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// The highest rendition (made by the parent job).
    pub top: Rung,
    /// Every enabled rung strictly below the top, ascending.
    pub lower: Vec<Rung>,
}

/// Rounds a frame rate to an integer, ties to even (`29.97` → 30, `24.5` → 24,
/// `25.5` → 26), the rule the Django library used through Python's `round`.
pub fn round_fps(fps: f64) -> u32 {
    if !fps.is_finite() || fps <= 0.0 {
        return 0;
    }
    let r = fps.round_ties_even();
    if r >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        r as u32
    }
}

/// PeerTube's `getClosestFramerateStandard`: the earliest entry of `list` with the
/// smallest `fps mod entry` (not the numerically nearest value: 60 → 30 and 120 → 24
/// with `[24, 25, 30]`). `list` must not be empty or hold 0 (the configuration
/// refuses both); `fps` is returned unchanged otherwise.
pub fn closest(fps: f64, list: &[u32]) -> u32 {
    let mut best: Option<(f64, u32)> = None;
    for &x in list.iter().filter(|x| **x > 0) {
        let rem = fps % f64::from(x);
        if best.is_none_or(|(r, _)| rem < r) {
            best = Some((rem, x));
        }
    }
    best.map_or(round_fps(fps), |(_, x)| x)
}

/// PeerTube's `computeOutputFPS` in its intended argument order: the frame rate of a
/// rendition at `resolution` made from a source at `fps`.
pub fn output_fps(resolution: u32, fps: u32, rules: &FpsRules) -> u32 {
    let mut fps = fps;
    if resolution != 0 && resolution < rules.keep_origin_fps_resolution_min && fps > rules.average {
        fps = closest(f64::from(fps), &rules.standard);
    }
    if fps > rules.max {
        fps = closest(f64::from(fps), &rules.hd_standard);
    }
    fps.max(rules.min)
}

/// The largest even number not above `n` (and at least 2): the source's own resolution
/// as a rendition, never upscaled.
fn to_even_down(n: u32) -> u32 {
    (n - n % 2).max(2)
}

/// The source frame rate planning starts from.
pub fn input_fps(source: &SourceFacts, rules: &FpsRules) -> u32 {
    if source.audio_only {
        return rules.audio_merge;
    }
    match source.fps.map(round_fps) {
        Some(fps) if fps > 0 => fps,
        _ => rules.average,
    }
}

/// The rendition ladder of a source with a picture (a moving one, or the still image
/// an audio-only source is merged with, at [`AUDIO_RESOLUTION`]).
pub fn ladder(source: &SourceFacts, rules: &LadderRules) -> Ladder {
    let fps_in = input_fps(source, &rules.fps);
    let cap = if source.audio_only {
        AUDIO_RESOLUTION
    } else {
        source.resolution
    };
    let mut enabled: Vec<u32> = rules
        .enabled
        .iter()
        .copied()
        .filter(|r| *r > 0 && *r <= cap)
        .collect();
    enabled.sort_unstable();
    enabled.dedup();
    let top = if rules.always_transcode_original_resolution && !source.audio_only {
        to_even_down(cap)
    } else {
        enabled.last().copied().unwrap_or_else(|| to_even_down(cap))
    };
    Ladder {
        top: Rung {
            resolution: top,
            fps: output_fps(top, fps_in, &rules.fps),
        },
        lower: enabled
            .into_iter()
            .filter(|r| *r < top)
            .map(|resolution| Rung {
                resolution,
                fps: output_fps(resolution, fps_in, &rules.fps),
            })
            .collect(),
    }
}

/// Which outputs a video gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outputs {
    /// HLS renditions (fragmented MP4 + playlists).
    pub hls: bool,
    /// MP4 ("web video") renditions.
    pub web_videos: bool,
}

/// The type of a planned job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedKind {
    /// `vod-web-video-transcoding`.
    WebVideo,
    /// `vod-hls-transcoding`.
    Hls,
    /// `vod-audio-merge-transcoding`.
    AudioMerge,
}

/// A job to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedJob {
    /// Its type.
    pub kind: PlannedKind,
    /// Output resolution and frame rate.
    pub rung: Rung,
    /// Lower runs first.
    pub priority: i32,
    /// Index of the job it waits for (always an earlier job).
    pub parent: Option<usize>,
}

/// Why a source cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Neither HLS nor MP4 outputs were asked for.
    #[error("no output is enabled: enable HLS or web videos")]
    NoOutput,
    /// Audio without a picture can only become an audio-only HLS rendition.
    #[error(
        "an audio-only file without cover art can only be transcoded to an audio-only HLS \
         rendition: enable HLS for this video (MP4 renditions need a picture)"
    )]
    AudioOnlyNeedsHls,
}

/// Plans the jobs of a new video as PeerTube's `TranscodingRunnerJobBuilder` does: a
/// parent "optimize" job (MP4 at the top resolution when web videos are on, else HLS;
/// an audio merge for audio with cover art), then chains that wait for it: the top HLS
/// rendition when the parent is not HLS, and one job per lower rung and output kind.
///
/// Audio without cover art (PeerTube would merge it with a default image) becomes one
/// audio-only HLS rendition (`resolution: 0, fps: 0`), which needs HLS enabled.
pub fn plan_jobs(
    source: &SourceFacts,
    rules: &LadderRules,
    outputs: Outputs,
) -> Result<Vec<PlannedJob>, PlanError> {
    if !outputs.hls && !outputs.web_videos {
        return Err(PlanError::NoOutput);
    }
    let job = |kind, rung, priority, parent| PlannedJob {
        kind,
        rung,
        priority,
        parent,
    };
    if source.audio_only && !source.has_cover {
        if !outputs.hls {
            return Err(PlanError::AudioOnlyNeedsHls);
        }
        let audio = Rung {
            resolution: 0,
            fps: 0,
        };
        return Ok(vec![job(PlannedKind::Hls, audio, PRIORITY_REQUIRED, None)]);
    }
    let ladder = ladder(source, rules);
    let parent_kind = if source.audio_only {
        PlannedKind::AudioMerge
    } else if outputs.web_videos {
        PlannedKind::WebVideo
    } else {
        PlannedKind::Hls
    };
    let mut jobs = vec![job(parent_kind, ladder.top, PRIORITY_REQUIRED, None)];
    if outputs.hls && parent_kind != PlannedKind::Hls {
        jobs.push(job(
            PlannedKind::Hls,
            ladder.top,
            PRIORITY_REQUIRED,
            Some(0),
        ));
    }
    for rung in ladder.lower {
        if outputs.web_videos {
            jobs.push(job(PlannedKind::WebVideo, rung, PRIORITY_OPTIONAL, Some(0)));
        }
        if outputs.hls {
            jobs.push(job(PlannedKind::Hls, rung, PRIORITY_OPTIONAL, Some(0)));
        }
    }
    Ok(jobs)
}

#[cfg(test)]
#[path = "planning_tests.rs"]
mod tests;
