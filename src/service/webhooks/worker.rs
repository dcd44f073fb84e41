//! The delivery worker of one instance: takes due deliveries from the outbox
//! ([`db::webhooks::claim`], safe with any number of instances), attempts up to
//! `webhooks.concurrency` at once, and records each outcome: delivered, due again after
//! a backoff with jitter, or dead once the retry period is over (or at once when the
//! target is refused). It looks for due rows when this instance recorded some
//! ([`Event::DeliveriesDue`]), when an attempt ends, and every
//! `webhooks.poll_interval` (retries, other instances' events, and rows left by an
//! instance that died: their lease ends and they are due again). Delivered and dead
//! rows older than `webhooks.retention` are deleted now and then.
//!
//! On shutdown it takes nothing more and lets the attempts under way finish (each is
//! bounded by `webhooks.timeout`); one cut short is due again when its lease ends.

use std::future::Future;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

use super::send::{Outcome, Sender};
use crate::db::{self, DbError};
use crate::domain::webhook::Delivery;
use crate::metrics::webhooks::WebhookOutcome;
use crate::service::Context;
use crate::service::events::Event;

/// How much longer than an attempt's timeout its lease lasts.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// How often (by the context's clock) old delivered and dead rows are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Runs the worker until `stop` completes (nothing when `webhooks.concurrency` is 0).
pub fn spawn(
    ctx: Context,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let hooks = &ctx.settings.webhooks;
        if hooks.concurrency == 0 {
            tracing::info!("webhooks.concurrency is 0: this instance delivers no webhooks");
            return;
        }
        let sender = match Sender::new(hooks) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client: no webhook is delivered");
                return;
            }
        };
        run(&ctx, &sender, stop).await;
    })
}

async fn run(ctx: &Context, sender: &Sender, stop: impl Future<Output = ()>) {
    let hooks = &ctx.settings.webhooks;
    let mut events = ctx.events.subscribe();
    let mut ticks = tokio::time::interval(hooks.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut look = true;
    let mut purged: Option<chrono::NaiveDateTime> = None;
    tokio::pin!(stop);
    loop {
        if look {
            look = false;
            let free = hooks.concurrency.saturating_sub(running.len());
            if free > 0 {
                match claim(ctx, free).await {
                    Ok(batch) => {
                        // A full batch: there may be more.
                        look = batch.len() == free;
                        for delivery in batch {
                            let (ctx, sender) = (ctx.clone(), sender.clone());
                            running.spawn(async move { attempt(&ctx, &sender, delivery).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read due webhook deliveries"),
                }
            }
        }
        tokio::select! {
            Some(_) = running.join_next(), if !running.is_empty() => {
                // Every attempt that ended frees a slot: one claim fills them all.
                while running.try_join_next().is_some() {}
                look = true;
            }
            _ = ticks.tick() => {
                look = true;
                let now = ctx.now();
                if purged.is_none_or(|t| (now - t).to_std().unwrap_or_default() >= PURGE_EVERY) {
                    purged = Some(now);
                    purge(ctx).await;
                }
            }
            received = events.recv() => match received {
                Ok(Event::DeliveriesDue) | Err(RecvError::Lagged(_)) => look = true,
                Ok(_) => {}
                Err(RecvError::Closed) => {}
            },
            () = &mut stop => break,
        }
    }
    while running.join_next().await.is_some() {}
}

async fn claim(ctx: &Context, max: usize) -> Result<Vec<Delivery>, DbError> {
    let hooks = &ctx.settings.webhooks;
    let now = ctx.now();
    let lease_until =
        now + TimeDelta::from_std(hooks.timeout + LEASE_MARGIN).unwrap_or(TimeDelta::minutes(5));
    let lease = uuid::Uuid::new_v4().simple().to_string();
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    ctx.db
        .run(move |conn| db::webhooks::claim(conn, now, &lease, lease_until, limit))
        .await
}

/// One attempt and its record.
async fn attempt(ctx: &Context, sender: &Sender, delivery: Delivery) {
    let hooks = &ctx.settings.webhooks;
    let timestamp = ctx.now().and_utc().timestamp();
    let outcome = sender.send(hooks, &delivery, timestamp).await;
    observe(&delivery, &outcome);
    let now = ctx.now();
    let lease = delivery.lease.clone().unwrap_or_default();
    let id = delivery.id;
    let recorded = match &outcome {
        Outcome::Delivered { url, status } => {
            ctx.metrics.webhooks.delivery(WebhookOutcome::Delivered);
            let (url, status) = (url.clone(), i32::from(*status));
            ctx.db
                .run(move |conn| db::webhooks::delivered(conn, id, &lease, &url, status, now))
                .await
        }
        Outcome::Failed {
            url,
            status,
            error,
            permanent,
        } => {
            let next = if *permanent {
                None
            } else {
                let failed = u32::try_from(delivery.attempts).unwrap_or(1);
                hooks.retry_policy().next_attempt(
                    now,
                    delivery.expires_at,
                    failed,
                    rand::random::<f64>(),
                )
            };
            ctx.metrics.webhooks.delivery(if next.is_none() {
                WebhookOutcome::GaveUp
            } else {
                WebhookOutcome::Failed
            });
            if next.is_none() {
                tracing::warn!(
                    delivery = id, event = %delivery.event, url = %url, attempts = delivery.attempts,
                    error = %error, "webhook delivery is dead: no more attempts"
                );
            }
            let (url, status, error) = (url.clone(), status.map(i32::from), error.clone());
            ctx.db
                .run(move |conn| {
                    let failure = db::webhooks::Failure {
                        url: &url,
                        status,
                        error: &error,
                        next,
                    };
                    db::webhooks::failed(conn, id, &lease, failure, now)
                })
                .await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = id,
            "a webhook attempt outlived its lease: another worker took the delivery"
        ),
        // The lease ends and the delivery is attempted again.
        Err(e) => tracing::warn!(delivery = id, error = %e, "cannot record a webhook attempt"),
    }
}

/// Each attempt's outcome in the log (the metrics count it in [`attempt`]:
/// `prc_webhook_deliveries_total{outcome}`).
fn observe(delivery: &Delivery, outcome: &Outcome) {
    match outcome {
        Outcome::Delivered { url, status } => tracing::info!(
            delivery = delivery.id, event = %delivery.event, event_id = %delivery.event_id,
            url = %url, status, attempt = delivery.attempts, "webhook delivered"
        ),
        Outcome::Failed { url, error, .. } => tracing::info!(
            delivery = delivery.id, event = %delivery.event, event_id = %delivery.event_id,
            url = %url, attempt = delivery.attempts, error = %error, "webhook attempt failed"
        ),
    }
}

async fn purge(ctx: &Context) {
    let before = ctx.clock.ago(ctx.settings.webhooks.retention);
    match ctx
        .db
        .run(move |conn| db::webhooks::purge(conn, before))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(deliveries = n, "purged old webhook deliveries"),
        Err(e) => tracing::warn!(error = %e, "cannot purge old webhook deliveries"),
    }
}
