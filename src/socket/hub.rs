//! The hub: the registry of live Engine.IO sessions and of the Socket.IO sockets joined
//! to each namespace, broadcasting, and counters. No globals: one `Hub` value lives in
//! `AppState` (the conformance example builds its own). Sessions and sockets register
//! through RAII guards owned by their connection task, so every way a task ends
//! (close, timeout, error, panic) unregisters them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytestring::ByteString;
use serde_json::json;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use super::namespace::Namespace;
use super::session::Input;
use super::socketio;
use crate::config::SocketSettings;

/// What runs on top of Engine.IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Socket.IO v5 with the hub's namespaces (the service).
    SocketIo,
    /// Every message is sent back as is: the reference server of the Engine.IO
    /// protocol test suite (conformance example only).
    EngineEcho,
}

/// Engine.IO and Socket.IO timings and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    /// Server ping period (`pingInterval`).
    pub ping_interval: Duration,
    /// How long a pong may take (`pingTimeout`); also bounds a blocked write.
    pub ping_timeout: Duration,
    /// Largest packet or polling payload accepted (`maxPayload`, bytes).
    pub max_payload: usize,
    /// A session that joined no namespace within this delay is closed.
    pub connect_timeout: Duration,
    /// How long a WebSocket probe may take to complete an upgrade.
    pub upgrade_timeout: Duration,
    /// The protocol on top of Engine.IO.
    pub mode: Mode,
}

impl HubConfig {
    /// The service's configuration from `[socket]`.
    pub fn from_settings(s: &SocketSettings) -> HubConfig {
        HubConfig {
            ping_interval: s.ping_interval,
            ping_timeout: s.ping_timeout,
            max_payload: s.max_payload,
            connect_timeout: s.connect_timeout,
            upgrade_timeout: s.upgrade_timeout,
            mode: Mode::SocketIo,
        }
    }
}

/// Current transport of a session, shared with the HTTP handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling = 0,
    /// HTTP long-polling while a WebSocket probe is under way.
    Upgrading = 1,
    /// WebSocket.
    Websocket = 2,
}

impl TransportKind {
    fn from_u8(v: u8) -> TransportKind {
        match v {
            0 => TransportKind::Polling,
            1 => TransportKind::Upgrading,
            _ => TransportKind::Websocket,
        }
    }
}

/// A snapshot of the hub's counters (metrics-ready).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    /// Engine.IO sessions on HTTP long-polling (upgrading ones included).
    pub polling_sessions: u64,
    /// Engine.IO sessions on WebSocket.
    pub websocket_sessions: u64,
    /// Socket.IO sockets joined to any namespace.
    pub namespace_sockets: u64,
    /// Broadcasts made.
    pub broadcasts: u64,
    /// Messages queued to sockets by broadcasts.
    pub broadcast_messages: u64,
    /// Sockets closed because their owner went away.
    pub kicked: u64,
}

#[derive(Default)]
struct Counters {
    polling: AtomicU64,
    websocket: AtomicU64,
    members: AtomicU64,
    broadcasts: AtomicU64,
    broadcast_messages: AtomicU64,
    kicked: AtomicU64,
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

/// Per-session state the HTTP handlers read and update.
#[derive(Debug)]
pub(crate) struct SessionShared {
    transport: AtomicU8,
    /// A polling POST is being read (two at once close the session).
    pub posting: AtomicBool,
}

impl SessionShared {
    /// The current transport.
    pub fn transport(&self) -> TransportKind {
        TransportKind::from_u8(self.transport.load(Ordering::Acquire))
    }

    /// Polling → upgrading, if nobody else started an upgrade.
    pub fn begin_upgrade(&self) -> bool {
        self.transport
            .compare_exchange(
                TransportKind::Polling as u8,
                TransportKind::Upgrading as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// A session as the registry holds it.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub tx: UnboundedSender<Input>,
    pub shared: Arc<SessionShared>,
}

struct Member {
    wire_nsp: String,
    owner: Option<i64>,
    tx: UnboundedSender<Input>,
}

struct Inner {
    config: HubConfig,
    namespaces: HashMap<String, Arc<dyn Namespace>>,
    sessions: Mutex<HashMap<Arc<str>, SessionHandle>>,
    members: Mutex<HashMap<String, HashMap<u64, Member>>>,
    next_member: AtomicU64,
    counters: Counters,
    /// Set by [`Hub::shutdown`]: no new session is opened.
    closing: AtomicBool,
    /// Woken whenever a session ends.
    session_ended: Notify,
}

/// The socket hub. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// A hub serving `namespaces` (canonical names such as `/runners`).
    pub fn new(config: HubConfig, namespaces: Vec<(String, Arc<dyn Namespace>)>) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                config,
                namespaces: namespaces
                    .into_iter()
                    .map(|(name, ns)| (socketio::normalize_namespace(&name), ns))
                    .collect(),
                sessions: Mutex::new(HashMap::new()),
                members: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
                counters: Counters::default(),
                closing: AtomicBool::new(false),
                session_ended: Notify::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// The namespace registered under the canonical name `nsp`.
    pub fn namespace(&self, nsp: &str) -> Option<Arc<dyn Namespace>> {
        self.inner.namespaces.get(nsp).cloned()
    }

    /// Current counters.
    pub fn stats(&self) -> HubStats {
        let c = &self.inner.counters;
        HubStats {
            polling_sessions: c.polling.load(Ordering::Relaxed),
            websocket_sessions: c.websocket.load(Ordering::Relaxed),
            namespace_sockets: c.members.load(Ordering::Relaxed),
            broadcasts: c.broadcasts.load(Ordering::Relaxed),
            broadcast_messages: c.broadcast_messages.load(Ordering::Relaxed),
            kicked: c.kicked.load(Ordering::Relaxed),
        }
    }

    /// Number of sockets joined to the canonical namespace `nsp`.
    pub fn sockets_in(&self, nsp: &str) -> usize {
        lock(&self.inner.members).get(nsp).map_or(0, HashMap::len)
    }

    /// Emits the event `name` (no arguments) to every socket of the canonical namespace
    /// `nsp`; returns how many sockets it was queued to. Never blocks: each socket's
    /// connection task writes it out.
    pub fn broadcast(&self, nsp: &str, name: &str) -> usize {
        let data = json!([name]);
        let encode = |wire: &str| {
            ByteString::from(socketio::encode(&socketio::Packet::event(
                wire,
                data.clone(),
                0,
            )))
        };
        let canonical = encode(nsp);
        let mut sent = 0;
        if let Some(members) = lock(&self.inner.members).get(nsp) {
            for m in members.values() {
                let frame = if m.wire_nsp == nsp {
                    canonical.clone()
                } else {
                    encode(&m.wire_nsp)
                };
                if m.tx.send(Input::Emit(frame)).is_ok() {
                    sent += 1;
                }
            }
        }
        let c = &self.inner.counters;
        c.broadcasts.fetch_add(1, Ordering::Relaxed);
        c.broadcast_messages
            .fetch_add(sent as u64, Ordering::Relaxed);
        sent
    }

    /// Disconnects every socket of the canonical namespace `nsp` owned by `owner`
    /// (Socket.IO DISCONNECT, then the connection is closed); returns how many.
    pub fn disconnect_owner(&self, nsp: &str, owner: i64) -> usize {
        let mut n = 0;
        if let Some(members) = lock(&self.inner.members).get(nsp) {
            for m in members.values().filter(|m| m.owner == Some(owner)) {
                if m.tx.send(Input::Kick(m.wire_nsp.clone())).is_ok() {
                    n += 1;
                }
            }
        }
        self.inner
            .counters
            .kicked
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    /// Closes every Engine.IO session at once, for a server shutdown: WebSockets get a
    /// close frame (1001 Going Away), polling sessions the Engine.IO close packet (in
    /// the pending GET, if any). Namespaces are not left with a Socket.IO DISCONNECT:
    /// socket.io-client sees a transport close and reconnects, to the next instance.
    /// Sessions opened from now on are closed the same way; new handshakes are refused.
    pub fn shutdown(&self) -> Closed {
        self.inner.closing.store(true, Ordering::SeqCst);
        let sessions = lock(&self.inner.sessions);
        let mut closed = Closed {
            namespace_sockets: self.inner.counters.members.load(Ordering::Relaxed),
            ..Closed::default()
        };
        for handle in sessions.values() {
            if handle.tx.send(Input::Shutdown).is_ok() {
                match handle.shared.transport() {
                    TransportKind::Websocket => closed.websocket += 1,
                    TransportKind::Polling | TransportKind::Upgrading => closed.polling += 1,
                }
            }
        }
        closed
    }

    /// Resolves once no Engine.IO session is left (after [`Hub::shutdown`]: once each
    /// delivered its close).
    pub async fn sessions_closed(&self) {
        loop {
            let ended = self.inner.session_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if lock(&self.inner.sessions).is_empty() {
                return;
            }
            ended.await;
        }
    }

    /// Whether [`Hub::shutdown`] was called.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    pub(crate) fn session(&self, sid: &str) -> Option<SessionHandle> {
        lock(&self.inner.sessions).get(sid).cloned()
    }

    /// Registers a new session; it stays registered while the guard lives.
    pub(crate) fn register_session(
        &self,
        sid: Arc<str>,
        tx: UnboundedSender<Input>,
        transport: TransportKind,
    ) -> (SessionGuard, Arc<SessionShared>) {
        let shared = Arc::new(SessionShared {
            transport: AtomicU8::new(transport as u8),
            posting: AtomicBool::new(false),
        });
        {
            let mut sessions = lock(&self.inner.sessions);
            // Under the registry lock: either `shutdown` sees this session, or this sees
            // the flag it set first.
            if self.is_closing() {
                let _ = tx.send(Input::Shutdown);
            }
            sessions.insert(
                sid.clone(),
                SessionHandle {
                    tx,
                    shared: shared.clone(),
                },
            );
        }
        self.transport_counter(transport)
            .fetch_add(1, Ordering::Relaxed);
        (
            SessionGuard {
                hub: self.clone(),
                sid,
                shared: shared.clone(),
            },
            shared,
        )
    }

    /// Adds a socket to the canonical namespace `nsp`; it stays there while the guard lives.
    pub(crate) fn join(
        &self,
        nsp: &str,
        wire_nsp: &str,
        owner: Option<i64>,
        tx: UnboundedSender<Input>,
    ) -> MemberGuard {
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.members)
            .entry(nsp.to_owned())
            .or_default()
            .insert(
                id,
                Member {
                    wire_nsp: wire_nsp.to_owned(),
                    owner,
                    tx,
                },
            );
        self.inner.counters.members.fetch_add(1, Ordering::Relaxed);
        MemberGuard {
            hub: self.clone(),
            nsp: nsp.to_owned(),
            id,
        }
    }

    fn transport_counter(&self, t: TransportKind) -> &AtomicU64 {
        match t {
            TransportKind::Polling | TransportKind::Upgrading => &self.inner.counters.polling,
            TransportKind::Websocket => &self.inner.counters.websocket,
        }
    }
}

/// Keeps a session registered; unregisters it on drop.
pub(crate) struct SessionGuard {
    hub: Hub,
    sid: Arc<str>,
    shared: Arc<SessionShared>,
}

impl SessionGuard {
    /// Moves the session to another transport (counters follow).
    pub fn set_transport(&self, to: TransportKind) {
        let from = TransportKind::from_u8(self.shared.transport.swap(to as u8, Ordering::AcqRel));
        let is_ws = |t| t == TransportKind::Websocket;
        if is_ws(from) != is_ws(to) {
            self.hub
                .transport_counter(from)
                .fetch_sub(1, Ordering::Relaxed);
            self.hub
                .transport_counter(to)
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        lock(&self.hub.inner.sessions).remove(&self.sid);
        self.hub
            .transport_counter(self.shared.transport())
            .fetch_sub(1, Ordering::Relaxed);
        self.hub.inner.session_ended.notify_waiters();
    }
}

/// Keeps a socket in a namespace; removes it on drop.
pub(crate) struct MemberGuard {
    hub: Hub,
    nsp: String,
    id: u64,
}

impl Drop for MemberGuard {
    fn drop(&mut self) {
        let mut members = lock(&self.hub.inner.members);
        if let Some(room) = members.get_mut(&self.nsp) {
            room.remove(&self.id);
            if room.is_empty() {
                members.remove(&self.nsp);
            }
        }
        self.hub
            .inner
            .counters
            .members
            .fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc::unbounded_channel;

    use super::*;

    fn hub() -> Hub {
        Hub::new(
            HubConfig::from_settings(&SocketSettings::default()),
            Vec::new(),
        )
    }

    #[test]
    fn guards_unregister_and_counters_follow() {
        let hub = hub();
        let (tx, _rx) = unbounded_channel();
        let (guard, shared) = hub.register_session("s1".into(), tx.clone(), TransportKind::Polling);
        assert!(hub.session("s1").is_some());
        assert_eq!(hub.stats().polling_sessions, 1);
        assert!(shared.begin_upgrade());
        assert!(!shared.begin_upgrade());
        guard.set_transport(TransportKind::Websocket);
        assert_eq!(
            (hub.stats().polling_sessions, hub.stats().websocket_sessions),
            (0, 1)
        );
        let member = hub.join("/runners", "//runners", Some(4), tx);
        assert_eq!(hub.sockets_in("/runners"), 1);
        drop(member);
        assert_eq!(hub.sockets_in("/runners"), 0);
        drop(guard);
        assert!(hub.session("s1").is_none());
        assert_eq!(hub.stats(), HubStats::default());
    }

    #[test]
    fn broadcast_uses_each_sockets_namespace_spelling_and_kick_targets_the_owner() {
        let hub = hub();
        let (tx1, mut rx1) = unbounded_channel();
        let (tx2, mut rx2) = unbounded_channel();
        let _a = hub.join("/runners", "/runners", Some(1), tx1);
        let _b = hub.join("/runners", "//runners", Some(2), tx2);
        assert_eq!(hub.broadcast("/runners", "available-jobs"), 2);
        assert_eq!(hub.broadcast("/other", "x"), 0);
        match rx1.try_recv() {
            Ok(Input::Emit(f)) => assert_eq!(&*f, "2/runners,[\"available-jobs\"]"),
            _ => panic!("no frame"),
        }
        match rx2.try_recv() {
            Ok(Input::Emit(f)) => assert_eq!(&*f, "2//runners,[\"available-jobs\"]"),
            _ => panic!("no frame"),
        }
        assert_eq!(hub.disconnect_owner("/runners", 2), 1);
        assert!(rx1.try_recv().is_err());
        assert!(matches!(rx2.try_recv(), Ok(Input::Kick(n)) if n == "//runners"));
        let stats = hub.stats();
        assert_eq!(
            (stats.broadcasts, stats.broadcast_messages, stats.kicked),
            (2, 2, 1)
        );
    }

    #[tokio::test]
    async fn shutdown_closes_every_session_and_those_opened_later() {
        let hub = hub();
        let (ws_tx, mut ws_rx) = unbounded_channel();
        let (poll_tx, mut poll_rx) = unbounded_channel();
        let (_ws, _) = hub.register_session("ws".into(), ws_tx.clone(), TransportKind::Websocket);
        let (_poll, _) = hub.register_session("poll".into(), poll_tx, TransportKind::Polling);
        let _member = hub.join("/runners", "/runners", Some(1), ws_tx);
        assert!(!hub.is_closing());
        let closed = hub.shutdown();
        assert_eq!(
            closed,
            Closed {
                websocket: 1,
                polling: 1,
                namespace_sockets: 1
            }
        );
        assert!(hub.is_closing());
        assert!(matches!(ws_rx.try_recv(), Ok(Input::Shutdown)));
        assert!(matches!(poll_rx.try_recv(), Ok(Input::Shutdown)));
        let (late_tx, mut late_rx) = unbounded_channel();
        let (late, _) = hub.register_session("late".into(), late_tx, TransportKind::Polling);
        assert!(matches!(late_rx.try_recv(), Ok(Input::Shutdown)));

        let closed = hub.sessions_closed();
        tokio::pin!(closed);
        let mut pending = || futures_util::FutureExt::now_or_never(closed.as_mut()).is_none();
        assert!(pending());
        drop((_ws, _poll, _member));
        assert!(pending());
        drop(late);
        assert!(!pending());
    }
}
