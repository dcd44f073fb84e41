//! The dashboard's static files, built into the binary (no CDN, no build step): its
//! style sheet and script, and hls.js (`assets/dashboard/hls.light.min.js`, pinned in
//! `assets/dashboard/hls.js.version`, refreshed by `scripts/update-hls-js.sh`).

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

/// `(name, media type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/dashboard/dashboard.css"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/dashboard/dashboard.js"),
    ),
    (
        "hls.light.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/dashboard/hls.light.min.js"),
    ),
];

/// The asset `name`, if there is one.
pub fn find(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, mime, bytes)| (*mime, *bytes))
}

/// `GET /dashboard/assets/{file}` (no session needed: nothing in them is private).
pub async fn serve(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (mime, bytes) = find(&file).ok_or_else(|| ApiError::not_found("No such asset"))?;
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header(("cache-control", "public, max-age=300"))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    #[test]
    fn the_embedded_hls_js_is_the_pinned_one() {
        let pinned = include_str!("../../../assets/dashboard/hls.js.version");
        let sha = pinned
            .lines()
            .find_map(|l| l.strip_prefix("sha256="))
            .unwrap_or_default();
        let (_, bytes) = super::find("hls.light.min.js").unwrap_or_default();
        assert_eq!(hex::encode(Sha256::digest(bytes)), sha);
    }
}
