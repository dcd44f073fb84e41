//! `prc_webhook_deliveries_total{outcome}`: webhook delivery attempts, each counted
//! once by the webhook sender with [`WebhookMetrics::delivery`]: `delivered` (a 2xx
//! answer), `failed` (an error or another status; it will be retried) or `gave_up`
//! (failed with no attempt left).

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed and will be retried.
    Failed,
    /// It failed and no attempt is left.
    GaveUp,
}

impl WebhookOutcome {
    /// Every outcome.
    pub const ALL: [WebhookOutcome; 3] = [
        WebhookOutcome::Delivered,
        WebhookOutcome::Failed,
        WebhookOutcome::GaveUp,
    ];

    fn name(self) -> &'static str {
        match self {
            WebhookOutcome::Delivered => "delivered",
            WebhookOutcome::Failed => "failed",
            WebhookOutcome::GaveUp => "gave_up",
        }
    }
}

impl EncodeLabelSet for WebhookOutcome {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("outcome", self.name())].encode(encoder)
    }
}

/// The webhook family.
#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    deliveries: Family<WebhookOutcome, Counter>,
}

impl WebhookMetrics {
    pub(super) fn register(registry: &mut Registry) -> WebhookMetrics {
        let deliveries = Family::<WebhookOutcome, Counter>::default();
        for outcome in WebhookOutcome::ALL {
            deliveries.get_or_create_owned(&outcome);
        }
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, failed: will be retried, \
             gave_up: no attempt left)",
            deliveries.clone(),
        );
        WebhookMetrics { deliveries }
    }

    /// Counts one delivery attempt that ended with `outcome`.
    pub fn delivery(&self, outcome: WebhookOutcome) {
        self.deliveries.get_or_create(&outcome).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Format, Metrics, Snapshot};

    #[test]
    fn each_attempt_is_counted_under_its_outcome() {
        let m = Metrics::new();
        let before = m.render(&Snapshot::default(), Format::Prometheus).unwrap();
        for outcome in WebhookOutcome::ALL {
            assert!(
                before.contains(&format!(
                    "prc_webhook_deliveries_total{{outcome=\"{}\"}} 0\n",
                    outcome.name()
                )),
                "{before}"
            );
        }
        m.webhooks.delivery(WebhookOutcome::Failed);
        m.webhooks.delivery(WebhookOutcome::Failed);
        m.webhooks.delivery(WebhookOutcome::Delivered);
        let after = m.render(&Snapshot::default(), Format::Prometheus).unwrap();
        assert!(after.contains("prc_webhook_deliveries_total{outcome=\"failed\"} 2\n"));
        assert!(after.contains("prc_webhook_deliveries_total{outcome=\"delivered\"} 1\n"));
        assert!(after.contains("prc_webhook_deliveries_total{outcome=\"gave_up\"} 0\n"));
    }
}
