//! A terminal whose bank runs 3-D Secure itself (NestPay's `3d` model, Garanti's `3D`,
//! PayFor's `3DModel`): the shopper's browser goes to the bank's gate with an auto-submitting
//! form that carries the card (served `no-store`, under the page's CSP that allows only that
//! gate), the bank runs the issuer's challenge and posts its result back to Kapı — a cross-site
//! POST bound to the payment by a MAC in its address, not by the session cookie — and Kapı
//! checks the bank's signature and 3-D Secure status (`gates`) before it authorises through
//! the bank's API with the values it returned.

use super::{
    CheckoutError, Status,
    flow::Next,
    gates::{self, GateKeys, GateReturn, GateTrip},
    payment::{Authentication, FailureDetail, Payment, Transition},
    service::Checkout,
};
use crate::{
    domain::{Locale, PaymentId, ids::random_token, threeds::TransStatus},
    error::ErrorCode,
    storage::{Cas, Effects},
    terminals::{self, Terminal},
    threeds,
};

/// The auto-submitting form to a bank's 3-D Secure gate. It carries the card: its `Debug`
/// names the fields only.
#[derive(Clone, PartialEq, Eq)]
pub struct GateForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
    /// The 3-D Secure step it starts: the order id at the bank.
    pub step: String,
}

impl std::fmt::Debug for GateForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("GateForm")
            .field("action", &self.action)
            .field("fields", &names)
            .finish()
    }
}

/// The order id at the bank: the 3-D Secure transaction's id, also the attempt's reference.
fn gate_oid(payment: &Payment) -> Option<String> {
    payment.threeds.as_ref().map(|t| t.server_trans_id.clone())
}

/// The payment's routed terminal speaks a platform whose bank runs 3-D Secure itself.
pub fn bank_runs_3ds(payment: &Payment) -> bool {
    payment
        .routing
        .as_ref()
        .is_some_and(|r| gates::runs_3ds(&r.platform))
}

impl Checkout {
    /// The routed terminal's settings and the secrets its gate signs with.
    async fn routed_terminal(&self, payment: &Payment) -> Result<GateKeys, CheckoutError> {
        let internal =
            |what: String| CheckoutError::internal(anyhow::anyhow!(what)).in_locale(payment.locale);
        let id = payment
            .routing
            .as_ref()
            .map(|r| r.terminal_id.clone())
            .unwrap_or_default();
        let record = self
            .storage
            .terminals
            .terminal(&id)
            .await?
            .ok_or_else(|| internal(format!("terminal {id} is not stored")))?;
        let terminal = terminals::parse(&record).map_err(|e| internal(e.to_string()))?;
        let (password, store_key) =
            terminals::secrets(&self.vault, &record).map_err(|e| internal(e.to_string()))?;
        Ok(GateKeys {
            terminal,
            password,
            store_key,
        })
    }

    /// Sends the shopper to the routed bank's 3-D Secure gate: the payment waits in
    /// `challenge` (its deadline applies) for the bank's signed return.
    pub(super) async fn to_bank_gate(&self, payment: Payment) -> Result<Next, CheckoutError> {
        let form = match self.routed_terminal(&payment).await {
            Ok(keys) => self.gate_form(&payment, &keys).await?,
            Err(e) => {
                tracing::error!(payment_id = %payment.id, error = %e, "terminal of the bank's gate unreadable");
                None
            }
        };
        let Some(form) = form else {
            tracing::error!(payment_id = %payment.id, "cannot send the shopper to the bank's gate");
            let t = Transition::Fail {
                code: ErrorCode::Internal,
                detail: FailureDetail::default(),
            };
            self.finish(&payment, t).await?;
            return Ok(Next::Result);
        };
        let t = Transition::ToBankGate {
            gate_url: form.action.clone(),
        };
        let (cas, _) = self.step(&payment, t, Effects::default()).await?;
        if cas != Cas::Done {
            return Ok(Next::Result);
        }
        Ok(Next::BankGate(form))
    }

    /// The way (back) to the 3-D Secure step of a payment in `challenge` that has no outcome
    /// yet: the ACS's challenge, or the bank's gate (its form built again from the vaulted
    /// card, the same order).
    pub async fn resume_3ds(&self, payment: &Payment) -> Option<Next> {
        if !bank_runs_3ds(payment) {
            return self.resume_challenge(payment);
        }
        let t = payment.threeds.as_ref()?;
        if payment.status != Status::Challenge || t.rreq_received_at.is_some() {
            return None;
        }
        let keys = self.routed_terminal(payment).await.ok()?;
        let form = self.gate_form(payment, &keys).await.ok()??;
        Some(Next::BankGate(form))
    }

    /// The signed auto-submitting form to the terminal's gate, with the card; `None` when the
    /// vault no longer holds it.
    async fn gate_form(
        &self,
        payment: &Payment,
        keys: &GateKeys,
    ) -> Result<Option<GateForm>, CheckoutError> {
        let (Some(card), Some(oid)) = (
            self.vaulted_card(payment.id.as_str()).await?,
            gate_oid(payment),
        ) else {
            return Ok(None);
        };
        let token = threeds::session_data(
            &self.keys.threeds_session,
            payment.id.as_str(),
            &format!("bank:{oid}"),
        );
        let back = self.public_url.join(&format!("/bank/return?s={token}"));
        let trip = GateTrip {
            money: payment.charged(),
            intent: payment.intent,
            installment: payment.installment.count(),
            locale: payment.locale,
            oid: &oid,
            back: &back,
            client_ip: payment.client_ip.as_deref().unwrap_or_default(),
            rnd: &random_token(20),
            card: &card,
            holder: payment
                .card
                .as_ref()
                .map(|c| c.holder.as_str())
                .unwrap_or_default(),
        };
        let fields = gates::form_fields(keys, &trip);
        drop(card);
        Ok(Some(GateForm {
            action: keys.terminal.gate_url.clone(),
            fields,
            step: oid,
        }))
    }

    /// The bank's 3-D Secure result, posted back by the shopper's browser: checked (the MAC
    /// of the address, the bank's `HASH`, the order), then authorised or failed. Returns the
    /// payment's id for its result page. A post that does not check out changes nothing.
    pub async fn bank_return(
        &self,
        token: &str,
        fields: &[(String, String)],
    ) -> Result<PaymentId, CheckoutError> {
        let bad = |locale| CheckoutError::new(ErrorCode::ChallengeInvalid).in_locale(locale);
        let claimed = token.split_once('.').map(|(id, _)| id).unwrap_or("");
        let payment_id = PaymentId::parse(claimed).map_err(|_| bad(Locale::Tr))?;
        let payment = self
            .payment(payment_id.as_str())
            .await
            .map_err(|e| e.in_locale(Locale::Tr))?;
        let locale = payment.locale;
        let oid = gate_oid(&payment).ok_or_else(|| bad(locale))?;
        let bound =
            threeds::verify_session_data(&self.keys.threeds_session, token, &format!("bank:{oid}"))
                .is_some();
        if !bound || !bank_runs_3ds(&payment) {
            return Err(bad(locale));
        }
        if payment.status != Status::Challenge {
            // A second post of the same result (a reload): the first one decided.
            return Ok(payment_id);
        }
        let keys = self.routed_terminal(&payment).await?;
        let Some(back) = gates::read_return(&keys, fields, &oid) else {
            tracing::warn!(payment_id = %payment.id, "bank's 3-D Secure result refused: signature or order");
            return Err(bad(locale));
        };
        let t = self.bank_outcome(&keys.terminal, back);
        match t {
            Transition::BankAuthenticated { .. } => {
                let (cas, after) = self.step(&payment, t, Effects::default()).await?;
                if cas == Cas::Done {
                    let task = self.clone();
                    let handle = self.tasks.spawn(async move {
                        task.authorise(after.id.as_str(), after.locale)
                            .await
                            .map(|_| Next::Result)
                    });
                    self.wait_for(handle).await;
                }
            }
            other => {
                self.finish(&payment, other).await?;
            }
        }
        Ok(payment_id)
    }

    /// What the bank's `mdStatus` means on this terminal: `1` authenticated; `2`, `3` (half
    /// 3-D Secure) and `4` (an attempt) only where the terminal accepts them; anything else a
    /// failure the shopper is told about.
    fn bank_outcome(&self, terminal: &Terminal, back: GateReturn) -> Transition {
        let md_status = back.md_status;
        let trans_status = match md_status.digit() {
            1 => Some(TransStatus::Y),
            2..=4 if terminal.accept_half_3d => Some(TransStatus::A),
            _ => None,
        };
        let (eci, cavv) = (back.eci, back.cavv);
        match (trans_status, back.md.as_str(), back.xid.as_str()) {
            (Some(status), md, xid) if !md.is_empty() && !xid.is_empty() => {
                Transition::BankAuthenticated {
                    md: md.to_owned(),
                    xid: xid.to_owned(),
                    authentication: Authentication {
                        trans_status: status,
                        trans_status_reason: None,
                        eci,
                        authentication_value: cavv,
                    },
                    md_status,
                    received_at: self.now_ms(),
                }
            }
            _ => {
                let code = match md_status.digit() {
                    0 => ErrorCode::AuthenticationFailed,
                    2..=4 => ErrorCode::AuthenticationRejected,
                    _ => ErrorCode::AuthenticationUnavailable,
                };
                Transition::Fail {
                    code,
                    detail: FailureDetail {
                        md_status: Some(md_status),
                        ..FailureDetail::default()
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_form_never_prints_its_values() {
        let form = GateForm {
            action: "https://bank.example/fim/est3Dgate".into(),
            fields: vec![("pan".into(), "4111111111111111".into())],
            step: "o1".into(),
        };
        let shown = format!("{form:?}");
        assert!(shown.contains("pan") && !shown.contains("4111"), "{shown}");
    }
}
