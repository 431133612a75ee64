//! The card page, its submit, cancel, and the result page.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::ExposeSecret;
use tower_sessions::Session;

use super::{
    extract::{Client, Preferred, RawForm},
    pages::{self, CardFormValues, InstallmentFragment, InstallmentPart},
    session,
};
use crate::{
    checkout::{
        Status,
        card::{self, CardInput},
        documents,
        flow::{self, Next},
    },
    crypto,
    domain::{Locale, PaymentId},
    error::{ErrorCode, PageError},
    installments::{Choices, InstallmentPlan, Offer},
    state::AppState,
    storage::{MerchantRecord, PaymentRecord},
};

/// How a request shows it may act on a payment: the browser session must hold it, and a form
/// must also carry the payment's CSRF token of that session.
enum Access<'a> {
    /// Pages.
    Session,
    /// Forms, with their token.
    Form(&'a str),
}

/// Loads a payment for the browser that started it, expiring it first when it is overdue.
async fn load_owned(
    state: &AppState,
    session: &Session,
    id: &str,
    access: Access<'_>,
    preferred: Locale,
) -> Result<(PaymentRecord, MerchantRecord), PageError> {
    let id = PaymentId::parse(id)
        .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, preferred))?;
    let mut payment = state
        .store
        .get_payment(id.as_str())
        .await?
        .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, preferred))?;
    let locale = payment.locale();
    session::require_payment(session, id.as_str(), locale).await?;
    if let Access::Form(token) = access {
        session::check_csrf(&state.keys, session, id.as_str(), token, locale).await?;
    }
    // Every visit renews the session; it lasts at least as long as the payment is open.
    session::keep_alive(session, payment.expires_at, state.clock.now_ms());
    if state.clock.now_ms() >= payment.expires_at {
        // Past the deadline: expire it, or see how the sweeper (which may have won) left it.
        flow::expire_if_due(state, &payment).await?;
        payment = state
            .store
            .get_payment(id.as_str())
            .await?
            .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, locale))?;
    }
    let merchant = state
        .store
        .get_merchant(&payment.merchant_id)
        .await?
        .ok_or_else(|| PageError::internal(locale, anyhow::anyhow!("merchant missing")))?;
    Ok((payment, merchant))
}

fn to_result(id: &str) -> Response {
    Redirect::to(&format!("/checkout/{id}/result")).into_response()
}

/// Whether the shopper chooses the installments on this payment's card page: the merchant
/// has a plan, did not fix the count when starting the payment, and the payment is in TRY.
fn offers_installments(payment: &PaymentRecord, plan: Option<&InstallmentPlan>) -> bool {
    payment.installment <= 1
        && plan.is_some()
        && payment.money().map(|m| m.currency()) == Some(crate::domain::Currency::Try)
}

/// The installment choices for a card number (or its first digits) on this payment.
fn choices_for(
    state: &AppState,
    payment: &PaymentRecord,
    plan: Option<&InstallmentPlan>,
    digits: &str,
) -> Option<Choices> {
    let money = payment.money()?;
    Some(
        state
            .installments
            .choices(plan, money, payment.installment().count(), digits),
    )
}

async fn card_page(
    state: &AppState,
    session: &Session,
    payment: &PaymentRecord,
    merchant: &MerchantRecord,
    values: CardFormValues,
    errors: Vec<(&'static str, &'static str)>,
    installments: InstallmentPart,
) -> Result<Response, PageError> {
    let locale = payment.locale();
    let offered = offers_installments(payment, merchant.installment_plan().as_ref());
    let docs = documents::render(payment, merchant, locale, offered)
        .map_err(|e| PageError::internal(locale, e))?;
    let csrf = session::csrf_token(&state.keys, session, &payment.id, locale).await?;
    let today = state.clock.now().date();
    Ok(pages::card_page(
        payment,
        merchant,
        pages::CardPageParts {
            docs: &docs,
            csrf,
            values,
            errors: &errors,
            today,
            installments: offered.then_some(installments),
        },
    ))
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Preferred(preferred): Preferred,
) -> Result<Response, PageError> {
    // A checkout session's link (`?token=` MAC of the id) binds this browser to the payment;
    // the token then leaves the address bar.
    if let Some(token) = query.as_deref().and_then(|q| q.strip_prefix("token=")) {
        let id = PaymentId::parse(&id)
            .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, preferred))?;
        let valid = crypto::verify_hmac_hex(
            state.keys.session_link.expose_secret(),
            id.as_str().as_bytes(),
            token,
        );
        if !valid {
            return Err(PageError::new(ErrorCode::SessionMismatch, preferred));
        }
        let payment = state
            .store
            .get_payment(id.as_str())
            .await?
            .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, preferred))?;
        session::bind_payment(
            &session,
            id.as_str(),
            payment.expires_at,
            state.clock.now_ms(),
        )
        .await?;
        return Ok(Redirect::to(&format!("/checkout/{id}")).into_response());
    }
    let (payment, merchant) = load_owned(&state, &session, &id, Access::Session, preferred).await?;
    match payment.status() {
        Status::Created => {
            card_page(
                &state,
                &session,
                &payment,
                &merchant,
                CardFormValues::default(),
                vec![],
                InstallmentPart::default(),
            )
            .await
        }
        _ => Ok(to_result(&payment.id)),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Client(client): Client,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let csrf = crate::form::value(&fields, "csrf_token");
    let (payment, merchant) =
        load_owned(&state, &session, &id, Access::Form(csrf), preferred).await?;
    let locale = payment.locale();
    if payment.status() != Status::Created {
        // A second click, or the back button: the first submit carries on.
        return Ok(to_result(&payment.id));
    }
    let limits = &state.settings.limits;
    super::abuse::shopper_hit(
        &state.limiter,
        "card",
        &client.ip,
        limits.card_submit,
        limits.window_secs,
        locale,
    )
    .await?;
    // Card testing: after many declines, this address or this merchant waits a while.
    if let Some(wait) =
        crate::limits::card_submit_blocked(&state.limiter, &merchant.id, &client.ip, None).await
    {
        return Err(PageError::too_many(
            ErrorCode::CardTestingBlocked,
            locale,
            wait,
        ));
    }
    let input = CardInput::from_fields(&fields);
    let plan = merchant.installment_plan();
    let requested = crate::form::value(&fields, "installment");
    let requested_count = requested.parse::<u8>().ok();
    // The table for the card typed, when the number is good enough to look up.
    let typed_choices = || {
        crate::domain::Pan::parse(input.card_number.expose())
            .ok()
            .and_then(|pan| choices_for(&state, &payment, plan.as_ref(), pan.expose()))
    };
    let part = |choices: Option<Choices>, notice, error| InstallmentPart {
        selected: requested_count.unwrap_or(1),
        choices,
        notice,
        error,
    };
    // The language switch: the same form again in the other language, with everything the
    // shopper typed except the card number and CVV.
    if let Some(switch) = Locale::parse(crate::form::value(&fields, "switch_lang"))
        .filter(|_| !crate::form::value(&fields, "switch_lang").is_empty())
    {
        state
            .store
            .set_payment_locale(&payment.id, switch.as_str())
            .await?;
        let installments = part(typed_choices(), None, None);
        let mut payment = payment;
        payment.locale = switch.as_str().to_owned();
        let values = CardFormValues::from_input(&input);
        return card_page(
            &state,
            &session,
            &payment,
            &merchant,
            values,
            vec![],
            installments,
        )
        .await;
    }
    let valid = match card::validate(&input, state.clock.now().date()) {
        Ok(valid) => valid,
        Err(errors) => {
            let values = CardFormValues::from_input(&input);
            let installments = part(typed_choices(), None, None);
            return card_page(
                &state,
                &session,
                &payment,
                &merchant,
                values,
                errors,
                installments,
            )
            .await;
        }
    };
    // …and so does a BIN range that was being tested at this merchant.
    if let Some(wait) = crate::limits::card_submit_blocked(
        &state.limiter,
        &merchant.id,
        &client.ip,
        valid.pan.expose().get(..6),
    )
    .await
    {
        return Err(PageError::too_many(
            ErrorCode::CardTestingBlocked,
            locale,
            wait,
        ));
    }
    let Some(choices) = choices_for(&state, &payment, plan.as_ref(), valid.pan.expose()) else {
        return Err(PageError::internal(
            locale,
            anyhow::anyhow!("stored amount invalid"),
        ));
    };
    let again = |errors: Vec<(&'static str, &'static str)>, notice, error| {
        let values = CardFormValues::from_input(&input);
        let installments = part(Some(choices.clone()), notice, error);
        card_page(
            &state,
            &session,
            &payment,
            &merchant,
            values,
            errors,
            installments,
        )
    };
    let offer = if choices.fixed {
        // The merchant fixed the count: the card must allow it.
        match choices.offers.first() {
            Some(offer) => *offer,
            None => {
                return again(vec![("card_number", "installment-error-card")], None, None).await;
            }
        }
    } else if choices.has_choice() {
        match requested_count {
            Some(n) => match choices.offer(n) {
                Some(offer) => offer,
                None => {
                    let error = Some("installment-error-unavailable");
                    return again(
                        vec![("installments", "installment-error-unavailable")],
                        None,
                        error,
                    )
                    .await;
                }
            },
            // Without JavaScript the table appears only now that the card is known: show it
            // and let the shopper choose (the card number and CVV are typed again).
            None => {
                return again(vec![], Some("installments-choose-notice"), None).await;
            }
        }
    } else if requested_count.is_some_and(|n| n > 1) {
        // A count chosen for another card than this one, which pays at once.
        let error = Some("installment-error-unavailable");
        return again(
            vec![("installments", "installment-error-unavailable")],
            None,
            error,
        )
        .await;
    } else {
        Offer::single(payment.amount_minor)
    };
    let offered = offers_installments(&payment, plan.as_ref());
    let docs = documents::render(&payment, &merchant, locale, offered)
        .map_err(|e| PageError::internal(locale, e))?;
    let submission = flow::Submission {
        client: &client,
        documents: &docs,
        offer,
        card_info: choices.card.as_ref(),
    };
    let next = flow::submit_card(&state, &payment, &merchant.name, &valid, submission).await?;
    Ok(next_page(&payment, &merchant, next))
}

/// Where the browser goes after a step of the journey: the result page, or the ACS.
fn next_page(payment: &PaymentRecord, merchant: &MerchantRecord, next: Next) -> Response {
    match next {
        Next::Result => to_result(&payment.id),
        Next::Challenge {
            acs_url,
            creq,
            session_data,
        } => {
            // Part of the merchant's (possibly framed) checkout, like the card page.
            let mut resp =
                pages::to_acs(payment.locale(), acs_url, creq, session_data).into_response();
            super::security::allow(&mut resp, &[], &merchant.frame_origins());
            resp
        }
    }
}

/// The installment table for the first digits of a card number: asked by the card page's
/// script as the shopper types, answered with the same HTML the page would show.
pub async fn installments(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Client(client): Client,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    // Counted before anything is read: the script asks as the shopper types.
    super::abuse::shopper_hit(
        &state.limiter,
        "installments",
        &client.ip,
        state.settings.installments.lookups_per_window,
        state.settings.limits.window_secs,
        preferred,
    )
    .await?;
    // A question, not an act: the browser must already hold the payment, and show the
    // page's token as its forms do.
    let (payment, merchant) = load_owned(&state, &session, &id, Access::Session, preferred).await?;
    let locale = payment.locale();
    session::check_csrf(
        &state.keys,
        &session,
        &payment.id,
        crate::form::value(&fields, "csrf_token"),
        locale,
    )
    .await?;
    // Six to eight digits: enough for the BIN table, never the card number.
    let bin = crate::form::value(&fields, "bin");
    if !(6..=8).contains(&bin.len()) || !bin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PageError::field(ErrorCode::InvalidField, locale, "bin"));
    }
    let plan = merchant.installment_plan();
    if payment.status() != Status::Created || !offers_installments(&payment, plan.as_ref()) {
        return Err(PageError::new(ErrorCode::PaymentNotFound, locale));
    }
    let part = InstallmentPart {
        choices: choices_for(&state, &payment, plan.as_ref(), bin),
        selected: crate::form::value(&fields, "selected").parse().unwrap_or(1),
        notice: None,
        error: None,
    };
    Ok(pages::render(
        &InstallmentFragment::new(&part, &payment, &merchant.name),
        StatusCode::OK,
    ))
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let csrf = crate::form::value(&fields, "csrf_token");
    let (payment, _) = load_owned(&state, &session, &id, Access::Form(csrf), preferred).await?;
    if payment.status() == Status::Created {
        flow::cancel(&state, &payment).await?;
    }
    Ok(to_result(&payment.id))
}

pub async fn result(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Preferred(preferred): Preferred,
) -> Result<Response, PageError> {
    let (payment, merchant) = load_owned(&state, &session, &id, Access::Session, preferred).await?;
    if payment.status() == Status::Created {
        return Ok(Redirect::to(&format!("/checkout/{}", payment.id)).into_response());
    }
    // The card submit stopped waiting before the ACS answered: on to the challenge now.
    if let Some(next) = flow::resume_challenge(&state, &payment) {
        return Ok(next_page(&payment, &merchant, next));
    }
    Ok(pages::result_page(&payment, &merchant).into_response())
}
