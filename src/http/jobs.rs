//! Runner job endpoints under `/api/v1/runners/jobs` (`runner-protocol.md` 1.3–1.8):
//! request, accept, abort, error as JSON; update and success as multipart.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};

use super::extract::{ClientIp, Fields, JsonObject};
use super::multipart::{RunnerForm, payload_fields};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{
    PROCESSING_ONLY, SUCCESS_FILE_FIELDS, UPDATE_FILE_FIELDS, parse_progress, update_is_ignored,
};
use crate::error::ApiError;
use crate::service::files;
use crate::service::jobs::offer::{self, JobRequest};
use crate::service::jobs::view::RunnerJobView;
use crate::service::jobs::{
    HeldJob, JobCredentials, RunnerUpload, check_job_token, complete, report,
};
use crate::state::AppState;

/// `POST /jobs/request`: 200 `{availableJobs:[…]}`.
pub async fn request(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let runner_token = fields.required_str("runnerToken", 1, 1000);
    let job_types = fields.optional_str_array("jobTypes");
    let version = fields.lenient_str("version", 100);
    fields.finish(req.path())?;
    let request = JobRequest {
        runner_token,
        job_types,
        version,
        ip: ip.0,
    };
    let jobs = offer::request_jobs(&state, request).await?;
    Ok(HttpResponse::Ok().json(jobs))
}

#[derive(Serialize)]
struct Accepted {
    job: RunnerJobView,
}

/// `POST /jobs/{jobUUID}/accept`: 200 `{job:{…, jobToken}}`, checks in PeerTube's
/// order (UUID, job exists, PENDING, runner token, compare-and-set).
pub async fn accept(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let job_uuid = path.into_inner();
    let mut fields = Fields::new(&body);
    fields.uuid_param("jobUUID", &job_uuid);
    fields.finish(req.path())?;
    offer::check_acceptable(&state, &job_uuid).await?;
    let mut fields = Fields::new(&body);
    let runner_token = fields.required_str("runnerToken", 1, 1000);
    fields.finish(req.path())?;
    let job = offer::accept(&state, &job_uuid, &runner_token, &ip.0).await?;
    Ok(HttpResponse::Ok().json(Accepted { job }))
}

/// Step 1 of the job-token check: the `jobUUID`, `runnerToken` and `jobToken` shapes.
/// The caller adds its own fields and finishes `fields`.
pub(crate) fn credentials(fields: &mut Fields<'_>, job_uuid: String) -> JobCredentials {
    fields.uuid_param("jobUUID", &job_uuid);
    JobCredentials {
        runner_token: fields.required_str("runnerToken", 1, 1000),
        job_token: fields.required_str("jobToken", 1, 1000),
        job_uuid,
    }
}

/// `POST /jobs/{jobUUID}/abort`: 204.
pub async fn abort(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let creds = credentials(&mut fields, path.into_inner());
    let reason = fields.required_report("reason", 1, 5000);
    fields.finish(req.path())?;
    let held = check_job_token(&state, &creds, &ip.0, &PROCESSING_ONLY).await?;
    report::abort(&state, held, &creds, &reason).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /jobs/{jobUUID}/error`: 204.
pub async fn error(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let creds = credentials(&mut fields, path.into_inner());
    let message = fields.required_report("message", 1, 5000);
    fields.finish(req.path())?;
    let held = check_job_token(&state, &creds, &ip.0, &PROCESSING_ONLY).await?;
    report::error(&state, held, &creds, &message).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Opens a multipart runner call: reads the text fields, validates them (with
/// `progress` when `with_progress`), runs the job-token check for `allowed`. On any
/// error the rest of the body is drained so the runner reads the answer.
async fn open_form(
    state: &AppState,
    req: &HttpRequest,
    ip: &ClientIp,
    job_uuid: String,
    payload: web::Payload,
    allowed: &[JobState],
) -> Result<(RunnerForm, HeldJob, Option<i32>), ApiError> {
    let limit = state.settings.limits.runner_upload_bytes;
    let mut form = RunnerForm::open(req, payload, limit)?;
    let body: Map<String, Value> = form
        .read_fields()
        .await?
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut fields = Fields::new(&body);
    let creds = credentials(&mut fields, job_uuid);
    let progress = fields.optional_str("progress", 0, 20);
    let progress = progress.and_then(|p| {
        let parsed = parse_progress(&p);
        if parsed.is_none() {
            fields.invalid("progress", "Should have a valid progress (integer 0..100)");
        }
        parsed
    });
    let checked = match fields.finish(req.path()) {
        Ok(()) => check_job_token(state, &creds, &ip.0, allowed)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match checked {
        Ok(held) => Ok((form, held, progress)),
        Err(e) => Err(form.fail(e).await),
    }
}

/// `POST /jobs/{jobUUID}/update` (multipart): 204, also (ignored) on COMPLETING or
/// COMPLETED jobs.
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let allowed = crate::domain::lifecycle::UPDATE_STATES;
    let (form, held, progress) =
        open_form(&state, &req, &ip, path.into_inner(), payload, &allowed).await?;
    if update_is_ignored(held.state) {
        form.drain().await;
        return Ok(HttpResponse::NoContent().finish());
    }
    // Only live jobs take files in updates; others' are read and discarded.
    let accepted: &[&str] = if held.job_type == JobType::LiveRtmpHlsTranscoding {
        &UPDATE_FILE_FIELDS
    } else {
        &[]
    };
    let (fields, files) = form.read_files(files::staging(&state), accepted).await?;
    let upload = RunnerUpload {
        fields: payload_fields(&fields),
        files,
    };
    report::update(&state, held, progress, upload).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /jobs/{jobUUID}/success` (multipart): 204.
pub async fn success(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (form, held, _) = open_form(
        &state,
        &req,
        &ip,
        path.into_inner(),
        payload,
        &PROCESSING_ONLY,
    )
    .await?;
    let (fields, files) = form
        .read_files(files::staging(&state), &SUCCESS_FILE_FIELDS)
        .await?;
    let upload = RunnerUpload {
        fields: payload_fields(&fields),
        files,
    };
    complete::success(&state, held, upload).await?;
    Ok(HttpResponse::NoContent().finish())
}
