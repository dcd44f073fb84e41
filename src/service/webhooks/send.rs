//! One attempt of one delivery: the target and its secret from the configuration, the
//! Standard Webhooks headers, a POST of the stored body with a timeout, redirects
//! never followed, and only addresses the allow-list accepts connected to.
//!
//! The HTTP client resolves host names through [`GuardedResolver`], which checks every
//! address a name resolves to against `webhooks.allowed_targets` and hands the client
//! only those it checked, so what is connected to is what was checked (a name that
//! resolves differently the second time cannot slip through). Literal addresses are
//! checked before the request. Proxies from the environment are not used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{WebhookSettings, check_webhook_url};
use crate::domain::webhook::Delivery;
use crate::domain::webhook::signature::SigningKey;
use crate::domain::webhook::targets::TargetPolicy;

/// Longest answer body kept (in the delivery's `last_error`).
const MAX_ERROR_BODY: usize = 200;
/// Longest a name may take to resolve at submission.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What an attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered {
        /// Where it went.
        url: String,
        /// The status.
        status: u16,
    },
    /// Anything else.
    Failed {
        /// Where it was sent (or would have been).
        url: String,
        /// The status, if an answer came.
        status: Option<u16>,
        /// Why, for the delivery's `last_error`.
        error: String,
        /// Retrying cannot help until the configuration changes (a refused target, a
        /// removed endpoint, no secret): the delivery is dead at once.
        permanent: bool,
    },
}

impl Outcome {
    fn permanent(url: &str, error: impl Into<String>) -> Outcome {
        Outcome::Failed {
            url: url.to_owned(),
            status: None,
            error: error.into(),
            permanent: true,
        }
    }
}

/// Resolves host names for the delivery client, refusing any name that resolves to an
/// address the allow-list does not accept (see the module documentation).
#[derive(Debug)]
pub struct GuardedResolver {
    policy: Arc<TargetPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Every address `host` resolves to, when the allow-list accepts them all.
async fn resolve_checked(
    policy: &TargetPolicy,
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address").into());
    }
    for a in &addrs {
        policy.check(host, a.ip())?;
    }
    Ok(addrs)
}

/// Checks a target URL as a submission's `callbackUrl`: its form, then its host (a
/// listed name, or every address it resolves to) against the allow-list. The answer
/// is what the client is told.
pub async fn check_target(policy: &TargetPolicy, raw: &str) -> Result<(), String> {
    let url = check_webhook_url(raw)?;
    let host = host_of(&url);
    if let Some(ip) = literal_ip(&url) {
        return policy.check(&host, ip).map_err(|e| e.to_string());
    }
    if policy.host_is_listed(&host) {
        return Ok(());
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, resolve_checked(policy, &host)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("{host} did not resolve within {RESOLVE_TIMEOUT:?}")),
    }
}

fn host_of(url: &url::Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// The delivery client (one per worker).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<TargetPolicy>,
}

impl Sender {
    /// A client with the settings' timeout, no redirects, no proxy, and the guarded
    /// resolver.
    pub fn new(settings: &WebhookSettings) -> Result<Sender, reqwest::Error> {
        let policy = Arc::new(settings.target_policy());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!(
                "peertube-runner-connector/",
                env!("CARGO_PKG_VERSION"),
                " (webhooks)"
            ))
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .build()?;
        Ok(Sender { client, policy })
    }

    /// Sends `delivery` once, signed, at Unix time `timestamp`.
    pub async fn send(
        &self,
        settings: &WebhookSettings,
        delivery: &Delivery,
        timestamp: i64,
    ) -> Outcome {
        let (url, secret) = match &delivery.endpoint {
            Some(name) => match settings.endpoint(name) {
                Some(e) => (e.url.clone(), e.secret.clone()),
                None => {
                    return Outcome::permanent(
                        &delivery.url,
                        format!("endpoint `{name}` is no longer in webhooks.endpoints"),
                    );
                }
            },
            None => match &settings.secret {
                Some(secret) => (delivery.url.clone(), secret.clone()),
                None => {
                    return Outcome::permanent(
                        &delivery.url,
                        "webhooks.secret is not set: callbackUrl events cannot be signed",
                    );
                }
            },
        };
        let key = match SigningKey::parse(secret.expose()) {
            Ok(key) => key,
            Err(e) => return Outcome::permanent(&url, e.to_string()),
        };
        let parsed = match check_webhook_url(&url) {
            Ok(u) => u,
            Err(e) => return Outcome::permanent(&url, e),
        };
        if let Some(ip) = literal_ip(&parsed)
            && let Err(e) = self.policy.check(&host_of(&parsed), ip)
        {
            return Outcome::permanent(&url, e.to_string());
        }
        let signature = key.sign(&delivery.event_id, timestamp, &delivery.payload);
        let sent = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return self.transport_failure(url, &e),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Delivered {
                url,
                status: status.as_u16(),
            };
        }
        let mut response = response;
        let error = if status.is_redirection() {
            let to = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(printable)
                .unwrap_or_default();
            format!("HTTP {status}: redirects are not followed (to `{to}`)")
        } else {
            // A bounded read: only the start is kept.
            let mut body = Vec::new();
            while body.len() < 4 * MAX_ERROR_BODY {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            match printable(&String::from_utf8_lossy(&body)) {
                b if b.is_empty() => format!("HTTP {status}"),
                b => format!("HTTP {status}: {b}"),
            }
        };
        Outcome::Failed {
            url,
            status: Some(status.as_u16()),
            error,
            permanent: false,
        }
    }

    fn transport_failure(&self, url: String, e: &reqwest::Error) -> Outcome {
        // A refusal by the resolver is in the cause chain.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut chain = Vec::new();
        while let Some(c) = cause {
            if let Some(refused) = c.downcast_ref::<crate::domain::webhook::targets::Refused>() {
                return Outcome::permanent(&url, refused.to_string());
            }
            chain.push(c.to_string());
            cause = c.source();
        }
        chain.dedup();
        let what = if e.is_timeout() {
            "timed out".to_owned()
        } else if e.is_connect() {
            "cannot connect".to_owned()
        } else {
            "request failed".to_owned()
        };
        Outcome::Failed {
            url,
            status: None,
            error: format!("{what}: {}", chain.join(": ")),
            permanent: false,
        }
    }
}

/// A receiver's text as stored: control characters replaced, at most
/// [`MAX_ERROR_BODY`] characters.
fn printable(text: &str) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_BODY)
        .collect();
    if text.trim().chars().count() > MAX_ERROR_BODY {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_answer_is_stored_printable_and_short() {
        assert_eq!(printable("  fine\r\n"), "fine");
        assert_eq!(printable("a\u{1b}[31mb"), "a [31mb");
        let long = printable(&"x".repeat(1000));
        assert_eq!(long.chars().count(), MAX_ERROR_BODY + 1);
        assert!(long.ends_with('…'));
    }

    #[tokio::test]
    async fn literal_and_resolved_targets_are_checked_before_any_connection() {
        let open = TargetPolicy::default();
        let listed = TargetPolicy::new(vec!["127.0.0.1".parse().unwrap()]);
        let err = check_target(&open, "http://127.0.0.1:1/h")
            .await
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(check_target(&listed, "http://127.0.0.1:1/h").await.is_ok());
        let err = check_target(&open, "http://[fe80::1]/h").await.unwrap_err();
        assert!(err.contains("link-local"), "{err}");
        // A name resolving to loopback is refused like the address.
        let err = check_target(&open, "http://localhost:1/h")
            .await
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let by_name = TargetPolicy::new(vec!["localhost".parse().unwrap()]);
        assert!(check_target(&by_name, "http://localhost:1/h").await.is_ok());
        assert!(check_target(&open, "mailto:x@example.org").await.is_err());
    }
}
