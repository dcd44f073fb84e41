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
//!   trailing edge: the first event arms a timer of `socket.debounce`, events during it
//!   are coalesced, the broadcast goes out when it fires. The timer is not pushed back by
//!   later events, so runners hear about a new job at most `debounce` after it appears.
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

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use super::Hub;
use super::runners::{AVAILABLE_JOBS, NAMESPACE};
use crate::config::SocketSettings;
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// What the periodic round asks of `service` (the socket layer holds no database
/// handle: `startup` implements this over it).
pub trait Lookups: Send + Sync + 'static {
    /// Whether at least one job is PENDING.
    fn pending_jobs(&self) -> impl Future<Output = Result<bool, ServiceError>> + Send;
    /// Which of the runners `ids` still exist.
    fn existing_runners(
        &self,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<Vec<i64>, ServiceError>> + Send;
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
        let mut fire_at: Option<Instant> = None;
        let mut reannounce = interval_at(Instant::now() + period, period);
        reannounce.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let debounce_deadline = fire_at.unwrap_or_else(|| Instant::now() + period);
            tokio::select! {
                () = &mut stop => return,
                event = rx.recv() => match event {
                    Ok(Event::JobsAvailable) | Err(RecvError::Lagged(_)) => {
                        fire_at.get_or_insert_with(|| Instant::now() + debounce);
                    }
                    Ok(Event::RunnerRemoved { runner_id }) => {
                        let n = hub.disconnect_owner(NAMESPACE, &runner_id);
                        tracing::debug!(runner_id, sockets = n, "closing a removed runner's sockets");
                    }
                    // Video events and webhook wake-ups are for other subscribers.
                    Ok(Event::VideoEvent { .. } | Event::Progress { .. } | Event::DeliveriesDue) => {}
                    Ok(Event::Resync) => periodic_round(&hub, &lookups).await,
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(debounce_deadline), if fire_at.is_some() => {
                    fire_at = None;
                    let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
                    tracing::debug!(sockets = n, "available-jobs sent");
                }
                _ = reannounce.tick() => periodic_round(&hub, &lookups).await,
            }
        }
    })
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
