//! Studio edits and storyboards in the private video API:
//! - `POST /api/v1/videos/{uuid}/studio/edit`: PeerTube's task list, as multipart
//!   (`tasks[i][name]`, `tasks[i][options][start]`, `tasks[i][options][end]`, the file
//!   part `tasks[i][options][file]` of an intro, outro or watermark; the files
//!   together at most `limits.video_upload_bytes`, streamed to staging files) or, for
//!   edits without files (cuts), as JSON `{"tasks": [{"name": "cut", "options":
//!   {"start": 2, "end": 8}}]}`; 202 with the video resource (`editing`);
//! - `POST /api/v1/videos/{uuid}/storyboard`: 202 with the video resource, its
//!   `storyboard` pending.
//!
//! Errors carry the video API's codes ([`ApiError::for_video_api`]).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

use super::auth::ApiKey;
use super::extract::JsonObject;
use super::multipart::{FormLimits, MultipartForm};
use super::videos::video_uuid;
use crate::error::ApiError;
use crate::metrics::uploads::UploadKind;
use crate::service::studio::RequestedTask;
use crate::service::{files, storyboards, studio, videos};
use crate::state::AppState;

/// Largest text field of an edit.
const MAX_TEXT_FIELD: usize = 1024;
/// Most text fields of an edit.
const MAX_TEXT_FIELDS: usize = 64;
/// Highest task index read (the service refuses more than 10 tasks).
const MAX_INDEX: usize = 31;

/// A `tasks[i][...]` field: its index and what follows.
fn task_field(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("tasks[")?;
    let (index, member) = rest.split_once(']')?;
    let index: usize = index.parse().ok()?;
    (index <= MAX_INDEX).then_some((index, member))
}

fn empty_task() -> RequestedTask {
    RequestedTask {
        name: String::new(),
        start: None,
        end: None,
        file: None,
    }
}

fn bad_field(name: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Unknown field `{}` (expected tasks[i][name], tasks[i][options][start|end|file])",
        name.chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect::<String>()
    ))
}

/// Reads the multipart task list (see the module documentation).
async fn read_parts(
    state: &AppState,
    form: &mut MultipartForm,
) -> Result<Vec<RequestedTask>, ApiError> {
    let mut tasks: Vec<RequestedTask> = Vec::new();
    while let Some(part) = form.next().await? {
        let name = part.name().to_owned();
        let (index, member) = task_field(&name).ok_or_else(|| bad_field(&name))?;
        if tasks.len() <= index {
            tasks.resize_with(index + 1, empty_task);
        }
        if member == "[options][file]" {
            if !part.is_file() {
                return Err(ApiError::bad_request(format!(
                    "Field `{name}` must be a file"
                )));
            }
            if tasks[index].file.is_some() {
                return Err(ApiError::bad_request(format!(
                    "Field `{name}` is given twice"
                )));
            }
            let staged = form.save(part, files::staging(state)).await?;
            tasks[index].file = Some(staged.file);
            continue;
        }
        let slot = match member {
            "[name]" => None,
            "[options][start]" => Some(true),
            "[options][end]" => Some(false),
            _ => return Err(bad_field(&name)),
        };
        let value = form.text(part).await?;
        match slot {
            None => tasks[index].name = value,
            Some(true) => tasks[index].start = Some(value),
            Some(false) => tasks[index].end = Some(value),
        }
    }
    Ok(tasks)
}

/// Reads `{"tasks": [...]}` (no files: intro, outro and watermark need multipart).
fn from_json(body: &Map<String, Value>) -> Result<Vec<RequestedTask>, ApiError> {
    if let Some(k) = body.keys().find(|k| k.as_str() != "tasks") {
        return Err(bad_field(k));
    }
    let list = body
        .get("tasks")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("`tasks` must be an array of tasks"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let name = t.get("name").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("tasks[{i}].name must be a string"))
            })?;
            let option = |key: &str| -> Result<Option<String>, ApiError> {
                match t.get("options").and_then(|o| o.get(key)) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Number(n)) => Ok(Some(n.to_string())),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(ApiError::bad_request(format!(
                        "tasks[{i}].options.{key} must be a number"
                    ))),
                }
            };
            if t.get("options").and_then(|o| o.get("file")).is_some() {
                return Err(ApiError::bad_request(format!(
                    "tasks[{i}]: send task files as multipart/form-data"
                )));
            }
            Ok(RequestedTask {
                name: name.to_owned(),
                start: option("start")?,
                end: option("end")?,
                file: None,
            })
        })
        .collect()
}

/// `POST /api/v1/videos/{uuid}/studio/edit`: 202 with the video resource (`editing`).
#[utoipa::path(
    post,
    path = "/api/v1/videos/{uuid}/studio/edit",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    request_body(content((StudioEditUpload = "multipart/form-data"), (StudioEditJson = "application/json"))),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 202, description = "Asked: the video resource, `editing`, its `studio` pending", body = videos::VideoView),
        (status = 400, description = "No task, more than 10, an unknown task, cut bounds outside the video, a missing file (`invalid_request`), or a task file that is not media or not an image (`invalid_media`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The video is not published (being stored, transcoded, edited, or failed) or is audio only (`conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "Task files larger than `limits.video_upload_bytes` (`payload_too_large`)", content_type = "application/problem+json", body = Problem),
        (status = 415, description = "Neither multipart nor JSON (`unsupported_media_type`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn edit(
    state: web::Data<AppState>,
    req: HttpRequest,
    _key: ApiKey,
    uuid: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    async {
        let uuid = video_uuid(&uuid)?;
        let mime = req.mime_type().ok().flatten();
        let tasks = match mime {
            Some(m) if m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA => {
                let limits = FormLimits {
                    files: state.settings.limits.video_upload_bytes,
                    text_field: MAX_TEXT_FIELD,
                    text_fields: MAX_TEXT_FIELDS,
                };
                let meter = state.metrics.uploads.meter(UploadKind::Video);
                let mut form = MultipartForm::open(&req, payload, limits, meter)?;
                match read_parts(&state, &mut form).await {
                    Ok(tasks) => tasks,
                    Err(e) => return Err(form.fail(e).await),
                }
            }
            Some(m) if m.type_() == mime::APPLICATION && m.subtype() == mime::JSON => {
                let JsonObject(body) =
                    JsonObject::from_request(&req, &mut payload.into_inner()).await?;
                from_json(&body)?
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Send multipart/form-data with tasks[i][name] fields, or application/json \
                     {\"tasks\": [...]}",
                ));
            }
        };
        studio::request(&state, uuid, tasks).await?;
        Ok(HttpResponse::Accepted().json(videos::get(&state, uuid).await?))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// `POST /api/v1/videos/{uuid}/storyboard`: 202 with the video resource (its
/// `storyboard` pending).
#[utoipa::path(
    post,
    path = "/api/v1/videos/{uuid}/storyboard",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 202, description = "Asked: the video resource, its `storyboard` pending (taken by runners newer than 0.0.21 only)", body = videos::VideoView),
        (status = 400, description = "The video gets no storyboard: no moving picture, or shorter than 3 s (`invalid_request`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "A storyboard is already pending or running, or the video is being stored or edited (`conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn storyboard(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let uuid = video_uuid(&uuid)?;
        storyboards::request(&state, uuid).await?;
        Ok(HttpResponse::Accepted().json(videos::get(&state, uuid).await?))
    }
    .await
    .map_err(ApiError::for_video_api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_fields_are_read_by_index() {
        assert_eq!(task_field("tasks[0][name]"), Some((0, "[name]")));
        assert_eq!(
            task_field("tasks[3][options][file]"),
            Some((3, "[options][file]"))
        );
        assert_eq!(task_field("tasks[x][name]"), None);
        assert_eq!(task_field("tasks[99][name]"), None);
        assert_eq!(task_field("videoFile"), None);
    }
}
