//! 3-D Secure: Kapı as the EMV 3DS 2.2 3DS Server — the directory it sends AReqs to, and the
//! bindings of the browser's return from the ACS.

pub use crate::wire::threeds as messages;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretBox};

use crate::{
    crypto,
    domain::{
        CardBrand,
        threeds::{Eci, TransStatus},
    },
};

pub use messages::{AReq, ARes, CReq, CRes, RReq, RRes};

pub use messages::ACS_SIGNATURE_HEADER;

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
            .map_err(|e| ThreeDsError::Unreachable(crate::outbound::describe(e)))?;
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

/// ECI when the ACS did not send one: Visa/Amex/Troy 05/06/07, Mastercard 02/01/00.
pub fn default_eci(brand: CardBrand, trans_status: TransStatus) -> Eci {
    let mc = brand == CardBrand::Mastercard;
    let eci = match (trans_status, mc) {
        (TransStatus::Y, false) => "05",
        (TransStatus::Y, true) => "02",
        (TransStatus::A, false) => "06",
        (TransStatus::A, true) => "01",
        (_, false) => "07",
        (_, true) => "00",
    };
    Eci::known(eci)
}

/// `threeDSSessionData`: the payment id and a MAC over it and the 3DS transaction, so the
/// cross-site return from the ACS is bound to its payment without a cookie.
pub fn session_data(key: &SecretBox<Vec<u8>>, payment_id: &str, threeds_trans_id: &str) -> String {
    let mac = crypto::hmac_hex(
        key.expose_secret(),
        format!("{payment_id}:{threeds_trans_id}").as_bytes(),
    );
    format!("{payment_id}.{mac}")
}

/// Splits and checks `threeDSSessionData` in constant time; returns the payment id.
pub fn verify_session_data<'a>(
    key: &SecretBox<Vec<u8>>,
    data: &'a str,
    threeds_trans_id: &str,
) -> Option<&'a str> {
    let (payment_id, mac) = data.split_once('.')?;
    crypto::verify_hmac_hex(
        key.expose_secret(),
        format!("{payment_id}:{threeds_trans_id}").as_bytes(),
        mac,
    )
    .then_some(payment_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_eci_by_brand() {
        assert_eq!(default_eci(CardBrand::Visa, TransStatus::Y).as_str(), "05");
        assert_eq!(
            default_eci(CardBrand::Mastercard, TransStatus::Y).as_str(),
            "02"
        );
        assert_eq!(default_eci(CardBrand::Troy, TransStatus::A).as_str(), "06");
        assert_eq!(
            default_eci(CardBrand::Mastercard, TransStatus::N).as_str(),
            "00"
        );
    }

    #[test]
    fn session_data_is_bound() {
        let key = SecretBox::new(Box::new(b"k1".to_vec()));
        let sd = session_data(&key, "pay_1", "t1");
        assert_eq!(verify_session_data(&key, &sd, "t1"), Some("pay_1"));
        assert_eq!(verify_session_data(&key, &sd, "t2"), None);
        assert_eq!(
            verify_session_data(&key, &sd.replace("pay_1", "pay_2"), "t1"),
            None
        );
        assert_eq!(verify_session_data(&key, "garbage", "t1"), None);
    }
}
