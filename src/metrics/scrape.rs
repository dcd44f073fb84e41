//! The families read at scrape time: what the service gathers into a [`Snapshot`]
//! (one grouped query on the database, the socket hub's counters, the pool's state),
//! turned into a registry of their own for one encoding.
//!
//! - `prc_jobs{state, type}`: jobs in each unfinished state (pending,
//!   waiting_for_parent_job, processing, completing), every combination listed (0
//!   included). Final states are not counted here: they only grow, so counting them
//!   would make every scrape cost more as history accumulates; their rate is
//!   `prc_jobs_ended_total`.
//! - `prc_runners_registered`; `prc_database_up` (0 when the scrape's query failed, the
//!   two families above then missing).
//! - `prc_runners_connected` (runners with a socket on this instance),
//!   `prc_socket_sessions{transport}`, `prc_socket_broadcasts_total`,
//!   `prc_socket_broadcast_messages_total`.
//! - `prc_db_pool_connections{state}` (idle, in_use), `prc_db_pool_max_connections`,
//!   `prc_db_pool_waiting` (callers waiting for a connection).

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

use super::PREFIX;
use super::jobs::state_name;
use crate::domain::job::{JobState, JobType};

/// What the database says at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseCounts {
    /// Jobs by unfinished state and type (combinations without jobs may be absent).
    pub jobs: Vec<(JobState, JobType, i64)>,
    /// Runners registered.
    pub runners_registered: i64,
}

/// The pool's state at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolGauges {
    /// `database.max_connections`.
    pub max: u32,
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// Callers waiting for a connection.
    pub waiting: u64,
}

/// The socket hub's state at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketGauges {
    /// Engine.IO sessions on WebSocket.
    pub websocket_sessions: u64,
    /// Engine.IO sessions on HTTP long-polling (upgrading ones included).
    pub polling_sessions: u64,
    /// Distinct runners with a socket in `/runners` on this instance.
    pub runners_connected: u64,
    /// Broadcasts made since the start.
    pub broadcasts: u64,
    /// Messages those broadcasts queued to sockets.
    pub broadcast_messages: u64,
}

/// Everything read at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `None` when the database could not be read.
    pub database: Option<DatabaseCounts>,
    /// The pool.
    pub pool: PoolGauges,
    /// The socket hub.
    pub sockets: SocketGauges,
}

fn gauge(v: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Snapshot {
    /// The snapshot as a registry of its own (names prefixed as the recorded ones).
    pub(super) fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix(PREFIX);
        let up = i64::from(self.database.is_some());
        r.register(
            "database_up",
            "1 when this scrape could read the database, else 0 (prc_jobs and \
             prc_runners_registered are then missing)",
            ConstGauge::new(up),
        );
        if let Some(db) = &self.database {
            let jobs = Family::<[(&str, &str); 2], Gauge>::default();
            for state in JobState::ALL.into_iter().filter(|s| !s.is_final()) {
                for job_type in JobType::ALL {
                    let n = db
                        .jobs
                        .iter()
                        .filter(|(s, t, _)| *s == state && *t == job_type)
                        .map(|(_, _, n)| n)
                        .sum::<i64>();
                    jobs.get_or_create(&[
                        ("state", state_name(state)),
                        ("type", job_type.as_str()),
                    ])
                    .set(n);
                }
            }
            r.register(
                "jobs",
                "Jobs in each unfinished state, by type (from the database: the same on \
                 every instance)",
                jobs,
            );
            r.register(
                "runners_registered",
                "Runners registered (from the database: the same on every instance)",
                ConstGauge::new(db.runners_registered),
            );
        }
        let s = &self.sockets;
        r.register(
            "runners_connected",
            "Runners with a socket in /runners on this instance",
            gauge(s.runners_connected),
        );
        let sessions = Family::<[(&str, &str); 1], Gauge>::default();
        for (transport, n) in [
            ("websocket", s.websocket_sessions),
            ("polling", s.polling_sessions),
        ] {
            sessions
                .get_or_create(&[("transport", transport)])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        r.register(
            "socket_sessions",
            "Engine.IO sessions on this instance by transport (polling includes sessions \
             upgrading to WebSocket)",
            sessions,
        );
        r.register(
            "socket_broadcasts",
            "Broadcasts made by this instance's socket hub (available-jobs, …)",
            ConstCounter::new(s.broadcasts),
        );
        r.register(
            "socket_broadcast_messages",
            "Messages queued to sockets by those broadcasts",
            ConstCounter::new(s.broadcast_messages),
        );
        let p = &self.pool;
        let connections = Family::<[(&str, &str); 1], Gauge>::default();
        connections
            .get_or_create(&[("state", "idle")])
            .set(i64::from(p.idle));
        connections
            .get_or_create(&[("state", "in_use")])
            .set(i64::from(p.open.saturating_sub(p.idle)));
        r.register(
            "db_pool_connections",
            "Open database connections of this instance's pool, idle or in use",
            connections,
        );
        r.register(
            "db_pool_max_connections",
            "Size of the pool (database.max_connections)",
            ConstGauge::new(i64::from(p.max)),
        );
        r.register(
            "db_pool_waiting",
            "Callers waiting for a database connection",
            gauge(p.waiting),
        );
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Format, Metrics};

    fn render(s: &Snapshot) -> String {
        Metrics::new().render(s, Format::Prometheus).unwrap()
    }

    #[test]
    fn every_unfinished_state_and_type_is_listed_and_final_states_never() {
        let text = render(&Snapshot {
            database: Some(DatabaseCounts {
                jobs: vec![(JobState::Pending, JobType::VodHlsTranscoding, 3)],
                runners_registered: 2,
            }),
            ..Snapshot::default()
        });
        assert!(text.contains("prc_jobs{state=\"pending\",type=\"vod-hls-transcoding\"} 3\n"));
        assert!(
            text.contains("prc_jobs{state=\"completing\",type=\"generate-video-storyboard\"} 0\n")
        );
        assert_eq!(text.matches("\nprc_jobs{").count(), 4 * JobType::ALL.len());
        assert!(!text.contains("state=\"completed\""), "{text}");
        assert!(text.contains("prc_runners_registered 2\n"));
        assert!(text.contains("prc_database_up 1\n"));
    }

    #[test]
    fn an_unreadable_database_leaves_its_families_out_and_says_so() {
        let text = render(&Snapshot {
            database: None,
            pool: PoolGauges {
                max: 4,
                open: 3,
                idle: 1,
                waiting: 5,
            },
            ..Snapshot::default()
        });
        assert!(text.contains("prc_database_up 0\n"), "{text}");
        assert!(!text.contains("prc_jobs{"));
        assert!(!text.contains("# TYPE prc_runners_registered"));
        assert!(!text.contains("# TYPE prc_jobs "));
        assert!(text.contains("prc_db_pool_connections{state=\"in_use\"} 2\n"));
        assert!(text.contains("prc_db_pool_connections{state=\"idle\"} 1\n"));
        assert!(text.contains("prc_db_pool_waiting 5\n"));
        assert!(text.contains("prc_db_pool_max_connections 4\n"));
    }
}
