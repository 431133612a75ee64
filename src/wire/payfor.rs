//! QNB Finansbank's PayFor virtual POS on the wire (`bank-protocols.md` §3 and its addendum):
//! the hashes of its 3-D Secure gate (`3DModel`) and its XML gate's request and answer. Shared
//! by Kapı's PayFor connector and its PayFor bank simulator.
//!
//! - The gate request's `Hash` = base64 of SHA-1 over `MbrId`, `OrderId`, `PurchAmount`,
//!   `OkUrl`, `FailUrl`, `TxnType`, `InstallmentCount`, `Rnd` and the store key, concatenated.
//! - The gate answer's `ResponseHash` = base64 of SHA-1 over `MerchantID`, the store key,
//!   `OrderId`, `AuthCode`, `ProcReturnCode`, `3DStatus`, `ResponseRnd` and `UserCode`.
//! - The XML gate takes a `PayforRequest` of flat elements (`SecureType` `3DModelPayment` with
//!   the return's `RequestGuid`; `NonSecure` voids and refunds by `OrgOrderId`; `Inquiry`) and
//!   answers a `PayforResponse` (`ProcReturnCode` `00` approved; PayFor's own `M0xx`/`V0xx`
//!   codes for what its gateway refused).

use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::xml::{XmlError, escape, for_each_element};
use crate::domain::Sensitive;

/// QNB Finansbank's member id (the default); Ziraat Katılım's is `12`.
pub const DEFAULT_MBR_ID: &str = "5";

/// `3DStatus` 1 with this code: authenticated, not yet provisioned (the `3DModel`'s return).
pub const AUTHENTICATED: &str = "V033";

fn b64_sha1(plain: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha1::digest(plain.as_bytes()))
}

/// What the gate request's `Hash` signs.
pub struct GateHashInput<'a> {
    pub mbr_id: &'a str,
    pub order_id: &'a str,
    /// Decimal, `150.00`.
    pub amount: &'a str,
    pub ok_url: &'a str,
    pub fail_url: &'a str,
    /// `Auth` or `PreAuth`.
    pub txn_type: &'a str,
    /// `0` for a single payment.
    pub installment: &'a str,
    pub rnd: &'a str,
}

pub fn request_hash(input: &GateHashInput<'_>, store_key: &str) -> String {
    b64_sha1(
        &[
            input.mbr_id,
            input.order_id,
            input.amount,
            input.ok_url,
            input.fail_url,
            input.txn_type,
            input.installment,
            input.rnd,
            store_key,
        ]
        .concat(),
    )
}

/// The gate answer's `ResponseHash`, from its posted fields and the terminal's merchant id and
/// user code.
pub fn response_hash(
    fields: &[(String, String)],
    merchant_id: &str,
    user_code: &str,
    store_key: &str,
) -> String {
    let get = |n: &str| crate::form::value(fields, n);
    b64_sha1(
        &[
            merchant_id,
            store_key,
            get("OrderId"),
            get("AuthCode"),
            get("ProcReturnCode"),
            get("3DStatus"),
            get("ResponseRnd"),
            user_code,
        ]
        .concat(),
    )
}

/// A request to the XML gate. Its `Debug` shows no password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PayforRequest {
    pub mbr_id: String,
    pub merchant_id: String,
    pub user_code: String,
    pub user_pass: Sensitive,
    /// `3DModelPayment`, `NonSecure` or `Inquiry`.
    pub secure_type: String,
    /// `Auth`, `PreAuth`, `PostAuth`, `Void`, `Refund`, `OrderInquiry`.
    pub txn_type: String,
    pub request_guid: String,
    pub order_id: String,
    pub org_order_id: String,
    pub amount: String,
    pub currency: String,
    pub installment: String,
    pub lang: String,
}

impl std::fmt::Debug for PayforRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayforRequest")
            .field("merchant_id", &self.merchant_id)
            .field("secure_type", &self.secure_type)
            .field("txn_type", &self.txn_type)
            .field("order_id", &self.order_id)
            .field("org_order_id", &self.org_order_id)
            .finish_non_exhaustive()
    }
}

impl PayforRequest {
    fn elements(&self) -> [(&'static str, &str); 13] {
        [
            ("MbrId", &self.mbr_id),
            ("MerchantId", &self.merchant_id),
            ("UserCode", &self.user_code),
            ("UserPass", self.user_pass.expose()),
            ("SecureType", &self.secure_type),
            ("TxnType", &self.txn_type),
            ("RequestGuid", &self.request_guid),
            ("OrderId", &self.order_id),
            ("OrgOrderId", &self.org_order_id),
            ("PurchAmount", &self.amount),
            ("Currency", &self.currency),
            ("InstallmentCount", &self.installment),
            ("Lang", &self.lang),
        ]
    }

    pub fn render(&self) -> String {
        let body: String = self
            .elements()
            .iter()
            .map(|(n, v)| format!("<{n}>{}</{n}>", escape(v)))
            .collect();
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><PayforRequest>{body}</PayforRequest>")
    }

    /// Reads a request (the simulator's side).
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        let mut r = Self::default();
        let mut root = false;
        for_each_element(xml, |path, value| {
            let value = value.to_owned();
            match path {
                "PayforRequest" => root = true,
                "PayforRequest/MbrId" => r.mbr_id = value,
                "PayforRequest/MerchantId" => r.merchant_id = value,
                "PayforRequest/UserCode" => r.user_code = value,
                "PayforRequest/UserPass" => r.user_pass = Sensitive::new(value),
                "PayforRequest/SecureType" => r.secure_type = value,
                "PayforRequest/TxnType" => r.txn_type = value,
                "PayforRequest/RequestGuid" => r.request_guid = value,
                "PayforRequest/OrderId" => r.order_id = value,
                "PayforRequest/OrgOrderId" => r.org_order_id = value,
                "PayforRequest/PurchAmount" => r.amount = value,
                "PayforRequest/Currency" => r.currency = value,
                "PayforRequest/InstallmentCount" => r.installment = value,
                "PayforRequest/Lang" => r.lang = value,
                _ => {}
            }
        })?;
        if !root {
            return Err(XmlError("not a PayforRequest".into()));
        }
        Ok(r)
    }
}

/// The XML gate's answer; for an `OrderInquiry`, the order's last `TxnType`, its
/// `ProcReturnCode`, `IsVoided`, `IsRefunded` and `RefundedAmount` (decimal), as PayFor's
/// recorded answers carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayforResponse {
    pub order_id: String,
    pub auth_code: String,
    pub proc_return_code: String,
    pub trans_id: String,
    pub err_msg: String,
    pub host_ref_num: String,
    /// `Success` or `Failed`.
    pub txn_result: String,
    pub txn_type: String,
    /// `true` or `false`.
    pub is_voided: String,
    pub is_refunded: String,
    pub refunded_amount: String,
}

impl PayforResponse {
    pub fn render(&self) -> String {
        let body: String = [
            ("OrderId", &self.order_id),
            ("AuthCode", &self.auth_code),
            ("ProcReturnCode", &self.proc_return_code),
            ("TransId", &self.trans_id),
            ("ErrMsg", &self.err_msg),
            ("HostRefNum", &self.host_ref_num),
            ("TxnResult", &self.txn_result),
            ("TxnType", &self.txn_type),
            ("IsVoided", &self.is_voided),
            ("IsRefunded", &self.is_refunded),
            ("RefundedAmount", &self.refunded_amount),
        ]
        .iter()
        .map(|(n, v)| format!("<{n}>{}</{n}>", escape(v)))
        .collect();
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><PayforResponse>{body}</PayforResponse>")
    }

    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        let mut r = Self::default();
        for_each_element(xml, |path, value| {
            let value = value.to_owned();
            match path {
                "PayforResponse/OrderId" => r.order_id = value,
                "PayforResponse/AuthCode" => r.auth_code = value,
                "PayforResponse/ProcReturnCode" => r.proc_return_code = value,
                "PayforResponse/TransId" => r.trans_id = value,
                "PayforResponse/ErrMsg" => r.err_msg = value,
                "PayforResponse/HostRefNum" => r.host_ref_num = value,
                "PayforResponse/TxnResult" => r.txn_result = value,
                "PayforResponse/TxnType" => r.txn_type = value,
                "PayforResponse/IsVoided" => r.is_voided = value,
                "PayforResponse/IsRefunded" => r.is_refunded = value,
                "PayforResponse/RefundedAmount" => r.refunded_amount = value,
                _ => {}
            }
        })?;
        if r.proc_return_code.is_empty() {
            return Err(XmlError("no ProcReturnCode in the answer".into()));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published vectors (bank-protocols.md §3; mews `PayForPosCryptTest`): store key
    // `12345678`, merchant `085300000009704`, user `QNB_API_KULLANICI_3DPAY`.
    #[test]
    fn the_request_hash_reproduces_the_published_vector() {
        let url = "http://localhost/finansbank-payfor/3d/response.php";
        let input = GateHashInput {
            mbr_id: "5",
            order_id: "2020110828BC",
            amount: "100.01",
            ok_url: url,
            fail_url: url,
            txn_type: "Auth",
            installment: "0",
            rnd: "0.43625700 1604831630",
        };
        assert_eq!(
            request_hash(&input, "12345678"),
            "zmSUxYPhmCj7QOzqpk/28LuE1Oc="
        );
    }

    #[test]
    fn the_response_hash_reproduces_the_published_vector() {
        let mut fields: Vec<(String, String)> = [
            ("OrderId", "20221031FD04"),
            ("AuthCode", ""),
            ("ProcReturnCode", "V033"),
            ("3DStatus", "1"),
            ("ResponseRnd", "PF638028511007418219"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let hash = |f: &[(String, String)]| {
            response_hash(f, "085300000009704", "QNB_API_KULLANICI_3DPAY", "12345678")
        };
        assert_eq!(hash(&fields), "rVcKoOOl3jKukGLHcQaVM6ZuznU=");
        fields[3].1 = String::new();
        assert_ne!(hash(&fields), "rVcKoOOl3jKukGLHcQaVM6ZuznU=");
    }

    #[test]
    fn requests_and_answers_read_back_and_hide_the_password() {
        let req = PayforRequest {
            mbr_id: "5".into(),
            merchant_id: "085300000009704".into(),
            user_code: "api".into(),
            user_pass: Sensitive::new("s3cr&t"),
            secure_type: "3DModelPayment".into(),
            txn_type: "Auth".into(),
            request_guid: "1000000081255014".into(),
            order_id: "o1".into(),
            amount: "150.00".into(),
            currency: "949".into(),
            installment: "0".into(),
            lang: "TR".into(),
            ..PayforRequest::default()
        };
        assert!(PayforRequest::parse(&req.render()).unwrap() == req);
        assert!(!format!("{req:?}").contains("s3cr"));
        let answer = PayforResponse {
            order_id: "o1".into(),
            auth_code: "A1B2C3".into(),
            proc_return_code: "00".into(),
            txn_result: "Success".into(),
            ..PayforResponse::default()
        };
        assert_eq!(PayforResponse::parse(&answer.render()).unwrap(), answer);
        assert!(PayforResponse::parse("<PayforResponse/>").is_err());
        assert!(PayforRequest::parse("<Other/>").is_err());
    }
}
