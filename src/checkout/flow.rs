//! The moves of a payment after the card form: 3-D Secure, authorisation and the final
//! result. Every move is a compare-and-set; the loser of a race does nothing.

use crate::{
    acquirer::{AuthRequest, AuthResponse, Inquiry, InquiryRequest},
    domain::ids::random_token,
    domain::{Locale, PaymentId},
    error::{ErrorCode, PageError},
    notify::{self, events},
    state::AppState,
    storage::{Cas, ConsentRecord, Effects, PaymentRecord, PaymentUpdate, ReversalRecord},
    threeds::{self, AReq, CReq, CRes, messages},
};

use crate::installments::{BinInfo, Offer};

use super::{
    Status,
    card::{ValidCard, VaultedCard},
    documents::{RenderedDocument, TEMPLATE_VERSION},
};

/// Who submitted the card form: kept with the consent evidence and sent in the AReq.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
    pub accept: String,
}

/// What the browser should do next.
pub enum Next {
    /// The payment has (or will shortly have) its result: show the result page.
    Result,
    /// Auto-post `creq` to the issuer's ACS.
    Challenge {
        acs_url: String,
        creq: String,
        session_data: String,
    },
}

async fn load(state: &AppState, id: &str, locale: Locale) -> Result<PaymentRecord, PageError> {
    state
        .store
        .get_payment(id)
        .await?
        .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, locale))
}

fn apply(p: &mut PaymentRecord, u: &PaymentUpdate, to: Status) {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = &u.$f { p.$f = Some(v.clone()); } )* };
    }
    set!(
        card_brand,
        masked_pan,
        card_holder,
        threeds_server_trans_id,
        acs_trans_id,
        ds_trans_id,
        acs_url,
        trans_status,
        trans_status_reason,
        challenge_cancel,
        eci,
        authentication_value,
        md_status,
        terminal_id,
        proc_return_code,
        auth_code,
        host_ref,
        transaction_id,
        error_code,
        authorised_at,
        client_ip,
        card_bank,
        card_program,
        card_kind,
        attempt_ref
    );
    if let Some(n) = u.installment {
        p.installment = n;
    }
    if let Some(fee) = u.installment_fee_minor {
        p.installment_fee_minor = fee;
    }
    p.status = to.as_str().to_owned();
}

/// Moves a payment to a final status with its signed result, then sends the callback.
/// Returns whether this call made the move.
pub async fn finish(
    state: &AppState,
    payment: &PaymentRecord,
    from: Status,
    to: Status,
    update: PaymentUpdate,
) -> Result<bool, PageError> {
    finish_with(state, payment, from, to, update, None).await
}

/// As `finish`, also storing a reversal to retry (in the same transaction) when the bank may
/// hold an authorisation that the payment's final status does not report.
async fn finish_with(
    state: &AppState,
    payment: &PaymentRecord,
    from: Status,
    to: Status,
    mut update: PaymentUpdate,
    reversal: Option<ReversalRecord>,
) -> Result<bool, PageError> {
    debug_assert!(to.is_final());
    let locale = payment.locale();
    let merchant = state
        .store
        .get_merchant(&payment.merchant_id)
        .await?
        .ok_or_else(|| {
            PageError::internal(locale, anyhow::anyhow!("merchant of payment missing"))
        })?;
    let now = state.clock.now_ms();
    let mut after = payment.clone();
    apply(&mut after, &update, to);
    after.updated_at = now;
    let fields = notify::build_result(&after, &merchant, state)
        .map_err(|e| PageError::internal(locale, e))?;
    update.result_fields =
        Some(serde_json::to_string(&fields).map_err(|e| PageError::internal(locale, e))?);
    let event =
        events::kind_for(to).map(|kind| events::new_event(&merchant, &after, kind, None, now));
    let effects = Effects {
        event: event.as_ref(),
        reversal: reversal.as_ref(),
    };
    match state
        .store
        .transition(&payment.id, from, to, &update, effects, now)
        .await?
    {
        Cas::Done => {
            tracing::info!(payment_id = %payment.id, status = to.as_str(), error_code = update.error_code.as_deref().unwrap_or(""), "payment finished");
            state.events_wake.notify_one();
            if reversal.is_some() {
                // Try it now; the sweeper retries it until the bank acknowledges it.
                tokio::spawn(super::recovery::retry_reversals(state.clone()));
            }
            // Card outcomes feed the card-testing guard: approvals too, so that its limits
            // follow the merchant's own traffic.
            let card_declined = to == Status::Declined
                || update.error_code.as_deref() == Some(ErrorCode::AuthenticationFailed.code());
            if card_declined || to == Status::Approved {
                watch_for_card_testing(state, &after, card_declined).await;
            }
            if let Some(url) = payment.callback_url.clone() {
                tokio::spawn(notify::deliver_callback(
                    state.clone(),
                    payment.id.clone(),
                    url,
                    fields,
                ));
            }
            Ok(true)
        }
        Cas::Lost | Cas::OrderAlreadyPaid => Ok(false),
    }
}

/// Counts a card's outcome for the card-testing guard (`crate::limits`); a block it starts
/// is logged and recorded for the operator.
async fn watch_for_card_testing(state: &AppState, payment: &PaymentRecord, declined: bool) {
    let bin = payment
        .masked_pan
        .as_deref()
        .and_then(|m| m.get(..6))
        .filter(|b| b.bytes().all(|c| c.is_ascii_digit()));
    let outcome = crate::limits::CardOutcome {
        merchant_id: &payment.merchant_id,
        client_ip: payment.client_ip.as_deref(),
        bin,
        declined,
    };
    let blocks =
        crate::limits::record_card_outcome(&state.limiter, &state.settings.limits, &outcome).await;
    for block in blocks {
        tracing::warn!(subject = %block.subject, detail = %block.detail, "card testing suspected: blocked");
        let event = crate::storage::SecurityEvent {
            kind: "card_testing_block".into(),
            subject: block.subject,
            detail: block.detail,
            at: state.clock.now_ms(),
        };
        if let Err(e) = state.store.record_security_event(&event).await {
            tracing::error!(error = %e, "could not record a security event");
        }
    }
}

fn failed(code: ErrorCode) -> PaymentUpdate {
    PaymentUpdate {
        error_code: Some(code.code().to_owned()),
        ..Default::default()
    }
}

/// Ends a payment as `failed` with `code` and the `md_status` its 3-D Secure outcome implies.
async fn fail(
    state: &AppState,
    payment: &PaymentRecord,
    from: Status,
    code: ErrorCode,
    md_status: &str,
) -> Result<Next, PageError> {
    let update = PaymentUpdate {
        md_status: Some(md_status.to_owned()),
        ..failed(code)
    };
    finish(state, payment, from, Status::Failed, update).await?;
    Ok(Next::Result)
}

/// Expires an open payment whose deadline has passed. Payments on their way to the bank are
/// left to the recovery sweep (`checkout::recovery`). Returns whether this call did it.
pub async fn expire_if_due(state: &AppState, payment: &PaymentRecord) -> Result<bool, PageError> {
    if state.clock.now_ms() < payment.expires_at {
        return Ok(false);
    }
    expire_now(state, payment).await
}

/// Ends an open payment now (its deadline passed, or the merchant expired the session).
pub async fn expire_now(state: &AppState, payment: &PaymentRecord) -> Result<bool, PageError> {
    let status = payment.status();
    if !matches!(status, Status::Created | Status::Challenge) {
        return Ok(false);
    }
    finish(
        state,
        payment,
        status,
        Status::Expired,
        failed(ErrorCode::PaymentExpired),
    )
    .await
}

/// The shopper gave up on the card page.
pub async fn cancel(state: &AppState, payment: &PaymentRecord) -> Result<bool, PageError> {
    finish(
        state,
        payment,
        Status::Created,
        Status::Cancelled,
        failed(ErrorCode::CancelledByShopper),
    )
    .await
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

/// The card form was valid: keep the card encrypted with the consent evidence, then run
/// 3-D Secure.
pub async fn submit_card(
    state: &AppState,
    payment: &PaymentRecord,
    merchant_name: &str,
    card: &ValidCard,
    submission: Submission<'_>,
) -> Result<Next, PageError> {
    let Submission {
        client,
        documents,
        offer,
        card_info,
    } = submission;
    let locale = payment.locale();
    let now = state.clock.now_ms();
    let threeds_id = uuid::Uuid::new_v4().to_string();
    let update = PaymentUpdate {
        card_brand: Some(card.pan.brand().as_str().to_owned()),
        masked_pan: Some(card.pan.masked()),
        card_holder: Some(card.holder.as_str().to_owned()),
        threeds_server_trans_id: Some(threeds_id.clone()),
        client_ip: Some(client.ip.clone()).filter(|ip| !ip.is_empty()),
        installment: Some(i64::from(offer.count)),
        installment_fee_minor: Some(offer.fee_minor),
        card_bank: card_info.map(|c| c.bank.clone()),
        card_program: card_info.and_then(|c| c.program.as_ref().map(|p| p.id.clone())),
        card_kind: card_info.map(|c| c.kind.as_str().to_owned()),
        ..Default::default()
    };
    let sealed = state
        .vault
        .encrypt(&VaultedCard::from_valid(card).to_bytes(), &payment.id)
        .map_err(|e| PageError::internal(locale, e))?;
    let consents: Vec<ConsentRecord> = documents
        .iter()
        .map(|d| ConsentRecord {
            payment_id: payment.id.clone(),
            document_kind: d.kind.as_str().to_owned(),
            template_version: TEMPLATE_VERSION.to_owned(),
            text_sha256: d.sha256.clone(),
            accepted_at: now,
            client_ip: client.ip.clone(),
            user_agent: client.user_agent.chars().take(512).collect(),
            locale: locale.as_str().to_owned(),
        })
        .collect();
    match state
        .store
        .submit_card(&payment.id, &update, &sealed, &consents, now)
        .await?
    {
        Cas::Done => {}
        // A second submit of the same form: the first one carries on.
        _ => return Ok(Next::Result),
    }
    let mut payment = payment.clone();
    apply(&mut payment, &update, Status::CardSubmitted);
    payment.updated_at = now;
    // From here on the payment does not belong to the request: 3-D Secure and the
    // authorisation run to the end in a task of their own, whatever becomes of the request.
    let task = tokio::spawn(authenticate(
        state.clone(),
        payment,
        merchant_name.to_owned(),
        client.clone(),
        threeds_id,
    ));
    wait_for(state, task).await
}

/// Waits for a detached step of the journey at most `checkout.outcome_wait_ms`: past it the
/// shopper sees the result page, which keeps waiting (or sends the browser on to the ACS)
/// while the step carries on.
async fn wait_for(
    state: &AppState,
    task: tokio::task::JoinHandle<Result<Next, PageError>>,
) -> Result<Next, PageError> {
    match tokio::time::timeout(state.settings.checkout.outcome_wait(), task).await {
        Ok(Ok(next)) => next,
        Ok(Err(e)) => {
            // The recovery sweep settles whatever the task left in between.
            tracing::error!(error = %e, "checkout task failed");
            Ok(Next::Result)
        }
        Err(_) => Ok(Next::Result),
    }
}

/// The card as the vault holds it, for the AReq and the authorisation.
async fn vaulted_card(
    state: &AppState,
    payment_id: &str,
) -> Result<Option<VaultedCard>, PageError> {
    Ok(match state.store.load_card(payment_id).await? {
        Some(blob) => state
            .vault
            .decrypt(&blob, payment_id)
            .ok()
            .and_then(|plain| VaultedCard::from_bytes(&plain)),
        None => None,
    })
}

async fn authenticate(
    state: AppState,
    payment: PaymentRecord,
    merchant_name: String,
    client: ClientInfo,
    threeds_id: String,
) -> Result<Next, PageError> {
    let (state, payment, merchant_name, client, threeds_id) = (
        &state,
        &payment,
        merchant_name.as_str(),
        &client,
        threeds_id.as_str(),
    );
    let locale = payment.locale();
    let Some(card) = vaulted_card(state, &payment.id).await? else {
        tracing::error!(payment_id = %payment.id, "card data missing at authentication");
        return fail(
            state,
            payment,
            Status::CardSubmitted,
            ErrorCode::Internal,
            "7",
        )
        .await;
    };
    let brand = payment.brand().unwrap_or(crate::domain::CardBrand::Visa);
    // The shopper authenticates what the card will be charged, interest included.
    let money = payment
        .charged()
        .ok_or_else(|| PageError::internal(locale, anyhow::anyhow!("stored amount invalid")))?;
    let now = state.clock.now();
    let areq = AReq {
        three_ds_server_trans_id: threeds_id.to_owned(),
        message_type: "AReq".into(),
        message_version: messages::MESSAGE_VERSION.into(),
        device_channel: "02".into(),
        message_category: "01".into(),
        three_ds_requestor_id: format!("KAPI-{}", payment.merchant_id),
        three_ds_requestor_name: merchant_name.chars().take(40).collect(),
        three_ds_server_url: state
            .settings
            .threeds
            .rreq_url
            .clone()
            .unwrap_or_else(|| state.urls.public("/3ds/rreq")),
        acct_number: card.pan.clone(),
        card_expiry_date: card.expiry.clone(),
        cardholder_name: crate::domain::Sensitive::new(
            payment.card_holder.clone().unwrap_or_default(),
        ),
        purchase_amount: money.minor().to_string(),
        purchase_currency: money.currency().numeric().into(),
        purchase_exponent: money.currency().exponent().to_string(),
        purchase_date: format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        ),
        purchase_instal_data: (payment.installment > 1).then(|| payment.installment.to_string()),
        merchant_name: merchant_name.chars().take(40).collect(),
        acquirer_merchant_id: payment.merchant_id.clone(),
        merchant_country_code: "792".into(),
        notification_url: state.urls.public("/3ds/notify"),
        browser_accept_header: client.accept.chars().take(2048).collect(),
        browser_ip: client.ip.clone(),
        browser_language: locale.as_str().into(),
        browser_user_agent: client.user_agent.chars().take(2048).collect(),
    };
    drop(card);
    let ares = match state.directory.authenticate(&areq).await {
        Ok(ares) => ares,
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, "AReq failed");
            return fail(
                state,
                payment,
                Status::CardSubmitted,
                ErrorCode::AcsUnreachable,
                "7",
            )
            .await;
        }
    };
    let base = PaymentUpdate {
        acs_trans_id: Some(ares.acs_trans_id.clone()),
        ds_trans_id: Some(ares.ds_trans_id.clone()),
        trans_status: Some(ares.trans_status.clone()),
        trans_status_reason: ares.trans_status_reason.clone(),
        ..Default::default()
    };
    match ares.trans_status.as_str() {
        "Y" | "A" => {
            let update = PaymentUpdate {
                eci: Some(
                    ares.eci
                        .clone()
                        .unwrap_or_else(|| threeds::default_eci(brand, &ares.trans_status).into()),
                ),
                authentication_value: ares.authentication_value.clone(),
                md_status: Some(threeds::md_status(&ares.trans_status).into()),
                ..base
            };
            if state
                .store
                .transition(
                    &payment.id,
                    Status::CardSubmitted,
                    Status::Authenticated,
                    &update,
                    Effects::default(),
                    state.clock.now_ms(),
                )
                .await?
                == Cas::Done
            {
                authorise(state, &payment.id, locale).await?;
            }
            Ok(Next::Result)
        }
        "C" => {
            let Some(acs_url) = ares
                .acs_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            else {
                let code = ErrorCode::AuthenticationUnavailable;
                return fail(state, payment, Status::CardSubmitted, code, "6").await;
            };
            let update = PaymentUpdate {
                acs_url: Some(acs_url.clone()),
                ..base
            };
            if state
                .store
                .transition(
                    &payment.id,
                    Status::CardSubmitted,
                    Status::Challenge,
                    &update,
                    Effects::default(),
                    state.clock.now_ms(),
                )
                .await?
                != Cas::Done
            {
                return Ok(Next::Result);
            }
            let creq = CReq {
                three_ds_server_trans_id: threeds_id.to_owned(),
                acs_trans_id: ares.acs_trans_id.clone(),
                challenge_window_size: "05".into(),
                message_type: "CReq".into(),
                message_version: messages::MESSAGE_VERSION.into(),
            };
            Ok(Next::Challenge {
                acs_url,
                creq: messages::encode_b64url(&creq),
                session_data: threeds::session_data(&state.keys, &payment.id, threeds_id),
            })
        }
        other => {
            let code = match other {
                "R" => ErrorCode::AuthenticationRejected,
                "N" => ErrorCode::AuthenticationFailed,
                _ => ErrorCode::AuthenticationUnavailable,
            };
            let update = PaymentUpdate {
                eci: Some(
                    ares.eci
                        .clone()
                        .unwrap_or_else(|| threeds::default_eci(brand, other).into()),
                ),
                md_status: Some(threeds::md_status(other).into()),
                ..PaymentUpdate {
                    error_code: Some(code.code().into()),
                    ..base
                }
            };
            finish(
                state,
                payment,
                Status::CardSubmitted,
                Status::Failed,
                update,
            )
            .await?;
            Ok(Next::Result)
        }
    }
}

/// The challenge of a payment waiting in `challenge`, to send the browser (again) to its ACS:
/// when the card submit's wait ended before the ACS answered, the result page takes over.
pub fn resume_challenge(state: &AppState, payment: &PaymentRecord) -> Option<Next> {
    if payment.status() != Status::Challenge || payment.rreq_received_at.is_some() {
        return None;
    }
    let acs_url = payment.acs_url.clone()?;
    let threeds_id = payment.threeds_server_trans_id.clone()?;
    let creq = CReq {
        three_ds_server_trans_id: threeds_id.clone(),
        acs_trans_id: payment.acs_trans_id.clone()?,
        challenge_window_size: "05".into(),
        message_type: "CReq".into(),
        message_version: messages::MESSAGE_VERSION.into(),
    };
    Some(Next::Challenge {
        acs_url,
        creq: messages::encode_b64url(&creq),
        session_data: threeds::session_data(&state.keys, &payment.id, &threeds_id),
    })
}

/// The browser came back from the ACS with `cres`. The outcome is taken from the RReq the
/// ACS sent server to server; the `cres` must agree with it.
pub async fn complete_challenge(
    state: &AppState,
    cres_b64: &str,
    session_data: &str,
) -> Result<PaymentId, PageError> {
    let bad = |locale| PageError::new(ErrorCode::ChallengeInvalid, locale);
    let cres: CRes = messages::decode_b64url(cres_b64).ok_or_else(|| bad(Locale::Tr))?;
    let claimed_id = session_data.split_once('.').map(|(id, _)| id).unwrap_or("");
    let payment_id = PaymentId::parse(claimed_id).ok_or_else(|| bad(Locale::Tr))?;
    let mut payment = load(state, payment_id.as_str(), Locale::Tr).await?;
    let locale = payment.locale();
    let threeds_id = payment.threeds_server_trans_id.clone().unwrap_or_default();
    if threeds::verify_session_data(&state.keys, session_data, &threeds_id).is_none()
        || cres.message_type != "CRes"
        || cres.three_ds_server_trans_id != threeds_id
        || Some(&cres.acs_trans_id) != payment.acs_trans_id.as_ref()
    {
        return Err(bad(locale));
    }
    // The RReq normally arrives before the browser does; give it a moment if not.
    for _ in 0..30 {
        if payment.status() != Status::Challenge || payment.rreq_received_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        payment = load(state, payment_id.as_str(), locale).await?;
    }
    if payment.status() != Status::Challenge {
        return Err(PageError::new(ErrorCode::ChallengeReplayed, locale));
    }
    let rreq_status = payment.trans_status.clone().unwrap_or_default();
    if payment.rreq_received_at.is_none() || rreq_status != cres.trans_status {
        fail(
            state,
            &payment,
            Status::Challenge,
            ErrorCode::ChallengeInvalid,
            "7",
        )
        .await?;
        return Ok(payment_id);
    }
    match rreq_status.as_str() {
        "Y" | "A" => {
            if state
                .store
                .transition(
                    &payment.id,
                    Status::Challenge,
                    Status::Authenticated,
                    &PaymentUpdate::default(),
                    Effects::default(),
                    state.clock.now_ms(),
                )
                .await?
                == Cas::Done
            {
                // The authorisation runs on its own; the browser waits for it a while.
                let task = tokio::spawn({
                    let state = state.clone();
                    let id = payment.id.clone();
                    async move { authorise(&state, &id, locale).await.map(|()| Next::Result) }
                });
                wait_for(state, task).await?;
            } else {
                return Err(PageError::new(ErrorCode::ChallengeReplayed, locale));
            }
        }
        _ => {
            let (to, code) = if payment.challenge_cancel.as_deref() == Some("01") {
                (Status::Cancelled, ErrorCode::ChallengeCancelled)
            } else if rreq_status == "R" {
                (Status::Failed, ErrorCode::AuthenticationRejected)
            } else if rreq_status == "U" {
                (Status::Failed, ErrorCode::AuthenticationUnavailable)
            } else {
                (Status::Failed, ErrorCode::AuthenticationFailed)
            };
            if !finish(state, &payment, Status::Challenge, to, failed(code)).await? {
                return Err(PageError::new(ErrorCode::ChallengeReplayed, locale));
            }
        }
    }
    Ok(payment_id)
}

/// Charges an authenticated payment once. The compare-and-set to `authorising` is the lock:
/// only its winner talks to the bank, under a reference of its own for this attempt.
pub async fn authorise(
    state: &AppState,
    payment_id: &str,
    locale: Locale,
) -> Result<(), PageError> {
    let terminal = state.acquirer.terminal_id().to_owned();
    let claim = PaymentUpdate {
        terminal_id: Some(terminal.clone()),
        attempt_ref: Some(format!("au_{}", random_token(16))),
        ..Default::default()
    };
    let payment = load(state, payment_id, locale).await?;
    match state
        .store
        .transition(
            payment_id,
            Status::Authenticated,
            Status::Authorising,
            &claim,
            Effects::default(),
            state.clock.now_ms(),
        )
        .await?
    {
        Cas::Done => {}
        Cas::Lost => return Ok(()),
        Cas::OrderAlreadyPaid => {
            finish(
                state,
                &payment,
                Status::Authenticated,
                Status::Failed,
                failed(ErrorCode::OrderAlreadyPaid),
            )
            .await?;
            return Ok(());
        }
    }
    let payment = load(state, payment_id, locale).await?;
    let Some(card) = vaulted_card(state, payment_id).await? else {
        tracing::error!(%payment_id, "card data missing at authorisation");
        finish(
            state,
            &payment,
            Status::Authorising,
            Status::Failed,
            failed(ErrorCode::Internal),
        )
        .await?;
        return Ok(());
    };
    let money = payment
        .charged()
        .ok_or_else(|| PageError::internal(locale, anyhow::anyhow!("stored amount invalid")))?;
    let request = AuthRequest {
        terminal_id: terminal,
        reference: payment.attempt_ref.clone().unwrap_or_default(),
        merchant_id: payment.merchant_id.clone(),
        order_id: payment.order_id.clone(),
        payment_id: payment.id.clone(),
        amount_minor: money.minor(),
        currency: money.currency().numeric().to_owned(),
        installment: payment.installment().count(),
        pan: card.pan,
        expiry: card.expiry,
        cvv: card.cvv,
        eci: payment.eci.clone().unwrap_or_default(),
        cavv: payment.authentication_value.clone(),
        ds_trans_id: payment.ds_trans_id.clone(),
        md_status: payment.md_status.clone().unwrap_or_default(),
    };
    let outcome = state.acquirer.authorise(&request).await;
    // The request held the only plaintext copy of the card; the vault row goes with the
    // final transition below.
    drop(request);
    match outcome {
        Ok(resp) => {
            let (to, update) = answered(state, resp);
            finish(state, &payment, Status::Authorising, to, update).await?;
        }
        Err(e) => {
            tracing::warn!(%payment_id, error = %e, "authorisation answer lost; asking the bank");
            settle_unknown(state, &payment).await?;
        }
    }
    Ok(())
}

/// The final status and columns for the bank's answer to an authorisation.
fn answered(state: &AppState, resp: AuthResponse) -> (Status, PaymentUpdate) {
    if resp.approved() {
        (
            Status::Approved,
            PaymentUpdate {
                proc_return_code: Some(resp.proc_return_code),
                auth_code: Some(resp.auth_code),
                host_ref: Some(resp.host_ref),
                transaction_id: Some(resp.transaction_id),
                authorised_at: Some(state.clock.now_ms()),
                ..Default::default()
            },
        )
    } else {
        (
            Status::Declined,
            PaymentUpdate {
                proc_return_code: Some(resp.proc_return_code),
                host_ref: Some(resp.host_ref).filter(|s| !s.is_empty()),
                transaction_id: Some(resp.transaction_id).filter(|s| !s.is_empty()),
                ..failed(ErrorCode::Declined)
            },
        )
    }
}

/// Ends an `authorising` payment whose answer from the bank is unknown (lost, late, or Kapı
/// stopped while waiting): asks the bank what became of the attempt and reports that; when the
/// bank cannot say, fails the payment and stores a reversal of the attempt, retried until the
/// bank acknowledges it, so that the shopper is never charged for a payment reported as failed.
/// Safe to run from several places at once: the final move is a compare-and-set.
pub async fn settle_unknown(state: &AppState, payment: &PaymentRecord) -> Result<(), PageError> {
    let Some(reference) = payment.attempt_ref.clone() else {
        // Claimed before attempts had references: nothing can be asked; reverse by nothing.
        finish(
            state,
            payment,
            Status::Authorising,
            Status::Failed,
            PaymentUpdate {
                proc_return_code: Some("91".into()),
                ..failed(ErrorCode::BankUnreachable)
            },
        )
        .await?;
        return Ok(());
    };
    let terminal = payment
        .terminal_id
        .clone()
        .unwrap_or_else(|| state.acquirer.terminal_id().to_owned());
    let inquiry = state
        .acquirer
        .inquire(&InquiryRequest {
            terminal_id: terminal.clone(),
            reference: reference.clone(),
        })
        .await;
    match inquiry {
        Ok(Inquiry::Found {
            response,
            reversed: false,
        }) => {
            tracing::info!(payment_id = %payment.id, code = %response.proc_return_code, "lost authorisation answer found by inquiry");
            let (to, update) = answered(state, response);
            finish(state, payment, Status::Authorising, to, update).await?;
            return Ok(());
        }
        Ok(found) => {
            tracing::warn!(payment_id = %payment.id, ?found, "authorisation not booked at the bank; failing it");
        }
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, "inquiry failed; failing the payment and reversing");
        }
    }
    // Not booked (as far as the bank can tell now) or unknown: fail, and reverse whatever the
    // bank may still book under this attempt.
    let now = state.clock.now_ms();
    let settings = &state.settings;
    let secs = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let reversal = ReversalRecord {
        id: format!("rev_{}", random_token(16)),
        payment_id: payment.id.clone(),
        attempt_ref: reference,
        terminal_id: terminal,
        amount_minor: payment.charged_minor(),
        currency: payment
            .charged()
            .map(|m| m.currency().numeric().to_owned())
            .unwrap_or_default(),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        not_found_final_at: payment
            .updated_at
            .saturating_add(secs(settings.acquirer.timeout_secs))
            .saturating_add(secs(settings.checkout.recovery_margin_secs)),
        proc_return_code: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    finish_with(
        state,
        payment,
        Status::Authorising,
        Status::Failed,
        PaymentUpdate {
            proc_return_code: Some("91".into()),
            ..failed(ErrorCode::BankUnreachable)
        },
        Some(reversal),
    )
    .await?;
    Ok(())
}
