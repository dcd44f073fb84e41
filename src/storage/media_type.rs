//! The media type of a stored object, from its key's extension: what `/static` and the
//! runner downloads answer with, and what object storage records with each object (so
//! that a public bucket, a CDN or a presigned URL serves it with the same type).

/// The media type of `key`, by its extension (players need
/// `application/vnd.apple.mpegurl` for HLS playlists, which the common tables call
/// `audio/x-mpegurl`).
pub fn content_type(key: &str) -> String {
    let ext = key
        .rsplit_once('/')
        .map_or(key, |(_, name)| name)
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let known = match ext.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mp4" | "m4v" => "video/mp4",
        "m4a" => "audio/mp4",
        "m4s" => "video/iso.segment",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "vtt" => "text/vtt; charset=utf-8",
        "json" => "application/json",
        "" => return mime::APPLICATION_OCTET_STREAM.to_string(),
        other => {
            return mime_guess::from_ext(other)
                .first_or_octet_stream()
                .to_string();
        }
    };
    known.to_owned()
}
