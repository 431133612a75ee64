//! The OpenAPI document is exact: a validator accepts it, and a property-based fuzzer
//! (schemathesis, from PyPI) driving the real server from it finds no server error and no
//! answer that breaks the document. `.ci/run` installs both into `target/pyenv`.

use reqwest::StatusCode;

use crate::helpers::*;

/// The Python of `target/pyenv` when `.ci/run` made it, else the one on the PATH.
fn python_tool(name: &str) -> String {
    let local = format!("{}/target/pyenv/bin/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::path::Path::new(&local).exists() {
        local
    } else {
        name.to_owned()
    }
}

async fn document(app: &TestApp) -> std::path::PathBuf {
    let doc = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), StatusCode::OK);
    let path = app.data_dir.path().join("openapi.json");
    std::fs::write(&path, doc.bytes().await.unwrap()).unwrap();
    path
}

#[tokio::test]
async fn the_openapi_document_passes_a_validator() {
    let app = spawn_app().await;
    let path = document(&app).await;
    let out = tokio::process::Command::new(python_tool("python3"))
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .await
        .expect("python3 with openapi-spec-validator (pip install openapi-spec-validator)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Every error is a problem document, and every operation has a name of its own.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{method} {path}: operationId repeated"
            );
            for (status, resp) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let types: Vec<&String> = resp["content"].as_object().unwrap().keys().collect();
                    assert_eq!(
                        types,
                        ["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let app = spawn_app_with(|s| s.limits.api_calls = 1_000_000).await;
    app.clock_to_istanbul_noon();
    // Something for the fuzzer to find: an approved payment and an open session.
    app.approved_payment().await;
    let (status, _) = app
        .create_session(app.session_body(serde_json::json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let examples = std::env::var("KAPI_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let report = app.data_dir.path().join("schemathesis");
    let out = tokio::process::Command::new(python_tool("schemathesis"))
        .current_dir(app.data_dir.path())
        .args([
            "run",
            &app.url("/api/v1/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {}", app.secret_str()),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance",
            "--max-examples",
            &examples,
            "--workers",
            "1",
            "--no-color",
            "--report-dir",
            report.to_str().unwrap(),
        ])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .await
        .expect("schemathesis (pip install schemathesis)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    // The run's summary, for the CI log.
    let lines: Vec<&str> = stdout.lines().collect();
    eprintln!("{}", lines[lines.len().saturating_sub(12)..].join("\n"));
}
