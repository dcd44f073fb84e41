//! `/socket.io/`: the runners' Engine.IO / Socket.IO hub (see `crate::socket`).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::state::AppState;

/// Hands the request to the hub in the application state.
#[utoipa::path(
    get,
    path = "/socket.io",
    tag = "Service",
    description = "Engine.IO v4 / Socket.IO v5 (`?EIO=4&transport=websocket|polling`): WebSocket upgrade or long-polling (GET and POST); namespace `/runners`, auth `{runnerToken}`, event `available-jobs`.",
    params(("EIO" = String, Query, description = "Engine.IO protocol version: 4"), ("transport" = String, Query, description = "`websocket` or `polling`"), ("sid" = Option<String>, Query, description = "Session id (polling)")),
    responses(
        (status = 101, description = "WebSocket upgrade"),
        (status = 200, description = "A polling handshake or packets (Engine.IO framing)", content_type = "text/plain", body = String),
        (status = 400, description = "Refused by Engine.IO: `{code, message}`", content_type = "application/json", body = Object)
    )
)]
pub async fn socket_io(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    state.hub.handle(req, payload).await
}
