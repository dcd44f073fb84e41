//! Everything handlers need, built once by `startup` and cloned into each worker.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Db;
use crate::media::Media;
use crate::service::events::EventBus;
use crate::socket::Hub;
use crate::storage::Storage;

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
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
    /// Socket.IO hub (runners connected at `/socket.io/`).
    pub hub: Hub,
}

impl AppState {
    /// The public origin, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.settings
            .server
            .public_url
            .as_deref()
            .unwrap_or_default()
    }
}
