//! The demo shop's NestPay buttons: the shop's side of a NestPay `3d_pay_hosting` integration,
//! written as a merchant's existing NestPay code does it — a ver3-hashed form auto-posted to
//! the gate (a sale, or a pre-authorisation), the result's `HASH` checked when the browser
//! brings it back, the callback acknowledged with `Approved`, and a held amount captured with
//! the XML API's `PostAuth`. Only the gate's and the API's URLs are Kapı's.

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
    let Some(np) = &s.nestpay else {
        return refuse(StatusCode::NOT_FOUND, tr.t("demo-error-unknown-product"));
    };
    let tran_type = if get("tran_type") == "PreAuth" {
        "PreAuth"
    } else {
        "Auth"
    };
    let oid = format!("NP-{}-{}", s.clock.now_secs(), random_token(3));
    let mut fields: Vec<(String, String)> = [
        ("clientid", np.client_id.clone()),
        ("storetype", "3d_pay_hosting".to_owned()),
        ("TranType", tran_type.to_owned()),
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
        np.store_key.expose_secret(),
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
    let Some(np) = &shop.inner.nestpay else {
        return false;
    };
    let posted = crate::form::value(fields, "HASH");
    let expected = hash::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        hash::RESULT_EXCLUDED,
        np.store_key.expose_secret(),
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
    // A pre-authorisation: the amount is held until the shop captures it.
    let held = (get("TranType") == "PreAuth").then(|| get("amount").to_owned());
    let outcome = Outcome {
        ok,
        signature_ok,
        order_field: "oid",
        signature_field: "HASH",
        held,
    };
    result_page(&shop, &headers, fields, &outcome)
}

/// The shop ships the order and captures the held amount: an XML `PostAuth` to Kapı's
/// NestPay API, with the shop's API user, as its NestPay code would send it to a bank.
pub(super) async fn capture(State(shop): State<DemoShop>, RawForm(form): RawForm) -> Response {
    let get = |n: &str| crate::form::value(&form, n).to_owned();
    let tr = Tr::new(Locale::parse_lenient(&get("lang")));
    let (oid, amount) = (get("oid"), get("amount"));
    // Only the capture form the shop showed for this order: no other page can make a
    // visitor's browser capture someone's hold.
    let expected = capture_token(&shop, &oid);
    if !bool::from(expected.as_bytes().ct_eq(get("token").as_bytes())) {
        return refuse(StatusCode::FORBIDDEN, tr.t("demo-error-unknown-product"));
    }
    let Some(xml) = post_auth_request(&shop, &oid, &amount) else {
        return refuse(StatusCode::BAD_REQUEST, tr.t("demo-error-unknown-product"));
    };
    let url = format!("{}/fim/api", shop.inner.kapi_url);
    let sent = shop.inner.http.post(url).body(xml).send().await;
    let answer = match sent {
        Ok(resp) => resp.text().await.unwrap_or_default(),
        Err(e) => e.without_url().to_string(),
    };
    let value = |name: &str| element(&answer, name).unwrap_or_default();
    let ok = value("Response") == "Approved";
    let fields: Vec<(String, String)> = ["Response", "ProcReturnCode", "TransId", "ErrMsg"]
        .iter()
        .map(|n| ((*n).to_owned(), value(n)))
        .chain([("Total".to_owned(), amount)])
        .collect();
    let title = tr.t(if ok {
        "demo-captured-title"
    } else {
        "demo-capture-failed-title"
    });
    let page = super::ResultPage {
        tr,
        order_id: oid,
        ok,
        title,
        signature_ok: None,
        fields,
        capture_amount: None,
        capture_token: String::new(),
    };
    super::render(&page, StatusCode::OK)
}

/// The token of an order's capture form: the shop's secret's HMAC of the order id.
pub(super) fn capture_token(shop: &DemoShop, oid: &str) -> String {
    let key = shop.inner.secret.expose_secret().as_bytes();
    crate::crypto::hmac_hex(key, format!("demo-capture:{oid}").as_bytes())
}

/// The `PostAuth` of `oid` for `amount`, as UTF-8 XML; `None` for values no order of this
/// shop has (they are written into the XML as they are).
fn post_auth_request(shop: &DemoShop, oid: &str, amount: &str) -> Option<String> {
    let np = shop.inner.nestpay.as_ref()?;
    let safe = |v: &str, extra: &[char]| {
        !v.is_empty()
            && v.len() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    };
    if !safe(oid, &['-', '_']) || !safe(amount, &['.']) {
        return None;
    }
    let password = quick_xml_text(np.api_password.expose_secret());
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CC5Request><Name>{}</Name>\
         <Password>{password}</Password><ClientId>{}</ClientId><Type>PostAuth</Type>\
         <OrderId>{oid}</OrderId><Total>{amount}</Total><Currency>949</Currency></CC5Request>",
        quick_xml_text(&np.api_user),
        np.client_id,
    ))
}

/// Text escaped for an XML element.
fn quick_xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The text of the first `<name>` element of a `CC5Response` (enough for the demo's page).
fn element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml.get(start..)?.find(&format!("</{name}>"))? + start;
    xml.get(start..end).map(str::to_owned)
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
