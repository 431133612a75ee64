//! Events and their delivery attempts, and a manual resend.

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::Problem;
use super::{
    auth::ApiMerchant,
    json::query,
    payments::{decode_cursor, page, parse_limit},
};
use crate::{
    clock::rfc3339,
    error::ErrorCode,
    state::AppState,
    storage::{EventFilter, EventRecord, EventStatus},
};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: String,
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_id: String,
    /// `pending`, `delivered`, `dead` (gave up after the retry schedule) or `no_endpoint`.
    pub status: String,
    pub url: Option<String>,
    pub attempts: i64,
    /// When the next attempt is due (pending events).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The body as delivered.
    pub payload: serde_json::Value,
    pub attempt_log: Vec<AttemptView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    pub data: Vec<EventView>,
    pub next_cursor: Option<String>,
}

async fn view(state: &AppState, e: &EventRecord) -> Result<EventView, Problem> {
    let attempts = state.storage.outbox.event_attempts(&e.id).await?;
    Ok(EventView {
        id: e.id.clone(),
        kind: e.kind.clone(),
        payment_id: e.payment_id.clone(),
        status: e.status.as_str().to_owned(),
        url: e.url.clone(),
        attempts: e.attempts,
        next_attempt_at: (e.status == EventStatus::Pending).then(|| rfc3339(e.next_attempt_at)),
        created_at: rfc3339(e.created_at),
        delivered_at: e.delivered_at.map(rfc3339),
        payload: serde_json::from_str(&e.payload).unwrap_or_default(),
        attempt_log: attempts
            .iter()
            .map(|a| AttemptView {
                attempted_at: rfc3339(a.attempted_at),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    pub payment_id: Option<String>,
    /// `pending`, `delivered`, `dead`, `no_endpoint`.
    #[param(value_type = Option<super::openapi::EventStatusSchema>, inline)]
    pub status: Option<String>,
    /// e.g. `payment.approved`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<super::openapi::EventTypeSchema>, inline)]
    pub kind: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl EventQuery {
    /// The storage's filter, fetching one more than `limit` (to know whether a page follows).
    fn filter(self, limit: i64) -> Result<EventFilter, Problem> {
        let bad = |field: &str, what: &str| {
            Problem::from_code(ErrorCode::InvalidQuery, format!("unknown {what}")).with_field(field)
        };
        let status = self
            .status
            .as_deref()
            .map(|s| EventStatus::parse(s).ok_or_else(|| bad("status", "status")))
            .transpose()?;
        if self
            .kind
            .as_deref()
            .is_some_and(|k| !crate::notify::events::KINDS.contains(&k))
        {
            return Err(bad("type", "event type"));
        }
        Ok(EventFilter {
            payment_id: self.payment_id,
            status,
            kind: self.kind,
            before: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
        })
    }
}

/// List events with their delivery attempts
#[utoipa::path(
    get, path = "/api/v1/events", tag = "events", operation_id = "listEvents",
    params(EventQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventList),
        (status = 400, description = "Invalid query", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventList>, Problem> {
    let q: EventQuery = query(raw.as_deref())?;
    let limit = parse_limit(q.limit)?;
    let filter = q.filter(limit)?;
    let rows = state
        .storage
        .outbox
        .list_events(&merchant.id, &filter)
        .await?;
    let (rows, next_cursor) = page(rows, limit, |e| (e.created_at, e.id.as_str()));
    let mut data = Vec::with_capacity(rows.len());
    for e in &rows {
        data.push(view(&state, e).await?);
    }
    Ok(Json(EventList { data, next_cursor }))
}

async fn owned_event(
    state: &AppState,
    merchant_id: &str,
    id: &str,
) -> Result<EventRecord, Problem> {
    state
        .storage
        .outbox
        .get_event(id)
        .await?
        .filter(|e| e.merchant_id == merchant_id)
        .ok_or_else(|| Problem::of(ErrorCode::EventNotFound))
}

/// Get an event with its delivery attempts
#[utoipa::path(
    get, path = "/api/v1/events/{id}", tag = "events", operation_id = "getEvent",
    params(("id" = String, Path, description = "Event id")),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
) -> Result<Json<EventView>, Problem> {
    let e = owned_event(&state, &merchant.id, &id).await?;
    Ok(Json(view(&state, &e).await?))
}

/// Deliver an event again
///
/// Queues the event for delivery now, whatever its status; receivers deduplicate by id.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/resend", tag = "events", operation_id = "resendEvent",
    params(("id" = String, Path, description = "Event id")),
    responses(
        (status = 202, description = "Queued", body = EventView),
        (status = 404, description = "No such event", body = super::ProblemDoc),
        (status = 409, description = "The event has no endpoint", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn resend(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EventView>), Problem> {
    let e = owned_event(&state, &merchant.id, &id).await?;
    if !state
        .storage
        .outbox
        .resend_event(&e.id, state.clock.now_ms())
        .await?
    {
        return Err(Problem::of(ErrorCode::EventNoEndpoint));
    }
    state.notifier.outbox_written();
    let fresh = owned_event(&state, &merchant.id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, &fresh).await?)))
}
