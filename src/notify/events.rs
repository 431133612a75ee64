//! Events: the merchant-facing record of every change that matters (the outbox), their
//! signature, and the retry schedule.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::views::{EventBody, EventData, PaymentView, RefundView};
use crate::{
    checkout::payment::Attempt,
    checkout::{Status, payment::Payment},
    clock::rfc3339,
    config::NotificationSettings,
    domain::ids::random_token,
    storage::{EventRecord, EventStatus, MerchantRecord},
};

pub const SIGNATURE_HEADER: &str = "Kapi-Signature";
pub const EVENT_ID_HEADER: &str = "Kapi-Event-Id";

/// NestPay's callback of a result (`callbackUrl`): the result's form fields, delivered until
/// the merchant answers `Approved`.
pub const NESTPAY_CALLBACK: &str = "nestpay.callback";

/// Every event type.
pub const KINDS: [&str; 10] = [
    "payment.approved",
    "payment.authorised",
    "payment.captured",
    "payment.declined",
    "payment.failed",
    "payment.cancelled",
    "payment.expired",
    "payment.voided",
    "payment.refunded",
    NESTPAY_CALLBACK,
];

/// The event type reporting a move to `to`, if the merchant must hear about it.
pub fn kind_for(to: Status) -> Option<&'static str> {
    Some(match to {
        Status::Approved => "payment.approved",
        Status::Authorised => "payment.authorised",
        Status::Declined => "payment.declined",
        Status::Failed => "payment.failed",
        Status::Cancelled => "payment.cancelled",
        Status::Expired => "payment.expired",
        Status::Voided => "payment.voided",
        Status::Refunded => "payment.refunded",
        _ => return None,
    })
}

/// A new event about `payment` (as it is after the change) and its card attempts, addressed
/// to the payment's callback_url or else the merchant's webhook_url.
pub fn new_event(
    merchant: &MerchantRecord,
    payment: &Payment,
    attempts: &[Attempt],
    kind: &str,
    refund: Option<RefundView>,
    now_ms: i64,
) -> EventRecord {
    let id = format!("evt_{}", random_token(16));
    let body = EventBody {
        id: id.clone(),
        kind: kind.to_owned(),
        created_at: rfc3339(now_ms),
        merchant_id: merchant.id.clone(),
        data: EventData {
            payment: PaymentView::new(payment).with_attempts(attempts, payment.locale),
            refund,
        },
    };
    let url = payment
        .callback_url
        .clone()
        .or_else(|| merchant.webhook_url.clone());
    EventRecord {
        id,
        merchant_id: merchant.id.clone(),
        payment_id: payment.id.to_string(),
        kind: kind.to_owned(),
        payload: serde_json::to_string(&body).unwrap_or_default(),
        status: if url.is_some() {
            EventStatus::Pending
        } else {
            EventStatus::NoEndpoint
        },
        url,
        attempts: 0,
        next_attempt_at: now_ms,
        lease_until: None,
        created_at: now_ms,
        delivered_at: None,
    }
}

/// NestPay's callback of `payment`'s result `fields` to `url`: an outbox record delivered as a
/// form post (the payload keeps the fields in order, as `{"fields": [[name, value], …]}`).
pub fn nestpay_callback(
    merchant: &MerchantRecord,
    payment: &Payment,
    url: &str,
    fields: &[(String, String)],
    now_ms: i64,
) -> EventRecord {
    EventRecord {
        id: format!("evt_{}", random_token(16)),
        merchant_id: merchant.id.clone(),
        payment_id: payment.id.to_string(),
        kind: NESTPAY_CALLBACK.to_owned(),
        payload: serde_json::json!({ "fields": fields }).to_string(),
        status: EventStatus::Pending,
        url: Some(url.to_owned()),
        attempts: 0,
        next_attempt_at: now_ms,
        lease_until: None,
        created_at: now_ms,
        delivered_at: None,
    }
}

/// The form fields of a NestPay callback's payload.
pub fn nestpay_callback_fields(payload: &str) -> Option<Vec<(String, String)>> {
    #[derive(serde::Deserialize)]
    struct Payload {
        fields: Vec<(String, String)>,
    }
    serde_json::from_str::<Payload>(payload)
        .ok()
        .map(|p| p.fields)
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one `v1` per valid key.
pub fn signature_header(secrets: &[SecretString], t: i64, body: &[u8]) -> String {
    let mut message = format!("{t}.").into_bytes();
    message.extend_from_slice(body);
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&crate::crypto::hmac_hex(
            secret.expose_secret().as_bytes(),
            &message,
        ));
    }
    header
}

/// Delay before retry number `failed` (1 after the first failure): doubling from
/// `first_retry_ms` up to `max_retry_interval_secs`, with ±20 % jitter so that many failed
/// deliveries do not retry in lock-step.
pub fn retry_delay_ms(failed: u32, settings: &NotificationSettings) -> i64 {
    let cap =
        i64::try_from(settings.max_retry_interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let first = i64::try_from(settings.first_retry_ms).unwrap_or(i64::MAX);
    let base = first
        .saturating_mul(
            1_i64
                .checked_shl(failed.saturating_sub(1).min(40))
                .unwrap_or(i64::MAX),
        )
        .min(cap);
    let jitter = rand::rng().random_range(0.8..1.2);
    (base as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_has_one_v1_per_key() {
        let keys = [
            SecretString::from("a".to_owned()),
            SecretString::from("b".to_owned()),
        ];
        let h = signature_header(&keys, 1_700_000_000, b"{}");
        let parts: Vec<&str> = h.split(',').collect();
        assert_eq!(parts[0], "t=1700000000");
        assert_eq!(parts.len(), 3);
        assert_eq!(
            parts[1],
            format!("v1={}", crate::crypto::hmac_hex(b"a", b"1700000000.{}"))
        );
    }

    /// The test vector of docs/PROTOCOL.md §9.3, read from the document itself.
    #[test]
    fn documented_test_vector() {
        let doc = include_str!("../../docs/PROTOCOL.md");
        let section = &doc[doc.find("### 9.3 Verifying an event").unwrap_or(0)..];
        let body = section
            .lines()
            .find(|l| l.starts_with("{\"id\":\"evt_5b0e2f7c"))
            .unwrap_or_default();
        assert_eq!(body.len(), 111, "the documented body length");
        let keys = [SecretString::from(
            "sk_test_4f9c2b7e1a6d8305c7e2f1b9a4d6c8e0".to_owned(),
        )];
        let header = signature_header(&keys, 1_795_000_095, body.as_bytes());
        assert!(
            section.contains(&format!("```text\n{header}\n```")),
            "PROTOCOL.md §9.3 should show {header}"
        );
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let s = NotificationSettings::default();
        let d1 = retry_delay_ms(1, &s);
        assert!((8_000..=12_000).contains(&d1), "{d1}");
        let d3 = retry_delay_ms(3, &s);
        assert!((32_000..=48_000).contains(&d3), "{d3}");
        let d30 = retry_delay_ms(30, &s);
        assert!(d30 <= 21_600_000 * 12 / 10, "{d30}");
        assert!(retry_delay_ms(u32::MAX, &s) > 0);
    }
}
