//! The real `kapi` binary as an operator starts it: a server process on its own port and data
//! folder (SQLite there, or the test's PostgreSQL), and a merchant registered with
//! `kapi merchant add`, with the shop in front of it.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use kapi::clock::OffsetClock;
use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `kapi serve` process on the shared database, with its own data folder and port.
pub struct Instance {
    pub child: Option<Child>,
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl Instance {
    /// Starts an instance that builds its links with `public_url` (the balancer's address);
    /// `env` adds or overrides settings.
    pub async fn start(db: &str, key: &str, public_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_at(free_port(), Some(db), key, public_url, env).await
    }

    /// An instance on `port`, on PostgreSQL at `db` or (`None`) SQLite in its data folder;
    /// `public_url` empty: its own address.
    pub async fn start_at(
        port: u16,
        db: Option<&str>,
        key: &str,
        public_url: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kapi"));
        command.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--insecure-http",
        ]);
        if let Some(db) = db {
            command.args(["--database-url", db]);
        }
        if !public_url.is_empty() {
            command.args(["--public-url", public_url]);
        }
        command
            .env("KAPI__SECURITY__MASTER_KEY", key)
            .env("KAPI__SIMULATORS__ENABLED", "true")
            .env("KAPI__ACQUIRER__API_KEY", BANK_KEY)
            .env("KAPI__NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
            .env("KAPI__NOTIFICATIONS__FIRST_RETRY_MS", "200")
            .env("KAPI__NOTIFICATIONS__POLL_INTERVAL_MS", "50")
            .env("KAPI__DATABASE__MAX_CONNECTIONS", "5")
            .env("KAPI_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let instance = Self {
            child: Some(command.spawn().expect("kapi starts")),
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{}/", instance.base))
                .send()
                .await
                .is_ok()
            {
                return instance;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("kapi on {} did not start", instance.base);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL: no goodbye, leases stay behind
            child.wait().unwrap();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A merchant registered with the `kapi` binary on the database (`db`, else the SQLite file in
/// `data_dir`); its shop talks to `address`.
pub async fn shop_at(
    db: Option<&str>,
    key: &str,
    address: &str,
    data_dir: &std::path::Path,
) -> Shop {
    let (receiver, receiver_url) = spawn_receiver().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kapi"))
        .args([
            "merchant",
            "add",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--name",
            "Küme Mağazası",
            "--return-origin",
            &receiver_url,
            "--json",
        ])
        .env("KAPI__SECURITY__MASTER_KEY", key)
        .envs(db.map(|db| ("KAPI__DATABASE__URL", db)))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merchant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = SecretString::from(merchant["secret_key"].as_str().unwrap().to_owned());
    receiver.set_secret(secret.clone());
    Shop {
        address: address.to_owned(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap(),
        merchant_id: merchant["merchant_id"].as_str().unwrap().to_owned(),
        secret,
        receiver,
        receiver_url,
        clock: Arc::new(OffsetClock::default()),
    }
}
