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
//!   trailing edge: the first event arms a timer of `socket.debounce`, events during it
//!   are coalesced, the broadcast goes out when it fires. The timer is not pushed back by
//!   later events, so runners hear about a new job at most `debounce` after it appears.
//! - Every `socket.reannounce_interval`, if runners are connected and a job is PENDING,
//!   `available-jobs` again: a runner that lost an accept race or missed an event
//!   otherwise idles forever (`runner-protocol.md` trap 12).
//! - `RunnerRemoved` → that runner's sockets get a namespace DISCONNECT and are closed.
//! - A subscriber that lagged behind the bus counts as `JobsAvailable`.

use std::future::Future;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use super::Hub;
use super::runners::{AVAILABLE_JOBS, NAMESPACE};
use crate::config::SocketSettings;
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// Starts the notifier on the current Tokio runtime. `pending_jobs` tells whether a job
/// is PENDING (the service's `job_availability::pending_jobs_exist`), for the
/// re-announce. It runs until the bus closes or `stop` resolves (a shutdown request).
pub fn spawn<P, Fut>(
    hub: Hub,
    events: &EventBus,
    pending_jobs: P,
    settings: &SocketSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()>
where
    P: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, ServiceError>> + Send,
{
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
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(debounce_deadline), if fire_at.is_some() => {
                    fire_at = None;
                    let n = hub.broadcast(NAMESPACE, AVAILABLE_JOBS, &[]);
                    tracing::debug!(sockets = n, "available-jobs sent");
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
