//! The card form's rules: what a submit does (language switch, validation, the installment
//! offer, the card-testing guard) before the card is kept and 3-D Secure begins, and the
//! installment table a card number gets.

use super::{
    CheckoutError, Status,
    card::{self, CardInput, FieldErrors},
    documents::{self, DocumentKind, RenderedDocument},
    flow::{ClientInfo, Next, Submission},
    payment::Payment,
    service::Checkout,
};
use crate::{
    domain::{Currency, Locale, Pan},
    error::ErrorCode,
    form,
    installments::{Choices, InstallmentPlan, Offer},
    limits,
    storage::MerchantRecord,
};

/// The installment part of the card page, when the shopper may choose.
#[derive(Debug, Clone, Default)]
pub struct InstallmentPart {
    /// The choices for the card typed so far; `None` before a card number is known.
    pub choices: Option<Choices>,
    /// The count to show as chosen.
    pub selected: u8,
    /// Fluent key of a line above the table (why the page is shown again).
    pub notice: Option<&'static str>,
    /// Fluent key of an error about the choice.
    pub error: Option<&'static str>,
}

/// A legal document as its own page shows it.
pub struct ShownDocument {
    pub doc: RenderedDocument,
    /// When the shopper accepted it; `None` before.
    pub accepted_at: Option<i64>,
}

/// What a card form submit leads to.
pub enum CardStep {
    /// The card page again (in `payment`'s language, which may have just changed), with the
    /// errors and the installment part to show. What the shopper typed is shown again, except
    /// the card number and CVV.
    Again {
        payment: Box<Payment>,
        errors: FieldErrors,
        installments: InstallmentPart,
    },
    /// On to the ACS, or the result.
    Next(Next),
}

/// Whether the shopper chooses the installments on this payment's card page: the merchant has
/// a plan, did not fix the count when starting the payment, and the payment is in TRY.
pub fn offers_installments(payment: &Payment, plan: Option<&InstallmentPlan>) -> bool {
    // A card the merchant's own form took comes with the count the merchant posted.
    let card_given = payment
        .gateway
        .as_ref()
        .is_some_and(|g| g.held_card().is_some());
    payment.installment.count() <= 1
        && plan.is_some()
        && payment.currency() == Currency::Try
        && !card_given
}

impl Checkout {
    /// The installment choices for a card number (or its first digits) on this payment: only
    /// the counts one of the merchant's `terminals` can give (a program card's installments
    /// need a member bank's terminal).
    pub fn choices_for(
        &self,
        payment: &Payment,
        plan: Option<&InstallmentPlan>,
        digits: &str,
        terminals: &[crate::terminals::Terminal],
    ) -> Choices {
        let mut choices =
            self.installments
                .choices(plan, payment.amount, payment.installment.count(), digits);
        let card = choices.card.clone();
        choices
            .offers
            .retain(|o| o.count <= 1 || self.can_route(terminals, card.as_ref(), o.count));
        choices
    }

    /// The legal documents as the card page shows them, and whether the page offers
    /// installments (which the texts then mention).
    pub fn documents_for(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
    ) -> Result<(Vec<RenderedDocument>, bool), CheckoutError> {
        let offered = offers_installments(payment, merchant.installment_plan().as_ref());
        let docs = documents::render(payment, merchant, payment.locale, offered)
            .map_err(|e| CheckoutError::internal(e).in_locale(payment.locale))?;
        Ok((docs, offered))
    }

    /// A document of a payment as its shopper reads it on a page of its own: the one they
    /// accepted, rendered again byte for byte from their consent; before they accept, as the
    /// card page shows it now.
    pub async fn document(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
        kind: DocumentKind,
    ) -> Result<ShownDocument, CheckoutError> {
        let locale = payment.locale;
        let consents = self.storage.payments.consents(payment.id.as_str()).await?;
        let Some(consent) = consents
            .into_iter()
            .find(|c| c.document_kind == kind.as_str())
        else {
            let (docs, _) = self.documents_for(payment, merchant)?;
            let doc = docs
                .into_iter()
                .find(|d| d.kind == kind)
                .ok_or_else(|| CheckoutError::new(ErrorCode::PaymentNotFound).in_locale(locale))?;
            return Ok(ShownDocument {
                doc,
                accepted_at: None,
            });
        };
        let internal = |e: anyhow::Error| CheckoutError::internal(e).in_locale(locale);
        let data = consent
            .document_data
            .as_deref()
            .ok_or_else(|| internal(anyhow::anyhow!("consent recorded without its data")))?;
        let doc = documents::render_again(kind, &consent.template_version, data)
            .map_err(|e| internal(e.into()))?;
        if doc.sha256 != consent.text_sha256 {
            return Err(internal(anyhow::anyhow!(
                "a consented document renders differently: {} of {}",
                kind.as_str(),
                payment.id
            )));
        }
        Ok(ShownDocument {
            doc,
            accepted_at: Some(consent.accepted_at),
        })
    }

    /// A card form submit.
    pub async fn card_form(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
        fields: &[(String, String)],
        client: &ClientInfo,
    ) -> Result<CardStep, CheckoutError> {
        let locale = payment.locale;
        self.card_step(payment, merchant, fields, client)
            .await
            .map_err(|e| e.in_locale(locale))
    }

    async fn card_step(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
        fields: &[(String, String)],
        client: &ClientInfo,
    ) -> Result<CardStep, CheckoutError> {
        if !matches!(payment.status, Status::Created | Status::AwaitingRetry) {
            // A second click, or the back button: the first submit carries on.
            return Ok(CardStep::Next(Next::Result));
        }
        self.limit_card_submits(&client.ip).await?;
        // Card testing: after many declines, this address or this merchant waits a while.
        self.guard(&merchant.id, &client.ip, None).await?;
        let input = CardInput::from_fields(fields);
        let plan = merchant.installment_plan();
        let terminals = self.routable_terminals(&merchant.id).await?;
        let requested = form::value(fields, "installment").parse::<u8>().ok();
        let typed_choices = || {
            Pan::parse(input.card_number.expose())
                .ok()
                .map(|pan| self.choices_for(payment, plan.as_ref(), pan.expose(), &terminals))
        };
        let again = |payment: &Payment, errors, choices, notice, error| CardStep::Again {
            payment: Box::new(payment.clone()),
            errors,
            installments: InstallmentPart {
                selected: requested.unwrap_or(1),
                choices,
                notice,
                error,
            },
        };
        // The language switch: the same form again in the other language.
        let switch = form::value(fields, "switch_lang");
        if !switch.is_empty()
            && let Ok(lang) = Locale::parse(switch)
        {
            let switched = self.switch_locale(payment, lang).await?;
            return Ok(again(&switched, vec![], typed_choices(), None, None));
        }
        // NestPay `3d_pay`: the shop's form took the card; this page asks only the consents.
        if payment.status == Status::Created
            && payment
                .gateway
                .as_ref()
                .and_then(|g| g.held_card())
                .is_some()
        {
            let errors: FieldErrors = DocumentKind::ALL
                .iter()
                .filter(|k| form::value(fields, k.consent_field()).is_empty())
                .map(|k| (k.consent_field(), k.consent_error_key()))
                .collect();
            if !errors.is_empty() {
                return Ok(again(payment, errors, None, None, None));
            }
            // A second submit, or one that lost to a cancel: the first carries on.
            let Some(card) = self.given_card(payment).await? else {
                return Ok(CardStep::Next(Next::Result));
            };
            self.guard(&merchant.id, &client.ip, card.pan.expose().get(..6))
                .await?;
            let (docs, _) = self.documents_for(payment, merchant)?;
            let next = self
                .pay_with_given_card(payment, merchant, &card, client, &docs)
                .await?;
            return Ok(CardStep::Next(next));
        }
        let valid = match card::validate(&input, self.clock.now().date()) {
            Ok(valid) => valid,
            Err(errors) => return Ok(again(payment, errors, typed_choices(), None, None)),
        };
        // …and so does a BIN range that was being tested at this merchant.
        self.guard(&merchant.id, &client.ip, valid.pan.expose().get(..6))
            .await?;
        let choices = self.choices_for(payment, plan.as_ref(), valid.pan.expose(), &terminals);
        let unavailable = Some("installment-error-unavailable");
        let offer = if choices.fixed {
            // The merchant fixed the count: the card must allow it.
            match choices.offers.first() {
                Some(offer) => *offer,
                None => {
                    let errors = vec![("card_number", "installment-error-card")];
                    return Ok(again(payment, errors, Some(choices), None, None));
                }
            }
        } else if choices.has_choice() {
            match requested.map(|n| choices.offer(n)) {
                Some(Some(offer)) => offer,
                Some(None) => {
                    let errors = vec![("installments", "installment-error-unavailable")];
                    return Ok(again(payment, errors, Some(choices), None, unavailable));
                }
                // Without JavaScript the table appears only now that the card is known: show
                // it and let the shopper choose (the card number and CVV are typed again).
                None => {
                    let notice = Some("installments-choose-notice");
                    return Ok(again(payment, vec![], Some(choices), notice, None));
                }
            }
        } else if requested.is_some_and(|n| n > 1) {
            // A count chosen for another card than this one, which pays at once.
            let errors = vec![("installments", "installment-error-unavailable")];
            return Ok(again(payment, errors, Some(choices), None, unavailable));
        } else {
            Offer::single(payment.amount.minor())
        };
        let (docs, _) = self.documents_for(payment, merchant)?;
        let submission = Submission {
            client,
            documents: &docs,
            offer,
            card_info: choices.card.as_ref(),
        };
        let next = self
            .submit_card(payment, &merchant.name, &valid, submission)
            .await?;
        Ok(CardStep::Next(next))
    }

    /// Counts a card submitted from `client_ip` (the card page, or a shop's card form at a
    /// gate); refuses it past `limits.card_submit` in the window.
    pub(super) async fn limit_card_submits(&self, client_ip: &str) -> Result<(), CheckoutError> {
        let limits = &self.settings.limits;
        let key = format!("card:{}", limits::address_key_str(client_ip));
        self.limiter
            .hit(&key, limits.card_submit, limits.window_secs)
            .await
            .map_err(|wait| CheckoutError::too_many(ErrorCode::TooManyRequests, wait))
    }

    /// Refuses a card submit the card-testing guard blocks.
    pub(super) async fn guard(
        &self,
        merchant_id: &str,
        client_ip: &str,
        bin: Option<&str>,
    ) -> Result<(), CheckoutError> {
        match limits::card_submit_blocked(&self.guard, merchant_id, client_ip, bin).await {
            Some(wait) => Err(CheckoutError::too_many(ErrorCode::CardTestingBlocked, wait)),
            None => Ok(()),
        }
    }

    /// The installment table for the first six to eight digits of a card number, as the card
    /// page's script asks for it while the shopper types.
    pub async fn installment_table(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
        bin: &str,
        selected: u8,
        client_ip: &str,
    ) -> Result<InstallmentPart, CheckoutError> {
        let locale = payment.locale;
        let key = format!("installments:{}", limits::address_key_str(client_ip));
        if let Err(wait) = self
            .limiter
            .hit(
                &key,
                self.settings.installments.lookups_per_window,
                self.settings.limits.window_secs,
            )
            .await
        {
            return Err(CheckoutError::too_many(ErrorCode::TooManyRequests, wait).in_locale(locale));
        }
        // Six to eight digits: enough for the BIN table, never the card number.
        if !(6..=8).contains(&bin.len()) || !bin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CheckoutError::field(ErrorCode::InvalidField, "bin").in_locale(locale));
        }
        let plan = merchant.installment_plan();
        let waiting = matches!(payment.status, Status::Created | Status::AwaitingRetry);
        if !waiting || !offers_installments(payment, plan.as_ref()) {
            return Err(CheckoutError::new(ErrorCode::PaymentNotFound).in_locale(locale));
        }
        let terminals = self.routable_terminals(&merchant.id).await?;
        Ok(InstallmentPart {
            choices: Some(self.choices_for(payment, plan.as_ref(), bin, &terminals)),
            selected,
            notice: None,
            error: None,
        })
    }
}
