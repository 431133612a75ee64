//! The card form: parsing and validation with errors per field.

use serde::{Deserialize, Serialize};

use crate::domain::{CardHolder, Cvv, Expiry, Pan, Sensitive, card::CardError};

use super::documents::DocumentKind;

/// What the shopper typed (card number and CVV are never echoed back into a page).
#[derive(Debug, Default, Clone)]
pub struct CardInput {
    pub card_holder: String,
    pub card_number: Sensitive,
    pub exp_month: String,
    pub exp_year: String,
    pub cvv: Sensitive,
    pub consent_preinfo: bool,
    pub consent_contract: bool,
}

impl CardInput {
    pub fn from_fields(fields: &[(String, String)]) -> Self {
        let get = |name: &str| crate::form::value(fields, name).to_owned();
        let ticked = |name: &str| !get(name).is_empty();
        Self {
            card_holder: get("card_holder"),
            card_number: Sensitive::new(get("card_number")),
            exp_month: get("exp_month"),
            exp_year: get("exp_year"),
            cvv: Sensitive::new(get("cvv")),
            consent_preinfo: ticked(DocumentKind::PreInformation.consent_field()),
            consent_contract: ticked(DocumentKind::DistanceSalesContract.consent_field()),
        }
    }
}

pub struct ValidCard {
    pub holder: CardHolder,
    pub pan: Pan,
    pub expiry: Expiry,
    pub cvv: Cvv,
}

/// `(field name, Fluent key of the message)`.
pub type FieldErrors = Vec<(&'static str, &'static str)>;

fn card_error_key(e: CardError) -> &'static str {
    match e {
        CardError::PanMissing => "card-error-pan-missing",
        CardError::PanNotDigits => "card-error-pan-digits",
        CardError::PanLuhn => "card-error-pan-luhn",
        CardError::BrandUnsupported => "card-error-brand",
        CardError::PanLength => "card-error-pan-length",
        CardError::ExpiryInvalid => "card-error-expiry-invalid",
        CardError::Expired => "card-error-expired",
        CardError::CvvLength => "card-error-cvv",
        CardError::HolderMissing => "card-error-holder-missing",
        CardError::HolderInvalid => "card-error-holder-invalid",
    }
}

pub fn validate(input: &CardInput, today: time::Date) -> Result<ValidCard, FieldErrors> {
    let mut errors: FieldErrors = Vec::new();
    let holder = CardHolder::parse(&input.card_holder)
        .map_err(|e| errors.push(("card_holder", card_error_key(e))))
        .ok();
    let pan = Pan::parse(input.card_number.expose())
        .map_err(|e| errors.push(("card_number", card_error_key(e))))
        .ok();
    let expiry = Expiry::parse(&input.exp_month, &input.exp_year, today)
        .map_err(|e| errors.push(("exp_month", card_error_key(e))))
        .ok();
    let cvv = match &pan {
        Some(pan) => Cvv::parse(input.cvv.expose(), pan.brand())
            .map_err(|e| errors.push(("cvv", card_error_key(e))))
            .ok(),
        // Without a brand the length cannot be judged; still demand something plausible.
        None => {
            let c = input.cvv.expose().trim();
            if !(3..=4).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(("cvv", card_error_key(CardError::CvvLength)));
            }
            None
        }
    };
    if !input.consent_preinfo {
        errors.push((
            DocumentKind::PreInformation.consent_field(),
            "consent-required-preinfo",
        ));
    }
    if !input.consent_contract {
        errors.push((
            DocumentKind::DistanceSalesContract.consent_field(),
            "consent-required-contract",
        ));
    }
    match (holder, pan, expiry, cvv) {
        (Some(holder), Some(pan), Some(expiry), Some(cvv)) if errors.is_empty() => Ok(ValidCard {
            holder,
            pan,
            expiry,
            cvv,
        }),
        _ => Err(errors),
    }
}

/// The card as kept in the vault between submit and authorisation (encrypted).
#[derive(Serialize, Deserialize)]
pub struct VaultedCard {
    pub pan: Sensitive,
    pub cvv: Sensitive,
    /// `YYMM`
    pub expiry: Sensitive,
}

impl VaultedCard {
    pub fn from_valid(card: &ValidCard) -> Self {
        Self {
            pan: Sensitive::new(card.pan.expose()),
            cvv: Sensitive::new(card.cvv.expose()),
            expiry: Sensitive::new(card.expiry.yymm()),
        }
    }

    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn input(pan: &str, cvv: &str) -> CardInput {
        CardInput {
            card_holder: "Ayşe Yılmaz".into(),
            card_number: Sensitive::new(pan),
            exp_month: "12".into(),
            exp_year: "2030".into(),
            cvv: Sensitive::new(cvv),
            consent_preinfo: true,
            consent_contract: true,
        }
    }

    #[test]
    fn valid_card_passes() {
        assert!(validate(&input("4111 1111 1111 1111", "123"), date!(2026 - 11 - 22)).is_ok());
        assert!(validate(&input("3782 822463 10005", "1234"), date!(2026 - 11 - 22)).is_ok());
    }

    #[test]
    fn errors_are_per_field() {
        let mut i = input("4111 1111 1111 1112", "12");
        i.consent_contract = false;
        let errors = validate(&i, date!(2026 - 11 - 22)).err().unwrap();
        let fields: Vec<_> = errors.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["card_number", "cvv", "consent_contract"]);
    }
}
