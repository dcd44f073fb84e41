//! Request extractors that answer bad input with problem documents: a JSON object body
//! (content type, size limit, syntax), field validation shaped like PeerTube's
//! express-validator errors, and the client IP behind trusted proxies.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::domain::ids::{InvalidToken, JobUuid};
use crate::error::ApiError;
use crate::state::AppState;

/// A JSON object body: `Content-Type` must be JSON (`application/json` or `*+json`), the
/// body at most `limits.json_body_bytes`, the top level an object.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<JsonObject, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(500 * 1024, |s| s.settings.limits.json_body_bytes);
        let is_json = req.mime_type().ok().flatten().is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/json",
                ));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("Cannot read body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("JSON body larger than {limit} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => Ok(JsonObject(map)),
                Ok(_) => Err(ApiError::bad_request("JSON body must be an object")),
                Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
            }
        })
    }
}

/// Characters of a submitted value an error document echoes at most.
const ECHO_CHARS: usize = 64;

/// Characters of the request path an error document names at most.
const INSTANCE_CHARS: usize = 512;

/// `s` cut to [`ECHO_CHARS`] characters, marked with `…` when cut.
fn shorten(s: &str) -> String {
    shorten_to(s, ECHO_CHARS)
}

/// `s` cut to `max` characters, marked with `…` when cut.
fn shorten_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// What an error echoes of a submitted value: small values as they are, long strings
/// cut, large arrays and objects as their shortened JSON text. An error body stays
/// small whatever the request sent.
fn echo(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(shorten(s)),
        Value::Array(_) | Value::Object(_) => {
            let text = value.to_string();
            if text.chars().count() <= ECHO_CHARS {
                value.clone()
            } else {
                Value::String(shorten(&text))
            }
        }
        other => other.clone(),
    }
}

/// Which characters a text field accepts besides printable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextRule {
    /// One line: no control character at all (names, tokens, keys).
    Line,
    /// Free text: line breaks and tabs, no other control character.
    Multiline,
}

impl TextRule {
    fn allows(self, c: char) -> bool {
        !c.is_control() || (self == TextRule::Multiline && matches!(c, '\n' | '\r' | '\t'))
    }
}

/// Collects field errors the way PeerTube reports them: 400, detail
/// `Incorrect request parameters: a, b`, and an `invalid-params` map. Every string
/// field refuses control characters (`NUL` cannot even be stored by PostgreSQL), and
/// every echoed value is shortened.
#[derive(Debug)]
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Validates fields of `body`.
    pub fn new(body: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            body,
            errors: Map::new(),
        }
    }

    /// Records that body field `name` is invalid, with a message.
    pub fn invalid(&mut self, name: &str, msg: &str) {
        let value = self.body.get(name).map_or(Value::Null, echo);
        self.errors.insert(
            name.to_owned(),
            json!({"type": "field", "value": value, "msg": msg, "path": name, "location": "body"}),
        );
    }

    /// URL parameter `name` as a job UUID: a UUID v4 (PeerTube's `isUUID(v, 4)`).
    pub fn job_uuid_param(&mut self, name: &str, value: &str) -> Option<JobUuid> {
        JobUuid::parse(value)
            .inspect_err(|e| self.invalid_param(name, value, &e.to_string()))
            .ok()
    }

    /// A required token (runner, job or registration token): 1 to 1000 characters, no
    /// control character.
    pub fn token<T: FromStr<Err = InvalidToken>>(&mut self, name: &str) -> Option<T> {
        match self.body.get(name) {
            None | Some(Value::Null) => {
                self.invalid(name, "Field is required");
                None
            }
            Some(Value::String(s)) => s
                .parse()
                .inspect_err(|e: &InvalidToken| self.invalid(name, &e.to_string()))
                .ok(),
            Some(_) => {
                self.invalid(name, "Should be a string");
                None
            }
        }
    }

    /// Records that URL parameter `name` is invalid, with a message.
    pub fn invalid_param(&mut self, name: &str, value: &str, msg: &str) {
        self.errors.insert(
            name.to_owned(),
            json!({"type": "field", "value": shorten(value), "msg": msg, "path": name, "location": "params"}),
        );
    }

    /// Records that query parameter `name` is invalid, with a message.
    pub fn invalid_query(&mut self, name: &str, value: &str, msg: &str) {
        self.errors.insert(
            name.to_owned(),
            json!({"type": "field", "value": shorten(value), "msg": msg, "path": name, "location": "query"}),
        );
    }

    /// An optional array of strings (absent or `null` is `None`); anything else is
    /// invalid.
    pub fn optional_str_array(&mut self, name: &str) -> Option<Vec<String>> {
        match self.body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                if strings.is_none() {
                    self.invalid(name, "Should be an array of strings");
                }
                strings
            }
            Some(_) => {
                self.invalid(name, "Should be an array");
                None
            }
        }
    }

    /// A required one-line string with a length in `min..=max` characters. Returns an
    /// empty string when invalid (the error is recorded).
    pub fn required_str(&mut self, name: &str, min: usize, max: usize) -> String {
        match self.body.get(name) {
            None | Some(Value::Null) => {
                self.invalid(name, "Field is required");
                String::new()
            }
            Some(_) => self.optional_str(name, min, max).unwrap_or_default(),
        }
    }

    /// An optional one-line string (absent or `null` is `None`) with a length in
    /// `min..=max` characters and no control character.
    pub fn optional_str(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        self.text(name, min, max, TextRule::Line)
    }

    /// An optional free text (line breaks and tabs allowed, no other control
    /// character) with a length in `min..=max` characters.
    pub fn optional_multiline_str(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        self.text(name, min, max, TextRule::Multiline)
    }

    /// A required free text reported by a runner (an error message, a reason): its
    /// length is checked, then control characters other than line breaks and tabs
    /// are dropped rather than refused, so that a runner's report (ffmpeg output with
    /// colour codes, say) is never lost.
    pub fn required_report(&mut self, name: &str, min: usize, max: usize) -> String {
        let raw = match self.body.get(name) {
            None | Some(Value::Null) => {
                self.invalid(name, "Field is required");
                return String::new();
            }
            Some(Value::String(s)) => s,
            Some(_) => {
                self.invalid(name, "Should be a string");
                return String::new();
            }
        };
        let n = raw.chars().count();
        if n < min || n > max {
            self.invalid(
                name,
                &format!("Should have a length between {min} and {max}"),
            );
            return String::new();
        }
        raw.chars()
            .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
            .collect()
    }

    fn text(&mut self, name: &str, min: usize, max: usize, rule: TextRule) -> Option<String> {
        match self.body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min || n > max {
                    self.invalid(
                        name,
                        &format!("Should have a length between {min} and {max}"),
                    );
                    None
                } else if !s.chars().all(|c| rule.allows(c)) {
                    self.invalid(name, "Should not contain control characters");
                    None
                } else {
                    Some(s.clone())
                }
            }
            Some(_) => {
                self.invalid(name, "Should be a string");
                None
            }
        }
    }

    /// An optional value kept only when it is a one-line string of at most `max`
    /// characters; anything else is ignored rather than refused (for lenient fields
    /// like `version`).
    pub fn lenient_str(&self, name: &str, max: usize) -> Option<String> {
        match self.body.get(name) {
            Some(Value::String(s))
                if !s.is_empty()
                    && s.chars().count() <= max
                    && s.chars().all(|c| TextRule::Line.allows(c)) =>
            {
                Some(s.clone())
            }
            _ => None,
        }
    }

    /// Ok when every field was valid; otherwise the 400 problem for `instance` (the
    /// request path).
    pub fn finish(self, instance: &str) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = self.errors.keys().map(String::as_str).collect();
        Err(ApiError::bad_request(format!(
            "Incorrect request parameters: {}",
            names.join(", ")
        ))
        .with_extra("instance", json!(shorten_to(instance, INSTANCE_CHARS)))
        .with_extra("invalid-params", Value::Object(self.errors)))
    }
}

/// The client IP: the peer address, or, when the peer is a trusted proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl ClientIp {
    /// Resolves the client IP of `req` given the trusted proxies.
    pub fn resolve(req: &HttpRequest, trusted: &[IpAddr]) -> ClientIp {
        let peer = req.peer_addr().map(|a| a.ip());
        let Some(peer) = peer else {
            return ClientIp("unknown".to_owned());
        };
        if !trusted.contains(&peer) {
            return ClientIp(peer.to_string());
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let client = forwarded
            .iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .copied()
            .unwrap_or(peer);
        ClientIp(client.to_string())
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<ClientIp, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.trusted_proxies.clone())
            .unwrap_or_default();
        std::future::ready(Ok(ClientIp::resolve(req, &trusted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn forwarded_for_is_trusted_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let req = TestRequest::default()
            .peer_addr("10.0.0.1:1234".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, 5.6.7.8, 10.0.0.1"))
            .to_http_request();
        assert_eq!(ClientIp::resolve(&req, &[proxy]).0, "5.6.7.8");
        assert_eq!(ClientIp::resolve(&req, &[]).0, "10.0.0.1");
        let direct = TestRequest::default()
            .peer_addr("9.9.9.9:1".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_http_request();
        assert_eq!(ClientIp::resolve(&direct, &[proxy]).0, "9.9.9.9");
    }

    #[test]
    fn field_errors_name_every_bad_field() {
        let body = json!({"name": "", "description": 3, "version": 12})
            .as_object()
            .cloned()
            .unwrap();
        let mut f = Fields::new(&body);
        assert_eq!(f.required_str("registrationToken", 1, 1000), "");
        assert_eq!(f.required_str("name", 1, 100), "");
        assert_eq!(f.optional_str("description", 1, 1000), None);
        assert_eq!(f.lenient_str("version", 100), None);
        let err = f.finish("/x").unwrap_err();
        let body = err.body();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body["detail"],
            "Incorrect request parameters: description, name, registrationToken"
        );
        assert_eq!(body["invalid-params"]["name"]["path"], "name");
        assert_eq!(body["instance"], "/x");
    }

    #[test]
    fn control_characters_are_refused_and_values_echoed_short() {
        let long = "y".repeat(10_000);
        let many = vec!["z"; 100];
        let body = json!({"a": "x\u{0}y", "b": "two\nlines", "c": "two\nlines",
                          "d": long, "e": "ok", "f": many})
        .as_object()
        .cloned()
        .unwrap();
        let mut f = Fields::new(&body);
        assert_eq!(f.optional_str("a", 1, 100), None);
        assert_eq!(f.optional_str("b", 1, 100), None);
        assert_eq!(
            f.optional_multiline_str("c", 1, 100).as_deref(),
            Some("two\nlines")
        );
        assert_eq!(f.optional_str("d", 1, 100), None);
        assert_eq!(f.optional_str("e", 1, 100).as_deref(), Some("ok"));
        assert_eq!(f.optional_str("f", 1, 100), None);
        let err = f.finish("/x").unwrap_err().body();
        let params = &err["invalid-params"];
        assert_eq!(params["a"]["msg"], "Should not contain control characters");
        assert_eq!(params["b"]["msg"], "Should not contain control characters");
        assert!(params.get("c").is_none() && params.get("e").is_none());
        let echoed = params["d"]["value"].as_str().unwrap();
        assert_eq!(echoed.chars().count(), ECHO_CHARS + 1);
        assert!(echoed.ends_with('…'));
        assert!(params["f"]["value"].as_str().unwrap().ends_with('…'));
        assert!(err.to_string().len() < 2000);
    }

    #[test]
    fn tokens_and_uuids_are_parsed_with_every_error_named() {
        use crate::domain::ids::{JobToken, RunnerToken};
        let body = json!({"runnerToken": "ptrt-x", "jobToken": "", "other": 3})
            .as_object()
            .cloned()
            .unwrap();
        let mut f = Fields::new(&body);
        assert!(f.token::<RunnerToken>("runnerToken").is_some());
        assert!(f.token::<JobToken>("jobToken").is_none());
        assert!(f.token::<JobToken>("other").is_none());
        assert!(f.token::<JobToken>("missing").is_none());
        assert!(f.job_uuid_param("jobUUID", "nope").is_none());
        let err = f.finish("/x").unwrap_err().body();
        assert_eq!(
            err["detail"],
            "Incorrect request parameters: jobToken, jobUUID, missing, other"
        );
        assert_eq!(err["invalid-params"]["jobUUID"]["location"], "params");
    }

    #[test]
    fn runner_reports_keep_their_text_without_control_characters() {
        let body = json!({"m": "a\u{0}b\u{1b}[1m\r\nc\td", "n": 3})
            .as_object()
            .cloned()
            .unwrap();
        let mut f = Fields::new(&body);
        assert_eq!(f.required_report("m", 1, 100), "ab[1m\nc\td");
        assert_eq!(f.required_report("n", 1, 100), "");
        assert_eq!(f.lenient_str("m", 100), None);
        assert!(f.finish("/x").is_err());
    }
}
