//! What an S3 request's failure means: not found, or an error worded for an operator
//! (access denied → check the credentials; no such bucket; wrong region; endpoint
//! unreachable), never with a secret in it.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::super::StorageError;

/// A failed S3 request, classified.
#[derive(Debug)]
pub(super) struct Failure {
    /// The HTTP status, when the store answered.
    pub status: Option<u16>,
    /// The S3 error code (`NoSuchKey`, `AccessDenied`…), when the answer had a body.
    pub code: Option<String>,
    /// Everything known, for messages and logs.
    pub detail: String,
    /// The request never reached the store (connection refused, DNS, TLS, timeout).
    pub unreachable: bool,
}

impl Failure {
    pub fn of<E>(err: &SdkError<E>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .map(str::to_owned);
        let unreachable = matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        );
        let detail = match (
            status,
            &code,
            err.as_service_error().and_then(|e| e.message()),
        ) {
            (Some(status), Some(code), Some(message)) => format!("{status} {code}: {message}"),
            (Some(status), Some(code), None) => format!("{status} {code}"),
            (Some(status), None, _) => format!("HTTP {status}"),
            _ => DisplayErrorContext(err).to_string(),
        };
        Failure {
            status,
            code,
            detail,
            unreachable,
        }
    }

    /// The object (or bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404) || matches!(self.code.as_deref(), Some("NoSuchKey" | "NotFound"))
    }

    /// The bucket does not exist.
    pub fn is_no_such_bucket(&self) -> bool {
        self.code.as_deref() == Some("NoSuchBucket")
    }

    /// A storage error for `key`.
    pub fn into_error(self, key: &str) -> StorageError {
        if self.is_not_found() && !self.is_no_such_bucket() {
            return StorageError::NotFound(key.to_owned());
        }
        StorageError::ObjectStore {
            key: key.to_owned(),
            reason: self.explain(),
        }
    }

    /// What an operator reads: the failure, and what to check.
    pub fn explain(&self) -> String {
        let hint = match (self.status, self.code.as_deref()) {
            _ if self.unreachable => {
                "the endpoint cannot be reached (check storage.s3.endpoint and the network)"
            }
            (_, Some("NoSuchBucket")) => {
                "the bucket does not exist (create it, or fix storage.s3.bucket)"
            }
            (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch")) | (Some(401), _) => {
                "the credentials are wrong (storage.s3.access_key_id and secret_access_key, or the AWS chain)"
            }
            (Some(403), _) => {
                "access denied: check the credentials and that they may use this bucket"
            }
            (Some(301 | 307), _)
            | (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => {
                "the bucket is in another region (set storage.s3.region)"
            }
            // A HEAD of the bucket: no body, the SDK names it `NotFound`.
            (Some(404), code) if code != Some("NoSuchKey") => {
                "the bucket does not exist (create it, or fix storage.s3.bucket)"
            }
            _ => "",
        };
        if hint.is_empty() {
            self.detail.clone()
        } else {
            format!("{} ({hint})", self.detail)
        }
    }
}

/// A storage error for `key` from a failed request.
pub(super) fn storage_error<E>(key: &str, err: &SdkError<E>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    Failure::of(err).into_error(key)
}

/// A storage error for `key` from a body stream that failed.
pub(super) fn stream_error(key: &str, err: impl std::fmt::Display) -> StorageError {
    StorageError::ObjectStore {
        key: key.to_owned(),
        reason: format!("reading the object failed: {err}"),
    }
}
