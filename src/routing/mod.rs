//! Which terminal a payment goes to: a pure function of the card, the amount, the installment
//! count and the merchant's terminals (docs/PROTOCOL.md, "Terminals and routing"). The rules,
//! in order:
//!
//! 1. An installment payment on a program card (Bonus, World, …) goes only to a terminal of one
//!    of the program's member banks (`ProgramTable`), the cheapest of them for that count. When
//!    none of the merchant's terminals is a member, the default terminal (today's `[acquirer]`)
//!    takes it if it names no bank (it took every program before terminals existed) or is a
//!    member itself; otherwise the payment cannot be routed.
//! 2. Otherwise an on-us terminal (the card's issuer is the terminal's bank) when the merchant
//!    prefers them, else the lowest commission for the installment count (a terminal without a
//!    rate comes after those with one; on a tie, the merchant's older terminal, the default
//!    last).
//! 3. A fallback (a terminal refused before anything could have been authorised) excludes the
//!    terminals tried, and says so in its rule; the caller decides when one is allowed.

use std::collections::HashMap;

use serde::Serialize;

use crate::{
    installments::{bins::program_id, plan::Rate},
    terminals::{Terminal, same_bank},
};

/// The built-in program table.
pub const BUILT_IN: &str = include_str!("programs.csv");

/// Programs (by id, `bonus`) and their member banks.
#[derive(Debug, Clone, Default)]
pub struct ProgramTable {
    members: HashMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("program table line {line}: {reason}")]
pub struct ProgramTableError {
    pub line: usize,
    pub reason: String,
}

impl ProgramTable {
    /// Parses the format described at the top of `programs.csv`.
    pub fn parse(text: &str) -> Result<Self, ProgramTableError> {
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        let mut header = false;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| ProgramTableError {
                line: i + 1,
                reason: reason.to_owned(),
            };
            if !header {
                if line != "program,bank" {
                    return Err(bad("the header must be `program,bank`"));
                }
                header = true;
                continue;
            }
            let (program, bank) = line.split_once(',').ok_or_else(|| bad("two columns"))?;
            let id =
                program_id(program).ok_or_else(|| bad("a program name of letters and digits"))?;
            let bank = bank.trim();
            if bank.is_empty() || bank.contains(',') {
                return Err(bad("one bank name"));
            }
            members.entry(id).or_default().push(bank.to_owned());
        }
        if !header {
            return Err(ProgramTableError {
                line: 0,
                reason: "no header".into(),
            });
        }
        Ok(Self { members })
    }

    pub fn built_in() -> Self {
        Self::parse(BUILT_IN).unwrap_or_default()
    }

    /// Reads the operator's file, or the built-in table.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
                Ok(Self::parse(&text)?)
            }
            None => Ok(Self::parse(BUILT_IN)?),
        }
    }

    /// Whether `bank` is a member of the program `program` (an id, `bonus`).
    pub fn is_member(&self, program: &str, bank: &str) -> bool {
        self.members
            .get(program)
            .is_some_and(|banks| banks.iter().any(|b| same_bank(b, bank)))
    }
}

/// What the BIN table says of the card, as routing reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CardFacts {
    pub bank: Option<String>,
    /// The program's id (`bonus`).
    pub program: Option<String>,
}

/// What is routed.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    pub card: &'a CardFacts,
    pub amount_minor: i64,
    pub installment: u8,
    /// The merchant prefers a terminal of the card's own bank.
    pub prefer_on_us: bool,
    /// Terminals this payment tried already (a fallback).
    pub exclude: &'a [String],
}

/// The rule that chose the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An installment payment on a program card: a member bank's terminal.
    Program,
    /// A terminal of the card's own bank.
    OnUs,
    /// The lowest commission for the installment count.
    LowestCommission,
    /// The next terminal after one that refused before anything could be authorised.
    Fallback,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Program => "program",
            Self::OnUs => "on_us",
            Self::LowestCommission => "lowest_commission",
            Self::Fallback => "fallback",
        }
    }
}

/// What the decision was made from, recorded with it on the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutingInputs {
    pub card_bank: Option<String>,
    pub card_program: Option<String>,
    pub installment: u8,
    pub amount_minor: i64,
    pub prefer_on_us: bool,
    /// The terminals that could take it, in the order they were considered.
    pub candidates: Vec<String>,
    /// The terminals tried before (a fallback).
    pub excluded: Vec<String>,
    /// The chosen terminal's commission for the count, percent.
    pub commission: Option<String>,
}

/// A decision: the terminal and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub terminal: Terminal,
    pub rule: Rule,
    pub inputs: RoutingInputs,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("no terminal of the merchant can take the payment")]
    NoTerminal,
    #[error("no terminal of a member bank of the card's program `{0}` for installments")]
    NoProgramTerminal(String),
}

/// Chooses the terminal for a payment (see the module's rules). `terminals`: the merchant's,
/// oldest first, then the default terminal.
pub fn route(
    req: &RouteRequest<'_>,
    terminals: &[Terminal],
    programs: &ProgramTable,
) -> Result<Route, RouteError> {
    let count = req.installment.max(1);
    let open: Vec<&Terminal> = terminals
        .iter()
        .filter(|t| t.enabled && !req.exclude.contains(&t.id))
        .collect();
    let program = req.card.program.as_deref().filter(|_| count > 1);
    let (pool, rule): (Vec<&Terminal>, Rule) = match program {
        Some(p) => {
            let members: Vec<&Terminal> = open
                .iter()
                .copied()
                .filter(|t| !t.is_default && programs.is_member(p, &t.bank))
                .collect();
            let pool = if members.is_empty() {
                open.iter()
                    .copied()
                    .filter(|t| {
                        t.is_default && (t.bank.is_empty() || programs.is_member(p, &t.bank))
                    })
                    .collect()
            } else {
                members
            };
            if pool.is_empty() {
                return Err(RouteError::NoProgramTerminal(p.to_owned()));
            }
            (pool, Rule::Program)
        }
        None => {
            let on_us: Vec<&Terminal> = match (&req.card.bank, req.prefer_on_us) {
                (Some(bank), true) => open
                    .iter()
                    .copied()
                    .filter(|t| same_bank(&t.bank, bank))
                    .collect(),
                _ => Vec::new(),
            };
            if on_us.is_empty() {
                (open.clone(), Rule::LowestCommission)
            } else {
                (on_us, Rule::OnUs)
            }
        }
    };
    let chosen = cheapest(&pool, count).ok_or(RouteError::NoTerminal)?;
    let rule = if req.exclude.is_empty() {
        rule
    } else {
        Rule::Fallback
    };
    Ok(Route {
        terminal: chosen.clone(),
        rule,
        inputs: RoutingInputs {
            card_bank: req.card.bank.clone(),
            card_program: req.card.program.clone(),
            installment: count,
            amount_minor: req.amount_minor,
            prefer_on_us: req.prefer_on_us,
            candidates: pool.iter().map(|t| t.id.clone()).collect(),
            excluded: req.exclude.to_vec(),
            commission: chosen.commission_for(count).map(Rate::to_decimal_string),
        },
    })
}

/// The lowest commission for `count`; a terminal without a rate after those with one; on a
/// tie the earlier one (the merchant's older terminal; the default is last).
fn cheapest<'t>(pool: &[&'t Terminal], count: u8) -> Option<&'t Terminal> {
    pool.iter()
        .enumerate()
        .min_by_key(|(i, t)| {
            (
                t.commission_for(count).is_none(),
                t.commission_for(count),
                *i,
            )
        })
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::terminals::Platform;

    fn terminal(id: &str, bank: &str, rate: Option<&str>, by_count: &[(u8, &str)]) -> Terminal {
        Terminal {
            id: id.into(),
            merchant_id: Some("mrc_1".into()),
            bank: bank.into(),
            platform: Platform::Nestpay,
            client_id: "1".into(),
            user: "u".into(),
            terminal_no: None,
            refund_user: None,
            mbr_id: None,
            gate_url: String::new(),
            api_url: String::new(),
            static_ip: None,
            commission: rate.and_then(Rate::parse),
            installment_commissions: by_count
                .iter()
                .map(|(n, r)| (*n, Rate::parse(r).unwrap()))
                .collect::<BTreeMap<_, _>>(),
            accept_half_3d: false,
            enabled: true,
            is_default: false,
        }
    }

    fn default_terminal(bank: &str, rate: Option<&str>) -> Terminal {
        Terminal {
            is_default: true,
            platform: Platform::Simulator,
            ..terminal("KAPI-SIM-0001", bank, rate, &[])
        }
    }

    fn card(bank: &str, program: Option<&str>) -> CardFacts {
        CardFacts {
            bank: Some(bank.into()),
            program: program.map(Into::into),
        }
    }

    /// The merchant of the table: Akbank (Axess) cheap for single payments, Garanti BBVA
    /// (Bonus) with installment rates, Yapı Kredi (World) disabled, and the default terminal.
    fn terminals() -> Vec<Terminal> {
        let mut world = terminal("trm_ykb", "Yapı Kredi", Some("1.50"), &[]);
        world.enabled = false;
        vec![
            terminal("trm_akbank", "Akbank", Some("1.79"), &[(3, "3.20")]),
            terminal(
                "trm_garanti",
                "Garanti BBVA",
                Some("1.95"),
                &[(3, "2.45"), (6, "3.10")],
            ),
            world,
            default_terminal("", Some("2.60")),
        ]
    }

    #[test]
    fn the_rules_choose_as_documented() {
        let programs = ProgramTable::built_in();
        let all = terminals();
        let none: Vec<String> = vec![];
        let tried = vec!["trm_akbank".to_owned()];
        // (card, installments, prefer on-us, excluded, expected terminal, rule)
        type Case<'a> = (CardFacts, u8, bool, &'a Vec<String>, &'a str, Rule);
        let cases: Vec<Case> = vec![
            // A single payment goes to the cheapest, whatever the card.
            (
                card("Garanti BBVA", Some("bonus")),
                1,
                false,
                &none,
                "trm_akbank",
                Rule::LowestCommission,
            ),
            (
                card("Akbank", Some("axess")),
                1,
                false,
                &none,
                "trm_akbank",
                Rule::LowestCommission,
            ),
            // …unless the merchant prefers on-us terminals.
            (
                card("Garanti BBVA", Some("bonus")),
                1,
                true,
                &none,
                "trm_garanti",
                Rule::OnUs,
            ),
            (
                card("garanti bbva", None),
                1,
                true,
                &none,
                "trm_garanti",
                Rule::OnUs,
            ),
            // A card of a bank without a terminal: the cheapest.
            (
                card("Halkbank", Some("paraf")),
                1,
                true,
                &none,
                "trm_akbank",
                Rule::LowestCommission,
            ),
            // Installments on a program card: only a member bank's terminal.
            (
                card("Denizbank", Some("bonus")),
                3,
                false,
                &none,
                "trm_garanti",
                Rule::Program,
            ),
            (
                card("Garanti BBVA", Some("bonus")),
                6,
                false,
                &none,
                "trm_garanti",
                Rule::Program,
            ),
            (
                card("Akbank", Some("axess")),
                3,
                false,
                &none,
                "trm_akbank",
                Rule::Program,
            ),
            // No member terminal of the merchant: the default terminal, which names no bank.
            (
                card("Yapı Kredi", Some("world")),
                3,
                false,
                &none,
                "KAPI-SIM-0001",
                Rule::Program,
            ),
            // A card without a program in installments: the cheapest for that count.
            (
                card("Bir Banka", None),
                3,
                false,
                &none,
                "trm_garanti",
                Rule::LowestCommission,
            ),
            // A fallback skips what was tried and says so.
            (
                card("Halkbank", None),
                1,
                false,
                &tried,
                "trm_garanti",
                Rule::Fallback,
            ),
        ];
        for (card, count, on_us, exclude, want, rule) in cases {
            let req = RouteRequest {
                card: &card,
                amount_minor: 15_000,
                installment: count,
                prefer_on_us: on_us,
                exclude,
            };
            let got = route(&req, &all, &programs).unwrap();
            assert_eq!(
                (got.terminal.id.as_str(), got.rule),
                (want, rule),
                "{card:?} x{count} on-us={on_us}"
            );
            assert_eq!(got.inputs.installment, count);
            assert!(got.inputs.candidates.contains(&got.terminal.id));
        }
    }

    #[test]
    fn a_program_without_a_member_terminal_is_not_routed() {
        let programs = ProgramTable::built_in();
        let mut all = terminals();
        // The default terminal belongs to a bank outside the World program.
        all.pop();
        all.push(default_terminal("Akbank", Some("2.10")));
        let world = card("Yapı Kredi", Some("world"));
        let req = RouteRequest {
            card: &world,
            amount_minor: 100,
            installment: 3,
            prefer_on_us: false,
            exclude: &[],
        };
        assert_eq!(
            route(&req, &all, &programs),
            Err(RouteError::NoProgramTerminal("world".into()))
        );
        // Everything disabled or tried: nothing to route to.
        let tried: Vec<String> = all.iter().map(|t| t.id.clone()).collect();
        let single = RouteRequest {
            installment: 1,
            exclude: &tried,
            ..req
        };
        assert_eq!(route(&single, &all, &programs), Err(RouteError::NoTerminal));
    }

    #[test]
    fn a_terminal_without_a_rate_comes_after_those_with_one_and_ties_keep_the_order() {
        let programs = ProgramTable::built_in();
        let all = vec![
            terminal("trm_norate", "TEB", None, &[]),
            terminal("trm_a", "Akbank", Some("2.00"), &[]),
            terminal("trm_b", "HSBC", Some("2.00"), &[]),
        ];
        let facts = CardFacts::default();
        let req = RouteRequest {
            card: &facts,
            amount_minor: 1,
            installment: 1,
            prefer_on_us: false,
            exclude: &[],
        };
        assert_eq!(route(&req, &all, &programs).unwrap().terminal.id, "trm_a");
    }

    #[test]
    fn the_program_table_reads_its_format_and_refuses_others() {
        let t = ProgramTable::built_in();
        assert!(t.is_member("bonus", "GARANTI BBVA"));
        assert!(t.is_member("maximum", "türkiye iş bankası"));
        assert!(!t.is_member("bonus", "Akbank"));
        assert!(ProgramTable::parse("program,bank\nBonus\n").is_err());
        assert!(ProgramTable::parse("bank,program\n").is_err());
        assert!(ProgramTable::parse("# only a comment\n").is_err());
    }
}
