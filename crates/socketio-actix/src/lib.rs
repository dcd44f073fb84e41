#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
//!
//! # Modules
//!
//! - [`engineio`] and [`socketio`]: the packet codecs, pure functions tested on byte
//!   fixtures (usable on their own, by a client for instance).
//! - The rest is private: the HTTP side (query validation, polling GET/POST, WebSocket
//!   handshake and upgrade probe), one task per Engine.IO session (heartbeat, upgrade,
//!   close), the Socket.IO layer of a session (namespace joins, attachments, events),
//!   and the [`Hub`] registry (sessions, namespace sockets, broadcasts, counters).

mod client;
mod config;
pub mod engineio;
mod hub;
mod namespace;
mod session;
pub mod socketio;
mod stats;
mod transport;
mod ws;

use actix_web::{HttpRequest, web};

pub use config::{HubConfig, Mode};
pub use hub::{Hub, HubBuilder};
pub use namespace::{Admission, ClientEvent, Namespace, Owner, Reply};
pub use stats::{Closed, HubStats};

/// An actix-web resource serving `hub` at `path` and `path/` (every method: polling GET
/// and POST, WebSocket upgrades). Socket.IO clients use `/socket.io/` by default.
///
/// ```
/// # use socketio_actix::{Hub, HubConfig, Namespace};
/// let hub: Hub<()> = Hub::builder(HubConfig::default())
///     .namespace("/", Namespace::open())
///     .build();
/// let app = actix_web::App::new().service(socketio_actix::resource("/socket.io", hub));
/// ```
pub fn resource<O: Owner>(path: &str, hub: Hub<O>) -> actix_web::Resource {
    let path = path.trim_end_matches('/');
    web::resource([path.to_owned(), format!("{path}/")])
        .app_data(web::Data::new(hub))
        .route(web::route().to(
            |hub: web::Data<Hub<O>>, req: HttpRequest, payload: web::Payload| async move {
                hub.handle(req, payload).await
            },
        ))
}
