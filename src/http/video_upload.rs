//! Reading `POST /api/v1/videos` bodies: a multipart upload streamed to a staging file
//! by the shared reader ([`super::multipart`]: the file counted against
//! `limits.video_upload_bytes`, 413 beyond), or a JSON body naming an object already
//! in storage.

use actix_web::{HttpRequest, web};
use serde_json::{Map, Value};

use super::extract::Fields;
use super::multipart::{FormLimits, MultipartForm};
use crate::error::ApiError;
use crate::metrics::uploads::UploadKind;
use crate::service::files;
use crate::service::submit::{OutputOptions, SourceInput, Submission};
use crate::state::AppState;

/// Largest text field of a multipart upload.
const MAX_TEXT_FIELD: usize = 4096;
/// Most text fields of a multipart upload.
const MAX_TEXT_FIELDS: usize = 64;

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

/// Reads a multipart submission: field `videoFile` (required, once) and the optional
/// text fields `name`, `baseFilename`, `destination`, `hls`, `webVideos`,
/// `resolutions` (comma-separated), `transcription`, `callbackUrl`, in any order. Unknown fields are refused. The
/// body is drained before an error is answered.
pub async fn read_multipart(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Submission, ApiError> {
    let limits = FormLimits {
        files: state.settings.limits.video_upload_bytes,
        text_field: MAX_TEXT_FIELD,
        text_fields: MAX_TEXT_FIELDS,
    };
    let meter = state.metrics.uploads.meter(UploadKind::Video);
    let mut form = MultipartForm::open(req, payload, limits, meter)?;
    match read_parts(state, &mut form).await {
        Ok(submission) => Ok(submission),
        Err(e) => Err(form.fail(e).await),
    }
}

async fn read_parts(state: &AppState, form: &mut MultipartForm) -> Result<Submission, ApiError> {
    let mut video = None;
    let mut sub_name = None;
    let mut base_filename = None;
    let mut destination = None;
    let mut callback_url = None;
    let mut options = OutputOptions::default();
    let mut transcription = false;
    while let Some(part) = form.next().await? {
        let name = part.name().to_owned();
        if name == "videoFile" {
            if video.is_some() {
                return Err(ApiError::bad_request("Field `videoFile` is given twice"));
            }
            let file_name = part.file_name().map(str::to_owned);
            let staged = form.save(part, files::staging(state)).await?;
            video = Some((staged.file, file_name));
            continue;
        }
        if !matches!(
            name.as_str(),
            "name"
                | "baseFilename"
                | "destination"
                | "hls"
                | "webVideos"
                | "resolutions"
                | "resolutions[]"
                | "callbackUrl"
                | "transcription"
        ) {
            return Err(ApiError::bad_request(format!(
                "Unknown field `{}`",
                name.chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect::<String>()
            )));
        }
        let value = form.text(part).await?;
        match name.as_str() {
            "name" => sub_name = Some(value),
            "baseFilename" => base_filename = Some(value),
            "destination" => destination = Some(value),
            "callbackUrl" => callback_url = Some(value),
            "hls" => options.hls = Some(parse_bool(&name, &value)?),
            "webVideos" => options.web_videos = Some(parse_bool(&name, &value)?),
            "transcription" => transcription = parse_bool(&name, &value)?,
            _ => options
                .resolutions
                .get_or_insert_with(Vec::new)
                .extend(parse_resolutions(&value)?),
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
        callback_url: callback_url.filter(|u| !u.is_empty()),
        transcription,
    })
}

/// Reads a JSON submission: `{"filePath": "<storage key>", "name"?, "baseFilename"?,
/// "destination"?, "hls"?, "webVideos"?, "resolutions"?: [int], "transcription"?,
/// "callbackUrl"?}`.
pub fn from_json(body: &Map<String, Value>, path: &str) -> Result<Submission, ApiError> {
    let mut fields = Fields::new(body);
    let key = fields.required_str("filePath", 1, 1024);
    let name = fields.optional_str("name", 1, 255);
    let base_filename = fields.optional_str("baseFilename", 1, 100);
    let destination = fields.optional_str("destination", 1, 512);
    let callback_url = fields.optional_str("callbackUrl", 1, 2048);
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
        callback_url,
        transcription: flag("transcription")?.unwrap_or(false),
    })
}
