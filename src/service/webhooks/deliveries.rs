//! The deliveries as applications and operators see them
//! (`GET /api/v1/webhooks/deliveries`, `webhook deliveries` and `webhook redeliver`).

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::config::Settings;
use crate::db::webhooks::DeliveryFilter;
use crate::db::{self, Db};
use crate::domain::ids::VideoUuid;
use crate::domain::webhook::signature::SigningKey;
use crate::domain::webhook::{Delivery, DeliveryState, EventType, NewDelivery};
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};
use crate::service::timefmt;

/// Largest page.
pub const MAX_PAGE: i64 = 100;

/// A delivery.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Id (for redelivery).
    pub id: i64,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// Its type.
    pub event: EventType,
    /// The video.
    pub video_uuid: Option<VideoUuid>,
    /// The endpoint's name; `null` for the video's `callbackUrl`.
    pub endpoint: Option<String>,
    /// Where it is sent.
    pub url: String,
    /// `pending`, `delivered` or `dead`.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i32,
    /// When it is next attempted (pending only).
    #[serde(with = "timefmt::option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    /// Retried until then.
    #[serde(with = "timefmt")]
    pub expires_at: NaiveDateTime,
    /// HTTP status of the last attempt.
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(with = "timefmt::option")]
    pub delivered_at: Option<NaiveDateTime>,
    /// When the event happened.
    #[serde(with = "timefmt")]
    pub created_at: NaiveDateTime,
    /// Last change.
    #[serde(with = "timefmt")]
    pub updated_at: NaiveDateTime,
    /// The body sent (single delivery only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
}

impl DeliveryView {
    fn of(d: Delivery, with_payload: bool) -> DeliveryView {
        DeliveryView {
            payload: with_payload
                .then(|| serde_json::from_str(&d.payload).ok())
                .flatten(),
            id: d.id,
            event_id: d.event_id,
            event: d.event,
            video_uuid: d.video_uuid,
            endpoint: d.endpoint,
            url: d.url,
            state: d.state,
            attempts: d.attempts,
            next_attempt_at: (d.state == DeliveryState::Pending).then_some(d.next_attempt_at),
            expires_at: d.expires_at,
            last_status: d.last_status,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Deliveries matching the filter.
    pub total: i64,
    /// This page, newest first.
    pub data: Vec<DeliveryView>,
}

/// A page of deliveries matching `filter`, newest first.
pub async fn list(
    db: &Db,
    filter: DeliveryFilter,
    start: i64,
    count: i64,
) -> Result<DeliveryPage, ServiceError> {
    let (rows, total) = db
        .run(move |conn| db::webhooks::list(conn, &filter, start.max(0), count.clamp(0, MAX_PAGE)))
        .await?;
    Ok(DeliveryPage {
        total,
        data: rows
            .into_iter()
            .map(|d| DeliveryView::of(d, false))
            .collect(),
    })
}

/// One delivery, with its body.
pub async fn get(db: &Db, id: i64) -> Result<DeliveryView, ServiceError> {
    let found = db.run(move |conn| db::webhooks::find(conn, id)).await?;
    found
        .map(|d| DeliveryView::of(d, true))
        .ok_or(ServiceError::NotFound("Delivery"))
}

/// Sends a delivered or dead delivery again: a new pending delivery of the same event
/// (same `webhook-id` and body) to the same target, due now and retried for a new
/// retry period; the old one stays as it was. A pending one is already on its way
/// ([`ServiceError::Conflict`]).
pub async fn redeliver(
    db: &Db,
    events: &EventBus,
    settings: &Settings,
    id: i64,
    now: NaiveDateTime,
) -> Result<DeliveryView, ServiceError> {
    let expires_at = settings.webhooks.retry_policy().expiry(now);
    let created = db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let old =
                    db::webhooks::find(conn, id)?.ok_or(ServiceError::NotFound("Delivery"))?;
                if old.state == DeliveryState::Pending {
                    return Err(ServiceError::Conflict(format!(
                        "Delivery {id} is pending: it is attempted again without being asked"
                    )));
                }
                let new = NewDelivery {
                    event_id: old.event_id,
                    event: old.event,
                    video_uuid: old.video_uuid,
                    endpoint: old.endpoint,
                    url: old.url,
                    payload: old.payload,
                    expires_at,
                };
                Ok(db::webhooks::insert(conn, &new, now)?)
            })
        })
        .await?;
    events.publish(Event::DeliveriesDue);
    Ok(DeliveryView::of(created, false))
}

/// A new random `whsec_` secret.
pub fn new_secret() -> String {
    SigningKey::encode(&rand::random::<[u8; 32]>())
}
