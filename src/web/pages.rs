//! Page templates (askama) and the small functions that fill them.

use askama::Template;
use axum::{
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use super::extract::Preferred;
pub use crate::checkout::card_form::InstallmentPart;
use crate::{
    checkout::{
        Status,
        card::CardInput,
        documents::{DocumentKind, RenderedDocument, installment_text},
        payment::Payment,
    },
    domain::Locale,
    error::ErrorCode,
    i18n::Tr,
    notify,
    storage::MerchantRecord,
    web::error::PageError,
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
        ErrorCode::OrderAlreadyPaid => "title-already-paid",
        ErrorCode::TooManyRequests | ErrorCode::CardTestingBlocked => "title-too-many",
        // Refusals of the start form: the payment never began.
        code if code.code().starts_with("KP-1") => "title-error",
        _ => "title-problem",
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

// --- Installment table -----------------------------------------------------------------

pub struct InstallmentRow {
    pub count: u8,
    pub label: String,
    /// `3 × 51,38 TL`
    pub each: String,
    /// When the first installment differs from the others.
    pub first: Option<String>,
    pub fee: String,
    pub total: String,
    pub checked: bool,
    /// What the pay button and the note above it say when this row is chosen.
    pub pay_label: String,
    pub obligation: String,
}

/// The table (or the line that stands in for it), the same with and without JavaScript: the
/// card page includes it, and the page's script asks for it again as the card number changes.
#[derive(Template)]
#[template(path = "installments.html")]
pub struct InstallmentFragment {
    pub tr: Tr,
    /// "Options for your Garanti BBVA Bonus card", when the BIN table knows the card.
    pub card: String,
    pub rows: Vec<InstallmentRow>,
    pub note: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

fn pay_texts(tr: &Tr, total: &str, merchant: &str) -> (String, String) {
    (
        tr.t_with("pay-button", &[("amount", total)]),
        tr.t_with(
            "pay-obligation",
            &[("amount", total), ("merchant", merchant)],
        ),
    )
}

impl InstallmentFragment {
    pub fn new(part: &InstallmentPart, payment: &Payment, merchant_name: &str) -> Self {
        let locale = payment.locale;
        let tr = Tr::new(locale);
        let currency = payment.currency();
        let show = |minor: i64| {
            crate::domain::Money::from_minor(minor, currency)
                .map(|m| m.display(locale))
                .unwrap_or_default()
        };
        let (card, rows, note) = match &part.choices {
            None => (String::new(), vec![], tr.t("installments-enter-card")),
            Some(choices) => {
                let card = choices
                    .card
                    .as_ref()
                    .map(|c| {
                        let name = match &c.program {
                            Some(p) => format!("{} {}", c.bank, p.name),
                            None => c.bank.clone(),
                        };
                        tr.t_with("installments-for-card", &[("card", &name)])
                    })
                    .unwrap_or_default();
                let rows: Vec<InstallmentRow> = if choices.has_choice() {
                    choices
                        .offers
                        .iter()
                        .map(|o| {
                            let (first, each) = o.installments();
                            let total = show(o.total_minor);
                            let (pay_label, obligation) = pay_texts(&tr, &total, merchant_name);
                            InstallmentRow {
                                count: o.count,
                                label: installment_text(&tr, o.count),
                                each: if o.count == 1 {
                                    show(each)
                                } else {
                                    tr.t_with(
                                        "installment-each",
                                        &[("count", &o.count.to_string()), ("each", &show(each))],
                                    )
                                },
                                first: (first != each).then(|| {
                                    tr.t_with("installment-first", &[("first", &show(first))])
                                }),
                                fee: if o.fee_minor > 0 {
                                    tr.t_with("installment-fee", &[("fee", &show(o.fee_minor))])
                                } else {
                                    tr.t("installment-fee-none")
                                },
                                total,
                                checked: o.count == part.selected,
                                pay_label,
                                obligation,
                            }
                        })
                        .collect()
                } else {
                    vec![]
                };
                let note = if rows.is_empty() {
                    tr.t("installments-single-only")
                } else {
                    String::new()
                };
                (card, rows, note)
            }
        };
        let mut fragment = Self {
            card,
            rows,
            note,
            notice: part.notice.map(|k| tr.t(k)),
            error: part.error.map(|k| tr.t(k)),
            tr,
        };
        // Nothing checked (the chosen count is not offered for this card): single payment.
        if !fragment.rows.iter().any(|r| r.checked)
            && let Some(first) = fragment.rows.first_mut()
        {
            first.checked = true;
        }
        fragment
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
    /// The texts for a single payment of the order amount, for the page's script.
    pub single_pay_label: String,
    pub single_obligation: String,
    /// The language the switch offers.
    pub other_lang: &'static str,
    /// The installment table (rendered `InstallmentFragment`), when the shopper chooses.
    pub installments: Option<String>,
    pub brand: super::brand::Brand,
}

impl CardPage {
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// What the card page shows besides the payment itself.
pub struct CardPageParts<'a> {
    pub docs: &'a [RenderedDocument],
    pub csrf: String,
    pub values: CardFormValues,
    pub errors: &'a [(&'static str, &'static str)],
    pub today: time::Date,
    /// `Some` when the shopper chooses the installments.
    pub installments: Option<InstallmentPart>,
}

pub fn card_page(
    payment: &Payment,
    merchant: &MerchantRecord,
    parts: CardPageParts<'_>,
) -> Response {
    let CardPageParts {
        docs,
        csrf,
        values,
        errors,
        today,
        installments,
    } = parts;
    let locale = payment.locale;
    let tr = Tr::new(locale);
    let doc = |kind| {
        docs.iter()
            .find(|d| d.kind == kind)
            .map(|d| d.html.clone())
            .unwrap_or_default()
    };
    let amount = payment.amount.display(locale);
    let installments =
        installments.map(|part| InstallmentFragment::new(&part, payment, &merchant.name));
    let (single_pay_label, single_obligation) = pay_texts(&tr, &amount, &merchant.name);
    let (mut pay_label, mut obligation) = (single_pay_label.clone(), single_obligation.clone());
    // With a table whose options cost differently, texts that name no amount: without
    // JavaScript the button cannot follow the choice (the page's script names the total).
    let totals_differ = installments.as_ref().is_some_and(|f| {
        f.rows
            .first()
            .is_some_and(|first| f.rows.iter().any(|r| r.total != first.total))
    });
    if totals_differ {
        pay_label = tr.t("pay-button-chosen");
        obligation = tr.t_with("pay-obligation-chosen", &[("merchant", &merchant.name)]);
    }
    // Istanbul time (UTC+3) for the deadline shown to the shopper.
    let expires = time::OffsetDateTime::from_unix_timestamp(payment.expires_at / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    let page = CardPage {
        payment_id: payment.id.to_string(),
        csrf,
        merchant_name: merchant.name.clone(),
        order_id: payment.order_id.to_string(),
        description: payment.description.as_str().to_owned(),
        installment: if installments.is_some() {
            tr.t("installment-choose-below")
        } else {
            installment_text(&tr, payment.installment.count())
        },
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
        pay_label,
        obligation,
        single_pay_label,
        single_obligation,
        brand: super::brand::Brand::of(merchant),
        installments: match installments.map(|f| f.render()).transpose() {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "installment table rendering failed");
                None
            }
        },
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
    pub brand: super::brand::Brand,
}

pub fn result_page(payment: &Payment, merchant: &MerchantRecord) -> Response {
    let locale = payment.locale;
    let tr = Tr::new(locale);
    let status = payment.status;
    let mut details = vec![
        (tr.t("label-merchant"), merchant.name.clone()),
        (tr.t("label-order"), payment.order_id.to_string()),
        (tr.t("label-amount"), payment.amount.display(locale)),
    ];
    if payment.installment.count() > 1 {
        details.push((
            tr.t("label-installment"),
            installment_text(&tr, payment.installment.count()),
        ));
    }
    if payment.installment_fee_minor > 0 {
        details.push((tr.t("label-charged"), payment.charged().display(locale)));
    }
    if let Some(pan) = payment.masked_pan() {
        details.push((tr.t("label-card"), pan.to_owned()));
    }
    let auth_code = payment
        .authorisation
        .as_ref()
        .and_then(|a| a.auth_code.as_ref())
        .filter(|c| !c.is_empty());
    if let Some(code) = auth_code {
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
            let msg = notify::error_message(locale, payment.error_code, payment.proc_return_code());
            ("fail", title, msg, false)
        }
        _ => (
            "info",
            tr.t("result-processing-title"),
            tr.t("result-processing-text"),
            true,
        ),
    };
    let (action, fields) = match &payment.result {
        Some(fields) if status.is_final() => {
            (notify::target_url(payment).to_owned(), fields.clone())
        }
        _ => (String::new(), Vec::new()),
    };
    let page = ResultPage {
        kind,
        title,
        message,
        details,
        error_code: payment
            .error_code
            .map(|c| c.code().to_owned())
            .unwrap_or_default(),
        action,
        fields,
        merchant_name: merchant.name.clone(),
        refresh,
        brand: super::brand::Brand::of(merchant),
        tr,
    };
    let target: Vec<String> = super::security::origin_of(&page.action)
        .into_iter()
        .collect();
    let mut resp = render(&page, StatusCode::OK);
    super::security::allow(&mut resp, &target, &merchant.frame_origins());
    resp
}
