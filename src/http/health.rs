//! Liveness and readiness probes.

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::service::health;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Service",
    responses(
        (status = 200, description = "The process answers", body = Healthy)
    )
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers; 503 otherwise. `fanout` tells the state of
/// the link to the other instances (informative: it does not decide readiness).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Service",
    responses(
        (status = 200, description = "The database answers", body = Ready),
        (status = 503, description = "The database cannot be reached; retry later", content_type = "application/problem+json", body = Problem)
    )
)]
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
