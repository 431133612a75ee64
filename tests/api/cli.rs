//! The `kapi` binary's merchant command, as an operator runs it.

use std::process::Command;

use secrecy::ExposeSecret;

use reqwest::StatusCode;

use crate::helpers::*;

/// `kapi` with `args`, on the test's database (`db`: PostgreSQL when the suite runs on it).
fn kapi(db: &Option<String>, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kapi"));
    if let Some(url) = db {
        command.env("KAPI__DATABASE__URL", url);
        command.env("KAPI__SECURITY__MASTER_KEY", shared_key().expose_secret());
    }
    command.args(args).output().expect("kapi runs")
}

/// The master key of a shared database (PostgreSQL); on SQLite these tests use the data
/// folder's keyring file.
fn shared_key() -> secrecy::SecretString {
    static KEY: std::sync::OnceLock<secrecy::SecretString> = std::sync::OnceLock::new();
    KEY.get_or_init(kapi::crypto::vault::MasterKey::generate_base64)
        .clone()
}

/// What a server on the same data as these commands is configured with.
fn same_data(s: &mut kapi::config::Settings, dir: &std::path::Path, db: &Option<String>) {
    s.server.data_dir = dir.to_owned();
    s.database.url = db.clone().map(secrecy::SecretString::from);
    s.security.master_key = db.as_ref().map(|_| shared_key());
}

#[test]
fn a_shared_database_without_a_master_key_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "merchant",
            "add",
            "--name",
            "X",
            "--return-origin",
            "https://shop.example",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            "postgres://kapi@127.0.0.1:1/kapi",
        ])
        .env_remove("KAPI__SECURITY__MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("security.master_key"), "{stderr}");
    assert!(!dir.path().join("keyring.json").exists());
}

#[tokio::test]
async fn merchant_add_prints_only_json_and_the_merchant_can_take_payments() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let db = fresh_database_url().await;
    let out = kapi(
        &db,
        &[
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
        ],
    );
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
    let app = spawn_app_with(|s| same_data(s, dir.path(), &db)).await;
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
    // Refused before any database is opened.
    let db = None;
    let out = kapi(
        &db,
        &[
            "merchant",
            "add",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--name",
            "X",
            "--return-origin",
            "https://shop.example/path",
            "--json",
        ],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an origin"));
}

#[tokio::test]
async fn a_merchant_without_the_sellers_legal_details_is_warned_and_can_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let db = fresh_database_url().await;
    let out = kapi(
        &db,
        &[
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
        ],
    );
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
    let out = kapi(
        &db,
        &[
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
        ],
    );
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
    let app = spawn_app_with(|s| same_data(s, dir.path(), &db)).await;
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
    let out = kapi(
        &db,
        &[
            "merchant",
            "configure",
            "--data-dir",
            data_dir,
            "--merchant-id",
            &id,
            "--address",
            "line\nbreak",
        ],
    );
    assert!(!out.status.success());
}

/// A rolling upgrade: the newest instance has migrated the schema, and one still on the
/// previous release keeps starting and serving (its migrator ignores the versions it does not
/// know).
#[tokio::test]
async fn an_older_kapi_keeps_working_on_a_schema_a_newer_one_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url().await;
    let add = |name: &str| {
        kapi(
            &db,
            &[
                "merchant",
                "add",
                "--data-dir",
                dir.path().to_str().unwrap(),
                "--name",
                name,
                "--return-origin",
                "https://shop.example",
                "--json",
            ],
        )
    };
    let out = add("Önce");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = raw_db(dir.path(), db.as_deref()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(99_990_101_000_000_i64)
    .bind("a column the next release adds")
    .bind(true)
    .bind(vec![7u8; 48])
    .bind(1_i64)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let out = add("Sonra");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = spawn_app_with(|s| same_data(s, dir.path(), &db)).await;
    app.approved_payment().await;
}

/// `merchant configure`'s NestPay options: the credentials go in sealed and are never printed,
/// a client id belongs to one merchant, the consents declaration and the removal work, and the
/// gate of a server on the same data takes a post hashed with the stored key.
#[tokio::test]
async fn nestpay_credentials_are_set_listed_without_secrets_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let db = fresh_database_url().await;
    let add = |name: &str| {
        let out = kapi(
            &db,
            &[
                "merchant",
                "add",
                "--data-dir",
                data_dir,
                "--name",
                name,
                "--return-origin",
                "http://127.0.0.1:9",
                "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["merchant_id"].as_str().unwrap().to_owned()
    };
    let (first, second) = (add("Birinci"), add("İkinci"));
    let store_key = "Gizli|Anahtar\\42";
    let password = "Api-Şifre-7";
    // Async: once a server runs in this test's (single-threaded) runtime, a blocking wait for
    // a command would stop the server mid-transaction while the command waits for its lock.
    let configure = async |id: &str, extra: &[&str], env: Option<(&str, &str)>| {
        let mut args = vec![
            "merchant",
            "configure",
            "--data-dir",
            data_dir,
            "--merchant-id",
            id,
        ];
        args.extend_from_slice(extra);
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
        if let Some(url) = &db {
            command.env("KAPI__DATABASE__URL", url);
            command.env("KAPI__SECURITY__MASTER_KEY", shared_key().expose_secret());
        }
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        command.args(&args).output().await.expect("kapi runs")
    };
    let creds = [
        "--nestpay-client-id",
        "700655000200",
        "--nestpay-api-user",
        "apiuser",
        "--nestpay-api-password",
        password,
    ];
    // The store key from the environment, as an operator keeps it out of the shell history.
    let out = configure(&first, &creds, Some(("KAPI_NESTPAY_STORE_KEY", store_key))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = async |db: &Option<String>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
        if let Some(url) = db {
            command.env("KAPI__DATABASE__URL", url);
            command.env("KAPI__SECURITY__MASTER_KEY", shared_key().expose_secret());
        }
        let args = ["merchant", "list", "--data-dir", data_dir, "--json"];
        let out = command.args(args).output().await.expect("kapi runs");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !text.contains(store_key) && !text.contains("Gizli"),
            "{text}"
        );
        assert!(!text.contains(password), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json.as_array().unwrap().clone()
    };
    let of = |list: &[serde_json::Value], id: &str| {
        list.iter().find(|m| m["id"] == id).unwrap()["nestpay"].clone()
    };
    let merchants = list(&db).await;
    assert_eq!(of(&merchants, &first)["client_id"], "700655000200");
    assert_eq!(of(&merchants, &first)["api_user"], "apiuser");
    assert_eq!(of(&merchants, &first)["shows_consents"], false);
    assert!(of(&merchants, &second).is_null());

    // One merchant per client id; digits only; the four credentials together.
    let mut taken = creds.to_vec();
    taken.extend(["--nestpay-store-key", "başka"]);
    let out = configure(&second, &taken, None).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already used by another merchant"),
        "{stderr}"
    );
    let mut letters = taken.clone();
    letters[1] = "7006AB";
    let out = configure(&second, &letters, None).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("digits"));
    let out = configure(&second, &["--nestpay-client-id", "123"], None).await;
    assert!(!out.status.success(), "a client id alone is refused");
    // Declaring the consents needs a set-up.
    let out = configure(&second, &["--nestpay-shows-consents"], None).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no NestPay set-up"));

    let out = configure(&first, &["--nestpay-shows-consents"], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(of(&list(&db).await, &first)["shows_consents"], true);

    // A server on the same data takes a gate post hashed with the stored key.
    let app = spawn_app_with(|s| same_data(s, dir.path(), &db)).await;
    let mut fields: Vec<(String, String)> = [
        ("clientid", "700655000200"),
        ("storetype", "3d_pay_hosting"),
        ("amount", "10.5"),
        ("currency", "949"),
        ("oid", "CLI-1"),
        ("okUrl", "http://127.0.0.1:9/ok"),
        ("failUrl", "http://127.0.0.1:9/fail"),
        ("rnd", "abc"),
        ("lang", "tr"),
        ("TranType", "Auth"),
        ("hashAlgorithm", "ver3"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect();
    let hash = kapi::wire::nestpay::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        kapi::wire::nestpay::REQUEST_EXCLUDED,
        store_key,
    );
    fields.push(("hash".to_owned(), hash));
    let started = app.post_form("/fim/est3Dgate", &fields).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);

    // Removed: the gate no longer knows the client id.
    let out = configure(&first, &["--no-nestpay"], None).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(of(&list(&db).await, &first).is_null());
    fields.retain(|(n, _)| n != "oid");
    let refused = app.post_form("/fim/est3Dgate", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(error_code(&refused.body).as_deref(), Some("KP-1010"));
}

#[tokio::test]
async fn terminals_are_added_listed_without_secrets_changed_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let db = fresh_database_url().await;
    let run = async |args: &[&str], env: &[(&str, &str)]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"));
        if let Some(url) = &db {
            command.env("KAPI__DATABASE__URL", url);
            command.env("KAPI__SECURITY__MASTER_KEY", shared_key().expose_secret());
        }
        command.env_remove("KAPI_TERMINAL_PASSWORD");
        command.env_remove("KAPI_TERMINAL_STORE_KEY");
        command.env_remove("KAPI_TERMINAL_REFUND_PASSWORD");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut all = args.to_vec();
        all.extend(["--data-dir", data_dir]);
        command.args(&all).output().await.expect("kapi runs")
    };
    let ok = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let merchant = ok(&run(
        &[
            "merchant",
            "add",
            "--name",
            "Otel",
            "--return-origin",
            "https://otel.example",
            "--json",
        ],
        &[],
    )
    .await);
    let merchant: serde_json::Value = serde_json::from_str(&merchant).unwrap();
    let merchant = merchant["merchant_id"].as_str().unwrap().to_owned();
    let (password, store_key) = ("Şifre-Banka-1", "MaGaZa|AnahTar\\9");
    let add = [
        "terminal",
        "add",
        "--merchant-id",
        &merchant,
        "--bank",
        "akbank",
        "--platform",
        "nestpay",
        "--client-id",
        "100200300",
        "--user",
        "kapiapi",
        "--gate-url",
        "https://entegrasyon.asseco-see.com.tr/fim/est3Dgate",
        "--api-url",
        "https://entegrasyon.asseco-see.com.tr/fim/api",
        "--static-ip",
        "203.0.113.7",
        "--commission",
        "1.79",
        "--installment-commission",
        "3=2.45",
        "--installment-commission",
        "6=3.10",
        "--json",
    ];
    // The secrets from the environment, as an operator keeps them out of the shell history.
    let secrets = [
        ("KAPI_TERMINAL_PASSWORD", password),
        ("KAPI_TERMINAL_STORE_KEY", store_key),
    ];
    let out = ok(&run(&add, &secrets).await);
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = added["terminal_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("trm_"), "{out}");
    assert_eq!(added.as_object().unwrap().len(), 1, "only the id: {out}");

    let list = async || {
        let out = ok(&run(
            &["terminal", "list", "--merchant-id", &merchant, "--json"],
            &[],
        )
        .await);
        assert!(!out.contains(password) && !out.contains("AnahTar"), "{out}");
        serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
    };
    let terminals = list().await;
    assert_eq!(
        terminals.len(),
        2,
        "the merchant's and the default: {terminals:?}"
    );
    let t = terminals.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(
        (&t["bank"], &t["platform"], &t["enabled"], &t["commission"]),
        (
            &"akbank".into(),
            &"nestpay".into(),
            &true.into(),
            &"1.79".into()
        )
    );
    assert_eq!(
        t["installment_commissions"],
        serde_json::json!({"3": "2.45", "6": "3.10"})
    );
    assert_eq!(t["static_ip"], "203.0.113.7");
    let default = terminals.iter().find(|t| t["default"] == true).unwrap();
    assert_eq!(default["id"], "KAPI-SIM-0001");
    assert_eq!(default["platform"], "simulator");

    // Refused with a message that names the problem; nothing is added.
    for (flag, value, says) in [
        ("--gate-url", "http://bank.example/gate", "https://"),
        ("--commission", "2,5", "not a rate"),
        ("--static-ip", "bank.example", "not an IP address"),
        ("--merchant-id", "mrc_nobody", "does not exist"),
    ] {
        let mut bad = add.to_vec();
        let at = bad.iter().position(|a| *a == flag).unwrap();
        bad[at + 1] = value;
        let out = run(&bad, &secrets).await;
        assert!(!out.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{flag}: {stderr}");
    }
    let out = run(&add, &[]).await;
    assert!(!out.status.success(), "a password is required");
    assert_eq!(list().await.len(), 2);

    // Changed, then disabled and enabled again.
    ok(&run(
        &[
            "terminal",
            "configure",
            "--terminal-id",
            &id,
            "--commission",
            "1.65",
            "--no-static-ip",
        ],
        &[],
    )
    .await);
    let t = list()
        .await
        .into_iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        (&t["commission"], &t["static_ip"]),
        (&"1.65".into(), &serde_json::Value::Null)
    );
    ok(&run(&["terminal", "disable", "--terminal-id", &id], &[]).await);
    let t = list()
        .await
        .into_iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(t["enabled"], false);
    ok(&run(&["terminal", "enable", "--terminal-id", &id], &[]).await);
    let t = list()
        .await
        .into_iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(t["enabled"], true);
    let out = run(&["terminal", "disable", "--terminal-id", "trm_nope"], &[]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    // What a platform needs besides: Garanti BBVA's terminal number and refund user, PayFor's
    // member id; each refused on the other platforms.
    let on = |platform: &'static str, bank: &'static str, extra: &[&'static str]| {
        let mut args = add.to_vec();
        for (flag, value) in [("--platform", platform), ("--bank", bank)] {
            let at = args.iter().position(|a| *a == flag).unwrap();
            args[at + 1] = value;
        }
        args.extend(extra);
        args
    };
    let refused = async |args: &[&str], env: &[(&str, &str)], says: &[&str]| {
        let out = run(args, env).await;
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for s in says {
            assert!(stderr.contains(s), "{args:?}: {stderr}");
        }
    };
    let new_id = |out: String| {
        let added: serde_json::Value = serde_json::from_str(&out).unwrap();
        added["terminal_id"].as_str().unwrap().to_owned()
    };
    let listed = async |id: &str| {
        let out = ok(&run(
            &["terminal", "list", "--merchant-id", &merchant, "--json"],
            &[],
        )
        .await);
        let all: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        let t = all.into_iter().find(|t| t["id"] == id).unwrap();
        (out, t)
    };
    let refund_password = "İade-Şifre-7";
    let with_refund = [
        secrets[0],
        secrets[1],
        ("KAPI_TERMINAL_REFUND_PASSWORD", refund_password),
    ];
    let garanti = on("garanti", "Garanti BBVA", &["--refund-user", "PROVRFN"]);
    refused(&garanti, &with_refund, &["--terminal-no", "Garanti BBVA"]).await;
    let mut bad_no = garanti.clone();
    bad_no.extend(["--terminal-no", "3069-1297"]);
    refused(&bad_no, &with_refund, &["3069-1297", "1–9 digits"]).await;
    let mut garanti = garanti;
    garanti.extend(["--terminal-no", "30691297"]);
    refused(&garanti, &secrets, &["--refund-password"]).await;
    let added = ok(&run(&garanti, &with_refund).await);
    assert!(!added.contains(refund_password), "{added}");
    let garanti_id = new_id(added);
    let (out, t) = listed(&garanti_id).await;
    assert!(
        !out.contains(refund_password) && !out.contains("Şifre"),
        "{out}"
    );
    assert_eq!(
        (
            &t["platform"],
            &t["terminal_no"],
            &t["refund_user"],
            &t["mbr_id"]
        ),
        (
            &"garanti".into(),
            &"30691297".into(),
            &"PROVRFN".into(),
            &serde_json::Value::Null
        )
    );
    assert!(t.get("refund_password").is_none(), "{t}");

    refused(
        &on("nestpay", "akbank", &["--mbr-id", "5"]),
        &secrets,
        &["--mbr-id", "payfor", "nestpay"],
    )
    .await;
    refused(
        &on("payfor", "QNB", &["--refund-user", "PROVRFN"]),
        &with_refund,
        &["--refund-user", "garanti"],
    )
    .await;
    refused(
        &on("payfor", "QNB", &["--mbr-id", "1234"]),
        &secrets,
        &["--mbr-id", "1–3 digits"],
    )
    .await;
    let qnb = new_id(ok(&run(&on("payfor", "QNB", &[]), &secrets).await));
    assert_eq!(listed(&qnb).await.1["mbr_id"], "5", "QNB Finansbank's");
    let ziraat = on("payfor", "Ziraat Katılım", &["--mbr-id", "12"]);
    let ziraat = new_id(ok(&run(&ziraat, &secrets).await));
    assert_eq!(listed(&ziraat).await.1["mbr_id"], "12");
    assert_eq!(listed(&id).await.1["mbr_id"], serde_json::Value::Null);

    // Configured: refused on the wrong platform, changed, and the refund user removed.
    for (terminal, flags, says) in [
        (&id, &["--mbr-id", "12"][..], &["--mbr-id", "payfor"][..]),
        (
            &qnb,
            &["--refund-user", "PROVRFN", "--refund-password", "x"][..],
            &["--refund-user", "garanti"][..],
        ),
        (
            &garanti_id,
            &["--no-terminal-no"][..],
            &["--terminal-no", "Garanti BBVA"][..],
        ),
    ] {
        let mut args = vec!["terminal", "configure", "--terminal-id", terminal.as_str()];
        args.extend(flags);
        refused(&args, &[], says).await;
    }
    ok(&run(
        &[
            "terminal",
            "configure",
            "--terminal-id",
            &qnb,
            "--mbr-id",
            "12",
        ],
        &[],
    )
    .await);
    assert_eq!(listed(&qnb).await.1["mbr_id"], "12");
    let new_refund = [("KAPI_TERMINAL_REFUND_PASSWORD", "Yeni-İade-8")];
    ok(&run(
        &[
            "terminal",
            "configure",
            "--terminal-id",
            &garanti_id,
            "--refund-password",
            "-",
        ],
        &new_refund,
    )
    .await);
    let raw = raw_db(dir.path(), db.as_deref()).await;
    let sealed = async || -> Option<Vec<u8>> {
        sqlx::query_scalar("SELECT refund_password_enc FROM terminals WHERE id = $1")
            .bind(&garanti_id)
            .fetch_one(&raw)
            .await
            .unwrap()
    };
    let enc = sealed().await.expect("sealed");
    let text = String::from_utf8_lossy(&enc);
    assert!(!text.contains("İade") && !text.contains("Yeni"), "{text}");
    ok(&run(
        &[
            "terminal",
            "configure",
            "--terminal-id",
            &garanti_id,
            "--no-refund-user",
        ],
        &[],
    )
    .await);
    let (_, t) = listed(&garanti_id).await;
    assert_eq!(t["refund_user"], serde_json::Value::Null, "{t}");
    assert_eq!(sealed().await, None, "the password goes with its user");

    // The secrets are sealed: the database holds neither.
    let rows: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT password_enc, store_key_enc FROM terminals")
            .fetch_all(&raw)
            .await
            .unwrap();
    for (p, k) in rows {
        let text = String::from_utf8_lossy(&p).into_owned() + &String::from_utf8_lossy(&k);
        assert!(!text.contains("Banka") && !text.contains("AnahTar"));
    }
}
