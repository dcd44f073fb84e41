//! The runners' socket hub: the `/runners` namespace of the Engine.IO v4 / Socket.IO v5
//! server ([`socketio_actix`]) served at `/socket.io/` on the API port, through which
//! runners learn that jobs are available.
//!
//! - [`runners`]: the `/runners` namespace (PeerTube's runner-token check, calling
//!   `service` through the callback it is given).
//! - [`notifier`]: event bus → `available-jobs` broadcasts and closing removed runners'
//!   sockets.
//!
//! This module holds no database handle: `startup` hands it callbacks into `service`.
//! [`gauges`] reads the hub for `/metrics`.

pub mod notifier;
pub mod runners;

use std::future::Future;

use socketio_actix::HubConfig;

use crate::config::SocketSettings;
use crate::error::ServiceError;

pub use socketio_actix::{Closed, HubStats};

/// The runners' hub: sockets of `/runners` are owned by their runner's id.
pub type Hub = socketio_actix::Hub<i64>;

/// The hub's timings and limits from `[socket]`.
pub fn hub_config(s: &SocketSettings) -> HubConfig {
    HubConfig {
        ping_interval: s.ping_interval,
        ping_timeout: s.ping_timeout,
        max_payload: s.max_payload,
        connect_timeout: s.connect_timeout,
        upgrade_timeout: s.upgrade_timeout,
        ..HubConfig::default()
    }
}

/// The service's hub: namespace `/runners`, whose runner tokens `authenticate` checks
/// (it returns the runner's id; see [`runners::namespace`]).
pub fn runners_hub<F, Fut>(settings: &SocketSettings, authenticate: F) -> Hub
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<i64, ServiceError>> + Send + 'static,
{
    Hub::builder(hub_config(settings))
        .namespace(runners::NAMESPACE, runners::namespace(authenticate))
        .build()
}

/// The hub's state for `/metrics`: sessions by transport, the distinct runners with a
/// socket in `/runners` (never their names or ids), the broadcast counters.
pub fn gauges(hub: &Hub) -> crate::metrics::scrape::SocketGauges {
    let stats = hub.stats();
    let mut runners = hub.owners_in(runners::NAMESPACE);
    runners.sort_unstable();
    runners.dedup();
    crate::metrics::scrape::SocketGauges {
        websocket_sessions: stats.websocket_sessions,
        polling_sessions: stats.polling_sessions,
        runners_connected: runners.len() as u64,
        broadcasts: stats.broadcasts,
        broadcast_messages: stats.broadcast_messages,
    }
}
