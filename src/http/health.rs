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

/// `GET /readyz`: the database and storage answer; 503 otherwise, naming what is down
/// (`storage` says what failed and what to check: a missing bucket, wrong
/// credentials).
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let r = health::ready(&state).await;
    if r.is_ready() {
        return Ok(
            HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "storage": "ok"}))
        );
    }
    let database = match &r.database {
        Ok(()) => "ok",
        Err(_) => "unavailable",
    };
    let storage = match &r.storage {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let cause = format!("database: {database}; storage: {storage}");
    Err(ApiError::unavailable(&cause)
        .with_extra("database", json!(database))
        .with_extra("storage", json!(storage)))
}
