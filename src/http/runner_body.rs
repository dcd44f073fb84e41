//! Bodies of the runner API, read as PeerTube's Express app reads them
//! (`express.urlencoded({extended: false})` and `express.json()` on every route,
//! multer on `update` and `success` only):
//!
//! - JSON (`application/json`, `application/*+json`), at most `limits.json_body_bytes`:
//!   parsed; malformed JSON, or JSON that is not an object, is a 400;
//! - `application/x-www-form-urlencoded`: every value a string, a repeated key an
//!   array of strings (`register` works this way with PeerTube);
//! - anything else, or no body: no field at all, so the call's validation answers a
//!   400 naming the missing fields (PeerTube answers a `text/plain` request so),
//!   never a 415.
//!
//! `update` and `success` take these bodies too (PeerTube's OpenAPI document even
//! declares them JSON): their fields are flattened into the multipart form's text
//! fields ([`text_fields`]), with no file.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// What a body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Other,
}

fn kind(req: &HttpRequest) -> Kind {
    match req.mime_type().ok().flatten() {
        Some(m)
            if m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON)) =>
        {
            Kind::Json
        }
        Some(m) if m.type_() == mime::APPLICATION && m.subtype() == mime::WWW_FORM_URLENCODED => {
            Kind::Form
        }
        _ => Kind::Other,
    }
}

/// The fields of a runner call's body, as a JSON object.
#[derive(Debug, Clone)]
pub struct RunnerBody(pub Map<String, Value>);

impl FromRequest for RunnerBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<RunnerBody, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read(req, payload.take());
        Box::pin(async move { read.await.map(RunnerBody) })
    }
}

/// Reads the body of `req` (see the module documentation).
pub fn read(
    req: &HttpRequest,
    mut payload: Payload,
) -> impl Future<Output = Result<Map<String, Value>, ApiError>> + 'static {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(500 * 1024, |s| s.settings.limits.json_body_bytes);
    let kind = kind(req);
    async move {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("Cannot read body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("Body larger than {limit} bytes"),
                ));
            }
            // A body nobody parses is read (so the answer reaches a client still
            // sending) but not kept.
            if kind != Kind::Other {
                body.extend_from_slice(&chunk);
            }
        }
        match kind {
            Kind::Json => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err(ApiError::bad_request("JSON body must be an object")),
                Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
            },
            Kind::Form => Ok(form_fields(&body)),
            Kind::Other => Ok(Map::new()),
        }
    }
}

/// An `application/x-www-form-urlencoded` body: string values, a repeated key an
/// array of them (Node's `querystring`, which `extended: false` uses).
fn form_fields(body: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(items)) => items.push(v),
            Some(first) => {
                let first = first.take();
                map.insert(k.into_owned(), Value::Array(vec![first, v]));
            }
        }
    }
    map
}

/// The fields of a non-multipart `update` or `success` as the multipart form's text
/// fields: scalars as their text (`"progress": 42` is `progress=42`), `payload`'s
/// members as `payload[key]`, `null` as absent. A `payload` that is not an object is
/// kept under `payload[]`, so that it fails the type's payload check as with PeerTube.
pub fn text_fields(body: &Map<String, Value>) -> BTreeMap<String, String> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    let mut fields = BTreeMap::new();
    for (k, v) in body {
        match (k.as_str(), v) {
            ("payload", Value::Object(members)) => {
                for (mk, mv) in members {
                    if let Some(t) = text(mv) {
                        fields.insert(format!("payload[{mk}]"), t);
                    }
                }
            }
            ("payload", other) => {
                if let Some(t) = text(other) {
                    fields.insert("payload[]".to_owned(), t);
                }
            }
            (_, v) => {
                if let Some(t) = text(v) {
                    fields.insert(k.clone(), t);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_bodies_keep_strings_and_repeat_keys_as_arrays() {
        let map =
            form_fields(b"name=a+b&registrationToken=ptrrt-x&jobTypes=a&jobTypes=b&jobTypes=c");
        assert_eq!(map["name"], "a b");
        assert_eq!(map["jobTypes"], json!(["a", "b", "c"]));
    }

    #[test]
    fn json_fields_flatten_like_multipart_text_fields() {
        let body = json!({"runnerToken": "t", "progress": 42, "payload": {"type": "add-chunk",
                          "n": 3}, "x": null, "ok": true})
        .as_object()
        .cloned()
        .unwrap();
        let f = text_fields(&body);
        assert_eq!(f["progress"], "42");
        assert_eq!(f["payload[type]"], "add-chunk");
        assert_eq!(f["payload[n]"], "3");
        assert_eq!(f["ok"], "true");
        assert!(!f.contains_key("x"));
        let bad = json!({"payload": "x"}).as_object().cloned().unwrap();
        assert_eq!(text_fields(&bad)["payload[]"], "x");
        let empty = json!({"payload": {}}).as_object().cloned().unwrap();
        assert!(text_fields(&empty).is_empty());
    }
}
