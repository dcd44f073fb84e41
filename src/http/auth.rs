//! `Authorization: Bearer <key>`: [`ApiKey`] for the private video API (an API key or
//! an admin key), [`AdminKey`] for the admin API (an admin key). With no key
//! configured for it, an API refuses every request (and `startup` warns about it).

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

/// The answer when no admin key is configured.
pub const ADMIN_DISABLED: &str = "The admin API is disabled: no admin key is configured \
     (set auth.admin_keys in the configuration file or PRC_AUTH__ADMIN_KEYS=<key>)";

/// The bearer token of `req`, if it sends one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

fn settings(req: &HttpRequest) -> Result<&crate::config::AuthSettings, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .map(|state| &state.get_ref().settings.auth)
        .ok_or_else(|| ApiError::internal(&"application state missing"))
}

fn check(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let auth = settings(req)?;
    if auth.api_keys.is_empty() && auth.admin_keys.is_empty() {
        return Err(
            ApiError::new(StatusCode::FORBIDDEN, DISABLED).with_code(ErrorCode::ApiDisabled)
        );
    }
    let mut keys = auth.api_keys.iter().chain(&auth.admin_keys);
    match bearer(req) {
        Some(token) if keys.any(|k| k.matches(token)) => Ok(ApiKey),
        Some(_) => Err(unauthorized("Invalid API key", ErrorCode::InvalidApiKey)),
        None => Err(unauthorized(
            "Missing API key: send `Authorization: Bearer <api key>`",
            ErrorCode::MissingApiKey,
        )),
    }
}

/// Proof that the request carries one of the configured admin keys.
#[derive(Debug, Clone, Copy)]
pub struct AdminKey;

fn check_admin(req: &HttpRequest) -> Result<AdminKey, ApiError> {
    let auth = settings(req)?;
    if auth.admin_keys.is_empty() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, ADMIN_DISABLED)
            .with_code(ErrorCode::AdminApiDisabled));
    }
    match bearer(req) {
        Some(token) if auth.admin_keys.iter().any(|k| k.matches(token)) => Ok(AdminKey),
        Some(_) => Err(unauthorized(
            "Invalid admin key",
            ErrorCode::InvalidAdminKey,
        )),
        None => Err(unauthorized(
            "Missing admin key: send `Authorization: Bearer <admin key>`",
            ErrorCode::MissingAdminKey,
        )),
    }
}

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Ready<Result<AdminKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_admin(req))
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
