//! Graceful shutdown (SIGTERM, SIGINT, or [`ShutdownHandle::shutdown`]):
//!
//! 1. Background tasks (watchdog, notifier) are told to stop, and every Engine.IO
//!    session is closed at once with a transport close (WebSocket close frame 1001,
//!    polling close packet), never a Socket.IO DISCONNECT, so that runners reconnect,
//!    to the next instance ([`crate::socket::Hub::shutdown`]). New handshakes get 503.
//! 2. Once the sessions are closed (a polling client between two GETs gets up to a
//!    second to send the next one, which carries the close packet), the listener stops
//!    accepting and idle keep-alive connections are closed (actix's graceful stop).
//! 3. Requests in progress may finish until the last second of `server.shutdown_grace`
//!    (its last fifth, if shorter). Those still running then are answered 503, or cut
//!    if their response had started, and each is named in the log.
//! 4. Once no request is left and the connections are closed (they get one more second
//!    for that: WebSocket peers answer the close frame, 503s are written), or the grace
//!    period is over, the server future returns; the process exits within the period.
//!
//! A second signal skips the rest of the grace period.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::http::inflight::{InFlight, Phase, Request};
use crate::socket::Hub;

/// How long connections get to close once no request is left (WebSocket peers answer
/// the close frame, refused requests' 503s are written).
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

/// How long the listener stays open for sessions to deliver their close packets
/// (polling sessions wait up to a second for the client's next GET).
const SESSIONS_CLOSE: Duration = Duration::from_millis(1500);

/// Starts a shutdown: the first call a graceful one, the next one skips what is left of
/// the grace period. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<u8>>,
}

impl Default for ShutdownHandle {
    fn default() -> Self {
        ShutdownHandle {
            tx: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl ShutdownHandle {
    /// Requests a graceful shutdown; called again, ends the grace period now.
    pub fn shutdown(&self) {
        self.tx.send_modify(|n| *n = n.saturating_add(1).min(2));
    }

    /// A listener for background tasks.
    pub fn listener(&self) -> ShutdownListener {
        ShutdownListener(self.tx.subscribe())
    }
}

/// Tells a task that a shutdown started.
#[derive(Debug, Clone)]
pub struct ShutdownListener(watch::Receiver<u8>);

impl ShutdownListener {
    /// Resolves once a shutdown was requested.
    pub async fn requested(&mut self) {
        self.reached(1).await;
    }

    /// Resolves once the shutdown was asked twice (skip the grace period).
    pub async fn forced(&mut self) {
        self.reached(2).await;
    }

    async fn reached(&mut self, level: u8) {
        // The sender lives in the handle; without it, nothing can ask any more.
        if self.0.wait_for(|n| *n >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Calls [`ShutdownHandle::shutdown`] on each SIGTERM or SIGINT (Ctrl-C elsewhere than
/// Unix). Runs until aborted.
pub async fn forward_os_signals(handle: ShutdownHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => (term, int),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                return;
            }
        };
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "signal received");
            handle.shutdown();
        }
    }
    #[cfg(not(unix))]
    while tokio::signal::ctrl_c().await.is_ok() {
        tracing::info!(signal = "ctrl-c", "signal received");
        handle.shutdown();
    }
}

/// What a shutdown closes and waits for.
pub(crate) struct Drain {
    pub server: actix_web::dev::ServerHandle,
    pub hub: Hub,
    pub inflight: InFlight,
    pub grace: Duration,
    pub listener: ShutdownListener,
    pub background: Vec<JoinHandle<()>>,
}

/// When requests still running are refused: one second before the end of the grace
/// period (a fifth of it, if shorter), so that the 503s go out before it ends.
fn refuse_at(start: Instant, grace: Duration) -> Instant {
    start + grace - (grace / 5).min(Duration::from_secs(1))
}

impl Drain {
    /// Runs the steps of the module documentation; background tasks were told to stop.
    pub async fn run(self) {
        let start = Instant::now();
        let mut deadline = start + self.grace;
        let running = self.inflight.requests().len();
        tracing::info!(
            grace = ?self.grace,
            requests_in_progress = running,
            "shutting down"
        );
        let closed = self.hub.shutdown();
        tracing::info!(
            sockets = closed.sessions(),
            websocket = closed.websocket,
            polling = closed.polling,
            runners = closed.namespace_sockets,
            "runner sockets closed; runners reconnect to the next instance"
        );
        let sessions_by = deadline.min(start + SESSIONS_CLOSE);
        if timeout_at(sessions_by, self.hub.sessions_closed())
            .await
            .is_err()
        {
            tracing::warn!("some runner sockets did not close in time");
        }
        // Stop accepting; idle keep-alive connections are closed, active ones after
        // their current request. The command is sent now; the drain below waits.
        drop(self.server.stop(true));

        let mut forced = self.listener.clone();
        let done = tokio::select! {
            () = self.inflight.requests_done() => true,
            () = sleep_until(refuse_at(start, self.grace)) => false,
            () = forced.forced() => {
                tracing::warn!("asked again: ending the grace period now");
                deadline = deadline.min(Instant::now() + CLOSE_HANDSHAKE);
                false
            }
        };
        if !done {
            let refused = self.inflight.refuse_remaining();
            for r in refused.iter().filter(|r| r.phase == Phase::Handling) {
                log_request(
                    r,
                    "request still running when the grace period ended: refused (503)",
                );
            }
            tracing::warn!(
                refused = refused
                    .iter()
                    .filter(|r| r.phase == Phase::Handling)
                    .count(),
                still_responding = refused
                    .iter()
                    .filter(|r| r.phase != Phase::Handling)
                    .count(),
                "shutdown grace period over"
            );
            let _ = timeout_at(deadline, self.inflight.requests_done()).await;
            for r in self.inflight.requests() {
                log_request(&r, "request still running at exit: cut");
            }
        }

        let close_by = deadline.min(Instant::now() + CLOSE_HANDSHAKE);
        let _ = timeout_at(close_by, self.inflight.connections_closed()).await;
        let open = self.inflight.connections();
        if open > 0 {
            tracing::warn!(
                connections = open,
                "connections still open at exit: dropped"
            );
        }

        for task in self.background {
            let abort = task.abort_handle();
            if timeout_at(
                deadline.max(Instant::now() + Duration::from_millis(100)),
                task,
            )
            .await
            .is_err()
            {
                abort.abort();
                tracing::warn!("a background task did not stop in time: aborted");
            }
        }
        tracing::info!(took = ?start.elapsed(), "shutdown complete");
    }
}

fn log_request(r: &Request, what: &str) {
    tracing::warn!(
        method = %r.method,
        path = %r.path,
        request_id = r.request_id.as_deref().unwrap_or("-"),
        running_for = ?r.elapsed(),
        responding = r.phase == Phase::Responding,
        "{what}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_refused_before_the_grace_period_ends() {
        let t = Instant::now();
        assert_eq!(
            refuse_at(t, Duration::from_secs(10)),
            t + Duration::from_secs(9)
        );
        assert_eq!(
            refuse_at(t, Duration::from_secs(1)),
            t + Duration::from_millis(800)
        );
        assert_eq!(refuse_at(t, Duration::ZERO), t);
    }

    #[tokio::test]
    async fn the_first_call_requests_and_the_second_forces() {
        let handle = ShutdownHandle::default();
        let mut listener = handle.listener();
        let requested = tokio::time::timeout(Duration::from_millis(50), listener.requested());
        assert!(requested.await.is_err());
        handle.shutdown();
        listener.requested().await;
        let forced = tokio::time::timeout(Duration::from_millis(50), listener.forced());
        assert!(forced.await.is_err());
        handle.shutdown();
        listener.forced().await;
    }
}
