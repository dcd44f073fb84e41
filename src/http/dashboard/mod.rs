//! The read-only dashboard at `/dashboard`: runners, the queue and videos as HTML
//! rendered on the server ([`pages`], maud templates), with one small script and
//! hls.js ([`assets`], built into the binary) for live updates over Server-Sent
//! Events ([`events`]), confirmations and the player. Behind a login with an admin key
//! ([`session`]); its two actions, cancel and retry, call the services the admin API
//! calls. Its routes are for people, not programs: they are not in the OpenAPI
//! document.

pub mod assets;
pub mod events;
pub mod pages;
pub mod session;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;

use crate::domain::ids::JobUuid;
use crate::error::{ApiError, ServiceError};
use crate::service::jobs;
use crate::state::AppState;
use session::Session;

/// Why a dashboard request was not served.
#[derive(Debug)]
pub enum DashboardError {
    /// No valid session: the login form.
    LoginRequired,
    /// No admin key is configured, so nobody can log in.
    Disabled,
    /// A POST that did not come from a page of this server.
    CrossOrigin,
    /// The application state is missing (a bug).
    Internal,
    /// What a service or a request check answered.
    Api(ApiError),
}

impl std::fmt::Display for DashboardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DashboardError::LoginRequired => f.write_str("login required"),
            DashboardError::Disabled => f.write_str("no admin key is configured"),
            DashboardError::CrossOrigin => f.write_str("cross-origin request refused"),
            DashboardError::Internal => f.write_str("application state missing"),
            DashboardError::Api(e) => e.fmt(f),
        }
    }
}

impl From<ServiceError> for DashboardError {
    fn from(e: ServiceError) -> Self {
        DashboardError::Api(ApiError::from(e))
    }
}

impl From<ApiError> for DashboardError {
    fn from(e: ApiError) -> Self {
        DashboardError::Api(e)
    }
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::LoginRequired => StatusCode::SEE_OTHER,
            DashboardError::Disabled | DashboardError::CrossOrigin => StatusCode::FORBIDDEN,
            DashboardError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            DashboardError::Api(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            DashboardError::LoginRequired => {
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/dashboard/login"))
                    .finish();
            }
            DashboardError::Disabled => crate::http::auth::ADMIN_DISABLED.to_owned(),
            DashboardError::CrossOrigin => {
                "This action must be sent from a dashboard page of this server".to_owned()
            }
            DashboardError::Internal => "Internal error".to_owned(),
            DashboardError::Api(e) => e.body()["detail"].as_str().unwrap_or("Error").to_owned(),
        };
        pages::html(status, pages::error_page(status, &detail))
    }
}

/// `GET /dashboard/login`: the login form (403 when no admin key is configured).
pub async fn login_form(state: web::Data<AppState>) -> HttpResponse {
    let status = if state.settings.auth.admin_keys.is_empty() {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::OK
    };
    pages::html(
        status,
        pages::login_page(None, status == StatusCode::FORBIDDEN),
    )
}

/// The login form's body.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// An admin key.
    pub key: String,
}

/// `POST /dashboard/login`: an admin key opens a session (303 to the overview); any
/// other key gets the form again with a 401.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, DashboardError> {
    let keys = &state.settings.auth.admin_keys;
    if keys.is_empty() {
        return Err(DashboardError::Disabled);
    }
    if !session::same_origin(&req, &state) {
        return Err(DashboardError::CrossOrigin);
    }
    let Some(key) = session::admin_key(keys, form.key.trim()) else {
        return Ok(pages::html(
            StatusCode::UNAUTHORIZED,
            pages::login_page(Some("That is not an admin key."), false),
        ));
    };
    let value = session::issue(key, state.now()).ok_or(DashboardError::Internal)?;
    Ok(HttpResponse::SeeOther()
        .cookie(session::cookie(value, session::over_https(&req, &state)))
        .insert_header((header::LOCATION, "/dashboard"))
        .finish())
}

/// `POST /dashboard/logout`: the cookie is removed (303 to the login form).
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    if !session::same_origin(&req, &state) {
        return Err(DashboardError::CrossOrigin);
    }
    Ok(HttpResponse::SeeOther()
        .cookie(session::cookie(
            String::new(),
            session::over_https(&req, &state),
        ))
        .insert_header((header::LOCATION, "/dashboard/login"))
        .finish())
}

fn job_uuid(path: &str) -> Result<JobUuid, DashboardError> {
    JobUuid::parse(path)
        .map_err(|_| DashboardError::Api(ApiError::bad_request("Not a job UUID (v4)")))
}

/// Back to the dashboard page the action was sent from (its `Referer`), else the queue.
fn back(req: &HttpRequest) -> HttpResponse {
    let to = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .filter(|u| u.path().starts_with("/dashboard"))
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_else(|| "/dashboard/queue".to_owned());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// `POST /dashboard/jobs/{uuid}/cancel`: as `POST /api/v1/runners/jobs/{uuid}/cancel`.
pub async fn cancel(
    state: web::Data<AppState>,
    _session: Session,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    if !session::same_origin(&req, &state) {
        return Err(DashboardError::CrossOrigin);
    }
    jobs::cancel_job(&state, job_uuid(&uuid)?)
        .await
        .map_err(|e| ApiError::from(e).for_admin_api())?;
    Ok(back(&req))
}

/// `POST /dashboard/jobs/{uuid}/retry`: as `POST /api/v1/runners/jobs/{uuid}/retry`.
pub async fn retry(
    state: web::Data<AppState>,
    _session: Session,
    req: HttpRequest,
    uuid: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    if !session::same_origin(&req, &state) {
        return Err(DashboardError::CrossOrigin);
    }
    jobs::retry_job(&state, job_uuid(&uuid)?)
        .await
        .map_err(|e| ApiError::from(e).for_admin_api())?;
    Ok(back(&req))
}
