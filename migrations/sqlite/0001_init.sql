-- Kapı schema. Times are unix milliseconds (UTC). Money is integer minor units.

CREATE TABLE merchants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    legal_title     TEXT NOT NULL DEFAULT '',
    address         TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    email           TEXT NOT NULL DEFAULT '',
    mersis          TEXT NOT NULL DEFAULT '',
    website         TEXT NOT NULL DEFAULT '',
    -- AES-256-GCM under the master key, AAD = merchant id.
    secret_key_enc  BLOB NOT NULL,
    -- JSON array of normalised origins: ["https://shop.example:443"].
    return_origins  TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);

-- Replay protection for signed forms: one row per (merchant, nonce).
CREATE TABLE nonces (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
);

CREATE TABLE payments (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants(id),
    order_id                TEXT NOT NULL,
    amount_minor            INTEGER NOT NULL CHECK (amount_minor > 0),
    currency                TEXT NOT NULL,
    installment             INTEGER NOT NULL DEFAULT 1,
    locale                  TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    customer_name           TEXT NOT NULL DEFAULT '',
    customer_email          TEXT NOT NULL DEFAULT '',
    customer_phone          TEXT NOT NULL DEFAULT '',
    ok_url                  TEXT NOT NULL,
    fail_url                TEXT NOT NULL,
    callback_url            TEXT,
    status                  TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    -- Card, once submitted: never more than brand, first 6 + last 4 and the holder's name.
    card_brand              TEXT,
    masked_pan              TEXT,
    card_holder             TEXT,
    -- 3-D Secure
    threeds_server_trans_id TEXT UNIQUE,
    acs_trans_id            TEXT,
    ds_trans_id             TEXT,
    acs_url                 TEXT,
    trans_status            TEXT,
    trans_status_reason     TEXT,
    challenge_cancel        TEXT,
    eci                     TEXT,
    authentication_value    TEXT,
    md_status               TEXT,
    rreq_received_at        INTEGER,
    -- Authorisation: which terminal (acquirer account) took it, and what the bank said.
    terminal_id             TEXT,
    proc_return_code        TEXT,
    auth_code               TEXT,
    host_ref                TEXT,
    transaction_id          TEXT,
    error_code              TEXT,
    -- The signed result (JSON array of [name, value]) posted to the merchant.
    result_fields           TEXT
);

CREATE INDEX payments_merchant_order ON payments (merchant_id, order_id);
-- At most one payment per order can be charging or charged: a second authorisation of the
-- same order fails on this index before it reaches the bank.
CREATE UNIQUE INDEX payments_one_paid_per_order ON payments (merchant_id, order_id)
    WHERE status IN ('authorising', 'approved');

-- Every status change, for support and the merchant's history.
CREATE TABLE payment_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT NOT NULL REFERENCES payments(id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id);

-- Card data between submit and authorisation, AES-256-GCM encrypted (AAD = payment id).
-- The row is deleted once the card is no longer needed; secure_delete overwrites it.
CREATE TABLE card_vault (
    payment_id TEXT PRIMARY KEY REFERENCES payments(id),
    data_enc   BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

-- Evidence of the shopper's consent to the legal documents: append-only.
CREATE TABLE consents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id       TEXT NOT NULL REFERENCES payments(id),
    document_kind    TEXT NOT NULL,
    template_version TEXT NOT NULL,
    text_sha256      TEXT NOT NULL,
    accepted_at      INTEGER NOT NULL,
    client_ip        TEXT NOT NULL,
    user_agent       TEXT NOT NULL,
    locale           TEXT NOT NULL
);
CREATE INDEX consents_payment ON consents (payment_id);
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END;
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
BEGIN SELECT RAISE(ABORT, 'consents are append-only'); END;

-- Server-to-server result deliveries to the merchant's callback_url.
CREATE TABLE callback_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id   TEXT NOT NULL REFERENCES payments(id),
    url          TEXT NOT NULL,
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    latency_ms   INTEGER NOT NULL
);
