//! Installments (taksit): which counts a card may be paid in, and what each costs.
//!
//! The card's issuer, program and kind come from the BIN table (`bins`); the counts and the
//! interest (vade farkı) from the merchant's plan (`plan`); the regulator's caps per product
//! category from the operator's configuration.

pub mod bins;
pub mod plan;

pub use bins::{BinInfo, BinTable, CardKind};
pub use plan::{Caps, InstallmentPlan, Offer};

use crate::domain::Money;

/// What Kapı knows to offer installments: loaded once at start-up.
#[derive(Debug, Clone)]
pub struct Installments {
    pub bins: BinTable,
    pub caps: Caps,
    /// Each card program's member banks: where routing may send a program card's installments.
    pub programs: crate::routing::ProgramTable,
}

/// The ways one card may pay one payment.
#[derive(Debug, Clone)]
pub struct Choices {
    pub card: Option<BinInfo>,
    /// Single payment first. Empty when the merchant fixed a count this card cannot have.
    pub offers: Vec<Offer>,
    /// The merchant fixed the count when starting the payment: the shopper does not choose.
    pub fixed: bool,
}

impl Choices {
    /// More than a single payment to choose from.
    pub fn has_choice(&self) -> bool {
        !self.fixed && self.offers.len() > 1
    }

    pub fn offer(&self, count: u8) -> Option<Offer> {
        self.offers.iter().copied().find(|o| o.count == count)
    }
}

impl Installments {
    /// The choices for a card number (or its first digits) on a payment of `amount` whose
    /// merchant fixed `fixed_count` (1: the shopper chooses, if the merchant has a plan).
    pub fn choices(
        &self,
        plan: Option<&InstallmentPlan>,
        amount: Money,
        fixed_count: u8,
        digits: &str,
    ) -> Choices {
        let card = self.bins.lookup(digits).cloned();
        if fixed_count > 1 {
            let offer = plan::fixed(fixed_count, plan, card.as_ref(), amount, &self.caps);
            return Choices {
                card,
                offers: offer.into_iter().collect(),
                fixed: true,
            };
        }
        Choices {
            offers: plan::offers(plan, card.as_ref(), amount, &self.caps),
            card,
            fixed: false,
        }
    }
}
