//! The event bus. The job engine publishes, the socket hub subscribes, and with a
//! fan-out backend ([`crate::fanout`]) every event also reaches the buses of the other
//! server instances. Publishing never blocks and never fails: with no subscriber an
//! event is simply dropped.
//!
//! Scope: every [`Event`] crosses instances unless [`Event::is_local`] says otherwise.
//! An event crosses as JSON (its serde form, tagged by `type`), so a new variant only
//! needs serializable fields; one that must stay in the process gets `#[serde(skip)]`
//! and an arm in [`Event::is_local`]. Events are notifications, not data: each carries
//! ids, never rows or payloads, and its JSON must stay well under the relay's size
//! limit ([`crate::fanout::wire::MAX_PAYLOAD`], PostgreSQL NOTIFY's 8000 bytes);
//! a larger one is delivered in this process only, and logged as an error.
//!
//! Delivery: [`EventBus::publish`] hands the event to this process's subscribers at
//! once, and to the relay (if any), which sends it to the others; an instance's own
//! events coming back from the channel are recognised by their origin and dropped, so
//! each subscriber sees each event once. Across instances delivery is at most once: a
//! relay that is down drops what it cannot send (see [`RelayStatus`]), and publishes
//! [`Event::Resync`] locally when it is back, so subscribers re-read what they keep
//! from the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::domain::ids::{JobUuid, VideoUuid};
use crate::domain::webhook::EventType;

/// Most job ids in one [`Event::JobsChanged`] (its JSON stays a few kilobytes, well
/// under PostgreSQL NOTIFY's 8000 bytes): [`jobs_changed`] splits longer lists.
pub const MAX_JOB_IDS: usize = 256;

/// Something other parts of the process, and of the other instances, react to.
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
    /// Local only: the link to the other instances was down and is back, so events
    /// they published meanwhile may be lost. Subscribers that keep state derived from
    /// events re-read it from the database (the socket hub re-announces pending jobs
    /// and closes the sockets of runners that no longer exist).
    #[serde(skip)]
    Resync,
}

impl Event {
    /// Whether the event stays in this process (never sent to other instances).
    pub fn is_local(&self) -> bool {
        matches!(self, Event::Resync)
    }
}

/// A cloneable handle to the bus.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    relay: Option<Arc<Link>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(1024)
    }
}

impl EventBus {
    /// A bus of this process only, keeping up to `capacity` unread events per
    /// subscriber; a subscriber that falls further behind skips the oldest (events are
    /// idempotent notifications).
    pub fn new(capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx, relay: None }
    }

    /// A bus whose events are also handed to a relay, through the returned
    /// [`RelayPort`]; up to `queue` events wait for the relay (more are dropped, and
    /// counted, while it cannot send). `backend` names the relay in [`RelayStatus`].
    pub fn with_relay(
        capacity: usize,
        queue: usize,
        backend: &'static str,
    ) -> (EventBus, RelayPort) {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let (out_tx, out_rx) = mpsc::channel(queue.max(1));
        let link = Arc::new(Link {
            outbound: out_tx,
            status: Mutex::new(RelayStatus {
                backend,
                state: RelayState::Connecting,
                since: Utc::now(),
                last_error: None,
            }),
            dropped: AtomicU64::new(0),
        });
        let bus = EventBus {
            tx: tx.clone(),
            relay: Some(link.clone()),
        };
        let port = RelayPort {
            local: tx,
            outbound: out_rx,
            link,
        };
        (bus, port)
    }

    /// Sends an event to every current subscriber, and to the other instances unless
    /// it [`is_local`](Event::is_local).
    pub fn publish(&self, event: Event) {
        if let Some(link) = &self.relay
            && !event.is_local()
            && link.outbound.try_send(event.clone()).is_err()
        {
            link.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // An error only means nobody listens right now.
        let _ = self.tx.send(event);
    }

    /// A new subscription receiving events published from now on (by this process or,
    /// through the relay, by the others).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// The relay's state, `None` when events stay in this process.
    pub fn relay_status(&self) -> Option<RelayStatus> {
        self.relay.as_ref().map(|link| link.status())
    }
}

/// What the relay shares with the buses of its process.
#[derive(Debug)]
struct Link {
    outbound: mpsc::Sender<Event>,
    status: Mutex<RelayStatus>,
    dropped: AtomicU64,
}

impl Link {
    fn status(&self) -> RelayStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Where the relay stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayState {
    /// Not connected yet since the process started.
    Connecting,
    /// Subscribed to the channel: events cross.
    Connected,
    /// The connection was lost or refused; retrying with backoff. Events published
    /// meanwhile reach this process only (and the other instances' re-announce).
    Reconnecting,
}

/// The relay's state, as `/readyz` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    /// `postgres`, `redis` or `redis-sentinel`.
    pub backend: &'static str,
    /// Connected or not.
    pub state: RelayState,
    /// When it entered this state.
    pub since: DateTime<Utc>,
    /// Why the last connection failed or was lost (no credentials in it).
    pub last_error: Option<String>,
}

/// The relay's end of a bus made by [`EventBus::with_relay`].
#[derive(Debug)]
pub struct RelayPort {
    local: broadcast::Sender<Event>,
    outbound: mpsc::Receiver<Event>,
    link: Arc<Link>,
}

impl RelayPort {
    /// Hands an event of another instance to this process's subscribers only.
    pub fn deliver(&self, event: Event) {
        let _ = self.local.send(event);
    }

    /// The next event to send to the other instances (`None` once every bus handle is
    /// gone). Cancel-safe.
    pub async fn next_outbound(&mut self) -> Option<Event> {
        self.outbound.recv().await
    }

    /// The next queued event, if one is waiting.
    pub fn try_next_outbound(&mut self) -> Option<Event> {
        self.outbound.try_recv().ok()
    }

    /// How many events could not be queued for the relay since the last call.
    pub fn take_dropped(&self) -> u64 {
        self.link.dropped.swap(0, Ordering::Relaxed)
    }

    /// Records a new state (and resets `since` when it changed).
    pub fn set_state(&self, state: RelayState, last_error: Option<String>) {
        let mut status = self
            .link
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if status.state != state {
            status.since = Utc::now();
        }
        status.state = state;
        if last_error.is_some() || state == RelayState::Connected {
            status.last_error = last_error;
        }
    }

    /// The current state.
    pub fn status(&self) -> RelayStatus {
        self.link.status()
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
        assert_eq!(bus.relay_status(), None);
    }

    #[tokio::test]
    async fn the_relay_gets_shared_events_and_delivers_remote_ones_locally_only() {
        let (bus, mut port) = EventBus::with_relay(8, 2, "test");
        let mut sub = bus.subscribe();
        bus.publish(Event::JobsAvailable);
        bus.publish(Event::Resync); // local: not for the relay
        assert_eq!(port.next_outbound().await, Some(Event::JobsAvailable));
        assert_eq!(sub.recv().await.ok(), Some(Event::JobsAvailable));
        assert_eq!(sub.recv().await.ok(), Some(Event::Resync));

        port.deliver(Event::RunnerRemoved { runner_id: 3 });
        assert_eq!(
            sub.recv().await.ok(),
            Some(Event::RunnerRemoved { runner_id: 3 })
        );
        // A remote event is not sent back out.
        assert!(port.outbound.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_full_relay_queue_drops_and_counts_without_blocking_publishers() {
        let (bus, port) = EventBus::with_relay(8, 2, "test");
        for id in 0..5 {
            bus.publish(Event::RunnerRemoved { runner_id: id });
        }
        assert_eq!(port.take_dropped(), 3);
        assert_eq!(port.take_dropped(), 0);
    }

    #[test]
    fn events_cross_as_tagged_json_and_local_ones_cannot() {
        let json = serde_json::to_string(&Event::RunnerRemoved { runner_id: 9 }).unwrap();
        assert_eq!(json, r#"{"type":"runner-removed","runnerId":9}"#);
        assert_eq!(
            serde_json::to_string(&Event::JobsAvailable).unwrap(),
            r#"{"type":"jobs-available"}"#
        );
        assert!(serde_json::to_string(&Event::Resync).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"type":"resync"}"#).is_err());
        assert!(Event::Resync.is_local() && !Event::JobsAvailable.is_local());
    }

    #[test]
    fn status_changes_reset_since_and_keep_the_last_error() {
        let (_bus, port) = EventBus::with_relay(8, 2, "test");
        let first = port.status();
        assert_eq!(first.state, RelayState::Connecting);
        port.set_state(RelayState::Reconnecting, Some("refused".to_owned()));
        let down = port.status();
        assert_eq!(down.last_error.as_deref(), Some("refused"));
        assert!(down.since >= first.since);
        port.set_state(RelayState::Connected, None);
        assert_eq!(port.status().last_error, None);
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
