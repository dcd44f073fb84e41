//! The hub: the registry of live Engine.IO sessions and of the Socket.IO sockets joined
//! to each namespace, broadcasting, and counters. No globals: an application builds one
//! `Hub` value (or several) and keeps it in its state. Sessions and sockets register
//! through RAII guards owned by their connection task, so every way a task ends (close,
//! timeout, error, panic) unregisters them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use actix_web::{HttpRequest, HttpResponse, web};
use bytestring::ByteString;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::HubConfig;
use crate::namespace::{Namespace, Owner};
use crate::session::Input;
use crate::socketio;
use crate::stats::{Closed, Counters, HubStats};

/// Current transport of a session, shared with the HTTP handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TransportKind {
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

struct Member<O> {
    wire_nsp: String,
    owner: Option<O>,
    tx: UnboundedSender<Input>,
}

struct Inner<O> {
    config: HubConfig,
    namespaces: HashMap<String, Arc<Namespace<O>>>,
    sessions: Mutex<HashMap<Arc<str>, SessionHandle>>,
    members: Mutex<HashMap<String, HashMap<u64, Member<O>>>>,
    next_member: AtomicU64,
    counters: Counters,
    /// Set by [`Hub::shutdown`]: no new session is opened.
    closing: AtomicBool,
    /// Woken whenever a session ends.
    session_ended: Notify,
}

/// An Engine.IO / Socket.IO server: the sessions connected to it, their namespace
/// sockets, and the namespaces they may join. Cheap to clone (an `Arc`). Sockets are
/// tagged with an owner of type `O` by their namespace's `authenticate` callback.
///
/// Built with [`Hub::builder`]; served with [`Hub::handle`] or [`resource`](crate::resource).
pub struct Hub<O> {
    inner: Arc<Inner<O>>,
}

impl<O> Clone for Hub<O> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<O> fmt::Debug for Hub<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .field("namespaces", &self.inner.namespaces.keys())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Builds a [`Hub`]: its configuration and namespaces.
pub struct HubBuilder<O> {
    config: HubConfig,
    namespaces: HashMap<String, Arc<Namespace<O>>>,
}

impl<O> fmt::Debug for HubBuilder<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubBuilder")
            .field("config", &self.config)
            .field("namespaces", &self.namespaces.keys())
            .finish()
    }
}

impl<O: Owner> HubBuilder<O> {
    /// Serves `namespace` as `name` (such as `/chat`; `/` is the main namespace). Runs
    /// of slashes are collapsed, so `//chat` reaches `/chat` (what a client configured
    /// with a trailing slash in its URL sends). A name given twice keeps the last.
    #[must_use]
    pub fn namespace(mut self, name: &str, namespace: Namespace<O>) -> Self {
        self.namespaces
            .insert(socketio::normalize_namespace(name), Arc::new(namespace));
        self
    }

    /// The hub.
    pub fn build(self) -> Hub<O> {
        Hub {
            inner: Arc::new(Inner {
                config: self.config,
                namespaces: self.namespaces,
                sessions: Mutex::new(HashMap::new()),
                members: Mutex::new(HashMap::new()),
                next_member: AtomicU64::new(1),
                counters: Counters::default(),
                closing: AtomicBool::new(false),
                session_ended: Notify::new(),
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text frame of an event `data` on the namespace written `wire`.
fn event_frame(wire: &str, data: &Value) -> ByteString {
    ByteString::from(socketio::encode(&socketio::Packet::event(
        wire,
        data.clone(),
        0,
    )))
}

impl<O> Hub<O> {
    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
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

    /// Number of sockets joined to the namespace `nsp` (canonical name, such as `/chat`).
    pub fn sockets_in(&self, nsp: &str) -> usize {
        lock(&self.inner.members).get(nsp).map_or(0, HashMap::len)
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
}

impl<O: Owner> Hub<O> {
    /// A hub with `config` and no namespace yet.
    pub fn builder(config: HubConfig) -> HubBuilder<O> {
        HubBuilder {
            config,
            namespaces: HashMap::new(),
        }
    }

    /// Serves one HTTP request to this hub's Engine.IO endpoint: a polling GET or POST,
    /// or a WebSocket upgrade. Route every method of the endpoint's path here (see
    /// [`resource`](crate::resource)).
    pub async fn handle(&self, req: HttpRequest, payload: web::Payload) -> HttpResponse {
        crate::transport::handle(self, req, payload).await
    }

    /// The namespace registered under the canonical name `nsp`.
    pub(crate) fn namespace(&self, nsp: &str) -> Option<Arc<Namespace<O>>> {
        self.inner.namespaces.get(nsp).cloned()
    }

    /// Emits the event `name` with `args` to every socket of the namespace `nsp`
    /// (canonical name); returns how many sockets it was queued to. Never blocks: each
    /// socket's connection task writes it out. The packet is encoded once per spelling
    /// of the namespace in use, not once per socket.
    pub fn broadcast(&self, nsp: &str, name: &str, args: &[Value]) -> usize {
        self.emit_where(nsp, name, args, |_| true)
    }

    /// Emits the event `name` with `args` to the sockets of the namespace `nsp` owned by
    /// `owner`; returns how many.
    pub fn emit_to_owner(&self, nsp: &str, owner: &O, name: &str, args: &[Value]) -> usize {
        self.emit_where(nsp, name, args, |m| m.owner.as_ref() == Some(owner))
    }

    fn emit_where(
        &self,
        nsp: &str,
        name: &str,
        args: &[Value],
        pick: impl Fn(&Member<O>) -> bool,
    ) -> usize {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::from(name));
        data.extend_from_slice(args);
        let data = Value::Array(data);
        let canonical = event_frame(nsp, &data);
        let mut sent = 0;
        if let Some(members) = lock(&self.inner.members).get(nsp) {
            for m in members.values().filter(|m| pick(m)) {
                let frame = if m.wire_nsp == nsp {
                    canonical.clone()
                } else {
                    event_frame(&m.wire_nsp, &data)
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

    /// The owner of each socket joined to the namespace `nsp` that has one (an owner
    /// with several sockets appears once per socket), in no particular order.
    pub fn owners_in(&self, nsp: &str) -> Vec<O> {
        lock(&self.inner.members)
            .get(nsp)
            .map(|members| members.values().filter_map(|m| m.owner.clone()).collect())
            .unwrap_or_default()
    }

    /// Disconnects every socket of the namespace `nsp` owned by `owner` (a Socket.IO
    /// DISCONNECT, after which clients do not reconnect, then the connection is
    /// closed); returns how many.
    pub fn disconnect_owner(&self, nsp: &str, owner: &O) -> usize {
        let mut n = 0;
        if let Some(members) = lock(&self.inner.members).get(nsp) {
            for m in members.values().filter(|m| m.owner.as_ref() == Some(owner)) {
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
    /// the pending GET, or the next one within a second). Namespaces are not left with
    /// a Socket.IO DISCONNECT: socket.io-client sees a transport close and reconnects,
    /// to the next instance. Sessions opened from now on are closed the same way; new
    /// handshakes are refused with 503. Wait for [`Hub::sessions_closed`] before
    /// stopping the HTTP server.
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

    pub(crate) fn session(&self, sid: &str) -> Option<SessionHandle> {
        lock(&self.inner.sessions).get(sid).cloned()
    }

    /// Registers a new session; it stays registered while the guard lives.
    pub(crate) fn register_session(
        &self,
        sid: Arc<str>,
        tx: UnboundedSender<Input>,
        transport: TransportKind,
    ) -> (SessionGuard<O>, Arc<SessionShared>) {
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
        self.inner
            .counters
            .transport(transport)
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
        owner: Option<O>,
        tx: UnboundedSender<Input>,
    ) -> MemberGuard<O> {
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
}

/// Keeps a session registered; unregisters it on drop.
pub(crate) struct SessionGuard<O> {
    hub: Hub<O>,
    sid: Arc<str>,
    shared: Arc<SessionShared>,
}

impl<O> SessionGuard<O> {
    /// Moves the session to another transport (counters follow).
    pub fn set_transport(&self, to: TransportKind) {
        let from = TransportKind::from_u8(self.shared.transport.swap(to as u8, Ordering::AcqRel));
        let is_ws = |t| t == TransportKind::Websocket;
        if is_ws(from) != is_ws(to) {
            let counters = &self.hub.inner.counters;
            counters.transport(from).fetch_sub(1, Ordering::Relaxed);
            counters.transport(to).fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<O> Drop for SessionGuard<O> {
    fn drop(&mut self) {
        lock(&self.hub.inner.sessions).remove(&self.sid);
        self.hub
            .inner
            .counters
            .transport(self.shared.transport())
            .fetch_sub(1, Ordering::Relaxed);
        self.hub.inner.session_ended.notify_waiters();
    }
}

/// Keeps a socket in a namespace; removes it on drop.
pub(crate) struct MemberGuard<O> {
    hub: Hub<O>,
    nsp: String,
    id: u64,
}

impl<O> Drop for MemberGuard<O> {
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

    fn hub() -> Hub<i64> {
        Hub::builder(HubConfig::default()).build()
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
        let member = hub.join("/runners", "//runners", Some(4), tx.clone());
        let again = hub.join("/runners", "/runners", Some(4), tx.clone());
        let anonymous = hub.join("/runners", "/runners", None, tx);
        assert_eq!(hub.sockets_in("/runners"), 3);
        assert_eq!(hub.owners_in("/runners"), [4, 4]);
        assert!(hub.owners_in("/other").is_empty());
        drop((again, anonymous));
        assert_eq!(hub.owners_in("/runners"), [4]);
        drop(member);
        assert_eq!(hub.sockets_in("/runners"), 0);
        drop(guard);
        assert!(hub.session("s1").is_none());
        assert_eq!(hub.stats(), HubStats::default());
    }

    fn next_frame(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Input>) -> String {
        match rx.try_recv() {
            Ok(Input::Emit(f)) => f.to_string(),
            _ => panic!("no frame"),
        }
    }

    #[test]
    fn broadcast_uses_each_sockets_namespace_spelling_and_kick_targets_the_owner() {
        let hub = hub();
        let (tx1, mut rx1) = unbounded_channel();
        let (tx2, mut rx2) = unbounded_channel();
        let _a = hub.join("/runners", "/runners", Some(1), tx1);
        let _b = hub.join("/runners", "//runners", Some(2), tx2);
        assert_eq!(hub.broadcast("/runners", "available-jobs", &[]), 2);
        assert_eq!(hub.broadcast("/other", "x", &[]), 0);
        assert_eq!(next_frame(&mut rx1), "2/runners,[\"available-jobs\"]");
        assert_eq!(next_frame(&mut rx2), "2//runners,[\"available-jobs\"]");
        assert_eq!(hub.disconnect_owner("/runners", &2), 1);
        assert!(rx1.try_recv().is_err());
        assert!(matches!(rx2.try_recv(), Ok(Input::Kick(n)) if n == "//runners"));
        let stats = hub.stats();
        assert_eq!(
            (stats.broadcasts, stats.broadcast_messages, stats.kicked),
            (2, 2, 1)
        );
    }

    #[test]
    fn events_carry_their_arguments_and_reach_only_the_owners_sockets() {
        let hub = hub();
        let (tx1, mut rx1) = unbounded_channel();
        let (tx2, mut rx2) = unbounded_channel();
        let (tx3, mut rx3) = unbounded_channel();
        let _a = hub.join("/", "/", Some(1), tx1);
        let _b = hub.join("/", "/", Some(2), tx2);
        let _c = hub.join("/", "/", None, tx3);
        let args = [serde_json::json!({"id": 3}), serde_json::json!("x")];
        assert_eq!(hub.emit_to_owner("/", &2, "job", &args), 1);
        assert_eq!(next_frame(&mut rx2), "2[\"job\",{\"id\":3},\"x\"]");
        assert!(rx1.try_recv().is_err() && rx3.try_recv().is_err());
        assert_eq!(hub.broadcast("/", "all", &args[..1]), 3);
        for rx in [&mut rx1, &mut rx2, &mut rx3] {
            assert_eq!(next_frame(rx), "2[\"all\",{\"id\":3}]");
        }
    }

    #[test]
    fn owners_are_listed_once_per_socket_of_the_namespace() {
        let hub = hub();
        let (tx, _rx) = unbounded_channel();
        let _a = hub.join("/runners", "/runners", Some(1), tx.clone());
        let _b = hub.join("/runners", "//runners", Some(1), tx.clone());
        let _c = hub.join("/runners", "/runners", Some(2), tx.clone());
        let _d = hub.join("/runners", "/runners", None, tx.clone());
        let _e = hub.join("/", "/", Some(3), tx);
        let mut owners = hub.owners_in("/runners");
        owners.sort_unstable();
        assert_eq!(owners, [1, 1, 2]);
        assert!(hub.owners_in("/nobody").is_empty());
    }

    #[test]
    fn namespace_names_are_canonical() {
        let hub: Hub<()> = Hub::builder(HubConfig::default())
            .namespace("//chat", Namespace::open())
            .namespace("", Namespace::open())
            .build();
        assert!(hub.namespace("/chat").is_some());
        assert!(hub.namespace("/").is_some());
        assert!(hub.namespace("//chat").is_none());
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
