//! `GET /api/v1/videos/{uuid}/events`: a video's live events as Server-Sent Events
//! (`text/event-stream`), for a progress bar without polling:
//!
//! - `event: video`, the resource as `GET /api/v1/videos/{uuid}` returns it (first,
//!   and again whenever the stream fell behind);
//! - `event: <type>` (`video.rendition.ready`, `video.published`, …) with `id:` the
//!   event's `webhook-id` and `data:` the webhook's body;
//! - `event: progress`, `data: {"video", "progress", "job": {"uuid", "progress"}}`;
//! - a `: keep-alive` comment every 15 s.
//!
//! The stream ends after `video.deleted`, and when the server shuts down (clients
//! reconnect, `retry: 3000`, to the next instance).

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::auth::ApiKey;
use crate::domain::ids::VideoUuid;
use crate::error::{ApiError, ServiceError};
use crate::service::live::{self, Follow, LiveItem};
use crate::shutdown::ShutdownListener;
use crate::state::AppState;

/// How often an idle stream sends a comment (proxies close silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The stream of one video.
#[utoipa::path(
    get,
    path = "/api/v1/videos/{uuid}/events",
    tag = "Videos",
    params(("uuid" = String, Path, description = "Video UUID")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "Server-Sent Events: `video` (the resource) first, then each webhook event of the video (`id:` its `webhook-id`, `data:` the webhook's body) and `progress`; ends after `video.deleted`", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such video (`video_not_found`)", content_type = "application/problem+json", body = crate::http::openapi::schemas::Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = crate::http::openapi::schemas::Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = crate::http::openapi::schemas::Problem)
    )
)]
pub async fn events(
    state: web::Data<AppState>,
    _key: ApiKey,
    uuid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let uuid = VideoUuid::from_stored(&uuid).map_err(|_| ServiceError::NotFound("Video"))?;
        let follow = live::follow(&state, uuid).await?;
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(sse(follow, state.shutdown.clone())))
    }
    .await
    .map_err(ApiError::for_video_api)
}

struct Stream {
    follow: Follow,
    shutdown: ShutdownListener,
    ticks: tokio::time::Interval,
    started: bool,
}

fn sse(
    follow: Follow,
    shutdown: ShutdownListener,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    let mut ticks = tokio::time::interval(KEEP_ALIVE);
    ticks.reset();
    let stream = Stream {
        follow,
        shutdown,
        ticks,
        started: false,
    };
    futures_util::stream::unfold(stream, |mut s| async move {
        if !s.started {
            s.started = true;
            return Some((Ok(Bytes::from_static(b"retry: 3000\n\n")), s));
        }
        let frame = tokio::select! {
            item = s.follow.next() => frame(s.follow.video(), item?),
            _ = s.ticks.tick() => ": keep-alive\n\n".to_owned(),
            () = s.shutdown.requested() => return None,
        };
        Some((Ok(Bytes::from(frame)), s))
    })
}

/// One SSE frame (every `data` is one line of JSON).
fn frame(video: VideoUuid, item: LiveItem) -> String {
    match item {
        LiveItem::Snapshot(view) => format!(
            "event: video\ndata: {}\n\n",
            serde_json::to_string(&view).unwrap_or_default()
        ),
        LiveItem::Event { id, event, payload } => {
            format!("event: {event}\nid: {id}\ndata: {payload}\n\n")
        }
        LiveItem::Progress {
            job,
            job_progress,
            progress,
        } => format!(
            "event: progress\ndata: {}\n\n",
            json!({"video": video, "progress": progress,
                   "job": {"uuid": job, "progress": job_progress}})
        ),
    }
}
