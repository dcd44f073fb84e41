//! `[metrics]`: the Prometheus endpoint.

use serde::{Deserialize, Serialize};

use super::Secret;
use super::list;

/// `[metrics]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// Serve `/metrics` on this address only (its own listener), not on the API port.
    /// Unset: on the API port.
    pub bind: Option<String>,
    /// Bearer keys `/metrics` requires (`Authorization: Bearer <key>`). Empty: open.
    #[serde(deserialize_with = "list::deserialize")]
    pub keys: Vec<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            bind: None,
            keys: Vec::new(),
        }
    }
}
