//! Authorisation with the acquiring bank, behind the `Acquirer` trait. Each acquirer
//! connection is a terminal; a payment records the terminal that authorised it.

pub mod bank_sim;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::Sensitive;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub terminal_id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: String,
    pub installment: u8,
    pub pan: Sensitive,
    /// `YYMM`
    pub expiry: Sensitive,
    pub cvv: Sensitive,
    pub eci: String,
    pub cavv: Option<String>,
    pub ds_trans_id: Option<String>,
    pub md_status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthResponse {
    /// ISO 8583 style response code; `00` is approved.
    pub proc_return_code: String,
    #[serde(default)]
    pub auth_code: String,
    #[serde(default)]
    pub host_ref: String,
    #[serde(default)]
    pub transaction_id: String,
}

impl AuthResponse {
    pub fn approved(&self) -> bool {
        self.proc_return_code == "00"
    }
}

/// A void (iptal, same day, full amount) or a refund (iade, full or partial) of an
/// authorisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AfterSaleRequest {
    pub terminal_id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub payment_id: String,
    /// Unique per request (the refund id, or the payment id for a void), so the bank can
    /// recognise a repeat.
    pub reference: String,
    /// The authorisation's transaction id and host reference.
    pub original_transaction_id: String,
    pub original_host_ref: String,
    pub amount_minor: i64,
    /// ISO 4217 numeric.
    pub currency: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AcquirerError {
    /// No answer from the bank: the outcome is unknown to the shopper as "bank unreachable".
    #[error("bank unreachable: {0}")]
    Unreachable(String),
    #[error("bank answered with an invalid message: {0}")]
    Invalid(String),
}

#[async_trait]
pub trait Acquirer: Send + Sync + 'static {
    fn terminal_id(&self) -> &str;
    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError>;
    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
    /// Undoes an authorisation whose answer was lost, found by the payment id (ISO 8583
    /// reversal). `00`: reversed; `25`: the bank has no such authorisation.
    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
}

/// JSON over HTTP to `{base}/v1/authorisations`, authenticated by the terminal's API key.
pub struct HttpAcquirer {
    client: reqwest::Client,
    base: String,
    terminal_id: String,
    api_key: SecretString,
}

impl HttpAcquirer {
    /// `client` should have a timeout and follow no redirects.
    pub fn new(
        base_url: &str,
        terminal_id: String,
        api_key: SecretString,
        client: reqwest::Client,
    ) -> Self {
        Self {
            client,
            base: base_url.trim_end_matches('/').to_owned(),
            terminal_id,
            api_key,
        }
    }
}

#[async_trait]
impl Acquirer for HttpAcquirer {
    fn terminal_id(&self) -> &str {
        &self.terminal_id
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        self.post("/v1/authorisations", req).await
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.post("/v1/voids", req).await
    }

    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.post("/v1/reversals", req).await
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.post("/v1/refunds", req).await
    }
}

impl HttpAcquirer {
    async fn post<T: Serialize>(&self, path: &str, req: &T) -> Result<AuthResponse, AcquirerError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.api_key.expose_secret())
            .json(req)
            .send()
            .await
            .map_err(|e| AcquirerError::Unreachable(crate::notify::describe(e)))?;
        if !resp.status().is_success() {
            return Err(AcquirerError::Unreachable(format!(
                "HTTP {}",
                resp.status()
            )));
        }
        let body: AuthResponse = resp
            .json()
            .await
            .map_err(|e| AcquirerError::Invalid(e.without_url().to_string()))?;
        let code_ok = body.proc_return_code.len() == 2
            && body.proc_return_code.bytes().all(|b| b.is_ascii_digit());
        if !code_ok {
            return Err(AcquirerError::Invalid(
                "response code is not two digits".into(),
            ));
        }
        Ok(body)
    }
}
