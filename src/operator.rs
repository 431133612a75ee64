//! The operator's look inside, without a merchant's key: what `kapi merchant list`,
//! `kapi payments list` and `kapi payments show` print, readable or as JSON. Read only: the
//! views come from storage opened with `Access::ReadOnly`.
//!
//! Nothing here prints card data beyond the masked number the payment keeps, nor any secret.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{
    checkout::{Status, payment::Payment},
    clock::rfc3339,
    notify::views::{PaymentView, RefundView},
    storage::{
        EventFilter, EventRecord, MerchantRecord, NestpayRecord, PaymentFilter, Storage, StoreError,
    },
};

/// Which payments to list.
#[derive(Debug, Clone, Default)]
pub struct PaymentQuery {
    pub merchant_id: Option<String>,
    pub status: Option<Status>,
    /// Created at or after (Unix ms).
    pub since: Option<i64>,
    pub limit: i64,
}

/// `--since`: an RFC 3339 time (`2026-11-30T09:00:00Z`), a date (`2026-11-30`, midnight UTC),
/// or an age back from `now_ms` (`90m`, `24h`, `7d`). In Unix ms.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    let unit_ms = match text.chars().last() {
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        _ => None,
    };
    if let Some(unit) = unit_ms
        && let Some(n) = text
            .get(..text.len().saturating_sub(1))
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
    {
        return Ok(now_ms.saturating_sub(n.saturating_mul(unit)));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    time::OffsetDateTime::parse(&full, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .map_err(|_| {
            format!("--since `{text}` is neither a time (2026-11-30T09:00:00Z, 2026-11-30) nor an age (90m, 24h, 7d)")
        })
}

pub async fn payments(storage: &Storage, q: &PaymentQuery) -> Result<Vec<Payment>, StoreError> {
    let filter = PaymentFilter {
        status: q.status,
        from: q.since,
        limit: q.limit.clamp(1, 1000),
        ..PaymentFilter::default()
    };
    storage
        .payments
        .list_payments(q.merchant_id.as_deref(), &filter)
        .await
}

/// One line per payment, newest first.
pub fn payments_table(list: &[Payment]) -> String {
    let mut out = format!(
        "{:<38} {:<22} {:<20} {:>14} {:<4} {:<15} {}\n",
        "PAYMENT", "MERCHANT", "ORDER", "AMOUNT", "CUR", "STATUS", "CREATED"
    );
    for p in list {
        let _ = writeln!(
            out,
            "{:<38} {:<22} {:<20} {:>14} {:<4} {:<15} {}",
            p.id.as_str(),
            p.merchant_id.as_str(),
            clip(p.order_id.as_str(), 20),
            p.amount.to_decimal_string(),
            p.amount.currency().code(),
            p.status.as_str(),
            rfc3339(p.created_at)
        );
    }
    let _ = writeln!(out, "{} payment(s)", list.len());
    out
}

pub fn payments_json(list: &[Payment]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                with(
                    json!(PaymentView::new(p)),
                    "merchant_id",
                    json!(p.merchant_id.as_str()),
                )
            })
            .collect(),
    )
}

/// A payment with everything that happened to it.
pub struct PaymentDetail {
    pub payment: Payment,
    pub view: PaymentView,
    pub events: Vec<EventRecord>,
    pub reversals: Vec<crate::storage::ReversalRecord>,
    pub consents: Vec<crate::storage::ConsentRecord>,
    pub refunds: Vec<crate::storage::RefundRecord>,
    pub history: Vec<crate::storage::HistoryRecord>,
}

pub async fn payment(storage: &Storage, id: &str) -> Result<Option<PaymentDetail>, StoreError> {
    let Some(payment) = storage.payments.get_payment(id).await? else {
        return Ok(None);
    };
    let attempts = storage.payments.attempts(id).await?;
    let refunds = storage.payments.refunds(id).await?;
    let history = storage.payments.history(id).await?;
    let view = PaymentView::new(&payment)
        .with_attempts(&attempts, payment.locale)
        .with_details(&refunds, &history);
    let events = storage
        .outbox
        .list_events(
            payment.merchant_id.as_str(),
            &EventFilter {
                payment_id: Some(id.to_owned()),
                limit: 100,
                ..EventFilter::default()
            },
        )
        .await?;
    Ok(Some(PaymentDetail {
        view,
        events,
        reversals: storage.payments.reversals(id).await?,
        consents: storage.payments.consents(id).await?,
        refunds,
        history,
        payment,
    }))
}

impl PaymentDetail {
    pub fn to_json(&self) -> Value {
        let v = with(
            json!(self.view),
            "merchant_id",
            json!(self.payment.merchant_id.as_str()),
        );
        let events: Value = self
            .events
            .iter()
            .map(|e| {
                json!({
                    "id": e.id, "type": e.kind, "status": e.status.as_str(),
                    "attempts": e.attempts, "url": e.url,
                    "created_at": rfc3339(e.created_at),
                    "delivered_at": e.delivered_at.map(rfc3339),
                    "next_attempt_at": rfc3339(e.next_attempt_at),
                })
            })
            .collect();
        let reversals: Value = self
            .reversals
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "status": r.status.as_str(), "attempts": r.attempts,
                    "terminal_id": r.terminal_id, "created_at": rfc3339(r.created_at),
                })
            })
            .collect();
        let consents: Value = self
            .consents
            .iter()
            .map(|c| {
                json!({
                    "document": c.document_kind, "template_version": c.template_version,
                    "text_sha256": c.text_sha256, "accepted_at": rfc3339(c.accepted_at),
                    "client_ip": c.client_ip,
                })
            })
            .collect();
        let v = with(v, "events", events);
        let v = with(v, "reversals", reversals);
        with(v, "consents", consents)
    }

    pub fn to_text(&self) -> String {
        let p = &self.payment;
        let mut out = String::new();
        let _ = writeln!(out, "payment   {}", p.id.as_str());
        let _ = writeln!(out, "merchant  {}", p.merchant_id.as_str());
        let _ = writeln!(out, "order     {}", p.order_id.as_str());
        let _ = writeln!(
            out,
            "amount    {} {}",
            p.amount.to_decimal_string(),
            p.amount.currency().code()
        );
        let _ = writeln!(
            out,
            "status    {}{}",
            p.status.as_str(),
            p.error_code
                .map(|c| format!(" ({})", c.code()))
                .unwrap_or_default()
        );
        if let Some(card) = &self.view.card {
            let _ = writeln!(
                out,
                "card      {} {}",
                card.brand.as_deref().unwrap_or("?"),
                card.masked_pan.as_deref().unwrap_or("?")
            );
        }
        let _ = writeln!(out, "created   {}", rfc3339(p.created_at));
        let _ = writeln!(out, "\nhistory");
        for h in &self.history {
            let _ = writeln!(
                out,
                "  {}  {} -> {}",
                rfc3339(h.at),
                h.from_status.as_deref().unwrap_or("-"),
                h.to_status
            );
        }
        if let Some(attempts) = self.view.attempts.as_ref().filter(|a| !a.is_empty()) {
            let _ = writeln!(out, "\ncard attempts");
            for a in attempts {
                let _ = writeln!(out, "  {}", json!(a));
            }
        }
        if !self.refunds.is_empty() {
            let _ = writeln!(out, "\nrefunds and voids");
            for r in &self.refunds {
                let view = RefundView::new(r, p.amount.currency());
                let _ = writeln!(
                    out,
                    "  {}  {} {} {}  {}",
                    view.id, view.kind, view.amount, view.currency, view.status
                );
            }
        }
        if !self.reversals.is_empty() {
            let _ = writeln!(out, "\nreversals");
            for r in &self.reversals {
                let _ = writeln!(
                    out,
                    "  {}  {}  attempts {}",
                    r.id,
                    r.status.as_str(),
                    r.attempts
                );
            }
        }
        let _ = writeln!(out, "\nevents");
        for e in &self.events {
            let _ = writeln!(
                out,
                "  {}  {:<22} {:<10} attempts {}",
                e.id,
                e.kind,
                e.status.as_str(),
                e.attempts
            );
        }
        if !self.consents.is_empty() {
            let _ = writeln!(out, "\nconsents");
            for c in &self.consents {
                let _ = writeln!(
                    out,
                    "  {}  {} v{} from {}",
                    rfc3339(c.accepted_at),
                    c.document_kind,
                    c.template_version,
                    c.client_ip
                );
            }
        }
        out
    }
}

pub fn merchants_table(list: &[MerchantRecord]) -> String {
    let mut out = format!(
        "{:<24} {:<30} {:<10} {}\n",
        "MERCHANT", "NAME", "CREATED", "RETURN ORIGINS"
    );
    for m in list {
        let created = rfc3339(m.created_at);
        let _ = writeln!(
            out,
            "{:<24} {:<30} {:<10} {}",
            m.id,
            clip(&m.name, 30),
            created.get(..10).unwrap_or(&created),
            m.origins().join(" ")
        );
    }
    let _ = writeln!(out, "{} merchant(s)", list.len());
    out
}

/// The merchants as JSON, with their NestPay set-ups (`nestpay`: client id, API user and the
/// consents declaration; never the store key or the password).
pub fn merchants_json(list: &[MerchantRecord], nestpay: &[NestpayRecord]) -> Value {
    Value::Array(
        list.iter()
            .map(|m| {
                let gateway = nestpay.iter().find(|n| n.merchant_id == m.id).map(|n| {
                    json!({
                        "client_id": n.client_id, "api_user": n.api_user,
                        "shows_consents": n.shows_consents(),
                    })
                });
                json!({
                    "id": m.id, "name": m.name, "legal_title": m.legal_title,
                    "email": m.email, "phone": m.phone, "mersis": m.mersis,
                    "website": m.website, "return_origins": m.origins(),
                    "webhook_url": m.webhook_url, "created_at": rfc3339(m.created_at),
                    "missing_legal_details": crate::merchants::missing_legal_details(m),
                    "nestpay": gateway,
                })
            })
            .collect(),
    )
}

/// `v` with `key` set (when `v` is an object).
fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Some(object) = v.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
    v
}

/// At most `n` characters, with `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(n.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_dates_and_ages() {
        let now = 1_796_040_000_000;
        assert_eq!(parse_since("90m", now), Ok(now - 90 * 60_000));
        assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_since("1970-01-02", now), Ok(86_400_000));
        assert_eq!(parse_since("1970-01-01T00:00:01Z", now), Ok(1000));
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("-5h", now).is_err());
    }
}
