//! The Socket.IO layer of one Engine.IO session: namespace joins (asynchronous
//! admission), binary attachment reassembly, events and acknowledgements (asynchronous
//! handlers). It turns incoming Engine.IO messages into outgoing Engine.IO packets; the
//! session task does the I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::engineio::{self, Data};
use crate::hub::{Hub, MemberGuard};
use crate::namespace::{Admission, ClientEvent, Namespace, Owner, Reply};
use crate::session::Input;
use crate::socketio::{self, Packet, PacketType};

/// Why the session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fatal {
    /// A malformed or out-of-order packet: close the session.
    Protocol(&'static str),
    /// A namespace asked the client to come back later: close the transport.
    Unavailable(String),
}

struct Joined<O> {
    namespace: Arc<Namespace<O>>,
    owner: Option<O>,
    _guard: MemberGuard<O>,
}

struct Partial {
    packet: Packet,
    attachments: Vec<Bytes>,
}

/// A namespace callback that finished.
pub(crate) enum Completion<O> {
    /// A CONNECT was decided: the namespace as written, its canonical name, the
    /// namespace and its decision.
    Admitted {
        wire: String,
        canonical: String,
        namespace: Arc<Namespace<O>>,
        admission: Admission<O>,
    },
    /// An event handler answered, for the namespace written `wire`.
    Replied { wire: String, replies: Vec<Reply> },
}

type Pending<O> = BoxFuture<'static, Completion<O>>;

/// Socket.IO state of one session.
pub(crate) struct Client<O> {
    hub: Hub<O>,
    tx: UnboundedSender<Input>,
    joined: HashMap<String, Joined<O>>,
    admitting: HashSet<String>,
    pending: FuturesUnordered<Pending<O>>,
    partial: Option<Partial>,
    ever_joined: bool,
}

impl<O: Owner> Client<O> {
    pub fn new(hub: Hub<O>, tx: UnboundedSender<Input>) -> Client<O> {
        Client {
            hub,
            tx,
            joined: HashMap::new(),
            admitting: HashSet::new(),
            pending: FuturesUnordered::new(),
            partial: None,
            ever_joined: false,
        }
    }

    /// Whether a namespace was ever joined (the connect timeout stops then).
    pub fn ever_joined(&self) -> bool {
        self.ever_joined
    }

    /// Whether a CONNECT is being decided.
    pub fn is_admitting(&self) -> bool {
        !self.admitting.is_empty()
    }

    /// The next finished callback; never resolves while none is running.
    pub async fn next_completion(&mut self) -> Completion<O> {
        match self.pending.next().await {
            Some(done) => done,
            None => std::future::pending().await,
        }
    }

    /// Handles one Engine.IO message.
    pub fn on_message(&mut self, data: Data, out: &mut Vec<engineio::Packet>) -> Result<(), Fatal> {
        match data {
            Data::Binary(bytes) => {
                let partial = self
                    .partial
                    .as_mut()
                    .ok_or(Fatal::Protocol("unexpected binary attachment"))?;
                partial.attachments.push(bytes);
                if partial.attachments.len() == partial.packet.attachments
                    && let Some(done) = self.partial.take()
                {
                    self.dispatch(done.packet, done.attachments, out);
                }
                Ok(())
            }
            Data::Text(text) => {
                if self.partial.is_some() {
                    return Err(Fatal::Protocol("text while reassembling attachments"));
                }
                let packet =
                    socketio::decode(&text).map_err(|_| Fatal::Protocol("invalid packet"))?;
                if packet.kind.is_binary() && packet.attachments > 0 {
                    self.partial = Some(Partial {
                        packet,
                        attachments: Vec::new(),
                    });
                } else {
                    self.dispatch(packet, Vec::new(), out);
                }
                Ok(())
            }
        }
    }

    fn dispatch(
        &mut self,
        packet: Packet,
        attachments: Vec<Bytes>,
        out: &mut Vec<engineio::Packet>,
    ) {
        let wire = packet.nsp;
        match packet.kind {
            PacketType::Connect => {
                if self.joined.contains_key(&wire) || self.admitting.contains(&wire) {
                    return;
                }
                let canonical = socketio::normalize_namespace(&wire);
                let Some(namespace) = self.hub.namespace(&canonical) else {
                    push_sio(
                        out,
                        &Packet::connect_error(&wire, "Invalid namespace"),
                        Vec::new(),
                    );
                    return;
                };
                self.admitting.insert(wire.clone());
                let admission = namespace.admit(packet.data);
                self.pending.push(Box::pin(async move {
                    Completion::Admitted {
                        wire,
                        canonical,
                        namespace,
                        admission: admission.await,
                    }
                }));
            }
            PacketType::Disconnect => {
                self.joined.remove(&wire);
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let Some(joined) = self.joined.get(&wire) else {
                    return;
                };
                if !joined.namespace.handles_events() {
                    return;
                }
                let event = ClientEvent {
                    owner: joined.owner.clone(),
                    data: packet.data.unwrap_or(Value::Null),
                    attachments,
                    ack: packet.id,
                };
                if let Some(replies) = joined.namespace.answer(event) {
                    self.pending.push(Box::pin(async move {
                        Completion::Replied {
                            wire,
                            replies: replies.await,
                        }
                    }));
                }
            }
            // This server requests no acknowledgements; a client sends no errors.
            PacketType::Ack | PacketType::BinaryAck | PacketType::ConnectError => {}
        }
    }

    /// Completes a callback: joins or refuses a CONNECT, or sends an event's replies.
    pub fn on_completion(
        &mut self,
        completion: Completion<O>,
        out: &mut Vec<engineio::Packet>,
    ) -> Result<(), Fatal> {
        match completion {
            Completion::Admitted {
                wire,
                canonical,
                namespace,
                admission,
            } => self.on_admission(wire, &canonical, namespace, admission, out),
            Completion::Replied { wire, replies } => {
                // The socket may have left the namespace meanwhile.
                if self.joined.contains_key(&wire) {
                    for reply in replies {
                        push_reply(out, &wire, reply);
                    }
                }
                Ok(())
            }
        }
    }

    fn on_admission(
        &mut self,
        wire: String,
        canonical: &str,
        namespace: Arc<Namespace<O>>,
        admission: Admission<O>,
        out: &mut Vec<engineio::Packet>,
    ) -> Result<(), Fatal> {
        self.admitting.remove(&wire);
        match admission {
            Admission::Accept { owner, welcome } => {
                let guard = self
                    .hub
                    .join(canonical, &wire, owner.clone(), self.tx.clone());
                self.ever_joined = true;
                let sid = new_id();
                push_sio(
                    out,
                    &Packet::new(PacketType::Connect, &wire, Some(json!({ "sid": sid }))),
                    Vec::new(),
                );
                for data in welcome {
                    push_sio(out, &Packet::event(&wire, data, 0), Vec::new());
                }
                self.joined.insert(
                    wire,
                    Joined {
                        namespace,
                        owner,
                        _guard: guard,
                    },
                );
                Ok(())
            }
            Admission::Reject(message) => {
                push_sio(out, &Packet::connect_error(&wire, &message), Vec::new());
                Ok(())
            }
            Admission::Unavailable(reason) => Err(Fatal::Unavailable(reason)),
        }
    }

    /// Leaves the namespace written `wire` with a DISCONNECT; false if not joined.
    pub fn kick(&mut self, wire: &str, out: &mut Vec<engineio::Packet>) -> bool {
        if self.joined.remove(wire).is_none() {
            return false;
        }
        push_sio(
            out,
            &Packet::new(PacketType::Disconnect, wire, None),
            Vec::new(),
        );
        true
    }
}

fn push_reply(out: &mut Vec<engineio::Packet>, wire: &str, reply: Reply) {
    let (packet, attachments) = match reply {
        Reply::Emit { data, attachments } => {
            (Packet::event(wire, data, attachments.len()), attachments)
        }
        Reply::Ack {
            id,
            data,
            attachments,
        } => (Packet::ack(wire, id, data, attachments.len()), attachments),
    };
    push_sio(out, &packet, attachments);
}

fn push_sio(out: &mut Vec<engineio::Packet>, packet: &Packet, attachments: Vec<Bytes>) {
    out.push(engineio::Packet::text(socketio::encode(packet)));
    out.extend(
        attachments
            .into_iter()
            .map(|b| engineio::Packet::Message(Data::Binary(b))),
    );
}

/// A random URL-safe identifier (Engine.IO sid, Socket.IO socket id).
pub(crate) fn new_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 15]>())
}
