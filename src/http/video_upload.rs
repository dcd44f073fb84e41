//! Reading `POST /api/v1/videos` bodies: a multipart upload streamed to a staging file
//! (bytes counted against `limits.video_upload_bytes`: raw `Multipart` has no cap of
//! its own), or a JSON body naming an object already in storage.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use super::extract::Fields;
use crate::error::ApiError;
use crate::service::submit::{OutputOptions, SourceInput, Submission};
use crate::state::AppState;

/// Largest text field of a multipart upload.
const MAX_TEXT_FIELD: usize = 4096;
/// Multipart framing allowed on top of the video limit before the body is refused
/// from its `Content-Length` alone.
const FRAMING_SLACK: u64 = 1024 * 1024;

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The video is larger than the limit of {limit} bytes"),
    )
}

fn staging_error(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal(&format!("cannot write the upload to staging: {e}"))
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Field `{name}` must be true or false"
        ))),
    }
}

fn parse_resolutions(v: &str) -> Result<Vec<u32>, ApiError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('p').parse::<u32>().map_err(|_| {
                ApiError::bad_request("Field `resolutions` must list numbers, e.g. 360,720")
            })
        })
        .collect()
}

/// Streams one file part to a new staging file, counting bytes.
async fn stage_file(
    state: &AppState,
    field: &mut actix_multipart::Field,
) -> Result<tempfile::TempPath, ApiError> {
    let limit = state.settings.limits.video_upload_bytes;
    let tmp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(state.storage.staging_dir())
        .map_err(|e| staging_error(&e))?;
    let (file, path) = tmp.into_parts();
    let mut out = tokio::io::BufWriter::with_capacity(512 * 1024, tokio::fs::File::from_std(file));
    let mut received: u64 = 0;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("The upload was interrupted or malformed: {e}"))
        })?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(too_large(limit));
        }
        out.write_all(&chunk).await.map_err(|e| staging_error(&e))?;
    }
    out.flush().await.map_err(|e| staging_error(&e))?;
    out.into_inner()
        .sync_data()
        .await
        .map_err(|e| staging_error(&e))?;
    Ok(path)
}

async fn read_text(field: &mut actix_multipart::Field, name: &str) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("Malformed field: {e}")))?;
        if buf.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::bad_request(format!(
                "Field `{name}` is longer than {MAX_TEXT_FIELD} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| ApiError::bad_request(format!("Field `{name}` is not UTF-8 text")))
}

/// Reads a multipart submission: field `videoFile` (required, once) and the optional
/// text fields `name`, `baseFilename`, `destination`, `hls`, `webVideos`,
/// `resolutions` (comma-separated), in any order. Unknown fields are refused.
pub async fn read_multipart(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Submission, ApiError> {
    let limit = state.settings.limits.video_upload_bytes;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(FRAMING_SLACK)) {
        return Err(too_large(limit));
    }
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut video: Option<(tempfile::TempPath, Option<String>)> = None;
    let mut sub_name = None;
    let mut base_filename = None;
    let mut destination = None;
    let mut options = OutputOptions::default();
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| ApiError::bad_request(format!("Malformed multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "videoFile" => {
                if video.is_some() {
                    return Err(ApiError::bad_request("Field `videoFile` is given twice"));
                }
                let file_name = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .map(str::to_owned);
                video = Some((stage_file(state, &mut field).await?, file_name));
            }
            "name" => sub_name = Some(read_text(&mut field, &name).await?),
            "baseFilename" => base_filename = Some(read_text(&mut field, &name).await?),
            "destination" => destination = Some(read_text(&mut field, &name).await?),
            "hls" => options.hls = Some(parse_bool(&name, &read_text(&mut field, &name).await?)?),
            "webVideos" => {
                options.web_videos = Some(parse_bool(&name, &read_text(&mut field, &name).await?)?);
            }
            "resolutions" | "resolutions[]" => {
                let more = parse_resolutions(&read_text(&mut field, &name).await?)?;
                options
                    .resolutions
                    .get_or_insert_with(Vec::new)
                    .extend(more);
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Unknown field `{}`",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    let Some((file, file_name)) = video else {
        return Err(ApiError::bad_request(
            "Field `videoFile` is required (the video, as a file part)",
        ));
    };
    Ok(Submission {
        source: SourceInput::Upload { file, file_name },
        name: sub_name.filter(|n| !n.is_empty()),
        base_filename: base_filename.filter(|n| !n.is_empty()),
        destination: destination.filter(|n| !n.is_empty()),
        options,
    })
}

/// Reads a JSON submission: `{"filePath": "<storage key>", "name"?, "baseFilename"?,
/// "destination"?, "hls"?, "webVideos"?, "resolutions"?: [int]}`.
pub fn from_json(body: &Map<String, Value>, path: &str) -> Result<Submission, ApiError> {
    let mut fields = Fields::new(body);
    let key = fields.required_str("filePath", 1, 1024);
    let name = fields.optional_str("name", 1, 255);
    let base_filename = fields.optional_str("baseFilename", 1, 100);
    let destination = fields.optional_str("destination", 1, 512);
    fields.finish(path)?;
    let flag = |name: &str| -> Result<Option<bool>, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_request(format!(
                "Field `{name}` must be a boolean"
            ))),
        }
    };
    let resolutions = match body.get("resolutions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| {
                    ApiError::bad_request("Field `resolutions` must be an array of integers")
                })?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Field `resolutions` must be an array of integers",
            ));
        }
    };
    Ok(Submission {
        source: SourceInput::Stored { key },
        name,
        base_filename,
        destination,
        options: OutputOptions {
            hls: flag("hls")?,
            web_videos: flag("webVideos")?,
            resolutions,
        },
    })
}
