//! The pre-information form and the distance sales contract, filled with the order's data.
//!
//! The same payment always renders the same text (the date is the payment's, not today's), so
//! the SHA-256 recorded with the shopper's consent identifies exactly what was shown.

use askama::Template;

use crate::{
    clock::istanbul_date,
    crypto::sha256_hex,
    domain::Locale,
    i18n::Tr,
    storage::{MerchantRecord, PaymentRecord},
};

/// Bump when the wording of a document template changes.
pub const TEMPLATE_VERSION: &str = "2026-11.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    PreInformation,
    DistanceSalesContract,
}

impl DocumentKind {
    pub const ALL: [Self; 2] = [Self::PreInformation, Self::DistanceSalesContract];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreInformation => "pre_information_form",
            Self::DistanceSalesContract => "distance_sales_contract",
        }
    }

    /// The name of the consent checkbox in the card form.
    pub fn consent_field(self) -> &'static str {
        match self {
            Self::PreInformation => "consent_preinfo",
            Self::DistanceSalesContract => "consent_contract",
        }
    }
}

/// What the documents show; every field already formatted for the locale.
pub struct DocData {
    pub seller_title: String,
    pub seller_address: String,
    pub seller_phone: String,
    pub seller_email: String,
    pub seller_mersis: String,
    pub seller_website: String,
    pub buyer_name: String,
    pub buyer_email: String,
    pub buyer_phone: String,
    pub order_id: String,
    pub description: String,
    pub amount: String,
    pub installment: String,
    pub order_date: String,
    pub payment_method: String,
    pub platform: String,
}

macro_rules! document_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            d: &'a DocData,
        }
    };
}

document_template!(PreInfoTr, "documents/preinfo.tr.html");
document_template!(PreInfoEn, "documents/preinfo.en.html");
document_template!(ContractTr, "documents/contract.tr.html");
document_template!(ContractEn, "documents/contract.en.html");

pub struct RenderedDocument {
    pub kind: DocumentKind,
    pub html: String,
    pub sha256: String,
}

pub fn installment_text(tr: &Tr, count: u8) -> String {
    if count <= 1 {
        tr.t("installment-single")
    } else {
        tr.t_with("installment-count", &[("count", &count.to_string())])
    }
}

fn doc_data(payment: &PaymentRecord, merchant: &MerchantRecord, locale: Locale) -> DocData {
    let tr = Tr::new(locale);
    DocData {
        seller_title: merchant.legal_title.clone(),
        seller_address: merchant.address.clone(),
        seller_phone: merchant.phone.clone(),
        seller_email: merchant.email.clone(),
        seller_mersis: merchant.mersis.clone(),
        seller_website: merchant.website.clone(),
        buyer_name: payment.customer_name.clone(),
        buyer_email: payment.customer_email.clone(),
        buyer_phone: payment.customer_phone.clone(),
        order_id: payment.order_id.clone(),
        description: payment.description.clone(),
        amount: payment
            .money()
            .map(|m| m.display(locale))
            .unwrap_or_default(),
        installment: installment_text(&tr, payment.installment().count()),
        order_date: istanbul_date(payment.created_at),
        payment_method: tr.t("doc-payment-method"),
        platform: "Kapı".to_owned(),
    }
}

pub fn render(
    payment: &PaymentRecord,
    merchant: &MerchantRecord,
    locale: Locale,
) -> Result<Vec<RenderedDocument>, askama::Error> {
    let d = doc_data(payment, merchant, locale);
    DocumentKind::ALL
        .into_iter()
        .map(|kind| {
            let html = match (kind, locale) {
                (DocumentKind::PreInformation, Locale::Tr) => PreInfoTr { d: &d }.render()?,
                (DocumentKind::PreInformation, Locale::En) => PreInfoEn { d: &d }.render()?,
                (DocumentKind::DistanceSalesContract, Locale::Tr) => {
                    ContractTr { d: &d }.render()?
                }
                (DocumentKind::DistanceSalesContract, Locale::En) => {
                    ContractEn { d: &d }.render()?
                }
            };
            let sha256 = sha256_hex(html.as_bytes());
            Ok(RenderedDocument { kind, html, sha256 })
        })
        .collect()
}
