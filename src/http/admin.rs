//! The admin API at PeerTube's paths and with its shapes (`runner-protocol.md` 4),
//! behind `Authorization: Bearer <admin key>` ([`AdminKey`]): runners, registration
//! tokens and jobs; plus, beyond PeerTube, retrying an errored job. Lists answer
//! `{total, data}`; every error carries a `code` ([`ApiError::for_admin_api`]).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::AdminKey;
use super::extract::Fields;
use super::listing::ListQuery;
use crate::domain::ids::JobUuid;
use crate::domain::listing::{CreatedAt, JobSortField};
use crate::error::ApiError;
use crate::service::runners::RunnerInfo;
use crate::service::{admin, jobs, registration_tokens, runners};
use crate::state::AppState;

/// A numeric `{name}` path parameter (PeerTube's `isIdValid`).
fn id_param(req: &HttpRequest, name: &str) -> Result<i64, ApiError> {
    let raw = req.match_info().get(name).unwrap_or_default();
    let body = serde_json::Map::new();
    let mut fields = Fields::new(&body);
    let id = raw.parse::<i64>().ok();
    if id.is_none() {
        fields.invalid_param(name, raw, "Should have a valid id");
    }
    fields.finish(req.path())?;
    id.ok_or_else(|| ApiError::internal(&"id missing after validation"))
}

/// The `{jobUUID}` path parameter: a UUID v4.
fn job_uuid_param(req: &HttpRequest) -> Result<JobUuid, ApiError> {
    let raw = req.match_info().get("jobUUID").unwrap_or_default();
    let body = serde_json::Map::new();
    let mut fields = Fields::new(&body);
    let uuid = fields.job_uuid_param("jobUUID", raw);
    fields.finish(req.path())?;
    uuid.ok_or_else(|| ApiError::internal(&"jobUUID missing after validation"))
}

/// `GET /api/v1/runners`: `?start&count&sort=createdAt|-createdAt`.
#[utoipa::path(
    get,
    path = "/api/v1/runners",
    tag = "Admin",
    params(("start" = Option<i64>, Query, description = "Rows skipped (≥ 0)"), ("count" = Option<i64>, Query, description = "Rows returned (0..100, default 15)"), ("sort" = Option<String>, Query, description = "`createdAt` or `-createdAt` (default)")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "A page of runners", body = admin::ListPage<RunnerInfo>),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list_runners(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        let mut q = ListQuery::new(req.query_string());
        let (page, sort) = (q.page(), q.sort::<CreatedAt>());
        q.finish(req.path())?;
        Ok(HttpResponse::Ok().json(admin::runners(&state.db, page, sort).await?))
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `DELETE /api/v1/runners/{runnerId}`: 204; the runner's sockets are closed, its
/// jobs keep no runner.
#[utoipa::path(
    delete,
    path = "/api/v1/runners/{runnerId}",
    tag = "Admin",
    params(("runnerId" = i64, Path, description = "Runner id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted: its sockets are closed, its jobs keep no runner"),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Runner not found (`runner_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn delete_runner(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        let id = id_param(&req, "runnerId")?;
        runners::delete(&state.db, &state.events, id).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `POST /api/v1/runners/registration-tokens/generate`: 204 without a body, as
/// PeerTube (the new token is read back with the list).
#[utoipa::path(
    post,
    path = "/api/v1/runners/registration-tokens/generate",
    tag = "Admin",
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Created (read it back with the list)"),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn generate_registration_token(
    state: web::Data<AppState>,
    _key: AdminKey,
) -> Result<HttpResponse, ApiError> {
    async {
        registration_tokens::create(&state.db).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `GET /api/v1/runners/registration-tokens`: `?start&count&sort`.
#[utoipa::path(
    get,
    path = "/api/v1/runners/registration-tokens",
    tag = "Admin",
    params(("start" = Option<i64>, Query, description = "Rows skipped (≥ 0)"), ("count" = Option<i64>, Query, description = "Rows returned (0..100, default 15)"), ("sort" = Option<String>, Query, description = "`createdAt` or `-createdAt` (default)")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "A page of registration tokens", body = admin::ListPage<registration_tokens::RegistrationToken>),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list_registration_tokens(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        let mut q = ListQuery::new(req.query_string());
        let (page, sort) = (q.page(), q.sort::<CreatedAt>());
        q.finish(req.path())?;
        Ok(HttpResponse::Ok().json(admin::registration_tokens(&state.db, page, sort).await?))
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `DELETE /api/v1/runners/registration-tokens/{id}`: 204; the runners registered
/// with it are deleted too.
#[utoipa::path(
    delete,
    path = "/api/v1/runners/registration-tokens/{id}",
    tag = "Admin",
    params(("id" = i64, Path, description = "Registration token id")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted, with the runners registered with it"),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Registration token not found (`registration_token_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn delete_registration_token(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        let id = id_param(&req, "id")?;
        registration_tokens::delete(&state.db, &state.events, id).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `GET /api/v1/runners/jobs`: `?start&count&sort&search&stateOneOf&typeOneOf`; items
/// are RunnerJob objects with their `privatePayload`.
#[utoipa::path(
    get,
    path = "/api/v1/runners/jobs",
    tag = "Admin",
    params(("start" = Option<i64>, Query, description = "Rows skipped (≥ 0)"), ("count" = Option<i64>, Query, description = "Rows returned (0..100, default 15)"), ("sort" = Option<String>, Query, description = "`createdAt`, `updatedAt`, `priority`, `state` or `progress`, `-` first for descending (default `-createdAt`)"), ("search" = Option<String>, Query, description = "A job UUID, or text found (any case) in the type or the runner name"), ("stateOneOf" = Option<Vec<i32>>, Query, description = "Only these states (`stateOneOf=1&stateOneOf=2`, brackets accepted)"), ("typeOneOf" = Option<Vec<String>>, Query, description = "Only these types")),
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "A page of jobs with their private payloads", body = admin::ListPage<admin::RunnerJobAdminView>),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list_jobs(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        let mut q = ListQuery::new(req.query_string());
        let (page, sort, filter) = (q.page(), q.sort::<JobSortField>(), q.job_filter());
        q.finish(req.path())?;
        Ok(HttpResponse::Ok().json(admin::jobs(&state.db, filter, sort, page).await?))
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `POST /api/v1/runners/jobs/{jobUUID}/cancel`: 204; 400 when the job already ended.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/cancel",
    tag = "Admin",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Cancelled, with the jobs waiting for it"),
        (status = 400, description = "Invalid UUID, or the job already ended (`not_cancellable`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job (`job_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn cancel_job(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        jobs::cancel_job(&state, job_uuid_param(&req)?).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `DELETE /api/v1/runners/jobs/{jobUUID}`: 204; cancelled first when it can be, then
/// deleted with the jobs depending on it.
#[utoipa::path(
    delete,
    path = "/api/v1/runners/jobs/{jobUUID}",
    tag = "Admin",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted (cancelled first), with the jobs depending on it"),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job (`job_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn delete_job(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        jobs::delete_job(&state, job_uuid_param(&req)?).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}

/// `POST /api/v1/runners/jobs/{jobUUID}/retry` (beyond PeerTube): 204; an errored job
/// is offered again with a fresh budget of attempts, the jobs that failed with it wait
/// for it again; 409 `not_retryable` for a job that is not errored.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/retry",
    tag = "Admin",
    description = "Beyond PeerTube: an errored job is offered again with a fresh budget of attempts; the jobs that failed with it wait for it again.",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    security(("admin_key" = [])),
    responses(
        (status = 204, description = "Retried"),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job (`job_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The job is not errored, or its type cannot be retried (`not_retryable`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No admin key, or not one of `auth.admin_keys` (`missing_admin_key`, `invalid_admin_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No admin key is configured (`admin_api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn retry_job(
    state: web::Data<AppState>,
    _key: AdminKey,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    async {
        jobs::retry_job(&state, job_uuid_param(&req)?).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_admin_api)
}
