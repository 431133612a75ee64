//! Kapı behind a real reverse proxy: nginx from Debian's packages, started with the exact
//! configuration of docs/deploy/nginx.conf. The client's address must reach Kapı as nginx saw
//! it, whatever the client writes into `X-Forwarded-For`.

use std::{
    net::IpAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// nginx listening on 127.0.0.1, proxying to `upstreams` (`HOST:PORT`).
pub struct Nginx {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub async fn start(upstreams: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = include_str!("../../docs/deploy/nginx.conf");
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let servers: String = upstreams.iter().map(|u| format!("server {u};\n")).collect();
        std::fs::write(dir.path().join("kapi-upstream.conf"), servers).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            dir.path().join("kapi-listen.conf"),
            format!("listen 127.0.0.1:{port};\n"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let prefix = dir.path().to_str().unwrap().to_owned();
        // Run as the user running the tests (as root, workers would otherwise be `nobody`);
        // pid, logs and temporary files in the test's own folder.
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let mut globals =
            format!("daemon off; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log;");
        if is_root {
            globals.push_str(" user root;");
        }
        let mut child = Command::new(nginx_binary())
            .args([
                "-p",
                &prefix,
                "-c",
                &format!("{prefix}/nginx.conf"),
                "-g",
                &globals,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx runs (apt-get install nginx-light)");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    url,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("logs/error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> String {
    [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .unwrap_or("nginx")
    .to_owned()
}

/// A shopper's or merchant's machine at 127.0.0.2: a different address from nginx's own.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn behind_nginx_the_client_address_cannot_be_forged() {
    let app = spawn_app_with(|s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start(&[upstream]).await;
    let merchant = client_from("127.0.0.2");
    let list = |xff: Vec<&'static str>| {
        let mut req = merchant
            .get(format!("{}/api/v1/payments", nginx.url))
            .bearer_auth(app.secret_str());
        for line in xff {
            req = req.header("x-forwarded-for", line);
        }
        req.send()
    };
    // The merchant's server is allowed at its own address, through the proxy.
    let out = app.configure_merchant(&["--allowed-ip", "127.0.0.2"]).await;
    assert!(out.status.success());
    let resp = list(vec![]).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // nginx's request id is Kapı's too: one id in both logs.
    let id = resp.headers()["x-request-id"].to_str().unwrap();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "nginx's $request_id: {id}"
    );
    // Only 127.0.0.3 is allowed: claiming to be it, in any form, does not help.
    let out = app.configure_merchant(&["--allowed-ip", "127.0.0.3"]).await;
    assert!(out.status.success());
    for forged in [
        vec!["127.0.0.3"],
        vec!["127.0.0.3:8080"],
        vec!["[::ffff:127.0.0.3]:443"],
        vec!["127.0.0.3", "127.0.0.3"],
        vec!["127.0.0.1, 127.0.0.3"],
        vec!["unknown, 127.0.0.3"],
    ] {
        let resp = list(forged.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{forged:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "KP-6002");
        assert!(
            body["detail"].as_str().unwrap().contains("127.0.0.2"),
            "Kapı saw the real address: {body}"
        );
    }
    // A proxy that adds a header line of its own (HAProxy's `option forwardfor`), or writes a
    // port: the proxy's entry is the right-most, whatever the client wrote before it.
    for chain in [
        vec!["127.0.0.3", "127.0.0.2"],
        vec!["127.0.0.3, 127.0.0.2:51234"],
        vec!["127.0.0.3", "[::ffff:127.0.0.2]:51234"],
    ] {
        let mut req = app
            .client
            .get(app.url("/api/v1/payments"))
            .bearer_auth(app.secret_str());
        for line in &chain {
            req = req.header("x-forwarded-for", *line);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{chain:?}");
    }
    let out = app.configure_merchant(&["--any-ip"]).await;
    assert!(out.status.success());

    // A shopper through the proxy: the consent evidence holds the address nginx saw.
    let shopper = client_from("127.0.0.2");
    let started = shopper
        .post(format!("{}/pay", nginx.url))
        .header("x-forwarded-for", "198.51.100.77")
        .form(&app.start_form(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let card_page = started.headers()["location"].to_str().unwrap().to_owned();
    let id = card_page.trim_start_matches("/checkout/").to_owned();
    let html = shopper
        .get(format!("{}{card_page}", nginx.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = forms(&html)
        .into_iter()
        .find(|f| f.action == card_page)
        .expect("card form");
    let mut fields: Fields = vec![
        ("csrf_token", field(&form.fields, "csrf_token")),
        ("card_holder", "AYSE YILMAZ"),
        ("card_number", MC_FRICTIONLESS),
        ("exp_month", "12"),
        ("exp_year", "2030"),
        ("cvv", "123"),
        ("consent_preinfo", "yes"),
        ("consent_contract", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if html.contains("id=\"installments\"") {
        fields.push(("installment".into(), "1".into()));
    }
    let submitted = shopper
        .post(format!("{}{card_page}", nginx.url))
        .header("x-forwarded-for", "198.51.100.77")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
    let consents = app.app_state.storage.payments.consents(&id).await.unwrap();
    assert_eq!(consents.len(), 2);
    assert!(
        consents.iter().all(|c| c.client_ip == "127.0.0.2"),
        "{consents:?}"
    );
    let p = app.wait_final(&id).await;
    assert_eq!(p.client_ip.as_deref(), Some("127.0.0.2"));
}
