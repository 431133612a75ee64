//! The demo shop: a tiny merchant website on its own port (plain HTTP) that starts payments
//! with a signed form, verifies the signed results it gets back, and shows the server-to-server
//! notifications it received. It talks to Kapı only as any merchant would.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use askama::Template;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    clock::Clock,
    crypto::signature,
    domain::{Currency, Locale, Money, ids::random_token},
    i18n::Tr,
    web::{
        assets,
        extract::{RawForm, preferred},
        pages::{PostRedirect, render},
    },
};

mod nestpay;

pub const DEMO_MERCHANT_ID: &str = "demo-shop";
/// The demo shop's NestPay client id (Payten's test client id style).
pub const DEMO_NESTPAY_CLIENT_ID: &str = "700655000200";
/// The demo's "bank": a merchant of Kapı's own NestPay gate that the demo shop's NestPay
/// terminal (Akbank) authorises at, and its client id there.
pub const DEMO_BANK_ID: &str = "demo-bank";
pub const DEMO_BANK_CLIENT_ID: &str = "700655000300";

struct Product {
    id: &'static str,
    /// Its name, in `locales/*/demo.ftl`.
    name_key: &'static str,
    price: &'static str,
}

const PRODUCTS: &[Product] = &[
    Product {
        id: "kazak",
        name_key: "demo-product-kazak",
        price: "1234.56",
    },
    Product {
        id: "kahve",
        name_key: "demo-product-kahve",
        price: "150.00",
    },
    Product {
        id: "kitap",
        name_key: "demo-product-kitap",
        price: "89.90",
    },
];

/// How many orders' languages the shop remembers for their result pages.
const REMEMBERED_ORDERS: usize = 1000;
/// How many notifications the shop keeps, and shows.
const KEPT_NOTIFICATIONS: usize = 50;
const SHOWN_NOTIFICATIONS: usize = 10;

/// A plain-text refusal; `text` is already in the shopper's language.
fn refuse(status: StatusCode, text: String) -> Response {
    (status, text).into_response()
}

#[derive(Clone)]
pub struct DemoShop {
    inner: Arc<Inner>,
}

struct Inner {
    kapi_url: String,
    shop_url: String,
    merchant_id: String,
    secret: SecretString,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    notifications: Mutex<Vec<Notification>>,
    /// The language each recent order was placed in, for its result page.
    orders: Mutex<VecDeque<(String, Locale)>>,
    /// The shop's NestPay credentials, when Kapı's NestPay gate is set up for it.
    nestpay: Option<DemoNestpay>,
}

/// The demo shop's NestPay credentials: the gate's client id and store key, and the XML API's
/// user (for `PostAuth`, the capture of a pre-authorisation).
pub struct DemoNestpay {
    pub client_id: String,
    pub store_key: SecretString,
    pub api_user: String,
    pub api_password: SecretString,
}

#[derive(Clone)]
pub struct Notification {
    /// `form` (the signed result post) or the event type, e.g. `payment.approved`.
    pub via: String,
    pub order_id: String,
    pub status: String,
    pub amount: String,
    pub signature_ok: bool,
}

impl DemoShop {
    pub fn new(
        kapi_url: String,
        shop_url: String,
        merchant_id: String,
        secret: SecretString,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
        nestpay: Option<DemoNestpay>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                kapi_url,
                shop_url,
                merchant_id,
                secret,
                clock,
                http,
                notifications: Mutex::default(),
                orders: Mutex::default(),
                nestpay,
            }),
        }
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(shop))
            .route("/buy", post(buy))
            .route("/buy-api", post(buy_api))
            .route("/buy-nestpay", post(nestpay::buy))
            .route("/nestpay/ok", post(nestpay::back))
            .route("/nestpay/fail", post(nestpay::back))
            .route("/nestpay/callback", post(nestpay::callback))
            .route("/nestpay/capture", post(nestpay::capture))
            .route("/webhook", post(webhook))
            .route("/ok", post(back))
            .route("/fail", post(back))
            .route("/callback", post(callback))
            .route("/payments", get(api_view))
            .route("/static/{file}", get(assets::serve))
            .with_state(self)
            .layer(axum::middleware::from_fn(crate::web::security::headers))
    }

    fn remember(&self, n: Notification) {
        if let Ok(mut list) = self.inner.notifications.lock() {
            list.push(n);
            if list.len() > KEPT_NOTIFICATIONS {
                list.remove(0);
            }
        }
    }

    fn remember_order(&self, order_id: &str, locale: Locale) {
        if let Ok(mut orders) = self.inner.orders.lock() {
            orders.push_back((order_id.to_owned(), locale));
            if orders.len() > REMEMBERED_ORDERS {
                orders.pop_front();
            }
        }
    }

    fn order_locale(&self, order_id: &str) -> Option<Locale> {
        let orders = self.inner.orders.lock().ok()?;
        orders
            .iter()
            .rev()
            .find(|(id, _)| id == order_id)
            .map(|(_, locale)| *locale)
    }

    /// `Kapi-Signature: t=…,v1=…`: HMAC-SHA256 of `"<t>.<body>"`, at most 5 minutes old.
    fn verify_event(&self, header: &str, body: &[u8]) -> bool {
        let mut t = None;
        let mut candidates = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => candidates.push(v.to_owned()),
                _ => {}
            }
        }
        let Some(t) = t else { return false };
        if (self.inner.clock.now_secs() - t).abs() > 300 {
            return false;
        }
        let mut message = format!("{t}.").into_bytes();
        message.extend_from_slice(body);
        let key = self.inner.secret.expose_secret().as_bytes();
        candidates
            .iter()
            .any(|c| crate::crypto::verify_hmac_hex(key, &message, c))
    }

    fn verify(&self, fields: &[(String, String)]) -> bool {
        let sig = fields
            .iter()
            .find(|(k, _)| k == "signature")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        signature::verify(fields, &self.inner.secret, sig).unwrap_or(false)
    }
}

#[derive(Template)]
#[template(path = "demo/shop.html")]
struct ShopPage {
    tr: Tr,
    /// The shop buys through Kapı's NestPay gate too.
    nestpay: bool,
    products: Vec<(String, String, String)>,
    notifications: Vec<Notification>,
    /// "The latest 10 of 23".
    latest: String,
    /// The other language of the shop: its code and its name in itself.
    other_lang: &'static str,
    other_lang_name: String,
}

async fn shop(State(shop): State<DemoShop>, query: axum::extract::RawQuery) -> Response {
    let locale = Locale::parse_lenient(
        query
            .0
            .as_deref()
            .and_then(|q| q.strip_prefix("lang="))
            .unwrap_or(""),
    );
    let (notifications, received): (Vec<Notification>, usize) = shop
        .inner
        .notifications
        .lock()
        .map(|n| {
            let newest = n.iter().rev().take(SHOWN_NOTIFICATIONS).cloned().collect();
            (newest, n.len())
        })
        .unwrap_or_default();
    let tr = Tr::new(locale);
    let latest = tr.t_with(
        "demo-callbacks-latest",
        &[
            ("shown", &notifications.len().to_string()),
            ("count", &received.to_string()),
        ],
    );
    let products = PRODUCTS
        .iter()
        .map(|p| {
            let price = Money::parse(p.price, Currency::Try)
                .map(|m| m.display(locale))
                .unwrap_or_default();
            (p.id.to_owned(), tr.t(p.name_key), price)
        })
        .collect();
    let other = if locale == Locale::En {
        Locale::Tr
    } else {
        Locale::En
    };
    let page = ShopPage {
        nestpay: shop.inner.nestpay.is_some(),
        tr,
        products,
        notifications,
        latest,
        other_lang: other.as_str(),
        other_lang_name: Tr::new(other).t("demo-language-name"),
    };
    let mut resp = render(&page, StatusCode::OK);
    // "Buy (API)" posts to the shop, which answers with a redirect to Kapı: browsers hold a
    // form's redirects to the page's form-action too.
    let kapi: Vec<String> = crate::web::security::origin_of(&shop.inner.kapi_url)
        .into_iter()
        .collect();
    crate::web::security::allow(&mut resp, &kapi, &[]);
    resp
}

/// Builds the signed start form and auto-posts it to Kapı, as a merchant's page would.
async fn buy(State(shop): State<DemoShop>, RawForm(form): RawForm) -> Response {
    let get = |n: &str| crate::form::value(&form, n).to_owned();
    let locale = Locale::parse_lenient(&get("lang"));
    let tr = Tr::new(locale);
    let Some(product) = PRODUCTS.iter().find(|p| p.id == get("product")) else {
        return refuse(StatusCode::BAD_REQUEST, tr.t("demo-error-unknown-product"));
    };
    let s = &shop.inner;
    let order_id = format!("DEMO-{}-{}", s.clock.now_secs(), &random_token(3));
    let fields: Vec<(String, String)> = [
        ("merchant_id", s.merchant_id.clone()),
        ("order_id", order_id.clone()),
        ("amount", product.price.to_owned()),
        ("currency", "TRY".to_owned()),
        ("ok_url", format!("{}/ok", s.shop_url)),
        ("fail_url", format!("{}/fail", s.shop_url)),
        ("callback_url", format!("{}/callback", s.shop_url)),
        ("lang", locale.as_str().to_owned()),
        ("installment", "1".to_owned()),
        ("description", tr.t(product.name_key)),
        ("customer_name", "Ayşe Yılmaz".to_owned()),
        ("customer_email", "ayse@example.com".to_owned()),
        ("customer_phone", "+90 532 000 00 00".to_owned()),
        ("timestamp", s.clock.now_secs().to_string()),
        ("nonce", random_token(16)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let Ok(fields) = signature::signed(fields, &s.secret) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, tr.t("demo-error-sign"));
    };
    shop.remember_order(&order_id, locale);
    PostRedirect {
        title: tr.t("demo-redirect-title"),
        message: tr.t("demo-redirect-text"),
        button: tr.t("continue"),
        action: format!("{}/pay", s.kapi_url),
        fields,
        delay_ms: 0,
        tr,
    }
    .into_response()
}

#[derive(Template)]
#[template(path = "demo/result.html")]
struct ResultPage {
    tr: Tr,
    order_id: String,
    ok: bool,
    title: String,
    /// Whether the result's signature verified; `None` for the shop's own pages (a capture).
    signature_ok: Option<bool>,
    fields: Vec<(String, String)>,
    /// A NestPay pre-authorisation held this amount: the shop may capture it (`PostAuth`).
    capture_amount: Option<String>,
    /// The shop's token for that capture form: only a page the shop showed can capture.
    capture_token: String,
}

/// The browser brings the signed result back to ok_url / fail_url.
async fn back(
    State(shop): State<DemoShop>,
    headers: HeaderMap,
    RawForm(fields): RawForm,
) -> Response {
    let signature_ok = shop.verify(&fields);
    let get = |n: &str| crate::form::value(&fields, n);
    let ok = signature_ok && get("status") == "approved" && get("proc_return_code") == "00";
    let outcome = Outcome {
        ok,
        signature_ok,
        order_field: "order_id",
        signature_field: "signature",
        held: None,
    };
    result_page(&shop, &headers, fields, &outcome)
}

/// What the shop concluded from a result, and where the result keeps its order id and
/// signature.
struct Outcome {
    ok: bool,
    signature_ok: bool,
    order_field: &'static str,
    signature_field: &'static str,
    /// An approved NestPay pre-authorisation: the held amount, which the shop may capture.
    held: Option<String>,
}

/// The shop's page for a result brought back by the browser, in the language the order was
/// placed in (the browser's for an order the shop does not know).
fn result_page(
    shop: &DemoShop,
    headers: &HeaderMap,
    fields: Vec<(String, String)>,
    outcome: &Outcome,
) -> Response {
    let order_id = crate::form::value(&fields, outcome.order_field).to_owned();
    let locale = shop
        .order_locale(&order_id)
        .unwrap_or_else(|| preferred(headers));
    let capture_token = nestpay::capture_token(shop, &order_id);
    let tr = Tr::new(locale);
    let title = match (outcome.ok, &outcome.held) {
        (true, Some(_)) => tr.t("demo-held-title"),
        (true, None) => tr.t("demo-ok-title"),
        (false, _) => tr.t("demo-fail-title"),
    };
    let page = ResultPage {
        tr,
        order_id,
        ok: outcome.ok,
        title,
        signature_ok: Some(outcome.signature_ok),
        fields: fields
            .into_iter()
            .filter(|(k, _)| k != outcome.signature_field)
            .collect(),
        capture_amount: outcome.held.clone().filter(|_| outcome.ok),
        capture_token,
    };
    render(&page, StatusCode::OK)
}

/// Server-to-server: the callback URL gets both the signed form result and JSON events;
/// they are told apart by their content type.
async fn callback(State(shop): State<DemoShop>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.contains_key("kapi-event-id") {
        return event(&shop, &headers, &body);
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let signature_ok = shop.verify(&fields);
    let get = |n: &str| crate::form::value(&fields, n).to_owned();
    shop.remember(Notification {
        via: "form".into(),
        order_id: get("order_id"),
        status: get("status"),
        amount: format!("{} {}", get("amount"), get("currency")),
        signature_ok,
    });
    if signature_ok {
        (StatusCode::OK, "OK").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "bad signature").into_response()
    }
}

/// The merchant's default webhook URL: JSON events for payments without a callback_url.
async fn webhook(State(shop): State<DemoShop>, headers: HeaderMap, body: Bytes) -> Response {
    event(&shop, &headers, &body)
}

fn event(shop: &DemoShop, headers: &HeaderMap, body: &[u8]) -> Response {
    let signature = headers
        .get("kapi-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let signature_ok = shop.verify_event(signature, body);
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let payment = json
        .pointer("/data/payment")
        .unwrap_or(&serde_json::Value::Null);
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    shop.remember(Notification {
        via: Some(text(&json, "type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "?".to_owned()),
        order_id: text(payment, "order_id"),
        status: text(payment, "status"),
        amount: format!("{} {}", text(payment, "amount"), text(payment, "currency")),
        signature_ok,
    });
    if signature_ok {
        (StatusCode::OK, "OK").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "bad signature").into_response()
    }
}

/// The API way: the shop's server creates a checkout session and sends the shopper to it.
async fn buy_api(State(shop): State<DemoShop>, RawForm(form): RawForm) -> Response {
    let get = |n: &str| crate::form::value(&form, n).to_owned();
    let locale = Locale::parse_lenient(&get("lang"));
    let tr = Tr::new(locale);
    let Some(product) = PRODUCTS.iter().find(|p| p.id == get("product")) else {
        return refuse(StatusCode::BAD_REQUEST, tr.t("demo-error-unknown-product"));
    };
    let s = &shop.inner;
    let order_id = format!("DEMOAPI-{}-{}", s.clock.now_secs(), random_token(3));
    let body = serde_json::json!({
        "order_id": order_id,
        "amount": product.price,
        "currency": "TRY",
        "ok_url": format!("{}/ok", s.shop_url),
        "fail_url": format!("{}/fail", s.shop_url),
        "lang": locale.as_str(),
        "description": tr.t(product.name_key),
        "customer": {"name": "Ayşe Yılmaz", "email": "ayse@example.com", "phone": "+90 532 000 00 00"},
    });
    let created = s
        .http
        .post(format!("{}/api/v1/checkout-sessions", s.kapi_url))
        .bearer_auth(s.secret.expose_secret())
        .header("Idempotency-Key", random_token(16))
        .json(&body)
        .send()
        .await;
    let session: serde_json::Value = match created {
        Ok(resp) if resp.status().is_success() => resp.json().await.unwrap_or_default(),
        Ok(resp) => {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            return refuse(
                StatusCode::BAD_GATEWAY,
                tr.t_with(
                    "demo-error-refused",
                    &[("status", status.as_str()), ("detail", &text)],
                ),
            );
        }
        Err(e) => {
            return refuse(
                StatusCode::BAD_GATEWAY,
                tr.t_with(
                    "demo-error-unreachable",
                    &[("detail", &e.without_url().to_string())],
                ),
            );
        }
    };
    match session.get("url").and_then(serde_json::Value::as_str) {
        Some(url) => {
            shop.remember_order(&order_id, locale);
            Redirect::to(url).into_response()
        }
        None => refuse(StatusCode::BAD_GATEWAY, tr.t("demo-error-no-url")),
    }
}

#[derive(Template)]
#[template(path = "demo/api.html")]
struct ApiPage {
    tr: Tr,
    request: String,
    status: String,
    body: String,
}

/// What the merchant's server sees of an order through Kapı's API: the shop asks
/// `GET /api/v1/payments?order_id=` with its key and shows the answer as it came.
async fn api_view(State(shop): State<DemoShop>, query: axum::extract::RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.0.as_deref().unwrap_or("")).unwrap_or_default();
    let locale = Locale::parse_lenient(crate::form::value(&pairs, "lang"));
    let tr = Tr::new(locale);
    let order_id = crate::form::value(&pairs, "order_id").to_owned();
    let s = &shop.inner;
    let request = format!(
        "GET {}/api/v1/payments?order_id={}",
        s.kapi_url,
        url_encode(&order_id)
    );
    let answer = s
        .http
        .get(format!(
            "{}/api/v1/payments?order_id={}",
            s.kapi_url,
            url_encode(&order_id)
        ))
        .bearer_auth(s.secret.expose_secret())
        .send()
        .await;
    let (status, body) = match answer {
        Ok(resp) => {
            let status = resp.status().to_string();
            let text = resp.text().await.unwrap_or_default();
            let pretty = serde_json::from_str::<serde_json::Value>(&text)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or(text);
            (status, pretty)
        }
        Err(e) => (
            String::new(),
            tr.t_with(
                "demo-error-unreachable",
                &[("detail", &e.without_url().to_string())],
            ),
        ),
    };
    let page = ApiPage {
        tr,
        request,
        status,
        body,
    };
    render(&page, StatusCode::OK)
}

fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}
