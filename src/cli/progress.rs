//! What `video submit` shows while it uploads and while the video transcodes: a
//! progress bar (indicatif) when standard error is a terminal, plain lines otherwise
//! (logs, CI, tests read them): `upload 40% (1.2 MiB / 3.0 MiB)` at every tenth of the
//! upload, `transcoding 50% (2/4 jobs done, playable)` whenever that changes.
//! Standard output is left to the result (the video's UUID, or its JSON).

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on standard error (a terminal).
    Bar,
    /// One line per step on standard error.
    Lines,
}

impl Mode {
    /// A bar when standard error is a terminal, lines otherwise.
    pub fn detect() -> Mode {
        if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// `n` bytes for people (`3.4 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Upload progress.
pub struct Upload {
    total: u64,
    bar: Option<ProgressBar>,
    /// The last tenth printed (lines mode).
    printed: Option<u64>,
}

impl Upload {
    /// Starts showing an upload of `total` bytes.
    pub fn new(mode: Mode, total: u64) -> Upload {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "upload    [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let mut upload = Upload {
            total,
            bar,
            printed: None,
        };
        upload.set(0);
        upload
    }

    /// `sent` bytes are sent.
    pub fn set(&mut self, sent: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(sent);
            return;
        }
        let tenth = (sent.saturating_mul(10))
            .checked_div(self.total)
            .unwrap_or(10)
            .min(10);
        if self.printed.is_none_or(|p| tenth > p) {
            self.printed = Some(tenth);
            line(&format!(
                "upload {}% ({} / {})",
                tenth * 10,
                bytes(sent.min(self.total)),
                bytes(self.total)
            ));
        }
    }

    /// The upload ended (the answer came).
    pub fn finish(&mut self) {
        self.set(self.total);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Where a video's jobs are, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The video state's name (`transcoding`, `playable`, `published`, `failed`).
    pub state: String,
    /// Jobs that ended.
    pub done: usize,
    /// Jobs in all (cancelled ones included).
    pub jobs: usize,
    /// 0..100: completed jobs count 100, processing ones their progress.
    pub percent: u64,
}

impl Summary {
    /// The summary of a video resource.
    pub fn of(video: &Value) -> Summary {
        let state = video["state"]["name"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let jobs = video["jobs"].as_array().cloned().unwrap_or_default();
        let mut points = 0u64;
        let mut done = 0;
        for job in &jobs {
            // RunnerJobState ids: 3 completed, 4 errored, 6, 7, 8 cancelled or failed
            // with their parent; 2 processing.
            match job["state"]["id"].as_i64() {
                Some(3) => {
                    done += 1;
                    points += 100;
                }
                Some(4 | 6 | 7 | 8) => done += 1,
                Some(2) => points += job["progress"].as_u64().unwrap_or(0).min(100),
                _ => {}
            }
        }
        let percent = points.checked_div(jobs.len() as u64).unwrap_or(0);
        Summary {
            state,
            done,
            jobs: jobs.len(),
            percent,
        }
    }
}

/// Transcoding progress.
pub struct Transcoding {
    bar: Option<ProgressBar>,
    last: Option<Summary>,
}

impl Transcoding {
    /// Starts showing a video's transcoding.
    pub fn new(mode: Mode) -> Transcoding {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("transcode [{bar:40}] {pos:>3}% {msg} ({elapsed})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Transcoding { bar, last: None }
    }

    /// The video is now `video`.
    pub fn update(&mut self, video: &Value) {
        let s = Summary::of(video);
        if self.last.as_ref() == Some(&s) {
            return;
        }
        let text = format!("{}/{} jobs done, {}", s.done, s.jobs, s.state);
        match &self.bar {
            Some(bar) => {
                bar.set_position(s.percent);
                bar.set_message(text);
            }
            None => line(&format!("transcoding {}% ({text})", s.percent)),
        }
        self.last = Some(s);
    }

    /// The wait ended.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_read_for_people() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }

    #[test]
    fn a_video_is_summed_up_by_its_jobs() {
        let video = json!({"state": {"name": "playable"}, "jobs": [
            {"state": {"id": 3}}, {"state": {"id": 2}, "progress": 50},
            {"state": {"id": 5}, "progress": null}, {"state": {"id": 6}}]});
        assert_eq!(
            Summary::of(&video),
            Summary {
                state: "playable".to_owned(),
                done: 2,
                jobs: 4,
                percent: 37
            }
        );
        let none = json!({"state": {"name": "importing"}, "jobs": []});
        assert_eq!(Summary::of(&none).percent, 0);
    }
}
