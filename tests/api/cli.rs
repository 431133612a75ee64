//! The `kapi` binary's merchant command, as an operator runs it.

use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::*;

fn kapi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args(args)
        .output()
        .expect("kapi runs")
}

#[tokio::test]
async fn merchant_add_prints_only_json_and_the_merchant_can_take_payments() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let out = kapi(&[
        "merchant",
        "add",
        "--data-dir",
        data_dir,
        "--name",
        "CLI Mağaza",
        "--return-origin",
        "https://shop.example",
        "--return-origin",
        "http://127.0.0.1:9",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "stdout must hold only the JSON: {stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let obj = json.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    let merchant_id = obj["merchant_id"].as_str().unwrap().to_owned();
    let secret = obj["secret_key"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32);

    // The secret is stored only encrypted.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));

    // A server on the same data folder (and so the same master key) accepts its forms.
    let app = spawn_app_with(|s| {
        s.server.data_dir = dir.path().to_owned();
        s.security.master_key = None;
    })
    .await;
    let mut fields = app.start_form(&[
        ("merchant_id", &merchant_id),
        ("ok_url", "http://127.0.0.1:9/ok"),
        ("fail_url", "https://shop.example/fail"),
        ("callback_url", ""),
    ]);
    fields.retain(|(k, _)| k != "signature");
    let fields =
        kapi::crypto::signature::signed(fields, &secrecy::SecretString::from(secret)).unwrap();
    let page = app.pay(&fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        app.get(&page.location.unwrap())
            .await
            .body
            .contains("CLI Mağaza")
    );
}

#[test]
fn merchant_add_refuses_a_bad_origin_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = kapi(&[
        "merchant",
        "add",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--name",
        "X",
        "--return-origin",
        "https://shop.example/path",
        "--json",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an origin"));
}

#[tokio::test]
async fn a_merchant_without_the_sellers_legal_details_is_warned_and_can_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let out = kapi(&[
        "merchant",
        "add",
        "--data-dir",
        data_dir,
        "--name",
        "Eksik Mağaza",
        "--return-origin",
        "https://shop.example",
        "--phone",
        "+90 212 000 00 00",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for flag in ["--address", "--mersis", "--email"] {
        assert!(stderr.contains(flag), "{flag} named: {stderr}");
    }
    assert!(!stderr.contains("--phone"), "{stderr}");
    assert!(stderr.contains("kapi merchant configure"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = json["merchant_id"].as_str().unwrap().to_owned();
    let out = kapi(&[
        "merchant",
        "configure",
        "--data-dir",
        data_dir,
        "--merchant-id",
        &id,
        "--address",
        "Bağdat Cad. No: 5, Kadıköy / İstanbul",
        "--mersis",
        "0123456789012345",
        "--email",
        "destek@shop.example",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "all required details are set now"
    );
    // The documents print them.
    let app = spawn_app_with(|s| {
        s.server.data_dir = dir.path().to_owned();
        s.security.master_key = None;
    })
    .await;
    let m = app
        .app_state
        .storage
        .merchants
        .get_merchant(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.address, "Bağdat Cad. No: 5, Kadıköy / İstanbul");
    assert_eq!(m.mersis, "0123456789012345");
    assert_eq!(m.phone, "+90 212 000 00 00", "left as it was");
    assert!(kapi::merchants::missing_legal_details(&m).is_empty());
    // A detail must be plain text.
    let out = kapi(&[
        "merchant",
        "configure",
        "--data-dir",
        data_dir,
        "--merchant-id",
        &id,
        "--address",
        "line\nbreak",
    ]);
    assert!(!out.status.success());
}
