//! Prometheus metrics: the families this service exposes at `/metrics`, and their
//! encoding in the Prometheus text format (0.0.4) or OpenMetrics 1.0.
//!
//! One [`Metrics`] value per application, built by `startup` and held in the service
//! [`Context`](crate::service::Context): no global registry. That is why this uses
//! `prometheus-client` rather than the `metrics` facade (which `docs/stack.md` first
//! named): the facade records into one process-wide recorder, so the integration
//! tests, which run dozens of applications in one process, would each see the others'
//! requests and jobs, and could only assert "at least" rather than exact values; a
//! per-application recorder would have to be threaded through every call anyway,
//! which is what a registry held in the context is. `prometheus-client` is the
//! Prometheus project's own Rust client: a [`Registry`] value, typed label sets, and
//! both text formats.
//!
//! Two kinds of families:
//! - recorded as things happen, into the handles here: HTTP requests ([`http`]), job
//!   waits and runs ([`jobs`]), uploads ([`uploads`]), webhook deliveries
//!   ([`webhooks`]);
//! - read at scrape time from the database, the socket hub and the pool into a
//!   [`Snapshot`] (see [`scrape`]), so they are never stale and cost nothing between
//!   scrapes.
//!
//! This module is a leaf: it knows the domain's job types and states and nothing else;
//! `http`, `service` and `socket` record into it.

pub mod http;
pub mod jobs;
pub mod scrape;
pub mod uploads;
pub mod webhooks;

use std::sync::Arc;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use scrape::Snapshot;

/// Prefix of every metric name.
pub const PREFIX: &str = "prc";

/// The exposition format of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`, what every Prometheus-compatible scraper reads.
    Prometheus,
    /// `application/openmetrics-text; version=1.0.0`, for scrapers that ask for it.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// `application/openmetrics-text` (as Prometheus does by default), else the
    /// Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The application's metrics: the registry of the recorded families and a handle on
/// each. Cheap to clone (handles are `Arc`s).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// HTTP requests, recorded by the middleware.
    pub http: http::HttpMetrics,
    /// Job waits, runs and ends, recorded by the job service.
    pub jobs: jobs::JobMetrics,
    /// File uploads, recorded by the multipart reader.
    pub uploads: uploads::UploadMetrics,
    /// Webhook deliveries, recorded by the webhook sender.
    pub webhooks: webhooks::WebhookMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every recorded family registered (and the label sets
    /// known in advance created at zero, so that they are exported before anything
    /// happens).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let build_info =
            prometheus_client::metrics::family::Family::<[(&str, &str); 1], Gauge>::default();
        build_info
            .get_or_create(&[("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "build_info",
            "Always 1; its label is the version of this server",
            build_info,
        );
        let http = http::HttpMetrics::register(&mut registry);
        let jobs = jobs::JobMetrics::register(&mut registry);
        let uploads = uploads::UploadMetrics::register(&mut registry);
        let webhooks = webhooks::WebhookMetrics::register(&mut registry);
        Metrics {
            registry: Arc::new(registry),
            http,
            jobs,
            uploads,
            webhooks,
        }
    }

    /// The recorded families and those of `snapshot`, encoded in `format`.
    pub fn render(&self, snapshot: &Snapshot, format: Format) -> Result<String, std::fmt::Error> {
        let read = snapshot.registry();
        let mut out = String::with_capacity(16 * 1024);
        match format {
            Format::Prometheus => {
                prometheus_text::encode(&mut out, &self.registry)?;
                prometheus_text::encode(&mut out, &read)?;
            }
            Format::OpenMetrics => {
                text::encode_registry(&mut out, &self.registry)?;
                text::encode_registry(&mut out, &read)?;
                text::encode_eof(&mut out)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_accept_header() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")),
            Format::Prometheus
        );
        // What Prometheus sends by default.
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn both_formats_name_the_families_with_the_prefix() {
        let m = Metrics::new();
        let prom = m.render(&Snapshot::default(), Format::Prometheus).unwrap();
        assert!(prom.contains("prc_build_info{version=\""), "{prom}");
        assert!(!prom.contains("# EOF"));
        let om = m.render(&Snapshot::default(), Format::OpenMetrics).unwrap();
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert_eq!(om.matches("# EOF").count(), 1);
    }
}
