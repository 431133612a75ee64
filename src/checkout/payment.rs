//! The payment aggregate and the moves of its status machine.
//!
//! A `Payment` is typed through and through: a row that does not make one is corrupt. A move
//! is a `Transition` value; `Payment::apply` checks that the machine allows it from the
//! current status and returns the payment as it is after the move (with the next version).
//! Storage then writes it as a compare-and-set on the version it was computed from, so two
//! moves from the same state can never both succeed.

use crate::{
    domain::{
        CardAttempts, CardBrand, Currency, Customer, Description, Installment, Locale, MerchantId,
        Money, OrderId, PaymentId,
        threeds::{Eci, MdStatus, ResponseCode, TransStatus},
    },
    error::ErrorCode,
};

use super::Status;

/// How the payment was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The merchant's signed form, `POST /pay`.
    Form,
    /// A checkout session made through the API.
    Api,
    /// NestPay's gate, `POST /fim/est3Dgate`.
    Nestpay,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Api => "api",
            Self::Nestpay => "nestpay",
        }
    }

    pub fn parse(s: &str) -> Result<Self, crate::domain::Invalid> {
        match s {
            "form" => Ok(Self::Form),
            "api" => Ok(Self::Api),
            "nestpay" => Ok(Self::Nestpay),
            _ => Err(crate::domain::Invalid::new(
                "source",
                "form, api or nestpay",
            )),
        }
    }
}

/// What the shopper's authorisation is for: a sale, charged at once, or a pre-authorisation
/// that holds the amount until the merchant captures it (hotels, rentals, marketplaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Intent {
    #[default]
    Sale,
    PreAuth,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::PreAuth => "preauth",
        }
    }

    pub fn parse(s: &str) -> Result<Self, crate::domain::Invalid> {
        match s {
            "sale" => Ok(Self::Sale),
            "preauth" => Ok(Self::PreAuth),
            _ => Err(crate::domain::Invalid::new("intent", "sale or preauth")),
        }
    }
}

/// What is kept of the card: never more than brand, first six and last four digits, the name
/// on it, and what the BIN table says.
#[derive(Clone, PartialEq, Eq)]
pub struct CardSummary {
    pub brand: CardBrand,
    /// First 6 and last 4 digits.
    pub masked_pan: String,
    pub holder: String,
    pub bank: Option<String>,
    pub program: Option<String>,
    /// `credit`, `debit`, `prepaid` or `commercial`.
    pub kind: Option<String>,
}

impl std::fmt::Debug for CardSummary {
    // The holder's name is personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardSummary")
            .field("brand", &self.brand)
            .field("masked_pan", &self.masked_pan)
            .finish_non_exhaustive()
    }
}

impl CardSummary {
    /// The card's first six digits, for the card-testing guard.
    pub fn bin(&self) -> Option<&str> {
        self.masked_pan
            .get(..6)
            .filter(|b| b.bytes().all(|c| c.is_ascii_digit()))
    }
}

/// The terminal routing chose for the card attempt, and why (`crate::routing`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Routing {
    pub terminal_id: String,
    pub bank: String,
    /// `nestpay`, `garanti`, `payfor` or `simulator`.
    pub platform: String,
    /// `program`, `on_us`, `lowest_commission` or `fallback`.
    pub rule: String,
    /// What the decision was made from.
    pub inputs: serde_json::Value,
}

/// The ids the issuer's ACS and the Directory Server gave the 3-D Secure transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsIds {
    pub acs_trans_id: String,
    pub ds_trans_id: String,
}

/// What 3-D Secure concluded: from a frictionless ARes, or the ACS's RReq after a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub trans_status: TransStatus,
    pub trans_status_reason: Option<String>,
    pub eci: Option<Eci>,
    pub authentication_value: Option<String>,
}

/// The 3-D Secure transaction of a payment, as far as it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreeDs {
    pub server_trans_id: String,
    pub acs_trans_id: Option<String>,
    pub ds_trans_id: Option<String>,
    pub acs_url: Option<String>,
    pub trans_status: Option<TransStatus>,
    pub trans_status_reason: Option<String>,
    /// `challengeCancel` of the RReq (`01`: the shopper cancelled).
    pub challenge_cancel: Option<String>,
    pub eci: Option<Eci>,
    pub authentication_value: Option<String>,
    pub md_status: Option<MdStatus>,
    /// When the RReq arrived (the challenge's outcome).
    pub rreq_received_at: Option<i64>,
}

impl ThreeDs {
    fn started(server_trans_id: String) -> Self {
        Self {
            server_trans_id,
            acs_trans_id: None,
            ds_trans_id: None,
            acs_url: None,
            trans_status: None,
            trans_status_reason: None,
            challenge_cancel: None,
            eci: None,
            authentication_value: None,
            md_status: None,
            rreq_received_at: None,
        }
    }

    fn record(&mut self, a: Authentication) {
        self.md_status = Some(a.trans_status.md_status());
        self.trans_status = Some(a.trans_status);
        self.trans_status_reason = a.trans_status_reason;
        self.eci = a.eci;
        self.authentication_value = a.authentication_value;
    }

    fn ids(&mut self, ids: AcsIds) {
        self.acs_trans_id = Some(ids.acs_trans_id);
        self.ds_trans_id = Some(ids.ds_trans_id);
    }
}

/// The bank's answer to an authorisation (or what Kapı learnt of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAnswer {
    pub proc_return_code: ResponseCode,
    pub auth_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
}

/// The authorisation: which terminal took it under which attempt, and what the bank said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorisation {
    pub terminal_id: String,
    /// The attempt's reference at the bank (inquiries and reversals find it by it).
    pub attempt_ref: Option<String>,
    pub proc_return_code: Option<ResponseCode>,
    pub auth_code: Option<String>,
    pub host_ref: Option<String>,
    pub transaction_id: Option<String>,
    pub authorised_at: Option<i64>,
}

/// A payment: an order of a merchant, and how far paying it went.
#[derive(Clone)]
pub struct Payment {
    pub id: PaymentId,
    pub merchant_id: MerchantId,
    pub order_id: OrderId,
    /// The order's amount.
    pub amount: Money,
    pub installment: Installment,
    /// Interest (vade farkı) the shopper pays on top of `amount` for the installments.
    pub installment_fee_minor: i64,
    pub locale: Locale,
    pub description: Description,
    pub customer: Customer,
    pub ok_url: String,
    pub fail_url: String,
    pub callback_url: Option<String>,
    pub source: Source,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    /// Bumped by every write: the compare-and-set of the next one.
    pub version: i64,
    /// The address the card was submitted from.
    pub client_ip: Option<String>,
    pub card: Option<CardSummary>,
    pub threeds: Option<ThreeDs>,
    pub authorisation: Option<Authorisation>,
    pub error_code: Option<ErrorCode>,
    /// The signed result posted to the merchant, once final.
    pub result: Option<Vec<(String, String)>>,
    /// Sale, or pre-authorisation.
    pub intent: Intent,
    /// What was captured of a pre-authorisation (0 until then; 0 for a sale).
    pub captured_minor: i64,
    /// Refunds the bank confirmed.
    pub refunded_minor: i64,
    /// Refunds confirmed or still being asked, and a void or capture in progress.
    pub refund_reserved_minor: i64,
    /// The card attempt under way or last made: 1 for the first card.
    pub attempt: u8,
    /// How many cards the shopper may try on this payment.
    pub card_attempts: CardAttempts,
    /// The bank-compatible gate the payment came through, if not Kapı's own protocol.
    pub gateway: Option<super::gateway::Gateway>,
    /// The terminal routing chose for the card attempt under way or last made.
    pub routing: Option<Routing>,
}

/// One card tried on a payment, and how it ended: kept when the attempt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub payment_id: PaymentId,
    /// 1 for the first card.
    pub number: u8,
    pub card: Option<CardSummary>,
    /// The status the attempt left the payment in (`awaiting_retry` for a decline that another
    /// card may fix).
    pub status: Status,
    pub error_code: Option<ErrorCode>,
    pub proc_return_code: Option<ResponseCode>,
    pub md_status: Option<MdStatus>,
    pub eci: Option<Eci>,
    pub at: i64,
}

impl std::fmt::Debug for Payment {
    // Customer details are personal data: keep them out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payment")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("order_id", &self.order_id)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}

/// The details of a failure, beyond its code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureDetail {
    /// The 3-D Secure outcome that caused it, when the ACS answered.
    pub acs: Option<AcsIds>,
    pub authentication: Option<Authentication>,
    /// The `mdStatus` when 3-D Secure could not run at all (`7`, `6`).
    pub md_status: Option<MdStatus>,
    /// Set when the bank's answer is unknown (`91`).
    pub proc_return_code: Option<ResponseCode>,
}

/// One move of the status machine, with what it changes.
#[derive(Debug, Clone)]
pub enum Transition {
    /// `created` → `created`: the shopper switched the page's language.
    SwitchLocale(Locale),
    /// `created` (or `awaiting_retry`: the next card, a new attempt) → `card_submitted`: the
    /// card is kept (encrypted) and 3-D Secure begins.
    SubmitCard {
        card: CardSummary,
        threeds_server_trans_id: String,
        client_ip: Option<String>,
        installment: Installment,
        installment_fee_minor: i64,
        /// The terminal this card attempt goes to.
        routing: Option<Routing>,
    },
    /// `card_submitted` → `challenge`: the ACS wants the shopper.
    Challenge { acs: AcsIds, acs_url: String },
    /// `card_submitted` → `challenge`: the terminal's bank runs 3-D Secure at its own gate
    /// (NestPay's `3d` model), where the shopper's browser goes.
    ToBankGate { gate_url: String },
    /// `challenge` → `authenticated`: the bank's gate returned a signed result that
    /// authenticated (its `md` and `xid` kept for the authorisation).
    BankAuthenticated {
        md: String,
        xid: String,
        authentication: Authentication,
        md_status: MdStatus,
        received_at: i64,
    },
    /// `card_submitted` → `authenticated`: frictionless.
    Frictionless {
        acs: AcsIds,
        authentication: Authentication,
    },
    /// `challenge` → `challenge`: the ACS's RReq with the challenge's outcome (once).
    ChallengeOutcome {
        authentication: Authentication,
        challenge_cancel: Option<String>,
        ds_trans_id: String,
        received_at: i64,
    },
    /// `challenge` → `authenticated`.
    ChallengePassed,
    /// `authenticated` → `awaiting_authorisation`: NestPay's `3d` model, the merchant
    /// authorises through the XML API.
    AwaitMerchant,
    /// `authenticated` (or `awaiting_authorisation`, the merchant asked) → `authorising`: this
    /// attempt is the only one talking to the bank, for a sale or a pre-authorisation.
    Claim {
        terminal_id: String,
        attempt_ref: String,
        intent: Intent,
    },
    /// `authorising` → `card_submitted`: the terminal refused the attempt before anything
    /// could have been authorised (routing's third rule); the card goes to the next terminal
    /// with a new 3-D Secure step, since one bank's authentication is not valid at another.
    Reroute {
        routing: Routing,
        threeds_server_trans_id: String,
    },
    /// `authorising` → `approved` (a sale) or `authorised` (a pre-authorisation: held).
    Approve { answer: BankAnswer, at: i64 },
    /// `authorising` → `declined`.
    Decline { answer: BankAnswer },
    /// `card_submitted`, `challenge`, `authenticated` or `authorising` → `failed`.
    Fail {
        code: ErrorCode,
        detail: FailureDetail,
    },
    /// `created` or `challenge` → `cancelled` (`KP-2007` by the shopper on the card page,
    /// `KP-3006` at the ACS).
    Cancel(ErrorCode),
    /// `created`, `challenge` or `awaiting_authorisation` → `expired`.
    Expire,
    /// `awaiting_retry` → `declined` or `failed`: the shopper gave up after a decline (or the
    /// deadline passed); the payment ends with the last attempt's outcome.
    GiveUp,
    /// `approved` or `captured` → itself: an amount reserved for a refund or void being
    /// asked; `authorised` → `authorised`: the amount of the one capture or void of the hold.
    Reserve { amount_minor: i64 },
    /// The bank's answer to a refund, void or capture reserved before. A success counts it
    /// (`approved`/`captured` → `refunded` when all is refunded, `approved`/`authorised` →
    /// `voided`, `authorised` → `captured`); a refusal releases the reservation.
    SettleAfterSale {
        op: AfterSaleOp,
        amount_minor: i64,
        succeeded: bool,
    },
}

/// What is asked of the bank after the authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSaleOp {
    /// Iptal: an approved sale the same business day, or a hold released.
    Void,
    /// Iade: of what was charged (a sale, or a captured pre-authorisation).
    Refund,
    /// The capture of a hold (PostAuth): the full amount or less, once.
    Capture,
}

/// A move the machine does not allow from the payment's status (or state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment is {from}: {reason}")]
pub struct IllegalMove {
    pub from: &'static str,
    pub reason: &'static str,
}

impl Payment {
    /// A new payment of `order`, waiting for its shopper from `now` until `expires_at`.
    pub fn new(
        merchant_id: MerchantId,
        order: super::start::OrderDraft,
        source: Source,
        now: i64,
        expires_at: i64,
    ) -> Self {
        Self {
            id: PaymentId::generate(),
            merchant_id,
            order_id: order.order_id,
            amount: order.money,
            installment: order.installment,
            installment_fee_minor: 0,
            locale: order.locale,
            description: order.description,
            customer: order.customer,
            ok_url: order.ok_url.as_str().to_owned(),
            fail_url: order.fail_url.as_str().to_owned(),
            callback_url: order.callback_url.map(|u| u.as_str().to_owned()),
            source,
            status: Status::Created,
            created_at: now,
            updated_at: now,
            expires_at,
            version: 0,
            client_ip: None,
            card: None,
            threeds: None,
            authorisation: None,
            error_code: None,
            result: None,
            intent: order.intent,
            captured_minor: 0,
            refunded_minor: 0,
            refund_reserved_minor: 0,
            attempt: 1,
            card_attempts: order.card_attempts,
            gateway: None,
            routing: None,
        }
    }

    /// What the card is charged: the amount plus the installment interest.
    pub fn charged_minor(&self) -> i64 {
        self.amount
            .minor()
            .saturating_add(self.installment_fee_minor)
    }

    /// The charged amount as money.
    pub fn charged(&self) -> Money {
        Money::from_minor(self.charged_minor(), self.amount.currency()).unwrap_or(self.amount)
    }

    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }

    /// What the card was charged for good: a sale's charge once approved, what was captured
    /// of a pre-authorisation; refunds never exceed it.
    pub fn settled_minor(&self) -> i64 {
        match self.status {
            Status::Captured => self.captured_minor,
            Status::Refunded if self.intent == Intent::PreAuth => self.captured_minor,
            s if s.charged() || s == Status::Refunded => self.charged_minor(),
            _ => 0,
        }
    }

    /// What can still be refunded (or voided, for a sale).
    pub fn refundable_minor(&self) -> i64 {
        if self.status.charged() {
            self.settled_minor()
                .saturating_sub(self.refund_reserved_minor)
        } else {
            0
        }
    }

    /// What a capture may take: the held amount, while nothing else is asked of the hold.
    pub fn capturable_minor(&self) -> i64 {
        if self.status == Status::Authorised && self.refund_reserved_minor == 0 {
            self.charged_minor()
        } else {
            0
        }
    }

    pub fn brand(&self) -> Option<CardBrand> {
        self.card.as_ref().map(|c| c.brand)
    }

    pub fn masked_pan(&self) -> Option<&str> {
        self.card.as_ref().map(|c| c.masked_pan.as_str())
    }

    pub fn proc_return_code(&self) -> Option<&ResponseCode> {
        self.authorisation
            .as_ref()
            .and_then(|a| a.proc_return_code.as_ref())
    }

    pub fn attempt_ref(&self) -> Option<&str> {
        self.authorisation
            .as_ref()
            .and_then(|a| a.attempt_ref.as_deref())
    }

    /// Whether a card attempt that ended as `ended` (declined or failed) leaves the shopper a
    /// second chance: attempts left, and a reason another card may fix — a bank decline other
    /// than a lost, stolen or fraud-suspect card, or 3-D Secure that did not authenticate or
    /// could not run. A payment the bank may still hold (`KP-4091`) never does.
    pub fn may_retry(&self, ended: &Payment) -> bool {
        // Only a card attempt ends this way (not the shopper giving up afterwards).
        if !self.status.holds_card() || self.attempt >= self.card_attempts.count() {
            return false;
        }
        match (ended.status, ended.error_code) {
            (Status::Declined, _) => ended
                .proc_return_code()
                .is_none_or(ResponseCode::another_card_may_help),
            (Status::Failed, Some(code)) => matches!(
                code,
                ErrorCode::AuthenticationFailed
                    | ErrorCode::AuthenticationUnavailable
                    | ErrorCode::AcsUnreachable
            ),
            _ => false,
        }
    }

    /// `t` (a decline or failure of the card attempt) as a move to `awaiting_retry`: the
    /// attempt's outcome recorded as `t` would, the payment still open for the next card.
    pub fn await_retry(&self, t: Transition, now: i64) -> Result<Payment, IllegalMove> {
        let mut p = self.apply(t, now)?;
        if !matches!(p.status, Status::Declined | Status::Failed)
            || !self.status.can_move_to(Status::AwaitingRetry)
        {
            return Err(IllegalMove {
                from: self.status.as_str(),
                reason: "only a decline or failure of a card waits for another card",
            });
        }
        p.status = Status::AwaitingRetry;
        Ok(p)
    }

    /// The card attempt that the move from `self` to `after` ended, if it ended one: the card
    /// was held and is not any more.
    pub fn concluded_attempt(&self, after: &Payment) -> Option<Attempt> {
        if !self.status.holds_card() || after.status.holds_card() {
            return None;
        }
        Some(Attempt {
            payment_id: after.id.clone(),
            number: after.attempt,
            card: after.card.clone(),
            status: after.status,
            error_code: after.error_code,
            proc_return_code: after.proc_return_code().cloned(),
            md_status: after.threeds.as_ref().and_then(|t| t.md_status),
            eci: after.threeds.as_ref().and_then(|t| t.eci.clone()),
            at: after.updated_at,
        })
    }

    /// The payment after `t`, at `now`: the machine's rules checked, the version bumped.
    pub fn apply(&self, t: Transition, now: i64) -> Result<Payment, IllegalMove> {
        use Status::*;
        let mut p = self.clone();
        let illegal = |reason| IllegalMove {
            from: self.status.as_str(),
            reason,
        };
        let expect = |allowed: &[Status]| {
            if allowed.contains(&self.status) {
                Ok(())
            } else {
                Err(illegal("not a move from this status"))
            }
        };
        match t {
            Transition::SwitchLocale(locale) => {
                expect(&[Created, AwaitingRetry])?;
                p.locale = locale;
            }
            Transition::SubmitCard {
                card,
                threeds_server_trans_id,
                client_ip,
                installment,
                installment_fee_minor,
                routing,
            } => {
                expect(&[Created, AwaitingRetry])?;
                if self.status == AwaitingRetry {
                    // A new attempt: nothing of the last one's outcome stays on the payment.
                    p.attempt = self.attempt.saturating_add(1);
                    p.authorisation = None;
                    p.error_code = None;
                }
                p.status = CardSubmitted;
                p.card = Some(card);
                p.threeds = Some(ThreeDs::started(threeds_server_trans_id));
                p.client_ip = client_ip;
                p.installment = installment;
                p.installment_fee_minor = installment_fee_minor;
                p.routing = routing;
            }
            Transition::Challenge { acs, acs_url } => {
                expect(&[CardSubmitted])?;
                let t = p
                    .threeds
                    .as_mut()
                    .ok_or(illegal("3-D Secure was not started"))?;
                t.ids(acs);
                t.acs_url = Some(acs_url);
                t.trans_status = Some(TransStatus::C);
                p.status = Challenge;
            }
            Transition::ToBankGate { gate_url } => {
                expect(&[CardSubmitted])?;
                let t = p
                    .threeds
                    .as_mut()
                    .ok_or(illegal("3-D Secure was not started"))?;
                t.acs_url = Some(gate_url);
                t.trans_status = Some(TransStatus::C);
                p.status = Challenge;
            }
            Transition::BankAuthenticated {
                md,
                xid,
                authentication,
                md_status,
                received_at,
            } => {
                expect(&[Challenge])?;
                if !authentication.trans_status.authenticated() {
                    return Err(illegal("not authenticated"));
                }
                let t = p
                    .threeds
                    .as_mut()
                    .ok_or(illegal("3-D Secure was not started"))?;
                if t.rreq_received_at.is_some() || t.acs_trans_id.is_some() {
                    return Err(illegal("the bank's result arrived already"));
                }
                t.record(authentication);
                t.md_status = Some(md_status);
                // The bank's reference to the authenticated card and its transaction id.
                t.acs_trans_id = Some(md);
                t.ds_trans_id = Some(xid);
                t.rreq_received_at = Some(received_at);
                p.status = Authenticated;
            }
            Transition::Frictionless {
                acs,
                authentication,
            } => {
                expect(&[CardSubmitted])?;
                if !authentication.trans_status.authenticated() {
                    return Err(illegal("not authenticated"));
                }
                let t = p
                    .threeds
                    .as_mut()
                    .ok_or(illegal("3-D Secure was not started"))?;
                t.ids(acs);
                t.record(authentication);
                p.status = Authenticated;
            }
            Transition::ChallengeOutcome {
                authentication,
                challenge_cancel,
                ds_trans_id,
                received_at,
            } => {
                expect(&[Challenge])?;
                let t = p
                    .threeds
                    .as_mut()
                    .ok_or(illegal("3-D Secure was not started"))?;
                if t.rreq_received_at.is_some() {
                    return Err(illegal("the challenge's outcome arrived already"));
                }
                t.record(authentication);
                t.challenge_cancel = challenge_cancel;
                t.ds_trans_id = Some(ds_trans_id);
                t.rreq_received_at = Some(received_at);
            }
            Transition::ChallengePassed => {
                expect(&[Challenge])?;
                let passed = self
                    .threeds
                    .as_ref()
                    .and_then(|t| t.trans_status)
                    .is_some_and(TransStatus::authenticated);
                if !passed {
                    return Err(illegal("the challenge did not authenticate"));
                }
                p.status = Authenticated;
            }
            Transition::AwaitMerchant => {
                expect(&[Authenticated])?;
                p.status = AwaitingAuthorisation;
            }
            Transition::Claim {
                terminal_id,
                attempt_ref,
                intent,
            } => {
                expect(&[Authenticated, AwaitingAuthorisation])?;
                p.status = Authorising;
                p.intent = intent;
                p.authorisation = Some(Authorisation {
                    terminal_id,
                    attempt_ref: Some(attempt_ref),
                    proc_return_code: None,
                    auth_code: None,
                    host_ref: None,
                    transaction_id: None,
                    authorised_at: None,
                });
            }
            Transition::Reroute {
                routing,
                threeds_server_trans_id,
            } => {
                expect(&[Authorising])?;
                let refused = p
                    .authorisation
                    .as_ref()
                    .is_some_and(|a| a.proc_return_code.is_none() && a.authorised_at.is_none());
                if !refused || p.card.is_none() {
                    return Err(illegal("nothing to send to another terminal"));
                }
                p.status = CardSubmitted;
                p.authorisation = None;
                p.threeds = Some(ThreeDs::started(threeds_server_trans_id));
                p.routing = Some(routing);
            }
            Transition::Approve { answer, at } => {
                expect(&[Authorising])?;
                if !answer.proc_return_code.approved() {
                    return Err(illegal("the bank did not approve"));
                }
                let a = p
                    .authorisation
                    .as_mut()
                    .ok_or(illegal("no authorisation was claimed"))?;
                record_answer(a, answer);
                a.authorised_at = Some(at);
                p.status = match self.intent {
                    Intent::Sale => Approved,
                    Intent::PreAuth => Authorised,
                };
            }
            Transition::Decline { answer } => {
                expect(&[Authorising])?;
                let a = p
                    .authorisation
                    .as_mut()
                    .ok_or(illegal("no authorisation was claimed"))?;
                record_answer(a, answer);
                p.status = Declined;
                p.error_code = Some(ErrorCode::Declined);
            }
            Transition::Fail { code, detail } => {
                expect(&[
                    CardSubmitted,
                    Challenge,
                    Authenticated,
                    Authorising,
                    AwaitingAuthorisation,
                ])?;
                if let Some(t) = p.threeds.as_mut() {
                    if let Some(acs) = detail.acs {
                        t.ids(acs);
                    }
                    if let Some(a) = detail.authentication {
                        t.record(a);
                    }
                    if let Some(md) = detail.md_status {
                        t.md_status = Some(md);
                    }
                }
                if let Some(code) = detail.proc_return_code {
                    let a = p.authorisation.get_or_insert_with(|| Authorisation {
                        terminal_id: String::new(),
                        attempt_ref: None,
                        proc_return_code: None,
                        auth_code: None,
                        host_ref: None,
                        transaction_id: None,
                        authorised_at: None,
                    });
                    a.proc_return_code = Some(code);
                }
                p.status = Failed;
                p.error_code = Some(code);
            }
            Transition::Cancel(code) => {
                expect(&[Created, Challenge])?;
                p.status = Cancelled;
                p.error_code = Some(code);
            }
            Transition::Expire => {
                expect(&[Created, Challenge, AwaitingAuthorisation])?;
                p.status = Expired;
                p.error_code = Some(ErrorCode::PaymentExpired);
            }
            Transition::GiveUp => {
                expect(&[AwaitingRetry])?;
                p.status = if self.error_code == Some(ErrorCode::Declined) {
                    Declined
                } else {
                    Failed
                };
            }
            Transition::Reserve { amount_minor } => {
                expect(&[Approved, Captured, Authorised])?;
                let most = if self.status == Authorised {
                    self.capturable_minor()
                } else {
                    self.refundable_minor()
                };
                if amount_minor <= 0 || amount_minor > most {
                    return Err(illegal("more than can be refunded or captured"));
                }
                p.refund_reserved_minor = p.refund_reserved_minor.saturating_add(amount_minor);
            }
            Transition::SettleAfterSale {
                op,
                amount_minor,
                succeeded,
            } => {
                match op {
                    AfterSaleOp::Void => expect(&[Approved, Authorised])?,
                    AfterSaleOp::Refund => expect(&[Approved, Captured])?,
                    AfterSaleOp::Capture => expect(&[Authorised])?,
                }
                if !succeeded {
                    p.refund_reserved_minor =
                        p.refund_reserved_minor.saturating_sub(amount_minor).max(0);
                } else {
                    match op {
                        AfterSaleOp::Void => p.status = Voided,
                        AfterSaleOp::Capture => {
                            p.status = Captured;
                            p.captured_minor = amount_minor;
                            p.refund_reserved_minor = 0;
                        }
                        AfterSaleOp::Refund => {
                            let settled = self.settled_minor();
                            p.refunded_minor = p.refunded_minor.saturating_add(amount_minor);
                            if p.refunded_minor >= settled {
                                p.status = Refunded;
                            }
                        }
                    }
                }
            }
        }
        if p.status != self.status && !self.status.can_move_to(p.status) {
            return Err(illegal("the machine has no such move"));
        }
        p.updated_at = now;
        p.version = self.version.saturating_add(1);
        Ok(p)
    }
}

fn record_answer(a: &mut Authorisation, answer: BankAnswer) {
    a.proc_return_code = Some(answer.proc_return_code);
    a.auth_code = answer.auth_code.filter(|s| !s.is_empty());
    a.host_ref = answer.host_ref.filter(|s| !s.is_empty());
    a.transaction_id = answer.transaction_id.filter(|s| !s.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn created() -> Payment {
        let order = crate::checkout::start::OrderDraft {
            order_id: OrderId::parse("ORD-1").unwrap(),
            money: Money::parse("150.00", Currency::Try).unwrap(),
            locale: Locale::Tr,
            installment: Installment::SINGLE,
            description: Description::parse("").unwrap(),
            customer: Customer::default(),
            ok_url: crate::domain::ReturnUrl::parse("https://shop.example/ok").unwrap(),
            fail_url: crate::domain::ReturnUrl::parse("https://shop.example/fail").unwrap(),
            callback_url: None,
            card_attempts: CardAttempts::ONE,
            intent: Intent::Sale,
        };
        let merchant = MerchantId::parse("mrc_test").unwrap();
        Payment::new(merchant, order, Source::Form, 0, 900_000)
    }

    fn card() -> CardSummary {
        CardSummary {
            brand: CardBrand::Mastercard,
            masked_pan: "555555******4444".into(),
            holder: "AYSE YILMAZ".into(),
            bank: None,
            program: None,
            kind: None,
        }
    }

    fn submitted() -> Payment {
        created()
            .apply(
                Transition::SubmitCard {
                    card: card(),
                    threeds_server_trans_id: "t1".into(),
                    client_ip: Some("203.0.113.9".into()),
                    installment: Installment::SINGLE,
                    installment_fee_minor: 0,
                    routing: None,
                },
                1,
            )
            .unwrap()
    }

    fn auth(status: TransStatus) -> Authentication {
        Authentication {
            trans_status: status,
            trans_status_reason: None,
            eci: Eci::parse("02").ok(),
            authentication_value: Some("AAAB".into()),
        }
    }

    fn ids() -> AcsIds {
        AcsIds {
            acs_trans_id: "a1".into(),
            ds_trans_id: "d1".into(),
        }
    }

    fn answer(code: &str) -> BankAnswer {
        BankAnswer {
            proc_return_code: ResponseCode::parse(code).unwrap(),
            auth_code: Some("A1B2C3".into()),
            host_ref: Some("123456789012".into()),
            transaction_id: Some("26000001".into()),
        }
    }

    #[test]
    fn a_refused_attempt_goes_to_the_next_terminal_with_a_new_3ds_step() {
        let claimed = submitted()
            .apply(
                Transition::Frictionless {
                    acs: ids(),
                    authentication: auth(TransStatus::Y),
                },
                2,
            )
            .unwrap()
            .apply(
                Transition::Claim {
                    terminal_id: "trm_1".into(),
                    attempt_ref: "au_1".into(),
                    intent: Intent::Sale,
                },
                3,
            )
            .unwrap();
        let next = Routing {
            terminal_id: "T2".into(),
            bank: String::new(),
            platform: "simulator".into(),
            rule: "fallback".into(),
            inputs: serde_json::json!({"excluded": ["trm_1"]}),
        };
        let reroute = || Transition::Reroute {
            routing: next.clone(),
            threeds_server_trans_id: "t2".into(),
        };
        let p = claimed.apply(reroute(), 4).unwrap();
        assert_eq!(p.status, Status::CardSubmitted);
        assert!(p.authorisation.is_none());
        let t = p.threeds.as_ref().unwrap();
        assert_eq!(t.server_trans_id, "t2");
        assert!(t.acs_trans_id.is_none() && t.eci.is_none() && t.md_status.is_none());
        assert_eq!(p.routing.as_ref(), Some(&next));
        assert!(p.card.is_some(), "the same card goes on");
        // Not from another status, and never after the bank answered.
        assert!(submitted().apply(reroute(), 4).is_err());
        let answered = claimed
            .apply(
                Transition::Decline {
                    answer: answer("51"),
                },
                4,
            )
            .unwrap();
        assert!(answered.apply(reroute(), 5).is_err());
    }

    #[test]
    fn a_frictionless_payment_is_approved_and_versions_count_up() {
        let p = submitted();
        assert_eq!((p.status, p.version), (Status::CardSubmitted, 1));
        let p = p
            .apply(
                Transition::Frictionless {
                    acs: ids(),
                    authentication: auth(TransStatus::Y),
                },
                2,
            )
            .unwrap();
        assert_eq!(p.threeds.as_ref().unwrap().md_status.unwrap().digit(), 1);
        let p = p
            .apply(
                Transition::Claim {
                    terminal_id: "T1".into(),
                    attempt_ref: "au_1".into(),
                    intent: Intent::Sale,
                },
                3,
            )
            .unwrap();
        let p = p
            .apply(
                Transition::Approve {
                    answer: answer("00"),
                    at: 4,
                },
                4,
            )
            .unwrap();
        assert_eq!(
            (p.status, p.version, p.updated_at),
            (Status::Approved, 4, 4)
        );
        assert_eq!(p.attempt_ref(), Some("au_1"));
        assert!(p.apply(Transition::Expire, 5).is_err());
    }

    #[test]
    fn the_machine_refuses_what_it_does_not_allow() {
        let p = created();
        assert!(p.apply(Transition::ChallengePassed, 1).is_err());
        assert!(
            p.apply(
                Transition::Approve {
                    answer: answer("00"),
                    at: 1
                },
                1
            )
            .is_err()
        );
        let s = submitted();
        // A frictionless answer that did not authenticate is a failure, not a move on.
        assert!(
            s.apply(
                Transition::Frictionless {
                    acs: ids(),
                    authentication: auth(TransStatus::N),
                },
                2
            )
            .is_err()
        );
        let c = s
            .apply(
                Transition::Challenge {
                    acs: ids(),
                    acs_url: "https://acs.example/c".into(),
                },
                2,
            )
            .unwrap();
        assert!(
            c.apply(Transition::ChallengePassed, 3).is_err(),
            "no RReq yet"
        );
        let outcome = Transition::ChallengeOutcome {
            authentication: auth(TransStatus::Y),
            challenge_cancel: None,
            ds_trans_id: "d1".into(),
            received_at: 3,
        };
        let r = c.apply(outcome.clone(), 3).unwrap();
        assert!(r.apply(outcome, 4).is_err(), "one RReq only");
        assert_eq!(
            r.apply(Transition::ChallengePassed, 4).unwrap().status,
            Status::Authenticated
        );
    }

    #[test]
    fn refunds_are_decided_here_and_never_exceed_the_charge() {
        let approved = submitted()
            .apply(
                Transition::Frictionless {
                    acs: ids(),
                    authentication: auth(TransStatus::Y),
                },
                2,
            )
            .and_then(|p| {
                p.apply(
                    Transition::Claim {
                        terminal_id: "T1".into(),
                        attempt_ref: "au_1".into(),
                        intent: Intent::Sale,
                    },
                    3,
                )
            })
            .and_then(|p| {
                p.apply(
                    Transition::Approve {
                        answer: answer("00"),
                        at: 4,
                    },
                    4,
                )
            })
            .unwrap();
        let r = approved
            .apply(
                Transition::Reserve {
                    amount_minor: 10_000,
                },
                5,
            )
            .unwrap();
        assert!(
            r.apply(
                Transition::Reserve {
                    amount_minor: 5_001
                },
                6
            )
            .is_err()
        );
        let refused = r
            .apply(
                Transition::SettleAfterSale {
                    op: AfterSaleOp::Refund,
                    amount_minor: 10_000,
                    succeeded: false,
                },
                6,
            )
            .unwrap();
        assert_eq!(refused.refund_reserved_minor, 0);
        let all = r
            .apply(
                Transition::Reserve {
                    amount_minor: 5_000,
                },
                6,
            )
            .and_then(|p| {
                p.apply(
                    Transition::SettleAfterSale {
                        op: AfterSaleOp::Refund,
                        amount_minor: 10_000,
                        succeeded: true,
                    },
                    7,
                )
            })
            .and_then(|p| {
                p.apply(
                    Transition::SettleAfterSale {
                        op: AfterSaleOp::Refund,
                        amount_minor: 5_000,
                        succeeded: true,
                    },
                    8,
                )
            })
            .unwrap();
        assert_eq!(all.status, Status::Refunded);
    }

    fn held(intent: Intent) -> Payment {
        submitted()
            .apply(
                Transition::Frictionless {
                    acs: ids(),
                    authentication: auth(TransStatus::Y),
                },
                2,
            )
            .and_then(|p| {
                p.apply(
                    Transition::Claim {
                        terminal_id: "T1".into(),
                        attempt_ref: "au_1".into(),
                        intent,
                    },
                    3,
                )
            })
            .and_then(|p| {
                p.apply(
                    Transition::Approve {
                        answer: answer("00"),
                        at: 4,
                    },
                    4,
                )
            })
            .unwrap()
    }

    fn settle(p: &Payment, op: AfterSaleOp, amount_minor: i64, succeeded: bool) -> Payment {
        p.apply(Transition::Reserve { amount_minor }, 5)
            .and_then(|r| {
                r.apply(
                    Transition::SettleAfterSale {
                        op,
                        amount_minor,
                        succeeded,
                    },
                    6,
                )
            })
            .unwrap()
    }

    #[test]
    fn a_pre_authorisation_holds_then_captures_once_and_refunds_only_the_capture() {
        let sale = held(Intent::Sale);
        assert_eq!(sale.status, Status::Approved);
        assert_eq!(sale.capturable_minor(), 0, "a sale is not captured");
        let hold = held(Intent::PreAuth);
        assert_eq!(hold.status, Status::Authorised);
        assert_eq!(
            (hold.refundable_minor(), hold.capturable_minor()),
            (0, 15_000)
        );
        assert!(
            hold.apply(
                Transition::Reserve {
                    amount_minor: 15_001
                },
                5
            )
            .is_err()
        );
        // A refused capture releases the hold's reservation; a capture for less is final.
        let refused = settle(&hold, AfterSaleOp::Capture, 12_000, false);
        assert_eq!(
            (refused.status, refused.capturable_minor()),
            (Status::Authorised, 15_000)
        );
        let captured = settle(&hold, AfterSaleOp::Capture, 12_000, true);
        assert_eq!(
            (
                captured.status,
                captured.captured_minor,
                captured.refundable_minor()
            ),
            (Status::Captured, 12_000, 12_000)
        );
        assert_eq!(captured.capturable_minor(), 0, "captured once");
        assert!(
            captured
                .apply(
                    Transition::SettleAfterSale {
                        op: AfterSaleOp::Capture,
                        amount_minor: 1_000,
                        succeeded: true
                    },
                    7
                )
                .is_err()
        );
        assert!(
            captured
                .apply(
                    Transition::Reserve {
                        amount_minor: 12_001
                    },
                    7
                )
                .is_err()
        );
        let part = settle(&captured, AfterSaleOp::Refund, 2_000, true);
        assert_eq!(
            (part.status, part.refundable_minor()),
            (Status::Captured, 10_000)
        );
        let all = settle(&part, AfterSaleOp::Refund, 10_000, true);
        assert_eq!(
            (all.status, all.settled_minor()),
            (Status::Refunded, 12_000)
        );
        // A hold is released by a void of the full amount; it cannot be refunded.
        let released = settle(&hold, AfterSaleOp::Void, 15_000, true);
        assert_eq!(released.status, Status::Voided);
        assert!(
            hold.apply(
                Transition::SettleAfterSale {
                    op: AfterSaleOp::Refund,
                    amount_minor: 1,
                    succeeded: true
                },
                5
            )
            .is_err()
        );
    }
}
