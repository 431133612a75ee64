//! The BIN table: what the first digits of a card number say about the card — its issuer, its
//! installment program and whether it is a credit, debit, prepaid or commercial card.
//!
//! The table is data (`bins.csv` beside this file), read at start-up from the operator's file
//! or from the copy built into the binary, so it can be updated without a rebuild.

use std::{collections::HashMap, fmt, path::Path};

use serde::Serialize;

use crate::domain::CardBrand;

/// The built-in table: the simulators' test ranges.
pub const BUILT_IN: &str = include_str!("bins.csv");

const HEADER: &str = "prefix,brand,kind,bank,program";

/// What kind of account the card draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    Credit,
    Debit,
    Prepaid,
    /// A company's credit card (kurumsal / ticari kart).
    Commercial,
}

impl CardKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "credit" => Some(Self::Credit),
            "debit" => Some(Self::Debit),
            "prepaid" => Some(Self::Prepaid),
            "commercial" => Some(Self::Commercial),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
            Self::Prepaid => "prepaid",
            Self::Commercial => "commercial",
        }
    }

    /// Only credit cards are paid in installments; a debit or prepaid card pays at once.
    pub fn allows_installments(self) -> bool {
        matches!(self, Self::Credit | Self::Commercial)
    }
}

/// A card program (Bonus, World, Maximum, …): `id` is its lowercase name, the key merchants
/// use in their installment plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub id: String,
    pub name: String,
}

impl Program {
    fn parse(name: &str) -> Option<Self> {
        let id = program_id(name)?;
        Some(Self {
            id,
            name: name.to_owned(),
        })
    }
}

/// `Bonus` → `bonus`; `CardFinans` → `cardfinans`. Letters and digits only.
pub fn program_id(name: &str) -> Option<String> {
    let id: String = name.trim().to_lowercase();
    (!id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(id)
}

/// What the table knows about a card range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinInfo {
    pub prefix: String,
    pub brand: CardBrand,
    pub kind: CardKind,
    pub bank: String,
    pub program: Option<Program>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("BIN table line {line}: {reason}")]
pub struct BinTableError {
    pub line: usize,
    pub reason: String,
}

/// Card prefixes to what they say, found by the longest matching prefix.
#[derive(Clone, Default)]
pub struct BinTable {
    by_prefix: HashMap<String, BinInfo>,
    /// The prefix lengths present, longest first.
    lengths: Vec<usize>,
}

impl fmt::Debug for BinTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BinTable({} ranges)", self.by_prefix.len())
    }
}

impl BinTable {
    /// Parses the CSV format described at the top of `src/installments/bins.csv`.
    pub fn parse(text: &str) -> Result<Self, BinTableError> {
        let mut table = Self::default();
        let mut header_seen = false;
        // Spreadsheets often save CSV with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| BinTableError {
                line: i + 1,
                reason: reason.to_owned(),
            };
            if !header_seen {
                if line != HEADER {
                    return Err(err(&format!("the first row must be `{HEADER}`")));
                }
                header_seen = true;
                continue;
            }
            let cols: Vec<&str> = line.split(',').map(str::trim).collect();
            let [prefix, brand, kind, bank, program] = cols[..] else {
                return Err(err("expected 5 comma-separated columns"));
            };
            if !(6..=11).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("prefix must be 6 to 11 digits"));
            }
            let brand = CardBrand::parse(brand).map_err(|_| err("unknown brand"))?;
            let kind = CardKind::parse(kind).ok_or_else(|| err("unknown kind"))?;
            if bank.is_empty() || bank.chars().count() > 64 || bank.chars().any(char::is_control) {
                return Err(err("bank must be 1 to 64 characters"));
            }
            let program =
                if program.is_empty() {
                    None
                } else {
                    Some(Program::parse(program).ok_or_else(|| {
                        err("program must be up to 32 letters or digits, or empty")
                    })?)
                };
            let info = BinInfo {
                prefix: prefix.to_owned(),
                brand,
                kind,
                bank: bank.to_owned(),
                program,
            };
            if table.by_prefix.insert(prefix.to_owned(), info).is_some() {
                return Err(err("prefix listed twice"));
            }
            if !table.lengths.contains(&prefix.len()) {
                table.lengths.push(prefix.len());
            }
        }
        if !header_seen {
            return Err(BinTableError {
                line: 0,
                reason: format!("no `{HEADER}` header"),
            });
        }
        table.lengths.sort_unstable_by(|a, b| b.cmp(a));
        Ok(table)
    }

    /// The operator's file, or the built-in table when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read the BIN table {}: {e}", path.display())
                })?;
                Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            None => Ok(Self::parse(BUILT_IN)?),
        }
    }

    /// What the table says about a card number (or its first digits), by the longest
    /// matching prefix.
    pub fn lookup(&self, digits: &str) -> Option<&BinInfo> {
        self.lengths
            .iter()
            .filter_map(|&n| digits.get(..n))
            .find_map(|prefix| self.by_prefix.get(prefix))
    }

    /// Every issuer the table names (repeats included).
    pub fn banks(&self) -> impl Iterator<Item = &str> {
        self.by_prefix.values().map(|b| b.bank.as_str())
    }

    pub fn len(&self) -> usize {
        self.by_prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_covers_the_test_cards() {
        let t = BinTable::parse(BUILT_IN).unwrap();
        assert!(t.len() >= 10);
        let bonus = t.lookup("4111111111111111").unwrap();
        assert_eq!(bonus.bank, "Garanti BBVA");
        assert_eq!(bonus.program.as_ref().unwrap().id, "bonus");
        assert_eq!(bonus.kind, CardKind::Credit);
        assert_eq!(t.lookup("4355080000000005").unwrap().kind, CardKind::Debit);
        assert!(t.lookup("4242424242424242").is_none());
        // The longest prefix wins.
        assert_eq!(t.lookup("4543600000000003").unwrap().kind, CardKind::Credit);
        assert_eq!(
            t.lookup("4543609900000005").unwrap().kind,
            CardKind::Commercial
        );
        // Six digits are enough to look up a six-digit range.
        assert_eq!(t.lookup("555555").unwrap().bank, "Yapı Kredi");
        assert!(t.lookup("55555").is_none());
    }

    #[test]
    fn every_test_card_in_the_table_is_a_valid_number_of_its_brand() {
        for card in [
            "4543600000000003",
            "5218070000000000",
            "5456160000000000",
            "5400610000000001",
            "4355080000000005",
            "5526080000000006",
            "4543609900000005",
        ] {
            let pan = crate::domain::Pan::parse(card).unwrap();
            let info = BinTable::parse(BUILT_IN)
                .unwrap()
                .lookup(card)
                .cloned()
                .unwrap();
            assert_eq!(pan.brand(), info.brand, "{card}");
        }
    }

    proptest::proptest! {
        #[test]
        fn lookups_and_tables_never_panic(digits in "\\PC{0,20}", row in "\\PC{0,60}") {
            let t = BinTable::parse(BUILT_IN).unwrap();
            let _ = t.lookup(&digits);
            let _ = BinTable::parse(&format!("{HEADER}\n{row}\n"));
        }
    }

    #[test]
    fn mistakes_name_their_line() {
        let bad = |body: &str| BinTable::parse(&format!("{HEADER}\n{body}\n")).unwrap_err();
        assert_eq!(bad("41111,visa,credit,Bank,").line, 2);
        assert!(bad("411111,visa,credit,Bank").reason.contains("5"));
        assert!(bad("411111,diners,credit,Bank,").reason.contains("brand"));
        assert!(bad("411111,visa,gold,Bank,").reason.contains("kind"));
        assert!(bad("411111,visa,credit,,").reason.contains("bank"));
        assert!(
            bad("411111,visa,credit,Bank,Bon us")
                .reason
                .contains("program")
        );
        assert!(
            bad("411111,visa,credit,Bank,\n411111,visa,debit,Bank,")
                .reason
                .contains("twice")
        );
        assert!(BinTable::parse("prefix;brand\n").is_err());
        let bom = format!("\u{feff}{HEADER}\n411111,visa,credit,Bank,\n");
        assert_eq!(BinTable::parse(&bom).unwrap().len(), 1);
        assert!(BinTable::parse("# nothing\n").is_err());
    }
}
