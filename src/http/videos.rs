//! The private video API: `POST /api/v1/videos` (multipart upload or JSON naming a
//! stored object), `GET /api/v1/videos[/{uuid}]`, `DELETE /api/v1/videos/{uuid}`.
//! Every route needs `Authorization: Bearer <api key>`, and every error carries a
//! machine-readable `code` ([`ApiError::for_video_api`]; the README lists them).

#[allow(unused_imports, reason = "schemas named by the API document")]
use crate::http::openapi::schemas::*;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use super::auth::ApiKey;
use super::extract::JsonObject;
use super::video_upload;
use crate::domain::ids::VideoUuid;
use crate::domain::video::VideoState;
use crate::error::{ApiError, ServiceError};
use crate::service::{submit, videos};
use crate::state::AppState;

/// A `{uuid}` path segment: one that is not a UUID names no video (404).
pub(super) fn video_uuid(raw: &str) -> Result<VideoUuid, ApiError> {
    VideoUuid::from_stored(raw).map_err(|_| ApiError::from(ServiceError::NotFound("Video")))
}

/// Submits a video: 201 with the video resource and a `Location` header.
#[utoipa::path(
    post,
    path = "/api/v1/videos",
    tag = "Videos",
    request_body(content((VideoUpload = "multipart/form-data"), (VideoFromStorage = "application/json"))),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 201, description = "Submitted: the video resource (`Location` names it)", body = videos::VideoView),
        (status = 400, description = "Invalid field or `filePath` (`invalid_request`), or not usable media (`invalid_media`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The folder overlaps another video's (`folder_conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 413, description = "Larger than `limits.video_upload_bytes` (`payload_too_large`)", content_type = "application/problem+json", body = Problem),
        (status = 415, description = "Neither multipart nor JSON (`unsupported_media_type`)", content_type = "application/problem+json", body = Problem),
        (status = 503, description = "ffprobe/ffmpeg missing (`media_tools_unavailable`) or database down (`unavailable`)", content_type = "application/problem+json", body = Problem),
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
    create_video(&state, &req, payload)
        .await
        .map_err(ApiError::for_video_api)
}

async fn create_video(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mime = req.mime_type().ok().flatten();
    let submission = match mime {
        Some(m) if m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA => {
            video_upload::read_multipart(state, req, payload).await?
        }
        Some(m) if m.type_() == mime::APPLICATION && m.subtype() == mime::JSON => {
            let JsonObject(body) = JsonObject::from_request(req, &mut payload.into_inner()).await?;
            video_upload::from_json(&body, req.path())?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send multipart/form-data with a `videoFile` part, or application/json \
                 naming a stored object in `filePath`",
            ));
        }
    };
    let video = submit::submit(state, submission).await?;
    let view = videos::get(state, video.uuid).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/videos/{}", view.uuid)))
        .json(view))
}

/// One video.
#[utoipa::path(
    get,
    path = "/api/v1/videos/{uuid}",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The video resource", body = videos::VideoView),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let view = videos::get(&state, video_uuid(&uuid)?).await?;
        Ok(HttpResponse::Ok().json(view))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// A page of videos: `?start=0&count=15&state=<name>` (`count` at most 100).
#[utoipa::path(
    get,
    path = "/api/v1/videos",
    tag = "Videos",
    params(("start" = Option<i64>, Query, description = "Rows skipped (≥ 0)"), ("count" = Option<i64>, Query, description = "Rows returned (0..100, default 15)"), ("state" = Option<String>, Query, description = "Only videos in this state (`importing`, `transcoding`, `playable`, `published`, `failed`)")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "A page of videos, newest first", body = videos::VideoPage),
        (status = 400, description = "Invalid parameter (`invalid_request`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    _key: ApiKey,
) -> Result<HttpResponse, ApiError> {
    list_videos(&state, &req)
        .await
        .map_err(ApiError::for_video_api)
}

async fn list_videos(state: &AppState, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let (mut start, mut count, mut filter) = (0i64, 15i64, None);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let number = |max: i64| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("`{k}` must be an integer from 0 to {max}"))
                })
        };
        match k.as_ref() {
            "start" => start = number(i64::MAX)?,
            "count" => count = number(videos::MAX_PAGE)?,
            "state" => {
                filter = Some(VideoState::from_name(&v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Unknown state `{v}`: one of {}",
                        VideoState::ALL.map(VideoState::name).join(", ")
                    ))
                })?);
            }
            _ => {}
        }
    }
    Ok(HttpResponse::Ok().json(videos::list(state, filter, start, count).await?))
}

/// Deletes a video, its jobs and its files: 204.
#[utoipa::path(
    delete,
    path = "/api/v1/videos/{uuid}",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 204, description = "Deleted: its jobs cancelled, its recorded files removed"),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        videos::delete(&state, video_uuid(&uuid)?).await?;
        Ok(HttpResponse::NoContent().finish())
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// Retries what failed of a video: 200 with the video resource (its errored jobs
/// offered again, those that failed with them waiting again); 409 `not_retryable`
/// when none of its jobs failed.
#[utoipa::path(
    post,
    path = "/api/v1/videos/{uuid}/retry",
    tag = "Videos",
    description = "Re-plans what failed: the video's errored jobs are offered again (fresh attempts), the jobs that failed with them wait again.",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The video resource, transcoding again", body = videos::VideoView),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "No job of the video failed (`not_retryable`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn retry(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let uuid = video_uuid(&uuid)?;
        crate::service::jobs::retry_video(&state, uuid).await?;
        Ok(HttpResponse::Ok().json(videos::get(&state, uuid).await?))
    }
    .await
    .map_err(ApiError::for_video_api)
}
