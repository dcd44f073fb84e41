//! Runner calls' credentials in handler signatures: [`JobCall`] for the job-scoped JSON
//! calls (abort, error, input downloads) and [`JobForm`] for the multipart ones
//! (update, success). Both parse the same [`JobCredentials`] at the edge (`jobUUID`
//! from the path, `runnerToken` and `jobToken` from the body) with whatever else the
//! call carries, and answer one 400 naming every bad field, as PeerTube's validators
//! do. Which states a call allows, and whether the tokens match, is the service's to
//! say.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde_json::{Map, Value};

use super::extract::{ClientIp, Fields, JsonObject};
use super::multipart::RunnerForm;
use crate::domain::ids::{JobToken, RunnerToken};
use crate::domain::runner_input::parse_progress;
use crate::error::ApiError;
use crate::metrics::uploads::UploadKind;
use crate::service::jobs::JobCredentials;
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
        let json = JsonObject::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let JsonObject(body) = json.await?;
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

/// A job-scoped runner call with a multipart body (update, success), its text fields
/// read and checked: the rest of the body (the files) is still unread in `form`, so
/// that nothing large is read before the tokens are checked.
pub struct JobForm {
    /// The job and the runner's tokens.
    pub creds: JobCredentials,
    /// `progress`, when sent (an integer 0..100 as a string).
    pub progress: Option<i32>,
    /// The client IP (behind trusted proxies).
    pub ip: String,
    /// The body, from its first file part on.
    pub form: RunnerForm,
}

impl FromRequest for JobForm {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<JobForm, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
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
            match read_form_fields(&mut form, &req).await {
                Ok((creds, progress)) => Ok(JobForm {
                    creds,
                    progress,
                    ip: client_ip(&req),
                    form,
                }),
                // The runner reads the answer only once its body is consumed.
                Err(e) => Err(form.fail(e).await),
            }
        })
    }
}

async fn read_form_fields(
    form: &mut RunnerForm,
    req: &HttpRequest,
) -> Result<(JobCredentials, Option<i32>), ApiError> {
    let body: Map<String, Value> = form
        .read_fields()
        .await?
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
