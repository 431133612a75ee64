//! Garanti BBVA's virtual POS (GVP) on the wire (`bank-protocols.md` §2 and its addendum): the
//! hashes of its 3-D Secure gate (`gt3dengine`, `apiversion` 512) and of its XML API
//! (`VPServlet`), and that API's request and answer. Shared by Kapı's Garanti connector and its
//! Garanti bank simulator.
//!
//! - `SecurityData` = upper-case hex SHA-1 of the provision password followed by the terminal
//!   id left-padded with zeros to nine digits.
//! - The gate's `secure3dhash` = upper-case hex SHA-512 of terminal id, order id, amount
//!   (kuruş), currency (numeric), success URL, error URL, type, installment count, store key and
//!   `SecurityData`, concatenated.
//! - The gate's answer: upper-case hex SHA-512 of the values of the fields its `hashparams`
//!   names (`clientid:oid:…:rnd:`), concatenated, then the store key — always rebuilt from the
//!   posted fields, never from a posted `hashparamsval`. (The older base64 SHA-1 form belongs
//!   to older API versions; Kapı sends 512 and accepts only its form.)
//! - The API's `HashData` = upper-case hex SHA-512 of order id, terminal id, card number (empty
//!   after 3-D Secure), amount (kuruş), currency and `SecurityData`.

use sha1::Sha1;
use sha2::{Digest, Sha512};

use crate::domain::Sensitive;

/// The API version Kapı speaks.
pub const API_VERSION: &str = "512";

fn upper_hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// `SecurityData` of a provision (or refund) user's password and the terminal id.
pub fn security_data(password: &str, terminal_id: &str) -> String {
    let padded = format!("{terminal_id:0>9}");
    upper_hex(&Sha1::digest(format!("{password}{padded}").as_bytes()))
}

/// What the gate's `secure3dhash` signs.
pub struct GateHashInput<'a> {
    pub terminal_id: &'a str,
    pub order_id: &'a str,
    /// Kuruş, as digits.
    pub amount: &'a str,
    pub currency: &'a str,
    pub success_url: &'a str,
    pub error_url: &'a str,
    /// `sales` or `preauth`.
    pub txn_type: &'a str,
    /// Empty for a single payment.
    pub installment: &'a str,
}

/// The gate request's `secure3dhash`.
pub fn secure3d_hash(input: &GateHashInput<'_>, store_key: &str, security_data: &str) -> String {
    let plain = [
        input.terminal_id,
        input.order_id,
        input.amount,
        input.currency,
        input.success_url,
        input.error_url,
        input.txn_type,
        input.installment,
        store_key,
        security_data,
    ]
    .concat();
    upper_hex(&Sha512::digest(plain.as_bytes()))
}

/// The hash of the gate's answer, rebuilt from the posted fields its `hashparams` names (a
/// name not posted counts as empty). `None` without `hashparams`.
pub fn result_hash(fields: &[(String, String)], store_key: &str) -> Option<String> {
    let params = crate::form::value(fields, "hashparams");
    if params.is_empty() {
        return None;
    }
    let mut plain: String = params
        .split(':')
        .filter(|n| !n.is_empty())
        .map(|n| crate::form::value(fields, n))
        .collect();
    plain.push_str(store_key);
    Some(upper_hex(&Sha512::digest(plain.as_bytes())))
}

/// The names the gate's answer signs, in Kapı's simulator (and the published fixtures).
pub const RESULT_HASH_PARAMS: &str =
    "clientid:oid:authcode:procreturncode:response:mdstatus:cavv:eci:md:rnd:";

/// The XML API's `HashData`.
pub fn api_hash(
    order_id: &str,
    terminal_id: &str,
    card_number: &str,
    amount: &str,
    currency: &str,
    security_data: &str,
) -> String {
    let plain = [
        order_id,
        terminal_id,
        card_number,
        amount,
        currency,
        security_data,
    ]
    .concat();
    upper_hex(&Sha512::digest(plain.as_bytes()))
}

/// A `GVPSRequest` to `VPServlet`: a provision after 3-D Secure (`sales`, `preauth`, with its
/// `Secure3D` values), `postauth`, `void`, `refund` or `orderinq`. It carries no card number.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GvpsRequest {
    pub mode: String,
    pub prov_user_id: String,
    pub user_id: String,
    pub terminal_id: String,
    pub merchant_id: String,
    pub hash_data: String,
    pub customer_ip: String,
    pub order_id: String,
    pub txn_type: String,
    pub installment: String,
    /// Kuruş.
    pub amount: String,
    pub currency: String,
    /// The `RetrefNum` of the transaction a void or refund is of.
    pub original_retref: String,
    pub secure3d: Option<Secure3d>,
}

/// The 3-D Secure values of a provision.
#[derive(Clone, PartialEq, Eq)]
pub struct Secure3d {
    /// `cavv`.
    pub authentication_code: String,
    /// `eci`.
    pub security_level: String,
    /// `xid`.
    pub txn_id: String,
    /// The gate's `md`: it stands for the card.
    pub md: Sensitive,
}

impl std::fmt::Debug for GvpsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GvpsRequest")
            .field("terminal_id", &self.terminal_id)
            .field("order_id", &self.order_id)
            .field("txn_type", &self.txn_type)
            .field("amount", &self.amount)
            .finish_non_exhaustive()
    }
}

use super::xml::{escape as xml_escape, for_each_element};

impl From<super::xml::XmlError> for GvpsError {
    fn from(e: super::xml::XmlError) -> Self {
        Self(e.to_string())
    }
}

impl GvpsRequest {
    pub fn render(&self) -> String {
        let e = |s: &str| xml_escape(s);
        let secure3d = self.secure3d.as_ref().map_or(String::new(), |s| {
            format!(
                "<Secure3D><AuthenticationCode>{}</AuthenticationCode><SecurityLevel>{}</SecurityLevel><TxnID>{}</TxnID><Md>{}</Md></Secure3D>",
                e(&s.authentication_code),
                e(&s.security_level),
                e(&s.txn_id),
                e(s.md.expose())
            )
        });
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GVPSRequest><Mode>{}</Mode><Version>{API_VERSION}</Version>\
             <Terminal><ProvUserID>{}</ProvUserID><HashData>{}</HashData><UserID>{}</UserID><ID>{}</ID><MerchantID>{}</MerchantID></Terminal>\
             <Customer><IPAddress>{}</IPAddress><EmailAddress></EmailAddress></Customer>\
             <Order><OrderID>{}</OrderID></Order>\
             <Transaction><Type>{}</Type><InstallmentCnt>{}</InstallmentCnt><Amount>{}</Amount><CurrencyCode>{}</CurrencyCode>\
             <CardholderPresentCode>{}</CardholderPresentCode><MotoInd>N</MotoInd><OriginalRetrefNum>{}</OriginalRetrefNum>{secure3d}</Transaction></GVPSRequest>",
            e(&self.mode),
            e(&self.prov_user_id),
            e(&self.hash_data),
            e(&self.user_id),
            e(&self.terminal_id),
            e(&self.merchant_id),
            e(&self.customer_ip),
            e(&self.order_id),
            e(&self.txn_type),
            e(&self.installment),
            e(&self.amount),
            e(&self.currency),
            if self.secure3d.is_some() { "13" } else { "0" },
            e(&self.original_retref),
        )
    }

    /// Reads a request (the simulator's side).
    pub fn parse(xml: &str) -> Result<Self, GvpsError> {
        let mut r = Self::default();
        let mut s3d: Option<Secure3d> = None;
        for_each_element(xml, |path, value| {
            let value = value.to_owned();
            match path {
                "GVPSRequest/Mode" => r.mode = value,
                "GVPSRequest/Terminal/ProvUserID" => r.prov_user_id = value,
                "GVPSRequest/Terminal/HashData" => r.hash_data = value,
                "GVPSRequest/Terminal/UserID" => r.user_id = value,
                "GVPSRequest/Terminal/ID" => r.terminal_id = value,
                "GVPSRequest/Terminal/MerchantID" => r.merchant_id = value,
                "GVPSRequest/Customer/IPAddress" => r.customer_ip = value,
                "GVPSRequest/Order/OrderID" => r.order_id = value,
                "GVPSRequest/Transaction/Type" => r.txn_type = value,
                "GVPSRequest/Transaction/InstallmentCnt" => r.installment = value,
                "GVPSRequest/Transaction/Amount" => r.amount = value,
                "GVPSRequest/Transaction/CurrencyCode" => r.currency = value,
                "GVPSRequest/Transaction/OriginalRetrefNum" => r.original_retref = value,
                p if p.starts_with("GVPSRequest/Transaction/Secure3D/") => {
                    let s = s3d.get_or_insert_with(|| Secure3d {
                        authentication_code: String::new(),
                        security_level: String::new(),
                        txn_id: String::new(),
                        md: Sensitive::new(String::new()),
                    });
                    match p.trim_start_matches("GVPSRequest/Transaction/Secure3D/") {
                        "AuthenticationCode" => s.authentication_code = value,
                        "SecurityLevel" => s.security_level = value,
                        "TxnID" => s.txn_id = value,
                        "Md" => s.md = Sensitive::new(value),
                        _ => {}
                    }
                }
                _ => {}
            }
        })?;
        if r.order_id.is_empty() || r.txn_type.is_empty() {
            return Err(GvpsError(
                "a GVPSRequest needs Order/OrderID and Transaction/Type".into(),
            ));
        }
        r.secure3d = s3d;
        Ok(r)
    }
}

/// A `GVPSResponse`: `Transaction/Response` (`Code` `00` approved, `Message`, `ErrorMsg`), the
/// references, and for `orderinq` the order's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GvpsResponse {
    pub order_id: String,
    pub code: String,
    /// `Transaction/Response/ReasonCode` (`0110` with code `92`: no such transaction).
    pub reason_code: String,
    pub message: String,
    pub error_msg: String,
    pub retref: String,
    pub auth_code: String,
    /// `orderinq`'s `Order/OrderInqResult`: the order's `Status` (`APPROVED`,
    /// `WAITINGPOSTAUTH` — a hold —, `VOID`, `REFUNDED`, `DECLINED`, …), its `Code`,
    /// `AuthCode` and `RetrefNum`; and `RefundedAmount` (kuruş), which Kapı's simulator adds
    /// (a real bank's answer may not carry it).
    pub inq_status: String,
    pub inq_code: String,
    pub inq_auth_code: String,
    pub inq_retref: String,
    pub inq_refunded: String,
}

impl GvpsResponse {
    pub fn approved(&self) -> bool {
        self.code == "00"
    }

    pub fn render(&self) -> String {
        let e = |s: &str| xml_escape(s);
        let inq = if self.inq_status.is_empty() {
            String::new()
        } else {
            format!(
                "<OrderInqResult><Status>{}</Status><Code>{}</Code><AuthCode>{}</AuthCode><RetrefNum>{}</RetrefNum><RefundedAmount>{}</RefundedAmount></OrderInqResult>",
                e(&self.inq_status),
                e(&self.inq_code),
                e(&self.inq_auth_code),
                e(&self.inq_retref),
                e(&self.inq_refunded)
            )
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GVPSResponse><Mode></Mode><Order><OrderID>{}</OrderID>{inq}</Order>\
             <Transaction><Response><Source>HOST</Source><Code>{}</Code><ReasonCode>{}</ReasonCode><Message>{}</Message><ErrorMsg>{}</ErrorMsg><SysErrMsg></SysErrMsg></Response>\
             <RetrefNum>{}</RetrefNum><AuthCode>{}</AuthCode></Transaction></GVPSResponse>",
            e(&self.order_id),
            e(&self.code),
            e(&self.reason_code),
            e(&self.message),
            e(&self.error_msg),
            e(&self.retref),
            e(&self.auth_code),
        )
    }

    pub fn parse(xml: &str) -> Result<Self, GvpsError> {
        let mut r = Self::default();
        let mut seen = false;
        for_each_element(xml, |path, value| {
            let value = value.to_owned();
            match path {
                "GVPSResponse/Order/OrderID" => r.order_id = value,
                "GVPSResponse/Transaction/Response/Code" => {
                    seen = true;
                    r.code = value;
                }
                "GVPSResponse/Transaction/Response/ReasonCode" => r.reason_code = value,
                "GVPSResponse/Transaction/Response/Message" => r.message = value,
                "GVPSResponse/Transaction/Response/ErrorMsg" => r.error_msg = value,
                "GVPSResponse/Transaction/RetrefNum" => r.retref = value,
                "GVPSResponse/Transaction/AuthCode" => r.auth_code = value,
                "GVPSResponse/Order/OrderInqResult/Status" => r.inq_status = value,
                "GVPSResponse/Order/OrderInqResult/Code" => r.inq_code = value,
                "GVPSResponse/Order/OrderInqResult/AuthCode" => r.inq_auth_code = value,
                "GVPSResponse/Order/OrderInqResult/RetrefNum" => r.inq_retref = value,
                "GVPSResponse/Order/OrderInqResult/RefundedAmount" => r.inq_refunded = value,
                _ => {}
            }
        })?;
        if !seen {
            return Err(GvpsError(
                "no Transaction/Response/Code in the answer".into(),
            ));
        }
        Ok(r)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("Garanti XML: {0}")]
pub struct GvpsError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    // The published vectors (bank-protocols.md §2; mews `GarantiPosCryptTest`): password
    // `123qweASD/`, terminal `30691298`, store key `12345678`.
    #[test]
    fn the_gate_hash_reproduces_the_published_vector() {
        let sd = security_data("123qweASD/", "30691298");
        let input = GateHashInput {
            terminal_id: "30691298",
            order_id: "order222",
            amount: "10025",
            currency: "949",
            success_url: "https://domain.com/success",
            error_url: "https://domain.com/fail_url",
            txn_type: "sales",
            installment: "",
        };
        assert_eq!(
            secure3d_hash(&input, "12345678", &sd),
            "372D6CB20B2B699D0A6667DFF46E3AA8CF3F9D8C2BB69A7C411895151FFCFAAB5277CCFE3B3A06035FEEFBFBFD40C79DBE51DBF867D0A24B37335A28F0CEFDE2"
        );
    }

    #[test]
    fn the_api_hash_reproduces_the_published_vectors() {
        let sd = security_data("123qweASD/", "30691298");
        assert_eq!(
            api_hash("order222", "30691298", "", "10025", "949", &sd),
            "0CFE09F107274C6A07292DA061A4EECAB0F5F0CF87F831F2D3626A3346A941126C52D1D95A3B77ADF5AC348B3D25C76BA5D8D98A29557D087D3367BFFACCD25C"
        );
        assert_eq!(
            api_hash("4499996", "30691298", "", "100", "949", &sd),
            "C0C88761726D1844AF49FBE756DBE4586F7339169994CF700AE50AA8EAD0C8E81F5828C3392CE39CFC3F8C976FC3E24B576F4DB55DAF2E7D3A6F6B6E5E89B189"
        );
        assert_eq!(
            api_hash("4499996", "30691298", "", "202", "949", &sd),
            "0F97D922001221B9C90AA692CF5D4082FF6D3EB38BE863A47F9C08E63CD87312270D6F298E5FBBC320654861DA1C6EE826E0C83E904916351A9D3032FA426BAA"
        );
    }

    #[test]
    fn the_result_hash_reproduces_the_published_vector_from_the_named_fields() {
        let md = "aW5kZXg6MDJ6LjAI5iAcKf/ilXjYIOnTh4t+deHrtwO8ze7tPTL1YCDcBe8KEpuq6HDLYbqQSluL7p3kGcpFzX9s9XcegNhHMsDszxqGd33+p+p5sULGrDF3J2GGfiJDwan4ku7+eiTyS8x2xS9pUy7PTgMGc6jw94aLfXLHskhvY7FYWrymzQ==";
        let mut fields = owned(&[
            ("mdstatus", "1"),
            ("eci", "02"),
            ("cavv", "xgRlQDz4AAAAAAAAAAAAAAAAAAA="),
            ("md", md),
            ("oid", "2023100354BB"),
            ("authcode", ""),
            ("response", ""),
            ("procreturncode", ""),
            ("rnd", "kW094tPzNEhqORzzCsLB"),
            ("hashparams", RESULT_HASH_PARAMS),
            // A forged value of `hashparamsval` changes nothing: it is never read.
            ("hashparamsval", "forged"),
            ("clientid", "30691298"),
        ]);
        let expected = "416B6253425E73184F118CC02E3BAA393622059BF6B0865D83F501E55A61339B9EC659CBCF7297EDECC1B17BF6281D90CC0AD8EDF3E1EFE94432ACCEAF79B26E";
        assert_eq!(result_hash(&fields, "12345678").as_deref(), Some(expected));
        fields[0].1 = "0".into();
        assert_ne!(result_hash(&fields, "12345678").as_deref(), Some(expected));
        assert_eq!(result_hash(&owned(&[("md", md)]), "12345678"), None);
    }

    #[test]
    fn requests_and_answers_read_back_and_hide_the_md() {
        let req = GvpsRequest {
            mode: "TEST".into(),
            prov_user_id: "PROVAUT".into(),
            user_id: "PROVAUT".into(),
            terminal_id: "30691298".into(),
            merchant_id: "7000679".into(),
            hash_data: "AB".into(),
            customer_ip: "203.0.113.9".into(),
            order_id: "o<1>&".into(),
            txn_type: "sales".into(),
            installment: String::new(),
            amount: "15000".into(),
            currency: "949".into(),
            original_retref: String::new(),
            secure3d: Some(Secure3d {
                authentication_code: "AAAB".into(),
                security_level: "05".into(),
                txn_id: "x1".into(),
                md: Sensitive::new("md-value"),
            }),
        };
        let back = GvpsRequest::parse(&req.render()).unwrap();
        assert!(back == req);
        assert!(!format!("{req:?}").contains("md-value"));
        let answer = GvpsResponse {
            order_id: "o1".into(),
            code: "00".into(),
            message: "Approved".into(),
            retref: "612345678901".into(),
            auth_code: "A1B2C3".into(),
            inq_status: "APPROVED".into(),
            inq_code: "00".into(),
            ..GvpsResponse::default()
        };
        assert_eq!(GvpsResponse::parse(&answer.render()).unwrap(), answer);
        assert!(GvpsResponse::parse("<GVPSResponse/>").is_err());
        assert!(GvpsRequest::parse("<!DOCTYPE x><GVPSRequest/>").is_err());
    }
}
