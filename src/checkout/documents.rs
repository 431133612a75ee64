//! The pre-information form and the distance sales contract, filled with the order's data.
//!
//! Each document is a standalone HTML file (`copy`): the text the card page shows, in a page
//! of its own with its charset and title. The SHA-256 recorded with the shopper's consent is
//! that file's. The same data always renders the same bytes (the date is the payment's, not
//! today's); the consent keeps the data as shown (`Snapshot`) and the template version, so the
//! exact file can be rendered again at any time, byte for byte, by `render_again`. Versions
//! that consents refer to are never changed: a new wording is a new version (see
//! `the_wording_of_a_version_never_changes`).

use askama::Template;

use super::payment::Payment;
use crate::{
    clock::istanbul_date, crypto::sha256_hex, domain::Locale, i18n::Tr, storage::MerchantRecord,
};

/// Bump when the wording of a document changes: its template or its texts in
/// `locales/*/documents.ftl` (or the formats of the data in it), and keep what renders the
/// versions that consents refer to (`render_again`).
pub const TEMPLATE_VERSION: &str = "2026-12.1";

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
    /// The Fluent key of the error when its box was not ticked.
    pub fn consent_error_key(self) -> &'static str {
        match self {
            Self::PreInformation => "consent-required-preinfo",
            Self::DistanceSalesContract => "consent-required-contract",
        }
    }

    pub fn consent_field(self) -> &'static str {
        match self {
            Self::PreInformation => "consent_preinfo",
            Self::DistanceSalesContract => "consent_contract",
        }
    }

    /// The document's name in URLs.
    pub fn slug(self) -> &'static str {
        match self {
            Self::PreInformation => "pre-information-form",
            Self::DistanceSalesContract => "distance-sales-contract",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }

    /// Fluent keys of its title and of its consent checkbox's label.
    pub fn title_key(self) -> &'static str {
        match self {
            Self::PreInformation => "doc-preinfo-title",
            Self::DistanceSalesContract => "doc-contract-title",
        }
    }

    pub fn consent_key(self) -> &'static str {
        match self {
            Self::PreInformation => "consent-preinfo",
            Self::DistanceSalesContract => "consent-contract",
        }
    }
}

/// What the documents show; every field already formatted for the locale, an empty one
/// replaced by the locale's "none" mark. The texts around them are in
/// `locales/*/documents.ftl`, where these fields are the variables of the same names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// The standalone file of a document.
#[derive(Template)]
#[template(path = "documents/copy.html")]
struct Copy<'a> {
    lang: &'a str,
    title: String,
    order_id: &'a str,
    fragment: &'a str,
}

#[derive(Clone)]
pub struct RenderedDocument {
    pub kind: DocumentKind,
    /// The document's text, as the card page shows it (an `<article>`).
    pub html: String,
    /// The standalone file: the text in a page of its own, to print or keep.
    pub copy: String,
    /// SHA-256 of `copy`: what the consent records.
    pub sha256: String,
    /// What the text was made from, kept with the consent.
    pub snapshot: Snapshot,
}

/// What a document was rendered from: enough to render the same bytes again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub locale: String,
    pub installment_choice: bool,
    pub data: DocData,
}

/// Why a consented document cannot be rendered again.
#[derive(Debug, thiserror::Error)]
pub enum AgainError {
    #[error("template version {0} is no longer known")]
    UnknownVersion(String),
    #[error("the consent's data is unreadable: {0}")]
    Snapshot(String),
    #[error(transparent)]
    Render(#[from] askama::Error),
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
    let snapshot = Snapshot {
        locale: locale.as_str().to_owned(),
        installment_choice,
        data: doc_data(payment, merchant, locale, installment_choice),
    };
    // The card page and the card submit render the same documents: the second time they
    // come from the cache. The key is everything they are made from, so a hit is always
    // the same bytes (and the same hash the consent records).
    let key = serde_json::to_string(&snapshot).unwrap_or_default();
    if let Some(hit) = cached(&key) {
        return Ok(hit);
    }
    let docs: Vec<RenderedDocument> = DocumentKind::ALL
        .into_iter()
        .map(|kind| render_current(kind, &snapshot, locale))
        .collect::<Result<_, _>>()?;
    remember(key, &docs);
    Ok(docs)
}

/// Rendered documents by their snapshot, for the few minutes between a card page and its
/// submit. Bounded (two documents of some 20 KiB each per entry): emptied whole when full.
static RENDERED: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Vec<RenderedDocument>>>,
> = std::sync::LazyLock::new(Default::default);

const RENDERED_MAX: usize = 256;

fn cached(key: &str) -> Option<Vec<RenderedDocument>> {
    RENDERED.lock().ok()?.get(key).cloned()
}

fn remember(key: String, docs: &[RenderedDocument]) {
    if let Ok(mut map) = RENDERED.lock() {
        if map.len() >= RENDERED_MAX {
            map.clear();
        }
        map.insert(key, docs.to_vec());
    }
}

/// A consented document again, from the template version and the data it was rendered with.
pub fn render_again(
    kind: DocumentKind,
    version: &str,
    snapshot_json: &str,
) -> Result<RenderedDocument, AgainError> {
    let snapshot: Snapshot =
        serde_json::from_str(snapshot_json).map_err(|e| AgainError::Snapshot(e.to_string()))?;
    let locale =
        Locale::parse(&snapshot.locale).map_err(|e| AgainError::Snapshot(e.to_string()))?;
    match version {
        TEMPLATE_VERSION => Ok(render_current(kind, &snapshot, locale)?),
        other => Err(AgainError::UnknownVersion(other.to_owned())),
    }
}

/// One document with the current templates.
fn render_current(
    kind: DocumentKind,
    snapshot: &Snapshot,
    locale: Locale,
) -> Result<RenderedDocument, askama::Error> {
    let tr = Tr::new(locale);
    let (d, installment_choice) = (&snapshot.data, snapshot.installment_choice);
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
    let copy = Copy {
        lang: locale.as_str(),
        title: Tr::new(locale).t(kind.title_key()),
        order_id: &d.order_id,
        fragment: &html,
    }
    .render()?;
    Ok(RenderedDocument {
        kind,
        sha256: sha256_hex(copy.as_bytes()),
        html,
        copy,
        snapshot: snapshot.clone(),
    })
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
        let docs = render_data(&data(locale, installment), locale, choice);
        assert_eq!(docs.len(), 2);
        (docs[0].html.clone(), docs[1].html.clone())
    }

    fn render_data(d: &DocData, locale: Locale, choice: bool) -> Vec<RenderedDocument> {
        let snapshot = Snapshot {
            locale: locale.as_str().to_owned(),
            installment_choice: choice,
            data: d.clone(),
        };
        DocumentKind::ALL
            .into_iter()
            .map(|kind| render_current(kind, &snapshot, locale).unwrap())
            .collect()
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
        assert!(preinfo.contains("<h2>Ön Bilgilendirme Formu</h2>"));
        assert!(preinfo.contains("<strong>MERSİS numarası:</strong> —"));
        assert!(preinfo.contains("<strong>Sipariş tarihi:</strong> 29.11.2026"));
        assert!(
            preinfo.contains("<strong>Ödeme şekli:</strong> Kredi kartı / banka kartı, Tek çekim")
        );
        assert!(contract.contains("<h2>Mesafeli Satış Sözleşmesi</h2>"));
        assert!(contract.contains("(ödeme sayfası hizmeti: Kapı)"));
        assert!(!contract.contains("translation"));
        let (preinfo, contract) = texts(Locale::En, false);
        assert!(preinfo.contains("<h2>Pre-Information Form</h2>"));
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
        );
        let b = render_data(
            &data(Locale::En, installment_text(&tr, 3)),
            Locale::En,
            false,
        );
        assert_eq!(a[0].sha256, b[0].sha256);
        assert_eq!(a[1].sha256, b[1].sha256);
        assert_ne!(a[0].sha256, a[1].sha256);
        assert!(
            a[0].html
                .contains("<strong>Installments:</strong> 3 installments</li>")
        );
    }

    #[test]
    fn a_consented_document_renders_again_byte_for_byte() {
        let tr = Tr::new(Locale::Tr);
        let docs = render_data(
            &data(Locale::Tr, installment_text(&tr, 1)),
            Locale::Tr,
            true,
        );
        for doc in &docs {
            assert!(doc.copy.starts_with("<!DOCTYPE html>\n<html lang=\"tr\">"));
            assert!(doc.copy.contains("<meta charset=\"utf-8\">"));
            assert!(
                doc.copy.contains(&doc.html),
                "the copy holds the text as shown"
            );
            let json = serde_json::to_string(&doc.snapshot).unwrap();
            let again = render_again(doc.kind, TEMPLATE_VERSION, &json).unwrap();
            assert_eq!(again.copy, doc.copy);
            assert_eq!(again.sha256, doc.sha256);
        }
        let json = serde_json::to_string(&docs[0].snapshot).unwrap();
        assert!(matches!(
            render_again(DocumentKind::PreInformation, "1999-01.1", &json),
            Err(AgainError::UnknownVersion(_))
        ));
        assert!(render_again(DocumentKind::PreInformation, TEMPLATE_VERSION, "{").is_err());
    }

    /// The digests of fixed data under each template version that consents may refer to. A
    /// change of wording fails here: give it a new `TEMPLATE_VERSION` and keep rendering the
    /// old one in `render_again`, so that old consents still render the text they covered.
    #[test]
    fn the_wording_of_a_version_never_changes() {
        let mut current = Vec::new();
        for locale in [Locale::Tr, Locale::En] {
            let tr = Tr::new(locale);
            for choice in [false, true] {
                let docs = render_data(&data(locale, installment_text(&tr, 1)), locale, choice);
                current.push(format!(
                    "{} {} {} {}",
                    locale.as_str(),
                    choice,
                    docs[0].sha256,
                    docs[1].sha256
                ));
            }
        }
        assert_eq!(
            TEMPLATE_VERSION, "2026-12.1",
            "a new version: record its digests below"
        );
        assert_eq!(current, GOLDEN_2026_12_1, "{current:#?}");
    }

    const GOLDEN_2026_12_1: [&str; 4] = [
        "tr false f77bad10b281e003fb64ff34a16b3a503768557bf59d3cf7df3122bd8470aee5 ce5c64663e58e8427d3d9cd329db48bac26ce370c699729a1d87074a7d37422e",
        "tr true 2437fdb718cf421e08389f2547820c4b2657731db44403700cc0de6c4c57fcb2 063da05ee23e041d69e9c2d8a728079438e2a63898d33248d148b62c66061cc2",
        "en false d8de7ed4251b619ea255f8e8d748b599699abe75741e543dc43279585b5ec402 7b68848c0c0a5028d839b0c7967e703afc3b2790eec968496ece832edade3152",
        "en true 43273f9aaf3bc7d4c29e4b77381df43cf8d26d4a4ae4405588d9bd727a0d7c60 b6faf0b623a1c29e4a9636b08cc4089c40ba1c5f7a3240b71103f9b7abef680c",
    ];
}
