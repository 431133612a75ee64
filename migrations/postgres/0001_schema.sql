-- Kapı on PostgreSQL: the schema the SQLite migrations reached at version 9, in one step.
-- Money is BIGINT minor units; times are BIGINT Unix milliseconds (as on SQLite), so that both
-- backends store the same numbers. Later changes are new migrations, written expand first and
-- contract later, so that an older instance keeps working while a newer one has migrated.

CREATE TABLE merchants (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    legal_title         TEXT NOT NULL DEFAULT '',
    address             TEXT NOT NULL DEFAULT '',
    phone               TEXT NOT NULL DEFAULT '',
    email               TEXT NOT NULL DEFAULT '',
    mersis              TEXT NOT NULL DEFAULT '',
    website             TEXT NOT NULL DEFAULT '',
    -- AES-256-GCM under the master key, AAD = merchant id.
    secret_key_enc      BYTEA NOT NULL,
    -- JSON array of normalised origins: ["https://shop.example:443"].
    return_origins      TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    key_lookup          TEXT UNIQUE,
    prev_secret_key_enc BYTEA,
    prev_key_lookup     TEXT,
    prev_key_expires_at BIGINT,
    webhook_url         TEXT,
    allowed_ips         TEXT NOT NULL DEFAULT '[]',
    frame_origins       TEXT NOT NULL DEFAULT '[]',
    installment_plan    TEXT,
    accent_colour       TEXT,
    logo_sha256         TEXT,
    card_attempts       BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX merchants_prev_key_lookup ON merchants (prev_key_lookup);

CREATE TABLE merchant_logos (
    merchant_id  TEXT PRIMARY KEY REFERENCES merchants (id),
    content_type TEXT NOT NULL,
    body         BYTEA NOT NULL,
    sha256       TEXT NOT NULL
);

CREATE TABLE nonces (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
);
CREATE INDEX nonces_seen ON nonces (seen_at);

CREATE TABLE payments (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL REFERENCES merchants (id),
    order_id                TEXT NOT NULL,
    amount_minor            BIGINT NOT NULL CHECK (amount_minor > 0),
    currency                TEXT NOT NULL,
    installment             BIGINT NOT NULL DEFAULT 1,
    locale                  TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    customer_name           TEXT NOT NULL DEFAULT '',
    customer_email          TEXT NOT NULL DEFAULT '',
    customer_phone          TEXT NOT NULL DEFAULT '',
    ok_url                  TEXT NOT NULL,
    fail_url                TEXT NOT NULL,
    callback_url            TEXT,
    status                  TEXT NOT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    expires_at              BIGINT NOT NULL,
    card_brand              TEXT,
    masked_pan              TEXT,
    card_holder             TEXT,
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
    rreq_received_at        BIGINT,
    terminal_id             TEXT,
    proc_return_code        TEXT,
    auth_code               TEXT,
    host_ref                TEXT,
    transaction_id          TEXT,
    error_code              TEXT,
    -- The signed result (JSON array of [name, value]) posted to the merchant.
    result_fields           TEXT,
    refunded_minor          BIGINT NOT NULL DEFAULT 0,
    refund_reserved_minor   BIGINT NOT NULL DEFAULT 0,
    authorised_at           BIGINT,
    source                  TEXT NOT NULL DEFAULT 'form',
    client_ip               TEXT,
    installment_fee_minor   BIGINT NOT NULL DEFAULT 0,
    card_bank               TEXT,
    card_program            TEXT,
    card_kind               TEXT,
    attempt_ref             TEXT,
    version                 BIGINT NOT NULL DEFAULT 0,
    card_attempts           BIGINT NOT NULL DEFAULT 1,
    attempt                 BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX payments_merchant_order ON payments (merchant_id, order_id);
CREATE UNIQUE INDEX payments_one_paid_per_order ON payments (merchant_id, order_id)
    WHERE status IN ('authorising', 'approved');
CREATE INDEX payments_merchant_created ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX payments_in_between ON payments (status, updated_at)
    WHERE status IN ('card_submitted', 'authenticated', 'authorising', 'challenge');
CREATE INDEX payments_waiting ON payments (status, expires_at)
    WHERE status IN ('created', 'challenge', 'awaiting_retry');

CREATE TABLE payment_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id);

CREATE TABLE payment_attempts (
    payment_id       TEXT NOT NULL REFERENCES payments (id),
    number           BIGINT NOT NULL,
    card_brand       TEXT,
    masked_pan       TEXT,
    card_bank        TEXT,
    status           TEXT NOT NULL,
    error_code       TEXT,
    proc_return_code TEXT,
    md_status        TEXT,
    eci              TEXT,
    at               BIGINT NOT NULL,
    PRIMARY KEY (payment_id, number)
);

CREATE TABLE card_vault (
    payment_id TEXT PRIMARY KEY REFERENCES payments (id),
    data_enc   BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE consents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id       TEXT NOT NULL REFERENCES payments (id),
    document_kind    TEXT NOT NULL,
    template_version TEXT NOT NULL,
    text_sha256      TEXT NOT NULL,
    accepted_at      BIGINT NOT NULL,
    client_ip        TEXT NOT NULL,
    user_agent       TEXT NOT NULL,
    locale           TEXT NOT NULL,
    document_data    TEXT
);
CREATE INDEX consents_payment ON consents (payment_id);

-- Consents are evidence: append-only.
CREATE FUNCTION kapi_consents_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consents are append-only';
END;
$$;
CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
    FOR EACH ROW EXECUTE FUNCTION kapi_consents_append_only();
CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION kapi_consents_append_only();

CREATE TABLE callback_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    url          TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    latency_ms   BIGINT NOT NULL
);
CREATE INDEX callback_attempts_payment ON callback_attempts (payment_id);

CREATE TABLE refunds (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT NOT NULL REFERENCES payments (id),
    kind             TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor > 0),
    status           TEXT NOT NULL,
    proc_return_code TEXT,
    host_ref         TEXT,
    transaction_id   TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_pending ON refunds (status, updated_at);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants (id),
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    type            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    url             TEXT,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_merchant_created ON events (merchant_id, created_at DESC, id DESC);
CREATE INDEX events_payment ON events (payment_id);

CREATE TABLE event_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES events (id),
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT,
    latency_ms   BIGINT NOT NULL,
    error        TEXT
);
CREATE INDEX event_attempts_event ON event_attempts (event_id);

CREATE TABLE idempotency_keys (
    merchant_id     TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    owner           TEXT NOT NULL,
    state           TEXT NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    refund_id       TEXT,
    PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE security_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);

CREATE TABLE reversals (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    attempt_ref        TEXT NOT NULL,
    terminal_id        TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT NOT NULL,
    lease_until        BIGINT,
    not_found_final_at BIGINT NOT NULL,
    proc_return_code   TEXT,
    last_error         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX reversals_due ON reversals (status, next_attempt_at);
CREATE INDEX reversals_payment ON reversals (payment_id);

CREATE TABLE sim_records (
    seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    tag   TEXT,
    value TEXT NOT NULL,
    at    BIGINT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX sim_records_list ON sim_records (kind, tag, seq);
CREATE INDEX sim_records_age ON sim_records (kind, at);

CREATE TABLE guard_counters (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX guard_counters_window ON guard_counters (window_start);

CREATE TABLE guard_blocks (
    key   TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);

-- The browser sessions (tower-sessions' PostgreSQL store, which Kapı points at this table
-- instead of letting it create its own, so that instances starting together never race).
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    data        BYTEA NOT NULL,
    expiry_date TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);
