//! Runner calls' credentials in handler signatures: [`JobCall`] for the job-scoped JSON
//! calls (abort, error, input downloads) and [`JobForm`] for the multipart ones
//! (update, success). Both parse the same [`JobCredentials`] at the edge (`jobUUID`
//! from the path, `runnerToken` and `jobToken` from the body) with whatever else the
//! call carries, and answer one 400 naming every bad field, as PeerTube's validators
//! do. Which states a call allows, and whether the tokens match, is the service's to
//! say.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde_json::{Map, Value};

use super::extract::{ClientIp, Fields};
use super::multipart::RunnerForm;
use super::runner_body::{self, RunnerBody};
use crate::domain::ids::{JobToken, RunnerToken};
use crate::domain::runner_input::parse_progress;
use crate::error::ApiError;
use crate::metrics::uploads::UploadKind;
use crate::service::files::Staging;
use crate::service::jobs::{JobCredentials, UploadedFile};
use crate::state::AppState;

/// What a job-scoped JSON call carries besides its credentials.
pub trait CallBody: Sized + 'static {
    /// Reads (and validates into `fields`) the call's own fields and URL parameters.
    fn read(fields: &mut Fields<'_>, req: &HttpRequest) -> Self;
}

/// No other field (input downloads).
impl CallBody for () {
    fn read(_: &mut Fields<'_>, _: &HttpRequest) {}
}

/// Reads the credentials of a job-scoped call; `None` when one is invalid (the error
/// is recorded in `fields`).
fn credentials(fields: &mut Fields<'_>, req: &HttpRequest) -> Option<JobCredentials> {
    let raw_uuid = req.match_info().get("jobUUID").unwrap_or_default();
    let job_uuid = fields.job_uuid_param("jobUUID", raw_uuid);
    let runner_token = fields.token::<RunnerToken>("runnerToken");
    let job_token = fields.token::<JobToken>("jobToken");
    Some(JobCredentials {
        job_uuid: job_uuid?,
        runner_token: runner_token?,
        job_token: job_token?,
    })
}

/// Unreachable in practice: `Fields::finish` fails whenever a credential is missing.
fn missing_credentials() -> ApiError {
    ApiError::internal(&"job call credentials missing after validation")
}

fn client_ip(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.server.trusted_proxies.clone())
        .unwrap_or_default();
    ClientIp::resolve(req, &trusted).0
}

/// A job-scoped runner call with a JSON body: its credentials, its own body `B`, and
/// the client IP.
#[derive(Debug)]
pub struct JobCall<B = ()> {
    /// The job and the runner's tokens.
    pub creds: JobCredentials,
    /// The call's own fields.
    pub body: B,
    /// The client IP (behind trusted proxies).
    pub ip: String,
}

impl<B: CallBody> FromRequest for JobCall<B> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<JobCall<B>, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = RunnerBody::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let RunnerBody(body) = json.await?;
            let mut fields = Fields::new(&body);
            let creds = credentials(&mut fields, &req);
            let call_body = B::read(&mut fields, &req);
            fields.finish(req.path())?;
            Ok(JobCall {
                creds: creds.ok_or_else(missing_credentials)?,
                body: call_body,
                ip: client_ip(&req),
            })
        })
    }
}

/// The body of `update` or `success` past its text fields: the rest of a multipart
/// form (its files, unread), or nothing (a JSON or form-urlencoded body, which
/// carries no file).
pub enum CallForm {
    /// `multipart/form-data`, from its first file part on.
    Multipart(Box<RunnerForm>),
    /// Any other body, read whole: its fields are all there is.
    Fields(BTreeMap<String, String>),
}

impl CallForm {
    /// The text fields and the files (`payload[key]` with `key` in `accepted`) of
    /// the rest of the body (see [`RunnerForm::read_files`]).
    pub async fn read_files(
        self,
        staging: &Staging,
        accepted: &[&str],
    ) -> Result<(BTreeMap<String, String>, BTreeMap<String, UploadedFile>), ApiError> {
        match self {
            CallForm::Multipart(form) => (*form).read_files(staging, accepted).await,
            CallForm::Fields(fields) => Ok((fields, BTreeMap::new())),
        }
    }

    /// Reads and drops the rest of the body.
    pub async fn drain(self) {
        if let CallForm::Multipart(form) = self {
            (*form).drain().await;
        }
    }

    /// Answers `e` once the rest of the body is read.
    pub async fn fail(self, e: ApiError) -> ApiError {
        match self {
            CallForm::Multipart(form) => (*form).fail(e).await,
            CallForm::Fields(_) => e,
        }
    }
}

/// A job-scoped runner call that may upload files (update, success), its text fields
/// read and checked: the rest of the body (the files) is still unread in `form`, so
/// that nothing large is read before the tokens are checked. The body is multipart
/// as runners send it, or JSON or form-urlencoded ([`runner_body`]), as PeerTube also
/// takes.
pub struct JobForm {
    /// The job and the runner's tokens.
    pub creds: JobCredentials,
    /// `progress`, when sent (an integer 0..100 as a string).
    pub progress: Option<i32>,
    /// The client IP (behind trusted proxies).
    pub ip: String,
    /// The rest of the body.
    pub form: CallForm,
}

fn is_multipart(req: &HttpRequest) -> bool {
    req.mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA)
}

impl FromRequest for JobForm {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<JobForm, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        if !is_multipart(&req) {
            let body = runner_body::read(&req, payload.take());
            return Box::pin(async move {
                let fields = runner_body::text_fields(&body.await?);
                let (creds, progress) = check_form_fields(&fields, &req)?;
                Ok(JobForm {
                    creds,
                    progress,
                    ip: client_ip(&req),
                    form: CallForm::Fields(fields),
                })
            });
        }
        let state = req.app_data::<web::Data<AppState>>();
        let limit = state.map_or(u64::MAX, |s| s.settings.limits.runner_upload_bytes);
        let meter = state
            .map(|s| s.metrics.uploads.meter(UploadKind::Runner))
            .unwrap_or_default();
        let body = web::Payload::from_request(&req, payload).into_inner();
        let opened = body
            .map_err(|e| ApiError::internal(&e))
            .and_then(|body| RunnerForm::open(&req, body, limit, meter));
        Box::pin(async move {
            let mut form = opened?;
            let read = match form.read_fields().await {
                Ok(fields) => check_form_fields(fields, &req),
                Err(e) => Err(e),
            };
            match read {
                Ok((creds, progress)) => Ok(JobForm {
                    creds,
                    progress,
                    ip: client_ip(&req),
                    form: CallForm::Multipart(Box::new(form)),
                }),
                // The runner reads the answer only once its body is consumed.
                Err(e) => Err(form.fail(e).await),
            }
        })
    }
}

/// The credentials and `progress` of a form's text fields.
fn check_form_fields(
    text: &BTreeMap<String, String>,
    req: &HttpRequest,
) -> Result<(JobCredentials, Option<i32>), ApiError> {
    let body: Map<String, Value> = text
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut fields = Fields::new(&body);
    let creds = credentials(&mut fields, req);
    let progress = fields.optional_str("progress", 0, 20).and_then(|p| {
        let parsed = parse_progress(&p);
        if parsed.is_none() {
            fields.invalid("progress", "Should have a valid progress (integer 0..100)");
        }
        parsed
    });
    fields.finish(req.path())?;
    Ok((creds.ok_or_else(missing_credentials)?, progress))
}
