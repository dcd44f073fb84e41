//! Local storage served under `storage.serve_path` (`/static/<key>`), with Range,
//! conditional requests and `HEAD` (actix-files), or a redirect for object storage.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{Location, StorageError, validate_key};

/// Serves the stored object named by the rest of the path.
pub async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::not_found("File not found");
    let key = validate_key(&key).map_err(|_| not_found())?;
    let location = state.storage.locate(key).await.map_err(|e| match e {
        StorageError::NotFound(_) | StorageError::InvalidKey(_) => not_found(),
        other => ApiError::internal(&other),
    })?;
    let mut res = match location {
        Location::LocalFile(path) => web::block(move || actix_files::NamedFile::open(path))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|_| not_found())?
            .disable_content_disposition()
            .into_response(&req),
        Location::Redirect(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .finish(),
    };
    // HLS players on other origins fetch playlists and segments with XHR.
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    Ok(res)
}
