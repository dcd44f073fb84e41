//! HTTP surface. [`configure`] is the one route table of the whole API.

pub mod admin;
pub mod auth;
pub mod calls;
pub mod captions;
pub mod dashboard;
pub mod extract;
pub mod files;
pub mod health;
pub mod inflight;
pub mod jobs;
pub mod listing;
pub mod metrics;
pub mod multipart;
pub mod objects;
pub mod openapi;
pub mod request_metrics;
pub mod runner_body;
pub mod runners;
pub mod socket;
pub mod static_files;
pub mod studio;
pub mod video_events;
pub mod video_upload;
pub mod videos;
pub mod webhooks;

use actix_web::web;

use crate::error::ApiError;

/// Every route of the service; `serve_path` is `storage.serve_path` (`/static`).
pub fn configure(cfg: &mut web::ServiceConfig, serve_path: &str) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        // 404 when disabled or served on `metrics.bind` instead.
        .route("/metrics", web::get().to(metrics::api_port))
        // Engine.IO: GET and POST (polling), GET + Upgrade (WebSocket); `/socket.io/` too,
        // since NormalizePath trims the trailing slash.
        .route("/socket.io", web::route().to(socket::socket_io))
        // The OpenAPI document and Swagger UI (`openapi`).
        .route("/api/openapi.json", web::get().to(openapi::document))
        .route("/api/docs", web::get().to(openapi::ui_index))
        .route("/api/docs/{file:.+}", web::get().to(openapi::ui_file))
        .service(
            web::scope("/api/v1/runners")
                .route("/register", web::post().to(runners::register))
                .route("/unregister", web::post().to(runners::unregister))
                .route("/jobs/request", web::post().to(jobs::request))
                .route("/jobs/{jobUUID}/accept", web::post().to(jobs::accept))
                .route("/jobs/{jobUUID}/abort", web::post().to(jobs::abort))
                .route("/jobs/{jobUUID}/update", web::post().to(jobs::update))
                .route("/jobs/{jobUUID}/error", web::post().to(jobs::error))
                .route("/jobs/{jobUUID}/success", web::post().to(jobs::success))
                .service(
                    web::scope("/jobs/{jobUUID}/files/videos/{videoId}")
                        .route("/max-quality", web::post().to(files::max_quality))
                        .route(
                            "/max-quality/audio",
                            web::post().to(files::max_quality_audio),
                        )
                        .route("/previews/max-quality", web::post().to(files::preview))
                        .route(
                            "/studio/task-files/{filename}",
                            web::post().to(files::studio_task_file),
                        ),
                )
                // Admin API (PeerTube's paths); `/{runnerId}` last, after every
                // one-segment path of this scope.
                .route("", web::get().to(admin::list_runners))
                .route(
                    "/registration-tokens/generate",
                    web::post().to(admin::generate_registration_token),
                )
                .route(
                    "/registration-tokens",
                    web::get().to(admin::list_registration_tokens),
                )
                .route(
                    "/registration-tokens/{id}",
                    web::delete().to(admin::delete_registration_token),
                )
                .route("/jobs", web::get().to(admin::list_jobs))
                .route("/jobs/{jobUUID}/cancel", web::post().to(admin::cancel_job))
                .route("/jobs/{jobUUID}/retry", web::post().to(admin::retry_job))
                .route("/jobs/{jobUUID}", web::delete().to(admin::delete_job))
                .route("/{runnerId}", web::delete().to(admin::delete_runner)),
        )
        .service(
            web::scope("/api/v1/videos")
                .route("", web::post().to(videos::create))
                .route("", web::get().to(videos::list))
                .route("/{uuid}", web::get().to(videos::get))
                .route("/{uuid}", web::delete().to(videos::delete))
                .route(
                    "/{uuid}/transcription",
                    web::post().to(captions::transcribe),
                )
                .route("/{uuid}/studio/edit", web::post().to(studio::edit))
                .route("/{uuid}/storyboard", web::post().to(studio::storyboard))
                .route("/{uuid}/captions", web::get().to(captions::list))
                .route("/{uuid}/captions/{lang}", web::put().to(captions::put))
                .route(
                    "/{uuid}/captions/{lang}",
                    web::delete().to(captions::delete),
                )
                .route("/{uuid}/retry", web::post().to(videos::retry))
                .route("/{uuid}/events", web::get().to(video_events::events)),
        )
        .service(
            web::scope("/api/v1/webhooks/deliveries")
                .route("", web::get().to(webhooks::list))
                .route("/{id}", web::get().to(webhooks::get))
                .route("/{id}/redeliver", web::post().to(webhooks::redeliver)),
        )
        .route("/api/v1/transcriptions", web::post().to(captions::create))
        // The dashboard: HTML for people, not in the OpenAPI document.
        .service(
            web::scope("/dashboard")
                .route("", web::get().to(dashboard::pages::overview))
                .route("/login", web::get().to(dashboard::login_form))
                .route("/login", web::post().to(dashboard::login))
                .route("/logout", web::post().to(dashboard::logout))
                .route("/queue", web::get().to(dashboard::pages::queue))
                .route("/videos", web::get().to(dashboard::pages::videos))
                .route("/videos/{uuid}", web::get().to(dashboard::pages::video))
                .route("/jobs/{uuid}/cancel", web::post().to(dashboard::cancel))
                .route("/jobs/{uuid}/retry", web::post().to(dashboard::retry))
                .route("/events", web::get().to(dashboard::events::stream))
                .route("/assets/{file}", web::get().to(dashboard::assets::serve)),
        )
        .service(
            web::resource(format!("{serve_path}/{{key:.+}}"))
                .route(web::get().to(static_files::serve))
                .route(web::head().to(static_files::serve)),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("No such route"))
}
