//! Input downloads for runners (`runner-protocol.md` 2): POST with the tokens in a JSON
//! body, answered with the raw file (Range supported) or a redirect to object storage.

use std::path::Path;
use std::str::FromStr;

use actix_web::http::header::{self, ByteRangeSpec, Range};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::calls::{CallBody, JobCall};
use super::extract::Fields;
use crate::domain::runner_input::is_task_file_name;
use crate::error::ApiError;
use crate::service::inputs::InputKind;
use crate::service::jobs::downloads;
use crate::state::AppState;
use crate::storage::Location;

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
    match downloads::locate_input(state, &call.creds, &call.ip, video_ref, kind).await? {
        Location::LocalFile(path) => stream_file(req, &path).await,
        Location::Redirect(url) => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .finish()),
    }
}

/// Read size of streamed files.
const CHUNK: usize = 64 * 1024;

/// Streams a local file (never read whole into memory), honouring one `Range: bytes=`
/// range with 206 (actix-files only does ranges for GET; runners download with POST).
async fn stream_file(req: &HttpRequest, path: &Path) -> Result<HttpResponse, ApiError> {
    let io =
        |e: std::io::Error| ApiError::internal(&format!("cannot read {}: {e}", path.display()));
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    let content_type = path.extension().and_then(|e| e.to_str()).map_or(
        mime::APPLICATION_OCTET_STREAM,
        actix_files::file_extension_to_mime,
    );
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Range::from_str(v).ok());
    let mut res = match range {
        Some(Range::Bytes(specs)) if specs.len() == 1 => {
            let Some((start, end)) = specs
                .first()
                .and_then(|s: &ByteRangeSpec| s.to_satisfiable_range(len))
            else {
                return Ok(HttpResponse::RangeNotSatisfiable()
                    .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                    .finish());
            };
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(io)?;
            let mut res = HttpResponse::PartialContent();
            res.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            (res, end - start + 1)
        }
        _ => (HttpResponse::Ok(), len),
    };
    let (ref mut builder, remaining) = res;
    let body = stream::unfold((file, remaining), |(mut file, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(remaining).unwrap_or(CHUNK))];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(Bytes::from(buf)),
                    (file, remaining - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (file, 0))),
        }
    });
    Ok(builder
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .content_type(content_type)
        .no_chunking(remaining)
        .streaming(body))
}
