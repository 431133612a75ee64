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
    storage::PaymentRecord,
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

/// Creates a payment from a merchant's signed start form.
pub async fn start_payment(
    state: &AppState,
    raw: Vec<(String, String)>,
) -> Result<PaymentId, PageError> {
    // The language of error pages, before anything is trusted.
    let locale = Locale::parse_lenient(form::value(&raw, "lang"));
    check_shape(&raw, locale)?;
    let f = |name: &str| form::value(&raw, name);

    // Who is asking, and did they sign it?
    let merchant_id = MerchantId::parse(f("merchant_id"))
        .ok_or_else(|| PageError::new(ErrorCode::UnknownMerchant, locale))?;
    let merchant = state
        .store
        .get_merchant(merchant_id.as_str())
        .await?
        .ok_or_else(|| PageError::new(ErrorCode::UnknownMerchant, locale))?;
    let secret = merchants::secret_key(&state.vault, &merchant)
        .map_err(|e| PageError::internal(locale, e))?;
    let valid = signature::verify(&raw, &secret, f("signature")).unwrap_or(false);
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

    // The order itself.
    let locale = Locale::parse(f("lang"))
        .ok_or_else(|| PageError::field(ErrorCode::InvalidField, locale, "lang"))?;
    let order_id = OrderId::parse(f("order_id"))
        .ok_or_else(|| PageError::field(ErrorCode::InvalidOrderId, locale, "order_id"))?;
    let currency = Currency::parse(f("currency"))
        .map_err(|_| PageError::field(ErrorCode::UnsupportedCurrency, locale, "currency"))?;
    let money = Money::parse(f("amount"), currency).map_err(|e| match e {
        MoneyError::UnsupportedCurrency => {
            PageError::field(ErrorCode::UnsupportedCurrency, locale, "currency")
        }
        _ => PageError::field(ErrorCode::InvalidAmount, locale, "amount"),
    })?;
    let installment = Installment::parse(f("installment"))
        .ok_or_else(|| PageError::field(ErrorCode::InvalidInstallment, locale, "installment"))?;
    let description = Description::parse(f("description"))
        .ok_or_else(|| PageError::field(ErrorCode::InvalidField, locale, "description"))?;
    let customer = Customer::parse(f("customer_name"), f("customer_email"), f("customer_phone"))
        .map_err(|field| PageError::field(ErrorCode::InvalidField, locale, field))?;

    // Return URLs only on the merchant's registered origins: never send a shopper elsewhere.
    let return_url = |name: &str| -> Result<ReturnUrl, PageError> {
        let url = ReturnUrl::parse(f(name))
            .ok_or_else(|| PageError::field(ErrorCode::InvalidField, locale, name))?;
        if !merchants::origin_registered(&merchant, url.origin()) {
            return Err(PageError::field(ErrorCode::UnregisteredUrl, locale, name));
        }
        Ok(url)
    };
    let ok_url = return_url("ok_url")?;
    let fail_url = return_url("fail_url")?;
    let callback_url = match f("callback_url") {
        "" => None,
        _ => Some(return_url("callback_url")?),
    };

    if state
        .store
        .order_is_paid(merchant_id.as_str(), order_id.as_str())
        .await?
    {
        return Err(PageError::new(ErrorCode::OrderAlreadyPaid, locale));
    }

    let id = PaymentId::generate();
    let now_ms = state.clock.now_ms();
    let ttl_ms = i64::try_from(state.settings.payment_ttl().as_millis()).unwrap_or(i64::MAX);
    let record = PaymentRecord {
        id: id.to_string(),
        merchant_id: merchant_id.to_string(),
        order_id: order_id.to_string(),
        amount_minor: money.minor(),
        currency: currency.code().to_owned(),
        installment: i64::from(installment.count()),
        locale: locale.as_str().to_owned(),
        description: description.as_str().to_owned(),
        customer_name: customer.name,
        customer_email: customer.email,
        customer_phone: customer.phone,
        ok_url: ok_url.as_str().to_owned(),
        fail_url: fail_url.as_str().to_owned(),
        callback_url: callback_url.map(|u| u.as_str().to_owned()),
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
    };
    state.store.insert_payment(&record).await?;
    tracing::info!(payment_id = %id, merchant_id = %merchant_id, order_id = %order_id, "payment started");
    Ok(id)
}
