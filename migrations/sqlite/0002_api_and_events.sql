-- Server API, key rotation, refunds and the transactional outbox of events.

-- API keys are found by a hash of the secret (SHA-256; the secret is 256 random bits); the
-- secret itself stays encrypted. During rotation the previous key keeps working
-- until prev_key_expires_at.
ALTER TABLE merchants ADD COLUMN key_lookup TEXT;
ALTER TABLE merchants ADD COLUMN prev_secret_key_enc BLOB;
ALTER TABLE merchants ADD COLUMN prev_key_lookup TEXT;
ALTER TABLE merchants ADD COLUMN prev_key_expires_at INTEGER;
-- Where events go when a payment has no callback_url.
ALTER TABLE merchants ADD COLUMN webhook_url TEXT;
-- JSON array of IP addresses allowed to call the API; empty means any.
ALTER TABLE merchants ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX merchants_key_lookup ON merchants (key_lookup);
CREATE INDEX merchants_prev_key_lookup ON merchants (prev_key_lookup);

-- Refunds that succeeded at the bank.
ALTER TABLE payments ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0;
-- Refunds succeeded or still being asked (and a void in progress): the compare-and-set that
-- keeps concurrent refunds within the authorised amount works on this one.
ALTER TABLE payments ADD COLUMN refund_reserved_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN authorised_at INTEGER;
-- Payments approved before this migration: their authorisation time from the history.
UPDATE payments SET authorised_at = (
    SELECT MIN(at) FROM payment_history h WHERE h.payment_id = payments.id AND h.to_status = 'approved')
WHERE authorised_at IS NULL AND status = 'approved';
-- How the payment was started: 'form' (signed POST /pay) or 'api' (checkout session).
ALTER TABLE payments ADD COLUMN source TEXT NOT NULL DEFAULT 'form';
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);

-- Refunds (iade) and voids (iptal). The amount is reserved on payments.refund_reserved_minor
-- before the bank is asked, so concurrent requests can never exceed the authorised amount.
-- A refund whose outcome is unknown (the bank did not answer) stays 'pending' and reserved
-- until a recovery job asks the bank again with the same reference.
CREATE TABLE refunds (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT NOT NULL REFERENCES payments(id),
    -- 'refund' or 'void'.
    kind             TEXT NOT NULL,
    amount_minor     INTEGER NOT NULL CHECK (amount_minor > 0),
    -- 'pending' while the bank is asked, then 'succeeded' or 'failed'.
    status           TEXT NOT NULL,
    proc_return_code TEXT,
    host_ref         TEXT,
    transaction_id   TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- The outbox: written in the same transaction as the change it reports.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id),
    payment_id      TEXT NOT NULL REFERENCES payments(id),
    type            TEXT NOT NULL,
    -- The exact JSON body delivered (signed as raw bytes at each attempt).
    payload         TEXT NOT NULL,
    -- Resolved when the event is written: the payment's callback_url or the merchant's
    -- webhook_url; NULL when there is nowhere to deliver.
    url             TEXT,
    -- 'pending', 'delivered', 'dead' or 'no_endpoint'.
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- A worker that claims the event holds it until then; after a crash it is claimed again.
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_merchant_created ON events (merchant_id, created_at DESC, id DESC);
CREATE INDEX events_payment ON events (payment_id);

CREATE TABLE event_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL REFERENCES events(id),
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    latency_ms   INTEGER NOT NULL,
    error        TEXT
);
CREATE INDEX event_attempts_event ON event_attempts (event_id);

-- Idempotency-Key: the first request's fingerprint and final response, kept at least 24 h.
CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    -- The request that holds the key: only it may store or drop the response.
    owner           TEXT NOT NULL,
    -- 'in_flight' until the response is stored, then 'done'.
    state           TEXT NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
);
