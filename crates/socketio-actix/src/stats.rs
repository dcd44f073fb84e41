//! The hub's counters, and what a shutdown closed.

use std::sync::atomic::AtomicU64;

#[cfg(doc)]
use crate::Hub;
use crate::hub::TransportKind;

/// A snapshot of a hub's counters (metrics-ready).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    /// Engine.IO sessions on HTTP long-polling (upgrading ones included).
    pub polling_sessions: u64,
    /// Engine.IO sessions on WebSocket.
    pub websocket_sessions: u64,
    /// Socket.IO sockets joined to any namespace.
    pub namespace_sockets: u64,
    /// Broadcasts made ([`Hub::broadcast`] and [`Hub::emit_to_owner`] calls).
    pub broadcasts: u64,
    /// Messages queued to sockets by those calls.
    pub broadcast_messages: u64,
    /// Sockets disconnected by [`Hub::disconnect_owner`].
    pub kicked: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub polling: AtomicU64,
    pub websocket: AtomicU64,
    pub members: AtomicU64,
    pub broadcasts: AtomicU64,
    pub broadcast_messages: AtomicU64,
    pub kicked: AtomicU64,
}

/// What [`Hub::shutdown`] closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Closed {
    /// Engine.IO sessions on WebSocket.
    pub websocket: usize,
    /// Engine.IO sessions on HTTP long-polling (upgrading ones included).
    pub polling: usize,
    /// Socket.IO sockets these sessions had joined to namespaces.
    pub namespace_sockets: u64,
}

impl Closed {
    /// Engine.IO sessions closed.
    pub fn sessions(&self) -> usize {
        self.websocket + self.polling
    }
}

impl Counters {
    /// The session counter of a transport.
    pub fn transport(&self, t: TransportKind) -> &AtomicU64 {
        match t {
            TransportKind::Polling | TransportKind::Upgrading => &self.polling,
            TransportKind::Websocket => &self.websocket,
        }
    }
}
