//! The documented protocol holds against real output: the Python snippet in
//! docs/PROTOCOL.md verifies a result Kapı signed.

use std::{io::Write, process::Stdio};

use crate::helpers::*;

fn python_snippet() -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    let start = doc
        .find("<!-- verify-python:start -->")
        .expect("start marker");
    let end = doc.find("<!-- verify-python:end -->").expect("end marker");
    let block = &doc[start..end];
    let code_start = block.find("```python").unwrap() + "```python".len();
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].to_owned()
}

fn run_python(script: &std::path::Path, secret: &str, body: &[u8]) -> (bool, String) {
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
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
