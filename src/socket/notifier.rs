//! Tells runners when to poll: the bridge between the event bus and the hub.
//!
//! The fan-out interface is the [`EventBus`] itself: the job engine publishes
//! [`Event::JobsAvailable`] whenever a job becomes PENDING, runner deletion publishes
//! [`Event::RunnerRemoved`], and this task is the hub's only subscriber. A cross-instance
//! backend (PostgreSQL LISTEN/NOTIFY, Redis pub/sub) plugs in as another task that relays
//! between the bus and its channel (publishing remote events into the local bus), without
//! touching the hub or the job engine.
//!
//! Behaviour:
//! - `JobsAvailable` → `available-jobs` to every `/runners` socket, debounced on the
//!   leading edge: the first event of a quiet period is announced at once and opens a
//!   window of `socket.debounce`; events during the window are coalesced into one more
//!   broadcast when it closes (which opens the next window). A lone job reaches idle
//!   runners without delay, a burst costs at most one broadcast per `debounce`, and no
//!   job waits more than `debounce` to be announced.
//! - Before each `available-jobs` the notifier waits (at most [`SETTLE_MAX`]) for
//!   `settle`: the service's offer index applying the events received so far, so a
//!   runner polling at once is offered the job it was told about, even one another
//!   instance created.
//! - Every `socket.reannounce_interval`, if runners are connected and a job is PENDING,
//!   `available-jobs` again: a runner that lost an accept race or missed an event
//!   otherwise idles forever (`runner-protocol.md` trap 12).
//! - `RunnerRemoved` → that runner's sockets get a namespace DISCONNECT and are closed.
//! - A subscriber that lagged behind the bus counts as `JobsAvailable`.

use std::future::Future;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use super::Hub;
use super::runners::{AVAILABLE_JOBS, NAMESPACE};
use crate::config::SocketSettings;
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// Longest wait for `settle` before an announce goes out anyway.
pub const SETTLE_MAX: Duration = Duration::from_millis(500);

/// The leading-edge debounce (see the module documentation), as a pure state machine.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// End of the current window, if one is open.
    window_end: Option<Instant>,
    /// An event arrived during the window.
    dirty: bool,
}

impl Debounce {
    /// An event at `now`: whether to announce at once (no window was open).
    pub fn event(&mut self, now: Instant, window: Duration) -> bool {
        if self.window_end.is_some() {
            self.dirty = true;
            return false;
        }
        self.window_end = Some(now + window);
        true
    }

    /// When the open window ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.window_end
    }

    /// The window ended at `now`: whether to announce (events came during it); if so
    /// the next window opens.
    pub fn window_closed(&mut self, now: Instant, window: Duration) -> bool {
        let announce = std::mem::take(&mut self.dirty);
        self.window_end = announce.then_some(now + window);
        announce
    }
}

/// Starts the notifier on the current Tokio runtime. `pending_jobs` tells whether a job
/// is PENDING (the service's `job_availability::pending_jobs_exist`), for the
/// re-announce; `settle` resolves once the offer index has applied the events published
/// so far. It runs until the bus closes or `stop` resolves (a shutdown request).
pub fn spawn<P, Fut, S, SFut>(
    hub: Hub,
    events: &EventBus,
    pending_jobs: P,
    settle: S,
    settings: &SocketSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()>
where
    P: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, ServiceError>> + Send,
    S: Fn() -> SFut + Send + 'static,
    SFut: Future<Output = ()> + Send,
{
    let mut rx = events.subscribe();
    let debounce = settings.debounce;
    let period = settings
        .reannounce_interval
        .max(std::time::Duration::from_millis(10));
    let announce = move |hub: &Hub, why: &'static str| {
        let settled = tokio::time::timeout(SETTLE_MAX, settle());
        let hub = hub.clone();
        async move {
            if settled.await.is_err() {
                tracing::warn!("the offer index did not settle in time; announcing anyway");
            }
            let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
            tracing::debug!(sockets = n, why, "available-jobs sent");
        }
    };
    tokio::spawn(async move {
        tokio::pin!(stop);
        let mut window = Debounce::default();
        let mut reannounce = interval_at(Instant::now() + period, period);
        reannounce.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let window_end = window.deadline();
            tokio::select! {
                () = &mut stop => return,
                event = rx.recv() => match event {
                    Ok(Event::JobsAvailable) | Err(RecvError::Lagged(_)) => {
                        if window.event(Instant::now(), debounce) {
                            announce(&hub, "leading edge").await;
                        }
                    }
                    Ok(Event::RunnerRemoved { runner_id }) => {
                        let n = hub.disconnect_owner(NAMESPACE, &runner_id);
                        tracing::debug!(runner_id, sockets = n, "closing a removed runner's sockets");
                    }
                    // For the offer index.
                    Ok(Event::JobsChanged { .. }) => {}
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(window_end.unwrap_or_else(Instant::now)), if window_end.is_some() => {
                    if window.window_closed(Instant::now(), debounce) {
                        announce(&hub, "end of window").await;
                    }
                }
                _ = reannounce.tick() => {
                    if hub.sockets_in(NAMESPACE) == 0 {
                        continue;
                    }
                    match pending_jobs().await {
                        Ok(true) => {
                            let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
                            tracing::debug!(sockets = n, "available-jobs re-announced");
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot check for pending jobs"),
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_of_a_quiet_period_goes_out_at_once_and_a_burst_costs_one_more() {
        let w = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut d = Debounce::default();
        assert!(d.event(t0, w), "leading edge");
        assert_eq!(d.deadline(), Some(t0 + w));
        for i in 1..5 {
            assert!(
                !d.event(t0 + Duration::from_millis(100 * i), w),
                "coalesced"
            );
        }
        assert!(
            d.window_closed(t0 + w, w),
            "one trailing broadcast for the burst"
        );
        assert_eq!(d.deadline(), Some(t0 + 2 * w), "the next window opens");
        assert!(!d.window_closed(t0 + 2 * w, w), "quiet: nothing more");
        assert_eq!(d.deadline(), None);
        assert!(d.event(t0 + 3 * w, w), "a new quiet period starts at once");
    }

    #[test]
    fn a_lone_event_makes_one_broadcast() {
        let w = Duration::from_millis(50);
        let t0 = Instant::now();
        let mut d = Debounce::default();
        assert!(d.event(t0, w));
        assert!(!d.window_closed(t0 + w, w));
        assert_eq!(d, Debounce::default());
    }
}
