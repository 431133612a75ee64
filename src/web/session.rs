//! What the browser session holds: which payments this browser started, and a random binding
//! value its CSRF tokens are made from. Never card data.
//!
//! A payment is bound to the browser that started it (the signed form's `POST /pay`, or a
//! checkout session's link): its pages and its forms are for that session only (`KP-2004`).
//! The session id is cycled whenever a payment is bound, so that an id known beforehand (a
//! planted cookie) never holds a payment. The session lives 30 minutes after the browser's
//! last request to a payment page, and at least as long as the newest payment it holds is
//! open.

use secrecy::ExposeSecret;
use tower_sessions::{Expiry, Session};

use super::error::PageError;
use crate::{checkout::service::Keys, domain::Locale, error::ErrorCode};

const PAYMENTS: &str = "payments";
const BINDING: &str = "binding";
/// Until when the session must live: the latest deadline of the payments it held.
const ALIVE_UNTIL: &str = "alive_until";
const MAX_PAYMENTS: usize = 16;
/// The payments whose browser this session sent to the issuer's page (3-D Secure challenge).
const SENT_TO_ACS: &str = "sent_to_acs";
/// A session expires after this much inactivity…
const INACTIVITY_MS: i64 = 30 * 60 * 1000;
/// …but never before the payments it holds could still be paid, plus this margin.
const AFTER_PAYMENT_MS: i64 = 5 * 60 * 1000;
/// When the session's lifetime is next renewed (a write); until then page views write nothing.
const RENEW_AFTER: &str = "renew_after";
const RENEW_EVERY_MS: i64 = 10 * 60 * 1000;

fn internal(locale: Locale, e: tower_sessions::session::Error) -> PageError {
    PageError::internal(locale, e)
}

/// Binds the payment to this browser: a fresh session id (the old one is dropped), the payment
/// remembered, and a lifetime that covers the payment's.
pub async fn bind_payment(
    session: &Session,
    payment_id: &str,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<(), PageError> {
    session
        .cycle_id()
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    let mut ids: Vec<String> = session
        .get(PAYMENTS)
        .await
        .map_err(|e| internal(Locale::Tr, e))?
        .unwrap_or_default();
    ids.retain(|id| id != payment_id);
    ids.push(payment_id.to_owned());
    if ids.len() > MAX_PAYMENTS {
        ids.remove(0);
    }
    session
        .insert(PAYMENTS, ids)
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    let binding: Option<String> = session
        .get(BINDING)
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    if binding.is_none() {
        session
            .insert(BINDING, crate::domain::ids::random_token(16))
            .await
            .map_err(|e| internal(Locale::Tr, e))?;
    }
    keep_alive(session, expires_at_ms, now_ms).await
}

/// Renews the session's lifetime: 30 minutes from now, or until the latest deadline of the
/// payments it held and a margin, when that is later. Saved with the answer (tower-sessions
/// saves a changed session).
///
/// A renewal is a write, so it is not made on every page: the session is renewed when it holds
/// a new deadline, when the last renewal is `RENEW_EVERY_MS` old (so it always has at least 20
/// of its 30 minutes left), or when its deadline lies beyond the inactivity window (then a save
/// with the default lifetime later in the request could shorten it).
pub async fn keep_alive(
    session: &Session,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<(), PageError> {
    let held: Option<i64> = session
        .get(ALIVE_UNTIL)
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    let until = held.unwrap_or(0).max(expires_at_ms);
    let renew_after: Option<i64> = session
        .get(RENEW_AFTER)
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    let fresh = held == Some(until)
        && renew_after.is_some_and(|t| now_ms < t)
        && until.saturating_add(AFTER_PAYMENT_MS) <= now_ms.saturating_add(INACTIVITY_MS);
    if fresh {
        return Ok(());
    }
    if held != Some(until) {
        session
            .insert(ALIVE_UNTIL, until)
            .await
            .map_err(|e| internal(Locale::Tr, e))?;
    }
    session
        .insert(RENEW_AFTER, now_ms.saturating_add(RENEW_EVERY_MS))
        .await
        .map_err(|e| internal(Locale::Tr, e))?;
    let needed = until
        .saturating_sub(now_ms)
        .saturating_add(AFTER_PAYMENT_MS)
        .max(INACTIVITY_MS);
    session.set_expiry(Some(Expiry::OnInactivity(time::Duration::milliseconds(
        needed,
    ))));
    Ok(())
}

/// A payment's pages and forms are for the browser that started it.
pub async fn require_payment(
    session: &Session,
    payment_id: &str,
    locale: Locale,
) -> Result<(), PageError> {
    if holds_payment(session, payment_id, locale).await? {
        Ok(())
    } else {
        Err(PageError::new(ErrorCode::SessionMismatch, locale))
    }
}

/// Whether this browser session holds the payment.
pub async fn holds_payment(
    session: &Session,
    payment_id: &str,
    locale: Locale,
) -> Result<bool, PageError> {
    let ids: Vec<String> = session
        .get(PAYMENTS)
        .await
        .map_err(|e| internal(locale, e))?
        .unwrap_or_default();
    Ok(ids.iter().any(|id| id == payment_id))
}

/// Remembers that this browser was sent to the issuer's page for the payment, and says whether
/// it had been before: a browser back on Kapı without the challenge's outcome is offered a
/// choice, not sent round in a loop.
pub async fn sent_to_acs(
    session: &Session,
    payment_id: &str,
    locale: Locale,
) -> Result<bool, PageError> {
    let mut ids: Vec<String> = session
        .get(SENT_TO_ACS)
        .await
        .map_err(|e| internal(locale, e))?
        .unwrap_or_default();
    if ids.iter().any(|id| id == payment_id) {
        return Ok(true);
    }
    ids.push(payment_id.to_owned());
    if ids.len() > MAX_PAYMENTS {
        ids.remove(0);
    }
    session
        .insert(SENT_TO_ACS, ids)
        .await
        .map_err(|e| internal(locale, e))?;
    Ok(false)
}

async fn binding(session: &Session, locale: Locale) -> Result<String, PageError> {
    let value: Option<String> = session
        .get(BINDING)
        .await
        .map_err(|e| internal(locale, e))?;
    Ok(value.unwrap_or_default())
}

fn csrf_message(payment_id: &str, binding: &str) -> Vec<u8> {
    format!("csrf:{payment_id}:{binding}").into_bytes()
}

/// The CSRF token of a payment's forms in this session: a MAC of the payment id and the
/// session's random binding value (which survives the id's rotation). It proves a form came
/// from this browser's page of this payment.
pub async fn csrf_token(
    keys: &Keys,
    session: &Session,
    payment_id: &str,
    locale: Locale,
) -> Result<String, PageError> {
    let binding = binding(session, locale).await?;
    Ok(crate::crypto::hmac_hex(
        keys.csrf.expose_secret(),
        &csrf_message(payment_id, &binding),
    ))
}

/// Checks a form's token in constant time.
pub async fn check_csrf(
    keys: &Keys,
    session: &Session,
    payment_id: &str,
    given: &str,
    locale: Locale,
) -> Result<(), PageError> {
    let binding = binding(session, locale).await?;
    let valid = !binding.is_empty()
        && crate::crypto::verify_hmac_hex(
            keys.csrf.expose_secret(),
            &csrf_message(payment_id, &binding),
            given,
        );
    if valid {
        Ok(())
    } else {
        Err(PageError::new(ErrorCode::FormExpired, locale))
    }
}
