//! The documented protocol holds against real output: the snippets in docs/PROTOCOL.md
//! verify results and events Kapı signed.

use std::{io::Write, process::Stdio};

use crate::helpers::*;

/// The code between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in PROTOCOL.md.
fn snippet(marker: &str, fence: &str) -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    let start = doc
        .find(&format!("<!-- {marker}:start -->"))
        .expect("start marker");
    let end = doc
        .find(&format!("<!-- {marker}:end -->"))
        .expect("end marker");
    let block = &doc[start..end];
    let code_start = block.find(fence).unwrap() + fence.len();
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].trim_start().to_owned()
}

fn python_snippet() -> String {
    snippet("verify-python", "```python")
}

/// Runs `program script args…` with `body` on stdin; returns (success, trimmed stdout).
fn run(program: &str, script: &std::path::Path, args: &[&str], body: &[u8]) -> (bool, String) {
    let mut child = std::process::Command::new(program)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

fn run_python(script: &std::path::Path, secret: &str, body: &[u8]) -> (bool, String) {
    run("python3", script, &[secret], body)
}

#[tokio::test]
async fn python_snippet_verifies_a_real_result() {
    let app = spawn_app().await;
    let approved = app
        .pay_with(MC_FRICTIONLESS, &[("description", "Çiçekli şal & ütü")])
        .await;
    let declined = app.pay_with("4000 0000 0000 9995", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, python_snippet()).unwrap();
    for got in [&approved, &declined] {
        assert_eq!(
            run_python(&script, app.secret_str(), &got.raw),
            (true, "OK".to_owned())
        );
        let callback = app.receiver.wait_callback(got.get("order_id")).await;
        assert_eq!(
            run_python(&script, app.secret_str(), &callback.raw),
            (true, "OK".to_owned())
        );
        // And it says no to a tampered result or the wrong key.
        let tampered = String::from_utf8(got.raw.clone())
            .unwrap()
            .replace("amount=150.00", "amount=1.00");
        assert_eq!(
            run_python(&script, app.secret_str(), tampered.as_bytes()),
            (false, "INVALID".to_owned())
        );
        assert_eq!(
            run_python(&script, "sk_other", &got.raw),
            (false, "INVALID".to_owned())
        );
    }
}

#[tokio::test]
async fn webhook_snippets_verify_a_real_event() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    let event = app.receiver.wait_event(&id, "payment.approved").await;
    let header = event.headers["kapi-signature"].clone();
    let dir = tempfile::tempdir().unwrap();
    let py = dir.path().join("verify_webhook.py");
    std::fs::write(&py, snippet("verify-webhook-python", "```python")).unwrap();
    let js = dir.path().join("verify_webhook.js");
    std::fs::write(&js, snippet("verify-webhook-node", "```js")).unwrap();
    let mut tampered = event.raw.clone();
    let last = tampered.len() - 2;
    tampered[last] = b' ';
    for (program, script) in [("python3", &py), ("node", &js)] {
        let ok = run(program, script, &[app.secret_str(), &header], &event.raw);
        assert_eq!(ok, (true, "OK".to_owned()), "{program} on a real event");
        let bad_body = run(program, script, &[app.secret_str(), &header], &tampered);
        assert_eq!(
            bad_body,
            (false, "INVALID".to_owned()),
            "{program} on a tampered body"
        );
        let bad_key = run(program, script, &["sk_other", &header], &event.raw);
        assert_eq!(
            bad_key,
            (false, "INVALID".to_owned()),
            "{program} with the wrong key"
        );
        let stale = header.replacen("t=", "t=1", 1);
        let stale = run(program, script, &[app.secret_str(), &stale], &event.raw);
        assert_eq!(
            stale,
            (false, "INVALID".to_owned()),
            "{program} with a forged timestamp"
        );
    }

    // While a key is being rotated, an event carries one v1 per key: the snippets accept
    // either key.
    let out = app
        .kapi(&[
            "merchant",
            "rotate-key",
            "--merchant-id",
            &app.merchant_id,
            "--json",
        ])
        .await;
    assert!(out.status.success());
    let rotated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_key = rotated["secret_key"].as_str().unwrap();
    let id = app.approved_payment().await;
    let event = app.receiver.wait_event(&id, "payment.approved").await;
    let header = event.headers["kapi-signature"].clone();
    assert_eq!(header.matches("v1=").count(), 2, "{header}");
    for (program, script) in [("python3", &py), ("node", &js)] {
        for key in [app.secret_str(), new_key] {
            let ok = run(program, script, &[key, &header], &event.raw);
            assert_eq!(ok, (true, "OK".to_owned()), "{program} during rotation");
        }
        let bad_key = run(program, script, &["sk_other", &header], &event.raw);
        assert_eq!(bad_key, (false, "INVALID".to_owned()), "{program}");
    }
}

/// The paths of every member of a JSON value (`card.bank`, `history[].to`, …).
fn member_paths(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                member_paths(child, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                member_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The first ```json block after `heading` in PROTOCOL.md.
fn documented_json(heading: &str) -> serde_json::Value {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    let after = &doc[doc.find(heading).expect("heading")..];
    let start = after.find("```json").unwrap() + "```json".len();
    let end = after[start..].find("```").unwrap() + start;
    serde_json::from_str(&after[start..end]).unwrap()
}

#[tokio::test]
async fn the_documented_payment_has_the_members_of_a_real_one() {
    let app = spawn_app().await;
    let id = app.approved_payment().await;
    app.clock_to_istanbul_noon();
    let (_, real) = app.get_json(&format!("/api/v1/payments/{id}")).await;
    let mut real_paths = std::collections::BTreeSet::new();
    member_paths(&real, "", &mut real_paths);
    let mut doc_paths = std::collections::BTreeSet::new();
    member_paths(
        &documented_json("#### Get: `GET /api/v1/payments/{id}`"),
        "",
        &mut doc_paths,
    );
    // Refunds exist in the example only (a real payment without any has an empty list).
    doc_paths.retain(|p| !p.starts_with("refunds[]"));
    assert_eq!(
        doc_paths
            .symmetric_difference(&real_paths)
            .collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "PROTOCOL.md §8.5 and the API disagree"
    );
}
