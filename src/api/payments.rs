//! Payments: status with history, listing, void (iptal), refunds (iade), and the capture of a
//! pre-authorisation.

use std::{future::Future, pin::Pin};

use axum::{
    Json,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    auth::ApiMerchant,
    idempotency::{self, Answer},
    json::{JsonBody, parse, query},
    problem::Problem,
    sessions::owned_payment,
};
use crate::{
    checkout::{Status, after_sale::AfterSaleError, payment::Payment},
    domain::{Currency, Money},
    error::ErrorCode,
    notify::views::{PaymentView, RefundView},
    state::AppState,
    storage::{IdempotencyLink, PaymentFilter, RefundKind, RefundStatus},
};

fn json(v: impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn detailed(state: &AppState, p: &Payment) -> Result<PaymentView, Problem> {
    let refunds = state.storage.payments.refunds(p.id.as_str()).await?;
    let history = state.storage.payments.history(p.id.as_str()).await?;
    let attempts = state.storage.payments.attempts(p.id.as_str()).await?;
    Ok(PaymentView::new(p)
        .with_details(&refunds, &history)
        .with_attempts(&attempts, p.locale))
}

/// Get a payment
#[utoipa::path(
    get, path = "/api/v1/payments/{id}", tag = "payments", operation_id = "getPayment",
    params(("id" = String, Path, description = "Payment id")),
    responses(
        (status = 200, description = "The payment with its refunds and history", body = PaymentView),
        (status = 404, description = "No such payment", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
) -> Result<Json<PaymentView>, Problem> {
    let p = owned_payment(&state, &merchant.id, &id).await?;
    Ok(Json(detailed(&state, &p).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// Only payments of this order.
    pub order_id: Option<String>,
    /// Only payments in this status.
    #[param(value_type = Option<super::openapi::PaymentStatusSchema>, inline)]
    pub status: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PaymentQuery {
    /// The storage's filter, fetching one more than `limit` (to know whether a page follows).
    fn filter(&self, limit: i64) -> Result<PaymentFilter, Problem> {
        let status = self
            .status
            .as_deref()
            .map(|s| {
                Status::parse(s).ok_or_else(|| {
                    Problem::from_code(ErrorCode::InvalidQuery, "unknown status")
                        .with_field("status")
                })
            })
            .transpose()?;
        Ok(PaymentFilter {
            order_id: self.order_id.clone(),
            status,
            from: parse_time(&self.from, "from")?,
            to: parse_time(&self.to, "to")?,
            before: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: limit + 1,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentList {
    /// Newest first.
    pub data: Vec<PaymentView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub fn encode_cursor(created_at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

pub fn decode_cursor(c: &str) -> Result<(i64, String), Problem> {
    let bad = || Problem::from_code(ErrorCode::InvalidQuery, "invalid cursor").with_field("cursor");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

pub fn parse_limit(limit: Option<i64>) -> Result<i64, Problem> {
    match limit.unwrap_or(20) {
        n @ 1..=100 => Ok(n),
        _ => Err(
            Problem::from_code(ErrorCode::InvalidQuery, "limit must be 1 to 100")
                .with_field("limit"),
        ),
    }
}

fn parse_time(value: &Option<String>, field: &str) -> Result<Option<i64>, Problem> {
    value
        .as_deref()
        .map(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| {
                    Problem::from_code(
                        ErrorCode::InvalidQuery,
                        format!("{field} must be an RFC 3339 time"),
                    )
                    .with_field(field)
                })
        })
        .transpose()
}

/// List payments
#[utoipa::path(
    get, path = "/api/v1/payments", tag = "payments", operation_id = "listPayments",
    params(PaymentQuery),
    responses(
        (status = 200, description = "A page of payments, newest first", body = PaymentList),
        (status = 400, description = "Invalid query", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    RawQuery(raw): RawQuery,
) -> Result<Json<PaymentList>, Problem> {
    let q: PaymentQuery = query(raw.as_deref())?;
    let limit = parse_limit(q.limit)?;
    let filter = q.filter(limit)?;
    let rows = state
        .storage
        .payments
        .list_payments(Some(&merchant.id), &filter)
        .await?;
    let (rows, next_cursor) = page(rows, limit, |p| (p.created_at, p.id.as_str()));
    // An order has a handful of attempts: asked by order, each comes with its refunds and
    // history, as from `GET /payments/{id}`. Listings by time stay summaries.
    let mut data = Vec::with_capacity(rows.len());
    for p in &rows {
        data.push(if q.order_id.is_some() {
            detailed(&state, p).await?
        } else {
            PaymentView::new(p)
        });
    }
    Ok(Json(PaymentList { data, next_cursor }))
}

/// Cuts a `limit + 1` fetch down to a page and, when there is more, the cursor after it.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> (i64, &str),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        rows.last().map(|last| {
            let (at, id) = key(last);
            encode_cursor(at, id)
        })
    } else {
        None
    };
    (rows, next)
}

fn after_sale_problem(e: AfterSaleError, currency: Currency) -> Problem {
    let decimal = |minor: i64| {
        Money::from_minor(minor, currency)
            .map(|m| m.to_decimal_string())
            .unwrap_or_else(|_| "0.00".into())
    };
    match e {
        AfterSaleError::NotAllowed(what) => {
            Problem::from_code(ErrorCode::VoidNotAllowed, format!("the payment is {what}"))
        }
        AfterSaleError::CutoffPassed => Problem::of(ErrorCode::VoidCutoffPassed),
        AfterSaleError::Exceeds { refundable_minor } => Problem::from_code(
            ErrorCode::RefundExceeds,
            format!("at most {} can be refunded", decimal(refundable_minor)),
        )
        .with_field("amount")
        .with_extra("refundable_amount", decimal(refundable_minor).into()),
        AfterSaleError::BankRefused { refund } => {
            let code = refund.proc_return_code.clone().unwrap_or_default();
            Problem::from_code(
                ErrorCode::BankRefused,
                format!("the bank refused with response code {code}"),
            )
            .with_extra("proc_return_code", code.into())
            .with_extra("refund_id", refund.id.clone().into())
        }
        AfterSaleError::Pending { refund } => Problem::from_code(
            ErrorCode::BankUnreachable,
            "the bank did not answer; the request is pending and Kapı asks the bank again until it knows the outcome",
        )
        .with_extra("refund_id", refund.id.clone().into())
        .with_extra("refund_status", "pending".into()),
        AfterSaleError::Store(e) => Problem::from(e),
        AfterSaleError::Internal(e) => {
            tracing::error!(error = %e, "after-sale");
            Problem::of(ErrorCode::Internal)
        }
    }
}

/// Void a payment (iptal)
///
/// An approved sale: only on the business day of the authorisation, before the cut-off
/// (Europe/Istanbul), for the full amount, and only when nothing was refunded. An authorised
/// pre-authorisation: its hold released, on any day, unless a capture of it is under way.
#[utoipa::path(
    post, path = "/api/v1/payments/{id}/void", tag = "payments", operation_id = "voidPayment",
    params(
        ("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the saved response for the same request (kept at least 24 h)", pattern = r"^[!-~]{1,255}$"),
    ),
    responses(
        (status = 200, description = "Voided", body = PaymentView),
        (status = 404, description = "No such payment", body = super::ProblemDoc),
        (status = 409, description = "Not voidable: status, partly refunded, or past the cut-off", body = super::ProblemDoc),
        (status = 422, description = "The bank refused", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn void(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fingerprint = format!("POST /api/v1/payments/{id}/void");
    let task_state = state.clone();
    let merchant_id = merchant.id.clone();
    idempotency::run(
        &state,
        &merchant.id,
        &headers,
        fingerprint.as_bytes(),
        Some(refund_answer),
        move |key| async move {
            let state = task_state;
            let payment = owned_payment(&state, &merchant_id, &id).await?;
            let after = state
                .void(&payment, key.as_ref())
                .await
                .map_err(|e| after_sale_problem(e, payment.currency()))?;
            Ok((StatusCode::OK, json(detailed(&state, &after).await?)))
        },
    )
    .await
}

/// What a void or refund request answers now, for a retry of one whose request ended before
/// it could store its answer: the refund as created or refused, or still pending.
fn refund_answer(
    state: AppState,
    refund_id: String,
) -> Pin<Box<dyn Future<Output = Result<Answer, Problem>> + Send>> {
    Box::pin(async move {
        let refund = state
            .storage
            .payments
            .get_refund(&refund_id)
            .await?
            .ok_or_else(|| Problem::of(ErrorCode::Internal))?;
        let payment = state
            .storage
            .payments
            .get_payment(&refund.payment_id)
            .await?
            .ok_or_else(|| Problem::of(ErrorCode::Internal))?;
        let settled = refund.status != RefundStatus::Pending;
        let currency = payment.currency();
        let result = match (refund.status, refund.kind) {
            (RefundStatus::Succeeded, RefundKind::Void | RefundKind::Capture) => {
                Ok((StatusCode::OK, json(detailed(&state, &payment).await?)))
            }
            (RefundStatus::Succeeded, RefundKind::Refund) => Ok((
                StatusCode::CREATED,
                json(RefundView::new(&refund, currency)),
            )),
            (RefundStatus::Failed, _) => Err(after_sale_problem(
                AfterSaleError::BankRefused {
                    refund: Box::new(refund),
                },
                currency,
            )),
            (RefundStatus::Pending, _) => Err(after_sale_problem(
                AfterSaleError::Pending {
                    refund: Box::new(refund),
                },
                currency,
            )),
        };
        Ok(Answer { result, settled })
    })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Decimal string; all that is left when absent.
    #[serde(default)]
    #[schema(pattern = r"^0*[0-9]{1,12}(\.[0-9]{1,2})?$")]
    pub amount: Option<String>,
}

/// Refund a payment (iade)
///
/// Full or partial; several partial refunds up to the authorised amount, never beyond.
#[utoipa::path(
    post, path = "/api/v1/payments/{id}/refunds", tag = "payments", operation_id = "refundPayment",
    request_body(content = Option<RefundRequest>, description = "Optional; an empty body (or `null`) refunds what is left"),
    params(
        ("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the saved response for the same request (kept at least 24 h)", pattern = r"^[!-~]{1,255}$"),
    ),
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 404, description = "No such payment", body = super::ProblemDoc),
        (status = 409, description = "Not refundable in its status", body = super::ProblemDoc),
        (status = 422, description = "Over the refundable amount, or the bank refused", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn refund(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let request = AmountRequest::new(merchant.id, id, body);
    amount_request(state, &headers, request, AmountOp::Refund).await
}

/// An after-sale operation whose body may name an amount.
#[derive(Clone, Copy)]
enum AmountOp {
    Refund,
    Capture,
}

/// A refund or capture request: whose, of which payment, and its body.
struct AmountRequest {
    merchant_id: String,
    id: String,
    body: axum::body::Bytes,
}

impl AmountRequest {
    fn new(merchant_id: String, id: String, body: axum::body::Bytes) -> Self {
        Self {
            merchant_id,
            id,
            body,
        }
    }
}

/// A refund or capture under the idempotency rules: its fingerprint is the route and the
/// body, and the retry of a request that ended before it stored its answer answers with what
/// that request did.
async fn amount_request(
    state: AppState,
    headers: &HeaderMap,
    req: AmountRequest,
    op: AmountOp,
) -> Response {
    let route = match op {
        AmountOp::Refund => "refunds",
        AmountOp::Capture => "capture",
    };
    let mut fingerprint = format!("POST /api/v1/payments/{}/{route}\n", req.id).into_bytes();
    fingerprint.extend_from_slice(&req.body);
    let (task_state, merchant_id) = (state.clone(), req.merchant_id.clone());
    let handler = move |key: Option<IdempotencyLink>| async move {
        let (m, id, body) = (&req.merchant_id, &req.id, &req.body);
        match op {
            AmountOp::Refund => refund_payment(&task_state, m, id, body, key).await,
            AmountOp::Capture => capture_payment(&task_state, m, id, body, key).await,
        }
    };
    let answer = Some(refund_answer as idempotency::RefundAnswer);
    idempotency::run(&state, &merchant_id, headers, &fingerprint, answer, handler).await
}

/// The amount an optional body names: `None` for an empty body, `null`, or no `amount`.
fn optional_amount(body: &[u8], currency: Currency) -> Result<Option<i64>, Problem> {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_null());
    let req: RefundRequest = if empty {
        RefundRequest::default()
    } else {
        parse(body)?
    };
    req.amount
        .as_deref()
        .map(|a| Money::parse(a, currency).map(|m| m.minor()))
        .transpose()
        .map_err(|_| Problem::of(ErrorCode::InvalidAmount).with_field("amount"))
}

/// The refund a request asks for (all that is left when it names no amount).
async fn refund_payment(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    body: &[u8],
    key: Option<IdempotencyLink>,
) -> idempotency::ApiResult {
    let payment = owned_payment(state, merchant_id, id).await?;
    let currency = payment.currency();
    let amount = optional_amount(body, currency)?;
    let (refund, _) = state
        .refund(&payment, amount, key.as_ref())
        .await
        .map_err(|e| match e {
            AfterSaleError::NotAllowed(what) => Problem::from_code(
                ErrorCode::RefundNotAllowed,
                format!("the payment is {what}"),
            ),
            other => after_sale_problem(other, currency),
        })?;
    Ok((
        StatusCode::CREATED,
        json(RefundView::new(&refund, currency)),
    ))
}

/// Capture a pre-authorisation
///
/// Takes the amount an `authorised` payment (intent `preauth`) holds: the full amount or
/// less, once; the payment becomes `captured` and refunds then work on what was captured. A
/// hold that is not captured is released by `POST /api/v1/payments/{id}/void`.
#[utoipa::path(
    post, path = "/api/v1/payments/{id}/capture", tag = "payments", operation_id = "capturePayment",
    request_body(content = Option<RefundRequest>, description = "Optional; an empty body (or `null`) captures the whole hold"),
    params(
        ("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the saved response for the same request (kept at least 24 h)", pattern = r"^[!-~]{1,255}$"),
    ),
    responses(
        (status = 200, description = "Captured", body = PaymentView),
        (status = 404, description = "No such payment", body = super::ProblemDoc),
        (status = 409, description = "No hold to capture: not an authorised pre-authorisation, or captured already (`KP-6035`)", body = super::ProblemDoc),
        (status = 422, description = "More than the hold (`KP-6036`), or the bank refused (`KP-6034`)", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn capture(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let request = AmountRequest::new(merchant.id, id, body);
    amount_request(state, &headers, request, AmountOp::Capture).await
}

/// The capture a request asks for (the whole hold when it names no amount).
async fn capture_payment(
    state: &AppState,
    merchant_id: &str,
    id: &str,
    body: &[u8],
    key: Option<IdempotencyLink>,
) -> idempotency::ApiResult {
    let payment = owned_payment(state, merchant_id, id).await?;
    let currency = payment.currency();
    let amount = optional_amount(body, currency)?;
    let (_, after) = state
        .capture(&payment, amount, key.as_ref())
        .await
        .map_err(|e| match e {
            AfterSaleError::NotAllowed(what) => Problem::from_code(
                ErrorCode::CaptureNotAllowed,
                format!("the payment is {what}"),
            ),
            AfterSaleError::Exceeds { refundable_minor } => {
                let held = Money::from_minor(refundable_minor, currency)
                    .map(|m| m.to_decimal_string())
                    .unwrap_or_else(|_| "0.00".into());
                Problem::from_code(
                    ErrorCode::CaptureExceeds,
                    format!("at most {held} can be captured"),
                )
                .with_field("amount")
                .with_extra("capturable_amount", held.into())
            }
            other => after_sale_problem(other, currency),
        })?;
    Ok((StatusCode::OK, json(detailed(state, &after).await?)))
}
