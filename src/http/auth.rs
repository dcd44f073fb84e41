//! `Authorization: Bearer <api key>` for the private video API. With no key configured
//! that API refuses every request (and `startup` warns about it).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Proof that the request carries one of the configured API keys.
#[derive(Debug, Clone, Copy)]
pub struct ApiKey;

/// The answer when no API key is configured.
pub const DISABLED: &str = "The private video API is disabled: no API key is configured \
     (set auth.api_keys in the configuration file or PRC_AUTH__API_KEYS=<key>)";

fn check(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(&"application state missing"));
    };
    let keys = &state.settings.auth.api_keys;
    if keys.is_empty() {
        return Err(
            ApiError::new(StatusCode::FORBIDDEN, DISABLED).with_code(ErrorCode::ApiDisabled)
        );
    }
    let presented = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        Some(token) if keys.iter().any(|k| k.matches(token)) => Ok(ApiKey),
        Some(_) => Err(unauthorized("Invalid API key", ErrorCode::InvalidApiKey)),
        None => Err(unauthorized(
            "Missing API key: send `Authorization: Bearer <api key>`",
            ErrorCode::MissingApiKey,
        )),
    }
}

fn unauthorized(detail: &'static str, code: ErrorCode) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, detail)
        .with_code(code)
        .with_header("www-authenticate", "Bearer")
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Ready<Result<ApiKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}
