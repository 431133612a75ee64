//! The moves of a payment after the card form: 3-D Secure, authorisation and the final
//! result. Every move is a compare-and-set; the loser of a race does nothing.
//!
//! Once the card is kept, the payment does not belong to the shopper's request: 3-D Secure and
//! the authorisation run to the end in tasks of their own, and the request only waits for them
//! a while (`checkout.outcome_wait_ms`). What a crash interrupts, `recovery` settles.

use secrecy::ExposeSecret;

use super::{
    CheckoutError, Status,
    card::{ValidCard, VaultedCard},
    documents::{RenderedDocument, TEMPLATE_VERSION},
    gateway::{Gateway, NestpayOrder},
    payment::{
        AcsIds, Authentication, BankAnswer, CardSummary, FailureDetail, Intent, Payment, Transition,
    },
    service::Checkout,
};
use crate::{
    acquirer::{AcquirerError, AuthRequest, AuthResponse, Inquiry, InquiryRequest},
    domain::{
        Installment, Locale, PaymentId, Sensitive,
        ids::random_token,
        threeds::{Eci, MdStatus, ResponseCode, TransStatus},
    },
    error::ErrorCode,
    installments::{BinInfo, Offer},
    merchants,
    notify::{self, events},
    storage::{Cas, ConsentRecord, Effects, ReversalRecord, ReversalStatus},
    threeds::{self, AReq, CReq, CRes, RReq, RRes, messages},
};

/// Who submitted the card form: kept with the consent evidence and sent in the AReq.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
    pub accept: String,
}

/// What the browser should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The payment has (or will shortly have) its result: show the result page.
    Result,
    /// Auto-post `creq` to the issuer's ACS.
    Challenge {
        acs_url: String,
        creq: String,
        session_data: String,
    },
    /// Auto-post the card to the routed bank's own 3-D Secure gate (NestPay's `3d` model).
    BankGate(super::bank_gate::GateForm),
}

impl Next {
    /// The 3-D Secure step this sends the browser to — its 3-D Secure server transaction id,
    /// which is also the bank's order id at a gate — so that a browser coming back without
    /// an outcome is recognised (a fallback or the next card starts a new step).
    pub fn threeds_step(&self) -> Option<String> {
        match self {
            Next::Result => None,
            Next::Challenge { creq, .. } => {
                messages::decode_b64url::<CReq>(creq).map(|c| c.three_ds_server_trans_id)
            }
            Next::BankGate(form) => Some(form.step.clone()),
        }
    }
}

/// What the shopper submitted with the card form, besides the card.
pub struct Submission<'a> {
    pub client: &'a ClientInfo,
    /// The documents as shown, for the consent evidence.
    pub documents: &'a [RenderedDocument],
    /// The way to pay: single payment or the installments chosen, with their interest.
    pub offer: Offer,
    /// What the BIN table says about the card.
    pub card_info: Option<&'a BinInfo>,
}

/// Why an RReq (the ACS's server-to-server outcome of a challenge) was refused.
#[derive(Debug, thiserror::Error)]
pub enum RreqError {
    #[error("RReq signature invalid")]
    BadSignature,
    #[error("{0}")]
    Malformed(&'static str),
    #[error("unknown 3DS transaction")]
    Unknown,
    #[error("transaction is not awaiting a result")]
    NotAwaiting,
    #[error("result already received")]
    AlreadyReceived,
    #[error(transparent)]
    Internal(#[from] CheckoutError),
}

fn internal(locale: Locale) -> impl Fn(anyhow::Error) -> CheckoutError {
    move |e| CheckoutError::internal(e).in_locale(locale)
}

fn fail(code: ErrorCode, detail: FailureDetail) -> Transition {
    Transition::Fail { code, detail }
}

/// The failure of an authorisation whose answer Kapı does not have (its own `91`).
fn bank_unreachable() -> Transition {
    fail(
        ErrorCode::BankUnreachable,
        FailureDetail {
            proc_return_code: Some(ResponseCode::unreachable()),
            ..FailureDetail::default()
        },
    )
}

/// What a terminal said when it refused an authorisation before anything could have been
/// authorised — `96` (system malfunction), `99` (the gateway's own error), PayFor's own
/// gateway codes (`M0xx`, `V0xx`) or a refused connection — so that
/// routing's third rule may try the next terminal; `None` for anything that might have
/// authorised (an approval, an issuer's decline, a lost answer, `91`).
fn refused_before_authorising(
    outcome: &Result<AuthResponse, AcquirerError>,
    platform: &str,
) -> Option<String> {
    let gateways_own = |code: &str| {
        platform == crate::terminals::Platform::Payfor.as_str()
            && (code.starts_with('M') || code.starts_with('V'))
    };
    match outcome {
        Ok(r)
            if matches!(r.proc_return_code.as_str(), "96" | "99")
                || gateways_own(&r.proc_return_code) =>
        {
            Some(r.proc_return_code.clone())
        }
        Err(AcquirerError::NotSent(_)) => Some("connection_refused".to_owned()),
        _ => None,
    }
}

fn failed_md(code: ErrorCode, md: MdStatus) -> Transition {
    fail(
        code,
        FailureDetail {
            md_status: Some(md),
            ..FailureDetail::default()
        },
    )
}

impl Checkout {
    /// Moves a payment to a final status with its signed result, then tells the merchant.
    /// Returns whether this call made the move.
    pub async fn finish(&self, payment: &Payment, t: Transition) -> Result<bool, CheckoutError> {
        self.finish_with(payment, t, None).await
    }

    /// As `finish`, also storing a reversal to retry (in the same transaction) when the bank may
    /// hold an authorisation that the payment's final status does not report.
    async fn finish_with(
        &self,
        payment: &Payment,
        t: Transition,
        reversal: Option<ReversalRecord>,
    ) -> Result<bool, CheckoutError> {
        let locale = payment.locale;
        let merchant = self.merchant_of(payment).await?;
        let now = self.now_ms();
        let mut after = payment
            .apply(t.clone(), now)
            .map_err(|e| internal(locale)(e.into()))?;
        // A decline another card may fix, with attempts left: the shopper gets a second chance
        // instead of the end (no result, no event yet).
        if reversal.is_none() && payment.may_retry(&after) {
            return self.await_retry(payment, t).await;
        }
        let fields = match &payment.gateway {
            Some(Gateway::Nestpay(order)) => self
                .nestpay_result(&after, order)
                .await
                .map_err(|e| e.in_locale(locale))?,
            None => {
                let secret = merchants::secret_key(&self.vault, &merchant)
                    .map_err(|e| internal(locale)(e.into()))?;
                notify::build_result(&after, &secret, self.clock.now_secs())
                    .map_err(|e| internal(locale)(e.into()))?
            }
        };
        after.result = Some(fields.clone());
        // NestPay's callback: its own form, retried through the outbox until `Approved`.
        let callback = match &payment.gateway {
            Some(Gateway::Nestpay(NestpayOrder {
                callback_url: Some(url),
                ..
            })) => Some(events::nestpay_callback(
                &merchant, &after, url, &fields, now,
            )),
            _ => None,
        };
        let attempt = payment.concluded_attempt(&after);
        let event = match events::kind_for(after.status) {
            Some(kind) => {
                let mut attempts = self.storage.payments.attempts(payment.id.as_str()).await?;
                attempts.extend(attempt.clone());
                Some(events::new_event(
                    &merchant, &after, &attempts, kind, None, now,
                ))
            }
            None => None,
        };
        let effects = Effects {
            event: event.as_ref(),
            callback: callback.as_ref(),
            reversal: reversal.as_ref(),
            attempt: attempt.as_ref(),
            ..Effects::default()
        };
        if self.storage.payments.save(payment, &after, effects).await? != Cas::Done {
            return Ok(false);
        }
        tracing::info!(
            payment_id = %after.id,
            merchant_id = %after.merchant_id,
            status = after.status.as_str(),
            error_code = after.error_code.map(|c| c.code()).unwrap_or(""),
            "payment finished"
        );
        crate::observe::payment_finished(
            after.merchant_id.as_str(),
            after.amount.currency().code(),
            after.status.as_str(),
        );
        self.notifier.outbox_written();
        if reversal.is_some() {
            // Try it now; the sweeper retries it until the bank acknowledges it.
            self.tasks
                .spawn(super::recovery::retry_reversals(self.clone()));
        }
        // Card outcomes feed the card-testing guard: approvals too, so that its limits follow
        // the merchant's own traffic. Once per attempt: giving up after a decline counted
        // already is not another card.
        let declined = after.status == Status::Declined
            || after.error_code == Some(ErrorCode::AuthenticationFailed);
        if attempt.is_some() && (declined || after.status.was_authorised()) {
            self.watch_for_card_testing(&after, declined).await;
        }
        if let Some(url) = &after.callback_url {
            self.notifier.send_callback(after.id.as_str(), url, fields);
        }
        Ok(true)
    }

    /// Leaves an authenticated payment of NestPay's `3d` model to the merchant's
    /// authorisation: its 3-D Secure result (signed, without a bank's answer) goes back through
    /// the shopper's browser, and the payment waits for the XML API's `Auth` until its deadline.
    async fn await_merchant(&self, payment: &Payment) -> Result<(), CheckoutError> {
        let locale = payment.locale;
        let Some(Gateway::Nestpay(order)) = &payment.gateway else {
            return Ok(());
        };
        let mut after = payment
            .apply(Transition::AwaitMerchant, self.now_ms())
            .map_err(|e| internal(locale)(e.into()))?;
        after.result = Some(self.nestpay_result(&after, order).await?);
        if self
            .storage
            .payments
            .save(payment, &after, Effects::default())
            .await?
            == Cas::Done
        {
            tracing::info!(payment_id = %after.id, "3-D Secure done; waiting for the merchant's authorisation");
        }
        Ok(())
    }

    /// Ends the card attempt with `t` (a decline or failure another card may fix) and leaves
    /// the payment waiting for the shopper's next card: the attempt is recorded, the guard
    /// counts it, the card data goes, and nothing is sent to the merchant yet.
    async fn await_retry(&self, payment: &Payment, t: Transition) -> Result<bool, CheckoutError> {
        let locale = payment.locale;
        let after = payment
            .await_retry(t, self.now_ms())
            .map_err(|e| internal(locale)(e.into()))?;
        let attempt = payment.concluded_attempt(&after);
        let effects = Effects {
            attempt: attempt.as_ref(),
            ..Effects::default()
        };
        if self.storage.payments.save(payment, &after, effects).await? != Cas::Done {
            return Ok(false);
        }
        tracing::info!(
            payment_id = %after.id,
            attempt = after.attempt,
            error_code = after.error_code.map(|c| c.code()).unwrap_or(""),
            "card declined; the shopper may try another card"
        );
        if matches!(
            after.error_code,
            Some(ErrorCode::Declined | ErrorCode::AuthenticationFailed)
        ) {
            self.watch_for_card_testing(&after, true).await;
        }
        Ok(true)
    }

    /// Counts a card's outcome for the card-testing guard (`crate::limits`); a block it starts
    /// is logged and recorded for the operator.
    async fn watch_for_card_testing(&self, payment: &Payment, declined: bool) {
        let outcome = crate::limits::CardOutcome {
            merchant_id: payment.merchant_id.as_str(),
            client_ip: payment.client_ip.as_deref(),
            bin: payment.card.as_ref().and_then(CardSummary::bin),
            declined,
        };
        let blocks =
            crate::limits::record_card_outcome(&self.guard, &self.settings.limits, &outcome).await;
        for block in blocks {
            tracing::warn!(subject = %block.subject, detail = %block.detail, "card testing suspected: blocked");
            let event = crate::storage::SecurityEvent {
                kind: "card_testing_block".into(),
                subject: block.subject,
                detail: block.detail,
                at: self.now_ms(),
            };
            if let Err(e) = self.storage.security.record_security_event(&event).await {
                tracing::error!(error = %e, "could not record a security event");
            }
        }
    }

    /// Expires an open payment whose deadline has passed. Payments on their way to the bank
    /// are left to the recovery sweep. Returns whether this call did it.
    pub async fn expire_if_due(&self, payment: &Payment) -> Result<bool, CheckoutError> {
        if self.now_ms() < payment.expires_at {
            return Ok(false);
        }
        self.expire_now(payment).await
    }

    /// Ends an open payment now (its deadline passed, or the merchant expired the session). A
    /// payment waiting for another card after a decline ends with that decline's outcome.
    pub async fn expire_now(&self, payment: &Payment) -> Result<bool, CheckoutError> {
        match payment.status {
            Status::Created | Status::Challenge | Status::AwaitingAuthorisation => {
                self.finish(payment, Transition::Expire).await
            }
            Status::AwaitingRetry => self.finish(payment, Transition::GiveUp).await,
            _ => Ok(false),
        }
    }

    /// The shopper gave up: on the card page, or on a challenge that cannot continue.
    pub async fn cancel(&self, payment: &Payment) -> Result<bool, CheckoutError> {
        match payment.status {
            Status::Created => {
                self.finish(payment, Transition::Cancel(ErrorCode::CancelledByShopper))
                    .await
            }
            Status::Challenge => self.abandon_challenge(payment).await,
            // After a decline: back to the merchant with the last attempt's outcome.
            Status::AwaitingRetry => self.finish(payment, Transition::GiveUp).await,
            _ => Ok(false),
        }
    }

    /// The shopper switched the card page's language (only while it waits for a card).
    pub async fn switch_locale(
        &self,
        payment: &Payment,
        locale: Locale,
    ) -> Result<Payment, CheckoutError> {
        let (cas, after) = self
            .step(
                payment,
                Transition::SwitchLocale(locale),
                Effects::default(),
            )
            .await?;
        Ok(if cas == Cas::Done {
            after
        } else {
            self.payment(payment.id.as_str()).await?
        })
    }

    /// The card form was valid: keep the card encrypted with the consent evidence, then run
    /// 3-D Secure (and, without a challenge, the authorisation) in a task of its own, waiting
    /// for it at most `checkout.outcome_wait_ms`.
    pub async fn submit_card(
        &self,
        payment: &Payment,
        merchant_name: &str,
        card: &ValidCard,
        submission: Submission<'_>,
    ) -> Result<Next, CheckoutError> {
        let Submission {
            client,
            documents,
            offer,
            card_info,
        } = submission;
        let locale = payment.locale;
        let now = self.now_ms();
        let sealed = self
            .vault
            .encrypt(
                &VaultedCard::from_valid(card).to_bytes(),
                payment.id.as_str(),
            )
            .map_err(|e| internal(locale)(e.into()))?;
        let consents: Vec<ConsentRecord> = documents
            .iter()
            .map(|d| ConsentRecord {
                payment_id: payment.id.to_string(),
                document_kind: d.kind.as_str().to_owned(),
                template_version: TEMPLATE_VERSION.to_owned(),
                text_sha256: d.sha256.clone(),
                accepted_at: now,
                client_ip: client.ip.clone(),
                user_agent: client.user_agent.chars().take(512).collect(),
                locale: locale.as_str().to_owned(),
                document_data: serde_json::to_string(&d.snapshot).ok(),
            })
            .collect();
        let t = Transition::SubmitCard {
            card: CardSummary {
                brand: card.pan.brand(),
                masked_pan: card.pan.masked(),
                holder: card.holder.as_str().to_owned(),
                bank: card_info.map(|c| c.bank.clone()),
                program: card_info.and_then(|c| c.program.as_ref().map(|p| p.id.clone())),
                kind: card_info.map(|c| c.kind.as_str().to_owned()),
            },
            threeds_server_trans_id: uuid::Uuid::new_v4().to_string(),
            client_ip: Some(client.ip.clone()).filter(|ip| !ip.is_empty()),
            installment: Installment::from_count(i64::from(offer.count))
                .map_err(|e| internal(locale)(e.into()))?,
            installment_fee_minor: offer.fee_minor,
            routing: Some(self.route_card(payment, card_info, offer.count).await?),
        };
        let effects = Effects {
            card: Some(&sealed),
            consents: &consents,
            ..Effects::default()
        };
        let (cas, after) = self.step(payment, t, effects).await?;
        if cas != Cas::Done {
            // A second submit of the same form: the first one carries on.
            return Ok(Next::Result);
        }
        let task = self.tasks.spawn(self.clone().authenticate(
            after,
            merchant_name.to_owned(),
            client.clone(),
        ));
        Ok(self.wait_for(task).await)
    }

    /// Waits for a detached step of the journey at most `checkout.outcome_wait_ms`: past it,
    /// or when the step failed, the shopper sees the result page, which keeps waiting (or
    /// sends the browser on to the ACS) while the step carries on or recovery settles it.
    pub(super) async fn wait_for(
        &self,
        task: tokio::task::JoinHandle<Result<Next, CheckoutError>>,
    ) -> Next {
        match tokio::time::timeout(self.settings.checkout.outcome_wait(), task).await {
            Ok(Ok(Ok(next))) => next,
            Ok(Ok(Err(e))) => {
                let error = e.source.as_ref().map(|s| format!("{s:#}"));
                tracing::error!(
                    code = e.code.code(),
                    error = error.as_deref().unwrap_or(""),
                    "checkout step failed"
                );
                Next::Result
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "checkout task failed");
                Next::Result
            }
            Err(_) => Next::Result,
        }
    }

    /// The card as the vault holds it, for the AReq and the authorisation.
    pub(super) async fn vaulted_card(
        &self,
        payment_id: &str,
    ) -> Result<Option<VaultedCard>, CheckoutError> {
        Ok(match self.storage.payments.load_card(payment_id).await? {
            Some(blob) => self
                .vault
                .decrypt(&blob, payment_id)
                .ok()
                .and_then(|plain| VaultedCard::from_bytes(&plain)),
            None => None,
        })
    }

    fn areq(
        &self,
        payment: &Payment,
        merchant_name: &str,
        card: &VaultedCard,
        client: &ClientInfo,
    ) -> AReq {
        let money = payment.charged();
        let now = self.clock.now();
        let threeds_id = payment
            .threeds
            .as_ref()
            .map(|t| t.server_trans_id.clone())
            .unwrap_or_default();
        AReq {
            three_ds_server_trans_id: threeds_id,
            message_type: "AReq".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            device_channel: "02".into(),
            message_category: "01".into(),
            three_ds_requestor_id: format!("KAPI-{}", payment.merchant_id),
            three_ds_requestor_name: merchant_name.chars().take(40).collect(),
            three_ds_server_url: self
                .settings
                .threeds
                .rreq_url
                .clone()
                .unwrap_or_else(|| self.public_url.join("/3ds/rreq")),
            acct_number: card.pan.clone(),
            card_expiry_date: card.expiry.clone(),
            cardholder_name: Sensitive::new(
                payment
                    .card
                    .as_ref()
                    .map(|c| c.holder.clone())
                    .unwrap_or_default(),
            ),
            purchase_amount: money.minor().to_string(),
            purchase_currency: money.currency().numeric().into(),
            purchase_exponent: money.currency().exponent().to_string(),
            purchase_date: messages::purchase_date(now),
            purchase_instal_data: (payment.installment.count() > 1)
                .then(|| payment.installment.count().to_string()),
            merchant_name: merchant_name.chars().take(40).collect(),
            acquirer_merchant_id: payment.merchant_id.to_string(),
            merchant_country_code: "792".into(),
            notification_url: self.public_url.join("/3ds/notify"),
            browser_accept_header: client.accept.chars().take(2048).collect(),
            browser_ip: client.ip.clone(),
            browser_language: payment.locale.as_str().into(),
            browser_user_agent: client.user_agent.chars().take(2048).collect(),
        }
    }

    /// 3-D Secure for a submitted card: the AReq, then a challenge, a frictionless
    /// authentication (and the authorisation), or a failure.
    async fn authenticate(
        self,
        payment: Payment,
        merchant_name: String,
        client: ClientInfo,
    ) -> Result<Next, CheckoutError> {
        // The routed bank runs 3-D Secure itself: the shopper goes to its gate.
        if super::bank_gate::bank_runs_3ds(&payment) {
            return self.to_bank_gate(payment).await;
        }
        let Some(card) = self.vaulted_card(payment.id.as_str()).await? else {
            tracing::error!(payment_id = %payment.id, "card data missing at authentication");
            self.finish(&payment, failed_md(ErrorCode::Internal, MdStatus::ERROR))
                .await?;
            return Ok(Next::Result);
        };
        let areq = self.areq(&payment, &merchant_name, &card, &client);
        drop(card);
        let ares = match self.directory.authenticate(&areq).await {
            Ok(ares) => ares,
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, error = %e, "AReq failed");
                self.finish(
                    &payment,
                    failed_md(ErrorCode::AcsUnreachable, MdStatus::ERROR),
                )
                .await?;
                return Ok(Next::Result);
            }
        };
        let brand = payment.brand().unwrap_or(crate::domain::CardBrand::Visa);
        let acs = AcsIds {
            acs_trans_id: ares.acs_trans_id.clone(),
            ds_trans_id: ares.ds_trans_id.clone(),
        };
        let Ok(status) = TransStatus::parse(&ares.trans_status) else {
            let t = failed_md(ErrorCode::AuthenticationUnavailable, MdStatus::ERROR);
            self.finish(&payment, t).await?;
            return Ok(Next::Result);
        };
        let authentication = Authentication {
            trans_status: status,
            trans_status_reason: ares.trans_status_reason.clone(),
            eci: Some(
                ares.eci
                    .as_deref()
                    .and_then(|e| Eci::parse(e).ok())
                    .unwrap_or_else(|| threeds::default_eci(brand, status)),
            ),
            authentication_value: ares.authentication_value.clone(),
        };
        match status {
            TransStatus::Y | TransStatus::A => {
                let t = Transition::Frictionless {
                    acs,
                    authentication,
                };
                let (cas, after) = self.step(&payment, t, Effects::default()).await?;
                if cas == Cas::Done {
                    self.authorise(after.id.as_str(), after.locale).await?;
                }
                Ok(Next::Result)
            }
            TransStatus::C => {
                let acs_url = ares
                    .acs_url
                    .clone()
                    .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
                let Some(acs_url) = acs_url else {
                    let t = failed_md(ErrorCode::AuthenticationUnavailable, MdStatus::UNAVAILABLE);
                    self.finish(&payment, t).await?;
                    return Ok(Next::Result);
                };
                let t = Transition::Challenge { acs, acs_url };
                let (cas, after) = self.step(&payment, t, Effects::default()).await?;
                if cas != Cas::Done {
                    return Ok(Next::Result);
                }
                Ok(self.resume_challenge(&after).unwrap_or(Next::Result))
            }
            other => {
                let code = match other {
                    TransStatus::R => ErrorCode::AuthenticationRejected,
                    TransStatus::N => ErrorCode::AuthenticationFailed,
                    _ => ErrorCode::AuthenticationUnavailable,
                };
                let detail = FailureDetail {
                    acs: Some(acs),
                    authentication: Some(authentication),
                    ..FailureDetail::default()
                };
                self.finish(&payment, fail(code, detail)).await?;
                Ok(Next::Result)
            }
        }
    }

    /// The challenge of a payment waiting in `challenge`, to send the browser (again) to its
    /// ACS: when the card submit's wait ended before the ACS answered, the result page takes
    /// over.
    pub fn resume_challenge(&self, payment: &Payment) -> Option<Next> {
        let t = payment.threeds.as_ref()?;
        if payment.status != Status::Challenge || t.rreq_received_at.is_some() {
            return None;
        }
        let creq = CReq {
            three_ds_server_trans_id: t.server_trans_id.clone(),
            acs_trans_id: t.acs_trans_id.clone()?,
            challenge_window_size: "05".into(),
            message_type: "CReq".into(),
            message_version: messages::MESSAGE_VERSION.into(),
        };
        Some(Next::Challenge {
            acs_url: t.acs_url.clone()?,
            creq: messages::encode_b64url(&creq),
            session_data: threeds::session_data(
                &self.keys.threeds_session,
                payment.id.as_str(),
                &t.server_trans_id,
            ),
        })
    }

    /// The ACS reports a challenge's outcome server to server (RReq): recorded once, while the
    /// payment is in `challenge`.
    pub async fn record_rreq(&self, body: &[u8], mac: &str) -> Result<RRes, RreqError> {
        if !crate::crypto::verify_hmac_hex(self.keys.acs_channel.expose_secret(), body, mac) {
            return Err(RreqError::BadSignature);
        }
        let rreq: RReq =
            serde_json::from_slice(body).map_err(|_| RreqError::Malformed("malformed RReq"))?;
        if rreq.message_type != "RReq" {
            return Err(RreqError::Malformed("messageType must be RReq"));
        }
        let status = TransStatus::parse(&rreq.trans_status)
            .map_err(|_| RreqError::Malformed("transStatus is not an EMV 3DS value"))?;
        let payment = self
            .storage
            .payments
            .find_payment_by_threeds_id(&rreq.three_ds_server_trans_id)
            .await
            .map_err(CheckoutError::from)?
            .filter(|p| {
                p.threeds.as_ref().and_then(|t| t.acs_trans_id.as_deref())
                    == Some(rreq.acs_trans_id.as_str())
            })
            .ok_or(RreqError::Unknown)?;
        if payment.status != Status::Challenge {
            return Err(RreqError::NotAwaiting);
        }
        let brand = payment.brand().unwrap_or(crate::domain::CardBrand::Visa);
        let t = Transition::ChallengeOutcome {
            authentication: Authentication {
                trans_status: status,
                trans_status_reason: rreq.trans_status_reason.clone(),
                eci: Some(
                    rreq.eci
                        .as_deref()
                        .and_then(|e| Eci::parse(e).ok())
                        .unwrap_or_else(|| threeds::default_eci(brand, status)),
                ),
                authentication_value: rreq.authentication_value.clone(),
            },
            challenge_cancel: rreq.challenge_cancel.clone(),
            ds_trans_id: rreq.ds_trans_id.clone(),
            received_at: self.now_ms(),
        };
        let after = payment
            .apply(t, self.now_ms())
            .map_err(|_| RreqError::AlreadyReceived)?;
        let cas = self
            .storage
            .payments
            .save(&payment, &after, Effects::default())
            .await
            .map_err(CheckoutError::from)?;
        if cas != Cas::Done {
            return Err(RreqError::AlreadyReceived);
        }
        crate::observe::threeds_outcome("rreq", &rreq.trans_status);
        Ok(RRes {
            three_ds_server_trans_id: rreq.three_ds_server_trans_id,
            acs_trans_id: rreq.acs_trans_id,
            ds_trans_id: rreq.ds_trans_id,
            message_type: "RRes".into(),
            message_version: messages::MESSAGE_VERSION.into(),
            results_status: "01".into(),
        })
    }

    /// The browser came back from the ACS with `cres`. The outcome is taken from the RReq the
    /// ACS sent server to server; the `cres` must agree with it.
    pub async fn complete_challenge(
        &self,
        cres_b64: &str,
        session_data: &str,
    ) -> Result<PaymentId, CheckoutError> {
        let bad = |locale| CheckoutError::new(ErrorCode::ChallengeInvalid).in_locale(locale);
        let cres: CRes = messages::decode_b64url(cres_b64).ok_or_else(|| bad(Locale::Tr))?;
        let claimed_id = session_data.split_once('.').map(|(id, _)| id).unwrap_or("");
        let payment_id = PaymentId::parse(claimed_id).map_err(|_| bad(Locale::Tr))?;
        let mut payment = self
            .payment(payment_id.as_str())
            .await
            .map_err(|e| e.in_locale(Locale::Tr))?;
        let locale = payment.locale;
        let t = payment.threeds.clone().ok_or_else(|| bad(locale))?;
        if threeds::verify_session_data(
            &self.keys.threeds_session,
            session_data,
            &t.server_trans_id,
        )
        .is_none()
            || cres.message_type != "CRes"
            || cres.three_ds_server_trans_id != t.server_trans_id
            || Some(&cres.acs_trans_id) != t.acs_trans_id.as_ref()
        {
            return Err(bad(locale));
        }
        // The RReq normally arrives before the browser does; give it a moment if not.
        for _ in 0..30 {
            let received = payment
                .threeds
                .as_ref()
                .is_some_and(|t| t.rreq_received_at.is_some());
            if payment.status != Status::Challenge || received {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            payment = self.payment(payment_id.as_str()).await?;
        }
        let replayed = || CheckoutError::new(ErrorCode::ChallengeReplayed).in_locale(locale);
        if payment.status != Status::Challenge {
            return Err(replayed());
        }
        let t = payment.threeds.clone().unwrap_or(t);
        let outcome = t.trans_status.filter(|_| t.rreq_received_at.is_some());
        if outcome.is_none_or(|s| s.as_str() != cres.trans_status) {
            let t = failed_md(ErrorCode::ChallengeInvalid, MdStatus::ERROR);
            self.finish(&payment, t).await?;
            return Ok(payment_id);
        }
        if !self.finish_challenge(&payment).await? {
            return Err(replayed());
        }
        Ok(payment_id)
    }

    /// Ends a challenge whose outcome the ACS reported (RReq): on to the authorisation (which
    /// the browser waits for a while), or the final status it calls for. The RReq is the
    /// outcome; the browser's CRes is not needed, so this also ends a challenge whose shopper
    /// never came back (the result page, or recovery, calls it then). Returns whether this call
    /// moved the payment.
    pub async fn finish_challenge(&self, payment: &Payment) -> Result<bool, CheckoutError> {
        let locale = payment.locale;
        let Some(t) = payment.threeds.as_ref() else {
            return Ok(false);
        };
        let Some(outcome) = t.trans_status.filter(|_| t.rreq_received_at.is_some()) else {
            return Ok(false);
        };
        if payment.status != Status::Challenge {
            return Ok(false);
        }
        if outcome.authenticated() {
            let (cas, _) = self
                .step(payment, Transition::ChallengePassed, Effects::default())
                .await?;
            if cas != Cas::Done {
                return Ok(false);
            }
            // The authorisation runs on its own; the browser waits for it a while.
            let task = self.tasks.spawn({
                let checkout = self.clone();
                let id = payment.id.to_string();
                async move {
                    checkout.authorise(&id, locale).await?;
                    Ok(Next::Result)
                }
            });
            self.wait_for(task).await;
            return Ok(true);
        }
        let t = if t.challenge_cancel.as_deref() == Some("01") {
            Transition::Cancel(ErrorCode::ChallengeCancelled)
        } else {
            let code = match outcome {
                TransStatus::R => ErrorCode::AuthenticationRejected,
                TransStatus::U => ErrorCode::AuthenticationUnavailable,
                _ => ErrorCode::AuthenticationFailed,
            };
            fail(code, FailureDetail::default())
        };
        self.finish(payment, t).await
    }

    /// The shopper gave up on a challenge that cannot continue (back from the issuer's page
    /// without an outcome): the payment ends as cancelled at 3-D Secure, and the merchant hears
    /// it. Only while no outcome arrived: an RReq already recorded decides instead.
    pub async fn abandon_challenge(&self, payment: &Payment) -> Result<bool, CheckoutError> {
        let answered = payment
            .threeds
            .as_ref()
            .is_some_and(|t| t.rreq_received_at.is_some());
        if payment.status != Status::Challenge {
            return Ok(false);
        }
        if answered {
            return self.finish_challenge(payment).await;
        }
        self.finish(payment, Transition::Cancel(ErrorCode::ChallengeCancelled))
            .await
    }

    /// Charges an authenticated payment once. The compare-and-set to `authorising` is the
    /// lock: only its winner talks to the bank, under a reference of its own for this attempt.
    pub async fn authorise(&self, payment_id: &str, locale: Locale) -> Result<(), CheckoutError> {
        self.authorise_as(payment_id, locale, None)
            .await
            .map(|_| ())
    }

    /// As `authorise`; `intent`, when given, is what the merchant asked for now (NestPay's
    /// `3d` model: an XML `Auth` or `PreAuth`), else the payment's own. Whether this call
    /// decided the payment (false: another call claimed it, or it was not waiting for one).
    pub(super) async fn authorise_as(
        &self,
        payment_id: &str,
        locale: Locale,
        intent: Option<Intent>,
    ) -> Result<bool, CheckoutError> {
        let payment = self
            .payment(payment_id)
            .await
            .map_err(|e| e.in_locale(locale))?;
        // NestPay's `3d` model: the merchant's server authorises, through the XML API.
        if payment.status == Status::Authenticated
            && payment
                .gateway
                .as_ref()
                .is_some_and(Gateway::merchant_authorises)
        {
            return self.await_merchant(&payment).await.map(|_| false);
        }
        if !matches!(
            payment.status,
            Status::Authenticated | Status::AwaitingAuthorisation
        ) {
            // Claimed (or ended) by another call already.
            return Ok(false);
        }
        // The terminal routing chose at the card's submit (the default one for a payment
        // submitted before terminals existed).
        let terminal_id = payment
            .routing
            .as_ref()
            .map(|r| r.terminal_id.clone())
            .unwrap_or_else(|| self.settings.acquirer.terminal_id.clone());
        let (acquirer, bank_terminal_id) = match self.acquirer_for(&terminal_id).await {
            Ok(a) => a,
            Err(e) => {
                let error = e.source.as_ref().map(|s| format!("{s:#}"));
                tracing::error!(%payment_id, %terminal_id, error = error.as_deref().unwrap_or(""), "no connector for the routed terminal");
                let t = fail(ErrorCode::Internal, FailureDetail::default());
                self.finish(&payment, t).await?;
                return Ok(true);
            }
        };
        // A bank that ran 3-D Secure itself knows the order by the id its gate was given.
        let bank_3ds = super::bank_gate::bank_runs_3ds(&payment);
        let attempt_ref = match payment.threeds.as_ref() {
            Some(t) if bank_3ds => t.server_trans_id.clone(),
            _ => format!("au_{}", random_token(16)),
        };
        let claim = Transition::Claim {
            terminal_id,
            attempt_ref,
            intent: intent.unwrap_or(payment.intent),
        };
        let payment = match self.step(&payment, claim, Effects::default()).await? {
            (Cas::Done, claimed) => claimed,
            (Cas::Lost, _) => return Ok(false),
            (Cas::OrderAlreadyPaid, _) => {
                // This call ended the payment (failed): its answer is that.
                let t = fail(ErrorCode::OrderAlreadyPaid, FailureDetail::default());
                self.finish(&payment, t).await?;
                return Ok(true);
            }
        };
        let Some(card) = self.vaulted_card(payment_id).await? else {
            tracing::error!(%payment_id, "card data missing at authorisation");
            self.finish(
                &payment,
                fail(ErrorCode::Internal, FailureDetail::default()),
            )
            .await?;
            return Ok(true);
        };
        let money = payment.charged();
        let request = AuthRequest {
            terminal_id: bank_terminal_id,
            reference: payment.attempt_ref().unwrap_or_default().to_owned(),
            merchant_id: payment.merchant_id.to_string(),
            order_id: payment.order_id.to_string(),
            payment_id: payment.id.to_string(),
            amount_minor: money.minor(),
            currency: money.currency().numeric().to_owned(),
            installment: payment.installment.count(),
            pan: card.pan,
            expiry: card.expiry,
            cvv: card.cvv,
            eci: payment
                .threeds
                .as_ref()
                .and_then(|t| t.eci.as_ref())
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            cavv: payment
                .threeds
                .as_ref()
                .and_then(|t| t.authentication_value.clone()),
            ds_trans_id: payment.threeds.as_ref().and_then(|t| t.ds_trans_id.clone()),
            md_status: payment
                .threeds
                .as_ref()
                .and_then(|t| t.md_status)
                .map(|m| m.to_string())
                .unwrap_or_default(),
            preauth: payment.intent == Intent::PreAuth,
            md: payment
                .threeds
                .as_ref()
                .and_then(|t| t.acs_trans_id.clone())
                .filter(|_| bank_3ds)
                .map(Sensitive::new),
            xid: payment
                .threeds
                .as_ref()
                .and_then(|t| t.ds_trans_id.clone())
                .filter(|_| bank_3ds),
            client_ip: payment.client_ip.clone().unwrap_or_default(),
        };
        let outcome = acquirer.authorise(&request).await;
        // The request held the only plaintext copy of the card; the vault row goes with the
        // final move below.
        drop(request);
        let platform = payment.routing.as_ref().map(|r| r.platform.as_str());
        if let Some(refusal) = refused_before_authorising(&outcome, platform.unwrap_or_default())
            && self.reroute(&payment, &refusal).await?
        {
            return Ok(true);
        }
        match outcome {
            Ok(resp) => {
                let t = self.answered(resp)?;
                self.finish(&payment, t).await?;
            }
            Err(AcquirerError::NotSent(e)) => {
                // Nothing reached the bank: nothing to ask or reverse.
                tracing::warn!(%payment_id, error = %e, "bank refused the connection");
                self.finish(&payment, bank_unreachable()).await?;
            }
            Err(e) => {
                tracing::warn!(%payment_id, error = %e, "authorisation answer lost; asking the bank");
                self.settle_unknown(&payment).await?;
            }
        }
        Ok(true)
    }

    /// Routing's third rule: a single payment its terminal refused before anything could
    /// have been authorised goes once to the merchant's next terminal, with a new 3-D Secure
    /// step there (run now; the shopper's result page sends the browser to its challenge or
    /// its bank's gate). Whether it went on. Never for installments, never a second time,
    /// never where the merchant's server authorises (NestPay's `3d` model: no shopper here).
    async fn reroute(&self, payment: &Payment, refusal: &str) -> Result<bool, CheckoutError> {
        let Some(routing) = self.fallback_route(payment, refusal).await? else {
            return Ok(false);
        };
        let from = payment.routing.as_ref().map(|r| r.terminal_id.as_str());
        tracing::warn!(payment_id = %payment.id, from = from.unwrap_or(""), to = %routing.terminal_id, refusal, "terminal refused before authorising; trying the next one");
        let t = Transition::Reroute {
            routing,
            threeds_server_trans_id: uuid::Uuid::new_v4().to_string(),
        };
        let (cas, after) = self.step(payment, t, Effects::default()).await?;
        if cas != Cas::Done {
            // Moved by someone else (recovery): theirs is the outcome.
            return Ok(true);
        }
        let merchant = self.merchant_of(&after).await?;
        let client = self.client_of(&after).await?;
        let task = self
            .tasks
            .spawn(self.clone().authenticate_task(after, merchant.name, client));
        // The shopper's request (a card submit, an ACS's or a bank's return) waits for the new
        // step as it did for the first, so the result page can send the browser on.
        self.wait_for(task).await;
        Ok(true)
    }

    /// `authenticate` as a task of its own (a fallback starts one from inside an
    /// authorisation, which `authenticate` itself may have started).
    fn authenticate_task(
        self,
        payment: Payment,
        merchant_name: String,
        client: ClientInfo,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Next, CheckoutError>> + Send>> {
        Box::pin(self.authenticate(payment, merchant_name, client))
    }

    /// The shopper's browser as the card submit recorded it (address, and the user agent of
    /// the consent evidence), for a 3-D Secure step that starts without a request of theirs.
    async fn client_of(&self, payment: &Payment) -> Result<ClientInfo, CheckoutError> {
        let consents = self.storage.payments.consents(payment.id.as_str()).await?;
        Ok(ClientInfo {
            ip: payment.client_ip.clone().unwrap_or_default(),
            user_agent: consents
                .first()
                .map(|c| c.user_agent.clone())
                .unwrap_or_default(),
            accept: "text/html".to_owned(),
        })
    }

    /// The move for the bank's answer to an authorisation.
    fn answered(&self, resp: AuthResponse) -> Result<Transition, CheckoutError> {
        let answer = BankAnswer {
            proc_return_code: ResponseCode::parse(&resp.proc_return_code)
                .map_err(|e| CheckoutError::internal(anyhow::Error::from(e)))?,
            auth_code: Some(resp.auth_code),
            host_ref: Some(resp.host_ref),
            transaction_id: Some(resp.transaction_id),
        };
        Ok(if answer.proc_return_code.approved() {
            Transition::Approve {
                answer,
                at: self.now_ms(),
            }
        } else {
            Transition::Decline { answer }
        })
    }

    /// Ends an `authorising` payment whose answer from the bank is unknown (lost, late, or
    /// Kapı stopped while waiting): asks the bank what became of the attempt and reports that;
    /// when the bank cannot say, fails the payment and stores a reversal of the attempt,
    /// retried until the bank acknowledges it, so that the shopper is never charged for a
    /// payment reported as failed. Safe to run from several places at once: the final move is
    /// a compare-and-set.
    pub async fn settle_unknown(&self, payment: &Payment) -> Result<(), CheckoutError> {
        let unreachable = bank_unreachable;
        let Some(reference) = payment.attempt_ref().map(str::to_owned) else {
            // Claimed before attempts had references: nothing can be asked.
            self.finish(payment, unreachable()).await?;
            return Ok(());
        };
        let terminal = payment
            .authorisation
            .as_ref()
            .map(|a| a.terminal_id.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| self.settings.acquirer.terminal_id.clone());
        let inquiry = match self.acquirer_for(&terminal).await {
            Ok((acquirer, bank_terminal_id)) => {
                acquirer
                    .inquire(&InquiryRequest {
                        terminal_id: bank_terminal_id,
                        reference: reference.clone(),
                    })
                    .await
            }
            Err(e) => Err(crate::acquirer::AcquirerError::Unreachable(format!(
                "no connector for terminal {terminal}: {}",
                e.code.code()
            ))),
        };
        match inquiry {
            Ok(Inquiry::Found {
                response,
                reversed: false,
            }) => {
                tracing::info!(payment_id = %payment.id, code = %response.proc_return_code, "lost authorisation answer found by inquiry");
                let t = self.answered(response)?;
                self.finish(payment, t).await?;
                return Ok(());
            }
            Ok(found) => {
                tracing::warn!(payment_id = %payment.id, ?found, "authorisation not booked at the bank; failing it");
            }
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, error = %e, "inquiry failed; failing the payment and reversing");
            }
        }
        // Not booked (as far as the bank can tell now) or unknown: fail, and reverse whatever
        // the bank may still book under this attempt.
        let now = self.now_ms();
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let reversal = ReversalRecord {
            id: format!("rev_{}", random_token(16)),
            payment_id: payment.id.to_string(),
            attempt_ref: reference,
            terminal_id: terminal,
            amount_minor: payment.charged_minor(),
            currency: payment.currency().numeric().to_owned(),
            status: ReversalStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            lease_until: None,
            not_found_final_at: payment
                .updated_at
                .saturating_add(ms(self.settings.acquirer.timeout_secs))
                .saturating_add(ms(self.settings.checkout.recovery_margin_secs)),
            proc_return_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        self.finish_with(payment, unreachable(), Some(reversal))
            .await?;
        Ok(())
    }
}
