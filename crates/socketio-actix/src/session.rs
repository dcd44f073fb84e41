//! One Engine.IO session: a task that owns its transport (long-polling queue or
//! WebSocket), an optional WebSocket probe during an upgrade, the heartbeat, and the
//! layer on top (Socket.IO or echo). HTTP handlers and the hub talk to it through its
//! inbox; its registration guards unregister it whenever the task ends.

use std::mem;
use std::sync::Arc;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use bytestring::ByteString;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant, sleep_until, timeout};

use crate::client::{Client, Completion, Fatal, new_id};
use crate::config::Mode;
use crate::engineio::{self, Data, Packet};
use crate::hub::{Hub, SessionGuard, TransportKind};
use crate::namespace::Owner;
use crate::ws::{ProbeConn, WsConn, WsItem, WsReader};

/// How long a polling session closed by a server shutdown waits for the client's next
/// GET to deliver the close packet.
const SHUTDOWN_LINGER: Duration = Duration::from_secs(1);

/// The answer to a polling GET.
#[derive(Debug)]
pub(crate) enum PollReply {
    /// 200 with this payload.
    Payload(String),
    /// 400: another GET is already pending (the session closes).
    Rejected,
}

/// What a session's inbox receives.
pub(crate) enum Input {
    /// Packets from a polling POST, in order.
    Packets(Vec<Packet>),
    /// A polling GET waiting for packets.
    Poll(oneshot::Sender<PollReply>),
    /// A WebSocket that wants to take over (upgrade probe).
    Probe(Box<ProbeConn>),
    /// A Socket.IO packet (text form) to send, from a broadcast.
    Emit(ByteString),
    /// Leave the namespace written this way, then close (its owner went away).
    Kick(String),
    /// Close now: an HTTP request broke the protocol.
    Close(&'static str),
    /// The server is stopping: close the transport at once, without leaving the
    /// namespaces, so that the client reconnects (to the next instance).
    Shutdown,
}

#[derive(Debug)]
enum End {
    /// The client sent a close packet.
    ClientClose,
    /// The transport went away under us.
    TransportGone(&'static str),
    /// The server closes the session (timeouts, protocol errors).
    Server(&'static str),
    /// The server ends the session on purpose: what is queued (a namespace DISCONNECT)
    /// is still delivered, then the close packet.
    Disconnect(&'static str),
    /// A namespace could not decide: close so that the client reconnects later.
    Unavailable(String),
    /// The server is stopping: a transport close (WebSocket 1001, or the Engine.IO
    /// close packet), never a namespace DISCONNECT, which socket.io-client does not
    /// reconnect after.
    Shutdown,
}

impl End {
    fn reason(&self) -> &str {
        match self {
            End::ClientClose => "client closed",
            End::TransportGone(why) | End::Server(why) | End::Disconnect(why) => why,
            End::Unavailable(why) => why,
            End::Shutdown => "server shutting down",
        }
    }
}

enum App<O> {
    SocketIo(Box<Client<O>>),
    Echo,
}

enum Transport {
    Polling {
        queue: Vec<Packet>,
        pending: Option<oneshot::Sender<PollReply>>,
    },
    Websocket(WsConn),
}

struct Probe {
    ws: WsConn,
    deadline: Instant,
    probed: bool,
}

/// A session task.
pub(crate) struct Session<O> {
    sid: Arc<str>,
    hub: Hub<O>,
    guard: SessionGuard<O>,
    inbox: UnboundedReceiver<Input>,
    transport: Transport,
    probe: Option<Probe>,
    app: App<O>,
    next_ping: Instant,
    pong_deadline: Option<Instant>,
    connect_deadline: Option<Instant>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Handshake<'a> {
    sid: &'a str,
    upgrades: &'a [&'a str],
    ping_interval: u128,
    ping_timeout: u128,
    max_payload: usize,
}

fn open_packet<O: Owner>(hub: &Hub<O>, sid: &str, upgrades: &[&str]) -> Packet {
    let c = hub.config();
    Packet::Open(
        serde_json::to_string(&Handshake {
            sid,
            upgrades,
            ping_interval: c.ping_interval.as_millis(),
            ping_timeout: c.ping_timeout.as_millis(),
            max_payload: c.max_payload,
        })
        .unwrap_or_default(),
    )
}

/// Starts a long-polling session; returns the body of the handshake response.
pub(crate) fn open_polling<O: Owner>(hub: &Hub<O>) -> String {
    let transport = Transport::Polling {
        queue: Vec::new(),
        pending: None,
    };
    let session = Session::new(hub, TransportKind::Polling, transport);
    let open = open_packet(hub, &session.sid, &["websocket"]);
    actix_web::rt::spawn(session.run(None));
    engineio::encode_text(&open)
}

/// Starts a WebSocket session; it sends the handshake itself.
pub(crate) fn open_websocket<O: Owner>(hub: &Hub<O>, ws: WsConn) {
    let session = Session::new(hub, TransportKind::Websocket, Transport::Websocket(ws));
    let open = open_packet(hub, &session.sid, &[]);
    actix_web::rt::spawn(session.run(Some(open)));
}

impl<O: Owner> Session<O> {
    fn new(hub: &Hub<O>, kind: TransportKind, transport: Transport) -> Session<O> {
        let sid: Arc<str> = new_id().into();
        let (tx, inbox): (UnboundedSender<Input>, _) = unbounded_channel();
        let (guard, _) = hub.register_session(sid.clone(), tx.clone(), kind);
        let now = Instant::now();
        let config = hub.config();
        let (app, connect_deadline) = match config.mode {
            Mode::SocketIo => (
                App::SocketIo(Box::new(Client::new(hub.clone(), tx))),
                Some(now + config.connect_timeout),
            ),
            Mode::EngineEcho => (App::Echo, None),
        };
        Session {
            sid,
            hub: hub.clone(),
            guard,
            inbox,
            transport,
            probe: None,
            app,
            next_ping: now + config.ping_interval,
            pong_deadline: None,
            connect_deadline,
        }
    }

    async fn run(mut self, greeting: Option<Packet>) {
        let end = match greeting {
            Some(open) => match self.send(vec![open]).await {
                Ok(()) => self.serve().await,
                Err(end) => end,
            },
            None => self.serve().await,
        };
        tracing::debug!(sid = %self.sid, reason = end.reason(), "socket session closed");
        self.finish(end).await;
    }

    async fn serve(&mut self) -> End {
        loop {
            let deadline = self.deadline();
            let mut out = Vec::new();
            // Biased: what the client wrote on its sockets (an upgrade packet) is handled
            // before requests that arrived meanwhile on other connections (a poll).
            let step = tokio::select! {
                biased;
                msg = next_probe(&mut self.probe) => self.on_probe(msg).await,
                msg = next_ws(&mut self.transport) => self.on_ws(msg, &mut out).await,
                input = self.inbox.recv() => match input {
                    Some(input) => self.on_input(input, &mut out).await,
                    None => Err(End::Server("hub gone")),
                },
                done = next_completion(&mut self.app) => match &mut self.app {
                    App::SocketIo(client) => client.on_completion(done, &mut out).map_err(End::from),
                    App::Echo => Ok(()),
                },
                () = sleep_until(deadline) => self.on_timer(&mut out).await,
            };
            let sent = self.send(out).await;
            if let Err(end) = step.and(sent) {
                return end;
            }
        }
    }

    fn deadline(&self) -> Instant {
        let mut d = self.pong_deadline.unwrap_or(self.next_ping);
        if let Some(c) = self.connect_deadline {
            d = d.min(c);
        }
        if let Some(p) = &self.probe {
            d = d.min(p.deadline);
        }
        d
    }

    async fn on_timer(&mut self, out: &mut Vec<Packet>) -> Result<(), End> {
        let now = Instant::now();
        let config = self.hub.config().clone();
        match self.pong_deadline {
            Some(d) if now >= d => return Err(End::Server("ping timeout")),
            Some(_) => {}
            None if now >= self.next_ping => {
                out.push(Packet::Ping(ByteString::new()));
                // From the scheduled time, so that timer lag does not add up.
                self.pong_deadline = Some(self.next_ping + config.ping_timeout);
            }
            None => {}
        }
        if let Some(d) = self.connect_deadline
            && now >= d
        {
            match &self.app {
                App::SocketIo(c) if c.ever_joined() => self.connect_deadline = None,
                App::SocketIo(c) if c.is_admitting() => {
                    self.connect_deadline = Some(now + config.connect_timeout);
                }
                _ => return Err(End::Server("no namespace joined in time")),
            }
        }
        if self.probe.as_ref().is_some_and(|p| now >= p.deadline) {
            self.abort_probe().await;
        }
        Ok(())
    }

    async fn on_input(&mut self, input: Input, out: &mut Vec<Packet>) -> Result<(), End> {
        // A request arriving after the pong deadline finds the session expired even if
        // the timer has not fired yet.
        if self.pong_deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(End::Server("ping timeout"));
        }
        match input {
            Input::Packets(packets) => {
                for packet in packets {
                    self.on_packet(packet, out)?;
                }
                Ok(())
            }
            Input::Poll(tx) => self.on_poll(tx),
            Input::Probe(ws) => {
                let ws = *ws;
                if self.probe.is_some() || matches!(self.transport, Transport::Websocket(_)) {
                    ws.close().await;
                } else {
                    self.probe = Some(Probe {
                        ws: WsConn {
                            session: ws.session,
                            reader: WsReader::Pumped(ws.rx),
                        },
                        deadline: Instant::now() + self.hub.config().upgrade_timeout,
                        probed: false,
                    });
                }
                Ok(())
            }
            Input::Emit(frame) => {
                out.push(Packet::Message(Data::Text(frame)));
                Ok(())
            }
            Input::Kick(wire) => match &mut self.app {
                App::SocketIo(client) => {
                    if client.kick(&wire, out) {
                        Err(End::Disconnect("owner removed"))
                    } else {
                        Ok(())
                    }
                }
                App::Echo => Ok(()),
            },
            Input::Close(reason) => Err(End::Server(reason)),
            Input::Shutdown => Err(End::Shutdown),
        }
    }

    /// A packet from the client on the session's current transport.
    fn on_packet(&mut self, packet: Packet, out: &mut Vec<Packet>) -> Result<(), End> {
        match packet {
            Packet::Pong(_) => {
                self.pong_deadline = None;
                self.next_ping = Instant::now() + self.hub.config().ping_interval;
                Ok(())
            }
            Packet::Message(data) => match &mut self.app {
                App::Echo => {
                    out.push(Packet::Message(data));
                    Ok(())
                }
                App::SocketIo(client) => {
                    let result = client.on_message(data, out);
                    if client.ever_joined() {
                        self.connect_deadline = None;
                    }
                    result.map_err(End::from)
                }
            },
            Packet::Close => Err(End::ClientClose),
            Packet::Noop | Packet::Upgrade => Ok(()),
            // Engine.IO v4 heartbeats go from the server to the client.
            Packet::Ping(_) | Packet::Open(_) => Err(End::Server("invalid packet direction")),
        }
    }

    fn on_poll(&mut self, tx: oneshot::Sender<PollReply>) -> Result<(), End> {
        let probed = self.probe.as_ref().is_some_and(|p| p.probed);
        let Transport::Polling { queue, pending } = &mut self.transport else {
            let _ = tx.send(PollReply::Rejected);
            return Ok(());
        };
        if pending.is_some() {
            let _ = tx.send(PollReply::Rejected);
            return Err(End::Server("overlapping polling requests"));
        }
        if !queue.is_empty() {
            let payload = engineio::encode_payload(queue.iter());
            queue.clear();
            return tx
                .send(PollReply::Payload(payload))
                .map_err(|_| End::TransportGone("poll request went away"));
        }
        if probed {
            // The client pauses polling to finish the upgrade: end this poll now.
            let _ = tx.send(PollReply::Payload(engineio::encode_text(&Packet::Noop)));
            return Ok(());
        }
        *pending = Some(tx);
        Ok(())
    }

    async fn on_ws(&mut self, msg: Option<WsItem>, out: &mut Vec<Packet>) -> Result<(), End> {
        match msg {
            None | Some(Ok(AggregatedMessage::Close(_))) => {
                Err(End::TransportGone("websocket closed"))
            }
            Some(Err(_)) => Err(End::Server("websocket protocol error or oversized frame")),
            Some(Ok(AggregatedMessage::Text(text))) => {
                let packet =
                    engineio::decode_text(&text).map_err(|_| End::Server("invalid packet"))?;
                self.on_packet(packet, out)
            }
            Some(Ok(AggregatedMessage::Binary(bytes))) => {
                self.on_packet(engineio::decode_binary(bytes), out)
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => {
                if let Transport::Websocket(ws) = &mut self.transport {
                    let _ = ws.session.pong(&bytes).await;
                }
                Ok(())
            }
            Some(Ok(AggregatedMessage::Pong(_))) => Ok(()),
        }
    }

    async fn on_probe(&mut self, msg: Option<WsItem>) -> Result<(), End> {
        let limit = self.hub.config().ping_timeout;
        let Some(probe) = &mut self.probe else {
            return Ok(());
        };
        let packet = match msg {
            Some(Ok(AggregatedMessage::Text(text))) => engineio::decode_text(&text).ok(),
            Some(Ok(AggregatedMessage::Ping(bytes))) => {
                let _ = probe.ws.session.pong(&bytes).await;
                return Ok(());
            }
            _ => None,
        };
        match packet {
            Some(Packet::Ping(data)) if &*data == "probe" && !probe.probed => {
                let pong = Packet::Pong(ByteString::from_static("probe"));
                if write_ws(&mut probe.ws, &pong, limit).await.is_err() {
                    self.abort_probe().await;
                    return Ok(());
                }
                probe.probed = true;
                // Release a pending poll so that the client can pause polling.
                if let Transport::Polling { queue, pending } = &mut self.transport
                    && queue.is_empty()
                    && let Some(tx) = pending.take()
                {
                    let _ = tx.send(PollReply::Payload(engineio::encode_text(&Packet::Noop)));
                }
                Ok(())
            }
            Some(Packet::Upgrade) if probe.probed => self.complete_upgrade().await,
            _ => {
                self.abort_probe().await;
                Ok(())
            }
        }
    }

    async fn complete_upgrade(&mut self) -> Result<(), End> {
        let Some(probe) = self.probe.take() else {
            return Ok(());
        };
        let old = mem::replace(&mut self.transport, Transport::Websocket(probe.ws));
        self.guard.set_transport(TransportKind::Websocket);
        if let Transport::Polling { queue, pending } = old {
            if let Some(tx) = pending {
                let _ = tx.send(PollReply::Payload(engineio::encode_text(&Packet::Noop)));
            }
            self.send(queue).await?;
        }
        Ok(())
    }

    async fn abort_probe(&mut self) {
        if let Some(probe) = self.probe.take() {
            let _ = probe.ws.session.close(None).await;
            self.guard.set_transport(TransportKind::Polling);
        }
    }

    /// Sends packets on the current transport: written to the WebSocket, or queued for
    /// (and flushed to) the pending poll.
    async fn send(&mut self, packets: Vec<Packet>) -> Result<(), End> {
        if packets.is_empty() {
            return Ok(());
        }
        let limit = self.hub.config().ping_timeout;
        match &mut self.transport {
            Transport::Polling { queue, pending } => {
                queue.extend(packets);
                if let Some(tx) = pending.take() {
                    let payload = engineio::encode_payload(queue.iter());
                    queue.clear();
                    tx.send(PollReply::Payload(payload))
                        .map_err(|_| End::TransportGone("poll request went away"))?;
                }
                Ok(())
            }
            Transport::Websocket(ws) => {
                for packet in &packets {
                    write_ws(ws, packet, limit).await?;
                }
                Ok(())
            }
        }
    }

    async fn finish(mut self, end: End) {
        if let Some(probe) = self.probe.take() {
            let _ = probe.ws.session.close(None).await;
        }
        // Leave namespaces now, even if the session lingers to deliver its last packets.
        self.app = App::Echo;
        let transport = mem::replace(
            &mut self.transport,
            Transport::Polling {
                queue: Vec::new(),
                pending: None,
            },
        );
        match (transport, end) {
            (Transport::Polling { pending, .. }, End::ClientClose) => {
                if let Some(tx) = pending {
                    let _ = tx.send(PollReply::Payload(engineio::encode_text(&Packet::Noop)));
                }
            }
            (Transport::Polling { .. }, End::TransportGone(_)) => {}
            (Transport::Polling { mut queue, pending }, end) => {
                queue.push(Packet::Close);
                match pending {
                    Some(tx) => {
                        let _ = tx.send(PollReply::Payload(engineio::encode_payload(&queue)));
                    }
                    None if matches!(end, End::Disconnect(_)) => {
                        let within = self.hub.config().ping_timeout;
                        self.linger(queue, within).await;
                    }
                    // Between two GETs: the next one comes at once, and the server stops
                    // accepting connections only once the sessions are closed.
                    None if matches!(end, End::Shutdown) => {
                        self.linger(queue, SHUTDOWN_LINGER).await;
                    }
                    // Timeouts and errors: gone at once; later requests get 400.
                    None => {}
                }
            }
            (Transport::Websocket(ws), End::Unavailable(reason)) => {
                let reason = CloseReason {
                    code: CloseCode::Again,
                    description: Some(reason),
                };
                let _ = ws.session.close(Some(reason)).await;
            }
            (Transport::Websocket(ws), End::Shutdown) => {
                let reason = CloseReason {
                    code: CloseCode::Away,
                    description: Some(End::Shutdown.reason().to_owned()),
                };
                let _ = ws.session.close(Some(reason)).await;
            }
            (Transport::Websocket(ws), _) => {
                let _ = ws.session.close(None).await;
            }
        }
    }

    /// Keeps a closing polling session reachable for one more GET, for at most `within`,
    /// so that its last packets (a namespace DISCONNECT) and the close packet are
    /// delivered. A polling client sends its next GET as soon as the last one returns.
    async fn linger(&mut self, queue: Vec<Packet>, within: Duration) {
        let mut deadline = Instant::now() + within;
        loop {
            tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(Input::Poll(tx)) => {
                        let _ = tx.send(PollReply::Payload(engineio::encode_payload(&queue)));
                        return;
                    }
                    Some(Input::Shutdown) => {
                        deadline = deadline.min(Instant::now() + SHUTDOWN_LINGER);
                    }
                    None => return,
                    Some(_) => {}
                },
                () = sleep_until(deadline) => return,
            }
        }
    }
}

impl From<Fatal> for End {
    fn from(f: Fatal) -> End {
        match f {
            Fatal::Protocol(why) => End::Server(why),
            Fatal::Unavailable(reason) => End::Unavailable(reason),
        }
    }
}

async fn write_ws(ws: &mut WsConn, packet: &Packet, limit: Duration) -> Result<(), End> {
    let write = async {
        match engineio::encode_frame(packet) {
            Ok(text) => ws.session.text(text).await,
            Err(bytes) => ws.session.binary(bytes).await,
        }
    };
    match timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::TransportGone("websocket closed")),
        Err(_) => Err(End::Server("websocket write timed out")),
    }
}

async fn next_ws(transport: &mut Transport) -> Option<WsItem> {
    match transport {
        Transport::Websocket(ws) => ws.recv().await,
        Transport::Polling { .. } => std::future::pending().await,
    }
}

async fn next_probe(probe: &mut Option<Probe>) -> Option<WsItem> {
    match probe {
        Some(p) => p.ws.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_completion<O: Owner>(app: &mut App<O>) -> Completion<O> {
    match app {
        App::SocketIo(client) => client.next_completion().await,
        App::Echo => std::future::pending().await,
    }
}
