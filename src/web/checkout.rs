//! The card page, its submit, the installment table, cancel, and the result page: each
//! handler parses, makes one call to the checkout, and renders.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{
    error::PageError,
    extract::{Client, Preferred, RawForm},
    pages::{self, CardFormValues, InstallmentFragment, InstallmentPart},
    session,
};
use crate::{
    checkout::{
        Status,
        card::{CardInput, FieldErrors},
        card_form::CardStep,
        documents::DocumentKind,
        flow::Next,
        payment::Payment,
    },
    domain::{Locale, PaymentId},
    error::ErrorCode,
    form,
    state::AppState,
    storage::MerchantRecord,
};

/// A payment for the browser that started it (a form also shows the payment's CSRF token of
/// this session), expired first when it is overdue.
async fn owned(
    state: &AppState,
    session: &Session,
    id: &str,
    csrf: Option<&str>,
    preferred: Locale,
) -> Result<(Payment, MerchantRecord), PageError> {
    let not_found = || PageError::new(ErrorCode::PaymentNotFound, preferred);
    let id = PaymentId::parse(id).map_err(|_| not_found())?;
    let payment = state.payment(id.as_str()).await.map_err(|_| not_found())?;
    let locale = payment.locale;
    session::require_payment(session, id.as_str(), locale).await?;
    if let Some(token) = csrf {
        session::check_csrf(&state.keys, session, id.as_str(), token, locale).await?;
    }
    // Visits keep the session alive (renewed at most every ten minutes); it lasts at least as
    // long as the payment is open.
    session::keep_alive(session, payment.expires_at, state.now_ms()).await?;
    Ok(state.open(payment).await?)
}

fn to_result(id: &PaymentId) -> Response {
    Redirect::to(&format!("/checkout/{id}/result")).into_response()
}

/// The card page, with what the shopper typed (never the card number or CVV) and errors.
async fn card_page(
    state: &AppState,
    session: &Session,
    (payment, merchant): (&Payment, &MerchantRecord),
    values: CardFormValues,
    errors: &FieldErrors,
    installments: InstallmentPart,
) -> Result<Response, PageError> {
    let (docs, offered) = state.documents_for(payment, merchant)?;
    let csrf =
        session::csrf_token(&state.keys, session, payment.id.as_str(), payment.locale).await?;
    let parts = pages::CardPageParts {
        docs: &docs,
        csrf,
        values,
        errors,
        installments: offered.then_some(installments),
    };
    Ok(pages::card_page(payment, merchant, parts))
}

/// Where the browser goes after a step of the journey: the result page, or the ACS.
pub(super) async fn next_step(
    session: &Session,
    payment: &Payment,
    merchant: &MerchantRecord,
    next: Next,
) -> Result<Response, PageError> {
    if let Some(step) = next.threeds_step() {
        session::sent_to_acs(session, &acs_key(payment, &step), payment.locale).await?;
    }
    Ok(next_page(payment, merchant, next))
}

/// What the session remembers of a 3-D Secure step the browser was sent to: the payment and
/// the step (a fallback to another terminal, or the next card, starts a new one).
fn acs_key(payment: &Payment, step: &str) -> String {
    format!("{}/{step}", payment.id)
}

fn next_page(payment: &Payment, merchant: &MerchantRecord, next: Next) -> Response {
    match next {
        Next::Result => to_result(&payment.id),
        Next::Challenge {
            acs_url,
            creq,
            session_data,
        } => {
            // Part of the merchant's (possibly framed) checkout, like the card page.
            let mut resp =
                pages::to_acs(payment.locale, acs_url, creq, session_data).into_response();
            super::security::allow(&mut resp, &[], &merchant.frame_origins());
            resp
        }
        // The card goes to the bank's gate in this one auto-submitting page: no-store, and
        // its CSP lets the form go to that gate only.
        Next::BankGate(form) => {
            let mut resp =
                pages::to_bank_gate(payment.locale, form.action, form.fields).into_response();
            super::security::allow(&mut resp, &[], &merchant.frame_origins());
            resp
        }
    }
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
        return bind_link(&state, &session, &id, token, preferred).await;
    }
    let (payment, merchant) = owned(&state, &session, &id, None, preferred).await?;
    if !matches!(payment.status, Status::Created | Status::AwaitingRetry) {
        return Ok(to_result(&payment.id));
    }
    let (values, part) = (CardFormValues::default(), InstallmentPart::default());
    card_page(
        &state,
        &session,
        (&payment, &merchant),
        values,
        &vec![],
        part,
    )
    .await
}

async fn bind_link(
    state: &AppState,
    session: &Session,
    id: &str,
    token: &str,
    preferred: Locale,
) -> Result<Response, PageError> {
    let id =
        PaymentId::parse(id).map_err(|_| PageError::new(ErrorCode::PaymentNotFound, preferred))?;
    if !state.shopper_link_valid(id.as_str(), token) {
        return Err(PageError::new(ErrorCode::SessionMismatch, preferred));
    }
    let payment = state.payment(id.as_str()).await?;
    session::bind_payment(session, id.as_str(), payment.expires_at, state.now_ms()).await?;
    Ok(Redirect::to(&format!("/checkout/{id}")).into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Client(client): Client,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let csrf = form::value(&fields, "csrf_token");
    let (payment, merchant) = owned(&state, &session, &id, Some(csrf), preferred).await?;
    match state
        .card_form(&payment, &merchant, &fields, &client)
        .await?
    {
        CardStep::Next(next) => next_step(&session, &payment, &merchant, next).await,
        CardStep::Again {
            payment,
            errors,
            installments,
        } => {
            let values = CardFormValues::from_input(&CardInput::from_fields(&fields));
            let page = (&*payment, &merchant);
            card_page(&state, &session, page, values, &errors, installments).await
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
    let csrf = form::value(&fields, "csrf_token");
    let (payment, merchant) = owned(&state, &session, &id, Some(csrf), preferred).await?;
    let selected = form::value(&fields, "selected").parse().unwrap_or(1);
    let bin = form::value(&fields, "bin");
    let part = state
        .installment_table(&payment, &merchant, bin, selected, &client.ip)
        .await?;
    let fragment = InstallmentFragment::new(&part, &payment);
    Ok(pages::render(&fragment, StatusCode::OK))
}

pub async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let csrf = form::value(&fields, "csrf_token");
    let (payment, _) = owned(&state, &session, &id, Some(csrf), preferred).await?;
    state.cancel(&payment).await?;
    Ok(to_result(&payment.id))
}

pub async fn result(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Preferred(preferred): Preferred,
) -> Result<Response, PageError> {
    let (payment, merchant) = owned(&state, &session, &id, None, preferred).await?;
    match payment.status {
        // Waiting for a card: the card page (after a decline, with its second chance).
        Status::Created | Status::AwaitingRetry => {
            Ok(Redirect::to(&format!("/checkout/{}", payment.id)).into_response())
        }
        Status::Challenge => challenge_unfinished(&state, &session, payment, merchant).await,
        _ => Ok(pages::result_page(&payment, &merchant)),
    }
}

/// The result page of a payment still in its challenge. With the ACS's outcome in, the
/// challenge ends now (the CRes is not needed). Else: the first time, the card submit stopped
/// waiting before the ACS answered, so on to the challenge; after that the browser came back
/// without an outcome (the issuer's page failed, or the shopper went back): go back to it, or
/// give up, which ends the payment at once and tells the merchant.
async fn challenge_unfinished(
    state: &AppState,
    session: &Session,
    payment: Payment,
    merchant: MerchantRecord,
) -> Result<Response, PageError> {
    if state.finish_challenge(&payment).await? {
        return Ok(to_result(&payment.id));
    }
    let Some(next) = state.resume_3ds(&payment).await else {
        return Ok(pages::result_page(&payment, &merchant));
    };
    let step = next.threeds_step().unwrap_or_default();
    if session::sent_to_acs(session, &acs_key(&payment, &step), payment.locale).await? {
        let csrf =
            session::csrf_token(&state.keys, session, payment.id.as_str(), payment.locale).await?;
        return Ok(pages::challenge_unfinished(&payment, &merchant, &csrf));
    }
    Ok(next_page(&payment, &merchant, next))
}

/// Back to the issuer's page for a challenge that has no outcome yet.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let csrf = form::value(&fields, "csrf_token");
    let (payment, merchant) = owned(&state, &session, &id, Some(csrf), preferred).await?;
    match state.resume_3ds(&payment).await {
        Some(next) => Ok(next_page(&payment, &merchant, next)),
        None => Ok(to_result(&payment.id)),
    }
}

/// A legal document of the payment on a page of its own: readable on a phone, printable.
pub async fn document(
    State(state): State<AppState>,
    session: Session,
    Path((id, kind)): Path<(String, String)>,
    Preferred(preferred): Preferred,
) -> Result<Response, PageError> {
    let (payment, merchant) = owned(&state, &session, &id, None, preferred).await?;
    let kind = DocumentKind::from_slug(&kind)
        .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, payment.locale))?;
    let shown = state.document(&payment, &merchant, kind).await?;
    Ok(pages::document_page(&payment, &merchant, &shown))
}

/// The document's file, byte for byte what the consent's SHA-256 covers.
pub async fn document_copy(
    State(state): State<AppState>,
    session: Session,
    Path((id, kind)): Path<(String, String)>,
    Preferred(preferred): Preferred,
) -> Result<Response, PageError> {
    let (payment, merchant) = owned(&state, &session, &id, None, preferred).await?;
    let kind = DocumentKind::from_slug(&kind)
        .ok_or_else(|| PageError::new(ErrorCode::PaymentNotFound, payment.locale))?;
    let shown = state.document(&payment, &merchant, kind).await?;
    Ok(pages::document_copy(&payment, &shown))
}
