//! A video's progress (0–100) from its transcoding jobs: each job counts in proportion
//! to the size of the rendition it makes (pixels per second of output), so the 1080p
//! rendition weighs more than the 360p one, as it takes longer.

use super::job::JobState;

/// Resolution a job without a picture (audio only) counts as.
const AUDIO_RESOLUTION: u64 = 144;
/// Frame rate a job counts with when it has none.
const DEFAULT_FPS: u64 = 30;

/// What a job contributes to its video's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobShare {
    /// Output resolution (shorter side; 0 for audio).
    pub resolution: u32,
    /// Output frame rate (0 when unknown).
    pub fps: u32,
    /// Where the job is.
    pub state: JobState,
    /// The runner's last reported progress (0–100), while processing.
    pub progress: Option<i32>,
}

/// The weight of a rendition: its pixels per second, up to the aspect ratio (the same
/// for every rendition of a video), so `resolution² × fps`.
pub fn weight(resolution: u32, fps: u32) -> u64 {
    let r = match u64::from(resolution) {
        0 => AUDIO_RESOLUTION,
        r => r,
    };
    let fps = match u64::from(fps) {
        0 => DEFAULT_FPS,
        f => f,
    };
    r * r * fps
}

/// How far a job is, 0.0–1.0; `None` for a job that will never finish (errored or
/// cancelled): it counts for nothing.
fn done(share: &JobShare) -> Option<f64> {
    match share.state {
        JobState::Completed | JobState::Completing => Some(1.0),
        JobState::Processing => Some(f64::from(share.progress.unwrap_or(0).clamp(0, 100)) / 100.0),
        JobState::Pending | JobState::WaitingForParentJob => Some(0.0),
        JobState::Errored
        | JobState::Cancelled
        | JobState::ParentErrored
        | JobState::ParentCancelled => None,
    }
}

/// The video's progress, 0–100: the weighted mean of its jobs' progress, rounded down,
/// and 100 only once every counted job completed (never while one is still running).
/// Jobs that failed or were cancelled are left out; with no job left, 0.
pub fn video_progress(jobs: &[JobShare]) -> u8 {
    let (mut total, mut reached, mut unfinished) = (0u128, 0f64, false);
    for share in jobs {
        let Some(fraction) = done(share) else {
            continue;
        };
        let w = weight(share.resolution, share.fps);
        total += u128::from(w);
        reached += fraction * w as f64;
        unfinished |= share.state != JobState::Completed;
    }
    if total == 0 {
        return 0;
    }
    let percent = (reached / total as f64 * 100.0).floor().clamp(0.0, 100.0) as u8;
    if unfinished { percent.min(99) } else { percent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    fn job(resolution: u32, fps: u32, state: JobState, progress: Option<i32>) -> JobShare {
        JobShare {
            resolution,
            fps,
            state,
            progress,
        }
    }

    #[test]
    fn weights_follow_the_rendition_size() {
        assert_eq!(weight(720, 30), 4 * weight(360, 30));
        assert_eq!(weight(720, 60), 2 * weight(720, 30));
        assert_eq!(weight(0, 0), weight(144, 30));
        assert!(weight(1080, 30) > weight(720, 30) + weight(480, 30) + weight(360, 30));
    }

    #[test]
    fn the_bigger_rendition_moves_the_video_more() {
        // 720p half done, 360p pending: 720p is 4/5 of the work, so 40 %.
        let jobs = [
            job(720, 30, Processing, Some(50)),
            job(360, 30, WaitingForParentJob, None),
        ];
        assert_eq!(video_progress(&jobs), 40);
        // The other way round: 360p half done is a tenth of the work.
        let jobs = [
            job(720, 30, Pending, None),
            job(360, 30, Processing, Some(50)),
        ];
        assert_eq!(video_progress(&jobs), 10);
    }

    #[test]
    fn a_hundred_only_when_every_job_completed() {
        assert_eq!(video_progress(&[]), 0);
        assert_eq!(video_progress(&[job(720, 30, Completed, None)]), 100);
        assert_eq!(
            video_progress(&[
                job(720, 30, Completing, None),
                job(144, 30, Completed, None)
            ]),
            99
        );
        assert_eq!(
            video_progress(&[
                job(720, 30, Completed, None),
                job(144, 30, Processing, Some(99))
            ]),
            99
        );
        // Failed and cancelled jobs count for nothing.
        assert_eq!(
            video_progress(&[
                job(720, 30, Completed, None),
                job(1080, 30, Cancelled, None)
            ]),
            100
        );
        assert_eq!(video_progress(&[job(720, 30, Errored, Some(80))]), 0);
    }

    #[test]
    fn progress_is_clamped_and_monotonic_in_each_job() {
        let at = |p| {
            video_progress(&[
                job(720, 30, Processing, Some(p)),
                job(360, 30, Pending, None),
            ])
        };
        assert_eq!(at(-5), 0);
        assert_eq!(at(500), 80);
        let mut last = 0;
        for p in 0..=100 {
            assert!(at(p) >= last);
            last = at(p);
        }
    }
}
