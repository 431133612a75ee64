//! TLS: Kapı terminates HTTPS itself with rustls. Certificates come from PEM files and reload
//! without dropping connections (on SIGHUP, or when the files change); `--demo` without files
//! makes a self-signed certificate for localhost; plain HTTP is only for loopback and only
//! when asked for, or behind trusted proxies that terminate TLS (`--plain-http-behind-proxy`).

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::Settings;

/// How the main port is served.
pub enum Mode {
    Tls {
        cert: PathBuf,
        key: PathBuf,
        /// Kapı made the certificate itself: its own clients (to the simulators) trust it.
        self_signed_pem: Option<Vec<u8>>,
    },
    PlainHttp,
}

/// Decides the mode from the settings, making a self-signed certificate for the demo.
pub fn mode(settings: &Settings, listen_is_loopback: bool) -> anyhow::Result<Mode> {
    let s = &settings.server;
    if let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) {
        return Ok(Mode::Tls {
            cert: cert.clone(),
            key: key.clone(),
            self_signed_pem: None,
        });
    }
    if s.plain_http_behind_proxy {
        anyhow::ensure!(
            !s.trusted_proxies.is_empty(),
            "--plain-http-behind-proxy needs server.trusted_proxies: plain HTTP on a non-loopback \
             address is only for a reverse proxy that terminates TLS (see DEPLOYMENT.md)"
        );
        anyhow::ensure!(
            s.public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            "--plain-http-behind-proxy needs an https:// --public-url: the proxy's address, \
             which browsers and the ACS use"
        );
        tracing::warn!(
            trusted_proxies = ?s.trusted_proxies,
            "serving plain HTTP behind a TLS-terminating proxy: anyone who can reach this port \
             directly bypasses TLS; keep it on a private network"
        );
        return Ok(Mode::PlainHttp);
    }
    if s.allow_plain_http {
        anyhow::ensure!(
            listen_is_loopback,
            "plain HTTP is only allowed on a loopback address; give --tls-cert and --tls-key"
        );
        tracing::warn!(
            "serving plain HTTP without TLS (loopback only): never do this in production"
        );
        return Ok(Mode::PlainHttp);
    }
    if s.demo {
        let (cert, key) = self_signed(&s.data_dir.join("tls"))?;
        let pem = std::fs::read(&cert)?;
        tracing::warn!(cert = %cert.display(), "demo: serving HTTPS with a self-signed certificate for localhost and 127.0.0.1; your browser will ask you to accept it");
        return Ok(Mode::Tls {
            cert,
            key,
            self_signed_pem: Some(pem),
        });
    }
    anyhow::bail!(
        "no TLS certificate: give --tls-cert and --tls-key, use --demo for a self-signed one, \
         or --insecure-http on a loopback address"
    )
}

/// A self-signed certificate for localhost, made once and kept in `dir`.
fn self_signed(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = dir.join("localhost.crt");
    let key = dir.join("localhost.key");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated =
        rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
    std::fs::write(&cert, generated.cert.pem())?;
    crate::files::write_private(&key, &generated.signing_key.serialize_pem())?;
    Ok((cert, key))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the certificate when its files change or on SIGHUP. Open connections keep the
/// certificate they started with; new ones get the new one.
pub async fn watch(config: RustlsConfig, cert: PathBuf, key: PathBuf, every: Duration) {
    let mut seen = (modified(&cert), modified(&key));
    // The files as they were when a reload last failed: said once, not at every check.
    let mut failed = None;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = signalled => true,
        };
        let now = (modified(&cert), modified(&key));
        if !forced && now == seen {
            continue;
        }
        match config.reload_from_pem_file(&cert, &key).await {
            Ok(()) => {
                seen = now;
                failed = None;
                tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
            }
            // Perhaps caught between writing the certificate and the key: the files are
            // tried again at the next check.
            Err(e) => {
                if forced || failed != Some(now) {
                    tracing::error!(error = %e, "TLS certificate reload failed; keeping the old one");
                }
                failed = Some(now);
            }
        }
    }
}

/// A client builder that also trusts Kapı's own self-signed certificate, when there is one.
pub fn client_builder(extra_root: Option<&[u8]>) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    match extra_root.and_then(|pem| reqwest::Certificate::from_pem(pem).ok()) {
        Some(cert) => builder.tls_certs_merge([cert]),
        None => builder,
    }
}
