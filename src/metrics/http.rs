//! `prc_http_request_duration_seconds{method, route, status}`: one histogram per route
//! pattern (`/api/v1/runners/jobs/{jobUUID}/accept`, never the raw path, so UUIDs do not
//! create series), method and status. Its `_count` is the number of requests.

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds: 1 ms to 5 min (uploads are long).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The route label of a request no route matched (404 from the default service).
pub const UNMATCHED: &str = "unmatched";

/// Labels of one series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestLabels {
    /// `GET`, `POST`, … (`other` for unusual methods).
    pub method: &'static str,
    /// The route pattern, or [`UNMATCHED`].
    pub route: String,
    /// The response status.
    pub status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        (
            [("method", self.method), ("route", &*self.route)],
            [("status", self.status)],
        )
            .encode(encoder)
    }
}

fn histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The HTTP request histogram.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    pub(super) fn register(registry: &mut Registry) -> HttpMetrics {
        let requests = Family::new_with_constructor(histogram as fn() -> Histogram);
        registry.register_with_unit(
            "http_request_duration",
            "HTTP requests by method, route pattern and status: time from the request's \
             arrival until its response body is written (WebSocket upgrades: until the 101)",
            Unit::Seconds,
            requests.clone(),
        );
        HttpMetrics { requests }
    }

    /// Records one request.
    pub fn observe(&self, labels: &RequestLabels, took: Duration) {
        self.requests
            .get_or_create(labels)
            .observe(took.as_secs_f64());
    }
}
