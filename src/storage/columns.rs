//! The columns each record is read from, named, for every backend: a newer schema may add
//! columns (an upgrade running while an older instance still serves) without changing what
//! this build reads.

pub const MERCHANT: &str = "id, name, legal_title, address, phone, email, mersis, website, secret_key_enc, return_origins, created_at, key_lookup, prev_secret_key_enc, prev_key_lookup, prev_key_expires_at, webhook_url, allowed_ips, frame_origins, installment_plan, accent_colour, logo_sha256, card_attempts, prefer_on_us";
pub const NESTPAY: &str =
    "merchant_id, client_id, store_key_enc, api_user, api_password_enc, shows_consents, updated_at";
pub const TERMINAL: &str = "id, merchant_id, bank, platform, client_id, user_name, password_enc, terminal_no, store_key_enc, gate_url, api_url, static_ip, commission, installment_commissions, accept_half_3d, enabled, created_at, updated_at, refund_user, refund_password_enc, mbr_id";
pub const REFUND: &str = "id, payment_id, kind, amount_minor, status, proc_return_code, host_ref, transaction_id, created_at, updated_at";
pub const REVERSAL: &str = "id, payment_id, attempt_ref, terminal_id, amount_minor, currency, status, attempts, next_attempt_at, lease_until, not_found_final_at, proc_return_code, last_error, created_at, updated_at";
pub const EVENT: &str = "id, merchant_id, payment_id, type, payload, url, status, attempts, next_attempt_at, lease_until, created_at, delivered_at";
pub const ATTEMPT: &str = "payment_id, number, card_brand, masked_pan, card_bank, status, error_code, proc_return_code, md_status, eci, at";

/// Every column of `payments`, as `PaymentRow` lists them.
pub fn payment() -> &'static str {
    static LIST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        crate::storage::PaymentRow::FIXED
            .iter()
            .chain(crate::storage::PaymentRow::MOVING)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}
