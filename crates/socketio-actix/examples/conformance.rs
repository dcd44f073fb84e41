//! A server for the public Engine.IO and Socket.IO protocol test suites, built from this
//! crate and configured as those suites expect of their reference
//! server: `pingInterval` 300 ms, `pingTimeout` 200 ms, `maxPayload` 1,000,000, connect
//! timeout 1 s.
//!
//! - `/engine.io/`: raw Engine.IO; every message is echoed back.
//! - `/socket.io/`: Socket.IO with the main namespace and `/custom`. Both emit `auth`
//!   with the client's handshake auth payload on connect; the main namespace answers
//!   `message` with `message-back` and the same arguments (binary attachments included)
//!   and acknowledges `message-with-ack` with its arguments.
//!
//! Run: `cargo run -p socketio-actix --example conformance -- --port 3000` (binds
//! localhost).

use std::time::Duration;

use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{App, HttpServer};
use serde_json::{Value, json};
use socketio_actix::{Admission, ClientEvent, Hub, HubConfig, Mode, Namespace, Reply};

/// Emits `auth` on connect with the client's handshake auth payload.
fn emit_auth(auth: Option<Value>) -> std::future::Ready<Admission<()>> {
    let auth = auth.unwrap_or_else(|| json!({}));
    std::future::ready(Admission::accept().with_welcome(json!(["auth", auth])))
}

/// The main namespace's answers: `message` → `message-back` with the same arguments,
/// `message-with-ack` → acknowledged with its arguments (attachments included).
async fn answer(event: ClientEvent<()>) -> Vec<Reply> {
    let args = event.args().to_vec();
    match (event.name(), event.ack) {
        (Some("message"), _) => {
            let mut data = vec![json!("message-back")];
            data.extend(args);
            vec![Reply::emit(Value::Array(data)).with_attachments(event.attachments)]
        }
        (Some("message-with-ack"), Some(id)) => {
            vec![Reply::ack(id, Value::Array(args)).with_attachments(event.attachments)]
        }
        _ => Vec::new(),
    }
}

fn port_from_args() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port = port_from_args();
    let config = HubConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        connect_timeout: Duration::from_secs(1),
        upgrade_timeout: Duration::from_secs(10),
        mode: Mode::SocketIo,
    };
    let sio: Hub<()> = Hub::builder(config.clone())
        .namespace("/", Namespace::new(emit_auth).on_event(answer))
        .namespace("/custom", Namespace::new(emit_auth))
        .build();
    let eio: Hub<()> = Hub::builder(HubConfig {
        mode: Mode::EngineEcho,
        ..config
    })
    .build();
    println!("socketio-conformance listening on localhost:{port}");
    HttpServer::new(move || {
        App::new()
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .service(socketio_actix::resource("/socket.io", sio.clone()))
            .service(socketio_actix::resource("/engine.io", eio.clone()))
    })
    .workers(2)
    .bind(("localhost", port))?
    .run()
    .await
}
