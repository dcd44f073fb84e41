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

/// `GET /readyz`: the database and storage answer; 503 otherwise, naming what is down
/// (`storage` says what failed and what to check: a missing bucket, wrong
/// credentials). `fanout` tells the state of the link to the other instances
/// (informative: it does not decide readiness).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Service",
    responses(
        (status = 200, description = "The database and storage answer", body = Ready),
        (status = 503, description = "The database or storage cannot be used; the problem's `database` and `storage` members say which (`ok`, `unavailable`, or what storage answered)", content_type = "application/problem+json", body = NotReady)
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let r = health::ready(&state).await;
    if r.is_ready() {
        let fanout = match health::fanout(&state) {
            Some(status) => json!(status),
            None => json!({"backend": "none"}),
        };
        return Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": "ok",
            "storage": "ok",
            "fanout": fanout,
        })));
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
