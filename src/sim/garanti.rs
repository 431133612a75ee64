//! A Garanti BBVA bank simulator, the server side of GVP (`bank-protocols.md` §2): the 3-D
//! Secure gate (`/sim/garanti/servlet/gt3dengine`, `secure3dsecuritylevel=3D`, `apiversion`
//! 512) that checks `secure3dhash`, runs the issuer's challenge through the ACS simulator and
//! posts a `hashparams`-signed return; and `VPServlet` (`/sim/garanti/VPServlet`): the
//! provision with the return's `Md`, `postauth`, `void`, `refund` and `orderinq`, each checked
//! against its `HashData`. It serves one test terminal, with the published test credentials
//! below. As the bank simulator does, it answers by card number (`bank::decide`); an amount
//! whose kuruş are `91` is booked but its answer lost.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use secrecy::{ExposeSecret, SecretString};

use super::{
    SimForm,
    gate::{self, Book, GateSim, Provision, Session, Start},
    problem,
};
use crate::{
    domain::{Locale, Sensitive, ids::random_token},
    wire::garanti::{self as wire, GvpsRequest, GvpsResponse},
};

/// The simulated terminal (Garanti's public test terminal's values).
pub const MERCHANT_ID: &str = "7000679";
pub const TERMINAL_ID: &str = "30691298";
pub const PROV_USER: &str = "PROVAUT";
pub const REFUND_USER: &str = "PROVRFN";
pub const PASSWORD: &str = "123qweASD/";
pub const STORE_KEY: &str = "12345678";

const PLATFORM: &str = "garanti";

pub(crate) fn router(gate: GateSim) -> Router {
    Router::new()
        .route("/servlet/gt3dengine", post(gate_post))
        .route("/VPServlet", post(api))
        .route("/rreq", post(rreq))
        .route("/notify", post(notify))
        .with_state(gate)
}

/// The password of the user a request of `txn_type` must come from: voids and refunds
/// from the refund user, everything else from the provision user.
fn password_of(user: &str, txn_type: &str) -> Option<SecretString> {
    let wanted = if matches!(txn_type, "void" | "refund") {
        REFUND_USER
    } else {
        PROV_USER
    };
    (user == wanted).then(|| SecretString::from(PASSWORD.to_owned()))
}

async fn gate_post(State(gate): State<GateSim>, SimForm(form): SimForm) -> Response {
    let form = form.unwrap_or_default();
    match read_gate(&form) {
        Ok(start) => gate.start(start, signed_return).await,
        Err(why) => problem(StatusCode::BAD_REQUEST, "GARANTI-100", why),
    }
}

/// The gate form, checked as the bank checks it.
fn read_gate(form: &[(String, String)]) -> Result<Start, &'static str> {
    let get = |n: &str| crate::form::value(form, n);
    if get("terminalid") != TERMINAL_ID
        || get("terminalmerchantid") != MERCHANT_ID
        || get("terminalprovuserid") != PROV_USER
    {
        return Err("unknown terminal");
    }
    if get("apiversion") != wire::API_VERSION || get("secure3dsecuritylevel") != "3D" {
        return Err("this simulator serves apiversion 512, secure3dsecuritylevel 3D");
    }
    let sd = wire::security_data(PASSWORD, TERMINAL_ID);
    let expected = wire::secure3d_hash(
        &wire::GateHashInput {
            terminal_id: get("terminalid"),
            order_id: get("orderid"),
            amount: get("txnamount"),
            currency: get("txncurrencycode"),
            success_url: get("successurl"),
            error_url: get("errorurl"),
            txn_type: get("txntype"),
            installment: get("txninstallmentcount"),
        },
        STORE_KEY,
        &sd,
    );
    if !crate::wire::same_secret(get("secure3dhash"), &expected) {
        return Err("secure3dhash does not match");
    }
    let amount_minor = get("txnamount").parse::<i64>().map_err(|_| "txnamount")?;
    let preauth = match get("txntype") {
        "sales" => false,
        "preauth" => true,
        _ => return Err("txntype"),
    };
    let installment = match get("txninstallmentcount") {
        "" => 1,
        n => n.parse::<u8>().map_err(|_| "txninstallmentcount")?,
    };
    if get("orderid").is_empty() || get("successurl").is_empty() || get("errorurl").is_empty() {
        return Err("orderid, successurl and errorurl are required");
    }
    Ok(Start {
        platform: PLATFORM,
        order_id: get("orderid").to_owned(),
        amount_minor,
        currency: get("txncurrencycode").to_owned(),
        preauth,
        installment,
        back_ok: get("successurl").to_owned(),
        back_fail: get("errorurl").to_owned(),
        pan: Sensitive::new(get("cardnumber")),
        expiry: Sensitive::new(format!(
            "{}{}",
            get("cardexpiredateyear"),
            get("cardexpiredatemonth")
        )),
        holder: "Kart Sahibi".to_owned(),
        locale: Locale::parse_lenient(get("lang")),
        client_ip: get("customeripaddress").to_owned(),
        merchant_name: "Garanti BBVA test".to_owned(),
        echo: [
            "orderid",
            "terminalid",
            "terminalmerchantid",
            "terminaluserid",
            "terminalprovuserid",
            "txntype",
            "txnamount",
            "txncurrencycode",
            "txninstallmentcount",
            "successurl",
            "errorurl",
            "apiversion",
            "secure3dsecuritylevel",
            "secure3dhash",
            "mode",
        ]
        .iter()
        .map(|n| ((*n).to_owned(), get(n).to_owned()))
        .collect(),
    })
}

/// The gate's return to the merchant, signed over the fields `hashparams` names.
fn signed_return(s: &Session) -> (String, Vec<(String, String)>) {
    let md_status = s.md_status();
    let ok = s.authenticated();
    let mut fields = s.echo.clone();
    let extra = [
        ("mdstatus", md_status.to_owned()),
        (
            "mderrormessage",
            if ok {
                "Authenticated"
            } else {
                "Not authenticated"
            }
            .to_owned(),
        ),
        ("eci", s.eci.clone().unwrap_or_default()),
        ("cavv", s.cavv.clone().unwrap_or_default()),
        ("xid", s.xid.clone()),
        ("md", if ok { s.id.clone() } else { String::new() }),
        ("oid", s.order_id.clone()),
        ("clientid", TERMINAL_ID.to_owned()),
        ("authcode", String::new()),
        ("response", String::new()),
        ("procreturncode", String::new()),
        ("errmsg", String::new()),
        ("MaskedPan", s.masked_pan.clone()),
        ("rnd", random_token(20)),
        ("hashparams", wire::RESULT_HASH_PARAMS.to_owned()),
    ];
    fields.extend(extra.into_iter().map(|(n, v)| (n.to_owned(), v)));
    let hash = wire::result_hash(&fields, STORE_KEY).unwrap_or_default();
    fields.push(("hash".to_owned(), hash));
    let url = if ok { &s.back_ok } else { &s.back_fail };
    (url.clone(), fields)
}

async fn rreq(State(gate): State<GateSim>, headers: HeaderMap, body: Bytes) -> Response {
    gate.rreq(&headers, &body).await
}

async fn notify(State(gate): State<GateSim>, form: SimForm) -> Response {
    gate.notify(form, signed_return).await
}

fn xml(answer: &GvpsResponse) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=UTF-8")],
        answer.render(),
    )
        .into_response()
}

fn refused(order_id: &str, code: &str, why: &str) -> Response {
    xml(&GvpsResponse {
        order_id: order_id.to_owned(),
        code: code.to_owned(),
        message: "Declined".into(),
        error_msg: why.to_owned(),
        ..GvpsResponse::default()
    })
}

/// `VPServlet`: one `GVPSRequest`.
async fn api(State(gate): State<GateSim>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let Ok(req) = GvpsRequest::parse(&text) else {
        return refused("", "99", "Gecersiz XML");
    };
    let Some(password) = password_of(&req.prov_user_id, &req.txn_type) else {
        return refused(&req.order_id, "99", "Kullanici bulunamadi");
    };
    let sd = wire::security_data(password.expose_secret(), TERMINAL_ID);
    let expected = wire::api_hash(
        &req.order_id,
        TERMINAL_ID,
        "",
        &req.amount,
        &req.currency,
        &sd,
    );
    if req.terminal_id != TERMINAL_ID
        || req.merchant_id != MERCHANT_ID
        || !crate::wire::same_secret(&req.hash_data, &expected)
    {
        return refused(&req.order_id, "99", "Guvenlik dogrulamasi basarisiz");
    }
    match req.txn_type.as_str() {
        "sales" | "preauth" => provision(&gate, &req).await,
        "orderinq" => inquiry(&gate, &req.order_id).await,
        "void" | "refund" | "postauth" => {
            let op = match req.txn_type.as_str() {
                "void" => "void",
                "refund" => "refund",
                _ => "capture",
            };
            operation(&gate, &req, op).await
        }
        _ => refused(&req.order_id, "99", "Gecersiz islem tipi"),
    }
}

async fn provision(gate: &GateSim, req: &GvpsRequest) -> Response {
    let Some(s3d) = &req.secure3d else {
        return refused(&req.order_id, "99", "3D bilgileri eksik");
    };
    let Ok(amount) = req.amount.parse::<i64>() else {
        return refused(&req.order_id, "99", "Gecersiz tutar");
    };
    let preauth = req.txn_type == "preauth";
    let session = match gate
        .claim(s3d.md.expose(), &req.order_id, amount, preauth)
        .await
    {
        Ok(s) => s,
        Err(why) => return refused(&req.order_id, "99", why),
    };
    let booked = gate.provision(&session, &req.order_id, &req.currency, preauth);
    let book = match booked.await {
        Ok(Provision::Booked(book)) => book,
        Ok(Provision::Lost) => return StatusCode::BAD_GATEWAY.into_response(),
        Ok(Provision::Duplicate) => {
            return refused(
                &req.order_id,
                "99",
                "Siparis numarasi daha once kullanilmis",
            );
        }
        Err(e) => return super::unavailable(e),
    };
    let approved = book.code == "00";
    xml(&GvpsResponse {
        order_id: req.order_id.clone(),
        code: book.code,
        message: if approved { "Approved" } else { "Declined" }.into(),
        retref: book.host_ref,
        auth_code: book.auth_code,
        ..GvpsResponse::default()
    })
}

async fn operation(gate: &GateSim, req: &GvpsRequest, op: &'static str) -> Response {
    let amount = req.amount.parse::<i64>().unwrap_or(0);
    let key = GateSim::book_key(PLATFORM, &req.order_id);
    let done = gate
        .books
        .update(&key, gate.now(), |b: &mut Book| {
            if op != "capture"
                && !req.original_retref.is_empty()
                && req.original_retref != b.host_ref
            {
                return ("12", b.clone());
            }
            (gate::after_sale(b, op, amount), b.clone())
        })
        .await;
    match done {
        Ok(Some((code, book))) => xml(&GvpsResponse {
            order_id: req.order_id.clone(),
            code: code.to_owned(),
            message: if code == "00" { "Approved" } else { "Declined" }.into(),
            retref: gate::digits(12),
            auth_code: book.auth_code,
            ..GvpsResponse::default()
        }),
        Ok(None) => not_found(&req.order_id),
        Err(e) => super::unavailable(e),
    }
}

async fn inquiry(gate: &GateSim, order_id: &str) -> Response {
    let key = GateSim::book_key(PLATFORM, order_id);
    match gate.books.get::<Book>(&key).await {
        Ok(Some(b)) => xml(&GvpsResponse {
            order_id: order_id.to_owned(),
            code: "00".into(),
            reason_code: "00".into(),
            message: "Approved".into(),
            // Garanti's order statuses: a hold waits for its capture, a capture is approved.
            inq_status: match b.status.as_str() {
                "PREAUTH" => "WAITINGPOSTAUTH",
                "CAPTURED" => "APPROVED",
                "VOIDED" => "VOID",
                "APPROVED" if b.refunded_minor > 0 => "REFUNDED",
                other => other,
            }
            .to_owned(),
            inq_code: b.code,
            inq_auth_code: b.auth_code,
            inq_retref: b.host_ref,
            inq_refunded: b.refunded_minor.to_string(),
            ..GvpsResponse::default()
        }),
        Ok(None) => not_found(order_id),
        Err(e) => super::unavailable(e),
    }
}

/// Garanti's "no such transaction": `92`, reason `0110`.
fn not_found(order_id: &str) -> Response {
    xml(&GvpsResponse {
        order_id: order_id.to_owned(),
        code: "92".into(),
        reason_code: "0110".into(),
        message: "Declined".into(),
        error_msg: "İşlem bulunamadı".into(),
        ..GvpsResponse::default()
    })
}
