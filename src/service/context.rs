//! What every use case works with, built once by `startup`.

use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::media::Media;
use crate::metrics::Metrics;
use crate::service::events::EventBus;
use crate::service::jobs::queue::PendingQueue;
use crate::service::queue_depth::QueueDepth;
use crate::service::runner_cache::RunnerCache;
use crate::storage::Storage;

/// The service context: database, storage, media tools, event bus, metrics, settings
/// and clock.
/// Cheap to clone. It holds no transport: the socket hub subscribes to the events.
#[derive(Debug, Clone)]
pub struct Context {
    /// Effective configuration; `server.public_url` is always set.
    pub settings: Arc<Settings>,
    /// Database pool.
    pub db: Db,
    /// In-process event bus.
    pub events: EventBus,
    /// Where sources and outputs live.
    pub storage: Storage,
    /// ffprobe / ffmpeg.
    pub media: Media,
    /// The time every timestamp and cutoff comes from.
    pub clock: Clock,
    /// This application's metrics registry (`/metrics`).
    pub metrics: Metrics,
    /// The pending jobs `/jobs/request` offers, in memory.
    pub queue: PendingQueue,
    /// The runners `/jobs/request` knows, in memory.
    pub runner_cache: RunnerCache,
    /// The queue's depth this instance sampled over the last hour (the dashboard's chart).
    pub queue_depth: QueueDepth,
}

impl Context {
    /// The public origin, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.settings
            .server
            .public_url
            .as_deref()
            .unwrap_or_default()
    }

    /// The current time of [`Context::clock`].
    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }
}
