//! The QNB Finansbank PayFor connector's API side (`bank-protocols.md` §3): a terminal's calls
//! to the bank's XML gate (`PayforRequest` over HTTP POST) behind the `Acquirer` trait — the
//! provision after the bank's own 3-D Secure (`SecureType=3DModelPayment` with the return's
//! `RequestGuid`), `PostAuth`, `Void` and `Refund` (`SecureType=NonSecure`, by `OrgOrderId`),
//! and the order inquiry for the recovery of a lost answer. PayFor's own codes (`M0xx`,
//! `V0xx`: its gateway refused the request) are kept as the bank wrote them.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{
    Acquirer, AcquirerError, AfterSaleRequest, AuthRequest, AuthResponse, Inquiry, InquiryRequest,
    post_xml,
};
use crate::{
    domain::{Currency, Sensitive, money::decimal_minor},
    wire::payfor::{PayforRequest, PayforResponse},
};

/// One PayFor terminal's API.
pub struct PayforAcquirer {
    pub client: reqwest::Client,
    pub api_url: String,
    pub mbr_id: String,
    pub merchant_id: String,
    pub user_code: String,
    pub user_pass: SecretString,
}

fn amount(minor: i64, currency: &str) -> String {
    decimal_minor(minor, Currency::parse(currency).unwrap_or(Currency::Try))
}

fn answer_ok() -> AuthResponse {
    AuthResponse {
        proc_return_code: "00".into(),
        auth_code: String::new(),
        host_ref: String::new(),
        transaction_id: String::new(),
    }
}

/// PayFor's answer as Kapı's: its code as written (`00` approved; the issuer's two digits;
/// PayFor's own letters and digits from its gateway). An answer without a code Kapı can keep
/// is not an answer: the outcome stays unknown (and is asked for).
fn answer(r: &PayforResponse) -> Result<AuthResponse, AcquirerError> {
    let c = r.proc_return_code.trim();
    if !(2..=8).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AcquirerError::Invalid(
            "PayFor answered without a response code".into(),
        ));
    }
    Ok(AuthResponse {
        proc_return_code: c.to_owned(),
        auth_code: r.auth_code.clone(),
        host_ref: r.host_ref_num.clone(),
        transaction_id: r.trans_id.clone(),
    })
}

/// PayFor's "no such transaction" (`V013`, "Seçili İşlem Bulunamadı").
const NOT_FOUND: &str = "V013";

fn yes(flag: &str) -> bool {
    flag.trim().eq_ignore_ascii_case("true")
}

impl PayforAcquirer {
    fn request(&self, secure_type: &str, txn_type: &str) -> PayforRequest {
        PayforRequest {
            mbr_id: self.mbr_id.clone(),
            merchant_id: self.merchant_id.clone(),
            user_code: self.user_code.clone(),
            user_pass: Sensitive::new(self.user_pass.expose_secret()),
            secure_type: secure_type.to_owned(),
            txn_type: txn_type.to_owned(),
            lang: "TR".to_owned(),
            ..PayforRequest::default()
        }
    }

    async fn send(&self, req: &PayforRequest) -> Result<PayforResponse, AcquirerError> {
        let text = post_xml(&self.client, &self.api_url, req.render()).await?;
        PayforResponse::parse(&text).map_err(|e| AcquirerError::Invalid(e.to_string()))
    }

    async fn after_sale(
        &self,
        txn_type: &str,
        req: &AfterSaleRequest,
    ) -> Result<AuthResponse, AcquirerError> {
        if req.repeat && self.done_already(txn_type, req).await? {
            return Ok(answer_ok());
        }
        let mut r = self.request("NonSecure", txn_type);
        r.org_order_id = req.original_reference.clone();
        if txn_type != "Void" {
            r.amount = amount(req.amount_minor, &req.currency);
            r.currency = req.currency.clone();
        }
        answer(&self.send(&r).await?)
    }

    async fn order(&self, order_id: &str) -> Result<PayforResponse, AcquirerError> {
        let mut r = self.request("Inquiry", "OrderInquiry");
        r.org_order_id = order_id.to_owned();
        self.send(&r).await
    }

    async fn done_already(
        &self,
        txn_type: &str,
        req: &AfterSaleRequest,
    ) -> Result<bool, AcquirerError> {
        let o = self.order(&req.original_reference).await?;
        if o.proc_return_code != "00" {
            return Err(AcquirerError::Unreachable(format!(
                "the bank could not say what it did: {}",
                o.proc_return_code
            )));
        }
        let currency = Currency::parse(&req.currency).unwrap_or(Currency::Try);
        Ok(match txn_type {
            "Void" => yes(&o.is_voided),
            "PostAuth" => o.txn_type == "PostAuth",
            _ => {
                let Ok(refunded) = crate::domain::Money::parse(&o.refunded_amount, currency) else {
                    return Err(AcquirerError::Unreachable(
                        "the bank's order inquiry does not say what was refunded".into(),
                    ));
                };
                refunded.minor() >= req.refunded_before_minor.saturating_add(req.amount_minor)
            }
        })
    }
}

#[async_trait]
impl Acquirer for PayforAcquirer {
    fn terminal_id(&self) -> &str {
        &self.merchant_id
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        let Some(guid) = &req.md else {
            return Err(AcquirerError::Invalid(
                "a PayFor provision needs the RequestGuid of the bank's 3-D Secure".into(),
            ));
        };
        let mut r = self.request(
            "3DModelPayment",
            if req.preauth { "PreAuth" } else { "Auth" },
        );
        r.request_guid = guid.expose().to_owned();
        r.order_id = req.reference.clone();
        r.amount = amount(req.amount_minor, &req.currency);
        r.currency = req.currency.clone();
        r.installment = if req.installment > 1 {
            req.installment.to_string()
        } else {
            "0".to_owned()
        };
        answer(&self.send(&r).await?)
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("Void", req).await
    }

    /// Undone by `Void`, or else a `Refund` of the whole; an order the bank does not know, or
    /// declined, is `25`.
    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        super::reverse_by_void_or_refund(self, req).await
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let o = self.order(&req.reference).await?;
        let c = o.proc_return_code.trim();
        if c == NOT_FOUND {
            return Ok(Inquiry::NotFound);
        }
        let issuers = c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit());
        if !issuers {
            return Err(AcquirerError::Unreachable(format!(
                "the bank could not say: {}",
                c.chars().take(8).collect::<String>()
            )));
        }
        Ok(Inquiry::Found {
            reversed: c == "00" && yes(&o.is_voided),
            response: AuthResponse {
                proc_return_code: c.to_owned(),
                auth_code: o.auth_code.clone(),
                host_ref: o.host_ref_num.clone(),
                transaction_id: o.trans_id.clone(),
            },
        })
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("Refund", req).await
    }

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("PostAuth", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payfors_own_codes_are_kept_as_written() {
        let r = |code: &str| PayforResponse {
            proc_return_code: code.into(),
            ..PayforResponse::default()
        };
        assert_eq!(answer(&r("00")).unwrap().proc_return_code, "00");
        assert_eq!(answer(&r("51")).unwrap().proc_return_code, "51");
        assert_eq!(answer(&r("M041")).unwrap().proc_return_code, "M041");
        assert!(answer(&r("")).is_err(), "no code: the outcome is unknown");
        assert_eq!(amount(15_050, "949"), "150.50");
    }
}
