//! A server for the public Engine.IO and Socket.IO protocol test suites, built from the
//! service's own hub code and configured as those suites expect of their reference
//! server: `pingInterval` 300 ms, `pingTimeout` 200 ms, `maxPayload` 1,000,000, connect
//! timeout 1 s.
//!
//! - `/engine.io/`: raw Engine.IO; every message is echoed back.
//! - `/socket.io/`: Socket.IO with the main namespace and `/custom`. Both emit `auth`
//!   with the client's handshake auth payload on connect; the main namespace answers
//!   `message` with `message-back` and the same arguments (binary attachments included)
//!   and acknowledges `message-with-ack` with its arguments.
//!
//! Run: `cargo run --example socketio-conformance -- --port 3000` (binds localhost).

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{App, HttpServer};
use futures_util::future::BoxFuture;
use peertube_runner_connector::socket::namespace::{Admission, ClientEvent, Namespace, Reply};
use peertube_runner_connector::socket::{self, Hub, HubConfig, Mode};
use serde_json::{Value, json};

/// Emits `auth` on connect; optionally answers the suite's events.
struct TestNamespace {
    answers: bool,
}

impl Namespace for TestNamespace {
    fn admit(&self, auth: Option<Value>) -> BoxFuture<'static, Admission> {
        let auth = auth.unwrap_or_else(|| json!({}));
        Box::pin(async move {
            Admission::Accept {
                owner: None,
                welcome: vec![json!(["auth", auth])],
            }
        })
    }

    fn on_event(&self, event: ClientEvent) -> Vec<Reply> {
        let Some(args) = event.data.as_array().filter(|_| self.answers) else {
            return Vec::new();
        };
        let rest: Vec<Value> = args.iter().skip(1).cloned().collect();
        match (args.first().and_then(Value::as_str), event.ack) {
            (Some("message"), _) => {
                let mut data = vec![json!("message-back")];
                data.extend(rest);
                vec![Reply::Emit {
                    data: Value::Array(data),
                    attachments: event.attachments,
                }]
            }
            (Some("message-with-ack"), Some(id)) => vec![Reply::Ack {
                id,
                data: Value::Array(rest),
                attachments: event.attachments,
            }],
            _ => Vec::new(),
        }
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
    let sio = Hub::new(
        config.clone(),
        vec![
            ("/".to_owned(), Arc::new(TestNamespace { answers: true })),
            (
                "/custom".to_owned(),
                Arc::new(TestNamespace { answers: false }),
            ),
        ],
    );
    let eio = Hub::new(
        HubConfig {
            mode: Mode::EngineEcho,
            ..config
        },
        Vec::new(),
    );
    println!("socketio-conformance listening on localhost:{port}");
    HttpServer::new(move || {
        App::new()
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .service(socket::resource("/socket.io", sio.clone()))
            .service(socket::resource("/engine.io", eio.clone()))
    })
    .workers(2)
    .bind(("localhost", port))?
    .run()
    .await
}
