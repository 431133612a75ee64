//! The payment status machine.
//!
//! ```text
//! created ──► card_submitted ──► challenge ──► authenticated ──► authorising ──► approved
//!    │              │                │               │                 └──────► declined / failed
//!    │              └─► authenticated (frictionless)  │
//!    ├─► cancelled / expired         ├─► failed / cancelled / expired
//!                   └─► failed (3DS refused or unavailable)
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
}

impl Status {
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
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => Self::Created,
            "card_submitted" => Self::CardSubmitted,
            "challenge" => Self::Challenge,
            "authenticated" => Self::Authenticated,
            "authorising" => Self::Authorising,
            "approved" => Self::Approved,
            "declined" => Self::Declined,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// Final statuses carry a result for the merchant and never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Declined | Self::Failed | Self::Cancelled | Self::Expired
        )
    }

    /// The legal moves of the machine.
    pub fn can_move_to(self, to: Self) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Created, CardSubmitted | Cancelled | Expired)
                | (CardSubmitted, Challenge | Authenticated | Failed)
                | (Challenge, Authenticated | Failed | Cancelled | Expired)
                | (Authenticated, Authorising | Failed)
                | (Authorising, Approved | Declined | Failed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    const ALL: [Status; 10] = [
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
    ];

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn final_statuses_are_dead_ends() {
        for from in ALL.into_iter().filter(|s| s.is_final()) {
            assert!(ALL.iter().all(|to| !from.can_move_to(*to)), "{from:?}");
        }
        assert!(!Created.can_move_to(Approved));
        assert!(!Challenge.can_move_to(Approved));
    }
}
