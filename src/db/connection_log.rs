//! Logging of database connection failures, one outage at a time. r2d2 reports every
//! failed attempt, and retries each missing connection with a back-off capped at half
//! the connect timeout: by default a 77 s outage wrote 329 ERROR lines. Instead, an
//! outage logs its first error, then at most one summary per interval ("N more
//! database connection errors in the last M s"), and one line when a connection
//! succeeds again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::r2d2;

/// Default interval between two summaries of one outage.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(30);

/// What to log about a connection event.
#[derive(Debug, Clone, PartialEq)]
enum Report {
    /// The first failure of an outage.
    First { error: String },
    /// Failures since the last line.
    Summary {
        count: u64,
        over: Duration,
        latest: String,
    },
    /// A connection succeeded after an outage.
    Restored { after: Duration, errors: u64 },
}

#[derive(Debug)]
struct Outage {
    started: Instant,
    /// Start of the current summary window.
    window: Instant,
    in_window: u64,
    total: u64,
    latest: String,
}

#[derive(Debug, Default)]
struct Tracker {
    every: Duration,
    outage: Option<Outage>,
}

impl Tracker {
    fn on_error(&mut self, now: Instant, error: String) -> Option<Report> {
        let Some(o) = &mut self.outage else {
            self.outage = Some(Outage {
                started: now,
                window: now,
                in_window: 0,
                total: 1,
                latest: error.clone(),
            });
            return Some(Report::First { error });
        };
        o.total += 1;
        o.in_window += 1;
        o.latest = error;
        let over = now.saturating_duration_since(o.window);
        if over < self.every {
            return None;
        }
        let report = Report::Summary {
            count: o.in_window,
            over,
            latest: o.latest.clone(),
        };
        o.window = now;
        o.in_window = 0;
        Some(report)
    }

    fn on_connected(&mut self, now: Instant) -> Option<Report> {
        self.outage.take().map(|o| Report::Restored {
            after: now.saturating_duration_since(o.started),
            errors: o.total,
        })
    }
}

/// r2d2's error and event handler for a pool (see the module documentation).
#[derive(Debug, Clone)]
pub struct ConnectionLog {
    database: Arc<str>,
    tracker: Arc<Mutex<Tracker>>,
}

impl ConnectionLog {
    /// A log for the pool of `database` (a label without credentials), summarising an
    /// outage's errors every `every`.
    pub fn new(database: &str, every: Duration) -> ConnectionLog {
        ConnectionLog {
            database: database.into(),
            tracker: Arc::new(Mutex::new(Tracker {
                every,
                outage: None,
            })),
        }
    }

    fn track<T>(&self, f: impl FnOnce(&mut Tracker) -> T) -> T {
        f(&mut self.tracker.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn emit(&self, report: Report) {
        let database = &*self.database;
        match report {
            Report::First { error } => {
                tracing::error!(database, %error, "database connection failed");
            }
            Report::Summary {
                count,
                over,
                latest,
            } => tracing::error!(
                database,
                errors = count,
                latest_error = %latest,
                "{count} more database connection errors in the last {} s",
                over.as_secs()
            ),
            Report::Restored { after, errors } => tracing::info!(
                database,
                errors,
                "database connection restored after {} s ({errors} connection errors)",
                after.as_secs()
            ),
        }
    }
}

impl r2d2::HandleError<r2d2::Error> for ConnectionLog {
    fn handle_error(&self, error: r2d2::Error) {
        let now = Instant::now();
        if let Some(report) = self.track(|t| t.on_error(now, error.to_string())) {
            self.emit(report);
        }
    }
}

impl r2d2::HandleEvent for ConnectionLog {
    fn handle_acquire(&self, _: r2d2::event::AcquireEvent) {
        let now = Instant::now();
        if let Some(report) = self.track(|t| t.on_connected(now)) {
            self.emit(report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_logs_its_first_error_then_one_summary_per_interval_then_the_recovery() {
        let mut t = Tracker {
            every: Duration::from_secs(30),
            outage: None,
        };
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_millis(s * 250);
        assert_eq!(t.on_connected(at(0)), None, "no outage, nothing to say");
        let mut reports = Vec::new();
        // 77 s of errors, four per second, as r2d2's retries of several connections.
        for i in 0..308 {
            reports.extend(t.on_error(at(i), format!("refused {i}")));
        }
        reports.extend(t.on_connected(at(308)));
        assert_eq!(
            reports,
            vec![
                Report::First {
                    error: "refused 0".into()
                },
                Report::Summary {
                    count: 120,
                    over: Duration::from_secs(30),
                    latest: "refused 120".into()
                },
                Report::Summary {
                    count: 120,
                    over: Duration::from_secs(30),
                    latest: "refused 240".into()
                },
                Report::Restored {
                    after: Duration::from_secs(77),
                    errors: 308
                },
            ]
        );
        // The next outage starts afresh.
        assert!(matches!(
            t.on_error(at(400), "again".into()),
            Some(Report::First { .. })
        ));
    }
}
