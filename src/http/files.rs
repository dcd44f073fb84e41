//! Input downloads for runners (`runner-protocol.md` 2): POST with the tokens in a JSON
//! body, answered with the raw file (a single byte range honoured: [`super::objects`])
//! or a redirect to object storage.

use actix_web::{HttpRequest, HttpResponse, web};

use super::extract::{ClientIp, Fields, JsonObject};
use super::jobs::credentials;
use super::objects;
use crate::domain::lifecycle::{PROCESSING_ONLY, is_task_file_name};
use crate::error::ApiError;
use crate::service::inputs::InputKind;
use crate::service::jobs::{check_job_token, downloads};
use crate::state::AppState;

/// `…/files/videos/{videoId}/max-quality`: the best video file.
pub async fn max_quality(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<(String, String)>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (job, video) = path.into_inner();
    serve(&state, &req, &ip, job, video, InputKind::MaxQuality, body).await
}

/// `…/files/videos/{videoId}/max-quality/audio`: the best audio file.
pub async fn max_quality_audio(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<(String, String)>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (job, video) = path.into_inner();
    serve(
        &state,
        &req,
        &ip,
        job,
        video,
        InputKind::MaxQualityAudio,
        body,
    )
    .await
}

/// `…/files/videos/{videoId}/previews/max-quality`: the preview image.
pub async fn preview(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<(String, String)>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (job, video) = path.into_inner();
    serve(&state, &req, &ip, job, video, InputKind::Preview, body).await
}

/// `…/files/videos/{videoId}/studio/task-files/{filename}`: an intro, outro or
/// watermark named by one of the job's tasks.
pub async fn studio_task_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    path: web::Path<(String, String, String)>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let (job, video, name) = path.into_inner();
    let kind = InputKind::StudioTaskFile(name);
    serve(&state, &req, &ip, job, video, kind, body).await
}

async fn serve(
    state: &AppState,
    req: &HttpRequest,
    ip: &ClientIp,
    job_uuid: String,
    video_ref: String,
    kind: InputKind,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(&body);
    let creds = credentials(&mut fields, job_uuid);
    if let InputKind::StudioTaskFile(name) = &kind
        && !is_task_file_name(name)
    {
        fields.invalid_param("filename", name, "Should have a valid task file name");
    }
    fields.finish(req.path())?;
    let held = check_job_token(state, &creds, &ip.0, &PROCESSING_ONLY).await?;
    let delivery = downloads::deliver_input(state, &held, &video_ref, kind).await?;
    objects::respond(req, delivery).await
}
