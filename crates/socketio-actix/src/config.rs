//! Timings and limits of a [`Hub`](crate::Hub).

use std::time::Duration;

/// What runs on top of Engine.IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Socket.IO v5 with the hub's namespaces.
    #[default]
    SocketIo,
    /// Every Engine.IO message is sent back as is: the reference server of the
    /// Engine.IO protocol test suite (see the `conformance` example).
    EngineEcho,
}

/// Engine.IO and Socket.IO timings and limits. [`HubConfig::default`] has the reference
/// server's values.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Server ping period, sent to clients as `pingInterval` (default 25 s).
    pub ping_interval: Duration,
    /// How long a pong may take, sent as `pingTimeout` (default 20 s); also bounds a
    /// blocked WebSocket write.
    pub ping_timeout: Duration,
    /// Largest packet (WebSocket) or payload (polling POST) accepted, in bytes, sent as
    /// `maxPayload` (default 1,000,000). Larger ones close the session.
    pub max_payload: usize,
    /// A session that joined no namespace within this delay is closed (default 45 s).
    pub connect_timeout: Duration,
    /// How long a WebSocket probe may take to complete an upgrade (default 10 s).
    pub upgrade_timeout: Duration,
    /// The protocol on top of Engine.IO (default Socket.IO).
    pub mode: Mode,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
            mode: Mode::SocketIo,
        }
    }
}
