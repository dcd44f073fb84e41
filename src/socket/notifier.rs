//! Tells runners when to poll: the bridge between the event bus and the hub.
//!
//! The job engine publishes [`Event::JobsAvailable`] whenever a job becomes PENDING,
//! runner deletion publishes [`Event::RunnerRemoved`], and this task is the hub's
//! subscriber. Events of the other instances arrive through the same bus (the
//! cross-instance relay, [`crate::fanout`], publishes them into it), so each instance
//! debounces and announces to its own sockets, and closes the sockets it holds.
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
//! - Every `socket.reannounce_interval`, if runners are connected: `available-jobs`
//!   again when a job is PENDING (a runner that lost an accept race or missed an event
//!   otherwise idles forever, `runner-protocol.md` trap 12), and the sockets of runners
//!   that no longer exist are closed (a deletion whose event was lost: another
//!   instance's, while the relay was down, or the CLI's without a fan-out).
//! - `RunnerRemoved` → that runner's sockets get a namespace DISCONNECT and are closed.
//! - `Resync` (the relay is back after an outage) → the periodic round, at once.
//! - A subscriber that lagged behind the bus counts as `JobsAvailable`.
//!
//! With several instances each one does this for its own sockets only: the periodic
//! round is per instance by design (one cheap query each), needs no coordination, and
//! reaches every runner, wherever it is connected, within `reannounce_interval`.

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

/// What the notifier asks of `service` (the socket layer holds no database handle:
/// `startup` implements this over it).
pub trait Lookups: Send + Sync + 'static {
    /// Whether at least one job is PENDING.
    fn pending_jobs(&self) -> impl Future<Output = Result<bool, ServiceError>> + Send;
    /// Which of the runners `ids` still exist.
    fn existing_runners(
        &self,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<Vec<i64>, ServiceError>> + Send;
    /// Resolves once the offer index has applied the events published so far.
    fn settle(&self) -> impl Future<Output = ()> + Send;
}

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

/// Starts the notifier on the current Tokio runtime. It runs until the bus closes or
/// `stop` resolves (a shutdown request).
pub fn spawn(
    hub: Hub,
    events: &EventBus,
    lookups: impl Lookups,
    settings: &SocketSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    let mut rx = events.subscribe();
    let debounce = settings.debounce;
    let period = settings
        .reannounce_interval
        .max(std::time::Duration::from_millis(10));
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
                            announce(&hub, &lookups, "leading edge").await;
                        }
                    }
                    Ok(Event::RunnerRemoved { runner_id }) => {
                        let n = hub.disconnect_owner(NAMESPACE, &runner_id);
                        tracing::debug!(runner_id, sockets = n, "closing a removed runner's sockets");
                    }
                    // For the offer index, the live event streams and the webhook workers.
                    Ok(
                        Event::JobsChanged { .. }
                        | Event::VideoEvent { .. }
                        | Event::Progress { .. }
                        | Event::DeliveriesDue,
                    ) => {}
                    Ok(Event::Resync) => periodic_round(&hub, &lookups).await,
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(window_end.unwrap_or_else(Instant::now)), if window_end.is_some() => {
                    if window.window_closed(Instant::now(), debounce) {
                        announce(&hub, &lookups, "end of window").await;
                    }
                }
                _ = reannounce.tick() => periodic_round(&hub, &lookups).await,
            }
        }
    })
}

/// `available-jobs` to every socket, once the offer index settled (or [`SETTLE_MAX`]).
async fn announce(hub: &Hub, lookups: &impl Lookups, why: &'static str) {
    if tokio::time::timeout(SETTLE_MAX, lookups.settle())
        .await
        .is_err()
    {
        tracing::warn!("the offer index did not settle in time; announcing anyway");
    }
    let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
    tracing::debug!(sockets = n, why, "available-jobs sent");
}

/// The re-announce and the check for removed runners (see the module documentation).
async fn periodic_round(hub: &Hub, lookups: &impl Lookups) {
    if hub.sockets_in(NAMESPACE) == 0 {
        return;
    }
    match lookups.pending_jobs().await {
        Ok(true) => {
            let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
            tracing::debug!(sockets = n, "available-jobs re-announced");
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot check for pending jobs"),
    }
    let mut connected = hub.owners_in(NAMESPACE);
    connected.sort_unstable();
    connected.dedup();
    let mut existing = match lookups.existing_runners(connected.clone()).await {
        Ok(existing) => existing,
        Err(e) => {
            tracing::warn!(error = %e, "cannot check that connected runners still exist");
            return;
        }
    };
    existing.sort_unstable();
    for runner_id in connected
        .into_iter()
        .filter(|id| existing.binary_search(id).is_err())
    {
        let n = hub.disconnect_owner(NAMESPACE, &runner_id);
        tracing::info!(
            runner_id,
            sockets = n,
            "closed the sockets of a runner deleted meanwhile"
        );
    }
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
