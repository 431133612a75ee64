//! `Checkout`: the journey's steps as methods, over the parts it needs — storage, the vault,
//! the clock, the 3-D Secure directory, the acquirer, the notifier — each behind a trait, so
//! that tests can run the whole flow with fakes and no HTTP server.

use std::sync::Arc;

use secrecy::SecretBox;

use crate::{
    acquirer::Acquirer,
    clock::Clock,
    config::Settings,
    crypto::vault::Vault,
    error::ErrorCode,
    installments::Installments,
    limits::Limiter,
    notify::Notifier,
    storage::{Cas, Effects, MerchantRecord, Storage},
    threeds::DirectoryServer,
};

use super::{
    CheckoutError,
    payment::{Payment, Transition},
};

/// Keys derived from the master key (or configured) for the MACs of the journey.
pub struct Keys {
    /// MACs `threeDSSessionData`, binding the cross-site 3DS return to its payment.
    pub threeds_session: SecretBox<Vec<u8>>,
    /// Authenticates RReq messages from the ACS (stands in for the DS's mutual TLS).
    pub acs_channel: SecretBox<Vec<u8>>,
    /// MACs the link a checkout session's shopper follows.
    pub session_link: SecretBox<Vec<u8>>,
    /// MACs the CSRF token of a payment's forms.
    pub csrf: SecretBox<Vec<u8>>,
}

/// Where browsers (and the ACS) reach Kapı.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

impl PublicUrl {
    /// `base` without a trailing slash.
    pub fn new(base: &str) -> Self {
        Self(base.trim_end_matches('/').to_owned())
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the checkout is built from.
pub struct Parts {
    pub settings: Arc<Settings>,
    pub storage: Storage,
    pub vault: Vault,
    pub clock: Arc<dyn Clock>,
    pub directory: Arc<dyn DirectoryServer>,
    pub acquirer: Arc<dyn Acquirer>,
    pub notifier: Arc<dyn Notifier>,
    /// Request rate limits, counted by this instance.
    pub limiter: Arc<Limiter>,
    /// The card-testing guard, counted in storage: shared by every instance.
    pub guard: Arc<Limiter>,
    pub installments: Arc<Installments>,
    pub keys: Arc<Keys>,
    pub public_url: PublicUrl,
}

/// The checkout service. Cheap to clone: everything in it is shared.
#[derive(Clone)]
pub struct Checkout {
    pub(crate) inner: Arc<Parts>,
}

impl std::ops::Deref for Checkout {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.inner
    }
}

impl Checkout {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The payment with this id.
    pub async fn payment(&self, id: &str) -> Result<Payment, CheckoutError> {
        self.storage
            .payments
            .get_payment(id)
            .await?
            .ok_or_else(|| CheckoutError::new(ErrorCode::PaymentNotFound))
    }

    /// The merchant of a payment.
    pub async fn merchant_of(&self, p: &Payment) -> Result<MerchantRecord, CheckoutError> {
        self.storage
            .merchants
            .get_merchant(p.merchant_id.as_str())
            .await?
            .ok_or_else(|| {
                CheckoutError::internal(anyhow::anyhow!("merchant of payment missing"))
                    .in_locale(p.locale)
            })
    }

    /// A payment as its shopper finds it: expired first when its deadline has passed, and its
    /// merchant.
    pub async fn open(
        &self,
        mut payment: Payment,
    ) -> Result<(Payment, MerchantRecord), CheckoutError> {
        if self.now_ms() >= payment.expires_at {
            // Past the deadline: expire it, or see how the sweeper (which may have won) left it.
            self.expire_now(&payment).await?;
            payment = self.payment(payment.id.as_str()).await?;
        }
        let merchant = self.merchant_of(&payment).await?;
        Ok((payment, merchant))
    }

    /// A move that is not final, written as a compare-and-set. `Lost` when someone else moved
    /// the payment first.
    pub(crate) async fn step(
        &self,
        payment: &Payment,
        t: Transition,
        effects: Effects<'_>,
    ) -> Result<(Cas, Payment), CheckoutError> {
        let after = payment
            .apply(t, self.now_ms())
            .map_err(|e| CheckoutError::internal(e).in_locale(payment.locale))?;
        let cas = self.storage.payments.save(payment, &after, effects).await?;
        Ok((cas, after))
    }

    /// The merchant calling the API with `key` from `client_ip`: the key valid, the address
    /// on its allow-list (when it has one), and its calls within the rate limit.
    pub async fn api_merchant(
        &self,
        key: &str,
        client_ip: &str,
    ) -> Result<MerchantRecord, CheckoutError> {
        let merchant = crate::merchants::by_api_key(&*self.storage.merchants, key, self.now_ms())
            .await?
            .ok_or_else(|| CheckoutError::new(ErrorCode::ApiKeyInvalid))?;
        let allowed = merchant.allowed_ips();
        if !allowed.is_empty() && !allowed.iter().any(|a| a == client_ip) {
            tracing::info!(merchant_id = %merchant.id, ip = %client_ip, "API call from an address not on the allow-list");
            return Err(
                CheckoutError::new(ErrorCode::IpNotAllowed).with_detail(format!(
                    "calls from {client_ip} are not allowed for this merchant"
                )),
            );
        }
        let limits = &self.settings.limits;
        let key = format!("api:{}", merchant.id);
        if let Err(wait) = self
            .limiter
            .hit(&key, limits.api_calls, limits.window_secs)
            .await
        {
            return Err(CheckoutError::too_many(ErrorCode::ApiRateLimited, wait));
        }
        Ok(merchant)
    }

    /// The link a checkout session's shopper follows: the payment id and a MAC of it, which
    /// binds the browser that opens it to the payment.
    pub fn shopper_link(&self, payment_id: &str) -> String {
        let token = crate::crypto::hmac_hex(
            secrecy::ExposeSecret::expose_secret(&self.keys.session_link),
            payment_id.as_bytes(),
        );
        self.public_url
            .join(&format!("/checkout/{payment_id}?token={token}"))
    }

    /// Whether `token` is the MAC of a shopper link for `payment_id` (constant time).
    pub fn shopper_link_valid(&self, payment_id: &str, token: &str) -> bool {
        crate::crypto::verify_hmac_hex(
            secrecy::ExposeSecret::expose_secret(&self.keys.session_link),
            payment_id.as_bytes(),
            token,
        )
    }
}
