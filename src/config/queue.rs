//! `[queue]` (the in-memory offer index) and `[retention]` (finished jobs).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[queue]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// The offer index (`/jobs/request` answered from memory) and the runner tokens it
    /// checks are re-read from the database at least this often. Changes made through
    /// this server, or another instance with a fan-out, are seen at once; others (a
    /// lost fan-out message, a runner deleted from the CLI) within this bound.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            refresh_interval: Duration::from_secs(5),
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// The jobs of a video are deleted, all together, once every one of them has ended
    /// longer ago than this; the video keeps its state, error and files, and its
    /// resource then lists no jobs. A video with any job still running, waiting or
    /// pending keeps them all. `0s`: jobs are kept as long as their video.
    #[serde(with = "humantime_serde")]
    pub finished_jobs_after: Duration,
    /// How often the purge runs (when enabled).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            finished_jobs_after: Duration::ZERO,
            interval: Duration::from_secs(600),
        }
    }
}
