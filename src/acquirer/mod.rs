//! Authorisation with the acquiring bank, behind the `Acquirer` trait. Each acquirer
//! connection is a terminal; a payment records the terminal that authorised it.

pub mod garanti;
pub mod nestpay;
pub mod payfor;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

pub use crate::wire::bank::{
    AfterSaleRequest, AuthRequest, AuthResponse, Inquiry, InquiryRequest, InquiryResponse,
};

#[derive(Debug, thiserror::Error)]
pub enum AcquirerError {
    /// No answer from the bank: the outcome is unknown to the shopper as "bank unreachable".
    #[error("bank unreachable: {0}")]
    Unreachable(String),
    #[error("bank answered with an invalid message: {0}")]
    Invalid(String),
    /// The request never left Kapı (the connection was refused, or its TLS failed): the bank
    /// cannot have acted on it.
    #[error("bank refused the connection: {0}")]
    NotSent(String),
}

impl AcquirerError {
    /// The error of a request that failed on its way: not sent when no connection was made.
    pub fn of_request(e: reqwest::Error) -> Self {
        if e.is_connect() {
            Self::NotSent(crate::outbound::describe(e))
        } else {
            Self::Unreachable(crate::outbound::describe(e))
        }
    }
}

#[async_trait]
pub trait Acquirer: Send + Sync + 'static {
    fn terminal_id(&self) -> &str;
    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError>;
    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
    /// Undoes an authorisation whose answer was lost, found by its attempt's reference
    /// (`original_reference`; ISO 8583 reversal). `00`: reversed; `25`: the bank has no such
    /// authorisation (or it was reversed already).
    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
    /// What became of an authorisation attempt, by its reference.
    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError>;
    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
    /// Captures a pre-authorisation (`AuthRequest::preauth`): the full held amount or less,
    /// once. `00`: captured.
    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError>;
}

/// How a bank without a reversal message undoes an authorisation whose answer was lost, found
/// by its order: asks the bank what it booked, voids it, or else (the bank's day closed) refunds
/// the whole. `25` when there is nothing to undo (never booked, or declined); `00` when it was
/// undone already.
pub(crate) async fn reverse_by_void_or_refund<A: Acquirer + ?Sized>(
    bank: &A,
    req: &AfterSaleRequest,
) -> Result<AuthResponse, AcquirerError> {
    let nothing = AuthResponse {
        proc_return_code: "25".into(),
        auth_code: String::new(),
        host_ref: String::new(),
        transaction_id: String::new(),
    };
    let inquiry = InquiryRequest {
        terminal_id: req.terminal_id.clone(),
        reference: req.original_reference.clone(),
    };
    // When the bank cannot say what it booked, the void is still tried: it undoes the attempt
    // if it was booked, and is refused if not (the reversal is then tried again later).
    let booked = match bank.inquire(&inquiry).await {
        Ok(Inquiry::NotFound) => return Ok(nothing),
        Ok(Inquiry::Found { reversed: true, .. }) => {
            return Ok(AuthResponse {
                proc_return_code: "00".into(),
                ..nothing
            });
        }
        Ok(Inquiry::Found { response, .. }) if response.proc_return_code != "00" => {
            return Ok(nothing);
        }
        Ok(Inquiry::Found { response, .. }) => Ok(response),
        Err(e) => Err(e),
    };
    let undo = AfterSaleRequest {
        original_host_ref: match (&booked, req.original_host_ref.is_empty()) {
            (Ok(r), true) => r.host_ref.clone(),
            _ => req.original_host_ref.clone(),
        },
        ..req.clone()
    };
    let voided = bank.void(&undo).await?;
    if voided.proc_return_code == "00" {
        return Ok(voided);
    }
    // Unknown to the bank's inquiry and not voidable: ask again later.
    booked?;
    let refund = AfterSaleRequest {
        repeat: true,
        refunded_before_minor: 0,
        ..undo
    };
    bank.refund(&refund).await
}

/// Posts an XML message to a bank's API and reads its answer as UTF-8 text: a non-2xx status
/// is an answer lost (the bank may have acted), a refused connection one never sent.
pub(crate) async fn post_xml(
    client: &reqwest::Client,
    url: &str,
    body: String,
) -> Result<String, AcquirerError> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=UTF-8")
        .body(body)
        .send()
        .await
        .map_err(AcquirerError::of_request)?;
    if !resp.status().is_success() {
        return Err(AcquirerError::Unreachable(format!(
            "HTTP {}",
            resp.status()
        )));
    }
    resp.text()
        .await
        .map_err(|e| AcquirerError::Unreachable(crate::outbound::describe(e)))
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

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        self.post("/v1/captures", req).await
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let body: InquiryResponse = self.send("/v1/inquiries", req).await?;
        if !body.found {
            return Ok(Inquiry::NotFound);
        }
        let response = AuthResponse {
            proc_return_code: body.proc_return_code,
            auth_code: body.auth_code,
            host_ref: body.host_ref,
            transaction_id: body.transaction_id,
        };
        check_code(&response)?;
        Ok(Inquiry::Found {
            response,
            reversed: body.reversed,
        })
    }
}

fn check_code(body: &AuthResponse) -> Result<(), AcquirerError> {
    let code_ok = body.proc_return_code.len() == 2
        && body.proc_return_code.bytes().all(|b| b.is_ascii_digit());
    if code_ok {
        Ok(())
    } else {
        Err(AcquirerError::Invalid(
            "response code is not two digits".into(),
        ))
    }
}

impl HttpAcquirer {
    async fn post<T: Serialize>(&self, path: &str, req: &T) -> Result<AuthResponse, AcquirerError> {
        let body: AuthResponse = self.send(path, req).await?;
        check_code(&body)?;
        Ok(body)
    }

    async fn send<T: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        req: &T,
    ) -> Result<R, AcquirerError> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.api_key.expose_secret())
            .json(req)
            .send()
            .await
            .map_err(AcquirerError::of_request)?;
        if !resp.status().is_success() {
            return Err(AcquirerError::Unreachable(format!(
                "HTTP {}",
                resp.status()
            )));
        }
        resp.json()
            .await
            .map_err(|e| AcquirerError::Invalid(e.without_url().to_string()))
    }
}
