//! The pre-information form and the distance sales contract, filled with the order's data.
//!
//! The same payment always renders the same text (the date is the payment's, not today's), so
//! the SHA-256 recorded with the shopper's consent identifies exactly what was shown.

use askama::Template;

use super::payment::Payment;
use crate::{
    clock::istanbul_date, crypto::sha256_hex, domain::Locale, i18n::Tr, storage::MerchantRecord,
};

/// Bump when the wording of a document changes: its template or its texts in
/// `locales/*/documents.ftl` (or the formats of the data in it).
pub const TEMPLATE_VERSION: &str = "2026-11.2";

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

/// What the documents show; every field already formatted for the locale, an empty one
/// replaced by the locale's "none" mark. The texts around them are in
/// `locales/*/documents.ftl`, where these fields are the variables of the same names.
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

impl DocData {
    /// The Fluent variables of the document texts.
    fn args(&self) -> [(&'static str, &str); 16] {
        [
            ("seller_title", &self.seller_title),
            ("seller_address", &self.seller_address),
            ("seller_phone", &self.seller_phone),
            ("seller_email", &self.seller_email),
            ("seller_mersis", &self.seller_mersis),
            ("seller_website", &self.seller_website),
            ("buyer_name", &self.buyer_name),
            ("buyer_email", &self.buyer_email),
            ("buyer_phone", &self.buyer_phone),
            ("order_id", &self.order_id),
            ("description", &self.description),
            ("amount", &self.amount),
            ("installment", &self.installment),
            ("order_date", &self.order_date),
            ("payment_method", &self.payment_method),
            ("platform", &self.platform),
        ]
    }
}

/// One template per document, the same for every language: the words come from Fluent.
macro_rules! document_template {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a> {
            tr: Tr,
            d: &'a DocData,
            /// The shopper picks the number of installments on the payment page.
            installment_choice: bool,
        }

        impl $name<'_> {
            /// The text of `key` with the order's data; escaped by the template like any value.
            fn t(&self, key: &str) -> String {
                self.tr.t_with(key, &self.d.args())
            }
        }
    };
}

document_template!(PreInformation, "documents/preinfo.html");
document_template!(DistanceSalesContract, "documents/contract.html");

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

fn doc_data(
    payment: &Payment,
    merchant: &MerchantRecord,
    locale: Locale,
    installment_choice: bool,
) -> DocData {
    let tr = Tr::new(locale);
    let none = tr.t("legal-none");
    let or_none = |s: &str| {
        if s.trim().is_empty() {
            none.clone()
        } else {
            s.to_owned()
        }
    };
    let description = if payment.description.as_str().trim().is_empty() {
        tr.t("legal-goods-default")
    } else {
        payment.description.as_str().to_owned()
    };
    let installment = if installment_choice {
        tr.t("legal-installment-choice")
    } else {
        installment_text(&tr, payment.installment.count())
    };
    let amount = payment.amount.display(locale);
    DocData {
        seller_title: or_none(&merchant.legal_title),
        seller_address: or_none(&merchant.address),
        seller_phone: or_none(&merchant.phone),
        seller_email: or_none(&merchant.email),
        seller_mersis: or_none(&merchant.mersis),
        seller_website: or_none(&merchant.website),
        buyer_name: or_none(&payment.customer.name),
        buyer_email: or_none(&payment.customer.email),
        buyer_phone: or_none(&payment.customer.phone),
        order_id: or_none(payment.order_id.as_str()),
        description,
        amount: or_none(&amount),
        installment,
        order_date: istanbul_date(payment.created_at, locale),
        payment_method: tr.t("doc-payment-method"),
        platform: "Kapı".to_owned(),
    }
}

/// The documents of a payment in `locale`. `installment_choice`: the payment page lets the
/// shopper choose the installments (with any interest charge shown there), which the texts
/// then mention.
pub fn render(
    payment: &Payment,
    merchant: &MerchantRecord,
    locale: Locale,
    installment_choice: bool,
) -> Result<Vec<RenderedDocument>, askama::Error> {
    let d = doc_data(payment, merchant, locale, installment_choice);
    render_data(&d, locale, installment_choice)
}

fn render_data(
    d: &DocData,
    locale: Locale,
    installment_choice: bool,
) -> Result<Vec<RenderedDocument>, askama::Error> {
    let tr = Tr::new(locale);
    DocumentKind::ALL
        .into_iter()
        .map(|kind| {
            let html = match kind {
                DocumentKind::PreInformation => PreInformation {
                    tr,
                    d,
                    installment_choice,
                }
                .render()?,
                DocumentKind::DistanceSalesContract => DistanceSalesContract {
                    tr,
                    d,
                    installment_choice,
                }
                .render()?,
            };
            let sha256 = sha256_hex(html.as_bytes());
            Ok(RenderedDocument { kind, html, sha256 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(locale: Locale, installment: String) -> DocData {
        let tr = Tr::new(locale);
        DocData {
            seller_title: "Örnek Ticaret A.Ş.".into(),
            seller_address: "Bağdat Cad. 1, İstanbul".into(),
            seller_phone: "+90 216 000 00 00".into(),
            seller_email: "destek@example.com".into(),
            seller_mersis: tr.t("legal-none"),
            seller_website: "https://shop.example".into(),
            buyer_name: "Ayşe Yılmaz".into(),
            buyer_email: "ayse@example.com".into(),
            buyer_phone: "+90 532 000 00 00".into(),
            order_id: "ORD-42".into(),
            description: r#"Kazak <script>alert("x")</script> & 'atkı'"#.into(),
            amount: "₺1.234,56".into(),
            installment,
            order_date: istanbul_date(1_795_901_400_000, locale),
            payment_method: tr.t("doc-payment-method"),
            platform: "Kapı".into(),
        }
    }

    /// The text between the tags.
    fn text_only(html: &str) -> String {
        let mut out = String::new();
        for piece in html.split('<') {
            out.push_str(piece.split_once('>').map_or(piece, |(_, text)| text));
            out.push(' ');
        }
        out
    }

    fn texts(locale: Locale, choice: bool) -> (String, String) {
        let tr = Tr::new(locale);
        let installment = if choice {
            tr.t("legal-installment-choice")
        } else {
            installment_text(&tr, 1)
        };
        let docs = render_data(&data(locale, installment), locale, choice).unwrap();
        assert_eq!(docs.len(), 2);
        (docs[0].html.clone(), docs[1].html.clone())
    }

    #[test]
    fn every_text_comes_from_the_locale_files() {
        for locale in [Locale::Tr, Locale::En] {
            for choice in [false, true] {
                let (preinfo, contract) = texts(locale, choice);
                for html in [&preinfo, &contract] {
                    assert!(html.starts_with(&format!(
                        r#"<article class="legal-doc" lang="{}">"#,
                        locale.as_str()
                    )));
                    let text = text_only(html);
                    for prefix in ["legal-", "preinfo-", "contract-", "date-", "month-"] {
                        assert!(!text.contains(prefix), "raw {prefix}… key: {text}");
                    }
                    assert!(!html.contains("<p></p>"), "an empty paragraph: {html}");
                    assert!(html.contains("ORD-42") && html.contains("Örnek Ticaret A.Ş."));
                }
            }
        }
        let (preinfo, contract) = texts(Locale::Tr, false);
        assert!(preinfo.contains("<h3>Ön Bilgilendirme Formu</h3>"));
        assert!(preinfo.contains("<strong>MERSİS numarası:</strong> —"));
        assert!(preinfo.contains("<strong>Sipariş tarihi:</strong> 29.11.2026"));
        assert!(
            preinfo.contains("<strong>Ödeme şekli:</strong> Kredi kartı / banka kartı, Tek çekim")
        );
        assert!(contract.contains("<h3>Mesafeli Satış Sözleşmesi</h3>"));
        assert!(contract.contains("(ödeme sayfası hizmeti: Kapı)"));
        assert!(!contract.contains("translation"));
        let (preinfo, contract) = texts(Locale::En, false);
        assert!(preinfo.contains("<h3>Pre-Information Form</h3>"));
        assert!(preinfo.contains("This is a translation; the Turkish text prevails."));
        assert!(preinfo.contains("<strong>Order date:</strong> 29 November 2026"));
        assert!(contract.contains("<p>This is a translation; the Turkish text prevails.</p>"));
        assert!(contract.contains("(payment page service: Kapı)"));
    }

    #[test]
    fn the_order_data_stays_escaped() {
        for locale in [Locale::Tr, Locale::En] {
            let (preinfo, contract) = texts(locale, false);
            for html in [preinfo, contract] {
                assert!(!html.contains("<script>"), "{html}");
                assert!(
                    html.contains(
                        "Kazak &#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;atkı&#39;"
                    ),
                    "{html}"
                );
            }
        }
    }

    #[test]
    fn the_price_text_names_the_interest_charge_only_when_the_shopper_chooses_installments() {
        let (preinfo, contract) = texts(Locale::Tr, false);
        assert!(
            preinfo.contains(
                "yukarıdaki toplam bedel dışında kartınızdan ek bir tutar tahsil edilmez"
            )
        );
        assert!(preinfo.contains("<strong>Taksit:</strong> Tek çekim</li>"));
        assert!(!preinfo.contains("vade farkı") && !contract.contains("vade farkı"));

        let (preinfo, contract) = texts(Locale::Tr, true);
        assert!(preinfo.contains(
            "<strong>Taksit:</strong> Tek çekim ya da ödeme sayfasında seçeceğiniz taksit sayısı"
        ));
        assert!(preinfo.contains("vade farkı (varsa) toplam bedele eklenir"));
        assert!(preinfo.contains("o seçeneğin satırında gösterilir"));
        assert!(contract.contains("vade farkı (varsa) toplam bedele eklenir"));

        let (preinfo, contract) = texts(Locale::En, false);
        assert!(preinfo.contains("No amount other than the total price above will be charged"));
        assert!(!preinfo.contains("interest") && !contract.contains("interest charge"));

        let (preinfo, contract) = texts(Locale::En, true);
        assert!(preinfo.contains(
            "Single payment, or the number of installments you choose on the payment page"
        ));
        assert!(
            preinfo.contains("the interest charge (vade farkı) shown in the installment table")
        );
        assert!(preinfo.contains("is shown in that option"));
        assert!(contract.contains("interest charge (vade farkı)"));
    }

    #[test]
    fn the_same_data_gives_the_same_text() {
        let tr = Tr::new(Locale::En);
        let a = render_data(
            &data(Locale::En, installment_text(&tr, 3)),
            Locale::En,
            false,
        )
        .unwrap();
        let b = render_data(
            &data(Locale::En, installment_text(&tr, 3)),
            Locale::En,
            false,
        )
        .unwrap();
        assert_eq!(a[0].sha256, b[0].sha256);
        assert_eq!(a[1].sha256, b[1].sha256);
        assert_ne!(a[0].sha256, a[1].sha256);
        assert!(
            a[0].html
                .contains("<strong>Installments:</strong> 3 installments</li>")
        );
    }
}
