//! `GET /metrics`: the Prometheus exposition (see [`crate::metrics`]), in the text
//! format 0.0.4, or OpenMetrics 1.0 when the `Accept` header asks for it. Served on the
//! API port, or only on `metrics.bind` when that is set; behind
//! `Authorization: Bearer <key>` when `metrics.keys` is not empty.

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, AUTHORIZATION};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::Secret;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Format;
use crate::service;
use crate::state::AppState;

/// The bearer token of `req`, if it sends one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// Open when no key is configured; otherwise one of `keys` must be presented.
fn check_key(req: &HttpRequest, keys: &[Secret]) -> Result<(), ApiError> {
    if keys.is_empty() {
        return Ok(());
    }
    let unauthorized = |detail: &'static str, code| {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
            .with_code(code)
            .with_header("www-authenticate", "Bearer")
    };
    match bearer(req) {
        Some(token) if keys.iter().any(|k| k.matches(token)) => Ok(()),
        Some(_) => Err(unauthorized(
            "Invalid metrics key",
            ErrorCode::InvalidApiKey,
        )),
        None => Err(unauthorized(
            "Missing metrics key: send `Authorization: Bearer <key>` (metrics.keys)",
            ErrorCode::MissingApiKey,
        )),
    }
}

/// `GET /metrics` on the API port: 404 (as an unknown route) when metrics are disabled
/// or served on their own listener.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "Service",
    security((), ("metrics_key" = [])),
    responses(
        (status = 200, description = "The Prometheus exposition: text format 0.0.4, or OpenMetrics 1.0 when `Accept` asks for `application/openmetrics-text`", content((String = "text/plain"), (String = "application/openmetrics-text"))),
        (status = 401, description = "`metrics.keys` is set and no key, or not one of them, was sent (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = crate::http::openapi::schemas::Problem),
        (status = 404, description = "Metrics are disabled, or served only on `metrics.bind`", content_type = "application/problem+json", body = crate::http::openapi::schemas::Problem)
    )
)]
pub async fn api_port(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings.metrics;
    if !settings.enabled || settings.bind.is_some() {
        return Err(ApiError::not_found("No such route"));
    }
    metrics(state, req).await
}

/// `GET /metrics`.
pub async fn metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_key(&req, &state.settings.metrics.keys)?;
    let format = Format::negotiate(req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()));
    let sockets = crate::socket::gauges(&state.hub);
    let body = service::metrics::scrape(&state, sockets, format)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("cache-control", "no-store"))
        .body(body))
}

/// The routes of the listener `metrics.bind`: `/metrics` only.
pub fn configure_listener(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::not_found("This listener serves only /metrics"))
        }));
}
