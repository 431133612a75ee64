//! A merchant's logo and accent colour on its pages: shown, and shown safely.

use reqwest::StatusCode;
use sha2::{Digest, Sha384};

use crate::{helpers::*, security::assert_loads_only_the_inventory};

/// A 24×8 PNG in the merchant's red.
const LOGO_HEX: &str = "89504e470d0a1a0a0000000d49484452000000180000000808020000006cc3a8340000001449444154789c6378cc254e15c4306ad0483608001459c30105ee0f4f0000000049454e44ae426082";

fn attr(html: &str, selector: &str, name: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name).map(str::to_owned))
}

/// WCAG contrast of `#rrggbb` on white.
fn contrast_on_white(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    1.05 / (l + 0.05)
}

#[tokio::test]
async fn a_merchants_logo_and_colour_are_served_by_kapi_and_kept_readable() {
    let app = spawn_app().await;
    let logo = hex::decode(LOGO_HEX).unwrap();
    let logo_file = app.data_dir.path().join("logo.png");
    std::fs::write(&logo_file, &logo).unwrap();
    // A pale yellow: Kapı darkens it until text in it stays readable on white.
    let out = app
        .configure_merchant(&[
            "--accent-colour",
            "#FFD400",
            "--logo",
            logo_file.to_str().unwrap(),
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = app.start_payment(&[]).await;
    let page = app.card_page(&id).await;
    assert_loads_only_the_inventory(&page.body, "branded card page");
    // The stylesheet: custom properties only, with the integrity the page names.
    let href = attr(&page.body, "link[href^='/brand/']", "href").expect("theme link");
    let integrity = attr(&page.body, "link[href^='/brand/']", "integrity").unwrap();
    let css = app.client.get(app.url(&href)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let body = css.text().await.unwrap();
    use base64::Engine;
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body.as_bytes()));
    assert_eq!(integrity, format!("sha384-{digest}"));
    for line in body
        .lines()
        .filter(|l| !matches!(l.trim(), ":root {" | "}"))
    {
        assert!(line.trim_start().starts_with("--"), "{line}");
    }
    let accent = body
        .lines()
        .find_map(|l| l.trim().strip_prefix("--accent: "))
        .unwrap()
        .trim_end_matches(';');
    assert_ne!(accent, "#ffd400");
    assert!(contrast_on_white(accent) >= 4.5, "{accent}");
    // The logo: the very bytes, as an image.
    let src = attr(&page.body, "img.merchant-logo", "src").expect("logo");
    let img = app.client.get(app.url(&src)).send().await.unwrap();
    assert_eq!(img.headers()["content-type"], "image/png");
    assert_eq!(img.bytes().await.unwrap().as_ref(), logo.as_slice());
    // The result page carries the branding too.
    let result = app
        .complete_3ds(app.submit_card(&id, MC_FRICTIONLESS).await)
        .await;
    assert!(result.body.contains(&href));
    assert!(result.body.contains(&src));
    assert_loads_only_the_inventory(&result.body, "branded result page");

    // Taken away again: Kapı's own look.
    let out = app
        .configure_merchant(&["--no-accent-colour", "--no-logo"])
        .await;
    assert!(out.status.success());
    let page = app.card_page(&app.start_payment(&[]).await).await;
    assert!(!page.body.contains("/brand/"));
    assert_eq!(
        app.client.get(app.url(&src)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn nothing_but_a_colour_and_an_image_is_accepted() {
    let app = spawn_app().await;
    for colour in ["red", "#fff", "#ffd400;} body{display:none", "url(x)"] {
        let out = app.configure_merchant(&["--accent-colour", colour]).await;
        assert!(!out.status.success(), "{colour}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("#rrggbb"));
    }
    let svg = app.data_dir.path().join("logo.svg");
    std::fs::write(
        &svg,
        "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    )
    .unwrap();
    let html = app.data_dir.path().join("logo.png");
    std::fs::write(&html, "<script>alert(1)</script>").unwrap();
    for file in [&svg, &html] {
        let out = app
            .configure_merchant(&["--logo", file.to_str().unwrap()])
            .await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("PNG, JPEG or WebP"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let big = app.data_dir.path().join("big.png");
    let mut bytes = hex::decode(LOGO_HEX).unwrap();
    bytes.resize(65 * 1024, 0);
    std::fs::write(&big, bytes).unwrap();
    let out = app
        .configure_merchant(&["--logo", big.to_str().unwrap()])
        .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("64 KiB"));
    // Nothing was stored, and unknown merchants have nothing to serve.
    let page = app.card_page(&app.start_payment(&[]).await).await;
    assert!(!page.body.contains("/brand/"));
    for path in ["/brand/nobody/logo", "/brand/nobody/theme.css"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
