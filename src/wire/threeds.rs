//! EMV 3-D Secure 2.2 messages, with the specification's field names (subset used here).
//! Shared by Kapı's 3DS Server (`crate::threeds`) and the ACS simulator (`crate::sim`).

use serde::{Deserialize, Serialize};

use crate::domain::Sensitive;

pub const MESSAGE_VERSION: &str = "2.2.0";

/// Header carrying the MAC of an RReq body (stands in for the Directory Server's mutual TLS).
pub const ACS_SIGNATURE_HEADER: &str = "kapi-acs-signature";

/// Authentication request, 3DS Server → (Directory Server) → ACS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AReq {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    pub message_type: String,
    pub message_version: String,
    /// `02` browser.
    pub device_channel: String,
    /// `01` payment authentication.
    pub message_category: String,
    #[serde(rename = "threeDSRequestorID")]
    pub three_ds_requestor_id: String,
    #[serde(rename = "threeDSRequestorName")]
    pub three_ds_requestor_name: String,
    #[serde(rename = "threeDSServerURL")]
    pub three_ds_server_url: String,
    pub acct_number: Sensitive,
    pub card_expiry_date: Sensitive,
    pub cardholder_name: Sensitive,
    pub purchase_amount: String,
    pub purchase_currency: String,
    pub purchase_exponent: String,
    /// `YYYYMMDDHHMMSS`, UTC.
    pub purchase_date: String,
    pub purchase_instal_data: Option<String>,
    pub merchant_name: String,
    #[serde(rename = "acquirerMerchantID")]
    pub acquirer_merchant_id: String,
    pub merchant_country_code: String,
    #[serde(rename = "notificationURL")]
    pub notification_url: String,
    pub browser_accept_header: String,
    #[serde(rename = "browserIP")]
    pub browser_ip: String,
    pub browser_language: String,
    pub browser_user_agent: String,
}

/// Authentication response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ARes {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    #[serde(rename = "acsTransID")]
    pub acs_trans_id: String,
    #[serde(rename = "dsTransID")]
    pub ds_trans_id: String,
    pub message_type: String,
    pub message_version: String,
    pub trans_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eci: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_value: Option<String>,
    #[serde(default, rename = "acsURL", skip_serializing_if = "Option::is_none")]
    pub acs_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acs_challenge_mandated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
}

/// Challenge request, posted by the browser to the ACS as base64url JSON in `creq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CReq {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    #[serde(rename = "acsTransID")]
    pub acs_trans_id: String,
    pub challenge_window_size: String,
    pub message_type: String,
    pub message_version: String,
}

/// Challenge response, posted by the browser back to the 3DS Server in `cres`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CRes {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    #[serde(rename = "acsTransID")]
    pub acs_trans_id: String,
    pub message_type: String,
    pub message_version: String,
    pub trans_status: String,
    pub challenge_completion_ind: String,
}

/// Result request, ACS → 3DS Server, server to server, after the challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RReq {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    #[serde(rename = "acsTransID")]
    pub acs_trans_id: String,
    #[serde(rename = "dsTransID")]
    pub ds_trans_id: String,
    pub message_type: String,
    pub message_version: String,
    pub message_category: String,
    pub trans_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eci: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_cancel: Option<String>,
    pub interaction_counter: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RRes {
    #[serde(rename = "threeDSServerTransID")]
    pub three_ds_server_trans_id: String,
    #[serde(rename = "acsTransID")]
    pub acs_trans_id: String,
    #[serde(rename = "dsTransID")]
    pub ds_trans_id: String,
    pub message_type: String,
    pub message_version: String,
    /// `01` received.
    pub results_status: String,
}

/// An AReq's `purchaseDate`: `YYYYMMDDHHMMSS` of `at` (UTC).
pub fn purchase_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// base64url (no padding) of the JSON, as `creq`/`cres` travel.
pub fn encode_b64url<T: Serialize>(msg: &T) -> String {
    use base64::Engine;
    let json = serde_json::to_vec(msg).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes base64url JSON, accepting padding, at most 8 KiB.
pub fn decode_b64url<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    use base64::Engine;
    if s.len() > 8192 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creq_round_trips_with_spec_names() {
        let creq = CReq {
            three_ds_server_trans_id: "a".into(),
            acs_trans_id: "b".into(),
            challenge_window_size: "05".into(),
            message_type: "CReq".into(),
            message_version: MESSAGE_VERSION.into(),
        };
        let json = serde_json::to_string(&creq).unwrap();
        assert!(json.contains("\"threeDSServerTransID\":\"a\""));
        assert!(json.contains("\"acsTransID\":\"b\""));
        assert!(json.contains("\"challengeWindowSize\":\"05\""));
        let back: CReq = decode_b64url(&encode_b64url(&creq)).unwrap();
        assert_eq!(back.acs_trans_id, "b");
    }

    proptest::proptest! {
        #[test]
        fn decoders_never_panic(s in "\\PC{0,200}") {
            let _ = decode_b64url::<CReq>(&s);
            let _ = decode_b64url::<CRes>(&s);
            let _ = serde_json::from_str::<RReq>(&s);
        }
    }
}
