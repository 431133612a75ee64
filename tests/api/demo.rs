//! The README walkthrough: the demo shop sells, Kapı takes the payment, the shop verifies.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn demo_shop_sells_with_a_test_card_and_verifies_the_result() {
    let app = spawn_app_with(|s| s.server.demo = true).await;
    let shop = app.demo_url.clone().expect("demo shop runs");
    let front = app.get(&format!("{shop}/")).await;
    assert_eq!(front.status, StatusCode::OK);
    assert!(front.body.contains("Satın al"));
    let buy = forms(&front.body)
        .into_iter()
        .next()
        .expect("a product form");

    // "Satın al": the shop answers with a signed form that the browser posts to Kapı.
    let signed = app
        .post_form(&format!("{shop}{}", buy.action), &buy.fields)
        .await;
    let to_kapi = forms(&signed.body).into_iter().next().unwrap();
    assert_eq!(to_kapi.action, format!("{}/pay", app.address));
    let started = app.post_form(&to_kapi.action, &to_kapi.fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let id = started
        .location
        .unwrap()
        .trim_start_matches("/checkout/")
        .to_owned();
    assert!(app.card_page(&id).await.body.contains("Kapı Demo Mağaza"));

    let result = app
        .complete_3ds(app.submit_card(&id, VISA_CHALLENGE).await)
        .await;
    let back = form_by_id(&result.body, "merchant-return").unwrap();
    assert_eq!(back.action, format!("{shop}/ok"));
    let thanks = app.post_form(&back.action, &back.fields).await;
    assert!(
        thanks.body.contains("Teşekkürler, ödemeniz alındı"),
        "{}",
        thanks.body
    );
    assert!(thanks.body.contains("İmza doğrulandı"));

    // The server-to-server notification shows up on the shop's front page.
    let order_id = field(&back.fields, "order_id").to_owned();
    let mut seen = false;
    for _ in 0..50 {
        let page = app.get(&format!("{shop}/")).await;
        if page.body.contains(&order_id) {
            assert!(page.body.contains("approved"));
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen, "the shop never received the callback");
}
