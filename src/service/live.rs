//! A video's live events (`GET /api/v1/videos/{uuid}/events`): the resource first,
//! then every event of the video and its progress as they are published on the event
//! bus, so from any instance once a fan-out relays the bus. The stream subscribes
//! before it reads the resource, so nothing between the two is missed; a subscriber
//! that falls behind gets the resource again instead of the events it missed. It
//! ends after `video.deleted`.

use tokio::sync::broadcast::{self, error::RecvError};

use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::webhook::EventType;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::events::Event;
use crate::service::videos::{self, VideoView};

/// What a live stream carries.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveItem {
    /// The resource as `GET` returns it (first, and after falling behind).
    Snapshot(Box<VideoView>),
    /// An event, with its webhook body.
    Event {
        /// `webhook-id`.
        id: String,
        /// Its type.
        event: EventType,
        /// Its JSON body.
        payload: String,
    },
    /// A job's progress.
    Progress {
        /// The job.
        job: JobUuid,
        /// Its progress.
        job_progress: i32,
        /// The video's progress.
        progress: u8,
    },
}

/// A live stream of one video.
#[derive(Debug)]
pub struct Follow {
    ctx: Context,
    uuid: VideoUuid,
    rx: broadcast::Receiver<Event>,
    snapshot: Option<VideoView>,
    need_snapshot: bool,
    ended: bool,
}

/// Starts following the video `uuid` ([`ServiceError::NotFound`] if there is none).
pub async fn follow(ctx: &Context, uuid: VideoUuid) -> Result<Follow, ServiceError> {
    let rx = ctx.events.subscribe();
    let snapshot = videos::get(ctx, uuid).await?;
    Ok(Follow {
        ctx: ctx.clone(),
        uuid,
        rx,
        snapshot: Some(snapshot),
        need_snapshot: false,
        ended: false,
    })
}

impl Follow {
    /// The video followed.
    pub fn video(&self) -> VideoUuid {
        self.uuid
    }

    /// The next item; `None` once the video is deleted. Cancel-safe: an item is
    /// never lost by dropping the future before it resolves.
    pub async fn next(&mut self) -> Option<LiveItem> {
        loop {
            if let Some(view) = self.snapshot.take() {
                return Some(LiveItem::Snapshot(Box::new(view)));
            }
            if self.ended {
                return None;
            }
            if self.need_snapshot {
                match videos::get(&self.ctx, self.uuid).await {
                    Ok(view) => {
                        self.need_snapshot = false;
                        self.snapshot = Some(view);
                        continue;
                    }
                    Err(ServiceError::NotFound(_)) => return None,
                    Err(e) => {
                        tracing::warn!(video = %self.uuid, error = %e, "live stream cannot read its video");
                        self.need_snapshot = false;
                    }
                }
            }
            match self.rx.recv().await {
                Ok(Event::VideoEvent {
                    video,
                    id,
                    event,
                    payload,
                }) if video == self.uuid => {
                    self.ended = event == EventType::VideoDeleted;
                    return Some(LiveItem::Event { id, event, payload });
                }
                Ok(Event::Progress {
                    video,
                    job,
                    job_progress,
                    progress,
                }) if video == self.uuid => {
                    return Some(LiveItem::Progress {
                        job,
                        job_progress,
                        progress,
                    });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => self.need_snapshot = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
