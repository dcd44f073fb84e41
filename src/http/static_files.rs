//! Published outputs served under `storage.serve_path` (`/static/<key>`), with Range,
//! conditional requests and `HEAD` (actix-files), or a redirect for object storage.
//! Which keys are served is the service's decision ([`crate::service::published`]);
//! every answer, errors included, carries `X-Content-Type-Options: nosniff` and
//! `Access-Control-Allow-Origin: *` (HLS players on other origins use XHR).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::error::{ApiError, ServiceError};
use crate::service::published;
use crate::state::AppState;
use crate::storage::PublicObject;

/// The media type of a published output, by extension; `None` leaves actix-files'
/// guess (which calls `.m3u8` `audio/x-mpegurl`, not what HLS players expect).
pub fn content_type(key: &str) -> Option<&'static str> {
    let ext = key.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "m4s" => "video/iso.segment",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "vtt" => "text/vtt; charset=utf-8",
        "json" => "application/json",
        _ => return None,
    })
}

/// Serves the published object named by the rest of the path; 404 for anything else.
pub async fn serve(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
) -> HttpResponse {
    let mut res = match open(&state, &req, &key).await {
        Ok(res) => res,
        Err(e) => e.error_response(),
    };
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

async fn open(state: &AppState, req: &HttpRequest, key: &str) -> Result<HttpResponse, ApiError> {
    let object = published::open(state, key).await.map_err(|e| match e {
        ServiceError::NotFound(_) => ApiError::not_found("File not found"),
        other => other.into(),
    })?;
    Ok(match object {
        PublicObject::LocalFile(file, path) => {
            let mut named = actix_files::NamedFile::from_file(file, path)
                .map_err(|e| ApiError::internal(&e))?
                .disable_content_disposition();
            if let Some(mime) = content_type(key).and_then(|m| m.parse().ok()) {
                named = named.set_content_type(mime);
            }
            named.into_response(req)
        }
        PublicObject::Redirect(url) => HttpResponse::Found()
            .insert_header((header::LOCATION, url))
            .finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn playlists_and_renditions_get_the_types_players_expect() {
        assert_eq!(
            content_type("v/a/master.m3u8"),
            Some("application/vnd.apple.mpegurl")
        );
        assert_eq!(content_type("v/a/x-720.MP4"), Some("video/mp4"));
        assert_eq!(content_type("v/a/thumbnail.jpg"), Some("image/jpeg"));
        assert_eq!(content_type("v/a/fr.vtt"), Some("text/vtt; charset=utf-8"));
        assert_eq!(content_type("v/a/noext"), None);
    }
}
