//! Liveness and readiness probes.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::service::health;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers; 503 otherwise. `fanout` tells the state of
/// the link to the other instances (informative: it does not decide readiness).
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    health::ready(&state)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let fanout = match health::fanout(&state) {
        Some(status) => json!(status),
        None => json!({"backend": "none"}),
    };
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "fanout": fanout})))
}
