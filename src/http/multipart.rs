//! The one reader of `multipart/form-data` bodies: the runner calls `update` and
//! `success` (`runner-protocol.md` 0, 1.6, 1.8) and the video upload
//! (`POST /api/v1/videos`) share its limits and staging policy.
//!
//! - Parts are read in order with [`MultipartForm::next`]; the caller takes each as
//!   text ([`MultipartForm::text`]: at most `text_field` bytes of UTF-8, at most
//!   `text_fields` of them), saves it ([`MultipartForm::save`]: streamed chunk by
//!   chunk to a new file in this instance's staging folder, never into memory) or
//!   skips it.
//! - Limits: file parts together may hold `files` bytes (413 beyond); the whole body
//!   may hold that plus [`TEXT_BUDGET`] for text fields and framing (413 from the
//!   declared `Content-Length` before anything is read, else when the count passes
//!   it): actix-multipart has no cap of its own.
//! - Client file names are only ever a hint ([`Part::file_name`]: last path segment,
//!   no control characters); never a path.
//! - An answer given before the body is read ([`MultipartForm::fail`]) drains the
//!   rest first (up to the limit), so a client still sending reads it.
//! - Each file part being saved counts in `prc_uploads_in_progress`, its bytes in
//!   `prc_upload_received_bytes_total` ([`UploadMeter`], by kind: video or runner).
//! - File I/O runs on tokio's blocking pool ([`crate::service::files::Staging`]),
//!   never on an async worker; a file part cut short or refused leaves no file.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_multipart::{Field, Multipart};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;
use crate::metrics::uploads::UploadMeter;
use crate::service::files::Staging;
use crate::service::jobs::UploadedFile;

/// Bytes allowed on top of the file limit for text fields and multipart framing.
pub const TEXT_BUDGET: u64 = 1024 * 1024;
/// Write buffer of staged uploads.
const WRITE_BUFFER: usize = 512 * 1024;
/// Longest file name kept.
const MAX_FILE_NAME_CHARS: usize = 255;

/// What a form may hold.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    /// Bytes of all file parts together.
    pub files: u64,
    /// Bytes of one text field.
    pub text_field: usize,
    /// Number of text fields.
    pub text_fields: usize,
}

/// The request body with a byte counter that ends the stream with an error past the
/// limit.
struct Counted {
    inner: web::Payload,
    seen: Rc<Cell<u64>>,
    limit: u64,
}

impl Stream for Counted {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            let seen = self.seen.get().saturating_add(chunk.len() as u64);
            self.seen.set(seen);
            if seen > self.limit {
                return Poll::Ready(Some(Err(PayloadError::Overflow)));
            }
        }
        polled
    }
}

/// One part, not read yet.
pub struct Part {
    field: Field,
    name: String,
    file_name: Option<String>,
    is_file: bool,
}

impl Part {
    /// The field name (`videoFile`, `payload[progress]`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the client sent it as a file (a `filename` parameter, even empty).
    pub fn is_file(&self) -> bool {
        self.is_file
    }

    /// The client's file name, reduced to its last path segment without control
    /// characters; `None` when absent or empty. A hint (an extension), never a path.
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }
}

/// The last segment of a client file name, without control characters.
fn clean_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty() && clean != "." && clean != "..").then(|| clean.to_owned())
}

/// A multipart body being read.
pub struct MultipartForm {
    parts: Multipart,
    seen: Rc<Cell<u64>>,
    body_limit: u64,
    limits: FormLimits,
    file_bytes: u64,
    text_fields: usize,
    meter: UploadMeter,
}

impl MultipartForm {
    /// Opens the body of `req`: 415 unless it is `multipart/form-data`, 413 when the
    /// declared length exceeds the limits. Its file parts are counted by `meter`.
    pub fn open(
        req: &HttpRequest,
        payload: web::Payload,
        limits: FormLimits,
        meter: UploadMeter,
    ) -> Result<MultipartForm, ApiError> {
        let is_multipart = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA);
        if !is_multipart {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be multipart/form-data",
            ));
        }
        let body_limit = limits.files.saturating_add(TEXT_BUDGET);
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > body_limit) {
            return Err(too_large(limits.files));
        }
        let seen = Rc::new(Cell::new(0));
        let body = Counted {
            inner: payload,
            seen: seen.clone(),
            limit: body_limit,
        };
        Ok(MultipartForm {
            parts: Multipart::new(req.headers(), body),
            seen,
            body_limit,
            limits,
            file_bytes: 0,
            text_fields: 0,
            meter,
        })
    }

    /// The error for a failed read: 413 past the limit, else a malformed body.
    fn error(&self, e: impl std::fmt::Display) -> ApiError {
        if self.seen.get() > self.body_limit || self.file_bytes > self.limits.files {
            too_large(self.limits.files)
        } else {
            ApiError::bad_request(format!("Malformed multipart body: {e}"))
        }
    }

    /// The next part, or `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Part>, ApiError> {
        let Some(field) = self.parts.next().await else {
            return Ok(None);
        };
        let field = field.map_err(|e| self.error(e))?;
        let name = field.name().unwrap_or_default().to_owned();
        let (is_file, file_name) = match field.content_disposition() {
            Some(cd) => {
                let plain = cd.get_filename().map(str::to_owned);
                let ext = cd
                    .get_filename_ext()
                    .map(|v| String::from_utf8_lossy(&v.value).into_owned());
                let raw = plain.or(ext);
                (raw.is_some(), raw.as_deref().and_then(clean_file_name))
            }
            None => (false, None),
        };
        Ok(Some(Part {
            field,
            name,
            file_name,
            is_file,
        }))
    }

    /// Reads `part` as UTF-8 text within the limits.
    pub async fn text(&mut self, mut part: Part) -> Result<String, ApiError> {
        self.text_fields += 1;
        if self.text_fields > self.limits.text_fields {
            return Err(ApiError::bad_request("Too many multipart fields"));
        }
        let max = self.limits.text_field;
        let mut value = Vec::new();
        while let Some(chunk) = part.field.next().await {
            let chunk = chunk.map_err(|e| self.error(e))?;
            if value.len() + chunk.len() > max {
                return Err(ApiError::bad_request(format!(
                    "Field `{}` is longer than {max} bytes",
                    printable(&part.name)
                )));
            }
            value.extend_from_slice(&chunk);
        }
        String::from_utf8(value).map_err(|_| {
            ApiError::bad_request(format!(
                "Field `{}` is not UTF-8 text",
                printable(&part.name)
            ))
        })
    }

    /// Streams `part` to a new file in `staging`, counting its bytes against the file
    /// limit. A part cut short or over the limit leaves no file.
    pub async fn save(&mut self, part: Part, staging: &Staging) -> Result<UploadedFile, ApiError> {
        let io = |e: std::io::Error| ApiError::internal(&format!("cannot stage an upload: {e}"));
        let _in_progress = self.meter.start();
        let (staged, file) = staging.create_file("upload-", "").await.map_err(io)?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let written = self.copy(part, &mut out).await;
        let synced = match written {
            Ok(size) => async {
                out.flush().await?;
                out.into_inner().sync_data().await?;
                Ok(size)
            }
            .await
            .map_err(io),
            Err(e) => Err(e),
        };
        match synced {
            Ok(size) => Ok(UploadedFile { file: staged, size }),
            Err(e) => {
                if let Err(removed) = staged.remove().await {
                    tracing::warn!(error = %removed, "cannot remove a refused upload");
                }
                Err(e)
            }
        }
    }

    async fn copy(
        &mut self,
        mut part: Part,
        out: &mut tokio::io::BufWriter<tokio::fs::File>,
    ) -> Result<u64, ApiError> {
        let mut size = 0u64;
        while let Some(chunk) = part.field.next().await {
            let chunk = chunk.map_err(|e| self.error(e))?;
            self.meter.received(chunk.len() as u64);
            size += chunk.len() as u64;
            self.file_bytes = self.file_bytes.saturating_add(chunk.len() as u64);
            if self.file_bytes > self.limits.files {
                return Err(too_large(self.limits.files));
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| ApiError::internal(&format!("cannot stage an upload: {e}")))?;
        }
        Ok(size)
    }

    /// Reads and drops `part`.
    pub async fn skip(&mut self, mut part: Part) -> Result<(), ApiError> {
        while let Some(chunk) = part.field.next().await {
            chunk.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Reads and drops the rest of the body, so that an early answer reaches a client
    /// that is still sending. Stops quietly at the size limit or a malformed body.
    pub async fn drain(mut self) {
        while let Some(Ok(mut field)) = self.parts.next().await {
            while let Some(chunk) = field.next().await {
                if chunk.is_err() {
                    return;
                }
            }
        }
    }

    /// Answers `e` after draining the body (not after a 413: past the limit nothing
    /// more is read).
    pub async fn fail(self, e: ApiError) -> ApiError {
        if e.status() != StatusCode::PAYLOAD_TOO_LARGE {
            self.drain().await;
        }
        e
    }
}

/// A field name fit for an error message.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The upload is larger than the limit of {limit} bytes"),
    )
}

/// `key` of a `payload[key]` field name.
pub fn payload_key(name: &str) -> Option<&str> {
    name.strip_prefix("payload[")?.strip_suffix(']')
}

/// The `payload[key]` text fields, keyed by `key`.
pub fn payload_fields(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter_map(|(k, v)| payload_key(k).map(|k| (k.to_owned(), v.clone())))
        .collect()
}

/// The runner calls: text fields first (every value a string, nested keys as literal
/// `payload[key]` names), then file parts. Reading is in two steps so that tokens are
/// checked before a large file is read.
pub struct RunnerForm {
    form: MultipartForm,
    /// A file part met by `read_fields`, not read yet.
    pending: Option<Part>,
    /// Text fields so far, by their raw names.
    fields: BTreeMap<String, String>,
}

/// Limits of the runner calls' text fields.
const RUNNER_TEXT_FIELD: usize = 64 * 1024;
const RUNNER_TEXT_FIELDS: usize = 256;

impl RunnerForm {
    /// Opens a runner call's body; its files may hold `limit` bytes and are counted by
    /// `meter`.
    pub fn open(
        req: &HttpRequest,
        payload: web::Payload,
        limit: u64,
        meter: UploadMeter,
    ) -> Result<RunnerForm, ApiError> {
        let limits = FormLimits {
            files: limit,
            text_field: RUNNER_TEXT_FIELD,
            text_fields: RUNNER_TEXT_FIELDS,
        };
        Ok(RunnerForm {
            form: MultipartForm::open(req, payload, limits, meter)?,
            pending: None,
            fields: BTreeMap::new(),
        })
    }

    /// Reads text parts up to the first file part (or the end) and returns every text
    /// field so far by raw name (`runnerToken`, `payload[type]`, …).
    pub async fn read_fields(&mut self) -> Result<&BTreeMap<String, String>, ApiError> {
        while self.pending.is_none() {
            let Some(part) = self.form.next().await? else {
                break;
            };
            if part.is_file() {
                self.pending = Some(part);
            } else {
                let name = part.name().to_owned();
                let value = self.form.text(part).await?;
                self.fields.insert(name, value);
            }
        }
        Ok(&self.fields)
    }

    /// Reads the rest of the body: each file part named `payload[key]` with `key` in
    /// `accepted` and a file name goes to a new file in `staging`; other file parts
    /// are discarded; text parts are added to the fields. A second part for the same
    /// key is a 400. Returns the text fields and the files by key. The body is
    /// drained before an error is answered.
    pub async fn read_files(
        mut self,
        staging: &Staging,
        accepted: &[&str],
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, UploadedFile>), ApiError> {
        let mut files = BTreeMap::new();
        match self.read_rest(staging, accepted, &mut files).await {
            Ok(()) => Ok((self.fields, files)),
            Err(e) => Err(self.fail(e).await),
        }
    }

    async fn read_rest(
        &mut self,
        staging: &Staging,
        accepted: &[&str],
        files: &mut BTreeMap<String, UploadedFile>,
    ) -> Result<(), ApiError> {
        loop {
            let part = match self.pending.take() {
                Some(part) => part,
                None => match self.form.next().await? {
                    Some(part) => part,
                    None => return Ok(()),
                },
            };
            if !part.is_file() {
                let name = part.name().to_owned();
                let value = self.form.text(part).await?;
                self.fields.insert(name, value);
                continue;
            }
            let key = payload_key(part.name())
                .filter(|k| accepted.contains(k))
                .map(str::to_owned);
            match key {
                Some(key) if part.file_name().is_some() => {
                    if files.contains_key(&key) {
                        return Err(ApiError::bad_request(format!(
                            "Unexpected field: payload[{key}] sent twice"
                        )));
                    }
                    let file = self.form.save(part, staging).await?;
                    files.insert(key, file);
                }
                _ => self.form.skip(part).await?,
            }
        }
    }

    /// Answers `e` after draining the body (see [`MultipartForm::fail`]).
    pub async fn fail(self, e: ApiError) -> ApiError {
        if e.status() != StatusCode::PAYLOAD_TOO_LARGE {
            self.drain().await;
        }
        e
    }

    /// Reads and drops the rest of the body, the file part met by
    /// [`Self::read_fields`] first (the next part cannot be read before it).
    pub async fn drain(mut self) {
        if let Some(part) = self.pending.take()
            && self.form.skip(part).await.is_err()
        {
            return;
        }
        self.form.drain().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_keys_are_unwrapped() {
        assert_eq!(payload_key("payload[videoFile]"), Some("videoFile"));
        assert_eq!(payload_key("payload[]"), Some(""));
        assert_eq!(payload_key("videoFile"), None);
        assert_eq!(payload_key("payload[x"), None);
        let fields = BTreeMap::from([
            ("runnerToken".to_owned(), "t".to_owned()),
            ("payload[type]".to_owned(), "add-chunk".to_owned()),
        ]);
        assert_eq!(
            payload_fields(&fields),
            BTreeMap::from([("type".to_owned(), "add-chunk".to_owned())])
        );
    }

    #[test]
    fn client_file_names_are_reduced_to_a_plain_last_segment() {
        assert_eq!(clean_file_name("clip.mp4").as_deref(), Some("clip.mp4"));
        assert_eq!(
            clean_file_name("../../../../tmp/evil.mp4").as_deref(),
            Some("evil.mp4")
        );
        assert_eq!(
            clean_file_name("C:\\Users\\me\\v.MOV").as_deref(),
            Some("v.MOV")
        );
        assert_eq!(
            clean_file_name("a\u{0}b\nc.mp4").as_deref(),
            Some("abc.mp4")
        );
        assert_eq!(clean_file_name(""), None);
        assert_eq!(clean_file_name("dir/"), None);
        assert_eq!(clean_file_name(".."), None);
        assert_eq!(
            clean_file_name(&"x".repeat(1000)).map(|n| n.len()),
            Some(255)
        );
    }
}
