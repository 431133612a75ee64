//! `POST /pay`: parse and check the merchant's signed form, then create the payment.

use crate::{
    crypto::signature::{self, CanonicalError},
    domain::{
        Currency, Customer, Description, Installment, Locale, MerchantId, Money, OrderId,
        PaymentId, ReturnUrl, money::MoneyError,
    },
    error::{ErrorCode, PageError},
    form, merchants,
    state::AppState,
    storage::{MerchantRecord, PaymentRecord},
};

use super::Status;

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
fn check_shape(fields: &[(String, String)], locale: Locale) -> Result<(), PageError> {
    if fields.is_empty() {
        return Err(PageError::new(ErrorCode::MalformedRequest, locale));
    }
    for (name, value) in fields {
        if !FIELDS.contains(&name.as_str()) {
            return Err(PageError::field(
                ErrorCode::UnknownField,
                locale,
                &truncate(name),
            ));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(PageError::field(ErrorCode::InvalidField, locale, name));
        }
    }
    if let Err(e) = signature::canonical_string(fields) {
        return Err(match e {
            CanonicalError::Duplicate(n) => PageError::field(ErrorCode::DuplicateField, locale, &n),
            CanonicalError::LineBreak(n) => PageError::field(ErrorCode::LineBreak, locale, &n),
            CanonicalError::BadName(n) => {
                PageError::field(ErrorCode::UnknownField, locale, &truncate(&n))
            }
        });
    }
    if fields
        .iter()
        .filter(|(n, _)| n == signature::SIGNATURE_FIELD)
        .count()
        > 1
    {
        return Err(PageError::field(
            ErrorCode::DuplicateField,
            locale,
            "signature",
        ));
    }
    for required in REQUIRED {
        if form::value(fields, required).is_empty() {
            return Err(PageError::field(ErrorCode::MissingField, locale, required));
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
}

/// A refusal: the stable code and the field it is about.
pub type Refusal = (ErrorCode, &'static str);

/// Parses the order and checks its return URLs against the merchant's registered origins.
pub fn parse_order(
    input: &OrderInput<'_>,
    merchant: &MerchantRecord,
) -> Result<OrderDraft, Refusal> {
    let locale = Locale::parse(input.lang).ok_or((ErrorCode::InvalidField, "lang"))?;
    let order_id = OrderId::parse(input.order_id).ok_or((ErrorCode::InvalidOrderId, "order_id"))?;
    let currency = Currency::parse(input.currency)
        .map_err(|_| (ErrorCode::UnsupportedCurrency, "currency"))?;
    let money = Money::parse(input.amount, currency).map_err(|e| match e {
        MoneyError::UnsupportedCurrency => (ErrorCode::UnsupportedCurrency, "currency"),
        _ => (ErrorCode::InvalidAmount, "amount"),
    })?;
    let installment = Installment::parse(input.installment)
        .filter(|n| n.count() == 1 || currency == Currency::Try)
        .ok_or((ErrorCode::InvalidInstallment, "installment"))?;
    let description =
        Description::parse(input.description).ok_or((ErrorCode::InvalidField, "description"))?;
    let customer = Customer::parse(
        input.customer_name,
        input.customer_email,
        input.customer_phone,
    )
    .map_err(|field| (ErrorCode::InvalidField, field))?;
    // Return URLs only on the merchant's registered origins: never send a shopper elsewhere.
    let return_url = |value: &str, name: &'static str| -> Result<ReturnUrl, Refusal> {
        let url = ReturnUrl::parse(value).ok_or((ErrorCode::InvalidField, name))?;
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
    Ok(OrderDraft {
        order_id,
        money,
        locale,
        installment,
        description,
        customer,
        ok_url,
        fail_url,
        callback_url,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("order already paid")]
    OrderAlreadyPaid,
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
}

/// Creates the payment for a checked order; it waits for the shopper until `ttl` has passed.
pub async fn create_payment(
    state: &AppState,
    merchant: &MerchantRecord,
    draft: OrderDraft,
    ttl: std::time::Duration,
    source: &str,
) -> Result<PaymentRecord, CreateError> {
    if state
        .store
        .order_is_paid(&merchant.id, draft.order_id.as_str())
        .await?
    {
        return Err(CreateError::OrderAlreadyPaid);
    }
    let id = PaymentId::generate();
    let now_ms = state.clock.now_ms();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let record = PaymentRecord {
        id: id.to_string(),
        merchant_id: merchant.id.clone(),
        order_id: draft.order_id.to_string(),
        amount_minor: draft.money.minor(),
        currency: draft.money.currency().code().to_owned(),
        installment: i64::from(draft.installment.count()),
        locale: draft.locale.as_str().to_owned(),
        description: draft.description.as_str().to_owned(),
        customer_name: draft.customer.name,
        customer_email: draft.customer.email,
        customer_phone: draft.customer.phone,
        ok_url: draft.ok_url.as_str().to_owned(),
        fail_url: draft.fail_url.as_str().to_owned(),
        callback_url: draft.callback_url.map(|u| u.as_str().to_owned()),
        status: Status::Created.as_str().to_owned(),
        created_at: now_ms,
        updated_at: now_ms,
        expires_at: now_ms.saturating_add(ttl_ms),
        card_brand: None,
        masked_pan: None,
        card_holder: None,
        threeds_server_trans_id: None,
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
        terminal_id: None,
        proc_return_code: None,
        auth_code: None,
        host_ref: None,
        transaction_id: None,
        error_code: None,
        result_fields: None,
        refunded_minor: 0,
        refund_reserved_minor: 0,
        authorised_at: None,
        source: source.to_owned(),
        client_ip: None,
        installment_fee_minor: 0,
        card_bank: None,
        card_program: None,
        card_kind: None,
        attempt_ref: None,
    };
    state.store.insert_payment(&record).await?;
    tracing::info!(payment_id = %id, merchant_id = %merchant.id, order_id = %record.order_id, source, "payment started");
    Ok(record)
}

/// Creates a payment from a merchant's signed start form.
pub async fn start_payment(
    state: &AppState,
    raw: Vec<(String, String)>,
    preferred: Locale,
) -> Result<PaymentRecord, PageError> {
    // The language of error pages, before anything is trusted: the form's, else the browser's.
    let locale = match form::value(&raw, "lang") {
        "" => preferred,
        lang => Locale::parse_lenient(lang),
    };
    check_shape(&raw, locale)?;
    let f = |name: &str| form::value(&raw, name);

    // Who is asking, and did they sign it (with the current key, or the previous one while a
    // rotation overlaps)?
    let merchant_id = MerchantId::parse(f("merchant_id"))
        .ok_or_else(|| PageError::new(ErrorCode::UnknownMerchant, locale))?;
    let merchant = state
        .store
        .get_merchant(merchant_id.as_str())
        .await?
        .ok_or_else(|| PageError::new(ErrorCode::UnknownMerchant, locale))?;
    let secrets = merchants::active_secrets(&state.vault, &merchant, state.clock.now_ms())
        .map_err(|e| PageError::internal(locale, e))?;
    let valid = secrets
        .iter()
        .any(|secret| signature::verify(&raw, secret, f("signature")).unwrap_or(false));
    if !valid {
        return Err(PageError::new(ErrorCode::BadSignature, locale));
    }

    // Fresh and not replayed.
    let now = state.clock.now_secs();
    let ts: i64 = f("timestamp")
        .parse()
        .map_err(|_| PageError::field(ErrorCode::InvalidField, locale, "timestamp"))?;
    if (now - ts).unsigned_abs() > state.settings.checkout.signature_window_secs {
        return Err(PageError::new(ErrorCode::StaleTimestamp, locale));
    }
    let nonce = f("nonce");
    if !(16..=64).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(PageError::field(ErrorCode::InvalidField, locale, "nonce"));
    }
    if !state
        .store
        .remember_nonce(merchant_id.as_str(), nonce, state.clock.now_ms())
        .await?
    {
        return Err(PageError::new(ErrorCode::NonceReused, locale));
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
    };
    let draft = parse_order(&input, &merchant)
        .map_err(|(code, field)| PageError::field(code, locale, field))?;
    let locale = draft.locale;
    match create_payment(
        state,
        &merchant,
        draft,
        state.settings.payment_ttl(),
        "form",
    )
    .await
    {
        Ok(p) => Ok(p),
        Err(CreateError::OrderAlreadyPaid) => {
            Err(PageError::new(ErrorCode::OrderAlreadyPaid, locale))
        }
        Err(CreateError::Store(e)) => Err(PageError::internal(locale, e)),
    }
}
