//! Recording events: the one call each state change makes, inside its own
//! transaction, so an event exists exactly when its change committed.
//!
//! ```ignore
//! let outbox = Outbox::of(ctx);
//! let emitted = ctx.db.run(move |conn| db::write_transaction(conn, |conn| {
//!     db::videos::set_state(conn, id, VideoState::Published, None, now)?;
//!     outbox.record(conn, id, &[Notice::Published], now)   // ← the one line
//! })).await?;
//! emitted.publish(&ctx.events);                             // after the commit
//! ```
//!
//! [`Outbox::record`] builds the event (id, type, timestamp and the video resource as
//! `GET /api/v1/videos/{uuid}` returns it, read in the same transaction), stores one
//! delivery per target that wants it (each `[[webhooks.endpoints]]` whose `events`
//! include it, and the video's `callbackUrl`), and returns what to [`Emitted::publish`]
//! once committed: the event on the bus (live streams relay it) and a wake-up for the
//! delivery workers. A rolled back transaction takes its events with it.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::config::Settings;
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::JobUuid;
use crate::domain::job::{Job, JobState, JobType};
use crate::domain::video::{FileKind, VideoFile};
use crate::domain::webhook::{EventType, NewDelivery};
use crate::service::events::{Event, EventBus};
use crate::service::timefmt;
use crate::service::videos::{self, JobView, RenditionView, VideoView};
use crate::storage::Storage;

/// What happened to a video.
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// `video.created`: submitted, its jobs created.
    Created,
    /// `video.rendition.ready`: this rendition is stored and listed.
    RenditionReady(&'a VideoFile),
    /// `video.playable`: its first rendition is ready.
    Playable,
    /// `video.published`: every job ended, every rendition is there.
    Published,
    /// `video.failed`, with the reason.
    Failed(&'a str),
    /// `video.deleted` (recorded before the rows go, so the resource is complete).
    Deleted,
    /// `job.failed`: the job failed for good (after its retries).
    JobFailed(&'a Job),
    /// `transcription.completed`.
    TranscriptionCompleted(&'a TranscriptionData),
    /// `transcription.failed`: the transcription job failed for good.
    TranscriptionFailed(&'a Job),
    /// `video.edited`: a studio edit's result is the video's source now.
    Edited,
    /// `storyboard.ready`: a storyboard is stored.
    StoryboardReady,
}

impl Notice<'_> {
    /// Its event type.
    pub fn event_type(&self) -> EventType {
        match self {
            Notice::Created => EventType::VideoCreated,
            Notice::RenditionReady(_) => EventType::VideoRenditionReady,
            Notice::Playable => EventType::VideoPlayable,
            Notice::Published => EventType::VideoPublished,
            Notice::Failed(_) => EventType::VideoFailed,
            Notice::Deleted => EventType::VideoDeleted,
            Notice::JobFailed(_) => EventType::JobFailed,
            Notice::TranscriptionCompleted(_) => EventType::TranscriptionCompleted,
            Notice::TranscriptionFailed(_) => EventType::TranscriptionFailed,
            Notice::Edited => EventType::VideoEdited,
            Notice::StoryboardReady => EventType::StoryboardReady,
        }
    }
}

/// `data.transcription` of `transcription.completed`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptionData {
    /// The transcription job.
    pub job: JobUuid,
    /// The language detected (or given), ISO 639-1.
    pub language: Option<String>,
    /// The public URL of the WebVTT captions.
    pub caption_url: Option<String>,
}

/// `data.rendition` of `video.rendition.ready`.
#[derive(Debug, Clone, Serialize, PartialEq)]
struct RenditionData {
    /// `hls` or `web-video`.
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    view: RenditionView,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    video: &'a VideoView,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rendition: Option<RenditionData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a JobView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transcription: Option<&'a TranscriptionData>,
}

/// The body of every webhook (and the `data` of the live stream's events).
#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event: EventType,
    timestamp: String,
    data: Data<'a>,
}

/// An event recorded in a transaction, to announce once it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The video it is about.
    pub video: crate::domain::ids::VideoUuid,
    /// `webhook-id`.
    pub id: String,
    /// Its type.
    pub event: EventType,
    /// The body sent.
    pub payload: String,
}

/// Events recorded by a transaction; [`Emitted::publish`] them after the commit.
#[derive(Debug, Default)]
#[must_use = "publish the events once the transaction committed"]
pub struct Emitted {
    events: Vec<RecordedEvent>,
    deliveries: usize,
}

impl Emitted {
    /// Adds what another call recorded.
    pub fn extend(&mut self, other: Emitted) {
        self.events.extend(other.events);
        self.deliveries += other.deliveries;
    }

    /// The events, in the order they were recorded.
    pub fn events(&self) -> &[RecordedEvent] {
        &self.events
    }

    /// Announces the committed events: each on the bus (live streams, other
    /// instances), and the delivery workers are woken when there is something to send.
    pub fn publish(self, bus: &EventBus) {
        for e in self.events {
            bus.publish(Event::VideoEvent {
                video: e.video,
                id: e.id,
                event: e.event,
                payload: e.payload,
            });
        }
        if self.deliveries > 0 {
            bus.publish(Event::DeliveriesDue);
        }
    }
}

/// Records events inside the caller's transaction (see the module documentation).
/// Cheap to clone; move a clone into the database closure.
#[derive(Debug, Clone)]
pub struct Outbox {
    settings: Arc<Settings>,
    storage: Storage,
}

impl Outbox {
    /// The outbox of a context.
    pub fn of(ctx: &crate::service::Context) -> Outbox {
        Outbox {
            settings: ctx.settings.clone(),
            storage: ctx.storage.clone(),
        }
    }

    /// Records `notices` about the video `video_id`, in order, inside the caller's
    /// transaction: the resource is read once, then each event is stored for every
    /// target that wants it. Nothing is recorded when the video does not exist.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        video_id: i64,
        notices: &[Notice<'_>],
        now: NaiveDateTime,
    ) -> Result<Emitted, DbError> {
        let mut emitted = Emitted::default();
        if notices.is_empty() {
            return Ok(emitted);
        }
        let Some(video) = db::videos::find(conn, video_id)? else {
            return Ok(emitted);
        };
        let files = db::videos::files(conn, video_id)?;
        let jobs = db::jobs::of_videos(conn, &[video_id])?;
        let captions = db::captions::of_videos(conn, &[video_id])?;
        let callback = video.callback_url.clone();
        let storyboard = db::storyboards::of_videos(conn, &[video_id])?
            .into_iter()
            .next()
            .map(|(_, s)| s);
        let view = videos::view(
            &self.storage,
            video,
            &files,
            &jobs,
            &captions,
            storyboard.as_ref(),
        );
        let hooks = &self.settings.webhooks;
        let expires_at = hooks.retry_policy().expiry(now);
        for notice in notices {
            let event = notice.event_type();
            let id = format!("evt_{}", uuid::Uuid::new_v4().simple());
            let payload = self.body(&id, event, notice, &view, now)?;
            let mut targets: Vec<(Option<String>, String)> = hooks
                .endpoints
                .iter()
                .filter(|e| e.wants(event))
                .map(|e| (Some(e.name.clone()), e.url.clone()))
                .collect();
            if let Some(url) = &callback {
                targets.push((None, url.clone()));
            }
            for (endpoint, url) in targets {
                db::webhooks::insert(
                    conn,
                    &NewDelivery {
                        event_id: id.clone(),
                        event,
                        video_uuid: Some(view.uuid),
                        endpoint,
                        url,
                        payload: payload.clone(),
                        expires_at,
                    },
                    now,
                )?;
                emitted.deliveries += 1;
            }
            emitted.events.push(RecordedEvent {
                video: view.uuid,
                id,
                event,
                payload,
            });
        }
        Ok(emitted)
    }

    /// Whether a transition of a `job_type` job to `to` records events
    /// ([`Self::job_ended`]).
    pub fn announces(job_type: JobType, to: JobState) -> bool {
        to == JobState::Errored
            || (to == JobState::Completed && job_type == JobType::VideoTranscription)
    }

    /// Records, for `job` as a transition left it: `job.failed` (and
    /// `transcription.failed` for a transcription job) when it failed for good;
    /// `transcription.completed`, with the caption it stored, when a transcription job
    /// completed; nothing otherwise.
    pub fn job_ended(
        &self,
        conn: &mut DbConnection,
        job: &Job,
        now: NaiveDateTime,
    ) -> Result<Emitted, DbError> {
        let Some(video_id) = job.video_id else {
            return Ok(Emitted::default());
        };
        let transcription = job.job_type() == JobType::VideoTranscription;
        match job.state {
            JobState::Errored => {
                let mut notices = vec![Notice::JobFailed(job)];
                if transcription {
                    notices.push(Notice::TranscriptionFailed(job));
                }
                self.record(conn, video_id, &notices, now)
            }
            JobState::Completed if transcription => {
                let caption = db::captions::of_job(conn, job.id)?;
                let data = TranscriptionData {
                    job: job.uuid,
                    language: caption.as_ref().map(|c| c.language.to_string()),
                    caption_url: caption.map(|c| self.storage.url(&c.storage_key)),
                };
                self.record(
                    conn,
                    video_id,
                    &[Notice::TranscriptionCompleted(&data)],
                    now,
                )
            }
            _ => Ok(Emitted::default()),
        }
    }

    fn body(
        &self,
        id: &str,
        event: EventType,
        notice: &Notice<'_>,
        video: &VideoView,
        now: NaiveDateTime,
    ) -> Result<String, DbError> {
        let job_view = |job: &Job| video.jobs.iter().find(|j| j.uuid == job.uuid);
        let mut data = Data {
            video,
            reason: None,
            rendition: None,
            job: None,
            transcription: None,
        };
        match notice {
            Notice::RenditionReady(file) => {
                data.rendition = Some(RenditionData {
                    kind: match file.kind {
                        FileKind::Hls => "hls",
                        _ => "web-video",
                    },
                    view: videos::rendition(&self.storage, file),
                });
            }
            Notice::Failed(reason) => data.reason = Some(reason),
            Notice::JobFailed(job) | Notice::TranscriptionFailed(job) => {
                data.job = job_view(job);
                data.reason = job.error.as_deref();
            }
            Notice::TranscriptionCompleted(t) => data.transcription = Some(t),
            Notice::Created
            | Notice::Playable
            | Notice::Published
            | Notice::Deleted
            | Notice::Edited
            | Notice::StoryboardReady => {}
        }
        serde_json::to_string(&Body {
            id,
            event,
            timestamp: timefmt::format(&now),
            data,
        })
        .map_err(|e| DbError::Task(format!("cannot serialise event {id}: {e}")))
    }
}
