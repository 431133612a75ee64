//! The built-in issuer ACS simulator, served under `/sim/acs` and reached by Kapı over HTTP
//! exactly like an external ACS: AReq/ARes, the browser challenge with an SMS OTP, the RReq to
//! the 3DS Server, and the `cres` auto-post back through the browser.
//!
//! Test cards decide the path: see `profile()`. OTP rules follow common issuer practice: a
//! random 6-digit code, 3 wrong entries end the challenge, codes expire, resend after a
//! cooldown invalidates the previous code, the whole challenge times out.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use askama::Template;
use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use rand::{Rng, RngCore};
use secrecy::{ExposeSecret, SecretBox};
use serde::Serialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{ACS_SIGNATURE_HEADER, AReq, ARes, CReq, CRes, RReq, messages};
use crate::{
    clock::Clock,
    config::SimulatorSettings,
    crypto,
    domain::{CardBrand, Currency, Locale, Money, Pan, ids::random_token},
    error::Problem,
    i18n::Tr,
    web::{
        extract::{RawForm, preferred},
        pages::PostRedirect,
    },
};

pub const MAX_OTP_ATTEMPTS: u32 = 3;

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

// ---------------------------------------------------------------------------------------
// SMS

/// An OTP message handed to the SMS gateway.
#[derive(Clone)]
pub struct SmsMessage {
    pub acs_trans_id: String,
    pub phone_masked: String,
    pub code: Zeroizing<String>,
    pub text: String,
}

#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    async fn send(&self, msg: &SmsMessage) -> Result<(), String>;
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub acs_trans_id: String,
    pub phone: String,
    pub code: String,
    pub sent_at: String,
}

/// The simulator's SMS gateway: "sends" by keeping the message for `GET /sim/sms`.
#[derive(Default)]
pub struct SimOutbox {
    entries: Mutex<Vec<OutboxEntry>>,
}

impl SimOutbox {
    pub fn newest_first(&self) -> Vec<OutboxEntry> {
        let mut list = self.entries.lock().map(|l| l.clone()).unwrap_or_default();
        list.reverse();
        list
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new().route("/", get(outbox)).with_state(self)
    }
}

#[async_trait]
impl SmsSender for SimOutbox {
    async fn send(&self, msg: &SmsMessage) -> Result<(), String> {
        let sent_at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let entry = OutboxEntry {
            acs_trans_id: msg.acs_trans_id.clone(),
            phone: msg.phone_masked.clone(),
            code: msg.code.to_string(),
            sent_at,
        };
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| "outbox poisoned".to_string())?;
        entries.push(entry);
        // A simulator, not an archive.
        if entries.len() > 1000 {
            entries.remove(0);
        }
        Ok(())
    }
}

async fn outbox(State(outbox): State<Arc<SimOutbox>>) -> Json<Vec<OutboxEntry>> {
    Json(outbox.newest_first())
}

// ---------------------------------------------------------------------------------------
// State

struct Otp {
    code: Zeroizing<String>,
    sent_at: i64,
}

struct Txn {
    acs_trans_id: String,
    ds_trans_id: String,
    server_trans_id: String,
    rreq_url: String,
    notification_url: String,
    merchant_name: String,
    amount: String,
    brand: CardBrand,
    phone_masked: String,
    locale: Locale,
    created_at: i64,
    form_token: String,
    session_data: String,
    otp: Option<Otp>,
    wrong_attempts: u32,
    resends: u32,
    interactions: u32,
    finished: bool,
}

#[derive(Clone)]
pub struct AcsSim {
    inner: Arc<Inner>,
}

struct Inner {
    settings: SimulatorSettings,
    clock: Arc<dyn Clock>,
    channel_key: SecretBox<Vec<u8>>,
    http: reqwest::Client,
    /// Browser-facing base of the simulator, e.g. `http://127.0.0.1:8080/sim/acs`.
    public_base: String,
    /// Link to the simulated SMS outbox on the challenge page.
    show_outbox_link: bool,
    sms: Arc<dyn SmsSender>,
    txns: Mutex<HashMap<String, Txn>>,
    /// OTP entries per client address and window: guessing codes across transactions.
    limiter: crate::limits::Limiter,
    otp_limit: (u32, u64),
}

/// What the ACS simulator is built from.
pub struct AcsSimConfig {
    pub settings: SimulatorSettings,
    pub clock: Arc<dyn Clock>,
    /// Key of the RReq channel to the 3DS Server.
    pub channel_key: SecretBox<Vec<u8>>,
    /// Browser-facing base of the simulator, e.g. `http://127.0.0.1:8080/sim/acs`.
    pub public_base: String,
    pub show_outbox_link: bool,
    pub sms: Arc<dyn SmsSender>,
    /// OTP entries per client address and window (seconds).
    pub otp_limit: (u32, u64),
    /// For the RReq: with a timeout and no redirects.
    pub http: reqwest::Client,
}

impl AcsSim {
    pub fn new(c: AcsSimConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                limiter: crate::limits::Limiter::in_memory(Arc::clone(&c.clock)),
                settings: c.settings,
                clock: c.clock,
                channel_key: c.channel_key,
                http: c.http,
                public_base: c.public_base,
                show_outbox_link: c.show_outbox_link,
                otp_limit: c.otp_limit,
                sms: c.sms,
                txns: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/areq", post(areq))
            .route("/challenge", post(challenge))
            .route("/challenge/{acs_trans_id}", post(challenge_action))
            .with_state(self)
    }

    fn with_txn<R>(&self, id: &str, f: impl FnOnce(&mut Txn) -> R) -> Option<R> {
        let mut txns = self.inner.txns.lock().ok()?;
        txns.get_mut(id).map(f)
    }
}

fn cavv() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn otp_code() -> Zeroizing<String> {
    Zeroizing::new(format!("{:06}", rand::rng().random_range(0..1_000_000u32)))
}

fn eci(brand: CardBrand, status: &str) -> String {
    super::default_eci(brand, status).to_owned()
}

// ---------------------------------------------------------------------------------------
// AReq

async fn areq(State(sim): State<AcsSim>, body: axum::body::Bytes) -> Response {
    let Ok(areq) = serde_json::from_slice::<AReq>(&body) else {
        return Problem::new(StatusCode::BAD_REQUEST, "ACS-101", "malformed AReq").into_response();
    };
    if areq.message_type != "AReq" {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "ACS-101",
            "messageType must be AReq",
        )
        .into_response();
    }
    // An ACS serves only well-formed numbers of its own card ranges.
    let Ok(card) = Pan::parse(areq.acct_number.expose()) else {
        return Problem::new(StatusCode::BAD_REQUEST, "ACS-102", "card range not served")
            .into_response();
    };
    let (pan, brand) = (card.expose().to_owned(), card.brand());
    let acs_trans_id = uuid::Uuid::new_v4().to_string();
    let ds_trans_id = uuid::Uuid::new_v4().to_string();
    let mut ares = ARes {
        three_ds_server_trans_id: areq.three_ds_server_trans_id.clone(),
        acs_trans_id: acs_trans_id.clone(),
        ds_trans_id: ds_trans_id.clone(),
        message_type: "ARes".into(),
        message_version: messages::MESSAGE_VERSION.into(),
        trans_status: String::new(),
        trans_status_reason: None,
        eci: None,
        authentication_value: None,
        acs_url: None,
        acs_challenge_mandated: None,
        authentication_type: None,
    };
    match profile(&pan) {
        Profile::Frictionless => {
            ares.trans_status = "Y".into();
            ares.eci = Some(eci(brand, "Y"));
            ares.authentication_value = Some(cavv());
        }
        Profile::Attempt => {
            ares.trans_status = "A".into();
            ares.eci = Some(eci(brand, "A"));
            ares.authentication_value = Some(cavv());
        }
        Profile::NotAuthenticated => {
            ares.trans_status = "N".into();
            ares.trans_status_reason = Some("01".into());
            ares.eci = Some(eci(brand, "N"));
        }
        Profile::Challenge => {
            let locale = Locale::parse_lenient(&areq.browser_language);
            let amount = areq
                .purchase_amount
                .parse::<i64>()
                .ok()
                .zip(Currency::parse(&areq.purchase_currency).ok())
                .and_then(|(minor, cur)| Money::from_minor(minor, cur).ok())
                .map(|m| m.display(locale))
                .unwrap_or_default();
            let last2 = pan.get(pan.len().saturating_sub(2)..).unwrap_or_default();
            let txn = Txn {
                acs_trans_id: acs_trans_id.clone(),
                ds_trans_id,
                server_trans_id: areq.three_ds_server_trans_id.clone(),
                rreq_url: areq.three_ds_server_url.clone(),
                notification_url: areq.notification_url.clone(),
                merchant_name: areq.merchant_name.clone(),
                amount,
                brand,
                phone_masked: format!("+90 5** *** ** {last2}"),
                locale,
                created_at: sim.inner.clock.now_secs(),
                form_token: random_token(16),
                session_data: String::new(),
                otp: None,
                wrong_attempts: 0,
                resends: 0,
                interactions: 0,
                finished: false,
            };
            if let Ok(mut txns) = sim.inner.txns.lock() {
                txns.insert(acs_trans_id.clone(), txn);
            }
            ares.trans_status = "C".into();
            ares.acs_url = Some(format!("{}/challenge", sim.inner.public_base));
            ares.acs_challenge_mandated = Some("Y".into());
            ares.authentication_type = Some("02".into());
        }
    }
    Json(ares).into_response()
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
    message: Option<String>,
    outbox_link: bool,
}

#[derive(Template)]
#[template(path = "acs/message.html")]
struct MessagePage {
    tr: Tr,
    message: String,
}

fn html(t: impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "ACS template");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// No such transaction: with none, no payment language is known either, so the page speaks
/// the browser's (`Accept-Language`).
fn unknown(browser: Locale) -> Response {
    message(browser, "acs-unknown", StatusCode::NOT_FOUND)
}

fn message(locale: Locale, key: &str, status: StatusCode) -> Response {
    let tr = Tr::new(locale);
    html(
        MessagePage {
            message: tr.t(key),
            tr,
        },
        status,
    )
}

impl AcsSim {
    fn page(&self, txn: &Txn, message: Option<String>) -> Response {
        let tr = Tr::new(txn.locale);
        html(
            ChallengePage {
                action: format!("{}/challenge/{}", self.inner.public_base, txn.acs_trans_id),
                form_token: txn.form_token.clone(),
                merchant_name: txn.merchant_name.clone(),
                amount: txn.amount.clone(),
                phone: txn.phone_masked.clone(),
                brand: txn.brand.display_name().to_owned(),
                attempts_text: Tr::new(txn.locale).t_with(
                    "acs-attempts-left",
                    &[(
                        "left",
                        &MAX_OTP_ATTEMPTS
                            .saturating_sub(txn.wrong_attempts)
                            .to_string(),
                    )],
                ),
                message,
                outbox_link: self.inner.show_outbox_link,
                tr,
            },
            StatusCode::OK,
        )
    }

    async fn send_otp(&self, acs_trans_id: &str) -> Result<(), String> {
        let now = self.inner.clock.now_secs();
        let code = otp_code();
        let msg = self
            .with_txn(acs_trans_id, |t| {
                t.otp = Some(Otp {
                    code: code.clone(),
                    sent_at: now,
                });
                let tr = Tr::new(t.locale);
                SmsMessage {
                    acs_trans_id: t.acs_trans_id.clone(),
                    phone_masked: t.phone_masked.clone(),
                    code: code.clone(),
                    text: tr.t_with(
                        "acs-sms-text",
                        &[
                            ("code", code.as_str()),
                            ("merchant", &t.merchant_name),
                            ("amount", &t.amount),
                        ],
                    ),
                }
            })
            .ok_or("unknown transaction")?;
        self.inner.sms.send(&msg).await
    }

    /// Ends the challenge: RReq to the 3DS Server, then `cres` through the browser.
    async fn finish(
        &self,
        acs_trans_id: &str,
        browser: Locale,
        status: &str,
        reason: Option<&str>,
        cancel: Option<&str>,
    ) -> Response {
        let Some((rreq, rreq_url, notification_url, session_data, locale)) =
            self.with_txn(acs_trans_id, |t| {
                t.finished = true;
                t.otp = None;
                let ok = matches!(status, "Y" | "A");
                let rreq = RReq {
                    three_ds_server_trans_id: t.server_trans_id.clone(),
                    acs_trans_id: t.acs_trans_id.clone(),
                    ds_trans_id: t.ds_trans_id.clone(),
                    message_type: "RReq".into(),
                    message_version: messages::MESSAGE_VERSION.into(),
                    message_category: "01".into(),
                    trans_status: status.into(),
                    trans_status_reason: reason.map(Into::into),
                    eci: Some(eci(t.brand, status)),
                    authentication_value: ok.then(cavv),
                    challenge_cancel: cancel.map(Into::into),
                    interaction_counter: format!("{:02}", t.interactions.min(99)),
                    authentication_type: Some("02".into()),
                };
                (
                    rreq,
                    t.rreq_url.clone(),
                    t.notification_url.clone(),
                    t.session_data.clone(),
                    t.locale,
                )
            })
        else {
            return unknown(browser);
        };
        let body = serde_json::to_vec(&rreq).unwrap_or_default();
        let mac = crypto::hmac_hex(self.inner.channel_key.expose_secret(), &body);
        let sent = self
            .inner
            .http
            .post(&rreq_url)
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
        let cres = CRes {
            three_ds_server_trans_id: rreq.three_ds_server_trans_id.clone(),
            acs_trans_id: rreq.acs_trans_id.clone(),
            message_type: "CRes".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            trans_status: status.into(),
            challenge_completion_ind: "Y".into(),
        };
        let tr = Tr::new(locale);
        let page = PostRedirect {
            title: tr.t("acs-returning"),
            message: tr.t("acs-returning-text"),
            button: tr.t("continue"),
            action: notification_url,
            fields: vec![
                ("cres".into(), messages::encode_b64url(&cres)),
                ("threeDSSessionData".into(), session_data),
            ],
            delay_ms: 0,
            tr,
        };
        html(page, StatusCode::OK)
    }
}

/// First CReq from the browser: send the OTP and show the challenge.
async fn challenge(
    State(sim): State<AcsSim>,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let browser = preferred(&headers);
    let get = |n: &str| crate::form::value(&form, n);
    let Some(creq) = messages::decode_b64url::<CReq>(get("creq")) else {
        return message(browser, "acs-invalid", StatusCode::BAD_REQUEST);
    };
    let session_data = get("threeDSSessionData")
        .chars()
        .take(1024)
        .collect::<String>();
    let now = sim.inner.clock.now_secs();
    let timeout = i64::try_from(sim.inner.settings.challenge_timeout_secs).unwrap_or(i64::MAX);
    enum Step {
        Unknown,
        Finished(Locale),
        TimedOut,
        SendFirst,
        Show,
    }
    let step = sim
        .with_txn(&creq.acs_trans_id, |t| {
            if t.server_trans_id != creq.three_ds_server_trans_id || creq.message_type != "CReq" {
                Step::Unknown
            } else if t.finished {
                Step::Finished(t.locale)
            } else if now - t.created_at > timeout {
                Step::TimedOut
            } else {
                t.session_data = session_data.clone();
                if t.otp.is_none() {
                    Step::SendFirst
                } else {
                    Step::Show
                }
            }
        })
        .unwrap_or(Step::Unknown);
    match step {
        Step::Unknown => unknown(browser),
        Step::Finished(locale) => message(locale, "acs-finished", StatusCode::CONFLICT),
        Step::TimedOut => {
            sim.finish(&creq.acs_trans_id, browser, "N", Some("14"), Some("04"))
                .await
        }
        Step::SendFirst | Step::Show => {
            if matches!(step, Step::SendFirst)
                && let Err(e) = sim.send_otp(&creq.acs_trans_id).await
            {
                tracing::error!(error = %e, "OTP SMS could not be sent");
            }
            let sim2 = sim.clone();
            sim.with_txn(&creq.acs_trans_id, |t| sim2.page(t, None))
                .unwrap_or_else(|| unknown(browser))
        }
    }
}

/// OTP entry, resend and cancel.
async fn challenge_action(
    State(sim): State<AcsSim>,
    Path(acs_trans_id): Path<String>,
    client: Option<axum::Extension<crate::web::abuse::ClientIp>>,
    headers: HeaderMap,
    RawForm(form): RawForm,
) -> Response {
    let browser = preferred(&headers);
    let ip = client.map(|c| c.0.0.to_string()).unwrap_or_default();
    let (max, window) = sim.inner.otp_limit;
    let key = format!("otp:{}", crate::limits::address_key_str(&ip));
    if let Err(wait) = sim.inner.limiter.hit(&key, max, window).await {
        let locale = sim.with_txn(&acs_trans_id, |t| t.locale).unwrap_or(browser);
        let mut resp = message(locale, "acs-too-many", StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        return resp;
    }
    let get = |n: &str| crate::form::value(&form, n);
    let (token, action, otp) = (
        get("form_token"),
        get("action"),
        get("otp").trim().to_owned(),
    );
    let now = sim.inner.clock.now_secs();
    let s = &sim.inner.settings;
    let timeout = i64::try_from(s.challenge_timeout_secs).unwrap_or(i64::MAX);
    let otp_ttl = i64::try_from(s.otp_ttl_secs).unwrap_or(i64::MAX);
    let cooldown = i64::try_from(s.resend_cooldown_secs).unwrap_or(i64::MAX);
    let max_resends = s.max_resends;

    enum Step {
        Unknown,
        Finished(Locale),
        Forbidden(Locale),
        TimedOut,
        Cancel,
        Success,
        TooManyWrong,
        Again(&'static str),
        Resend,
    }
    let step = sim
        .with_txn(&acs_trans_id, |t| {
            if t.finished {
                return Step::Finished(t.locale);
            }
            if !bool::from(token.as_bytes().ct_eq(t.form_token.as_bytes())) {
                return Step::Forbidden(t.locale);
            }
            if now - t.created_at > timeout {
                return Step::TimedOut;
            }
            t.interactions += 1;
            match action {
                "cancel" => Step::Cancel,
                "resend" => {
                    let since = t.otp.as_ref().map(|o| now - o.sent_at).unwrap_or(i64::MAX);
                    if t.resends >= max_resends {
                        Step::Again("acs-resend-limit")
                    } else if since < cooldown {
                        Step::Again("acs-resend-wait")
                    } else {
                        t.resends += 1;
                        Step::Resend
                    }
                }
                _ => {
                    let Some(current) = &t.otp else {
                        return Step::Again("acs-code-expired");
                    };
                    if now - current.sent_at > otp_ttl {
                        // An expired code counts as neither right nor wrong: ask for a new one.
                        t.otp = None;
                        return Step::Again("acs-code-expired");
                    }
                    let right =
                        otp.len() == 6 && bool::from(otp.as_bytes().ct_eq(current.code.as_bytes()));
                    if right {
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
        })
        .unwrap_or(Step::Unknown);

    match step {
        Step::Unknown => unknown(browser),
        Step::Finished(locale) => message(locale, "acs-finished", StatusCode::CONFLICT),
        Step::Forbidden(locale) => message(locale, "acs-invalid", StatusCode::FORBIDDEN),
        Step::TimedOut => {
            sim.finish(&acs_trans_id, browser, "N", Some("14"), Some("04"))
                .await
        }
        Step::Cancel => {
            sim.finish(&acs_trans_id, browser, "N", Some("01"), Some("01"))
                .await
        }
        Step::Success => sim.finish(&acs_trans_id, browser, "Y", None, None).await,
        Step::TooManyWrong => {
            sim.finish(&acs_trans_id, browser, "N", Some("19"), None)
                .await
        }
        Step::Resend => {
            if let Err(e) = sim.send_otp(&acs_trans_id).await {
                tracing::error!(error = %e, "OTP SMS could not be sent");
            }
            let sim2 = sim.clone();
            sim.with_txn(&acs_trans_id, |t| {
                let msg = Tr::new(t.locale).t("acs-resent");
                sim2.page(t, Some(msg))
            })
            .unwrap_or_else(|| unknown(browser))
        }
        Step::Again(key) => {
            let sim2 = sim.clone();
            sim.with_txn(&acs_trans_id, |t| {
                let tr = Tr::new(t.locale);
                let msg = tr.t_with(
                    key,
                    &[(
                        "left",
                        &MAX_OTP_ATTEMPTS
                            .saturating_sub(t.wrong_attempts)
                            .to_string(),
                    )],
                );
                sim2.page(t, Some(msg))
            })
            .unwrap_or_else(|| unknown(browser))
        }
    }
}
