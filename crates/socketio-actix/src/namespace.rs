//! What a Socket.IO namespace decides: who may join (an async `authenticate` callback
//! given the client's CONNECT auth payload) and how it answers client events. The hub
//! owns the wire protocol; a namespace only sees JSON values and attachments.

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::Value;

/// What can tag a socket as belonging to someone (a user id, a device id…): the hub
/// compares owners to target [`Hub::emit_to_owner`](crate::Hub::emit_to_owner) and
/// [`Hub::disconnect_owner`](crate::Hub::disconnect_owner). Implemented for every type
/// that is `Clone + PartialEq + Send + Sync + 'static`; use `()` when sockets have no
/// owner.
pub trait Owner: Clone + PartialEq + Send + Sync + 'static {}

impl<T: Clone + PartialEq + Send + Sync + 'static> Owner for T {}

/// The answer to a CONNECT, from a namespace's `authenticate` callback.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission<O> {
    /// The socket joins the namespace.
    Accept {
        /// Who this socket belongs to, if anyone.
        owner: Option<O>,
        /// Events sent to the socket right after the CONNECT acknowledgement, each
        /// `["name", args…]`.
        welcome: Vec<Value>,
    },
    /// The client is refused with a CONNECT_ERROR `{"message": …}`. Socket.IO clients
    /// do not retry this on their own: use it for a final answer (bad credentials).
    Reject(String),
    /// The server cannot decide now (its database is down): the Engine.IO connection is
    /// closed (WebSocket close code 1013 "try again later" with this reason, or the
    /// Engine.IO close packet on long-polling), which makes clients reconnect with
    /// their backoff and authenticate again.
    Unavailable(String),
}

impl<O> Admission<O> {
    /// Accepts a socket that belongs to nobody.
    pub fn accept() -> Self {
        Admission::Accept {
            owner: None,
            welcome: Vec::new(),
        }
    }

    /// Accepts a socket owned by `owner`.
    pub fn owned_by(owner: O) -> Self {
        Admission::Accept {
            owner: Some(owner),
            welcome: Vec::new(),
        }
    }

    /// Refuses with a CONNECT_ERROR carrying `message`.
    pub fn reject(message: impl Into<String>) -> Self {
        Admission::Reject(message.into())
    }

    /// Closes the connection so that the client comes back later, with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Admission::Unavailable(reason.into())
    }

    /// Adds an event (`["name", args…]`) sent once connected; no effect on a refusal.
    #[must_use]
    pub fn with_welcome(mut self, event: Value) -> Self {
        if let Admission::Accept { welcome, .. } = &mut self {
            welcome.push(event);
        }
        self
    }
}

/// An event a client emitted on a namespace it joined.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientEvent<O> {
    /// The owner the socket was admitted with.
    pub owner: Option<O>,
    /// `["name", args…]`, binary arguments still as `{"_placeholder":true,"num":N}`.
    pub data: Value,
    /// The binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
    /// Set when the client waits for an acknowledgement: answer with [`Reply::ack`].
    pub ack: Option<u64>,
}

impl<O> ClientEvent<O> {
    /// The event name (`None` for a numeric one).
    pub fn name(&self) -> Option<&str> {
        self.data.get(0).and_then(Value::as_str)
    }

    /// The arguments after the name.
    pub fn args(&self) -> &[Value] {
        self.data
            .as_array()
            .and_then(|a| a.get(1..))
            .unwrap_or_default()
    }
}

/// What a namespace sends back to the socket for a client event.
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

impl Reply {
    /// An event `["name", args…]` without attachments.
    pub fn emit(data: Value) -> Reply {
        Reply::Emit {
            data,
            attachments: Vec::new(),
        }
    }

    /// The acknowledgement `[args…]` of event `id`, without attachments.
    pub fn ack(id: u64, data: Value) -> Reply {
        Reply::Ack {
            id,
            data,
            attachments: Vec::new(),
        }
    }

    /// Sets the binary attachments that `{"_placeholder":true,"num":N}` objects in the
    /// data refer to.
    #[must_use]
    pub fn with_attachments(mut self, bytes: Vec<Bytes>) -> Reply {
        match &mut self {
            Reply::Emit { attachments, .. } | Reply::Ack { attachments, .. } => {
                *attachments = bytes;
            }
        }
        self
    }
}

type AuthenticateFn<O> = dyn Fn(Option<Value>) -> BoxFuture<'static, Admission<O>> + Send + Sync;
type EventFn<O> = dyn Fn(ClientEvent<O>) -> BoxFuture<'static, Vec<Reply>> + Send + Sync;

/// A namespace: an `authenticate` callback deciding each CONNECT, and optionally an
/// event handler. Registered on a hub with [`HubBuilder::namespace`](crate::HubBuilder::namespace).
///
/// ```
/// use socketio_actix::{Admission, Namespace, Reply};
/// use serde_json::{Value, json};
///
/// // Sockets of `/chat` belong to the user named in `auth: {user}`.
/// let chat: Namespace<String> = Namespace::new(|auth: Option<Value>| async move {
///     match auth.as_ref().and_then(|a| a.get("user")).and_then(Value::as_str) {
///         Some(user) => Admission::owned_by(user.to_owned()),
///         None => Admission::reject("who are you?"),
///     }
/// })
/// .on_event(|event| async move {
///     match (event.name(), event.ack) {
///         (Some("ping"), Some(id)) => vec![Reply::ack(id, json!(["pong"]))],
///         _ => Vec::new(),
///     }
/// });
/// ```
pub struct Namespace<O> {
    authenticate: Box<AuthenticateFn<O>>,
    on_event: Option<Box<EventFn<O>>>,
}

impl<O> fmt::Debug for Namespace<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("on_event", &self.on_event.is_some())
            .finish_non_exhaustive()
    }
}

impl<O: Owner> Namespace<O> {
    /// A namespace whose CONNECTs are decided by `authenticate`, given the client's
    /// handshake auth payload (`None` when it sent none). Several CONNECTs are decided
    /// concurrently; the session keeps serving (heartbeats, other namespaces) meanwhile.
    pub fn new<F, Fut>(authenticate: F) -> Self
    where
        F: Fn(Option<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Admission<O>> + Send + 'static,
    {
        Namespace {
            authenticate: Box::new(move |auth| authenticate(auth).boxed()),
            on_event: None,
        }
    }

    /// A namespace every client may join, without an owner.
    pub fn open() -> Self {
        Namespace::new(|_| std::future::ready(Admission::accept()))
    }

    /// Answers client events with `handler`'s replies (emits to the same socket,
    /// acknowledgements). Without a handler, client events are ignored. Replies to
    /// concurrent events go out as their futures finish.
    #[must_use]
    pub fn on_event<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(ClientEvent<O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Reply>> + Send + 'static,
    {
        self.on_event = Some(Box::new(move |event| handler(event).boxed()));
        self
    }

    /// Runs the `authenticate` callback on a CONNECT's auth payload (what the hub does;
    /// public so that applications can unit-test their namespaces).
    pub fn admit(&self, auth: Option<Value>) -> BoxFuture<'static, Admission<O>> {
        (self.authenticate)(auth)
    }

    /// Runs the event handler on a client event; `None` without a handler.
    pub fn answer(&self, event: ClientEvent<O>) -> Option<BoxFuture<'static, Vec<Reply>>> {
        self.on_event.as_ref().map(|handler| handler(event))
    }

    pub(crate) fn handles_events(&self) -> bool {
        self.on_event.is_some()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn client_events_expose_their_name_and_arguments() {
        let event = ClientEvent::<()> {
            owner: None,
            data: json!(["message", 1, "two"]),
            attachments: Vec::new(),
            ack: None,
        };
        assert_eq!(event.name(), Some("message"));
        assert_eq!(event.args(), &[json!(1), json!("two")]);
        let numeric = ClientEvent::<()> {
            data: json!([3]),
            ..event
        };
        assert_eq!((numeric.name(), numeric.args()), (None, &[][..]));
    }

    #[test]
    fn welcome_events_are_added_to_acceptances_only() {
        let accepted = Admission::owned_by(7).with_welcome(json!(["hello"]));
        assert_eq!(
            accepted,
            Admission::Accept {
                owner: Some(7),
                welcome: vec![json!(["hello"])]
            }
        );
        assert_eq!(
            Admission::<i64>::reject("no").with_welcome(json!(["hello"])),
            Admission::Reject("no".to_owned())
        );
    }

    #[tokio::test]
    async fn a_namespace_calls_its_callbacks() {
        let ns = Namespace::new(|auth: Option<Value>| async move {
            match auth {
                Some(_) => Admission::owned_by(1_i64),
                None => Admission::unavailable("later"),
            }
        });
        assert!(!ns.handles_events());
        assert_eq!(ns.admit(Some(json!({}))).await, Admission::owned_by(1));
        assert_eq!(ns.admit(None).await, Admission::unavailable("later"));
        let event = ClientEvent {
            owner: Some(1),
            data: json!(["x"]),
            attachments: Vec::new(),
            ack: Some(4),
        };
        assert!(ns.answer(event.clone()).is_none());
        let ns = ns.on_event(|e: ClientEvent<i64>| async move {
            vec![Reply::ack(e.ack.unwrap_or_default(), json!([e.owner]))]
        });
        let replies = ns.answer(event).expect("a handler").await;
        assert_eq!(replies, vec![Reply::ack(4, json!([1]))]);
        assert_eq!(
            Namespace::<()>::open().admit(None).await,
            Admission::accept()
        );
    }
}
