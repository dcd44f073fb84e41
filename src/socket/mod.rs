//! The socket hub: an Engine.IO v4 / Socket.IO v5 server at `/socket.io/`, on the same
//! port as the HTTP API, through which runners learn that jobs are available.
//!
//! - [`engineio`] and [`socketio`]: pure packet codecs, tested on byte fixtures.
//! - [`transport`]: the HTTP side (query validation, polling GET/POST, WebSocket
//!   handshake and upgrade probe); `session`: one task per Engine.IO session (heartbeat,
//!   upgrade, close); `client`: the Socket.IO layer of a session.
//! - [`hub`]: the registry of sessions and namespace sockets, broadcast and counters.
//! - [`namespace`]: what a namespace decides; [`runners`]: the `/runners` namespace.
//! - [`notifier`]: event bus → `available-jobs` broadcasts and closing removed runners.

mod client;
pub mod engineio;
pub mod hub;
pub mod namespace;
pub mod notifier;
pub mod runners;
mod session;
pub mod socketio;
pub mod transport;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};

pub use hub::{Closed, Hub, HubConfig, HubStats, Mode};

use crate::config::SocketSettings;
use crate::db::Db;

/// The service's hub: namespace `/runners` authenticated against `db`.
pub fn runners_hub(settings: &SocketSettings, db: Db) -> Hub {
    Hub::new(
        HubConfig::from_settings(settings),
        vec![(
            runners::NAMESPACE.to_owned(),
            Arc::new(runners::RunnersNamespace::new(db)),
        )],
    )
}

/// Serves one request to an Engine.IO endpoint backed by `hub`.
pub async fn handle(hub: &Hub, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    transport::handle(hub, req, payload).await
}

/// A resource serving `hub` at `path` (GET and POST), for apps that mount a hub that is
/// not the one in `AppState` (the conformance example mounts two).
pub fn resource(path: &str, hub: Hub) -> actix_web::Resource {
    web::resource(path)
        .app_data(web::Data::new(hub))
        .route(web::route().to(
            |hub: web::Data<Hub>, req: HttpRequest, payload: web::Payload| async move {
                handle(&hub, req, payload).await
            },
        ))
}
