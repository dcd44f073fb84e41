//! HTTP surface. [`configure`] is the one route table of the whole API.

pub mod extract;
pub mod health;
pub mod runners;
pub mod socket;

use actix_web::web;

use crate::error::ApiError;

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        // Engine.IO: GET and POST (polling), GET + Upgrade (WebSocket); `/socket.io/` too,
        // since NormalizePath trims the trailing slash.
        .route("/socket.io", web::route().to(socket::socket_io))
        .service(
            web::scope("/api/v1/runners")
                .route("/register", web::post().to(runners::register))
                .route("/unregister", web::post().to(runners::unregister)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("No such route"))
}
