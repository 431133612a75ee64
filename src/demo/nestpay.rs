//! The demo shop's NestPay button: the shop's side of a NestPay `3d_pay_hosting` integration,
//! written as a merchant's existing NestPay code does it — a ver3-hashed form auto-posted to
//! the gate, the result's `HASH` checked when the browser brings it back, and the callback
//! acknowledged with `Approved`. Only the gate's URL is Kapı's.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{DemoShop, Notification, Outcome, PRODUCTS, refuse, result_page};
use crate::{
    domain::{Locale, ids::random_token},
    i18n::Tr,
    web::{extract::RawForm, pages::PostRedirect},
    wire::nestpay as hash,
};

/// Builds the NestPay form for a product and auto-posts it to Kapı's gate.
pub(super) async fn buy(State(shop): State<DemoShop>, RawForm(form): RawForm) -> Response {
    let get = |n: &str| crate::form::value(&form, n).to_owned();
    let locale = Locale::parse_lenient(&get("lang"));
    let tr = Tr::new(locale);
    let Some(product) = PRODUCTS.iter().find(|p| p.id == get("product")) else {
        return refuse(StatusCode::BAD_REQUEST, tr.t("demo-error-unknown-product"));
    };
    let s = &shop.inner;
    let Some((client_id, store_key)) = &s.nestpay else {
        return refuse(StatusCode::NOT_FOUND, tr.t("demo-error-unknown-product"));
    };
    let oid = format!("NP-{}-{}", s.clock.now_secs(), random_token(3));
    let mut fields: Vec<(String, String)> = [
        ("clientid", client_id.clone()),
        ("storetype", "3d_pay_hosting".to_owned()),
        ("TranType", "Auth".to_owned()),
        ("amount", product.price.to_owned()),
        ("currency", "949".to_owned()),
        ("oid", oid.clone()),
        ("okUrl", format!("{}/nestpay/ok", s.shop_url)),
        ("failUrl", format!("{}/nestpay/fail", s.shop_url)),
        ("callbackUrl", format!("{}/nestpay/callback", s.shop_url)),
        ("lang", locale.as_str().to_owned()),
        ("rnd", random_token(10)),
        ("taksit", String::new()),
        ("BillToName", "Ayşe Yılmaz".to_owned()),
        ("email", "ayse@example.com".to_owned()),
        ("hashAlgorithm", "ver3".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let signed = hash::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        hash::REQUEST_EXCLUDED,
        store_key.expose_secret(),
    );
    fields.push(("hash".to_owned(), signed));
    shop.remember_order(&oid, locale);
    PostRedirect {
        title: tr.t("demo-redirect-title"),
        message: tr.t("demo-redirect-text"),
        button: tr.t("continue"),
        action: format!("{}/fim/est3Dgate", s.kapi_url),
        fields,
        delay_ms: 0,
        tr,
    }
    .into_response()
}

/// Whether a NestPay result's `HASH` is the store key's ver3 hash of its fields.
fn verified(shop: &DemoShop, fields: &[(String, String)]) -> bool {
    let Some((_, store_key)) = &shop.inner.nestpay else {
        return false;
    };
    let posted = crate::form::value(fields, "HASH");
    let expected = hash::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        hash::RESULT_EXCLUDED,
        store_key.expose_secret(),
    );
    !posted.is_empty() && bool::from(expected.as_bytes().ct_eq(posted.as_bytes()))
}

/// The browser brings the NestPay result back to okUrl / failUrl.
pub(super) async fn back(
    State(shop): State<DemoShop>,
    headers: HeaderMap,
    RawForm(fields): RawForm,
) -> Response {
    let signature_ok = verified(&shop, &fields);
    let get = |n: &str| crate::form::value(&fields, n);
    let ok = signature_ok && get("Response") == "Approved" && get("ProcReturnCode") == "00";
    let outcome = Outcome {
        ok,
        signature_ok,
        order_field: "oid",
        signature_field: "HASH",
    };
    result_page(&shop, &headers, fields, &outcome)
}

/// NestPay's server-to-server callback: taken by answering `Approved`.
pub(super) async fn callback(State(shop): State<DemoShop>, body: Bytes) -> Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let signature_ok = verified(&shop, &fields);
    let get = |n: &str| crate::form::value(&fields, n).to_owned();
    shop.remember(Notification {
        via: "nestpay".into(),
        order_id: get("oid"),
        status: get("Response").to_lowercase(),
        amount: format!("{} {}", get("amount"), get("currency")),
        signature_ok,
    });
    if signature_ok {
        (StatusCode::OK, "Approved").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "bad hash").into_response()
    }
}
