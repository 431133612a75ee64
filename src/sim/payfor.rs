//! A QNB Finansbank PayFor bank simulator, the server side of PayFor (`bank-protocols.md` §3):
//! the 3-D Secure gate (`/sim/payfor/Gateway/Default.aspx`, `SecureType=3DModel`) that checks
//! the request `Hash`, runs the issuer's challenge through the ACS simulator and posts a
//! return signed with `ResponseHash` (`3DStatus`, `ProcReturnCode` `V033`, `RequestGuid`); and
//! the XML gate (`/sim/payfor/Gateway/XMLGate.aspx`): the `3DModelPayment` provision with the
//! `RequestGuid`, `NonSecure` `PostAuth`, `Void` and `Refund` by `OrgOrderId`, and the order
//! inquiry. It serves one test merchant with the published test credentials below. It answers
//! by card number (`bank::decide`); an amount whose kuruş are `91` is booked but its answer
//! lost; a refusal of its gateway is one of PayFor's own codes (`M0xx`, `V0xx`).

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};

use super::{
    SimForm,
    gate::{self, Book, GateSim, Provision, Session, Start},
    problem,
};
use crate::{
    domain::{Currency, Locale, Money, Sensitive, ids::random_token, money::decimal_minor},
    wire::payfor::{self as wire, PayforRequest, PayforResponse},
};

/// The simulated merchant (the published test values).
pub const MBR_ID: &str = "5";
pub const MERCHANT_ID: &str = "085300000009704";
pub const USER_CODE: &str = "QNB_API_KULLANICI_3DPAY";
pub const USER_PASS: &str = "UcBN0";
pub const STORE_KEY: &str = "12345678";

const PLATFORM: &str = "payfor";

pub(crate) fn router(gate: GateSim) -> Router {
    Router::new()
        .route("/Gateway/Default.aspx", post(gate_post))
        .route("/Gateway/XMLGate.aspx", post(api))
        .route("/rreq", post(rreq))
        .route("/notify", post(notify))
        .with_state(gate)
}

fn minor_of(amount: &str, currency: &str) -> Option<i64> {
    let currency = Currency::parse(currency).ok()?;
    Money::parse(amount, currency).ok().map(|m| m.minor())
}

async fn gate_post(State(gate): State<GateSim>, SimForm(form): SimForm) -> Response {
    let form = form.unwrap_or_default();
    match read_gate(&form) {
        Ok(start) => gate.start(start, signed_return).await,
        Err(why) => problem(StatusCode::BAD_REQUEST, "PAYFOR-100", why),
    }
}

fn read_gate(form: &[(String, String)]) -> Result<Start, &'static str> {
    let get = |n: &str| crate::form::value(form, n);
    if get("MbrId") != MBR_ID || get("MerchantID") != MERCHANT_ID || get("UserCode") != USER_CODE {
        return Err("unknown merchant");
    }
    if get("SecureType") != "3DModel" {
        return Err("this simulator serves SecureType 3DModel");
    }
    let expected = wire::request_hash(
        &wire::GateHashInput {
            mbr_id: get("MbrId"),
            order_id: get("OrderId"),
            amount: get("PurchAmount"),
            ok_url: get("OkUrl"),
            fail_url: get("FailUrl"),
            txn_type: get("TxnType"),
            installment: get("InstallmentCount"),
            rnd: get("Rnd"),
        },
        STORE_KEY,
    );
    if !crate::wire::same_secret(get("Hash"), &expected) {
        return Err("Hash does not match");
    }
    let amount_minor = minor_of(get("PurchAmount"), get("Currency")).ok_or("PurchAmount")?;
    let preauth = match get("TxnType") {
        "Auth" => false,
        "PreAuth" => true,
        _ => return Err("TxnType"),
    };
    let installment = match get("InstallmentCount") {
        "" | "0" => 1,
        n => n.parse::<u8>().map_err(|_| "InstallmentCount")?,
    };
    let expiry = get("Expiry");
    if get("OrderId").is_empty() || get("OkUrl").is_empty() || get("FailUrl").is_empty() {
        return Err("OrderId, OkUrl and FailUrl are required");
    }
    Ok(Start {
        platform: PLATFORM,
        order_id: get("OrderId").to_owned(),
        amount_minor,
        currency: get("Currency").to_owned(),
        preauth,
        installment,
        back_ok: get("OkUrl").to_owned(),
        back_fail: get("FailUrl").to_owned(),
        pan: Sensitive::new(get("Pan")),
        expiry: Sensitive::new(format!(
            "{}{}",
            expiry.get(2..4).unwrap_or_default(),
            expiry.get(..2).unwrap_or_default()
        )),
        holder: get("CardHolderName").to_owned(),
        locale: Locale::parse_lenient(&get("Lang").to_lowercase()),
        client_ip: String::new(),
        merchant_name: "QNB PayFor test".to_owned(),
        echo: [
            "MbrId",
            "OrderId",
            "PurchAmount",
            "Currency",
            "TxnType",
            "InstallmentCount",
            "SecureType",
            "OkUrl",
            "FailUrl",
            "Lang",
        ]
        .iter()
        .map(|n| ((*n).to_owned(), get(n).to_owned()))
        .collect(),
    })
}

/// The gate's return, signed with `ResponseHash`.
fn signed_return(s: &Session) -> (String, Vec<(String, String)>) {
    let ok = s.authenticated();
    let mut fields = s.echo.clone();
    let extra = [
        ("MerchantID", MERCHANT_ID.to_owned()),
        ("3DStatus", s.md_status().to_owned()),
        (
            "ProcReturnCode",
            if ok { wire::AUTHENTICATED } else { "V034" }.to_owned(),
        ),
        ("AuthCode", String::new()),
        (
            "TxnResult",
            if ok { "Success" } else { "Failed" }.to_owned(),
        ),
        (
            "ErrMsg",
            if ok {
                "Onaylandı"
            } else {
                "3D doğrulama başarısız"
            }
            .to_owned(),
        ),
        ("RequestGuid", if ok { s.id.clone() } else { String::new() }),
        ("PayerTxnId", s.xid.clone()),
        ("Eci", s.eci.clone().unwrap_or_default()),
        (
            "PayerAuthenticationCode",
            s.cavv.clone().unwrap_or_default(),
        ),
        ("CardMask", s.masked_pan.clone()),
        ("ResponseRnd", format!("PF{}", gate::digits(18))),
    ];
    fields.extend(extra.into_iter().map(|(n, v)| (n.to_owned(), v)));
    let hash = wire::response_hash(&fields, MERCHANT_ID, USER_CODE, STORE_KEY);
    fields.push(("ResponseHash".to_owned(), hash));
    let url = if ok { &s.back_ok } else { &s.back_fail };
    (url.clone(), fields)
}

async fn rreq(State(gate): State<GateSim>, headers: HeaderMap, body: Bytes) -> Response {
    gate.rreq(&headers, &body).await
}

async fn notify(State(gate): State<GateSim>, form: SimForm) -> Response {
    gate.notify(form, signed_return).await
}

fn xml(answer: &PayforResponse) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
        answer.render(),
    )
        .into_response()
}

fn refused(order_id: &str, code: &str, why: &str) -> Response {
    xml(&PayforResponse {
        order_id: order_id.to_owned(),
        proc_return_code: code.to_owned(),
        err_msg: why.to_owned(),
        txn_result: "Failed".into(),
        ..PayforResponse::default()
    })
}

/// The XML gate: one `PayforRequest`.
async fn api(State(gate): State<GateSim>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let Ok(req) = PayforRequest::parse(&text) else {
        return refused("", "V001", "Gecersiz istek");
    };
    if req.mbr_id != MBR_ID
        || req.merchant_id != MERCHANT_ID
        || req.user_code != USER_CODE
        || !crate::wire::same_secret(req.user_pass.expose(), USER_PASS)
    {
        return refused(&req.order_id, "V013", "Uye isyeri bilgileri hatali");
    }
    match (req.secure_type.as_str(), req.txn_type.as_str()) {
        ("3DModelPayment", "Auth" | "PreAuth") => provision(&gate, &req).await,
        ("NonSecure", "Void") => operation(&gate, &req, "void").await,
        ("NonSecure", "Refund") => operation(&gate, &req, "refund").await,
        ("NonSecure", "PostAuth") => operation(&gate, &req, "capture").await,
        ("Inquiry", "OrderInquiry") => inquiry(&gate, &req.org_order_id).await,
        _ => refused(&req.order_id, "V014", "Gecersiz islem tipi"),
    }
}

async fn provision(gate: &GateSim, req: &PayforRequest) -> Response {
    let Some(amount) = minor_of(&req.amount, &req.currency) else {
        return refused(&req.order_id, "M039", "Gecersiz tutar");
    };
    let preauth = req.txn_type == "PreAuth";
    let session = match gate
        .claim(&req.request_guid, &req.order_id, amount, preauth)
        .await
    {
        Ok(s) => s,
        Err(why) => return refused(&req.order_id, "M041", why),
    };
    let book = match gate
        .provision(
            &session,
            &req.order_id,
            &req.currency,
            req.txn_type == "PreAuth",
        )
        .await
    {
        Ok(Provision::Booked(book)) => book,
        Ok(Provision::Lost) => return StatusCode::BAD_GATEWAY.into_response(),
        Ok(Provision::Duplicate) => {
            return refused(&req.order_id, "M042", "Siparis numarasi tekrar");
        }
        Err(e) => return super::unavailable(e),
    };
    let approved = book.code == "00";
    xml(&PayforResponse {
        order_id: req.order_id.clone(),
        auth_code: book.auth_code,
        proc_return_code: book.code,
        trans_id: format!("{}{}", random_token(4).to_uppercase(), gate::digits(10)),
        err_msg: if approved { "Onaylandı" } else { "Red" }.into(),
        host_ref_num: book.host_ref,
        txn_result: if approved { "Success" } else { "Failed" }.into(),
        ..PayforResponse::default()
    })
}

async fn operation(gate: &GateSim, req: &PayforRequest, op: &'static str) -> Response {
    let key = GateSim::book_key(PLATFORM, &req.org_order_id);
    let amount = minor_of(&req.amount, &req.currency).unwrap_or(0);
    let done = gate
        .books
        .update(&key, gate.now(), |b: &mut Book| {
            let amount = if op == "void" { b.amount_minor } else { amount };
            (gate::after_sale(b, op, amount), b.clone())
        })
        .await;
    match done {
        Ok(Some((code, book))) => xml(&PayforResponse {
            order_id: req.org_order_id.clone(),
            auth_code: book.auth_code,
            proc_return_code: code.to_owned(),
            trans_id: gate::digits(12),
            host_ref_num: gate::digits(12),
            txn_result: if code == "00" { "Success" } else { "Failed" }.into(),
            ..PayforResponse::default()
        }),
        Ok(None) => refused(&req.org_order_id, "V013", "Seçili İşlem Bulunamadı!"),
        Err(e) => super::unavailable(e),
    }
}

async fn inquiry(gate: &GateSim, order_id: &str) -> Response {
    let key = GateSim::book_key(PLATFORM, order_id);
    match gate.books.get::<Book>(&key).await {
        Ok(Some(b)) => {
            let currency = Currency::parse(&b.currency).unwrap_or(Currency::Try);
            xml(&PayforResponse {
                order_id: order_id.to_owned(),
                auth_code: b.auth_code.clone(),
                proc_return_code: b.code.clone(),
                trans_id: b.host_ref.clone(),
                host_ref_num: b.host_ref.clone(),
                txn_result: if b.code == "00" { "Success" } else { "Failed" }.into(),
                txn_type: match b.status.as_str() {
                    "PREAUTH" => "PreAuth",
                    "CAPTURED" => "PostAuth",
                    _ => "Auth",
                }
                .into(),
                is_voided: (b.status == "VOIDED").to_string(),
                is_refunded: (b.refunded_minor > 0).to_string(),
                refunded_amount: decimal_minor(b.refunded_minor, currency),
                ..PayforResponse::default()
            })
        }
        Ok(None) => refused(order_id, "V013", "Seçili İşlem Bulunamadı!"),
        Err(e) => super::unavailable(e),
    }
}
