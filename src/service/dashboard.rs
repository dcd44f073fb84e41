//! What the dashboard (`/dashboard`) shows beyond the admin and video APIs' own
//! listings, which its pages call directly: runners with whether they hold a socket
//! and the jobs they hold, the queue's counts by state and type, and the jobs that
//! ended minute by minute over the last hour.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime, Timelike};

use crate::db;
use crate::domain::job::{JobState, JobType};
use crate::domain::listing::{JobFilter, MAX_COUNT, Page, Sort};
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::admin::{self, ListPage};
use crate::service::jobs::view::RunnerJobView;
use crate::service::runners::RunnerInfo;

/// A runner as the dashboard shows it.
#[derive(Debug, Clone)]
pub struct RunnerStatus {
    /// The runner as the admin API lists it.
    pub runner: RunnerInfo,
    /// Whether it holds a socket on this instance's hub.
    pub online: bool,
    /// The jobs it is processing (or whose results it is uploading).
    pub jobs: Vec<RunnerJobView>,
}

/// A page of runners, newest first, each with whether it is in `online` (the owners of
/// this instance's `/runners` sockets, which the caller reads from the hub) and the
/// jobs it holds (at most [`MAX_COUNT`] held jobs are read in all).
pub async fn runners(
    ctx: &Context,
    online: &[i64],
    page: Page,
) -> Result<ListPage<RunnerStatus>, ServiceError> {
    let listed = admin::runners(&ctx.db, page, Sort::default()).await?;
    let held = JobFilter {
        states: vec![JobState::Processing, JobState::Completing],
        ..JobFilter::default()
    };
    let all = Page {
        start: 0,
        count: MAX_COUNT,
    };
    let mut by_runner: HashMap<i64, Vec<RunnerJobView>> = HashMap::new();
    for job in admin::jobs(&ctx.db, held, Sort::default(), all).await?.data {
        if let Some(id) = job.job.runner.as_ref().map(|r| r.id) {
            by_runner.entry(id).or_default().push(job.job);
        }
    }
    Ok(ListPage {
        total: listed.total,
        data: listed
            .data
            .into_iter()
            .map(|runner| RunnerStatus {
                online: online.contains(&runner.id),
                jobs: by_runner.remove(&runner.id).unwrap_or_default(),
                runner,
            })
            .collect(),
    })
}

/// How many jobs are in each state and of each type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCounts {
    /// `(state, type, jobs)` for every pair with at least one job.
    pub cells: Vec<(JobState, JobType, i64)>,
}

impl QueueCounts {
    /// Jobs in `state`, whatever their type.
    pub fn in_state(&self, state: JobState) -> i64 {
        self.cells
            .iter()
            .filter(|c| c.0 == state)
            .map(|c| c.2)
            .sum()
    }

    /// Jobs of `job_type`, whatever their state.
    pub fn of_type(&self, job_type: JobType) -> i64 {
        self.cells
            .iter()
            .filter(|c| c.1 == job_type)
            .map(|c| c.2)
            .sum()
    }

    /// Every job.
    pub fn total(&self) -> i64 {
        self.cells.iter().map(|c| c.2).sum()
    }
}

/// The queue's counts (one grouped query).
pub async fn queue_counts(ctx: &Context) -> Result<QueueCounts, ServiceError> {
    let cells = ctx.db.run(db::stats::job_counts).await?;
    Ok(QueueCounts { cells })
}

/// Jobs that ended in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// Completed.
    pub completed: u32,
    /// Errored or cancelled (their dependants are not counted).
    pub failed: u32,
}

/// The jobs that ended in each of the last 60 whole minutes and the current one,
/// oldest first (61 entries; the last is the minute in progress). Jobs deleted by
/// retention are not counted.
pub async fn throughput(ctx: &Context) -> Result<Vec<Minute>, ServiceError> {
    let now = ctx.now();
    let start = minute_floor(now) - Duration::minutes(60);
    let ended = ctx
        .db
        .run(move |conn| db::stats::finished_since(conn, start))
        .await?;
    Ok(per_minute(start, &ended))
}

fn minute_floor(t: NaiveDateTime) -> NaiveDateTime {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// Buckets `ended` (times at or after `start`) into 61 minutes from `start`.
fn per_minute(start: NaiveDateTime, ended: &[(NaiveDateTime, JobState)]) -> Vec<Minute> {
    let mut minutes = vec![Minute::default(); 61];
    for (at, state) in ended {
        let Ok(i) = usize::try_from((*at - start).num_minutes()) else {
            continue;
        };
        let Some(m) = minutes.get_mut(i) else {
            continue;
        };
        match state {
            JobState::Completed => m.completed += 1,
            JobState::Errored | JobState::Cancelled => m.failed += 1,
            _ => {}
        }
    }
    minutes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: u32, sec: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|d| d.and_hms_opt(10, min, sec))
            .unwrap_or_default()
    }

    #[test]
    fn jobs_are_counted_in_the_minute_they_ended() {
        let start = at(0, 0);
        let ended = [
            (at(0, 59), JobState::Completed),
            (at(1, 0), JobState::Completed),
            (at(1, 30), JobState::Errored),
            (at(1, 31), JobState::ParentErrored),
            (at(59, 59), JobState::Cancelled),
        ];
        let m = per_minute(start, &ended);
        assert_eq!(m.len(), 61);
        assert_eq!(
            m[0],
            Minute {
                completed: 1,
                failed: 0
            }
        );
        assert_eq!(
            m[1],
            Minute {
                completed: 1,
                failed: 1
            }
        );
        assert_eq!(
            m[59],
            Minute {
                completed: 0,
                failed: 1
            }
        );
        assert_eq!(m[60], Minute::default());
    }

    #[test]
    fn counts_add_up_by_state_and_by_type() {
        let c = QueueCounts {
            cells: vec![
                (JobState::Pending, JobType::VodHlsTranscoding, 3),
                (JobState::Pending, JobType::VodWebVideoTranscoding, 2),
                (JobState::Completed, JobType::VodHlsTranscoding, 5),
            ],
        };
        assert_eq!(c.in_state(JobState::Pending), 5);
        assert_eq!(c.of_type(JobType::VodHlsTranscoding), 8);
        assert_eq!(c.total(), 10);
        assert_eq!(c.in_state(JobState::Errored), 0);
    }
}
