//! `POST /pay`: parse and check the merchant's signed form, then create the payment.

use super::{
    CheckoutError,
    payment::{Intent, Payment, Source},
    service::Checkout,
};
use crate::{
    crypto::signature::{self, CanonicalError},
    domain::{
        CardAttempts, Currency, Customer, Description, Installment, Locale, MerchantId, Money,
        OrderId, ReturnUrl, money::MoneyError,
    },
    error::ErrorCode,
    form, merchants,
    storage::MerchantRecord,
};

/// Every field the form may carry. Anything else is refused.
pub const FIELDS: &[&str] = &[
    "merchant_id",
    "order_id",
    "amount",
    "currency",
    "ok_url",
    "fail_url",
    "callback_url",
    "lang",
    "installment",
    "description",
    "customer_email",
    "customer_name",
    "customer_phone",
    "intent",
    "timestamp",
    "nonce",
    "signature",
];

const REQUIRED: &[&str] = &[
    "merchant_id",
    "order_id",
    "amount",
    "currency",
    "ok_url",
    "fail_url",
    "timestamp",
    "nonce",
    "signature",
];

const MAX_VALUE_LEN: usize = 4096;

/// Checks shape before anything else: known names, no duplicates, no line breaks, required
/// fields present.
fn check_shape(fields: &[(String, String)]) -> Result<(), CheckoutError> {
    if fields.is_empty() {
        return Err(CheckoutError::new(ErrorCode::MalformedRequest));
    }
    for (name, value) in fields {
        if !FIELDS.contains(&name.as_str()) {
            return Err(CheckoutError::field(
                ErrorCode::UnknownField,
                &truncate(name),
            ));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(CheckoutError::field(ErrorCode::InvalidField, name));
        }
    }
    if let Err(e) = signature::canonical_string(fields) {
        return Err(match e {
            CanonicalError::Duplicate(n) => CheckoutError::field(ErrorCode::DuplicateField, &n),
            CanonicalError::LineBreak(n) => CheckoutError::field(ErrorCode::LineBreak, &n),
            CanonicalError::BadName(n) => {
                CheckoutError::field(ErrorCode::UnknownField, &truncate(&n))
            }
        });
    }
    let signatures = fields
        .iter()
        .filter(|(n, _)| n == signature::SIGNATURE_FIELD)
        .count();
    if signatures > 1 {
        return Err(CheckoutError::field(ErrorCode::DuplicateField, "signature"));
    }
    for required in REQUIRED {
        if form::value(fields, required).is_empty() {
            return Err(CheckoutError::field(ErrorCode::MissingField, required));
        }
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The order data both ways in (signed form and API) carry, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrderInput<'a> {
    pub order_id: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub ok_url: &'a str,
    pub fail_url: &'a str,
    pub callback_url: &'a str,
    pub lang: &'a str,
    pub installment: &'a str,
    pub description: &'a str,
    pub customer_name: &'a str,
    pub customer_email: &'a str,
    pub customer_phone: &'a str,
    /// How many cards the shopper may try (API only); `None`: the merchant's setting.
    pub card_attempts: Option<i64>,
    /// `sale` (also when empty) or `preauth`.
    pub intent: &'a str,
}

/// A checked order, ready to become a payment.
pub struct OrderDraft {
    pub order_id: OrderId,
    pub money: Money,
    pub locale: Locale,
    pub installment: Installment,
    pub description: Description,
    pub customer: Customer,
    pub ok_url: ReturnUrl,
    pub fail_url: ReturnUrl,
    pub callback_url: Option<ReturnUrl>,
    pub card_attempts: CardAttempts,
    pub intent: Intent,
}

/// A refusal: the stable code and the field it is about.
pub type Refusal = (ErrorCode, &'static str);

/// Parses the order and checks its return URLs against the merchant's registered origins.
pub fn parse_order(
    input: &OrderInput<'_>,
    merchant: &MerchantRecord,
) -> Result<OrderDraft, Refusal> {
    let locale = Locale::parse(input.lang).map_err(|_| (ErrorCode::InvalidField, "lang"))?;
    let order_id =
        OrderId::parse(input.order_id).map_err(|_| (ErrorCode::InvalidOrderId, "order_id"))?;
    let currency = Currency::parse(input.currency)
        .map_err(|_| (ErrorCode::UnsupportedCurrency, "currency"))?;
    let money = Money::parse(input.amount, currency).map_err(|e| match e {
        MoneyError::UnsupportedCurrency => (ErrorCode::UnsupportedCurrency, "currency"),
        _ => (ErrorCode::InvalidAmount, "amount"),
    })?;
    let installment = Installment::parse(input.installment)
        .ok()
        .filter(|n| n.count() == 1 || currency == Currency::Try)
        .ok_or((ErrorCode::InvalidInstallment, "installment"))?;
    let description = Description::parse(input.description)
        .map_err(|_| (ErrorCode::InvalidField, "description"))?;
    let customer = Customer::parse(
        input.customer_name,
        input.customer_email,
        input.customer_phone,
    )
    .map_err(|field| (ErrorCode::InvalidField, field))?;
    // Return URLs only on the merchant's registered origins: never send a shopper elsewhere.
    let return_url = |value: &str, name: &'static str| -> Result<ReturnUrl, Refusal> {
        let url = ReturnUrl::parse(value).map_err(|_| (ErrorCode::InvalidField, name))?;
        if !merchants::origin_registered(merchant, url.origin()) {
            return Err((ErrorCode::UnregisteredUrl, name));
        }
        Ok(url)
    };
    let ok_url = return_url(input.ok_url, "ok_url")?;
    let fail_url = return_url(input.fail_url, "fail_url")?;
    let callback_url = match input.callback_url {
        "" => None,
        value => Some(return_url(value, "callback_url")?),
    };
    let card_attempts = match input.card_attempts {
        Some(n) => {
            CardAttempts::from_count(n).map_err(|_| (ErrorCode::InvalidField, "card_attempts"))?
        }
        None => merchant.card_attempts(),
    };
    let intent = match input.intent {
        "" => Intent::Sale,
        value => Intent::parse(value).map_err(|_| (ErrorCode::InvalidField, "intent"))?,
    };
    Ok(OrderDraft {
        intent,
        order_id,
        money,
        locale,
        installment,
        description,
        customer,
        ok_url,
        fail_url,
        callback_url,
        card_attempts,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("order already paid")]
    OrderAlreadyPaid,
    #[error("the card could not be sealed: {0}")]
    Seal(#[from] crate::crypto::vault::VaultError),
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
}

impl Checkout {
    /// Creates the payment for a checked order; it waits for the shopper until `ttl` has
    /// passed.
    pub async fn create_payment(
        &self,
        merchant: &MerchantRecord,
        draft: OrderDraft,
        ttl: std::time::Duration,
        source: Source,
    ) -> Result<Payment, CreateError> {
        self.create_payment_with(merchant, draft, ttl, source, |_| Ok(None))
            .await
    }

    /// As `create_payment`; `finish` completes the new payment before it is written (a
    /// gateway's record) and may give the card its start carried, sealed, kept with it.
    pub(crate) async fn create_payment_with(
        &self,
        merchant: &MerchantRecord,
        draft: OrderDraft,
        ttl: std::time::Duration,
        source: Source,
        finish: impl FnOnce(&mut Payment) -> Result<Option<Vec<u8>>, CreateError>,
    ) -> Result<Payment, CreateError> {
        if self
            .storage
            .payments
            .order_is_paid(&merchant.id, draft.order_id.as_str())
            .await?
        {
            return Err(CreateError::OrderAlreadyPaid);
        }
        let now_ms = self.now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let merchant_id = MerchantId::parse(&merchant.id)
            .map_err(|e| CreateError::Store(crate::storage::StoreError::Corrupt(e.to_string())))?;
        let expires_at = now_ms.saturating_add(ttl_ms);
        let mut payment = Payment::new(merchant_id, draft, source, now_ms, expires_at);
        let card = finish(&mut payment)?;
        self.storage
            .payments
            .insert_payment_holding(&payment, card.as_deref())
            .await?;
        tracing::info!(payment_id = %payment.id, merchant_id = %merchant.id, order_id = %payment.order_id, source = source.as_str(), "payment started");
        crate::observe::payment_started(&merchant.id, payment.amount.currency().code());
        Ok(payment)
    }

    /// Creates a payment from a merchant's signed start form. Refusals speak the form's
    /// language, else the browser's (`preferred`).
    pub async fn start_payment(
        &self,
        raw: Vec<(String, String)>,
        preferred: Locale,
    ) -> Result<Payment, CheckoutError> {
        // The language of error pages, before anything is trusted.
        let locale = match form::value(&raw, "lang") {
            "" => preferred,
            lang => Locale::parse_lenient(lang),
        };
        self.check_start_form(&raw)
            .await
            .map_err(|e| e.in_locale(locale))
    }

    async fn check_start_form(&self, raw: &[(String, String)]) -> Result<Payment, CheckoutError> {
        check_shape(raw)?;
        let f = |name: &str| form::value(raw, name);
        // Who is asking, and did they sign it (with the current key, or the previous one while
        // a rotation overlaps)?
        let merchant_id = MerchantId::parse(f("merchant_id"))
            .map_err(|_| CheckoutError::new(ErrorCode::UnknownMerchant))?;
        let merchant = self
            .storage
            .merchants
            .get_merchant(merchant_id.as_str())
            .await?
            .ok_or_else(|| CheckoutError::new(ErrorCode::UnknownMerchant))?;
        let secrets = merchants::active_secrets(&self.vault, &merchant, self.now_ms())
            .map_err(CheckoutError::internal)?;
        let valid = secrets
            .iter()
            .any(|secret| signature::verify(raw, secret, f("signature")).unwrap_or(false));
        if !valid {
            return Err(CheckoutError::new(ErrorCode::BadSignature));
        }
        // Fresh and not replayed.
        let ts: i64 = f("timestamp")
            .parse()
            .map_err(|_| CheckoutError::field(ErrorCode::InvalidField, "timestamp"))?;
        if (self.clock.now_secs() - ts).unsigned_abs()
            > self.settings.checkout.signature_window_secs
        {
            return Err(CheckoutError::new(ErrorCode::StaleTimestamp));
        }
        let nonce = f("nonce");
        if !(16..=64).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CheckoutError::field(ErrorCode::InvalidField, "nonce"));
        }
        if !self
            .storage
            .requests
            .remember_nonce(&merchant.id, nonce, self.now_ms())
            .await?
        {
            return Err(CheckoutError::new(ErrorCode::NonceReused));
        }
        let input = OrderInput {
            order_id: f("order_id"),
            amount: f("amount"),
            currency: f("currency"),
            ok_url: f("ok_url"),
            fail_url: f("fail_url"),
            callback_url: f("callback_url"),
            lang: f("lang"),
            installment: f("installment"),
            description: f("description"),
            customer_name: f("customer_name"),
            customer_email: f("customer_email"),
            customer_phone: f("customer_phone"),
            // The signed form keeps the bank pages' way: the merchant's setting decides.
            card_attempts: None,
            intent: f("intent"),
        };
        let draft = parse_order(&input, &merchant)
            .map_err(|(code, field)| CheckoutError::field(code, field))?;
        let locale = draft.locale;
        let ttl = self.settings.payment_ttl();
        self.create_payment(&merchant, draft, ttl, Source::Form)
            .await
            .map_err(|e| CheckoutError::from(e).in_locale(locale))
    }
}

impl From<CreateError> for CheckoutError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::OrderAlreadyPaid => Self::new(ErrorCode::OrderAlreadyPaid),
            CreateError::Seal(e) => Self::internal(anyhow::Error::from(e)),
            CreateError::Store(e) => Self::internal(e),
        }
    }
}
