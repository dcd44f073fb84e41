//! In-process event bus. The job engine publishes, the socket hub (and later the
//! cross-instance fan-out backends) subscribe. Publishing never blocks and never fails:
//! with no subscriber an event is simply dropped.

use tokio::sync::broadcast;

/// Something other parts of the process react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// At least one job became PENDING: runners should poll `/jobs/request`.
    JobsAvailable,
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
}
