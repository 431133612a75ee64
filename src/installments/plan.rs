//! A merchant's installment plan and the offers it makes for one card and one amount.
//!
//! The plan says which counts (2–12) the merchant offers, the interest (vade farkı) for each,
//! optionally per card program, and who bears it. The regulator's caps per product category
//! (BDDK) come from the operator's configuration and cut the offers down; debit and prepaid
//! cards, unknown cards and other currencies than TRY pay at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bins::{BinInfo, CardKind};
use crate::domain::{Currency, Money};

/// Who pays the interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bearer {
    /// Added to what the shopper is charged.
    Shopper,
    /// The merchant's cost: the shopper is charged the order amount.
    Merchant,
}

/// An interest rate in basis points of the amount: 325 is 3.25 %. Parsed from a decimal
/// string with at most two decimals, 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(u32);

impl Rate {
    pub const ZERO: Self = Self(0);

    pub fn parse(s: &str) -> Option<Self> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || int.len() > 3 || frac.len() > 2 || !digits(int) || !digits(frac) {
            return None;
        }
        if s.ends_with('.') {
            return None;
        }
        let frac_bp: u32 = format!("{frac:0<2}").parse().ok()?;
        let bp = int.parse::<u32>().ok()? * 100 + frac_bp;
        (bp <= 10_000).then_some(Self(bp))
    }

    /// `3.25`, as written in plans and the API.
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// The interest on `minor`, rounded half up to the minor unit.
    pub fn of(self, minor: i64) -> i64 {
        let scaled = i128::from(minor) * i128::from(self.0);
        i64::try_from((scaled + 5_000) / 10_000).unwrap_or(i64::MAX)
    }
}

/// One count a plan offers and its interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOption {
    pub count: u8,
    pub rate: Rate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("the plan is not valid JSON of the documented shape: {0}")]
    Shape(String),
    #[error("installment count `{0}` must be 2 to 12")]
    Count(String),
    #[error(
        "rate `{0}` must be a percentage from 0 to 100 with at most two decimals, e.g. \"3.25\""
    )]
    Rate(String),
    #[error("category `{0}` must be 1 to 32 lowercase letters, digits or _")]
    Category(String),
    #[error("program `{0}` must be a program name (letters and digits), e.g. \"bonus\"")]
    Program(String),
    #[error("the plan offers no installment count")]
    Empty,
}

/// The plan as written (JSON), before it is checked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    bearer: Bearer,
    #[serde(default = "general")]
    category: String,
    /// Count → rate (percent), for any credit card.
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Program → (count → rate): replaces `options` for that program's cards.
    #[serde(default)]
    programs: BTreeMap<String, BTreeMap<String, String>>,
}

fn general() -> String {
    GENERAL.to_owned()
}

/// The category of anything the regulator does not single out.
pub const GENERAL: &str = "general";

/// A checked installment plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallmentPlan {
    pub bearer: Bearer,
    /// The product category (BDDK) of what the merchant sells, e.g. `electronics`.
    pub category: String,
    /// For credit cards of any program not listed in `programs`, by count.
    pub options: Vec<PlanOption>,
    /// Per card program id (`bonus`, `world`, …).
    pub programs: BTreeMap<String, Vec<PlanOption>>,
}

fn parse_options(raw: &BTreeMap<String, String>) -> Result<Vec<PlanOption>, PlanError> {
    let mut options = raw
        .iter()
        .map(|(count, rate)| {
            let n = count
                .parse::<u8>()
                .ok()
                .filter(|n| (2..=12).contains(n) && !count.starts_with('0'))
                .ok_or_else(|| PlanError::Count(count.clone()))?;
            let rate = Rate::parse(rate).ok_or_else(|| PlanError::Rate(rate.clone()))?;
            Ok(PlanOption { count: n, rate })
        })
        .collect::<Result<Vec<_>, _>>()?;
    options.sort_by_key(|o| o.count);
    Ok(options)
}

pub fn valid_category(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 32
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl InstallmentPlan {
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let file: PlanFile =
            serde_json::from_str(text).map_err(|e| PlanError::Shape(e.to_string()))?;
        if !valid_category(&file.category) {
            return Err(PlanError::Category(file.category));
        }
        let options = parse_options(&file.options)?;
        let mut programs = BTreeMap::new();
        for (name, raw) in &file.programs {
            let id = super::bins::program_id(name)
                .filter(|id| id == name)
                .ok_or_else(|| PlanError::Program(name.clone()))?;
            programs.insert(id, parse_options(raw)?);
        }
        if options.is_empty() && programs.values().all(Vec::is_empty) {
            return Err(PlanError::Empty);
        }
        Ok(Self {
            bearer: file.bearer,
            category: file.category,
            options,
            programs,
        })
    }

    /// The canonical JSON form, as stored.
    pub fn to_json(&self) -> String {
        let map = |options: &[PlanOption]| {
            options
                .iter()
                .map(|o| (o.count.to_string(), o.rate.to_decimal_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let file = PlanFile {
            bearer: self.bearer,
            category: self.category.clone(),
            options: map(&self.options),
            programs: self
                .programs
                .iter()
                .map(|(k, v)| (k.clone(), map(v)))
                .collect(),
        };
        serde_json::to_string(&file).unwrap_or_default()
    }

    /// The options for a card of `program`.
    pub fn options_for(&self, program: Option<&str>) -> &[PlanOption] {
        program
            .and_then(|p| self.programs.get(p))
            .unwrap_or(&self.options)
    }
}

/// The regulator's caps (BDDK): the longest term per product category; from configuration.
#[derive(Debug, Clone)]
pub struct Caps {
    /// For any category not listed, and the ceiling of every category's limit.
    pub general: u8,
    /// For commercial cards, to which the category limits do not apply.
    pub commercial: u8,
    pub categories: BTreeMap<String, u8>,
}

impl Caps {
    /// The most installments a card of `kind` may have for `category` (1: single payment).
    pub fn max_count(&self, kind: CardKind, category: &str) -> u8 {
        let cap = match kind {
            CardKind::Commercial => self.commercial,
            _ => self
                .categories
                .get(category)
                .copied()
                .unwrap_or(self.general)
                .min(self.general),
        };
        cap.clamp(1, 12)
    }
}

/// One way to pay: a count and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub count: u8,
    /// The interest charged to the shopper (0 when the merchant bears it).
    pub fee_minor: i64,
    /// What the card is charged: the amount plus the fee.
    pub total_minor: i64,
}

impl Offer {
    pub fn single(amount_minor: i64) -> Self {
        Self {
            count: 1,
            fee_minor: 0,
            total_minor: amount_minor,
        }
    }

    /// Each installment; the first carries the remainder of the division.
    pub fn installments(&self) -> (i64, i64) {
        let n = i64::from(self.count.max(1));
        let each = self.total_minor / n;
        (each + self.total_minor % n, each)
    }
}

/// The offers for a card: single payment first, then every count the plan offers for the
/// card's program that the caps allow. Only TRY payments are paid in installments.
pub fn offers(
    plan: Option<&InstallmentPlan>,
    card: Option<&BinInfo>,
    amount: Money,
    caps: &Caps,
) -> Vec<Offer> {
    let single = Offer::single(amount.minor());
    let (Some(plan), Some(info)) = (plan, card) else {
        return vec![single];
    };
    // Only a card the table knows as a credit card is offered anything.
    if amount.currency() != Currency::Try || !info.kind.allows_installments() {
        return vec![single];
    }
    let max = caps.max_count(info.kind, &plan.category);
    let program = info.program.as_ref().map(|p| p.id.as_str());
    let mut offers = vec![single];
    for option in plan.options_for(program) {
        if option.count > max {
            continue;
        }
        let fee = match plan.bearer {
            Bearer::Shopper => option.rate.of(amount.minor()),
            Bearer::Merchant => 0,
        };
        let total = amount.minor().saturating_add(fee);
        if Money::from_minor(total, amount.currency()).is_err() {
            continue;
        }
        offers.push(Offer {
            count: option.count,
            fee_minor: fee,
            total_minor: total,
        });
    }
    offers
}

/// A count the merchant fixed when starting the payment (the bank-style `installment` field):
/// no interest is added (the merchant priced it in). A card the table knows to pay at once
/// (debit, prepaid) or a count over the cap is refused; a card the table does not know is
/// left to its bank, as at a bank's own page.
pub fn fixed(
    count: u8,
    plan: Option<&InstallmentPlan>,
    card: Option<&BinInfo>,
    amount: Money,
    caps: &Caps,
) -> Option<Offer> {
    let offer = Offer {
        count,
        ..Offer::single(amount.minor())
    };
    if count <= 1 {
        return Some(offer);
    }
    let kind = card.map_or(CardKind::Credit, |c| c.kind);
    let category = plan.map_or(GENERAL, |p| p.category.as_str());
    (kind.allows_installments() && count <= caps.max_count(kind, category)).then_some(offer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::installments::bins::{BUILT_IN, BinTable};

    fn plan() -> InstallmentPlan {
        InstallmentPlan::from_json(
            r#"{"bearer": "shopper", "category": "general",
                "options": {"2": "1.50", "3": "2.75", "6": "5.90", "9": "8.50", "12": "11.90"},
                "programs": {"bonus": {"2": "0", "3": "0", "6": "4.00"}}}"#,
        )
        .unwrap()
    }

    fn caps() -> Caps {
        Caps {
            general: 12,
            commercial: 12,
            categories: [("electronics".into(), 4), ("jewellery".into(), 1)].into(),
        }
    }

    fn try_(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Try).unwrap()
    }

    #[test]
    fn rates_are_strict_percentages() {
        assert_eq!(Rate::parse("3.25"), Some(Rate(325)));
        assert_eq!(Rate::parse("0"), Some(Rate(0)));
        assert_eq!(Rate::parse("12.5"), Some(Rate(1250)));
        assert_eq!(Rate::parse("100"), Some(Rate(10_000)));
        for bad in ["", "-1", "1.234", "100.01", "1,5", "1e2", ".5", "5.", " 1"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
        assert_eq!(Rate(325).to_decimal_string(), "3.25");
    }

    #[test]
    fn interest_rounds_half_up_to_the_kurus() {
        // 2,75 % of 150,00 TL = 4,125 TL → 4,13 TL.
        assert_eq!(Rate(275).of(15_000), 413);
        assert_eq!(Rate(0).of(15_000), 0);
        assert_eq!(Rate(10_000).of(i64::MAX / 2), i64::MAX / 2);
    }

    #[test]
    fn the_first_installment_carries_the_remainder() {
        let o = Offer {
            count: 3,
            fee_minor: 413,
            total_minor: 15_413,
        };
        assert_eq!(o.installments(), (5_139, 5_137));
        assert_eq!(5_139 + 2 * 5_137, 15_413);
    }

    #[test]
    fn a_card_gets_its_programs_options_within_the_caps() {
        let bins = BinTable::parse(BUILT_IN).unwrap();
        let p = plan();
        let counts = |pan: &str, amount: Money, caps: &Caps| -> Vec<u8> {
            offers(Some(&p), bins.lookup(pan), amount, caps)
                .iter()
                .map(|o| o.count)
                .collect()
        };
        // Bonus: its own options, interest-free 2 and 3.
        let bonus = offers(
            Some(&p),
            bins.lookup("4111111111111111"),
            try_(15_000),
            &caps(),
        );
        assert_eq!(
            bonus.iter().map(|o| o.count).collect::<Vec<_>>(),
            [1, 2, 3, 6]
        );
        assert_eq!(bonus[1].total_minor, 15_000);
        assert_eq!(bonus[3].fee_minor, 600);
        // World: the general options.
        assert_eq!(
            counts("5555555555554444", try_(15_000), &caps()),
            [1, 2, 3, 6, 9, 12]
        );
        // Debit, unknown and foreign-currency: single payment only.
        assert_eq!(counts("4355080000000005", try_(15_000), &caps()), [1]);
        assert_eq!(counts("4242424242424242", try_(15_000), &caps()), [1]);
        let usd = Money::from_minor(15_000, Currency::Usd).unwrap();
        assert_eq!(counts("5555555555554444", usd, &caps()), [1]);
        // The category caps cut the offers; commercial cards are not bound by them.
        let mut electronics = p.clone();
        electronics.category = "electronics".into();
        let e = |pan| {
            offers(Some(&electronics), bins.lookup(pan), try_(15_000), &caps())
                .iter()
                .map(|o| o.count)
                .collect::<Vec<_>>()
        };
        assert_eq!(e("5555555555554444"), [1, 2, 3]);
        assert_eq!(e("5526080000000006"), [1, 2, 3, 6]);
        // Without a plan: single payment.
        assert_eq!(
            offers(None, bins.lookup("4111111111111111"), try_(100), &caps()).len(),
            1
        );
    }

    #[test]
    fn the_merchant_may_bear_the_interest() {
        let mut p = plan();
        p.bearer = Bearer::Merchant;
        let bins = BinTable::parse(BUILT_IN).unwrap();
        let o = offers(
            Some(&p),
            bins.lookup("5555555555554444"),
            try_(15_000),
            &caps(),
        );
        assert!(
            o.iter()
                .all(|o| o.total_minor == 15_000 && o.fee_minor == 0)
        );
    }

    #[test]
    fn a_fixed_count_needs_a_card_that_allows_it() {
        let bins = BinTable::parse(BUILT_IN).unwrap();
        let credit = bins.lookup("5555555555554444");
        assert_eq!(
            fixed(3, None, credit, try_(100), &caps()).map(|o| o.count),
            Some(3)
        );
        assert_eq!(
            fixed(3, None, bins.lookup("4355080000000005"), try_(100), &caps()),
            None
        );
        // Unknown to the table: the bank decides.
        assert_eq!(
            fixed(3, None, None, try_(100), &caps()).map(|o| o.count),
            Some(3)
        );
        assert_eq!(
            fixed(1, None, None, try_(100), &caps()).map(|o| o.count),
            Some(1)
        );
        let mut jewellery = plan();
        jewellery.category = "jewellery".into();
        assert_eq!(fixed(2, Some(&jewellery), credit, try_(100), &caps()), None);
    }

    proptest::proptest! {
        #[test]
        fn rates_and_plans_never_panic(s in "\\PC{0,40}") {
            let _ = Rate::parse(&s);
            let _ = InstallmentPlan::from_json(&s);
        }

        #[test]
        fn rates_round_trip(bp in 0u32..=10_000) {
            let r = Rate(bp);
            proptest::prop_assert_eq!(Rate::parse(&r.to_decimal_string()), Some(r));
        }

        #[test]
        fn interest_is_never_negative_nor_more_than_the_amount(minor in 1i64..10_000_000_000_000, bp in 0u32..=10_000) {
            let fee = Rate(bp).of(minor);
            proptest::prop_assert!((0..=minor).contains(&fee));
        }
    }

    #[test]
    fn plans_are_checked_and_round_trip() {
        let p = plan();
        assert_eq!(InstallmentPlan::from_json(&p.to_json()).unwrap(), p);
        let bad = |json: &str| InstallmentPlan::from_json(json).unwrap_err();
        assert!(matches!(
            bad(r#"{"bearer":"bank","options":{"2":"1"}}"#),
            PlanError::Shape(_)
        ));
        assert!(matches!(
            bad(r#"{"bearer":"shopper","options":{"13":"1"}}"#),
            PlanError::Count(_)
        ));
        assert!(matches!(
            bad(r#"{"bearer":"shopper","options":{"1":"0"}}"#),
            PlanError::Count(_)
        ));
        assert!(matches!(
            bad(r#"{"bearer":"shopper","options":{"3":"1,5"}}"#),
            PlanError::Rate(_)
        ));
        assert!(matches!(
            bad(r#"{"bearer":"shopper","category":"Elek tronik","options":{"3":"1"}}"#),
            PlanError::Category(_)
        ));
        assert!(matches!(
            bad(r#"{"bearer":"shopper","programs":{"Bonus":{"3":"1"}}}"#),
            PlanError::Program(_)
        ));
        assert_eq!(bad(r#"{"bearer":"shopper"}"#), PlanError::Empty);
        assert!(matches!(
            bad(r#"{"bearer":"shopper","options":{"3":"1"},"colour":"red"}"#),
            PlanError::Shape(_)
        ));
    }
}
