//! A bank's daily settlement file (the simulator writes one; `kapi reconcile` reads one):
//! CSV with the header `transaction_id,host_ref,auth_code,amount,currency,type`, one line per
//! transaction the bank booked that day (docs/BANKS.md).

use crate::domain::{Currency, Money};

/// One line of a bank's settlement file: `transaction_id,host_ref,auth_code,amount,currency,
/// type` (docs/BANKS.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLine {
    pub transaction_id: String,
    pub amount_minor: i64,
    /// ISO 4217 alphabetic.
    pub currency: String,
    pub kind: String,
}

/// The settlement file's header.
pub const SETTLEMENT_HEADER: &str = "transaction_id,host_ref,auth_code,amount,currency,type";

/// Parses a settlement file; the line number and the reason of the first bad line.
pub fn parse_settlement(text: &str) -> Result<Vec<SettlementLine>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim() == SETTLEMENT_HEADER => {}
        _ => return Err(format!("line 1: the header must be `{SETTLEMENT_HEADER}`")),
    }
    lines
        .map(|(i, line)| {
            let bad = |why: &str| format!("line {}: {why}", i + 1);
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let [txn, _host, _auth, amount, currency, kind] = cols.as_slice() else {
                return Err(bad("six columns"));
            };
            let currency = Currency::parse(currency).map_err(|_| bad("a currency"))?;
            let money =
                Money::parse(amount, currency).map_err(|_| bad("an amount such as 150.00"))?;
            if txn.is_empty() {
                return Err(bad("a transaction id"));
            }
            Ok(SettlementLine {
                transaction_id: (*txn).to_owned(),
                amount_minor: money.minor(),
                currency: currency.code().to_owned(),
                kind: (*kind).to_owned(),
            })
        })
        .collect()
}

/// One line as the file writes it.
pub fn line(
    transaction_id: &str,
    host_ref: &str,
    auth_code: &str,
    amount_minor: i64,
    currency: Currency,
    kind: &str,
) -> String {
    format!(
        "{transaction_id},{host_ref},{auth_code},{},{},{kind}\n",
        crate::domain::money::decimal_minor(amount_minor, currency),
        currency.code()
    )
}
