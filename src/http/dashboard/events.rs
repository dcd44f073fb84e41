//! `GET /dashboard/events`: what the open dashboard page needs to stay current, as
//! Server-Sent Events, from the event bus (so with a fan-out it sees every
//! instance's) and this instance's socket hub:
//!
//! - `event: progress`, `data: {"video", "progress", "job": {"uuid", "progress"}}`
//!   whenever a runner reports progress: the page moves its bars;
//! - `event: changed`, `data: {"what": "jobs" | "video" | "runners"}` when jobs,
//!   videos or runners changed (a job entered or left the queue, a video event, a
//!   runner removed, or the set of runners holding a socket here changed, checked
//!   every [`RUNNERS_CHECK`]): the page re-reads itself, at most once a second;
//! - a `: keep-alive` comment every 15 s.
//!
//! One stream per open page; it ends when the server shuts down (`retry: 3000`).

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::session::Session;
use crate::service::events::Event;
use crate::state::AppState;

/// How often the stream looks for runners connecting or disconnecting.
pub const RUNNERS_CHECK: Duration = Duration::from_secs(2);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The stream.
pub async fn stream(state: web::Data<AppState>, _session: Session) -> HttpResponse {
    let s = Stream {
        events: state.events.subscribe(),
        online: online(&state),
        state: state.clone(),
        shutdown: state.shutdown.clone(),
        keep_alive: tokio::time::interval(KEEP_ALIVE),
        runners: tokio::time::interval(RUNNERS_CHECK),
        started: false,
    };
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures_util::stream::unfold(s, next))
}

struct Stream {
    events: tokio::sync::broadcast::Receiver<Event>,
    online: Vec<i64>,
    state: web::Data<AppState>,
    shutdown: crate::shutdown::ShutdownListener,
    keep_alive: tokio::time::Interval,
    runners: tokio::time::Interval,
    started: bool,
}

/// The runners holding a socket on this instance, sorted.
fn online(state: &AppState) -> Vec<i64> {
    let mut ids = state.hub.owners_in(crate::socket::runners::NAMESPACE);
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn changed(what: &str) -> String {
    format!("event: changed\ndata: {}\n\n", json!({ "what": what }))
}

/// The frame an event of the bus becomes, if the page cares.
fn frame(event: &Event) -> Option<String> {
    match event {
        Event::Progress {
            video,
            job,
            job_progress,
            progress,
        } => Some(format!(
            "event: progress\ndata: {}\n\n",
            json!({"video": video, "progress": progress,
                   "job": {"uuid": job, "progress": job_progress}})
        )),
        Event::JobsChanged { .. } | Event::JobsAvailable | Event::Resync => Some(changed("jobs")),
        Event::VideoEvent { .. } => Some(changed("video")),
        Event::RunnerRemoved { .. } => Some(changed("runners")),
        Event::DeliveriesDue => None,
    }
}

async fn next(mut s: Stream) -> Option<(Result<Bytes, Infallible>, Stream)> {
    if !s.started {
        s.started = true;
        s.keep_alive.reset();
        s.runners.reset();
        return Some((Ok(Bytes::from_static(b"retry: 3000\n\n")), s));
    }
    loop {
        let out = tokio::select! {
            event = s.events.recv() => match event {
                Ok(event) => frame(&event),
                Err(RecvError::Lagged(_)) => Some(changed("jobs")),
                Err(RecvError::Closed) => return None,
            },
            _ = s.runners.tick() => {
                let now = online(&s.state);
                (now != s.online).then(|| {
                    s.online = now;
                    changed("runners")
                })
            }
            _ = s.keep_alive.tick() => Some(": keep-alive\n\n".to_owned()),
            () = s.shutdown.requested() => return None,
        };
        if let Some(frame) = out {
            return Some((Ok(Bytes::from(frame)), s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{JobUuid, VideoUuid};

    #[test]
    fn progress_moves_bars_and_other_changes_refresh() {
        let (video, job) = (VideoUuid::generate(), JobUuid::generate());
        let p = frame(&Event::Progress {
            video,
            job,
            job_progress: 40,
            progress: 20,
        })
        .unwrap();
        assert!(p.starts_with("event: progress\ndata: {"));
        let data: serde_json::Value =
            serde_json::from_str(p.trim().trim_start_matches("event: progress\ndata: ")).unwrap();
        assert_eq!(data["video"], video.to_string());
        assert_eq!(data["job"]["progress"], 40);
        assert_eq!(data["progress"], 20);
        assert_eq!(
            frame(&Event::JobsChanged { job_ids: vec![1] }).as_deref(),
            Some("event: changed\ndata: {\"what\":\"jobs\"}\n\n")
        );
        assert_eq!(frame(&Event::DeliveriesDue), None);
    }
}
