//! The NestPay-compatible gate (`POST /fim/est3Dgate`): a merchant's existing NestPay code
//! starts a payment exactly as it would at a NestPay bank — `3d_pay_hosting` (Kapı's card
//! page) or `3d_pay` (the card in the post) — and gets its result in NestPay's shape, signed
//! with the ver3 hash under its store key. Over the same payments, consents, 3-D Secure,
//! events and API as Kapı's own protocol (docs/NESTPAY.md).

use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{
    CheckoutError, Status,
    card::{self, CardInput, ValidCard, VaultedCard},
    flow::{ClientInfo, Next, Submission},
    gateway::{Gateway, HeldCard, NestpayOrder, StoreType},
    payment::{Intent, Payment, Source},
    service::Checkout,
    start::{OrderInput, parse_order},
};
use crate::{
    domain::{Currency, Cvv, Expiry, Locale, Pan, Sensitive, ids::random_token, threeds::MdStatus},
    error::ErrorCode,
    merchants,
    notify::error_message,
    storage::{MerchantRecord, NestpayRecord},
    wire::nestpay::{self as hash, HashAlgorithm},
};

/// The card fields of `3d_pay`: read, never echoed.
pub const CARD_FIELDS: &[&str] = &[
    "pan",
    "cv2",
    "Ecom_Payment_Card_ExpDate_Month",
    "Ecom_Payment_Card_ExpDate_Year",
    "cardHolderName",
];

/// Fields the result sets: a shop may not post them (in any letter case), so that it can
/// never have Kapı sign a value it chose.
pub const RESULT_FIELDS: &[&str] = &[
    "Response",
    "ProcReturnCode",
    "mdStatus",
    "mdErrorMsg",
    "AuthCode",
    "HostRefNum",
    "TransId",
    "ErrMsg",
    "ErrCode",
    "EXTRA_TRXDATE",
    "maskedCreditCard",
    "MaskedPan",
    "eci",
    "cavv",
    "xid",
    "md",
    "txstatus",
    "ReturnOid",
    "HASHPARAMS",
    "HASHPARAMSVAL",
];

/// Names never echoed back: the request's hash and encoding, and the card.
fn not_echoed(name: &str) -> bool {
    hash::REQUEST_EXCLUDED
        .iter()
        .chain(CARD_FIELDS)
        .any(|n| n.eq_ignore_ascii_case(name))
}

const MAX_FIELDS: usize = 200;

/// What the error result of a post whose hash did not verify echoes.
const UNVERIFIED_ECHO: &[&str] = &["clientid", "storetype", "lang"];
const MAX_VALUE_LEN: usize = 4096;

/// What a gate post leads to.
pub enum GateOutcome {
    /// The payment waits for its shopper on Kapı's page (the card page, or for `3d_pay` the
    /// consent page).
    Waiting(Payment),
    /// `3d_pay` from a merchant that shows the consents itself: the card went on to 3-D
    /// Secure at once.
    Started(Payment, Next),
}

/// A gate post refused.
pub enum GateRefusal {
    /// In NestPay's shape: an auto-posted error result to the merchant's registered `failUrl`.
    ToMerchant {
        action: String,
        fields: Vec<(String, String)>,
        error: CheckoutError,
    },
    /// Kapı's error page: without a known merchant and a registered `failUrl`, there is
    /// nowhere safe to send the shopper.
    Page(CheckoutError),
}

impl GateRefusal {
    pub fn error(&self) -> &CheckoutError {
        match self {
            Self::ToMerchant { error, .. } | Self::Page(error) => error,
        }
    }
}

/// Sets `name` to `value`: replaced where it is (any letter case), else added at the end.
fn set(fields: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match fields
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(field) => *field = (name.to_owned(), value),
        None => fields.push((name.to_owned(), value)),
    }
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

/// Appends `hashAlgorithm=ver3` and the `HASH` of everything.
fn sign(mut fields: Vec<(String, String)>, store_key: &str) -> Vec<(String, String)> {
    fields.retain(|(n, _)| !n.eq_ignore_ascii_case("hash"));
    set(&mut fields, "hashAlgorithm", "ver3");
    let signed = hash::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        hash::RESULT_EXCLUDED,
        store_key,
    );
    fields.push(("HASH".to_owned(), signed));
    fields
}

/// NestPay's way of showing a card: `4355 08** **** 4358` (first six and last four digits).
pub fn masked_credit_card(masked_pan: &str) -> String {
    let chars: Vec<char> = masked_pan.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYYMMDD HH:MM:SS`, Istanbul time.
pub fn trx_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    format!(
        "{:04}{:02}{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn md_error_msg(md: Option<MdStatus>) -> &'static str {
    match md.map(MdStatus::digit) {
        Some(1) => "Authenticated",
        Some(2) => "Card not enrolled",
        Some(3) => "Issuer not enrolled",
        Some(4) => "Attempt",
        Some(0) => "Not authenticated",
        Some(5) => "Authentication unavailable",
        Some(6) => "3-D Secure error",
        Some(7) => "System error",
        Some(8) => "Unknown card",
        Some(_) => "Not authenticated",
        None => "",
    }
}

/// Fields every result carries, even empty.
const ALWAYS: &[&str] = &[
    "storetype",
    "oid",
    "maskedCreditCard",
    "Ecom_Payment_Card_ExpDate_Month",
    "Ecom_Payment_Card_ExpDate_Year",
    "amount",
    "currency",
    "taksit",
    "mdStatus",
    "mdErrorMsg",
    "ProcReturnCode",
    "Response",
    "AuthCode",
    "HostRefNum",
    "TransId",
    "ErrMsg",
    "ErrCode",
    "EXTRA_TRXDATE",
    "eci",
    "cavv",
    "xid",
    "md",
];

fn with_always(mut fields: Vec<(String, String)>) -> Vec<(String, String)> {
    for name in ALWAYS {
        if !fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            fields.push(((*name).to_owned(), String::new()));
        }
    }
    fields
}

/// The result of a NestPay payment in its final state, signed with the store key. `expiry`:
/// the card's `YYMM`, while the vault still held it.
pub fn result_fields(
    payment: &Payment,
    order: &NestpayOrder,
    expiry: Option<&str>,
    store_key: Option<&str>,
    now_ms: i64,
) -> Vec<(String, String)> {
    let mut f = order.fields.clone();
    let t = payment.threeds.as_ref();
    let a = payment.authorisation.as_ref();
    let approved = payment.status.was_authorised();
    set(&mut f, "oid", payment.order_id.as_str());
    set(&mut f, "amount", payment.amount.to_decimal_string());
    if payment.installment.count() > 1 {
        set(&mut f, "taksit", payment.installment.count().to_string());
    }
    let md = t.and_then(|t| t.md_status);
    set(
        &mut f,
        "mdStatus",
        md.map(|m| m.to_string()).unwrap_or_default(),
    );
    set(&mut f, "mdErrorMsg", md_error_msg(md));
    set(
        &mut f,
        "eci",
        t.and_then(|t| t.eci.as_ref())
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
    );
    set(
        &mut f,
        "cavv",
        t.and_then(|t| t.authentication_value.clone())
            .unwrap_or_default(),
    );
    set(
        &mut f,
        "xid",
        t.map(|t| t.server_trans_id.clone()).unwrap_or_default(),
    );
    set(&mut f, "md", payment.id.as_str());
    set(
        &mut f,
        "ProcReturnCode",
        payment
            .proc_return_code()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
    );
    let response = if approved {
        "Approved"
    } else if payment.status == Status::Declined
        || matches!(
            payment.error_code,
            Some(ErrorCode::AuthenticationFailed | ErrorCode::AuthenticationRejected)
        )
    {
        "Declined"
    } else {
        "Error"
    };
    set(&mut f, "Response", response);
    let o = |v: Option<&String>| v.cloned().unwrap_or_default();
    set(&mut f, "AuthCode", o(a.and_then(|a| a.auth_code.as_ref())));
    set(&mut f, "HostRefNum", o(a.and_then(|a| a.host_ref.as_ref())));
    set(
        &mut f,
        "TransId",
        o(a.and_then(|a| a.transaction_id.as_ref())),
    );
    set(
        &mut f,
        "ErrMsg",
        error_message(
            payment.locale,
            payment.error_code,
            payment.proc_return_code(),
        ),
    );
    set(
        &mut f,
        "ErrCode",
        payment.error_code.map(|c| c.code()).unwrap_or_default(),
    );
    let at = a.and_then(|a| a.authorised_at).unwrap_or(now_ms);
    set(&mut f, "EXTRA_TRXDATE", trx_date(at));
    set(
        &mut f,
        "maskedCreditCard",
        payment
            .masked_pan()
            .map(masked_credit_card)
            .unwrap_or_default(),
    );
    let (month, year) = match expiry {
        Some(yymm) => (
            yymm.get(2..4).unwrap_or_default(),
            yymm.get(..2).unwrap_or_default(),
        ),
        None => ("", ""),
    };
    set(&mut f, "Ecom_Payment_Card_ExpDate_Month", month);
    set(&mut f, "Ecom_Payment_Card_ExpDate_Year", year);
    let mut f = with_always(f);
    // `3d` before an authorisation: 3-D Secure's outcome only, nothing of a bank's answer.
    if order.store_type == StoreType::ThreeD && payment.authorisation.is_none() {
        f.retain(|(n, _)| {
            !AUTHORISATION_FIELDS
                .iter()
                .any(|a| a.eq_ignore_ascii_case(n))
        });
    }
    match store_key {
        Some(key) => sign(f, key),
        // Without the store key (the set-up was removed meanwhile) the result still goes, and
        // the merchant's hash check refuses it: the payment must end all the same.
        None => f,
    }
}

/// What a `3d` result leaves out before the merchant's authorisation.
const AUTHORISATION_FIELDS: &[&str] = &[
    "ProcReturnCode",
    "Response",
    "AuthCode",
    "HostRefNum",
    "TransId",
];

/// The checked gate post, before its payment exists.
struct Gate<'a> {
    raw: &'a [(String, String)],
    merchant: MerchantRecord,
    nestpay: NestpayRecord,
    store_key: secrecy::SecretString,
    locale: Locale,
}

impl Gate<'_> {
    /// A refusal in NestPay's shape when `failUrl` is registered, else Kapı's page.
    fn refuse(&self, error: CheckoutError, now_ms: i64) -> GateRefusal {
        let error = error.in_locale(self.locale);
        let fail_url = get(self.raw, "failUrl");
        let registered = crate::domain::ReturnUrl::parse(fail_url)
            .ok()
            .filter(|u| merchants::origin_registered(&self.merchant, u.origin()));
        let Some(fail_url) = registered else {
            return GateRefusal::Page(error);
        };
        // A post whose hash did not verify is anyone's: its fields are not signed back (a
        // signed failure must not carry an order id or amounts a stranger chose).
        let verified = !matches!(
            error.code,
            ErrorCode::BadSignature | ErrorCode::HashAlgorithmRefused
        );
        let mut f: Vec<(String, String)> = self
            .raw
            .iter()
            .filter(|(n, _)| !not_echoed(n) && !is_result_field(n))
            .filter(|(n, _)| verified || UNVERIFIED_ECHO.iter().any(|e| e.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        if verified
            && let Ok(currency) = Currency::parse(get(self.raw, "currency"))
            && let Ok(money) = crate::domain::Money::parse(get(self.raw, "amount"), currency)
        {
            set(&mut f, "amount", money.to_decimal_string());
        }
        set(&mut f, "Response", "Error");
        set(&mut f, "ProcReturnCode", "99");
        let message = match &error.field {
            Some(field) => format!("{} ({field})", error.code.message(self.locale)),
            None => error.code.message(self.locale),
        };
        set(&mut f, "ErrMsg", message);
        set(&mut f, "ErrCode", error.code.code());
        set(&mut f, "EXTRA_TRXDATE", trx_date(now_ms));
        let fields = sign(with_always(f), self.store_key.expose_secret());
        GateRefusal::ToMerchant {
            action: fail_url.as_str().to_owned(),
            fields,
            error,
        }
    }
}

fn is_result_field(name: &str) -> bool {
    RESULT_FIELDS.iter().any(|r| r.eq_ignore_ascii_case(name))
}

/// A field name a result may carry back: letters, digits, `_` and `-` (PHP rewrites `.` and
/// spaces in posted names, so a client could never check such a result).
fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Checkout {
    /// A post to the NestPay gate: checked like a NestPay bank checks it, then a payment.
    pub async fn nestpay_gate(
        &self,
        raw: Vec<(String, String)>,
        preferred: Locale,
        client: &ClientInfo,
    ) -> Result<GateOutcome, GateRefusal> {
        let locale = match get(&raw, "lang") {
            "" => preferred,
            lang => Locale::parse_lenient(lang),
        };
        let page = |code: ErrorCode| GateRefusal::Page(CheckoutError::new(code).in_locale(locale));
        if raw.is_empty() || raw.len() > MAX_FIELDS {
            return Err(page(ErrorCode::MalformedRequest));
        }
        for (i, (name, value)) in raw.iter().enumerate() {
            if !plain_name(name) {
                let shown: String = name.chars().take(40).collect();
                return Err(GateRefusal::Page(
                    CheckoutError::field(ErrorCode::InvalidField, &shown).in_locale(locale),
                ));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(GateRefusal::Page(
                    CheckoutError::field(ErrorCode::InvalidField, name).in_locale(locale),
                ));
            }
            if raw
                .iter()
                .skip(i + 1)
                .any(|(other, _)| other.eq_ignore_ascii_case(name))
            {
                return Err(GateRefusal::Page(
                    CheckoutError::field(ErrorCode::DuplicateField, name).in_locale(locale),
                ));
            }
        }
        let internal = |e: anyhow::Error| GateRefusal::Page(CheckoutError::internal(e));
        let client_id = get(&raw, "clientid");
        if !merchants::is_nestpay_client_id(client_id) {
            return Err(page(ErrorCode::UnknownMerchant));
        }
        let store = &self.storage.merchants;
        let nestpay = match store.nestpay_by_client_id(client_id).await {
            Ok(Some(n)) => n,
            Ok(_) => return Err(page(ErrorCode::UnknownMerchant)),
            Err(e) => return Err(internal(e.into())),
        };
        let merchant = match store.get_merchant(&nestpay.merchant_id).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(page(ErrorCode::UnknownMerchant)),
            Err(e) => return Err(internal(e.into())),
        };
        let store_key =
            merchants::nestpay_store_key(&self.vault, &nestpay).map_err(|e| internal(e.into()))?;
        let gate = Gate {
            raw: &raw,
            merchant,
            nestpay,
            store_key,
            locale,
        };
        let now = self.now_ms();
        self.check_gate(&gate, client)
            .await
            .map_err(|e| gate.refuse(e, now))
    }

    async fn check_gate(
        &self,
        gate: &Gate<'_>,
        client: &ClientInfo,
    ) -> Result<GateOutcome, CheckoutError> {
        let raw = gate.raw;
        let f = |name: &str| get(raw, name);
        // The hash first: nothing of an unsigned post is trusted.
        match HashAlgorithm::of(Some(f("hashAlgorithm"))) {
            HashAlgorithm::Ver3 => {}
            HashAlgorithm::Legacy(name) => {
                return Err(CheckoutError::field(ErrorCode::HashAlgorithmRefused, name));
            }
            HashAlgorithm::Unknown(_) => {
                return Err(CheckoutError::field(
                    ErrorCode::HashAlgorithmRefused,
                    "hashAlgorithm",
                ));
            }
        }
        let expected = hash::ver3(
            raw.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            hash::REQUEST_EXCLUDED,
            gate.store_key.expose_secret(),
        );
        let posted = f("hash");
        if posted.is_empty() || !bool::from(expected.as_bytes().ct_eq(posted.as_bytes())) {
            return Err(CheckoutError::new(ErrorCode::BadSignature));
        }
        if let Some((name, _)) = raw.iter().find(|(n, _)| is_result_field(n)) {
            return Err(CheckoutError::field(ErrorCode::ReservedField, name));
        }
        let store_type = StoreType::parse(f("storetype"))
            .ok_or_else(|| CheckoutError::field(ErrorCode::UnsupportedStoreType, "storetype"))?;
        let tran_type = match f("TranType") {
            "" => f("islemtipi"),
            t => t,
        };
        // `Auth` (a sale) or `PreAuth` (a hold captured later by the XML API's `PostAuth`).
        let intent = if tran_type.is_empty() || tran_type.eq_ignore_ascii_case("Auth") {
            Intent::Sale
        } else if tran_type.eq_ignore_ascii_case("PreAuth") {
            Intent::PreAuth
        } else {
            return Err(CheckoutError::field(
                ErrorCode::UnsupportedStoreType,
                "TranType",
            ));
        };
        if store_type == StoreType::PayHosting
            && let Some((name, _)) = raw
                .iter()
                .find(|(n, _)| CARD_FIELDS.iter().any(|c| c.eq_ignore_ascii_case(n)))
        {
            return Err(CheckoutError::field(ErrorCode::ReservedField, name));
        }
        for required in ["clientid", "amount", "currency", "okUrl", "failUrl", "rnd"] {
            if f(required).is_empty() {
                return Err(CheckoutError::field(ErrorCode::MissingField, required));
            }
        }
        let generated;
        let order_id = match f("oid") {
            "" => {
                generated = format!("KAPI-{}", random_token(12));
                generated.as_str()
            }
            oid => oid,
        };
        let currency = Currency::parse(f("currency"))
            .ok()
            .filter(|c| c.numeric() == f("currency"))
            .ok_or_else(|| CheckoutError::field(ErrorCode::UnsupportedCurrency, "currency"))?;
        let input = OrderInput {
            order_id,
            amount: f("amount"),
            currency: currency.code(),
            ok_url: f("okUrl"),
            fail_url: f("failUrl"),
            callback_url: f("callbackUrl"),
            lang: gate.locale.as_str(),
            installment: f("taksit"),
            description: f("description"),
            customer_name: f("BillToName"),
            customer_email: f("email"),
            customer_phone: "",
            card_attempts: None,
            intent: "",
        };
        let field_name = |name: &'static str| match name {
            "order_id" => "oid",
            "ok_url" => "okUrl",
            "fail_url" => "failUrl",
            "callback_url" => "callbackUrl",
            "installment" => "taksit",
            "customer_name" => "BillToName",
            "customer_email" => "email",
            other => other,
        };
        let mut draft = parse_order(&input, &gate.merchant)
            .map_err(|(code, field)| CheckoutError::field(code, field_name(field)))?;
        draft.intent = intent;
        let card = match store_type {
            StoreType::Pay | StoreType::ThreeD => Some(self.posted_card(raw)?),
            StoreType::PayHosting => None,
        };
        if let Some(card) = &card {
            // The card page's limits hold for a card the shop's form took: its submits per
            // address, and the card-testing guard (the address, the merchant, the BIN).
            self.limit_card_submits(&client.ip).await?;
            self.guard(&gate.merchant.id, &client.ip, card.pan.expose().get(..6))
                .await?;
            // The count the shop posted must be one the card and the plan allow, before a
            // payment exists.
            self.offer_for_given_card(&gate.merchant, draft.money, draft.installment, card)?;
            // The shop's own form took the card: another card is the shop's to ask for.
            draft.card_attempts = crate::domain::CardAttempts::from_count(1)
                .map_err(|e| CheckoutError::internal(anyhow::anyhow!("{e}")))?;
        }
        let mut fields: Vec<(String, String)> = raw
            .iter()
            .filter(|(n, _)| !not_echoed(n))
            .cloned()
            .collect();
        set(&mut fields, "oid", order_id);
        let order = NestpayOrder {
            client_id: gate.nestpay.client_id.clone(),
            store_type,
            fields,
            callback_url: draft.callback_url.as_ref().map(|u| u.as_str().to_owned()),
            shows_consents: gate.nestpay.shows_consents(),
            card: card.as_ref().map(|c| HeldCard {
                masked_pan: c.pan.masked(),
                holder: c.holder.as_str().to_owned(),
            }),
        };
        // NestPay's callback is its own (form fields, `Approved`); Kapı's events go to the
        // merchant's webhook URL.
        draft.callback_url = None;
        let payment = self
            .create_gateway_payment(
                &gate.merchant,
                draft,
                Gateway::Nestpay(order),
                card.as_ref(),
            )
            .await?;
        let Some(card) = card.filter(|_| gate.nestpay.shows_consents()) else {
            return Ok(GateOutcome::Waiting(payment));
        };
        // From here the payment exists: whatever goes wrong ends it (one result, the card
        // gone), and the shopper sees its result page.
        match self
            .pay_with_given_card(&payment, &gate.merchant, &card, client, &[])
            .await
        {
            Ok(next) => Ok(GateOutcome::Started(payment, next)),
            Err(e) => {
                tracing::warn!(payment_id = %payment.id, code = e.code.code(), "3d_pay card not submitted: payment ended");
                self.finish(&payment, super::payment::Transition::Cancel(e.code))
                    .await?;
                Ok(GateOutcome::Started(payment, Next::Result))
            }
        }
    }

    /// The way to pay a card the shop's form took: the count the shop posted, if the card
    /// and the merchant's plan allow it, else a single payment.
    fn offer_for_given_card(
        &self,
        merchant: &MerchantRecord,
        money: crate::domain::Money,
        installment: crate::domain::Installment,
        card: &ValidCard,
    ) -> Result<crate::installments::Offer, CheckoutError> {
        if installment.count() <= 1 {
            return Ok(crate::installments::Offer::single(money.minor()));
        }
        let plan = merchant.installment_plan();
        let choices =
            self.installments
                .choices(plan.as_ref(), money, installment.count(), card.pan.expose());
        choices
            .offers
            .first()
            .copied()
            .filter(|o| o.count == installment.count())
            .ok_or_else(|| CheckoutError::field(ErrorCode::InvalidInstallment, "taksit"))
    }

    /// The card of a `3d_pay` post, checked as the card page checks a typed one.
    fn posted_card(&self, raw: &[(String, String)]) -> Result<ValidCard, CheckoutError> {
        let f = |name: &str| get(raw, name);
        let holder = [f("cardHolderName"), f("BillToName")]
            .into_iter()
            .find(|h| crate::domain::CardHolder::parse(h).is_ok())
            .unwrap_or("Kart Sahibi");
        let input = CardInput {
            card_holder: holder.to_owned(),
            card_number: Sensitive::new(f("pan")),
            exp: String::new(),
            exp_month: f("Ecom_Payment_Card_ExpDate_Month").to_owned(),
            exp_year: f("Ecom_Payment_Card_ExpDate_Year").to_owned(),
            cvv: Sensitive::new(f("cv2")),
            consent_preinfo: true,
            consent_contract: true,
        };
        card::validate(&input, self.clock.now().date()).map_err(|errors| {
            let field = match errors.first().map(|(f, _)| *f) {
                Some("card_number") | None => "pan",
                Some("exp") => "Ecom_Payment_Card_ExpDate_Month",
                Some("cvv") => "cv2",
                Some(other) => other,
            };
            CheckoutError::field(ErrorCode::InvalidCard, field)
        })
    }

    /// Creates a payment that came in through a bank-compatible gate, with the card the post
    /// carried (sealed until the payment ends), if any.
    async fn create_gateway_payment(
        &self,
        merchant: &MerchantRecord,
        draft: super::start::OrderDraft,
        gateway: Gateway,
        card: Option<&ValidCard>,
    ) -> Result<Payment, CheckoutError> {
        let ttl = self.settings.payment_ttl();
        let payment = self
            .create_payment_with(merchant, draft, ttl, Source::Nestpay, |payment| {
                payment.gateway = Some(gateway);
                let sealed = card.map(|card| {
                    let plain = VaultedCard::from_valid(card).to_bytes();
                    self.vault.encrypt(&plain, payment.id.as_str())
                });
                Ok(sealed.transpose()?)
            })
            .await?;
        Ok(payment)
    }

    /// The card a `3d_pay` post gave, on to 3-D Secure: at the gate (the merchant shows the
    /// consents) or from the consent page (`documents`: what the shopper accepted there).
    pub(crate) async fn pay_with_given_card(
        &self,
        payment: &Payment,
        merchant: &MerchantRecord,
        card: &ValidCard,
        client: &ClientInfo,
        documents: &[super::documents::RenderedDocument],
    ) -> Result<Next, CheckoutError> {
        let offer =
            self.offer_for_given_card(merchant, payment.amount, payment.installment, card)?;
        let card_info = self.installments.bins.lookup(card.pan.expose());
        let submission = Submission {
            client,
            documents,
            offer,
            card_info,
        };
        self.submit_card(payment, &merchant.name, card, submission)
            .await
    }

    /// The card a `3d_pay` post left with its payment, as the card page would have read it.
    /// `None` when it is gone: the payment moved on (a second submit, a cancel).
    pub(crate) async fn given_card(
        &self,
        payment: &Payment,
    ) -> Result<Option<ValidCard>, CheckoutError> {
        let locale = payment.locale;
        let internal = |what: &str| {
            CheckoutError::internal(anyhow::anyhow!("{what} of {}", payment.id)).in_locale(locale)
        };
        let held = match &payment.gateway {
            Some(Gateway::Nestpay(NestpayOrder {
                card: Some(held), ..
            })) => held.clone(),
            _ => return Err(internal("no card was given")),
        };
        let Some(blob) = self.storage.payments.load_card(payment.id.as_str()).await? else {
            return Ok(None);
        };
        let plain = self
            .vault
            .decrypt(&blob, payment.id.as_str())
            .map_err(|e| CheckoutError::internal(anyhow::anyhow!("{e}")).in_locale(locale))?;
        let vaulted = VaultedCard::from_bytes(&plain).ok_or_else(|| internal("a sealed card"))?;
        let pan =
            Pan::parse(vaulted.pan.expose()).map_err(|_| internal("the given card number"))?;
        let yymm = vaulted.expiry.expose();
        let expiry = Expiry::parse(
            yymm.get(2..4).unwrap_or_default(),
            yymm.get(..2).unwrap_or_default(),
            self.clock.now().date(),
        )
        .map_err(|_| {
            CheckoutError::field(ErrorCode::InvalidCard, "Ecom_Payment_Card_ExpDate_Month")
                .in_locale(locale)
        })?;
        let cvv =
            Cvv::parse(vaulted.cvv.expose(), pan.brand()).map_err(|_| internal("the given CVV"))?;
        let holder = crate::domain::CardHolder::parse(&held.holder)
            .map_err(|_| internal("the given card holder"))?;
        Ok(Some(ValidCard {
            holder,
            pan,
            expiry,
            cvv,
        }))
    }

    /// The signed NestPay result of `after` (a payment moving to its final status), while the
    /// vault still holds its card (for the expiry fields). A store that fails is an error (the
    /// move is retried); a NestPay set-up removed meanwhile is not: the result goes unsigned.
    pub(crate) async fn nestpay_result(
        &self,
        after: &Payment,
        order: &NestpayOrder,
    ) -> Result<Vec<(String, String)>, CheckoutError> {
        let nestpay = self
            .storage
            .merchants
            .nestpay_of(after.merchant_id.as_str())
            .await?
            .filter(|n| n.client_id == order.client_id);
        let store_key = match nestpay.map(|n| merchants::nestpay_store_key(&self.vault, &n)) {
            Some(Ok(key)) => Some(key),
            Some(Err(e)) => {
                tracing::error!(payment_id = %after.id, error = %e, "NestPay store key unreadable: result not signed");
                None
            }
            None => {
                tracing::error!(payment_id = %after.id, "NestPay set-up removed: result not signed");
                None
            }
        };
        let expiry = match self.storage.payments.load_card(after.id.as_str()).await? {
            Some(blob) => self
                .vault
                .decrypt(&blob, after.id.as_str())
                .ok()
                .and_then(|plain| VaultedCard::from_bytes(&plain))
                .map(|c| c.expiry.expose().to_owned()),
            None => None,
        };
        Ok(result_fields(
            after,
            order,
            expiry.as_deref(),
            store_key.as_ref().map(|k| k.expose_secret()),
            self.now_ms(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_shown_as_nestpay_shows_them() {
        assert_eq!(
            masked_credit_card("435508******4358"),
            "4355 08** **** 4358"
        );
        assert_eq!(masked_credit_card("378282*****0005"), "3782 82** ***0 005");
    }

    #[test]
    fn trx_dates_are_istanbul_time() {
        // 2026-11-28 21:30:00 UTC is 00:30 on the 29th in Istanbul.
        assert_eq!(trx_date(1_795_901_400_000), "20261129 00:30:00");
    }

    #[test]
    fn signing_replaces_a_hash_and_covers_every_field() {
        let fields = vec![
            ("oid".to_owned(), "A-1".to_owned()),
            ("HASH".to_owned(), "old".to_owned()),
        ];
        let signed = sign(fields, "KEY");
        assert_eq!(get(&signed, "hashAlgorithm"), "ver3");
        let expected = hash::ver3(
            [("oid", "A-1"), ("hashAlgorithm", "ver3")],
            hash::RESULT_EXCLUDED,
            "KEY",
        );
        assert_eq!(signed.last().unwrap(), &("HASH".to_owned(), expected));
        assert_eq!(signed.len(), 3);
    }

    #[test]
    fn posted_names_must_survive_php() {
        assert!(plain_name("Field_1"));
        assert!(!plain_name("a.b"));
        assert!(!plain_name("a b"));
        assert!(!plain_name(""));
    }
}
