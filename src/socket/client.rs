//! The Socket.IO layer of one Engine.IO session: namespace joins (asynchronous
//! admission), binary attachment reassembly, events and acknowledgements. It turns
//! incoming Engine.IO messages into outgoing Engine.IO packets; the session task does
//! the I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::engineio::{self, Data};
use super::hub::{Hub, MemberGuard};
use super::namespace::{Admission, ClientEvent, Namespace, Reply};
use super::session::Input;
use super::socketio::{self, Packet, PacketType};

/// Why the session must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fatal {
    /// A malformed or out-of-order packet: close the session.
    Protocol(&'static str),
    /// A namespace asked the client to come back later: close the transport.
    Retry(String),
}

struct Joined {
    namespace: Arc<dyn Namespace>,
    _guard: MemberGuard,
}

struct Partial {
    packet: Packet,
    attachments: Vec<Bytes>,
}

/// A finished admission: the namespace as written, its canonical name, the namespace
/// and its decision.
pub(crate) type Admitted = (String, String, Arc<dyn Namespace>, Admission);

type Pending = BoxFuture<'static, Admitted>;

/// Socket.IO state of one session.
pub(crate) struct Client {
    hub: Hub,
    tx: UnboundedSender<Input>,
    joined: HashMap<String, Joined>,
    admitting: HashSet<String>,
    pending: FuturesUnordered<Pending>,
    partial: Option<Partial>,
    ever_joined: bool,
}

impl Client {
    pub fn new(hub: Hub, tx: UnboundedSender<Input>) -> Client {
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

    /// The next finished admission; never resolves while none is running.
    pub async fn next_admission(&mut self) -> Admitted {
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
                    (wire, canonical, namespace, admission.await)
                }));
            }
            PacketType::Disconnect => {
                self.joined.remove(&wire);
            }
            PacketType::Event | PacketType::BinaryEvent => {
                let Some(joined) = self.joined.get(&wire) else {
                    return;
                };
                let replies = joined.namespace.on_event(ClientEvent {
                    data: packet.data.unwrap_or(Value::Null),
                    attachments,
                    ack: packet.id,
                });
                for reply in replies {
                    let (p, atts) = match reply {
                        Reply::Emit { data, attachments } => {
                            (Packet::event(&wire, data, attachments.len()), attachments)
                        }
                        Reply::Ack {
                            id,
                            data,
                            attachments,
                        } => (Packet::ack(&wire, id, data, attachments.len()), attachments),
                    };
                    push_sio(out, &p, atts);
                }
            }
            // This server requests no acknowledgements; a client sends no errors.
            PacketType::Ack | PacketType::BinaryAck | PacketType::ConnectError => {}
        }
    }

    /// Completes an admission started by a CONNECT.
    pub fn on_admission(
        &mut self,
        (wire, canonical, namespace, admission): Admitted,
        out: &mut Vec<engineio::Packet>,
    ) -> Result<(), Fatal> {
        self.admitting.remove(&wire);
        match admission {
            Admission::Accept { owner, welcome } => {
                let guard = self.hub.join(&canonical, &wire, owner, self.tx.clone());
                self.joined.insert(
                    wire.clone(),
                    Joined {
                        namespace,
                        _guard: guard,
                    },
                );
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
                Ok(())
            }
            Admission::Refuse(message) => {
                push_sio(out, &Packet::connect_error(&wire, &message), Vec::new());
                Ok(())
            }
            Admission::Retry(reason) => Err(Fatal::Retry(reason)),
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
