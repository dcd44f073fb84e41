//! `GET /api/v1/webhooks/deliveries` (`?video=&event=&state=&eventId=&start=&count=`),
//! `GET /api/v1/webhooks/deliveries/{id}` (with the body sent) and
//! `POST /api/v1/webhooks/deliveries/{id}/redeliver` (201 with the new delivery).
//! API key required, as for the video API, whose error codes these routes use.

use actix_web::{HttpRequest, HttpResponse, web};

use super::auth::ApiKey;
use crate::db::webhooks::DeliveryFilter;
use crate::domain::ids::VideoUuid;
use crate::domain::webhook::{DeliveryState, EventType};
use crate::error::{ApiError, ServiceError};
use crate::http::openapi::schemas::Problem;
use crate::service::webhooks::deliveries::{self, DeliveryPage, DeliveryView};
use crate::state::AppState;

fn delivery_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::from(ServiceError::NotFound("Delivery")))
}

/// Reads the list's query: filters, `start` and `count`.
fn query(req: &HttpRequest) -> Result<(DeliveryFilter, i64, i64), ApiError> {
    let (mut filter, mut start, mut count) = (DeliveryFilter::default(), 0i64, 15i64);
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        let bad = |what: String| ApiError::bad_request(format!("`{k}`: {what}"));
        let number = |max: i64| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| bad(format!("an integer from 0 to {max}")))
        };
        match k.as_ref() {
            "start" => start = number(i64::MAX)?,
            "count" => count = number(deliveries::MAX_PAGE)?,
            "video" => {
                filter.video =
                    Some(VideoUuid::from_stored(&v).map_err(|_| bad("not a UUID".to_owned()))?);
            }
            "event" => filter.event = Some(v.parse::<EventType>().map_err(bad)?),
            "state" => {
                filter.state = Some(
                    DeliveryState::parse(&v)
                        .ok_or_else(|| bad("one of pending, delivered, dead".to_owned()))?,
                );
            }
            "eventId" => filter.event_id = Some(v.chars().take(64).collect()),
            _ => {}
        }
    }
    Ok((filter, start, count))
}

/// A page of deliveries, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries",
    tag = "Webhooks",
    params(
        ("video" = Option<String>, Query, description = "Only this video's (UUID)"),
        ("event" = Option<EventType>, Query, description = "Only events of this type"),
        ("state" = Option<DeliveryState>, Query, description = "Only deliveries in this state"),
        ("eventId" = Option<String>, Query, description = "Only this event's (`webhook-id`)"),
        ("start" = Option<i64>, Query, description = "Offset (default 0)"),
        ("count" = Option<i64>, Query, description = "Page size, at most 100 (default 15)"),
    ),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "`{total, data}`, newest first, without bodies", body = DeliveryPage),
        (status = 400, description = "A filter that cannot be read (`invalid_request`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    _key: ApiKey,
) -> Result<HttpResponse, ApiError> {
    async {
        let (filter, start, count) = query(&req)?;
        let page = deliveries::list(&state.db, filter, start, count).await?;
        Ok(HttpResponse::Ok().json(page))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// One delivery with its body.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/deliveries/{id}",
    tag = "Webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 200, description = "The delivery, with the body it sends (`payload`)", body = DeliveryView),
        (status = 404, description = "No such delivery (`not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    _key: ApiKey,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let view = deliveries::get(&state.db, delivery_id(&id)?).await?;
        Ok(HttpResponse::Ok().json(view))
    }
    .await
    .map_err(ApiError::for_video_api)
}

/// Sends a delivered or dead delivery again: 201 with the new delivery.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/deliveries/{id}/redeliver",
    tag = "Webhooks",
    params(("id" = i64, Path, description = "Delivery id")),
    security(("api_key" = []), ("admin_key" = [])),
    responses(
        (status = 201, description = "A new delivery of the same event (same `webhook-id`), to the same target", body = DeliveryView),
        (status = 404, description = "No such delivery (`not_found`)", content_type = "application/problem+json", body = Problem),
        (status = 409, description = "The delivery is still pending: it is on its way (`conflict`)", content_type = "application/problem+json", body = Problem),
        (status = 401, description = "No API key, or not a configured one (`missing_api_key`, `invalid_api_key`)", content_type = "application/problem+json", body = Problem),
        (status = 403, description = "No API or admin key is configured (`api_disabled`)", content_type = "application/problem+json", body = Problem)
    )
)]
pub async fn redeliver(
    state: web::Data<AppState>,
    _key: ApiKey,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    async {
        let id = delivery_id(&id)?;
        let view =
            deliveries::redeliver(&state.db, &state.events, &state.settings, id, state.now())
                .await?;
        Ok(HttpResponse::Created().json(view))
    }
    .await
    .map_err(ApiError::for_video_api)
}
