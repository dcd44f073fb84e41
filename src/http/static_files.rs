//! Published outputs served under `storage.serve_path` (`/static/<key>`), answered by
//! [`super::objects`] (Range, conditional requests, `HEAD`, media types, or a redirect
//! for object storage). Which keys are served is the service's decision
//! ([`crate::service::published`]); every answer, errors included, carries
//! `X-Content-Type-Options: nosniff` and `Access-Control-Allow-Origin: *` (HLS players
//! on other origins use XHR).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::objects;
use crate::error::{ApiError, ServiceError};
use crate::service::published;
use crate::state::AppState;

/// Serves the published object named by the rest of the path; 404 for anything else.
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
