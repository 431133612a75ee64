-- NestPay-compatible gateway: a merchant's NestPay credentials (the store key and the API
-- password sealed under the master key like the merchant's secret), and what a payment that
-- came in through the NestPay gate must echo and sign in its result (JSON).
CREATE TABLE nestpay_merchants (
    merchant_id      TEXT PRIMARY KEY REFERENCES merchants(id),
    client_id        TEXT NOT NULL UNIQUE,
    store_key_enc    BYTEA NOT NULL,
    api_user         TEXT NOT NULL,
    api_password_enc BYTEA NOT NULL,
    shows_consents   BIGINT NOT NULL DEFAULT 0,
    updated_at       BIGINT NOT NULL
);

ALTER TABLE payments ADD COLUMN gateway TEXT;
