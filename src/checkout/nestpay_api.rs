//! NestPay's XML API (`POST /fim/api`) over Kapı's payments: status and history queries, void
//! and refund (`Credit`), the `3d` model's `Auth`/`PreAuth`, and the capture of a hold
//! (`PostAuth`), answered as a NestPay bank answers — a `CC5Response` in the request's
//! encoding, errors included (docs/NESTPAY.md). Voids, refunds and captures follow Kapı's own
//! rules and produce its events.

use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{
    Status,
    after_sale::AfterSaleError,
    gateway::Gateway,
    nestpay::{masked_credit_card, trx_date},
    payment::{Intent, Payment},
    service::Checkout,
};
use crate::{
    domain::{Currency, Money},
    error::ErrorCode,
    merchants,
    storage::{NestpayRecord, PaymentFilter, RefundKind, RefundRecord, RefundStatus},
    wire::cc5::{Cc5Request, Cc5Response, MAX_REQUEST_BYTES, XmlEncoding, XmlError},
};

/// Failed logins an address may make in a limits window.
const FAILED_LOGINS: u32 = 10;

/// An answer of the XML API: the document and the encoding it is in.
pub struct ApiAnswer {
    pub body: Vec<u8>,
    pub encoding: XmlEncoding,
}

/// Where the XML document is in a request body: raw (any content type; curl posts it raw as
/// `application/x-www-form-urlencoded`), or in the form field `DATA`.
pub fn xml_of_body(body: &[u8]) -> Result<Vec<u8>, XmlError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(XmlError::TooLarge);
    }
    let trimmed = body
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(body)
        .trim_ascii_start();
    if trimmed.starts_with(b"<") {
        return Ok(trimmed.to_vec());
    }
    for pair in body.split(|&b| b == b'&') {
        if let Some(value) = pair
            .strip_prefix(b"DATA=".as_slice())
            .or_else(|| pair.strip_prefix(b"data=".as_slice()))
        {
            return Ok(percent_decode(value));
        }
    }
    Err(XmlError::NotCc5)
}

/// `application/x-www-form-urlencoded` decoding to bytes (the XML declares its own encoding).
fn percent_decode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// Texts of the XML API's errors (Turkish, as NestPay banks answer).
mod text {
    pub const MALFORMED: &str = "İstek okunamadı: CC5Request XML belgesi bekleniyor.";
    pub const CREDENTIALS: &str = "Kullanıcı adı, şifre veya üye işyeri numarası hatalı.";
    pub const UNSUPPORTED: &str = "Bu işlem tipi desteklenmiyor (Auth, PreAuth, PostAuth, Void, \
         Credit, ORDERSTATUS, ORDERHISTORY).";
    pub const AUTH_NOT_3D: &str =
        "Auth ve PreAuth yalnızca 3d modelinde, 3-D Secure doğrulamasının değerleriyle yapılır.";
    pub const NOT_CAPTURABLE: &str =
        "Sipariş için kapatılacak bir ön provizyon yok (PostAuth yalnızca bir kez yapılır).";
    pub const MD_USED: &str = "Bu 3-D Secure doğrulaması (md) zaten kullanıldı.";
    pub const MD_EXPIRED: &str = "Bu 3-D Secure doğrulamasının (md) süresi doldu.";
    pub const MD_NOT_READY: &str = "Sipariş için geçerli bir 3-D Secure doğrulaması yok.";
    pub const MD_MISMATCH: &str =
        "3-D Secure değerleri (md, xid, eci, cavv) siparişin doğrulamasıyla eşleşmiyor.";
    pub const INSTALLMENT: &str = "Taksit sayısı siparişinkiyle aynı olmalı.";
    pub const NOT_FOUND: &str = "Sipariş bulunamadı.";
    pub const ORDER_ID: &str = "OrderId gerekli.";
    pub const AMOUNT: &str = "Tutar (Total) geçersiz.";
    pub const CURRENCY: &str = "Para birimi siparişinkiyle aynı olmalı.";
    pub const NOT_VOIDABLE: &str = "Sipariş iptal edilemez (onaylı ve iade görmemiş olmalı).";
    pub const CUTOFF: &str = "İptal süresi (gün sonu) geçti; iade (Credit) kullanın.";
    pub const NOT_REFUNDABLE: &str = "Sipariş iade edilemez (onaylı olmalı).";
    pub const PENDING: &str =
        "Bankadan yanıt alınamadı; işlem sonuçlandığında sipariş durumunda görünecek.";
    pub const INTERNAL: &str = "Sistem hatası; lütfen daha sonra yeniden deneyin.";
    pub const LIMITED: &str = "Çok fazla istek; lütfen biraz sonra yeniden deneyin.";
}

fn error(order_id: &str, code: ErrorCode, message: &str, now_ms: i64) -> Cc5Response {
    Cc5Response {
        order_id: order_id.to_owned(),
        group_id: order_id.to_owned(),
        response: "Error".to_owned(),
        proc_return_code: "99".to_owned(),
        err_msg: message.to_owned(),
        extra: vec![
            ("SETTLEID".to_owned(), String::new()),
            ("TRXDATE".to_owned(), trx_date(now_ms)),
            ("ERRORCODE".to_owned(), code.code().to_owned()),
            ("NUMCODE".to_owned(), "99".to_owned()),
        ],
        ..Cc5Response::default()
    }
}

/// `TRANS_STAT` of a payment: `S` sale, `A` pre-authorisation held, `C` pre-authorisation
/// closed (captured), `V` voided, `PN` under way, `D` not paid.
fn trans_stat(status: Status, intent: Intent) -> &'static str {
    match status {
        Status::Authorised => "A",
        Status::Captured => "C",
        Status::Refunded if intent == Intent::PreAuth => "C",
        Status::Approved | Status::Refunded => "S",
        Status::Voided => "V",
        Status::Declined | Status::Failed | Status::Cancelled | Status::Expired => "D",
        _ => "PN",
    }
}

impl Checkout {
    /// Answers one XML API request.
    pub async fn nestpay_api(&self, body: &[u8], client_ip: &str) -> ApiAnswer {
        let now = self.now_ms();
        let xml = match xml_of_body(body) {
            Ok(xml) => xml,
            Err(_) => {
                return ApiAnswer {
                    body: error("", ErrorCode::MalformedRequest, text::MALFORMED, now)
                        .render(XmlEncoding::Utf8),
                    encoding: XmlEncoding::Utf8,
                };
            }
        };
        let encoding = XmlEncoding::declared(&xml).unwrap_or(XmlEncoding::Utf8);
        let answer = match XmlEncoding::declared(&xml)
            .and_then(|e| e.decode(&xml))
            .and_then(|text| Cc5Request::parse(&text))
        {
            Ok(req) => self.nestpay_request(&req, client_ip).await,
            Err(e) => {
                tracing::info!(error = %e, "NestPay API request refused");
                error("", ErrorCode::MalformedRequest, text::MALFORMED, now)
            }
        };
        ApiAnswer {
            body: answer.render(encoding),
            encoding,
        }
    }

    async fn nestpay_request(&self, req: &Cc5Request, client_ip: &str) -> Cc5Response {
        let now = self.now_ms();
        let order_id = req.order_id.as_str();
        // Guessing passwords: after `FAILED_LOGINS` failures in a window, an address waits.
        let limits = &self.settings.limits;
        let failures = format!(
            "nestpay-login:{}",
            crate::limits::address_key_str(client_ip)
        );
        if self.limiter.peek(&failures, limits.window_secs).await >= FAILED_LOGINS {
            return error(order_id, ErrorCode::TooManyRequests, text::LIMITED, now);
        }
        let nestpay = match self.nestpay_login(req).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                self.limiter.count(&failures, limits.window_secs).await;
                return error(order_id, ErrorCode::ApiKeyInvalid, text::CREDENTIALS, now);
            }
            Err(()) => return error(order_id, ErrorCode::Internal, text::INTERNAL, now),
        };
        let merchant = match self
            .storage
            .merchants
            .get_merchant(&nestpay.merchant_id)
            .await
        {
            Ok(Some(m)) => m,
            Ok(None) => return error(order_id, ErrorCode::ApiKeyInvalid, text::CREDENTIALS, now),
            Err(_) => return error(order_id, ErrorCode::Internal, text::INTERNAL, now),
        };
        // Refused as a wrong password is: a guesser from elsewhere must not learn it was right.
        let ips = merchant.allowed_ips();
        if !ips.is_empty() && !ips.iter().any(|ip| ip == client_ip) {
            tracing::warn!(merchant_id = %merchant.id, client_ip, "NestPay API call from an address not allowed");
            self.limiter.count(&failures, limits.window_secs).await;
            return error(order_id, ErrorCode::ApiKeyInvalid, text::CREDENTIALS, now);
        }
        // The merchant's API budget, shared with its JSON API calls.
        let budget = format!("api:{}", merchant.id);
        if self
            .limiter
            .hit(&budget, limits.api_calls, limits.window_secs)
            .await
            .is_err()
        {
            return error(order_id, ErrorCode::ApiRateLimited, text::LIMITED, now);
        }
        let kind = req.kind.as_str();
        let query = |name: &str| {
            req.extra(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("QUERY"))
        };
        if kind.is_empty() && !query("ORDERSTATUS") && !query("ORDERHISTORY") {
            return error(
                order_id,
                ErrorCode::UnsupportedStoreType,
                text::UNSUPPORTED,
                now,
            );
        }
        if !kind.is_empty()
            && !["Void", "Credit", "Auth", "PreAuth", "PostAuth"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(kind))
        {
            return error(
                order_id,
                ErrorCode::UnsupportedStoreType,
                text::UNSUPPORTED,
                now,
            );
        }
        if order_id.is_empty() {
            return error(order_id, ErrorCode::MissingField, text::ORDER_ID, now);
        }
        // An order id Kapı could never have taken is no order of this merchant.
        if crate::domain::OrderId::parse(order_id).is_err() {
            return error("", ErrorCode::PaymentNotFound, text::NOT_FOUND, now);
        }
        let payment = match self.payment_of_order(&merchant.id, order_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return error(order_id, ErrorCode::PaymentNotFound, text::NOT_FOUND, now),
            Err(()) => return error(order_id, ErrorCode::Internal, text::INTERNAL, now),
        };
        if kind.eq_ignore_ascii_case("Auth") {
            self.nestpay_auth(&payment, req, Intent::Sale).await
        } else if kind.eq_ignore_ascii_case("PreAuth") {
            self.nestpay_auth(&payment, req, Intent::PreAuth).await
        } else if kind.eq_ignore_ascii_case("PostAuth") {
            self.nestpay_post_auth(&payment, req).await
        } else if kind.eq_ignore_ascii_case("Void") {
            self.nestpay_void(&payment).await
        } else if kind.eq_ignore_ascii_case("Credit") {
            self.nestpay_credit(&payment, req).await
        } else if query("ORDERHISTORY") {
            self.nestpay_history(&payment).await
        } else {
            self.nestpay_status(&payment)
        }
    }

    /// The NestPay set-up whose client id, API user and password the request carries (all
    /// compared in constant time); `Err` when the store failed.
    async fn nestpay_login(&self, req: &Cc5Request) -> Result<Option<NestpayRecord>, ()> {
        if !merchants::is_nestpay_client_id(&req.client_id) {
            return Ok(None);
        }
        let found = self
            .storage
            .merchants
            .nestpay_by_client_id(&req.client_id)
            .await
            .map_err(|e| tracing::error!(error = %e, "NestPay API: store"))?;
        let Some(nestpay) = found else {
            return Ok(None);
        };
        let password = merchants::nestpay_api_password(&self.vault, &nestpay)
            .map_err(|e| tracing::error!(error = %e, "NestPay API: password unreadable"))?;
        let user_ok = nestpay.api_user.as_bytes().ct_eq(req.name.as_bytes());
        let password_ok = password
            .expose_secret()
            .as_bytes()
            .ct_eq(req.password.expose().as_bytes());
        Ok(bool::from(user_ok & password_ok).then_some(nestpay))
    }

    /// The payment an order id means: the one that was paid, else the latest attempt.
    async fn payment_of_order(
        &self,
        merchant_id: &str,
        order_id: &str,
    ) -> Result<Option<Payment>, ()> {
        let filter = PaymentFilter {
            order_id: Some(order_id.to_owned()),
            limit: 50,
            ..PaymentFilter::default()
        };
        let list = self
            .storage
            .payments
            .list_payments(Some(merchant_id), &filter)
            .await
            .map_err(|e| tracing::error!(error = %e, "NestPay API: store"))?;
        let paid = list.iter().position(|p| p.status.was_authorised());
        Ok(match paid {
            Some(i) => list.into_iter().nth(i),
            None => list.into_iter().next(),
        })
    }

    fn answer_of(&self, payment: &Payment) -> Cc5Response {
        let a = payment.authorisation.as_ref();
        let o = |v: Option<&String>| v.cloned().unwrap_or_default();
        Cc5Response {
            order_id: payment.order_id.to_string(),
            group_id: payment.order_id.to_string(),
            response: "Approved".to_owned(),
            auth_code: o(a.and_then(|a| a.auth_code.as_ref())),
            host_ref_num: o(a.and_then(|a| a.host_ref.as_ref())),
            proc_return_code: "00".to_owned(),
            trans_id: o(a.and_then(|a| a.transaction_id.as_ref())),
            err_msg: String::new(),
            extra: Vec::new(),
        }
    }

    fn nestpay_status(&self, payment: &Payment) -> Cc5Response {
        let mut answer = self.answer_of(payment);
        let a = payment.authorisation.as_ref();
        let charged = payment.charged_minor();
        let captured = payment.settled_minor();
        answer.extra = vec![
            ("SETTLEID".to_owned(), String::new()),
            ("TRXDATE".to_owned(), trx_date(payment.updated_at)),
            (
                "ERRORCODE".to_owned(),
                payment
                    .error_code
                    .map(|c| c.code())
                    .unwrap_or_default()
                    .to_owned(),
            ),
            ("AUTH_CODE".to_owned(), answer.auth_code.clone()),
            (
                "AUTH_DTTM".to_owned(),
                a.and_then(|a| a.authorised_at)
                    .map(trx_date)
                    .unwrap_or_default(),
            ),
            ("HOST_REF_NUM".to_owned(), answer.host_ref_num.clone()),
            ("ORIG_TRANS_AMT".to_owned(), charged.to_string()),
            ("CAPTURE_AMT".to_owned(), captured.to_string()),
            ("REFUND_AMT".to_owned(), payment.refunded_minor.to_string()),
            (
                "PAN".to_owned(),
                payment
                    .masked_pan()
                    .map(masked_credit_card)
                    .unwrap_or_default(),
            ),
            (
                "NUMCODE".to_owned(),
                payment
                    .proc_return_code()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_else(|| "99".to_owned()),
            ),
            ("CHARGE_TYPE_CD".to_owned(), "S".to_owned()),
            (
                "TRANS_STAT".to_owned(),
                trans_stat(payment.status, payment.intent).to_owned(),
            ),
            ("ORDERSTATUS".to_owned(), payment.status.as_str().to_owned()),
        ];
        answer
    }

    async fn nestpay_history(&self, payment: &Payment) -> Cc5Response {
        let mut answer = self.answer_of(payment);
        let refunds = match self.storage.payments.refunds(payment.id.as_str()).await {
            Ok(r) => r,
            Err(_) => {
                return error(
                    payment.order_id.as_str(),
                    ErrorCode::Internal,
                    text::INTERNAL,
                    self.now_ms(),
                );
            }
        };
        let a = payment.authorisation.as_ref();
        let first = match payment.intent {
            Intent::Sale => "S",
            Intent::PreAuth => "PA",
        };
        let mut lines = vec![format!(
            "{first}\t{}\t{}\t{}\t{}\t{}",
            trans_stat(payment.status, payment.intent),
            payment.charged_minor(),
            trx_date(
                a.and_then(|a| a.authorised_at)
                    .unwrap_or(payment.created_at)
            ),
            answer.trans_id,
            payment
                .proc_return_code()
                .map(|c| c.as_str())
                .unwrap_or_default(),
        )];
        lines.extend(refunds.iter().map(|r| {
            let kind = match r.kind {
                RefundKind::Void => "V",
                RefundKind::Refund => "C",
                RefundKind::Capture => "PoA",
            };
            let stat = match r.status {
                RefundStatus::Succeeded => "A",
                RefundStatus::Pending => "PN",
                RefundStatus::Failed => "D",
            };
            format!(
                "{kind}\t{stat}\t{}\t{}\t{}\t{}",
                r.amount_minor,
                trx_date(r.created_at),
                r.transaction_id.as_deref().unwrap_or_default(),
                r.proc_return_code.as_deref().unwrap_or_default(),
            )
        }));
        answer.extra = vec![
            ("SETTLEID".to_owned(), String::new()),
            ("TRXDATE".to_owned(), trx_date(self.now_ms())),
            ("ERRORCODE".to_owned(), String::new()),
            ("NUMCODE".to_owned(), "00".to_owned()),
            ("TRXCOUNT".to_owned(), lines.len().to_string()),
        ];
        for (i, line) in lines.into_iter().enumerate() {
            answer.extra.push((format!("TRX{}", i + 1), line));
        }
        answer
    }

    async fn nestpay_void(&self, payment: &Payment) -> Cc5Response {
        match self.void(payment, None).await {
            Ok(after) => {
                let refund = self
                    .latest_refund(after.id.as_str(), RefundKind::Void)
                    .await;
                self.after_sale_answer(&after, refund.as_ref())
            }
            Err(e) => {
                self.after_sale_error(payment, e, (ErrorCode::VoidNotAllowed, text::NOT_VOIDABLE))
            }
        }
    }

    /// The amount a `Credit` or `PostAuth` names in the payment's currency; `None` for an
    /// empty `Total` when `optional`. A refusal is its code and text.
    fn amount_of(
        payment: &Payment,
        req: &Cc5Request,
        optional: bool,
    ) -> Result<Option<i64>, (ErrorCode, &'static str)> {
        let currency = payment.amount.currency();
        if !req.currency.is_empty() && Currency::parse(&req.currency).ok() != Some(currency) {
            return Err((ErrorCode::UnsupportedCurrency, text::CURRENCY));
        }
        if optional && req.total.trim().is_empty() {
            return Ok(None);
        }
        match Money::parse(req.total.trim(), currency) {
            Ok(amount) => Ok(Some(amount.minor())),
            Err(_) => Err((ErrorCode::InvalidAmount, text::AMOUNT)),
        }
    }

    /// `PostAuth`: captures the hold of a pre-authorisation, the amount `Total` names (the
    /// whole hold when empty), once.
    async fn nestpay_post_auth(&self, payment: &Payment, req: &Cc5Request) -> Cc5Response {
        let amount = match Self::amount_of(payment, req, true) {
            Ok(a) => a,
            Err((code, text)) => {
                return error(payment.order_id.as_str(), code, text, self.now_ms());
            }
        };
        match self.capture(payment, amount, None).await {
            Ok((capture, after)) => self.after_sale_answer(&after, Some(&capture)),
            Err(AfterSaleError::Exceeds { refundable_minor }) => {
                let left = Money::from_minor(refundable_minor, payment.amount.currency())
                    .map(|m| format!("{} {}", m.to_decimal_string(), m.currency().code()))
                    .unwrap_or_else(|_| "0".to_owned());
                let message = format!("Tutar ön provizyonu aşıyor (en fazla {left}).");
                error(
                    payment.order_id.as_str(),
                    ErrorCode::CaptureExceeds,
                    &message,
                    self.now_ms(),
                )
            }
            Err(e) => self.after_sale_error(
                payment,
                e,
                (ErrorCode::CaptureNotAllowed, text::NOT_CAPTURABLE),
            ),
        }
    }

    async fn nestpay_credit(&self, payment: &Payment, req: &Cc5Request) -> Cc5Response {
        let amount = match Self::amount_of(payment, req, false) {
            Ok(a) => a,
            Err((code, text)) => {
                return error(payment.order_id.as_str(), code, text, self.now_ms());
            }
        };
        match self.refund(payment, amount, None).await {
            Ok((refund, after)) => self.after_sale_answer(&after, Some(&refund)),
            Err(e) => self.after_sale_error(
                payment,
                e,
                (ErrorCode::RefundNotAllowed, text::NOT_REFUNDABLE),
            ),
        }
    }

    /// `Auth` (a sale) or `PreAuth` (a hold) in NestPay's `3d` model: the merchant's server
    /// authorises a payment that 3-D Secure authenticated, with the values its result carried;
    /// they must be that authentication's, unused and in time.
    async fn nestpay_auth(
        &self,
        payment: &Payment,
        req: &Cc5Request,
        intent: Intent,
    ) -> Cc5Response {
        let now = self.now_ms();
        let order_id = payment.order_id.as_str();
        let three_d = payment
            .gateway
            .as_ref()
            .is_some_and(Gateway::merchant_authorises);
        if !three_d {
            return error(
                order_id,
                ErrorCode::UnsupportedStoreType,
                text::AUTH_NOT_3D,
                now,
            );
        }
        // Past its deadline, the payment expires now, whether or not the sweeper came by.
        let expired = payment.status == Status::AwaitingAuthorisation
            && payment.expires_at <= now
            && self.expire_now(payment).await.is_ok();
        match payment.status {
            _ if expired => {
                return error(order_id, ErrorCode::PaymentExpired, text::MD_EXPIRED, now);
            }
            Status::AwaitingAuthorisation => {}
            Status::Expired => {
                return error(order_id, ErrorCode::PaymentExpired, text::MD_EXPIRED, now);
            }
            _ if payment.authorisation.is_some() => {
                return error(order_id, ErrorCode::ChallengeReplayed, text::MD_USED, now);
            }
            _ => {
                return error(
                    order_id,
                    ErrorCode::ChallengeInvalid,
                    text::MD_NOT_READY,
                    now,
                );
            }
        }
        let t = payment.threeds.as_ref();
        let same = |posted: &str, ours: Option<&str>| {
            posted.as_bytes().ct_eq(ours.unwrap_or_default().as_bytes())
        };
        let matches = same(req.number.expose(), Some(payment.id.as_str()))
            & same(&req.payer_txn_id, t.map(|t| t.server_trans_id.as_str()))
            & same(
                &req.payer_security_level,
                t.and_then(|t| t.eci.as_ref()).map(|e| e.as_str()),
            )
            & same(
                &req.payer_authentication_code,
                t.and_then(|t| t.authentication_value.as_deref()),
            );
        if !bool::from(matches) {
            return error(
                order_id,
                ErrorCode::ChallengeInvalid,
                text::MD_MISMATCH,
                now,
            );
        }
        let currency = payment.amount.currency();
        if !req.currency.is_empty() && Currency::parse(&req.currency).ok() != Some(currency) {
            return error(
                order_id,
                ErrorCode::UnsupportedCurrency,
                text::CURRENCY,
                now,
            );
        }
        let total = Money::parse(req.total.trim(), currency);
        if total.map(|m| m.minor()).ok() != Some(payment.amount.minor()) {
            return error(order_id, ErrorCode::InvalidAmount, text::AMOUNT, now);
        }
        let count = match req.taksit.trim() {
            "" | "0" => Ok(1),
            n => n.parse::<u8>(),
        };
        if count.ok() != Some(payment.installment.count()) {
            return error(
                order_id,
                ErrorCode::InvalidInstallment,
                text::INSTALLMENT,
                now,
            );
        }
        match self
            .authorise_as(payment.id.as_str(), payment.locale, Some(intent))
            .await
        {
            Ok(true) => {}
            // Another Auth or PreAuth of this authentication got there first: this one is a
            // reuse, whatever the other's outcome.
            Ok(false) => {
                return error(order_id, ErrorCode::ChallengeReplayed, text::MD_USED, now);
            }
            Err(e) => {
                tracing::error!(payment_id = %payment.id, code = e.code.code(), "NestPay API: authorisation failed");
            }
        }
        match self.payment(payment.id.as_str()).await {
            Ok(after) => self.auth_answer(&after),
            Err(_) => error(order_id, ErrorCode::Internal, text::INTERNAL, now),
        }
    }

    /// The answer to an `Auth`, from where the payment ended.
    fn auth_answer(&self, payment: &Payment) -> Cc5Response {
        let now = self.now_ms();
        let order_id = payment.order_id.as_str();
        let mut answer = self.answer_of(payment);
        let code = payment
            .proc_return_code()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let extra = |numcode: &str, error: &str| {
            vec![
                ("SETTLEID".to_owned(), String::new()),
                ("TRXDATE".to_owned(), trx_date(now)),
                ("ERRORCODE".to_owned(), error.to_owned()),
                ("NUMCODE".to_owned(), numcode.to_owned()),
            ]
        };
        match payment.status {
            Status::Approved | Status::Authorised => {
                answer.extra = extra("00", "");
                answer
            }
            Status::Declined => {
                answer.response = "Declined".to_owned();
                answer.auth_code = String::new();
                answer.proc_return_code = code.clone();
                answer.err_msg = crate::notify::error_message(
                    payment.locale,
                    payment.error_code,
                    payment.proc_return_code(),
                );
                answer.extra = extra(&code, ErrorCode::Declined.code());
                answer
            }
            Status::Failed => {
                let failure = payment.error_code.unwrap_or(ErrorCode::Internal);
                let message = crate::notify::error_message(
                    payment.locale,
                    Some(failure),
                    payment.proc_return_code(),
                );
                error(order_id, failure, &message, now)
            }
            // The bank's answer was lost: recovery asks it, and the status query tells.
            _ => error(order_id, ErrorCode::BankUnreachable, text::PENDING, now),
        }
    }

    async fn latest_refund(&self, payment_id: &str, kind: RefundKind) -> Option<RefundRecord> {
        let list = self.storage.payments.refunds(payment_id).await.ok()?;
        list.into_iter()
            .filter(|r| r.kind == kind)
            .max_by_key(|r| r.created_at)
    }

    fn after_sale_answer(&self, payment: &Payment, refund: Option<&RefundRecord>) -> Cc5Response {
        let mut answer = self.answer_of(payment);
        answer.auth_code = String::new();
        if let Some(r) = refund {
            answer.host_ref_num = r.host_ref.clone().unwrap_or_default();
            answer.trans_id = r.transaction_id.clone().unwrap_or_default();
        }
        answer.extra = vec![
            ("SETTLEID".to_owned(), String::new()),
            ("TRXDATE".to_owned(), trx_date(self.now_ms())),
            ("ERRORCODE".to_owned(), String::new()),
            ("NUMCODE".to_owned(), "00".to_owned()),
        ];
        answer
    }

    fn after_sale_error(
        &self,
        payment: &Payment,
        e: AfterSaleError,
        (not_allowed, not_allowed_text): (ErrorCode, &str),
    ) -> Cc5Response {
        let now = self.now_ms();
        let order_id = payment.order_id.as_str();
        match e {
            AfterSaleError::NotAllowed(_) => error(order_id, not_allowed, not_allowed_text, now),
            AfterSaleError::CutoffPassed => {
                error(order_id, ErrorCode::VoidCutoffPassed, text::CUTOFF, now)
            }
            AfterSaleError::Exceeds { refundable_minor } => {
                let left = Money::from_minor(refundable_minor, payment.amount.currency())
                    .map(|m| format!("{} {}", m.to_decimal_string(), m.currency().code()))
                    .unwrap_or_else(|_| "0".to_owned());
                let message = format!("İade tutarı kalan tutarı aşıyor (en fazla {left}).");
                error(order_id, ErrorCode::RefundExceeds, &message, now)
            }
            AfterSaleError::BankRefused { refund } => {
                let code = refund
                    .proc_return_code
                    .clone()
                    .unwrap_or_else(|| "99".to_owned());
                let mut answer = error(
                    order_id,
                    ErrorCode::BankRefused,
                    "Banka işlemi reddetti.",
                    now,
                );
                answer.response = "Declined".to_owned();
                answer.proc_return_code = code.clone();
                answer.trans_id = refund.transaction_id.clone().unwrap_or_default();
                if let Some((_, numcode)) = answer.extra.iter_mut().find(|(n, _)| n == "NUMCODE") {
                    *numcode = code;
                }
                answer
            }
            AfterSaleError::Pending { .. } => {
                error(order_id, ErrorCode::BankUnreachable, text::PENDING, now)
            }
            AfterSaleError::Store(e) => {
                tracing::error!(error = %e, "NestPay API: store");
                error(order_id, ErrorCode::Internal, text::INTERNAL, now)
            }
            AfterSaleError::Internal(e) => {
                tracing::error!(error = %e, "NestPay API");
                error(order_id, ErrorCode::Internal, text::INTERNAL, now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_found_in_every_shape() {
        let xml = b"<?xml version=\"1.0\"?><CC5Request/>";
        assert_eq!(xml_of_body(xml).unwrap(), xml.to_vec());
        assert_eq!(
            xml_of_body(b"  \n<CC5Request/>").unwrap(),
            b"<CC5Request/>".to_vec()
        );
        assert_eq!(
            xml_of_body(b"DATA=%3CCC5Request%3E%3CName%3Ea+b%3C%2FName%3E%3C%2FCC5Request%3E")
                .unwrap(),
            b"<CC5Request><Name>a b</Name></CC5Request>".to_vec()
        );
        // Latin-5 bytes survive percent-decoding untouched.
        assert_eq!(xml_of_body(b"x=1&DATA=%DE").unwrap(), vec![0xDE]);
        assert!(xml_of_body(b"x=1").is_err());
    }

    #[test]
    fn statuses_map_to_nestpay_trans_stat() {
        let sale = Intent::Sale;
        assert_eq!(trans_stat(Status::Approved, sale), "S");
        assert_eq!(trans_stat(Status::Refunded, sale), "S");
        assert_eq!(trans_stat(Status::Voided, sale), "V");
        assert_eq!(trans_stat(Status::Declined, sale), "D");
        assert_eq!(trans_stat(Status::Challenge, sale), "PN");
        let hold = Intent::PreAuth;
        assert_eq!(trans_stat(Status::Authorised, hold), "A");
        assert_eq!(trans_stat(Status::Captured, hold), "C");
        assert_eq!(trans_stat(Status::Refunded, hold), "C");
        assert_eq!(trans_stat(Status::Voided, hold), "V");
    }
}
