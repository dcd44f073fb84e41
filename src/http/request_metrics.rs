//! The middleware recording every request in `prc_http_request_duration_seconds`, by
//! method, route pattern (what the router matched, such as
//! `/api/v1/runners/jobs/{jobUUID}/accept`: a raw path would make a series per job)
//! and status. A request is timed from its arrival until its response body is written
//! or dropped (a client gone mid-download included); a WebSocket upgrade until its
//! 101, since the socket then lives on. Requests no route matched are labelled
//! `route="unmatched"`.
//!
//! It wraps the router directly (inside the in-flight tracker), so the handlers do not
//! know it exists. Requests the graceful shutdown refuses (503 once its grace period
//! is over) never reach a response here and are not counted; the shutdown logs them.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::Error;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;

use crate::metrics::http::{HttpMetrics, RequestLabels, UNMATCHED};

/// The method label: the standard methods by name, anything else `other` (a client
/// cannot create series at will).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Records one request when dropped.
struct Timer {
    metrics: HttpMetrics,
    labels: RequestLabels,
    started: Instant,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.metrics.observe(&self.labels, self.started.elapsed());
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its request once written (or dropped).
    pub struct TimedBody<B> {
        #[pin]
        body: B,
        timer: Option<Timer>,
    }
}

impl<B: MessageBody> MessageBody for TimedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_next(cx);
        if let Poll::Ready(None) = polled {
            // Written out: record now rather than when the connection lets go of it.
            this.timer.take();
        }
        polled
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let TimedBody { body, timer } = self;
        // A body held in memory (most answers): its request is recorded as it is handed
        // to the connection, which writes it at once.
        body.try_into_bytes()
            .map_err(|body| TimedBody { body, timer })
    }
}

/// Middleware recording requests into [`HttpMetrics`].
#[derive(Debug, Clone)]
pub struct RecordRequests(pub HttpMetrics);

impl<S, B> Transform<S, ServiceRequest> for RecordRequests
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<TimedBody<B>>;
    type Error = Error;
    type Transform = RecordRequestsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RecordRequestsService {
            service,
            metrics: self.0.clone(),
        }))
    }
}

/// See [`RecordRequests`].
#[derive(Debug)]
pub struct RecordRequestsService<S> {
    service: S,
    metrics: HttpMetrics,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for RecordRequestsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<TimedBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = method_label(req.method());
        let metrics = self.metrics.clone();
        let handled = self.service.call(req);
        Box::pin(async move {
            let res = handled.await?;
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| UNMATCHED.to_owned());
            let status = res.status();
            let timer = Timer {
                metrics,
                labels: RequestLabels {
                    method,
                    route,
                    status: status.as_u16(),
                },
                started,
            };
            let timer = if status == StatusCode::SWITCHING_PROTOCOLS {
                // A WebSocket's body is the socket: its request ends with the 101.
                drop(timer);
                None
            } else {
                Some(timer)
            };
            Ok(res.map_body(|_, body| TimedBody { body, timer }))
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, test, web};

    use super::*;
    use crate::metrics::{Format, Metrics, Snapshot};

    #[actix_web::test]
    async fn requests_are_labelled_by_route_pattern_method_and_status() {
        let metrics = Metrics::new();
        let app = test::init_service(
            App::new()
                .wrap(RecordRequests(metrics.http.clone()))
                .route("/items/{id}", web::get().to(HttpResponse::Ok))
                .route("/items/{id}", web::delete().to(HttpResponse::NoContent)),
        )
        .await;
        for uri in ["/items/1", "/items/2", "/nowhere"] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
            drop(test::read_body(res).await);
        }
        let res = test::call_service(
            &app,
            test::TestRequest::delete().uri("/items/3").to_request(),
        )
        .await;
        assert_eq!(res.status(), 204);
        // Not recorded before its body is done.
        let text = metrics
            .render(&Snapshot::default(), Format::Prometheus)
            .unwrap();
        assert!(!text.contains("DELETE"), "{text}");
        drop(test::read_body(res).await);
        let text = metrics
            .render(&Snapshot::default(), Format::Prometheus)
            .unwrap();
        let count = |labels: &str| {
            let prefix = format!("prc_http_request_duration_seconds_count{{{labels}}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .map(str::to_owned)
        };
        assert_eq!(
            count("method=\"GET\",route=\"/items/{id}\",status=\"200\"").as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            count("method=\"DELETE\",route=\"/items/{id}\",status=\"204\"").as_deref(),
            Some("1")
        );
        assert_eq!(
            count("method=\"GET\",route=\"unmatched\",status=\"404\"").as_deref(),
            Some("1")
        );
        assert!(!text.contains("/items/1"), "no raw path: {text}");
        // Unusual methods share one label: a client cannot create series at will.
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
