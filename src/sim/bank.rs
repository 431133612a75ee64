//! The simulated acquiring bank, served under `/sim/bank`: it answers by test card with a
//! response code, an auth code, a 12-digit host reference and a transaction id, and takes
//! voids, refunds and reversals of what it authorised, and captures of what it pre-authorised
//! (held): a hold is captured once (its amount or less) or released by a void, and only what
//! was captured can be refunded. Its books are stored.
//!
//! Voids and refunds of an amount whose minor part is `13` (e.g. `10.13`) are refused with
//! `58`; `77` takes three seconds (to exercise in-flight requests); `91` is done but the
//! first answer is lost (HTTP 503), as when a bank times out after acting. A repeat with the
//! same `reference` gets the first answer again and is not done twice. An authorisation of an
//! amount whose minor part is `91` is approved and booked but its answer lost the same way;
//! Kapı then asks what became of it (`/v1/inquiries`, by the attempt's reference) and finishes
//! or reverses it (`/v1/reversals`, by the same reference).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Records, problem, unavailable};
use crate::{
    clock::Clock,
    domain::Pan,
    simstore::{SimStore, SimStoreError},
    wire::bank::{AfterSaleRequest, AuthRequest, AuthResponse, InquiryRequest, InquiryResponse},
};

/// Authorisations, by the attempt's reference (tag: the order id).
pub(crate) const AUTH: &str = "bank_auth";
/// Voids, refunds and reversals, by their own reference (tag: the order id).
pub(crate) const OP: &str = "bank_op";
/// The reference of an authorisation, by its transaction id.
pub(crate) const BY_TXN: &str = "bank_auth_by_txn";
/// The books listed at once, at most.
const LIST_LIMIT: i64 = 1000;

/// One operation the bank saw. No card data beyond the masked number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimTransaction {
    /// `authorisation`, `void`, `refund` or `reversal`.
    pub kind: String,
    /// The caller's reference: an authorisation attempt's, or a void's or refund's.
    pub reference: String,
    /// For voids, refunds and reversals: the authorisation's transaction id.
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
    /// When the bank booked it (unix ms).
    #[serde(default)]
    pub at: i64,
    /// An authorisation that only holds the amount (pre-authorisation) until it is captured.
    #[serde(default)]
    pub preauth: bool,
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

    fn approved(&self) -> bool {
        self.proc_return_code == "00"
    }
}

#[derive(Clone)]
pub struct BankSim {
    inner: Arc<Inner>,
}

struct Inner {
    auths: Records,
    ops: Records,
    by_txn: Records,
    clock: Arc<dyn Clock>,
    terminal_id: String,
    api_key: SecretString,
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
        // The bank's system malfunction: refused before anything was authorised.
        "4000000000000960" => Decision::Respond("96"),
        _ => Decision::Respond("00"),
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
        .map(|_| {
            let i = rng.random_range(0..CHARS.len());
            CHARS.get(i).map_or('0', |c| char::from(*c))
        })
        .collect()
}

fn new_transaction_id() -> String {
    format!(
        "{}{}",
        time::OffsetDateTime::now_utc().year() % 100,
        random_digits(16)
    )
}

/// A request the bank refuses before looking at it: status, code and detail of the problem.
struct Refusal(StatusCode, &'static str, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        problem(self.0, self.1, self.2)
    }
}

fn lost_answer() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "timeout").into_response()
}

impl BankSim {
    pub fn new(
        store: Arc<dyn SimStore>,
        clock: Arc<dyn Clock>,
        terminal_id: String,
        api_key: SecretString,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                auths: Records::new(store.clone(), AUTH),
                ops: Records::new(store.clone(), OP),
                by_txn: Records::new(store, BY_TXN),
                clock,
                terminal_id,
                api_key,
            }),
        }
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/v1/authorisations", post(authorise))
            .route("/v1/voids", post(void))
            .route("/v1/refunds", post(refund))
            .route("/v1/captures", post(capture))
            .route("/v1/reversals", post(reverse))
            .route("/v1/inquiries", post(inquire))
            .route("/v1/transactions", get(transactions))
            .route("/v1/settlement", get(settlement))
            .with_state(self)
    }

    /// The caller's terminal key, in constant time.
    fn check_key(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(
            given
                .as_bytes()
                .ct_eq(self.inner.api_key.expose_secret().as_bytes()),
        ) {
            Ok(())
        } else {
            Err(Refusal(
                StatusCode::UNAUTHORIZED,
                "BANK-401",
                "unknown terminal credentials",
            ))
        }
    }

    /// A request of this terminal, parsed.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        terminal: impl Fn(&T) -> &str,
    ) -> Result<T, Refusal> {
        self.check_key(headers)?;
        let req: T = serde_json::from_slice(body)
            .map_err(|_| Refusal(StatusCode::BAD_REQUEST, "BANK-400", "malformed request"))?;
        if terminal(&req) != self.inner.terminal_id {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                "BANK-403",
                "terminal id does not match its key",
            ));
        }
        Ok(req)
    }

    async fn authorisation(
        &self,
        reference: &str,
    ) -> Result<Option<SimTransaction>, SimStoreError> {
        self.inner.auths.get(reference).await
    }

    async fn authorisation_by_txn(
        &self,
        transaction_id: &str,
    ) -> Result<Option<SimTransaction>, SimStoreError> {
        match self.inner.by_txn.get::<String>(transaction_id).await? {
            Some(reference) => self.authorisation(&reference).await,
            None => Ok(None),
        }
    }

    /// Voids, refunds and reversals of the authorisation with this transaction id.
    async fn operations_on(
        &self,
        original: &SimTransaction,
    ) -> Result<Vec<SimTransaction>, SimStoreError> {
        Ok(self
            .inner
            .ops
            .list::<SimTransaction>(Some(&original.order_id), LIST_LIMIT)
            .await?
            .into_iter()
            .filter(|t| t.original_transaction_id.as_deref() == Some(&original.transaction_id))
            .collect())
    }
}

async fn authorise(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: AuthRequest = match sim.parse(&headers, &body, |r: &AuthRequest| &r.terminal_id) {
        Ok(req) => req,
        Err(refused) => return refused.into_response(),
    };
    match book_authorisation(&sim, &req).await {
        // Approved and booked, but the answer never reaches the caller.
        Ok(Some(_)) if req.amount_minor % 100 == 91 => lost_answer(),
        Ok(Some(answer)) => Json(answer).into_response(),
        Ok(None) => (StatusCode::SERVICE_UNAVAILABLE, "issuer inoperative").into_response(),
        Err(e) => unavailable(e),
    }
}

/// The issuer's answer to a card, booked as an authorisation under the attempt's reference.
fn new_authorisation(sim: &BankSim, req: &AuthRequest, pan: &Pan, code: &str) -> SimTransaction {
    SimTransaction {
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
        proc_return_code: code.into(),
        auth_code: if code == "00" {
            random_auth_code()
        } else {
            String::new()
        },
        host_ref: random_digits(12),
        transaction_id: new_transaction_id(),
        at: sim.now_ms(),
        preauth: req.preauth,
    }
}

/// Books an authorisation (once per reference); `None` when the issuer cannot be reached.
async fn book_authorisation(
    sim: &BankSim,
    req: &AuthRequest,
) -> Result<Option<AuthResponse>, SimStoreError> {
    // A repeat of an attempt the bank booked already gets the first answer.
    if let Some(earlier) = sim.authorisation(&req.reference).await? {
        return Ok(Some(earlier.answer()));
    }
    let Ok(pan) = Pan::parse(req.pan.expose()) else {
        return Ok(Some(AuthResponse {
            proc_return_code: "14".into(),
            auth_code: String::new(),
            host_ref: random_digits(12),
            transaction_id: String::new(),
        }));
    };
    let code = match decide(pan.expose()) {
        Decision::Unreachable => return Ok(None),
        Decision::Respond(code) => code,
    };
    let txn = new_authorisation(sim, req, &pan, code);
    let books = &sim.inner;
    if !books
        .auths
        .insert(&txn.reference, Some(&txn.order_id), &txn, txn.at)
        .await?
    {
        // Booked meanwhile by a concurrent repeat: that one's answer.
        return Ok(sim.authorisation(&req.reference).await?.map(|t| t.answer()));
    }
    books
        .by_txn
        .insert(&txn.transaction_id, None, &txn.reference, txn.at)
        .await?;
    Ok(Some(txn.answer()))
}

/// What a void or refund of `req` gets, on the books as they are.
async fn after_sale_code(
    sim: &BankSim,
    req: &AfterSaleRequest,
    kind: &str,
) -> Result<(&'static str, Option<SimTransaction>), SimStoreError> {
    let original = sim
        .authorisation_by_txn(&req.original_transaction_id)
        .await?
        .filter(SimTransaction::approved);
    let Some(o) = original else {
        return Ok(("12", None));
    };
    let done = sim.operations_on(&o).await?;
    Ok((code_for(&o, &done, req.amount_minor, kind), Some(o)))
}

/// What the bank answers a void, refund or capture of `amount` of the approved `o`, given
/// what was done to it already.
fn code_for(o: &SimTransaction, done: &[SimTransaction], amount: i64, kind: &str) -> &'static str {
    let done_of = |k: &str| {
        done.iter()
            .filter(|t| t.kind == k && t.approved())
            .map(|t| t.amount_minor)
            .collect::<Vec<_>>()
    };
    let refunded: i64 = done_of("refund").iter().sum();
    let captured = done_of("capture");
    // What a refund may give back: a sale's amount, or what was captured of a hold.
    let charged = if o.preauth {
        captured.iter().sum()
    } else {
        o.amount_minor
    };
    let too_much = match kind {
        "void" => amount != o.amount_minor || refunded > 0,
        "capture" => amount > o.amount_minor,
        _ => refunded + amount > charged,
    };
    // A hold is captured once or released, and only what was captured is refunded.
    let wrong_kind = match kind {
        "capture" => !o.preauth || !captured.is_empty(),
        "void" => o.preauth && !captured.is_empty(),
        _ => o.preauth && captured.is_empty(),
    };
    if amount % 100 == 13 {
        "58"
    } else if !done_of("void").is_empty() || !done_of("reversal").is_empty() || wrong_kind {
        "12"
    } else if too_much {
        "13"
    } else {
        "00"
    }
}

/// A void, refund or reversal of `original`, as booked.
fn new_operation(
    sim: &BankSim,
    req: &AfterSaleRequest,
    kind: &str,
    code: &str,
    original: Option<&SimTransaction>,
) -> SimTransaction {
    SimTransaction {
        kind: kind.into(),
        reference: req.reference.clone(),
        original_transaction_id: original
            .map(|o| o.transaction_id.clone())
            .or_else(|| Some(req.original_transaction_id.clone())),
        terminal_id: req.terminal_id.clone(),
        order_id: original.map_or_else(|| req.order_id.clone(), |o| o.order_id.clone()),
        payment_id: original.map_or_else(|| req.payment_id.clone(), |o| o.payment_id.clone()),
        amount_minor: original
            .filter(|_| kind == "reversal")
            .map_or(req.amount_minor, |o| o.amount_minor),
        currency: req.currency.clone(),
        installment: original.map_or(1, |o| o.installment),
        masked_pan: original.map(|o| o.masked_pan.clone()).unwrap_or_default(),
        eci: original.map(|o| o.eci.clone()).unwrap_or_default(),
        proc_return_code: code.into(),
        auth_code: String::new(),
        host_ref: random_digits(12),
        transaction_id: if kind == "reversal" {
            String::new()
        } else {
            new_transaction_id()
        },
        at: sim.now_ms(),
        preauth: false,
    }
}

/// Books a void or refund once per reference: the answer, and whether this request did it.
async fn book_after_sale(
    sim: &BankSim,
    req: &AfterSaleRequest,
    kind: &str,
) -> Result<(AuthResponse, bool), SimStoreError> {
    if let Some(earlier) = sim.inner.ops.get::<SimTransaction>(&req.reference).await? {
        return Ok((earlier.answer(), false));
    }
    let (code, original) = after_sale_code(sim, req, kind).await?;
    let op = new_operation(sim, req, kind, code, original.as_ref());
    sim.inner
        .ops
        .insert(&op.reference, Some(&op.order_id), &op, op.at)
        .await?;
    Ok((op.answer(), true))
}

/// Voids and refunds: checked against what this bank authorised; one answer per reference.
async fn after_sale(sim: BankSim, req: AfterSaleRequest, kind: &str) -> Response {
    if req.amount_minor % 100 == 77 {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    match book_after_sale(&sim, &req, kind).await {
        // Done, but the answer never reaches the caller (only the first time).
        Ok((_, true)) if req.amount_minor % 100 == 91 => lost_answer(),
        Ok((answer, _)) => Json(answer).into_response(),
        Err(e) => unavailable(e),
    }
}

/// What the books say of an authorisation attempt.
async fn inquiry(sim: &BankSim, reference: &str) -> Result<InquiryResponse, SimStoreError> {
    let Some(t) = sim.authorisation(reference).await? else {
        return Ok(InquiryResponse {
            found: false,
            reversed: false,
            proc_return_code: String::new(),
            auth_code: String::new(),
            host_ref: String::new(),
            transaction_id: String::new(),
        });
    };
    let reversed = sim
        .operations_on(&t)
        .await?
        .iter()
        .any(|o| o.kind == "reversal" && o.approved());
    Ok(InquiryResponse {
        found: true,
        reversed,
        proc_return_code: t.proc_return_code,
        auth_code: t.auth_code,
        host_ref: t.host_ref,
        transaction_id: t.transaction_id,
    })
}

/// What became of an authorisation attempt, by its reference.
async fn inquire(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: InquiryRequest = match sim.parse(&headers, &body, |r: &InquiryRequest| &r.terminal_id)
    {
        Ok(req) => req,
        Err(refused) => return refused.into_response(),
    };
    match inquiry(&sim, &req.reference).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => unavailable(e),
    }
}

/// Reverses the approved, not yet reversed authorisation of an attempt, once per reversal
/// reference; `25` when there is none (yet).
async fn book_reversal(
    sim: &BankSim,
    req: &AfterSaleRequest,
) -> Result<AuthResponse, SimStoreError> {
    if let Some(earlier) = sim.inner.ops.get::<SimTransaction>(&req.reference).await? {
        return Ok(earlier.answer());
    }
    let mut found = sim
        .authorisation(&req.original_reference)
        .await?
        .filter(SimTransaction::approved);
    if let Some(o) = &found {
        let done = sim.operations_on(o).await?;
        if done.iter().any(|t| t.kind == "reversal" && t.approved()) {
            found = None;
        }
    }
    let Some(o) = found else {
        // Not booked, so a later retry may still find one.
        return Ok(AuthResponse {
            proc_return_code: "25".into(),
            auth_code: String::new(),
            host_ref: random_digits(12),
            transaction_id: String::new(),
        });
    };
    let op = new_operation(sim, req, "reversal", "00", Some(&o));
    sim.inner
        .ops
        .insert(&op.reference, Some(&op.order_id), &op, op.at)
        .await?;
    Ok(op.answer())
}

/// Reverses the approved, not yet reversed authorisation of an attempt (by its reference).
async fn reverse(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: AfterSaleRequest =
        match sim.parse(&headers, &body, |r: &AfterSaleRequest| &r.terminal_id) {
            Ok(req) => req,
            Err(refused) => return refused.into_response(),
        };
    match book_reversal(&sim, &req).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => unavailable(e),
    }
}

/// A void, refund or capture request of this terminal, answered.
async fn after_sale_of(sim: BankSim, headers: &HeaderMap, body: &[u8], kind: &str) -> Response {
    match sim.parse(headers, body, |r: &AfterSaleRequest| &r.terminal_id) {
        Ok(req) => after_sale(sim, req, kind).await,
        Err(refused) => refused.into_response(),
    }
}

async fn void(State(sim): State<BankSim>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    after_sale_of(sim, &headers, &body, "void").await
}

async fn refund(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    after_sale_of(sim, &headers, &body, "refund").await
}

/// Captures a pre-authorisation: the held amount or less, once.
async fn capture(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    after_sale_of(sim, &headers, &body, "capture").await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TxnQuery {
    order_id: Option<String>,
    payment_id: Option<String>,
    kind: Option<String>,
}

/// The books, newest first, as a query asks for them.
async fn books(sim: &BankSim, q: &TxnQuery) -> Result<Vec<SimTransaction>, SimStoreError> {
    let order = q.order_id.as_deref();
    let mut all: Vec<SimTransaction> = sim.inner.auths.list(order, LIST_LIMIT).await?;
    all.extend(
        sim.inner
            .ops
            .list::<SimTransaction>(order, LIST_LIMIT)
            .await?,
    );
    // Newest first; at the same time, what was done to an authorisation came after it.
    let rank = |t: &SimTransaction| u8::from(t.kind != "authorisation");
    all.sort_by(|a, b| b.at.cmp(&a.at).then(rank(b).cmp(&rank(a))));
    all.retain(|t| q.payment_id.as_ref().is_none_or(|p| &t.payment_id == p));
    all.retain(|t| q.kind.as_ref().is_none_or(|k| &t.kind == k));
    Ok(all)
}

/// The bank's settlement file of a day (Europe/Istanbul): every approved authorisation,
/// capture, refund and void booked that day, as `transaction_id,host_ref,auth_code,amount,
/// currency,type` (docs/BANKS.md), for `kapi reconcile`.
async fn settlement(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = sim.check_key(&headers) {
        return refused.into_response();
    }
    let date = query
        .as_deref()
        .and_then(|q| q.strip_prefix("date="))
        .and_then(crate::clock::parse_day);
    let Some(date) = date else {
        return problem(
            StatusCode::BAD_REQUEST,
            "BANK-400",
            "date=YYYY-MM-DD is required",
        );
    };
    match settlement_file(&sim, date).await {
        Ok(out) => (
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            out,
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

/// The approved bookings of a day, oldest first, as the settlement file writes them.
async fn settlement_file(sim: &BankSim, date: time::Date) -> Result<String, SimStoreError> {
    let (from, to) = crate::clock::istanbul_day_bounds(date);
    let all = books(sim, &TxnQuery::default()).await?;
    let mut out = format!("{}\n", crate::wire::settlement::SETTLEMENT_HEADER);
    for t in all
        .iter()
        .rev()
        .filter(|t| t.approved() && t.at >= from && t.at < to)
    {
        let kind = match t.kind.as_str() {
            "authorisation" if t.preauth => "preauth",
            "authorisation" => "sale",
            "reversal" => continue,
            other => other,
        };
        let currency =
            crate::domain::Currency::parse(&t.currency).unwrap_or(crate::domain::Currency::Try);
        out.push_str(&crate::wire::settlement::line(
            &t.transaction_id,
            &t.host_ref,
            &t.auth_code,
            t.amount_minor,
            currency,
            kind,
        ));
    }
    Ok(out)
}

/// Simulator only: what the bank saw, newest first, so a test or an operator can check that
/// a payment was authorised exactly once.
async fn transactions(
    State(sim): State<BankSim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = sim.check_key(&headers) {
        return refused.into_response();
    }
    let Ok(q) = serde_urlencoded::from_str::<TxnQuery>(query.as_deref().unwrap_or("")) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "BANK-400",
            "unknown query parameter",
        );
    };
    match books(&sim, &q).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => unavailable(e),
    }
}
