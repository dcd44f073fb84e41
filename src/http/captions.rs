//! Captions and transcription in the private video API:
//! - `POST /api/v1/videos/{uuid}/transcription`: 202 with the video resource;
//! - `POST /api/v1/transcriptions` (JSON naming a stored object): 201 with the video
//!   resource created around it;
//! - `GET /api/v1/videos/{uuid}/captions`: `{total, data}`;
//! - `PUT /api/v1/videos/{uuid}/captions/{lang}`: the application's WebVTT file, as
//!   PeerTube takes it (multipart field `captionfile`) or as the raw body
//!   (`Content-Type: text/vtt`), at most `captions.max_bytes` (413 beyond), streamed
//!   to a staging file; 201 when new, 200 when it replaced one, with the caption;
//! - `DELETE /api/v1/videos/{uuid}/captions/{lang}`: 204.
//!
//! Errors carry the video API's codes ([`ApiError::for_video_api`]).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::auth::ApiKey;
use super::extract::{Fields, JsonObject};
use super::multipart::{FormLimits, MultipartForm};
use super::videos::video_uuid;
use crate::error::ApiError;
use crate::service::files::{self, StagedFile};
use crate::service::transcription::{self, StoredTranscription};
use crate::service::{captions, videos};
use crate::state::AppState;

/// The multipart field PeerTube takes a caption file in.
const CAPTION_FIELD: &str = "captionfile";

/// `POST /api/v1/videos/{uuid}/transcription`: 202 with the video resource (its
/// `transcription` pending).
#[utoipa::path(
    post,
    path = "/api/v1/videos/{uuid}/transcription",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 202, description = "Asked: the video resource, its `transcription` pending", body = videos::VideoView),
        (status = 400, description = "The video has no audio (`no_audio`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "A transcription is already pending or running (`transcription_in_progress`), or the video is still being stored (`conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn transcribe(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let uuid = video_uuid(&uuid)?;
        transcription::request(&state, uuid).await?;
        Ok(HttpResponse::Accepted().json(videos::get(&state, uuid).await?))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// `POST /api/v1/transcriptions` `{"filePath", "name"?, "destination"?,
/// "baseFilename"?}`: 201 with the new video resource and its `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/transcriptions",
    tag = "Videos",
    request_body(content((TranscriptionOfStored = "application/json"))),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 201, description = "A new video transcribing a stored object (`Location` names it)", body = videos::VideoView),
        (status = 400, description = "Invalid field (`invalid_request`), not usable media (`invalid_media`) or no audio (`no_audio`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The folder overlaps another video's (`folder_conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 415, description = "Not JSON (`unsupported_media_type`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    _key: ApiKey,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    async {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::JSON);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send application/json naming a stored object in `filePath`",
            ));
        }
        let JsonObject(body) = JsonObject::from_request(&req, &mut payload.into_inner()).await?;
        let mut fields = Fields::new(&body);
        let key = fields.required_str("filePath", 1, 1024);
        let name = fields.optional_str("name", 1, 255);
        let base_filename = fields.optional_str("baseFilename", 1, 100);
        let destination = fields.optional_str("destination", 1, 512);
        fields.finish(req.path())?;
        let request = StoredTranscription {
            key,
            name,
            destination,
            base_filename,
        };
        let video = transcription::transcribe_stored(&state, request).await?;
        let view = videos::get(&state, video.uuid).await?;
        Ok(HttpResponse::Created()
            .insert_header(("location", format!("/api/v1/videos/{}", view.uuid)))
            .json(view))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// `GET /api/v1/videos/{uuid}/captions`.
#[utoipa::path(
    get,
    path = "/api/v1/videos/{uuid}/captions",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The video's captions, by language", body = crate::service::captions::CaptionList),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let list = captions::list(&state, video_uuid(&uuid)?).await?;
        Ok(HttpResponse::Ok().json(list))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// `PUT /api/v1/videos/{uuid}/captions/{lang}`.
#[utoipa::path(
    put,
    path = "/api/v1/videos/{uuid}/captions/{lang}",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID"), ("lang" = String, Path, description = "BCP 47 language tag, one of `captions.languages`")),
    request_body(content((CaptionUpload = "multipart/form-data"), (String = "text/vtt"))),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "Replaced", body = crate::service::captions::CaptionView),
        (status = 201, description = "Stored", body = crate::service::captions::CaptionView),
        (status = 400, description = "Not UTF-8 WebVTT (`invalid_caption`), or an invalid language (`invalid_request`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "Too large (`payload_too_large`)", content_type = "application/problem+json", body = Problem),
        (status = 415, description = "Neither multipart nor `text/vtt` (`unsupported_media_type`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn put(
    state: web::Data<AppState>,
    req: HttpRequest,
    _key: ApiKey,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    async {
        let (uuid, language) = path.into_inner();
        let uuid = video_uuid(&uuid)?;
        let file = read_caption(&state, &req, payload).await?;
        let (caption, replaced) = captions::upload(&state, uuid, &language, file).await?;
        let mut res = if replaced {
            HttpResponse::Ok()
        } else {
            HttpResponse::Created()
        };
        Ok(res.json(caption))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// `DELETE /api/v1/videos/{uuid}/captions/{lang}`.
#[utoipa::path(
    delete,
    path = "/api/v1/videos/{uuid}/captions/{lang}",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID"), ("lang" = String, Path, description = "BCP 47 language tag, one of `captions.languages`")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An invalid language (`invalid_request`)", content_type = "application/problem+json", body = Problem),
        (status = 404, description = "No such video (`video_not_found`) or caption (`caption_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    _key: ApiKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    async {
        let (uuid, language) = path.into_inner();
        captions::delete(&state, video_uuid(&uuid)?, &language).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// The caption file of a PUT, staged: the multipart `captionfile` part or the raw
/// `text/vtt` body.
async fn read_caption(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<StagedFile, ApiError> {
    let limit = state.settings.captions.max_bytes;
    let mime = req.mime_type().ok().flatten();
    match mime {
        Some(m) if m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA => {
            let limits = FormLimits {
                files: limit,
                text_field: 1024,
                text_fields: 8,
            };
            // Caption files (a few KiB) are not counted in the upload metrics.
            let unmetered = crate::metrics::uploads::UploadMeter::default();
            let mut form = MultipartForm::open(req, payload, limits, unmetered)?;
            match read_caption_part(state, &mut form).await {
                Ok(file) => Ok(file),
                Err(e) => Err(form.fail(e).await),
            }
        }
        Some(m) if m.type_() == mime::TEXT && m.subtype() == "vtt" => {
            read_body(state, req, payload, limit).await
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the WebVTT file as multipart/form-data field `captionfile`, or as the \
             body with Content-Type: text/vtt",
        )),
    }
}

async fn read_caption_part(
    state: &AppState,
    form: &mut MultipartForm,
) -> Result<StagedFile, ApiError> {
    let mut file = None;
    while let Some(part) = form.next().await? {
        if part.name() != CAPTION_FIELD || !part.is_file() {
            return Err(ApiError::bad_request(format!(
                "Unexpected field `{}`: send only the file part `{CAPTION_FIELD}`",
                part.name()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect::<String>()
            )));
        }
        if file.is_some() {
            return Err(ApiError::bad_request(format!(
                "Field `{CAPTION_FIELD}` is given twice"
            )));
        }
        file = Some(form.save(part, files::staging(state)).await?.file);
    }
    file.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Field `{CAPTION_FIELD}` is required (the WebVTT file, as a file part)"
        ))
    })
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The caption is larger than the limit of {limit} bytes (captions.max_bytes)"),
    )
}

/// Streams a raw body of at most `limit` bytes to a staging file (413 beyond, from
/// `Content-Length` already when declared).
async fn read_body(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
) -> Result<StagedFile, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let io = |e: std::io::Error| ApiError::internal(&format!("cannot stage a caption: {e}"));
    let (staged, mut out) = files::staging(state)
        .create_file("caption-", ".vtt")
        .await
        .map_err(io)?;
    let mut size = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("Cannot read the body: {e}")))?;
        size = size.saturating_add(chunk.len() as u64);
        if size > limit {
            return Err(too_large(limit));
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    out.sync_data().await.map_err(io)?;
    Ok(staged)
}
