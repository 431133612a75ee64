//! 3-D Secure: Kapı as the EMV 3DS 2.2 3DS Server, and the built-in ACS simulator.

pub mod acs_sim;
pub mod messages;

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::{crypto, domain::CardBrand, state::Keys};

pub use messages::{AReq, ARes, CReq, CRes, RReq, RRes};

/// Header carrying the MAC of an RReq body.
pub const ACS_SIGNATURE_HEADER: &str = "kapi-acs-signature";

#[derive(Debug, thiserror::Error)]
pub enum ThreeDsError {
    #[error("ACS unreachable: {0}")]
    Unreachable(String),
    #[error("ACS answered with an invalid message: {0}")]
    Invalid(String),
}

/// Where AReq messages go: a Directory Server in production, the built-in ACS here.
#[async_trait]
pub trait DirectoryServer: Send + Sync + 'static {
    async fn authenticate(&self, areq: &AReq) -> Result<ARes, ThreeDsError>;
}

/// AReq/ARes as JSON over HTTP to `{base}/areq`.
pub struct HttpDirectory {
    client: reqwest::Client,
    areq_url: String,
}

impl HttpDirectory {
    /// `client` should have a timeout and follow no redirects.
    pub fn new(base_url: &str, client: reqwest::Client) -> Self {
        Self {
            client,
            areq_url: format!("{}/areq", base_url.trim_end_matches('/')),
        }
    }
}

#[async_trait]
impl DirectoryServer for HttpDirectory {
    async fn authenticate(&self, areq: &AReq) -> Result<ARes, ThreeDsError> {
        let resp = self
            .client
            .post(&self.areq_url)
            .json(areq)
            .send()
            .await
            .map_err(|e| ThreeDsError::Unreachable(crate::notify::describe(e)))?;
        if !resp.status().is_success() {
            return Err(ThreeDsError::Unreachable(format!("HTTP {}", resp.status())));
        }
        let ares: ARes = resp
            .json()
            .await
            .map_err(|e| ThreeDsError::Invalid(e.without_url().to_string()))?;
        if ares.message_type != "ARes"
            || ares.three_ds_server_trans_id != areq.three_ds_server_trans_id
        {
            return Err(ThreeDsError::Invalid(
                "ARes does not answer this AReq".into(),
            ));
        }
        Ok(ares)
    }
}

/// The usual mapping from the final `transStatus` to the `mdStatus` Turkish banks report.
pub fn md_status(trans_status: &str) -> &'static str {
    match trans_status {
        "Y" => "1",
        "A" => "4",
        "N" | "R" => "0",
        "U" => "5",
        _ => "7",
    }
}

/// ECI when the ACS did not send one: Visa/Amex/Troy 05/06/07, Mastercard 02/01/00.
pub fn default_eci(brand: CardBrand, trans_status: &str) -> &'static str {
    let mc = brand == CardBrand::Mastercard;
    match (trans_status, mc) {
        ("Y", false) => "05",
        ("Y", true) => "02",
        ("A", false) => "06",
        ("A", true) => "01",
        (_, false) => "07",
        (_, true) => "00",
    }
}

/// `threeDSSessionData`: the payment id and a MAC over it and the 3DS transaction, so the
/// cross-site return from the ACS is bound to its payment without a cookie.
pub fn session_data(keys: &Keys, payment_id: &str, threeds_trans_id: &str) -> String {
    let mac = crypto::hmac_hex(
        keys.threeds_session.expose_secret(),
        format!("{payment_id}:{threeds_trans_id}").as_bytes(),
    );
    format!("{payment_id}.{mac}")
}

/// Splits and checks `threeDSSessionData` in constant time; returns the payment id.
pub fn verify_session_data<'a>(
    keys: &Keys,
    data: &'a str,
    threeds_trans_id: &str,
) -> Option<&'a str> {
    let (payment_id, mac) = data.split_once('.')?;
    crypto::verify_hmac_hex(
        keys.threeds_session.expose_secret(),
        format!("{payment_id}:{threeds_trans_id}").as_bytes(),
        mac,
    )
    .then_some(payment_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md_status_and_eci_mapping() {
        assert_eq!(md_status("Y"), "1");
        assert_eq!(md_status("A"), "4");
        assert_eq!(md_status("N"), "0");
        assert_eq!(md_status("U"), "5");
        assert_eq!(default_eci(CardBrand::Visa, "Y"), "05");
        assert_eq!(default_eci(CardBrand::Mastercard, "Y"), "02");
        assert_eq!(default_eci(CardBrand::Troy, "A"), "06");
        assert_eq!(default_eci(CardBrand::Mastercard, "N"), "00");
    }

    #[test]
    fn session_data_is_bound() {
        let keys = Keys {
            threeds_session: secrecy::SecretBox::new(Box::new(b"k1".to_vec())),
            acs_channel: secrecy::SecretBox::new(Box::new(b"k2".to_vec())),
            session_link: secrecy::SecretBox::new(Box::new(b"k3".to_vec())),
            csrf: secrecy::SecretBox::new(Box::new(b"k4".to_vec())),
        };
        let sd = session_data(&keys, "pay_1", "t1");
        assert_eq!(verify_session_data(&keys, &sd, "t1"), Some("pay_1"));
        assert_eq!(verify_session_data(&keys, &sd, "t2"), None);
        assert_eq!(
            verify_session_data(&keys, &sd.replace("pay_1", "pay_2"), "t1"),
            None
        );
        assert_eq!(verify_session_data(&keys, "garbage", "t1"), None);
    }
}
