//! HTTPS: the given certificate, HSTS, the redirect-only HTTP port, reload without dropping
//! connections, the demo's self-signed certificate, and plain HTTP only when asked for on
//! loopback.

use std::time::Duration;

use kapi::{Application, config::Settings, crypto::vault::MasterKey};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

fn certificate() -> (String, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

fn client_trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::default();
    s.server.listen = "127.0.0.1:0".into();
    s.server.data_dir = dir.to_owned();
    s.security.master_key = Some(MasterKey::generate_base64());
    s.simulators.enabled = true;
    s
}

#[tokio::test]
async fn https_with_the_given_certificate_hsts_redirects_and_reload() {
    kapi::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = certificate();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let mut s = settings(dir.path());
    s.server.tls_cert = Some(cert_path.clone());
    s.server.tls_key = Some(key_path.clone());
    s.server.http_listen = Some("127.0.0.1:0".into());
    s.server.tls_reload_check_ms = 100;
    let app = Application::build(s).await.unwrap();
    let port = app.port();
    let redirect_port = app.redirect_port().unwrap();
    assert_eq!(app.public_url, format!("https://127.0.0.1:{port}"));
    tokio::spawn(app.run_until(std::future::pending()));

    let base = format!("https://127.0.0.1:{port}");
    let a = client_trusting(&cert_a);
    let resp = a.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    // Plain HTTP to the TLS port is not served.
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/"))
            .await
            .is_err()
    );
    // The HTTP port only redirects, keeping the path.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{redirect_port}/checkout/x?y=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(resp.headers()["location"], format!("{base}/checkout/x?y=1"));

    // New certificate files are picked up; the open connection stays usable.
    let (cert_b, key_b) = certificate();
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    let b = client_trusting(&cert_b);
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if b.get(format!("{base}/")).send().await.is_ok() {
            reloaded = true;
            break;
        }
    }
    assert!(reloaded, "the new certificate was not served");
    assert_eq!(
        a.get(format!("{base}/")).send().await.unwrap().status(),
        StatusCode::OK,
        "kept connection"
    );
    let fresh_a = client_trusting(&cert_a);
    assert!(
        fresh_a.get(format!("{base}/")).send().await.is_err(),
        "new connections get the new certificate"
    );
}

#[tokio::test]
async fn plain_http_needs_the_flag_and_loopback() {
    kapi::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let err = Application::build(settings(dir.path()))
        .await
        .err()
        .expect("refused without TLS");
    assert!(format!("{err:#}").contains("no TLS certificate"), "{err:#}");
    let mut s = settings(dir.path());
    s.server.allow_plain_http = true;
    s.server.listen = "0.0.0.0:0".into();
    // Real parts (never called here), so that only the plain-HTTP rule can refuse.
    s.simulators.enabled = false;
    s.threeds.acs_base_url = Some("https://acs.example".into());
    s.acquirer.base_url = Some("https://bank.example".into());
    let err = Application::build(s)
        .await
        .err()
        .expect("refused on a public address");
    assert!(
        format!("{err:#}").contains("plain HTTP is only allowed on a loopback address"),
        "{err:#}"
    );
    let mut s = settings(dir.path());
    s.server.allow_plain_http = true;
    assert!(Application::build(s).await.is_ok());
}

/// Behind a proxy that terminates TLS on another host, Kapı may serve plain HTTP on any address,
/// but only when it is told whose `X-Forwarded-For` to believe and which https:// address
/// browsers use.
#[tokio::test]
async fn plain_http_behind_a_proxy_needs_trusted_proxies_and_an_https_public_url() {
    kapi::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let base = || {
        let mut s = settings(dir.path());
        s.server.plain_http_behind_proxy = true;
        s.server.listen = "0.0.0.0:0".into();
        s.simulators.enabled = false;
        s.threeds.acs_base_url = Some("https://acs.example".into());
        s.acquirer.base_url = Some("https://bank.example".into());
        s
    };
    let mut s = base();
    s.server.public_url = Some("https://pay.example".into());
    let err = Application::build(s)
        .await
        .err()
        .expect("refused without proxies");
    assert!(
        format!("{err:#}").contains("needs server.trusted_proxies"),
        "{err:#}"
    );

    let mut s = base();
    s.server.trusted_proxies = vec!["10.0.0.0/8".into()];
    let err = Application::build(s)
        .await
        .err()
        .expect("refused without a public URL");
    assert!(
        format!("{err:#}").contains("https:// --public-url"),
        "{err:#}"
    );

    let mut s = base();
    s.server.trusted_proxies = vec!["10.0.0.0/8".into()];
    s.server.public_url = Some("http://pay.example".into());
    assert!(
        Application::build(s).await.is_err(),
        "an http:// public URL is refused"
    );

    let mut s = base();
    s.server.trusted_proxies = vec!["10.0.0.0/8".into()];
    s.server.public_url = Some("https://pay.example".into());
    let app = Application::build(s)
        .await
        .expect("served behind the proxy");
    assert_eq!(app.public_url, "https://pay.example");
}

#[tokio::test]
async fn demo_serves_https_with_a_self_signed_certificate_end_to_end() {
    kapi::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.server.demo = true;
    let app = Application::build(s).await.unwrap();
    let base = app.public_url.clone();
    assert!(base.starts_with("https://"));
    let shop = app.demo_url.clone().unwrap();
    assert!(
        shop.starts_with("http://"),
        "the demo shop itself is plain HTTP"
    );
    tokio::spawn(app.run_until(std::future::pending()));
    let pem = std::fs::read_to_string(dir.path().join("tls/localhost.crt")).unwrap();
    let browser = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Buy in the shop, pay with the frictionless card: 3-D Secure and the bank are reached
    // over HTTPS by Kapı itself.
    let front = browser
        .get(format!("{shop}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let buy = crate::helpers::forms(&front).into_iter().next().unwrap();
    let signed = browser
        .post(format!("{shop}/buy"))
        .form(&buy.fields)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let to_kapi = crate::helpers::forms(&signed).into_iter().next().unwrap();
    assert!(to_kapi.action.starts_with("https://"));
    let started = browser
        .post(&to_kapi.action)
        .form(&to_kapi.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    // Over HTTPS the session cookie is Secure, HttpOnly and SameSite=Lax.
    let cookie = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in ["kapi_session=", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let card_path = started.headers()["location"].to_str().unwrap().to_owned();
    let card = browser
        .get(format!("{base}{card_path}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = crate::helpers::forms(&card)
        .into_iter()
        .find(|f| f.action == card_path)
        .unwrap();
    let mut fields = form.fields.clone();
    fields.retain(|(k, _)| !matches!(k.as_str(), "card_holder" | "card_number" | "cvv"));
    for (k, v) in [
        ("card_holder", "AYSE YILMAZ"),
        ("card_number", "5555555555554444"),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvv", "123"),
        ("consent_preinfo", "yes"),
        ("consent_contract", "yes"),
        // The demo merchant offers installments: single payment.
        ("installment", "1"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let paid = browser
        .post(format!("{base}{card_path}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let result = browser
        .get(format!(
            "{base}{}",
            paid.headers()["location"].to_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(result.text().await.unwrap().contains("Ödemeniz onaylandı"));
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_the_real_binary() {
    kapi::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = certificate();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
    if let Some(url) = crate::helpers::fresh_database_url().await {
        command.env("KAPI__DATABASE__URL", url);
    }
    let mut child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .env(
            "KAPI__SECURITY__MASTER_KEY",
            MasterKey::generate_base64().expose_secret(),
        )
        // No polling within the test's time: only the signal can reload.
        .env("KAPI__SERVER__TLS_RELOAD_CHECK_MS", "3600000")
        .env("KAPI__SIMULATORS__ENABLED", "true")
        .env("KAPI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kapi starts");
    let base = format!("https://127.0.0.1:{port}");
    let a = client_trusting(&cert_a);
    let mut up = false;
    for _ in 0..200 {
        if a.get(format!("{base}/")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "kapi did not start with the first certificate");
    let (cert_b, key_b) = certificate();
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    let b = client_trusting(&cert_b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.get(format!("{base}/")).send().await.is_err(),
        "not reloaded before the signal"
    );
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut reloaded = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if b.get(format!("{base}/")).send().await.is_ok() {
            reloaded = true;
            break;
        }
    }
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "SIGHUP must not end the server");
    assert!(reloaded, "the new certificate was not served after SIGHUP");
}
