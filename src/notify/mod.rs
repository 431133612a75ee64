//! The signed result for the merchant: built once when a payment reaches its final status,
//! posted through the shopper's browser to ok/fail URL and server to server to callback_url.

pub mod events;
pub mod guard;
pub mod worker;

use std::time::Instant;

use crate::{
    crypto::signature,
    domain::{Locale, ids::random_token},
    error::ErrorCode,
    i18n::Tr,
    merchants,
    state::AppState,
    storage::{CallbackAttempt, MerchantRecord, PaymentRecord},
};

/// The order of the result fields (they are signed sorted, but posted in this order).
pub const RESULT_FIELDS: &[&str] = &[
    "merchant_id",
    "order_id",
    "payment_id",
    "status",
    "amount",
    "currency",
    "installment",
    "proc_return_code",
    "auth_code",
    "host_ref",
    "transaction_id",
    "masked_pan",
    "card_brand",
    "md_status",
    "eci",
    "error_code",
    "error_message",
    "timestamp",
    "nonce",
    "signature",
];

/// The message for the shopper and the merchant: the bank's text for a decline, else the
/// text of the error code.
pub fn error_message(
    locale: Locale,
    error_code: Option<&str>,
    proc_return_code: Option<&str>,
) -> String {
    let tr = Tr::new(locale);
    match (error_code, proc_return_code) {
        (None, _) => String::new(),
        (Some(code), Some(prc)) if code == ErrorCode::Declined.code() => {
            let key = format!("bank-{prc}");
            if tr.has(&key) {
                tr.t(&key)
            } else {
                tr.t("bank-other")
            }
        }
        (Some(code), _) => ErrorCode::ALL
            .iter()
            .find(|c| c.code() == code)
            .map(|c| c.message(locale))
            .unwrap_or_default(),
    }
}

/// Builds and signs the result of a payment in its final state.
pub fn build_result(
    payment: &PaymentRecord,
    merchant: &MerchantRecord,
    state: &AppState,
) -> anyhow::Result<Vec<(String, String)>> {
    let secret = merchants::secret_key(&state.vault, merchant)?;
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields: Vec<(String, String)> = vec![
        ("merchant_id", payment.merchant_id.clone()),
        ("order_id", payment.order_id.clone()),
        ("payment_id", payment.id.clone()),
        ("status", payment.status.clone()),
        (
            "amount",
            payment
                .money()
                .map(|m| m.to_decimal_string())
                .unwrap_or_default(),
        ),
        ("currency", payment.currency.clone()),
        ("installment", payment.installment.to_string()),
        ("proc_return_code", o(&payment.proc_return_code)),
        ("auth_code", o(&payment.auth_code)),
        ("host_ref", o(&payment.host_ref)),
        ("transaction_id", o(&payment.transaction_id)),
        ("masked_pan", o(&payment.masked_pan)),
        ("card_brand", o(&payment.card_brand)),
        ("md_status", o(&payment.md_status)),
        ("eci", o(&payment.eci)),
        ("error_code", o(&payment.error_code)),
        (
            "error_message",
            error_message(
                payment.locale(),
                payment.error_code.as_deref(),
                payment.proc_return_code.as_deref(),
            ),
        ),
        ("timestamp", state.clock.now_secs().to_string()),
        ("nonce", random_token(16)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(signature::signed(fields, &secret)?)
}

/// What went wrong with an outgoing request, with its causes (a refused address, a timeout,
/// a TLS failure) but never its URL, which may carry a merchant's query string.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Where the browser goes with the result: the checkout's outcome decides, even after a
/// void or refund.
pub fn target_url(payment: &PaymentRecord) -> &str {
    if payment.status().was_authorised() {
        &payment.ok_url
    } else {
        &payment.fail_url
    }
}

/// One prompt server-to-server delivery of the result, recorded in `callback_attempts`.
/// The durable, retried notification is the event (`notify::worker`).
pub async fn deliver_callback(
    state: AppState,
    payment_id: String,
    url: String,
    fields: Vec<(String, String)>,
) {
    let started = Instant::now();
    let timeout = std::time::Duration::from_secs(state.settings.checkout.callback_timeout_secs);
    if let Err(refused) = guard::check_url(&url, state.settings.notifications.allow_private_targets)
    {
        tracing::warn!(%payment_id, error = %refused, "callback target refused");
        let attempt = CallbackAttempt {
            payment_id,
            url,
            attempted_at: state.clock.now_ms(),
            status_code: None,
            error: Some(refused),
            latency_ms: 0,
        };
        let _ = state.store.record_callback_attempt(&attempt).await;
        return;
    }
    let outcome = state
        .http
        .post(&url)
        .form(&fields)
        .timeout(timeout)
        .send()
        .await;
    let (status_code, error) = match outcome {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let err = (!resp.status().is_success()).then(|| format!("HTTP {code}"));
            (Some(i64::from(code)), err)
        }
        Err(e) => (None, Some(describe(e))),
    };
    if let Some(err) = &error {
        tracing::warn!(%payment_id, error = %err, "callback delivery failed");
    } else {
        tracing::info!(%payment_id, "callback delivered");
    }
    let attempt = CallbackAttempt {
        payment_id,
        url,
        attempted_at: state.clock.now_ms(),
        status_code,
        error,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    if let Err(e) = state.store.record_callback_attempt(&attempt).await {
        tracing::error!(error = %e, "could not record callback attempt");
    }
}
