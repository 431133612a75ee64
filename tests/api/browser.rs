//! The shopper's journey in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), against the real server and its demo shop. Screenshots of every
//! step go to `target/screenshots/`; axe-core checks accessibility.

use std::{os::unix::process::CommandExt, process::Stdio, time::Duration};

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
    /// chromedriver and every Chromium it started: they share a process group of their own
    /// (killing chromedriver alone would leave Chromium running, and a suite run would pile
    /// up hundreds of them).
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
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

/// Chromium at `width` × `height`: below 500 px as a phone (mobile emulation: a real phone's
/// viewport, overlay scrollbars and touch), since a desktop window cannot be that narrow.
async fn browser(javascript: bool, width: u32, height: u32) -> Browser {
    let port = free_port();
    let driver = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
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
    if width < 500 {
        options["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0 },
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
        });
    }
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

/// A Chrome DevTools command through chromedriver (full-page screenshots).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params }).to_string();
        (axum::http::Method::POST, Some(body))
    }
}

impl Browser {
    async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        let v = self.client.issue_cmd(Cdp { cmd, params }).await.unwrap();
        match v.get("value") {
            Some(inner) => inner.clone(),
            None => v,
        }
    }

    /// A screenshot of the whole page, not only what the screen shows.
    async fn shot(&self, name: &str) {
        use base64::Engine;
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(1280.0),
            size["height"].as_f64().unwrap_or(1000.0).min(12_000.0),
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .unwrap();
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
        let (url, text) = (self.url().await, self.text().await);
        panic!("never showed {part:?}; at {url}, which says:\n{text}");
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

    /// Whether the page is no wider than the viewport (nothing to scroll sideways).
    async fn fits(&self) -> bool {
        serde_json::from_value(
            self.client
                .execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth",
                    vec![],
                )
                .await
                .unwrap(),
        )
        .unwrap()
    }

    /// A state of the journey: saved as a screenshot, checked to fit the width and by axe.
    async fn check(&self, name: &str) {
        self.shot(name).await;
        assert!(self.fits().await, "{name}: the page scrolls sideways");
        assert_accessible(&self.axe().await, name);
    }

    /// Runs a script and returns its string result.
    async fn js(&self, script: &str) -> String {
        let v = self.client.execute(script, vec![]).await.unwrap();
        match v {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// The brands whose badge is actually drawn (not just marked shown).
    async fn badges_drawn(&self) -> String {
        self.js(
            "return [...document.querySelectorAll('#card-brand svg[data-brand]')]
               .filter(s => s.getBoundingClientRect().width > 0 && getComputedStyle(s).display !== 'none')
               .map(s => s.dataset.brand).join(',')",
        )
        .await
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
        self.type_into("#exp", "1230").await;
        self.type_into("#cvv", "123").await;
        self.click("#consent_preinfo").await;
        self.click("#consent_contract").await;
    }

    /// Runs axe-core on the page; returns its violations, of any impact.
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
    b.check("01-shop").await;
    b.click("form.product button.btn-primary").await;
    b.wait_for_url("/checkout/pay_").await;
    b.check("02-card-page").await;
    // Each document reads on its own page, and leads back to the card page.
    b.click("details.legal summary").await;
    b.click("details.legal[open] .legal-links a").await;
    b.wait_for_url("/documents/pre-information-form").await;
    b.check("02b-document").await;
    b.click(".doc-nav a").await;
    b.wait_for_url("/checkout/pay_").await;
    b.fill_card("4111111111111111").await;
    // The number is grouped as typed, the expiry gets its slash, and the brand is drawn.
    let number = b.find("#card_number").await.prop("value").await.unwrap();
    assert_eq!(number.as_deref(), Some("4111 1111 1111 1111"));
    let exp = b.find("#exp").await.prop("value").await.unwrap();
    assert_eq!(exp.as_deref(), Some("12/30"));
    assert_eq!(b.badges_drawn().await, "visa");
    let countdown = b.find("#countdown").await.text().await.unwrap();
    assert!(
        countdown.contains("dk") && countdown.contains("kaldı"),
        "{countdown}"
    );
    // The options for this Bonus card arrived as the number was typed: six installments, and
    // the summary, the order box and the pay button all name their total.
    b.click("label[for='installment-6']").await;
    let total = b
        .js("return document.querySelector('#installment-6 + label .option-total').textContent")
        .await;
    assert_eq!(b.find("#summary-amount").await.text().await.unwrap(), total);
    assert!(
        b.find("#summary-plan")
            .await
            .text()
            .await
            .unwrap()
            .starts_with("6 taksit")
    );
    assert!(
        b.find("#confirm-total")
            .await
            .text()
            .await
            .unwrap()
            .contains(&total)
    );
    assert_eq!(
        b.find("#pay-button").await.text().await.unwrap(),
        format!("{total} öde")
    );
    assert!(b.text().await.contains("Garanti BBVA Bonus"));
    b.check("03-card-filled").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.check("04-acs").await;
    // A wrong code: said once, at the field, as an error.
    b.type_into("#otp", "000000").await;
    b.click("button[value=verify]").await;
    b.wait_for_text("Kod hatalı").await;
    assert_eq!(b.text().await.matches("Kod hatalı").count(), 1, "said once");
    assert_eq!(
        b.js("return document.getElementById('otp').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    b.check("04b-acs-wrong-code").await;
    b.find("#otp").await.clear().await.unwrap();
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url("/result").await;
    b.check("05-result").await;
    let card = b.js("return [...document.querySelectorAll('.details-list dd')].map(d => d.textContent).join('|')").await;
    assert!(
        card.contains("•••• 1111") && !card.contains("411111"),
        "last four only: {card}"
    );
    // The result posts itself to the merchant.
    b.wait_for_url(&format!("{shop}/ok")).await;
    b.check("06-merchant-ok").await;
    let text = b.text().await;
    assert!(text.contains("Teşekkürler, ödemeniz alındı"), "{text}");
    assert!(
        text.contains("İmza doğrulandı"),
        "the merchant verified the signature: {text}"
    );
    assert!(text.contains("approved"));
    // The shop's API view of the order.
    b.click("a[href^='/payments?order_id=']").await;
    b.wait_for_text("200 OK").await;
    b.check("06b-merchant-api-view").await;
    assert!(b.text().await.contains("\"status\": \"approved\""));
}

#[tokio::test]
async fn browser_declined_card_tells_the_shopper_what_to_do_not_the_banks_text() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 1280, 1000).await;
    b.buy_in_shop(&shop).await;
    b.fill_card("4000 0000 0000 9995").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    // The demo lets the shopper try another card: back on the card page, told why in plain
    // words, never the bank's own text.
    b.wait_for_text("Kartınız onaylanmadı").await;
    let text = b.text().await;
    assert!(
        text.contains("Kartınızın limiti ya da bakiyesi bu ödeme için yetmiyor"),
        "{text}"
    );
    assert!(
        !text.contains("Limit yetersiz"),
        "the bank's text is the merchant's: {text}"
    );
    b.check("07-declined").await;
    // Giving up: the merchant's result carries the bank's own text.
    b.click("form[action$='/cancel'] button").await;
    b.wait_for_url(&format!("{shop}/fail")).await;
    let text = b.text().await;
    assert!(text.contains("Ödeme tamamlanamadı"), "{text}");
    assert!(text.contains("Limit yetersiz / Yetersiz bakiye"), "{text}");
    assert!(text.contains("İmza doğrulandı"));
    b.check("07b-merchant-fail").await;
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
    // Without the script the expiry is typed with its slash.
    b.find("#exp").await.clear().await.unwrap();
    b.type_into("#exp", "12/30").await;
    b.click("#pay-button").await;
    // Without JavaScript the options come after the first submit; the card number and CVV
    // are typed again, everything else is kept.
    assert!(b.text().await.contains("Garanti BBVA Bonus"));
    b.shot("08-no-js-installments").await;
    b.type_into("#card_number", "4111 1111 1111 1111").await;
    b.type_into("#cvv", "123").await;
    b.click("label[for='installment-3']").await;
    b.click("#pay-button").await;
    // A Bonus card's installments go to the demo's Garanti BBVA terminal: each step of the
    // way waits for a click — to the bank's gate, from the gate to the issuer's page, back
    // from the issuer to the gate, and from the gate to Kapı.
    b.click("#redirect-form button").await;
    b.wait_for_url("/sim/garanti/servlet/gt3dengine").await;
    b.click("#redirect-form button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.click("#redirect-form button").await;
    b.wait_for_url("/sim/garanti/notify").await;
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
            for _ in 0..60 {
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
    tab_to("exp").await.send_keys("1230").await.unwrap();
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
    let outline = b
        .js("return getComputedStyle(document.activeElement).outlineStyle")
        .await;
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

/// One journey on a phone: the shop, either way in, the card page with installments, the
/// issuer's page, the result and the merchant's page; each fits the width and passes axe.
async fn phone_journey(width: u32, lang: &str, via_api: bool) {
    let (app, shop) = demo_app().await;
    let b = browser(true, width, 800).await;
    let name = |step: &str| format!("{width}-{lang}-{step}");
    b.client
        .goto(&format!("{shop}/?lang={lang}"))
        .await
        .unwrap();
    b.check(&name("1-shop")).await;
    let button = if via_api {
        "form.product button[formaction='/buy-api']"
    } else {
        "form.product button.btn-primary"
    };
    b.click(button).await;
    b.wait_for_url("/checkout/pay_").await;
    b.check(&name("2-card-page")).await;
    b.fill_card("4111111111111111").await;
    b.click("label[for='installment-6']").await;
    let total = b
        .js("return document.querySelector('#installment-6 + label .option-total').textContent")
        .await;
    assert_eq!(
        b.find("#summary-amount").await.text().await.unwrap(),
        total,
        "{}",
        name("summary")
    );
    assert!(
        b.find("#pay-button")
            .await
            .text()
            .await
            .unwrap()
            .contains(&total)
    );
    assert_eq!(b.badges_drawn().await, "visa");
    b.check(&name("3-card-filled")).await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.check(&name("4-acs")).await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url("/result").await;
    b.check(&name("5-result")).await;
    b.wait_for_url(&format!("{shop}/ok")).await;
    b.check(&name("6-merchant-ok")).await;
    assert!(b.text().await.contains(if lang == "en" {
        "Signature verified"
    } else {
        "İmza doğrulandı"
    }));
}

#[tokio::test]
async fn browser_phones_fit_every_page_in_both_languages_both_ways_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    for (width, lang, via_api) in [
        (360, "tr", false),
        (360, "en", true),
        (390, "tr", true),
        (390, "en", false),
    ] {
        phone_journey(width, lang, via_api).await;
    }
}

#[tokio::test]
async fn browser_wide_screen_in_english_via_the_api() {
    let _one = ONE_AT_A_TIME.lock().await;
    phone_journey(1280, "en", true).await;
}

#[tokio::test]
async fn browser_card_page_helps_as_the_shopper_types() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 390, 844).await;
    b.buy_in_shop(&shop).await;
    let number = b.find("#card_number").await;
    assert_eq!(b.badges_drawn().await, "", "no badge before a number");
    for (typed, brand, grouped) in [
        ("378282246310005", "amex", "3782 822463 10005"),
        ("9792000000000003", "troy", "9792 0000 0000 0003"),
        ("5555555555554444", "mastercard", "5555 5555 5555 4444"),
        ("4111111111111111", "visa", "4111 1111 1111 1111"),
    ] {
        number.clear().await.unwrap();
        number.send_keys(typed).await.unwrap();
        assert_eq!(b.badges_drawn().await, brand, "{typed}");
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
    b.shot("12-badge-visa").await;
    // Six installments on a Bonus card: the summary, the order box and the button follow…
    let single = b
        .find("#pay-button")
        .await
        .attr("data-single")
        .await
        .unwrap()
        .unwrap();
    let order_amount = b
        .find("#summary-amount")
        .await
        .attr("data-single")
        .await
        .unwrap()
        .unwrap();
    b.click("label[for='installment-6']").await;
    let six = b.find("#pay-button").await.text().await.unwrap();
    assert_ne!(six, single);
    assert_ne!(
        b.find("#summary-amount").await.text().await.unwrap(),
        order_amount
    );
    // …and a debit card, which pays at once, goes back to the order amount.
    number.clear().await.unwrap();
    number.send_keys("4355080000000005").await.unwrap();
    // The table is fetched again for the new card: wait for it, then read it whole.
    b.wait_for_text("yalnızca tek çekim").await;
    let note = b
        .js("return document.querySelector('#installment-note').textContent")
        .await;
    assert!(note.contains("yalnızca tek çekim"), "{note}");
    assert_eq!(b.find("#pay-button").await.text().await.unwrap(), single);
    assert_eq!(
        b.find("#summary-amount").await.text().await.unwrap(),
        order_amount
    );
    let status = b
        .find("#installment-status")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        status.contains("Ziraat Bankası") && status.contains(&note),
        "announced: {status}"
    );
    // A submit with errors: the focus moves to the summary of the errors, which links to
    // each field; the consent's message sits under its own text, full width.
    b.type_into("#card_holder", "AYSE YILMAZ").await;
    b.type_into("#exp", "1330").await;
    b.click("#pay-button").await;
    b.wait_for_text("Lütfen aşağıdaki alanları düzeltin").await;
    assert_eq!(
        b.js("return document.activeElement.id").await,
        "error-summary"
    );
    let consent_error_width = b.js(
        "const e = document.getElementById('consent_preinfo-error'); const box = e.closest('.consent');
         return String(e.getBoundingClientRect().width / box.getBoundingClientRect().width)",
    ).await;
    let ratio: f64 = consent_error_width.parse().unwrap();
    assert!(ratio > 0.6, "the consent error has room ({ratio})");
    b.check("13-errors-focused").await;
    // The language switch keeps the name but never the card number.
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
    let _ = app;
}

#[tokio::test]
async fn browser_error_pages_and_an_unfinished_challenge_are_clear_and_accessible() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 360, 800).await;
    // A payment that does not exist, and an address that does not either: said once each.
    b.client
        .goto(&format!(
            "{}/checkout/pay_00000000000000000000000000000000",
            app.address
        ))
        .await
        .unwrap();
    b.check("14-payment-not-found").await;
    let text = b.text().await;
    let said = text.matches("Ödeme bulunamadı").count() + text.matches("Payment not found").count();
    assert_eq!(said, 1, "{text}");
    b.client
        .goto(&format!("{}/nowhere", app.address))
        .await
        .unwrap();
    b.check("15-page-not-found").await;
    let text = b.text().await;
    assert!(
        text.contains("Sayfa bulunamadı") || text.contains("Page not found"),
        "{text}"
    );
    // Sent to the issuer's page, the shopper comes back without finishing: a choice, and
    // giving up ends the payment at once and tells the merchant.
    b.buy_in_shop(&shop).await;
    let payment_url = b.url().await;
    b.fill_card("4111111111111111").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.client
        .goto(&format!("{payment_url}/result"))
        .await
        .unwrap();
    b.wait_for_text("doğrulaması tamamlanmadı").await;
    b.check("16-challenge-unfinished").await;
    b.click("form[action$='/cancel'] button").await;
    b.wait_for_url("/result").await;
    b.wait_for_text("3-D Secure doğrulamasından vazgeçtiniz")
        .await;
    b.wait_for_url(&format!("{shop}/fail")).await;
    b.wait_for_text("cancelled").await;
}

#[tokio::test]
async fn browser_a_declined_shopper_pays_with_another_card() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 390, 844).await;
    b.buy_in_shop(&shop).await;
    let card_page = b.url().await;
    b.fill_card("4000 0000 0000 9995").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    // Back on the card page: why, and another card.
    b.wait_for_text("Kartınız onaylanmadı").await;
    assert_eq!(b.url().await, card_page);
    let notice = b.find("#retry-notice").await.text().await.unwrap();
    assert!(
        notice.contains("limiti ya da bakiyesi") && notice.contains("Kalan deneme hakkınız: 2"),
        "{notice}"
    );
    assert_eq!(
        b.js("return document.activeElement.id").await,
        "retry-notice"
    );
    b.check("17-retry").await;
    b.fill_card("5555 5555 5555 4444").await;
    b.click("#pay-button").await;
    b.wait_for_url(&format!("{shop}/ok")).await;
    b.wait_for_text("İmza doğrulandı").await;
    let order_id = b
        .js("return [...document.querySelectorAll('dt')].find(d => d.textContent === 'order_id').nextElementSibling.textContent")
        .await;
    // The shop heard once: one signed result by the browser, one callback and one event.
    let mut rows = Vec::new();
    for _ in 0..100 {
        let page = app.get(&format!("{shop}/")).await;
        rows = text_of(&page.body, ".notifications li")
            .into_iter()
            .filter(|r| r.contains(&order_id))
            .collect();
        if rows.iter().any(|r| r.contains("payment.approved")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 2, "one signed result and one event: {rows:?}");
    assert!(rows.iter().all(|r| r.contains("approved")), "{rows:?}");
    // The attempts are in the payment's record.
    b.click("a[href^='/payments?order_id=']").await;
    b.wait_for_text("200 OK").await;
    let text = b.text().await;
    assert!(text.contains("\"awaiting_retry\""), "{text}");
    assert!(text.contains("\"attempt\": 2"), "{text}");
    b.check("18-retry-api-view").await;
}

/// NestPay's two ways in on a phone: the demo shop's NestPay button (`3d_pay_hosting`, Kapı's
/// card page) and a shop's own card form posting the card (`3d_pay`: Kapı asks only for the
/// consents); every page fits and passes axe, and the shop's hash check accepts the result.
#[tokio::test]
async fn browser_nestpay_ways_in_on_a_phone() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (app, shop) = demo_app().await;
    let b = browser(true, 360, 800).await;
    b.client.goto(&format!("{shop}/")).await.unwrap();
    b.check("nestpay-1-shop").await;
    b.click("form.product button[formaction='/buy-nestpay']")
        .await;
    b.wait_for_url("/checkout/pay_").await;
    b.check("nestpay-2-card-page").await;
    b.fill_card("4111111111111111").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url(&format!("{shop}/nestpay/ok")).await;
    b.wait_for_text("İmza doğrulandı").await;
    b.check("nestpay-3-merchant-ok").await;

    // `3d_pay`: a form like a shop's own card form, built on the shop's page (whose CSP lets
    // forms go to Kapı) and signed with the demo merchant's store key.
    let store = &app.app_state.storage.merchants;
    let record = store.nestpay_of("demo-shop").await.unwrap().unwrap();
    let key = kapi::merchants::nestpay_store_key(&app.app_state.vault, &record).unwrap();
    let mut fields: Vec<(String, String)> = [
        ("clientid", record.client_id.as_str()),
        ("storetype", "3d_pay"),
        ("amount", "89.9"),
        ("currency", "949"),
        ("oid", &random_id("NP")),
        ("okUrl", &format!("{shop}/nestpay/ok")),
        ("failUrl", &format!("{shop}/nestpay/fail")),
        ("rnd", "browser"),
        ("lang", "tr"),
        ("TranType", "Auth"),
        ("taksit", ""),
        ("pan", "4111111111111111"),
        ("Ecom_Payment_Card_ExpDate_Month", "12"),
        ("Ecom_Payment_Card_ExpDate_Year", "30"),
        ("cv2", "123"),
        ("hashAlgorithm", "ver3"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    let hash = kapi::wire::nestpay::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        kapi::wire::nestpay::REQUEST_EXCLUDED,
        secrecy::ExposeSecret::expose_secret(&key),
    );
    fields.push(("hash".to_owned(), hash));
    b.client.goto(&format!("{shop}/")).await.unwrap();
    let script = "const [action, fields] = arguments;
         const form = document.createElement('form');
         form.method = 'post'; form.action = action;
         for (const [name, value] of fields) {
           const input = document.createElement('input');
           input.type = 'hidden'; input.name = name; input.value = value;
           form.appendChild(input);
         }
         document.body.appendChild(form); form.submit();";
    let args = vec![
        Value::String(format!("{}/fim/est3Dgate", app.address)),
        serde_json::to_value(&fields).unwrap(),
    ];
    b.client.execute(script, args).await.unwrap();
    b.wait_for_url("/checkout/pay_").await;
    b.check("nestpay-4-consent-page").await;
    let page = b.text().await;
    assert!(page.contains("•••• 1111"), "{page}");
    assert!(!page.contains("4111111111111111") && !page.contains("4111 1111"));
    assert!(b.client.find(Locator::Css("#card_number")).await.is_err());
    b.click("#consent_preinfo").await;
    b.click("#consent_contract").await;
    b.click("#pay-button").await;
    b.wait_for_url("/sim/acs/challenge").await;
    b.type_into("#otp", &otp(&app).await).await;
    b.click("button[value=verify]").await;
    b.wait_for_url(&format!("{shop}/nestpay/ok")).await;
    // An order the demo shop did not place: its page speaks the browser's language.
    b.wait_for_text("Signature verified").await;
}
