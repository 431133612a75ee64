//! The shopper's journey in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), against the real server and its demo shop. Screenshots of every
//! step go to `target/screenshots/`; axe-core checks accessibility.

use std::{process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use serde_json::{Value, json};

use crate::helpers::*;

/// One browser at a time: two cores do not run several Chromiums well.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Browser {
    client: Client,
    driver: std::process::Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(javascript: bool, width: u32, height: u32) -> Browser {
    let port = free_port();
    let driver = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver is installed (apt-get install chromium chromium-driver; .ci/run does it)",
        );
    let profile = tempfile::tempdir().unwrap().keep();
    let mut options = json!({
        "binary": "/usr/bin/chromium",
        "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if !javascript {
        options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return Browser { client, driver },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start Chromium: {last:?}");
}

impl Browser {
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The page's text; empty while a navigation leaves no page to read (callers that wait
    /// for a text ask again).
    async fn text(&self) -> String {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css("body"))
            .await
        {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    async fn wait_for_url(&self, part: &str) {
        for _ in 0..150 {
            if self.url().await.contains(part) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {part}; at {}", self.url().await);
    }

    async fn wait_for_text(&self, part: &str) {
        for _ in 0..150 {
            if self.text().await.contains(part) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never showed {part:?}; at {}", self.url().await);
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    /// Waits for `css` to appear (the previous click may still be loading its page).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let (url, text) = (self.url().await, self.text().await);
                panic!("no {css} at {url} ({e}); the page says:\n{text}");
            }
        }
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    async fn select(&self, css: &str, value: &str) {
        self.find(css).await.select_by_value(value).await.unwrap();
    }

    /// Opens the demo shop, buys the first product and waits for Kapı's card page.
    async fn buy_in_shop(&self, shop: &str) {
        self.client.goto(&format!("{shop}/")).await.unwrap();
        self.click("form.product button.btn-primary").await;
        self.wait_for_url("/checkout/pay_").await;
    }

    /// Fills the card page as a shopper does with a mouse.
    async fn fill_card(&self, number: &str) {
        self.type_into("#card_holder", "AYSE YILMAZ").await;
        self.type_into("#card_number", number).await;
        self.select("#exp_month", "12").await;
        self.select("#exp_year", "2030").await;
        self.type_into("#cvv", "123").await;
        self.click("#consent_preinfo").await;
        self.click("#consent_contract").await;
    }

    /// Runs axe-core on the page; returns the serious and critical violations.
    async fn axe(&self) -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/axe/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&path).expect(
            "axe-core is installed (npm install --prefix target/axe axe-core; .ci/run does it)",
        );
        self.client.execute(&source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document).then(
                   r => done({ violations: r.violations, passes: r.passes.length }),
                   e => done({ violations: [{ id: 'axe-error', impact: 'critical', help: String(e) }], passes: 0 }));",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            result["passes"].as_u64().unwrap_or(0) > 10,
            "axe did not run: {result}"
        );
        result["violations"]
            .as_array()
            .cloned()
            .expect("axe returns its violations")
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }
}

/// The OTP the simulated SMS gateway sent last.
async fn otp(app: &TestApp) -> String {
    app.latest_otp().await
}

async fn demo_app() -> (TestApp, String) {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().unwrap();
    (app, shop)
}

fn assert_accessible(violations: &[Value], page: &str) {
    let summary: Vec<String> = violations
        .iter()
        .map(|v| format!("{} ({}): {}", v["id"], v["impact"], v["help"]))
        .collect();
    assert!(violations.is_empty(), "axe on {page}: {summary:#?}");
}

#[tokio::test]
async fn browser_full_journey_with_a_challenge_card() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 1280, 1000).await;
    b.client.goto(&format!("{shop}/")).await.unwrap();
    b.shot("01-shop").await;
    b.click("form.product button.btn-primary").await;
    b.wait_for_url("/checkout/pay_").await;
    b.shot("02-card-page").await;
    assert_accessible(&b.axe().await, "card page");
    b.fill_card("4111111111111111").await;
    // The number is grouped as typed and the brand shown.
    let number = b
        .client
        .find(Locator::Css("#card_number"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(number.as_deref(), Some("4111 1111 1111 1111"));
    let visa_shown: bool = serde_json::from_value(
        b.client
            .execute(
                "return !document.querySelector('#card-brand svg[data-brand=visa]').hidden",
                vec![],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(visa_shown, "the Visa badge is shown");
    let countdown = b
        .client
        .find(Locator::Css("#countdown"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        countdown.starts_with("(14:") || countdown.starts_with("(15:"),
        "{countdown}"
    );
    // The table for this Bonus card arrived as the number was typed: pay in six, and the pay
    // button names the total with the interest.
    b.click("label[for='installment-6']").await;
    let six = b
        .find("#installment-6")
        .await
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(six.as_deref(), Some("true"));
    let total = b
        .client
        .execute(
            "return document.querySelector('#installment-6').closest('tr').querySelector('.amount-cell').textContent",
            vec![],
        )
        .await
        .unwrap();
    let total = total.as_str().unwrap().to_owned();
    let label = b.find("#pay-button").await.text().await.unwrap();
    assert!(label.contains(&total), "{label} names {total}");
    assert!(b.text().await.contains("Garanti BBVA Bonus"));
    b.client
        .execute(
            "document.getElementById('card_number').scrollIntoView({block: 'start'})",
            vec![],
        )
        .await
        .unwrap();
    b.shot("03-card-filled").await;
    assert_accessible(&b.axe().await, "card page with the installment table");
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.shot("04-acs").await;
    assert_accessible(&b.axe().await, "ACS page");
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url("/result").await;
    b.shot("05-result").await;
    assert_accessible(&b.axe().await, "result page");
    // The result posts itself to the merchant.
    b.wait_for_url(&format!("{shop}/ok")).await;
    b.shot("06-merchant-ok").await;
    let text = b.text().await;
    assert!(text.contains("Teşekkürler, ödemeniz alındı"), "{text}");
    assert!(
        text.contains("İmza doğrulandı"),
        "the merchant verified the signature: {text}"
    );
    assert!(text.contains("approved"));
}

#[tokio::test]
async fn browser_declined_card_lands_on_the_fail_page_in_turkish() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 1280, 1000).await;
    b.buy_in_shop(&shop).await;
    b.fill_card("4000 0000 0000 9995").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url("/result").await;
    assert!(b.text().await.contains("Limit yetersiz / Yetersiz bakiye"));
    b.shot("07-declined").await;
    b.wait_for_url(&format!("{shop}/fail")).await;
    let text = b.text().await;
    assert!(text.contains("Ödeme tamamlanamadı"), "{text}");
    assert!(text.contains("Limit yetersiz / Yetersiz bakiye"), "{text}");
    assert!(text.contains("İmza doğrulandı"));
}

#[tokio::test]
async fn browser_journey_without_javascript() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(false, 1280, 1000).await;
    b.client.goto(&format!("{shop}/")).await.unwrap();
    b.click("form.product button.btn-primary").await;
    // Without JavaScript the signed form waits for a click.
    b.click("#redirect-form button").await;
    b.wait_for_url("/checkout/pay_").await;
    b.fill_card("4111 1111 1111 1111").await;
    b.click("#pay-button").await;
    // Without JavaScript the installment table comes after the first submit; the card number
    // and CVV are typed again, everything else is kept.
    assert!(b.text().await.contains("Garanti BBVA Bonus"));
    b.shot("08-no-js-installments").await;
    b.type_into("#card_number", "4111 1111 1111 1111").await;
    b.type_into("#cvv", "123").await;
    b.click("label[for='installment-3']").await;
    b.click("#pay-button").await;
    b.click("#redirect-form button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.click("#redirect-form button").await;
    b.wait_for_url("/result").await;
    b.shot("08-no-js-result").await;
    assert!(b.text().await.contains("3 taksit"));
    b.click("#merchant-return button").await;
    b.wait_for_url(&format!("{shop}/ok")).await;
    assert!(b.text().await.contains("İmza doğrulandı"));
}

#[tokio::test]
async fn browser_keyboard_only_completion() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 1280, 1000).await;
    b.buy_in_shop(&shop).await;
    // From here on, only keys.
    let tab_to = |id: &'static str| {
        let b = &b;
        async move {
            for _ in 0..40 {
                let active = b.client.active_element().await.unwrap();
                if active.attr("id").await.unwrap().as_deref() == Some(id) {
                    return active;
                }
                active.send_keys(&Key::Tab.to_string()).await.unwrap();
            }
            panic!("Tab never reached #{id}");
        }
    };
    let body = b.client.find(Locator::Css("body")).await.unwrap();
    body.send_keys(&Key::Tab.to_string()).await.unwrap();
    tab_to("card_holder")
        .await
        .send_keys("AYSE YILMAZ")
        .await
        .unwrap();
    tab_to("card_number")
        .await
        .send_keys("5555555555554444")
        .await
        .unwrap();
    tab_to("exp_month").await.send_keys("12").await.unwrap();
    tab_to("exp_year").await.send_keys("2030").await.unwrap();
    tab_to("cvv").await.send_keys("123").await.unwrap();
    tab_to("consent_preinfo")
        .await
        .send_keys(" ")
        .await
        .unwrap();
    tab_to("consent_contract")
        .await
        .send_keys(" ")
        .await
        .unwrap();
    // The focus is visible where it is.
    let outline: String = serde_json::from_value(
        b.client
            .execute(
                "return getComputedStyle(document.activeElement).outlineStyle",
                vec![],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_ne!(outline, "none", "focused elements show an outline");
    tab_to("pay-button")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    b.wait_for_url("/result").await;
    b.wait_for_url(&format!("{shop}/ok")).await;
    assert!(b.text().await.contains("İmza doğrulandı"));
    let _ = app;
}

#[tokio::test]
async fn browser_phone_width_has_no_sideways_scrolling() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 360, 800).await;
    b.buy_in_shop(&shop).await;
    b.shot("09-card-page-360").await;
    let fits: bool = serde_json::from_value(
        b.client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1",
                vec![],
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(fits, "the card page scrolls sideways at 360 px");
    // Numbers get the numeric keyboard.
    let mode = b
        .client
        .find(Locator::Css("#card_number"))
        .await
        .unwrap()
        .attr("inputmode")
        .await
        .unwrap();
    assert_eq!(mode.as_deref(), Some("numeric"));
    b.fill_card("5555 5555 5555 4444").await;
    b.click("#pay-button").await;
    b.wait_for_url(&format!("{shop}/ok")).await;
    b.shot("10-merchant-ok-360").await;
    assert!(b.text().await.contains("İmza doğrulandı"));
    // An error page, checked for accessibility too.
    b.client
        .goto(&format!(
            "{}/checkout/pay_00000000000000000000000000000000",
            app.address
        ))
        .await
        .unwrap();
    b.shot("11-error-page").await;
    assert_accessible(&b.axe().await, "error page");
}

#[tokio::test]
async fn browser_card_page_helps_as_the_shopper_types() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_app, shop) = demo_app().await;
    let b = browser(true, 1280, 1000).await;
    b.buy_in_shop(&shop).await;
    let shown_badge = || async {
        let v = b
            .client
            .execute(
                "const s = [...document.querySelectorAll('#card-brand svg[data-brand]')].filter(x => !x.hidden);
                 return s.map(x => x.dataset.brand).join(',')",
                vec![],
            )
            .await
            .unwrap();
        v.as_str().unwrap_or_default().to_owned()
    };
    let number = b.find("#card_number").await;
    for (typed, brand, grouped) in [
        ("378282246310005", "amex", "3782 822463 10005"),
        ("9792000000000003", "troy", "9792 0000 0000 0003"),
        ("5555555555554444", "mastercard", "5555 5555 5555 4444"),
    ] {
        number.clear().await.unwrap();
        number.send_keys(typed).await.unwrap();
        assert_eq!(shown_badge().await, brand, "{typed}");
        assert_eq!(
            number.prop("value").await.unwrap().as_deref(),
            Some(grouped),
            "{typed}"
        );
        let hint = b.find("#cvv-hint").await.text().await.unwrap();
        let cvv_max = b.find("#cvv").await.attr("maxlength").await.unwrap();
        if brand == "amex" {
            assert!(hint.contains("4 haneli"), "{hint}");
            assert_eq!(cvv_max.as_deref(), Some("4"));
        } else {
            assert!(hint.contains("3 haneli"), "{hint}");
            assert_eq!(cvv_max.as_deref(), Some("3"));
        }
    }
    // Six installments on a Bonus card: the button names their total…
    number.clear().await.unwrap();
    number.send_keys("4111111111111111").await.unwrap();
    b.click("label[for='installment-6']").await;
    let single = b
        .find("#pay-button")
        .await
        .attr("data-single")
        .await
        .unwrap()
        .unwrap();
    let six = b.find("#pay-button").await.text().await.unwrap();
    assert_ne!(six, single);
    // …and a debit card, which the table says pays at once, goes back to the order amount.
    number.clear().await.unwrap();
    number.send_keys("4355080000000005").await.unwrap();
    let note = b.find("#installment-note").await.text().await.unwrap();
    assert!(note.contains("yalnızca tek çekim"), "{note}");
    assert_eq!(b.find("#pay-button").await.text().await.unwrap(), single);
    let status = b
        .find("#installment-status")
        .await
        .prop("textContent")
        .await
        .unwrap();
    let status = status.unwrap_or_default();
    assert!(
        status.contains("Ziraat Bankası") && status.contains(&note),
        "announced: {status}"
    );
    // The language switch keeps the name but never the card number.
    b.type_into("#card_holder", "AYSE YILMAZ").await;
    b.click("button[name=switch_lang]").await;
    b.wait_for_text("Pay by card").await;
    let holder = b.find("#card_holder").await.prop("value").await.unwrap();
    assert_eq!(holder.as_deref(), Some("AYSE YILMAZ"));
    let number = b.find("#card_number").await.prop("value").await.unwrap();
    assert_eq!(number.as_deref(), Some(""));
    // The pay button works once: after the first click it is disabled (the form's
    // navigation is held back here to look at the button).
    b.client
        .execute(
            "document.getElementById('card-form').addEventListener('submit', e => e.preventDefault())",
            vec![],
        )
        .await
        .unwrap();
    b.click("#pay-button").await;
    let mut disabled = false;
    for _ in 0..20 {
        if b.find("#pay-button")
            .await
            .prop("disabled")
            .await
            .unwrap()
            .as_deref()
            == Some("true")
        {
            disabled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(disabled, "the pay button stays enabled after a click");
}
