//! Studio edits (PeerTube's `video-studio-transcoding`, `runner-protocol.md` 3.5): the
//! rules of an edit request as PeerTube's validators apply them
//! (`server/core/helpers/custom-validators/video-studio.ts`), the watermark geometry
//! PeerTube sends, and the names of the task files runners download.

use super::ids::JobUuid;
use super::payloads::CutOptions;

/// Fewest tasks in one edit.
pub const MIN_TASKS: usize = 1;
/// Most tasks in one edit (PeerTube's `CONSTRAINTS_FIELDS.VIDEO_STUDIO.TASKS`).
pub const MAX_TASKS: usize = 10;
/// Watermark width over the video's width (PeerTube's `VIDEO_FILTERS.WATERMARK`).
pub const WATERMARK_SIZE_RATIO: f64 = 1.0 / 10.0;
/// Horizontal margin over the video's width.
pub const WATERMARK_HORIZONTAL_MARGIN_RATIO: f64 = 1.0 / 20.0;
/// Vertical margin over the video's height.
pub const WATERMARK_VERTICAL_MARGIN_RATIO: f64 = 1.0 / 20.0;

/// The task names an edit may hold: those every runner knows (0.0.21 skips jobs with
/// any other, the newest runner would fail them).
pub const TASK_NAMES: [&str; 4] = ["cut", "add-intro", "add-outro", "add-watermark"];

/// Whether task `name` takes a file (intro, outro, watermark).
pub fn takes_file(name: &str) -> bool {
    matches!(name, "add-intro" | "add-outro" | "add-watermark")
}

/// A `cut` task's `start` and `end` (whole seconds, as PeerTube takes them) checked
/// against a video of `duration` seconds: at least one given, `start < end`, both
/// inside the video (the cut keeps `start..end`).
pub fn cut(start: Option<&str>, end: Option<&str>, duration: f64) -> Result<CutOptions, String> {
    let seconds = |what: &str, v: Option<&str>| -> Result<Option<u64>, String> {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("cut: `{what}` must be a whole number of seconds"))
            })
            .transpose()
    };
    let (start, end) = (seconds("start", start)?, seconds("end", end)?);
    if start.is_none() && end.is_none() {
        return Err("cut: give `start`, `end` or both".to_owned());
    }
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Err(format!("cut: `start` ({s}) must be before `end` ({e})"));
    }
    if let Some(s) = start
        && s as f64 >= duration
    {
        return Err(format!(
            "cut: `start` ({s}) is not inside the video ({duration:.3} s long)"
        ));
    }
    if let Some(e) = end
        && e as f64 > duration.ceil()
    {
        return Err(format!(
            "cut: `end` ({e}) is past the end of the video ({duration:.3} s long)"
        ));
    }
    if end == Some(0) {
        return Err("cut: `end` must be after the start of the video".to_owned());
    }
    if start.unwrap_or(0) == 0 && end.is_none_or(|e| e as f64 >= duration) {
        return Err("cut: it would keep the whole video".to_owned());
    }
    Ok(CutOptions {
        start: start.map(|s| s as f64),
        end: end.map(|e| e as f64),
    })
}

/// The name of task `index`'s file in job `job`'s edit, `<job>-<index>.<ext>`: it
/// matches the download route's `^[a-z0-9-]+\.[a-z0-9]{1,8}$`.
pub fn task_file_name(job: JobUuid, index: usize, ext: &str) -> String {
    format!("{job}-{index}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::runner_input::is_task_file_name;

    #[test]
    fn cut_bounds_must_be_inside_the_video() {
        let ok = cut(Some("2"), Some("8"), 10.0).unwrap();
        assert_eq!((ok.start, ok.end), (Some(2.0), Some(8.0)));
        assert_eq!(cut(None, Some("5"), 10.0).unwrap().start, None);
        assert_eq!(cut(Some("3"), None, 10.0).unwrap().end, None);
        // The end may be the (rounded up) end of the video.
        assert!(cut(Some("1"), Some("11"), 10.4).is_ok());
        for (s, e) in [
            (None, None),
            (Some("5"), Some("5")),
            (Some("6"), Some("2")),
            (Some("10"), None),
            (Some("1"), Some("12")),
            (Some("-1"), None),
            (Some("1.5"), None),
            (Some("x"), None),
            (Some("0"), None),
            (Some("0"), Some("10")),
            (None, Some("10")),
            (None, Some("0")),
        ] {
            assert!(cut(s, e, 10.0).is_err(), "{s:?}..{e:?} accepted");
        }
    }

    #[test]
    fn task_file_names_fit_the_download_route() {
        let name = task_file_name(JobUuid::generate(), 3, "png");
        assert!(is_task_file_name(&name), "{name}");
    }
}
