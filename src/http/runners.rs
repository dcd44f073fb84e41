//! `POST /api/v1/runners/register` and `/unregister` (`runner-protocol.md` 1.1, 1.2).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::{ClientIp, Fields};
use super::runner_body::RunnerBody;
use crate::domain::ids::{RegistrationToken, RunnerToken};
use crate::error::ApiError;
use crate::service::runners::{self, Registration};
use crate::state::AppState;

/// Registers a runner: 200 `{id, runnerToken}`.
#[utoipa::path(
    post,
    path = "/api/v1/runners/register",
    tag = "Runners",
    request_body(content((RegisterBody = "application/json"), (RegisterBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Registered: the runner token is shown once", body = runners::Registered),
        (status = 400, description = "Invalid fields, or the name is taken", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Registration token is invalid (no code)", content_type = "application/problem+json", body = Problem),
        (status = 503, description = "The database cannot be reached; retry later", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    RunnerBody(body): RunnerBody,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let registration_token = fields.token::<RegistrationToken>("registrationToken");
    let name = fields.required_str("name", 1, 100);
    let description = fields.optional_multiline_str("description", 1, 1000);
    let version = fields.lenient_str("version", 100);
    fields.finish(req.path())?;
    let Some(registration_token) = registration_token else {
        return Err(ApiError::internal(
            &"registrationToken missing after validation",
        ));
    };
    let registered = runners::register(
        &state.db,
        Registration {
            registration_token,
            name,
            description,
            version,
            ip: ip.0,
        },
        state.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(registered))
}

/// Unregisters the calling runner: 204.
#[utoipa::path(
    post,
    path = "/api/v1/runners/unregister",
    tag = "Runners",
    request_body(content((RunnerTokenBody = "application/json"), (RunnerTokenBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Unregistered"),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No runner has this token (`code: unknown_runner_token`)", content_type = "application/problem+json", body = Problem),
        (status = 503, description = "The database cannot be reached; retry later", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn unregister(
    state: web::Data<AppState>,
    req: HttpRequest,
    RunnerBody(body): RunnerBody,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let runner_token = fields.token::<RunnerToken>("runnerToken");
    fields.finish(req.path())?;
    let Some(runner_token) = runner_token else {
        return Err(ApiError::internal(&"runnerToken missing after validation"));
    };
    runners::unregister(&state.db, &state.events, &runner_token).await?;
    Ok(HttpResponse::NoContent().finish())
}
