//! `[fanout]`: how the events of one instance reach the others (`crate::fanout`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, list};

/// Which channel carries events between instances.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FanoutBackend {
    /// `postgres` when the database is PostgreSQL, else `none`.
    Auto,
    /// One instance: events stay in the process.
    None,
    /// LISTEN/NOTIFY on the job database (or `fanout.postgres_url`).
    Postgres,
    /// Redis pub/sub at `fanout.redis_url`.
    Redis,
    /// Redis pub/sub on the master that `fanout.sentinels` name for
    /// `fanout.sentinel_master`.
    RedisSentinel,
}

/// `[fanout]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FanoutSettings {
    /// `auto`, `none`, `postgres`, `redis` or `redis-sentinel`.
    pub backend: FanoutBackend,
    /// Channel name (PostgreSQL NOTIFY channel, Redis pub/sub channel). Instances that
    /// share it share events; at most 63 bytes.
    pub channel: String,
    /// PostgreSQL server for LISTEN/NOTIFY, when it must differ from `database.url`
    /// (e.g. the database is reached through a transaction-pooling PgBouncer, which
    /// cannot hold a LISTEN). Unset: the database URL (with `database.password`).
    pub postgres_url: Option<Secret>,
    /// Redis server of the `redis` backend.
    pub redis_url: String,
    /// Password of the Redis server (of the master, with `redis-sentinel`); replaces
    /// one in `redis_url`.
    pub redis_password: Option<Secret>,
    /// Sentinel addresses, `host:port` (or `redis://host:port` URLs).
    #[serde(deserialize_with = "list::deserialize")]
    pub sentinels: Vec<String>,
    /// Name of the master the sentinels monitor.
    pub sentinel_master: String,
    /// Longest wait between two reconnection attempts (the first is after 250 ms, then
    /// doubling).
    #[serde(with = "humantime_serde")]
    pub reconnect_max_delay: Duration,
}

impl Default for FanoutSettings {
    fn default() -> Self {
        FanoutSettings {
            backend: FanoutBackend::Auto,
            channel: "peertube-runner-connector".to_owned(),
            postgres_url: None,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_password: None,
            sentinels: Vec::new(),
            sentinel_master: "mymaster".to_owned(),
            reconnect_max_delay: Duration::from_secs(30),
        }
    }
}

impl FanoutSettings {
    /// Checks what serde cannot.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(format!("fanout.{m}")));
        if self.channel.is_empty()
            || self.channel.len() > 63
            || !self
                .channel
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return bad("channel must be 1 to 63 ASCII letters, digits, `-`, `_`, `.` or `:`");
        }
        match self.backend {
            FanoutBackend::RedisSentinel if self.sentinels.is_empty() => {
                bad("sentinels must name at least one sentinel (host:port) for redis-sentinel")
            }
            FanoutBackend::RedisSentinel if self.sentinel_master.is_empty() => {
                bad("sentinel_master must name the monitored master for redis-sentinel")
            }
            FanoutBackend::Redis if self.redis_url.is_empty() => {
                bad("redis_url must be set for the redis backend")
            }
            _ => Ok(()),
        }
    }
}
