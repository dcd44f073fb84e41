//! Runner job endpoints under `/api/v1/runners/jobs` (`runner-protocol.md` 1.3–1.8):
//! request, accept, abort, error as JSON; update and success as multipart.

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::calls::{CallBody, CallForm, JobCall, JobForm};
use super::extract::{ClientIp, Fields};
use super::multipart::payload_fields;
use super::runner_body::RunnerBody;
use crate::domain::ids::RunnerToken;
use crate::error::{ApiError, ServiceError};
use crate::service::files;
use crate::service::jobs::RunnerUpload;
use crate::service::jobs::complete::{self, SuccessAdmission};
use crate::service::jobs::offer::{self, JobRequest};
use crate::service::jobs::report::{self, UpdateAdmission};
use crate::service::jobs::view::RunnerJobView;
use crate::state::AppState;

/// `POST /jobs/request`: 200 `{availableJobs:[…]}`.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/request",
    tag = "Runner Jobs",
    request_body(content((RequestBody = "application/json"), (RequestBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "At most 10 pending jobs, lowest priority first", body = crate::service::jobs::view::AvailableJobs),
        (status = 400, description = "A field is missing or invalid (`invalid-params` names it)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No runner has this token (`code: unknown_runner_token`)", content_type = "application/problem+json", body = Problem),
        (status = 503, description = "The database cannot be reached; retry later", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn request(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    RunnerBody(body): RunnerBody,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let runner_token = fields.token::<RunnerToken>("runnerToken");
    let job_types = fields.optional_str_array("jobTypes");
    let version = fields.lenient_str("version", 100);
    fields.finish(req.path())?;
    let Some(runner_token) = runner_token else {
        return Err(ApiError::internal(&"runnerToken missing after validation"));
    };
    let request = JobRequest {
        runner_token,
        // Names this server does not know never match.
        job_types: job_types.map(|names| names.iter().filter_map(|n| n.parse().ok()).collect()),
        version,
        ip: ip.0,
    };
    Ok(HttpResponse::Ok().json(offer::request_jobs(&state, request).await?))
}

/// The answer to `accept`: the RunnerJob object with its new `jobToken`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// The job, now this runner's.
    job: RunnerJobView,
}

/// `POST /jobs/{jobUUID}/accept`: 200 `{job:{…, jobToken}}`, checks in PeerTube's
/// order (UUID, job exists and is PENDING, runner token, compare-and-set).
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/accept",
    tag = "Runner Jobs",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    request_body(content((RunnerTokenBody = "application/json"), (RunnerTokenBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The job is this runner's: the job with its `jobToken`", body = Accepted),
        (status = 400, description = "Invalid fields, or the job is not pending (lost race)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job (no code), or unknown runner token (`code: unknown_runner_token`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "Someone took the job meanwhile (`code: runner_job_not_in_pending_state`)", content_type = "application/problem+json", body = Problem),
        (status = 503, description = "The database cannot be reached; retry later", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    RunnerBody(body): RunnerBody,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let job_uuid = fields.job_uuid_param("jobUUID", &path);
    fields.finish(req.path())?;
    let Some(job_uuid) = job_uuid else {
        return Err(ApiError::internal(&"jobUUID missing after validation"));
    };
    offer::check_acceptable(&state, job_uuid).await?;
    let mut fields = Fields::new(&body);
    let runner_token = fields.token::<RunnerToken>("runnerToken");
    fields.finish(req.path())?;
    let Some(runner_token) = runner_token else {
        return Err(ApiError::internal(&"runnerToken missing after validation"));
    };
    let job = offer::accept(&state, job_uuid, &runner_token, &ip.0).await?;
    Ok(HttpResponse::Ok().json(Accepted { job }))
}

/// `reason` of an abort (1..5000 characters, kept as the runner wrote it, control
/// characters dropped).
#[derive(Debug)]
pub struct Reason(String);

impl CallBody for Reason {
    fn read(fields: &mut Fields<'_>, _: &HttpRequest) -> Reason {
        Reason(fields.required_report("reason", 1, 5000))
    }
}

/// `message` of an error report (same rules as [`Reason`]).
#[derive(Debug)]
pub struct Message(String);

impl CallBody for Message {
    fn read(fields: &mut Fields<'_>, _: &HttpRequest) -> Message {
        Message(fields.required_report("message", 1, 5000))
    }
}

/// `POST /jobs/{jobUUID}/abort`: 204.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/abort",
    tag = "Runner Jobs",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    request_body(content((AbortBody = "application/json"), (AbortBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Back to pending (no failure counted)"),
        (status = 400, description = "Invalid fields, or the job is not in a state this call allows (`code: runner_job_not_in_processing_state`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job: no job with this UUID and these tokens (no code)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn abort(
    state: web::Data<AppState>,
    call: JobCall<Reason>,
) -> Result<HttpResponse, ApiError> {
    report::abort(&state, &call.creds, &call.ip, &call.body.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /jobs/{jobUUID}/error`: 204.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/error",
    tag = "Runner Jobs",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    request_body(content((ErrorBody = "application/json"), (ErrorBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Counted: retried, or errored for good"),
        (status = 400, description = "Invalid fields, or the job is not in a state this call allows (`code: runner_job_not_in_processing_state`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job: no job with this UUID and these tokens (no code)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn error(
    state: web::Data<AppState>,
    call: JobCall<Message>,
) -> Result<HttpResponse, ApiError> {
    report::error(&state, &call.creds, &call.ip, &call.body.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A service answer before the files of `form` are read: on an error the rest of the
/// body is drained, so the runner reads the answer.
async fn before_files<T>(
    form: CallForm,
    r: Result<T, ServiceError>,
) -> Result<(T, CallForm), ApiError> {
    match r {
        Ok(v) => Ok((v, form)),
        Err(e) => Err(form.fail(e.into()).await),
    }
}

/// `POST /jobs/{jobUUID}/update` (multipart): 204, also (ignored) when the runner is
/// late and the job completing or completed.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/update",
    tag = "Runner Jobs",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    request_body(content((RunnerForm = "multipart/form-data"), (RunnerJson = "application/json"), (RunnerForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 204, description = "Progress and heartbeat recorded (or ignored: the job is completing or completed)"),
        (status = 400, description = "Invalid fields or payload, or the job is not processing (`code: runner_job_not_in_processing_state`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job: no job with this UUID and these tokens (no code)", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "The body is larger than the limit", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn update(state: web::Data<AppState>, call: JobForm) -> Result<HttpResponse, ApiError> {
    let admission = report::admit_update(&state, &call.creds, &call.ip).await;
    match before_files(call.form, admission).await? {
        (UpdateAdmission::Ignored, form) => form.drain().await,
        (UpdateAdmission::Accepted { held, file_fields }, form) => {
            let (fields, files) = form.read_files(files::staging(&state), file_fields).await?;
            let upload = RunnerUpload {
                fields: payload_fields(&fields),
                files,
            };
            report::update(&state, held, call.progress, upload).await?;
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /jobs/{jobUUID}/success` (multipart): 204.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/success",
    tag = "Runner Jobs",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)")),
    request_body(content((RunnerForm = "multipart/form-data"), (RunnerJson = "application/json"))),
    responses(
        (status = 204, description = "Stored (the job is completed, or errored when the files could not be stored)"),
        (status = 400, description = "Invalid fields, a required file is missing (`Payload is invalid`), or the job is not processing", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job: no job with this UUID and these tokens (no code)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "Another success won the race", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "The body is larger than the limit", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn success(state: web::Data<AppState>, call: JobForm) -> Result<HttpResponse, ApiError> {
    let admission = complete::admit(&state, &call.creds, &call.ip).await;
    let (SuccessAdmission { held, file_fields }, form) = before_files(call.form, admission).await?;
    let (fields, files) = form.read_files(files::staging(&state), file_fields).await?;
    let upload = RunnerUpload {
        fields: payload_fields(&fields),
        files,
    };
    complete::success(&state, held, upload).await?;
    Ok(HttpResponse::NoContent().finish())
}
