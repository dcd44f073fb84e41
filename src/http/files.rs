//! Input downloads for runners (`runner-protocol.md` 2): POST with the tokens in a JSON
//! body, answered with the raw file (a single byte range honoured: [`super::objects`])
//! or a redirect to object storage.

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
pub async fn max_quality(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    call: JobCall,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &call, &path.1, InputKind::MaxQuality).await
}

/// `…/files/videos/{videoId}/max-quality/audio`: the best audio file.
pub async fn max_quality_audio(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    call: JobCall,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &call, &path.1, InputKind::MaxQualityAudio).await
}

/// `…/files/videos/{videoId}/previews/max-quality`: the preview image.
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
