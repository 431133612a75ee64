//! What the browser session holds: which payments this browser started. Never card data.
//! And the CSRF tokens of a payment's forms.

use secrecy::ExposeSecret;
use tower_sessions::Session;

use crate::{
    domain::Locale,
    error::{ErrorCode, PageError},
    state::Keys,
};

const PAYMENTS: &str = "payments";
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

/// The CSRF token of a payment's forms: a MAC of the payment id. It is in the payment's pages
/// only, so it proves a form came from them; being tied to the payment rather than to the
/// session id, it survives the id rotation at card submit (a double click arrives with the
/// superseded id and is bound to the fresh session again).
pub fn csrf_token(keys: &Keys, payment_id: &str) -> String {
    crate::crypto::hmac_hex(
        keys.csrf.expose_secret(),
        format!("csrf:{payment_id}").as_bytes(),
    )
}

/// Checks a form's token in constant time.
pub fn check_csrf(
    keys: &Keys,
    payment_id: &str,
    given: &str,
    locale: Locale,
) -> Result<(), PageError> {
    let valid = crate::crypto::verify_hmac_hex(
        keys.csrf.expose_secret(),
        format!("csrf:{payment_id}").as_bytes(),
        given,
    );
    if valid {
        Ok(())
    } else {
        Err(PageError::new(ErrorCode::FormExpired, locale))
    }
}

/// Whether this browser session holds the payment.
pub async fn holds_payment(session: &Session, payment_id: &str) -> Result<bool, PageError> {
    let ids: Vec<String> = session
        .get(PAYMENTS)
        .await
        .map_err(|e| internal(Locale::Tr, e))?
        .unwrap_or_default();
    Ok(ids.iter().any(|id| id == payment_id))
}
