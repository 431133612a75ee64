//! The simulated issuer ACS, served under `/sim/acs` and reached by Kapı over HTTP exactly
//! like an external ACS: AReq/ARes, the browser challenge with an SMS OTP, the RReq to the 3DS
//! Server, and the `cres` auto-post back through the browser. Its transactions are stored, so
//! a challenge survives a restart and any instance can serve the next step.
//!
//! Test cards decide the path: see `profile()`. OTP rules follow common issuer practice: a
//! random 6-digit code, 3 wrong entries end the challenge, codes expire, resend after a
//! cooldown invalidates the previous code, the whole challenge times out.

use std::sync::Arc;

use askama::Template;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine;
use rand::{Rng, RngCore};
use secrecy::SecretBox;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{OtpRules, Records, SimConfig, SimForm, html, problem, sms::Outbox};
use crate::{
    clock::Clock,
    domain::{CardBrand, Currency, Locale, Money, Pan, ids::random_token, net::ClientIp},
    i18n::Tr,
    limits::Limiter,
    wire::threeds::{
        ACS_SIGNATURE_HEADER, AReq, ARes, CReq, CRes, MESSAGE_VERSION, RReq, decode_b64url,
        encode_b64url,
    },
};

pub const MAX_OTP_ATTEMPTS: u32 = 3;
pub(crate) const KIND: &str = "acs_txn";

/// What the simulated issuer does with a card number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Frictionless,
    Attempt,
    NotAuthenticated,
    Challenge,
}

pub fn profile(pan: &str) -> Profile {
    match pan {
        "5555555555554444" | "5100000000000057" => Profile::Frictionless,
        "4000000000003014" => Profile::Attempt,
        "4000000000003006" => Profile::NotAuthenticated,
        _ => Profile::Challenge,
    }
}

/// A challenge as the ACS keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Txn {
    acs_trans_id: String,
    ds_trans_id: String,
    server_trans_id: String,
    rreq_url: String,
    notification_url: String,
    merchant_name: String,
    amount: String,
    brand: String,
    phone_masked: String,
    locale: String,
    created_at: i64,
    form_token: String,
    session_data: String,
    /// The code sent last (a simulator's code; the outbox shows it anyway) and when.
    otp: Option<(String, i64)>,
    wrong_attempts: u32,
    resends: u32,
    interactions: u32,
    finished: bool,
}

impl Txn {
    fn locale(&self) -> Locale {
        Locale::parse_lenient(&self.locale)
    }

    fn brand(&self) -> CardBrand {
        CardBrand::parse(&self.brand).unwrap_or(CardBrand::Visa)
    }
}

#[derive(Clone)]
pub struct AcsSim {
    inner: Arc<Inner>,
}

struct Inner {
    txns: Records,
    sms: Outbox,
    clock: Arc<dyn Clock>,
    rules: OtpRules,
    channel_key: SecretBox<Vec<u8>>,
    http: reqwest::Client,
    public_base: String,
    show_outbox_link: bool,
    /// OTP entries per client address and window: guessing codes across transactions.
    limiter: Arc<Limiter>,
}

impl AcsSim {
    pub(crate) fn new(c: &SimConfig, sms: Outbox) -> Self {
        Self {
            inner: Arc::new(Inner {
                txns: Records::new(c.store.clone(), KIND),
                sms,
                clock: c.clock.clone(),
                rules: c.otp.clone(),
                channel_key: SecretBox::new(Box::new(
                    secrecy::ExposeSecret::expose_secret(&c.acs_channel_key).clone(),
                )),
                http: c.http.clone(),
                public_base: c.public_base_of_acs(),
                show_outbox_link: c.show_outbox_link,
                limiter: c.limiter.clone(),
            }),
        }
    }

    pub(crate) fn router(self) -> Router {
        Router::new()
            .route("/areq", post(areq))
            .route("/challenge", post(challenge))
            .route("/challenge/{acs_trans_id}", post(challenge_action))
            .with_state(self)
    }
}

impl SimConfig {
    fn public_base_of_acs(&self) -> String {
        self.acs_public_base.trim_end_matches('/').to_owned()
    }
}

fn cavv() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn otp_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The ECI an issuer reports: Visa/Amex/Troy 05/06/07, Mastercard 02/01/00.
fn eci(brand: CardBrand, status: &str) -> String {
    let mc = brand == CardBrand::Mastercard;
    match (status, mc) {
        ("Y", false) => "05",
        ("Y", true) => "02",
        ("A", false) => "06",
        ("A", true) => "01",
        (_, false) => "07",
        (_, true) => "00",
    }
    .to_owned()
}

/// The browser's language, for pages about no (known) transaction.
pub(crate) fn browser(headers: &HeaderMap) -> Locale {
    Locale::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

// ---------------------------------------------------------------------------------------
// AReq

pub(crate) async fn areq(State(sim): State<AcsSim>, body: axum::body::Bytes) -> Response {
    let Ok(areq) = serde_json::from_slice::<AReq>(&body) else {
        return problem(StatusCode::BAD_REQUEST, "ACS-101", "malformed AReq");
    };
    if areq.message_type != "AReq" {
        return problem(
            StatusCode::BAD_REQUEST,
            "ACS-101",
            "messageType must be AReq",
        );
    }
    // An ACS serves only well-formed numbers of its own card ranges.
    let Ok(card) = Pan::parse(areq.acct_number.expose()) else {
        return problem(StatusCode::BAD_REQUEST, "ACS-102", "card range not served");
    };
    let mut ares = ares_for(&areq);
    let brand = card.brand();
    let (status, reason, value) = match profile(card.expose()) {
        Profile::Frictionless => ("Y", None, Some(cavv())),
        Profile::Attempt => ("A", None, Some(cavv())),
        Profile::NotAuthenticated => ("N", Some("01".to_owned()), None),
        Profile::Challenge => {
            if let Err(resp) = sim.start_challenge(&areq, &ares, &card).await {
                return resp;
            }
            ares.trans_status = "C".into();
            ares.acs_url = Some(format!("{}/challenge", sim.inner.public_base));
            ares.acs_challenge_mandated = Some("Y".into());
            ares.authentication_type = Some("02".into());
            return Json(ares).into_response();
        }
    };
    ares.trans_status = status.into();
    ares.trans_status_reason = reason;
    ares.eci = Some(eci(brand, status));
    ares.authentication_value = value;
    Json(ares).into_response()
}

/// An ARes answering `areq`, its outcome still to fill in.
fn ares_for(areq: &AReq) -> ARes {
    ARes {
        three_ds_server_trans_id: areq.three_ds_server_trans_id.clone(),
        acs_trans_id: uuid::Uuid::new_v4().to_string(),
        ds_trans_id: uuid::Uuid::new_v4().to_string(),
        message_type: "ARes".into(),
        message_version: MESSAGE_VERSION.into(),
        trans_status: String::new(),
        trans_status_reason: None,
        eci: None,
        authentication_value: None,
        acs_url: None,
        acs_challenge_mandated: None,
        authentication_type: None,
    }
}

impl AcsSim {
    /// Keeps a new challenge.
    async fn start_challenge(&self, areq: &AReq, ares: &ARes, card: &Pan) -> Result<(), Response> {
        let locale = Locale::parse_lenient(&areq.browser_language);
        let amount = areq
            .purchase_amount
            .parse::<i64>()
            .ok()
            .zip(Currency::parse(&areq.purchase_currency).ok())
            .and_then(|(minor, cur)| Money::from_minor(minor, cur).ok())
            .map(|m| m.display(locale))
            .unwrap_or_default();
        let pan = card.expose();
        let last2 = pan.get(pan.len().saturating_sub(2)..).unwrap_or_default();
        let now = self.inner.clock.now_ms();
        let txn = Txn {
            acs_trans_id: ares.acs_trans_id.clone(),
            ds_trans_id: ares.ds_trans_id.clone(),
            server_trans_id: areq.three_ds_server_trans_id.clone(),
            rreq_url: areq.three_ds_server_url.clone(),
            notification_url: areq.notification_url.clone(),
            merchant_name: areq.merchant_name.clone(),
            amount,
            brand: card.brand().as_str().to_owned(),
            phone_masked: format!("+90 5** *** ** {last2}"),
            locale: locale.as_str().to_owned(),
            created_at: now,
            form_token: random_token(16),
            session_data: String::new(),
            otp: None,
            wrong_attempts: 0,
            resends: 0,
            interactions: 0,
            finished: false,
        };
        self.inner
            .txns
            .insert(&ares.acs_trans_id, None, &txn, now)
            .await
            .map(|_| ())
            .map_err(super::unavailable)
    }
}

// ---------------------------------------------------------------------------------------
// Challenge pages

#[derive(Template)]
#[template(path = "acs/challenge.html")]
struct ChallengePage {
    tr: Tr,
    action: String,
    form_token: String,
    merchant_name: String,
    amount: String,
    phone: String,
    brand: String,
    attempts_text: String,
    /// A notice (a new code was sent) or, with `error`, what was wrong with the code.
    message: Option<String>,
    error: bool,
    outbox_link: bool,
    acs_trans_id: String,
}

#[derive(Template)]
#[template(path = "acs/message.html")]
struct MessagePage {
    tr: Tr,
    message: String,
}

/// Back to the 3DS Server through the browser.
#[derive(Template)]
#[template(path = "acs/post.html")]
struct PostBack {
    tr: Tr,
    action: String,
    fields: Vec<(String, String)>,
}

fn message(locale: Locale, key: &str, status: StatusCode) -> Response {
    let tr = Tr::new(locale);
    html(
        &MessagePage {
            message: tr.t(key),
            tr,
        },
        status,
    )
}

/// No such transaction: with none, no payment language is known either, so the page speaks
/// the browser's (`Accept-Language`).
fn unknown(browser: Locale) -> Response {
    message(browser, "acs-unknown", StatusCode::NOT_FOUND)
}

impl AcsSim {
    fn page(&self, txn: &Txn, message: Option<String>, error: bool) -> Response {
        let tr = Tr::new(txn.locale());
        let left = MAX_OTP_ATTEMPTS
            .saturating_sub(txn.wrong_attempts)
            .to_string();
        html(
            &ChallengePage {
                action: format!("{}/challenge/{}", self.inner.public_base, txn.acs_trans_id),
                form_token: txn.form_token.clone(),
                merchant_name: txn.merchant_name.clone(),
                amount: txn.amount.clone(),
                phone: txn.phone_masked.clone(),
                brand: txn.brand().display_name().to_owned(),
                attempts_text: tr.t_with("acs-attempts-left", &[("left", &left)]),
                message,
                error,
                outbox_link: self.inner.show_outbox_link,
                acs_trans_id: txn.acs_trans_id.clone(),
                tr,
            },
            StatusCode::OK,
        )
    }

    /// Sends a fresh code: the previous one no longer works.
    async fn send_otp(&self, acs_trans_id: &str) -> Result<(), String> {
        let now = self.inner.clock.now_ms();
        let code = otp_code();
        let sent = self
            .inner
            .txns
            .update(acs_trans_id, now, |t: &mut Txn| {
                t.otp = Some((code.clone(), now));
                t.phone_masked.clone()
            })
            .await
            .map_err(|e| e.to_string())?;
        let phone = sent.ok_or("unknown transaction")?;
        self.inner.sms.send(acs_trans_id, &phone, &code).await
    }

    /// Ends the challenge: RReq to the 3DS Server, then `cres` through the browser.
    async fn finish(
        &self,
        acs_trans_id: &str,
        browser: Locale,
        (status, reason, cancel): (&str, Option<&str>, Option<&str>),
    ) -> Response {
        let now = self.inner.clock.now_ms();
        let ended = self
            .inner
            .txns
            .update(acs_trans_id, now, |t: &mut Txn| {
                t.finished = true;
                t.otp = None;
                t.clone()
            })
            .await;
        let t = match ended {
            Ok(Some(t)) => t,
            Ok(None) => return unknown(browser),
            Err(e) => return super::unavailable(e),
        };
        let rreq = rreq_for(&t, (status, reason, cancel));
        self.send_rreq(&t.rreq_url, &rreq).await;
        post_back(&t, &rreq, status)
    }

    async fn send_rreq(&self, url: &str, rreq: &RReq) {
        let body = serde_json::to_vec(rreq).unwrap_or_default();
        let mac = super::hmac_hex(&self.inner.channel_key, &body);
        let sent = self
            .inner
            .http
            .post(url)
            .header(ACS_SIGNATURE_HEADER, mac)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "RReq refused by the 3DS Server"),
            Err(e) => tracing::warn!(error = %e.without_url(), "RReq could not be delivered"),
        }
    }

    fn timed_out(&self, t: &Txn, now_ms: i64) -> bool {
        let timeout = i64::try_from(self.inner.rules.challenge_timeout_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        now_ms.saturating_sub(t.created_at) > timeout
    }

    /// The challenge page of a transaction, with a message.
    async fn show(&self, acs_trans_id: &str, browser: Locale, key: Option<&str>) -> Response {
        match self.inner.txns.get::<Txn>(acs_trans_id).await {
            Ok(Some(t)) => {
                let left = MAX_OTP_ATTEMPTS
                    .saturating_sub(t.wrong_attempts)
                    .to_string();
                let msg = key.map(|k| Tr::new(t.locale()).t_with(k, &[("left", &left)]));
                let error = key.is_some_and(|k| k != "acs-resent");
                self.page(&t, msg, error)
            }
            Ok(None) => unknown(browser),
            Err(e) => super::unavailable(e),
        }
    }
}

/// The RReq reporting how a challenge ended.
fn rreq_for(t: &Txn, (status, reason, cancel): (&str, Option<&str>, Option<&str>)) -> RReq {
    RReq {
        three_ds_server_trans_id: t.server_trans_id.clone(),
        acs_trans_id: t.acs_trans_id.clone(),
        ds_trans_id: t.ds_trans_id.clone(),
        message_type: "RReq".into(),
        message_version: MESSAGE_VERSION.into(),
        message_category: "01".into(),
        trans_status: status.into(),
        trans_status_reason: reason.map(Into::into),
        eci: Some(eci(t.brand(), status)),
        authentication_value: matches!(status, "Y" | "A").then(cavv),
        challenge_cancel: cancel.map(Into::into),
        interaction_counter: format!("{:02}", t.interactions.min(99)),
        authentication_type: Some("02".into()),
    }
}

/// First CReq from the browser (or the same again): send the OTP and show the challenge.
async fn challenge(
    State(sim): State<AcsSim>,
    headers: HeaderMap,
    SimForm(form): SimForm,
) -> Response {
    let browser = browser(&headers);
    let form = form.unwrap_or_default();
    let get = |n: &str| crate::form::value(&form, n);
    let Some(creq) = decode_b64url::<CReq>(get("creq")) else {
        return message(browser, "acs-invalid", StatusCode::BAD_REQUEST);
    };
    let session_data: String = get("threeDSSessionData").chars().take(1024).collect();
    let now = sim.inner.clock.now_ms();
    let step = sim
        .inner
        .txns
        .update(&creq.acs_trans_id, now, |t: &mut Txn| {
            sim.open(t, &creq, &session_data, now)
        })
        .await;
    let step = match step {
        Ok(step) => step.unwrap_or(Step::Unknown),
        Err(e) => return super::unavailable(e),
    };
    match step {
        Step::SendFirst => {
            if let Err(e) = sim.send_otp(&creq.acs_trans_id).await {
                tracing::error!(error = %e, "OTP SMS could not be sent");
            }
            sim.show(&creq.acs_trans_id, browser, None).await
        }
        Step::Show => sim.show(&creq.acs_trans_id, browser, None).await,
        other => sim.conclude(&creq.acs_trans_id, browser, other).await,
    }
}

/// What one browser action at the ACS leads to.
enum Step {
    Unknown,
    Finished(Locale),
    Forbidden(Locale),
    TimedOut,
    SendFirst,
    Show,
    Cancel,
    Success,
    TooManyWrong,
    Again(&'static str),
    Resend,
}

impl AcsSim {
    /// The answer of a step that ends the challenge or refuses the action.
    async fn conclude(&self, acs_trans_id: &str, browser: Locale, step: Step) -> Response {
        match step {
            Step::Unknown => unknown(browser),
            Step::Finished(locale) => message(locale, "acs-finished", StatusCode::CONFLICT),
            Step::Forbidden(locale) => message(locale, "acs-invalid", StatusCode::FORBIDDEN),
            Step::TimedOut => {
                self.finish(acs_trans_id, browser, ("N", Some("14"), Some("04")))
                    .await
            }
            Step::Cancel => {
                self.finish(acs_trans_id, browser, ("N", Some("01"), Some("01")))
                    .await
            }
            Step::Success => self.finish(acs_trans_id, browser, ("Y", None, None)).await,
            Step::TooManyWrong => {
                self.finish(acs_trans_id, browser, ("N", Some("19"), None))
                    .await
            }
            Step::Resend => {
                if let Err(e) = self.send_otp(acs_trans_id).await {
                    tracing::error!(error = %e, "OTP SMS could not be sent");
                }
                self.show(acs_trans_id, browser, Some("acs-resent")).await
            }
            Step::Again(key) => self.show(acs_trans_id, browser, Some(key)).await,
            Step::SendFirst | Step::Show => self.show(acs_trans_id, browser, None).await,
        }
    }

    /// Decides what a CReq (the browser arriving) does to the transaction.
    fn open(&self, t: &mut Txn, creq: &CReq, session_data: &str, now: i64) -> Step {
        if t.server_trans_id != creq.three_ds_server_trans_id || creq.message_type != "CReq" {
            Step::Unknown
        } else if t.finished {
            Step::Finished(t.locale())
        } else if self.timed_out(t, now) {
            Step::TimedOut
        } else {
            session_data.clone_into(&mut t.session_data);
            if t.otp.is_none() {
                Step::SendFirst
            } else {
                Step::Show
            }
        }
    }

    /// Decides what an OTP entry, resend or cancel does to the transaction.
    fn act(&self, t: &mut Txn, now: i64, (token, action, otp): (&str, &str, &str)) -> Step {
        if t.finished {
            return Step::Finished(t.locale());
        }
        if !bool::from(token.as_bytes().ct_eq(t.form_token.as_bytes())) {
            return Step::Forbidden(t.locale());
        }
        if self.timed_out(t, now) {
            return Step::TimedOut;
        }
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let rules = &self.inner.rules;
        t.interactions += 1;
        match action {
            "cancel" => Step::Cancel,
            "resend" => {
                let since = t.otp.as_ref().map(|o| now - o.1).unwrap_or(i64::MAX);
                if t.resends >= rules.max_resends {
                    Step::Again("acs-resend-limit")
                } else if since < ms(rules.resend_cooldown_secs) {
                    Step::Again("acs-resend-wait")
                } else {
                    t.resends += 1;
                    Step::Resend
                }
            }
            _ => {
                let Some((code, sent_at)) = t.otp.clone() else {
                    return Step::Again("acs-code-expired");
                };
                if now - sent_at > ms(rules.otp_ttl_secs) {
                    // An expired code counts as neither right nor wrong: ask for a new one.
                    t.otp = None;
                    return Step::Again("acs-code-expired");
                }
                if otp.len() == 6 && bool::from(otp.as_bytes().ct_eq(code.as_bytes())) {
                    Step::Success
                } else {
                    t.wrong_attempts += 1;
                    if t.wrong_attempts >= MAX_OTP_ATTEMPTS {
                        Step::TooManyWrong
                    } else {
                        Step::Again("acs-code-wrong")
                    }
                }
            }
        }
    }
}

/// OTP entry, resend and cancel.
async fn challenge_action(
    State(sim): State<AcsSim>,
    Path(acs_trans_id): Path<String>,
    client: Option<axum::Extension<ClientIp>>,
    headers: HeaderMap,
    SimForm(form): SimForm,
) -> Response {
    let browser = browser(&headers);
    let ip = client.map(|c| c.0.0.to_string()).unwrap_or_default();
    let (max, window) = sim.inner.rules.entries_per_window;
    let key = format!("otp:{}", crate::limits::address_key_str(&ip));
    if let Err(wait) = sim.inner.limiter.hit(&key, max, window).await {
        let locale = match sim.inner.txns.get::<Txn>(&acs_trans_id).await {
            Ok(Some(t)) => t.locale(),
            _ => browser,
        };
        let mut resp = message(locale, "acs-too-many", StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let form = form.unwrap_or_default();
    let get = |n: &str| crate::form::value(&form, n);
    let input = (get("form_token"), get("action"), get("otp").trim());
    let now = sim.inner.clock.now_ms();
    let step = sim
        .inner
        .txns
        .update(&acs_trans_id, now, |t: &mut Txn| sim.act(t, now, input))
        .await;
    match step {
        Ok(step) => {
            let step = step.unwrap_or(Step::Unknown);
            sim.conclude(&acs_trans_id, browser, step).await
        }
        Err(e) => super::unavailable(e),
    }
}

/// The page that carries the CRes back to the 3DS requestor's notification URL.
fn post_back(t: &Txn, rreq: &RReq, status: &str) -> Response {
    let cres = CRes {
        three_ds_server_trans_id: rreq.three_ds_server_trans_id.clone(),
        acs_trans_id: rreq.acs_trans_id.clone(),
        message_type: "CRes".into(),
        message_version: MESSAGE_VERSION.into(),
        trans_status: status.into(),
        challenge_completion_ind: "Y".into(),
    };
    let page = PostBack {
        tr: Tr::new(t.locale()),
        action: t.notification_url.clone(),
        fields: vec![
            ("cres".into(), encode_b64url(&cres)),
            ("threeDSSessionData".into(), t.session_data.clone()),
        ],
    };
    html(&page, StatusCode::OK)
}
