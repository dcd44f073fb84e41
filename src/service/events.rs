//! In-process event bus. The job engine publishes, the socket hub (and later the
//! cross-instance fan-out backends) subscribe. Publishing never blocks and never fails:
//! with no subscriber an event is simply dropped.

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Most job ids in one [`Event::JobsChanged`] (its JSON stays a few kilobytes, well
/// under PostgreSQL NOTIFY's 8000 bytes): [`jobs_changed`] splits longer lists.
pub const MAX_JOB_IDS: usize = 256;

/// Something other parts of the process react to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// At least one job became PENDING: runners should poll `/jobs/request`.
    JobsAvailable,
    /// These jobs entered or left PENDING (committed): whoever keeps a copy of the
    /// pending jobs (the offer index) re-reads them from the database. Ids only, never
    /// rows: the database stays the source of truth.
    JobsChanged {
        /// The jobs' ids (at most [`MAX_JOB_IDS`]).
        job_ids: Vec<i64>,
    },
    /// A runner was deleted or unregistered: close its sockets.
    RunnerRemoved {
        /// The runner's id.
        runner_id: i64,
    },
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

/// The [`Event::JobsChanged`] events telling that `ids` changed, [`MAX_JOB_IDS`] per
/// event (none for an empty list).
pub fn jobs_changed(ids: &[i64]) -> impl Iterator<Item = Event> + '_ {
    ids.chunks(MAX_JOB_IDS).map(|chunk| Event::JobsChanged {
        job_ids: chunk.to_vec(),
    })
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
    fn job_changes_cross_as_small_tagged_json() {
        let ids: Vec<i64> = (1_000_000_000_000..1_000_000_000_600).collect();
        let events: Vec<Event> = jobs_changed(&ids).collect();
        assert_eq!(events.len(), 3);
        for event in &events {
            let json = serde_json::to_string(event).unwrap();
            assert!(
                json.starts_with(r#"{"type":"jobs-changed","jobIds":["#),
                "{json}"
            );
            assert!(json.len() < 8000 / 2, "{} bytes", json.len());
            assert_eq!(&serde_json::from_str::<Event>(&json).unwrap(), event);
        }
        assert_eq!(jobs_changed(&[]).count(), 0);
    }
}
