//! In-process event bus. The job engine publishes, the socket hub (and later the
//! cross-instance fan-out backends) subscribe. Publishing never blocks and never fails:
//! with no subscriber an event is simply dropped.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::webhook::EventType;

/// Something other parts of the process react to. Every variant is serialisable, so a
/// cross-instance fan-out can relay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// At least one job became PENDING: runners should poll `/jobs/request`.
    JobsAvailable,
    /// A runner was deleted or unregistered: close its sockets.
    RunnerRemoved {
        /// The runner's id.
        runner_id: i64,
    },
    /// Something happened to a video, recorded in the outbox (published after the
    /// commit): the live event streams of that video relay it.
    VideoEvent {
        /// The video.
        video: VideoUuid,
        /// The event's id (`webhook-id`).
        id: String,
        /// Its type.
        event: EventType,
        /// Its JSON body, as webhooks carry it.
        payload: String,
    },
    /// A runner reported a job's progress.
    Progress {
        /// The job's video.
        video: VideoUuid,
        /// The job.
        job: JobUuid,
        /// The job's progress, 0–100.
        job_progress: i32,
        /// The video's progress, 0–100 (`crate::domain::progress`).
        progress: u8,
    },
    /// Webhook deliveries were recorded or requeued: delivery workers look for them.
    DeliveriesDue,
}

/// A cloneable handle to the bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}

impl EventBus {
    /// A bus keeping up to `capacity` unread events per subscriber; a subscriber that
    /// falls further behind skips the oldest (events are idempotent notifications).
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }

    /// Sends an event to every current subscriber.
    pub fn publish(&self, event: Event) {
        // An error only means nobody listens right now.
        let _ = self.tx.send(event);
    }

    /// A new subscription receiving events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_each_event() {
        let bus = EventBus::new(8);
        bus.publish(Event::JobsAvailable); // nobody listens: dropped, no error
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(Event::RunnerRemoved { runner_id: 7 });
        assert_eq!(
            a.recv().await.ok(),
            Some(Event::RunnerRemoved { runner_id: 7 })
        );
        assert_eq!(
            b.recv().await.ok(),
            Some(Event::RunnerRemoved { runner_id: 7 })
        );
    }

    #[test]
    fn every_event_survives_a_round_trip_through_json() {
        let events = [
            Event::JobsAvailable,
            Event::RunnerRemoved { runner_id: 3 },
            Event::VideoEvent {
                video: VideoUuid::generate(),
                id: "evt_1".to_owned(),
                event: EventType::VideoPublished,
                payload: r#"{"id":"evt_1"}"#.to_owned(),
            },
            Event::Progress {
                video: VideoUuid::generate(),
                job: JobUuid::generate(),
                job_progress: 40,
                progress: 27,
            },
            Event::DeliveriesDue,
        ];
        for e in events {
            let text = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e, "{text}");
        }
    }
}
