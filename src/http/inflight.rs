//! What the server is busy with, for a graceful shutdown: the open connections, and
//! each request from its arrival until its response body is written (a WebSocket's
//! "response" lasts as long as the socket). A shutdown waits for them, then refuses
//! (503) the requests that outlive its grace period and names them in the log.
//!
//! [`InFlight`] is the registry; [`TrackInFlight`] the middleware that registers every
//! request; [`InFlight::connection`] the guard `HttpServer::on_connect` stores in each
//! connection's data, so that the registry knows when the last byte has left.

use std::collections::HashMap;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage};
use tokio::sync::{Notify, watch};
use tracing_actix_web::RequestId;

use crate::error::ApiError;

/// Where a request is when the shutdown looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The handler runs (it may still be reading the request body).
    Handling,
    /// The handler answered; the response body is being written.
    Responding,
    /// A WebSocket (answered 101): the socket hub closes it.
    Socket,
}

/// A request being served.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// The request id of its log span.
    pub request_id: Option<String>,
    /// When it arrived.
    pub started: Instant,
    /// Where it is.
    pub phase: Phase,
}

impl Request {
    /// How long it has been running.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[derive(Debug)]
struct Inner {
    next_id: AtomicU64,
    requests: Mutex<HashMap<u64, Request>>,
    connections: AtomicUsize,
    /// Woken whenever a request or a connection ends.
    changed: Notify,
    /// Set when the grace period is over: handlers still running are refused.
    refuse: watch::Sender<bool>,
}

/// The registry of requests and connections in progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct InFlight {
    inner: Arc<Inner>,
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight {
            inner: Arc::new(Inner {
                next_id: AtomicU64::new(1),
                requests: Mutex::new(HashMap::new()),
                connections: AtomicUsize::new(0),
                changed: Notify::new(),
                refuse: watch::Sender::new(false),
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InFlight {
    /// A guard counting one open connection until it is dropped.
    pub fn connection(&self) -> ConnectionGuard {
        self.inner.connections.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard {
            inner: self.inner.clone(),
        }
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }

    /// Requests in progress, WebSockets excluded, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        let mut list: Vec<Request> = lock(&self.inner.requests)
            .values()
            .filter(|r| r.phase != Phase::Socket)
            .cloned()
            .collect();
        list.sort_by_key(|r| r.started);
        list
    }

    /// Resolves once no request is in progress (WebSockets excluded).
    pub async fn requests_done(&self) {
        self.wait_until(|f| f.requests().is_empty()).await;
    }

    /// Resolves once every connection is closed.
    pub async fn connections_closed(&self) {
        self.wait_until(|f| f.connections() == 0).await;
    }

    async fn wait_until(&self, done: impl Fn(&InFlight) -> bool) {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(self) {
                return;
            }
            changed.await;
        }
    }

    /// Ends the grace period: handlers still running are dropped and their requests
    /// answered 503. Returns the requests in progress at that moment.
    pub fn refuse_remaining(&self) -> Vec<Request> {
        let remaining = self.requests();
        self.inner.refuse.send_replace(true);
        remaining
    }

    fn enter(&self, req: &ServiceRequest) -> RequestGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            request_id: req.extensions().get::<RequestId>().map(ToString::to_string),
            started: Instant::now(),
            phase: Phase::Handling,
        };
        lock(&self.inner.requests).insert(id, request);
        RequestGuard {
            inner: self.inner.clone(),
            id,
        }
    }
}

/// Counts one open connection; see [`InFlight::connection`].
#[derive(Debug)]
pub struct ConnectionGuard {
    inner: Arc<Inner>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.inner.connections.fetch_sub(1, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }
}

/// Keeps a request registered until its response body is done.
struct RequestGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl RequestGuard {
    fn set_phase(&self, phase: Phase) {
        if let Some(r) = lock(&self.inner.requests).get_mut(&self.id) {
            r.phase = phase;
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        lock(&self.inner.requests).remove(&self.id);
        self.inner.changed.notify_waiters();
    }
}

/// A response body that keeps its request registered until it is written out.
struct TrackedBody {
    body: BoxBody,
    _guard: RequestGuard,
}

impl MessageBody for TrackedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// The answer to a request the grace period ran out on.
fn refusal() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server is shutting down; retry the request",
    )
    .with_header("retry-after", "1")
    .with_header("connection", "close")
}

/// Middleware registering every request in an [`InFlight`] registry, and answering
/// 503 for those still running when [`InFlight::refuse_remaining`] is called.
#[derive(Debug, Clone)]
pub struct TrackInFlight(pub InFlight);

impl<S, B> Transform<S, ServiceRequest> for TrackInFlight
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = TrackInFlightService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(TrackInFlightService {
            service,
            inflight: self.0.clone(),
        }))
    }
}

/// See [`TrackInFlight`].
#[derive(Debug)]
pub struct TrackInFlightService<S> {
    service: S,
    inflight: InFlight,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for TrackInFlightService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let guard = self.inflight.enter(&req);
        let mut refuse = self.inflight.inner.refuse.subscribe();
        let handled = self.service.call(req);
        Box::pin(async move {
            let refused = async {
                // The sender lives as long as the registry this guard holds.
                if refuse.wait_for(|r| *r).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            // The refusal is an error turned into the response by actix: the request
            // itself went down with the handler. Its connection closes after it.
            let res = tokio::select! {
                biased;
                res = handled => res?.map_into_boxed_body(),
                () = refused => return Err(refusal().into()),
            };
            guard.set_phase(if res.status() == StatusCode::SWITCHING_PROTOCOLS {
                Phase::Socket
            } else {
                Phase::Responding
            });
            Ok(res.map_body(|_, body| {
                BoxBody::new(TrackedBody {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    #[actix_web::test]
    async fn requests_are_tracked_until_their_body_is_written_and_refused_when_told() {
        let inflight = InFlight::default();
        let app = test::init_service(
            App::new()
                .wrap(TrackInFlight(inflight.clone()))
                .route("/quick", web::get().to(HttpResponse::Ok))
                .route(
                    "/slow",
                    web::post().to(|| async {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        HttpResponse::Ok().finish()
                    }),
                ),
        )
        .await;

        let res =
            test::call_service(&app, test::TestRequest::get().uri("/quick").to_request()).await;
        assert_eq!(res.status(), 200);
        // The body is not written yet: still in flight.
        assert_eq!(inflight.requests()[0].phase, Phase::Responding);
        drop(test::read_body(res).await);
        assert!(inflight.requests().is_empty());

        let slow = test::try_call_service(
            &app,
            test::TestRequest::post().uri("/slow?secret=x").to_request(),
        );
        tokio::pin!(slow);
        tokio::select! {
            _ = &mut slow => panic!("the slow handler answered"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let remaining = inflight.refuse_remaining();
        assert_eq!(remaining.len(), 1);
        assert_eq!(
            (remaining[0].method.as_str(), remaining[0].path.as_str()),
            ("POST", "/slow")
        );
        assert_eq!(remaining[0].phase, Phase::Handling);
        let res = slow.await.expect_err("refused").error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        tokio::time::timeout(Duration::from_secs(5), inflight.requests_done())
            .await
            .expect("no request left");
    }

    #[tokio::test]
    async fn connection_guards_count_open_connections() {
        let inflight = InFlight::default();
        let a = inflight.connection();
        let b = inflight.connection();
        assert_eq!(inflight.connections(), 2);
        let waiter = tokio::spawn({
            let inflight = inflight.clone();
            async move { inflight.connections_closed().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("no panic");
    }
}
