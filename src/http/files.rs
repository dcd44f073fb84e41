//! Input downloads for runners (`runner-protocol.md` 2): POST with the tokens in a JSON
//! body, answered with the raw file (a single byte range honoured: [`super::objects`])
//! or a redirect to object storage.

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::{HttpRequest, HttpResponse, web};

use super::calls::{CallBody, JobCall};
use super::extract::Fields;
use super::objects;
use crate::domain::runner_input::is_task_file_name;
use crate::error::{ApiError, ServiceError};
use crate::service::inputs::InputKind;
use crate::service::jobs::downloads;
use crate::state::AppState;

/// `…/files/videos/{videoId}/max-quality`: the best video file.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}/max-quality",
    tag = "Runner Files",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)"), ("videoId" = String, Path, description = "The video: its UUID (or numeric id, or short UUID), followed by `~e<n>` in the URLs of an edited video's jobs (the edition they were planned for; the current source is served)")),
    request_body(content((JobTokensBody = "application/json"))),
    responses(
        (status = 200, description = "The file (one byte range honoured: 206)", content_type = "application/octet-stream", body = [u8]),
        (status = 206, description = "A byte range of the file", content_type = "application/octet-stream", body = [u8]),
        (status = 400, description = "Invalid fields or `videoId`, or the job is not processing", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "Job is not associated to this video", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job, video or file", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn max_quality(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    call: JobCall,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &call, &path.1, InputKind::MaxQuality).await
}

/// `…/files/videos/{videoId}/max-quality/audio`: the best audio file.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}/max-quality/audio",
    tag = "Runner Files",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)"), ("videoId" = String, Path, description = "The video: its UUID (or numeric id, or short UUID), followed by `~e<n>` in the URLs of an edited video's jobs (the edition they were planned for; the current source is served)")),
    request_body(content((JobTokensBody = "application/json"))),
    responses(
        (status = 200, description = "The file (one byte range honoured: 206)", content_type = "application/octet-stream", body = [u8]),
        (status = 206, description = "A byte range of the file", content_type = "application/octet-stream", body = [u8]),
        (status = 400, description = "Invalid fields or `videoId`, or the job is not processing", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "Job is not associated to this video", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job, video or file", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn max_quality_audio(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    call: JobCall,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &call, &path.1, InputKind::MaxQualityAudio).await
}

/// `…/files/videos/{videoId}/previews/max-quality`: the preview image.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}/previews/max-quality",
    tag = "Runner Files",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)"), ("videoId" = String, Path, description = "The video: its UUID (or numeric id, or short UUID), followed by `~e<n>` in the URLs of an edited video's jobs (the edition they were planned for; the current source is served)")),
    request_body(content((JobTokensBody = "application/json"))),
    responses(
        (status = 200, description = "The file (one byte range honoured: 206)", content_type = "application/octet-stream", body = [u8]),
        (status = 206, description = "A byte range of the file", content_type = "application/octet-stream", body = [u8]),
        (status = 400, description = "Invalid fields or `videoId`, or the job is not processing", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "Job is not associated to this video", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job, video or file", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    call: JobCall,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &call, &path.1, InputKind::Preview).await
}

/// The `{filename}` of a studio task file URL, checked
/// (`^[a-z0-9-]+\.[a-z0-9]{1,8}$`).
#[derive(Debug)]
pub struct TaskFileName(String);

impl CallBody for TaskFileName {
    fn read(fields: &mut Fields<'_>, req: &HttpRequest) -> TaskFileName {
        let name = req.match_info().get("filename").unwrap_or_default();
        if !is_task_file_name(name) {
            fields.invalid_param("filename", name, "Should have a valid task file name");
        }
        TaskFileName(name.to_owned())
    }
}

/// `…/files/videos/{videoId}/studio/task-files/{filename}`: an intro, outro or
/// watermark named by one of the job's tasks.
#[utoipa::path(
    post,
    path = "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}/studio/task-files/{filename}",
    tag = "Runner Files",
    params(("jobUUID" = String, Path, description = "Job UUID (v4)"), ("videoId" = String, Path, description = "The video: its UUID (or numeric id, or short UUID), followed by `~e<n>` in the URLs of an edited video's jobs (the edition they were planned for; the current source is served)"), ("filename" = String, Path, description = "A task file named by one of the job's tasks")),
    request_body(content((JobTokensBody = "application/json"))),
    responses(
        (status = 200, description = "The file (one byte range honoured: 206)", content_type = "application/octet-stream", body = [u8]),
        (status = 206, description = "A byte range of the file", content_type = "application/octet-stream", body = [u8]),
        (status = 400, description = "Invalid fields or `videoId`, or the job is not processing", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "Job is not associated to this video", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "Unknown runner job, video or file", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn studio_task_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    call: JobCall<TaskFileName>,
) -> Result<HttpResponse, ApiError> {
    let kind = InputKind::StudioTaskFile(call.body.0.clone());
    serve(&state, &req, &call, &path.1, kind).await
}

async fn serve<B>(
    state: &AppState,
    req: &HttpRequest,
    call: &JobCall<B>,
    video_ref: &str,
    kind: InputKind,
) -> Result<HttpResponse, ApiError> {
    let delivery = downloads::deliver_input(state, &call.creds, &call.ip, video_ref, kind)
        .await
        .map_err(|e| match e {
            // After the job-token check, as PeerTube's validators: a 400 naming it.
            ServiceError::InvalidVideoRef => {
                let body = serde_json::Map::new();
                let mut fields = Fields::new(&body);
                fields.invalid_param("videoId", video_ref, &e.to_string());
                fields
                    .finish(req.path())
                    .err()
                    .unwrap_or_else(|| ApiError::from(e))
            }
            other => other.into(),
        })?;
    objects::respond(req, delivery).await
}
