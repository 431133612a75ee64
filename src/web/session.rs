//! What the browser session holds: which payments this browser started and a CSRF token.
//! Never card data.

use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::{
    domain::{Locale, ids::random_token},
    error::{ErrorCode, PageError},
};

const PAYMENTS: &str = "payments";
const CSRF: &str = "csrf";
const MAX_PAYMENTS: usize = 16;

fn internal(locale: Locale, e: tower_sessions::session::Error) -> PageError {
    PageError::internal(locale, e)
}

pub async fn remember_payment(session: &Session, payment_id: &str) -> Result<(), PageError> {
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
        .map_err(|e| internal(Locale::Tr, e))
}

/// Pages of a payment are for the browser that started it.
pub async fn require_payment(
    session: &Session,
    payment_id: &str,
    locale: Locale,
) -> Result<(), PageError> {
    let ids: Vec<String> = session
        .get(PAYMENTS)
        .await
        .map_err(|e| internal(locale, e))?
        .unwrap_or_default();
    if ids.iter().any(|id| id == payment_id) {
        Ok(())
    } else {
        Err(PageError::new(ErrorCode::SessionMismatch, locale))
    }
}

pub async fn csrf_token(session: &Session, locale: Locale) -> Result<String, PageError> {
    if let Some(t) = session
        .get::<String>(CSRF)
        .await
        .map_err(|e| internal(locale, e))?
    {
        return Ok(t);
    }
    let token = random_token(16);
    session
        .insert(CSRF, &token)
        .await
        .map_err(|e| internal(locale, e))?;
    Ok(token)
}

pub async fn check_csrf(session: &Session, given: &str, locale: Locale) -> Result<(), PageError> {
    let expected: Option<String> = session.get(CSRF).await.map_err(|e| internal(locale, e))?;
    match expected {
        Some(t) if bool::from(t.as_bytes().ct_eq(given.as_bytes())) => Ok(()),
        _ => Err(PageError::new(ErrorCode::FormExpired, locale)),
    }
}
