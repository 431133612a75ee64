//! Reports: the merchant's day (mutabakat), as JSON or CSV.

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{auth::ApiMerchant, json::query, problem::Problem};
use crate::{error::ErrorCode, reports, state::AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// The calendar day in Europe/Istanbul, `YYYY-MM-DD`.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub date: String,
}

/// The merchant's daily report
///
/// Per currency and terminal: the counts and sums of the sales authorised, the holds approved,
/// the payments declined, failed, cancelled and expired, and the captures, voids and refunds
/// the bank confirmed on that day (Europe/Istanbul), with the installment interest and the net.
/// `Accept: text/csv` answers the same as CSV.
#[utoipa::path(
    get, path = "/api/v1/reports/daily", tag = "reports", operation_id = "dailyReport",
    params(DailyQuery),
    responses(
        (status = 200, description = "The day's report", content(
            (reports::DailyReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "Missing or invalid date (`KP-6041`)", body = super::ProblemDoc),
    ),
    security(("bearer" = []))
)]
pub async fn daily(
    State(state): State<AppState>,
    ApiMerchant(merchant): ApiMerchant,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q: DailyQuery = query(raw.as_deref())?;
    let date = reports::parse_date(&q.date).ok_or_else(|| {
        Problem::from_code(ErrorCode::InvalidQuery, "date must be YYYY-MM-DD").with_field("date")
    })?;
    let report = reports::daily_of(&*state.storage.payments, Some(&merchant.id), date).await?;
    let csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    Ok(if csv {
        let disposition = format!("attachment; filename=\"kapi-{}.csv\"", report.date);
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            reports::to_csv(&report),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}
