//! `[webhooks]`: where events are sent, how they are signed, retried and restricted.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret, list};
use crate::domain::webhook::EventType;
use crate::domain::webhook::retry::RetryPolicy;
use crate::domain::webhook::signature::SigningKey;
use crate::domain::webhook::targets::{AllowedTarget, TargetPolicy};

/// `[webhooks]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Signs the events sent to a video's own `callbackUrl` (`whsec_…`). Unset:
    /// submissions with a `callbackUrl` are refused.
    pub secret: Option<Secret>,
    /// Receivers of every video's events.
    #[serde(deserialize_with = "list::deserialize")]
    pub endpoints: Vec<EndpointSettings>,
    /// Host names, addresses and CIDR ranges that may be sent to although they are
    /// loopback, private or otherwise not public (those are refused otherwise).
    #[serde(deserialize_with = "list::deserialize")]
    pub allowed_targets: Vec<String>,
    /// Longest one attempt may take (connecting, sending, reading the answer).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long after its event a failing delivery is retried; dead after.
    #[serde(with = "humantime_serde")]
    pub retry_period: Duration,
    /// Delay before the first retry; it doubles with each failure (with jitter).
    #[serde(with = "humantime_serde")]
    pub first_retry_delay: Duration,
    /// Longest delay between two attempts.
    #[serde(with = "humantime_serde")]
    pub max_retry_delay: Duration,
    /// Deliveries attempted at once by this instance; 0: this instance delivers none
    /// (other instances sharing the database do).
    pub concurrency: usize,
    /// How often this instance looks for due deliveries (events of this instance are
    /// sent at once, retries and other instances' events within this delay).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Delivered and dead deliveries are deleted once this old.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

/// `[[webhooks.endpoints]]`: one receiver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// Names the endpoint in deliveries (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// `http(s)://` URL the events are POSTed to.
    pub url: String,
    /// Its `whsec_…` signing secret.
    pub secret: Secret,
    /// The event types it receives; empty: all.
    #[serde(default, deserialize_with = "list::deserialize")]
    pub events: Vec<EventType>,
}

impl std::str::FromStr for EndpointSettings {
    type Err = String;

    fn from_str(_: &str) -> Result<EndpointSettings, String> {
        Err("endpoints are a TOML list of tables, e.g. \
             [{name = \"lms\", url = \"https://…\", secret = \"whsec_…\"}]"
            .to_owned())
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            secret: None,
            endpoints: Vec::new(),
            allowed_targets: Vec::new(),
            timeout: Duration::from_secs(10),
            retry_period: Duration::from_secs(24 * 3600),
            first_retry_delay: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(3600),
            concurrency: 8,
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl EndpointSettings {
    /// Whether it receives events of `event`.
    pub fn wants(&self, event: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

/// Checks a webhook URL: `http(s)`, a host, no credentials and no fragment.
pub fn check_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{raw}` is not an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a webhook URL holds no credentials (the signature authenticates)".to_owned());
    }
    if url.fragment().is_some() {
        return Err("a webhook URL has no #fragment".to_owned());
    }
    if raw.len() > 2048 {
        return Err("a webhook URL has at most 2048 characters".to_owned());
    }
    Ok(url)
}

fn invalid(msg: String) -> ConfigError {
    ConfigError::Invalid(msg)
}

impl WebhookSettings {
    /// Checks what serde cannot: secrets, URLs, names, the allow-list, durations.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if let Some(secret) = &self.secret {
            SigningKey::parse(secret.expose())
                .map_err(|e| invalid(format!("webhooks.secret: {e}")))?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
            let which = format!("webhooks.endpoints[{}]", i + 1);
            let name_ok = (1..=64).contains(&e.name.len())
                && e.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !name_ok {
                return Err(invalid(format!(
                    "{which}.name: 1 to 64 letters, digits, `-`, `_` or `.`"
                )));
            }
            if !names.insert(e.name.as_str()) {
                return Err(invalid(format!("{which}.name: `{}` is used twice", e.name)));
            }
            check_url(&e.url).map_err(|m| invalid(format!("{which}.url: {m}")))?;
            SigningKey::parse(e.secret.expose())
                .map_err(|m| invalid(format!("{which}.secret: {m}")))?;
        }
        for t in &self.allowed_targets {
            t.parse::<AllowedTarget>()
                .map_err(|m| invalid(format!("webhooks.allowed_targets: {m}")))?;
        }
        for (key, d) in [
            ("timeout", self.timeout),
            ("first_retry_delay", self.first_retry_delay),
            ("poll_interval", self.poll_interval),
            ("retention", self.retention),
        ] {
            if d.is_zero() {
                return Err(invalid(format!("webhooks.{key} must be more than 0")));
            }
        }
        if self.max_retry_delay < self.first_retry_delay {
            return Err(invalid(
                "webhooks.max_retry_delay must be at least webhooks.first_retry_delay".to_owned(),
            ));
        }
        Ok(())
    }

    /// The allow-list (checked when the settings were loaded).
    pub fn target_policy(&self) -> TargetPolicy {
        TargetPolicy::new(
            self.allowed_targets
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect(),
        )
    }

    /// The retry schedule.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            first_delay: self.first_retry_delay,
            max_delay: self.max_retry_delay,
            period: self.retry_period,
        }
    }

    /// The endpoint named `name`.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointSettings> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}
