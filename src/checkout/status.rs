//! The payment status machine.
//!
//! ```text
//! created ──► card_submitted ──► challenge ──► authenticated ──► authorising ──► approved
//!    │              │                │               │                 └──────► declined / failed
//!    │              └─► authenticated (frictionless)  │
//!    ├─► cancelled / expired         ├─► failed / cancelled / expired
//!                   └─► failed (3DS refused or unavailable)
//!
//! card_submitted, challenge, authenticated, authorising ──► awaiting_retry
//!     (a decline another card may fix, with attempts left: the shopper may try another card)
//! awaiting_retry ──► card_submitted (the next card) / declined or failed (gave up, or the
//!     deadline passed: the last attempt's outcome)
//! authorising ──► card_submitted (the terminal refused before anything could be authorised:
//!     the same card goes once to the next terminal, with a new 3-D Secure step)
//!
//! approved ──► voided (same business day) / refunded (in full; partial refunds stay approved)
//!
//! Pre-authorisation (intent `preauth`): authorising ──► authorised (the amount held)
//!     authorised ──► captured (the full amount or less, once) / voided (the hold released)
//!     captured ──► refunded (in full; partial refunds stay captured)
//!
//! NestPay's `3d` model: authenticated ──► awaiting_authorisation (the merchant authorises
//!     through the XML API) ──► authorising / expired / failed
//! ```
//! Each arrow is one compare-and-set in storage; only the listed moves are legal.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    CardSubmitted,
    Challenge,
    Authenticated,
    Authorising,
    Approved,
    Declined,
    Failed,
    Cancelled,
    Expired,
    /// A card was declined (or failed 3-D Secure) for a reason another card may fix, with
    /// attempts left: the payment waits for the shopper's next card.
    AwaitingRetry,
    /// Approved, then cancelled the same business day (iptal).
    Voided,
    /// Approved, then refunded in full (iade); partial refunds keep `approved`.
    Refunded,
    /// Authenticated through NestPay's `3d` model: the merchant's server authorises with the
    /// 3-D Secure values through the XML API, until the payment's deadline.
    AwaitingAuthorisation,
    /// A pre-authorisation the bank approved: the amount is held on the card until the
    /// merchant captures it (or releases it by a void).
    Authorised,
    /// A pre-authorisation captured (the full amount or less, once): refunds work on what was
    /// captured.
    Captured,
}

impl Status {
    /// Every status, in the order of the machine.
    pub const ALL: [Status; 16] = [
        Self::Created,
        Self::CardSubmitted,
        Self::Challenge,
        Self::Authenticated,
        Self::Authorising,
        Self::Approved,
        Self::Declined,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
        Self::AwaitingRetry,
        Self::Voided,
        Self::Refunded,
        Self::AwaitingAuthorisation,
        Self::Authorised,
        Self::Captured,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::CardSubmitted => "card_submitted",
            Self::Challenge => "challenge",
            Self::Authenticated => "authenticated",
            Self::Authorising => "authorising",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::AwaitingRetry => "awaiting_retry",
            Self::Voided => "voided",
            Self::Refunded => "refunded",
            Self::AwaitingAuthorisation => "awaiting_authorisation",
            Self::Authorised => "authorised",
            Self::Captured => "captured",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Final statuses carry a result for the merchant; after them only the after-sale moves
    /// of an approved payment (void, refund) or of a hold (capture, void) remain.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Approved
                | Self::Authorised
                | Self::Captured
                | Self::Declined
                | Self::Failed
                | Self::Cancelled
                | Self::Expired
                | Self::Voided
                | Self::Refunded
        )
    }

    /// The bank authorised the payment at checkout; a later void or refund does not change
    /// what the checkout's result was.
    pub fn was_authorised(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Authorised | Self::Captured | Self::Voided | Self::Refunded
        )
    }

    /// The card was charged: a sale approved, or a pre-authorisation captured. Refunds work
    /// on these.
    pub fn charged(self) -> bool {
        matches!(self, Self::Approved | Self::Captured)
    }

    /// The statuses in which the encrypted card is kept: from its submit until the bank's
    /// answer. Moving to any other deletes it, with the move.
    pub fn holds_card(self) -> bool {
        matches!(
            self,
            Self::CardSubmitted
                | Self::Challenge
                | Self::Authenticated
                | Self::Authorising
                | Self::AwaitingAuthorisation
        )
    }

    /// Waiting for the shopper (a card, another card): the payment's deadline applies.
    pub fn waits_for_shopper(self) -> bool {
        matches!(self, Self::Created | Self::Challenge | Self::AwaitingRetry)
    }

    /// The legal moves of the machine.
    pub fn can_move_to(self, to: Self) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Created, CardSubmitted | Cancelled | Expired)
                | (
                    CardSubmitted,
                    Challenge | Authenticated | Failed | AwaitingRetry
                )
                | (
                    Challenge,
                    Authenticated | Failed | Cancelled | Expired | AwaitingRetry
                )
                | (
                    Authenticated,
                    Authorising | Failed | AwaitingRetry | AwaitingAuthorisation
                )
                | (AwaitingAuthorisation, Authorising | Expired | Failed)
                | (
                    Authorising,
                    Approved | Authorised | Declined | Failed | AwaitingRetry | CardSubmitted
                )
                | (AwaitingRetry, CardSubmitted | Declined | Failed)
                | (Approved, Voided | Refunded)
                | (Authorised, Captured | Voided)
                | (Captured, Refunded)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    const ALL: [Status; 16] = Status::ALL;

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("paid"), None);
        assert_eq!(Status::parse("Approved"), None);
    }

    #[test]
    fn final_statuses_are_dead_ends() {
        let after_sale = [Approved, Authorised, Captured];
        for from in ALL
            .into_iter()
            .filter(|s| s.is_final() && !after_sale.contains(s))
        {
            assert!(ALL.iter().all(|to| !from.can_move_to(*to)), "{from:?}");
        }
        assert!(!Created.can_move_to(Approved));
        assert!(!Challenge.can_move_to(Approved));
        assert!(Approved.can_move_to(Voided) && Approved.can_move_to(Refunded));
        assert!(!Voided.can_move_to(Refunded));
        // A hold is captured once, or released; only what was captured is refunded.
        assert!(Authorised.can_move_to(Captured) && Authorised.can_move_to(Voided));
        assert!(!Authorised.can_move_to(Refunded) && !Captured.can_move_to(Captured));
        assert!(!Captured.can_move_to(Voided) && !Approved.can_move_to(Captured));
        // Between attempts: the next card, or the end; never approved without a card.
        assert!(Authorising.can_move_to(AwaitingRetry) && AwaitingRetry.can_move_to(CardSubmitted));
        assert!(!AwaitingRetry.can_move_to(Approved) && !AwaitingRetry.is_final());
        assert!(!AwaitingRetry.holds_card() && Authorising.holds_card());
    }
}
