//! The WebSocket side of a session: a connection read by the task that owns it, or
//! through a pump task when the session task runs on another worker (an upgrade probe
//! arrives on whichever worker accepted its HTTP request).

use actix_ws::{AggregatedMessage, AggregatedMessageStream};
use tokio::sync::mpsc;

/// What a WebSocket reader yields.
pub(crate) type WsItem = Result<AggregatedMessage, actix_ws::ProtocolError>;

/// A WebSocket connection: its writer, and its reader, read directly when the session
/// task runs on the worker that owns the connection, or through a pump task otherwise.
pub(crate) struct WsConn {
    pub session: actix_ws::Session,
    pub(crate) reader: WsReader,
}

pub(crate) enum WsReader {
    Local(AggregatedMessageStream),
    Pumped(mpsc::Receiver<WsItem>),
}

impl WsConn {
    /// A connection read by the task that owns it.
    pub fn local(session: actix_ws::Session, stream: AggregatedMessageStream) -> WsConn {
        WsConn {
            session,
            reader: WsReader::Local(stream),
        }
    }

    pub(crate) async fn recv(&mut self) -> Option<WsItem> {
        match &mut self.reader {
            WsReader::Local(stream) => stream.recv().await,
            WsReader::Pumped(rx) => rx.recv().await,
        }
    }
}

/// A WebSocket handed to a session task that may run on another worker thread: a pump
/// task on the connection's own worker forwards what it reads.
pub(crate) struct ProbeConn {
    pub(crate) session: actix_ws::Session,
    pub(crate) rx: mpsc::Receiver<WsItem>,
}

impl ProbeConn {
    /// Starts the pump on the current worker.
    pub fn new(session: actix_ws::Session, mut stream: AggregatedMessageStream) -> ProbeConn {
        let (tx, rx) = mpsc::channel(16);
        actix_web::rt::spawn(async move {
            while let Some(item) = stream.recv().await {
                let last = matches!(item, Err(_) | Ok(AggregatedMessage::Close(_)));
                if tx.send(item).await.is_err() || last {
                    break;
                }
            }
        });
        ProbeConn { session, rx }
    }

    /// Closes the WebSocket.
    pub async fn close(self) {
        let _ = self.session.close(None).await;
    }
}
