//! Page templates (askama) and the small functions that fill them.

use askama::Template;
use axum::{
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use super::extract::Preferred;
use crate::{
    checkout::{
        Status,
        card::CardInput,
        documents::{DocumentKind, RenderedDocument, installment_text},
    },
    domain::Locale,
    error::{ErrorCode, PageError},
    i18n::Tr,
    notify,
    storage::{MerchantRecord, PaymentRecord},
};

/// Renders a template; pages that show or take payment data are never cached.
pub fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "KP-5000").into_response()
        }
    }
}

// --- Error page ------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub tr: Tr,
    pub code: String,
    pub title: String,
    pub message: String,
    pub field: Option<String>,
}

pub fn error_page(e: &PageError) -> Response {
    let tr = Tr::new(e.locale);
    let title_key = match e.code {
        ErrorCode::PaymentExpired => "title-expired",
        ErrorCode::PaymentNotFound => "title-not-found",
        _ => "title-error",
    };
    let page = ErrorPage {
        code: e.code.code().to_owned(),
        title: tr.t(title_key),
        message: e.code.message(e.locale),
        field: e.field.clone(),
        tr,
    };
    render(&page, e.code.status())
}

// --- Home and not found ----------------------------------------------------------------

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub tr: Tr,
}

pub async fn home(Preferred(locale): Preferred) -> Response {
    render(
        &HomePage {
            tr: Tr::new(locale),
        },
        StatusCode::OK,
    )
}

pub async fn not_found(Preferred(locale): Preferred) -> Response {
    error_page(&PageError::new(ErrorCode::PaymentNotFound, locale))
}

/// A `GET /pay` typed into the address bar, for example: a page, not an empty 405.
pub async fn method_not_allowed(Preferred(locale): Preferred) -> Response {
    let mut resp = error_page(&PageError::new(ErrorCode::MalformedRequest, locale));
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

// --- Auto-submitting form (to the ACS, to the merchant, back from the ACS) --------------

#[derive(Template)]
#[template(path = "post_redirect.html")]
pub struct PostRedirect {
    pub tr: Tr,
    pub title: String,
    pub message: String,
    pub button: String,
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub delay_ms: u32,
}

impl IntoResponse for PostRedirect {
    fn into_response(self) -> Response {
        // The page exists to post to its action: exactly that origin is allowed.
        let target: Vec<String> = super::security::origin_of(&self.action)
            .into_iter()
            .collect();
        let mut resp = render(&self, StatusCode::OK);
        super::security::allow(&mut resp, &target, &[]);
        resp
    }
}

pub fn to_acs(locale: Locale, acs_url: String, creq: String, session_data: String) -> PostRedirect {
    let tr = Tr::new(locale);
    PostRedirect {
        title: tr.t("to-acs-title"),
        message: tr.t("to-acs-text"),
        button: tr.t("continue"),
        action: acs_url,
        fields: vec![
            ("creq".into(), creq),
            ("threeDSSessionData".into(), session_data),
        ],
        delay_ms: 0,
        tr,
    }
}

// --- Card page -------------------------------------------------------------------------

/// What the form shows again after an error: everything but the card number and CVV.
#[derive(Debug, Default, Clone)]
pub struct CardFormValues {
    pub card_holder: String,
    pub exp_month: String,
    pub exp_year: String,
    pub consent_preinfo: bool,
    pub consent_contract: bool,
}

impl CardFormValues {
    pub fn from_input(input: &CardInput) -> Self {
        Self {
            card_holder: input.card_holder.clone(),
            exp_month: input.exp_month.clone(),
            exp_year: input.exp_year.clone(),
            consent_preinfo: input.consent_preinfo,
            consent_contract: input.consent_contract,
        }
    }
}

#[derive(Template)]
#[template(path = "checkout.html")]
pub struct CardPage {
    pub tr: Tr,
    pub payment_id: String,
    pub csrf: String,
    pub merchant_name: String,
    pub order_id: String,
    pub description: String,
    pub amount: String,
    pub installment: String,
    pub preinfo_html: String,
    pub contract_html: String,
    pub values: CardFormValues,
    pub errors: Vec<(String, String)>,
    pub months: Vec<String>,
    pub years: Vec<String>,
    pub expires_at: String,
    /// The deadline for the countdown, unix milliseconds.
    pub expires_ms: i64,
    pub pay_label: String,
    pub obligation: String,
    /// The language the switch offers.
    pub other_lang: &'static str,
}

impl CardPage {
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

pub fn card_page(
    payment: &PaymentRecord,
    merchant: &MerchantRecord,
    docs: &[RenderedDocument],
    csrf: String,
    values: CardFormValues,
    errors: &[(&'static str, &'static str)],
    today: time::Date,
) -> Response {
    let locale = payment.locale();
    let tr = Tr::new(locale);
    let doc = |kind| {
        docs.iter()
            .find(|d| d.kind == kind)
            .map(|d| d.html.clone())
            .unwrap_or_default()
    };
    let amount = payment
        .money()
        .map(|m| m.display(locale))
        .unwrap_or_default();
    // Istanbul time (UTC+3) for the deadline shown to the shopper.
    let expires = time::OffsetDateTime::from_unix_timestamp(payment.expires_at / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    let page = CardPage {
        payment_id: payment.id.clone(),
        csrf,
        merchant_name: merchant.name.clone(),
        order_id: payment.order_id.clone(),
        description: payment.description.clone(),
        installment: installment_text(&tr, payment.installment().count()),
        preinfo_html: doc(DocumentKind::PreInformation),
        contract_html: doc(DocumentKind::DistanceSalesContract),
        values,
        errors: errors
            .iter()
            .map(|(f, k)| ((*f).to_owned(), tr.t(k)))
            .collect(),
        months: (1..=12).map(|m| format!("{m:02}")).collect(),
        years: (0..=15).map(|y| (today.year() + y).to_string()).collect(),
        expires_at: format!("{:02}:{:02}", expires.hour(), expires.minute()),
        expires_ms: payment.expires_at,
        other_lang: if locale == Locale::En { "tr" } else { "en" },
        pay_label: tr.t_with("pay-button", &[("amount", &amount)]),
        obligation: tr.t_with(
            "pay-obligation",
            &[("amount", &amount), ("merchant", &merchant.name)],
        ),
        amount,
        tr,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut resp = render(&page, status);
    super::security::allow(&mut resp, &[], &merchant.frame_origins());
    resp
}

// --- Result page -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultPage {
    pub tr: Tr,
    pub kind: &'static str,
    pub title: String,
    pub message: String,
    pub details: Vec<(String, String)>,
    pub error_code: String,
    /// The signed result, auto-posted to the merchant; empty while still processing.
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub merchant_name: String,
    pub refresh: bool,
}

pub fn result_page(payment: &PaymentRecord, merchant: &MerchantRecord) -> Response {
    let locale = payment.locale();
    let tr = Tr::new(locale);
    let status = payment.status();
    let amount = payment
        .money()
        .map(|m| m.display(locale))
        .unwrap_or_default();
    let mut details = vec![
        (tr.t("label-merchant"), merchant.name.clone()),
        (tr.t("label-order"), payment.order_id.clone()),
        (tr.t("label-amount"), amount),
    ];
    if let Some(pan) = &payment.masked_pan {
        details.push((tr.t("label-card"), pan.clone()));
    }
    if let Some(code) = payment.auth_code.as_ref().filter(|c| !c.is_empty()) {
        details.push((tr.t("label-auth-code"), code.clone()));
    }
    let (kind, title, message, refresh) = match status {
        s if s.was_authorised() => (
            "ok",
            tr.t("result-approved-title"),
            tr.t("result-approved-text"),
            false,
        ),
        s if s.is_final() => {
            let title = match s {
                Status::Cancelled => tr.t("result-cancelled-title"),
                Status::Expired => tr.t("title-expired"),
                Status::Declined => tr.t("result-declined-title"),
                _ => tr.t("result-failed-title"),
            };
            let msg = notify::error_message(
                locale,
                payment.error_code.as_deref(),
                payment.proc_return_code.as_deref(),
            );
            ("fail", title, msg, false)
        }
        _ => (
            "info",
            tr.t("result-processing-title"),
            tr.t("result-processing-text"),
            true,
        ),
    };
    let (action, fields) = match payment.result() {
        Some(fields) if status.is_final() => (notify::target_url(payment).to_owned(), fields),
        _ => (String::new(), Vec::new()),
    };
    let page = ResultPage {
        kind,
        title,
        message,
        details,
        error_code: payment.error_code.clone().unwrap_or_default(),
        action,
        fields,
        merchant_name: merchant.name.clone(),
        refresh,
        tr,
    };
    let target: Vec<String> = super::security::origin_of(&page.action)
        .into_iter()
        .collect();
    let mut resp = render(&page, StatusCode::OK);
    super::security::allow(&mut resp, &target, &merchant.frame_origins());
    resp
}
