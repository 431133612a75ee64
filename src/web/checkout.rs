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
    pages::{self, CardFormValues},
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
    state::AppState,
    storage::{MerchantRecord, PaymentRecord},
};

/// How a request shows it may act on a payment.
enum Access<'a> {
    /// Pages: the browser session holds the payment.
    Session,
    /// Forms: the payment's CSRF token; a session that lost the payment (its id was rotated
    /// by a first click) is bound to it again.
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
    match access {
        Access::Session => session::require_payment(session, id.as_str(), locale).await?,
        Access::Form(token) => {
            session::check_csrf(&state.keys, id.as_str(), token, locale)?;
            if !session::holds_payment(session, id.as_str()).await? {
                session::remember_payment(session, id.as_str()).await?;
            }
        }
    }
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

async fn card_page(
    state: &AppState,
    payment: &PaymentRecord,
    merchant: &MerchantRecord,
    values: CardFormValues,
    errors: Vec<(&'static str, &'static str)>,
) -> Result<Response, PageError> {
    let locale = payment.locale();
    let docs =
        documents::render(payment, merchant, locale).map_err(|e| PageError::internal(locale, e))?;
    let csrf = session::csrf_token(&state.keys, &payment.id);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let today = state.clock.now().date();
    Ok((
        status,
        pages::card_page(payment, merchant, &docs, csrf, values, &errors, today),
    )
        .into_response())
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
            .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, Locale::Tr))?;
        let valid = crypto::verify_hmac_hex(
            state.keys.session_link.expose_secret(),
            id.as_str().as_bytes(),
            token,
        );
        if !valid {
            return Err(PageError::new(ErrorCode::SessionMismatch, Locale::Tr));
        }
        session
            .cycle_id()
            .await
            .map_err(|e| PageError::internal(Locale::Tr, e))?;
        session::remember_payment(&session, id.as_str()).await?;
        return Ok(Redirect::to(&format!("/checkout/{id}")).into_response());
    }
    let (payment, merchant) = load_owned(&state, &session, &id, Access::Session, preferred).await?;
    match payment.status() {
        Status::Created => {
            card_page(
                &state,
                &payment,
                &merchant,
                CardFormValues::default(),
                vec![],
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
    // Card data is about to be entered: a fresh session id.
    session
        .cycle_id()
        .await
        .map_err(|e| PageError::internal(locale, e))?;
    let limits = &state.settings.limits;
    if let Err(wait) = state.limiter.hit(
        &format!("card:{}", client.ip),
        limits.card_submit,
        limits.window_secs,
    ) {
        return Err(PageError::too_many(
            ErrorCode::TooManyRequests,
            locale,
            wait,
        ));
    }
    // Card testing: after many declines, this address or this merchant waits a while.
    for key in [
        format!("declines-ip:{}", client.ip),
        format!("declines-merchant:{}", merchant.id),
    ] {
        if let Some(wait) = state.limiter.blocked(&key) {
            return Err(PageError::too_many(
                ErrorCode::CardTestingBlocked,
                locale,
                wait,
            ));
        }
    }
    let input = CardInput::from_fields(&fields);
    // The language switch: the same form again in the other language, with everything the
    // shopper typed except the card number and CVV.
    if let Some(switch) = Locale::parse(crate::form::value(&fields, "switch_lang"))
        .filter(|_| !crate::form::value(&fields, "switch_lang").is_empty())
    {
        state
            .store
            .set_payment_locale(&payment.id, switch.as_str())
            .await?;
        let mut payment = payment;
        payment.locale = switch.as_str().to_owned();
        let values = CardFormValues::from_input(&input);
        return card_page(&state, &payment, &merchant, values, vec![]).await;
    }
    let valid = match card::validate(&input, state.clock.now().date()) {
        Ok(valid) => valid,
        Err(errors) => {
            let values = CardFormValues::from_input(&input);
            return card_page(&state, &payment, &merchant, values, errors).await;
        }
    };
    let docs = documents::render(&payment, &merchant, locale)
        .map_err(|e| PageError::internal(locale, e))?;
    match flow::submit_card(&state, &payment, &merchant.name, &valid, &client, &docs).await? {
        Next::Result => Ok(to_result(&payment.id)),
        Next::Challenge {
            acs_url,
            creq,
            session_data,
        } => {
            // Part of the merchant's (possibly framed) checkout, like the card page.
            let mut resp = pages::to_acs(locale, acs_url, creq, session_data).into_response();
            super::security::allow(&mut resp, &[], &merchant.frame_origins());
            Ok(resp)
        }
    }
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
    Ok(pages::result_page(&payment, &merchant).into_response())
}
