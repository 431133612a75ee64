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

/// An address Kapı does not serve: a page of its own (with the code of a missing payment,
/// `KP-2001`, as docs/PROTOCOL.md documents).
pub async fn not_found(Preferred(locale): Preferred) -> Response {
    let tr = Tr::new(locale);
    let code = ErrorCode::PaymentNotFound;
    let page = ErrorPage {
        code: code.code().to_owned(),
        title: tr.t("title-page-not-found"),
        message: tr.t("page-not-found-text"),
        field: None,
        tr,
    };
    render(&page, code.status())
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

/// The auto-submitting form to a bank's own 3-D Secure gate (it carries the card).
pub fn to_bank_gate(locale: Locale, action: String, fields: Vec<(String, String)>) -> PostRedirect {
    let tr = Tr::new(locale);
    PostRedirect {
        title: tr.t("to-acs-title"),
        message: tr.t("to-acs-text"),
        button: tr.t("continue"),
        action,
        fields,
        delay_ms: 0,
        tr,
    }
}

/// A refused NestPay gate post, answered as NestPay answers it: the signed error result,
/// auto-posted to the merchant's registered `failUrl`.
pub fn to_merchant(locale: Locale, action: String, fields: Vec<(String, String)>) -> PostRedirect {
    let tr = Tr::new(locale);
    PostRedirect {
        title: tr.t("result-failed-title"),
        message: tr.t("result-returning"),
        button: tr.t("continue"),
        action,
        fields,
        delay_ms: 0,
        tr,
    }
}

// --- Installment table -----------------------------------------------------------------

pub struct InstallmentRow {
    pub count: u8,
    pub label: String,
    /// `6 × 217,90 TL`
    pub each: String,
    /// When the first installment differs from the others.
    pub first: Option<String>,
    pub fee: String,
    pub total: String,
    pub checked: bool,
    /// What the summary says of this option: `6 taksit × 217,90 TL (vade farkı … dahil)`.
    pub plan: String,
    /// The order box's total line with this option.
    pub total_line: String,
    /// What the pay button says when this option is chosen.
    pub pay_label: String,
}

/// The options (or the line that stands in for them), the same with and without JavaScript:
/// the card page includes them, and the page's script asks for them again as the card number
/// changes.
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

/// The total line of the order box: the amount, and the installments when there are some.
fn total_line(tr: &Tr, total: &str, plan: Option<&str>) -> String {
    let line = tr.t_with("confirm-total", &[("amount", total)]);
    match plan {
        Some(plan) => format!("{line} · {plan}"),
        None => line,
    }
}

impl InstallmentFragment {
    pub fn new(part: &InstallmentPart, payment: &Payment) -> Self {
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
                            let count = o.count.to_string();
                            let plan = match (o.count, o.fee_minor) {
                                (1, _) => installment_text(&tr, 1),
                                (_, 0) => tr.t_with(
                                    "installment-plan",
                                    &[("count", &count), ("each", &show(each))],
                                ),
                                (_, fee) => tr.t_with(
                                    "installment-plan-fee",
                                    &[
                                        ("count", &count),
                                        ("each", &show(each)),
                                        ("fee", &show(fee)),
                                    ],
                                ),
                            };
                            let single = o.count == 1;
                            InstallmentRow {
                                count: o.count,
                                label: installment_text(&tr, o.count),
                                each: tr.t_with(
                                    "installment-each",
                                    &[("count", &count), ("each", &show(each))],
                                ),
                                first: (first != each).then(|| {
                                    tr.t_with("installment-first", &[("first", &show(first))])
                                }),
                                fee: if o.fee_minor > 0 {
                                    tr.t_with("installment-fee", &[("fee", &show(o.fee_minor))])
                                } else {
                                    tr.t("installment-fee-none")
                                },
                                total_line: total_line(&tr, &total, (!single).then_some(&*plan)),
                                pay_label: tr.t_with("pay-button", &[("amount", &total)]),
                                total,
                                checked: o.count == part.selected,
                                plan,
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

    fn chosen(&self) -> Option<&InstallmentRow> {
        self.rows.iter().find(|r| r.checked)
    }
}

// --- Card page -------------------------------------------------------------------------

/// What the form shows again after an error: everything but the card number and CVV.
#[derive(Debug, Default, Clone)]
pub struct CardFormValues {
    pub card_holder: String,
    /// The expiry date as typed (`MM/YY`).
    pub exp: String,
    pub consent_preinfo: bool,
    pub consent_contract: bool,
}

impl CardFormValues {
    pub fn from_input(input: &CardInput) -> Self {
        Self {
            card_holder: input.card_holder.clone(),
            exp: input.expiry_as_typed(),
            consent_preinfo: input.consent_preinfo,
            consent_contract: input.consent_contract,
        }
    }
}

/// A legal document on the card page: a section to expand, its own page, its consent box.
pub struct DocView {
    pub slug: &'static str,
    pub title: String,
    pub html: String,
    pub consent_field: &'static str,
    pub consent_label: String,
    pub ticked: bool,
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
    /// The order amount, and the installments line, without a choice.
    pub amount: String,
    pub installment: String,
    /// What the summary shows now: the chosen option's total and plan, or the order's.
    pub summary_amount: String,
    pub summary_plan: String,
    /// What the order box names: the goods, and the total line (now and without a choice).
    pub goods: String,
    pub total_line: String,
    pub single_total_line: String,
    pub documents: Vec<DocView>,
    pub values: CardFormValues,
    pub errors: Vec<(String, String)>,
    pub expires_at: String,
    /// The deadline for the countdown, unix milliseconds, and its text (`{min}`, `{sec}`).
    pub expires_ms: i64,
    pub countdown_left: String,
    pub pay_label: String,
    /// The text for a single payment of the order amount, for the page's script.
    pub single_pay_label: String,
    pub obligation: String,
    /// The language the switch offers.
    pub other_lang: &'static str,
    /// The installment options (rendered `InstallmentFragment`), when the shopper chooses.
    pub installments: Option<String>,
    pub brand: super::brand::Brand,
    /// After a decline another card may fix: why, and how many cards are left.
    pub retry: Option<String>,
    /// The card the merchant's own form already took (NestPay `3d_pay`): the page asks only
    /// for the consents, and shows the card's last four digits.
    pub card_given: Option<String>,
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
    /// `Some` when the shopper chooses the installments.
    pub installments: Option<InstallmentPart>,
}

/// The deadline as the shopper reads it: Istanbul time (UTC+3), `16:01`.
fn istanbul_clock(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::hours(3);
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn doc_views(tr: &Tr, docs: &[RenderedDocument], values: &CardFormValues) -> Vec<DocView> {
    docs.iter()
        .map(|d| DocView {
            slug: d.kind.slug(),
            title: tr.t(d.kind.title_key()),
            html: d.html.clone(),
            consent_field: d.kind.consent_field(),
            consent_label: tr.t(d.kind.consent_key()),
            ticked: match d.kind {
                DocumentKind::PreInformation => values.consent_preinfo,
                DocumentKind::DistanceSalesContract => values.consent_contract,
            },
        })
        .collect()
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
        installments,
    } = parts;
    let locale = payment.locale;
    let tr = Tr::new(locale);
    let amount = payment.amount.display(locale);
    let installments = installments.map(|part| InstallmentFragment::new(&part, payment));
    let installment = if installments.is_some() {
        tr.t("installment-choose-below")
    } else {
        installment_text(&tr, payment.installment.count())
    };
    let single_pay_label = tr.t_with("pay-button", &[("amount", &amount)]);
    let single_total_line = total_line(
        &tr,
        &amount,
        (payment.installment.count() > 1).then_some(&*installment),
    );
    let chosen = installments.as_ref().and_then(InstallmentFragment::chosen);
    // With options whose totals differ, a button that names no amount: without JavaScript it
    // cannot follow the choice (the page's script names the chosen total).
    let totals_differ = installments.as_ref().is_some_and(|f| {
        f.rows
            .first()
            .is_some_and(|first| f.rows.iter().any(|r| r.total != first.total))
    });
    let (summary_amount, summary_plan, total, pay_label) = match chosen {
        Some(r) => (
            r.total.clone(),
            r.plan.clone(),
            r.total_line.clone(),
            if totals_differ {
                tr.t("pay-button-chosen")
            } else {
                r.pay_label.clone()
            },
        ),
        None => (
            amount.clone(),
            installment.clone(),
            single_total_line.clone(),
            single_pay_label.clone(),
        ),
    };
    let goods = if payment.description.as_str().trim().is_empty() {
        payment.order_id.to_string()
    } else {
        payment.description.as_str().to_owned()
    };
    let page = CardPage {
        payment_id: payment.id.to_string(),
        csrf,
        merchant_name: merchant.name.clone(),
        order_id: payment.order_id.to_string(),
        description: payment.description.as_str().to_owned(),
        installment,
        summary_amount,
        summary_plan,
        goods,
        total_line: total,
        single_total_line,
        documents: doc_views(&tr, docs, &values),
        values,
        errors: errors
            .iter()
            .map(|(f, k)| ((*f).to_owned(), tr.t(k)))
            .collect(),
        expires_at: istanbul_clock(payment.expires_at),
        expires_ms: payment.expires_at,
        countdown_left: tr.t_with("countdown-left", &[("min", "{min}"), ("sec", "{sec}")]),
        other_lang: if locale == Locale::En { "tr" } else { "en" },
        retry: (payment.status == Status::AwaitingRetry).then(|| {
            let why =
                notify::shopper_message(locale, payment.error_code, payment.proc_return_code());
            let left = payment
                .card_attempts
                .count()
                .saturating_sub(payment.attempt)
                .to_string();
            tr.t_with("retry-notice", &[("why", &why), ("left", &left)])
        }),
        card_given: payment
            .gateway
            .as_ref()
            .and_then(|g| g.held_card())
            .filter(|_| payment.status == Status::Created)
            .map(|card| {
                let pan = card.masked_pan.as_str();
                let last4 = pan.get(pan.len().saturating_sub(4)..).unwrap_or_default();
                tr.t_with("label-card-last4", &[("last4", last4)])
            }),
        pay_label,
        single_pay_label,
        obligation: tr.t_with("pay-obligation", &[("merchant", &merchant.name)]),
        brand: super::brand::Brand::of(merchant),
        installments: match installments.map(|f| f.render()).transpose() {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, "installment options rendering failed");
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

// --- A legal document on its own page, and its file ------------------------------------

#[derive(Template)]
#[template(path = "document.html")]
pub struct DocumentPage {
    pub tr: Tr,
    pub title: String,
    pub html: String,
    pub sha256: String,
    /// "This is the exact text you accepted on …", once accepted.
    pub consented: Option<String>,
    pub copy_url: String,
    pub back_url: String,
    pub back_label: String,
    pub brand: super::brand::Brand,
}

pub fn document_page(
    payment: &Payment,
    merchant: &MerchantRecord,
    shown: &crate::checkout::card_form::ShownDocument,
) -> Response {
    let locale = payment.locale;
    let tr = Tr::new(locale);
    let kind = shown.doc.kind;
    let base = format!("/checkout/{}", payment.id);
    let (back_url, back_label) = if payment.status == Status::Created {
        (base.clone(), tr.t("doc-back"))
    } else {
        (format!("{base}/result"), tr.t("doc-back-result"))
    };
    let page = DocumentPage {
        title: tr.t(kind.title_key()),
        html: shown.doc.html.clone(),
        sha256: shown.doc.sha256.clone(),
        consented: shown.accepted_at.map(|at| {
            let date = crate::clock::istanbul_date(at, locale);
            tr.t_with("doc-consented", &[("date", &date)])
        }),
        copy_url: format!("{base}/documents/{}/copy", kind.slug()),
        back_url,
        back_label,
        brand: super::brand::Brand::of(merchant),
        tr,
    };
    let mut resp = render(&page, StatusCode::OK);
    super::security::allow(&mut resp, &[], &merchant.frame_origins());
    resp
}

/// The standalone file, as an attachment: the exact bytes whose SHA-256 the consent records.
pub fn document_copy(
    payment: &Payment,
    shown: &crate::checkout::card_form::ShownDocument,
) -> Response {
    let order: String = payment
        .order_id
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let disposition = format!(
        "attachment; filename=\"{}-{order}.html\"",
        shown.doc.kind.slug()
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        shown.doc.copy.clone(),
    )
        .into_response()
}

// --- A challenge the browser came back from without its outcome -------------------------

#[derive(Template)]
#[template(path = "challenge_unfinished.html")]
pub struct ChallengeUnfinished {
    pub tr: Tr,
    pub payment_id: String,
    pub csrf: String,
    pub merchant_name: String,
    pub amount: String,
    pub brand: super::brand::Brand,
}

pub fn challenge_unfinished(payment: &Payment, merchant: &MerchantRecord, csrf: &str) -> Response {
    let tr = Tr::new(payment.locale);
    let page = ChallengeUnfinished {
        payment_id: payment.id.to_string(),
        csrf: csrf.to_owned(),
        merchant_name: merchant.name.clone(),
        amount: payment.charged().display(payment.locale),
        brand: super::brand::Brand::of(merchant),
        tr,
    };
    // The ACS's origin: "back to the verification" posts there.
    let mut resp = render(&page, StatusCode::OK);
    let acs: Vec<String> = payment
        .threeds
        .as_ref()
        .and_then(|t| t.acs_url.as_deref())
        .and_then(super::security::origin_of)
        .into_iter()
        .collect();
    super::security::allow(&mut resp, &acs, &merchant.frame_origins());
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
    /// The legal documents the shopper accepted: (title, URL of their page).
    pub documents: Vec<(String, String)>,
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
    // The shopper recognises the card by its last four digits.
    if let Some(pan) = payment.masked_pan() {
        let last4 = pan.get(pan.len().saturating_sub(4)..).unwrap_or_default();
        details.push((
            tr.t("label-card"),
            tr.t_with("label-card-last4", &[("last4", last4)]),
        ));
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
        Status::AwaitingAuthorisation => (
            "ok",
            tr.t("result-authenticated-title"),
            tr.t("result-authenticated-text"),
            false,
        ),
        // A hold: the shopper's card was not charged yet.
        Status::Authorised => (
            "ok",
            tr.t("result-held-title"),
            tr.t("result-held-text"),
            false,
        ),
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
            let msg =
                notify::shopper_message(locale, payment.error_code, payment.proc_return_code());
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
        Some(fields) if status.is_final() || status == Status::AwaitingAuthorisation => {
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
        // A card was submitted only with both documents accepted.
        documents: if payment.card.is_some() {
            DocumentKind::ALL
                .iter()
                .map(|k| {
                    let url = format!("/checkout/{}/documents/{}", payment.id, k.slug());
                    (tr.t(k.title_key()), url)
                })
                .collect()
        } else {
            Vec::new()
        },
        tr,
    };
    let target: Vec<String> = super::security::origin_of(&page.action)
        .into_iter()
        .collect();
    let mut resp = render(&page, StatusCode::OK);
    super::security::allow(&mut resp, &target, &merchant.frame_origins());
    resp
}
