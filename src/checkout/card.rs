//! The card form: parsing and validation with errors per field.

use serde::{Deserialize, Serialize};

use crate::domain::{CardHolder, Cvv, Expiry, Pan, Sensitive, card::CardError};

use super::documents::DocumentKind;

/// What the shopper typed (card number and CVV are never echoed back into a page).
#[derive(Debug, Default, Clone)]
pub struct CardInput {
    pub card_holder: String,
    pub card_number: Sensitive,
    /// The expiry as typed in the page's one field (`MM/YY`), when the form sent it.
    pub exp: String,
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
        // The page sends one field, `exp` (`MM/YY`); `exp_month` and `exp_year` are accepted
        // too (docs/PROTOCOL.md §5.1).
        let exp = get("exp");
        let (exp_month, exp_year) = if exp.trim().is_empty() {
            (get("exp_month"), get("exp_year"))
        } else {
            split_expiry(&exp)
        };
        Self {
            card_holder: get("card_holder"),
            card_number: Sensitive::new(get("card_number")),
            exp,
            exp_month,
            exp_year,
            cvv: Sensitive::new(get("cvv")),
            consent_preinfo: ticked(DocumentKind::PreInformation.consent_field()),
            consent_contract: ticked(DocumentKind::DistanceSalesContract.consent_field()),
        }
    }
}

impl CardInput {
    /// The expiry as the form shows it again: as typed, or `MM/YY` from month and year.
    pub fn expiry_as_typed(&self) -> String {
        if !self.exp.trim().is_empty() {
            return self.exp.trim().chars().take(7).collect();
        }
        let (m, y) = (self.exp_month.trim(), self.exp_year.trim());
        if m.is_empty() && y.is_empty() {
            return String::new();
        }
        let y = y.get(y.len().saturating_sub(2)..).unwrap_or(y);
        format!("{m:0>2}/{y}")
    }
}

/// `MM/YY`, `MM / YY`, `MM-YY`, `MM/YYYY`, `MMYY` or `MMYYYY` into month and year (checked
/// later, by `Expiry::parse`).
fn split_expiry(typed: &str) -> (String, String) {
    let compact: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some((m, y)) = compact.split_once(['/', '-', '.']) {
        return (m.to_owned(), y.to_owned());
    }
    if compact.len() == 4 || compact.len() == 6 {
        let (m, y) = compact.split_at_checked(2).unwrap_or((&compact, ""));
        return (m.to_owned(), y.to_owned());
    }
    (compact, String::new())
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
        .map_err(|e| errors.push(("exp", card_error_key(e))))
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
            exp: String::new(),
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

    #[test]
    fn the_expiry_is_one_field_or_two() {
        let today = date!(2026 - 11 - 22);
        for typed in ["12/30", "12 / 30", "12-2030", "1230", "122030", "12/2030"] {
            let fields = vec![("exp".to_owned(), typed.to_owned())];
            let i = CardInput::from_fields(&fields);
            assert_eq!(
                (i.exp_month.as_str(), i.exp_year.len() >= 2),
                ("12", true),
                "{typed}"
            );
            assert!(
                Expiry::parse(&i.exp_month, &i.exp_year, today).is_ok(),
                "{typed}"
            );
        }
        let two = vec![
            ("exp_month".to_owned(), "3".to_owned()),
            ("exp_year".to_owned(), "2029".to_owned()),
        ];
        let i = CardInput::from_fields(&two);
        assert_eq!(i.expiry_as_typed(), "03/29");
        let bad = vec![("exp".to_owned(), "13/30".to_owned())];
        let mut i = CardInput::from_fields(&bad);
        i.card_holder = "Ayşe Yılmaz".into();
        let errors = validate(&i, today).err().unwrap();
        assert!(errors.iter().any(|(f, _)| *f == "exp"));
        assert_eq!(i.expiry_as_typed(), "13/30", "shown again as typed");
    }
}
