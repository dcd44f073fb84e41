//! The OpenAPI 3.1 document of the whole HTTP API, generated from the code: each
//! handler's `#[utoipa::path]` (method, path, parameters, answers) and the schemas of
//! the types it answers with (derived from them, or given in [`schemas`] for the
//! domain types with a hand-written wire form). Served at `/api/openapi.json`; Swagger
//! UI, its assets built into the binary (no CDN), at `/api/docs`.
//!
//! Every route of [`super::configure`] must be listed in [`ApiDoc`]; the API tests
//! check it both ways, and check real answers of every route against the document.

pub mod schemas;

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, captions, files, health, jobs, metrics, runners, socket, static_files, studio,
    video_events, videos, webhooks,
};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where Swagger UI is served.
pub const UI_PATH: &str = "/api/docs";

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "peertube-runner-connector",
        description = "PeerTube's remote-runner protocol without PeerTube: the runner API \
            (`/api/v1/runners/**`, exactly as PeerTube's, for `peertube-runner`), PeerTube's \
            runner admin API (admin key), the private video API (API key), published outputs, \
            health, and the Socket.IO hub. Errors are `application/problem+json`."
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::api_port,
        socket::socket_io,
        runners::register,
        runners::unregister,
        jobs::request,
        jobs::accept,
        jobs::abort,
        jobs::update,
        jobs::error,
        jobs::success,
        files::max_quality,
        files::max_quality_audio,
        files::preview,
        files::studio_task_file,
        admin::list_runners,
        admin::delete_runner,
        admin::generate_registration_token,
        admin::list_registration_tokens,
        admin::delete_registration_token,
        admin::list_jobs,
        admin::cancel_job,
        admin::delete_job,
        admin::retry_job,
        videos::create,
        videos::list,
        videos::get,
        videos::delete,
        videos::retry,
        captions::transcribe,
        studio::edit,
        studio::storyboard,
        captions::create,
        captions::list,
        captions::put,
        captions::delete,
        video_events::events,
        webhooks::list,
        webhooks::get,
        webhooks::redeliver,
        static_files::serve,
        document,
        ui_index,
        ui_file,
    ),
    components(schemas(schemas::Problem, schemas::InvalidParam)),
    modifiers(&Security),
    tags(
        (name = "Runners", description = "Registration of `peertube-runner`s (runner token in the body)"),
        (name = "Runner Jobs", description = "Jobs as runners take and report them (runner and job tokens in the body)"),
        (name = "Runner Files", description = "Job inputs, downloaded with POST and the tokens in a JSON body"),
        (name = "Admin", description = "PeerTube's runner admin API: `Authorization: Bearer <admin key>`"),
        (name = "Videos", description = "The private video API: `Authorization: Bearer <api key or admin key>`"),
        (name = "Webhooks", description = "Deliveries of signed webhook events: `Authorization: Bearer <api key or admin key>`"),
        (name = "Outputs", description = "Published outputs of videos"),
        (name = "Service", description = "Health, the Socket.IO hub, this document"),
    )
)]
pub struct ApiDoc;

/// The bearer schemes: `api_key` (video API) and `admin_key` (admin API, also good for
/// the video API).
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "api_key",
                "A key of `auth.api_keys` (or of `auth.admin_keys`)",
            ),
            ("admin_key", "A key of `auth.admin_keys`"),
            ("metrics_key", "A key of `metrics.keys`, when any is set"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// The document as served, for the configured `storage.serve_path` (the document
/// names the default `/static`).
pub fn document_for(serve_path: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if serve_path != "/static" {
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths
            .into_iter()
            .map(|(path, item)| match path.strip_prefix("/static/") {
                Some(rest) => (format!("{serve_path}/{rest}"), item),
                None => (path, item),
            })
            .collect();
    }
    doc
}

/// The document's JSON, built once per process and serve path.
fn document_json(serve_path: &str) -> Arc<String> {
    static CACHE: OnceLock<(String, Arc<String>)> = OnceLock::new();
    let build = || {
        let json = document_for(serve_path)
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned());
        (serve_path.to_owned(), Arc::new(json))
    };
    let (path, json) = CACHE.get_or_init(build);
    if path == serve_path {
        json.clone()
    } else {
        // Another application in this process (tests) serves another path.
        build().1
    }
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "Service",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document(state: actix_web::web::Data<crate::state::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(document_json(&state.settings.storage.serve_path).to_string())
}

/// `GET /api/docs`: Swagger UI's page (redirects to `/api/docs/index.html`, whose
/// assets are relative to it).
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "Service",
    responses((status = 302, description = "To `/api/docs/index.html`"))
)]
pub async fn ui_index() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, format!("{UI_PATH}/index.html")))
        .finish()
}

fn ui_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Arc::new(utoipa_swagger_ui::Config::new([DOCUMENT_PATH])))
        .clone()
}

/// `GET /api/docs/{file}`: Swagger UI's files, from the binary.
#[utoipa::path(
    get,
    path = "/api/docs/{file}",
    tag = "Service",
    params(("file" = String, Path, description = "`index.html`, a script or a style sheet")),
    responses(
        (status = 200, description = "The file", content_type = "text/html", body = String),
        (status = 404, description = "No such file", content_type = "application/problem+json", body = schemas::Problem),
    )
)]
pub async fn ui_file(req: HttpRequest) -> Result<HttpResponse, crate::error::ApiError> {
    let file = req.match_info().get("file").unwrap_or_default();
    match utoipa_swagger_ui::serve(file, ui_config()) {
        Ok(Some(f)) => Ok(HttpResponse::Ok()
            .content_type(f.content_type)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(f.bytes.into_owned())),
        Ok(None) => Err(crate::error::ApiError::not_found("No such file").for_video_api()),
        Err(e) => Err(crate::error::ApiError::internal(&e).for_video_api()),
    }
}
