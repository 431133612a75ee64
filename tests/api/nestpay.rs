//! NestPay's ways in (`/fim/est3Dgate`, `/fim/api`), driven as a merchant's NestPay client
//! drives a bank: the client below is written from the published rules (bank-protocols.md §1),
//! not from Kapı's code — its ver3 hash signs the requests and checks every result.

use std::{cmp::Ordering, time::Duration};

use base64::Engine as _;
use kapi::{
    clock::Clock as _,
    merchants::{NestpayChange, NestpayCredentials, configure_nestpay},
};
use reqwest::{StatusCode, header::CONTENT_TYPE};
use secrecy::SecretString;
use sha2::{Digest, Sha512};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// The merchant's NestPay set-up

const CLIENT_ID: &str = "700655000200";
/// With a `|` and a `\`: the store key is escaped like a value before it is hashed.
const STORE_KEY: &str = "TRPS0200|St\\ore";
const API_USER: &str = "kapiapi";
/// With Turkish letters: a request in ISO-8859-9 only matches it when decoded as such.
const API_PASSWORD: &str = "Şifre-ğüıİ-2024";

async fn configure(app: &TestApp, change: NestpayChange) {
    configure_nestpay(
        &*app.app_state.storage.merchants,
        &app.app_state.vault,
        &app.merchant_id,
        change,
        app.clock.now_ms(),
    )
    .await
    .unwrap();
}

/// A Kapı whose test merchant has its NestPay credentials (Kapı shows the consents).
async fn nestpay_app() -> TestApp {
    nestpay_app_with(|_| {}).await
}

/// As `nestpay_app`, with settings of the test's own.
async fn nestpay_app_with(settings: impl FnOnce(&mut kapi::config::Settings)) -> TestApp {
    let app = spawn_app_with(settings).await;
    configure(
        &app,
        NestpayChange::Set(NestpayCredentials {
            client_id: CLIENT_ID.to_owned(),
            store_key: SecretString::from(STORE_KEY.to_owned()),
            api_user: API_USER.to_owned(),
            api_password: SecretString::from(API_PASSWORD.to_owned()),
        }),
    )
    .await;
    app
}

// ---------------------------------------------------------------------------------------------
// The client's hash ver3

/// Names left out of a request's hash, and out of a result's (`HASH` is `hash` in any case).
const REQUEST_EXCLUDED: &[&str] = &["hash", "encoding"];
const RESULT_EXCLUDED: &[&str] = &["hash", "encoding", "nationalidno"];

/// A piece of a field name as PHP's `strnatcasecmp` sees it.
enum Piece {
    /// A run of digits, without its leading zeros (compared by value).
    Number(String),
    /// Any other character, folded to upper case.
    Letter(char),
}

fn pieces(name: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push(Piece::Number(
                std::mem::take(&mut digits)
                    .trim_start_matches('0')
                    .to_owned(),
            ));
        }
        out.push(Piece::Letter(c.to_ascii_uppercase()));
    }
    if !digits.is_empty() {
        out.push(Piece::Number(digits.trim_start_matches('0').to_owned()));
    }
    out
}

/// NestPay's order of names: case-insensitive (upper case, so `_` after letters), digit runs
/// by value (`Field1`, `field2`, `Field10`).
fn natural_order(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (pieces(a), pieces(b));
    for (x, y) in pa.iter().zip(&pb) {
        let order = match (x, y) {
            (Piece::Number(m), Piece::Number(n)) => m.len().cmp(&n.len()).then_with(|| m.cmp(n)),
            (Piece::Letter(c), Piece::Letter(d)) => c.cmp(d),
            (Piece::Number(_), Piece::Letter(d)) => '0'.cmp(d),
            (Piece::Letter(c), Piece::Number(_)) => c.cmp(&'0'),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    pa.len().cmp(&pb.len())
}

/// `\` → `\\`, then `|` → `\|`.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('|', "\\|")
}

/// The plaintext: the values of the fields not excluded, in name order, escaped, each followed
/// by `|`, then the escaped key.
fn plaintext(fields: &Fields, excluded: &[&str], key: &str) -> String {
    let mut kept: Vec<&(String, String)> = fields
        .iter()
        .filter(|f| !excluded.iter().any(|x| x.eq_ignore_ascii_case(&f.0)))
        .collect();
    kept.sort_by(|a, b| natural_order(&a.0, &b.0));
    let mut plain: String = kept.iter().map(|f| escape(&f.1) + "|").collect();
    plain.push_str(&escape(key));
    plain
}

fn ver3(fields: &Fields, excluded: &[&str], key: &str) -> String {
    let digest = Sha512::digest(plaintext(fields, excluded, key).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// The request signed as a NestPay client signs it: `hash` over every other field.
fn signed(mut fields: Fields) -> Fields {
    fields.retain(|(n, _)| !n.eq_ignore_ascii_case("hash"));
    let hash = ver3(&fields, REQUEST_EXCLUDED, STORE_KEY);
    fields.push(("hash".to_owned(), hash));
    fields
}

/// The client's check of a result: its `HASH` over every field it received.
fn result_hash_ok(fields: &Fields) -> bool {
    let sent = field(fields, "HASH");
    !sent.is_empty() && ver3(fields, RESULT_EXCLUDED, STORE_KEY) == sent
}

fn fields_of(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_test_client_reproduces_the_published_ver3_vectors() {
    // bank-protocols.md §1.4.3 (mews tests), store key 123456.
    let mut fields = fields_of(&[
        ("clientid", "190100000"),
        ("storetype", "3d_pay"),
        ("amount", "100.25"),
        ("oid", "order222"),
        ("okUrl", "https://domain.com/success"),
        ("failUrl", "https://domain.com/fail_url"),
        ("rnd", "rand"),
        ("lang", "tr"),
        ("currency", "949"),
        ("taksit", ""),
        ("islemtipi", "Auth"),
        ("firmaadi", "siparis veren"),
        ("Email", "test@test.com"),
        ("hashAlgorithm", "ver3"),
    ]);
    assert_eq!(
        plaintext(&fields, REQUEST_EXCLUDED, "123456"),
        "100.25|190100000|949|test@test.com|https://domain.com/fail_url|siparis veren|ver3|\
         Auth|tr|order222|https://domain.com/success|rand|3d_pay||123456"
    );
    assert_eq!(
        ver3(&fields, REQUEST_EXCLUDED, "123456"),
        "/uPxhEKWCEGi3NsDOOQ4u8Hu5g71v5GWspOid70WehTWEz97PqxG3IN1Jv5jsbOXOw3Z3Rr/0UtywzEgbqFfdA=="
    );
    // `hash` and `encoding` in any case take no part.
    fields.push(("HASH".into(), "x".into()));
    fields.push(("Encoding".into(), "UTF-8".into()));
    assert_eq!(
        ver3(&fields, REQUEST_EXCLUDED, "123456"),
        "/uPxhEKWCEGi3NsDOOQ4u8Hu5g71v5GWspOid70WehTWEz97PqxG3IN1Jv5jsbOXOw3Z3Rr/0UtywzEgbqFfdA=="
    );
    let second = fields_of(&[
        ("clientid", "190100000"),
        ("storetype", "3d"),
        ("amount", "100.25"),
        ("oid", "order222"),
        ("okUrl", "https://domain.com/success"),
        ("failUrl", "https://domain.com/fail_url"),
        ("rnd", "12345"),
        ("lang", "tr"),
        ("currency", "949"),
        ("taksit", ""),
        ("islemtipi", "Auth"),
        ("hashAlgorithm", "ver3"),
    ]);
    assert_eq!(
        ver3(&second, REQUEST_EXCLUDED, "123456"),
        "4aUsG5hqlIFLc9s8PKc5rWb2OLhmxDDewNgKa2XrwoYCIxlyVq8Fjl4IVaZzoqL983CfTseicmnTA0PjZr74xg=="
    );
}

#[test]
fn the_test_client_sorts_naturally_and_escapes_in_order() {
    let mut names = vec!["Field10", "field2", "F_x", "Field1", "FA", "amount"];
    names.sort_by(|a, b| natural_order(a, b));
    assert_eq!(
        names,
        ["amount", "FA", "Field1", "field2", "Field10", "F_x"]
    );
    assert_eq!(escape(r"a\|b"), r"a\\\|b");
    let fields = fields_of(&[("b", "x|y"), ("a", r"p\q")]);
    assert_eq!(plaintext(&fields, &[], r"k|\"), r"p\\q|x\|y|k\|\\");
}

// ---------------------------------------------------------------------------------------------
// The client's gate requests

/// The fields a NestPay client posts to the gate (unsigned); `extra` replaces or adds fields.
fn gate_form(
    app: &TestApp,
    store_type: &str,
    oid: &str,
    amount: &str,
    extra: &[(&str, &str)],
) -> Fields {
    let mut fields = fields_of(&[
        ("clientid", CLIENT_ID),
        ("storetype", store_type),
        ("amount", amount),
        ("oid", oid),
        ("okUrl", &format!("{}/ok", app.receiver_url)),
        ("failUrl", &format!("{}/fail", app.receiver_url)),
        // As PHP's microtime() prints it: with a space.
        (
            "rnd",
            &format!(
                "0.{} {}",
                kapi::domain::ids::random_token(4),
                app.clock.now_secs()
            ),
        ),
        ("lang", "tr"),
        ("currency", "949"),
        ("taksit", ""),
        ("TranType", "Auth"),
        ("hashAlgorithm", "ver3"),
        ("refreshtime", "10"),
        ("BillToName", "Ayşe Yılmaz"),
        ("email", "ayse@example.com"),
        ("encoding", "UTF-8"),
    ]);
    for (k, v) in extra {
        set(&mut fields, k, v);
    }
    fields
}

fn set(fields: &mut Fields, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(f) => f.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

fn without(mut fields: Fields, name: &str) -> Fields {
    fields.retain(|(n, _)| n != name);
    fields
}

fn has(fields: &Fields, name: &str) -> bool {
    fields.iter().any(|(n, _)| n == name)
}

/// `3d_pay`'s card fields, as the shop's own card form posts them.
fn with_card(mut fields: Fields, pan: &str, month: &str, year: &str) -> Fields {
    let cvv = if pan.len() == 15 { "1234" } else { "123" };
    for (k, v) in [
        ("pan", pan),
        ("Ecom_Payment_Card_ExpDate_Month", month),
        ("Ecom_Payment_Card_ExpDate_Year", year),
        ("cv2", cvv),
    ] {
        set(&mut fields, k, v);
    }
    fields
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

async fn post_gate(app: &TestApp, fields: &Fields) -> Page {
    app.post_form("/fim/est3Dgate", fields).await
}

/// The payment id from the gate's `303 /checkout/{id}` (or `/checkout/{id}/result`).
fn checkout_id(page: &Page) -> String {
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location.as_deref().unwrap();
    let (_, rest) = location
        .split_once("/checkout/")
        .unwrap_or_else(|| panic!("not to the checkout: {location}"));
    rest.split('/').next().unwrap().to_owned()
}

/// `3d_pay_hosting`: the gate, Kapı's card page with `card`, 3-D Secure; the id and the
/// result page.
async fn pay_hosting(app: &TestApp, fields: &Fields, card: &str) -> (String, Page) {
    let gate = post_gate(app, fields).await;
    let id = checkout_id(&gate);
    let result = app.complete_3ds(app.submit_card(&id, card).await).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    (id, result)
}

/// An order paid through `3d_pay_hosting` with the frictionless card: its oid, payment id and
/// what the merchant's okUrl received.
async fn approved_order(app: &TestApp, amount: &str) -> (String, String, Received) {
    let oid = random_id("NP");
    let posted = signed(gate_form(app, "3d_pay_hosting", &oid, amount, &[]));
    let (id, result) = pay_hosting(app, &posted, MC_FRICTIONLESS).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert_eq!(got.get("Response"), "Approved", "{:?}", got.fields);
    (oid, id, got)
}

// ---------------------------------------------------------------------------------------------
// What every result must be

/// Present in every result, even empty.
const ALWAYS: &[&str] = &[
    "storetype",
    "oid",
    "maskedCreditCard",
    "Ecom_Payment_Card_ExpDate_Month",
    "Ecom_Payment_Card_ExpDate_Year",
    "amount",
    "currency",
    "taksit",
    "mdErrorMsg",
    "ErrMsg",
];

/// Non-empty in an approved result.
const WHEN_APPROVED: &[&str] = &[
    "AuthCode",
    "eci",
    "cavv",
    "TransId",
    "HostRefNum",
    "EXTRA_TRXDATE",
];

/// Posted fields a result does not echo as posted.
const NOT_ECHOED: &[&str] = &[
    "hash",
    "encoding",
    "pan",
    "cv2",
    "Ecom_Payment_Card_ExpDate_Month",
    "Ecom_Payment_Card_ExpDate_Year",
    "cardHolderName",
    "amount",
];

/// `100.1` → `100.10`, `100` → `100.00`.
fn two_decimals(amount: &str) -> String {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    format!("{whole}.{fraction:0<2}")
}

/// `YYYYMMDD HH:MM:SS`.
fn is_trxdate(s: &str) -> bool {
    s.len() == 17
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 => c == b' ',
            11 | 14 => c == b':',
            _ => c.is_ascii_digit(),
        })
        && (1..=12).contains(&s[4..6].parse::<u32>().unwrap_or(0))
        && s[9..11].parse::<u32>().unwrap_or(99) < 24
}

/// NestPay's `4355 08** **** 4358` (or any masking): first 6 and last 4 digits, the rest hidden.
fn assert_masked(masked: &str, card: &str, ctx: &str) {
    let card = digits(card);
    assert_eq!(
        digits(masked),
        format!("{}{}", &card[..6], &card[card.len() - 4..]),
        "{ctx}: {masked}"
    );
    assert!(masked.contains('*'), "{ctx}: {masked}");
}

/// What a result posted to okUrl/failUrl (or callbackUrl) must be, whatever the outcome, for
/// the fields the client `posted`.
fn assert_nestpay_result(got: &Fields, posted: &Fields, ctx: &str) {
    assert!(
        result_hash_ok(got),
        "{ctx}: the client's HASH check fails: {got:?}"
    );
    assert_eq!(field(got, "hashAlgorithm"), "ver3", "{ctx}");
    for name in ALWAYS {
        assert!(has(got, name), "{ctx}: {name} missing: {got:?}");
    }
    // Each name once (in any letter case), none that PHP would rewrite.
    let mut names: Vec<String> = got.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "{ctx}: a field posted twice: {got:?}");
    for (name, _) in got {
        assert!(
            !name.contains('.') && !name.contains(' '),
            "{ctx}: PHP rewrites {name:?}"
        );
        assert_ne!(name, "hash", "{ctx}: the request's hash is not echoed");
        for card in ["pan", "cv2", "cardholdername"] {
            assert!(!name.eq_ignore_ascii_case(card), "{ctx}: {name} sent back");
        }
    }
    // A card number never goes back: no value holds the posted one.
    let pan = field(posted, "pan");
    if !pan.is_empty() {
        assert!(
            got.iter().all(|(_, v)| !digits(v).contains(pan)),
            "{ctx}: the card number is in the result"
        );
    }
    // Every other field as posted; the amount with two decimals.
    for (name, value) in posted {
        if NOT_ECHOED.iter().any(|x| x.eq_ignore_ascii_case(name)) {
            continue;
        }
        assert!(has(got, name), "{ctx}: {name} not echoed: {got:?}");
        assert_eq!(field(got, name), value, "{ctx}: {name} echoed unchanged");
    }
    assert_eq!(
        field(got, "amount"),
        two_decimals(field(posted, "amount")),
        "{ctx}"
    );
    for expiry in [
        "Ecom_Payment_Card_ExpDate_Month",
        "Ecom_Payment_Card_ExpDate_Year",
    ] {
        let v = field(got, expiry);
        assert!(
            v.is_empty() || (v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit())),
            "{ctx}: {expiry} = {v:?}"
        );
    }
    if field(got, "Response") == "Approved" {
        assert_eq!(field(got, "ProcReturnCode"), "00", "{ctx}");
        for name in WHEN_APPROVED {
            assert!(!field(got, name).is_empty(), "{ctx}: {name} empty: {got:?}");
        }
        assert!(is_trxdate(field(got, "EXTRA_TRXDATE")), "{ctx}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 3d_pay_hosting

#[tokio::test]
async fn pay_hosting_approved_posts_a_signed_result_to_ok_url() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    // The shop's own fields: one with `|` and `\`, and names that sort differently naturally
    // than character by character.
    let note = r"Kırmızı kazak | beden M \ uzun";
    let posted = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &oid,
        "100.1",
        &[
            ("siparisNotu", note),
            ("Field1", "bir"),
            ("field2", "iki"),
            ("Field10", "on"),
        ],
    ));
    let gate = post_gate(&app, &posted).await;
    let id = checkout_id(&gate);
    assert_eq!(
        gate.location.as_deref(),
        Some(format!("/checkout/{id}").as_str())
    );
    // Kapı's own card page, for the amount posted.
    let page = app.card_page(&id).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(text_of(&page.body, ".amount"), vec!["100,10 TL"]);
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    let form = form_by_id(&result.body, "merchant-return").expect("the result form");
    assert_eq!(form.action, format!("{}/ok", app.receiver_url));
    // A button for browsers without JavaScript (with no name: it would add a field).
    assert!(
        !text_of(
            &result.body,
            "#merchant-return button, #merchant-return input[type=submit]"
        )
        .is_empty(),
        "{}",
        result.body
    );
    assert!(
        !result.body.contains("5555555555554444") && !result.body.contains("5555 5555 5555 4444")
    );

    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    let f = &got.fields;
    assert_nestpay_result(f, &posted, "3d_pay_hosting");
    assert_eq!(got.get("Response"), "Approved");
    assert_eq!(got.get("ProcReturnCode"), "00");
    assert_eq!(got.get("mdStatus"), "1");
    assert_eq!(got.get("amount"), "100.10");
    assert_eq!(got.get("storetype"), "3d_pay_hosting");
    assert_eq!(got.get("oid"), oid);
    assert_eq!(got.get("clientid"), CLIENT_ID);
    assert_eq!(got.get("currency"), "949");
    assert_eq!(got.get("taksit"), "");
    assert_eq!(got.get("TranType"), "Auth");
    assert_eq!(got.get("siparisNotu"), note);
    assert_eq!(
        [got.get("Field1"), got.get("field2"), got.get("Field10")],
        ["bir", "iki", "on"]
    );
    assert_masked(
        got.get("maskedCreditCard"),
        MC_FRICTIONLESS,
        "3d_pay_hosting",
    );
    assert_eq!(got.get("Ecom_Payment_Card_ExpDate_Month"), "12");
    assert_eq!(got.get("Ecom_Payment_Card_ExpDate_Year"), "30");
    assert!(
        is_trxdate(got.get("EXTRA_TRXDATE")),
        "{}",
        got.get("EXTRA_TRXDATE")
    );
    assert_eq!(got.get("ErrMsg"), "");
    assert!(!String::from_utf8_lossy(&got.raw).contains("5555555555554444"));

    // The same payment, in Kapı's own API.
    let (status, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "approved", "{p}");
    assert_eq!(p["order_id"], oid.as_str());
    assert_eq!(p["amount"], "100.10");
    assert_eq!(p["authorisation"]["auth_code"], got.get("AuthCode"));
    assert_eq!(p["authorisation"]["host_ref"], got.get("HostRefNum"));
    assert_eq!(app.bank_transactions(&oid).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3d_pay

#[tokio::test]
async fn pay_with_the_merchant_showing_consents_goes_straight_to_3ds() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;

    // A card the issuer challenges: the gate's answer sends the browser to the ACS.
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "250.5", &[]),
        "4111111111111111",
        "7",
        "2030",
    ));
    let gate = post_gate(&app, &posted).await;
    assert_eq!(gate.status, StatusCode::OK, "{}", gate.body);
    let to_acs = forms(&gate.body)
        .into_iter()
        .next()
        .expect("a form to the ACS");
    assert!(to_acs.action.contains("/sim/acs/"), "{}", to_acs.action);
    assert!(!gate.body.contains("4111111111111111"));
    let result = app.complete_3ds(gate).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert!(!result.body.contains("4111111111111111"));
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert_nestpay_result(&got.fields, &posted, "3d_pay challenge");
    assert_eq!(got.get("Response"), "Approved");
    assert_eq!(got.get("ProcReturnCode"), "00");
    assert_eq!(got.get("mdStatus"), "1");
    assert_eq!(got.get("eci"), "05");
    assert_eq!(got.get("storetype"), "3d_pay");
    assert_eq!(got.get("amount"), "250.50");
    assert_eq!(got.get("Ecom_Payment_Card_ExpDate_Month"), "07");
    assert_eq!(got.get("Ecom_Payment_Card_ExpDate_Year"), "30");
    assert_masked(got.get("maskedCreditCard"), "4111111111111111", "3d_pay");
    assert!(!String::from_utf8_lossy(&got.raw).contains("4111111111111111"));

    // Insufficient funds: the signed refusal goes to failUrl.
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "250.5", &[]),
        "4000000000009995",
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(&app, &posted).await).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/fail");
    assert_nestpay_result(&got.fields, &posted, "3d_pay declined");
    assert_eq!(got.get("Response"), "Declined");
    assert_eq!(got.get("ProcReturnCode"), "51");
    assert_eq!(got.get("mdStatus"), "1");
    assert_eq!(got.get("AuthCode"), "");
    assert!(!got.get("ErrMsg").is_empty());
    assert_masked(
        got.get("maskedCreditCard"),
        "4000000000009995",
        "3d_pay declined",
    );
}

/// The consent page of a `3d_pay` payment: the two documents and their boxes, no card fields.
fn assert_consent_page(page: &Page, id: &str, card: &str, status: StatusCode) {
    assert_eq!(page.status, status, "{}", page.body);
    let form = form_by_id(&page.body, "card-form").expect("the consent form");
    assert_eq!(form.action, format!("/checkout/{id}"));
    let names: Vec<&str> = form.fields.iter().map(|(n, _)| n.as_str()).collect();
    for wanted in ["csrf_token", "consent_preinfo", "consent_contract"] {
        assert!(names.contains(&wanted), "{wanted} missing: {names:?}");
    }
    for card_field in [
        "card_number",
        "card_holder",
        "cvv",
        "exp_month",
        "exp_year",
        "pan",
        "cv2",
    ] {
        assert!(
            !names.contains(&card_field),
            "{card_field} on the consent page"
        );
    }
    assert!(!page.body.contains("autocomplete=\"cc-number\""));
    assert!(page.body.contains("Ön Bilgilendirme Formu"));
    assert!(page.body.contains("Mesafeli Satış Sözleşmesi"));
    assert!(!page.body.contains(card), "the card number is on the page");
    let doc = scraper::Html::parse_document(&page.body);
    for name in ["consent_preinfo", "consent_contract"] {
        let sel = scraper::Selector::parse(&format!("input[type=checkbox][name={name}]")).unwrap();
        let boxes: Vec<_> = doc.select(&sel).collect();
        assert_eq!(boxes.len(), 1, "{name}");
        assert!(
            boxes[0].value().attr("checked").is_none(),
            "{name} ticked for the shopper"
        );
    }
}

#[tokio::test]
async fn pay_with_kapi_showing_consents_asks_for_them_without_card_fields() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let card = "5555555555554444";
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "100.25", &[]),
        card,
        "12",
        "30",
    ));
    let gate = post_gate(&app, &posted).await;
    let id = checkout_id(&gate);
    let page = app.card_page(&id).await;
    assert_consent_page(&page, &id, card, StatusCode::OK);
    let path = format!("/checkout/{id}");

    // Without ticking the boxes: the page again, with an error, and nothing charged.
    let csrf = field(
        &form_by_id(&page.body, "card-form").unwrap().fields,
        "csrf_token",
    )
    .to_owned();
    let again = app
        .post_form(&path, &fields_of(&[("csrf_token", &csrf)]))
        .await;
    // As the card page answers a form with errors.
    assert_consent_page(&again, &id, card, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = [
        text_of(&again.body, "#consent_preinfo-error"),
        text_of(&again.body, "#consent_contract-error"),
    ]
    .concat();
    assert!(errors.iter().any(|e| !e.is_empty()), "{}", again.body);
    assert!(app.bank_transactions(&oid).await.is_empty());
    assert!(
        app.app_state
            .storage
            .payments
            .consents(&id)
            .await
            .unwrap()
            .is_empty()
    );

    // Ticked: on to 3-D Secure and the bank.
    let csrf = field(
        &form_by_id(&again.body, "card-form").unwrap().fields,
        "csrf_token",
    )
    .to_owned();
    let submit = app
        .post_form(
            &path,
            &fields_of(&[
                ("csrf_token", &csrf),
                ("consent_preinfo", "yes"),
                ("consent_contract", "yes"),
            ]),
        )
        .await;
    let result = app.complete_3ds(submit).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert_nestpay_result(&got.fields, &posted, "3d_pay after consents");
    assert_eq!(got.get("Response"), "Approved");
    assert_eq!(got.get("storetype"), "3d_pay");
    assert_eq!(got.get("amount"), "100.25");

    let consents = app.app_state.storage.payments.consents(&id).await.unwrap();
    let kinds: Vec<&str> = consents.iter().map(|c| c.document_kind.as_str()).collect();
    assert_eq!(kinds, ["pre_information_form", "distance_sales_contract"]);
    for c in &consents {
        assert_eq!(c.client_ip, "127.0.0.1");
        assert_eq!(c.user_agent, "kapi-tests/1.0");
        assert!(!c.text_sha256.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// The client's hash check

#[tokio::test]
async fn a_tampered_result_fails_the_clients_hash_check() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "100.25", &[("sepet", r"a|b\c")]),
        "5555555555554444",
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(&app, &posted).await).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("Response"), "Approved");
    assert!(result_hash_ok(&got.fields), "{:?}", got.fields);

    // Any one value changed, whichever: the HASH covers every field.
    for (i, (name, value)) in got.fields.iter().enumerate() {
        if RESULT_EXCLUDED.iter().any(|x| x.eq_ignore_ascii_case(name)) {
            continue;
        }
        let mut tampered = got.fields.clone();
        tampered[i].1 = if value.is_empty() {
            "1".to_owned()
        } else {
            format!("{value}0")
        };
        assert!(
            !result_hash_ok(&tampered),
            "{name} changed and the HASH still matches"
        );
    }
    // A field dropped, or one added.
    let dropped = without(got.fields.clone(), "mdStatus");
    assert!(!result_hash_ok(&dropped));
    let mut added = got.fields.clone();
    added.push(("indirim".to_owned(), "100".to_owned()));
    assert!(!result_hash_ok(&added));
    // Signed with another key.
    assert_ne!(
        ver3(&got.fields, RESULT_EXCLUDED, "another key"),
        got.get("HASH")
    );

    // A decline dressed up as an approval.
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "100.25", &[]),
        "5100000000000057",
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(&app, &posted).await).await;
    let declined = app.return_to_merchant(&result).await;
    assert_eq!(declined.path, "/fail");
    assert!(result_hash_ok(&declined.fields));
    let mut forged = declined.fields.clone();
    set(&mut forged, "Response", "Approved");
    set(&mut forged, "ProcReturnCode", "00");
    assert!(!result_hash_ok(&forged));
}

// ---------------------------------------------------------------------------------------------
// Refusals

/// A refusal with a good failUrl: an auto-posted, signed error result to failUrl, never a
/// redirect, never a form to anywhere else. Returns its fields.
fn refusal(app: &TestApp, page: &Page, ctx: &str) -> Fields {
    assert!(
        page.location.is_none(),
        "{ctx}: a redirect to {:?}",
        page.location
    );
    let fail_url = format!("{}/fail", app.receiver_url);
    let all = forms(&page.body);
    for f in &all {
        assert!(
            f.action == fail_url || !f.action.starts_with("http"),
            "{ctx}: a form to {}",
            f.action
        );
    }
    let got = all
        .into_iter()
        .find(|f| f.action == fail_url)
        .unwrap_or_else(|| panic!("{ctx}: no form to failUrl: {} {}", page.status, page.body))
        .fields;
    assert_eq!(field(&got, "Response"), "Error", "{ctx}: {got:?}");
    assert_eq!(field(&got, "ProcReturnCode"), "99", "{ctx}: {got:?}");
    assert!(!field(&got, "ErrMsg").is_empty(), "{ctx}: {got:?}");
    assert_eq!(field(&got, "AuthCode"), "", "{ctx}");
    assert!(
        result_hash_ok(&got),
        "{ctx}: the client's HASH check fails: {got:?}"
    );
    assert_eq!(field(&got, "hashAlgorithm"), "ver3", "{ctx}");
    for name in ALWAYS {
        assert!(has(&got, name), "{ctx}: {name} missing: {got:?}");
    }
    got
}

/// Kapı's own error page: no form or redirect off Kapı.
fn error_page(page: &Page, ctx: &str) {
    assert!(
        page.status.is_client_error(),
        "{ctx}: {} {}",
        page.status,
        page.body
    );
    assert!(error_code(&page.body).is_some(), "{ctx}: {}", page.body);
    assert!(page.location.is_none(), "{ctx}: {:?}", page.location);
    for f in forms(&page.body) {
        assert!(
            !f.action.starts_with("http"),
            "{ctx}: a form to {}",
            f.action
        );
    }
}

#[tokio::test]
async fn a_bad_hash_posts_a_signed_error_to_fail_url() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let mut posted = signed(gate_form(&app, "3d_pay_hosting", &oid, "100.25", &[]));
    // Changed after signing: the amount a shopper would pay is not the one the shop signed.
    set(&mut posted, "amount", "1.00");
    let page = post_gate(&app, &posted).await;
    let got = refusal(&app, &page, "bad hash");
    // Signed, but nothing a stranger chose is signed back: not the order id, not the amount.
    assert_eq!(field(&got, "oid"), "");
    assert_eq!(field(&got, "amount"), "");
    assert_eq!(field(&got, "clientid"), CLIENT_ID);
    assert!(app.bank_transactions(&oid).await.is_empty());
    // A hash made with another key: the same.
    let oid = random_id("NP");
    let mut posted = without(
        gate_form(&app, "3d_pay_hosting", &oid, "100.25", &[]),
        "hash",
    );
    let hash = ver3(&posted, REQUEST_EXCLUDED, "not the store key");
    posted.push(("hash".to_owned(), hash));
    refusal(&app, &post_gate(&app, &posted).await, "other key");
    assert!(app.bank_transactions(&oid).await.is_empty());
}

#[tokio::test]
async fn an_unknown_client_id_gets_kapis_error_page() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let posted = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &oid,
        "100.25",
        &[("clientid", "999000111222")],
    ));
    let page = post_gate(&app, &posted).await;
    error_page(&page, "unknown clientid");
    assert!(app.bank_transactions(&oid).await.is_empty());
}

#[tokio::test]
async fn unregistered_urls_are_never_posted_or_redirected_to() {
    let app = nestpay_app().await;
    let evil = "https://shop.evil.example";
    // An unregistered okUrl (failUrl good): a signed error to failUrl, or Kapı's error page.
    for (name, url) in [
        ("okUrl", format!("{evil}/ok")),
        ("callbackUrl", format!("{evil}/callback")),
        // Same host, another port: not the registered origin either.
        ("okUrl", "http://127.0.0.1:1/ok".to_owned()),
    ] {
        let oid = random_id("NP");
        let posted = signed(gate_form(
            &app,
            "3d_pay_hosting",
            &oid,
            "10",
            &[(name, &url)],
        ));
        let page = post_gate(&app, &posted).await;
        let ctx = format!("{name}={url}");
        assert!(
            page.location
                .as_deref()
                .is_none_or(|l| !l.contains("evil") && !l.contains(":1/")),
            "{ctx}: {:?}",
            page.location
        );
        if page.status.is_client_error() {
            error_page(&page, &ctx);
        } else {
            refusal(&app, &page, &ctx);
        }
        assert!(app.bank_transactions(&oid).await.is_empty());
    }
    // An unregistered failUrl: nowhere to post the error but Kapı's page.
    let oid = random_id("NP");
    let posted = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &oid,
        "10",
        &[("failUrl", &format!("{evil}/fail"))],
    ));
    let page = post_gate(&app, &posted).await;
    error_page(&page, "unregistered failUrl");
    assert!(forms(&page.body).iter().all(|f| !f.action.contains("evil")));
}

#[tokio::test]
async fn legacy_hashes_are_refused_by_name() {
    let app = nestpay_app().await;
    // ver2, and ver1 (no hashAlgorithm at all).
    let ver2 = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &random_id("NP"),
        "10",
        &[("hashAlgorithm", "ver2")],
    ));
    let ver1 = signed(without(
        gate_form(&app, "3d_pay_hosting", &random_id("NP"), "10", &[]),
        "hashAlgorithm",
    ));
    for (name, posted) in [("ver2", ver2), ("ver1", ver1)] {
        let got = refusal(&app, &post_gate(&app, &posted).await, name);
        assert!(
            field(&got, "ErrMsg").to_lowercase().contains(name),
            "{name}: {}",
            field(&got, "ErrMsg")
        );
    }
}

#[tokio::test]
async fn a_shop_field_named_like_a_result_field_is_refused() {
    let app = nestpay_app().await;
    for (name, value) in [
        ("procreturncode", "00"),
        ("PROCRETURNCODE", "00"),
        ("RESPONSE", "Approved"),
        ("mdstatus", "1"),
        ("authcode", "123456"),
    ] {
        let oid = random_id("NP");
        let posted = signed(gate_form(
            &app,
            "3d_pay_hosting",
            &oid,
            "10",
            &[(name, value)],
        ));
        let got = refusal(&app, &post_gate(&app, &posted).await, name);
        // Kapı never signs the shop's value under a result field's name.
        for (n, v) in &got {
            assert!(
                !(n.eq_ignore_ascii_case(name) && v == value),
                "{name}: Kapı signed {n}={v}"
            );
        }
        assert!(app.bank_transactions(&oid).await.is_empty());
    }
}

#[tokio::test]
async fn other_store_types_and_bad_amounts_or_currencies_are_refused() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    // A model without 3-D Secure is never served.
    let posted = signed(with_card(
        gate_form(&app, "pay_hosting", &oid, "10", &[]),
        "5555555555554444",
        "12",
        "30",
    ));
    let got = refusal(
        &app,
        &post_gate(&app, &posted).await,
        "storetype pay_hosting",
    );
    assert!(
        field(&got, "ErrMsg").to_lowercase().contains("storetype"),
        "{}",
        field(&got, "ErrMsg")
    );
    assert!(got.iter().all(|(_, v)| !v.contains("5555555555554444")));
    for (name, value) in [
        ("amount", "10,50"),
        ("amount", "-5"),
        ("amount", "0"),
        ("amount", "10.505"),
        ("currency", "999"),
    ] {
        let oid = random_id("NP");
        let posted = signed(gate_form(
            &app,
            "3d_pay_hosting",
            &oid,
            "10",
            &[(name, value)],
        ));
        refusal(
            &app,
            &post_gate(&app, &posted).await,
            &format!("{name}={value}"),
        );
        assert!(app.bank_transactions(&oid).await.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// callbackUrl

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not in time");
}

fn sorted(fields: &Fields) -> Fields {
    let mut f = fields.clone();
    f.sort();
    f
}

#[tokio::test]
async fn callback_url_is_retried_until_the_merchant_answers_approved() {
    let app = nestpay_app().await;
    // The merchant's callback answers something else twice (a 200 without `Approved`, then an
    // error), then `Approved`.
    app.receiver.script(
        "/callback",
        &[(200, "OK"), (503, "busy"), (200, "Approved")],
    );
    let oid = random_id("NP");
    let callback_url = format!("{}/callback", app.receiver_url);
    let posted = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &oid,
        "75.5",
        &[("callbackUrl", &callback_url)],
    ));
    let (id, result) = pay_hosting(&app, &posted, MC_FRICTIONLESS).await;
    let browser = app.return_to_merchant(&result).await;
    assert_eq!(browser.get("Response"), "Approved");
    assert_eq!(browser.get("callbackUrl"), callback_url);

    let calls = || -> Vec<Received> {
        app.receiver
            .at("/callback")
            .into_iter()
            .filter(|r| !r.is_event())
            .collect()
    };
    wait_until("three callbacks", || calls().len() >= 3).await;
    // Approved: no more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = calls();
    let answered: Vec<u16> = calls.iter().map(|c| c.answered).collect();
    assert_eq!(
        answered,
        [200, 503, 200],
        "retried until Approved, then no more"
    );
    for c in &calls {
        assert!(
            c.headers["content-type"].starts_with("application/x-www-form-urlencoded"),
            "{:?}",
            c.headers
        );
        assert_nestpay_result(&c.fields, &posted, "callback");
        assert_eq!(
            sorted(&c.fields),
            sorted(&browser.fields),
            "the browser's fields"
        );
    }
    // Kapı's JSON events do not go to the NestPay callback.
    assert!(app.receiver.at("/callback").iter().all(|r| !r.is_event()));
    // The events API lists the callback with its attempts.
    let (status, list) = app
        .get_json(&format!("/api/v1/events?payment_id={id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let event = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "nestpay.callback")
        .unwrap_or_else(|| panic!("no nestpay.callback event: {list}"))
        .clone();
    assert_eq!(event["status"], "delivered", "{event}");
    assert_eq!(event["attempts"], 3, "{event}");
    assert_eq!(event["url"], callback_url.as_str());
}

// ---------------------------------------------------------------------------------------------
// The XML API

/// How a client sends its `CC5Request`.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// The raw XML, `Content-Type: text/xml`.
    TextXml,
    /// The raw XML, `Content-Type: application/xml`.
    ApplicationXml,
    /// The raw XML as the body of `application/x-www-form-urlencoded` (curl's `-d`).
    CurlForm,
    /// A form field `DATA=<xml>` (older clients).
    DataField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    Utf8,
    Iso8859_9,
}

impl Enc {
    fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Iso8859_9 => "ISO-8859-9",
        }
    }
}

/// Turkish ISO-8859-9: Latin-1 with Ğ İ Ş ğ ı ş in place of Ð Ý Þ ð ý þ.
fn iso_8859_9(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            'Ğ' => 0xD0,
            'İ' => 0xDD,
            'Ş' => 0xDE,
            'ğ' => 0xF0,
            'ı' => 0xFD,
            'ş' => 0xFE,
            'Ð' | 'Ý' | 'Þ' | 'ð' | 'ý' | 'þ' => panic!("{c} is not in ISO-8859-9"),
            c => u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{c} is not in ISO-8859-9")),
        })
        .collect()
}

fn from_iso_8859_9(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0xD0 => 'Ğ',
            0xDD => 'İ',
            0xDE => 'Ş',
            0xF0 => 'ğ',
            0xFD => 'ı',
            0xFE => 'ş',
            b => char::from(b),
        })
        .collect()
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The content of the first `<name>` element, as written (`<name/>`: empty).
fn raw_tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    if let Some(start) = xml.find(&open) {
        let rest = &xml[start + open.len()..];
        let end = rest.find(&format!("</{name}>"))?;
        return Some(rest[..end].to_owned());
    }
    (xml.contains(&format!("<{name}/>")) || xml.contains(&format!("<{name} />"))).then(String::new)
}

fn tag(xml: &str, name: &str) -> Option<String> {
    raw_tag(xml, name).map(|v| xml_unescape(v.trim()))
}

/// `encoding="…"` of the XML declaration, if there is one.
fn declared_encoding(xml: &str) -> Option<String> {
    let xml = xml.trim_start_matches('\u{feff}').trim_start();
    if !xml.starts_with("<?xml") {
        return None;
    }
    let declaration = &xml[..xml.find("?>")?];
    let at = declaration.find("encoding=")? + "encoding=".len();
    let rest = &declaration[at..];
    let quote = rest.chars().next()?;
    let rest = &rest[quote.len_utf8()..];
    Some(rest[..rest.find(quote)?].to_owned())
}

/// A `CC5Response` as the client read it.
struct Cc5 {
    xml: String,
}

impl Cc5 {
    fn get(&self, name: &str) -> String {
        tag(&self.xml, name).unwrap_or_else(|| panic!("no <{name}> in {}", self.xml))
    }

    fn extra_xml(&self) -> String {
        raw_tag(&self.xml, "Extra").unwrap_or_else(|| panic!("no <Extra> in {}", self.xml))
    }

    fn extra(&self, name: &str) -> String {
        tag(&self.extra_xml(), name).unwrap_or_else(|| panic!("no Extra/{name} in {}", self.xml))
    }
}

fn cc5_request(enc: Enc, user: &str, password: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"{}\"?>\n<CC5Request>\n  <Name>{}</Name>\n  \
         <Password>{}</Password>\n  <ClientId>{CLIENT_ID}</ClientId>\n  {inner}\n</CC5Request>\n",
        enc.name(),
        xml_text(user),
        xml_text(password),
    )
}

async fn cc5(app: &TestApp, shape: Shape, enc: Enc, inner: &str) -> Cc5 {
    cc5_raw(
        app,
        shape,
        enc,
        &cc5_request(enc, API_USER, API_PASSWORD, inner),
    )
    .await
}

/// Sends `xml` (encoded as `enc`) the way `shape` says; checks what every answer must be: XML,
/// a `CC5Response`, HTTP 200, in the request's encoding.
async fn cc5_raw(app: &TestApp, shape: Shape, enc: Enc, xml: &str) -> Cc5 {
    let bytes = match enc {
        Enc::Utf8 => xml.as_bytes().to_vec(),
        Enc::Iso8859_9 => iso_8859_9(xml),
    };
    let post = app.client.post(app.url("/fim/api"));
    let request = match shape {
        Shape::TextXml => post
            .header(CONTENT_TYPE, format!("text/xml; charset={}", enc.name()))
            .body(bytes),
        Shape::ApplicationXml => post.header(CONTENT_TYPE, "application/xml").body(bytes),
        Shape::CurlForm => post
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(bytes),
        Shape::DataField => {
            assert_eq!(enc, Enc::Utf8, "DATA= is sent percent-encoded UTF-8");
            post.form(&[("DATA", xml)])
        }
    };
    let resp = request.send().await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.bytes().await.unwrap();
    let ctx = format!("{shape:?} {enc:?}");
    let text = match enc {
        Enc::Utf8 => String::from_utf8(body.to_vec())
            .unwrap_or_else(|_| panic!("{ctx}: the answer is not UTF-8")),
        Enc::Iso8859_9 => from_iso_8859_9(&body),
    };
    assert_eq!(status, StatusCode::OK, "{ctx}: {text}");
    assert!(content_type.contains("xml"), "{ctx}: {content_type}");
    assert!(text.contains("<CC5Response>"), "{ctx}: {text}");
    let declared = declared_encoding(&text);
    match enc {
        Enc::Iso8859_9 => {
            assert!(
                declared
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case("ISO-8859-9")),
                "{ctx}: declared {declared:?}"
            );
            assert!(
                content_type
                    .to_ascii_lowercase()
                    .contains("charset=iso-8859-9"),
                "{ctx}: {content_type}"
            );
            // UTF-8 bytes read as ISO-8859-9 would show up as Ã, Ä, Å.
            assert!(
                !text.contains(['Ã', 'Ä', 'Å']),
                "{ctx}: not ISO-8859-9: {text}"
            );
        }
        Enc::Utf8 => {
            assert!(
                declared
                    .as_deref()
                    .is_none_or(|d| d.eq_ignore_ascii_case("UTF-8")),
                "{ctx}: declared {declared:?}"
            );
            let lower = content_type.to_ascii_lowercase();
            assert!(
                !lower.contains("charset=") || lower.contains("charset=utf-8"),
                "{ctx}: {content_type}"
            );
        }
    }
    Cc5 { xml: text }
}

fn status_query(oid: &str) -> String {
    format!(
        "<OrderId>{}</OrderId>\n  <Extra><ORDERSTATUS>QUERY</ORDERSTATUS></Extra>",
        xml_text(oid)
    )
}

fn history_query(oid: &str) -> String {
    format!(
        "<OrderId>{}</OrderId>\n  <Extra><ORDERHISTORY>QUERY</ORDERHISTORY></Extra>",
        xml_text(oid)
    )
}

fn void(oid: &str) -> String {
    format!("<Type>Void</Type>\n  <OrderId>{}</OrderId>", xml_text(oid))
}

fn credit(oid: &str, total: &str) -> String {
    format!(
        "<Type>Credit</Type>\n  <OrderId>{}</OrderId>\n  <Total>{total}</Total>\n  \
         <Currency>949</Currency>",
        xml_text(oid)
    )
}

fn assert_approved(a: &Cc5, oid: &str, ctx: &str) {
    assert_eq!(a.get("Response"), "Approved", "{ctx}: {}", a.xml);
    assert_eq!(a.get("ProcReturnCode"), "00", "{ctx}: {}", a.xml);
    assert_eq!(a.get("OrderId"), oid, "{ctx}");
    assert_eq!(a.get("ErrMsg"), "", "{ctx}");
    a.extra_xml();
}

fn assert_error(a: &Cc5, ctx: &str) {
    assert_eq!(a.get("Response"), "Error", "{ctx}: {}", a.xml);
    assert_eq!(a.get("ProcReturnCode"), "99", "{ctx}: {}", a.xml);
    assert!(!a.get("ErrMsg").is_empty(), "{ctx}: {}", a.xml);
    a.extra_xml();
}

/// How many transactions of `kind` the simulated bank booked for the order.
async fn bank_count(app: &TestApp, oid: &str, kind: &str) -> usize {
    app.bank_transactions(oid)
        .await
        .iter()
        .filter(|t| t["kind"] == kind)
        .count()
}

async fn events_of(app: &TestApp, payment_id: &str) -> Vec<String> {
    let (status, list) = app
        .get_json(&format!("/api/v1/events?payment_id={payment_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn xml_api_order_status_of_an_approved_payment() {
    let app = nestpay_app().await;
    let (oid, _, got) = approved_order(&app, "100.25").await;
    let a = cc5(&app, Shape::TextXml, Enc::Iso8859_9, &status_query(&oid)).await;
    assert_approved(&a, &oid, "status");
    assert_eq!(a.extra("TRANS_STAT"), "S", "{}", a.xml);
    assert_eq!(a.extra("ORIG_TRANS_AMT"), "10025");
    assert_eq!(a.extra("CHARGE_TYPE_CD"), "S");
    assert_eq!(a.extra("AUTH_CODE"), got.get("AuthCode"));
    assert_eq!(a.extra("HOST_REF_NUM"), got.get("HostRefNum"));
    assert!(!a.extra("NUMCODE").is_empty());
    a.extra("CAPTURE_AMT");
    let pan = a.extra("PAN");
    assert_masked(&pan, MC_FRICTIONLESS, "status PAN");
    assert!(!a.xml.contains("5555555555554444"));
}

#[tokio::test]
async fn xml_api_void_on_the_same_day_then_status_says_voided() {
    let app = nestpay_app().await;
    app.clock_to_istanbul_noon();
    let (oid, id, _) = approved_order(&app, "10").await;
    let a = cc5(&app, Shape::CurlForm, Enc::Iso8859_9, &void(&oid)).await;
    assert_approved(&a, &oid, "void");
    assert!(is_trxdate(&a.extra("TRXDATE")), "{}", a.xml);
    assert_eq!(bank_count(&app, &oid, "void").await, 1);
    let status = cc5(&app, Shape::DataField, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "V", "{}", status.xml);
    // The same in Kapı's API and events.
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "voided", "{p}");
    assert!(
        events_of(&app, &id)
            .await
            .iter()
            .any(|t| t == "payment.voided")
    );
    // Voided once, whatever a second Void answers.
    cc5(&app, Shape::TextXml, Enc::Utf8, &void(&oid)).await;
    assert_eq!(bank_count(&app, &oid, "void").await, 1);
}

#[tokio::test]
async fn xml_api_partial_credits_add_up_and_an_over_refund_is_refused() {
    let app = nestpay_app().await;
    let (oid, id, _) = approved_order(&app, "100.25").await;
    // The same partial refund twice is two refunds (a Credit carries no reference).
    for n in 1..=2 {
        let a = cc5(&app, Shape::TextXml, Enc::Utf8, &credit(&oid, "25.5")).await;
        assert_approved(&a, &oid, &format!("credit {n}"));
        assert!(is_trxdate(&a.extra("TRXDATE")), "{}", a.xml);
    }
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["refunded_amount"], "51.00", "{p}");
    assert_eq!(p["refundable_amount"], "49.25", "{p}");
    // More than is left.
    let a = cc5(
        &app,
        Shape::ApplicationXml,
        Enc::Iso8859_9,
        &credit(&oid, "49.26"),
    )
    .await;
    assert_error(&a, "over-refund");
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["refunded_amount"], "51.00", "{p}");
    assert_eq!(bank_count(&app, &oid, "refund").await, 2);
    let refunded = events_of(&app, &id)
        .await
        .iter()
        .filter(|t| *t == "payment.refunded")
        .count();
    assert_eq!(refunded, 2);
    // The history: the sale and the two refunds.
    let h = cc5(&app, Shape::TextXml, Enc::Iso8859_9, &history_query(&oid)).await;
    assert_eq!(h.get("ProcReturnCode"), "00", "{}", h.xml);
    assert_eq!(h.extra("TRXCOUNT"), "3", "{}", h.xml);
    for n in 1..=3 {
        assert!(!h.extra(&format!("TRX{n}")).is_empty(), "{}", h.xml);
    }
    assert!(tag(&h.extra_xml(), "TRX4").is_none(), "{}", h.xml);
}

#[tokio::test]
async fn xml_api_refuses_unknown_orders_bad_credentials_and_card_data() {
    let app = nestpay_app().await;
    let (oid, _, _) = approved_order(&app, "20").await;

    // An unknown order.
    let unknown = random_id("YOK");
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Iso8859_9,
        &status_query(&unknown),
    )
    .await;
    assert_eq!(a.get("ProcReturnCode"), "99", "{}", a.xml);
    assert!(!a.get("ErrMsg").is_empty());
    a.get("OrderId");
    a.get("TransId");
    a.extra_xml();

    // Bad password, unknown user: an XML error, and nothing about the order.
    for (user, password) in [
        (API_USER, "wrong"),
        ("someone", API_PASSWORD),
        (API_USER, ""),
    ] {
        let xml = cc5_request(Enc::Utf8, user, password, &status_query(&oid));
        let a = cc5_raw(&app, Shape::TextXml, Enc::Utf8, &xml).await;
        assert_error(&a, &format!("{user}/{password}"));
        assert!(
            tag(&a.extra_xml(), "AUTH_CODE").is_none_or(|v| v.is_empty()),
            "{}",
            a.xml
        );
        let a = cc5_raw(
            &app,
            Shape::TextXml,
            Enc::Utf8,
            &cc5_request(Enc::Utf8, user, password, &void(&oid)),
        )
        .await;
        assert_error(&a, "void with bad credentials");
    }
    let (_, p) = app
        .get_json(&format!("/api/v1/payments?order_id={oid}"))
        .await;
    assert_eq!(p["data"][0]["status"], "approved", "{p}");

    // An authorisation with raw card data is never accepted; a PreAuth of an order that was
    // not authenticated by the `3d` model, and a PostAuth of a sale, are refused too.
    let auth_oid = random_id("NP");
    let auth = format!(
        "<Type>Auth</Type>\n  <OrderId>{auth_oid}</OrderId>\n  <Total>10.00</Total>\n  \
         <Currency>949</Currency>\n  <Number>5555555555554444</Number>\n  \
         <Expires>12/30</Expires>\n  <Cvv2Val>123</Cvv2Val>\n  <Mode>P</Mode>"
    );
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &auth).await;
    assert_error(&a, "Auth");
    assert!(!a.xml.contains("5555555555554444"));
    assert!(app.bank_transactions(&auth_oid).await.is_empty());
    for kind in ["PreAuth", "PostAuth"] {
        let body = format!(
            "<Type>{kind}</Type>\n  <OrderId>{oid}</OrderId>\n  <Total>20.00</Total>\n  \
             <Currency>949</Currency>"
        );
        assert_error(&cc5(&app, Shape::TextXml, Enc::Utf8, &body).await, kind);
    }

    // Not even XML: still an XML answer.
    let a = cc5_raw(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        "<CC5Request><Name>kapiapi</Name><Password>",
    )
    .await;
    assert_error(&a, "malformed");
}

#[tokio::test]
async fn xml_api_accepts_both_encodings_and_all_three_request_shapes() {
    let app = nestpay_app().await;
    let (oid, _, _) = approved_order(&app, "100.25").await;
    // The API password has Turkish letters: each request only authenticates when its bytes
    // are read in the encoding it declares.
    for (shape, enc) in [
        (Shape::TextXml, Enc::Iso8859_9),
        (Shape::TextXml, Enc::Utf8),
        (Shape::ApplicationXml, Enc::Iso8859_9),
        (Shape::ApplicationXml, Enc::Utf8),
        (Shape::CurlForm, Enc::Iso8859_9),
        (Shape::CurlForm, Enc::Utf8),
        (Shape::DataField, Enc::Utf8),
    ] {
        let a = cc5(&app, shape, enc, &status_query(&oid)).await;
        let ctx = format!("{shape:?} {enc:?}");
        assert_approved(&a, &oid, &ctx);
        assert_eq!(a.extra("TRANS_STAT"), "S", "{ctx}");
        assert_eq!(a.extra("ORIG_TRANS_AMT"), "10025", "{ctx}");
    }
    // An answer with text in it (an unknown order's message) comes back in the declared
    // encoding too: checked by cc5_raw for both.
    let unknown = random_id("YOK");
    for enc in [Enc::Iso8859_9, Enc::Utf8] {
        let a = cc5(&app, Shape::TextXml, enc, &status_query(&unknown)).await;
        assert_eq!(a.get("ProcReturnCode"), "99");
        assert!(!a.get("ErrMsg").is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Every test card through 3d_pay

struct CardCase {
    pan: &'static str,
    /// Whether the issuer asks for the SMS code.
    challenge: bool,
    approved: bool,
    /// `None`: not checked beyond "not 00".
    proc_return_code: Option<&'static str>,
    md_status: &'static str,
}

const CARDS: &[CardCase] = &[
    CardCase {
        pan: "5555555555554444",
        challenge: false,
        approved: true,
        proc_return_code: Some("00"),
        md_status: "1",
    },
    CardCase {
        pan: "4111111111111111",
        challenge: true,
        approved: true,
        proc_return_code: Some("00"),
        md_status: "1",
    },
    // An attempt (half 3-D Secure): authorised, reported as it is.
    CardCase {
        pan: "4000000000003014",
        challenge: false,
        approved: true,
        proc_return_code: Some("00"),
        md_status: "4",
    },
    CardCase {
        pan: "4000000000009995",
        challenge: true,
        approved: false,
        proc_return_code: Some("51"),
        md_status: "1",
    },
    CardCase {
        pan: "4000000000000002",
        challenge: true,
        approved: false,
        proc_return_code: Some("05"),
        md_status: "1",
    },
    CardCase {
        pan: "5100000000000057",
        challenge: false,
        approved: false,
        proc_return_code: Some("54"),
        md_status: "1",
    },
    CardCase {
        pan: "4000000000000416",
        challenge: true,
        approved: false,
        proc_return_code: Some("41"),
        md_status: "1",
    },
    CardCase {
        pan: "4000000000000432",
        challenge: true,
        approved: false,
        proc_return_code: Some("43"),
        md_status: "1",
    },
    // 3-D Secure fails: no authorisation, so no bank code.
    CardCase {
        pan: "4000000000003006",
        challenge: false,
        approved: false,
        proc_return_code: Some(""),
        md_status: "0",
    },
    // The bank does not answer.
    CardCase {
        pan: "4000000000000911",
        challenge: true,
        approved: false,
        proc_return_code: None,
        md_status: "1",
    },
];

#[tokio::test]
async fn every_test_card_ends_as_documented_through_3d_pay() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    for case in CARDS {
        let ctx = case.pan;
        let oid = random_id("CARD");
        let posted = signed(with_card(
            gate_form(&app, "3d_pay", &oid, "100", &[]),
            case.pan,
            "12",
            "30",
        ));
        let sms_before = app.sms_count().await;
        let result = app.complete_3ds(post_gate(&app, &posted).await).await;
        assert_eq!(
            app.sms_count().await - sms_before,
            usize::from(case.challenge),
            "{ctx}: an SMS code exactly when there is a challenge"
        );
        let got = app.return_to_merchant(&result).await;
        assert_nestpay_result(&got.fields, &posted, ctx);
        assert_eq!(
            got.path,
            if case.approved { "/ok" } else { "/fail" },
            "{ctx}"
        );
        assert_eq!(got.get("oid"), oid, "{ctx}");
        assert_eq!(got.get("amount"), "100.00", "{ctx}");
        assert_eq!(got.get("mdStatus"), case.md_status, "{ctx}");
        assert_masked(got.get("maskedCreditCard"), case.pan, ctx);
        if case.approved {
            assert_eq!(got.get("Response"), "Approved", "{ctx}");
        } else {
            assert_ne!(got.get("Response"), "Approved", "{ctx}");
            assert_ne!(got.get("ProcReturnCode"), "00", "{ctx}");
            assert!(
                !got.get("ErrMsg").is_empty() || !got.get("mdErrorMsg").is_empty(),
                "{ctx}: no message"
            );
        }
        if let Some(code) = case.proc_return_code {
            assert_eq!(got.get("ProcReturnCode"), code, "{ctx}");
            if !case.approved && !code.is_empty() {
                assert_eq!(got.get("Response"), "Declined", "{ctx}");
            }
        }
        if case.md_status != "1" && !case.approved {
            // 3-D Secure failed: nothing went to the bank.
            assert!(app.bank_transactions(&oid).await.is_empty(), "{ctx}");
        }
    }
}

/// The merchant's NestPay set-up removed while a shopper pays: the payment still ends (never
/// stuck in between) and the result goes back unsigned, which the shop's hash check refuses.
#[tokio::test]
async fn a_payment_ends_even_when_the_nestpay_set_up_is_removed_meanwhile() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let posted = signed(gate_form(&app, "3d_pay_hosting", &oid, "20", &[]));
    let id = checkout_id(&post_gate(&app, &posted).await);
    configure(&app, NestpayChange::Remove).await;
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    let payment = app.wait_final(&id).await;
    assert_eq!(payment.status.as_str(), "approved");
    let form = form_by_id(&result.body, "merchant-return").expect("the result form");
    assert_eq!(field(&form.fields, "Response"), "Approved");
    assert!(!has(&form.fields, "HASH"), "signed without a store key");
    assert!(!result_hash_ok(&form.fields));
}

/// A card the shop's form took meets the card page's limits: after `limits.card_submit`
/// cards from one address, the next is refused before any payment holds it.
#[tokio::test]
async fn three_d_pay_cards_count_against_the_card_submit_limit() {
    let app = nestpay_app_with(|s| s.limits.card_submit = 2).await;
    for _ in 0..2 {
        let oid = random_id("NP");
        let posted = signed(with_card(
            gate_form(&app, "3d_pay", &oid, "10", &[]),
            "5555555555554444",
            "12",
            "30",
        ));
        let page = post_gate(&app, &posted).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "10", &[]),
        "5555555555554444",
        "12",
        "30",
    ));
    let got = refusal(&app, &post_gate(&app, &posted).await, "over the card limit");
    assert_eq!(field(&got, "ErrCode"), "KP-1020");
    let (_, list) = app
        .get_json(&format!("/api/v1/payments?order_id={oid}"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
}

/// A `taksit` the card and the merchant's plan do not allow is refused before a payment
/// exists: one answer for the order, no card kept.
#[tokio::test]
async fn three_d_pay_with_an_installment_the_plan_does_not_offer_is_refused_up_front() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    // A debit card (Ziraat's BIN in the table): no installments.
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "300", &[("taksit", "3")]),
        "4355080000000005",
        "12",
        "30",
    ));
    let got = refusal(
        &app,
        &post_gate(&app, &posted).await,
        "taksit without a plan",
    );
    assert_eq!(field(&got, "ErrCode"), "KP-1019");
    assert!(field(&got, "ErrMsg").contains("taksit"), "{got:?}");
    let (_, list) = app
        .get_json(&format!("/api/v1/payments?order_id={oid}"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
}

/// Guessing the API password: after ten failures an address is refused even with the right
/// one, and a call from an address the merchant does not allow reads as a wrong password.
#[tokio::test]
async fn xml_api_logins_are_limited_and_say_nothing_about_the_address() {
    let app = nestpay_app().await;
    let (oid, _, _) = approved_order(&app, "10").await;
    for _ in 0..10 {
        let xml = cc5_request(Enc::Utf8, API_USER, "wrong", &status_query(&oid));
        let a = cc5_raw(&app, Shape::TextXml, Enc::Utf8, &xml).await;
        assert_eq!(a.get("ProcReturnCode"), "99");
        assert_eq!(a.extra("ERRORCODE"), "KP-6001");
    }
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(a.get("Response"), "Error");
    assert_eq!(a.extra("ERRORCODE"), "KP-1020");

    let app = nestpay_app().await;
    let (oid, _, _) = approved_order(&app, "10").await;
    kapi::merchants::configure(
        &*app.app_state.storage.merchants,
        &app.merchant_id,
        kapi::merchants::Settings {
            allowed_ips: Some(vec!["192.0.2.7".to_owned()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(a.get("Response"), "Error");
    assert_eq!(a.extra("ERRORCODE"), "KP-6001");
    assert!(!a.extra_xml().contains("TRANS_STAT"), "{}", a.extra_xml());
}

/// Hostile bodies at both NestPay endpoints: never a server error; the XML API answers every
/// one with a `CC5Response`.
#[tokio::test]
async fn hostile_bodies_never_get_a_server_error() {
    use rand::{Rng, seq::IndexedRandom};
    let app = nestpay_app().await;
    let mut rng = rand::rng();
    let pieces: &[&str] = &[
        "clientid=700655000200",
        "storetype=3d_pay",
        "storetype=3D_PAY_HOSTING",
        "amount=1e9",
        "amount=99999999999999999999",
        "hash=%FF%FE",
        "oid=%00",
        "okUrl=javascript:alert(1)",
        "failUrl=http://127.0.0.1:1/fail",
        "hashAlgorithm=ver3",
        "currency=949",
        "pan=4111",
        "taksit=99",
        "lang=xx",
        "a.b=1",
        "=",
        "&&",
        "%",
        "x=%E2%80%AE",
        "DATA=%3CCC5Request",
        "<CC5Request>",
        "<Extra><ORDERSTATUS>QUERY",
        "</CC5Request>",
        "<!DOCTYPE x>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>",
        "&amp;",
        "&#0;",
        "]]>",
        "\u{0}",
    ];
    // First the bodies that once reached the database with a NUL (PostgreSQL refuses it).
    let fixed = [
        "clientid=700655000200%00%5D%5D%3E".to_owned(),
        "clientid=%00".to_owned(),
        format!(
            "<CC5Request><Name>{API_USER}</Name><Password>x</Password>\
             <ClientId>700655000200&#x1;</ClientId></CC5Request>"
        ),
    ];
    for body in fixed {
        for path in ["/fim/est3Dgate", "/fim/api"] {
            let resp = app
                .client
                .post(app.url(path))
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                !resp.status().is_server_error(),
                "{path} {body:?}: {}",
                resp.status()
            );
        }
    }
    for _ in 0..150 {
        let n = rng.random_range(0..8);
        let body: Vec<&str> = (0..n)
            .filter_map(|_| pieces.choose(&mut rng).copied())
            .collect();
        let joiner = if rng.random_bool(0.5) { "&" } else { "" };
        let body = body.join(joiner);
        let gate = app
            .client
            .post(app.url("/fim/est3Dgate"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert!(
            !gate.status().is_server_error(),
            "{body:?}: {}",
            gate.status()
        );
        let api = app
            .client
            .post(app.url("/fim/api"))
            .header(CONTENT_TYPE, "text/xml")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), StatusCode::OK, "{body:?}");
        let text = api.text().await.unwrap();
        assert!(text.contains("<CC5Response>"), "{body:?}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The `3d` model: the gate authenticates, the shop's server authorises through the XML API

/// An `Auth` with the 3-D Secure values of a `3d` result.
fn auth_with(oid: &str, result: &Fields, total: &str) -> String {
    format!(
        "<Type>Auth</Type>\n  <OrderId>{}</OrderId>\n  <Total>{total}</Total>\n  \
         <Currency>949</Currency>\n  <Number>{}</Number>\n  <PayerTxnId>{}</PayerTxnId>\n  \
         <PayerSecurityLevel>{}</PayerSecurityLevel>\n  \
         <PayerAuthenticationCode>{}</PayerAuthenticationCode>\n  <Taksit></Taksit>",
        xml_text(oid),
        xml_text(field(result, "md")),
        xml_text(field(result, "xid")),
        xml_text(field(result, "eci")),
        xml_text(field(result, "cavv")),
    )
}

/// A `3d` post from a merchant that shows the consents: 3-D Secure at once; the result the
/// browser brings back.
async fn authenticate_3d(app: &TestApp, oid: &str, card: &str) -> Received {
    let posted = signed(with_card(
        gate_form(app, "3d", oid, "120.5", &[]),
        card,
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(app, &posted).await).await;
    let got = app.return_to_merchant(&result).await;
    assert!(result_hash_ok(&got.fields), "{:?}", got.fields);
    got
}

#[tokio::test]
async fn three_d_model_authenticates_then_the_merchant_authorises_by_xml() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, VISA_CHALLENGE).await;
    // Authenticated: back to okUrl with 3-D Secure's values, and nothing of a bank's answer.
    assert_eq!(got.path, "/ok");
    assert_eq!(got.get("mdStatus"), "1");
    assert_eq!(got.get("storetype"), "3d");
    assert_eq!(got.get("amount"), "120.50");
    for name in ["md", "xid", "eci", "cavv"] {
        assert!(!got.get(name).is_empty(), "{name}: {:?}", got.fields);
    }
    for name in [
        "ProcReturnCode",
        "AuthCode",
        "Response",
        "HostRefNum",
        "TransId",
    ] {
        assert!(
            !has(&got.fields, name),
            "{name} in a 3d result: {:?}",
            got.fields
        );
    }
    assert!(!got.get("md").contains("4111"), "md is no card number");
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "PN");
    assert_eq!(status.extra("ORDERSTATUS"), "awaiting_authorisation");

    // The shop's server authorises with them.
    let auth = cc5(
        &app,
        Shape::TextXml,
        Enc::Iso8859_9,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(auth.get("Response"), "Approved", "{}", auth.xml);
    assert_eq!(auth.get("ProcReturnCode"), "00");
    assert!(!auth.get("AuthCode").is_empty());
    assert!(!auth.get("TransId").is_empty());
    assert!(!auth.xml.contains("4111"));
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "S");
    assert_eq!(status.extra("AUTH_CODE"), auth.get("AuthCode"));

    // The same authentication cannot pay twice.
    let again = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(again.get("Response"), "Error");
    assert_eq!(again.extra("ERRORCODE"), "KP-3004");
    let transactions = app.bank_transactions(&oid).await;
    assert_eq!(transactions.len(), 1, "{transactions:?}");
}

#[tokio::test]
async fn three_d_model_refuses_values_that_are_not_the_authentications() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, MC_FRICTIONLESS).await;
    assert_eq!(got.get("mdStatus"), "1");
    for (name, value) in [
        ("xid", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("md", "4111111111111111"),
        ("eci", "07"),
        ("cavv", "jJJJJJJJJJJJJJJJJJJJJJJJJJJ="),
    ] {
        let mut forged = got.fields.clone();
        set(&mut forged, name, value);
        let a = cc5(
            &app,
            Shape::TextXml,
            Enc::Utf8,
            &auth_with(&oid, &forged, "120.50"),
        )
        .await;
        assert_eq!(a.get("Response"), "Error", "{name}");
        assert_eq!(a.extra("ERRORCODE"), "KP-3005", "{name}");
        assert!(
            !a.xml.contains("4111111111111111"),
            "the posted number is never echoed"
        );
    }
    // Another amount, another count: refused too.
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "99.00"),
    )
    .await;
    assert_eq!(a.extra("ERRORCODE"), "KP-1015");
    assert!(
        app.bank_transactions(&oid).await.is_empty(),
        "nothing reached the bank"
    );
    // The right values still work.
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.5"),
    )
    .await;
    assert_eq!(a.get("Response"), "Approved", "{}", a.xml);
}

#[tokio::test]
async fn three_d_model_authentication_expires_and_the_merchant_is_told() {
    let app = nestpay_app_with(|s| s.checkout.sweep_interval_ms = 50).await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let callback = format!("{}/callback", app.receiver_url);
    let posted = signed(with_card(
        gate_form(&app, "3d", &oid, "120.5", &[("callbackUrl", &callback)]),
        MC_FRICTIONLESS,
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(&app, &posted).await).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("mdStatus"), "1");
    let ttl = i64::try_from(app.app_state.settings.checkout.payment_ttl_secs).unwrap();
    app.clock.advance(ttl + 1);
    let (_, list) = app
        .get_json(&format!("/api/v1/payments?order_id={oid}"))
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let payment = app.wait_final(&id).await;
    assert_eq!(payment.status.as_str(), "expired");
    // The card is gone with it, and the merchant hears it.
    let raw = raw_db(app.data_dir.path(), app.database_url.as_deref()).await;
    let cards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM card_vault WHERE payment_id = $1")
        .bind(&id)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(cards, 0);
    // NestPay's callback says so, signed; and Kapı's own event is there.
    wait_until("the expiry's callback", || {
        !app.receiver.at("/callback").is_empty()
    })
    .await;
    let told = app.receiver.at("/callback").remove(0);
    assert_eq!(told.get("oid"), oid);
    assert_eq!(told.get("ErrCode"), "KP-2002");
    assert!(result_hash_ok(&told.fields));
    let (_, events) = app
        .get_json(&format!("/api/v1/events?payment_id={id}"))
        .await;
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(kinds.contains(&"payment.expired"), "{kinds:?}");
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(a.get("Response"), "Error");
    assert_eq!(a.extra("ERRORCODE"), "KP-2002");
    assert!(app.bank_transactions(&oid).await.is_empty());
}

#[tokio::test]
async fn three_d_model_failed_authentication_goes_to_fail_url_without_a_bank_answer() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    // The ACS simulator's card that fails 3-D Secure.
    let got = authenticate_3d(&app, &oid, "4000000000003006").await;
    assert_eq!(got.path, "/fail");
    assert_ne!(got.get("mdStatus"), "1");
    assert!(!has(&got.fields, "ProcReturnCode") && !has(&got.fields, "AuthCode"));
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(a.get("Response"), "Error");
    assert!(app.bank_transactions(&oid).await.is_empty());
}

/// The `3d` model from a merchant that leaves the consents to Kapı: the consent page first,
/// the consents recorded, then 3-D Secure and the merchant's authorisation.
#[tokio::test]
async fn three_d_model_with_kapi_showing_the_consents() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let posted = signed(with_card(
        gate_form(&app, "3d", &oid, "75", &[]),
        "5555555555554444",
        "12",
        "30",
    ));
    let id = checkout_id(&post_gate(&app, &posted).await);
    let page = app.card_page(&id).await;
    let form = form_by_id(&page.body, "card-form").expect("the consent form");
    assert!(!form.fields.iter().any(|(n, _)| n == "card_number"));
    let submit = app
        .post_form(
            &format!("/checkout/{id}"),
            &fields_of(&[
                ("csrf_token", field(&form.fields, "csrf_token")),
                ("consent_preinfo", "yes"),
                ("consent_contract", "yes"),
            ]),
        )
        .await;
    let result = app.complete_3ds(submit).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.path, "/ok");
    assert!(result_hash_ok(&got.fields));
    assert!(!has(&got.fields, "ProcReturnCode"));
    let consents = app.app_state.storage.payments.consents(&id).await.unwrap();
    assert_eq!(consents.len(), 2);
    let auth = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "75.00"),
    )
    .await;
    assert_eq!(auth.get("Response"), "Approved", "{}", auth.xml);
    assert_eq!(app.wait_final(&id).await.status.as_str(), "approved");
}

/// A crash between 3-D Secure and the hand-over to the merchant (the payment left
/// `authenticated`): recovery hands it over instead of failing it.
#[tokio::test]
async fn three_d_model_interrupted_after_authentication_is_handed_to_the_merchant() {
    let app = nestpay_app_with(|s| s.checkout.sweep_interval_ms = 50).await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, MC_FRICTIONLESS).await;
    let id = field(&got.fields, "md").to_owned();
    // As a crash would have left it: authenticated, the hand-over not written.
    let raw = raw_db(app.data_dir.path(), app.database_url.as_deref()).await;
    sqlx::query(
        "UPDATE payments SET status = 'authenticated', version = version + 1 WHERE id = $1",
    )
    .bind(&id)
    .execute(&raw)
    .await
    .unwrap();
    app.clock
        .advance(app.app_state.settings.recovery_after_ms() / 1000 + 1);
    let mut status = String::new();
    for _ in 0..100 {
        status = app
            .app_state
            .payment(&id)
            .await
            .unwrap()
            .status
            .as_str()
            .to_owned();
        if status == "awaiting_authorisation" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "awaiting_authorisation");
    let auth = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(auth.get("Response"), "Approved", "{}", auth.xml);
}

/// An `Auth` after the deadline, before any sweep came by: refused, and the payment expires.
#[tokio::test]
async fn three_d_model_auth_after_the_deadline_is_refused_at_once() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, MC_FRICTIONLESS).await;
    let ttl = i64::try_from(app.app_state.settings.checkout.payment_ttl_secs).unwrap();
    app.clock.advance(ttl + 1);
    let a = cc5(
        &app,
        Shape::TextXml,
        Enc::Utf8,
        &auth_with(&oid, &got.fields, "120.50"),
    )
    .await;
    assert_eq!(a.extra("ERRORCODE"), "KP-2002", "{}", a.xml);
    assert!(app.bank_transactions(&oid).await.is_empty());
    let id = field(&got.fields, "md");
    assert_eq!(
        app.app_state.payment(id).await.unwrap().status.as_str(),
        "expired"
    );
}

// ---------------------------------------------------------------------------------------------
// Pre-authorisation (`PreAuth`) and its capture (`PostAuth`)

fn post_auth(oid: &str, total: &str) -> String {
    format!(
        "<Type>PostAuth</Type>\n  <OrderId>{}</OrderId>\n  <Total>{total}</Total>\n  \
         <Currency>949</Currency>",
        xml_text(oid)
    )
}

/// The payment of an order, as Kapı's API shows it.
async fn payment_of(app: &TestApp, oid: &str) -> serde_json::Value {
    let (_, list) = app
        .get_json(&format!("/api/v1/payments?order_id={oid}"))
        .await;
    list["data"][0].clone()
}

#[tokio::test]
async fn pre_auth_holds_then_post_auth_captures_less_once_and_credits_work_on_the_capture() {
    let app = nestpay_app().await;
    let oid = random_id("NP");
    let posted = signed(gate_form(
        &app,
        "3d_pay_hosting",
        &oid,
        "100",
        &[("TranType", "PreAuth")],
    ));
    let (id, result) = pay_hosting(&app, &posted, MC_FRICTIONLESS).await;
    let got = app.return_to_merchant(&result).await;
    // The result of a hold reads as an approval, as a NestPay bank's does.
    assert_eq!(got.path, "/ok");
    assert_eq!(got.get("Response"), "Approved", "{:?}", got.fields);
    assert_eq!(got.get("ProcReturnCode"), "00");
    assert_eq!(got.get("TranType"), "PreAuth");
    assert!(result_hash_ok(&got.fields));
    let books = app.bank_transactions(&oid).await;
    assert_eq!(books.len(), 1, "{books:?}");
    assert_eq!(books[0]["preauth"], true, "{books:?}");
    let p = payment_of(&app, &oid).await;
    assert_eq!(
        (&p["status"], &p["intent"]),
        (&"authorised".into(), &"preauth".into())
    );
    assert!(
        events_of(&app, &id)
            .await
            .contains(&"payment.authorised".to_owned())
    );
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_approved(&status, &oid, "status of a hold");
    assert_eq!(status.extra("TRANS_STAT"), "A", "{}", status.xml);
    assert_eq!(status.extra("ORIG_TRANS_AMT"), "10000");
    assert_eq!(status.extra("CAPTURE_AMT"), "0");

    // Nothing to refund yet; no capture beyond the hold.
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &credit(&oid, "10.00")).await;
    assert_error(&a, "credit of a hold");
    assert_eq!(a.extra("ERRORCODE"), "KP-6033");
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &post_auth(&oid, "100.01")).await;
    assert_error(&a, "over-capture");
    assert_eq!(a.extra("ERRORCODE"), "KP-6036");

    // Captured for less, once.
    let a = cc5(&app, Shape::TextXml, Enc::Iso8859_9, &post_auth(&oid, "80")).await;
    assert_approved(&a, &oid, "PostAuth");
    assert!(!a.get("TransId").is_empty(), "{}", a.xml);
    let again = cc5(&app, Shape::TextXml, Enc::Utf8, &post_auth(&oid, "20.00")).await;
    assert_error(&again, "second PostAuth");
    assert_eq!(again.extra("ERRORCODE"), "KP-6035");
    assert_eq!(bank_count(&app, &oid, "capture").await, 1);
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "C", "{}", status.xml);
    assert_eq!(status.extra("CAPTURE_AMT"), "8000");
    let p = payment_of(&app, &oid).await;
    assert_eq!(
        (&p["status"], &p["captured_amount"]),
        (&"captured".into(), &"80.00".into())
    );
    assert!(
        events_of(&app, &id)
            .await
            .contains(&"payment.captured".to_owned())
    );

    // Credits work on what was captured.
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &credit(&oid, "80.01")).await;
    assert_eq!(a.extra("ERRORCODE"), "KP-6032", "{}", a.xml);
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &credit(&oid, "30")).await;
    assert_approved(&a, &oid, "credit 30");
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &credit(&oid, "50.00")).await;
    assert_approved(&a, &oid, "credit 50");
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "C", "{}", status.xml);
    assert_eq!(status.extra("REFUND_AMT"), "8000");
    assert_eq!(payment_of(&app, &oid).await["status"], "refunded");
    // The history: the hold, its capture, the two refunds.
    let h = cc5(&app, Shape::TextXml, Enc::Utf8, &history_query(&oid)).await;
    assert_eq!(h.extra("TRXCOUNT"), "4", "{}", h.xml);
    assert!(h.extra("TRX1").starts_with("PA\t"), "{}", h.xml);
    assert!(h.extra("TRX2").starts_with("PoA\tA\t8000\t"), "{}", h.xml);
    assert!(h.extra("TRX3").starts_with("C\tA\t3000\t"), "{}", h.xml);
}

#[tokio::test]
async fn a_held_amount_is_released_by_void_even_days_later_and_is_then_not_captured() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    app.clock_to_istanbul_noon();
    let oid = random_id("NP");
    // `3d_pay`: the shop's own card form, a hold.
    let posted = signed(with_card(
        gate_form(&app, "3d_pay", &oid, "64.90", &[("TranType", "PreAuth")]),
        MC_FRICTIONLESS,
        "12",
        "30",
    ));
    let result = app.complete_3ds(post_gate(&app, &posted).await).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("Response"), "Approved", "{:?}", got.fields);
    // A hold has no end-of-day cut-off.
    app.clock.advance(3 * 86_400);
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &void(&oid)).await;
    assert_approved(&a, &oid, "void of a hold");
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "V", "{}", status.xml);
    assert_eq!(status.extra("CAPTURE_AMT"), "0");
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &post_auth(&oid, "")).await;
    assert_error(&a, "PostAuth of a released hold");
    assert_eq!(a.extra("ERRORCODE"), "KP-6035");
    assert_eq!(bank_count(&app, &oid, "void").await, 1);
    assert_eq!(bank_count(&app, &oid, "capture").await, 0);
    let id = payment_of(&app, &oid).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kinds = events_of(&app, &id).await;
    assert!(kinds.contains(&"payment.voided".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn three_d_model_pre_auth_by_xml_then_post_auth_of_the_whole_hold() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, MC_FRICTIONLESS).await;
    assert_eq!(got.get("mdStatus"), "1");
    let pre_auth = auth_with(&oid, &got.fields, "120.50").replace("<Type>Auth<", "<Type>PreAuth<");
    let a = cc5(&app, Shape::TextXml, Enc::Utf8, &pre_auth).await;
    assert_eq!(a.get("Response"), "Approved", "{}", a.xml);
    assert!(!a.get("AuthCode").is_empty());
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "A", "{}", status.xml);
    assert_eq!(app.bank_transactions(&oid).await[0]["preauth"], true);
    // The same authentication cannot hold twice.
    let again = cc5(&app, Shape::TextXml, Enc::Utf8, &pre_auth).await;
    assert_eq!(again.extra("ERRORCODE"), "KP-3004", "{}", again.xml);
    // An empty Total captures the whole hold.
    let a = cc5(&app, Shape::DataField, Enc::Utf8, &post_auth(&oid, "")).await;
    assert_approved(&a, &oid, "PostAuth of all");
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(
        (status.extra("TRANS_STAT"), status.extra("CAPTURE_AMT")),
        ("C".to_owned(), "12050".to_owned()),
        "{}",
        status.xml
    );
}

#[tokio::test]
async fn an_auth_and_a_pre_auth_of_one_authentication_at_once_reach_the_bank_once() {
    let app = nestpay_app().await;
    configure(&app, NestpayChange::ShowsConsents(true)).await;
    let oid = random_id("NP");
    let got = authenticate_3d(&app, &oid, MC_FRICTIONLESS).await;
    let auth = auth_with(&oid, &got.fields, "120.50");
    let pre_auth = auth.replace("<Type>Auth<", "<Type>PreAuth<");
    let (a, b) = tokio::join!(
        cc5(&app, Shape::TextXml, Enc::Utf8, &auth),
        cc5(&app, Shape::TextXml, Enc::Utf8, &pre_auth),
    );
    let approved: Vec<&Cc5> = [&a, &b]
        .into_iter()
        .filter(|r| r.get("Response") == "Approved")
        .collect();
    assert_eq!(approved.len(), 1, "{}\n{}", a.xml, b.xml);
    let other = if a.get("Response") == "Approved" {
        &b
    } else {
        &a
    };
    assert_eq!(other.extra("ERRORCODE"), "KP-3004", "{}", other.xml);
    assert_eq!(app.bank_transactions(&oid).await.len(), 1);
    // What the winner asked for is what the order is.
    let status = cc5(&app, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    let expected = if a.get("Response") == "Approved" {
        "S"
    } else {
        "A"
    };
    assert_eq!(status.extra("TRANS_STAT"), expected, "{}", status.xml);
}

// ---------------------------------------------------------------------------------------------
// Kapı's NestPay connector (issue 17) against a NestPay bank: this Kapı in gateway mode

fn connector(bank: &TestApp) -> kapi::acquirer::nestpay::NestpayAcquirer {
    kapi::acquirer::nestpay::NestpayAcquirer::new(
        &bank.url("/fim/api"),
        CLIENT_ID.into(),
        API_USER.into(),
        SecretString::from(API_PASSWORD.to_owned()),
        reqwest::Client::new(),
    )
}

/// The authorisation request of an order the bank authenticated (`got`: its 3-D Secure
/// result), as the connector gets it.
fn auth_request(oid: &str, got: &Received, preauth: bool) -> kapi::acquirer::AuthRequest {
    kapi::acquirer::AuthRequest {
        terminal_id: CLIENT_ID.into(),
        reference: oid.into(),
        merchant_id: "m".into(),
        order_id: oid.into(),
        payment_id: "pay_x".into(),
        amount_minor: 12_050,
        currency: "949".into(),
        installment: 1,
        pan: kapi::domain::Sensitive::default(),
        expiry: kapi::domain::Sensitive::default(),
        cvv: kapi::domain::Sensitive::default(),
        eci: got.get("eci").into(),
        cavv: Some(got.get("cavv").into()),
        ds_trans_id: None,
        md_status: got.get("mdStatus").into(),
        preauth,
        md: Some(kapi::domain::Sensitive::new(got.get("md").to_owned())),
        xid: Some(got.get("xid").into()),
        client_ip: String::new(),
    }
}

fn after_sale(oid: &str, reference: &str, amount_minor: i64) -> kapi::acquirer::AfterSaleRequest {
    kapi::acquirer::AfterSaleRequest {
        terminal_id: CLIENT_ID.into(),
        merchant_id: "m".into(),
        order_id: oid.into(),
        payment_id: "pay_x".into(),
        reference: reference.into(),
        original_transaction_id: String::new(),
        original_host_ref: String::new(),
        original_reference: oid.into(),
        amount_minor,
        currency: "949".into(),
        repeat: false,
        refunded_before_minor: 0,
    }
}

#[tokio::test]
async fn the_nestpay_connector_authorises_queries_refunds_captures_and_reverses_at_a_nestpay_bank()
{
    use kapi::acquirer::{Acquirer, Inquiry, InquiryRequest};
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    bank.clock_to_istanbul_noon();
    let nestpay = connector(&bank);
    let inquire = async |oid: &str| {
        nestpay
            .inquire(&InquiryRequest {
                terminal_id: CLIENT_ID.into(),
                reference: oid.into(),
            })
            .await
            .unwrap()
    };

    // A sale: authorised with the bank's own 3-D Secure values, found by inquiry, refunded.
    let oid = random_id("NPC");
    let got = authenticate_3d(&bank, &oid, MC_FRICTIONLESS).await;
    let approved = nestpay
        .authorise(&auth_request(&oid, &got, false))
        .await
        .unwrap();
    assert_eq!(approved.proc_return_code, "00", "{approved:?}");
    assert!(!approved.auth_code.is_empty() && !approved.transaction_id.is_empty());
    match inquire(&oid).await {
        Inquiry::Found { response, reversed } => {
            assert!(!reversed);
            assert_eq!(response.proc_return_code, "00");
            assert_eq!(response.auth_code, approved.auth_code);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(inquire("NPC-unknown-1").await, Inquiry::NotFound);
    // The same authentication cannot pay twice: the bank refuses before anything is done.
    let again = nestpay
        .authorise(&auth_request(&oid, &got, false))
        .await
        .unwrap();
    assert_eq!(again.proc_return_code, "99", "{again:?}");
    let refund = nestpay
        .refund(&after_sale(&oid, "rf_1", 2_000))
        .await
        .unwrap();
    assert_eq!(refund.proc_return_code, "00", "{refund:?}");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("REFUND_AMT"), "2000", "{}", status.xml);
    // Asked again after a lost answer: the bank did it already, so it is not sent twice.
    let mut repeat = after_sale(&oid, "rf_1", 2_000);
    repeat.repeat = true;
    assert_eq!(
        nestpay.refund(&repeat).await.unwrap().proc_return_code,
        "00"
    );
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(
        status.extra("REFUND_AMT"),
        "2000",
        "refunded once: {}",
        status.xml
    );
    // A repeat of one that never reached the bank is sent.
    let mut lost = after_sale(&oid, "rf_3", 1_000);
    lost.repeat = true;
    lost.refunded_before_minor = 2_000;
    assert_eq!(nestpay.refund(&lost).await.unwrap().proc_return_code, "00");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&oid)).await;
    assert_eq!(status.extra("REFUND_AMT"), "3000", "{}", status.xml);

    // A hold: held, then captured for less.
    let held = random_id("NPC");
    let got = authenticate_3d(&bank, &held, MC_FRICTIONLESS).await;
    let a = nestpay
        .authorise(&auth_request(&held, &got, true))
        .await
        .unwrap();
    assert_eq!(a.proc_return_code, "00");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&held)).await;
    assert_eq!(status.extra("TRANS_STAT"), "A");
    let capture = nestpay
        .capture(&after_sale(&held, "cp_1", 10_000))
        .await
        .unwrap();
    assert_eq!(capture.proc_return_code, "00", "{capture:?}");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&held)).await;
    assert_eq!(
        (status.extra("TRANS_STAT"), status.extra("CAPTURE_AMT")),
        ("C".into(), "10000".into())
    );
    let mut repeat = after_sale(&held, "cp_1", 10_000);
    repeat.repeat = true;
    assert_eq!(
        nestpay.capture(&repeat).await.unwrap().proc_return_code,
        "00"
    );

    // A lost answer's reversal: the bank voids what it booked; then nothing is left to undo.
    let lost = random_id("NPC");
    let got = authenticate_3d(&bank, &lost, MC_FRICTIONLESS).await;
    assert_eq!(
        nestpay
            .authorise(&auth_request(&lost, &got, false))
            .await
            .unwrap()
            .proc_return_code,
        "00"
    );
    let reversed = nestpay
        .reverse(&after_sale(&lost, "rev_1", 12_050))
        .await
        .unwrap();
    assert_eq!(reversed.proc_return_code, "00", "{reversed:?}");
    match inquire(&lost).await {
        Inquiry::Found { reversed, .. } => assert!(reversed),
        other => panic!("{other:?}"),
    }
    let nothing = nestpay
        .reverse(&after_sale("NPC-never-1", "rev_2", 100))
        .await
        .unwrap();
    assert_eq!(nothing.proc_return_code, "25");
    // Wrong credentials: the bank answers an error, which is no approval.
    let wrong = kapi::acquirer::nestpay::NestpayAcquirer::new(
        &bank.url("/fim/api"),
        CLIENT_ID.into(),
        API_USER.into(),
        SecretString::from("wrong".to_owned()),
        reqwest::Client::new(),
    );
    let refused = wrong.refund(&after_sale(&oid, "rf_2", 100)).await.unwrap();
    assert_eq!(refused.proc_return_code, "99");
}

/// A merchant's Kapı with a NestPay terminal at `bank` (a Kapı in NestPay gateway mode whose
/// merchant lets this Kapı's return address in): the merchant's Kapı and the terminal's id.
async fn merchant_at_nestpay_bank(bank: &TestApp) -> (TestApp, String) {
    merchant_at_nestpay_bank_with(bank, &bank.url("/fim/api"), None).await
}

/// As `merchant_at_nestpay_bank`, the bank's XML API at `api_url` and the terminal's static IP.
async fn merchant_at_nestpay_bank_with(
    bank: &TestApp,
    api_url: &str,
    static_ip: Option<&str>,
) -> (TestApp, String) {
    let app = spawn_app().await;
    let merchants = &bank.app_state.storage.merchants;
    let mut origins = merchants
        .get_merchant(&bank.merchant_id)
        .await
        .unwrap()
        .unwrap()
        .origins();
    origins.push(app.address.clone());
    merchants
        .set_merchant_origins(&bank.merchant_id, &origins)
        .await
        .unwrap();
    let terminal = app
        .add_terminal(kapi::terminals::NewTerminal {
            merchant_id: app.merchant_id.clone(),
            bank: "Akbank".into(),
            platform: kapi::terminals::Platform::Nestpay,
            client_id: CLIENT_ID.into(),
            user: API_USER.into(),
            password: SecretString::from(API_PASSWORD.to_owned()),
            terminal_no: None,
            store_key: SecretString::from(STORE_KEY.to_owned()),
            gate_url: bank.url("/fim/est3Dgate"),
            api_url: api_url.to_owned(),
            static_ip: static_ip.map(str::to_owned),
            commission: Some("1.20".into()),
            installment_commissions: vec![],
            accept_half_3d: false,
            refund_user: None,
            refund_password: None,
            mbr_id: None,
        })
        .await;
    (app, terminal)
}

#[tokio::test]
async fn a_payment_through_the_nestpay_connector_runs_3ds_at_the_bank_and_authorises_there() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    bank.clock_to_istanbul_noon();
    let (app, terminal) = merchant_at_nestpay_bank(&bank).await;
    let order = random_id("NPT");
    let id = app.start_payment(&[("order_id", &order)]).await;

    // The card page's submit sends the browser to the bank's gate, with the card, once.
    let to_gate = app.submit_card(&id, MC_FRICTIONLESS).await;
    assert_eq!(to_gate.status, StatusCode::OK, "{}", to_gate.body);
    assert_eq!(to_gate.header("cache-control").as_deref(), Some("no-store"));
    let csp = to_gate
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(
        csp.contains(&format!("form-action 'self' {}", bank.address)),
        "{csp}"
    );
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    assert_eq!(gate.action, bank.url("/fim/est3Dgate"));
    assert_eq!(field(&gate.fields, "storetype"), "3d");
    assert_eq!(field(&gate.fields, "clientid"), CLIENT_ID);
    assert_eq!(field(&gate.fields, "amount"), "150.00");
    assert_eq!(digits(field(&gate.fields, "pan")), digits(MC_FRICTIONLESS));
    // Signed with the terminal's store key, as a shop's NestPay code signs its form.
    assert_eq!(
        ver3(&gate.fields, REQUEST_EXCLUDED, STORE_KEY),
        field(&gate.fields, "hash")
    );
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "challenge", "at the bank's 3-D Secure: {p}");
    assert_eq!(p["terminal"]["platform"], "nestpay");
    assert!(
        !serde_json::to_string(&p)
            .unwrap()
            .contains("5555555555554444")
    );

    // The bank runs 3-D Secure and the browser brings its signed result back.
    let at_bank = bank.post_form(&gate.action, &gate.fields).await;
    let bank_result = bank.complete_3ds(at_bank).await;
    let back = form_by_id(&bank_result.body, "merchant-return").expect("the bank posts back");
    assert!(
        back.action.starts_with(&app.url("/bank/return?s=")),
        "{}",
        back.action
    );
    let bank_oid = field(&back.fields, "oid").to_owned();
    // A changed result is refused and changes nothing.
    let mut forged = back.fields.clone();
    set(&mut forged, "mdStatus", "1");
    set(&mut forged, "amount", "1.00");
    let refused = app
        .client
        .post(&back.action)
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["status"], "challenge");
    let returned = app
        .client
        .post(&back.action)
        .form(&back.fields)
        .send()
        .await
        .unwrap();
    let returned = Page::from(returned).await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    let result = app.get(&returned.location.unwrap()).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);

    // Authorised at the bank, under the order id its gate was given; recorded with its
    // terminal; refunded there.
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str());
    assert_eq!(p["three_d_secure"]["md_status"], "1");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&bank_oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "S", "{}", status.xml);
    assert_eq!(status.extra("AUTH_CODE"), got.get("auth_code"));
    let (code, refund) = app
        .post_json(
            &format!("/api/v1/payments/{id}/refunds"),
            Some(serde_json::json!({"amount": "50.00"})),
            None,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{refund}");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&bank_oid)).await;
    assert_eq!(status.extra("REFUND_AMT"), "5000", "{}", status.xml);
    // The same post again (a reload): nothing is authorised twice.
    let again = app
        .client
        .post(&back.action)
        .form(&back.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        bank.bank_transactions(&bank_oid)
            .await
            .iter()
            .filter(|t| t["kind"] == "authorisation")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_banks_md_status_decides_and_half_3ds_needs_the_terminals_consent() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    let (app, terminal) = merchant_at_nestpay_bank(&bank).await;
    // Authentication failed at the bank (mdStatus 0): failed, nothing authorised.
    let (_, _, got) = through_the_bank(&app, &bank, "4000 0000 0000 3006").await;
    assert_eq!((got.path.as_str(), got.get("status")), ("/fail", "failed"));
    assert_eq!(got.get("error_code"), "KP-3001");
    assert_eq!(got.get("md_status"), "0");
    // An attempt (mdStatus 4) on a terminal that takes full authentication only: refused.
    let (_, _, got) = through_the_bank(&app, &bank, "4000 0000 0000 3014").await;
    assert_eq!(
        (got.get("status"), got.get("error_code")),
        ("failed", "KP-3002")
    );
    assert_eq!(got.get("md_status"), "4");
    // The terminal accepts half 3-D Secure: the same card pays.
    app.configure_terminal(
        &terminal,
        kapi::terminals::TerminalChange {
            accept_half_3d: Some(true),
            ..Default::default()
        },
        None,
    )
    .await;
    let (id, _, got) = through_the_bank(&app, &bank, "4000 0000 0000 3014").await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["three_d_secure"]["md_status"], "4");
    // A decline at the bank is the shopper's decline, with the bank's code.
    let (_, _, got) = through_the_bank(&app, &bank, "4000 0000 0000 9995").await;
    assert_eq!(
        (got.get("status"), got.get("proc_return_code")),
        ("declined", "51")
    );
}

// ---------------------------------------------------------------------------------------------
// A NestPay bank's XML API that misbehaves, in front of the second Kapı's

/// What the API in front of the bank does with the first `Auth` it is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FirstAuth {
    /// Answers `96` (system malfunction) without passing it on.
    SystemError,
    /// Passes it on, then loses the bank's answer (HTTP 502).
    LoseAnswer,
}

struct FrontApi {
    url: String,
    /// The address each call came from.
    peers: std::sync::Arc<std::sync::Mutex<Vec<std::net::IpAddr>>>,
}

#[derive(Clone)]
struct Front {
    bank_api: String,
    first_auth: FirstAuth,
    auths: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    peers: std::sync::Arc<std::sync::Mutex<Vec<std::net::IpAddr>>>,
}

async fn front_api(bank: &TestApp, first_auth: FirstAuth) -> FrontApi {
    use axum::{
        extract::{ConnectInfo, State},
        response::IntoResponse,
    };
    async fn handle(
        State(front): State<Front>,
        ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
        body: String,
    ) -> axum::response::Response {
        front.peers.lock().unwrap().push(peer.ip());
        let first = body.contains("<Type>Auth</Type>")
            && front
                .auths
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                == 0;
        if first && front.first_auth == FirstAuth::SystemError {
            let answer = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CC5Response>\
                <Response>Declined</Response><ProcReturnCode>96</ProcReturnCode>\
                <ErrMsg>Sistem hatasi</ErrMsg></CC5Response>";
            return ([(CONTENT_TYPE, "text/xml; charset=UTF-8")], answer).into_response();
        }
        let resp = reqwest::Client::new()
            .post(&front.bank_api)
            .header(CONTENT_TYPE, "text/xml; charset=UTF-8")
            .body(body)
            .send()
            .await
            .unwrap();
        let answer = resp.bytes().await.unwrap();
        if first && front.first_auth == FirstAuth::LoseAnswer {
            return StatusCode::BAD_GATEWAY.into_response();
        }
        ([(CONTENT_TYPE, "text/xml; charset=UTF-8")], answer).into_response()
    }
    let peers = std::sync::Arc::default();
    let front = Front {
        bank_api: bank.url("/fim/api"),
        first_auth,
        auths: std::sync::Arc::default(),
        peers: std::sync::Arc::clone(&peers),
    };
    let router = axum::Router::new()
        .route("/fim/api", axum::routing::post(handle))
        .with_state(front);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fim/api", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    FrontApi { url, peers }
}

/// A payment of `app`'s merchant with `card` through its NestPay terminal: the bank's gate
/// and 3-D Secure, the signed return, and whatever follows (a new 3-D Secure step at the next
/// terminal after a fallback) to the result page. The payment id, the bank's order id and what
/// the merchant received.
async fn through_the_bank(app: &TestApp, bank: &TestApp, card: &str) -> (String, String, Received) {
    let id = app.start_payment(&[]).await;
    let to_gate = app.submit_card(&id, card).await;
    let gate = forms(&to_gate.body).into_iter().next().unwrap();
    let bank_oid = field(&gate.fields, "oid").to_owned();
    let bank_result = bank
        .complete_3ds(bank.post_form(&gate.action, &gate.fields).await)
        .await;
    let back = form_by_id(&bank_result.body, "merchant-return").expect("the bank posts back");
    let returned = app.post_form(&back.action, &back.fields).await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    let result = app.get(&returned.location.unwrap()).await;
    let result = app.through_to_result(&id, result).await;
    (id, bank_oid, app.return_to_merchant(&result).await)
}

#[tokio::test]
async fn a_nestpay_bank_refusing_the_connection_sends_the_payment_to_the_next_terminal() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    let (app, terminal) = merchant_at_nestpay_bank_with(&bank, &refused_url(), None).await;
    let default_terminal = app.app_state.settings.acquirer.terminal_id.clone();

    // The bank's gate authenticated the card, but its API refuses connections: the card goes
    // through Kapı's own 3-D Secure to the default terminal, which approves it.
    let (id, bank_oid, got) = through_the_bank(&app, &bank, VISA_CHALLENGE).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], default_terminal.as_str(), "{p}");
    assert_eq!(p["terminal"]["platform"], "simulator");
    assert_eq!(p["routing"]["rule"], "fallback");
    assert_eq!(
        p["routing"]["inputs"]["excluded"],
        serde_json::json!([terminal])
    );
    assert_eq!(p["routing"]["inputs"]["refusal"], "connection_refused");
    assert!(bank.bank_transactions(&bank_oid).await.is_empty());
    let order = got.get("order_id");
    assert_eq!(
        app.bank_transactions(order)
            .await
            .iter()
            .filter(|t| t["kind"] == "authorisation")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_system_error_at_the_nestpay_bank_goes_on_and_calls_leave_from_the_static_ip() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    let front = front_api(&bank, FirstAuth::SystemError).await;
    // 127.0.0.9 is this host's (all of 127/8 is): the bank's calls leave from it.
    let (app, terminal) = merchant_at_nestpay_bank_with(&bank, &front.url, Some("127.0.0.9")).await;
    let (id, _, got) = through_the_bank(&app, &bank, MC_FRICTIONLESS).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["routing"]["rule"], "fallback", "{p}");
    assert_eq!(p["routing"]["inputs"]["refusal"], "96");
    assert_ne!(p["terminal"]["id"], terminal.as_str());
    let peers = front.peers.lock().unwrap().clone();
    assert!(!peers.is_empty());
    assert!(
        peers.iter().all(|ip| ip.to_string() == "127.0.0.9"),
        "{peers:?}"
    );

    // A static IP that is not this host's (a NAT's) is recorded only: calls still go out.
    app.configure_terminal(
        &terminal,
        kapi::terminals::TerminalChange {
            static_ip: Some(Some("203.0.113.7".into())),
            ..Default::default()
        },
        None,
    )
    .await;
    let (id, _, got) = through_the_bank(&app, &bank, MC_FRICTIONLESS).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str(), "{p}");
    let last = *front.peers.lock().unwrap().last().unwrap();
    assert_eq!(last.to_string(), "127.0.0.1");
}

#[tokio::test]
async fn a_lost_answer_of_the_nestpay_bank_is_found_by_its_order_status() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    let front = front_api(&bank, FirstAuth::LoseAnswer).await;
    let (app, terminal) = merchant_at_nestpay_bank_with(&bank, &front.url, None).await;
    // The bank authorised, its answer was lost: Kapı asks (ORDERSTATUS) and reports what the
    // bank booked. A lost answer may have authorised: no other terminal is tried.
    let (id, bank_oid, got) = through_the_bank(&app, &bank, MC_FRICTIONLESS).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
    let (_, p) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    assert_eq!(p["terminal"]["id"], terminal.as_str(), "{p}");
    assert_ne!(p["routing"]["rule"], "fallback");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&bank_oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "S", "{}", status.xml);
    assert_eq!(status.extra("AUTH_CODE"), got.get("auth_code"));
    assert!(app.bank_transactions(got.get("order_id")).await.is_empty());
    // A void goes to the bank that authorised.
    let (code, void) = app
        .post_json(&format!("/api/v1/payments/{id}/void"), None, None)
        .await;
    assert_eq!(code, StatusCode::OK, "{void}");
    let status = cc5(&bank, Shape::TextXml, Enc::Utf8, &status_query(&bank_oid)).await;
    assert_eq!(status.extra("TRANS_STAT"), "V", "{}", status.xml);
}

#[tokio::test]
async fn a_shopper_back_from_the_banks_gate_without_its_result_can_go_there_again() {
    let bank = nestpay_app().await;
    configure(&bank, NestpayChange::ShowsConsents(true)).await;
    let (app, _) = merchant_at_nestpay_bank(&bank).await;
    let id = app.start_payment(&[]).await;
    let to_gate = app.submit_card(&id, VISA_CHALLENGE).await;
    let gate = forms(&to_gate.body).into_iter().next().unwrap();

    // The shopper came back (the back button) without the bank's result: the result page
    // offers the way back to the bank, or to give up.
    let page = app.get(&format!("/checkout/{id}/result")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let choices = forms(&page.body);
    assert_eq!(choices.len(), 2, "{}", page.body);
    assert!(!page.body.contains("4111"), "no card on the choice page");
    // Back to the bank: the same order, signed again, the card in a no-store page.
    let again = app.post_form(&choices[0].action, &choices[0].fields).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.header("cache-control").as_deref(), Some("no-store"));
    let resumed = forms(&again.body).into_iter().next().unwrap();
    assert_eq!(resumed.action, gate.action);
    assert_eq!(field(&resumed.fields, "oid"), field(&gate.fields, "oid"));
    assert_eq!(
        ver3(&resumed.fields, REQUEST_EXCLUDED, STORE_KEY),
        field(&resumed.fields, "hash")
    );
    // And it pays there.
    let bank_result = bank
        .complete_3ds(bank.post_form(&resumed.action, &resumed.fields).await)
        .await;
    let back = form_by_id(&bank_result.body, "merchant-return").expect("the bank posts back");
    let returned = app.post_form(&back.action, &back.fields).await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);
    let result = app.get(&returned.location.unwrap()).await;
    let got = app.return_to_merchant(&result).await;
    assert_eq!(got.get("status"), "approved", "{:?}", got.fields);
}
