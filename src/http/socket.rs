//! `/socket.io/`: the runners' Engine.IO / Socket.IO hub (see `crate::socket`).

use actix_web::{HttpRequest, HttpResponse, web};

use crate::state::AppState;

/// Hands the request to the hub in the application state.
pub async fn socket_io(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    state.hub.handle(req, payload).await
}
