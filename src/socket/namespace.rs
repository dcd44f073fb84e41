//! What a Socket.IO namespace decides: who may join (from the CONNECT auth payload) and
//! how it answers client events. The hub owns the wire protocol; a namespace only sees
//! JSON values and attachments.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::Value;

/// The answer to a CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// The socket joins. `owner` tags it (a runner id for `/runners`) so that it can be
    /// closed when its owner goes away; `welcome` events are emitted right after the
    /// CONNECT acknowledgement.
    Accept {
        /// Who this socket belongs to, if anyone.
        owner: Option<i64>,
        /// Events sent to the socket once connected, each `["name", args…]`.
        welcome: Vec<Value>,
    },
    /// CONNECT_ERROR `{"message": …}`. Socket.IO clients do not retry this on their own.
    Refuse(String),
    /// The server cannot decide now (its database is down): the Engine.IO connection is
    /// closed with this reason, which makes clients reconnect and try again.
    Retry(String),
}

/// An event a client emitted on a namespace it joined.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent {
    /// `["name", args…]`, binary arguments still as `{"_placeholder":true,"num":N}`.
    pub data: Value,
    /// The binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
    /// Set when the client waits for an acknowledgement.
    pub ack: Option<u64>,
}

/// What a namespace sends back for a client event.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An event `["name", args…]` to the same socket.
    Emit {
        /// Event name and arguments.
        data: Value,
        /// Binary attachments referenced by placeholders in `data`.
        attachments: Vec<Bytes>,
    },
    /// The acknowledgement of the event with this id, `[args…]`.
    Ack {
        /// The id from [`ClientEvent::ack`].
        id: u64,
        /// The arguments.
        data: Value,
        /// Binary attachments referenced by placeholders in `data`.
        attachments: Vec<Bytes>,
    },
}

/// A namespace served by the hub.
pub trait Namespace: Send + Sync + 'static {
    /// Decides on a CONNECT carrying `auth` (the client's handshake auth, if any).
    fn admit(&self, auth: Option<Value>) -> BoxFuture<'static, Admission>;

    /// Answers an event from a connected socket. The default ignores it.
    fn on_event(&self, event: ClientEvent) -> Vec<Reply> {
        let _ = event;
        Vec::new()
    }
}
