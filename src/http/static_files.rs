//! Published outputs served under `storage.serve_path` (`/static/<key>`), answered by
//! [`super::objects`] (Range, conditional requests, `HEAD`, media types, or a redirect
//! for object storage). Which keys are served is the service's decision
//! ([`crate::service::published`]); every answer, errors included, carries
//! `X-Content-Type-Options: nosniff` and `Access-Control-Allow-Origin: *` (HLS players
//! on other origins use XHR).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::objects;
use crate::error::{ApiError, ServiceError};
use crate::service::published;
use crate::state::AppState;

/// Serves the published object named by the rest of the path; 404 for anything else.
#[utoipa::path(
    method(get, head),
    path = "/static/{key}",
    tag = "Outputs",
    description = "A published output (HLS playlists and segments, MP4 renditions, thumbnail) under `storage.serve_path`: one byte range, `ETag` and `Last-Modified` with conditional requests.",
    params(("key" = String, Path, description = "Storage key, e.g. `videos/<uuid>/master.m3u8`")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = [u8]),
        (status = 206, description = "A byte range", content_type = "application/octet-stream", body = [u8]),
        (status = 304, description = "Not modified"),
        (status = 404, description = "Not a published output", content_type = "application/problem+json", body = Problem),
        (status = 412, description = "A precondition failed", content_type = "application/problem+json", body = Problem),
        (status = 416, description = "The range is past the end", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
) -> HttpResponse {
    let mut res = match open(&state, &req, &key).await {
        Ok(res) => res,
        Err(e) => e.error_response(),
    };
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

async fn open(state: &AppState, req: &HttpRequest, key: &str) -> Result<HttpResponse, ApiError> {
    let delivery = published::deliver(state, key).await.map_err(|e| match e {
        ServiceError::NotFound(_) => ApiError::not_found("File not found"),
        other => other.into(),
    })?;
    objects::respond(req, delivery).await
}
