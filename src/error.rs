//! Errors and how they reach clients.
//!
//! Which type where:
//! - `db` returns [`crate::db::DbError`]; `Unavailable` means "could not ask", never
//!   "not found".
//! - `service` returns [`ServiceError`]: one variant per outcome a caller must tell
//!   apart (unknown token, wrong state, …), plus the wrapped subsystem errors.
//! - `http` returns [`ApiError`], built from a `ServiceError` in the single `match` of
//!   `From<ServiceError>`, or directly for request-shape problems (validation, body).
//!
//! Every error body is an RFC 7807 `application/problem+json` document shaped as
//! PeerTube's (`runner-protocol.md` 1.11): `type`, `title`, `status`, `detail`, `error`
//! (a copy of `detail`), and `code` when PeerTube sets one. Runners act on `code` alone:
//! `unknown_runner_token` makes them unregister for good, so it is only ever sent after
//! a successful lookup found nothing; the runner API sends no other code than
//! PeerTube's. The private video API codes every error
//! ([`ApiError::for_video_api`]): applications branch on `code`, never on `detail`
//! (the README lists the codes).

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::db::DbError;
use crate::media::{ProbeError, ProcessError};
use crate::storage::StorageError;

/// Machine-readable error codes: PeerTube's `ServerErrorCode` values that runners read,
/// then the private video API's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The runner token does not exist: the runner unregisters itself.
    UnknownRunnerToken,
    /// The job was taken by someone else.
    RunnerJobNotInPendingState,
    /// The job-token is valid but the job moved on (or a live session ended).
    RunnerJobNotInProcessingState,
    /// Video API, 400: a field, parameter or body is not acceptable.
    InvalidRequest,
    /// Video API, 400: the file is empty, not readable media, or has neither audio
    /// nor a moving picture.
    InvalidMedia,
    /// Video API, 401: no `Authorization: Bearer` key.
    MissingApiKey,
    /// Video API, 401: the key is not one of `auth.api_keys`.
    InvalidApiKey,
    /// Video API, 403: no API key is configured, so the API is closed.
    ApiDisabled,
    /// Video API, 400: the media has no audio stream, so there is nothing to
    /// transcribe.
    NoAudio,
    /// Video API, 400: a caption file is not UTF-8 WebVTT.
    InvalidCaption,
    /// Video API, 404: no video has this UUID.
    VideoNotFound,
    /// Video API, 404: the video has no caption in this language.
    CaptionNotFound,
    /// Video API, 409: a transcription of this video is already pending or running.
    TranscriptionInProgress,
    /// Video API, 404: anything else not found (a `filePath`, a route).
    NotFound,
    /// Video API, 409: the destination folder overlaps another video's.
    FolderConflict,
    /// Video API, 409: another conflict with the current state.
    Conflict,
    /// Video API, 413: the upload is larger than `limits.video_upload_bytes`.
    PayloadTooLarge,
    /// Video API, 415: neither multipart nor JSON.
    UnsupportedMediaType,
    /// Video API, 503: ffprobe or ffmpeg is not installed.
    MediaToolsUnavailable,
    /// Video API, 503: the database (or another dependency) is down; retry later.
    Unavailable,
    /// Video API, 500: a bug or an unexpected failure (logged).
    InternalError,
    /// Video and admin API, 409: nothing of this video or job can be retried.
    NotRetryable,
    /// Admin API, 401: no `Authorization: Bearer` key.
    MissingAdminKey,
    /// Admin API, 401: the key is not one of `auth.admin_keys`.
    InvalidAdminKey,
    /// Admin API, 403: no admin key is configured, so the admin API is closed.
    AdminApiDisabled,
    /// Admin API, 404: no runner has this id.
    RunnerNotFound,
    /// Admin API, 404: no registration token has this id.
    RegistrationTokenNotFound,
    /// Admin API, 404: no job has this UUID.
    JobNotFound,
    /// Admin API, 400: the job already ended and cannot be cancelled.
    NotCancellable,
}

impl ErrorCode {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownRunnerToken => "unknown_runner_token",
            ErrorCode::RunnerJobNotInPendingState => "runner_job_not_in_pending_state",
            ErrorCode::RunnerJobNotInProcessingState => "runner_job_not_in_processing_state",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidMedia => "invalid_media",
            ErrorCode::MissingApiKey => "missing_api_key",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::ApiDisabled => "api_disabled",
            ErrorCode::NoAudio => "no_audio",
            ErrorCode::InvalidCaption => "invalid_caption",
            ErrorCode::VideoNotFound => "video_not_found",
            ErrorCode::CaptionNotFound => "caption_not_found",
            ErrorCode::TranscriptionInProgress => "transcription_in_progress",
            ErrorCode::NotFound => "not_found",
            ErrorCode::FolderConflict => "folder_conflict",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MediaToolsUnavailable => "media_tools_unavailable",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::NotRetryable => "not_retryable",
            ErrorCode::MissingAdminKey => "missing_admin_key",
            ErrorCode::InvalidAdminKey => "invalid_admin_key",
            ErrorCode::AdminApiDisabled => "admin_api_disabled",
            ErrorCode::RunnerNotFound => "runner_not_found",
            ErrorCode::RegistrationTokenNotFound => "registration_token_not_found",
            ErrorCode::JobNotFound => "job_not_found",
            ErrorCode::NotCancellable => "not_cancellable",
        }
    }

    /// Whether PeerTube defines this code (its problem `type` then links PeerTube's
    /// documentation).
    pub fn is_peertube(self) -> bool {
        matches!(
            self,
            ErrorCode::UnknownRunnerToken
                | ErrorCode::RunnerJobNotInPendingState
                | ErrorCode::RunnerJobNotInProcessingState
        )
    }

    /// The video API's code of an error that has no more specific one.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status.as_u16() {
            400 => ErrorCode::InvalidRequest,
            401 => ErrorCode::MissingApiKey,
            403 => ErrorCode::ApiDisabled,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            503 => ErrorCode::Unavailable,
            _ => ErrorCode::InternalError,
        }
    }
}

/// Outcomes of service calls that are not plain success.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No runner has this token.
    #[error("Unknown runner token")]
    UnknownRunnerToken,
    /// No registration token has this value.
    #[error("Registration token is invalid")]
    InvalidRegistrationToken,
    /// Runner names are unique.
    #[error("This runner name already exists on this instance")]
    RunnerNameTaken,
    /// Lookup by id found nothing (admin and CLI operations).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request is well-formed but not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A new video's folder (or source) overlaps another video's (the message names
    /// which).
    #[error("{0}")]
    FolderConflict(String),
    /// A submitted file is not usable media (the message says why, without paths).
    #[error("{0}")]
    InvalidMedia(String),
    /// A transcription was asked of media without an audio stream.
    #[error("The media has no audio stream: there is nothing to transcribe")]
    NoAudio,
    /// A caption file is not acceptable (the message says why).
    #[error("{0}")]
    InvalidCaption(String),
    /// A transcription of this video is already pending or running.
    #[error("A transcription of this video is already pending or running")]
    TranscriptionInProgress,
    /// No job has this UUID, or the job/runner token pair does not match it (1.4, 1.10).
    #[error("Unknown runner job")]
    UnknownRunnerJob,
    /// Accept pre-check: the job is not PENDING (the usual lost race). PeerTube's 400
    /// and message, with the code `runner_job_not_in_pending_state` (PeerTube sends it
    /// on the 409 of the same race), which the runner treats as routine.
    #[error("This runner job is not in pending state")]
    JobNotPending,
    /// Accept compare-and-set lost: someone else took the job meanwhile.
    #[error("This job is not in pending state anymore")]
    JobTaken,
    /// The job-token is valid but the job is not in a state this call allows.
    #[error("Job is not in \"processing\" state")]
    JobNotProcessing,
    /// A `success` lost the PROCESSING → COMPLETING compare-and-set.
    #[error("This job is not in processing state anymore")]
    JobNoLongerProcessing,
    /// A runner's `payload[...]` does not fit the job type.
    #[error("Payload is invalid")]
    InvalidPayload,
    /// The caller may not do this (the message says why).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A live update reached a server that cannot store live chunks; the code makes
    /// the runner stop the live cleanly (3.4).
    #[error("Live transcoding is not supported by this server")]
    LiveNotSupported,
    /// A `{videoId}` that is neither an id, a UUID nor a short UUID (the http layer
    /// names the parameter).
    #[error("Should have a valid video id (id, short UUID or UUID)")]
    InvalidVideoRef,
    /// A retry of a job that did not fail for good, or of a video none of whose jobs
    /// did (the message says which).
    #[error("{0}")]
    NotRetryable(String),
    /// Cancel of a job that already ended.
    #[error(
        "Cannot cancel this job that is not in \"pending\", \"processing\" or \"waiting for parent job\" state"
    )]
    NotCancellable,
    /// The database could not be reached or failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Storage failed or refused a key.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// ffprobe/ffmpeg failed for a reason that is not the input's fault.
    #[error(transparent)]
    Media(#[from] ProbeError),
}

impl ServiceError {
    /// The video API's code for this error (`None`: decided by the status).
    fn video_api_code(&self) -> Option<ErrorCode> {
        Some(match self {
            ServiceError::NotFound("Video") => ErrorCode::VideoNotFound,
            ServiceError::NotFound("Runner") => ErrorCode::RunnerNotFound,
            ServiceError::NotFound("Registration token") => ErrorCode::RegistrationTokenNotFound,
            ServiceError::UnknownRunnerJob => ErrorCode::JobNotFound,
            ServiceError::NotCancellable => ErrorCode::NotCancellable,
            ServiceError::NotRetryable(_) => ErrorCode::NotRetryable,
            ServiceError::NotFound("Caption") => ErrorCode::CaptionNotFound,
            ServiceError::NoAudio => ErrorCode::NoAudio,
            ServiceError::InvalidCaption(_) => ErrorCode::InvalidCaption,
            ServiceError::TranscriptionInProgress => ErrorCode::TranscriptionInProgress,
            ServiceError::Invalid(_) => ErrorCode::InvalidRequest,
            ServiceError::InvalidMedia(_) => ErrorCode::InvalidMedia,
            ServiceError::FolderConflict(_) => ErrorCode::FolderConflict,
            ServiceError::Media(e) if e.is_bad_input() => ErrorCode::InvalidMedia,
            ServiceError::Media(ProbeError::Tool(ProcessError::NotFound { .. })) => {
                ErrorCode::MediaToolsUnavailable
            }
            _ => return None,
        })
    }
}

/// An HTTP error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: Option<ErrorCode>,
    /// The code the video API sends when `code` is unset (from the service error).
    video_code: Option<ErrorCode>,
    detail: Cow<'static, str>,
    extra: BTreeMap<&'static str, Value>,
    headers: Vec<(&'static str, &'static str)>,
}

/// Longest `detail` sent, in characters: details are written by this service, but some
/// quote what a client sent, which must never make an error body large.
const MAX_DETAIL_CHARS: usize = 1000;

fn bounded(detail: Cow<'static, str>) -> Cow<'static, str> {
    if detail.chars().count() <= MAX_DETAIL_CHARS {
        return detail;
    }
    let mut cut: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
    cut.push('…');
    Cow::Owned(cut)
}

impl ApiError {
    /// An error with a status and a human-readable detail (cut to 1000 characters).
    pub fn new(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status,
            code: None,
            video_code: None,
            detail: bounded(detail.into()),
            extra: BTreeMap::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header (e.g. `WWW-Authenticate` on a 401).
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// Adds PeerTube's machine-readable `code`.
    pub fn with_code(mut self, code: ErrorCode) -> ApiError {
        self.code = Some(code);
        self
    }

    /// The error as the admin API sends it: like the video API, always with a `code`.
    pub fn for_admin_api(self) -> ApiError {
        self.for_video_api()
    }

    /// The error as the private video API sends it: always with a `code` (the one
    /// set, else the service error's, else the one of its status).
    pub fn for_video_api(mut self) -> ApiError {
        let code = self
            .code
            .or(self.video_code)
            .unwrap_or_else(|| ErrorCode::for_status(self.status));
        self.code = Some(code);
        self
    }

    /// Adds an extension member to the document.
    pub fn with_extra(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra.insert(key, value);
        self
    }

    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 with a detail.
    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 500 for a bug or an unexpected failure; the cause goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// 503 when a dependency is down; the cause goes to the log only.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "dependency unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable, retry later",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `code`, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut doc = json!({
            "type": match self.code {
                Some(code) if code.is_peertube() => format!(
                    "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/{}",
                    code.as_str()
                ),
                _ => "about:blank".to_owned(),
            },
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "error": self.detail,
        });
        if let Some(code) = self.code {
            doc["code"] = json!(code.as_str());
        }
        for (k, v) in &self.extra {
            doc[*k] = v.clone();
        }
        doc
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header(ContentType(
            "application/problem+json; charset=utf-8"
                .parse()
                .unwrap_or(mime::APPLICATION_JSON),
        ));
        for header in &self.headers {
            res.insert_header(*header);
        }
        // A body refused as too large is not read to its end: the connection cannot
        // carry another request (a client that kept it would wait on it).
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            res.force_close();
        }
        res.body(self.body().to_string())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        match e {
            DbError::Unavailable(_) => ApiError::unavailable(&e),
            _ => ApiError::internal(&e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let video_code = e.video_api_code();
        let mut api = ApiError::from_service(e);
        api.video_code = video_code;
        api
    }
}

impl ApiError {
    /// The single `match` deciding the status (and PeerTube's code) of each outcome.
    fn from_service(e: ServiceError) -> ApiError {
        let detail = e.to_string();
        match e {
            ServiceError::UnknownRunnerToken => {
                ApiError::not_found(detail).with_code(ErrorCode::UnknownRunnerToken)
            }
            ServiceError::InvalidRegistrationToken | ServiceError::NotFound(_) => {
                ApiError::not_found(detail)
            }
            ServiceError::RunnerNameTaken
            | ServiceError::Invalid(_)
            | ServiceError::InvalidMedia(_)
            | ServiceError::NoAudio
            | ServiceError::InvalidCaption(_)
            | ServiceError::InvalidVideoRef
            | ServiceError::InvalidPayload
            | ServiceError::NotCancellable => ApiError::bad_request(detail),
            ServiceError::UnknownRunnerJob => ApiError::not_found(detail),
            ServiceError::JobNotPending => {
                ApiError::bad_request(detail).with_code(ErrorCode::RunnerJobNotInPendingState)
            }
            ServiceError::JobTaken => ApiError::new(StatusCode::CONFLICT, detail)
                .with_code(ErrorCode::RunnerJobNotInPendingState),
            ServiceError::JobNotProcessing | ServiceError::LiveNotSupported => {
                ApiError::bad_request(detail).with_code(ErrorCode::RunnerJobNotInProcessingState)
            }
            ServiceError::Conflict(_)
            | ServiceError::FolderConflict(_)
            | ServiceError::NotRetryable(_)
            | ServiceError::TranscriptionInProgress => ApiError::new(StatusCode::CONFLICT, detail),
            ServiceError::JobNoLongerProcessing => ApiError::new(StatusCode::CONFLICT, detail),
            ServiceError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, detail),
            ServiceError::Db(db) => db.into(),
            ServiceError::Storage(StorageError::InvalidKey(k)) => {
                ApiError::bad_request(k.to_string())
            }
            ServiceError::Storage(StorageError::NotFound(_)) => {
                ApiError::not_found("File not found")
            }
            ServiceError::Storage(e @ StorageError::Unusable { .. }) => ApiError::unavailable(&e),
            ServiceError::Storage(e) => ApiError::internal(&e),
            ServiceError::Media(e) if e.is_bad_input() => {
                // The tool's output names server paths: it goes to the log.
                tracing::info!(error = %e, "media refused");
                ApiError::bad_request(format!(
                    "The file is not a readable video or audio file ({})",
                    e.client_reason()
                ))
            }
            ServiceError::Media(ProbeError::Tool(e @ ProcessError::NotFound { .. })) => {
                // The message names the fix (install ffmpeg); it reveals nothing secret.
                tracing::error!(error = %e, "media tool missing");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
            ServiceError::Media(e) => ApiError::internal(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_runner_token_is_a_peertube_problem_document() {
        let e = ApiError::from(ServiceError::UnknownRunnerToken);
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            e.body(),
            json!({
                "type": "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/unknown_runner_token",
                "title": "Not Found",
                "status": 404,
                "detail": "Unknown runner token",
                "error": "Unknown runner token",
                "code": "unknown_runner_token",
            })
        );
    }

    #[test]
    fn a_database_outage_is_never_an_unknown_token() {
        let e = ApiError::from(ServiceError::Db(DbError::Unavailable("down".into())));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), None);
        assert!(!e.body().to_string().contains("down"));
    }

    #[test]
    fn details_are_bounded_and_media_errors_name_no_path() {
        let e = ApiError::bad_request("x".repeat(100_000));
        assert!(e.body().to_string().len() < 2 * MAX_DETAIL_CHARS + 500);
        let e = ApiError::from(ServiceError::Media(ProbeError::Tool(
            ProcessError::Failed {
                program: "ffprobe".to_owned(),
                status: "exit status: 1".to_owned(),
                stderr: "/srv/data/storage/.staging/upload-x: Invalid data found".to_owned(),
            },
        )));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(!e.body().to_string().contains("/srv"), "{}", e.body());
    }

    #[test]
    fn the_video_api_codes_every_error_and_the_runner_api_only_peertubes() {
        let not_found = || ServiceError::NotFound("Video");
        assert_eq!(ApiError::from(not_found()).code(), None, "runner API");
        let video = ApiError::from(not_found()).for_video_api();
        assert_eq!(video.code(), Some(ErrorCode::VideoNotFound));
        assert_eq!(video.body()["type"], "about:blank");
        assert_eq!(video.body()["code"], "video_not_found");
        let folder = ApiError::from(ServiceError::FolderConflict("taken".into())).for_video_api();
        assert_eq!(
            (folder.status(), folder.code()),
            (StatusCode::CONFLICT, Some(ErrorCode::FolderConflict))
        );
        let down = ApiError::from(ServiceError::Db(DbError::Unavailable("x".into())));
        assert_eq!(down.for_video_api().code(), Some(ErrorCode::Unavailable));
        let big = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "big").for_video_api();
        assert_eq!(big.code(), Some(ErrorCode::PayloadTooLarge));
        let set = ApiError::new(StatusCode::UNAUTHORIZED, "k")
            .with_code(ErrorCode::InvalidApiKey)
            .for_video_api();
        assert_eq!(set.code(), Some(ErrorCode::InvalidApiKey));
        // A PeerTube code keeps its documentation link.
        let taken = ApiError::from(ServiceError::JobTaken).for_video_api();
        assert!(
            taken.body()["type"]
                .as_str()
                .unwrap()
                .starts_with("https://docs.joinpeertube.org")
        );
    }

    #[test]
    fn errors_without_code_use_about_blank() {
        let body = ApiError::not_found("Registration token is invalid").body();
        assert_eq!(body["type"], "about:blank");
        assert!(body.get("code").is_none());
    }
}
