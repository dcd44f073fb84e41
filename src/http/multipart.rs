//! The multipart bodies of `update` and `success`, read as `peertube-runner` sends them
//! (`runner-protocol.md` 0, 1.6, 1.8): text fields first (every value a string, nested
//! keys as literal `payload[key]` names), then file parts.
//!
//! Reading is in two steps so that tokens are checked before a large file is read:
//! [`RunnerForm::read_fields`] stops at the first file part; [`RunnerForm::read_files`]
//! then streams each accepted file part chunk by chunk into a temporary file (never
//! into memory). The whole body is counted against `limits.runner_upload_bytes`
//! (413 beyond it) — actix-multipart has no cap of its own. Multipart file names are
//! never used for paths; unknown file parts are read and discarded.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
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
use crate::service::jobs::UploadedFile;

/// Largest text field.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;
/// Most text fields.
const MAX_TEXT_FIELDS: usize = 256;
/// Write buffer of upload temp files.
const WRITE_BUFFER: usize = 256 * 1024;

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

/// A multipart body being read.
pub struct RunnerForm {
    parts: Multipart,
    seen: Rc<Cell<u64>>,
    limit: u64,
    /// A file part met by `read_fields`, not read yet.
    pending: Option<Field>,
    /// Text fields so far, by their raw names.
    fields: BTreeMap<String, String>,
}

impl RunnerForm {
    /// Opens the body of `req`; 415 unless it is `multipart/form-data`, 413 when the
    /// declared length exceeds `limit`.
    pub fn open(
        req: &HttpRequest,
        payload: web::Payload,
        limit: u64,
    ) -> Result<RunnerForm, ApiError> {
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
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let seen = Rc::new(Cell::new(0));
        let body = Counted {
            inner: payload,
            seen: seen.clone(),
            limit,
        };
        Ok(RunnerForm {
            parts: Multipart::new(req.headers(), body),
            seen,
            limit,
            pending: None,
            fields: BTreeMap::new(),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> ApiError {
        if self.seen.get() > self.limit {
            too_large(self.limit)
        } else {
            ApiError::bad_request(format!("Malformed multipart body: {e}"))
        }
    }

    /// Reads text parts up to the first file part (or the end) and returns every text
    /// field so far by raw name (`runnerToken`, `payload[type]`, …).
    pub async fn read_fields(&mut self) -> Result<&BTreeMap<String, String>, ApiError> {
        while self.pending.is_none() {
            let Some(part) = self.parts.next().await else {
                break;
            };
            let part = part.map_err(|e| self.error(e))?;
            if is_file(&part) {
                self.pending = Some(part);
            } else {
                self.read_text(part).await?;
            }
        }
        Ok(&self.fields)
    }

    async fn read_text(&mut self, mut part: Field) -> Result<(), ApiError> {
        let name = part.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| self.error(e))?;
            if value.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                return Err(ApiError::bad_request(format!(
                    "Multipart field {name} is larger than {MAX_TEXT_FIELD_BYTES} bytes"
                )));
            }
            value.extend_from_slice(&chunk);
        }
        if self.fields.len() >= MAX_TEXT_FIELDS {
            return Err(ApiError::bad_request("Too many multipart fields"));
        }
        let value = String::from_utf8(value)
            .map_err(|_| ApiError::bad_request(format!("Multipart field {name} is not UTF-8")))?;
        self.fields.insert(name, value);
        Ok(())
    }

    /// Reads the rest of the body: each file part named `payload[key]` with `key` in
    /// `accepted` goes to a new temporary file in `dir`; other file parts (and file
    /// parts with an empty file name) are discarded; text parts are added to the
    /// fields. A second part for the same key is a 400. Returns the files by key and
    /// the final text fields.
    pub async fn read_files(
        mut self,
        dir: &Path,
        accepted: &[&str],
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, UploadedFile>), ApiError> {
        let mut files = BTreeMap::new();
        loop {
            let part = match self.pending.take() {
                Some(part) => part,
                None => match self.parts.next().await {
                    Some(part) => part.map_err(|e| self.error(e))?,
                    None => break,
                },
            };
            if !is_file(&part) {
                self.read_text(part).await?;
                continue;
            }
            let key = part
                .name()
                .and_then(payload_key)
                .filter(|k| accepted.contains(k))
                .map(str::to_owned);
            let named = part
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .is_some_and(|f| !f.is_empty());
            match key {
                Some(key) if named => {
                    if files.contains_key(&key) {
                        return Err(ApiError::bad_request(format!(
                            "Unexpected field: payload[{key}] sent twice"
                        )));
                    }
                    let file = self.save(part, dir).await?;
                    files.insert(key, file);
                }
                _ => self.discard(part).await?,
            }
        }
        Ok((self.fields, files))
    }

    async fn save(&self, mut part: Field, dir: &Path) -> Result<UploadedFile, ApiError> {
        let io = |e: std::io::Error| ApiError::internal(&format!("cannot write upload: {e}"));
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let dir = dir.to_owned();
        let temp = web::block(move || tempfile::Builder::new().prefix("upload-").tempfile_in(dir))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(io)?;
        let (file, path) = temp.into_parts();
        let mut out =
            tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut size = 0u64;
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| self.error(e))?;
            size += chunk.len() as u64;
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)?;
        out.into_inner().sync_all().await.map_err(io)?;
        Ok(UploadedFile { path, size })
    }

    async fn discard(&self, mut part: Field) -> Result<(), ApiError> {
        while let Some(chunk) = part.next().await {
            chunk.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Reads and drops the rest of the body, so that an early answer reaches a client
    /// that is still sending. Stops quietly at the size limit or a malformed body.
    pub async fn drain(mut self) {
        if let Some(part) = self.pending.take()
            && self.discard(part).await.is_err()
        {
            return;
        }
        while let Some(Ok(part)) = self.parts.next().await {
            if self.discard(part).await.is_err() {
                return;
            }
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body is larger than {limit} bytes"),
    )
}

fn is_file(part: &Field) -> bool {
    part.content_disposition()
        .is_some_and(|cd| cd.get_filename().is_some() || cd.get_filename_ext().is_some())
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
}
