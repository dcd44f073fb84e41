//! Answering with a stored object, for `/static` and the runner input downloads, in
//! one place: media types by extension (`.m3u8` as `application/vnd.apple.mpegurl`)
//! with `X-Content-Type-Options: nosniff`; `ETag` and `Last-Modified` with
//! conditional requests (`If-Match`, `If-Unmodified-Since`: 412; `If-None-Match`,
//! `If-Modified-Since`: 304 on `GET`/`HEAD`); one byte range (206, or 416 with
//! `Content-Range: bytes */size`; several ranges or another unit get the whole object,
//! and `If-Range` must match); `HEAD` (headers only: the body is never read); or a
//! redirect when storage hands out URLs. Ranges are honoured on `POST` too, the
//! method of runner downloads.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::body::SizedStream;
use actix_web::http::header::{
    self, ByteRangeSpec, EntityTag, HttpDate, IfMatch, IfNoneMatch, IfRange, Range,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::service::files::{Delivery, ObjectMeta};

/// The media type of a stored object, by its extension (also what object storage
/// records with each object).
pub use crate::service::files::content_type;

/// What the conditional headers ask for.
#[derive(Debug, PartialEq, Eq)]
enum Condition {
    /// Answer normally.
    Proceed,
    /// 304 (or 412 for methods other than `GET` and `HEAD`).
    NotModified,
    /// 412.
    Failed,
}

/// Whole seconds since the epoch (HTTP dates have no finer precision).
fn secs(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// RFC 9110 section 13.2.2, in its order.
fn condition(req: &HttpRequest, etag: &EntityTag, modified: Option<SystemTime>) -> Condition {
    let modified = modified.and_then(secs);
    match req.get_header::<IfMatch>() {
        Some(IfMatch::Items(tags)) if !tags.iter().any(|t| t.strong_eq(etag)) => {
            return Condition::Failed;
        }
        Some(_) => {}
        None => {
            if let (Some(m), Some(header::IfUnmodifiedSince(since))) = (modified, req.get_header())
                && secs(since.into()).is_some_and(|since| m > since)
            {
                return Condition::Failed;
            }
        }
    }
    match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => return Condition::NotModified,
        Some(IfNoneMatch::Items(tags)) => {
            if tags.iter().any(|t| t.weak_eq(etag)) {
                return Condition::NotModified;
            }
        }
        None => {
            if matches!(*req.method(), Method::GET | Method::HEAD)
                && let (Some(m), Some(header::IfModifiedSince(since))) =
                    (modified, req.get_header())
                && secs(since.into()).is_some_and(|since| m <= since)
            {
                return Condition::NotModified;
            }
        }
    }
    Condition::Proceed
}

/// What part of the object to send.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Whole,
    /// Inclusive bounds.
    Range(u64, u64),
    Unsatisfiable,
}

fn if_range_matches(req: &HttpRequest, etag: &EntityTag, modified: Option<SystemTime>) -> bool {
    if !req.headers().contains_key(header::IF_RANGE) {
        return true;
    }
    match req.get_header::<IfRange>() {
        Some(IfRange::EntityTag(tag)) => tag.strong_eq(etag),
        Some(IfRange::Date(date)) => modified
            .and_then(secs)
            .is_some_and(|m| secs(date.into()) == Some(m)),
        None => false,
    }
}

fn part(req: &HttpRequest, meta: &ObjectMeta, etag: &EntityTag) -> Part {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::POST)
        || !if_range_matches(req, etag, meta.modified)
    {
        return Part::Whole;
    }
    match req.get_header::<Range>() {
        Some(Range::Bytes(specs)) if specs.len() == 1 => {
            match specs
                .first()
                .and_then(|s: &ByteRangeSpec| s.to_satisfiable_range(meta.size))
            {
                Some((start, end)) => Part::Range(start, end),
                None => Part::Unsatisfiable,
            }
        }
        _ => Part::Whole,
    }
}

/// The response for `delivery` (see the module documentation).
pub async fn respond(req: &HttpRequest, delivery: Delivery) -> Result<HttpResponse, ApiError> {
    let reader = match delivery {
        Delivery::Redirect(url) => {
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .finish());
        }
        Delivery::Stream(reader) => reader,
    };
    let meta = reader.meta().clone();
    let etag = EntityTag::new_strong(meta.etag.clone());
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type(reader.key())))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(header::ETag(etag.clone()));
    if let Some(modified) = meta.modified {
        res.insert_header(header::LastModified(HttpDate::from(modified)));
    }
    let get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    match condition(req, &etag, meta.modified) {
        Condition::Proceed => {}
        Condition::NotModified if get_or_head => {
            return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
        }
        Condition::NotModified | Condition::Failed => {
            return Ok(res.status(StatusCode::PRECONDITION_FAILED).finish());
        }
    }
    let (range, length) = match part(req, &meta, &etag) {
        Part::Whole => (None, meta.size),
        Part::Unsatisfiable => {
            return Ok(res
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{}", meta.size)))
                .finish());
        }
        Part::Range(start, end) => {
            res.status(StatusCode::PARTIAL_CONTENT).insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", meta.size),
            ));
            (Some(start..end + 1), end + 1 - start)
        }
    };
    if *req.method() == Method::HEAD {
        // actix writes the Content-Length of a sized body and no body for HEAD.
        let nothing =
            futures_util::stream::empty::<Result<actix_web::web::Bytes, std::io::Error>>();
        return Ok(res.body(SizedStream::new(length, nothing)));
    }
    let body = reader
        .stream(range)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(res.body(SizedStream::new(length, body)))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn playlists_and_renditions_get_the_types_players_expect() {
        assert_eq!(
            content_type("v/a/master.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(content_type("v/a/x-720.MP4"), "video/mp4");
        assert_eq!(content_type("v/a/thumbnail.jpg"), "image/jpeg");
        assert_eq!(content_type("v/a/fr.vtt"), "text/vtt; charset=utf-8");
        assert_eq!(content_type("v/a/noext"), "application/octet-stream");
        assert_eq!(content_type("v.d/noext"), "application/octet-stream");
        assert_eq!(content_type("v/a/in.webm"), "video/webm");
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            size: 1000,
            modified: Some(UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)),
            etag: "abc".to_owned(),
        }
    }

    fn date(secs: u64) -> String {
        HttpDate::from(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
    }

    #[test]
    fn conditions_follow_rfc_9110_order() {
        let (m, tag) = (meta(), EntityTag::new_strong("abc".to_owned()));
        let check = |req: TestRequest| condition(&req.to_http_request(), &tag, m.modified);
        assert_eq!(check(TestRequest::get()), Condition::Proceed);
        let inm = |v: &str| TestRequest::get().insert_header(("if-none-match", v.to_owned()));
        assert_eq!(check(inm("\"abc\"")), Condition::NotModified);
        assert_eq!(check(inm("W/\"abc\"")), Condition::NotModified);
        assert_eq!(check(inm("\"x\", \"abc\"")), Condition::NotModified);
        assert_eq!(check(inm("*")), Condition::NotModified);
        assert_eq!(check(inm("\"old\"")), Condition::Proceed);
        let ims = |s: u64| TestRequest::get().insert_header(("if-modified-since", date(s)));
        assert_eq!(check(ims(1_700_000_000)), Condition::NotModified);
        assert_eq!(check(ims(1_700_000_001)), Condition::NotModified);
        assert_eq!(check(ims(1_699_999_999)), Condition::Proceed);
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            check(inm("\"old\"").insert_header(("if-modified-since", date(1_700_000_001)))),
            Condition::Proceed
        );
        let im = |v: &str| TestRequest::get().insert_header(("if-match", v.to_owned()));
        assert_eq!(check(im("\"abc\"")), Condition::Proceed);
        assert_eq!(
            check(im("W/\"abc\"")),
            Condition::Failed,
            "strong comparison"
        );
        assert_eq!(check(im("\"old\"")), Condition::Failed);
        let ius = |s: u64| TestRequest::get().insert_header(("if-unmodified-since", date(s)));
        assert_eq!(check(ius(1_699_999_999)), Condition::Failed);
        assert_eq!(check(ius(1_700_000_000)), Condition::Proceed);
    }

    #[test]
    fn one_range_is_served_others_are_whole_or_unsatisfiable() {
        let (m, tag) = (meta(), EntityTag::new_strong("abc".to_owned()));
        let check = |req: TestRequest| part(&req.to_http_request(), &m, &tag);
        let range = |v: &str| TestRequest::get().insert_header(("range", v.to_owned()));
        assert_eq!(check(TestRequest::get()), Part::Whole);
        assert_eq!(check(range("bytes=0-99")), Part::Range(0, 99));
        assert_eq!(check(range("bytes=900-")), Part::Range(900, 999));
        assert_eq!(check(range("bytes=-10")), Part::Range(990, 999));
        assert_eq!(check(range("bytes=990-5000")), Part::Range(990, 999));
        assert_eq!(check(range("bytes=1000-")), Part::Unsatisfiable);
        assert_eq!(check(range("bytes=0-1,5-6")), Part::Whole);
        assert_eq!(check(range("items=0-1")), Part::Whole);
        assert_eq!(check(range("bytes=oops")), Part::Whole);
        let post = TestRequest::post().insert_header(("range", "bytes=1-2"));
        assert_eq!(check(post), Part::Range(1, 2));
        let put = TestRequest::put().insert_header(("range", "bytes=1-2"));
        assert_eq!(check(put), Part::Whole);
        let stale = range("bytes=0-1").insert_header(("if-range", "\"old\""));
        assert_eq!(check(stale), Part::Whole);
        let fresh = range("bytes=0-1").insert_header(("if-range", "\"abc\""));
        assert_eq!(check(fresh), Part::Range(0, 1));
        let dated = range("bytes=0-1").insert_header(("if-range", date(1_700_000_000)));
        assert_eq!(check(dated), Part::Range(0, 1));
    }
}
