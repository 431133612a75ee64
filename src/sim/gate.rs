//! What the Garanti and PayFor bank simulators share: a bank's own 3-D Secure gate, run as a
//! small 3DS Server in front of the ACS simulator (the AReq, the browser's challenge, the
//! RReq, the CRes), and the bank's books behind its XML API. Each platform's file reads its
//! gate's form and writes its signed return; here the journey between them.
//!
//! A session is kept per trip to the gate (its id is the `md`, or PayFor's `RequestGuid`, that
//! the return carries and the provision quotes). The card's number is not kept: only what the
//! simulated issuer decided for it (`bank::decide`) and its masked form.

use std::sync::Arc;

use askama::Template;
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{Records, SimConfig, SimForm, acs::AcsSim, html, problem};
use crate::{
    clock::Clock,
    domain::{Locale, Pan, Sensitive, ids::random_token},
    i18n::Tr,
    wire::threeds::{
        ACS_SIGNATURE_HEADER, AReq, ARes, CRes, MESSAGE_VERSION, RReq, decode_b64url, encode_b64url,
    },
};

pub(crate) const SESSION: &str = "gate_session";
pub(crate) const RREQ: &str = "gate_rreq";
pub(crate) const BOOK: &str = "gate_book";

/// A trip to a simulated bank's gate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Also the `md` (Garanti) or `RequestGuid` (PayFor).
    pub id: String,
    /// `garanti` or `payfor`.
    pub platform: String,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub preauth: bool,
    pub installment: u8,
    pub back_ok: String,
    pub back_fail: String,
    /// What the simulated issuer answers for this card (`00`, `51`, …; `lost`: no answer).
    pub decision: String,
    pub masked_pan: String,
    pub locale: String,
    pub threeds_id: String,
    /// The 3-D Secure outcome: `Y`, `A`, `N`, `R`, `U`.
    pub trans_status: Option<String>,
    pub eci: Option<String>,
    pub cavv: Option<String>,
    pub xid: String,
    /// A provision quoted this trip already.
    pub used: bool,
    /// Request fields the return echoes (platform names).
    pub echo: Vec<(String, String)>,
}

impl Session {
    /// NestPay-style `mdStatus` of the outcome: `1` full, `4` attempt, `0` failed, `7` error.
    pub fn md_status(&self) -> &'static str {
        match self.trans_status.as_deref() {
            Some("Y") => "1",
            Some("A") => "4",
            Some("N" | "R") => "0",
            _ => "7",
        }
    }

    pub fn authenticated(&self) -> bool {
        matches!(self.md_status(), "1" | "4")
    }
}

/// An order in a simulated bank's books.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Book {
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `APPROVED`, `PREAUTH`, `CAPTURED`, `DECLINED`, `VOIDED`.
    pub status: String,
    pub code: String,
    pub auth_code: String,
    pub host_ref: String,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub installment: u8,
}

/// What a platform's gate form gave, checked.
pub(crate) struct Start {
    pub platform: &'static str,
    pub order_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub preauth: bool,
    pub installment: u8,
    pub back_ok: String,
    pub back_fail: String,
    pub pan: Sensitive,
    /// `YYMM`.
    pub expiry: Sensitive,
    pub holder: String,
    pub locale: Locale,
    pub client_ip: String,
    pub merchant_name: String,
    pub echo: Vec<(String, String)>,
}

/// The platform's signed return for a finished trip: where the browser posts it, and what.
pub(crate) type ReturnOf = fn(&Session) -> (String, Vec<(String, String)>);

#[derive(Clone)]
pub(crate) struct GateSim {
    pub sessions: Records,
    pub rreqs: Records,
    pub books: Records,
    pub clock: Arc<dyn Clock>,
    acs: AcsSim,
    channel_key: Arc<secrecy::SecretBox<Vec<u8>>>,
    /// Browser-facing base of the simulators, e.g. `http://127.0.0.1:8080/sim`.
    public_base: String,
}

#[derive(Template)]
#[template(path = "acs/post.html")]
struct PostPage {
    tr: Tr,
    action: String,
    fields: Vec<(String, String)>,
}

/// An auto-submitting page that posts `fields` to `action`.
pub(crate) fn post_page(locale: Locale, action: String, fields: Vec<(String, String)>) -> Response {
    html(
        &PostPage {
            tr: Tr::new(locale),
            action,
            fields,
        },
        StatusCode::OK,
    )
}

impl GateSim {
    pub(crate) fn new(config: &SimConfig, acs: AcsSim) -> Self {
        Self {
            sessions: Records::new(config.store.clone(), SESSION),
            rreqs: Records::new(config.store.clone(), RREQ),
            books: Records::new(config.store.clone(), BOOK),
            clock: config.clock.clone(),
            acs,
            channel_key: Arc::new(secrecy::SecretBox::new(Box::new(
                secrecy::ExposeSecret::expose_secret(&config.acs_channel_key).clone(),
            ))),
            public_base: config
                .acs_public_base
                .trim_end_matches('/')
                .trim_end_matches("/acs")
                .to_owned(),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Starts 3-D Secure for a checked gate form: the browser goes to the ACS's challenge, or
    /// straight back to the merchant with the outcome.
    pub(crate) async fn start(&self, start: Start, back: ReturnOf) -> Response {
        let Ok(pan) = Pan::parse(start.pan.expose()) else {
            return problem(StatusCode::BAD_REQUEST, "GATE-102", "card number invalid");
        };
        let decision = match super::bank::decide(pan.expose()) {
            super::bank::Decision::Respond(code) => code.to_owned(),
            super::bank::Decision::Unreachable => "lost".to_owned(),
        };
        let id = format!("{}{}", random_token(12), random_token(12));
        let threeds_id = uuid::Uuid::new_v4().to_string();
        let mut session = Session {
            id: id.clone(),
            platform: start.platform.to_owned(),
            order_id: start.order_id.clone(),
            amount_minor: start.amount_minor,
            currency: start.currency.clone(),
            preauth: start.preauth,
            installment: start.installment,
            back_ok: start.back_ok.clone(),
            back_fail: start.back_fail.clone(),
            decision,
            masked_pan: pan.masked(),
            locale: start.locale.as_str().to_owned(),
            threeds_id: threeds_id.clone(),
            trans_status: None,
            eci: None,
            cavv: None,
            xid: uuid::Uuid::new_v4().to_string(),
            used: false,
            echo: start.echo.clone(),
        };
        let platform = start.platform;
        let areq = self.areq(&start, &threeds_id, platform);
        let ares = match self.ask_acs(&areq).await {
            Ok(ares) => ares,
            Err(detail) => {
                tracing::warn!(detail, "simulated gate: the ACS did not answer");
                session.trans_status = Some("U".into());
                return self.finish(session, back).await;
            }
        };
        match ares.trans_status.as_str() {
            "C" => {
                let Some(acs_url) = ares.acs_url.clone() else {
                    session.trans_status = Some("U".into());
                    return self.finish(session, back).await;
                };
                if let Err(e) = self.sessions.insert(&id, None, &session, self.now()).await {
                    return super::unavailable(e);
                }
                let creq = crate::wire::threeds::CReq {
                    three_ds_server_trans_id: threeds_id,
                    acs_trans_id: ares.acs_trans_id,
                    challenge_window_size: "05".into(),
                    message_type: "CReq".into(),
                    message_version: MESSAGE_VERSION.into(),
                };
                post_page(
                    start.locale,
                    acs_url,
                    vec![
                        ("creq".into(), encode_b64url(&creq)),
                        ("threeDSSessionData".into(), id),
                    ],
                )
            }
            status => {
                session.trans_status = Some(status.to_owned());
                session.eci = ares.eci;
                session.cavv = ares.authentication_value;
                self.finish(session, back).await
            }
        }
    }

    fn areq(&self, start: &Start, threeds_id: &str, platform: &str) -> AReq {
        let now = self.clock.now();
        AReq {
            three_ds_server_trans_id: threeds_id.to_owned(),
            message_type: "AReq".into(),
            message_version: MESSAGE_VERSION.into(),
            device_channel: "02".into(),
            message_category: "01".into(),
            three_ds_requestor_id: format!("SIM-{platform}"),
            three_ds_requestor_name: start.merchant_name.clone(),
            three_ds_server_url: format!("{}/{platform}/rreq", self.public_base),
            acct_number: start.pan.clone(),
            card_expiry_date: start.expiry.clone(),
            cardholder_name: Sensitive::new(start.holder.as_str()),
            purchase_amount: start.amount_minor.to_string(),
            purchase_currency: start.currency.clone(),
            purchase_exponent: "2".into(),
            purchase_date: crate::wire::threeds::purchase_date(now),
            purchase_instal_data: (start.installment > 1).then(|| start.installment.to_string()),
            merchant_name: start.merchant_name.clone(),
            acquirer_merchant_id: start.merchant_name.clone(),
            merchant_country_code: "792".into(),
            notification_url: format!("{}/{platform}/notify", self.public_base),
            browser_accept_header: "text/html".into(),
            browser_ip: start.client_ip.clone(),
            browser_language: start.locale.as_str().into(),
            browser_user_agent: "bank-gate".into(),
        }
    }

    /// The ACS simulator's answer to `areq`, asked in-process as its HTTP endpoint would be.
    async fn ask_acs(&self, areq: &AReq) -> Result<ARes, String> {
        let body = serde_json::to_vec(areq).map_err(|e| e.to_string())?;
        let resp = super::acs::areq(State(self.acs.clone()), Bytes::from(body)).await;
        if !resp.status().is_success() {
            return Err(format!("ARes {}", resp.status()));
        }
        let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())
    }

    /// A trip that ended at once (no challenge): kept (for the provision), and the browser
    /// posts the signed return.
    async fn finish(&self, session: Session, back: ReturnOf) -> Response {
        if let Err(e) = self
            .sessions
            .insert(&session.id, None, &session, self.now())
            .await
        {
            return super::unavailable(e);
        }
        returned(&session, back)
    }

    /// The ACS's RReq: the challenge's outcome, server to server, signed by the ACS.
    pub(crate) async fn rreq(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let mac = headers
            .get(ACS_SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let expected = super::hmac_hex(&self.channel_key, body);
        if !crate::wire::same_secret(mac, &expected) {
            return problem(StatusCode::UNAUTHORIZED, "GATE-401", "RReq signature");
        }
        let Ok(rreq) = serde_json::from_slice::<RReq>(body) else {
            return problem(StatusCode::BAD_REQUEST, "GATE-101", "malformed RReq");
        };
        let key = rreq.three_ds_server_trans_id.clone();
        match self.rreqs.insert(&key, None, &rreq, self.now()).await {
            Ok(_) => axum::response::IntoResponse::into_response(StatusCode::OK),
            Err(e) => super::unavailable(e),
        }
    }

    /// The CRes through the browser: the trip ends by the RReq's outcome (the CRes itself is
    /// not trusted).
    pub(crate) async fn notify(&self, form: SimForm, back: ReturnOf) -> Response {
        let form = form.0.unwrap_or_default();
        let get = |n: &str| crate::form::value(&form, n);
        let Some(cres) = decode_b64url::<CRes>(get("cres")) else {
            return problem(StatusCode::BAD_REQUEST, "GATE-101", "malformed CRes");
        };
        let session = match self
            .sessions
            .get::<Session>(get("threeDSSessionData"))
            .await
        {
            Ok(Some(s)) if s.threeds_id == cres.three_ds_server_trans_id => s,
            Ok(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "GATE-104",
                    "unknown 3-D Secure trip",
                );
            }
            Err(e) => return super::unavailable(e),
        };
        if session.trans_status.is_some() {
            // A reload: the outcome stands.
            return returned(&session, back);
        }
        let rreq = match self.rreqs.get::<RReq>(&session.threeds_id).await {
            Ok(r) => r,
            Err(e) => return super::unavailable(e),
        };
        let ended = self
            .sessions
            .update(&session.id, self.now(), |kept: &mut Session| {
                if kept.trans_status.is_none() {
                    kept.trans_status = Some(
                        rreq.as_ref()
                            .map_or("U", |r| r.trans_status.as_str())
                            .to_owned(),
                    );
                    kept.eci = rreq.as_ref().and_then(|r| r.eci.clone());
                    kept.cavv = rreq.as_ref().and_then(|r| r.authentication_value.clone());
                }
                kept.clone()
            })
            .await;
        match ended {
            Ok(Some(session)) => returned(&session, back),
            Ok(None) => problem(
                StatusCode::BAD_REQUEST,
                "GATE-104",
                "unknown 3-D Secure trip",
            ),
            Err(e) => super::unavailable(e),
        }
    }

    /// The trip a provision quotes, once: it must be the same order, amount and kind (sale or
    /// hold), and authenticated. `Err` says why not, in the bank's words.
    pub(crate) async fn claim(
        &self,
        id: &str,
        order_id: &str,
        amount_minor: i64,
        preauth: bool,
    ) -> Result<Session, &'static str> {
        let now = self.now();
        let taken = self
            .sessions
            .update(id, now, |s: &mut Session| {
                let same = s.order_id == order_id
                    && s.amount_minor == amount_minor
                    && s.preauth == preauth;
                if s.used || !same {
                    return None;
                }
                if !s.authenticated() {
                    return None;
                }
                s.used = true;
                Some(s.clone())
            })
            .await
            .map_err(|_| "system error")?;
        match taken {
            Some(Some(s)) => Ok(s),
            Some(None) => Err("3-D Secure values do not match the order"),
            None => Err("no such 3-D Secure transaction"),
        }
    }

    /// A key of the books: the platform and the order.
    pub(crate) fn book_key(platform: &str, order_id: &str) -> String {
        format!("{platform}:{order_id}")
    }
}

/// What a provision of an authenticated trip did.
pub(crate) enum Provision {
    /// Booked (approved or declined, as the issuer decided): the answer to send.
    Booked(Book),
    /// No answer reaches Kapı: the issuer never answered (nothing booked), or an amount whose
    /// kuruş are `91` was booked and its answer lost.
    Lost,
    /// The order id was booked before.
    Duplicate,
}

impl GateSim {
    /// Books the provision of `session` (claimed) as the simulated issuer decides.
    pub(crate) async fn provision(
        &self,
        session: &Session,
        order_id: &str,
        currency: &str,
        preauth: bool,
    ) -> Result<Provision, crate::simstore::SimStoreError> {
        if session.decision == "lost" {
            return Ok(Provision::Lost);
        }
        let approved = session.decision == "00";
        let book = Book {
            order_id: order_id.to_owned(),
            amount_minor: session.amount_minor,
            currency: currency.to_owned(),
            status: match (approved, preauth) {
                (false, _) => "DECLINED",
                (true, false) => "APPROVED",
                (true, true) => "PREAUTH",
            }
            .into(),
            code: session.decision.clone(),
            auth_code: if approved { auth_code() } else { String::new() },
            host_ref: digits(12),
            captured_minor: 0,
            refunded_minor: 0,
            installment: session.installment,
        };
        let key = Self::book_key(&session.platform, order_id);
        let platform = Some(session.platform.as_str());
        if !self.books.insert(&key, platform, &book, self.now()).await? {
            return Ok(Provision::Duplicate);
        }
        if session.amount_minor % 100 == 91 {
            return Ok(Provision::Lost);
        }
        Ok(Provision::Booked(book))
    }
}

/// The page that posts a finished trip's signed return to the merchant.
fn returned(session: &Session, back: ReturnOf) -> Response {
    let (action, fields) = back(session);
    post_page(Locale::parse_lenient(&session.locale), action, fields)
}

/// Random digits.
pub(crate) fn digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A six-character auth code.
pub(crate) fn auth_code() -> String {
    random_token(6).to_uppercase()
}

/// What an after-sale operation does to an order, and the bank's code for it.
pub(crate) fn after_sale(book: &mut Book, op: &str, amount_minor: i64) -> &'static str {
    match op {
        "void" if matches!(book.status.as_str(), "APPROVED" | "PREAUTH" | "CAPTURED") => {
            if book.refunded_minor > 0 {
                return "12";
            }
            book.status = "VOIDED".into();
            "00"
        }
        "capture" if book.status == "PREAUTH" => {
            if amount_minor <= 0 || amount_minor > book.amount_minor {
                return "13";
            }
            book.status = "CAPTURED".into();
            book.captured_minor = amount_minor;
            "00"
        }
        "refund" if matches!(book.status.as_str(), "APPROVED" | "CAPTURED") => {
            let base = if book.status == "CAPTURED" {
                book.captured_minor
            } else {
                book.amount_minor
            };
            if amount_minor <= 0 || book.refunded_minor.saturating_add(amount_minor) > base {
                return "13";
            }
            book.refunded_minor = book.refunded_minor.saturating_add(amount_minor);
            "00"
        }
        _ => "12",
    }
}
