//! The Garanti BBVA (GVP) connector's API side (`bank-protocols.md` §2): a terminal's calls to
//! the bank's `VPServlet` (`GVPSRequest` XML over HTTP POST) behind the `Acquirer` trait — the
//! provision after the bank's own 3-D Secure (`sales`/`preauth` with `Secure3D`: `Md`,
//! `TxnID`, `SecurityLevel`, `AuthenticationCode`), `postauth`, `void`, `refund` (by the
//! provision's `RetrefNum`, as the refund user `PROVRFN` when the terminal has one) and
//! `orderinq` for the recovery of a lost answer. Amounts in kuruş; the order id at the bank is
//! the attempt's reference, the one its 3-D Secure gate was given.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{
    Acquirer, AcquirerError, AfterSaleRequest, AuthRequest, AuthResponse, Inquiry, InquiryRequest,
    post_xml,
};
use crate::{
    domain::Sensitive,
    wire::garanti::{self, GvpsRequest, GvpsResponse, Secure3d},
};

/// A user of the terminal at the bank: the provision user (`PROVAUT`) or the refund user.
pub struct GarantiUser {
    pub name: String,
    pub password: SecretString,
}

/// One Garanti terminal's API.
pub struct GarantiAcquirer {
    pub client: reqwest::Client,
    pub api_url: String,
    /// The merchant number (`terminalmerchantid`).
    pub merchant_id: String,
    /// The terminal id (`terminalid`, 8 digits).
    pub terminal_id: String,
    pub provision: GarantiUser,
    /// Voids and refunds; the provision user when the terminal has none.
    pub refund: Option<GarantiUser>,
    /// `TEST` on the bank's test system, else `PROD`.
    pub mode: String,
}

/// `TEST` for a bank's test system (or a simulator on this host), else `PROD`.
pub fn mode_for(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.contains("test") || lower.starts_with("http://") {
        "TEST"
    } else {
        "PROD"
    }
}

impl GarantiAcquirer {
    fn request(
        &self,
        txn_type: &str,
        order_id: &str,
        amount: String,
        currency: &str,
        refund: bool,
    ) -> GvpsRequest {
        let user = match (&self.refund, refund) {
            (Some(r), true) => r,
            _ => &self.provision,
        };
        let sd = garanti::security_data(user.password.expose_secret(), &self.terminal_id);
        GvpsRequest {
            mode: self.mode.clone(),
            prov_user_id: user.name.clone(),
            user_id: user.name.clone(),
            terminal_id: self.terminal_id.clone(),
            merchant_id: self.merchant_id.clone(),
            hash_data: garanti::api_hash(order_id, &self.terminal_id, "", &amount, currency, &sd),
            order_id: order_id.to_owned(),
            txn_type: txn_type.to_owned(),
            amount,
            currency: currency.to_owned(),
            ..GvpsRequest::default()
        }
    }

    async fn send(&self, req: &GvpsRequest) -> Result<GvpsResponse, AcquirerError> {
        let text = post_xml(&self.client, &self.api_url, req.render()).await?;
        GvpsResponse::parse(&text).map_err(|e| AcquirerError::Invalid(e.to_string()))
    }

    async fn after_sale(
        &self,
        txn_type: &str,
        req: &AfterSaleRequest,
    ) -> Result<AuthResponse, AcquirerError> {
        // Garanti does not recognise a repeat either: asked again after a lost answer, Kapı
        // first asks what the bank did.
        if req.repeat && self.done_already(txn_type, req).await? {
            return Ok(answer_ok());
        }
        let mut r = self.request(
            txn_type,
            &req.original_reference,
            req.amount_minor.to_string(),
            &req.currency,
            txn_type != "postauth",
        );
        r.original_retref = req.original_host_ref.clone();
        answer(&self.send(&r).await?)
    }

    async fn order(&self, order_id: &str) -> Result<GvpsResponse, AcquirerError> {
        self.send(&self.request("orderinq", order_id, "1".into(), "949", false))
            .await
    }

    async fn done_already(
        &self,
        txn_type: &str,
        req: &AfterSaleRequest,
    ) -> Result<bool, AcquirerError> {
        let o = self.order(&req.original_reference).await?;
        if !o.approved() {
            return Err(AcquirerError::Unreachable(format!(
                "the bank could not say what it did: {} {}",
                o.code, o.reason_code
            )));
        }
        Ok(match txn_type {
            "void" => matches!(o.inq_status.as_str(), "VOID" | "VOIDED" | "CANCELLED"),
            // A hold captured is an approved order again.
            "postauth" => o.inq_status == "APPROVED",
            _ => {
                let Ok(refunded) = o.inq_refunded.trim().parse::<i64>() else {
                    return Err(AcquirerError::Unreachable(
                        "the bank's order inquiry does not say what was refunded".into(),
                    ));
                };
                refunded >= req.refunded_before_minor.saturating_add(req.amount_minor)
            }
        })
    }
}

fn answer_ok() -> AuthResponse {
    AuthResponse {
        proc_return_code: "00".into(),
        auth_code: String::new(),
        host_ref: String::new(),
        transaction_id: String::new(),
    }
}

/// Garanti's answer as Kapı's: its two-digit code (`00` approved; the issuer's, or the
/// gateway's own `92`/`99`). An answer without one Kapı can read is not an answer: the outcome
/// stays unknown (and is asked for), never taken for a refusal.
fn answer(r: &GvpsResponse) -> Result<AuthResponse, AcquirerError> {
    let c = r.code.trim();
    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AcquirerError::Invalid(format!(
            "Garanti answered without a response code ({:?})",
            c.chars().take(8).collect::<String>()
        )));
    }
    Ok(AuthResponse {
        proc_return_code: c.to_owned(),
        auth_code: r.auth_code.clone(),
        host_ref: r.retref.clone(),
        transaction_id: r.retref.clone(),
    })
}

/// Garanti's "no such transaction": code `92` with reason `0110`.
fn not_found(r: &GvpsResponse) -> bool {
    r.code == "92" && r.reason_code == "0110"
}

#[async_trait]
impl Acquirer for GarantiAcquirer {
    fn terminal_id(&self) -> &str {
        &self.terminal_id
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        let (Some(md), Some(xid)) = (&req.md, &req.xid) else {
            return Err(AcquirerError::Invalid(
                "a Garanti provision needs the bank's 3-D Secure md and xid".into(),
            ));
        };
        let kind = if req.preauth { "preauth" } else { "sales" };
        let mut r = self.request(
            kind,
            &req.reference,
            req.amount_minor.to_string(),
            &req.currency,
            false,
        );
        r.installment = if req.installment > 1 {
            req.installment.to_string()
        } else {
            String::new()
        };
        r.customer_ip = req.client_ip.clone();
        r.secure3d = Some(Secure3d {
            authentication_code: req.cavv.clone().unwrap_or_default(),
            security_level: req.eci.clone(),
            txn_id: xid.clone(),
            md: Sensitive::new(md.expose()),
        });
        answer(&self.send(&r).await?)
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("void", req).await
    }

    /// Undone by `void` (the same day) or else a `refund` of the whole; an order the bank does
    /// not know, or declined, is `25`.
    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        super::reverse_by_void_or_refund(self, req).await
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let o = self.order(&req.reference).await?;
        if not_found(&o) {
            return Ok(Inquiry::NotFound);
        }
        let cannot_say = |why: &str| {
            Err(AcquirerError::Unreachable(format!(
                "the bank could not say: {why} ({} {} {})",
                o.code, o.reason_code, o.inq_status
            )))
        };
        if !o.approved() {
            return cannot_say("its inquiry failed");
        }
        let (code, reversed) = match o.inq_status.as_str() {
            "APPROVED" | "WAITINGPOSTAUTH" | "REFUNDED" => ("00".to_owned(), false),
            "VOID" | "VOIDED" | "CANCELLED" => ("00".to_owned(), true),
            "DECLINED" | "ERROR" => {
                let c = o.inq_code.trim();
                let declined = c.len() == 2 && c != "00" && c.bytes().all(|b| b.is_ascii_digit());
                (
                    if declined {
                        c.to_owned()
                    } else {
                        "05".to_owned()
                    },
                    false,
                )
            }
            _ => return cannot_say("an order status Kapı does not know"),
        };
        Ok(Inquiry::Found {
            reversed,
            response: AuthResponse {
                proc_return_code: code,
                auth_code: o.inq_auth_code.clone(),
                host_ref: o.inq_retref.clone(),
                transaction_id: o.inq_retref.clone(),
            },
        })
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("refund", req).await
    }

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.after_sale("postauth", req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_banks_two_digits_or_the_gateways_error() {
        let r = |code: &str| GvpsResponse {
            code: code.into(),
            ..GvpsResponse::default()
        };
        assert_eq!(answer(&r("00")).unwrap().proc_return_code, "00");
        assert_eq!(answer(&r("51")).unwrap().proc_return_code, "51");
        assert!(answer(&r("0651")).is_err());
        assert!(answer(&r("")).is_err(), "no code: the outcome is unknown");
        assert_eq!(
            mode_for("https://sanalposprovtest.garantibbva.com.tr/VPServlet"),
            "TEST"
        );
        assert_eq!(
            mode_for("https://sanalposprov.garanti.com.tr/VPServlet"),
            "PROD"
        );
    }
}
