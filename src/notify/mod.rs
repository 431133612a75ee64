//! Telling the merchant. The signed result, built once when a payment reaches its final
//! status and posted through the shopper's browser to ok/fail URL (and once, promptly, to the
//! callback URL); the events, written to the outbox with the change they report and delivered
//! until the merchant takes them. The payloads are the merchant contract (`views`).

pub mod delivery;
pub mod events;
pub mod guard;
pub mod views;
pub mod worker;

use secrecy::SecretString;

use crate::{
    checkout::payment::Payment,
    crypto::signature,
    domain::{Locale, ids::random_token, threeds::ResponseCode},
    error::ErrorCode,
    i18n::Tr,
};

pub use delivery::Delivery;

/// How the core reaches the merchant's endpoints: fire-and-forget calls, so that a slow
/// merchant never holds up a payment.
pub trait Notifier: Send + Sync + 'static {
    /// An event was written to the outbox: deliver it soon.
    fn outbox_written(&self);
    /// Posts the signed result once to the payment's callback URL (the event is the durable,
    /// retried notification).
    fn send_callback(&self, payment_id: &str, url: &str, fields: Vec<(String, String)>);
}

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

/// The message for the shopper: for a decline, what its class means and what to do next
/// (never the bank's own text, which may say "stolen card"); else the text of the error code.
pub fn shopper_message(
    locale: Locale,
    error_code: Option<ErrorCode>,
    proc_return_code: Option<&ResponseCode>,
) -> String {
    match (error_code, proc_return_code) {
        (Some(ErrorCode::Declined), Some(prc)) => {
            Tr::new(locale).t(&format!("decline-{}", prc.decline_class().as_str()))
        }
        _ => error_message(locale, error_code, proc_return_code),
    }
}

/// The message for the merchant (the signed result and the API): the bank's text for a
/// decline, else the text of the error code.
pub fn error_message(
    locale: Locale,
    error_code: Option<ErrorCode>,
    proc_return_code: Option<&ResponseCode>,
) -> String {
    let tr = Tr::new(locale);
    match (error_code, proc_return_code) {
        (None, _) => String::new(),
        (Some(ErrorCode::Declined), Some(prc)) => {
            let key = format!("bank-{prc}");
            if tr.has(&key) {
                tr.t(&key)
            } else {
                tr.t("bank-other")
            }
        }
        (Some(code), _) => code.message(locale),
    }
}

/// Builds and signs the result of a payment in its final state, at `now_secs`.
pub fn build_result(
    payment: &Payment,
    secret: &SecretString,
    now_secs: i64,
) -> Result<Vec<(String, String)>, signature::CanonicalError> {
    let t = payment.threeds.as_ref();
    let a = payment.authorisation.as_ref();
    let o = |v: Option<&String>| v.cloned().unwrap_or_default();
    let fields: Vec<(String, String)> = vec![
        ("merchant_id", payment.merchant_id.to_string()),
        ("order_id", payment.order_id.to_string()),
        ("payment_id", payment.id.to_string()),
        ("status", payment.status.as_str().to_owned()),
        ("amount", payment.amount.to_decimal_string()),
        ("currency", payment.currency().code().to_owned()),
        ("installment", payment.installment.count().to_string()),
        (
            "proc_return_code",
            payment
                .proc_return_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
        ),
        ("auth_code", o(a.and_then(|a| a.auth_code.as_ref()))),
        ("host_ref", o(a.and_then(|a| a.host_ref.as_ref()))),
        (
            "transaction_id",
            o(a.and_then(|a| a.transaction_id.as_ref())),
        ),
        (
            "masked_pan",
            payment.masked_pan().unwrap_or_default().to_owned(),
        ),
        (
            "card_brand",
            payment
                .brand()
                .map(|b| b.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (
            "md_status",
            t.and_then(|t| t.md_status)
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ),
        (
            "eci",
            t.and_then(|t| t.eci.as_ref())
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (
            "error_code",
            payment
                .error_code
                .map(|c| c.code().to_owned())
                .unwrap_or_default(),
        ),
        (
            "error_message",
            error_message(
                payment.locale,
                payment.error_code,
                payment.proc_return_code(),
            ),
        ),
        ("timestamp", now_secs.to_string()),
        ("nonce", random_token(16)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    signature::signed(fields, secret)
}

/// Where the browser goes with the result: the checkout's outcome decides, even after a
/// void or refund.
pub fn target_url(payment: &Payment) -> &str {
    // NestPay's `3d` model: authenticated, the merchant authorises next.
    let authenticated = payment.status == crate::checkout::Status::AwaitingAuthorisation;
    if payment.status.was_authorised() || authenticated {
        &payment.ok_url
    } else {
        &payment.fail_url
    }
}
