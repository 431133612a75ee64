//! The built-in acquiring bank simulator, served under `/sim/bank`: it answers by test card
//! with a response code, an auth code, a 12-digit host reference and a transaction id, and
//! takes voids and refunds of what it authorised.
//!
//! Voids and refunds of an amount whose minor part is `13` (e.g. `10.13`) are refused with
//! `58`; `77` takes three seconds (to exercise in-flight requests); `91` is done but the
//! first answer is lost (HTTP 503), as when a bank times out after acting. A repeat with the
//! same `reference` gets the first answer again and is not done twice. An authorisation of an
//! amount whose minor part is `91` is approved but its answer lost the same way; Kapı then
//! asks what became of it (`/v1/inquiries`, by the attempt's reference) and finishes or
//! reverses it (`/v1/reversals`, by the same reference).

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{AfterSaleRequest, AuthRequest, AuthResponse, InquiryRequest, InquiryResponse};
use crate::{domain::Pan, error::Problem};

/// One operation the bank saw. No card data beyond the masked number.
#[derive(Debug, Clone, Serialize)]
pub struct SimTransaction {
    /// `authorisation`, `void`, `refund` or `reversal`.
    pub kind: String,
    /// The caller's reference: an authorisation attempt's, or a void's or refund's.
    pub reference: String,
    /// For voids and refunds: the authorisation's transaction id.
    pub original_transaction_id: Option<String>,
    pub terminal_id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub installment: u8,
    pub masked_pan: String,
    pub eci: String,
    pub proc_return_code: String,
    pub auth_code: String,
    pub host_ref: String,
    pub transaction_id: String,
}

#[derive(Clone)]
pub struct BankSim {
    terminal_id: String,
    api_key: SecretString,
    transactions: Arc<Mutex<Vec<SimTransaction>>>,
    /// Answers to voids and refunds by their reference.
    answered: Arc<Mutex<std::collections::HashMap<String, AuthResponse>>>,
}

/// What the simulated issuer decides for a card number.
pub enum Decision {
    Respond(&'static str),
    Unreachable,
}

pub fn decide(pan: &str) -> Decision {
    match pan {
        "4000000000009995" => Decision::Respond("51"),
        "5100000000000057" => Decision::Respond("54"),
        "4000000000000002" => Decision::Respond("05"),
        "4000000000000416" => Decision::Respond("41"),
        "4000000000000432" => Decision::Respond("43"),
        "4000000000000911" => Decision::Unreachable,
        _ => Decision::Respond("00"),
    }
}

impl BankSim {
    pub fn new(terminal_id: String, api_key: SecretString) -> Self {
        Self {
            terminal_id,
            api_key,
            transactions: Arc::default(),
            answered: Arc::default(),
        }
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/v1/authorisations", post(authorise))
            .route("/v1/voids", post(void))
            .route("/v1/refunds", post(refund))
            .route("/v1/reversals", post(reverse))
            .route("/v1/inquiries", post(inquire))
            .route("/v1/transactions", get(transactions))
            .with_state(self)
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given
            .as_bytes()
            .ct_eq(self.api_key.expose_secret().as_bytes())
            .into()
    }
}

fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn random_auth_code() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

async fn authorise(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "BANK-401",
            "unknown terminal credentials",
        )
        .into_response();
    }
    let Ok(req) = serde_json::from_slice::<AuthRequest>(&body) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "BANK-400",
            "malformed authorisation request",
        )
        .into_response();
    };
    if req.terminal_id != sim.terminal_id {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "BANK-403",
            "terminal id does not match its key",
        )
        .into_response();
    }
    // A repeat of an attempt the bank booked already gets the first answer.
    if let Some(earlier) = sim.transactions.lock().ok().and_then(|list| {
        list.iter()
            .find(|t| t.kind == "authorisation" && t.reference == req.reference)
            .map(SimTransaction::answer)
    }) {
        return Json(earlier).into_response();
    }
    let Ok(pan) = Pan::parse(req.pan.expose()) else {
        return Json(AuthResponse {
            proc_return_code: "14".into(),
            auth_code: String::new(),
            host_ref: random_digits(12),
            transaction_id: String::new(),
        })
        .into_response();
    };
    let code = match decide(pan.expose()) {
        Decision::Unreachable => {
            return (StatusCode::SERVICE_UNAVAILABLE, "issuer inoperative").into_response();
        }
        Decision::Respond(code) => code,
    };
    let approved = code == "00";
    let response = AuthResponse {
        proc_return_code: code.into(),
        auth_code: if approved {
            random_auth_code()
        } else {
            String::new()
        },
        host_ref: random_digits(12),
        transaction_id: format!(
            "{}{}",
            time::OffsetDateTime::now_utc().year() % 100,
            random_digits(16)
        ),
    };
    let txn = SimTransaction {
        kind: "authorisation".into(),
        reference: req.reference.clone(),
        original_transaction_id: None,
        terminal_id: req.terminal_id.clone(),
        order_id: req.order_id.clone(),
        payment_id: req.payment_id.clone(),
        amount_minor: req.amount_minor,
        currency: req.currency.clone(),
        installment: req.installment,
        masked_pan: pan.masked(),
        eci: req.eci.clone(),
        proc_return_code: response.proc_return_code.clone(),
        auth_code: response.auth_code.clone(),
        host_ref: response.host_ref.clone(),
        transaction_id: response.transaction_id.clone(),
    };
    if let Ok(mut list) = sim.transactions.lock() {
        list.push(txn);
    }
    if req.amount_minor % 100 == 91 {
        // Approved and booked, but the answer never reaches the caller.
        return (StatusCode::SERVICE_UNAVAILABLE, "timeout").into_response();
    }
    Json(response).into_response()
}

fn check_caller(
    sim: &BankSim,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<AfterSaleRequest, Problem> {
    if !sim.authorised(headers) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "BANK-401",
            "unknown terminal credentials",
        ));
    }
    let req = serde_json::from_slice::<AfterSaleRequest>(body)
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "BANK-400", "malformed request"))?;
    if req.terminal_id != sim.terminal_id {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "BANK-403",
            "terminal id does not match its key",
        ));
    }
    Ok(req)
}

/// Voids and refunds: checked against what this bank authorised.
async fn after_sale(sim: BankSim, req: AfterSaleRequest, kind: &str) -> Response {
    if req.amount_minor % 100 == 77 {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    let respond = |code: &str| AuthResponse {
        proc_return_code: code.into(),
        auth_code: String::new(),
        host_ref: random_digits(12),
        transaction_id: format!(
            "{}{}",
            time::OffsetDateTime::now_utc().year() % 100,
            random_digits(16)
        ),
    };
    if let Some(earlier) = sim
        .answered
        .lock()
        .ok()
        .and_then(|a| a.get(&req.reference).cloned())
    {
        return Json(earlier).into_response();
    }
    let Ok(mut list) = sim.transactions.lock() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "bank busy").into_response();
    };
    let original = list
        .iter()
        .find(|t| {
            t.kind == "authorisation"
                && t.transaction_id == req.original_transaction_id
                && t.proc_return_code == "00"
        })
        .cloned();
    let related = |k: &str| {
        list.iter()
            .filter(|t| t.kind == k && t.proc_return_code == "00")
            .filter(|t| {
                t.original_transaction_id.as_deref() == Some(req.original_transaction_id.as_str())
            })
            .map(|t| t.amount_minor)
            .collect::<Vec<_>>()
    };
    let code = match &original {
        None => "12",
        Some(_) if req.amount_minor % 100 == 13 => "58",
        Some(_) if !related("void").is_empty() => "12",
        Some(o)
            if kind == "void"
                && (req.amount_minor != o.amount_minor || !related("refund").is_empty()) =>
        {
            "13"
        }
        Some(o)
            if kind == "refund"
                && related("refund").iter().sum::<i64>() + req.amount_minor > o.amount_minor =>
        {
            "13"
        }
        Some(_) => "00",
    };
    let response = respond(code);
    if let Ok(mut answered) = sim.answered.lock() {
        answered.insert(req.reference.clone(), response.clone());
    }
    if let Some(o) = original {
        list.push(SimTransaction {
            kind: kind.into(),
            reference: req.reference.clone(),
            original_transaction_id: Some(req.original_transaction_id.clone()),
            terminal_id: req.terminal_id.clone(),
            order_id: req.order_id.clone(),
            payment_id: req.payment_id.clone(),
            amount_minor: req.amount_minor,
            currency: req.currency.clone(),
            installment: o.installment,
            masked_pan: o.masked_pan.clone(),
            eci: o.eci.clone(),
            proc_return_code: response.proc_return_code.clone(),
            auth_code: String::new(),
            host_ref: response.host_ref.clone(),
            transaction_id: response.transaction_id.clone(),
        });
    }
    if req.amount_minor % 100 == 91 {
        // Done, but the answer never reaches the caller.
        return (StatusCode::SERVICE_UNAVAILABLE, "timeout").into_response();
    }
    Json(response).into_response()
}

impl SimTransaction {
    fn answer(&self) -> AuthResponse {
        AuthResponse {
            proc_return_code: self.proc_return_code.clone(),
            auth_code: self.auth_code.clone(),
            host_ref: self.host_ref.clone(),
            transaction_id: self.transaction_id.clone(),
        }
    }
}

/// What became of an authorisation attempt, by its reference.
async fn inquire(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !sim.authorised(&headers) {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "BANK-401",
            "unknown terminal credentials",
        )
        .into_response();
    }
    let Ok(req) = serde_json::from_slice::<InquiryRequest>(&body) else {
        return Problem::new(StatusCode::BAD_REQUEST, "BANK-400", "malformed inquiry")
            .into_response();
    };
    let Ok(list) = sim.transactions.lock() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "bank busy").into_response();
    };
    let found = list
        .iter()
        .find(|t| t.kind == "authorisation" && t.reference == req.reference);
    let answer = match found {
        None => InquiryResponse {
            found: false,
            reversed: false,
            proc_return_code: String::new(),
            auth_code: String::new(),
            host_ref: String::new(),
            transaction_id: String::new(),
        },
        Some(t) => InquiryResponse {
            found: true,
            reversed: list.iter().any(|r| {
                r.kind == "reversal"
                    && r.original_transaction_id.as_ref() == Some(&t.transaction_id)
            }),
            proc_return_code: t.proc_return_code.clone(),
            auth_code: t.auth_code.clone(),
            host_ref: t.host_ref.clone(),
            transaction_id: t.transaction_id.clone(),
        },
    };
    Json(answer).into_response()
}

/// Reverses the approved, not yet reversed authorisation of an attempt (by its reference).
async fn reverse(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req = match check_caller(&sim, &headers, &body) {
        Ok(req) => req,
        Err(problem) => return problem.into_response(),
    };
    let Ok(mut list) = sim.transactions.lock() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "bank busy").into_response();
    };
    let reversed = |id: &str| {
        list.iter()
            .any(|t| t.kind == "reversal" && t.original_transaction_id.as_deref() == Some(id))
    };
    let found = list
        .iter()
        .rev()
        .find(|t| {
            t.kind == "authorisation"
                && t.reference == req.original_reference
                && t.proc_return_code == "00"
        })
        .filter(|t| !reversed(&t.transaction_id))
        .cloned();
    let code = if found.is_some() { "00" } else { "25" };
    let response = AuthResponse {
        proc_return_code: code.into(),
        auth_code: String::new(),
        host_ref: random_digits(12),
        transaction_id: String::new(),
    };
    if let Some(o) = found {
        list.push(SimTransaction {
            kind: "reversal".into(),
            reference: req.reference.clone(),
            original_transaction_id: Some(o.transaction_id.clone()),
            proc_return_code: "00".into(),
            auth_code: String::new(),
            host_ref: response.host_ref.clone(),
            transaction_id: String::new(),
            ..o
        });
    }
    Json(response).into_response()
}

async fn void(State(sim): State<BankSim>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    match check_caller(&sim, &headers, &body) {
        Ok(req) => after_sale(sim, req, "void").await,
        Err(problem) => problem.into_response(),
    }
}

async fn refund(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match check_caller(&sim, &headers, &body) {
        Ok(req) => after_sale(sim, req, "refund").await,
        Err(problem) => problem.into_response(),
    }
}

#[derive(Deserialize)]
struct TxnQuery {
    order_id: Option<String>,
    payment_id: Option<String>,
    kind: Option<String>,
}

/// Simulator only: what the bank saw, newest first, so a test or an operator can check that
/// a payment was authorised exactly once.
async fn transactions(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    Query(q): Query<TxnQuery>,
) -> Response {
    if !sim.authorised(&headers) {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "BANK-401",
            "unknown terminal credentials",
        )
        .into_response();
    }
    let list = sim
        .transactions
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let filtered: Vec<SimTransaction> = list
        .into_iter()
        .rev()
        .filter(|t| q.order_id.as_ref().is_none_or(|o| &t.order_id == o))
        .filter(|t| q.payment_id.as_ref().is_none_or(|p| &t.payment_id == p))
        .filter(|t| q.kind.as_ref().is_none_or(|k| &t.kind == k))
        .collect();
    Json(filtered).into_response()
}
