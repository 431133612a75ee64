//! The daily report (mutabakat): per merchant, currency and terminal, the counts and sums of a
//! calendar day in Europe/Istanbul (the day the void cut-off uses), built by a pure function
//! from the payments and the after-sale operations of that day (docs/PROTOCOL.md §8.9).
//!
//! What counts on a day: a sale when it was authorised (`approved_at` in the day, whatever
//! happened to it later), a pre-authorisation's hold likewise (`authorised`, not money), a
//! decline, failure, cancellation or expiry when the payment ended, and a void, refund or
//! capture when the bank confirmed it. `net` is sales plus captures minus voids and refunds.

use std::collections::BTreeMap;

use serde::Serialize;
use time::Date;

pub use crate::clock::{istanbul_day_bounds as day_bounds, parse_day as parse_date};
pub use crate::wire::settlement::{SETTLEMENT_HEADER, SettlementLine, parse_settlement};

use crate::{
    checkout::{
        Status,
        payment::{Intent, Payment},
    },
    domain::{Currency, money::decimal_minor},
    storage::{RefundKind, RefundRecord},
};

/// A count and a sum (minor units while adding up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sum {
    count: u64,
    minor: i64,
}

impl Sum {
    fn add(&mut self, minor: i64) {
        self.count += 1;
        self.minor = self.minor.saturating_add(minor);
    }
}

/// A count and its amount, as the report shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub count: u64,
    /// Decimal string, e.g. `150.00`.
    pub amount: String,
}

/// One merchant's day in one currency at one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub merchant_id: String,
    pub currency: String,
    /// The terminal that authorised (or, for a payment that ended before the bank, the one it
    /// was routed to); `null` when none was chosen (ended before a card was submitted).
    pub terminal_id: Option<String>,
    pub terminal_bank: Option<String>,
    pub terminal_platform: Option<String>,
    /// Sales authorised this day (charged amount, installment interest included).
    pub approved: Tally,
    /// Pre-authorisations whose hold the bank approved this day (held, not charged).
    pub authorised: Tally,
    pub declined: Tally,
    pub failed: Tally,
    pub cancelled: Tally,
    pub expired: Tally,
    /// Captures of holds the bank confirmed this day.
    pub captured: Tally,
    /// Voids of sales the bank confirmed this day.
    pub voided: Tally,
    /// Holds released (voids of pre-authorisations) the bank confirmed this day: no money.
    pub released: Tally,
    /// Refunds the bank confirmed this day.
    pub refunded: Tally,
    /// The installment interest (vade farkı) within `approved`.
    pub installment_fees: String,
    /// `approved` + `captured` − `voided` − `refunded`.
    pub net: String,
}

/// The daily report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DailyReport {
    /// `YYYY-MM-DD`, Europe/Istanbul.
    pub date: String,
    pub timezone: String,
    /// By merchant, currency and terminal.
    pub rows: Vec<ReportRow>,
}

#[derive(Default)]
struct Acc {
    approved: Sum,
    authorised: Sum,
    declined: Sum,
    failed: Sum,
    cancelled: Sum,
    expired: Sum,
    captured: Sum,
    voided: Sum,
    released: Sum,
    refunded: Sum,
    fees: i64,
    bank: Option<String>,
    platform: Option<String>,
    currency: Option<Currency>,
}

fn in_day(at: Option<i64>, (from, to): (i64, i64)) -> bool {
    at.is_some_and(|t| t >= from && t < to)
}

/// The terminal a payment counts under: the one that authorised it, else the routed one.
fn terminal_of(p: &Payment) -> (Option<String>, Option<String>, Option<String>) {
    let authorised = p
        .authorisation
        .as_ref()
        .map(|a| a.terminal_id.clone())
        .filter(|t| !t.is_empty());
    let routed = p.routing.as_ref();
    let id = authorised.or_else(|| routed.map(|r| r.terminal_id.clone()));
    let same = routed.filter(|r| Some(&r.terminal_id) == id.as_ref());
    (
        id,
        same.map(|r| r.bank.clone()).filter(|b| !b.is_empty()),
        same.map(|r| r.platform.clone()),
    )
}

/// Merchant, currency code, terminal.
type Key = (String, &'static str, Option<String>);

/// The row a payment counts in (made when it is the first of its merchant, currency and
/// terminal).
fn row<'a>(rows: &'a mut BTreeMap<Key, Acc>, p: &Payment) -> &'a mut Acc {
    let (terminal, bank, platform) = terminal_of(p);
    let a = rows
        .entry((p.merchant_id.to_string(), p.currency().code(), terminal))
        .or_insert_with(|| Acc {
            currency: Some(p.currency()),
            ..Acc::default()
        });
    if a.bank.is_none() {
        a.bank = bank;
    }
    if a.platform.is_none() {
        a.platform = platform;
    }
    a
}

/// Builds the report of `date` from the payments that moved or were authorised that day and
/// the after-sale operations confirmed that day.
pub fn daily(
    date: Date,
    payments: &[Payment],
    after_sales: &[(RefundRecord, Payment)],
) -> DailyReport {
    let bounds = day_bounds(date);
    let mut rows: BTreeMap<Key, Acc> = BTreeMap::new();
    for p in payments {
        let authorised_at = p.authorisation.as_ref().and_then(|a| a.authorised_at);
        let a = row(&mut rows, p);
        if p.status.was_authorised() && in_day(authorised_at, bounds) {
            match p.intent {
                Intent::Sale => {
                    a.approved.add(p.charged_minor());
                    a.fees = a.fees.saturating_add(p.installment_fee_minor);
                }
                Intent::PreAuth => a.authorised.add(p.charged_minor()),
            }
        }
        if in_day(Some(p.updated_at), bounds) {
            let amount = p.charged_minor();
            match p.status {
                Status::Declined => a.declined.add(amount),
                Status::Failed => a.failed.add(amount),
                Status::Cancelled => a.cancelled.add(amount),
                Status::Expired => a.expired.add(amount),
                _ => {}
            }
        }
    }
    for (r, p) in after_sales {
        let a = row(&mut rows, p);
        match r.kind {
            RefundKind::Void if p.intent == Intent::PreAuth => a.released.add(r.amount_minor),
            RefundKind::Void => a.voided.add(r.amount_minor),
            RefundKind::Refund => a.refunded.add(r.amount_minor),
            RefundKind::Capture => a.captured.add(r.amount_minor),
        }
    }
    let rows = rows
        .into_iter()
        // A payment that moved without counting (still open) makes no row.
        .filter(|(_, a)| {
            [
                a.approved,
                a.authorised,
                a.declined,
                a.failed,
                a.cancelled,
                a.expired,
                a.captured,
                a.voided,
                a.released,
                a.refunded,
            ]
            .iter()
            .any(|s| s.count > 0)
        })
        .map(|((merchant_id, code, terminal_id), a)| {
            let currency = a.currency.unwrap_or(Currency::Try);
            let money = |minor: i64| decimal_minor(minor, currency);
            let tally = |s: Sum| Tally {
                count: s.count,
                amount: money(s.minor),
            };
            let net = a
                .approved
                .minor
                .saturating_add(a.captured.minor)
                .saturating_sub(a.voided.minor)
                .saturating_sub(a.refunded.minor);
            ReportRow {
                merchant_id,
                currency: code.to_owned(),
                terminal_id,
                terminal_bank: a.bank,
                terminal_platform: a.platform,
                approved: tally(a.approved),
                authorised: tally(a.authorised),
                declined: tally(a.declined),
                failed: tally(a.failed),
                cancelled: tally(a.cancelled),
                expired: tally(a.expired),
                captured: tally(a.captured),
                voided: tally(a.voided),
                released: tally(a.released),
                refunded: tally(a.refunded),
                installment_fees: money(a.fees),
                net: money(net),
            }
        })
        .collect();
    DailyReport {
        date: date.to_string(),
        timezone: "Europe/Istanbul".to_owned(),
        rows,
    }
}

/// The report as CSV: a header, then one line per row.
pub fn to_csv(report: &DailyReport) -> String {
    let tallies = [
        "approved",
        "authorised",
        "declined",
        "failed",
        "cancelled",
        "expired",
        "captured",
        "voided",
        "released",
        "refunded",
    ];
    let mut header = vec![
        "date".to_owned(),
        "merchant_id".to_owned(),
        "currency".to_owned(),
        "terminal_id".to_owned(),
        "terminal_bank".to_owned(),
        "terminal_platform".to_owned(),
    ];
    for t in tallies {
        header.push(format!("{t}_count"));
        header.push(format!("{t}_amount"));
    }
    header.extend(["installment_fees".to_owned(), "net".to_owned()]);
    let mut out = header.join(",");
    out.push('\n');
    for r in &report.rows {
        let cell = |v: &str| {
            if v.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_owned()
            }
        };
        let mut line = vec![
            report.date.clone(),
            cell(&r.merchant_id),
            r.currency.clone(),
            cell(r.terminal_id.as_deref().unwrap_or("")),
            cell(r.terminal_bank.as_deref().unwrap_or("")),
            cell(r.terminal_platform.as_deref().unwrap_or("")),
        ];
        for t in [
            &r.approved,
            &r.authorised,
            &r.declined,
            &r.failed,
            &r.cancelled,
            &r.expired,
            &r.captured,
            &r.voided,
            &r.released,
            &r.refunded,
        ] {
            line.push(t.count.to_string());
            line.push(t.amount.clone());
        }
        line.push(r.installment_fees.clone());
        line.push(r.net.clone());
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The report of `date`, of one merchant or of all, from the store.
pub async fn daily_of(
    store: &dyn crate::storage::PaymentStore,
    merchant_id: Option<&str>,
    date: Date,
) -> Result<DailyReport, crate::storage::StoreError> {
    let (from, to) = day_bounds(date);
    let payments = store.payments_of_period(merchant_id, from, to).await?;
    let after_sales = store.after_sales_of_period(merchant_id, from, to).await?;
    Ok(daily(date, &payments, &after_sales))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_keep_their_decimals_and_sign() {
        assert_eq!(decimal_minor(0, Currency::Try), "0.00");
        assert_eq!(decimal_minor(13_000, Currency::Try), "130.00");
        assert_eq!(decimal_minor(5, Currency::Eur), "0.05");
        assert_eq!(decimal_minor(-2_050, Currency::Usd), "-20.50");
    }

    #[test]
    fn a_day_is_istanbul_midnight_to_midnight() {
        let date = parse_date("2026-11-30").unwrap();
        let (from, to) = day_bounds(date);
        // 2026-11-29 21:00 UTC is midnight in Istanbul.
        assert_eq!(from, 1_795_986_000_000);
        assert_eq!(to - from, 86_400_000);
        assert_eq!(crate::clock::istanbul_day(from), date);
        assert_eq!(crate::clock::istanbul_day(to - 1), date);
        for bad in [
            "2026-11-31",
            "2026-1-30",
            "30.11.2026",
            "2026-11-30T00:00",
            "9999-12-31",
            "0001-01-01",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}

/// What Kapı booked at a terminal on a day, by bank transaction id: sales and holds authorised,
/// and the voids, refunds and captures the bank confirmed.
pub fn books_of_day(
    date: Date,
    terminal_id: &str,
    payments: &[Payment],
    after_sales: &[(RefundRecord, Payment)],
) -> BTreeMap<String, (i64, String)> {
    let bounds = day_bounds(date);
    let at_terminal = |p: &Payment| terminal_of(p).0.as_deref() == Some(terminal_id);
    let mut books = BTreeMap::new();
    for p in payments.iter().filter(|p| at_terminal(p)) {
        let a = p.authorisation.as_ref();
        if p.status.was_authorised()
            && in_day(a.and_then(|a| a.authorised_at), bounds)
            && let Some(txn) = a.and_then(|a| a.transaction_id.clone())
        {
            books.insert(txn, (p.charged_minor(), p.currency().code().to_owned()));
        }
    }
    for (r, p) in after_sales.iter().filter(|(_, p)| at_terminal(p)) {
        if let Some(txn) = r.transaction_id.clone() {
            books.insert(txn, (r.amount_minor, p.currency().code().to_owned()));
        }
    }
    books
}

/// A settlement file against Kapı's books: how many matched, and what differs.
pub fn reconcile(
    date: Date,
    terminal_id: &str,
    file: &[SettlementLine],
    books: &BTreeMap<String, (i64, String)>,
    now_ms: i64,
) -> (usize, Vec<crate::storage::ReconciliationIssue>) {
    let issue = |kind: &str, txn: &str, bank: Option<i64>, kapi: Option<i64>, currency: &str| {
        crate::storage::ReconciliationIssue {
            id: format!("rec_{}", crate::domain::ids::random_token(12)),
            day: date.to_string(),
            terminal_id: terminal_id.to_owned(),
            kind: kind.to_owned(),
            transaction_id: txn.to_owned(),
            bank_amount_minor: bank,
            kapi_amount_minor: kapi,
            currency: currency.to_owned(),
            created_at: now_ms,
        }
    };
    let mut matched = 0;
    let mut issues = Vec::new();
    for line in file {
        match books.get(&line.transaction_id) {
            None => issues.push(issue(
                "missing_in_kapi",
                &line.transaction_id,
                Some(line.amount_minor),
                None,
                &line.currency,
            )),
            Some((kapi, _)) if *kapi != line.amount_minor => issues.push(issue(
                "amount_differs",
                &line.transaction_id,
                Some(line.amount_minor),
                Some(*kapi),
                &line.currency,
            )),
            Some(_) => matched += 1,
        }
    }
    for (txn, (kapi, currency)) in books {
        if !file.iter().any(|l| &l.transaction_id == txn) {
            issues.push(issue("missing_at_bank", txn, None, Some(*kapi), currency));
        }
    }
    (matched, issues)
}

#[cfg(test)]
mod reconcile_tests {
    use super::*;

    #[test]
    fn a_settlement_file_is_read_strictly_and_compared_both_ways() {
        let text = format!(
            "{SETTLEMENT_HEADER}\n26001,612345678901,ABC123,150.00,TRY,sale\n\
             26002,612345678902,,20.00,TRY,refund\n26009,612345678909,,5.00,TRY,sale\n"
        );
        let file = parse_settlement(&text).unwrap();
        assert_eq!(file.len(), 3);
        assert_eq!(file[0].amount_minor, 15_000);
        let mut books = BTreeMap::new();
        books.insert("26001".to_owned(), (15_000, "TRY".to_owned()));
        books.insert("26002".to_owned(), (2_500, "TRY".to_owned()));
        books.insert("26003".to_owned(), (7_000, "TRY".to_owned()));
        let date = parse_date("2026-11-30").unwrap();
        let (matched, issues) = reconcile(date, "T1", &file, &books, 0);
        assert_eq!(matched, 1);
        let kinds: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.kind.as_str(), i.transaction_id.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("amount_differs", "26002"),
                ("missing_in_kapi", "26009"),
                ("missing_at_bank", "26003")
            ]
        );
        assert!(parse_settlement("id,amount\n").is_err());
        assert!(parse_settlement(&format!("{SETTLEMENT_HEADER}\n1,2,3,1.0.0,TRY,sale\n")).is_err());
        assert!(parse_settlement(&format!("{SETTLEMENT_HEADER}\n1,2,3,1.00,XXX,sale\n")).is_err());
    }
}
