//! The admin API at PeerTube's paths and with its shapes (`runner-protocol.md` 4),
//! behind `Authorization: Bearer <admin key>` ([`AdminKey`]): runners, registration
//! tokens and jobs; plus, beyond PeerTube, retrying an errored job. Lists answer
//! `{total, data}`; every error carries a `code` ([`ApiError::for_admin_api`]).

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::AdminKey;
use super::extract::Fields;
use super::listing::ListQuery;
use crate::domain::ids::JobUuid;
use crate::domain::listing::{CreatedAt, JobSortField};
use crate::error::ApiError;
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
