//! The NestPay connector's API side (`bank-protocols.md` §1.9): a terminal's calls to a NestPay
//! bank's XML API (`CC5Request` over HTTP POST) behind the `Acquirer` trait — the `3d` model's
//! `Auth`/`PreAuth` with the bank's own 3-D Secure values (`md`, `xid`, `eci`, `cavv`),
//! `PostAuth`, `Void`, `Credit`, and `ORDERSTATUS` for the recovery of a lost answer. The
//! order id at the bank is the attempt's reference, the same one the bank's 3-D Secure gate
//! was given, so an inquiry or a reversal finds it.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{
    Acquirer, AcquirerError, AfterSaleRequest, AuthRequest, AuthResponse, Inquiry, InquiryRequest,
};
use crate::{
    domain::{Currency, Sensitive, money::decimal_minor},
    wire::cc5::{Cc5Request, Cc5Response, XmlEncoding},
};

/// One NestPay terminal's API.
pub struct NestpayAcquirer {
    client: reqwest::Client,
    api_url: String,
    client_id: String,
    user: String,
    password: SecretString,
}

impl NestpayAcquirer {
    /// `client` should have the bank timeout and follow no redirects.
    pub fn new(
        api_url: &str,
        client_id: String,
        user: String,
        password: SecretString,
        client: reqwest::Client,
    ) -> Self {
        Self {
            client,
            api_url: api_url.to_owned(),
            client_id,
            user,
            password,
        }
    }

    fn request(&self, kind: &str, order_id: &str) -> Cc5Request {
        Cc5Request {
            name: self.user.clone(),
            password: Sensitive::new(self.password.expose_secret().to_owned()),
            client_id: self.client_id.clone(),
            kind: kind.to_owned(),
            order_id: order_id.to_owned(),
            ..Cc5Request::default()
        }
    }

    /// Posts the request; the bank's answer, parsed in the encoding it declares.
    async fn send(&self, req: &Cc5Request) -> Result<Cc5Response, AcquirerError> {
        let resp = self
            .client
            .post(&self.api_url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
            .body(req.render())
            .send()
            .await
            .map_err(AcquirerError::of_request)?;
        if !resp.status().is_success() {
            return Err(AcquirerError::Unreachable(format!(
                "HTTP {}",
                resp.status()
            )));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| AcquirerError::Unreachable(crate::outbound::describe(e)))?;
        let encoding = XmlEncoding::declared(&bytes).unwrap_or(XmlEncoding::Utf8);
        let text = encoding
            .decode(&bytes)
            .map_err(|e| AcquirerError::Invalid(e.to_string()))?;
        Cc5Response::parse(&text).map_err(|e| AcquirerError::Invalid(e.to_string()))
    }

    async fn after_sale(
        &self,
        kind: &str,
        req: &AfterSaleRequest,
        with_total: bool,
    ) -> Result<AuthResponse, AcquirerError> {
        // NestPay does not recognise a repeated request: asked again after a lost answer, Kapı
        // first asks what the bank did, and never sends it twice.
        if req.repeat && self.done_already(kind, req).await? {
            return Ok(ok_answer());
        }
        let mut r = self.request(kind, &req.original_reference);
        if with_total {
            r.total = total(req.amount_minor, &req.currency);
            r.currency = req.currency.clone();
        }
        answer(&self.send(&r).await?)
    }

    /// The order's status at the bank; `Err` when the bank cannot say (its own error, an
    /// answer Kapı cannot read): only a clear "no such order" is `None`.
    async fn order_status(&self, order_id: &str) -> Result<Option<Cc5Response>, AcquirerError> {
        let mut r = self.request("", order_id);
        r.extra = vec![("ORDERSTATUS".into(), "QUERY".into())];
        let resp = self.send(&r).await?;
        if resp.response.eq_ignore_ascii_case("Approved") {
            return Ok(Some(resp));
        }
        if is_not_found(&resp) {
            return Ok(None);
        }
        Err(AcquirerError::Unreachable(format!(
            "the bank could not say: {} {}",
            resp.response,
            resp.extra("ERRORCODE").unwrap_or_default()
        )))
    }

    /// Whether the bank already did this void, refund or capture (its answer was lost).
    async fn done_already(
        &self,
        kind: &str,
        req: &AfterSaleRequest,
    ) -> Result<bool, AcquirerError> {
        let Some(status) = self.order_status(&req.original_reference).await? else {
            return Ok(false);
        };
        let amount = |name: &str| {
            status
                .extra(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0)
        };
        let stat = status.extra("TRANS_STAT").unwrap_or_default();
        Ok(match kind {
            "Void" => matches!(stat, "V" | "CNCL"),
            "PostAuth" => stat == "C" || amount("CAPTURE_AMT") > 0 && stat != "A",
            _ => amount("REFUND_AMT") >= req.refunded_before_minor.saturating_add(req.amount_minor),
        })
    }
}

fn ok_answer() -> AuthResponse {
    AuthResponse {
        proc_return_code: "00".into(),
        auth_code: String::new(),
        host_ref: String::new(),
        transaction_id: String::new(),
    }
}

/// A bank's "no such order": Kapı's gateway says `KP-2001`; NestPay banks say so in words.
fn is_not_found(r: &Cc5Response) -> bool {
    let msg = r.err_msg.to_lowercase();
    r.extra("ERRORCODE") == Some("KP-2001")
        || msg.contains("bulunamad")
        || msg.contains("not found")
        || msg.contains("no record")
}

/// Minor units as NestPay's decimal `Total`, in the currency the request names (numeric).
fn total(minor: i64, currency: &str) -> String {
    decimal_minor(minor, Currency::parse(currency).unwrap_or(Currency::Try))
}

/// A NestPay answer as Kapı's bank answer: `Approved` is `00`; a decline keeps the bank's
/// two-digit code; an `Error` (refused before anything was done) is `99` unless it names a
/// code. A decline without a code Kapı can read, or an answer without a `Response` it knows,
/// is not an answer: the outcome stays unknown (and is asked for).
fn answer(r: &Cc5Response) -> Result<AuthResponse, AcquirerError> {
    let c = r.proc_return_code.trim();
    let two_digits = c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()) && c != "00";
    let code = match r.response.to_ascii_lowercase().as_str() {
        "approved" => "00".to_owned(),
        "error" if two_digits => c.to_owned(),
        "error" => "99".to_owned(),
        "declined" if two_digits => c.to_owned(),
        other => {
            return Err(AcquirerError::Invalid(format!(
                "NestPay answered {:?} without a code Kapı can read",
                other.chars().take(16).collect::<String>()
            )));
        }
    };
    Ok(AuthResponse {
        proc_return_code: code,
        auth_code: r.auth_code.clone(),
        host_ref: r.host_ref_num.clone(),
        transaction_id: r.trans_id.clone(),
    })
}

#[async_trait]
impl Acquirer for NestpayAcquirer {
    fn terminal_id(&self) -> &str {
        &self.client_id
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        let (Some(md), Some(xid)) = (&req.md, &req.xid) else {
            return Err(AcquirerError::Invalid(
                "a NestPay authorisation needs the bank's 3-D Secure md and xid".into(),
            ));
        };
        let kind = if req.preauth { "PreAuth" } else { "Auth" };
        let mut r = self.request(kind, &req.reference);
        r.total = total(req.amount_minor, &req.currency);
        r.currency = req.currency.clone();
        r.number = md.clone();
        r.payer_txn_id = xid.clone();
        r.payer_security_level = req.eci.clone();
        r.payer_authentication_code = req.cavv.clone().unwrap_or_default();
        if req.installment > 1 {
            r.taksit = req.installment.to_string();
        }
        answer(&self.send(&r).await?)
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("Void", req, false).await
    }

    /// NestPay undoes an authorisation with `Void` the same day, with `Credit` of the whole
    /// amount after the bank's day closed; an order it does not know (or declined) is `25`.
    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        super::reverse_by_void_or_refund(self, req).await
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let Some(resp) = self.order_status(&req.reference).await? else {
            return Ok(Inquiry::NotFound);
        };
        let stat = resp.extra("TRANS_STAT").unwrap_or_default().to_owned();
        let numcode = resp.extra("NUMCODE").unwrap_or_default().to_owned();
        let response = AuthResponse {
            proc_return_code: match stat.as_str() {
                "S" | "A" | "C" | "V" | "CNCL" => "00".to_owned(),
                // Under way at the bank: it cannot say yet.
                "PN" | "" => {
                    return Err(AcquirerError::Unreachable(
                        "the order is still under way at the bank".into(),
                    ));
                }
                _ if numcode.len() == 2 && numcode != "00" => numcode,
                _ => "05".to_owned(),
            },
            auth_code: resp
                .extra("AUTH_CODE")
                .unwrap_or(&resp.auth_code)
                .to_owned(),
            host_ref: resp
                .extra("HOST_REF_NUM")
                .unwrap_or(&resp.host_ref_num)
                .to_owned(),
            transaction_id: resp.trans_id.clone(),
        };
        Ok(Inquiry::Found {
            reversed: matches!(stat.as_str(), "V" | "CNCL"),
            response,
        })
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("Credit", req, true).await
    }

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("PostAuth", req, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_with_two_decimals() {
        assert_eq!(total(15_050, "949"), "150.50");
        assert_eq!(total(5, "978"), "0.05");
    }

    #[test]
    fn answers_map_to_kapis_codes() {
        let r = |response: &str, code: &str| Cc5Response {
            response: response.into(),
            proc_return_code: code.into(),
            ..Cc5Response::default()
        };
        assert_eq!(answer(&r("Approved", "00")).unwrap().proc_return_code, "00");
        assert_eq!(answer(&r("Declined", "51")).unwrap().proc_return_code, "51");
        assert_eq!(answer(&r("Error", "99")).unwrap().proc_return_code, "99");
        assert_eq!(
            answer(&r("Error", "CORE-2012")).unwrap().proc_return_code,
            "99"
        );
        assert!(answer(&r("", "")).is_err());
        assert!(
            answer(&r("Declined", "")).is_err(),
            "a decline without a code"
        );
    }
}
