//! Security headers on every response, and a Content-Security-Policy on every HTML page.
//!
//! The policy is built per response: `script-src`/`style-src` allow Kapı's own files and a
//! per-response nonce (no inline code otherwise); `form-action` allows Kapı itself plus the
//! exact origins the page posts to (the issuer's ACS, the merchant's return URL); and
//! `frame-ancestors` is `'none'` unless the merchant registered origins that may embed it.

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use base64::Engine;
use rand::RngCore;

/// What one page adds to the policy; put in the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct PagePolicy {
    /// Origins (`scheme://host:port`) the page's forms post to, besides Kapı itself.
    pub form_action: Vec<String>,
    /// Origins that may frame the page; empty: nobody.
    pub frame_ancestors: Vec<String>,
}

/// The nonce of this response, for any inline script or style a template may need.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// `scheme://host:port` of a URL, as a CSP source; `None` for anything but http(s).
pub fn origin_of(url: &str) -> Option<String> {
    crate::domain::ReturnUrl::parse(url)
        .ok()
        .map(|u| u.origin().as_str().to_owned())
}

/// Adds sources to a response's page policy.
pub fn allow(resp: &mut Response, form_action: &[String], frame_ancestors: &[String]) {
    let policy = resp.extensions_mut().get_or_insert_default::<PagePolicy>();
    policy.form_action.extend(form_action.iter().cloned());
    policy
        .frame_ancestors
        .extend(frame_ancestors.iter().cloned());
}

fn clean(sources: &[String]) -> Vec<&str> {
    // Only origins we built ourselves reach here; refuse anything that could break the header.
    sources
        .iter()
        .map(String::as_str)
        .filter(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        })
        .collect()
}

pub fn csp(nonce: &str, policy: &PagePolicy) -> String {
    let mut form_action = vec!["'self'"];
    form_action.extend(clean(&policy.form_action));
    let frames = clean(&policy.frame_ancestors);
    let frame_ancestors = if frames.is_empty() {
        "'none'".to_owned()
    } else {
        frames.join(" ")
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action {}; frame-ancestors {frame_ancestors}",
        form_action.join(" ")
    )
}

pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), \
     magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()";

/// The middleware: headers for every response, CSP for HTML.
pub async fn headers(mut req: Request, next: Next) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = base64::engine::general_purpose::STANDARD.encode(bytes);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut resp = next.run(req).await;
    protect(&mut resp, &nonce);
    resp
}

/// The headers of every answer, and the CSP (with the page's own policy) of every page.
fn protect(resp: &mut Response, nonce: &str) {
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = resp
        .extensions()
        .get::<PagePolicy>()
        .cloned()
        .unwrap_or_default();
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    if is_html {
        if let Ok(v) = HeaderValue::from_str(&csp(nonce, &policy)) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        if policy.frame_ancestors.is_empty() {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_lists_exact_origins() {
        let p = PagePolicy {
            form_action: vec![
                "https://acs.bank.example:443".into(),
                "bad; script-src *".into(),
            ],
            frame_ancestors: vec![],
        };
        let csp = csp("abc", &p);
        assert!(
            csp.contains("form-action 'self' https://acs.bank.example:443;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("object-src 'none'"));
        assert!(csp.contains("base-uri 'none'"));
        assert!(!csp.contains("script-src *"));
    }
}
