//! Which terminal a card attempt goes to, and the connector of a terminal: routing runs when
//! the card is submitted (its BIN and the installment count are known then) and is recorded on
//! the payment; the authorisation, and every void, refund, capture, inquiry and reversal of it,
//! go to that terminal's connector, whatever routing would choose later.

use std::sync::Arc;

use super::{
    CheckoutError,
    payment::{Payment, Routing},
    service::Checkout,
};
use crate::{
    acquirer::{
        Acquirer, HttpAcquirer,
        garanti::{GarantiAcquirer, GarantiUser},
        nestpay::NestpayAcquirer,
        payfor::PayforAcquirer,
    },
    error::ErrorCode,
    installments::BinInfo,
    observe::MeteredAcquirer,
    routing::{self, CardFacts, RouteError, RouteRequest},
    terminals::{self, Platform, Terminal},
};

/// What routing reads of a card.
fn card_facts(card: Option<&BinInfo>) -> CardFacts {
    CardFacts {
        bank: card.map(|c| c.bank.clone()),
        program: card.and_then(|c| c.program.as_ref().map(|p| p.id.clone())),
    }
}

/// The platforms Kapı has a connector for: routing chooses only their terminals.
fn has_connector(platform: Platform) -> bool {
    matches!(
        platform,
        Platform::Simulator | Platform::Nestpay | Platform::Garanti | Platform::Payfor
    )
}

impl Checkout {
    /// The merchant's terminals routing may choose, oldest first, then the default terminal.
    pub(crate) async fn routable_terminals(
        &self,
        merchant_id: &str,
    ) -> Result<Vec<Terminal>, CheckoutError> {
        let mut list = terminals::readable_of_merchant(&*self.storage.terminals, merchant_id)
            .await
            .map_err(|e| CheckoutError::internal(anyhow::anyhow!("{e}")))?;
        list.retain(|t| has_connector(t.platform));
        list.push(terminals::default_terminal(&self.settings.acquirer));
        Ok(list)
    }

    /// Whether one of `terminals` can take `count` installments of this card: a program card's
    /// installments need a member bank's terminal (routing's first rule).
    pub(crate) fn can_route(
        &self,
        terminals: &[Terminal],
        card: Option<&BinInfo>,
        count: u8,
    ) -> bool {
        let facts = card_facts(card);
        let req = RouteRequest {
            card: &facts,
            amount_minor: 0,
            installment: count,
            prefer_on_us: false,
            exclude: &[],
        };
        routing::route(&req, terminals, &self.installments.programs).is_ok()
    }

    /// Routes a card attempt of `payment` in `count` installments (`crate::routing`). An
    /// installment payment on a program card without a member bank's terminal is refused
    /// (`KP-1019`): no terminal could give those installments.
    pub(crate) async fn route_card(
        &self,
        payment: &Payment,
        card: Option<&BinInfo>,
        count: u8,
    ) -> Result<Routing, CheckoutError> {
        self.route_with(payment, &card_facts(card), count, &[])
            .await?
            .ok_or_else(|| {
                CheckoutError::field(ErrorCode::InvalidInstallment, "installment")
                    .in_locale(payment.locale)
            })
    }

    /// Routing's third rule: the next terminal for a single payment whose terminal refused it
    /// before anything could have been authorised (`refusal`: what it said), once, when the
    /// merchant has another one. `None`: no fallback for this payment.
    pub(crate) async fn fallback_route(
        &self,
        payment: &Payment,
        refusal: &str,
    ) -> Result<Option<Routing>, CheckoutError> {
        let Some(tried) = payment.routing.as_ref() else {
            return Ok(None);
        };
        let merchant_authorises = payment
            .gateway
            .as_ref()
            .is_some_and(super::gateway::Gateway::merchant_authorises);
        if payment.installment.count() > 1
            || tried.rule == routing::Rule::Fallback.as_str()
            || merchant_authorises
        {
            return Ok(None);
        }
        let facts = CardFacts {
            bank: payment.card.as_ref().and_then(|c| c.bank.clone()),
            program: payment.card.as_ref().and_then(|c| c.program.clone()),
        };
        let exclude = [tried.terminal_id.clone()];
        let Some(mut next) = self.route_with(payment, &facts, 1, &exclude).await? else {
            return Ok(None);
        };
        if let Some(inputs) = next.inputs.as_object_mut() {
            inputs.insert("refusal".into(), refusal.into());
            // The refused attempt's reference at the first bank, for the books.
            let tried_ref = payment.attempt_ref().unwrap_or_default();
            inputs.insert("refused_attempt".into(), tried_ref.into());
        }
        Ok(Some(next))
    }

    /// `routing::route` over the merchant's routable terminals; `None` when no terminal of a
    /// program's member bank can give the installments.
    async fn route_with(
        &self,
        payment: &Payment,
        facts: &CardFacts,
        count: u8,
        exclude: &[String],
    ) -> Result<Option<Routing>, CheckoutError> {
        let merchant = self.merchant_of(payment).await?;
        let terminals = self.routable_terminals(&merchant.id).await?;
        let req = RouteRequest {
            card: facts,
            amount_minor: payment.amount.minor(),
            installment: count,
            prefer_on_us: merchant.prefer_on_us != 0,
            exclude,
        };
        let route = match routing::route(&req, &terminals, &self.installments.programs) {
            Ok(route) => route,
            Err(RouteError::NoProgramTerminal(_)) => return Ok(None),
            Err(RouteError::NoTerminal) if !exclude.is_empty() => return Ok(None),
            Err(e @ RouteError::NoTerminal) => {
                return Err(
                    CheckoutError::internal(anyhow::anyhow!("{e}")).in_locale(payment.locale)
                );
            }
        };
        Ok(Some(Routing {
            terminal_id: route.terminal.id.clone(),
            bank: route.terminal.bank.clone(),
            platform: route.terminal.platform.as_str().to_owned(),
            rule: route.rule.as_str().to_owned(),
            inputs: serde_json::to_value(&route.inputs).unwrap_or_default(),
        }))
    }

    /// The connector of a Kapı terminal id, and the terminal's id at its bank: a merchant's
    /// own terminal (`trm_…`) by its stored settings; any other id is the configured acquirer's
    /// (the default terminal, also under an id it had before a configuration change, and an
    /// empty id: payments from before terminals).
    pub(crate) async fn acquirer_for(
        &self,
        terminal_id: &str,
    ) -> Result<(Arc<dyn Acquirer>, String), CheckoutError> {
        if !terminal_id.starts_with(terminals::ID_PREFIX) {
            let bank_id =
                if terminal_id.is_empty() || terminal_id == self.settings.acquirer.terminal_id {
                    self.acquirer.terminal_id().to_owned()
                } else {
                    terminal_id.to_owned()
                };
            return Ok((self.acquirer.clone(), bank_id));
        }
        let internal = |what: String| CheckoutError::internal(anyhow::anyhow!(what));
        let record = self
            .storage
            .terminals
            .terminal(terminal_id)
            .await?
            .ok_or_else(|| internal(format!("terminal {terminal_id} is not stored")))?;
        let terminal = terminals::parse(&record).map_err(|e| internal(e.to_string()))?;
        let (password, _) = terminals::secrets(&self.vault, &record)
            .map_err(|e| internal(format!("terminal {terminal_id}: {e}")))?;
        match terminal.platform {
            Platform::Simulator => Ok((
                Arc::new(MeteredAcquirer(Arc::new(HttpAcquirer::new(
                    &terminal.api_url,
                    terminal.client_id.clone(),
                    password,
                    self.bank_http.for_terminal(terminal.static_ip),
                )))),
                terminal.client_id,
            )),
            Platform::Nestpay => Ok((
                Arc::new(MeteredAcquirer(Arc::new(NestpayAcquirer::new(
                    &terminal.api_url,
                    terminal.client_id.clone(),
                    terminal.user,
                    password,
                    self.bank_http.for_terminal(terminal.static_ip),
                )))),
                terminal.client_id,
            )),
            Platform::Garanti => {
                let refund = match (
                    terminal.refund_user.clone(),
                    terminals::refund_password(&self.vault, &record)
                        .map_err(|e| internal(format!("terminal {terminal_id}: {e}")))?,
                ) {
                    (Some(name), Some(password)) => Some(GarantiUser { name, password }),
                    _ => None,
                };
                let terminal_no = terminal.terminal_no.clone().unwrap_or_default();
                Ok((
                    Arc::new(MeteredAcquirer(Arc::new(GarantiAcquirer {
                        client: self.bank_http.for_terminal(terminal.static_ip),
                        mode: crate::acquirer::garanti::mode_for(&terminal.api_url).to_owned(),
                        api_url: terminal.api_url,
                        merchant_id: terminal.client_id,
                        terminal_id: terminal_no.clone(),
                        provision: GarantiUser {
                            name: terminal.user,
                            password,
                        },
                        refund,
                    }))),
                    terminal_no,
                ))
            }
            Platform::Payfor => Ok((
                Arc::new(MeteredAcquirer(Arc::new(PayforAcquirer {
                    client: self.bank_http.for_terminal(terminal.static_ip),
                    api_url: terminal.api_url,
                    mbr_id: terminal
                        .mbr_id
                        .unwrap_or_else(|| crate::wire::payfor::DEFAULT_MBR_ID.to_owned()),
                    merchant_id: terminal.client_id.clone(),
                    user_code: terminal.user,
                    user_pass: password,
                }))),
                terminal.client_id,
            )),
        }
    }
}
